/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dmabuf_uring: the vfio-pci dma-buf export uAPI (Linux 7.x
 * include/uapi/linux/vfio.h), which the installed headers may predate.
 *
 * VFIO_DEVICE_FEATURE with VFIO_DEVICE_FEATURE_GET | DBU_VFIO_FEATURE_DMA_BUF
 * returns a dma-buf fd of the listed ranges of one BAR
 * (drivers/vfio/pci/vfio_pci_dmabuf.c).  Names carry the DBU_/dbu_ prefix
 * so this header sits beside a <linux/vfio.h> that has them too; the
 * layout (offsets and sizes of the kernel's v7.x structs) is checked at
 * compile time below.
 */
#ifndef DBU_VFIO_H
#define DBU_VFIO_H

#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#define DBU_VFIO_FEATURE_DMA_BUF	11

struct dbu_vfio_dma_range {
	uint64_t offset;		/* in the BAR, page aligned */
	uint64_t length;
};

/* struct vfio_device_feature_dma_buf with one range. */
struct dbu_vfio_dma_buf {
	uint32_t region_index;		/* the BAR number */
	uint32_t open_flags;		/* of the dma-buf file: O_RDWR... */
	uint32_t flags;			/* 0 */
	uint32_t nr_ranges;
	struct dbu_vfio_dma_range ranges[1];
};

/*
 * The whole VFIO_DEVICE_FEATURE argument, 40 bytes: struct
 * vfio_device_feature's argsz and flags (its data[] is req), then req.
 */
struct dbu_vfio_feature_dma_buf {
	uint32_t argsz;
	uint32_t flags;			/* VFIO_DEVICE_FEATURE_GET | 11 */
	struct dbu_vfio_dma_buf req;
};

_Static_assert(offsetof(struct vfio_device_feature, data) ==
	       offsetof(struct dbu_vfio_feature_dma_buf, req),
	       "vfio_device_feature: argsz, flags, data[]");
_Static_assert(offsetof(struct dbu_vfio_dma_buf, ranges) == 16,
	       "vfio_device_feature_dma_buf: dma_ranges at 16");
_Static_assert(sizeof(struct dbu_vfio_feature_dma_buf) == 40,
	       "VFIO_DEVICE_FEATURE_DMA_BUF request with one range");

#endif /* DBU_VFIO_H */
