// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring exporter "amdgpu": a GEM object in VRAM or GTT.
 *
 *   dmabuf_src=amdgpu                     the first amdgpu render node, VRAM
 *   dmabuf_src=amdgpu:PATH                that DRM node, VRAM
 *   dmabuf_src=amdgpu:[PATH]:vram|gtt     that domain
 *
 * One buffer object per slot through libdrm_amdgpu, exported with PRIME.
 * VRAM is asked for CPU-visible (AMDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED):
 * the CPU view, mmap or shadow, reaches it through the BAR.
 *
 * Placement truth: amdgpu may move a buffer (to GTT, host RAM) on a static
 * attach, a failed P2P distance check or memory pressure, and the I/O
 * still "succeeds".  So where the memory is is read after export and
 * again after the run: the GEM info (the domain the object prefers) and
 * the DRM fdinfo of the device fd, whose drm-memory-* (drm-resident-*)
 * keys say how much of the client's memory is resident in each region.  With vram asked for,
 * memory found outside VRAM fails the job unless dmabuf_placement_any=1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>
#include <amdgpu.h>
#include <amdgpu_drm.h>

#include "dbu.h"

struct amdgpu_priv {
	amdgpu_device_handle dev;
	char path[256];
	bool vram;		/* the domain asked for */
	uint32_t heap;		/* GEM info of slot 0: preferred domains */
	uint64_t total;		/* bytes of all slots */
	long long base;		/* resident VRAM of the client at open */
	char seen[2][160];	/* fdinfo after export, after the run */
	bool moved;		/* found outside the domain asked for */
};

static int amdgpu_parse(struct dbu_ctx *c, struct amdgpu_priv *p,
			const char *arg)
{
	const char *colon = arg ? strrchr(arg, ':') : NULL;
	const char *dom = colon ? colon + 1 : arg;
	size_t plen = arg ? strlen(arg) : 0;

	p->vram = true;
	if (arg && !*arg)
		return dbu_error(c, -EINVAL, "dmabuf_src",
			"dmabuf_src=amdgpu: takes [PATH][:vram|gtt] after ':'. "
			"Try dmabuf_src=amdgpu or dmabuf_src=amdgpu::gtt");
	if (dom && (!strcmp(dom, "vram") || !strcmp(dom, "gtt"))) {
		p->vram = !strcmp(dom, "vram");
		plen = colon ? (size_t)(colon - arg) : 0;
	} else if (colon) {
		return dbu_error(c, -EINVAL, "dmabuf_src",
			"dmabuf_src=%s: the domain is vram or gtt (got '%s'). "
			"Try dmabuf_src=amdgpu:/dev/dri/renderD128:vram",
			c->src, dom);
	}
	if (plen >= sizeof(p->path))
		return dbu_error(c, -ENAMETOOLONG, "dmabuf_src",
				 "dmabuf_src=%s: the path is too long", c->src);
	memcpy(p->path, arg ? arg : "", plen);
	p->path[plen] = '\0';
	return 0;
}

static bool is_amdgpu(int fd, char *driver, size_t len)
{
	dbu_drm_driver_name(fd, driver, len);
	return !strcmp(driver, "amdgpu");
}

