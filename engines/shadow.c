// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: the CPU view, on the memory or apart from it.
 *
 *   dmabuf_cpu_view=mmap    fio's buffers are the exporter's CPU mapping
 *                           of the memory itself (udmabuf, heap, drm)
 *   dmabuf_cpu_view=shadow  fio's buffers are host memory, a staging copy
 *                           per slot: filled from the memory after every
 *                           read and copied into it before every write,
 *                           with the exporter's copy API (cuMemcpy for
 *                           cuda) or through its CPU mapping.  For memory
 *                           the CPU cannot map, and to check from outside
 *                           what a read really left in the memory.
 *   dmabuf_cpu_view=auto    shadow where the exporter has no CPU mapping,
 *                           else mmap (the default)
 *
 * Through a CPU mapping, each copy brackets the whole dma-buf with
 * DMA_BUF_IOCTL_SYNC, whatever else of the slot the device holds: with
 * dmabuf_attach=kernel a slot per I/O (dmabuf_size_max=bs) keeps copies
 * from waiting on fences of other I/O in flight there.
 *
 * The copies are counted in the report (shadow_*).  Where fio does not
 * look at the bytes (no verify, buffers filled once) none is made per I/O:
 * the staging copy goes into the memory once, before the first I/O, so
 * that the memory starts as fio filled it, as under mmap.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/dma-buf.h>

#include "dbu.h"

int dbu_cpu_view_config(struct dbu_ctx *c, const char *view)
{
	bool nomap = c->exp->flags & DBU_EXP_NOMAP;

	if (!view || !*view || !strcmp(view, "auto"))
		c->shadow = nomap;
	else if (!strcmp(view, "shadow"))
		c->shadow = true;
	else if (!strcmp(view, "mmap"))
		c->shadow = false;
	else
		return dbu_error(c, -EINVAL, "dmabuf_cpu_view",
			"unknown dmabuf_cpu_view '%s'. Valid values: auto, "
			"mmap, shadow", view);
	if (!c->shadow && nomap)
		return dbu_error(c, -EINVAL, "dmabuf_cpu_view=mmap",
			"dmabuf_src=%s is device memory the CPU cannot map. Use "
			"dmabuf_cpu_view=shadow (or auto): a host copy per I/O, "
			"made with the exporter's copy API", c->src);
	if (c->shadow && !(c->exp->flags & DBU_EXP_DMABUF))
		return dbu_error(c, -EINVAL, "dmabuf_cpu_view=shadow",
			"dmabuf_src=%s is host memory already; a shadow copy "
			"of it checks nothing. Use dmabuf_cpu_view=auto",
			c->src);
	if (c->shadow && !nomap && c->att == &dbu_attach_pages)
		return dbu_error(c, -EINVAL, "dmabuf_cpu_view=shadow with "
			"dmabuf_attach=pages",
			"the pages attach registers the CPU pages of the memory "
			"itself. Use dmabuf_cpu_view=mmap, or dmabuf_attach="
			"bounce or kernel");
	c->cpu_view = c->shadow ? "shadow" : "none";
	return 0;
}

/*
 * cpu_view=shadow: host memory at 'at' for fio, the exporter's mapping
 * (where it has one) anywhere else, for the copies.
 */
int dbu_shadow_map(struct dbu_ctx *c, struct dbu_slot *s, void *at)
{
	void *p;

	if (!(c->exp->flags & DBU_EXP_NOMAP)) {
		p = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 s->dmabuf_fd, 0);
		if (p == MAP_FAILED)
			return dbu_error(c, -errno, "mmap of the dma-buf "
				"(for the shadow copies)",
				"the exporter %s refused a CPU mapping of a "
				"%zu-byte dma-buf", c->exp->name, s->size);
		s->mem = p;
	}
	p = mmap(at, s->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return dbu_error(c, -errno, "allocating the shadow copy",
				 "%zu bytes of anonymous memory", s->size);
	s->view = p;
	return 0;
}

void dbu_shadow_unmap(struct dbu_ctx *c, struct dbu_slot *s)
{
	if (c->shadow && s->mem)
		munmap(s->mem, s->size);
	s->mem = NULL;
}

/* One counted copy between fio's view and the memory; *ns: its time. */
int dbu_shadow_copy(struct dbu_ctx *c, struct dbu_slot *s, size_t off,
		    size_t len, bool to_dev, int64_t *ns)
{
	int64_t t0 = dbu_now_ns();
	int ret = dbu_dev_copy(c, s, off, s->view + off, len, to_dev);

	*ns = dbu_now_ns() - t0;
	c->shadow_ns += *ns;
	c->shadow_bytes += len;
	c->shadow_copies++;
	return ret;
}

/* Before the first I/O: the memory starts as fio filled its view. */
int dbu_shadow_push(struct dbu_ctx *c)
{
	unsigned int i;
	int64_t ns;
	int ret;

	for (i = 0; c->shadow && i < c->nr_slots; i++) {
		ret = dbu_shadow_copy(c, &c->slots[i], 0, c->slots[i].size,
				      true, &ns);
		if (ret)
			return ret;
	}
	return 0;
}
