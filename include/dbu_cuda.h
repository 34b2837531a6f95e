/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dmabuf_uring: the few CUDA driver API types, values and entry points that
 * dmabuf_src=cuda uses, so that the engine builds without CUDA: libcuda.so.1
 * is dlopen()ed at job start.  Values as the CUDA driver API reference
 * defines them.  The libcuda test double (tests/cuda/) is built against
 * this header as well, so both sides agree on every signature.
 */
#ifndef DBU_CUDA_H
#define DBU_CUDA_H

#include <stddef.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef unsigned long long CUdeviceptr;

#define CUDA_SUCCESS			0
#define CUDA_ERROR_INVALID_VALUE	1
#define CUDA_ERROR_OUT_OF_MEMORY	2
#define CUDA_ERROR_NOT_INITIALIZED	3
#define CUDA_ERROR_STUB_LIBRARY		34
#define CUDA_ERROR_INSUFFICIENT_DRIVER	35
#define CUDA_ERROR_NO_DEVICE		100
#define CUDA_ERROR_INVALID_DEVICE	101
#define CUDA_ERROR_NOT_SUPPORTED	801

#define CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED	124
#define CU_POINTER_ATTRIBUTE_MEMORY_TYPE	2
#define CU_MEMORYTYPE_HOST			1
#define CU_MEMORYTYPE_DEVICE			2
#define CU_MEMORYTYPE_ARRAY			3
#define CU_MEMORYTYPE_UNIFIED			4
#define CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD	1
#define CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED	102
#define CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED	110
#define CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WRITES_ORDERING	118
#define CU_GPU_DIRECT_RDMA_WRITES_ORDERING_NONE		0
#define CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TARGET_CURRENT_CTX	0
#define CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TO_OWNER	100

/* The virtual memory management API (cuMemCreate and friends) */
typedef unsigned long long CUmemGenericAllocationHandle;
#define CU_MEM_ALLOCATION_TYPE_PINNED		1
#define CU_MEM_LOCATION_TYPE_DEVICE		1
#define CU_MEM_HANDLE_TYPE_NONE			0
#define CU_MEM_ACCESS_FLAGS_PROT_READWRITE	3
#define CU_MEM_ALLOC_GRANULARITY_MINIMUM	0

typedef struct {
	int type;		/* CU_MEM_LOCATION_TYPE_* */
	int id;			/* the device ordinal */
} CUmemLocation;

typedef struct {
	int type;		/* CU_MEM_ALLOCATION_TYPE_* */
	int requestedHandleTypes;
	CUmemLocation location;
	void *win32HandleMetaData;
	struct {
		unsigned char compressionType;
		unsigned char gpuDirectRDMACapable;
		unsigned short usage;
		unsigned char reserved[4];
	} allocFlags;
} CUmemAllocationProp;

typedef struct {
	CUmemLocation location;
	int flags;		/* CU_MEM_ACCESS_FLAGS_* */
} CUmemAccessDesc;

/* As cuda.h lays them out (checked against CUDA 13.0's) */
_Static_assert(sizeof(CUmemAllocationProp) == 32, "CUmemAllocationProp");
_Static_assert(sizeof(CUmemAccessDesc) == 12, "CUmemAccessDesc");

/* cuMemGetHandleForAddressRange: CUDA 11.7, driver r515 */
#define DBU_CUDA_VERSION_MIN	11070

/* X(member, exported symbol, argument list) of every entry point used */
#define DBU_CUDA_CALLS(X)						\
	X(init, cuInit, (unsigned int flags))				\
	X(driver_version, cuDriverGetVersion, (int *version))		\
	X(error_name, cuGetErrorName, (CUresult err, const char **name))	\
	X(device_count, cuDeviceGetCount, (int *count))			\
	X(device_get, cuDeviceGet, (CUdevice *dev, int ordinal))	\
	X(device_name, cuDeviceGetName, (char *name, int len, CUdevice dev)) \
	X(device_attr, cuDeviceGetAttribute,				\
	  (int *val, int attr, CUdevice dev))				\
	X(ctx_retain, cuDevicePrimaryCtxRetain,				\
	  (CUcontext *ctx, CUdevice dev))				\
	X(ctx_release, cuDevicePrimaryCtxRelease_v2, (CUdevice dev))	\
	X(ctx_set, cuCtxSetCurrent, (CUcontext ctx))			\
	X(ctx_sync, cuCtxSynchronize, (void))				\
	X(mem_alloc, cuMemAlloc_v2, (CUdeviceptr *ptr, size_t size))	\
	X(mem_free, cuMemFree_v2, (CUdeviceptr ptr))			\
	X(pointer_attr, cuPointerGetAttribute,				\
	  (void *data, int attr, CUdeviceptr ptr))			\
	X(export, cuMemGetHandleForAddressRange,			\
	  (void *handle, CUdeviceptr ptr, size_t size, int type,	\
	   unsigned long long flags))					\
	X(htod, cuMemcpyHtoD_v2,					\
	  (CUdeviceptr dst, const void *src, size_t len))		\
	X(dtoh, cuMemcpyDtoH_v2, (void *dst, CUdeviceptr src, size_t len)) \
	X(rdma_flush, cuFlushGPUDirectRDMAWrites, (int target, int scope)) \
	X(vmm_granularity, cuMemGetAllocationGranularity,		\
	  (size_t *gran, const CUmemAllocationProp *prop, int option))	\
	X(vmm_create, cuMemCreate,					\
	  (CUmemGenericAllocationHandle *h, size_t size,		\
	   const CUmemAllocationProp *prop, unsigned long long flags))	\
	X(vmm_release, cuMemRelease, (CUmemGenericAllocationHandle h))	\
	X(vmm_reserve, cuMemAddressReserve,				\
	  (CUdeviceptr *ptr, size_t size, size_t align, CUdeviceptr addr, \
	   unsigned long long flags))					\
	X(vmm_free, cuMemAddressFree, (CUdeviceptr ptr, size_t size))	\
	X(vmm_map, cuMemMap,						\
	  (CUdeviceptr ptr, size_t size, size_t off,			\
	   CUmemGenericAllocationHandle h, unsigned long long flags))	\
	X(vmm_unmap, cuMemUnmap, (CUdeviceptr ptr, size_t size))	\
	X(vmm_access, cuMemSetAccess,					\
	  (CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc,	\
	   size_t count))

#endif
