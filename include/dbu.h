/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dmabuf_uring: the engine's shared state, free of fio types.
 *
 * Data flow (design.md section 3): options -> exporter allocates one
 * dma-buf per slot -> CPU view of every slot, contiguous, handed to fio
 * as its buffer area -> attach mode registers the slots with the ring ->
 * each io_u maps to (slot, offset) -> SQE -> CQE -> report.
 *
 * Internal functions return 0 or a negative errno.  The place that knows
 * why something failed records it once with dbu_error(); the fio glue
 * prints it once, at the boundary.
 */
#ifndef DBU_H
#define DBU_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <liburing.h>
#include <linux/dma-buf.h>

#define DBU_NAME	"dmabuf_uring"
#define DBU_SLOTS_MAX	16384		/* IORING_MAX_REG_BUFFERS */
#define DBU_GIB		(1ULL << 30)
#define DBU_ERRORS_MAX	8		/* kept for the report */

struct dbu_ctx;

/* One registered buffer: a dma-buf (or, for "host", plain memory). */
struct dbu_slot {
	int dmabuf_fd;		/* -1 when the source exports no dma-buf */
	size_t size;		/* bytes, a page multiple */
	char *view;		/* CPU view, inside the contiguous area */
	char *mem;		/* the exporter's CPU mapping: view, or apart
				 * from it under cpu_view=shadow (NULL: none) */
	char *pin;		/* same pages at a pinnable address, or NULL */
	char *bounce;		/* host memory for the bounce attach, or NULL */
	uint64_t io_base;	/* sqe->addr = io_base + offset in the slot */
	void *priv;		/* exporter's own state */
	int64_t first_submit_ns;	/* when its first I/O went out, 0: not yet */
	int64_t first_io_ns;	/* latency of the slot's first I/O, -1: none */
	int first_io;		/* io_u index of that first I/O, -1: none,
				 * -2: awaited (the data path times it) */
	unsigned int inflight;	/* I/Os the device owns in this slot */
	bool cpu_access;	/* between DMA_BUF_SYNC_START and _END */
};

/* Exporters: one file each, one table entry in exporter.c. */
#define DBU_EXP_DMABUF	(1U << 0)	/* slots carry a dma-buf fd */
#define DBU_EXP_PIN	(1U << 1)	/* slots carry a pinnable mapping */
#define DBU_EXP_NOMAP	(1U << 2)	/* no CPU mapping: cpu_view=shadow */
#define DBU_EXP_MMIO	(1U << 3)	/* a PCI BAR, no struct pages: the
					 * kernel's P2P check applies */
#define DBU_EXP_PERIO	(1U << 4)	/* pages attach pins per I/O: plain
					 * READ/WRITE, no fixed buffers */

struct dbu_exporter {
	const char *name;	/* dmabuf_src keyword */
	unsigned int flags;
	/* Open the device behind the source; arg is the text after ':'. */
	int (*open)(struct dbu_ctx *c, const char *arg);
	/* Largest single buffer it can make in *limit (0: no own limit). */
	int (*max_size)(struct dbu_ctx *c, size_t *limit);
	/* Create s->size bytes: set dmabuf_fd, pin and priv. */
	int (*alloc)(struct dbu_ctx *c, struct dbu_slot *s);
	/*
	 * Map the CPU view at 'at' (MAP_FIXED) and set s->view.  NULL: the
	 * generic mmap of s->dmabuf_fd.
	 */
	int (*map)(struct dbu_ctx *c, struct dbu_slot *s, void *at);
	/*
	 * Copy len bytes between the slot's memory at 'off' and host memory
	 * (to_dev: into the slot), done when it returns: the exporter's own
	 * copy API.  NULL: memcpy through the CPU mapping (s->mem).
	 */
	int (*copy)(struct dbu_ctx *c, struct dbu_slot *s, size_t off,
		    void *host, size_t len, bool to_dev);
	/*
	 * Where the memory lives, one short phrase; read again after the run
	 * (c->area NULL by then) where the exporter can see it move.
	 */
	void (*placement)(struct dbu_ctx *c, char *buf, size_t len);
	/*
	 * Read where the slots' memory is, after export and again at the
	 * end of the run (end), for placement(); fail when it is not where
	 * the job asked for it.  NULL: nothing to read.
	 */
	int (*check_placement)(struct dbu_ctx *c, bool end);
	void (*free)(struct dbu_ctx *c, struct dbu_slot *s);
	void (*close)(struct dbu_ctx *c);
};

