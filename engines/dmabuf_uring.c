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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dbu.h"

#include "fio.h"
#include "optgroup.h"

struct dbu_data {
	struct dbu_ctx c;
	struct io_u **events;		/* reaped, handed to ->event() */
	unsigned int nr_events;
	struct io_u **pending;		/* queued, not yet submitted */
	unsigned int queued;
	unsigned int inflight;
	unsigned int *eagain;		/* reissues per io_u index */
	struct dbu_ioinfo {
		unsigned int slot;
		size_t off;
	} *io;				/* (slot, offset) per io_u index */
	int *fds;			/* the job's files, opened once */
	unsigned int nr_fds;
	unsigned int async_cnt;
	bool bounce;
	bool io_sync;			/* DMA_BUF_IOCTL_SYNC around every I/O */
	unsigned int inject_every;
	uint64_t completions;
	uint64_t reaped;		/* CQEs seen, for the watchdog */
	uint64_t reaped_seen;
	int64_t progress_ns;		/* when reaped last moved */
};

struct dbu_options {
	void *pad;
	char *src;
	char *attach;
	unsigned long long size_max;
	char *report;
	unsigned int eagain_max;
	unsigned int watchdog;
	unsigned int cpu_sync;
	unsigned int inject_eagain;
	unsigned int hipri;
	unsigned int registerfiles;
	unsigned int sqpoll;
	unsigned int sqpoll_cpu;
	unsigned int sqpoll_cpu_set;
	unsigned int nowait;
	unsigned int force_async;
};

static bool dbu_version_ok;

static int dbu_sqpoll_cpu_cb(void *data, unsigned long long *val)
{
	struct dbu_options *o = data;

	o->sqpoll_cpu = *val;
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
			"Bracket every I/O with DMA_BUF_IOCTL_SYNC so the CPU view "
			"is coherent for fio (verify, buffer fill). 0 only when "
			"the CPU does not look at the data"),
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

static void dbu_fail(struct thread_data *td, struct dbu_ctx *c)
{
	char msg[1024];

	dbu_error_format(c, msg, sizeof(msg));
	log_err("fio: " DBU_NAME ": %s\n", msg);
	td_verror(td, -c->error.err, c->error.what);
}

/* (slot, offset) of a request, worked out once when it is queued. */
static struct dbu_slot *dbu_io_slot(struct dbu_data *d, struct io_u *io_u,
				    size_t *off)
{
	struct dbu_ioinfo *io = &d->io[io_u->index];

	*off = io->off;
	return &d->c.slots[io->slot];
}

static void dbu_io_map(struct dbu_data *d, struct io_u *io_u)
{
	struct dbu_ioinfo *io = &d->io[io_u->index];

	io->slot = dbu_slot_of(&d->c, io_u->xfer_buf, &io->off) - d->c.slots;
}

static void dbu_sqe_fill(struct dbu_data *d, struct io_u *io_u,
			 struct io_uring_sqe *sqe)
{
	struct dbu_ctx *c = &d->c;
	struct fio_file *f = io_u->file;
	int fd = c->ro.registerfiles ? (int)f->engine_pos : f->fd;

	if (ddir_rw(io_u->ddir)) {
		size_t off;
		struct dbu_slot *s = dbu_io_slot(d, io_u, &off);

		io_uring_prep_rw(io_u->ddir == DDIR_READ ?
				 IORING_OP_READ_FIXED : IORING_OP_WRITE_FIXED,
				 sqe, fd, (void *)(uintptr_t)(s->io_base + off),
				 io_u->xfer_buflen, io_u->offset);
		sqe->buf_index = s - c->slots;
		if (c->ro.nowait)
			sqe->rw_flags |= RWF_NOWAIT;
	} else {
		io_uring_prep_fsync(sqe, fd, io_u->ddir == DDIR_DATASYNC ?
				    IORING_FSYNC_DATASYNC : 0);
	}
	if (c->ro.registerfiles)
		sqe->flags |= IOSQE_FIXED_FILE;
	if (c->ro.force_async && ++d->async_cnt % c->ro.force_async == 0)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, io_u);
}

