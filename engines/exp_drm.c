// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring exporter "drm": a dumb buffer exported through PRIME.
 *
 *   dmabuf_src=drm           the first /dev/dri/card*, then renderD*, that
 *                            has dumb buffers and PRIME export (vgem,
 *                            virtio-gpu, most GPUs)
 *   dmabuf_src=drm:PATH      that DRM device node
 *
 * A dumb buffer is 1024 pixels of 32 bits wide and as many rows as cover
 * the slot; the driver may pad the pitch, so the height follows the pitch
 * it returns.  The dma-buf mmap is VM_PFNMAP: only the bounce (and kernel)
 * attach can reach it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>

#include "dbu.h"

#define DRI_DIR		"/dev/dri"
#define DUMB_WIDTH	1024
#define DUMB_BPP	32

struct drm_priv {
	char path[280];
	char driver[64];
	char seen[2][160];	/* fdinfo memory, after export / the run */
};

struct drm_slot {
	uint32_t handle;	/* GEM handle of the dumb buffer */
};

/*
 * Testing (dmabuf_inject_fence): vgem's own fence, attached for writing, so
 * that every CPU access (DMA_BUF_IOCTL_SYNC) waits on it, as on a dma-buf
 * whose fence is never signalled; vgem signals it itself after 10 s.
 * uapi/drm/vgem_drm.h, which libdrm does not install.
 */
struct dbu_vgem_fence_attach {
	uint32_t handle;
	uint32_t flags;		/* 1: VGEM_FENCE_WRITE */
	uint32_t out_fence;
	uint32_t pad;
};
#define DBU_VGEM_FENCE_ATTACH \
	DRM_IOWR(DRM_COMMAND_BASE + 0x1, struct dbu_vgem_fence_attach)

static int drm_inject_fence(struct dbu_ctx *c, uint32_t handle)
{
	struct drm_priv *p = c->exp_priv;
	struct dbu_vgem_fence_attach f = { .handle = handle, .flags = 1 };

	if (strcmp(p->driver, "vgem"))
		return dbu_error(c, -EINVAL, "dmabuf_inject_fence",
			"only vgem can attach a fence; %s is %s. Try "
			"dmabuf_src=drm:/dev/dri/cardN of a vgem device", p->path,
			p->driver);
	if (drmIoctl(c->exp_fd, DBU_VGEM_FENCE_ATTACH, &f))
		return dbu_error(c, -errno, "dmabuf_inject_fence",
				 "vgem refused DRM_IOCTL_VGEM_FENCE_ATTACH");
	return 0;
}

/*
 * Render-only drivers (vgem) answer DRM_CAP_DUMB_BUFFER with EOPNOTSUPP
 * (the cap is KMS-only) yet create dumb buffers on their card node: there,
 * a one-row buffer made and destroyed settles it.
 */
static bool drm_dumb_ok(int fd)
{
	struct drm_mode_create_dumb create = {
		.width = DUMB_WIDTH, .height = 1, .bpp = DUMB_BPP,
	};
	struct drm_mode_destroy_dumb destroy = { 0 };
	uint64_t val = 0;

	if (!drmGetCap(fd, DRM_CAP_DUMB_BUFFER, &val))
		return val;
	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &create))
		return false;
	destroy.handle = create.handle;
	drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
	return true;
}

/* Why the device at fd cannot serve, or NULL when it can. */
static const char *drm_unfit(int fd)
{
	uint64_t val = 0;

	if (!drm_dumb_ok(fd))
		return "no dumb buffers";
	if (drmGetCap(fd, DRM_CAP_PRIME, &val) ||
	    !(val & DRM_PRIME_CAP_EXPORT))
		return "no PRIME export";
	return NULL;
}

void dbu_drm_driver_name(int fd, char *buf, size_t len)
{
	drmVersionPtr v = drmGetVersion(fd);

	snprintf(buf, len, "%s", v && v->name ? v->name : "unknown");
	drmFreeVersion(v);
}

static int drm_open_path(struct dbu_ctx *c, const char *path)
{
	struct drm_priv *p = c->exp_priv;
	const char *why;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int err = -errno;

		if (err == -EACCES || err == -EPERM)
			return dbu_error(c, err, "opening the DRM device",
				"%s: no permission to open it read-write. Try "
				"running as root, joining the group that owns "
				"it (video or render), 'chmod 0666 %s' or a "
				"udev rule granting your group access", path,
				path);
		return dbu_error(c, err, "opening the DRM device",
			"%s: %s. Try dmabuf_src=drm to pick the first "
			"suitable device in " DRI_DIR ", or load a DRM driver "
			"('modprobe vgem')", path, err == -ENOENT ?
			"no such device node" : err == -EACCES ||
			err == -EPERM ? "no permission (run as root or join "
			"the video/render group)" : "it refused to open");
	}
	dbu_drm_driver_name(fd, p->driver, sizeof(p->driver));
	why = drm_unfit(fd);
	if (why) {
		close(fd);
		return dbu_error(c, -ENOTSUP, "opening the DRM device",
			"%s (driver %s) has %s. Try another device, e.g. vgem "
			"('modprobe vgem')", path, p->driver, why);
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
	c->exp_fd = fd;
	return 0;
}

