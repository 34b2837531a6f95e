// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: recorded errors.
 *
 * The code that knows why an operation failed records what was attempted
 * and the likely cause with what to try; the fio glue prints the latest
 * one once.  Every error is kept for the report (the first DBU_ERRORS_MAX
 * of them, and a count), so a later failure is never told with an
 * earlier one's words.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "dbu.h"

/* Out of descriptors: whatever was being opened, the cause is the limit. */
static void fd_limit_hint(struct dbu_error *e)
{
	size_t n = strlen(e->detail);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	snprintf(e->detail + n, sizeof(e->detail) - n,
		 ". The process is out of file descriptors: RLIMIT_NOFILE is "
		 "%llu (hard %llu), and the engine needs a few per dma-buf. "
		 "Try 'ulimit -n %llu' or fewer, larger dma-bufs "
		 "(dmabuf_size_max)", (unsigned long long)rl.rlim_cur,
		 (unsigned long long)rl.rlim_max,
		 (unsigned long long)rl.rlim_cur * 4 + 64);
}

int dbu_error(struct dbu_ctx *c, int err, const char *what,
	      const char *fmt, ...)
{
	struct dbu_error *e = &c->error;
	va_list ap;

	if (err > 0)
		err = -err;
	if (!err)
		err = -EIO;
	e->err = err;
	snprintf(e->what, sizeof(e->what), "%s", what);
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	if (err == -EMFILE)
		fd_limit_hint(e);
	if (c->nr_errors < DBU_ERRORS_MAX)
		c->errors[c->nr_errors] = *e;
	c->nr_errors++;
	return err;
}

/* The errno number of err, of either sign (INT_MIN has no positive twin). */
static int errno_of(int err)
{
	if (err == INT_MIN)
		return err;		/* "Unknown error -2147483648" */
	return err < 0 ? -err : err;
}

const char *dbu_errname(int err)
{
	const char *name = strerrorname_np(errno_of(err));

	return name ? name : "E?";
}

int64_t dbu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "<what>: <strerror> (<ERRNAME>). <cause, what to try>." */
void dbu_error_format(const struct dbu_error *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s: %s (%s). %s.", e->what,
		 strerror(errno_of(e->err)), dbu_errname(e->err), e->detail);
}
