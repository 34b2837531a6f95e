// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the option checks: dbu_ctx_init() and dbu_config() on a struct
 * dbu_opts built from the input, then what the engine runs next at job
 * start where it opens no device: the pages/bounce ->check and the host
 * exporter's ->open (the kernel attach's check probes io_uring; skipped).
 *
 * Input: NUL-separated fields, strings src, attach, job, then the numbers
 * eagain_max watchdog inject_eagain force_async sqpoll_cpu depth nr_files
 * size_max min_bs max_bs md_per_io_size, a bitmask of the bools (cpu_sync
 * direct trim reads writes hipri sqpoll sqpoll_cpu_set registerfiles nowait
 * uncached mem_set shadow_timed placement_any), one of the strings that are
 * NULL (src attach job cpu_view), an io_uring_cmd "name=value" (cmd_only)
 * and dmabuf_cpu_view.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dbu.h"
#include "fuzz.h"

extern const struct dbu_exporter dbu_exp_host;

static void check_result(const struct dbu_ctx *c, const struct dbu_opts *o,
			 int ret)
{
	char buf[1024];

	if (ret) {
		FZ_ASSERT(ret < 0 && c->nr_errors >= 1);
		FZ_ASSERT(c->error.err == ret);
		FZ_ASSERT(memchr(c->error.what, '\0', sizeof(c->error.what)));
		FZ_ASSERT(memchr(c->error.detail, '\0',
				 sizeof(c->error.detail)));
		dbu_error_format(&c->error, buf, sizeof(buf));
		return;
	}
	/* Accepted: every documented refusal must have been made. */
	FZ_ASSERT(!c->nr_errors && c->exp && c->att);
	FZ_ASSERT(o->eagain_max >= 0 && o->watchdog >= 0);
	FZ_ASSERT(o->inject_eagain >= 0 && o->force_async >= 0);
	FZ_ASSERT(!o->ro.sqpoll_cpu_set || o->sqpoll_cpu >= 0);
	FZ_ASSERT(!o->trim && o->depth);
	FZ_ASSERT(c->eagain_max == (unsigned int)o->eagain_max);
	FZ_ASSERT(c->watchdog_s == (unsigned int)o->watchdog);
	FZ_ASSERT(c->ro.registerfiles == (o->ro.registerfiles ||
					  o->ro.sqpoll));
	FZ_ASSERT(c->sync_dir && c->depth == o->depth);
	FZ_ASSERT(!o->cmd_only[0] && !o->md_per_io_size && !o->mem_set);
	FZ_ASSERT(!o->ro.uncached || (!o->direct && c->att != &dbu_attach_kernel));
	if (c->att == &dbu_attach_kernel)
		FZ_ASSERT(o->direct && !o->ro.hipri);
	/* the view: shadow for memory the CPU cannot map, never for host */
	FZ_ASSERT(c->shadow == !strcmp(c->cpu_view, "shadow"));
	if (c->exp->flags & DBU_EXP_NOMAP)
		FZ_ASSERT(c->shadow);
	if (c->shadow)
		FZ_ASSERT((c->exp->flags & DBU_EXP_DMABUF) &&
			  ((c->exp->flags & DBU_EXP_NOMAP) ||
			   c->att != &dbu_attach_pages));
	if (o->cpu_view && !strcmp(o->cpu_view, "mmap"))
		FZ_ASSERT(!c->shadow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbu_opts o = { 0 };
	struct dbu_ctx c;
	unsigned long long bools, nulls;
	struct fz f;
	int ret;

	fz_init(&f, data, size);
	o.src = fz_str(&f);
	o.attach = fz_str(&f);
	o.job = fz_str(&f);
	o.eagain_max = (int)fz_num(&f);
	o.watchdog = (int)fz_num(&f);
	o.inject_eagain = (int)fz_num(&f);
	o.force_async = (int)fz_num(&f);
	o.sqpoll_cpu = (int)fz_num(&f);
	o.depth = (unsigned int)fz_num(&f);
	o.nr_files = (unsigned int)fz_num(&f);
	o.size_max = (unsigned long long)fz_num(&f);
	o.min_bs = (size_t)fz_num(&f);
	o.max_bs = (size_t)fz_num(&f);
	o.md_per_io_size = (unsigned int)fz_num(&f);
	bools = (unsigned long long)fz_num(&f);
	nulls = (unsigned long long)fz_num(&f);
	o.cpu_sync = bools & (1 << 0);
	o.direct = bools & (1 << 1);
	o.trim = bools & (1 << 2);
	o.reads = bools & (1 << 3);
	o.writes = bools & (1 << 4);
	o.ro.hipri = bools & (1 << 5);
	o.ro.sqpoll = bools & (1 << 6);
	o.ro.sqpoll_cpu_set = bools & (1 << 7);
	o.ro.registerfiles = bools & (1 << 8);
	o.ro.nowait = bools & (1 << 9);
	o.ro.uncached = bools & (1 << 10);
	o.mem_set = bools & (1 << 11);
	o.shadow_timed = bools & (1 << 12);
	o.placement_any = bools & (1 << 13);
	if (nulls & 1)
		o.src = NULL;
	if (nulls & 2)
		o.attach = NULL;
	if (nulls & 4)
		o.job = NULL;
	snprintf(o.cmd_only, sizeof(o.cmd_only), "%s", fz_str(&f));
	o.cpu_view = nulls & 8 ? NULL : fz_str(&f);

	dbu_ctx_init(&c);
	ret = dbu_config(&c, &o);
	check_result(&c, &o, ret);
	if (!ret && c.att != &dbu_attach_kernel) {
		ret = c.att->check(&c);
		if (!ret && c.exp == &dbu_exp_host)
			ret = c.exp->open(&c, c.src_arg);
		FZ_ASSERT(ret <= 0 && (!ret || c.error.err == ret));
	}
	fz_free(&f);
	return 0;
}
