// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring engine
 *
 * READ_FIXED/WRITE_FIXED on registered buffers whose memory comes from a
 * dma-buf exporter (udmabuf, DMA heaps, DRM devices) or from the host, and
 * is attached to io_uring through the kernel's io_uring dma-buf series
 * ("kernel"), as ordinary pinned pages ("pages") or through a host bounce
 * buffer ("bounce").  Nothing falls back silently: a combination that
 * cannot run fails at job start with one message, and the per-job report
 * says what really ran.
 *
 * This file is the fio glue: the hooks in life-cycle order.  The option
 * table is options.c, the data path (queue, commit, getevents) io.c, the
 * checks of the options config.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dbu_fio.h"

static bool dbu_version_ok;

void dbu_say(struct dbu_ctx *c)
{
	char msg[1024];

	dbu_error_format(&c->error, msg, sizeof(msg));
	log_err("fio: " DBU_NAME ": %s\n", msg);
}

/* The job cannot go on: say why, once, and make fio fail it. */
void dbu_fail(struct thread_data *td, struct dbu_ctx *c)
{
	dbu_say(c);
	td_verror(td, -c->error.err, c->error.what);
}

/* Options that cannot work together fail here, before anything is made. */
static int dbu_check_options(struct thread_data *td, struct dbu_ctx *c)
{
	struct dbu_opts p;
	int ret;

	if (!dbu_version_ok)
		return dbu_error(c, -EPROTO, "loading the engine",
			"it was built for %s but runs in %s (see the message "
			"above)", DBU_FIO_VERSION, fio_version_string);
	dbu_opts_from(td, &p);
	ret = dbu_config(c, &p);
	if (!ret)
		ret = c->att->check(c);
	if (!ret)
		ret = c->exp->open(c, c->src_arg);
	return ret;
}

static int fio_dbu_init(struct thread_data *td)
{
	struct dbu_options *o = td->eo;
	struct dbu_data *d;

	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	td->io_ops_data = d;
	dbu_ctx_init(&d->c);
	d->inject_eagain = o->inject_eagain > 0 ? o->inject_eagain : 0;
	d->inject_short = o->inject_short > 0 ? o->inject_short : 0;
	d->fds = calloc(td->o.nr_files ? td->o.nr_files : 1, sizeof(int));
	d->shadow_fds = calloc(td->o.nr_files ? td->o.nr_files : 1,
			       sizeof(int));
	if (!d->fds || !d->shadow_fds ||
	    dbu_io_alloc(d, td->o.iodepth ? td->o.iodepth : 1))
		return 1;

	/* First the report, so that every refusal below is in it. */
	if (dbu_report_open(&d->c, o->report) ||
	    dbu_check_options(td, &d->c)) {
		dbu_fail(td, &d->c);
		return 1;
	}
	/* cmdprio_*: fio's own code, as its io_uring engine uses it */
	if (fio_cmdprio_init(td, &d->cmdprio, &o->cmdprio_options)) {
		dbu_error(&d->c, -EINVAL, "cmdprio options",
			  "fio's cmdprio code refused them (its line above)");
		dbu_fail(td, &d->c);
		return 1;
	}
	return 0;
}

static int fio_dbu_iomem_alloc(struct thread_data *td, size_t total_mem)
{
	struct dbu_data *d = td->io_ops_data;

	/* On failure fio 3.33 goes on and calls iomem_free: it frees. */
	if (dbu_area_alloc(&d->c, total_mem)) {
		dbu_fail(td, &d->c);
		return 1;
	}
	td->orig_buffer = d->c.area;
	return 0;
}

/* Open every file once; requests always use these descriptors. */
static int dbu_open_files(struct thread_data *td, struct dbu_data *d)
{
	struct dbu_ctx *c = &d->c;
	struct fio_file *f;
	unsigned int i;

	for_each_file(td, f, i) {
		if (generic_open_file(td, f))
			return dbu_error(c, -(td->error ? td->error : EIO),
					 "opening the target", "%s cannot be "
					 "opened (fio says why above)",
					 f->file_name);
		d->fds[i] = f->fd;
		d->nr_fds = i + 1;
		/*
		 * Another thread had the file open: fio keeps its first fd
		 * to close with the file (generic_close_file), which never
		 * sees these descriptors.  Close it with ours.
		 */
		d->shadow_fds[i] = f->shadow_fd;
		f->shadow_fd = -1;
		f->engine_pos = i;
		if (!i) {
			/* fio frees its file names before ->cleanup */
			snprintf(c->target, sizeof(c->target), "%s",
				 f->file_name);
			c->target_fd = f->fd;
			dbu_target_info(c->target, c->target_driver,
					sizeof(c->target_driver),
					c->iommu_domain,
					sizeof(c->iommu_domain));
		}
		if (dbu_target_check(c, f->fd, f->file_name))
			return c->error.err;
		f->fd = -1;	/* fio opens it again through ->open_file */
	}
	if (c->ro.registerfiles)
		return dbu_ring_register_files(c, d->fds, d->nr_fds);
	return 0;
}

