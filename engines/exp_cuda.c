// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring exporter "cuda": GPU device memory exported as a dma-buf.
 *
 *   dmabuf_src=cuda            device 0
 *   dmabuf_src=cuda:ORDINAL    that device
 *   dmabuf_src=cuda[:ORDINAL][:vmm]:vmm   memory from the virtual memory
 *                              management API (cuMemCreate, cuMemMap),
 *                              GPUDirect RDMA capable where the device
 *                              says so: what some drivers export where
 *                              they refuse cuMemAlloc memory
 *
 * libcuda.so.1 is dlopen()ed at job start (no build dependency; the entry
 * points are declared in dbu_cuda.h).  Each slot is cuMemAlloc memory,
 * page-aligned (or a cuMemCreate allocation mapped at a reserved range),
 * exported with cuMemGetHandleForAddressRange as a dma-buf fd.  The CPU cannot map it: fio sees a shadow copy (shadow.c), and the
 * copies, bounce's and the shadow's, are cuMemcpyHtoD/DtoH, the "through
 * RAM" path a GPU user has.
 *
 * The primary context is made current in the thread that opens the
 * device; fio runs a job's setup, I/O and teardown in one thread.
 * libcuda stays loaded after the job: unloading it is not supported.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbu.h"
#include "dbu_cuda.h"

#define CUDA_LIB	"libcuda.so.1"

struct cuda_priv {
#define X(m, sym, args) CUresult (*m) args;
	DBU_CUDA_CALLS(X)
#undef X
	unsigned int ordinal;
	bool vmm;		/* cuMemCreate, not cuMemAlloc */
	bool rdma;		/* ... with gpuDirectRDMACapable */
	bool flush;		/* NVMe writes need cuFlushGPUDirectRDMAWrites */
	CUdevice dev;
	CUcontext ctx;		/* the primary context, once retained */
	int version;
	int memtype;		/* of slot 0, CU_MEMORYTYPE_* */
	char name[128];
	char lib[192];		/* the libcuda.so.1 that was loaded */
};

struct cuda_slot {
	CUdeviceptr base;	/* what cuMemAlloc returned, or the range */
	CUdeviceptr ptr;	/* page-aligned start of the slot */
	size_t len;		/* vmm: the mapped length */
	CUmemGenericAllocationHandle h;	/* vmm: the allocation */
	bool created, mapped;	/* vmm: what is to undo */
};

static const char *cuda_err(struct cuda_priv *p, CUresult r)
{
	const char *name = NULL;

	if (p->error_name && !p->error_name(r, &name) && name)
		return name;
	return "unknown CUDA error";
}

/* One message for a failed call: what, the CUresult, what to try. */
static int cuda_fail(struct dbu_ctx *c, int err, const char *what,
		     CUresult r, const char *hint)
{
	struct cuda_priv *p = c->exp_priv;

	return dbu_error(c, err, what, "cuda:%u (%s): %s returned %s (%d)%s%s",
			 p->ordinal, p->name[0] ? p->name : "?", what,
			 cuda_err(p, r), r, hint ? ". " : "", hint ? hint : "");
}

