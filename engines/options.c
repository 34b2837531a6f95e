// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: the option table, and what fio parsed into struct dbu_opts.
 *
 * Two parts.  The dmabuf_* options are this engine's own.  Then every option
 * of fio's io_uring engine, of the fio tree the engine is built against,
 * with the same name, type and default, so that an io_uring job becomes a
 * dma-buf job by its engine line alone:
 *
 *   same meaning   hipri, registerfiles, sqthread_poll, sqthread_poll_cpu,
 *                  nowait, force_async, uncached, the cmdprio options
 *                  (with fio's own cmdprio code), the PI options that only
 *                  matter with md_per_io_size
 *   always so      fixedbufs (every request is READ_FIXED/WRITE_FIXED),
 *                  nonvectored (those are never vectored)
 *   refused        md_per_io_size, and the io_uring_cmd (passthrough) ones,
 *                  when given a value other than their default (config.c)
 *
 * The build reads fio's engines/io_uring.c (cmake/fio-uring-opts.cmake) and
 * fails, at the DBU_KNOWS_ list below, on an option this file does not know.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbu_fio.h"
#include "optgroup.h"
#include "verify.h"
#include "dbu_fio_uring.h"

static int dbu_sqpoll_cpu_cb(void *data, unsigned long long *val)
{
	struct dbu_options *o = data;

	/* fio reads "-1" as a range and calls this for -1, then 1: keep it */
	if (!o->sqpoll_cpu_set || (long long)*val < 0)
		o->sqpoll_cpu = (long long)*val < 0 || *val > INT_MAX ? -1 :
				(int)*val;
	o->sqpoll_cpu_set = 1;
	return 0;
}

#define DBU_OPT(n, l, t, field, h)					\
	.name = n, .lname = l, .type = t,				\
	.off1 = offsetof(struct dbu_options, field), .help = h,		\
	.category = FIO_OPT_C_ENGINE, .group = FIO_OPT_G_IOURING

/* An io_uring_cmd option: any value fio takes reaches config.c's refusal. */
#define DBU_CMD_HELP "io_uring_cmd (passthrough) only: refused here unless "
#define DBU_CMD_OPT(n, l, t, field, d)					\
	{ DBU_OPT(n, l, t, field, DBU_CMD_HELP n "=" d), .def = d }

/* fio 3.33 spells the cmdprio options out; later ones have a macro. */
#ifdef CMDPRIO_OPTIONS
#define DBU_CMDPRIO_OPTIONS CMDPRIO_OPTIONS(struct dbu_options, \
					    FIO_OPT_G_IOURING)
#else
#define DBU_CMDPRIO_RW(n, l, field, h)					\
	DBU_OPT(n, l, FIO_OPT_INT, cmdprio_options.field[DDIR_READ], h),\
	.off2 = offsetof(struct dbu_options,				\
			 cmdprio_options.field[DDIR_WRITE])
#define DBU_CMDPRIO_OPTIONS						\
	{								\
		DBU_CMDPRIO_RW("cmdprio_percentage", "high priority "	\
			"percentage", percentage, "Send high priority I/O "\
			"this percentage of the time"),			\
		.minval = 0, .maxval = 100,				\
	},								\
	{								\
		DBU_CMDPRIO_RW("cmdprio_class", "Asynchronous I/O "	\
			"priority class", class, "Set asynchronous IO "	\
			"priority class"),				\
		.minval = IOPRIO_MIN_PRIO_CLASS + 1,			\
		.maxval = IOPRIO_MAX_PRIO_CLASS, .interval = 1,		\
	},								\
	{								\
		DBU_CMDPRIO_RW("cmdprio", "Asynchronous I/O priority "	\
			"level", level, "Set asynchronous IO priority level"),\
		.minval = IOPRIO_MIN_PRIO, .maxval = IOPRIO_MAX_PRIO,	\
		.interval = 1,						\
	},								\
	{								\
		DBU_OPT("cmdprio_bssplit", "Priority percentage block "	\
			"size split", FIO_OPT_STR_STORE,		\
			cmdprio_options.bssplit_str, "Set priority "	\
			"percentages for different block sizes"),	\
	}
