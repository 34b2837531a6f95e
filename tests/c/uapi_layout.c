// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prints the size and field offsets of the engine's private copies of the
 * io_uring dma-buf series' uAPI (include/dbu_uapi.h), compiled together
 * with liburing's and the kernel's io_uring headers to prove the names do
 * not clash.  Exit 0: printed; the test compares against kernel-uapi.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <liburing.h>
#include <linux/io_uring.h>

#include "dbu_uapi.h"

#define SIZE(t)		printf("sizeof %s %zu\n", #t, sizeof(struct t))
#define OFF(t, m)	printf("offsetof %s.%s %zu\n", #t, #m, \
			       offsetof(struct t, m))

int main(void)
{
	SIZE(dbu_rsrc_register);
	OFF(dbu_rsrc_register, nr);
	OFF(dbu_rsrc_register, flags);
	OFF(dbu_rsrc_register, resv2);
	OFF(dbu_rsrc_register, data);
	OFF(dbu_rsrc_register, tags);
	SIZE(dbu_rsrc_update2);
	OFF(dbu_rsrc_update2, offset);
	OFF(dbu_rsrc_update2, flags);
	OFF(dbu_rsrc_update2, data);
	OFF(dbu_rsrc_update2, tags);
	OFF(dbu_rsrc_update2, nr);
	OFF(dbu_rsrc_update2, resv2);
	SIZE(dbu_regbuf_desc);
	OFF(dbu_regbuf_desc, type);
	OFF(dbu_regbuf_desc, flags);
	OFF(dbu_regbuf_desc, size);
	OFF(dbu_regbuf_desc, uaddr);
	OFF(dbu_regbuf_desc, dmabuf_fd);
	OFF(dbu_regbuf_desc, target_fd);
	OFF(dbu_regbuf_desc, resv);
	printf("const DBU_RSRC_UPDATE_EXTENDED %u\n", DBU_RSRC_UPDATE_EXTENDED);
	printf("const DBU_REGBUF_TYPE_EMPTY %u\n", DBU_REGBUF_TYPE_EMPTY);
	printf("const DBU_REGBUF_TYPE_UADDR %u\n", DBU_REGBUF_TYPE_UADDR);
	printf("const DBU_REGBUF_TYPE_DMABUF %u\n", DBU_REGBUF_TYPE_DMABUF);
	printf("const DBU_REGISTER_BUFFERS2 %u\n", DBU_REGISTER_BUFFERS2);
	printf("const DBU_REGISTER_BUFFERS_UPDATE %u\n",
	       DBU_REGISTER_BUFFERS_UPDATE);
	printf("const DBU_RSRC_REGISTER_SPARSE %u\n", DBU_RSRC_REGISTER_SPARSE);
	/* The upstream struct the series extends: same bytes, "resv" at 4. */
	SIZE(io_uring_rsrc_update2);
	OFF(io_uring_rsrc_update2, resv);
	SIZE(io_uring_rsrc_register);
	printf("const IORING_REGISTER_BUFFERS_UPDATE %u\n",
	       IORING_REGISTER_BUFFERS_UPDATE);
	printf("const IORING_REGISTER_BUFFERS2 %u\n", IORING_REGISTER_BUFFERS2);
	return 0;
}
