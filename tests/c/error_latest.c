// SPDX-License-Identifier: GPL-2.0-only
/*
 * error.c: the latest error is the one printed; the first DBU_ERRORS_MAX
 * are kept for the report, and all are counted.  Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbu.h"

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "%s:%d: %s\n", \
	__FILE__, __LINE__, #x); return 1; } } while (0)

int main(void)
{
	struct dbu_ctx *c = calloc(1, sizeof(*c));
	char msg[1024];
	unsigned int i;

	CHECK(c);
	CHECK(dbu_error(c, EINVAL, "first", "cause %d", 1) == -EINVAL);
	CHECK(dbu_error(c, -EIO, "second", "cause %d", 2) == -EIO);
	dbu_error_format(&c->error, msg, sizeof(msg));
	CHECK(!strcmp(msg, "second: Input/output error (EIO). cause 2."));
	dbu_error_format(&c->errors[0], msg, sizeof(msg));
	CHECK(!strcmp(msg, "first: Invalid argument (EINVAL). cause 1."));
	for (i = 0; i < 2 * DBU_ERRORS_MAX; i++)
		dbu_error(c, -ENOSPC, "more", "%u", i);
	CHECK(c->nr_errors == 2 + 2 * DBU_ERRORS_MAX);
	CHECK(!strcmp(c->errors[DBU_ERRORS_MAX - 1].what, "more"));
	CHECK(!strcmp(c->error.detail, "31") || DBU_ERRORS_MAX != 16);
	dbu_error(c, -EMFILE, "opening x", "y");
	CHECK(strstr(c->error.detail, "y. The process is out of file "
		     "descriptors: RLIMIT_NOFILE is "));
	puts("error_latest: ok");
	free(c);
	return 0;
}