/* Attach modes: how io_uring reaches the slots' memory. */
struct dbu_attach {
	const char *name;	/* dmabuf_attach keyword */
	/* Refuse an impossible source/target combination before allocating. */
	int (*check)(struct dbu_ctx *c);
	/* Register the slots with c->ring; set every slot's io_base. */
	int (*attach)(struct dbu_ctx *c);
	/* Drop the registration; bounded in time. */
	void (*detach)(struct dbu_ctx *c);
};

struct dbu_ring_opts {
	bool hipri;
	bool sqpoll;
	bool sqpoll_cpu_set;
	unsigned int sqpoll_cpu;
	bool registerfiles;
	bool nowait;
	bool uncached;			/* uncached=: buffered I/O only */
	bool register_ring;		/* dmabuf_register_ring */
	unsigned int force_async;
};

struct dbu_error {
	int err;		/* negative errno, 0: none */
	char what[160];		/* what was attempted */
	char detail[640];	/* likely cause and what to try */
};

/*
 * The job's engine options as fio parsed them, and what the engine needs
 * of fio's own options: config.c checks them all before anything is made.
 */
struct dbu_opts {
	const char *src;
	const char *attach;
	const char *report;
	unsigned long long size_max;
	int eagain_max;
	int watchdog;
	bool cpu_sync;
	const char *cpu_view;		/* dmabuf_cpu_view: auto|mmap|shadow */
	bool shadow_timed;
	bool placement_any;
	bool inject_fence;
	int inject_eagain;
	int inject_short;
	struct dbu_ring_opts ro;
	int force_async;
	int sqpoll_cpu;
	bool dontcache;			/* uncached= is RWF_DONTCACHE (fio 3.40 on) */
	unsigned int md_per_io_size;
	char cmd_only[96];		/* "name=value" of an io_uring_cmd one */
	/* fio's */
	bool mem_set;			/* mem= or iomem= given */
	const char *job;
	bool direct;
	bool trim;		/* rw= has trims */
	bool reads;		/* the CPU reads what the device read: rw, verify */
	bool writes;		/* the CPU fills what the device writes */
	bool cpu_looks;		/* fio reads or fills the bytes per I/O */
	unsigned int depth;
	size_t min_bs, max_bs;
	unsigned int nr_files;
};

/* Bookkeeping of every bounded wait for completions (ring.c). */
struct dbu_progress {
	uint64_t reaped;		/* CQEs seen, ever */
	uint64_t reaped_seen;		/* 'reaped' at the last check */
	int64_t at_ns;			/* when 'reaped' last moved */
	unsigned int inflight;		/* requests the device owns */
};
struct dbu_ctx {
	/* what the job asked for */
	const struct dbu_exporter *exp;
	const char *src;		/* dmabuf_src as given */
	const char *src_arg;		/* text after ':' or NULL */
	const struct dbu_attach *att;
	size_t size_max;		/* 0: automatic */
	unsigned int eagain_max;
	unsigned int watchdog_s;
	bool cpu_sync;
	bool cpu_looks;			/* fio reads or fills the bytes per I/O */
	bool inject_fence;		/* testing: exp_drm.c */
	unsigned int sync_dir;		/* DMA_BUF_SYNC_{READ,WRITE,RW} */
	bool direct;
	struct dbu_ring_opts ro;
	unsigned int depth;
	size_t min_bs, max_bs;
	unsigned int nr_files;
	const char *job;

