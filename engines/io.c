// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: the data path (design.md section 3), top to bottom.
 *
 *   queue   io_u -> (slot, offset), known since start; a bounce write
 *           copies out of the view; the slot passes to the device
 *           (DMA_BUF_SYNC_END when the device owned nothing in it); the
 *           SQE is filled: READ_FIXED/WRITE_FIXED at io_base + offset of
 *           buffer-table entry io->buf (plain READ/WRITE at the address
 *           for memory pinned per I/O: p2pmem)
 *   commit  everything filled since the last commit goes in one
 *           io_uring_enter, which also runs the completions by then
 *   reap    CQE -> fio's event; only what is not a plain full completion
 *           (or a job that brackets, bounces, injects or times its first
 *           I/O) takes the slow path: -EAGAIN reissued (bounded), the
 *           slot back to the CPU once the device owns nothing in it
 *           (DMA_BUF_SYNC_START), a bounce read copied into the view
 *
 * The kernel sees an SQE only when the SQ ring's tail is published, at
 * commit.  d->sq lists the io_us behind the unpublished and unconsumed
 * SQEs in ring order.  A reissue is published by the reap only when fio
 * has nothing queued and uncommitted, so the reap never sends a request
 * fio has not committed.
 */
#include <errno.h>
#include <string.h>

#include "dbu_fio.h"

int dbu_io_alloc(struct dbu_data *d, unsigned int depth)
{
	d->events = calloc(depth, sizeof(*d->events));
	d->sq = calloc(depth, sizeof(*d->sq));
	d->io = calloc(depth, sizeof(*d->io));
	if (!d->events || !d->sq || !d->io)
		return -ENOMEM;
	return 0;
}

void dbu_io_free(struct dbu_data *d)
{
	free(d->events);
	free(d->sq);
	free(d->io);
}

/*
 * After attach: how this job's I/O treats the slots, and where each io_u's
 * buffer is (it never moves, so no request works it out again).
 *
 * dmabuf_cpu_sync brackets CPU access per I/O only when fio looks at the
 * bytes (verify, buffers filled or scrambled per write); otherwise the
 * CPU's one access, fio's initial fill, ends here, once a slot.
 */
int dbu_io_start(struct thread_data *td, struct dbu_data *d)
{
	struct dbu_ctx *c = &d->c;
	struct io_u *io_u;
	unsigned int i;
	int ret;

	d->unmeasured = 0;
	io_u_qiter(&td->io_u_all, io_u, i) {
		struct dbu_ioinfo *io = &d->io[io_u->index];
		struct dbu_slot *s = dbu_slot_of(c, io_u->buf, &io->base);

		io->slot = s - c->slots;
		io->buf = c->per_io_pin ? 0 : c->reg_per_buf ? io_u->index :
			  io->slot;
		if (s->first_io == -1 && s->first_io_ns < 0) {	/* in use */
			s->first_io = -2;
			d->unmeasured++;
		}
	}
	d->op[DDIR_READ] = c->per_io_pin ? IORING_OP_READ :
			   IORING_OP_READ_FIXED;
	d->op[DDIR_WRITE] = c->per_io_pin ? IORING_OP_WRITE :
			    IORING_OP_WRITE_FIXED;
	d->bounce = c->att == &dbu_attach_bounce;
	d->io_sync = c->cpu_sync && !d->bounce && !c->shadow &&
		     c->nr_slots && c->slots[0].dmabuf_fd >= 0;
	if (d->io_sync && !c->cpu_looks) {
		d->io_sync = false;
		for (i = 0; i < c->nr_slots; i++) {
			if (!c->slots[i].cpu_access)
				continue;
			ret = dbu_cpu_sync(c, &c->slots[i], false, c->sync_dir);
			if (ret)
				return ret;
		}
	}
	ret = dbu_shadow_push(c);
	if (ret)
		return ret;
	d->shadow = c->shadow && c->cpu_looks;
	d->shadow_late = d->shadow && !c->shadow_timed;
	/* As fio's io_uring engine: SQPOLL does not inherit ioprio_set() */
	d->ioprio = td->ioprio;
	dbu_io_update_slow(d);
	d->sqe_flags = c->ro.registerfiles ? IOSQE_FIXED_FILE : 0;
	d->rw_flags = (c->ro.nowait ? RWF_NOWAIT : 0) |
		      (c->ro.uncached ? DBU_RWF_UNCACHED : 0);
	d->stamp = fio_fill_issue_time(td);
	c->prog.at_ns = dbu_now_ns();
	return 0;
}