#endif

struct fio_option dbu_fio_options[] = {
	{
		DBU_OPT("dmabuf_src", "dma-buf source", FIO_OPT_STR_STORE, src,
			"Who exports the buffer memory: udmabuf[:hugetlb], "
			"heap[:NAME], drm[:PATH], amdgpu[:PATH][:vram|gtt], "
			"cuda[:ORDINAL][:vmm] (libcuda loaded at job start), "
			"vfio:BDF[:BAR] (a PCI BAR of a vfio-pci device, MMIO), "
			"p2pmem:BDF (P2PDMA pages, pages attach only), host "
			"(anonymous memory, no dma-buf)"),
		.def	= "udmabuf",
	},
	{
		DBU_OPT("dmabuf_attach", "dma-buf attach mode", FIO_OPT_STR_STORE,
			attach,
			"How io_uring reaches the memory: kernel (register the "
			"dma-buf through the io_uring dma-buf series), pages "
			"(register its CPU pages as fixed buffers), bounce "
			"(host fixed buffers plus a copy)"),
		.def	= "kernel",
	},
	{
		DBU_OPT("dmabuf_size_max", "largest dma-buf", FIO_OPT_STR_VAL,
			size_max,
			"Largest single dma-buf; the buffer area is split into "
			"one dma-buf per registered slot (0: 1 GiB, or less if "
			"the exporter's own limit is lower)"),
		.def	= "0",
	},
	{
		DBU_OPT("dmabuf_report", "per-job report file", FIO_OPT_STR_STORE,
			report,
			"Append one JSON line per job to this file: what memory, "
			"where it lives, how it was attached, what happened"),
	},
	{
		DBU_OPT("dmabuf_eagain_max", "-EAGAIN reissues", FIO_OPT_INT,
			eagain_max,
			"Reissues allowed per request on -EAGAIN before it fails"),
		.def	= "16",
	},
	{
		DBU_OPT("dmabuf_watchdog", "watchdog seconds", FIO_OPT_INT,
			watchdog,
			"Abort the job with a diagnostic when nothing completes "
			"for this many seconds (0: never)"),
		.def	= "60",
	},
	{
		DBU_OPT("dmabuf_cpu_sync", "bracket CPU access", FIO_OPT_BOOL,
			cpu_sync,
			"Bracket CPU access with DMA_BUF_IOCTL_SYNC so the CPU "
			"view is coherent for fio. Per I/O only when fio looks at "
			"the bytes (verify; writes it fills or scrambles): a slot "
			"leaves CPU access when its first I/O goes out and "
			"returns when the device owns nothing in it (one slot "
			"per io_u, dmabuf_size_max=bs, brackets every I/O); "
			"otherwise once a slot, after fio's initial fill. 0: "
			"never; then bounce brackets each of its copies, the "
			"cost a bounce user pays"),
		.def	= "1",
	},
	{
		DBU_OPT("dmabuf_cpu_view", "how fio sees the memory",
			FIO_OPT_STR_STORE, cpu_view,
			"auto: shadow where the exporter has no CPU mapping "
			"(cuda), else mmap. mmap: fio's buffers are the "
			"exporter's CPU mapping of the memory. shadow: fio's "
			"buffers are host memory, filled from the memory after "
			"each read and copied into it before each write with "
			"the exporter's copy API or mapping (counted in the "
			"report; per I/O only when fio looks at the bytes)"),
		.def	= "auto",
	},
	{
		DBU_OPT("dmabuf_shadow_timed", "shadow copies timed",
			FIO_OPT_BOOL, shadow_timed,
			"1: the cpu_view=shadow copies count in fio's latencies. "
			"0: they are kept out of them (reads copied after fio "
			"reads its completion clock, writes' submit time moved "
			"past the copy); bandwidth still pays for them"),
		.def	= "1",
	},
	{
		DBU_OPT("dmabuf_placement_any", "memory may move",
			FIO_OPT_BOOL, placement_any,
			"0: a job whose memory was asked for in one place "
			"(amdgpu:...:vram) fails when it is found elsewhere, "
			"after export or after the run. 1: it runs on, and the "
			"report's placement says where the memory was"),
		.def	= "0",
	},
	{
		DBU_OPT("dmabuf_inject_eagain", "inject -EAGAIN (testing)",
			FIO_OPT_INT, inject_eagain,
			"Testing: turn every Nth completion into -EAGAIN to "
			"exercise the reissue path (0: off)"),
		.def	= "0",
	},
	{
		DBU_OPT("dmabuf_inject_short", "inject short I/O (testing)",
			FIO_OPT_INT, inject_short,
			"Testing: report every Nth completion as half done so fio "
			"requeues the rest (0: off)"),
		.def	= "0",
	},
	{
		DBU_OPT("dmabuf_inject_fence", "inject a fence (testing)",
			FIO_OPT_BOOL, inject_fence,
			"Testing: attach a vgem write fence to every dma-buf of "
			"dmabuf_src=drm on vgem, so CPU access waits (vgem "
			"signals it after 10 s)"),
		.def	= "0",
	},