	/* exporter state */
	void *exp_priv;
	int exp_fd;			/* device the exporter opened, or -1 */

	/* buffer area: slots' CPU views, back to back */
	char *area;
	size_t area_size;
	size_t chunk;			/* size of every slot but the last */
	unsigned int nr_slots;
	unsigned int nr_live;		/* slots holding resources */
	struct dbu_slot *slots;
	/*
	 * fio's io buffers: where each starts in the area (by io_u index)
	 * and how long it is.  Registration by iovec gives each its own
	 * entry, as fio's io_uring engine does: the kernel then maps one
	 * buffer's pages per request, not every page after it in the slot.
	 */
	size_t *buf_off;
	unsigned int nr_bufs;
	size_t buf_len;
	bool reg_per_buf;		/* buffer table: entry i = io_u i */
	bool per_io_pin;		/* plain READ/WRITE (DBU_EXP_PERIO) */
	char *bounce_area;		/* bounce attach: host memory */
	const char *cpu_view;		/* "mmap" | "shadow" | "none" */
	bool shadow;			/* fio's view is host memory, copied */
	bool shadow_timed;		/* its copies inside fio's latencies */
	bool placement_any;		/* memory found elsewhere: run on */
	char exp_name[32];		/* the kernel's exp_name of slot 0 */

	/* ring and target */
	struct io_uring ring;
	bool ring_up;
	bool ring_registered;		/* its fd registered: enter skips fdget */
	unsigned int enter_flags;	/* io_uring_enter's, for a submit */
	int target_fd;			/* the job's (first) file */
	unsigned int lbs;		/* its logical block size, 512: file */
	char target[PATH_MAX];		/* its path, "" before it is open */
	char target_driver[64];		/* worked out once, at open */
	char iommu_domain[32];
	char uapi_probe[24];		/* design.md section 6 verdict */
	int uapi_errno;
	struct dbu_progress prog;
	int report_fd;			/* dmabuf_report, opened at init */

	/* counters for the report */
	uint64_t eagain_reissues;
	uint64_t bounce_bytes;
	uint64_t bounce_ns;
	uint64_t cpu_syncs;
	uint64_t shadow_copies;		/* cpu_view=shadow: copies made */
	uint64_t shadow_bytes;
	uint64_t shadow_ns;
	uint64_t cpu_unbracketed;	/* completions fio saw device-owned */
	uint64_t ios;
	uint64_t io_errors;		/* requests that failed for good */
	uint64_t prio_ios;		/* requests sent with an ioprio */

	bool stuck;			/* a wait at teardown ran out */
	struct dbu_error error;		/* the latest one recorded */
	struct dbu_error errors[DBU_ERRORS_MAX];	/* the first ones */
	unsigned int nr_errors;		/* all recorded, even beyond those */
};

