// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring exporter "vfio": a PCI BAR of a device bound to vfio-pci.
 *
 *   dmabuf_src=vfio:BDF        the device's largest memory BAR
 *   dmabuf_src=vfio:BDF:N      BAR N
 *
 * The device is opened through its IOMMU group and a type1 container.
 * Slot i is the BAR range [i * chunk, i * chunk + size), exported by
 * VFIO_DEVICE_FEATURE_DMA_BUF; its CPU view is vfio's mmap of the same
 * range of the BAR region.  The memory is MMIO without struct pages: the
 * NVMe reaches it peer to peer (kernel attach), or the CPU copies through
 * RAM (bounce); io_uring cannot pin it (pages).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dbu.h"
#include "dbu_vfio.h"

#define IORES_MEM	0x00000200	/* IORESOURCE_MEM */
#define IORES_PREFETCH	0x00002000	/* IORESOURCE_PREFETCH */

struct vfio_priv {
	char bdf[DBU_BDF_LEN];
	char ids[16];
	int container;
	int group;
	unsigned int bar;
	uint64_t bar_size;
	uint64_t region_off;	/* of the BAR in the device fd */
	bool prefetch;
};

#define BIND_HOW \
	"Bind it: modprobe vfio-pci; echo vfio-pci > " DBU_PCI_SYSFS \
	"/%s/driver_override; echo %s > " DBU_PCI_SYSFS "/%s/driver/unbind " \
	"(if bound); echo %s > /sys/bus/pci/drivers_probe"

/* Is the device there, in an IOMMU group, bound to vfio-pci? */
static int vfio_check_device(struct dbu_ctx *c, struct vfio_priv *p,
			     unsigned int *group)
{
	char drv[64], grp[32], path[128];

	snprintf(path, sizeof(path), DBU_PCI_SYSFS "/%s", p->bdf);
	if (access(path, F_OK))
		return dbu_error(c, -ENODEV, "dmabuf_src=vfio",
			"there is no PCI device %s (%s is missing). 'lspci -D' "
			"lists the devices", p->bdf, path);
	dbu_pci_ids(p->bdf, p->ids, sizeof(p->ids));
	dbu_pci_link(p->bdf, "iommu_group", grp, sizeof(grp));
	if (!grp[0])
		return dbu_error(c, -ENODEV, "dmabuf_src=vfio",
			"%s (%s) is in no IOMMU group: the kernel translates "
			"no DMA for it (boot with intel_iommu=on or "
			"amd_iommu=on), and vfio-pci needs a group unless the "
			"kernel has CONFIG_VFIO_NOIOMMU", p->bdf, p->ids);
	*group = (unsigned int)strtoul(grp, NULL, 10);
	dbu_pci_link(p->bdf, "driver", drv, sizeof(drv));
	if (strcmp(drv, "vfio-pci"))
		return dbu_error(c, -ENODEV, "dmabuf_src=vfio",
			"%s (%s) is %s%s, not bound to vfio-pci. " BIND_HOW,
			p->bdf, p->ids, drv[0] ? "bound to " : "bound to no "
			"driver", drv, p->bdf, p->bdf, p->bdf, p->bdf);
	return 0;
}

