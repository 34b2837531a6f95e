// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: choosing an exporter and laying out the buffer area.
 *
 * fio wants one contiguous buffer area.  The area is reserved as one
 * PROT_NONE range; every slot's CPU view is mapped over its part of it, so
 * several dma-bufs (each at most dmabuf_size_max) look like one area and
 * io_u i's buffer lies inside exactly one slot.
 */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/dma-buf.h>

#include "dbu.h"

extern const struct dbu_exporter dbu_exp_host;
#ifdef DBU_HAVE_UDMABUF
extern const struct dbu_exporter dbu_exp_udmabuf;
#endif
#ifdef DBU_HAVE_HEAP
extern const struct dbu_exporter dbu_exp_heap;
#endif
#ifdef DBU_HAVE_DRM
extern const struct dbu_exporter dbu_exp_drm;
#endif
#ifdef DBU_HAVE_AMDGPU
extern const struct dbu_exporter dbu_exp_amdgpu;
#endif
extern const struct dbu_exporter dbu_exp_cuda;
extern const struct dbu_exporter dbu_exp_vfio;
extern const struct dbu_exporter dbu_exp_p2pmem;

/*
 * Every keyword of design.md section 4; NULL where this build lacks it,
 * with the library it was built without.
 */
static const struct {
	const char *name;
	const struct dbu_exporter *exp;
	const char *needs;
} exporters[] = {
#ifdef DBU_HAVE_UDMABUF
	{ "udmabuf",	&dbu_exp_udmabuf },
#else
	{ "udmabuf",	NULL, "linux/udmabuf.h" },
#endif
#ifdef DBU_HAVE_HEAP
	{ "heap",	&dbu_exp_heap },
#else
	{ "heap",	NULL, "linux/dma-heap.h" },
#endif
#ifdef DBU_HAVE_DRM
	{ "drm",	&dbu_exp_drm },
#else
	{ "drm",	NULL, "libdrm (Debian: libdrm-dev)" },
#endif
#ifdef DBU_HAVE_AMDGPU
	{ "amdgpu",	&dbu_exp_amdgpu },
#else
	{ "amdgpu",	NULL, "libdrm_amdgpu (Debian: libdrm-dev, which "
			      "brings libdrm-amdgpu1)" },
#endif
	{ "cuda",	&dbu_exp_cuda },
	{ "vfio",	&dbu_exp_vfio },
	{ "p2pmem",	&dbu_exp_p2pmem },
	{ "host",	&dbu_exp_host },
};

#define DBU_SRC_VALID \
	"udmabuf[:hugetlb], heap[:NAME], drm[:PATH], " \
	"amdgpu[:PATH][:vram|gtt], cuda[:ORDINAL][:vmm], vfio:BDF[:BAR], " \
	"p2pmem:BDF, host"

int dbu_exporter_lookup(struct dbu_ctx *c, const char *src)
{
	const char *colon = strchr(src, ':');
	size_t len = colon ? (size_t)(colon - src) : strlen(src);
	size_t i;

	for (i = 0; i < sizeof(exporters) / sizeof(exporters[0]); i++) {
		if (strlen(exporters[i].name) != len ||
		    strncmp(exporters[i].name, src, len))
			continue;
		if (!exporters[i].exp)
			return dbu_error(c, -ENOTSUP, "dmabuf_src",
				"dmabuf_src=%s is not available in this build: "
				"it was built without %s. Install that and "
				"rebuild (scripts/setup), or try dmabuf_src=host",
				src, exporters[i].needs);
		c->exp = exporters[i].exp;
		c->src = src;
		c->src_arg = colon ? colon + 1 : NULL;
		return 0;
	}
	return dbu_error(c, -EINVAL, "dmabuf_src",
			 "unknown dmabuf_src '%s'. Valid values: " DBU_SRC_VALID,
			 src);
}