/*
 * Every io_u's buffer must lie inside one slot; note where each is, so
 * that registration by iovec gives each its own entry.
 */
static int dbu_check_layout(struct thread_data *td, struct dbu_ctx *c)
{
	size_t bs = td_max_bs(td), off, last;
	struct dbu_slot *s;
	struct io_u *io_u;
	unsigned int i;

	c->buf_off = calloc(td->io_u_all.nr, sizeof(*c->buf_off));
	if (!c->buf_off)
		return dbu_error(c, -ENOMEM, "laying out io buffers", "-");
	io_u_qiter(&td->io_u_all, io_u, i) {
		char *b = io_u->buf;

		if (b < c->area || b + bs > c->area + c->area_size)
			s = NULL;
		else
			s = dbu_slot_of(c, b, &off);
		if (!s || dbu_slot_of(c, b + bs - 1, &last) != s)
			return dbu_error(c, -EINVAL, "laying out io buffers",
				"io_u %u's buffer (offset %zu, %zu bytes) does "
				"not fit in one dma-buf of %zu bytes. Try "
				"mem_align=0 or a dmabuf_size_max that is a "
				"multiple of bs", i, (size_t)(b - c->area), bs,
				c->chunk);
		c->buf_off[io_u->index] = b - c->area;
	}
	c->nr_bufs = td->io_u_all.nr;
	c->buf_len = bs;
	return 0;
}

/* What dmabuf_attach=kernel needs of each buffer, once registered. */
static int dbu_check_kernel_bufs(struct thread_data *td, struct dbu_ctx *c)
{
	struct io_u *io_u;
	unsigned int i;
	size_t off;

	if (c->att != &dbu_attach_kernel)
		return 0;
	io_u_qiter(&td->io_u_all, io_u, i) {
		struct dbu_slot *s = dbu_slot_of(c, io_u->buf, &off);

		if (dbu_kernel_check_buf(c, i, s - c->slots, off))
			return c->error.err;
	}
	return 0;
}

static int fio_dbu_post_init(struct thread_data *td)
{
	struct dbu_data *d = td->io_ops_data;
	struct dbu_ctx *c = &d->c;
	int ret = 0;

	/* fio 3.33 calls post_init even when iomem_alloc failed. */
	if (!c->area || td->orig_buffer != c->area)
		return 1;
	/* create_serialize=0: fio would lay the files out after this hook */
	if (!td->o.create_serialize && setup_files(td))
		return 1;
	ret = dbu_check_layout(td, c);
	if (!ret)
		ret = dbu_ring_init(c);
	if (!ret)
		ret = dbu_open_files(td, d);
	if (!ret)
		ret = c->att->attach(c);
	if (!ret)
		ret = dbu_check_kernel_bufs(td, c);
	if (ret) {
		if (c->error.err)
			dbu_fail(td, c);
		return 1;
	}
	if (dbu_io_start(td, d)) {
		dbu_fail(td, c);
		return 1;
	}
	d->started = true;
	return 0;
}

static int fio_dbu_open_file(struct thread_data *td, struct fio_file *f)
{
	struct dbu_data *d = td->io_ops_data;

	if (!d || f->engine_pos >= d->nr_fds)	/* !d: get_file_size */
		return generic_open_file(td, f);
	f->fd = d->fds[f->engine_pos];
	return 0;
}

static int fio_dbu_close_file(struct thread_data *td, struct fio_file *f)
{
	struct dbu_data *d = td->io_ops_data;

	if (!d || f->engine_pos >= d->nr_fds ||
	    f->fd != d->fds[f->engine_pos])
		return generic_close_file(td, f);
	f->fd = -1;
	return 0;
}

