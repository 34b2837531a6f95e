// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_attach=kernel: register every slot's dma-buf through the io_uring
 * dma-buf series (kernel-uapi.md sections 2-3).
 *
 * Per job (each fio job has its own ring; buffers are never cloned):
 *   probe the uAPI (probe.c) -> sparse table of nr_slots slots -> one
 *   extended IORING_REGISTER_BUFFERS_UPDATE per slot, bound to the job's
 *   one target file -> io_base = 0, so sqe->addr is the byte offset inside
 *   the dma-buf and sqe->buf_index the slot -> buffer alignment checked
 *   (block sizes: sysinfo.c) -> one warm-up READ_FIXED per slot (the
 *   kernel maps a dma-buf lazily on its first I/O), its latency kept as
 *   first_io_ns, the bytes it overwrote put back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbu.h"
#include "dbu_uapi.h"

#define DBU_DMA_ALIGN	4	/* NVMe's queue dma_alignment mask + 1 */

static int kernel_check(struct dbu_ctx *c)
{
	if (!(c->exp->flags & DBU_EXP_DMABUF))
		return dbu_error(c, -EINVAL, "dmabuf_attach=kernel",
			"dmabuf_src=%s exports no dma-buf, so there is nothing "
			"to register through the io_uring dma-buf series. Try "
			"dmabuf_attach=pages with dmabuf_src=%s, or a dma-buf "
			"source (dmabuf_src=udmabuf, heap, drm)", c->src,
			c->src);
	if (c->nr_files != 1)
		return dbu_error(c, -EINVAL, "dmabuf_attach=kernel",
			"the series binds each registered dma-buf to exactly "
			"one open file, and this job has %u files. Give the "
			"job one filename (one job per device)", c->nr_files);
	/* Steps 1-2 need no target: an absent series fails before alloc. */
	return dbu_probe_uapi(c, -1);
}

static int register_slots(struct dbu_ctx *c)
{
	struct dbu_regbuf_desc desc;
	unsigned int i;
	int ret;

	ret = dbu_regbuf_sparse(c->ring.ring_fd, c->nr_slots);
	if (ret < 0)
		return dbu_error(c, ret, "registering a sparse buffer table",
			"%u slots on the job's ring", c->nr_slots);
	for (i = 0; i < c->nr_slots; i++) {
		struct dbu_slot *s = &c->slots[i];

		memset(&desc, 0, sizeof(desc));
		desc.type = DBU_REGBUF_TYPE_DMABUF;
		desc.dmabuf_fd = s->dmabuf_fd;
		desc.target_fd = c->target_fd;
		ret = dbu_regbuf_update(c->ring.ring_fd, i, &desc, 1);
		if (ret == -EINVAL || ret == -EOPNOTSUPP)
			return dbu_probe_device_error(c, ret, i);
		if (ret < 0)
			return dbu_error(c, ret, "registering a dma-buf",
				"slot %u (%zu bytes, dmabuf_src=%s) against %s: "
				"the kernel or the exporter refused it (see "
				"dmesg)", i, s->size, c->src, c->target);
		if (ret != 1)
			return dbu_error(c, -EIO, "registering a dma-buf",
				"slot %u: the kernel installed %d of 1 "
				"descriptor(s)", i, ret);
		s->io_base = 0;		/* sqe->addr = offset in the dma-buf */
	}
	return 0;
}

int dbu_kernel_check_buf(struct dbu_ctx *c, unsigned int idx,
			 unsigned int slot, size_t off)
{
	if (off % DBU_DMA_ALIGN)
		return dbu_error(c, -EINVAL, "dmabuf_attach=kernel",
			"io_u %u's buffer lies at byte %zu of dma-buf slot %u, "
			"not %d-byte aligned: NVMe's DMA alignment rejects "
			"such requests with EINVAL. Drop mem_align or make it "
			"a multiple of 4096", idx, off, slot, DBU_DMA_ALIGN);
	return 0;
}

static int warmup_failed(struct dbu_ctx *c, unsigned int i, int res,
			 unsigned int len)
{
	const char *why;

	switch (res) {
	case -EINVAL:
		if (c->exp->flags & DBU_EXP_MMIO) {
			why = "the first I/O maps the dma-buf for the device; "
			      "for device memory the likely refusal is Linux's "
			      "P2P check (pci_p2pdma_distance): the NVMe and "
			      "the BAR's device must sit behind one PCIe "
			      "switch or under a whitelisted host bridge, and "
			      "dmesg says \"cannot be used for peer-to-peer "
			      "DMA as the client and provider (...) do not "
			      "share an upstream bridge or whitelisted host "
			      "bridge\". Try dmabuf_attach=bounce";
			break;
		}
		why = "the first I/O maps the dma-buf for the device and it "
		      "was refused: v3 needs every DMA segment of the dma-buf "
		      "to be a 4 KiB multiple, and the exporter's mapping may "
		      "fail";
		break;
	case -EBADF:
		why = "the request's file is not the file the slot was "
		      "registered against";
		break;
	case -EFAULT:
		why = "the slot is empty or the range lies outside the "
		      "dma-buf";
		break;
	case -EAGAIN:
		why = "the request kept getting -EAGAIN (dmabuf_eagain_max "
		      "reissues)";
		break;
	default:
		why = "the exporter or the device failed the first mapping "
		      "(see dmesg)";
	}
	return dbu_error(c, res, "warm-up READ_FIXED",
		"slot %u, offset 0 in the buffer, %u bytes, device offset 0 "
		"of %s: %s", i, len, c->target, why);
}

