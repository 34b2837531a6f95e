// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: the per-job report (design.md section 6).
 *
 * One JSON object per job, on one line, appended to the dmabuf_report file
 * with a single write(): jobs of one run (threads or processes) share the
 * file, and the scripts read it as JSON Lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "dbu.h"

static void json_quote(FILE *f, const char *val)
{
	const unsigned char *p = (const unsigned char *)(val ? val : "");

	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void json_str(FILE *f, const char *key, const char *val)
{
	fprintf(f, "\"%s\":", key);
	json_quote(f, val);
	fputc(',', f);
}

static void json_u64(FILE *f, const char *key, unsigned long long val)
{
	fprintf(f, "\"%s\":%llu,", key, val);
}

static void json_bool(FILE *f, const char *key, bool val)
{
	fprintf(f, "\"%s\":%s,", key, val ? "true" : "false");
}

static void read_cmdline(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cmdline", "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static void report_slots(FILE *f, const struct dbu_ctx *c)
{
	unsigned int i;

	fputs("\"buffers\":[", f);
	for (i = 0; i < c->nr_slots; i++)
		fprintf(f, "%s%zu", i ? "," : "", c->slots[i].size);
	fputs("],\"first_io_ns\":[", f);
	for (i = 0; i < c->nr_slots; i++)
		fprintf(f, "%s%lld", i ? "," : "",
			(long long)c->slots[i].first_io_ns);
	fputs("],", f);
}

static void report_ring(FILE *f, const struct dbu_ctx *c)
{
	fputs("\"ring\":{", f);
	json_u64(f, "iodepth", c->depth);
	json_bool(f, "hipri", c->ro.hipri);
	json_bool(f, "sqthread_poll", c->ro.sqpoll);
	json_bool(f, "registerfiles", c->ro.registerfiles);
	json_bool(f, "nowait", c->ro.nowait);
	json_bool(f, "uncached", c->ro.uncached);
	json_bool(f, "registered_ring", c->ring_registered);
	fprintf(f, "\"force_async\":%u},", c->ro.force_async);
}

static void report_errors(FILE *f, const struct dbu_ctx *c)
{
	char buf[1024];
	unsigned int i, n = c->nr_errors < DBU_ERRORS_MAX ? c->nr_errors :
			    DBU_ERRORS_MAX;

	json_u64(f, "io_errors", c->io_errors);
	json_u64(f, "errors_total", c->nr_errors);
	fputs("\"errors\":[", f);
	for (i = 0; i < n; i++) {
		dbu_error_format(&c->errors[i], buf, sizeof(buf));
		if (i)
			fputc(',', f);
		json_quote(f, buf);
	}
	fputs("],", f);
}

static void report_body(FILE *f, struct dbu_ctx *c,
			const struct dbu_report_job *j)
{
	char buf[4096];
	struct utsname u;

	json_str(f, "job", j->job);
	json_u64(f, "jobnum", j->jobnum);
	json_str(f, "engine_version", j->engine_version);
	json_str(f, "fio_version", j->fio_version);
	uname(&u);
	json_str(f, "kernel", u.release);
	read_cmdline(buf, sizeof(buf));
	json_str(f, "cmdline", buf);
	json_str(f, "source", c->src);
	json_str(f, "attach", c->att ? c->att->name : NULL);
	json_str(f, "exporter", c->exp_name[0] ? c->exp_name : "none");
	report_slots(f, c);
	json_str(f, "cpu_view", c->cpu_view);
	json_bool(f, "cpu_sync", c->cpu_sync);
	buf[0] = '\0';
	if (c->exp && c->exp->placement)
		c->exp->placement(c, buf, sizeof(buf));
	json_str(f, "placement", buf);
	json_str(f, "sqe_ops", c->per_io_pin ? "READ/WRITE" :
		 "READ_FIXED/WRITE_FIXED");
	json_str(f, "target", c->target);
	json_str(f, "target_driver", c->target_driver);
	json_str(f, "iommu_domain", c->iommu_domain);
	json_str(f, "uapi_probe", c->uapi_probe);
	json_u64(f, "uapi_errno", c->uapi_errno < 0 ?
		 -(long long)c->uapi_errno : c->uapi_errno);
	report_ring(f, c);
	json_u64(f, "ios", c->ios);
	json_u64(f, "prio_ios", c->prio_ios);
	json_u64(f, "eagain_reissues", c->eagain_reissues);
	json_u64(f, "bounce_bytes", c->bounce_bytes);
	json_u64(f, "bounce_ns", c->bounce_ns);
	json_u64(f, "cpu_syncs", c->cpu_syncs);
	json_u64(f, "cpu_unbracketed", c->cpu_unbracketed);
	json_u64(f, "shadow_copies", c->shadow_copies);
	json_u64(f, "shadow_bytes", c->shadow_bytes);
	json_u64(f, "shadow_ns", c->shadow_ns);
	json_bool(f, "shadow_timed", c->shadow && c->shadow_timed);
	report_errors(f, c);
	fputs("\"result\":", f);
	json_quote(f, j->failed ? "failed" : "ok");
}

/* The report file was opened at job start (dbu_report_open). */
int dbu_report_write(struct dbu_ctx *c, const struct dbu_report_job *j)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	int ret = 0;

	if (c->report_fd < 0)
		return 0;
	mem = open_memstream(&text, &len);
	if (!mem)
		return -ENOMEM;
	fputc('{', mem);
	report_body(mem, c, j);
	fputs("}\n", mem);
	fclose(mem);

	if (!text)
		return -ENOMEM;
	if (write(c->report_fd, text, len) != (ssize_t)len)
		ret = errno ? -errno : -EIO;
	free(text);
	return ret;
}

/* One line for stderr at job end: what really ran. */
void dbu_report_summary(struct dbu_ctx *c, bool failed, char *buf,
			size_t len)
{
	const char *exp = c->exp_name[0] ? c->exp_name : "none";
	size_t size = c->nr_slots ? c->slots[0].size : 0;

	snprintf(buf, len, "source=%s exporter=%s attach=%s cpu_view=%s "
		 "buffers=%ux%zu target=%s driver=%s iommu=%s uapi_probe=%s "
		 "ios=%llu eagain_reissues=%llu bounce_bytes=%llu%s",
		 c->src ? c->src : "?", exp, c->att ? c->att->name : "?",
		 c->cpu_view, c->nr_slots, size,
		 c->target[0] ? c->target : "none", c->target_driver,
		 c->iommu_domain, c->uapi_probe,
		 (unsigned long long)c->ios,
		 (unsigned long long)c->eagain_reissues,
		 (unsigned long long)c->bounce_bytes,
		 failed ? " FAILED" : "");
}