static void fio_dbu_iomem_free(struct thread_data *td)
{
	struct dbu_data *d = td->io_ops_data;

	if (!d)
		return;
	if (d->c.att && d->c.att->detach && d->c.ring_up)
		d->c.att->detach(&d->c);
	if (d->started && dbu_placement_end(&d->c))
		dbu_fail(td, &d->c);
	dbu_area_free(&d->c);
	td->orig_buffer = NULL;
}

/* A job that ran and moved nothing must not read as a success. */
static void dbu_check_did_io(struct thread_data *td, struct dbu_data *d)
{
	if (!d->started || d->c.ios || td->error || d->c.error.err)
		return;
	dbu_error(&d->c, -ENODATA, "running the job",
		  "it completed no I/O at all. Check size, io_size, runtime "
		  "and the file's length");
	dbu_fail(td, &d->c);
}

static void fio_dbu_report(struct thread_data *td, struct dbu_data *d)
{
	struct dbu_report_job j = {
		.job		= td->o.name,
		.jobnum		= td->thread_number - 1,
		.fio_version	= fio_version_string,
		.engine_version	= DBU_VERSION,
		.failed		= td->error || d->c.stuck,
	};
	char line[1024];
	int ret;

	dbu_report_summary(&d->c, j.failed, line, sizeof(line));
	log_err(DBU_NAME ": %s: %s\n", td->o.name, line);
	ret = dbu_report_write(&d->c, &j);
	if (ret) {
		log_err("fio: " DBU_NAME ": writing the report: %s\n",
			strerror(-ret));
		td_verror(td, -ret, "writing the dmabuf_report");
	}
}

static void fio_dbu_cleanup(struct thread_data *td)
{
	struct dbu_data *d = td->io_ops_data;
	unsigned int i;

	if (!d)
		return;
	dbu_area_free(&d->c);		/* idempotent: iomem_free did it */
	dbu_ring_exit(&d->c);
	for (i = 0; i < d->nr_fds; i++) {
		if (d->fds[i] >= 0)
			close(d->fds[i]);
		if (d->shadow_fds[i] >= 0)
			close(d->shadow_fds[i]);
	}
	dbu_check_did_io(td, d);
	if (d->c.stuck && !td->error)
		td_verror(td, ETIMEDOUT, d->c.error.what);
	fio_dbu_report(td, d);
	if (d->c.report_fd >= 0)
		close(d->c.report_fd);
	if (d->c.exp && d->c.exp->close)
		d->c.exp->close(&d->c);
	free(d->c.slots);
	free(d->c.buf_off);
	dbu_io_free(d);
	fio_cmdprio_cleanup(&d->cmdprio);
	free(d->fds);
	free(d->shadow_fds);
	free(d);
	td->io_ops_data = NULL;
}

__attribute__((visibility("default")))
struct ioengine_ops ioengine = {
	.name			= DBU_NAME,
	.version		= FIO_IOOPS_VERSION,
	.flags			= FIO_NO_OFFLOAD | FIO_ASYNCIO_SETS_ISSUE_TIME,
	.init			= fio_dbu_init,
	.post_init		= fio_dbu_post_init,
	.queue			= fio_dbu_queue,
	.commit			= fio_dbu_commit,
	.getevents		= fio_dbu_getevents,
	.event			= fio_dbu_event,
	.cleanup		= fio_dbu_cleanup,
	.open_file		= fio_dbu_open_file,
	.close_file		= fio_dbu_close_file,
	.get_file_size		= generic_get_file_size,
	.iomem_alloc		= fio_dbu_iomem_alloc,
	.iomem_free		= fio_dbu_iomem_free,
	.options		= dbu_fio_options,
	.option_struct_size	= sizeof(struct dbu_options),
};

/* Struct layouts move between fio releases: refuse any other fio. */
static void fio_init fio_dbu_register(void)
{
	if (strcmp(fio_version_string, DBU_FIO_VERSION)) {
		log_err("fio: " DBU_NAME ": this engine was built for %s but "
			"is loaded by %s; struct layouts differ between fio "
			"versions. Rebuild it against this fio's source: "
			"scripts/setup (Debian's fio), scripts/setup --fio-src "
			"<source of %s> (--fio-git for a git checkout), or "
			"cmake -DFIO_SOURCE_DIR=<it>\n", DBU_FIO_VERSION,
			fio_version_string, fio_version_string);
		return;
	}
	dbu_version_ok = true;
	register_ioengine(&ioengine);
}

static void fio_exit fio_dbu_unregister(void)
{
	if (dbu_version_ok)
		unregister_ioengine(&ioengine);
}
