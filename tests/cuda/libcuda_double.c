// SPDX-License-Identifier: GPL-2.0-only
/*
 * A TEST DOUBLE of libcuda.so.1: the CUDA driver API entry points that
 * dmabuf_src=cuda uses (include/dbu_cuda.h), and nothing else.  It is not
 * CUDA and knows no GPU.  "Device memory" is a memfd mapped into the
 * process; cuMemGetHandleForAddressRange makes a udmabuf of it where
 * /dev/udmabuf is there (a real dma-buf, e.g. in the rig), else hands out
 * the memfd itself (not a dma-buf; said so in the device name).  It proves
 * the engine's logic (call order, every error path, the report), never the
 * driver's: the gpu tier runs the real libcuda.
 *
 * Environment (all optional):
 *   DBU_CUDA_DOUBLE_LOG=FILE      append one line per call, and "held N" /
 *                                 "released N" per memory allocated / freed
 *   DBU_CUDA_DOUBLE_FAIL=SYM=N    SYM (cuInit, cuMemAlloc_v2, ...) returns N
 *   DBU_CUDA_DOUBLE_DEVICES=N     devices (1)
 *   DBU_CUDA_DOUBLE_DMABUF=0      CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED
 *   DBU_CUDA_DOUBLE_VERSION=N     cuDriverGetVersion (12080)
 *   DBU_CUDA_DOUBLE_MEMTYPE=N     CU_POINTER_ATTRIBUTE_MEMORY_TYPE (2)
 *   DBU_CUDA_DOUBLE_MISALIGN=1    cuMemAlloc returns 256 bytes into a page
 *   DBU_CUDA_DOUBLE_EXPORT=memfd  never a udmabuf
 *   DBU_CUDA_DOUBLE_DROP=htod|dtoh  that copy moves nothing, returns success
 *                                 (the silent no-op a verify must catch)
 *   DBU_CUDA_DOUBLE_VMM=0         CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_...
 *   DBU_CUDA_DOUBLE_RDMA=0        ..._GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED
 * The VMM entry points keep CUDA's rules the engine must follow: sizes a
 * multiple of the granularity (2 MiB), a mapping made accessible with
 * cuMemSetAccess before any copy, unmap before the range is freed.
 * Built with -DDOUBLE_OLD it lacks cuMemGetHandleForAddressRange: a driver
 * older than CUDA 11.7.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/udmabuf.h>

#include "dbu_cuda.h"

#define API __attribute__((visibility("default")))
#define CUDA_ERROR_INVALID_CONTEXT	201
#define MAX_ALLOCS	4096
#define PAGE		4096UL

#define GRAN		(2UL << 20)

static struct alloc {
	char *map;		/* the mapping; 0: free entry */
	size_t map_len;
	CUdeviceptr ptr;	/* what cuMemAlloc returned */
	size_t size;
	int memfd;
	int vmm;		/* 1: mapped by cuMemMap, 2: ... and accessible */
} allocs[MAX_ALLOCS];
static struct handle {
	int memfd;		/* -1: free entry */
	size_t size;
	int refs;		/* mappings of it */
	int released;
} handles[MAX_ALLOCS];
static int inited, ctx_refs;
static __thread int ctx_current;	/* current is per thread, as in CUDA */

static long env_num(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : def;
}