static size_t gcd(size_t a, size_t b)
{
	while (b) {
		size_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Slot size: at most size_max and the exporter's limit, a multiple of
 * both the page size and the largest block so no buffer straddles two. */
static int dbu_chunk_size(struct dbu_ctx *c, size_t page, size_t *chunk)
{
	size_t want = c->size_max ? c->size_max : DBU_GIB;
	size_t unit = page / gcd(page, c->max_bs) * c->max_bs;
	size_t limit = 0;
	int ret = c->exp->max_size ? c->exp->max_size(c, &limit) : 0;

	if (ret)
		return ret;
	if (limit && want > limit) {
		if (c->size_max)
			return dbu_error(c, -EINVAL, "dmabuf_size_max",
				"dmabuf_size_max=%zu exceeds the largest buffer "
				"%s can make (%zu bytes). Try dmabuf_size_max=%zu "
				"or less", c->size_max, c->exp->name, limit,
				limit);
		want = limit;
	}
	*chunk = want / unit * unit;
	if (!*chunk)
		return dbu_error(c, -EINVAL, "dmabuf_size_max",
			"a buffer of %zu bytes cannot hold one block of %zu "
			"bytes aligned to the page size. Try a larger "
			"dmabuf_size_max or a smaller bs", want, c->max_bs);
	return 0;
}

static int dbu_slot_map(struct dbu_ctx *c, struct dbu_slot *s, void *at)
{
	void *p;

	if (c->shadow)
		return dbu_shadow_map(c, s, at);
	if (c->exp->map) {
		int ret = c->exp->map(c, s, at);

		s->mem = s->view;
		return ret;
	}
	p = mmap(at, s->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 s->dmabuf_fd, 0);
	if (p == MAP_FAILED)
		return dbu_error(c, -errno, "mmap of the dma-buf (CPU view)",
			"the exporter %s refused a CPU mapping of a %zu-byte "
			"dma-buf", c->exp->name, s->size);
	s->view = p;
	s->mem = p;
	return 0;
}

int dbu_area_alloc(struct dbu_ctx *c, size_t size)
{
	size_t page = sysconf(_SC_PAGESIZE);
	unsigned int i;
	int ret;

	size = (size + page - 1) / page * page;
	ret = dbu_chunk_size(c, page, &c->chunk);
	if (ret)
		return ret;
	if ((size + c->chunk - 1) / c->chunk > DBU_SLOTS_MAX)
		return dbu_error(c, -E2BIG, "splitting the buffer area",
			"%zu bytes in slots of %zu would need more than %u "
			"registered buffers. Try a larger dmabuf_size_max or "
			"a smaller iodepth", size, c->chunk, DBU_SLOTS_MAX);

	if (c->slots)
		return dbu_error(c, -EEXIST, "allocating the buffer area",
				 "the job already has one");
	c->nr_slots = (size + c->chunk - 1) / c->chunk;
	c->slots = calloc(c->nr_slots, sizeof(*c->slots));
	if (!c->slots)
		return dbu_error(c, -ENOMEM, "allocating slot table", "-");
	for (i = 0; i < c->nr_slots; i++) {
		c->slots[i].dmabuf_fd = -1;
		c->slots[i].first_io_ns = -1;
		c->slots[i].first_io = -1;
	}

	c->area = mmap(NULL, size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->area == MAP_FAILED) {
		c->area = NULL;
		return dbu_error(c, -errno, "reserving the buffer area",
				 "%zu bytes of address space", size);
	}
	c->area_size = size;

	for (i = 0; i < c->nr_slots; i++) {
		struct dbu_slot *s = &c->slots[i];
		size_t off = (size_t)i * c->chunk;

		s->size = size - off < c->chunk ? size - off : c->chunk;
		c->nr_live = i + 1;
		ret = c->exp->alloc(c, s);
		if (!ret)
			ret = dbu_slot_map(c, s, c->area + off);
		/*
		 * The view starts in CPU access: fio fills buffers before the
		 * first I/O (and udmabuf refuses an END before any START).
		 * A shadow view is host memory: nothing to bracket.
		 */
		if (!ret && !c->shadow)
			ret = dbu_cpu_sync(c, s, true, c->sync_dir);
		if (ret)
			return ret;	/* dbu_area_free() undoes the rest */
	}
	dbu_exp_name(&c->slots[0], c->exp_name, sizeof(c->exp_name));
	if (c->slots[0].dmabuf_fd < 0 && c->exp->flags & DBU_EXP_PERIO)
		snprintf(c->exp_name, sizeof(c->exp_name), "none (%s)",
			 c->exp->name);
	if (!strcmp(c->cpu_view, "none"))
		c->cpu_view = "mmap";
	return c->exp->check_placement ? c->exp->check_placement(c, false) : 0;
}

/* At the end of the run, before the memory goes: where is it now? */
int dbu_placement_end(struct dbu_ctx *c)
{
	if (!c->exp || !c->exp->check_placement || !c->nr_live ||
	    c->nr_live != c->nr_slots)
		return 0;
	return c->exp->check_placement(c, true);
}

/*
 * Undo dbu_area_alloc(), whatever part of it was done.  Idempotent: fio
 * 3.33 calls iomem_free even after a failed iomem_alloc, and cleanup calls
 * it once more.  The views lie inside the area, so one munmap drops them;
 * the dma-buf fds are closed here and nowhere else.
 */
void dbu_area_free(struct dbu_ctx *c)
{
	bool stuck = false;
	unsigned int i;

	for (i = 0; i < c->nr_live; i++) {
		struct dbu_slot *s = &c->slots[i];

		/* One stuck sync is enough: do not wait once per slot. */
		if (s->cpu_access && !stuck &&
		    dbu_cpu_sync(c, s, false, c->sync_dir) == -ETIMEDOUT) {
			stuck = true;
			dbu_wd_fail(c, "DMA_BUF_IOCTL_SYNC", "the end of CPU "
				"access on slot %u did not return within %u s "
				"at teardown; the remaining slots are freed "
				"unsynced", i, c->watchdog_s);
		}
		/*
		 * The dma-buf goes before the memory behind it.  A ring whose
		 * unregistration never returned may still map it for the
		 * device: then the memory is left to the process's exit.
		 */
		dbu_shadow_unmap(c, s);
		if (s->dmabuf_fd >= 0)
			close(s->dmabuf_fd);
		s->dmabuf_fd = -1;
		if (!c->stuck)
			c->exp->free(c, s);
		s->view = NULL;
	}
	c->nr_live = 0;		/* the slot table stays, for the report */
	if (c->area)
		munmap(c->area, c->area_size);
	c->area = NULL;
	c->area_size = 0;
	dbu_wd_release();	/* the last bounded wait of the job is done */
}

/*
 * DMA_BUF_SYNC_START waits for the dma-buf's fences (END never does); on
 * a dma-buf whose fence is never signalled (kernel-uapi.md section 5) it
 * would wait forever.  dmabuf_watchdog bounds that wait without a timer:
 * poll() on a dma-buf says when the fences CPU access in 'dir' waits for
 * are signalled (POLLIN: writers', POLLOUT: all), so the ioctl then
 * returns at once.
 */
static int dbu_fences_wait(struct dbu_ctx *c, struct dbu_slot *s,
			   unsigned int dir)
{
	struct pollfd pfd = {
		.fd = s->dmabuf_fd,
		.events = dir & DMA_BUF_SYNC_WRITE ? POLLOUT : POLLIN,
	};
	int64_t left_ms = (int64_t)c->watchdog_s * 1000;
	int64_t end_ns = dbu_now_ns() + left_ms * 1000000;
	int ret;

	if (!c->watchdog_s)
		return 0;	/* dmabuf_watchdog=0: unbounded, as asked */
	for (;;) {
		ret = poll(&pfd, 1, (int)left_ms);
		if (ret > 0)
			return 0;
		if (ret < 0 && errno != EINTR)
			return 0;	/* no poll: the ioctl waits unbounded */
		left_ms = (end_ns - dbu_now_ns()) / 1000000;
		if (!ret || left_ms <= 0)
			return -ETIMEDOUT;
	}
}

/*
 * Bracket CPU access; 'dir' is DMA_BUF_SYNC_READ, _WRITE or _RW: what the
 * CPU does with the memory in between.
 */
int dbu_cpu_sync(struct dbu_ctx *c, struct dbu_slot *s, bool start,
		 unsigned int dir)
{
	struct dma_buf_sync sync = {
		.flags = (start ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END) | dir,
	};
	int ret = 0;

	if (s->dmabuf_fd < 0)
		return 0;
	if (start)
		ret = dbu_fences_wait(c, s, dir);
	while (!ret && ioctl(s->dmabuf_fd, DMA_BUF_IOCTL_SYNC, &sync) < 0) {
		if (errno != EINTR && errno != EAGAIN)
			return dbu_error(c, -errno, "DMA_BUF_IOCTL_SYNC",
				"the exporter refused to bracket CPU access "
				"(%s)", start ? "start" : "end");
	}
	if (ret)
		return dbu_error(c, -ETIMEDOUT, "DMA_BUF_IOCTL_SYNC",
			"DMA_BUF_IOCTL_SYNC (%s) on slot %u did not return "
			"within %u s (dmabuf_watchdog=%u): the dma-buf holds a "
			"fence that is never signalled, a known bug of posted "
			"versions of the io_uring dma-buf series once a slot "
			"was unregistered or replaced (kernel-uapi.md section "
			"5). Reboot to recover; try dmabuf_cpu_sync=0 when the "
			"CPU does not look at the data, or dmabuf_attach=pages",
			start ? "start" : "end", (unsigned int)(s - c->slots),
			c->watchdog_s, c->watchdog_s);
	s->cpu_access = start;
	c->cpu_syncs++;
	return 0;
}

/* exp_name as the kernel reports it for this dma-buf. */
void dbu_exp_name(const struct dbu_slot *s, char *buf, size_t len)
{
	char path[64], line[256];
	FILE *f;

	snprintf(buf, len, "%s", s->dmabuf_fd < 0 ? "host" : "unknown");
	if (s->dmabuf_fd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", s->dmabuf_fd);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "exp_name:", 9))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(buf, len, "%s", line + 9 + strspn(line + 9, " \t"));
		break;
	}
	fclose(f);
}
