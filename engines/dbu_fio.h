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
	struct io_u **pending;		/* queued, no SQE yet */
	unsigned int queued;
	struct io_u **sq;		/* in the SQ ring, not yet consumed */
	unsigned int nr_sq;
	int dead;			/* errno: the ring refused for good */
	unsigned int *eagain;		/* reissues per io_u index */
	struct dbu_ioinfo {
		unsigned int slot;
		size_t off;
	} *io;				/* (slot, offset) per io_u index */
	unsigned int async_cnt;
	unsigned int spins;		/* reaps that could not block */
	bool bounce;
	bool io_sync;			/* DMA_BUF_IOCTL_SYNC around the device */
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
void dbu_io_start(struct dbu_data *d);
enum fio_q_status fio_dbu_queue(struct thread_data *td, struct io_u *io_u);
int fio_dbu_commit(struct thread_data *td);
int fio_dbu_getevents(struct thread_data *td, unsigned int min,
		      unsigned int max, const struct timespec *t);
struct io_u *fio_dbu_event(struct thread_data *td, int event);

#endif
