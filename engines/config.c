// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: the job's options, checked before anything is made.
 *
 * fio parses the option table (dmabuf_uring.c) into struct dbu_opts; every
 * check that needs no device is here, free of fio types, so that a bad
 * value fails at job start with one message and the fuzzers can drive it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/dma-buf.h>

#include "dbu.h"

void dbu_ctx_init(struct dbu_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->target_fd = -1;
	c->exp_fd = -1;
	c->report_fd = -1;
	c->lbs = 512;
	c->cpu_view = "none";
	c->sync_dir = DMA_BUF_SYNC_RW;
	snprintf(c->uapi_probe, sizeof(c->uapi_probe), "not-run");
	snprintf(c->target_driver, sizeof(c->target_driver), "none");
	snprintf(c->iommu_domain, sizeof(c->iommu_domain), "none");
}

static int check_count(struct dbu_ctx *c, const char *name, int val,
		       const char *meaning)
{
	if (val >= 0)
		return 0;
	return dbu_error(c, -EINVAL, name, "%s=%d is negative: it counts %s. "
			 "Give 0 or more", name, val, meaning);
}

static int check_counts(struct dbu_ctx *c, const struct dbu_opts *o)
{
	int ret;

	ret = check_count(c, "dmabuf_eagain_max", o->eagain_max,
			  "reissues per request (0: none)");
	if (!ret)
		ret = check_count(c, "dmabuf_watchdog", o->watchdog,
				  "seconds without a completion (0: never)");
	if (!ret)
		ret = check_count(c, "dmabuf_inject_eagain", o->inject_eagain,
				  "completions between injected -EAGAINs "
				  "(0: off)");
	if (!ret)
		ret = check_count(c, "dmabuf_inject_short", o->inject_short,
				  "completions between injected short ones "
				  "(0: off)");
	if (!ret && (long long)o->size_max < 0)
		ret = dbu_error(c, -EINVAL, "dmabuf_size_max",
				"dmabuf_size_max=%lld is negative: it is the "
				"size of the largest dma-buf (0: automatic). "
				"Give 0 or more", (long long)o->size_max);
	if (!ret)
		ret = check_count(c, "force_async", o->force_async,
				  "requests between IOSQE_ASYNC ones (0: off)");
	if (!ret && o->ro.sqpoll_cpu_set && o->sqpoll_cpu < 0)
		ret = dbu_error(c, -EINVAL, "sqthread_poll_cpu",
				"sqthread_poll_cpu=%d is not a CPU. Give the "
				"number of one (0 or more)", o->sqpoll_cpu);
	return ret;
}

/* io_uring engine options that mean nothing, or too much, here. */
static int check_uring(struct dbu_ctx *c, const struct dbu_opts *o)
{
	if (o->cmd_only[0])
		return dbu_error(c, -EOPNOTSUPP, o->cmd_only,
			"that is an option of fio's io_uring_cmd engine (NVMe "
			"or SCSI passthrough); dmabuf_uring issues READ_FIXED "
			"and WRITE_FIXED, which do not carry it. Drop it, or use "
			"ioengine=io_uring_cmd");
	if (o->md_per_io_size)
		return dbu_error(c, -EOPNOTSUPP, "md_per_io_size",
			"md_per_io_size=%u asks for a protection information "
			"buffer per I/O; dmabuf_uring attaches none. Drop it, "
			"or use ioengine=io_uring", o->md_per_io_size);
	if (o->ro.uncached && c->att == &dbu_attach_kernel)
		return dbu_error(c, -EINVAL, "uncached with dmabuf_attach=kernel",
			"uncached applies to buffered I/O, and the kernel "
			"registers a dma-buf only for direct=1. Drop uncached");
	if (o->ro.uncached && o->direct)
		return dbu_error(c, -EINVAL, "uncached with direct=1",
			"uncached applies to buffered I/O only (fio's io_uring "
			"engine ignores it with direct=1). Drop one of them");
	if (o->ro.uncached && !o->dontcache)
		return dbu_error(c, -EOPNOTSUPP, "uncached",
			"the fio this engine is built for sets RWF_UNCACHED "
			"(0x40) for it, a flag Linux never merged: since 6.11 "
			"the kernel reads 0x40 as RWF_ATOMIC. fio 3.40 on sets "
			"RWF_DONTCACHE; build against one (scripts/setup "
			"--fio-debian sid) or drop uncached");
	return 0;
}

