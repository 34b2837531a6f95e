// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the error recorder and formatter: dbu_error() with arbitrary errno
 * values and what/detail strings (through "%s"), the EMFILE hint it
 * appends, more errors than DBU_ERRORS_MAX keeps, dbu_errname() and
 * dbu_error_format() into a buffer of any size.
 *
 * Input: NUL-separated fields: the format buffer size, then records of
 * mode, errno, what, detail (mode & 3: 1 -EMFILE, 2 EMFILE, else errno).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbu.h"
#include "fuzz.h"

#define RECORDS_MAX	(3 * DBU_ERRORS_MAX)

/* The first n bytes of what dbu_error() was given, as it keeps them. */
static void check_copy(const char *kept, size_t size, const char *given)
{
	size_t n = strlen(given);

	FZ_ASSERT(memchr(kept, '\0', size));
	if (n > size - 1)
		n = size - 1;
	FZ_ASSERT(!strncmp(kept, given, n));
}

static void check_format(const struct dbu_error *e, size_t len)
{
	char *buf = malloc(len ? len : 1);

	if (!buf)
		abort();
	dbu_error_format(e, buf, len);
	if (len) {
		FZ_ASSERT(memchr(buf, '\0', len));
		FZ_ASSERT(!strncmp(buf, e->what, strnlen(buf, len) <
				   strlen(e->what) ? strnlen(buf, len) :
				   strlen(e->what)));
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbu_error kept[DBU_ERRORS_MAX];
	struct dbu_ctx c;
	unsigned int i;
	size_t len;
	struct fz f;

	fz_init(&f, data, size);
	len = (size_t)fz_num(&f) % 4096;
	dbu_ctx_init(&c);
	for (i = 0; i < RECORDS_MAX && fz_more(&f); i++) {
		long long mode = fz_num(&f);
		int err = (int)fz_num(&f), want, ret;
		const char *what = fz_str(&f), *detail = fz_str(&f);

		if ((mode & 3) == 1)
			err = -EMFILE;
		else if ((mode & 3) == 2)
			err = EMFILE;
		FZ_ASSERT(dbu_errname(err));
		want = err > 0 ? -err : err ? err : -EIO;
		ret = dbu_error(&c, err, what, "%s", detail);
		FZ_ASSERT(ret < 0 && ret == want && c.error.err == ret);
		FZ_ASSERT(c.nr_errors == i + 1);
		check_copy(c.error.what, sizeof(c.error.what), what);
		check_copy(c.error.detail, sizeof(c.error.detail), detail);
		if (ret == -EMFILE &&
		    strlen(detail) + 2 < sizeof(c.error.detail))
			FZ_ASSERT(strstr(c.error.detail, "RLIMIT_NOFILE") ||
				  strlen(c.error.detail) ==
				  sizeof(c.error.detail) - 1);
		if (i < DBU_ERRORS_MAX)
			FZ_ASSERT(!memcmp(&c.errors[i], &c.error,
					  sizeof(c.error)));
		if (i == DBU_ERRORS_MAX - 1)
			memcpy(kept, c.errors, sizeof(kept));
		/* Beyond the table: counted, the first ones left alone. */
		if (i >= DBU_ERRORS_MAX)
			FZ_ASSERT(!memcmp(kept, c.errors, sizeof(kept)));
		check_format(&c.error, len);
	}
	fz_free(&f);
	return 0;
}