static int amdgpu_open_path(struct dbu_ctx *c, struct amdgpu_priv *p)
{
	char driver[64];
	int fd = open(p->path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return dbu_error(c, -errno, "opening the amdgpu device",
			"%s: %s. Try dmabuf_src=amdgpu to pick the first amdgpu "
			"render node%s", p->path, errno == ENOENT ?
			"no such device node" : "it refused to open",
			errno == EACCES || errno == EPERM ? ", or join the "
			"group that owns it (render)" : "");
	if (!is_amdgpu(fd, driver, sizeof(driver))) {
		close(fd);
		return dbu_error(c, -ENODEV, "opening the amdgpu device",
			"%s is driven by %s, not amdgpu. Try dmabuf_src=drm:%s "
			"for a dumb buffer on it", p->path, driver, p->path);
	}
	c->exp_fd = fd;
	return 0;
}

/* The first render node (then card node) whose driver is amdgpu. */
static int amdgpu_open_first(struct dbu_ctx *c, struct amdgpu_priv *p)
{
	char driver[64], seen[256] = "", **names;
	int pass, i, fd, n = dbu_drm_nodes(&names);
	size_t pos = 0;

	for (pass = 0; pass < 2 && c->exp_fd < 0; pass++) {
		for (i = 0; i < n; i++) {
			if (!strncmp(names[i], "renderD", 7) != !pass)
				continue;
			snprintf(p->path, sizeof(p->path), "/dev/dri/%s",
				 names[i]);
			fd = open(p->path, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (is_amdgpu(fd, driver, sizeof(driver))) {
				c->exp_fd = fd;
				break;
			}
			close(fd);
			if (pos < sizeof(seen))
				pos += snprintf(seen + pos, sizeof(seen) - pos,
						"%s%s: %s", pos ? ", " : "",
						p->path, driver);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (c->exp_fd >= 0)
		return 0;
	p->path[0] = '\0';
	return dbu_error(c, -ENODEV, "finding an amdgpu device",
		"no DRM node in /dev/dri that this user can open is driven by "
		"amdgpu (%s). Load amdgpu (the kernel's own, not amdgpu-dkms), "
		"check the render group, or give dmabuf_src=amdgpu:PATH",
		pos ? seen : "none found");
}

static int amdgpu_open(struct dbu_ctx *c, const char *arg)
{
	struct amdgpu_priv *p = calloc(1, sizeof(*p));
	uint32_t major, minor;
	int ret;

	if (!p)
		return dbu_error(c, -ENOMEM, "dmabuf_src=amdgpu", "-");
	c->exp_priv = p;
	ret = amdgpu_parse(c, p, arg);
	if (!ret)
		ret = p->path[0] ? amdgpu_open_path(c, p) :
				   amdgpu_open_first(c, p);
	if (ret)
		return ret;
	ret = amdgpu_device_initialize(c->exp_fd, &major, &minor, &p->dev);
	if (ret)
		return dbu_error(c, ret < 0 ? ret : -EIO,
			"amdgpu_device_initialize",
			"libdrm_amdgpu could not initialise %s. Check the "
			"kernel log (dmesg | grep amdgpu)", p->path);
	dbu_fdinfo_memory(amdgpu_device_get_fd(p->dev), p->seen[0],
			  sizeof(p->seen[0]));
	p->base = dbu_region_bytes(p->seen[0], "vram");
	p->seen[0][0] = '\0';
	return 0;
}

static int amdgpu_alloc(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct amdgpu_priv *p = c->exp_priv;
	struct amdgpu_bo_alloc_request req = {
		.alloc_size	= s->size,
		.phys_alignment	= 4096,
		.preferred_heap	= p->vram ? AMDGPU_GEM_DOMAIN_VRAM :
					    AMDGPU_GEM_DOMAIN_GTT,
		.flags		= p->vram ?
				  AMDGPU_GEM_CREATE_CPU_ACCESS_REQUIRED : 0,
	};
	struct amdgpu_bo_info info = { 0 };
	amdgpu_bo_handle bo;
	uint32_t fd;
	int ret = amdgpu_bo_alloc(p->dev, &req, &bo);

	if (ret)
		return dbu_error(c, ret < 0 ? ret : -ENOMEM, "amdgpu_bo_alloc",
			"%s refused %zu bytes of %s. Try a smaller iodepth or "
			"dmabuf_size_max%s", p->path, s->size,
			p->vram ? "CPU-visible VRAM" : "GTT",
			p->vram ? ", or a GPU with resizable BAR on" : "");
	s->priv = bo;
	p->total += s->size;
	if (s == c->slots && !amdgpu_bo_query_info(bo, &info))
		p->heap = info.preferred_heap;
	ret = amdgpu_bo_export(bo, amdgpu_bo_handle_type_dma_buf_fd, &fd);
	if (ret)
		return dbu_error(c, ret < 0 ? ret : -EIO, "amdgpu_bo_export",
			"%s refused to export a %zu-byte buffer as a dma-buf",
			p->path, s->size);
	s->dmabuf_fd = fd;
	return 0;
}

/*
 * The client's resident VRAM grew by at least what the job allocated:
 * otherwise some of it is elsewhere.  The counts cover every object of the
 * DRM client, which libdrm_amdgpu shares between the jobs of one process
 * on one GPU (thread=1): there one job's VRAM can hide another's eviction.
 */
static int amdgpu_check_placement(struct dbu_ctx *c, bool end)
{
	struct amdgpu_priv *p = c->exp_priv;
	char *seen = p->seen[end];
	long long vram;

	dbu_fdinfo_memory(amdgpu_device_get_fd(p->dev), seen,
			  sizeof(p->seen[0]));
	vram = dbu_region_bytes(seen, "vram");
	if (!p->vram || (vram >= 0 && p->base >= 0 &&
			 (uint64_t)(vram - p->base) >= p->total))
		return 0;
	p->moved = vram >= 0 && p->base >= 0;
	if (c->placement_any)
		return 0;
	if (!p->moved)
		return dbu_error(c, -EREMOTEIO, "placement of dmabuf_src=amdgpu",
			"%s publishes no resident VRAM in its DRM fdinfo "
			"(drm-memory-vram or drm-resident-vram), so where the "
			"memory is cannot be checked. Set dmabuf_placement_any=1 "
			"to run unchecked", p->path);
	return dbu_error(c, -EREMOTEIO, "placement of dmabuf_src=amdgpu",
		"%s: %s, resident VRAM grew by %lld of the %llu bytes asked for "
		"in VRAM (fdinfo before: vram %lld B; now: %s); the rest is "
		"elsewhere. Set dmabuf_placement_any=1 to run on and report it",
		p->path, end ? "at the end of the run" : "after export",
		vram - p->base, (unsigned long long)p->total, p->base, seen);
}

static void amdgpu_placement(struct dbu_ctx *c, char *buf, size_t len)
{
	struct amdgpu_priv *p = c->exp_priv;

	if (!p || !p->dev) {
		snprintf(buf, len, "amdgpu (not opened)");
		return;
	}
	snprintf(buf, len, "amdgpu %s asked (GEM domain 0x%x) on %s; resident "
		 "per fdinfo after export: %s; after the run: %s%s",
		 p->vram ? "VRAM" : "GTT", p->heap, p->path,
		 p->seen[0][0] ? p->seen[0] : "none published",
		 p->seen[1][0] ? p->seen[1] : "-",
		 !p->vram ? "" : p->moved ? "; NOT ALL IN VRAM" :
		 c->placement_any && p->base < 0 ? "; VRAM unchecked" : "");
}

static void amdgpu_free(struct dbu_ctx *c, struct dbu_slot *s)
{
	(void)c;
	if (s->priv)
		amdgpu_bo_free(s->priv);
	s->priv = NULL;
}

static void amdgpu_close(struct dbu_ctx *c)
{
	struct amdgpu_priv *p = c->exp_priv;

	if (p && p->dev)
		amdgpu_device_deinitialize(p->dev);
	if (c->exp_fd >= 0)
		close(c->exp_fd);
	c->exp_fd = -1;
	free(p);
	c->exp_priv = NULL;
}

const struct dbu_exporter dbu_exp_amdgpu = {
	.name		= "amdgpu",
	.flags		= DBU_EXP_DMABUF,
	.open		= amdgpu_open,
	.alloc		= amdgpu_alloc,
	.placement	= amdgpu_placement,
	.check_placement = amdgpu_check_placement,
	.free		= amdgpu_free,
	.close		= amdgpu_close,
};