	{
		DBU_OPT("dmabuf_register_ring", "register the ring fd",
			FIO_OPT_BOOL, register_ring,
			"Register the ring's own fd (IORING_REGISTER_RING_FDS): "
			"each io_uring_enter skips the fd lookup. fio's io_uring "
			"engine does not, so 0 (the default) compares like for "
			"like with it"),
		.def	= "0",
	},

	/* fio's io_uring engine's, in its order */
	{
		DBU_OPT("hipri", "High Priority", FIO_OPT_STR_SET, hipri,
			"Use polled IO completions"),
	},
#ifdef DBU_FIO_URING_HAS_readfua
	DBU_CMD_OPT("readfua", "Read fua flag support", FIO_OPT_BOOL,
		    readfua, "0"),
#endif
#ifdef DBU_FIO_URING_HAS_writefua
	DBU_CMD_OPT("writefua", "Write fua flag support", FIO_OPT_BOOL,
		    writefua, "0"),
#endif
#ifdef DBU_FIO_URING_HAS_write_mode
	DBU_CMD_OPT("write_mode", "Write command type", FIO_OPT_STR_STORE,
		    write_mode, "write"),
#endif
#ifdef DBU_FIO_URING_HAS_verify_mode
	DBU_CMD_OPT("verify_mode", "Verify command type", FIO_OPT_STR_STORE,
		    verify_mode, "read"),
#endif
#ifndef CMDPRIO_OPTIONS
	DBU_CMDPRIO_OPTIONS,
#endif
	{
		DBU_OPT("fixedbufs", "Fixed (pre-mapped) IO buffers",
			FIO_OPT_STR_SET, fixedbufs,
			"Pre map IO buffers (always: every request is "
			"READ_FIXED or WRITE_FIXED)"),
	},
	{
		DBU_OPT("registerfiles", "Register file set", FIO_OPT_STR_SET,
			registerfiles, "Pre-open/register files"),
	},
	{
		DBU_OPT("sqthread_poll", "Kernel SQ thread polling",
			FIO_OPT_STR_SET, sqpoll,
			"Offload submission/completion to kernel thread"),
	},
	{
		DBU_OPT("sqthread_poll_cpu", "SQ Thread Poll CPU", FIO_OPT_INT,
			sqpoll_cpu, "What CPU to run SQ thread polling on"),
		.cb	= dbu_sqpoll_cpu_cb,
	},
	{
		DBU_OPT("nonvectored", "Non-vectored", FIO_OPT_INT, nonvectored,
			"Use non-vectored read/write commands (always: "
			"READ_FIXED and WRITE_FIXED are non-vectored)"),
		.def	= "-1",
	},
	{
		DBU_OPT("uncached", "Uncached", FIO_OPT_INT, uncached,
			"Use " DBU_RWF_UNCACHED_NAME " for buffered read/writes"),
	},
	{
		DBU_OPT("nowait", "RWF_NOWAIT", FIO_OPT_BOOL, nowait,
			"Use RWF_NOWAIT for reads/writes"),
	},
	{
		DBU_OPT("force_async", "Force async", FIO_OPT_INT, force_async,
			"Set IOSQE_ASYNC every N requests"),
	},
	DBU_CMD_OPT("cmd_type", "Uring cmd type", FIO_OPT_STR_STORE, cmd_type,
		    "nvme"),
#ifdef DBU_FIO_URING_HAS_cdb_len
	DBU_CMD_OPT("cdb_len", "SCSI CDB length", FIO_OPT_STR_STORE, cdb_len,
		    "0"),
#endif
#ifdef DBU_FIO_URING_HAS_verify_bytchk
	DBU_CMD_OPT("verify_bytchk", "SCSI VERIFY BYTCHK field",
		    FIO_OPT_STR_STORE, verify_bytchk, "0"),
#endif
#ifdef DBU_FIO_URING_HAS_read_mode
	DBU_CMD_OPT("read_mode", "Read command type", FIO_OPT_STR_STORE,
		    read_mode, "read"),
#endif
#ifdef CMDPRIO_OPTIONS
	DBU_CMDPRIO_OPTIONS,
#endif
#ifdef DBU_FIO_URING_HAS_md_per_io_size
	{
		DBU_OPT("md_per_io_size", "Separate Metadata Buffer Size per "
			"I/O", FIO_OPT_INT, md_per_io_size, "Size of separate "
			"metadata buffer per I/O (refused here unless 0)"),
		.def	= "0",
	},
	{
		DBU_OPT("pi_act", "Protection Information Action",
			FIO_OPT_BOOL, pi_act, "Protection Information Action "
			"bit (only with md_per_io_size)"),
		.def	= "1",
	},
	{
		DBU_OPT("pi_chk", "Protection Information Check",
			FIO_OPT_STR_STORE, pi_chk, "Control of Protection "
			"Information Checking (only with md_per_io_size)"),
	},
	{
		DBU_OPT("apptag", "Application Tag used in Protection "
			"Information", FIO_OPT_INT, apptag, "Application Tag "
			"(only with md_per_io_size)"),
		.def	= "0x1234",
	},
	{
		DBU_OPT("apptag_mask", "Application Tag Mask", FIO_OPT_INT,
			apptag_mask, "Application Tag Mask (only with "
			"md_per_io_size)"),
		.def	= "0xffff",
	},
#endif
#ifdef DBU_FIO_URING_HAS_deac
	DBU_CMD_OPT("deac", "Deallocate bit for write zeroes command",
		    FIO_OPT_BOOL, deac, "0"),
#endif
	{
		.name	= NULL,
	},
};