/* Hand the buffer to the device: copy out for bounce, end CPU access. */
static int dbu_before_io(struct dbu_data *d, struct io_u *io_u)
{
	struct dbu_ctx *c = &d->c;
	struct dbu_slot *s;
	size_t off;

	if (!ddir_rw(io_u->ddir))
		return 0;
	dbu_io_map(d, io_u);
	s = dbu_io_slot(d, io_u, &off);
	if (s->first_io_ns < 0 && !s->first_submit_ns)
		s->first_submit_ns = dbu_now_ns();
	if (d->bounce && io_u->ddir == DDIR_WRITE) {
		int64_t t0 = dbu_now_ns();

		memcpy(s->bounce + off, io_u->xfer_buf, io_u->xfer_buflen);
		c->bounce_ns += dbu_now_ns() - t0;
		c->bounce_bytes += io_u->xfer_buflen;
	}
	return d->io_sync ? dbu_cpu_sync(c, s, false) : 0;
}

static enum fio_q_status fio_dbu_queue(struct thread_data *td,
				       struct io_u *io_u)
{
	struct dbu_data *d = td->io_ops_data;
	struct io_uring_sqe *sqe;

	fio_ro_check(td, io_u);

	if (d->queued == d->c.depth)
		return FIO_Q_BUSY;

	if (io_u->ddir == DDIR_TRIM) {
		if (d->queued)
			return FIO_Q_BUSY;
		do_io_u_trim(td, io_u);
		io_u_mark_submit(td, 1);
		io_u_mark_complete(td, 1);
		return FIO_Q_COMPLETED;
	}
	if (!ddir_rw(io_u->ddir) && io_u->ddir != DDIR_SYNC &&
	    io_u->ddir != DDIR_DATASYNC) {
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}

	/* Before taking an SQE: a failure here must leave none half-filled. */
	if (dbu_before_io(d, io_u)) {
		dbu_fail(td, &d->c);
		io_u->error = -d->c.error.err;
		return FIO_Q_COMPLETED;
	}
	sqe = io_uring_get_sqe(&d->c.ring);
	if (!sqe)
		return FIO_Q_BUSY;
	dbu_sqe_fill(d, io_u, sqe);
	d->pending[d->queued++] = io_u;
	return FIO_Q_QUEUED;
}

static void dbu_mark_submitted(struct thread_data *td, struct dbu_data *d,
			       unsigned int nr)
{
	struct timespec now;
	unsigned int i;

	d->inflight += nr;
	if (fio_fill_issue_time(td)) {
		fio_gettime(&now, NULL);
		for (i = 0; i < nr; i++) {
			memcpy(&d->pending[i]->issue_time, &now, sizeof(now));
			io_u_queued(td, d->pending[i]);
		}
		if (td->o.read_iolog_file)
			memcpy(&td->last_issue, &now, sizeof(now));
	}
	io_u_mark_submit(td, nr);
	d->queued -= nr;
	memmove(d->pending, d->pending + nr, d->queued * sizeof(*d->pending));
}

static int fio_dbu_commit(struct thread_data *td)
{
	struct dbu_data *d = td->io_ops_data;
	int ret;

	/* SQPOLL: the kernel thread consumes what is in the SQ ring. */
	if (d->c.ro.sqpoll && d->queued) {
		ret = io_uring_submit(&d->c.ring);
		if (ret < 0) {
			td_verror(td, -ret, "io_uring_enter wakeup");
			return ret;
		}
		dbu_mark_submitted(td, d, d->queued);
	}
	while (d->queued) {
		/* A reissue from the reap path may have taken them along. */
		if (!io_uring_sq_ready(&d->c.ring)) {
			dbu_mark_submitted(td, d, d->queued);
			break;
		}
		ret = io_uring_submit_and_get_events(&d->c.ring);
		if (ret > 0) {
			dbu_mark_submitted(td, d, ret < (int)d->queued ?
					   (unsigned int)ret : d->queued);
			continue;
		}
		if (ret == -EAGAIN || ret == -EINTR || ret == -EBUSY ||
		    ret == 0)
			continue;
		td_verror(td, -ret, "io_uring_enter submit");
		return ret;
	}
	return 0;
}

