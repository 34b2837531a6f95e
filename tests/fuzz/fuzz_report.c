// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the report writer: dbu_report_write() with a ctx whose strings
 * (source, attach, exporter, target, driver, IOMMU domain, probe verdict,
 * job names, errors recorded through dbu_error()), counters and slot table
 * come from the input, into a memfd; the line read back must be one valid
 * JSON object.  dbu_report_summary() gets a buffer of any size.
 *
 * Input: NUL-separated fields: strings src attach exp_name cpu_view target
 * target_driver iommu_domain uapi_probe job fio_version engine_version;
 * numbers jobnum failed uapi_errno depth ring-bools force_async ios
 * eagain_reissues bounce_bytes bounce_ns cpu_syncs cpu_unbracketed
 * io_errors summary_len nr_slots nr_errors; then per slot size and
 * first_io_ns, per error errno, what, detail.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbu.h"
#include "fuzz.h"

#define SLOTS_FUZZ_MAX	1024
#define ERRORS_FUZZ_MAX	(2 * DBU_ERRORS_MAX + 2)

static int report_fd = -1;

static void set(char *dst, size_t size, const char *val)
{
	snprintf(dst, size, "%s", val);
}

static void check_report(int fd)
{
	struct stat st;
	char *text;

	FZ_ASSERT(!fstat(fd, &st) && st.st_size > 0);
	text = malloc(st.st_size);
	if (!text)
		abort();
	FZ_ASSERT(pread(fd, text, st.st_size, 0) == st.st_size);
	if (!json_line_check(text, st.st_size)) {
		fprintf(stderr, "invalid JSON line: %.*s\n", (int)st.st_size,
			text);
		abort();
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbu_report_job j = { 0 };
	unsigned int i, n, bools;
	struct dbu_ctx c;
	size_t sum_len;
	char *summary;
	struct fz f;
	char *src;

	if (report_fd < 0) {
		report_fd = memfd_create("fuzz_report", MFD_CLOEXEC);
		FZ_ASSERT(report_fd >= 0);
	}
	FZ_ASSERT(!ftruncate(report_fd, 0) &&
		  lseek(report_fd, 0, SEEK_SET) == 0);

	fz_init(&f, data, size);
	dbu_ctx_init(&c);
	c.report_fd = report_fd;
	src = fz_str(&f);
	c.src = src;
	dbu_exporter_lookup(&c, src);		/* sets exp: its placement */
	dbu_attach_lookup(&c, fz_str(&f));
	set(c.exp_name, sizeof(c.exp_name), fz_str(&f));
	c.cpu_view = fz_str(&f);
	set(c.target, sizeof(c.target), fz_str(&f));
	set(c.target_driver, sizeof(c.target_driver), fz_str(&f));
	set(c.iommu_domain, sizeof(c.iommu_domain), fz_str(&f));
	set(c.uapi_probe, sizeof(c.uapi_probe), fz_str(&f));
	j.job = fz_str(&f);
	j.fio_version = fz_str(&f);
	j.engine_version = fz_str(&f);
	j.jobnum = (int)fz_num(&f);
	j.failed = fz_num(&f) & 1;
	c.uapi_errno = (int)fz_num(&f);
	c.depth = (unsigned int)fz_num(&f);
	bools = (unsigned int)fz_num(&f);
	c.ro.hipri = bools & 1;
	c.ro.sqpoll = bools & 2;
	c.ro.registerfiles = bools & 4;
	c.ro.nowait = bools & 8;
	c.cpu_sync = bools & 16;
	c.ro.force_async = (unsigned int)fz_num(&f);
	c.ios = fz_num(&f);
	c.eagain_reissues = fz_num(&f);
	c.bounce_bytes = fz_num(&f);
	c.bounce_ns = fz_num(&f);
	c.cpu_syncs = fz_num(&f);
	c.cpu_unbracketed = fz_num(&f);
	c.io_errors = fz_num(&f);
	sum_len = (size_t)fz_num(&f) % 2048;

	c.nr_slots = (unsigned int)fz_num(&f) % (SLOTS_FUZZ_MAX + 1);
	n = (unsigned int)fz_num(&f) % (ERRORS_FUZZ_MAX + 1);
	c.slots = c.nr_slots ? calloc(c.nr_slots, sizeof(*c.slots)) : NULL;
	if (c.nr_slots && !c.slots)
		abort();
	for (i = 0; i < c.nr_slots; i++) {
		c.slots[i].dmabuf_fd = -1;
		c.slots[i].size = (size_t)fz_num(&f);
		c.slots[i].first_io_ns = fz_num(&f);
	}
	for (i = 0; i < n; i++) {
		int err = (int)fz_num(&f);
		const char *what = fz_str(&f);

		dbu_error(&c, err, what, "%s", fz_str(&f));
	}

	FZ_ASSERT(dbu_report_write(&c, &j) == 0);
	check_report(report_fd);

	summary = malloc(sum_len ? sum_len : 1);
	if (!summary)
		abort();
	dbu_report_summary(&c, j.failed, summary, sum_len);
	if (sum_len)
		FZ_ASSERT(memchr(summary, '\0', sum_len));
	free(summary);
	free(c.slots);
	fz_free(&f);
	return 0;
}
