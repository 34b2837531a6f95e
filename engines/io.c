// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: the data path (design.md section 3), top to bottom.
 *
 *   queue   io_u -> (slot, offset); a bounce write copies out of the view;
 *           the slot passes to the device (DMA_BUF_SYNC_END when the
 *           device owned nothing in it)
 *   commit  one SQE per queued io_u: READ_FIXED/WRITE_FIXED at io_base +
 *           offset of slot buf_index, all submitted together
 *   reap    CQE -> -EAGAIN reissued (bounded) -> the slot back to the CPU
 *           once the device owns nothing in it (DMA_BUF_SYNC_START) -> a
 *           bounce read copies into the view -> fio's event
 *
 * SQEs are taken at commit and for reissues, never at queue: the SQ ring
 * holds only what is being submitted (d->sq, in ring order), so the reap
 * path never sends a request fio has not committed.
 */
#include <errno.h>
#include <string.h>

#include "dbu_fio.h"

int dbu_io_alloc(struct dbu_data *d, unsigned int depth)
{
	d->events = calloc(depth, sizeof(*d->events));
	d->pending = calloc(depth, sizeof(*d->pending));
	d->sq = calloc(depth, sizeof(*d->sq));
	d->eagain = calloc(depth, sizeof(*d->eagain));
	d->io = calloc(depth, sizeof(*d->io));
	if (!d->events || !d->pending || !d->sq || !d->eagain || !d->io)
		return -ENOMEM;
	return 0;
}

void dbu_io_free(struct dbu_data *d)
{
	free(d->events);
	free(d->pending);
	free(d->sq);
	free(d->eagain);
	free(d->io);
}

/* After attach: how this job's I/O treats the slots. */
void dbu_io_start(struct dbu_data *d)
{
	struct dbu_ctx *c = &d->c;

	d->bounce = c->att == &dbu_attach_bounce;
	d->io_sync = c->cpu_sync && !d->bounce && c->nr_slots &&
		     c->slots[0].dmabuf_fd >= 0;
	c->prog.at_ns = dbu_now_ns();
}

/* (slot, offset) of a request, worked out once when it is queued. */
static struct dbu_slot *dbu_io_slot(struct dbu_data *d, struct io_u *io_u,
				    size_t *off)
{
	struct dbu_ioinfo *io = &d->io[io_u->index];

	*off = io->off;
	return &d->c.slots[io->slot];
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
static int dbu_to_device(struct dbu_data *d, struct io_u *io_u)
{
	struct dbu_ctx *c = &d->c;
	struct dbu_ioinfo *io = &d->io[io_u->index];
	struct dbu_slot *s;
	int ret = 0;

	s = dbu_slot_of(c, io_u->xfer_buf, &io->off);
	io->slot = s - c->slots;
	if (s->first_io < 0 && s->first_io_ns < 0) {
		s->first_io = io_u->index;
		s->first_submit_ns = dbu_now_ns();
	}
	if (d->bounce && io_u->ddir == DDIR_WRITE)
		ret = dbu_bounce_copy(c, s, io->off, io_u->xfer_buflen, false);
	if (!ret && d->io_sync && s->cpu_access)
		ret = dbu_cpu_sync(c, s, false, c->sync_dir);
	if (!ret)
		s->inflight++;
	return ret;
}

enum fio_q_status fio_dbu_queue(struct thread_data *td, struct io_u *io_u)
{
	struct dbu_data *d = td->io_ops_data;
	int ret;

	fio_ro_check(td, io_u);

	if (d->queued == d->c.depth)
		return FIO_Q_BUSY;
	if (!ddir_rw(io_u->ddir) && io_u->ddir != DDIR_SYNC &&
	    io_u->ddir != DDIR_DATASYNC) {
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}
	if (ddir_rw(io_u->ddir)) {
		ret = dbu_to_device(d, io_u);
		if (ret) {
			dbu_fail(td, &d->c);
			io_u->error = -ret;
			return FIO_Q_COMPLETED;
		}
	}
	d->pending[d->queued++] = io_u;
	return FIO_Q_QUEUED;
}

/* An SQE; under SQPOLL wait for the kernel thread to free one. */
static struct io_uring_sqe *dbu_get_sqe(struct dbu_data *d)
{
	struct io_uring *ring = &d->c.ring;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe && d->c.ro.sqpoll && io_uring_sqring_wait(ring) >= 0)
		sqe = io_uring_get_sqe(ring);
	return sqe;
}