/* The request failed for good: say which one, once. */
static void dbu_io_failed(struct thread_data *td, struct dbu_data *d,
			  struct io_u *io_u, int res)
{
	struct dbu_ctx *c = &d->c;
	unsigned int tries = d->eagain[io_u->index];
	size_t off = 0;
	struct dbu_slot *s;

	io_u->error = -res;
	if (c->error.err)
		return;
	if (!ddir_rw(io_u->ddir)) {
		dbu_error(c, res, "fsync", "on %s", io_u->file->file_name);
		dbu_fail(td, c);
		return;
	}
	s = dbu_io_slot(d, io_u, &off);
	dbu_error(c, res, io_u->ddir == DDIR_READ ? "READ_FIXED" :
		  "WRITE_FIXED",
		  "request failed: slot %u, offset %zu in the buffer, %llu "
		  "bytes, device offset %llu of %s%s%s",
		  (unsigned int)(s - c->slots), off,
		  (unsigned long long)io_u->xfer_buflen,
		  (unsigned long long)io_u->offset, io_u->file->file_name,
		  res == -EAGAIN ? ", after -EAGAIN reissues: " : "",
		  res == -EAGAIN ? (tries ? "dmabuf_eagain_max reached" :
				    "dmabuf_eagain_max=0") : "");
	dbu_fail(td, c);
}

/* The device is done with the buffer: copy in for bounce, CPU access. */
static void dbu_after_io(struct thread_data *td, struct dbu_data *d,
			 struct io_u *io_u, int res)
{
	struct dbu_ctx *c = &d->c;
	struct dbu_slot *s;
	size_t off;

	c->ios++;
	if (res < 0) {
		dbu_io_failed(td, d, io_u, res);
	} else if ((unsigned int)res != io_u->xfer_buflen) {
		if ((unsigned int)res > io_u->xfer_buflen)
			io_u->error = EIO;
		else
			io_u->resid = io_u->xfer_buflen - res;
	}
	if (!ddir_rw(io_u->ddir))
		return;
	s = dbu_io_slot(d, io_u, &off);
	if (s->first_io_ns < 0)
		s->first_io_ns = dbu_now_ns() - s->first_submit_ns;
	if (d->io_sync && dbu_cpu_sync(c, s, true) && !io_u->error) {
		dbu_fail(td, c);
		io_u->error = -c->error.err;
	}
	if (d->bounce && io_u->ddir == DDIR_READ && res > 0) {
		int64_t t0 = dbu_now_ns();

		memcpy(io_u->xfer_buf, s->bounce + off, res);
		c->bounce_ns += dbu_now_ns() - t0;
		c->bounce_bytes += res;
	}
}

static bool dbu_reissue(struct dbu_data *d, struct io_u *io_u)
{
	struct io_uring_sqe *sqe;

	if (d->eagain[io_u->index] >= d->c.eagain_max)
		return false;
	sqe = io_uring_get_sqe(&d->c.ring);
	if (!sqe)
		return false;
	d->eagain[io_u->index]++;
	d->c.eagain_reissues++;
	dbu_sqe_fill(d, io_u, sqe);
	return true;
}