static void trace(const char *fmt, ...)
{
	const char *path = getenv("DBU_CUDA_DOUBLE_LOG");
	va_list ap;
	FILE *f;

	if (!path || !(f = fopen(path, "a")))
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

/* DBU_CUDA_DOUBLE_FAIL=sym=N: the injected result of sym, or 0. */
static CUresult injected(const char *sym)
{
	const char *v = getenv("DBU_CUDA_DOUBLE_FAIL");
	size_t n = strlen(sym);

	if (v && !strncmp(v, sym, n) && v[n] == '=')
		return (CUresult)strtol(v + n + 1, NULL, 0);
	return CUDA_SUCCESS;
}

#define ENTER(sym, need_ctx, ...)					\
	do {								\
		CUresult _r = injected(#sym);				\
		trace(#sym " " __VA_ARGS__);				\
		if (_r)							\
			return _r;					\
		if (!inited)						\
			return CUDA_ERROR_NOT_INITIALIZED;		\
		if ((need_ctx) && !ctx_current)				\
			return CUDA_ERROR_INVALID_CONTEXT;		\
	} while (0)

API CUresult cuInit(unsigned int flags)
{
	CUresult r = injected("cuInit");

	trace("cuInit %u", flags);
	if (r)
		return r;
	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	inited = 1;
	return env_num("DBU_CUDA_DOUBLE_DEVICES", 1) ? CUDA_SUCCESS :
						       CUDA_ERROR_NO_DEVICE;
}

API CUresult cuDriverGetVersion(int *version)
{
	trace("cuDriverGetVersion");
	*version = (int)env_num("DBU_CUDA_DOUBLE_VERSION", 12080);
	return injected("cuDriverGetVersion");
}

API CUresult cuGetErrorName(CUresult err, const char **name)
{
	static const struct { CUresult r; const char *n; } names[] = {
		{ 0, "CUDA_SUCCESS" },
		{ 1, "CUDA_ERROR_INVALID_VALUE" },
		{ 2, "CUDA_ERROR_OUT_OF_MEMORY" },
		{ 3, "CUDA_ERROR_NOT_INITIALIZED" },
		{ 34, "CUDA_ERROR_STUB_LIBRARY" },
		{ 35, "CUDA_ERROR_INSUFFICIENT_DRIVER" },
		{ 100, "CUDA_ERROR_NO_DEVICE" },
		{ 101, "CUDA_ERROR_INVALID_DEVICE" },
		{ 201, "CUDA_ERROR_INVALID_CONTEXT" },
		{ 801, "CUDA_ERROR_NOT_SUPPORTED" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].r == err) {
			*name = names[i].n;
			return CUDA_SUCCESS;
		}
	}
	*name = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuDeviceGetCount(int *count)
{
	ENTER(cuDeviceGetCount, 0, "");
	*count = (int)env_num("DBU_CUDA_DOUBLE_DEVICES", 1);
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGet(CUdevice *dev, int ordinal)
{
	ENTER(cuDeviceGet, 0, "%d", ordinal);
	if (ordinal < 0 || ordinal >= env_num("DBU_CUDA_DOUBLE_DEVICES", 1))
		return CUDA_ERROR_INVALID_DEVICE;
	*dev = ordinal;
	return CUDA_SUCCESS;
}

static int udmabuf_ok(void)
{
	const char *e = getenv("DBU_CUDA_DOUBLE_EXPORT");

	return !(e && !strcmp(e, "memfd")) && !access("/dev/udmabuf", W_OK);
}

API CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
	ENTER(cuDeviceGetName, 0, "%d", dev);
	snprintf(name, len, "dbu libcuda test double (%s)",
		 udmabuf_ok() ? "memfd + udmabuf" : "memfd, no dma-buf");
	return CUDA_SUCCESS;
}

API CUresult cuDeviceGetAttribute(int *val, int attr, CUdevice dev)
{
	ENTER(cuDeviceGetAttribute, 0, "%d %d", attr, dev);
	if (attr == CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED)
		*val = (int)env_num("DBU_CUDA_DOUBLE_DMABUF", 1);
	else if (attr == CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED)
		*val = (int)env_num("DBU_CUDA_DOUBLE_VMM", 1);
	else if (attr ==
		 CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED)
		*val = (int)env_num("DBU_CUDA_DOUBLE_RDMA", 1);
	else if (attr == CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WRITES_ORDERING)
		*val = CU_GPU_DIRECT_RDMA_WRITES_ORDERING_NONE;
	else
		return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice dev)
{
	ENTER(cuDevicePrimaryCtxRetain, 0, "%d", dev);
	ctx_refs++;
	*ctx = (CUcontext)(allocs + dev + 1);	/* any distinct pointer */
	return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	ENTER(cuDevicePrimaryCtxRelease_v2, 0, "%d", dev);
	if (!ctx_refs)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!--ctx_refs)
		ctx_current = 0;
	return CUDA_SUCCESS;
}

API CUresult cuCtxSetCurrent(CUcontext ctx)
{
	ENTER(cuCtxSetCurrent, 0, "");
	if (ctx && !ctx_refs)
		return CUDA_ERROR_INVALID_CONTEXT;
	ctx_current = ctx != NULL;
	return CUDA_SUCCESS;
}

API CUresult cuCtxSynchronize(void)
{
	ENTER(cuCtxSynchronize, 1, "");
	return CUDA_SUCCESS;
}

API CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t size)
{
	size_t skew = env_num("DBU_CUDA_DOUBLE_MISALIGN", 0) ? 256 : 0;
	struct alloc *a = NULL;
	int i;

	ENTER(cuMemAlloc_v2, 1, "%zu", size);
	for (i = 0; i < MAX_ALLOCS && !a; i++)
		if (!allocs[i].map)
			a = &allocs[i];
	if (!a || !size)
		return CUDA_ERROR_OUT_OF_MEMORY;
	a->map_len = (size + skew + PAGE - 1) / PAGE * PAGE;
	a->memfd = memfd_create("dbu-cuda-double", MFD_ALLOW_SEALING);
	if (a->memfd < 0 || ftruncate(a->memfd, a->map_len) ||
	    fcntl(a->memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		goto oom;
	a->map = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      a->memfd, 0);
	if (a->map == MAP_FAILED)
		goto oom;
	a->ptr = (CUdeviceptr)(uintptr_t)a->map + skew;
	a->size = size;
	*ptr = a->ptr;
	trace("held %zu", size);
	return CUDA_SUCCESS;
oom:
	if (a->memfd >= 0)
		close(a->memfd);
	a->map = NULL;
	return CUDA_ERROR_OUT_OF_MEMORY;
}

/* The allocation holding [ptr, ptr + len), or NULL. */
static struct alloc *find(CUdeviceptr ptr, size_t len)
{
	int i;

	for (i = 0; i < MAX_ALLOCS; i++) {
		struct alloc *a = &allocs[i];

		if (a->map && ptr >= a->ptr && len <= a->size &&
		    ptr - a->ptr <= a->size - len)
			return a;
	}
	return NULL;
}

API CUresult cuMemFree_v2(CUdeviceptr ptr)
{
	struct alloc *a;

	ENTER(cuMemFree_v2, 1, "");
	a = find(ptr, 0);
	if (!a || a->ptr != ptr || a->vmm)
		return CUDA_ERROR_INVALID_VALUE;
	munmap(a->map, a->map_len);
	close(a->memfd);
	a->map = NULL;
	trace("released %zu", a->size);
	return CUDA_SUCCESS;
}

API CUresult cuPointerGetAttribute(void *data, int attr, CUdeviceptr ptr)
{
	ENTER(cuPointerGetAttribute, 1, "%d", attr);
	if (attr != CU_POINTER_ATTRIBUTE_MEMORY_TYPE || !find(ptr, 0))
		return CUDA_ERROR_INVALID_VALUE;
	*(unsigned int *)data = env_num("DBU_CUDA_DOUBLE_MEMTYPE", 2);
	return CUDA_SUCCESS;
}

#ifndef DOUBLE_OLD
API CUresult cuMemGetHandleForAddressRange(void *handle, CUdeviceptr ptr,
					   size_t size, int type,
					   unsigned long long flags)
{
	struct udmabuf_create create;
	struct alloc *a;
	int dev, fd;

	ENTER(cuMemGetHandleForAddressRange, 1, "%zu %d %llu", size, type,
	      flags);
	a = find(ptr, size);
	if (!a || a->vmm == 1 || type != CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD ||
	    flags ||
	    ptr % PAGE || size % PAGE)
		return CUDA_ERROR_INVALID_VALUE;
	if (!udmabuf_ok()) {
		fd = fcntl(a->memfd, F_DUPFD_CLOEXEC, 0);
		trace("export memfd");
	} else {
		create = (struct udmabuf_create){
			.memfd = a->memfd, .flags = UDMABUF_FLAGS_CLOEXEC,
			.offset = (uintptr_t)ptr - (uintptr_t)a->map,
			.size = size,
		};
		dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
		fd = dev < 0 ? -1 : ioctl(dev, UDMABUF_CREATE, &create);
		if (dev >= 0)
			close(dev);
		trace("export udmabuf");
	}
	if (fd < 0)
		return CUDA_ERROR_NOT_SUPPORTED;
	*(int *)handle = fd;
	return CUDA_SUCCESS;
}
#endif

static int dropped(const char *which)
{
	const char *v = getenv("DBU_CUDA_DOUBLE_DROP");

	return v && !strcmp(v, which);
}

/* Memory a copy may touch: allocated, and mapped accessible if VMM. */
static int usable(CUdeviceptr ptr, size_t len)
{
	struct alloc *a = find(ptr, len);

	return a && a->vmm != 1;
}

API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t len)
{
	ENTER(cuMemcpyHtoD_v2, 1, "%zu", len);
	if (!usable(dst, len))
		return CUDA_ERROR_INVALID_VALUE;
	if (!dropped("htod"))
		memcpy((void *)(uintptr_t)dst, src, len);
	return CUDA_SUCCESS;
}

API CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t len)
{
	ENTER(cuMemcpyDtoH_v2, 1, "%zu", len);
	if (!usable(src, len))
		return CUDA_ERROR_INVALID_VALUE;
	if (!dropped("dtoh"))
		memcpy(dst, (void *)(uintptr_t)src, len);
	return CUDA_SUCCESS;
}