/*
 * Every option of fio's io_uring engine has an entry above.  A fio with a
 * new one stops the build here ("DBU_KNOWS_<name> undeclared"): give it an
 * entry, then its name below.
 */
enum {
	DBU_KNOWS_hipri = 1, DBU_KNOWS_readfua = 1, DBU_KNOWS_writefua = 1,
	DBU_KNOWS_write_mode = 1, DBU_KNOWS_verify_mode = 1,
	DBU_KNOWS_cmdprio_percentage = 1, DBU_KNOWS_cmdprio_class = 1,
	DBU_KNOWS_cmdprio_hint = 1, DBU_KNOWS_cmdprio = 1,
	DBU_KNOWS_cmdprio_bssplit = 1, DBU_KNOWS_fixedbufs = 1,
	DBU_KNOWS_registerfiles = 1, DBU_KNOWS_sqthread_poll = 1,
	DBU_KNOWS_sqthread_poll_cpu = 1, DBU_KNOWS_nonvectored = 1,
	DBU_KNOWS_uncached = 1, DBU_KNOWS_nowait = 1, DBU_KNOWS_force_async = 1,
	DBU_KNOWS_cmd_type = 1, DBU_KNOWS_cdb_len = 1,
	DBU_KNOWS_verify_bytchk = 1, DBU_KNOWS_read_mode = 1,
	DBU_KNOWS_md_per_io_size = 1, DBU_KNOWS_pi_act = 1,
	DBU_KNOWS_pi_chk = 1, DBU_KNOWS_apptag = 1, DBU_KNOWS_apptag_mask = 1,
	DBU_KNOWS_deac = 1,
	/* the engine names fio's table also holds */
	DBU_KNOWS_io_uring = 1, DBU_KNOWS_io_uring_cmd = 1,
};
#define DBU_KNOWN(n) _Static_assert(DBU_KNOWS_##n, #n);
DBU_FIO_URING_OPTS(DBU_KNOWN)