/* error.c */
int dbu_error(struct dbu_ctx *c, int err, const char *what,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *dbu_errname(int err);
void dbu_error_format(const struct dbu_error *e, char *buf, size_t len);

/* config.c: every option check that needs no device */
void dbu_ctx_init(struct dbu_ctx *c);
int dbu_config(struct dbu_ctx *c, const struct dbu_opts *o);
int dbu_report_open(struct dbu_ctx *c, const char *path);

/* exporter.c */
int dbu_exporter_lookup(struct dbu_ctx *c, const char *src);
int dbu_area_alloc(struct dbu_ctx *c, size_t size);
void dbu_area_free(struct dbu_ctx *c);
int dbu_cpu_sync(struct dbu_ctx *c, struct dbu_slot *s, bool start,
		 unsigned int dir);
void dbu_exp_name(const struct dbu_slot *s, char *buf, size_t len);
int dbu_placement_end(struct dbu_ctx *c);

/* exp_drm.c, for the DRM exporters: nodes of /dev/dri, a node's driver */
int dbu_drm_nodes(char ***names);
void dbu_drm_driver_name(int fd, char *buf, size_t len);

/* pci.c: PCI devices by address, for vfio and p2pmem */
#define DBU_BDF_LEN	16
#define DBU_PCI_SYSFS	"/sys/bus/pci/devices"
int dbu_pci_parse(const char *arg, char bdf[DBU_BDF_LEN], int *n);
int dbu_pci_attr(const char *bdf, const char *attr, char *buf, size_t len);
void dbu_pci_link(const char *bdf, const char *attr, char *buf, size_t len);
void dbu_pci_ids(const char *bdf, char *buf, size_t len);
void dbu_size_str(uint64_t bytes, char *buf, size_t len);

/* fdinfo.c: the DRM fdinfo memory regions of a DRM fd */
int dbu_fdinfo_regions(FILE *f, char *buf, size_t len);
int dbu_fdinfo_memory(int fd, char *buf, size_t len);
long long dbu_region_bytes(const char *regions, const char *name);

/* The one map from a CPU address in the area to (slot, offset). */
static inline struct dbu_slot *dbu_slot_of(struct dbu_ctx *c,
					   const void *p, size_t *off)
{
	size_t pos = (const char *)p - c->area;
	unsigned int i = c->nr_slots == 1 ? 0 : pos / c->chunk;

	*off = pos - (size_t)i * c->chunk;
	return &c->slots[i];
}

/*
 * Copy between the slot's memory and host memory: the exporter's copy API,
 * or memcpy through its CPU mapping, bracketed by DMA_BUF_IOCTL_SYNC unless
 * the mapping is fio's view and fio holds it in CPU access already.
 * Inline: bounce makes one per I/O.
 */
static inline int dbu_dev_copy(struct dbu_ctx *c, struct dbu_slot *s,
			       size_t off, void *host, size_t len, bool to_dev)
{
	unsigned int dir = to_dev ? DMA_BUF_SYNC_WRITE : DMA_BUF_SYNC_READ;
	bool sync = s->dmabuf_fd >= 0 && (c->shadow || !c->cpu_sync);
	int ret;

	if (c->exp->copy)
		return c->exp->copy(c, s, off, host, len, to_dev);
	ret = sync ? dbu_cpu_sync(c, s, true, dir) : 0;
	if (ret)
		return ret;
	if (to_dev)
		memcpy(s->mem + off, host, len);
	else
		memcpy(host, s->mem + off, len);
	return sync ? dbu_cpu_sync(c, s, false, dir) : 0;
}

/* The opcode a job's reads or writes go out with, for messages. */
static inline const char *dbu_op_name(const struct dbu_ctx *c, bool read)
{
	if (c->per_io_pin)
		return read ? "READ" : "WRITE";
	return read ? "READ_FIXED" : "WRITE_FIXED";
}

/* attach.c, attach_*.c */
int dbu_attach_lookup(struct dbu_ctx *c, const char *name);
int dbu_register_iovecs(struct dbu_ctx *c, bool use_bounce);
int dbu_bounce_copy(struct dbu_ctx *c, struct dbu_slot *s, size_t off,
		    size_t len, bool to_view);

/* shadow.c: the CPU view apart from the memory (dmabuf_cpu_view) */
int dbu_cpu_view_config(struct dbu_ctx *c, const char *view);
int dbu_shadow_map(struct dbu_ctx *c, struct dbu_slot *s, void *at);
void dbu_shadow_unmap(struct dbu_ctx *c, struct dbu_slot *s);
int dbu_shadow_copy(struct dbu_ctx *c, struct dbu_slot *s, size_t off,
		    size_t len, bool to_dev, int64_t *ns);
int dbu_shadow_push(struct dbu_ctx *c);
void dbu_unregister_buffers(struct dbu_ctx *c, const char *why);
extern const struct dbu_attach dbu_attach_pages;
extern const struct dbu_attach dbu_attach_bounce;
extern const struct dbu_attach dbu_attach_kernel;

/* ring.c */
int dbu_ring_init(struct dbu_ctx *c);
int dbu_ring_register_files(struct dbu_ctx *c, const int *fds, unsigned int n);
int dbu_ring_wait_polled(struct dbu_ctx *c, unsigned int min);
int dbu_ring_tick(struct dbu_ctx *c, bool busy);

/*
 * Wait until 'min' completions are ready, bounded by the watchdog: with
 * nothing completed for dmabuf_watchdog seconds while requests are in
 * flight, -ETIMEDOUT (the caller says what it waited for).  Every wait for
 * completions, the data path's and the warm-up's, comes here.
 *
 * The kernel wait itself is cut every second so the clock is read only
 * then and the hot path stays free of clock reads: by the EXT_ARG timeout
 * on an interrupt-driven ring, by the watchdog timer's signal (watchdog.c)
 * on an IOPOLL ring, whose poll loop ignores the timeout (ring.c).  Inline:
 * it is on the data path of every blocking reap.
 */
static inline int dbu_ring_wait(struct dbu_ctx *c, unsigned int min)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_cqe *cqe;
	int ret;

	if (!min)
		return io_uring_get_events(&c->ring);
	if (!c->watchdog_s)
		return io_uring_wait_cqe_nr(&c->ring, &cqe, min);
	if (c->ro.hipri)
		ret = dbu_ring_wait_polled(c, min);
	else
		ret = io_uring_wait_cqes(&c->ring, &cqe, min, &ts, NULL);
	return ret == -ETIME ? dbu_ring_tick(c, c->prog.inflight) : ret;
}
void dbu_ring_exit(struct dbu_ctx *c);