/* What fio's own options ask that this engine cannot do. */
static int check_job(struct dbu_ctx *c, const struct dbu_opts *o)
{
	if (o->mem_set)
		return dbu_error(c, -EINVAL, "mem/iomem",
			"dmabuf_uring allocates the I/O buffers itself, from "
			"dmabuf_src=%s; fio's mem=/iomem= cannot choose them. "
			"Drop mem=/iomem= (dmabuf_src=host is anonymous memory)",
			c->src);
	if (o->trim)
		return dbu_error(c, -EOPNOTSUPP, "rw=trim",
			"dmabuf_uring issues READ_FIXED and WRITE_FIXED only; "
			"a trim moves no buffer memory. Use ioengine=io_uring "
			"for trims, or rw=read/write/randrw");
	if (!o->depth)
		return dbu_error(c, -EINVAL, "iodepth", "iodepth=0");
	if (c->att == &dbu_attach_kernel && o->ro.hipri)
		return dbu_error(c, -EINVAL, "hipri with dmabuf_attach=kernel",
			"the io_uring dma-buf series (v5 on) refuses dma-buf "
			"registration on a polled (IOPOLL) ring. Drop hipri");
	if (c->att == &dbu_attach_kernel && !o->direct)
		return dbu_error(c, -EINVAL, "dmabuf_attach=kernel without "
			"direct=1",
			"the kernel registers a dma-buf only against a target "
			"opened with O_DIRECT. Add direct=1");
	return 0;
}

/* The CPU's part between the device's: what DMA_BUF_IOCTL_SYNC says. */
static unsigned int sync_dir(const struct dbu_opts *o)
{
	unsigned int dir = 0;

	if (o->reads)
		dir |= DMA_BUF_SYNC_READ;
	if (o->writes)
		dir |= DMA_BUF_SYNC_WRITE;
	return dir ? dir : DMA_BUF_SYNC_RW;
}

int dbu_config(struct dbu_ctx *c, const struct dbu_opts *o)
{
	int ret;

	c->job = o->job;
	c->src = o->src ? o->src : "";
	c->depth = o->depth;
	c->direct = o->direct;
	c->min_bs = o->min_bs;
	c->max_bs = o->max_bs;
	c->nr_files = o->nr_files;
	c->size_max = o->size_max;
	c->cpu_sync = o->cpu_sync;
	c->cpu_looks = o->cpu_looks;
	c->inject_fence = o->inject_fence;
	c->shadow_timed = o->shadow_timed;
	c->placement_any = o->placement_any;
	c->sync_dir = sync_dir(o);
	c->ro = o->ro;
	/* As in fio's io_uring engine: SQPOLL needs registered files. */
	c->ro.registerfiles = o->ro.registerfiles || o->ro.sqpoll;

	ret = check_counts(c, o);
	if (ret)
		return ret;
	c->eagain_max = o->eagain_max;
	c->watchdog_s = o->watchdog;
	c->ro.force_async = o->force_async;
	c->ro.sqpoll_cpu = o->sqpoll_cpu;
	ret = dbu_exporter_lookup(c, c->src);
	if (!ret)
		ret = dbu_attach_lookup(c, o->attach ? o->attach : "");
	if (!ret)
		ret = dbu_cpu_view_config(c, o->cpu_view);
	if (!ret)
		ret = check_uring(c, o);
	if (!ret)
		ret = check_job(c, o);
	return ret;
}

/*
 * Open the report file at job start: a path that cannot be written fails
 * the job before any I/O, rather than a result nobody can read.
 */
int dbu_report_open(struct dbu_ctx *c, const char *path)
{
	if (!path || !*path)
		return 0;
	c->report_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			    0644);
	if (c->report_fd < 0)
		return dbu_error(c, -errno, "opening the report file",
			"dmabuf_report=%s cannot be opened for appending. "
			"Check that its directory exists and is writable",
			path);
	return 0;
}