/* The kernel took the first n SQEs: fresh ones are in flight now. */
static void dbu_consumed(struct thread_data *td, struct dbu_data *d,
			 unsigned int n)
{
	struct timespec now;
	unsigned int i, fresh = 0;
	bool stamp = fio_fill_issue_time(td);

	if (stamp)
		fio_gettime(&now, NULL);
	for (i = 0; i < n; i++) {
		struct io_u *io_u = d->sq[i];

		if (d->eagain[io_u->index])
			continue;	/* a reissue: in flight all along */
		fresh++;
		if (stamp) {
			memcpy(&io_u->issue_time, &now, sizeof(now));
			io_u_queued(td, io_u);
		}
	}
	if (stamp && fresh && td->o.read_iolog_file)
		memcpy(&td->last_issue, &now, sizeof(now));
	if (fresh)
		io_u_mark_submit(td, fresh);
	d->c.prog.inflight += fresh;
	d->nr_sq -= n;
	if (d->nr_sq)
		memmove(d->sq, d->sq + n, d->nr_sq * sizeof(*d->sq));
}

/*
 * Submit what is in the SQ ring.  A transient refusal (EAGAIN, EBUSY,
 * EINTR) leaves it there for the next call; getevents calls again.  A
 * refusal for good fails the job, and what the ring did not take comes
 * back to fio failed (dbu_fail_unsent).
 */
static void dbu_submit(struct thread_data *td, struct dbu_data *d)
{
	int ret;

	while (d->nr_sq && !d->dead) {
		ret = io_uring_submit(&d->c.ring);
		if (ret == -EAGAIN || ret == -EBUSY || ret == -EINTR || !ret)
			return;
		if (ret < 0) {
			d->dead = -ret;
			dbu_error(&d->c, ret, "io_uring_enter",
				  "submitting %u request(s); they come back "
				  "failed", d->nr_sq);
			dbu_fail(td, &d->c);
			return;
		}
		dbu_consumed(td, d, (unsigned int)ret < d->nr_sq ?
			     (unsigned int)ret : d->nr_sq);
	}
}

int fio_dbu_commit(struct thread_data *td)
{
	struct dbu_data *d = td->io_ops_data;
	unsigned int i;

	if (!d->queued && !d->nr_sq)
		return 0;	/* fio commits again before it reaps */
	if (d->dead) {		/* no SQE: getevents fails them */
		memcpy(d->sq + d->nr_sq, d->pending,
		       d->queued * sizeof(*d->pending));
		d->nr_sq += d->queued;
		d->queued = 0;
		return 0;
	}
	for (i = 0; i < d->queued; i++) {
		struct io_uring_sqe *sqe = dbu_get_sqe(d);

		if (!sqe)
			break;
		dbu_sqe_fill(d, d->pending[i], sqe);
		d->sq[d->nr_sq++] = d->pending[i];
	}
	d->queued -= i;
	if (d->queued)
		memmove(d->pending, d->pending + i,
			d->queued * sizeof(*d->pending));
	dbu_submit(td, d);
	return 0;
}

/*
 * After the ring refused a submission for good: what it did not take goes
 * back to fio failed, so that nothing waits for it.  The job is failing.
 */
static void dbu_fail_unsent(struct dbu_data *d, unsigned int max)
{
	while (d->nr_sq && d->nr_events < max) {
		struct io_u *io_u = d->sq[--d->nr_sq];

		io_u->error = d->dead;
		if (ddir_rw(io_u->ddir))
			d->c.slots[d->io[io_u->index].slot].inflight--;
		if (d->eagain[io_u->index])
			d->c.prog.inflight--;	/* a reissue was in flight */
		d->eagain[io_u->index] = 0;
		d->events[d->nr_events++] = io_u;
	}
}

