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
#include "engines/cmdprio.h"

/* uncached= as fio's own io_uring engine of this tree spells it */
#ifdef RWF_UNCACHED
#define DBU_RWF_UNCACHED	RWF_UNCACHED
#define DBU_RWF_UNCACHED_NAME	"RWF_UNCACHED"
#else
#define DBU_RWF_UNCACHED	RWF_DONTCACHE
#define DBU_RWF_UNCACHED_NAME	"RWF_DONTCACHE"
#endif

/* What fio parses the option table (options.c) into: td->eo. */
struct dbu_options {
	void *pad;			/* fio stores td here */
	char *src;
	char *attach;
	unsigned long long size_max;
	char *report;
	int eagain_max;			/* signed: a negative one is refused */
	int watchdog;
	unsigned int cpu_sync;
	char *cpu_view;
	unsigned int shadow_timed;
	unsigned int placement_any;
	int inject_eagain;
	int inject_short;
	unsigned int inject_fence;
	/* fio's io_uring engine's */
	unsigned int hipri;
	struct cmdprio_options cmdprio_options;
	unsigned int fixedbufs;
	unsigned int registerfiles;
	unsigned int sqpoll;
	int sqpoll_cpu;
	unsigned int sqpoll_cpu_set;
	int nonvectored;
	unsigned int uncached;
	unsigned int nowait;
	int force_async;
	unsigned int register_ring;
	unsigned int md_per_io_size;
	unsigned int pi_act;
	char *pi_chk;
	unsigned int apptag;
	unsigned int apptag_mask;
	/* io_uring_cmd's, refused unless at their defaults */
	char *cmd_type;
	unsigned int readfua;
	unsigned int writefua;
	char *write_mode;
	char *verify_mode;
	unsigned int deac;
	char *cdb_len;
	char *verify_bytchk;
	char *read_mode;
};

extern struct fio_option dbu_fio_options[];

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
	unsigned char op[2];		/* IORING_OP_ by DDIR_READ, DDIR_WRITE */
	unsigned char sqe_flags;	/* IOSQE_FIXED_FILE with registerfiles */
	int rw_flags;			/* RWF_NOWAIT, RWF_UNCACHED */
	unsigned short ioprio;		/* fio's prio/prioclass */
	struct cmdprio cmdprio;		/* fio's cmdprio_* state */
	bool stamp;			/* fio wants issue times */
	unsigned int reissues;		/* of d->sq, reissues not yet taken */
	unsigned int spins;		/* reaps that could not block */
	bool bounce;
	bool io_sync;			/* DMA_BUF_IOCTL_SYNC around the device */
	bool shadow;			/* a shadow copy per I/O */
	bool shadow_late;		/* reads' made in ->event(), untimed */
	bool slow;			/* every request takes the slow path */
	bool qslow;			/* ... to the ring: slow, or priority */
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

/* options.c */
void dbu_opts_from(struct thread_data *td, struct dbu_opts *p);

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
