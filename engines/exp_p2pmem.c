// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring exporter "p2pmem": PCI P2PDMA memory a driver publishes.
 *
 *   dmabuf_src=p2pmem:BDF   mmap of /sys/bus/pci/devices/BDF/p2pmem/allocate
 *
 * The pre-series route to device memory: MMIO with struct pages
 * (ZONE_DEVICE), no dma-buf.  Each mmap of the allocate file takes a new
 * piece of the device's pool.  io_uring cannot register it as a fixed
 * buffer (a long-term pin refuses P2PDMA pages), but O_DIRECT reads and
 * writes pin it per I/O with FOLL_PCI_P2PDMA: under dmabuf_attach=pages
 * the engine sends plain READ/WRITE for it (DBU_EXP_PERIO).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dbu.h"

struct p2pmem_priv {
	char bdf[DBU_BDF_LEN];
	char ids[16];
	char driver[32];
	unsigned long long size;	/* published */
	unsigned long long avail;	/* free at open */
};

static int p2pmem_open(struct dbu_ctx *c, const char *arg)
{
	struct p2pmem_priv *p = calloc(1, sizeof(*p));
	char path[128], num[32];
	int fd;

	if (!p)
		return dbu_error(c, -ENOMEM, "dmabuf_src=p2pmem", "-");
	c->exp_priv = p;
	if (dbu_pci_parse(arg, p->bdf, NULL))
		return dbu_error(c, -EINVAL, "dmabuf_src",
			"dmabuf_src=p2pmem%s%s: expected p2pmem:BDF, e.g. "
			"p2pmem:0000:00:03.0", arg ? ":" : "", arg ? arg : "");
	snprintf(path, sizeof(path), DBU_PCI_SYSFS "/%s", p->bdf);
	if (access(path, F_OK))
		return dbu_error(c, -ENODEV, "dmabuf_src=p2pmem",
			"there is no PCI device %s (%s is missing). 'lspci -D' "
			"lists the devices", p->bdf, path);
	dbu_pci_ids(p->bdf, p->ids, sizeof(p->ids));
	dbu_pci_link(p->bdf, "driver", p->driver, sizeof(p->driver));
	if (dbu_pci_attr(p->bdf, "p2pmem/size", num, sizeof(num)))
		return dbu_error(c, -ENODEV, "dmabuf_src=p2pmem",
			"%s (%s, driver %s) publishes no P2PDMA memory (no "
			"p2pmem/ in sysfs): its driver must publish it (nvme "
			"does for a controller memory buffer, e.g. QEMU's "
			"-device nvme,cmb_size_mb=16) on a kernel with "
			"CONFIG_PCI_P2PDMA", p->bdf, p->ids,
			p->driver[0] ? p->driver : "none");
	p->size = strtoull(num, NULL, 0);
	if (!dbu_pci_attr(p->bdf, "p2pmem/available", num, sizeof(num)))
		p->avail = strtoull(num, NULL, 0);
	snprintf(path, sizeof(path), DBU_PCI_SYSFS "/%s/p2pmem/allocate",
		 p->bdf);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return dbu_error(c, -errno, "opening p2pmem/allocate",
				 "%s: run as root", path);
	c->exp_fd = fd;
	return 0;
}

static int p2pmem_max_size(struct dbu_ctx *c, size_t *limit)
{
	struct p2pmem_priv *p = c->exp_priv;

	*limit = p->avail;
	return 0;
}

static int p2pmem_alloc(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct p2pmem_priv *p = c->exp_priv;

	if (c->area_size > p->avail)
		return dbu_error(c, -ENOSPC, "dmabuf_src=p2pmem",
			"%s has %llu bytes of P2PDMA memory free (of %llu), "
			"less than the buffer area of %zu bytes (iodepth %u x "
			"bs %zu). Try a smaller iodepth or bs", p->bdf,
			p->avail, p->size, c->area_size, c->depth, c->max_bs);
	s->dmabuf_fd = -1;
	return 0;
}

static int p2pmem_map(struct dbu_ctx *c, struct dbu_slot *s, void *at)
{
	struct p2pmem_priv *p = c->exp_priv;
	void *v = mmap(at, s->size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, c->exp_fd, 0);

	if (v == MAP_FAILED)
		return dbu_error(c, -errno, "mmap of p2pmem/allocate",
			"%s refused %zu bytes of its P2PDMA memory; see "
			"dmesg", p->bdf, s->size);
	s->view = v;
	s->pin = v;
	return 0;
}

static void p2pmem_placement(struct dbu_ctx *c, char *buf, size_t len)
{
	struct p2pmem_priv *p = c->exp_priv;
	char size[32];

	if (!p || !p->size) {
		snprintf(buf, len, "PCI P2PDMA memory (not opened), MMIO "
			 "with struct pages");
		return;
	}
	dbu_size_str(p->size, size, sizeof(size));
	snprintf(buf, len, "PCI P2PDMA memory of %s (%s, %s), %s published, "
		 "MMIO with struct pages", p->bdf, p->ids,
		 p->driver[0] ? p->driver : "no driver", size);
}

static void p2pmem_free(struct dbu_ctx *c, struct dbu_slot *s)
{
	/* The mapping is the area's; its munmap returns the memory. */
	(void)c;
	(void)s;
}

static void p2pmem_close(struct dbu_ctx *c)
{
	if (c->exp_fd >= 0)
		close(c->exp_fd);
	c->exp_fd = -1;
	free(c->exp_priv);
	c->exp_priv = NULL;
}

const struct dbu_exporter dbu_exp_p2pmem = {
	.name		= "p2pmem",
	.flags		= DBU_EXP_PIN | DBU_EXP_PERIO,
	.open		= p2pmem_open,
	.max_size	= p2pmem_max_size,
	.alloc		= p2pmem_alloc,
	.map		= p2pmem_map,
	.placement	= p2pmem_placement,
	.free		= p2pmem_free,
	.close		= p2pmem_close,
};
