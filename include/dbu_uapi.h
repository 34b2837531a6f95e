/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dmabuf_uring: private copy of the io_uring dma-buf series' uAPI
 * (kernel-uapi.md sections 1.1 and 1.2; v3, unchanged through v7).
 *
 * None of this is in a mainline or liburing header, and liburing's
 * io_uring_rsrc_update2 still calls the word at offset 4 "resv".  Every
 * name here carries the DBU_/dbu_ prefix so this header can sit beside
 * <liburing.h> and <linux/io_uring.h> without clashing, and every size
 * and offset is checked at compile time against the series.
 *
 * The RFC v1/v2 ABI (IORING_RSRC_F_EXTENDED_UPDATE = 1, a 16-byte
 * io_uring_reg_buffer) is deliberately absent: it is incompatible.
 */
#ifndef DBU_UAPI_H
#define DBU_UAPI_H

#include <stddef.h>
#include <stdint.h>

/* io_uring_register(2) opcodes (upstream values). */
#define DBU_REGISTER_BUFFERS		0
#define DBU_UNREGISTER_BUFFERS		1
#define DBU_REGISTER_BUFFERS2		15
#define DBU_REGISTER_BUFFERS_UPDATE	16

/* io_uring_rsrc_register.flags (upstream). */
#define DBU_RSRC_REGISTER_SPARSE	(1U << 0)

/* io_uring_rsrc_update2.flags (the series; upstream's "resv"). */
#define DBU_RSRC_UPDATE_EXTENDED	(1U << 1)

/* io_uring_regbuf_desc.type (the series' enum io_uring_regbuf_type). */
#define DBU_REGBUF_TYPE_EMPTY		0
#define DBU_REGBUF_TYPE_UADDR		1
#define DBU_REGBUF_TYPE_DMABUF		2
#define DBU_REGBUF_TYPE_MAX		3

/* Largest dma-buf one slot may hold in v3-v5 (v6 raises it). */
#define DBU_REGBUF_DMABUF_MAX		(1ULL << 30)

/* struct io_uring_rsrc_register (32 bytes, upstream). */
struct dbu_rsrc_register {
	uint32_t nr;
	uint32_t flags;
	uint64_t resv2;
	uint64_t data;
	uint64_t tags;
};

/* struct io_uring_rsrc_update2 as the series names it (32 bytes). */
struct dbu_rsrc_update2 {
	uint32_t offset;	/* first slot */
	uint32_t flags;		/* DBU_RSRC_UPDATE_EXTENDED */
	uint64_t data;		/* -> struct dbu_regbuf_desc[nr] */
	uint64_t tags;		/* -> uint64_t[nr], or 0 */
	uint32_t nr;
	uint32_t resv2;
};

/* struct io_uring_regbuf_desc (80 bytes, natural alignment). */
struct dbu_regbuf_desc {
	uint32_t type;		/* DBU_REGBUF_TYPE_* */
	uint32_t flags;		/* 0 */
	uint64_t size;		/* 0 for DMABUF */
	uint64_t uaddr;		/* 0 for DMABUF */
	int32_t dmabuf_fd;
	int32_t target_fd;
	uint64_t resv[6];	/* 0 */
};

#define DBU_UAPI_CHECK(type, member, off)				\
	_Static_assert(offsetof(struct type, member) == (off),		\
		       #type "." #member " must be at offset " #off)

_Static_assert(sizeof(struct dbu_rsrc_register) == 32,
	       "io_uring_rsrc_register is 32 bytes");
DBU_UAPI_CHECK(dbu_rsrc_register, nr, 0);
DBU_UAPI_CHECK(dbu_rsrc_register, flags, 4);
DBU_UAPI_CHECK(dbu_rsrc_register, resv2, 8);
DBU_UAPI_CHECK(dbu_rsrc_register, data, 16);
DBU_UAPI_CHECK(dbu_rsrc_register, tags, 24);

_Static_assert(sizeof(struct dbu_rsrc_update2) == 32,
	       "io_uring_rsrc_update2 is 32 bytes (nr_args must be 32)");
DBU_UAPI_CHECK(dbu_rsrc_update2, offset, 0);
DBU_UAPI_CHECK(dbu_rsrc_update2, flags, 4);
DBU_UAPI_CHECK(dbu_rsrc_update2, data, 8);
DBU_UAPI_CHECK(dbu_rsrc_update2, tags, 16);
DBU_UAPI_CHECK(dbu_rsrc_update2, nr, 24);
DBU_UAPI_CHECK(dbu_rsrc_update2, resv2, 28);

_Static_assert(sizeof(struct dbu_regbuf_desc) == 80,
	       "io_uring_regbuf_desc is 80 bytes");
DBU_UAPI_CHECK(dbu_regbuf_desc, type, 0);
DBU_UAPI_CHECK(dbu_regbuf_desc, flags, 4);
DBU_UAPI_CHECK(dbu_regbuf_desc, size, 8);
DBU_UAPI_CHECK(dbu_regbuf_desc, uaddr, 16);
DBU_UAPI_CHECK(dbu_regbuf_desc, dmabuf_fd, 24);
DBU_UAPI_CHECK(dbu_regbuf_desc, target_fd, 28);
DBU_UAPI_CHECK(dbu_regbuf_desc, resv, 32);

_Static_assert(DBU_RSRC_UPDATE_EXTENDED == 2, "EXTENDED is 1U << 1");
_Static_assert(DBU_REGBUF_TYPE_DMABUF == 2, "DMABUF type is 2");
_Static_assert(DBU_REGISTER_BUFFERS_UPDATE == 16, "BUFFERS_UPDATE is 16");

#undef DBU_UAPI_CHECK

#endif