/*
 * The first io_uring_cmd option (DBU_CMD_OPT above) given a value other
 * than its default: strings, or bools and ints.
 */
static void dbu_cmd_only(const struct dbu_options *o, struct dbu_opts *p)
{
	const struct fio_option *f;

	for (f = dbu_fio_options; f->name; f++) {
		const char *field = (const char *)o + f->off1;

		if (strncmp(f->help, DBU_CMD_HELP, sizeof(DBU_CMD_HELP) - 1))
			continue;
		if (f->type == FIO_OPT_STR_STORE) {
			const char *val = *(char *const *)field;

			if (!val || !strcmp(val, f->def))
				continue;
			snprintf(p->cmd_only, sizeof(p->cmd_only), "%s=%s",
				 f->name, val);
		} else {
			unsigned int val = *(const unsigned int *)field;

			if (val == strtoul(f->def, NULL, 0))
				continue;
			snprintf(p->cmd_only, sizeof(p->cmd_only), "%s=%u",
				 f->name, val);
		}
		return;
	}
}

void dbu_opts_from(struct thread_data *td, struct dbu_opts *p)
{
	struct dbu_options *o = td->eo;

	memset(p, 0, sizeof(*p));
	p->src = o->src;
	p->attach = o->attach;
	p->report = o->report;
	p->size_max = o->size_max;
	p->eagain_max = o->eagain_max;
	p->watchdog = o->watchdog;
	p->cpu_sync = o->cpu_sync;
	p->cpu_view = o->cpu_view;
	p->shadow_timed = o->shadow_timed;
	p->placement_any = o->placement_any;
	p->inject_eagain = o->inject_eagain;
	p->inject_short = o->inject_short;
	p->inject_fence = o->inject_fence;
	p->ro.hipri = o->hipri;
	p->ro.sqpoll = o->sqpoll;
	p->ro.sqpoll_cpu_set = o->sqpoll_cpu_set;
	p->ro.registerfiles = o->registerfiles;
	p->ro.nowait = o->nowait;
	p->ro.uncached = o->uncached;
	p->ro.register_ring = o->register_ring;
	p->dontcache = DBU_RWF_UNCACHED == 0x80;
	p->force_async = o->force_async;
	p->sqpoll_cpu = o->sqpoll_cpu;
	dbu_cmd_only(o, p);
	p->md_per_io_size = o->md_per_io_size;
	p->mem_set = fio_option_is_set(&td->o, mem_type);
	p->job = td->o.name;
	p->direct = td->o.odirect;
	p->trim = td_trim(td);
	p->reads = td_read(td) || td->o.verify != VERIFY_NONE;
	p->writes = td_write(td);
	/* verify reads the bytes; writes are filled or scrambled per I/O */
	p->cpu_looks = td->o.verify != VERIFY_NONE ||
		       (td_write(td) && (td->o.refill_buffers ||
					 td->o.scramble_buffers ||
					 td->o.compress_percentage ||
					 td->o.dedupe_percentage));
	p->depth = td->o.iodepth;
	p->min_bs = td_min_bs(td);
	p->max_bs = td_max_bs(td);
	p->nr_files = td->o.nr_files;
}
