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
 * This file is the fio glue: the option table, then the hooks in life-cycle
 * order.  The data path (queue, commit, getevents) is io.c; the checks of
 * the options are config.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dbu_fio.h"
#include "optgroup.h"
#include "verify.h"

struct dbu_options {
	void *pad;
	char *src;
	char *attach;
	unsigned long long size_max;
	char *report;
	int eagain_max;			/* signed: a negative one is refused */
	int watchdog;
	unsigned int cpu_sync;
	int inject_eagain;
	int inject_short;
	unsigned int inject_fence;
	unsigned int hipri;
	unsigned int registerfiles;
	unsigned int sqpoll;
	int sqpoll_cpu;
	unsigned int sqpoll_cpu_set;
	unsigned int nowait;
	int force_async;
};

static bool dbu_version_ok;

static int dbu_sqpoll_cpu_cb(void *data, unsigned long long *val)
{
	struct dbu_options *o = data;

	/* fio reads "-1" as a range and calls this for -1, then 1: keep it */
	if (!o->sqpoll_cpu_set || (long long)*val < 0)
		o->sqpoll_cpu = (long long)*val < 0 || *val > INT_MAX ? -1 :
				(int)*val;
	o->sqpoll_cpu_set = 1;
	return 0;
}

#define DBU_OPT(n, l, t, field, h)					\
	.name = n, .lname = l, .type = t,				\
	.off1 = offsetof(struct dbu_options, field), .help = h,		\
	.category = FIO_OPT_C_ENGINE, .group = FIO_OPT_G_IOURING

static struct fio_option options[] = {
	{
		DBU_OPT("dmabuf_src", "dma-buf source", FIO_OPT_STR_STORE, src,
			"Who exports the buffer memory: udmabuf[:hugetlb], "
			"heap[:NAME], drm[:PATH], amdgpu[:PATH][:vram|gtt], "
			"cuda[:ORDINAL], host (anonymous memory, no dma-buf)"),
		.def	= "udmabuf",
	},
	{
		DBU_OPT("dmabuf_attach", "dma-buf attach mode", FIO_OPT_STR_STORE,
			attach,
			"How io_uring reaches the memory: kernel (register the "
			"dma-buf through the io_uring dma-buf series), pages "
			"(register its CPU pages as fixed buffers), bounce "
			"(host fixed buffers plus a copy)"),
		.def	= "kernel",
	},
	{
		DBU_OPT("dmabuf_size_max", "largest dma-buf", FIO_OPT_STR_VAL,
			size_max,
			"Largest single dma-buf; the buffer area is split into "
			"one dma-buf per registered slot (0: 1 GiB, or less if "
			"the exporter's own limit is lower)"),
		.def	= "0",
	},
	{
		DBU_OPT("dmabuf_report", "per-job report file", FIO_OPT_STR_STORE,
			report,
			"Append one JSON line per job to this file: what memory, "
			"where it lives, how it was attached, what happened"),
	},
	{
		DBU_OPT("dmabuf_eagain_max", "-EAGAIN reissues", FIO_OPT_INT,
			eagain_max,
			"Reissues allowed per request on -EAGAIN before it fails"),
		.def	= "16",
	},
	{
		DBU_OPT("dmabuf_watchdog", "watchdog seconds", FIO_OPT_INT,
			watchdog,
			"Abort the job with a diagnostic when nothing completes "
			"for this many seconds (0: never)"),
		.def	= "60",
	},
	{
		DBU_OPT("dmabuf_cpu_sync", "bracket CPU access", FIO_OPT_BOOL,
			cpu_sync,
			"Bracket CPU access with DMA_BUF_IOCTL_SYNC so the CPU "
			"view is coherent for fio. Per I/O only when fio looks at "
			"the bytes (verify; writes it fills or scrambles): a slot "
			"leaves CPU access when its first I/O goes out and "
			"returns when the device owns nothing in it (one slot "
			"per io_u, dmabuf_size_max=bs, brackets every I/O); "
			"otherwise once a slot, after fio's initial fill. 0: "
			"never; then bounce brackets each of its copies, the "
			"cost a bounce user pays"),
		.def	= "1",
	},
	{
		DBU_OPT("dmabuf_inject_eagain", "inject -EAGAIN (testing)",
			FIO_OPT_INT, inject_eagain,
			"Testing: turn every Nth completion into -EAGAIN to "
			"exercise the reissue path (0: off)"),
		.def	= "0",
	},
	{
		DBU_OPT("dmabuf_inject_short", "inject short I/O (testing)",
			FIO_OPT_INT, inject_short,
			"Testing: report every Nth completion as half done so fio "
			"requeues the rest (0: off)"),
		.def	= "0",
	},
	{
		DBU_OPT("dmabuf_inject_fence", "inject a fence (testing)",
			FIO_OPT_BOOL, inject_fence,
			"Testing: attach a vgem write fence to every dma-buf of "
			"dmabuf_src=drm on vgem, so CPU access waits (vgem "
			"signals it after 10 s)"),
		.def	= "0",
	},
	{
		DBU_OPT("hipri", "High priority", FIO_OPT_STR_SET, hipri,
			"Use polled I/O completions (IORING_SETUP_IOPOLL)"),
	},
	{
		DBU_OPT("registerfiles", "Register file set", FIO_OPT_STR_SET,
			registerfiles,
			"Pre-open/register files as fixed files"),
	},
	{
		DBU_OPT("sqthread_poll", "Kernel SQ thread polling",
			FIO_OPT_STR_SET, sqpoll,
			"Offload submission/completion to kernel thread"),
	},
	{
		DBU_OPT("sqthread_poll_cpu", "SQ Thread Poll CPU", FIO_OPT_INT,
			sqpoll_cpu, "What CPU to run SQ thread polling on"),
		.cb	= dbu_sqpoll_cpu_cb,
	},
	{
		DBU_OPT("nowait", "RWF_NOWAIT", FIO_OPT_BOOL, nowait,
			"Use RWF_NOWAIT for reads/writes"),
		.def	= "0",
	},
	{
		DBU_OPT("force_async", "Force async", FIO_OPT_INT, force_async,
			"Set IOSQE_ASYNC every N requests"),
	},
	{
		.name	= NULL,
	},
};

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

