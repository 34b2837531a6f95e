/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dmabuf_uring: the fio side of a job, shared by the fio glue
 * (dmabuf_uring.c: options, life cycle) and the data path (io.c).
 * Everything below this line of files (dbu.h) is free of fio types.
 */
#ifndef DBU_FIO_H
#define DBU_FIO_H

#include "dbu.h"

#include "fio.h"

struct dbu_data {
	struct dbu_ctx c;

	/* data path (io.c) */
	struct io_u **events;		/* reaped, handed to ->event() */
	unsigned int nr_events;
	struct io_u **sq;		/* in the SQ ring, not yet consumed */
	unsigned int nr_sq;
	unsigned int queued;		/* of those, not yet committed */
	int dead;			/* errno: the ring refused for good */
	struct dbu_ioinfo {
		unsigned int slot;	/* the slot holding io_u->buf */
		unsigned int buf;	/* its entry in the buffer table */
		size_t base;		/* io_u->buf's offset in the slot */
		size_t off;		/* xfer_buf's, set when queued */
		unsigned int eagain;	/* reissues so far */
	} *io;				/* per io_u index */
	unsigned int async_cnt;
	unsigned char sqe_flags;	/* IOSQE_FIXED_FILE with registerfiles */
	int rw_flags;			/* RWF_NOWAIT with nowait */
	bool stamp;			/* fio wants issue times */
	unsigned int reissues;		/* of d->sq, reissues not yet taken */
	unsigned int spins;		/* reaps that could not block */
	bool bounce;
	bool io_sync;			/* DMA_BUF_IOCTL_SYNC around the device */
	bool slow;			/* every request takes the slow path */
	bool reap_failed;
	unsigned int unmeasured;	/* slots whose first I/O is untimed */
	unsigned int inject_eagain;	/* testing: every Nth completion */
	unsigned int inject_short;
	uint64_t completions;

	/* the job's files, opened once (dmabuf_uring.c) */
	int *fds;
	int *shadow_fds;		/* fio's deferred closes of them */
	unsigned int nr_fds;
	bool started;			/* post_init succeeded */
};

/* dmabuf_uring.c: the boundary, where a recorded error is printed */
void dbu_say(struct dbu_ctx *c);
void dbu_fail(struct thread_data *td, struct dbu_ctx *c);

/* io.c */
int dbu_io_alloc(struct dbu_data *d, unsigned int depth);
void dbu_io_free(struct dbu_data *d);
int dbu_io_start(struct thread_data *td, struct dbu_data *d);
void dbu_io_update_slow(struct dbu_data *d);
enum fio_q_status fio_dbu_queue(struct thread_data *td, struct io_u *io_u);
int fio_dbu_commit(struct thread_data *td);
int fio_dbu_getevents(struct thread_data *td, unsigned int min,
		      unsigned int max, const struct timespec *t);
struct io_u *fio_dbu_event(struct thread_data *td, int event);

#endif
