// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring exporter "host": anonymous memory, no dma-buf.
 *
 * The classic fixed-buffer baseline: what fio's io_uring engine with
 * fixedbufs=1 does, reached through the same slots as every dma-buf.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "dbu.h"

static int host_open(struct dbu_ctx *c, const char *arg)
{
	if (arg)
		return dbu_error(c, -EINVAL, "dmabuf_src",
				 "dmabuf_src=host takes no argument (got '%s')",
				 arg);
	return 0;
}

static int host_alloc(struct dbu_ctx *c, struct dbu_slot *s)
{
	(void)c;
	s->dmabuf_fd = -1;
	return 0;
}

static int host_map(struct dbu_ctx *c, struct dbu_slot *s, void *at)
{
	void *p = mmap(at, s->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED)
		return dbu_error(c, -errno, "allocating host memory",
				 "%zu bytes of anonymous memory", s->size);
	s->view = p;
	s->pin = p;
	return 0;
}

static void host_placement(struct dbu_ctx *c, char *buf, size_t len)
{
	(void)c;
	snprintf(buf, len, "system RAM (anonymous)");
}

static void host_free(struct dbu_ctx *c, struct dbu_slot *s)
{
	(void)c;
	s->pin = NULL;
}

const struct dbu_exporter dbu_exp_host = {
	.name		= "host",
	.flags		= DBU_EXP_PIN,
	.open		= host_open,
	.alloc		= host_alloc,
	.map		= host_map,
	.placement	= host_placement,
	.free		= host_free,
};
