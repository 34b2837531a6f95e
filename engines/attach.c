// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: the classic attach modes, the baselines of both scenarios.
 *
 * pages:  register the CPU pages behind every slot as ordinary fixed
 *         buffers (host memory, or udmabuf's memfd).  The kernel pins them
 *         and maps them for DMA on every I/O: the "before" of the IOMMU
 *         scenario.
 * bounce: I/O goes to host fixed buffers; the engine copies to the slot's
 *         CPU view after reads and from it before writes: the "bounce via
 *         RAM" of the P2P scenario.  When fio does not look at the data
 *         (dmabuf_cpu_sync=0, the benchmark jobs) each copy is bracketed
 *         by DMA_BUF_IOCTL_SYNC, the cost a real bounce user pays; when it
 *         does, the views stay in CPU access for fio and the copies alike.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <linux/dma-buf.h>

#include "dbu.h"

static const struct dbu_attach *attaches[] = {
	&dbu_attach_kernel,
	&dbu_attach_pages,
	&dbu_attach_bounce,
};

int dbu_attach_lookup(struct dbu_ctx *c, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(attaches) / sizeof(attaches[0]); i++) {
		if (!strcmp(attaches[i]->name, name)) {
			c->att = attaches[i];
			return 0;
		}
	}
	return dbu_error(c, -EINVAL, "dmabuf_attach",
			 "unknown dmabuf_attach '%s'. Valid values: kernel, "
			 "pages, bounce", name);
}

static bool cap_ipc_lock(void)
{
	unsigned long long eff = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff & (1ULL << 14);	/* CAP_IPC_LOCK */
}

static int memlock_error(struct dbu_ctx *c, int err, size_t need)
{
	struct rlimit rl;

	getrlimit(RLIMIT_MEMLOCK, &rl);
	return dbu_error(c, err, "registering fixed buffers",
		"RLIMIT_MEMLOCK is too low: %zu bytes must be locked, the "
		"soft limit is %llu and the hard limit %llu bytes (without "
		"CAP_IPC_LOCK io_uring charges fixed buffers to it). Try "
		"'ulimit -l unlimited' (or a limit of at least %zu KiB), or "
		"run with CAP_IPC_LOCK", need,
		(unsigned long long)rl.rlim_cur,
		(unsigned long long)rl.rlim_max, (need + 1023) / 1024);
}

/* The memory a buffer-table entry at area offset 'pos' registers. */
static void dbu_iovec_at(struct dbu_ctx *c, size_t pos, size_t len,
			 bool use_bounce, struct iovec *iov)
{
	size_t off;
	struct dbu_slot *s = dbu_slot_of(c, c->area + pos, &off);

	iov->iov_base = (use_bounce ? s->bounce : s->pin) + off;
	iov->iov_len = len < s->size - off ? len : s->size - off;
}

/*
 * Register the pinnable (or bounce) memory: one iovec per fio io buffer
 * when fio's buffers are known (c->nr_bufs), else one a slot.
 */
int dbu_register_iovecs(struct dbu_ctx *c, bool use_bounce)
{
	unsigned int i, n = c->nr_bufs ? c->nr_bufs : c->nr_slots;
	struct iovec *iov = calloc(n, sizeof(*iov));
	struct rlimit rl;
	size_t total = 0;
	int ret;

	if (!iov)
		return dbu_error(c, -ENOMEM, "registering fixed buffers", "-");
	for (i = 0; i < c->nr_slots; i++) {
		struct dbu_slot *s = &c->slots[i];

		s->io_base = (uintptr_t)(use_bounce ? s->bounce : s->pin);
		total += s->size;
	}
	for (i = 0; i < n; i++) {
		if (c->nr_bufs)
			dbu_iovec_at(c, c->buf_off[i], c->buf_len, use_bounce,
				     &iov[i]);
		else
			dbu_iovec_at(c, (size_t)i * c->chunk, c->chunk,
				     use_bounce, &iov[i]);
	}

	ret = 0;
	if (!cap_ipc_lock() && !getrlimit(RLIMIT_MEMLOCK, &rl) &&
	    rl.rlim_cur != RLIM_INFINITY && total > rl.rlim_cur)
		ret = memlock_error(c, -ENOMEM, total);
	if (!ret)
		ret = io_uring_register_buffers(&c->ring, iov, n);
	free(iov);
	c->reg_per_buf = !ret && c->nr_bufs;
	if (ret == -ENOMEM && !cap_ipc_lock())
		return memlock_error(c, ret, total);
	if (ret == -EFAULT)
		return dbu_error(c, ret, "registering fixed buffers",
			"the kernel could not pin the memory behind "
			"dmabuf_src=%s", c->src);
	if (ret)
		return dbu_error(c, ret, "registering fixed buffers",
			"%u buffer(s), %zu bytes in all", n, total);
	return 0;
}