static int cuda_load(struct dbu_ctx *c, struct cuda_priv *p)
{
	void *h = dlopen(CUDA_LIB, RTLD_NOW | RTLD_LOCAL);
	Dl_info info;

	if (!h)
		return dbu_error(c, -ENOENT, "loading " CUDA_LIB,
			"%s. dmabuf_src=cuda needs the NVIDIA driver's CUDA "
			"library: install it (Debian: libcuda1, or the driver's "
			"own installer), or add its directory to "
			"LD_LIBRARY_PATH", dlerror());
#define X(m, sym, args)							\
	p->m = (CUresult (*) args)dlsym(h, #sym);			\
	if (!p->m)							\
		return dbu_error(c, -ENOSYS, "loading " CUDA_LIB,	\
			"it has no %s: the NVIDIA driver is older than "\
			"CUDA 11.7 (r515), the first that exports device "\
			"memory as a dma-buf. Update the driver", #sym);
	DBU_CUDA_CALLS(X)
#undef X
	if (dladdr((void *)p->init, &info) && info.dli_fname)
		snprintf(p->lib, sizeof(p->lib), "%s", info.dli_fname);
	return 0;
}

static int cuda_init(struct dbu_ctx *c, struct cuda_priv *p)
{
	CUresult r = p->init(0);

	if (r == CUDA_ERROR_STUB_LIBRARY)
		return cuda_fail(c, -ENOENT, "cuInit", r, "That " CUDA_LIB
			" is the CUDA toolkit's stub for linking, not the "
			"driver's library: take .../stubs out of "
			"LD_LIBRARY_PATH, or install the NVIDIA driver");
	if (r == CUDA_ERROR_NO_DEVICE)
		return cuda_fail(c, -ENODEV, "cuInit", r, "The driver sees "
			"no GPU: check nvidia-smi, and that the nvidia kernel "
			"module is loaded");
	if (r == CUDA_ERROR_INSUFFICIENT_DRIVER)
		return cuda_fail(c, -ENOSYS, "cuInit", r, "The nvidia kernel "
			"module is older than " CUDA_LIB ": install matching "
			"versions of both");
	if (r)
		return cuda_fail(c, -EIO, "cuInit", r, "Check nvidia-smi and "
			"the kernel log");
	r = p->driver_version(&p->version);
	if (r)
		return cuda_fail(c, -EIO, "cuDriverGetVersion", r, NULL);
	if (p->version < DBU_CUDA_VERSION_MIN)
		return dbu_error(c, -ENOSYS, "cuDriverGetVersion",
			"the CUDA driver is version %d.%d; dma-buf export of "
			"device memory needs 11.7 (r515) or later. Update the "
			"NVIDIA driver", p->version / 1000,
			p->version % 1000 / 10);
	return 0;
}

static int cuda_device(struct dbu_ctx *c, struct cuda_priv *p)
{
	int n = 0, dmabuf = 0, order = 0;
	CUresult r = p->device_count(&n);

	if (r)
		return cuda_fail(c, -EIO, "cuDeviceGetCount", r, NULL);
	if (p->ordinal >= (unsigned int)n)
		return dbu_error(c, -ENODEV, "dmabuf_src",
			"dmabuf_src=%s: no CUDA device with ordinal %u; the "
			"driver sees %d (cuda:0%s)", c->src, p->ordinal, n,
			n > 1 ? " to cuda:N-1" : n ? "" : ": none at all");
	r = p->device_get(&p->dev, p->ordinal);
	if (r)
		return cuda_fail(c, -EIO, "cuDeviceGet", r, NULL);
	r = p->device_name(p->name, sizeof(p->name), p->dev);
	if (r)
		return cuda_fail(c, -EIO, "cuDeviceGetName", r, NULL);
	r = p->device_attr(&dmabuf, CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED,
			   p->dev);
	if (!r)
		r = p->device_attr(&order,
			CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WRITES_ORDERING, p->dev);
	if (r)
		return cuda_fail(c, -EIO, "cuDeviceGetAttribute", r, NULL);
	/*
	 * Writes a peer (the NVMe, kernel attach) made into device memory are
	 * visible to CUDA's own copies only after a flush on such devices.
	 */
	p->flush = order == CU_GPU_DIRECT_RDMA_WRITES_ORDERING_NONE &&
		   c->att == &dbu_attach_kernel;
	if (!dmabuf)
		return dbu_error(c, -EOPNOTSUPP, "dma-buf export on CUDA",
			"cuda:%u (%s) cannot export device memory as a dma-buf "
			"(CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED is 0): the "
			"nvidia kernel module is the proprietary one, or the "
			"kernel or GPU is too old. dma-buf export needs the open "
			"GPU kernel modules (nvidia-open, r515 on). Try "
			"dmabuf_src=udmabuf for the same path through host "
			"memory", p->ordinal, p->name);
	if (p->vmm) {
		int vmm = 0, rdma = 0;

		r = p->device_attr(&vmm,
			CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED,
			p->dev);
		if (!r)
			r = p->device_attr(&rdma,
			CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED,
			p->dev);
		if (r)
			return cuda_fail(c, -EIO, "cuDeviceGetAttribute", r, NULL);
		if (!vmm)
			return dbu_error(c, -EOPNOTSUPP, "dmabuf_src",
				"dmabuf_src=%s: cuda:%u (%s) has no virtual "
				"memory management (cuMemCreate). Drop ':vmm'",
				c->src, p->ordinal, p->name);
		p->rdma = rdma;
	}
	r = p->ctx_retain(&p->ctx, p->dev);
	if (r) {
		p->ctx = NULL;
		return cuda_fail(c, -EIO, "cuDevicePrimaryCtxRetain", r,
				 "Check that no other process holds the GPU in "
				 "exclusive mode (nvidia-smi -q | grep Compute)");
	}
	r = p->ctx_set(p->ctx);
	if (r)
		return cuda_fail(c, -EIO, "cuCtxSetCurrent", r, NULL);
	return 0;
}

static int cuda_open(struct dbu_ctx *c, const char *arg)
{
	struct cuda_priv *p = calloc(1, sizeof(*p));
	char *end = NULL;
	unsigned long n = 0;
	int ret;

	if (!p)
		return dbu_error(c, -ENOMEM, "dmabuf_src=cuda", "-");
	c->exp_priv = p;
	if (arg) {
		const char *colon = strchr(arg, ':');
		const char *tail = colon ? colon + 1 : arg;

		if (!strcmp(tail, "vmm")) {
			p->vmm = true;
			arg = colon ? arg : "0";
		}
		errno = 0;
		n = strtoul(arg, &end, 10);
		if (!*arg || (*end && !(p->vmm && end == colon)) || errno ||
		    n > 1024 || *arg == '-' || *arg == '+' ||
		    (colon && !p->vmm))
			return dbu_error(c, -EINVAL, "dmabuf_src",
				"dmabuf_src=%s: after 'cuda:' comes a device "
				"ordinal (0, 1, ...), then ':vmm' if asked. Try "
				"dmabuf_src=cuda, cuda:0 or cuda:0:vmm", c->src);
	}
	p->ordinal = n;
	ret = cuda_load(c, p);
	if (!ret)
		ret = cuda_init(c, p);
	if (!ret)
		ret = cuda_device(c, p);
	return ret;
}

/* Device memory at a page-aligned address: dma-buf export wants one. */
static int cuda_mem(struct dbu_ctx *c, struct cuda_slot *d, size_t size)
{
	struct cuda_priv *p = c->exp_priv;
	size_t page = sysconf(_SC_PAGESIZE);
	CUresult r = p->mem_alloc(&d->base, size);

	if (!r && d->base % page) {
		p->mem_free(d->base);
		r = p->mem_alloc(&d->base, size + page);
	}
	if (r) {
		d->base = 0;
		return cuda_fail(c, r == CUDA_ERROR_OUT_OF_MEMORY ? -ENOMEM :
				 -EIO, "cuMemAlloc", r, "Try a smaller "
				 "iodepth or bs, or free GPU memory");
	}
	d->ptr = (d->base + page - 1) / page * page;
	return 0;
}

/*
 * cuMemCreate memory mapped read-write for the device at a reserved range,
 * its length a multiple of the allocation granularity.
 */
static int cuda_vmm_mem(struct dbu_ctx *c, struct cuda_slot *d, size_t size)
{
	struct cuda_priv *p = c->exp_priv;
	CUmemAllocationProp prop = {
		.type = CU_MEM_ALLOCATION_TYPE_PINNED,
		.requestedHandleTypes = CU_MEM_HANDLE_TYPE_NONE,
		.location = { CU_MEM_LOCATION_TYPE_DEVICE, p->dev },
	};
	CUmemAccessDesc rw = {
		.location = { CU_MEM_LOCATION_TYPE_DEVICE, p->dev },
		.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
	};
	const char *what = "cuMemGetAllocationGranularity";
	size_t gran = 0;
	CUresult r;

	prop.allocFlags.gpuDirectRDMACapable = p->rdma;
	r = p->vmm_granularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
	if (!r && !gran)
		r = CUDA_ERROR_INVALID_VALUE;
	if (!r) {
		d->len = (size + gran - 1) / gran * gran;
		what = "cuMemCreate";
		r = p->vmm_create(&d->h, d->len, &prop, 0);
		d->created = !r;
	}
	if (!r) {
		what = "cuMemAddressReserve";
		r = p->vmm_reserve(&d->base, d->len, gran, 0, 0);
		if (r)
			d->base = 0;
	}
	if (!r) {
		what = "cuMemMap";
		r = p->vmm_map(d->base, d->len, 0, d->h, 0);
		d->mapped = !r;
	}
	if (!r) {
		what = "cuMemSetAccess";
		r = p->vmm_access(d->base, d->len, &rw, 1);
	}
	if (r)
		return cuda_fail(c, r == CUDA_ERROR_OUT_OF_MEMORY ? -ENOMEM :
				 -EIO, what, r, "Try a smaller iodepth or bs, "
				 "free GPU memory, or drop ':vmm'");
	d->ptr = d->base;
	return 0;
}

static int cuda_alloc(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct cuda_priv *p = c->exp_priv;
	struct cuda_slot *d = calloc(1, sizeof(*d));
	int fd = -1, type = 0;
	CUresult r;
	int ret;

	if (!d)
		return dbu_error(c, -ENOMEM, "dmabuf_src=cuda", "-");
	s->priv = d;
	ret = p->vmm ? cuda_vmm_mem(c, d, s->size) : cuda_mem(c, d, s->size);
	if (ret)
		return ret;
	if (s == c->slots) {
		r = p->pointer_attr(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
				    d->ptr);
		if (r)
			return cuda_fail(c, -EIO, "cuPointerGetAttribute", r,
				"The driver would not say what memory it "
				"gave; check the kernel log");
		p->memtype = type;
	}
	r = p->export(&fd, d->ptr, s->size,
		      CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);
	if (r == CUDA_ERROR_NOT_SUPPORTED)
		return cuda_fail(c, -EOPNOTSUPP, "cuMemGetHandleForAddressRange",
			r, p->vmm ? "The driver would not export this memory "
			"as a dma-buf: dma-buf export needs the open GPU "
			"kernel modules (nvidia-open) and a kernel with dma-buf "
			"support for them" : "The driver would not export this "
			"memory as a dma-buf: dma-buf export needs the open GPU "
			"kernel modules (nvidia-open) and a kernel with dma-buf "
			"support for them; some drivers export only cuMemCreate "
			"memory: try dmabuf_src=cuda:N:vmm");
	if (r || fd < 0)
		return cuda_fail(c, -EIO, "cuMemGetHandleForAddressRange", r,
				 "Check the kernel log");
	s->dmabuf_fd = fd;
	return 0;
}

/*
 * Both copies are synchronous for the CPU, but from pageable memory
 * cuMemcpyHtoD returns once the bytes are staged: wait for them to land
 * before the device may read the memory.
 */
static int cuda_copy(struct dbu_ctx *c, struct dbu_slot *s, size_t off,
		     void *host, size_t len, bool to_dev)
{
	struct cuda_priv *p = c->exp_priv;
	struct cuda_slot *d = s->priv;
	const char *what;
	CUresult r;

	if (to_dev) {
		what = "cuMemcpyHtoD";
		r = p->htod(d->ptr + off, host, len);
		if (!r) {
			what = "cuCtxSynchronize";
			r = p->ctx_sync();
		}
	} else {
		what = "cuFlushGPUDirectRDMAWrites";
		r = p->flush ? p->rdma_flush(
			CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TARGET_CURRENT_CTX,
			CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TO_OWNER) : 0;
		if (!r) {
			what = "cuMemcpyDtoH";
			r = p->dtoh(host, d->ptr + off, len);
		}
	}
	if (!r)
		return 0;
	return dbu_error(c, -EIO, what, "cuda:%u (%s): %s for %zu bytes at "
			 "offset %zu of slot %u returned %s (%d)", p->ordinal,
			 p->name, what, len, off, (unsigned int)(s - c->slots),
			 cuda_err(p, r), r);
}

static const char *cuda_memtype(int type)
{
	switch (type) {
	case CU_MEMORYTYPE_HOST:	return "host";
	case CU_MEMORYTYPE_DEVICE:	return "device";
	case CU_MEMORYTYPE_ARRAY:	return "array";
	case CU_MEMORYTYPE_UNIFIED:	return "unified";
	}
	return "unknown";
}

/* cuMemAlloc memory must be device memory: say so if it is not. */
static int cuda_check_placement(struct dbu_ctx *c, bool end)
{
	struct cuda_priv *p = c->exp_priv;

	if (end || p->memtype == CU_MEMORYTYPE_DEVICE || c->placement_any)
		return 0;
	return dbu_error(c, -EREMOTEIO, "placement of dmabuf_src=cuda",
		"cuda:%u (%s) gave memory of CUDA type %s, not device memory. "
		"Set dmabuf_placement_any=1 to run on it anyway", p->ordinal,
		p->name, cuda_memtype(p->memtype));
}

static void cuda_placement(struct dbu_ctx *c, char *buf, size_t len)
{
	struct cuda_priv *p = c->exp_priv;

	if (!p || !p->memtype) {
		snprintf(buf, len, "CUDA device memory (not allocated)%s%s",
			 p && p->name[0] ? " on " : "",
			 p && p->name[0] ? p->name : "");
		return;
	}
	snprintf(buf, len, "CUDA %s memory (%s) on cuda:%u, %s; "
		 "driver %d.%d, %s", cuda_memtype(p->memtype),
		 !p->vmm ? "cuMemAlloc" : p->rdma ? "cuMemCreate, GPUDirect "
		 "RDMA" : "cuMemCreate", p->ordinal, p->name,
		 p->version / 1000, p->version % 1000 / 10, p->lib);
}

static void cuda_free(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct cuda_priv *p = c->exp_priv;
	struct cuda_slot *d = s->priv;

	/* The dma-buf fd is the area's to close (exporter.c). */
	if (d && p->vmm) {
		if (d->mapped)
			p->vmm_unmap(d->base, d->len);
		if (d->base)
			p->vmm_free(d->base, d->len);
		if (d->created)
			p->vmm_release(d->h);
	} else if (d && d->base) {
		p->mem_free(d->base);
	}
	free(d);
	s->priv = NULL;
}

static void cuda_close(struct dbu_ctx *c)
{
	struct cuda_priv *p = c->exp_priv;

	if (p && p->ctx)
		p->ctx_release(p->dev);
	free(p);
	c->exp_priv = NULL;
}

const struct dbu_exporter dbu_exp_cuda = {
	.name		= "cuda",
	.flags		= DBU_EXP_DMABUF | DBU_EXP_NOMAP,
	.open		= cuda_open,
	.alloc		= cuda_alloc,
	.copy		= cuda_copy,
	.placement	= cuda_placement,
	.check_placement = cuda_check_placement,
	.free		= cuda_free,
	.close		= cuda_close,
};