/* Reap what is there; -EAGAIN goes back to the device unchanged. */
static unsigned int dbu_reap(struct thread_data *td, struct dbu_data *d,
			     unsigned int max)
{
	struct io_uring *ring = &d->c.ring;
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0, reissued = 0;

	io_uring_for_each_cqe(ring, head, cqe) {
		struct io_u *io_u = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		if (d->nr_events == max)
			break;
		seen++;
		if (d->inject_every && res >= 0 &&
		    ++d->completions % d->inject_every == 0)
			res = -EAGAIN;
		if (res == -EAGAIN && dbu_reissue(d, io_u)) {
			reissued++;
			continue;
		}
		dbu_after_io(td, d, io_u, res);	/* reads the count */
		d->eagain[io_u->index] = 0;
		d->events[d->nr_events++] = io_u;
	}
	io_uring_cq_advance(ring, seen);
	if (reissued)
		io_uring_submit(ring);
	d->reaped += seen;
	d->inflight -= seen - reissued;
	return seen;
}

static int dbu_watchdog_fired(struct dbu_data *d, int64_t now)
{
	struct dbu_ctx *c = &d->c;

	return dbu_error(c, -ETIMEDOUT, "waiting for completions",
		"nothing completed for %.1f s (dmabuf_watchdog=%u): %u "
		"request(s) in flight, %llu completed before, %llu -EAGAIN "
		"reissue(s) so far. The device or the kernel's dma-buf path "
		"is stuck; see dmesg", (now - d->progress_ns) / 1e9,
		c->watchdog_s, d->inflight, (unsigned long long)c->ios,
		(unsigned long long)c->eagain_reissues);
}

/*
 * Wait for 'min' completions.  With the watchdog on, the wait gives up
 * every second and the clock is read only then: the hot path stays free
 * of clock reads, and the watchdog fires at most a second late.
 */
static int dbu_wait(struct dbu_data *d, unsigned int min)
{
	struct dbu_ctx *c = &d->c;
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_cqe *cqe;
	int64_t now;
	int ret;

	if (!min)
		return io_uring_get_events(&c->ring);
	if (!c->watchdog_s)
		return io_uring_wait_cqe_nr(&c->ring, &cqe, min);
	ret = io_uring_wait_cqes(&c->ring, &cqe, min, &ts, NULL);
	if (ret != -ETIME)
		return ret;
	now = dbu_now_ns();
	if (d->reaped != d->reaped_seen || !d->inflight) {
		d->reaped_seen = d->reaped;
		d->progress_ns = now;
	} else if (now - d->progress_ns >=
		   (int64_t)c->watchdog_s * 1000000000) {
		return dbu_watchdog_fired(d, now);
	}
	return 0;
}

static int fio_dbu_getevents(struct thread_data *td, unsigned int min,
			     unsigned int max, const struct timespec *t)
{
	struct dbu_data *d = td->io_ops_data;
	unsigned int actual_min = td->o.iodepth_batch_complete_min ? min : 0;
	int ret;

	(void)t;
	d->nr_events = 0;
	do {
		if (dbu_reap(td, d, max))
			continue;
		ret = dbu_wait(d, actual_min > d->nr_events ?
			       actual_min - d->nr_events : 0);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			if (d->c.error.err == ret)
				dbu_fail(td, &d->c);
			else
				td_verror(td, -ret, "io_uring_enter");
			return ret;
		}
	} while (d->nr_events < min);
	return d->nr_events;
}

static struct io_u *fio_dbu_event(struct thread_data *td, int event)
{
	struct dbu_data *d = td->io_ops_data;

	return d->events[event];
}

static void fio_dbu_report(struct thread_data *td, struct dbu_data *d)
{
	struct dbu_options *o = td->eo;
	struct dbu_report_job j = {
		.job		= td->o.name,
		.jobnum		= td->thread_number - 1,
		.fio_version	= fio_version_string,
		.engine_version	= DBU_VERSION,
	};
	char line[1024];
	int ret;

	dbu_report_summary(&d->c, line, sizeof(line));
	log_err(DBU_NAME ": %s: %s\n", td->o.name, line);
	if (!o->report || !*o->report)
		return;
	ret = dbu_report_write(&d->c, o->report, &j);
	if (ret)
		log_err("fio: " DBU_NAME ": writing the report %s: %s\n",
			o->report, strerror(-ret));
}

