// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: the io_uring ring, set up as fio's io_uring engine does so
 * that the two compare like for like (dmabuf_register_ring, off by
 * default, is the one step beyond it).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dbu.h"

/*
 * dmabuf_register_ring: the ring's own fd registered (kernel 5.18+), so
 * each io_uring_enter skips the fd table.  fio's io_uring engine does not
 * (t/io_uring does): off by default, so rows compare like for like.
 */
static int dbu_ring_register(struct dbu_ctx *c)
{
	int ret;

	if (!c->ro.register_ring)
		return 0;
	ret = io_uring_register_ring_fd(&c->ring);
	if (ret != 1)
		return dbu_error(c, ret < 0 ? ret : -EOPNOTSUPP,
			"dmabuf_register_ring=1",
			"the kernel did not register the ring's fd "
			"(IORING_REGISTER_RING_FDS, Linux 5.18 on). Drop "
			"dmabuf_register_ring");
	c->ring_registered = true;
	c->enter_flags |= IORING_ENTER_REGISTERED_RING;
	return 0;
}

int dbu_ring_init(struct dbu_ctx *c)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	if (c->ro.hipri)
		p.flags |= IORING_SETUP_IOPOLL;
	if (c->ro.sqpoll) {
		p.flags |= IORING_SETUP_SQPOLL;
		if (c->ro.sqpoll_cpu_set) {
			p.flags |= IORING_SETUP_SQ_AFF;
			p.sq_thread_cpu = c->ro.sqpoll_cpu;
		}
	}
	/* No more CQEs than requests in flight: clamp the CQ ring. */
	p.flags |= IORING_SETUP_CQSIZE;
	p.cq_entries = c->depth;
	p.flags |= IORING_SETUP_COOP_TASKRUN;
	p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;

	for (;;) {
		ret = io_uring_queue_init_params(c->depth, &c->ring, &p);
		if (ret != -EINVAL)
			break;
		if (p.flags & IORING_SETUP_DEFER_TASKRUN)
			p.flags &= ~(IORING_SETUP_DEFER_TASKRUN |
				     IORING_SETUP_SINGLE_ISSUER);
		else if (p.flags & IORING_SETUP_COOP_TASKRUN)
			p.flags &= ~IORING_SETUP_COOP_TASKRUN;
		else if (p.flags & IORING_SETUP_CQSIZE)
			p.flags &= ~IORING_SETUP_CQSIZE;
		else
			break;
	}
	if (ret == -EPERM)
		return dbu_error(c, ret, "io_uring_setup",
			"%u entries: io_uring is disabled for this process. "
			"Check /proc/sys/kernel/io_uring_disabled (0 enables "
			"it)", c->depth);
	if (ret == -EINVAL && c->ro.sqpoll_cpu_set)
		return dbu_error(c, ret, "io_uring_setup",
			"%u entries, SQPOLL on CPU %u: the kernel refused the "
			"CPU. Give sqthread_poll_cpu a CPU this process may run "
			"on (0..%ld)", c->depth, c->ro.sqpoll_cpu,
			sysconf(_SC_NPROCESSORS_ONLN) - 1);
	if (ret)
		return dbu_error(c, ret, "io_uring_setup",
			"%u entries%s%s", c->depth,
			c->ro.hipri ? ", IOPOLL (hipri)" : "",
			c->ro.sqpoll ? ", SQPOLL (sqthread_poll)" : "");
	c->ring_up = true;
	c->enter_flags = IORING_ENTER_GETEVENTS;
	return dbu_ring_register(c);
}

/* registerfiles: file i becomes fixed-file slot i. */
int dbu_ring_register_files(struct dbu_ctx *c, const int *fds, unsigned int n)
{
	int ret = io_uring_register_files(&c->ring, fds, n);

	if (ret)
		return dbu_error(c, ret, "io_uring_register_files",
				 "registering %u file descriptor(s)", n);
	return 0;
}

/* An IOPOLL wait, cut after a second by the watchdog timer's signal. */
int dbu_ring_wait_polled(struct dbu_ctx *c, unsigned int min)
{
	struct io_uring_cqe *cqe;
	struct dbu_wd wd;
	int ret = dbu_wd_start(&wd, 1);

	if (ret)
		return ret;
	ret = io_uring_wait_cqe_nr(&c->ring, &cqe, min);
	dbu_wd_stop(&wd);
	return ret == -EINTR ? -ETIME : ret;
}

/*
 * Has anything completed since the last look?  -ETIMEDOUT when nothing
 * did for dmabuf_watchdog seconds while the engine was 'busy' (requests
 * in flight, or waiting to be taken).
 */
int dbu_ring_tick(struct dbu_ctx *c, bool busy)
{
	struct dbu_progress *p = &c->prog;
	int64_t now;

	if (!c->watchdog_s)
		return 0;
	now = dbu_now_ns();
	if (p->reaped != p->reaped_seen || !busy) {
		p->reaped_seen = p->reaped;
		p->at_ns = now;
	} else if (now - p->at_ns >= (int64_t)c->watchdog_s * 1000000000) {
		return -ETIMEDOUT;
	}
	return 0;
}

void dbu_ring_exit(struct dbu_ctx *c)
{
	if (!c->ring_up)
		return;
	io_uring_queue_exit(&c->ring);
	c->ring_up = false;
}