/* Does a completion need more than handing the io_u to fio? */
void dbu_io_update_slow(struct dbu_data *d)
{
	d->slow = d->bounce || d->io_sync || d->shadow || d->unmeasured ||
		  d->inject_eagain || d->inject_short;
	d->qslow = d->slow || d->ioprio ||
		   d->cmdprio.mode != CMDPRIO_MODE_NONE;
}

#define dbu_inline	inline __attribute__((always_inline))
#define dbu_cold	__attribute__((noinline, cold))

static dbu_inline void dbu_sqe_fill(struct dbu_data *d, struct io_u *io_u,
				    struct io_uring_sqe *sqe)
{
	struct dbu_ctx *c = &d->c;
	struct fio_file *f = io_u->file;
	int fd = d->sqe_flags & IOSQE_FIXED_FILE ? (int)f->engine_pos : f->fd;

	if (ddir_rw(io_u->ddir)) {
		struct dbu_ioinfo *io = &d->io[io_u->index];

		io_uring_prep_rw(d->op[io_u->ddir], sqe, fd, (void *)(uintptr_t)
				 (c->slots[io->slot].io_base + io->off),
				 io_u->xfer_buflen, io_u->offset);
		sqe->buf_index = io->buf;
		sqe->rw_flags = d->rw_flags;
	} else {
		io_uring_prep_fsync(sqe, fd, io_u->ddir == DDIR_DATASYNC ?
				    IORING_FSYNC_DATASYNC : 0);
	}
	sqe->flags = d->sqe_flags;
	if (c->ro.force_async && ++d->async_cnt % c->ro.force_async == 0)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, io_u);
}

/* The first I/O of each slot is timed (first_io_ns in the report). */
static void dbu_first_out(struct dbu_data *d, struct dbu_slot *s,
			  struct io_u *io_u)
{
	if (s->first_io == -2) {
		s->first_io = io_u->index;
		s->first_submit_ns = dbu_now_ns();
	}
}

static void dbu_first_back(struct dbu_data *d, struct dbu_slot *s,
			   struct io_u *io_u)
{
	if (s->first_io == (int)io_u->index && s->first_io_ns < 0) {
		s->first_io_ns = dbu_now_ns() - s->first_submit_ns;
		if (!--d->unmeasured)
			dbu_io_update_slow(d);
	}
}

/* Move the io_u's start past 'ns' spent on it: fio does not time it. */
static void dbu_untime(struct io_u *io_u, int64_t ns)
{
	struct timespec *t = &io_u->start_time;

	ns += t->tv_nsec;
	t->tv_sec += ns / 1000000000;
	t->tv_nsec = ns % 1000000000;
}

/*
 * Hand the buffer to the device: a write's shadow copy into the memory
 * and then its bounce copy out of it, end CPU access.
 */
static int dbu_to_device(struct dbu_data *d, struct io_u *io_u,
			 struct dbu_ioinfo *io)
{
	struct dbu_ctx *c = &d->c;
	struct dbu_slot *s = &c->slots[io->slot];
	int64_t ns;
	int ret = 0;