/*
 * The request failed for good: record why; fio decides what it costs.
 * 'why' of an -EAGAIN: -EAGAIN when the reissues ran out, -EBUSY when no
 * SQE was free for one.
 */
static void dbu_io_failed(struct dbu_data *d, struct io_u *io_u, int res,
			  int why)
{
	struct dbu_ctx *c = &d->c;
	unsigned int tries = d->eagain[io_u->index];
	size_t off = 0;
	struct dbu_slot *s;

	io_u->error = -res;
	c->io_errors++;
	if (!ddir_rw(io_u->ddir)) {
		dbu_error(c, res, "fsync", "on %s", io_u->file->file_name);
	} else {
		s = dbu_io_slot(d, io_u, &off);
		dbu_error(c, res, io_u->ddir == DDIR_READ ? "READ_FIXED" :
			  "WRITE_FIXED",
			  "request failed: slot %u, offset %zu in the buffer, "
			  "%llu bytes, device offset %llu of %s%s%s",
			  (unsigned int)(s - c->slots), off,
			  (unsigned long long)io_u->xfer_buflen,
			  (unsigned long long)io_u->offset,
			  io_u->file->file_name,
			  res == -EAGAIN ? ", after -EAGAIN reissues: " : "",
			  res != -EAGAIN ? "" : why == -EBUSY ?
			  "no free SQE to reissue it" : tries ?
			  "dmabuf_eagain_max reached" : "dmabuf_eagain_max=0");
	}
	/* fio names every failed request; the engine's cause once a job. */
	if (c->io_errors == 1)
		dbu_say(c);
}

/* The device is done with the buffer: CPU access, copy in for bounce. */
static int dbu_from_device(struct dbu_data *d, struct io_u *io_u, int res,
			   int why)
{
	struct dbu_ctx *c = &d->c;
	struct dbu_slot *s;
	size_t off;
	int ret = 0;

	c->ios++;
	if (res < 0) {
		dbu_io_failed(d, io_u, res, why);
	} else if ((unsigned int)res != io_u->xfer_buflen) {
		if ((unsigned int)res > io_u->xfer_buflen)
			io_u->error = EIO;
		else
			io_u->resid = io_u->xfer_buflen - res;
	}
	if (!ddir_rw(io_u->ddir))
		return 0;
	s = dbu_io_slot(d, io_u, &off);
	s->inflight--;
	if (s->first_io == (int)io_u->index && s->first_io_ns < 0)
		s->first_io_ns = dbu_now_ns() - s->first_submit_ns;
	if (d->io_sync) {
		if (!s->inflight)
			ret = dbu_cpu_sync(c, s, true, c->sync_dir);
		else
			c->cpu_unbracketed++;
	}
	if (!ret && d->bounce && io_u->ddir == DDIR_READ && res > 0)
		ret = dbu_bounce_copy(c, s, off, res, true);
	return ret;
}

/* Testing knobs: -EAGAIN every Nth completion; half of every Nth. */
static int dbu_inject(struct dbu_data *d, struct io_u *io_u, int res)
{
	unsigned int lbs = d->c.lbs, half;

	if (res < 0 || (!d->inject_eagain && !d->inject_short))
		return res;
	d->completions++;
	if (d->inject_eagain && d->completions % d->inject_eagain == 0)
		return -EAGAIN;
	half = io_u->xfer_buflen / 2 / lbs * lbs;
	if (d->inject_short && d->completions % d->inject_short == 0 &&
	    ddir_rw(io_u->ddir) && half && res == (int)io_u->xfer_buflen)
		return half;
	return res;
}

/* 0: reissued; -EAGAIN: dmabuf_eagain_max reached; -EBUSY: no SQE. */
static int dbu_reissue(struct dbu_data *d, struct io_u *io_u)
{
	struct io_uring_sqe *sqe;

	if (d->eagain[io_u->index] >= d->c.eagain_max)
		return -EAGAIN;
	sqe = d->dead ? NULL : dbu_get_sqe(d);
	if (!sqe)
		return -EBUSY;
	d->eagain[io_u->index]++;
	d->c.eagain_reissues++;
	dbu_sqe_fill(d, io_u, sqe);
	d->sq[d->nr_sq++] = io_u;	/* dbu_submit() sends it */
	return 0;
}