static void dbu_opts_from(struct thread_data *td, struct dbu_opts *p)
{
	struct dbu_options *o = td->eo;

	memset(p, 0, sizeof(*p));
	p->src = o->src;
	p->attach = o->attach;
	p->report = o->report;
	p->size_max = o->size_max;
	p->eagain_max = o->eagain_max;
	p->watchdog = o->watchdog;
	p->cpu_sync = o->cpu_sync;
	p->inject_eagain = o->inject_eagain;
	p->inject_short = o->inject_short;
	p->inject_fence = o->inject_fence;
	p->ro.hipri = o->hipri;
	p->ro.sqpoll = o->sqpoll;
	p->ro.sqpoll_cpu_set = o->sqpoll_cpu_set;
	p->ro.registerfiles = o->registerfiles;
	p->ro.nowait = o->nowait;
	p->force_async = o->force_async;
	p->sqpoll_cpu = o->sqpoll_cpu;
	p->job = td->o.name;
	p->direct = td->o.odirect;
	p->trim = td_trim(td);
	p->reads = td_read(td) || td->o.verify != VERIFY_NONE;
	p->writes = td_write(td);
	/* verify reads the bytes; writes are filled or scrambled per I/O */
	p->cpu_looks = td->o.verify != VERIFY_NONE ||
		       (td_write(td) && (td->o.refill_buffers ||
					 td->o.scramble_buffers ||
					 td->o.compress_percentage ||
					 td->o.dedupe_percentage));
	p->depth = td->o.iodepth;
	p->min_bs = td_min_bs(td);
	p->max_bs = td_max_bs(td);
	p->nr_files = td->o.nr_files;
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
	.options		= options,
	.option_struct_size	= sizeof(struct dbu_options),
};

/* Struct layouts move between fio releases: refuse any other fio. */
static void fio_init fio_dbu_register(void)
{
	if (strcmp(fio_version_string, DBU_FIO_VERSION)) {
		log_err("fio: " DBU_NAME ": this engine was built for %s but "
			"is loaded by %s; struct layouts differ between fio "
			"versions. Rebuild it against this fio's source "
			"(scripts/setup, or cmake -DFIO_SOURCE_DIR=<source of "
			"%s>)\n", DBU_FIO_VERSION, fio_version_string,
			fio_version_string);
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