	if (d->unmeasured)
		dbu_first_out(d, s, io_u);
	if (d->shadow && io_u->ddir == DDIR_WRITE) {
		ret = dbu_shadow_copy(c, s, io->off, io_u->xfer_buflen, true,
				      &ns);
		if (!c->shadow_timed)
			dbu_untime(io_u, ns);
	}
	if (!ret && d->bounce && io_u->ddir == DDIR_WRITE)
		ret = dbu_bounce_copy(c, s, io->off, io_u->xfer_buflen, false);
	if (!ret && d->io_sync && s->cpu_access)
		ret = dbu_cpu_sync(c, s, false, c->sync_dir);
	if (!ret)
		s->inflight++;
	return ret;
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

/*
 * A test build (cmake -DDBU_TEST_SLOWDOWN=N) spends N loop turns per I/O:
 * the regression the CI gate's own test must catch.  0 in every other build.
 */
static inline void dbu_test_slowdown(void)
{
#if DBU_TEST_SLOWDOWN > 0
	for (volatile unsigned int i = 0; i < DBU_TEST_SLOWDOWN; i++)
		;
#endif
}

/* xfer_buf's offset in its slot: fio moves it on within io_u->buf. */
static dbu_inline void dbu_io_off(struct io_u *io_u, struct dbu_ioinfo *io)
{
	io->off = io->base + (size_t)((char *)io_u->xfer_buf -
				      (char *)io_u->buf);
}

/* io_u is behind the newest SQE (or waits for getevents, ring dead). */
static dbu_inline enum fio_q_status dbu_queued(struct dbu_data *d,
					       struct io_u *io_u,
					       struct dbu_ioinfo *io)
{
	io->eagain = 0;
	d->sq[d->nr_sq++] = io_u;
	d->queued++;
	return FIO_Q_QUEUED;
}

/*
 * prio/prioclass (fio sets io_u->ioprio to it), then cmdprio_* per I/O, as
 * fio's io_uring engine.  prio_ios counts what reached the SQE.
 */
static void dbu_sqe_prio(struct thread_data *td, struct dbu_data *d,
			 struct io_u *io_u, struct io_uring_sqe *sqe)
{
	if (d->cmdprio.mode != CMDPRIO_MODE_NONE)
		fio_cmdprio_set_ioprio(td, &d->cmdprio, io_u);
	sqe->ioprio = io_u->ioprio;
	if (sqe->ioprio)
		d->c.prio_ios++;
}

/*
 * Queue when the ring is dead, the job slow or prioritised, no SQE free, or
 * no read/write.
 */
static dbu_cold enum fio_q_status dbu_queue_slow(struct thread_data *td,
						 struct dbu_data *d,
						 struct io_u *io_u,
						 struct dbu_ioinfo *io)
{
	struct io_uring_sqe *sqe;
	int ret;

	if (d->dead)		/* no SQE: getevents fails it */
		return dbu_queued(d, io_u, io);
	if (ddir_rw(io_u->ddir)) {
		dbu_io_off(io_u, io);
		if (d->slow && (ret = dbu_to_device(d, io_u, io))) {
			dbu_fail(td, &d->c);
			io_u->error = -ret;
			return FIO_Q_COMPLETED;
		}
	} else if (io_u->ddir != DDIR_SYNC && io_u->ddir != DDIR_DATASYNC) {
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}
	sqe = dbu_get_sqe(d);
	if (!sqe) {
		if (d->slow && ddir_rw(io_u->ddir))
			d->c.slots[io->slot].inflight--;
		return FIO_Q_BUSY;
	}
	dbu_sqe_fill(d, io_u, sqe);
	if (ddir_rw(io_u->ddir))
		dbu_sqe_prio(td, d, io_u, sqe);
	return dbu_queued(d, io_u, io);
}

enum fio_q_status fio_dbu_queue(struct thread_data *td, struct io_u *io_u)
{
	struct dbu_data *d = td->io_ops_data;
	struct dbu_ioinfo *io = &d->io[io_u->index];
	struct io_uring_sqe *sqe;

	fio_ro_check(td, io_u);
	dbu_test_slowdown();

	if (d->qslow || d->dead || !ddir_rw(io_u->ddir) ||
	    !(sqe = io_uring_get_sqe(&d->c.ring)))
		return dbu_queue_slow(td, d, io_u, io);
	dbu_io_off(io_u, io);
	dbu_sqe_fill(d, io_u, sqe);
	return dbu_queued(d, io_u, io);
}

/* The kernel took the first n SQEs: fresh ones are in flight now. */
static dbu_inline void dbu_consumed(struct thread_data *td,
				    struct dbu_data *d, unsigned int n)
{
	struct timespec now;
	unsigned int i, fresh = n;
	bool reissues = d->reissues;