static void fio_dbu_cleanup(struct thread_data *td)
{
	struct dbu_data *d = td->io_ops_data;
	unsigned int i;

	if (!d)
		return;
	dbu_ring_exit(&d->c);
	for (i = 0; i < d->nr_fds; i++)
		if (d->fds[i] >= 0)
			close(d->fds[i]);
	fio_dbu_report(td, d);
	if (d->c.exp && d->c.exp->close)
		d->c.exp->close(&d->c);
	free(d->c.slots);
	free(d->events);
	free(d->pending);
	free(d->eagain);
	free(d->io);
	free(d->fds);
	free(d);
	td->io_ops_data = NULL;
}

/* Open every file once; requests always use these descriptors. */
static int dbu_open_files(struct thread_data *td, struct dbu_data *d)
{
	struct fio_file *f;
	unsigned int i;

	for_each_file(td, f, i) {
		if (generic_open_file(td, f))
			return -EIO;
		d->fds[i] = f->fd;
		d->nr_fds = i + 1;
		f->engine_pos = i;
		if (dbu_target_check(&d->c, f->fd, f->file_name))
			return d->c.error.err;
		if (!i) {
			d->c.target = f->file_name;
			d->c.target_fd = f->fd;
		}
		f->fd = -1;	/* fio opens it again through ->open_file */
	}
	if (d->c.ro.registerfiles)
		return dbu_ring_register_files(&d->c, d->fds, d->nr_fds);
	return 0;
}

/* Every io_u's buffer must lie inside one slot. */
static int dbu_check_layout(struct thread_data *td, struct dbu_ctx *c)
{
	struct io_u *io_u;
	unsigned int i;

	io_u_qiter(&td->io_u_all, io_u, i) {
		char *b = io_u->buf;
		size_t pos = b - c->area;

		if (b < c->area || pos + td_max_bs(td) > c->area_size ||
		    pos / c->chunk != (pos + td_max_bs(td) - 1) / c->chunk)
			return dbu_error(c, -EINVAL, "laying out io buffers",
				"io_u %u's buffer (offset %zu, %llu bytes) "
				"does not fit in one dma-buf of %zu bytes. "
				"Try mem_align=0 or a dmabuf_size_max that is "
				"a multiple of bs", i, pos,
				(unsigned long long)td_max_bs(td), c->chunk);
		if (c->att == &dbu_attach_kernel &&
		    dbu_kernel_check_buf(c, i, pos))
			return c->error.err;
	}
	return 0;
}

static int fio_dbu_post_init(struct thread_data *td)
{
	struct dbu_data *d = td->io_ops_data;
	struct dbu_ctx *c = &d->c;
	int ret;

	/* fio 3.33 calls post_init even when iomem_alloc failed. */
	if (!c->area || td->orig_buffer != c->area)
		return 1;
	ret = dbu_ring_init(c);
	if (!ret)
		ret = dbu_open_files(td, d);
	if (!ret)
		ret = c->att->attach(c);
	if (!ret)
		ret = dbu_check_layout(td, c);
	if (ret) {
		if (c->error.err)
			dbu_fail(td, c);
		return 1;
	}
	d->progress_ns = dbu_now_ns();
	d->bounce = c->att == &dbu_attach_bounce;
	d->io_sync = c->cpu_sync && !d->bounce && c->nr_slots &&
		     c->slots[0].dmabuf_fd >= 0;
	return 0;
}