/*
 * Reap what is there; -EAGAIN goes back to the device unchanged.  Every
 * reaped request reaches fio, a failed one with its error: fio waits for
 * each one it handed over, even when the job is failing.
 */
static unsigned int dbu_reap(struct thread_data *td, struct dbu_data *d,
			     unsigned int max)
{
	struct io_uring *ring = &d->c.ring;
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0, reissued = 0;
	bool failed = false;

	io_uring_for_each_cqe(ring, head, cqe) {
		struct io_u *io_u = io_uring_cqe_get_data(cqe);
		int res, why = 0;

		if (d->nr_events == max)
			break;
		seen++;
		res = dbu_inject(d, io_u, cqe->res);
		if (res == -EAGAIN && !(why = dbu_reissue(d, io_u))) {
			reissued++;
			continue;
		}
		if (dbu_from_device(d, io_u, res, why)) {
			failed = true;
			io_u->error = -d->c.error.err;
		}
		d->eagain[io_u->index] = 0;
		d->events[d->nr_events++] = io_u;
	}
	io_uring_cq_advance(ring, seen);
	d->c.prog.reaped += seen;
	d->c.prog.inflight -= seen - reissued;
	if (failed)
		dbu_fail(td, &d->c);
	return seen;
}

static int dbu_watchdog_fired(struct dbu_ctx *c)
{
	return dbu_error(c, -ETIMEDOUT, "waiting for completions",
		"nothing completed for %.1f s (dmabuf_watchdog=%u): %u "
		"request(s) in flight, %llu completed before, %llu -EAGAIN "
		"reissue(s) so far. The device or the kernel's dma-buf path "
		"is stuck; see dmesg", (dbu_now_ns() - c->prog.at_ns) / 1e9,
		c->watchdog_s, c->prog.inflight, (unsigned long long)c->ios,
		(unsigned long long)c->eagain_reissues);
}

/*
 * Wait for completions when the wait may not block (fio's
 * iodepth_batch_complete_min=0, or requests the kernel has not taken yet):
 * poll, and every 1024 empty polls ask the watchdog.
 */
static int dbu_poll(struct dbu_data *d)
{
	struct dbu_ctx *c = &d->c;
	int ret = io_uring_get_events(&c->ring);

	if (ret >= 0 && ++d->spins % 1024 == 0)
		ret = dbu_ring_tick(c, c->prog.inflight || d->nr_sq);
	return ret;
}

int fio_dbu_getevents(struct thread_data *td, unsigned int min,
		      unsigned int max, const struct timespec *t)
{
	struct dbu_data *d = td->io_ops_data;
	struct dbu_ctx *c = &d->c;
	unsigned int actual_min = td->o.iodepth_batch_complete_min ? min : 0;
	unsigned int want;
	int ret;

	(void)t;
	d->nr_events = 0;
	do {
		ret = 0;
		want = actual_min > d->nr_events ? actual_min - d->nr_events :
		       0;
		if (dbu_reap(td, d, max))
			;
		else if (d->dead && d->nr_sq)
			dbu_fail_unsent(d, max);
		else if (want && !d->nr_sq)
			ret = dbu_ring_wait(c, want);
		else	/* what the kernel has not taken cannot complete */
			ret = dbu_poll(d);
		if (d->nr_sq)
			dbu_submit(td, d);	/* reissues go out now */
		if (ret == -ETIMEDOUT)
			dbu_watchdog_fired(c);
		else if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
			 ret != -EBUSY && ret != -ETIME)
			dbu_error(c, ret, "io_uring_enter",
				  "waiting for %u completion(s)", want);
		else
			continue;
		dbu_fail(td, c);
		/* what was reaped still reaches fio */
		return d->nr_events ? (int)d->nr_events : ret;
	} while (d->nr_events < min);
	return d->nr_events;
}

struct io_u *fio_dbu_event(struct thread_data *td, int event)
{
	struct dbu_data *d = td->io_ops_data;

	return d->events[event];
}