	if (d->stamp)
		fio_gettime(&now, NULL);
	for (i = 0; i < n; i++) {
		struct io_u *io_u = d->sq[i];

		if (reissues && d->io[io_u->index].eagain) {
			fresh--;	/* a reissue: in flight all along */
			d->reissues--;
			continue;
		}
		if (d->stamp) {
			memcpy(&io_u->issue_time, &now, sizeof(now));
			io_u_queued(td, io_u);
		}
	}
	if (d->stamp && fresh && td->o.read_iolog_file)
		memcpy(&td->last_issue, &now, sizeof(now));
	if (fresh)
		io_u_mark_submit(td, fresh);
	d->c.prog.inflight += fresh;
	d->nr_sq -= n;
	if (d->nr_sq)
		memmove(d->sq, d->sq + n, d->nr_sq * sizeof(*d->sq));
}

/*
 * io_uring_submit_and_get_events() without its generality: publish the
 * SQ tail, then one io_uring_enter that submits and runs completions, as
 * fio's io_uring engine does.  Not for SQPOLL (liburing's submit is).
 */
static int dbu_enter(struct dbu_ctx *c)
{
	struct io_uring *ring = &c->ring;
	struct io_uring_sq *sq = &ring->sq;
	unsigned int tail = sq->sqe_tail;

	if (sq->sqe_head != tail) {
		sq->sqe_head = tail;
		io_uring_smp_store_release(sq->ktail, tail);
	}
	return io_uring_enter(ring->enter_ring_fd, tail - *sq->khead, 0,
			      c->enter_flags, NULL);
}

/*
 * Submit what is in the SQ ring.  A transient refusal (EAGAIN, EBUSY,
 * EINTR) leaves it there for the next call; getevents calls again.  A
 * refusal for good fails the job, and what the ring did not take comes
 * back to fio failed (dbu_fail_unsent).
 */
static dbu_inline void dbu_submit(struct thread_data *td, struct dbu_data *d)
{
	int ret;

	d->queued = 0;
	while (d->nr_sq && !d->dead) {
		/*
		 * As fio's io_uring engine: the submit also runs completions
		 * (task work a DEFER_TASKRUN ring runs only when asked), so
		 * what is done by now is reaped without another system call.
		 */
		ret = d->c.ro.sqpoll ? io_uring_submit(&d->c.ring) :
		      dbu_enter(&d->c);
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

	if (d->nr_sq)
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
		if (d->io[io_u->index].eagain) {
			d->c.prog.inflight--;	/* a reissue was in flight */
			d->reissues--;
		}
		d->io[io_u->index].eagain = 0;
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
	struct dbu_ioinfo *io = &d->io[io_u->index];
	unsigned int tries = io->eagain;

	io_u->error = -res;
	c->io_errors++;
	if (!ddir_rw(io_u->ddir)) {
		dbu_error(c, res, "fsync", "on %s", io_u->file->file_name);
	} else {
		dbu_error(c, res, dbu_op_name(c, io_u->ddir == DDIR_READ),
			  "request failed: slot %u, offset %zu in the buffer, "
			  "%llu bytes, device offset %llu of %s%s%s",
			  io->slot, io->off,
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

/*
 * The slow path of a completion: a failure or a partial transfer, and
 * what the slot needs back from the device (CPU access, a bounce copy).
 */
static int dbu_from_device(struct dbu_data *d, struct io_u *io_u, int res,
			   int why)
{
	struct dbu_ctx *c = &d->c;
	struct dbu_ioinfo *io = &d->io[io_u->index];
	struct dbu_slot *s;
	int64_t ns;
	int ret = 0;

	if (res < 0) {
		dbu_io_failed(d, io_u, res, why);
	} else if ((unsigned int)res != io_u->xfer_buflen) {
		if ((unsigned int)res > io_u->xfer_buflen)
			io_u->error = EIO;
		else
			io_u->resid = io_u->xfer_buflen - res;
	}
	if (!ddir_rw(io_u->ddir) || !d->slow)
		return 0;
	s = &c->slots[io->slot];
	s->inflight--;
	if (d->unmeasured)
		dbu_first_back(d, s, io_u);
	if (d->io_sync) {
		if (!s->inflight)
			ret = dbu_cpu_sync(c, s, true, c->sync_dir);
		else
			c->cpu_unbracketed++;
	}
	if (io_u->ddir != DDIR_READ || res <= 0 || io_u->error)
		return ret;
	if (!ret && d->bounce)
		ret = dbu_bounce_copy(c, s, io->off, res, true);
	/* a read's shadow copy; untimed ones wait for fio's clock */
	if (!ret && d->shadow && !d->shadow_late)
		ret = dbu_shadow_copy(c, s, io->off, res, false, &ns);
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

	if (d->io[io_u->index].eagain >= d->c.eagain_max)
		return -EAGAIN;
	sqe = d->dead ? NULL : dbu_get_sqe(d);
	if (!sqe)
		return -EBUSY;
	d->io[io_u->index].eagain++;
	d->reissues++;
	d->c.eagain_reissues++;
	dbu_sqe_fill(d, io_u, sqe);
	sqe->ioprio = io_u->ioprio;	/* the priority it went out with */
	d->sq[d->nr_sq++] = io_u;	/* dbu_submit() sends it */
	return 0;
}

/* One completion that is not a plain full one, or a job's slow path. */
static dbu_cold bool dbu_reap_slow(struct dbu_data *d, struct io_u *io_u, int res,
			  unsigned int *reissued)
{
	int why = 0;

	res = dbu_inject(d, io_u, res);
	if (res == -EAGAIN && !(why = dbu_reissue(d, io_u))) {
		(*reissued)++;
		return false;
	}
	if (dbu_from_device(d, io_u, res, why)) {
		io_u->error = -d->c.error.err;
		d->reap_failed = true;
	}
	return true;
}

/*
 * Reap what is there; -EAGAIN goes back to the device unchanged.  Every
 * reaped request reaches fio, a failed one with its error: fio waits for
 * each one it handed over, even when the job is failing.
 */
static dbu_inline unsigned int dbu_reap(struct thread_data *td,
					struct dbu_data *d, unsigned int max)
{
	struct io_uring_cq *cq = &d->c.ring.cq;
	unsigned int head = *cq->khead, mask = cq->ring_mask;
	unsigned int tail = io_uring_smp_load_acquire(cq->ktail);
	unsigned int nr = d->nr_events, seen = 0, reissued = 0;
	bool slow = d->slow;

	for (; head != tail && nr < max; head++, seen++) {
		struct io_uring_cqe *cqe = &cq->cqes[head & mask];
		struct io_u *io_u = io_uring_cqe_get_data(cqe);

		if ((slow || cqe->res != (int)io_u->xfer_buflen) &&
		    !dbu_reap_slow(d, io_u, cqe->res, &reissued))
			continue;
		d->events[nr++] = io_u;
	}
	if (!seen)
		return 0;
	d->nr_events = nr;
	io_uring_smp_store_release(cq->khead, head);
	d->c.prog.reaped += seen;
	d->c.prog.inflight -= seen - reissued;
	d->c.ios += seen - reissued;
	if (d->reap_failed) {
		d->reap_failed = false;
		dbu_fail(td, &d->c);
	}
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

/* Not enough was there: reap, wait, reissue until 'min' are in. */
static dbu_cold int dbu_getevents_wait(struct thread_data *td,
				       struct dbu_data *d, unsigned int min,
				       unsigned int max)
{
	struct dbu_ctx *c = &d->c;
	unsigned int actual_min = td->o.iodepth_batch_complete_min ? min : 0;
	unsigned int want;
	int ret;

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
		if (d->nr_sq && !d->queued)
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

int fio_dbu_getevents(struct thread_data *td, unsigned int min,
		      unsigned int max, const struct timespec *t)
{
	struct dbu_data *d = td->io_ops_data;

	(void)t;
	d->nr_events = 0;
	/* Usually the submit ran the completions: they are all there. */
	if (dbu_reap(td, d, max) && d->nr_events >= min && !d->nr_sq)
		return d->nr_events;
	return dbu_getevents_wait(td, d, min, max);
}

/*
 * dmabuf_shadow_timed=0: fio read its completion clock before ->event(),
 * so a read's shadow copy made here is outside its latencies.
 */
static dbu_cold void dbu_shadow_read_late(struct thread_data *td,
					  struct dbu_data *d,
					  struct io_u *io_u)
{
	struct dbu_ioinfo *io = &d->io[io_u->index];
	size_t len = io_u->xfer_buflen - io_u->resid;
	int64_t ns;

	if (io_u->ddir != DDIR_READ || io_u->error || !len)
		return;
	if (dbu_shadow_copy(&d->c, &d->c.slots[io->slot], io->off, len,
			    false, &ns)) {
		io_u->error = -d->c.error.err;
		dbu_fail(td, &d->c);
	}
}

struct io_u *fio_dbu_event(struct thread_data *td, int event)
{
	struct dbu_data *d = td->io_ops_data;
	struct io_u *io_u = d->events[event];

	if (d->shadow_late)
		dbu_shadow_read_late(td, d, io_u);
	return io_u;
}
