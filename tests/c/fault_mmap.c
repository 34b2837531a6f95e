// SPDX-License-Identifier: GPL-2.0-only
/*
 * LD_PRELOAD shim: make one MAP_FIXED mmap fail and catch double munmaps.
 *
 *   DBU_FAULT_MMAP_FIXED=N   the Nth mmap() with MAP_FIXED fails, ENOMEM
 *
 * Every munmap() of a range that was unmapped before and not mapped again
 * since prints "fault_mmap: munmap of an unmapped range ADDR+LEN" on
 * stderr: in thread mode such a range may be another job's memory.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define RANGES	256

static struct { uintptr_t lo, hi; } gone[RANGES];
static unsigned int nr_gone, nr_fixed;

static void forget(uintptr_t lo, uintptr_t hi)
{
	unsigned int i;

	for (i = 0; i < nr_gone; i++)
		if (gone[i].lo < hi && lo < gone[i].hi)
			gone[i] = gone[--nr_gone], i--;
}

/* The engine is built with _FILE_OFFSET_BITS=64: its mmap is mmap64. */
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	const char *n = getenv("DBU_FAULT_MMAP_FIXED");
	void *p;

	if (!real)
		real = dlsym(RTLD_NEXT, "mmap64");
	if ((flags & MAP_FIXED) && n && ++nr_fixed == strtoul(n, NULL, 0)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	p = real(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED)
		forget((uintptr_t)p, (uintptr_t)p + len);
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap64(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
	static int (*real)(void *, size_t);
	uintptr_t lo = (uintptr_t)addr, hi = lo + len;
	unsigned int i;

	if (!real)
		real = dlsym(RTLD_NEXT, "munmap");
	for (i = 0; i < nr_gone; i++)
		if (gone[i].lo <= lo && lo < gone[i].hi)
			fprintf(stderr, "fault_mmap: munmap of an unmapped "
				"range %#lx+%zu\n", (unsigned long)lo, len);
	forget(lo, hi);
	if (nr_gone < RANGES) {
		gone[nr_gone].lo = lo;
		gone[nr_gone++].hi = hi;
	}
	return real(addr, len);
}