API CUresult cuFlushGPUDirectRDMAWrites(int target, int scope)
{
	ENTER(cuFlushGPUDirectRDMAWrites, 1, "%d %d", target, scope);
	return target == CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TARGET_CURRENT_CTX &&
	       scope == CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TO_OWNER ?
	       CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- the virtual memory management API */
static int prop_ok(const CUmemAllocationProp *prop)
{
	return prop->type == CU_MEM_ALLOCATION_TYPE_PINNED &&
	       prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE &&
	       prop->location.id >= 0 &&
	       prop->location.id < env_num("DBU_CUDA_DOUBLE_DEVICES", 1) &&
	       !prop->win32HandleMetaData &&
	       (!prop->allocFlags.gpuDirectRDMACapable ||
		env_num("DBU_CUDA_DOUBLE_RDMA", 1));
}

API CUresult cuMemGetAllocationGranularity(size_t *gran,
					   const CUmemAllocationProp *prop,
					   int option)
{
	ENTER(cuMemGetAllocationGranularity, 0, "%d", option);
	if (!prop_ok(prop) || !env_num("DBU_CUDA_DOUBLE_VMM", 1))
		return CUDA_ERROR_INVALID_VALUE;
	*gran = GRAN;
	return CUDA_SUCCESS;
}

API CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t size,
			 const CUmemAllocationProp *prop,
			 unsigned long long flags)
{
	int i;

	ENTER(cuMemCreate, 1, "%zu rdma=%u", size,
	      prop->allocFlags.gpuDirectRDMACapable);
	if (!prop_ok(prop) || flags || !size || size % GRAN)
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < MAX_ALLOCS; i++) {
		struct handle *m = &handles[i];

		if (m->size)
			continue;
		m->memfd = memfd_create("dbu-cuda-double", MFD_ALLOW_SEALING);
		if (m->memfd < 0 || ftruncate(m->memfd, size) ||
		    fcntl(m->memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
			if (m->memfd >= 0)
				close(m->memfd);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		m->size = size;
		m->refs = m->released = 0;
		*h = i + 1;
		trace("held %zu", size);
		return CUDA_SUCCESS;
	}
	return CUDA_ERROR_OUT_OF_MEMORY;
}

static struct handle *handle_of(CUmemGenericAllocationHandle h)
{
	if (!h || h > MAX_ALLOCS || !handles[h - 1].size ||
	    handles[h - 1].released)
		return NULL;
	return &handles[h - 1];
}

static void handle_put(struct handle *m)
{
	if (m->refs || !m->released)
		return;
	close(m->memfd);
	trace("released %zu", m->size);
	m->size = 0;
}

API CUresult cuMemRelease(CUmemGenericAllocationHandle h)
{
	struct handle *m;

	ENTER(cuMemRelease, 1, "");
	m = handle_of(h);
	if (!m)
		return CUDA_ERROR_INVALID_VALUE;
	m->released = 1;
	handle_put(m);
	return CUDA_SUCCESS;
}

API CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t align,
				 CUdeviceptr addr, unsigned long long flags)
{
	void *p;

	ENTER(cuMemAddressReserve, 1, "%zu", size);
	if (!size || size % GRAN || addr || flags || (align && align % GRAN))
		return CUDA_ERROR_INVALID_VALUE;
	p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*ptr = (CUdeviceptr)(uintptr_t)p;
	return CUDA_SUCCESS;
}

API CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	ENTER(cuMemAddressFree, 1, "%zu", size);
	if (find(ptr, 1))
		return CUDA_ERROR_INVALID_VALUE;	/* still mapped */
	munmap((void *)(uintptr_t)ptr, size);
	return CUDA_SUCCESS;
}

API CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t off,
		      CUmemGenericAllocationHandle h, unsigned long long flags)
{
	struct handle *m;
	struct alloc *a = NULL;
	void *p;
	int i;

	ENTER(cuMemMap, 1, "%zu", size);
	m = handle_of(h);
	if (!m || off || flags || size != m->size || find(ptr, 1))
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < MAX_ALLOCS && !a; i++)
		if (!allocs[i].map)
			a = &allocs[i];
	if (!a)
		return CUDA_ERROR_OUT_OF_MEMORY;
	p = mmap((void *)(uintptr_t)ptr, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, m->memfd, 0);
	if (p == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*a = (struct alloc){ .map = p, .map_len = size, .ptr = ptr,
			     .size = size, .memfd = m->memfd, .vmm = 1 };
	m->refs++;
	return CUDA_SUCCESS;
}

API CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size,
			    const CUmemAccessDesc *desc, size_t count)
{
	struct alloc *a;

	ENTER(cuMemSetAccess, 1, "%zu", size);
	a = find(ptr, size);
	if (!a || !a->vmm || count != 1 ||
	    desc->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
	    desc->flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
		return CUDA_ERROR_INVALID_VALUE;
	a->vmm = 2;
	return CUDA_SUCCESS;
}

API CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	struct alloc *a;
	int i;

	ENTER(cuMemUnmap, 1, "%zu", size);
	a = find(ptr, size);
	if (!a || !a->vmm || a->ptr != ptr || a->size != size)
		return CUDA_ERROR_INVALID_VALUE;
	/* back to a reservation, as the range stays reserved */
	mmap(a->map, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
	     MAP_FIXED | MAP_NORESERVE, -1, 0);
	for (i = 0; i < MAX_ALLOCS; i++) {
		if (handles[i].size && handles[i].memfd == a->memfd) {
			handles[i].refs--;
			handle_put(&handles[i]);
		}
	}
	a->map = NULL;
	return CUDA_SUCCESS;
}