static int drm_node_cmp(const void *a, const void *b)
{
	const char *x = *(const char * const *)a, *y = *(const char * const *)b;
	bool rx = !strncmp(x, "renderD", 7), ry = !strncmp(y, "renderD", 7);
	size_t nx = strcspn(x, "0123456789"), ny = strcspn(y, "0123456789");

	if (rx != ry)
		return rx - ry;		/* card* first */
	return atoi(x + nx) - atoi(y + ny);
}

/* DRM nodes in /dev/dri, card* then renderD*, in number order. */
int dbu_drm_nodes(char ***names)
{
	DIR *d = opendir(DRI_DIR);
	struct dirent *de;
	char **v = NULL, **nv;
	int n = 0;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "card", 4) &&
		    strncmp(de->d_name, "renderD", 7))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n] = strdup(de->d_name);
		if (v[n])
			n++;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), drm_node_cmp);
	*names = v;
	return n;
}

/* The first suitable device; the message lists every node and why not. */
static int drm_open_first(struct dbu_ctx *c)
{
	struct drm_priv *p = c->exp_priv;
	char seen[512] = "", path[sizeof(p->path)], driver[64];
	size_t pos = 0;
	char **names;
	const char *why;
	int i, n, fd, denied = 0, ret = -ENODEV;

	n = dbu_drm_nodes(&names);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), DRI_DIR "/%s", names[i]);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			denied += errno == EACCES || errno == EPERM;
			why = errno == EACCES || errno == EPERM ?
			      "no permission" : strerror(errno);
			snprintf(driver, sizeof(driver), "?");
		} else {
			dbu_drm_driver_name(fd, driver, sizeof(driver));
			why = drm_unfit(fd);
		}
		if (!why) {
			snprintf(p->path, sizeof(p->path), "%s", path);
			snprintf(p->driver, sizeof(p->driver), "%s", driver);
			c->exp_fd = fd;
			ret = 0;
			break;
		}
		if (fd >= 0)
			close(fd);
		if (pos < sizeof(seen))
			pos += snprintf(seen + pos, sizeof(seen) - pos,
					"%s%s (%s): %s", pos ? "; " : "",
					names[i], driver, why);
	}
	/* Every node refused us: the cause is permission, not the devices. */
	if (ret && n && denied == n) {
		pos = 0;
		for (i = 0; i < n && pos < sizeof(seen); i++)
			pos += snprintf(seen + pos, sizeof(seen) - pos, "%s%s",
					i ? ", " : "", names[i]);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!ret)
		return 0;
	if (n && denied == n)
		return dbu_error(c, -EACCES, "finding a DRM device",
			"no permission to open any DRM node in " DRI_DIR " (%s). "
			"Try running as root, joining the group that owns "
			"them (video or render), or a udev rule granting your "
			"group access", seen);
	if (!n)
		return dbu_error(c, -ENODEV, "finding a DRM device",
			"no DRM device node in " DRI_DIR "%s. Try loading a "
			"DRM driver ('modprobe vgem' gives a virtual one), or "
			"dmabuf_src=drm:PATH", access(DRI_DIR, F_OK) ?
			" (it does not exist)" : "");
	return dbu_error(c, -ENODEV, "finding a DRM device",
		"no device in " DRI_DIR " has dumb buffers and PRIME export "
		"(%s). Try 'modprobe vgem', or dmabuf_src=drm:PATH", seen);
}

static int drm_open(struct dbu_ctx *c, const char *arg)
{
	struct drm_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return dbu_error(c, -ENOMEM, "dmabuf_src=drm", "-");
	c->exp_priv = p;
	if (arg && !*arg)
		return dbu_error(c, -EINVAL, "dmabuf_src",
			"dmabuf_src=drm: takes a device path after ':'. Try "
			"dmabuf_src=drm or dmabuf_src=drm:" DRI_DIR "/card0");
	return arg ? drm_open_path(c, arg) : drm_open_first(c);
}

