// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring exporter "heap": a DMA heap allocation.
 *
 *   dmabuf_src=heap          /dev/dma_heap/system
 *   dmabuf_src=heap:NAME     /dev/dma_heap/NAME
 *
 * A heap's dma-buf mmap is VM_PFNMAP | VM_IO: it has no pages io_uring can
 * pin, so only the bounce (and kernel) attach can reach it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/dma-heap.h>

#include "dbu.h"

#define HEAP_DIR	"/dev/dma_heap"

struct heap_priv {
	char name[64];
};

/* "a, b, c" of the heaps in /dev/dma_heap, or "none". */
static void heap_list(char *buf, size_t len)
{
	DIR *d = opendir(HEAP_DIR);
	struct dirent *de;
	size_t pos = 0;

	buf[0] = '\0';
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		pos += snprintf(buf + pos, len - pos, "%s%s", pos ? ", " : "",
				de->d_name);
		if (pos >= len)
			break;
	}
	if (d)
		closedir(d);
	if (!buf[0])
		snprintf(buf, len, "none");
}

static int heap_open_error(struct dbu_ctx *c, int err, const char *path)
{
	struct heap_priv *p = c->exp_priv;
	char heaps[256];

	if (err == -ENOENT && access(HEAP_DIR, F_OK))
		return dbu_error(c, err, "opening a DMA heap",
			HEAP_DIR " does not exist: the kernel was built "
			"without CONFIG_DMABUF_HEAPS (and "
			"CONFIG_DMABUF_HEAPS_SYSTEM for the system heap). Try "
			"such a kernel, or dmabuf_src=udmabuf or host");
	if (err == -ENOENT) {
		heap_list(heaps, sizeof(heaps));
		return dbu_error(c, err, "opening a DMA heap",
			"there is no heap '%s' (%s); the heaps present in "
			HEAP_DIR " are: %s. Try dmabuf_src=heap:NAME with one "
			"of them", p->name, path, heaps);
	}
	if (err == -EACCES || err == -EPERM)
		return dbu_error(c, err, "opening a DMA heap",
			"no permission to open %s. Try running as root, "
			"'chmod 0666 %s' or a udev rule granting your group "
			"access", path, path);
	return dbu_error(c, err, "opening a DMA heap",
			 "%s refused to open. Check dmesg", path);
}

static int heap_open(struct dbu_ctx *c, const char *arg)
{
	const char *name = arg ? arg : "system";
	struct heap_priv *p;
	char path[sizeof(HEAP_DIR) + 64];
	int fd;

	if (!*name || strchr(name, '/') || strlen(name) >= sizeof(p->name))
		return dbu_error(c, -EINVAL, "dmabuf_src",
			"'%s' is not a DMA heap name. Try dmabuf_src=heap or "
			"dmabuf_src=heap:NAME with NAME a file in " HEAP_DIR,
			name);
	p = calloc(1, sizeof(*p));
	if (!p)
		return dbu_error(c, -ENOMEM, "dmabuf_src=heap", "-");
	c->exp_priv = p;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(path, sizeof(path), HEAP_DIR "/%s", name);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return heap_open_error(c, -errno, path);
	c->exp_fd = fd;
	return 0;
}

static int heap_alloc(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct heap_priv *p = c->exp_priv;
	struct dma_heap_allocation_data data = {
		.len		= s->size,
		.fd_flags	= O_RDWR | O_CLOEXEC,
	};

	if (ioctl(c->exp_fd, DMA_HEAP_IOCTL_ALLOC, &data) < 0)
		return dbu_error(c, -errno, "DMA_HEAP_IOCTL_ALLOC",
			"heap '%s' refused a %zu-byte buffer. Try a smaller "
			"dmabuf_size_max or a smaller iodepth/bs, and check "
			"dmesg", p->name, s->size);
	s->dmabuf_fd = data.fd;
	return 0;
}

/* From the option alone: the report may ask after close. */
static void heap_placement(struct dbu_ctx *c, char *buf, size_t len)
{
	const char *name = c->src_arg ? c->src_arg : "system";

	if (!strncmp(name, "system", 6))
		snprintf(buf, len, "system RAM (dma-heap %s)", name);
	else if (strstr(name, "cma"))
		snprintf(buf, len, "contiguous RAM (dma-heap %s)", name);
	else
		snprintf(buf, len, "dma-heap %s", name);
}

static void heap_free(struct dbu_ctx *c, struct dbu_slot *s)
{
	/* The dma-buf fd is all there is; the generic code closes it. */
	(void)c;
	(void)s;
}

static void heap_close(struct dbu_ctx *c)
{
	if (c->exp_fd >= 0)
		close(c->exp_fd);
	c->exp_fd = -1;
	free(c->exp_priv);
	c->exp_priv = NULL;
}

const struct dbu_exporter dbu_exp_heap = {
	.name		= "heap",
	.flags		= DBU_EXP_DMABUF,
	.open		= heap_open,
	.alloc		= heap_alloc,
	.placement	= heap_placement,
	.free		= heap_free,
	.close		= heap_close,
};
