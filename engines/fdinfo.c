// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: where a DRM driver says a client's memory is.
 *
 * DRM fdinfo (Documentation/gpu/drm-usage-stats.rst) lists per region the
 * memory of the client's objects.  What is resident in a region is what
 * says where memory is: "drm-memory-<region>: <n> [KiB|MiB]" (older
 * kernels, amdgpu) or "drm-resident-<region>: ..." (drm_print_memory_stats,
 * whose drm-total-* counts objects by where they would like to be).  Read
 * at open, after export and after the run: what "placement" reports and
 * what amdgpu's VRAM check compares.  The counts are the DRM client's,
 * every object of the fd, not one buffer's.
 */
#include <stdio.h>
#include <string.h>

#include "dbu.h"

/* "vram 64 MiB, gtt 4 KiB" (resident) from fdinfo; returns how many. */
int dbu_fdinfo_regions(FILE *f, char *buf, size_t len)
{
	char line[256], name[64], unit[16];
	unsigned long long val;
	size_t pos = 0;
	int n = 0;

	buf[0] = '\0';
	while (fgets(line, sizeof(line), f) && pos < len) {
		unit[0] = '\0';
		if (sscanf(line, "drm-memory-%63[^:]: %llu %15s", name, &val,
			   unit) < 2 &&
		    sscanf(line, "drm-resident-%63[^:]: %llu %15s", name, &val,
			   unit) < 2)
			continue;
		pos += snprintf(buf + pos, len - pos, "%s%s %llu %s",
				n ? ", " : "", name, val, unit[0] ? unit : "B");
		n++;
	}
	return n;
}

int dbu_fdinfo_memory(int fd, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	int n;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = dbu_fdinfo_regions(f, buf, len);
	fclose(f);
	return n;
}

/* Bytes of one region in dbu_fdinfo_regions()' text; -1: not there. */
long long dbu_region_bytes(const char *regions, const char *name)
{
	size_t len = strlen(name);
	const char *p = regions;
	unsigned long long n;
	char unit[8];

	while (p && *p) {
		if (!strncmp(p, name, len) && p[len] == ' ' &&
		    sscanf(p + len + 1, "%llu %7[A-Za-z]", &n, unit) == 2) {
			if (!strcmp(unit, "KiB"))
				return n << 10;
			if (!strcmp(unit, "MiB"))
				return n << 20;
			if (!strcmp(unit, "GiB"))
				return n << 30;
			return n;
		}
		p = strstr(p, ", ");
		p = p ? p + 2 : NULL;
	}
	return -1;
}