static int vfio_open_group(struct dbu_ctx *c, struct vfio_priv *p,
			   unsigned int group)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[32];

	p->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (p->container < 0)
		return dbu_error(c, -errno, "opening /dev/vfio/vfio",
			"the vfio container is missing: the kernel lacks "
			"CONFIG_VFIO_CONTAINER, or vfio is not loaded "
			"(modprobe vfio-pci)");
	if (ioctl(p->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(p->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		return dbu_error(c, -ENOTSUP, "opening /dev/vfio/vfio",
			"the container offers no type1v2 IOMMU (modprobe "
			"vfio_iommu_type1)");
	snprintf(path, sizeof(path), "/dev/vfio/%u", group);
	p->group = open(path, O_RDWR | O_CLOEXEC);
	if (p->group < 0 && errno == EBUSY)
		return dbu_error(c, -EBUSY, "opening the vfio group",
			"%s is open elsewhere: vfio allows one user of a group "
			"(QEMU, another fio job or process). Run one job on "
			"%s at a time", path, p->bdf);
	if (p->group < 0)
		return dbu_error(c, -errno, "opening the vfio group",
			"%s of %s: run as root, or give your user the device "
			"node", path, p->bdf);
	if (ioctl(p->group, VFIO_GROUP_GET_STATUS, &st) ||
	    !(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return dbu_error(c, -EPERM, "opening the vfio group",
			"IOMMU group %u of %s is not viable: every device in "
			"it (ls /sys/kernel/iommu_groups/%u/devices) must be "
			"bound to vfio-pci or to no driver", group, p->bdf,
			group);
	if (ioctl(p->group, VFIO_GROUP_SET_CONTAINER, &p->container) ||
	    ioctl(p->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return dbu_error(c, -errno, "setting up the vfio container",
			"group %u of %s: VFIO_GROUP_SET_CONTAINER or "
			"VFIO_SET_IOMMU(type1v2) failed; see dmesg", group,
			p->bdf);
	c->exp_fd = ioctl(p->group, VFIO_GROUP_GET_DEVICE_FD, p->bdf);
	if (c->exp_fd < 0)
		return dbu_error(c, -errno, "VFIO_GROUP_GET_DEVICE_FD",
			"vfio refused the device %s of group %u; see dmesg",
			p->bdf, group);
	return 0;
}

/* sysfs "resource" line of BAR n: its flags, 0 when absent. */
static unsigned long long bar_flags(const char *bdf, unsigned int n,
				    unsigned long long *len)
{
	unsigned long long start, end, flags = 0;
	char path[128];
	unsigned int i;
	FILE *f;

	*len = 0;
	snprintf(path, sizeof(path), DBU_PCI_SYSFS "/%s/resource", bdf);
	f = fopen(path, "r");
	if (!f)
		return 0;
	for (i = 0; i <= n; i++)
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
			flags = 0;
	fclose(f);
	if (flags && end > start)
		*len = end - start + 1;
	return flags;
}

static int vfio_pick_bar(struct dbu_ctx *c, struct vfio_priv *p, int want)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	unsigned long long len, best = 0, flags;
	unsigned int i;

	if (want < 0) {
		for (i = 0; i <= 5; i++) {
			flags = bar_flags(p->bdf, i, &len);
			if ((flags & IORES_MEM) && len > best) {
				best = len;
				p->bar = i;
			}
		}
		if (!best)
			return dbu_error(c, -ENODEV, "dmabuf_src=vfio",
				"%s (%s) has no memory BAR", p->bdf, p->ids);
	} else {
		p->bar = (unsigned int)want;
	}
	flags = bar_flags(p->bdf, p->bar, &len);
	if (!(flags & IORES_MEM))
		return dbu_error(c, -ENODEV, "dmabuf_src=vfio",
			"BAR%u of %s (%s) is %s. Try dmabuf_src=vfio:%s (the "
			"largest memory BAR)", p->bar, p->bdf, p->ids,
			flags ? "an I/O port BAR" : "not implemented", p->bdf);
	p->prefetch = flags & IORES_PREFETCH;
	ri.index = p->bar;
	if (ioctl(c->exp_fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return dbu_error(c, -errno, "VFIO_DEVICE_GET_REGION_INFO",
				 "BAR%u of %s", p->bar, p->bdf);
	if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return dbu_error(c, -ENOTSUP, "dmabuf_src=vfio",
			"vfio gives no CPU mapping of BAR%u of %s (the region "
			"is not mmap-able, e.g. smaller than a page)", p->bar,
			p->bdf);
	p->bar_size = ri.size;
	p->region_off = ri.offset;
	return 0;
}

static int vfio_open(struct dbu_ctx *c, const char *arg)
{
	struct vfio_priv *p = calloc(1, sizeof(*p));
	unsigned int group = 0;
	int bar = -1, ret;

	if (!p)
		return dbu_error(c, -ENOMEM, "dmabuf_src=vfio", "-");
	p->container = p->group = -1;
	c->exp_priv = p;
	if (dbu_pci_parse(arg, p->bdf, &bar))
		return dbu_error(c, -EINVAL, "dmabuf_src",
			"dmabuf_src=vfio%s%s: expected vfio:BDF[:BAR], e.g. "
			"vfio:0000:00:04.0 or vfio:00:04.0:2 (BAR 0-5)",
			arg ? ":" : "", arg ? arg : "");
	ret = vfio_check_device(c, p, &group);
	if (!ret)
		ret = vfio_open_group(c, p, group);
	return ret ? ret : vfio_pick_bar(c, p, bar);
}

static int vfio_max_size(struct dbu_ctx *c, size_t *limit)
{
	struct vfio_priv *p = c->exp_priv;

	*limit = p->bar_size;
	return 0;
}

static int vfio_export_error(struct dbu_ctx *c, int err, struct dbu_slot *s)
{
	struct vfio_priv *p = c->exp_priv;
	const char *why;

	switch (err) {
	case -ENOTTY:
		why = "this kernel's vfio-pci cannot export a BAR as a "
		      "dma-buf (VFIO_DEVICE_FEATURE_DMA_BUF, "
		      "CONFIG_VFIO_PCI_DMABUF; Debian trixie's 6.12 has "
		      "none, sid's 7.2 has it). Boot such a kernel";
		break;
	case -EOPNOTSUPP:
		why = "the vfio-pci driver of this device does not export "
		      "dma-bufs";
		break;
	case -ENODEV:
		why = "the region is not a BAR vfio can export";
		break;
	default:
		why = "vfio refused the range; see dmesg";
	}
	return dbu_error(c, err, "VFIO_DEVICE_FEATURE_DMA_BUF",
		"BAR%u of %s, %zu bytes at offset %zu: %s", p->bar, p->bdf,
		s->size, (size_t)(s - c->slots) * c->chunk, why);
}

static int vfio_alloc(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct vfio_priv *p = c->exp_priv;
	size_t off = (size_t)(s - c->slots) * c->chunk;
	struct dbu_vfio_feature_dma_buf f = {
		.argsz		= sizeof(f),
		.flags		= VFIO_DEVICE_FEATURE_GET |
				  DBU_VFIO_FEATURE_DMA_BUF,
		.req.region_index = p->bar,
		.req.open_flags	= O_RDWR | O_CLOEXEC,
		.req.nr_ranges	= 1,
		.req.ranges[0]	= { .offset = off, .length = s->size },
	};
	char have[32];
	int fd;

	if (c->area_size > p->bar_size) {
		dbu_size_str(p->bar_size, have, sizeof(have));
		return dbu_error(c, -ENOSPC, "dmabuf_src=vfio",
			"BAR%u of %s (%s) is %s, smaller than the buffer area "
			"of %zu bytes (iodepth %u x bs %zu, page aligned). Try "
			"a smaller iodepth or bs, or a larger BAR (the rig: "
			"--peer-bar SIZE)", p->bar, p->bdf, p->ids, have,
			c->area_size, c->depth, c->max_bs);
	}
	fd = ioctl(c->exp_fd, VFIO_DEVICE_FEATURE, &f);
	if (fd < 0)
		return vfio_export_error(c, -errno, s);
	s->dmabuf_fd = fd;
	return 0;
}

static int vfio_map(struct dbu_ctx *c, struct dbu_slot *s, void *at)
{
	struct vfio_priv *p = c->exp_priv;
	size_t off = (size_t)(s - c->slots) * c->chunk;
	void *v = mmap(at, s->size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, c->exp_fd,
		       (off_t)(p->region_off + off));

	if (v == MAP_FAILED)
		return dbu_error(c, -errno, "mmap of the vfio BAR region",
			"BAR%u of %s, %zu bytes at offset %zu (CPU view)",
			p->bar, p->bdf, s->size, off);
	s->view = v;
	return 0;
}

static void vfio_placement(struct dbu_ctx *c, char *buf, size_t len)
{
	struct vfio_priv *p = c->exp_priv;
	char size[32];

	if (!p || !p->bar_size) {
		snprintf(buf, len, "PCI BAR of %s (not opened), MMIO",
			 p ? p->bdf : c->src_arg ? c->src_arg : "?");
		return;
	}
	dbu_size_str(p->bar_size, size, sizeof(size));
	snprintf(buf, len, "PCI BAR%u of %s (%s), %s, %sprefetchable, MMIO",
		 p->bar, p->bdf, p->ids, size, p->prefetch ? "" : "non-");
}

static void vfio_free(struct dbu_ctx *c, struct dbu_slot *s)
{
	/* The dma-buf fd and the mapping are the area's (exporter.c). */
	(void)c;
	(void)s;
}

static void vfio_close(struct dbu_ctx *c)
{
	struct vfio_priv *p = c->exp_priv;

	if (c->exp_fd >= 0)
		close(c->exp_fd);
	c->exp_fd = -1;
	if (p && p->group >= 0)
		close(p->group);
	if (p && p->container >= 0)
		close(p->container);
	free(p);
	c->exp_priv = NULL;
}

const struct dbu_exporter dbu_exp_vfio = {
	.name		= "vfio",
	.flags		= DBU_EXP_DMABUF | DBU_EXP_MMIO,
	.open		= vfio_open,
	.max_size	= vfio_max_size,
	.alloc		= vfio_alloc,
	.map		= vfio_map,
	.placement	= vfio_placement,
	.free		= vfio_free,
	.close		= vfio_close,
};
