/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dmabuf_uring fuzzers: what the four libFuzzer targets share.
 *
 * An input is a list of fields separated by NUL bytes.  fz_str() hands out
 * the next field as its own exactly-sized allocation, so that AddressSanitizer
 * catches a read one byte past its end; fz_num() parses one with strtoll.
 * Missing fields are empty (0).  json_check() validates one report line.
 */
#ifndef DBU_FUZZ_H
#define DBU_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_ALLOCS_MAX	256

struct fz {
	const char *p;
	size_t n;
	char *allocs[FZ_ALLOCS_MAX];
	unsigned int nr_allocs;
	char empty[1];		/* handed out once the allocation table is full */
};

static inline void fz_init(struct fz *f, const uint8_t *data, size_t size)
{
	f->p = (const char *)data;
	f->n = size;
	f->nr_allocs = 0;
	f->empty[0] = '\0';
}

static inline bool fz_more(const struct fz *f)
{
	return f->n > 0;
}

static inline char *fz_str(struct fz *f)
{
	const char *sep = memchr(f->p, '\0', f->n);
	size_t len = sep ? (size_t)(sep - f->p) : f->n;
	char *s;

	if (f->nr_allocs == FZ_ALLOCS_MAX)
		return f->empty;
	s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, f->p, len);
	s[len] = '\0';
	f->allocs[f->nr_allocs++] = s;
	f->p += sep ? len + 1 : len;
	f->n -= sep ? len + 1 : len;
	return s;
}

static inline long long fz_num(struct fz *f)
{
	const char *sep = memchr(f->p, '\0', f->n);
	size_t len = sep ? (size_t)(sep - f->p) : f->n;
	char buf[32];

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, f->p, len);
	buf[len] = '\0';
	len = sep ? (size_t)(sep - f->p) + 1 : f->n;
	f->p += len;
	f->n -= len;
	return strtoll(buf, NULL, 0);
}

static inline void fz_free(struct fz *f)
{
	while (f->nr_allocs)
		free(f->allocs[--f->nr_allocs]);
}

/* A broken invariant: say which, then crash so libFuzzer keeps the input. */
#define FZ_ASSERT(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: invariant broken: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

/*
 * A minimal JSON validator (RFC 8259 grammar; bytes >= 0x80 are taken as
 * they are, since the report copies paths and names byte for byte).
 */
struct js {
	const char *p, *end;
	unsigned int depth;
};

static inline bool js_value(struct js *j);

static inline void js_ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static inline bool js_lit(struct js *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
		return false;
	j->p += n;
	return true;
}

static inline bool js_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F');
}

static inline bool js_string(struct js *j)
{
	int i;

	if (j->p >= j->end || *j->p != '"')
		return false;
	for (j->p++; j->p < j->end; j->p++) {
		unsigned char ch = *j->p;

		if (ch == '"') {
			j->p++;
			return true;
		}
		if (ch < 0x20)
			return false;	/* raw control character */
		if (ch != '\\')
			continue;
		if (++j->p >= j->end)
			return false;
		if (*j->p == 'u') {
			for (i = 0; i < 4; i++)
				if (++j->p >= j->end || !js_hex(*j->p))
					return false;
		} else if (!*j->p || !strchr("\"\\/bfnrt", *j->p)) {
			return false;
		}
	}
	return false;
}

static inline bool js_digits(struct js *j)
{
	const char *start = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start;
}

static inline bool js_number(struct js *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!js_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!js_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!js_digits(j))
			return false;
	}
	return true;
}

static inline bool js_members(struct js *j, char close, bool object)
{
	j->p++;
	js_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		if (object) {
			js_ws(j);
			if (!js_string(j))
				return false;
			js_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!js_value(j))
			return false;
		js_ws(j);
		if (j->p >= j->end)
			return false;
		if (*j->p == close) {
			j->p++;
			return true;
		}
		if (*j->p++ != ',')
			return false;
	}
}

static inline bool js_value(struct js *j)
{
	bool ok;

	js_ws(j);
	if (j->p >= j->end || j->depth > 64)
		return false;
	switch (*j->p) {
	case '{':
	case '[':
		j->depth++;
		ok = js_members(j, *j->p == '{' ? '}' : ']', *j->p == '{');
		j->depth--;
		return ok;
	case '"':
		return js_string(j);
	case 't':
		return js_lit(j, "true");
	case 'f':
		return js_lit(j, "false");
	case 'n':
		return js_lit(j, "null");
	default:
		return js_number(j);
	}
}

/* One JSON Lines record: an object, then exactly one '\n', nothing more. */
static inline bool json_line_check(const char *text, size_t len)
{
	struct js j = { .p = text, .end = text + len };

	if (!len || text[len - 1] != '\n' || memchr(text, '\n', len - 1))
		return false;
	if (text[0] != '{' || !js_value(&j))
		return false;
	return j.p == text + len - 1;
}

#endif