static int pages_check(struct dbu_ctx *c)
{
	if (c->exp->flags & DBU_EXP_PIN)
		return 0;
	if (c->exp->flags & DBU_EXP_MMIO)
		return dbu_error(c, -EFAULT, "dmabuf_attach=pages",
			"dmabuf_src=%s is a PCI BAR (MMIO) without struct "
			"pages: io_uring cannot pin it. Try dmabuf_attach="
			"bounce (through RAM), dmabuf_attach=kernel on a kernel "
			"with the io_uring dma-buf series, or dmabuf_src="
			"p2pmem:BDF for P2PDMA memory with struct pages",
			c->src);
	if (c->exp->flags & DBU_EXP_NOMAP)
		return dbu_error(c, -EFAULT, "dmabuf_attach=pages",
			"dmabuf_src=%s is device memory without CPU pages for "
			"io_uring to pin. Try dmabuf_attach=bounce (through "
			"RAM), or dmabuf_attach=kernel on a kernel with the "
			"io_uring dma-buf series", c->src);
	return dbu_error(c, -EFAULT, "dmabuf_attach=pages",
		"dmabuf_src=%s has no CPU pages io_uring can pin: its dma-buf "
		"mapping is VM_PFNMAP and registering it fails with EFAULT. "
		"Try dmabuf_attach=bounce, or dmabuf_attach=kernel on a kernel "
		"with the io_uring dma-buf series", c->src);
}

/*
 * P2PDMA pages (DBU_EXP_PERIO) refuse the long-term pin of a fixed buffer:
 * plain READ/WRITE at the slot's address, pinned by the kernel per I/O.
 */
static int pages_attach(struct dbu_ctx *c)
{
	unsigned int i;

	if (!(c->exp->flags & DBU_EXP_PERIO))
		return dbu_register_iovecs(c, false);
	for (i = 0; i < c->nr_slots; i++)
		c->slots[i].io_base = (uintptr_t)c->slots[i].pin;
	c->per_io_pin = true;
	return 0;
}

/*
 * Drop the ring's whole buffer table, bounded by dmabuf_watchdog; say so
 * if it ran out ('why' is the likely cause, appended to the message).
 */
void dbu_unregister_buffers(struct dbu_ctx *c, const char *why)
{
	struct dbu_wd wd;
	int ret;

	if (!c->ring_up)
		return;
	if (dbu_wd_start(&wd, c->watchdog_s))
		wd.seconds = 0;		/* no timer: the plain call */
	do {
		ret = io_uring_unregister_buffers(&c->ring);
	} while (ret == -EINTR && !dbu_wd_expired(&wd));
	dbu_wd_stop(&wd);
	if (ret == -EINTR)
		dbu_wd_fail(c, "IORING_UNREGISTER_BUFFERS",
			"unregistering %u buffer slot(s) did not return "
			"within %u s (dmabuf_watchdog=%u)%s", c->nr_slots,
			c->watchdog_s, c->watchdog_s, why);
}

static void iovecs_detach(struct dbu_ctx *c)
{
	dbu_unregister_buffers(c, "");
}

const struct dbu_attach dbu_attach_pages = {
	.name	= "pages",
	.check	= pages_check,
	.attach	= pages_attach,
	.detach	= iovecs_detach,
};

static int bounce_check(struct dbu_ctx *c)
{
	if (c->exp->flags & DBU_EXP_PERIO)
		return dbu_error(c, -EOPNOTSUPP, "dmabuf_attach=bounce",
			"dmabuf_src=%s is P2PDMA memory with struct pages, "
			"which O_DIRECT reaches directly: its route is "
			"dmabuf_attach=pages. For the through-RAM baseline "
			"use a dma-buf of device memory (dmabuf_src=vfio:BDF)",
			c->src);
	return 0;
}

/*
 * Copy between a slot's memory and its bounce memory; to_view: after a
 * device read.  With dmabuf_cpu_sync=0 (or a shadow view) the memory is in
 * CPU access for the copy alone: START, memcpy, END (dbu_dev_copy).
 */
int dbu_bounce_copy(struct dbu_ctx *c, struct dbu_slot *s, size_t off,
		    size_t len, bool to_view)
{
	int64_t t0 = dbu_now_ns();
	int ret = dbu_dev_copy(c, s, off, s->bounce + off, len, to_view);

	c->bounce_ns += dbu_now_ns() - t0;
	c->bounce_bytes += len;
	return ret;
}

/*
 * The device sees the bounce memory alone.  With dmabuf_cpu_sync=0 the
 * views leave the CPU access they were made in (fio has filled them by
 * now) and each copy brackets its own.
 */
static int bounce_attach(struct dbu_ctx *c)
{
	unsigned int i;
	int ret;

	c->bounce_area = mmap(NULL, c->area_size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->bounce_area == MAP_FAILED) {
		c->bounce_area = NULL;
		return dbu_error(c, -errno, "allocating bounce memory",
				 "%zu bytes of anonymous memory",
				 c->area_size);
	}
	for (i = 0; i < c->nr_slots; i++) {
		struct dbu_slot *s = &c->slots[i];

		s->bounce = c->bounce_area + (size_t)i * c->chunk;
		if (!c->cpu_sync && s->cpu_access) {
			ret = dbu_cpu_sync(c, s, false, c->sync_dir);
			if (ret)
				return ret;
		}
	}
	return dbu_register_iovecs(c, true);
}

static void bounce_detach(struct dbu_ctx *c)
{
	iovecs_detach(c);
	if (c->bounce_area)
		munmap(c->bounce_area, c->area_size);
	c->bounce_area = NULL;
}

const struct dbu_attach dbu_attach_bounce = {
	.name	= "bounce",
	.check	= bounce_check,
	.attach	= bounce_attach,
	.detach	= bounce_detach,
};
