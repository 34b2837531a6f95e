// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the dmabuf_src parser: dbu_exporter_lookup() on the whole input as
 * one string, then, for the "host" source only, its ->open argument check
 * (the other exporters' ->open opens device nodes), and every exporter's
 * ->placement phrase, which reads only the parsed argument; and the PCI
 * address parser of vfio and p2pmem, which must write a full address or
 * refuse.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbu.h"
#include "fuzz.h"

extern const struct dbu_exporter dbu_exp_host;

/* A parsed address is "dddd:bb:dd.f", BAR -1 or 0..5. */
static void check_pci(const char *arg)
{
	char bdf[DBU_BDF_LEN];
	unsigned int dom, bus, dev, fn;
	int n = 7, used = 0;

	memset(bdf, 'x', sizeof(bdf));
	if (dbu_pci_parse(arg, bdf, &n))
		return;
	FZ_ASSERT(strlen(bdf) == 12 && n >= -1 && n <= 5);
	FZ_ASSERT(sscanf(bdf, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn,
			 &used) == 4 && used == 12 && dev <= 0x1f && fn <= 7);
	if (!dbu_pci_parse(arg, bdf, NULL))
		FZ_ASSERT(n == -1);
}

static void check_error(const struct dbu_ctx *c, int ret)
{
	char buf[1024];

	FZ_ASSERT(ret < 0);
	FZ_ASSERT(c->error.err == ret);
	FZ_ASSERT(memchr(c->error.what, '\0', sizeof(c->error.what)));
	FZ_ASSERT(memchr(c->error.detail, '\0', sizeof(c->error.detail)));
	dbu_error_format(&c->error, buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char place[256];
	struct dbu_ctx c;
	char *src;
	int ret;

	/* Exactly sized: a read past the terminator is an ASan report. */
	src = malloc(size + 1);
	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';

	check_pci(src);
	dbu_ctx_init(&c);
	ret = dbu_exporter_lookup(&c, src);
	if (ret) {
		check_error(&c, ret);
		FZ_ASSERT(c.nr_errors == 1 && !c.exp);
		goto out;
	}
	FZ_ASSERT(c.exp && c.exp->name && c.src == src);
	FZ_ASSERT(!strncmp(src, c.exp->name, strlen(c.exp->name)));
	if (c.src_arg) {
		FZ_ASSERT(c.src_arg > src && c.src_arg <= src + strlen(src));
		FZ_ASSERT(c.src_arg[-1] == ':');
		FZ_ASSERT(c.src_arg - 1 == src + strlen(c.exp->name));
	} else {
		FZ_ASSERT(!strcmp(src, c.exp->name));
	}
	if (c.exp->placement) {
		c.exp->placement(&c, place, sizeof(place));
		FZ_ASSERT(memchr(place, '\0', sizeof(place)));
	}
	if (c.exp == &dbu_exp_host) {
		ret = c.exp->open(&c, c.src_arg);
		if (c.src_arg)
			check_error(&c, ret);
		else
			FZ_ASSERT(!ret && !c.nr_errors);
	}
out:
	free(src);
	return 0;
}