/* sysinfo.c: what the target is and how its DMA is translated */
int dbu_target_check(struct dbu_ctx *c, int fd, const char *path);
void dbu_target_info(const char *path, char *driver, size_t dlen,
		     char *iommu, size_t ilen);

/* report.c */
struct dbu_report_job {
	const char *job;
	int jobnum;
	const char *fio_version;
	const char *engine_version;
	bool failed;		/* fio's verdict on the job */
};
int dbu_report_write(struct dbu_ctx *c, const struct dbu_report_job *j);
void dbu_report_summary(struct dbu_ctx *c, bool failed, char *buf,
			size_t len);

/* time */
int64_t dbu_now_ns(void);

/* probe.c: is the io_uring dma-buf series there? (kernel-uapi.md 4.1) */
struct dbu_regbuf_desc;
int dbu_uring_register(int ring_fd, unsigned int op, void *arg,
		       unsigned int nr_args);
int dbu_regbuf_sparse(int ring_fd, unsigned int nr);
int dbu_regbuf_update(int ring_fd, unsigned int offset,
		      struct dbu_regbuf_desc *desc, unsigned int nr);
int dbu_probe_uapi(struct dbu_ctx *c, int target_fd);
int dbu_probe_device_error(struct dbu_ctx *c, int err, unsigned int slot);

/* attach_kernel.c: io_u 'idx' has its buffer at 'off' in slot 'slot' */
int dbu_kernel_check_buf(struct dbu_ctx *c, unsigned int idx,
			 unsigned int slot, size_t off);

/* watchdog.c: bound an interruptible system call that may never return */
struct dbu_wd {
	int64_t deadline_ns;
	unsigned int seconds;	/* 0: unbounded */
	bool armed;
};
int dbu_wd_start(struct dbu_wd *wd, unsigned int seconds);
bool dbu_wd_expired(const struct dbu_wd *wd);
void dbu_wd_stop(struct dbu_wd *wd);
void dbu_wd_release(void);
void dbu_wd_fail(struct dbu_ctx *c, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
