// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: one recorded error per job.
 *
 * The code that knows why an operation failed records what was attempted
 * and the likely cause with what to try; the fio glue prints it once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dbu.h"

int dbu_error(struct dbu_ctx *c, int err, const char *what,
	      const char *fmt, ...)
{
	va_list ap;

	if (err > 0)
		err = -err;
	if (c->error.err)
		return err;
	c->error.err = err;
	snprintf(c->error.what, sizeof(c->error.what), "%s", what);
	va_start(ap, fmt);
	vsnprintf(c->error.detail, sizeof(c->error.detail), fmt, ap);
	va_end(ap);
	return err;
}

const char *dbu_errname(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	return name ? name : "E?";
}

int64_t dbu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "<what>: <strerror> (<ERRNAME>). <cause, what to try>." */
void dbu_error_format(const struct dbu_ctx *c, char *buf, size_t len)
{
	const struct dbu_error *e = &c->error;

	snprintf(buf, len, "%s: %s (%s). %s.", e->what, strerror(-e->err),
		 dbu_errname(e->err), e->detail);
}