/* Wait for the one warm-up CQE, bounded by dmabuf_watchdog. */
static int warmup_wait(struct dbu_ctx *c, unsigned int i, int *res)
{
	struct io_uring_cqe *cqe;
	int ret;

	c->prog.inflight = 1;
	c->prog.at_ns = dbu_now_ns();
	do {
		ret = io_uring_peek_cqe(&c->ring, &cqe);
		if (!ret)
			break;
		ret = dbu_ring_wait(c, 1);
	} while (!ret || ret == -EINTR || ret == -EAGAIN || ret == -ETIME);
	c->prog.inflight = 0;
	if (ret == -ETIMEDOUT)
		return dbu_error(c, ret, "warm-up READ_FIXED",
			"the first I/O on dma-buf slot %u did not complete "
			"within %u s (dmabuf_watchdog=%u). The first I/O maps "
			"the dma-buf and waits for its fences; a dma-buf left "
			"with an unsignalled fence by an earlier registration (a "
			"known bug of posted versions of the series, "
			"kernel-uapi.md section 5) blocks it forever. Reboot, or "
			"try dmabuf_attach=pages", i, c->watchdog_s,
			c->watchdog_s);
	if (ret)
		return dbu_error(c, ret, "waiting for the warm-up READ_FIXED",
				 "slot %u", i);
	*res = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	c->prog.reaped++;
	return 0;
}

static int warmup_submit(struct dbu_ctx *c, unsigned int i, unsigned int len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	int ret;

	if (!sqe)
		return dbu_error(c, -EBUSY, "warm-up READ_FIXED",
				 "no free SQE on the job's ring");
	io_uring_prep_read_fixed(sqe, c->ro.registerfiles ? 0 : c->target_fd,
				 (void *)0, len, 0, i);
	if (c->ro.registerfiles)
		sqe->flags |= IOSQE_FIXED_FILE;
	ret = io_uring_submit(&c->ring);
	if (ret != 1)
		return dbu_error(c, ret < 0 ? ret : -EIO,
				 "submitting the warm-up READ_FIXED", "slot %u",
				 i);
	return 0;
}

/*
 * One READ_FIXED of 'len' bytes into the start of slot i, timed.  fio has
 * already filled the buffers (a buffer_pattern, zero_buffers or a poisoned
 * destination is written once, never again), so the bytes it overwrites
 * are saved first and put back after, with the slot in device access for
 * the read alone.
 */
static int warmup_slot(struct dbu_ctx *c, unsigned int i, unsigned int len,
		       char *save)
{
	struct dbu_slot *s = &c->slots[i];
	unsigned int tries = 0;
	int ret, res;

	memcpy(save, s->view, len);
	ret = c->shadow ? 0 : dbu_cpu_sync(c, s, false, c->sync_dir);
	s->first_submit_ns = dbu_now_ns();
	do {
		if (!ret)
			ret = warmup_submit(c, i, len);
		if (!ret)
			ret = warmup_wait(c, i, &res);
	} while (!ret && res == -EAGAIN && tries++ < c->eagain_max);
	if (!ret && res < 0)
		ret = warmup_failed(c, i, res, len);
	if (!ret)
		s->first_io_ns = dbu_now_ns() - s->first_submit_ns;
	if (!ret && !c->shadow)
		ret = dbu_cpu_sync(c, s, true, c->sync_dir);
	if (!ret)
		memcpy(s->view, save, len);
	return ret;
}

static int kernel_attach(struct dbu_ctx *c)
{
	unsigned int i, len;
	char *save;
	int ret;

	ret = dbu_probe_uapi(c, c->target_fd);
	if (!ret)
		ret = register_slots(c);
	if (ret)
		return ret;
	len = c->min_bs < c->lbs ? c->lbs : c->min_bs;
	save = malloc(len);
	if (!save)
		return dbu_error(c, -ENOMEM, "warm-up READ_FIXED", "-");
	for (i = 0; i < c->nr_slots && !ret; i++)
		ret = warmup_slot(c, i, len < c->slots[i].size ? len :
				  c->slots[i].size, save);
	free(save);
	return ret;
}

/* Drop the whole table, bounded: a stuck fence must not hang teardown. */
static void kernel_detach(struct dbu_ctx *c)
{
	dbu_unregister_buffers(c, ": the dma-buf keeps a fence that is never "
			       "signalled, a known bug of posted versions of "
			       "the series (kernel-uapi.md section 5). Reboot "
			       "to recover");
}

const struct dbu_attach dbu_attach_kernel = {
	.name	= "kernel",
	.check	= kernel_check,
	.attach	= kernel_attach,
	.detach	= kernel_detach,
};