static int fio_dbu_iomem_alloc(struct thread_data *td, size_t total_mem)
{
	struct dbu_data *d = td->io_ops_data;
	int ret = dbu_area_alloc(&d->c, total_mem);

	if (ret) {
		dbu_fail(td, &d->c);
		dbu_area_free(&d->c);
		return 1;
	}
	td->orig_buffer = d->c.area;
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

/* Options that cannot work together fail here, before anything is made. */
static int dbu_check_options(struct thread_data *td, struct dbu_options *o,
			     struct dbu_ctx *c)
{
	int ret;

	if (!dbu_version_ok)
		return dbu_error(c, -EPROTO, "loading the engine",
			"it was built for %s but runs in %s (see the message "
			"above)", DBU_FIO_VERSION, fio_version_string);
	c->src = o->src ? o->src : "";
	ret = dbu_exporter_lookup(c, c->src);
	if (!ret)
		ret = dbu_attach_lookup(c, o->attach ? o->attach : "");
	if (ret)
		return ret;
	if (c->att == &dbu_attach_kernel && c->ro.hipri)
		return dbu_error(c, -EINVAL, "hipri with dmabuf_attach=kernel",
			"the io_uring dma-buf series (v5 on) refuses dma-buf "
			"registration on a polled (IOPOLL) ring. Drop hipri");
	if (c->att == &dbu_attach_kernel && !td->o.odirect)
		return dbu_error(c, -EINVAL, "dmabuf_attach=kernel without "
			"direct=1",
			"the kernel registers a dma-buf only against a target "
			"opened with O_DIRECT. Add direct=1");
	ret = c->att->check(c);
	if (!ret)
		ret = c->exp->open(c, c->src_arg);
	return ret;
}

static void dbu_init_ctx(struct thread_data *td, struct dbu_options *o,
			 struct dbu_ctx *c)
{
	c->job = td->o.name;
	c->depth = td->o.iodepth;
	c->direct = td->o.odirect;
	c->min_bs = td_min_bs(td);
	c->max_bs = td_max_bs(td);
	c->nr_files = td->o.nr_files;
	c->size_max = o->size_max;
	c->eagain_max = o->eagain_max;
	c->watchdog_s = o->watchdog;
	c->cpu_sync = o->cpu_sync;
	c->target_fd = -1;
	c->exp_fd = -1;
	c->cpu_view = "none";
	snprintf(c->uapi_probe, sizeof(c->uapi_probe), "not-run");
	c->ro.hipri = o->hipri;
	c->ro.sqpoll = o->sqpoll;
	c->ro.sqpoll_cpu = o->sqpoll_cpu;
	c->ro.sqpoll_cpu_set = o->sqpoll_cpu_set;
	/* As in fio's io_uring engine: SQPOLL needs registered files. */
	c->ro.registerfiles = o->registerfiles || o->sqpoll;
	c->ro.nowait = o->nowait;
	c->ro.force_async = o->force_async;
}

static int fio_dbu_init(struct thread_data *td)
{
	struct dbu_options *o = td->eo;
	unsigned int depth = td->o.iodepth;
	struct dbu_data *d;

	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	td->io_ops_data = d;
	dbu_init_ctx(td, o, &d->c);
	d->inject_every = o->inject_eagain;
	d->events = calloc(depth, sizeof(*d->events));
	d->pending = calloc(depth, sizeof(*d->pending));
	d->eagain = calloc(depth, sizeof(*d->eagain));
	d->io = calloc(depth, sizeof(*d->io));
	d->fds = calloc(td->o.nr_files ? td->o.nr_files : 1, sizeof(int));
	if (!d->events || !d->pending || !d->eagain || !d->io || !d->fds)
		return 1;

	if (dbu_check_options(td, o, &d->c)) {
		dbu_fail(td, &d->c);
		return 1;
	}
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

__attribute__((visibility("default")))
struct ioengine_ops ioengine = {
	.name			= DBU_NAME,
	.version		= FIO_IOOPS_VERSION,
	.flags			= FIO_ASYNCIO_SYNC_TRIM | FIO_NO_OFFLOAD |
				  FIO_ASYNCIO_SETS_ISSUE_TIME,
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