static void drm_destroy(struct dbu_ctx *c, uint32_t handle)
{
	struct drm_mode_destroy_dumb destroy = { .handle = handle };

	drmIoctl(c->exp_fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
}

/* A dumb buffer of at least size bytes: width x height at 32 bpp. */
static int drm_create(struct dbu_ctx *c, size_t size, uint32_t *handle)
{
	struct drm_priv *p = c->exp_priv;
	struct drm_mode_create_dumb create = {
		.width	= DUMB_WIDTH,
		.bpp	= DUMB_BPP,
	};
	size_t pitch = DUMB_WIDTH * DUMB_BPP / 8;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		create.height = (size + pitch - 1) / pitch;
		create.handle = 0;
		if (drmIoctl(c->exp_fd, DRM_IOCTL_MODE_CREATE_DUMB, &create))
			return dbu_error(c, -errno,
				"DRM_IOCTL_MODE_CREATE_DUMB",
				"%s (%s) refused a %ux%u dumb buffer at %u bpp "
				"for %zu bytes. Try a smaller dmabuf_size_max",
				p->path, p->driver, create.width, create.height,
				create.bpp, size);
		if (create.size >= size) {
			*handle = create.handle;
			return 0;
		}
		/* A padded pitch: retry with the height it implies. */
		drm_destroy(c, create.handle);
		if (!create.pitch)
			break;
		pitch = create.pitch;
	}
	return dbu_error(c, -ENOSPC, "DRM_IOCTL_MODE_CREATE_DUMB",
		"%s (%s) made a dumb buffer of %llu bytes (pitch %u) for %zu "
		"requested. Try another DRM device", p->path, p->driver,
		(unsigned long long)create.size, create.pitch, size);
}

static int drm_alloc(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct drm_priv *p = c->exp_priv;
	struct drm_slot *d = calloc(1, sizeof(*d));
	int fd, ret;

	if (!d)
		return dbu_error(c, -ENOMEM, "dmabuf_src=drm", "-");
	ret = drm_create(c, s->size, &d->handle);
	if (ret) {
		free(d);
		return ret;
	}
	s->priv = d;
	ret = drmPrimeHandleToFD(c->exp_fd, d->handle, DRM_CLOEXEC | DRM_RDWR,
				 &fd);
	if (ret)
		return dbu_error(c, ret < 0 && errno ? -errno : -EIO,
			"exporting the dumb buffer (PRIME_HANDLE_TO_FD)",
			"%s (%s) refused to export a %zu-byte dumb buffer as "
			"a read-write dma-buf. Try another DRM device",
			p->path, p->driver, s->size);
	s->dmabuf_fd = fd;
	return c->inject_fence ? drm_inject_fence(c, d->handle) : 0;
}

/*
 * Where the driver keeps the memory, from the DRM fdinfo keys of the
 * device fd (drm-memory-*, drm-total-*: amdgpu, i915, xe publish them).
 * Drivers that publish none are shmem-backed (vgem, virtio-gpu's guest
 * objects) or do not say.
 */
static int drm_check_placement(struct dbu_ctx *c, bool end)
{
	struct drm_priv *p = c->exp_priv;

	dbu_fdinfo_memory(c->exp_fd, p->seen[end], sizeof(p->seen[0]));
	return 0;
}

static void drm_placement(struct dbu_ctx *c, char *buf, size_t len)
{
	struct drm_priv *p = c->exp_priv;
	const char *seen = p ? p->seen[p->seen[1][0] ? 1 : 0] : "";

	if (!p || !p->driver[0]) {
		snprintf(buf, len, "DRM dumb buffer (no device)");
		return;
	}
	if (seen[0])
		snprintf(buf, len, "DRM %s dumb buffer (%s); fdinfo: %s",
			 p->driver, p->path, seen);
	else if (!strcmp(p->driver, "vgem"))
		snprintf(buf, len, "DRM vgem dumb buffer (%s); system RAM "
			 "(vgem keeps GEM objects in shmem)", p->path);
	else
		snprintf(buf, len, "DRM %s dumb buffer (%s); placement not "
			 "published (no fdinfo memory keys)", p->driver,
			 p->path);
}

static void drm_free(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct drm_slot *d = s->priv;

	/* The dma-buf fd is the area's to close (exporter.c). */
	if (d && c->exp_fd >= 0)
		drm_destroy(c, d->handle);
	free(d);
	s->priv = NULL;
}

static void drm_close(struct dbu_ctx *c)
{
	if (c->exp_fd >= 0)
		close(c->exp_fd);
	c->exp_fd = -1;
	free(c->exp_priv);
	c->exp_priv = NULL;
}

const struct dbu_exporter dbu_exp_drm = {
	.name		= "drm",
	.flags		= DBU_EXP_DMABUF,
	.open		= drm_open,
	.alloc		= drm_alloc,
	.placement	= drm_placement,
	.check_placement = drm_check_placement,
	.free		= drm_free,
	.close		= drm_close,
};
