// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdinfo.c: the DRM fdinfo resident memory per region, as amdgpu
 * (drm-memory-*, KiB) and drm_print_memory_stats (drm-resident-*, with or
 * without a unit; its drm-total-* is not residency) print them, and the bytes of one region: what amdgpu's VRAM check compares.
 * Exit 0 pass, 1 fail.
 */
#include <stdio.h>
#include <string.h>

#include "dbu.h"

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "%s:%d: %s\n", \
	__FILE__, __LINE__, #x); return 1; } } while (0)

static int regions(const char *text, char *buf, size_t len)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int n = f ? dbu_fdinfo_regions(f, buf, len) : -1;

	if (f)
		fclose(f);
	return n;
}

int main(void)
{
	char buf[160];

	/* amdgpu, 6.x: drm-memory-* in KiB, among other keys */
	CHECK(regions("pos:\t0\nflags:\t02100002\ndrm-driver:\tamdgpu\n"
		      "drm-pdev:\t0000:03:00.0\ndrm-client-id:\t42\n"
		      "drm-memory-vram:\t65536 KiB\ndrm-memory-gtt: \t4 KiB\n"
		      "drm-memory-cpu: \t0 KiB\namd-memory-visible-vram:\t"
		      "65536 KiB\n", buf, sizeof(buf)) == 3);
	CHECK(!strcmp(buf, "vram 65536 KiB, gtt 4 KiB, cpu 0 KiB"));
	CHECK(dbu_region_bytes(buf, "vram") == 64 << 20);
	CHECK(dbu_region_bytes(buf, "gtt") == 4096);
	CHECK(dbu_region_bytes(buf, "cpu") == 0);
	CHECK(dbu_region_bytes(buf, "vra") == -1);
	CHECK(dbu_region_bytes(buf, "stolen") == -1);
	/* drm_print_memory_stats: drm-resident-*, a bare count is bytes */
	CHECK(regions("drm-driver:\ti915\ndrm-total-system0:\t8192\n"
		      "drm-shared-system0:\t0\ndrm-resident-system0:\t8192\n"
		      "drm-total-local0:\t4 MiB\n"
		      "drm-resident-local0:\t2 MiB\n", buf, sizeof(buf)) == 2);
	CHECK(!strcmp(buf, "system0 8192 B, local0 2 MiB"));
	CHECK(dbu_region_bytes(buf, "system0") == 8192);
	CHECK(dbu_region_bytes(buf, "local0") == 2 << 20);
	/* vgem: no memory keys */
	CHECK(regions("pos:\t0\nflags:\t02\ndrm-driver:\tvgem\n", buf,
		      sizeof(buf)) == 0);
	CHECK(!buf[0] && dbu_region_bytes(buf, "vram") == -1);
	/* a short buffer stays terminated */
	CHECK(regions("drm-memory-vram: 1 KiB\ndrm-memory-gtt: 2 KiB\n", buf,
		      8) >= 1);
	CHECK(memchr(buf, '\0', 8));
	puts("fdinfo_regions: ok");
	return 0;
}
