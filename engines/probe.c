// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: does this kernel carry the io_uring dma-buf series?
 * (kernel-uapi.md section 4.1)
 *
 * 1. a scratch ring with a 1-slot sparse buffer table;
 * 2. an IORING_RSRC_UPDATE_EXTENDED update with an EMPTY descriptor:
 *    1 = the series' update path, EINVAL = series absent (upstream
 *    rejects any flag), EOPNOTSUPP = compiled out, else a different ABI;
 * 3. with the job's target: a DMABUF descriptor with dmabuf_fd = -1:
 *    EBADF = the type is known and compiled in, EOPNOTSUPP = compiled
 *    out, EINVAL = type unknown / another ABI (e.g. the zcrx RFC);
 * 4. the engine's first real registration (attach_kernel.c) tells whether
 *    the device takes dma-bufs; dbu_probe_device_error() words a refusal.
 *
 * The verdict goes to c->uapi_probe (the report's "uapi_probe"), the errno
 * seen to c->uapi_errno; every verdict but "present" becomes one message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "dbu.h"
#include "dbu_uapi.h"

#define TRY_INSTEAD "Try dmabuf_attach=pages (dmabuf_src=udmabuf or host) " \
		    "or dmabuf_attach=bounce"

int dbu_uring_register(int ring_fd, unsigned int op, void *arg,
		       unsigned int nr_args)
{
	int ret = syscall(__NR_io_uring_register, ring_fd, op, arg, nr_args);

	return ret < 0 ? -errno : ret;
}

/* One extended update of 'nr' descriptors starting at slot 'offset'. */
int dbu_regbuf_update(int ring_fd, unsigned int offset,
		      struct dbu_regbuf_desc *desc, unsigned int nr)
{
	struct dbu_rsrc_update2 up;

	memset(&up, 0, sizeof(up));
	up.offset = offset;
	up.flags = DBU_RSRC_UPDATE_EXTENDED;
	up.data = (uintptr_t)desc;
	up.nr = nr;
	return dbu_uring_register(ring_fd, DBU_REGISTER_BUFFERS_UPDATE, &up,
				  sizeof(up));
}

int dbu_regbuf_sparse(int ring_fd, unsigned int nr)
{
	struct dbu_rsrc_register rr;

	memset(&rr, 0, sizeof(rr));
	rr.nr = nr;
	rr.flags = DBU_RSRC_REGISTER_SPARSE;
	return dbu_uring_register(ring_fd, DBU_REGISTER_BUFFERS2, &rr,
				  sizeof(rr));
}

static void set_verdict(struct dbu_ctx *c, const char *verdict, int err)
{
	snprintf(c->uapi_probe, sizeof(c->uapi_probe), "%s", verdict);
	c->uapi_errno = err;
}

static int absent(struct dbu_ctx *c, int err, const char *how)
{
	struct utsname u;

	uname(&u);
	set_verdict(c, "absent", err);
	return dbu_error(c, err, "dmabuf_attach=kernel",
		"the kernel lacks the io_uring dma-buf registration series "
		"(series absent: uapi_probe=absent; kernel %s answers %s to %s). "
		"dmabuf_attach=kernel needs a kernel carrying Pavel "
		"Begunkov's \"Add dmabuf read/write via io_uring\" (v3 or "
		"later). " TRY_INSTEAD, u.release, dbu_errname(err), how);
}

static int compiled_out(struct dbu_ctx *c, int err, const char *how)
{
	set_verdict(c, "compiled-out", err);
	return dbu_error(c, err, "dmabuf_attach=kernel",
		"the kernel knows the io_uring dma-buf uAPI but the feature "
		"is compiled out (uapi_probe=compiled-out, %s %s): "
		"CONFIG_DMABUF_TOKEN (v3) or CONFIG_DMA_SHARED_BUFFER is off. "
		"Rebuild the kernel with it. " TRY_INSTEAD,
		dbu_errname(err), how);
}

static int abi_mismatch(struct dbu_ctx *c, int err, const char *how)
{
	set_verdict(c, "abi-mismatch", err);
	return dbu_error(c, err, "dmabuf_attach=kernel",
		"the kernel's buffer-update uAPI is not the one this engine "
		"speaks (uapi_probe=abi-mismatch, %s %s): it carries another "
		"revision of the series or a related one (the zcrx RFC gives "
		"type 2 to ZCRX; RFC v1/v2 used a different flag and struct). "
		"The engine speaks the v3-v7 ABI (IORING_RSRC_UPDATE_EXTENDED "
		"= 2, 80-byte io_uring_regbuf_desc, IO_REGBUF_TYPE_DMABUF = "
		"2). " TRY_INSTEAD, err ? dbu_errname(err) : "no error", how);
}

/* Steps 1-2 on 'fd', a ring with a 1-slot sparse table. */
static int probe_update(struct dbu_ctx *c, int fd)
{
	struct dbu_regbuf_desc desc;
	int ret;

	ret = dbu_regbuf_sparse(fd, 1);
	if (ret < 0)
		return absent(c, ret, "registering a sparse buffer table");
	memset(&desc, 0, sizeof(desc));		/* IO_REGBUF_TYPE_EMPTY */
	ret = dbu_regbuf_update(fd, 0, &desc, 1);
	if (ret == 1)
		return 0;
	if (ret == -EINVAL)
		return absent(c, ret, "IORING_REGISTER_BUFFERS_UPDATE with "
			      "IORING_RSRC_UPDATE_EXTENDED, a flag it does "
			      "not know");
	if (ret == -EOPNOTSUPP)
		return compiled_out(c, ret, "on an extended buffer update");
	return abi_mismatch(c, ret < 0 ? ret : 0,
			    "on an extended update of an EMPTY descriptor");
}

/* Step 3: is the DMABUF type known and compiled in? */
static int probe_dmabuf_type(struct dbu_ctx *c, int fd, int target_fd)
{
	struct dbu_regbuf_desc desc;
	struct stat st;
	int ret;

	memset(&desc, 0, sizeof(desc));
	desc.type = DBU_REGBUF_TYPE_DMABUF;
	desc.dmabuf_fd = -1;
	desc.target_fd = target_fd;
	ret = dbu_regbuf_update(fd, 0, &desc, 1);
	if (ret == -EBADF)
		return 0;	/* fget(target) passed, dma_buf_get(-1) failed */
	if (ret == -EOPNOTSUPP && !fstat(target_fd, &st) &&
	    !S_ISBLK(st.st_mode))
		return dbu_probe_device_error(c, ret, 0);
	if (ret == -EOPNOTSUPP)
		return compiled_out(c, ret, "on a DMABUF descriptor");
	return abi_mismatch(c, ret < 0 ? ret : 0, ret == -EINVAL ?
			    "on a DMABUF (type 2) descriptor: the type is "
			    "unknown" : "on a DMABUF descriptor with "
			    "dmabuf_fd -1 (EBADF expected)");
}

int dbu_probe_uapi(struct dbu_ctx *c, int target_fd)
{
	struct io_uring ring;
	int ret;

	ret = io_uring_queue_init(1, &ring, 0);
	if (ret)
		return dbu_error(c, ret, "io_uring_setup for the uAPI probe",
			"a 1-entry scratch ring could not be made. Is "
			"io_uring enabled (/proc/sys/kernel/io_uring_disabled)?");
	ret = probe_update(c, ring.ring_fd);
	if (!ret && target_fd >= 0)
		ret = probe_dmabuf_type(c, ring.ring_fd, target_fd);
	io_uring_queue_exit(&ring);
	if (!ret)
		set_verdict(c, "present", 0);
	return ret;
}

/* Why the target refused a dma-buf: what the series accepts, in order. */
static void device_cause(struct dbu_ctx *c, unsigned int slot, char *buf,
			 size_t len)
{
	const char *t = c->target[0] ? c->target : "the target";
	const char *drv = c->target_driver;
	struct stat st;
	int fl;

	if (fstat(c->target_fd, &st) || !S_ISBLK(st.st_mode)) {
		snprintf(buf, len, "%.256s is not a block device: only block "
			 "devices implement dma-buf registration (regular "
			 "files, the NVMe char device /dev/ngXnY and pipes do "
			 "not)", t);
		return;
	}
	fl = fcntl(c->target_fd, F_GETFL);
	if (fl >= 0 && !(fl & O_DIRECT)) {
		snprintf(buf, len, "%.256s is not open with O_DIRECT (direct=1)",
			 t);
		return;
	}
	if (!strcmp(drv, "none")) {
		snprintf(buf, len, "%.256s has no nvme-pci controller behind it: "
			 "a virtual or bio-based device (null_blk, brd, dm, "
			 "md) or the NVMe native-multipath head node "
			 "(nvme-subsysN), which the series does not support; "
			 "for multipath boot with nvme_core.multipath=N", t);
		return;
	}
	if (strcmp(drv, "nvme")) {
		snprintf(buf, len, "%.256s is served by the %s driver, not "
			 "nvme-pci, the only driver that implements dma-buf "
			 "registration (SCSI, virtio-blk, loop, NVMe-oF do "
			 "not)", t, drv);
		return;
	}
	if (c->slots && slot < c->nr_slots &&
	    c->slots[slot].size > DBU_REGBUF_DMABUF_MAX) {
		snprintf(buf, len, "the dma-buf is %zu bytes, above the "
			 "series' 1 GiB limit (v3-v5); set "
			 "dmabuf_size_max=1g or less", c->slots[slot].size);
		return;
	}
	snprintf(buf, len, "nvme-pci refused the dma-buf of dmabuf_src=%s: "
		 "the exporter could not attach it to the device (see "
		 "dmesg), or the kernel's NVMe driver lacks the series' "
		 "dma-buf token op", c->src ? c->src : "?");
}

int dbu_probe_device_error(struct dbu_ctx *c, int err, unsigned int slot)
{
	char cause[640];

	device_cause(c, slot, cause, sizeof(cause));
	set_verdict(c, "device-unsupported", err);
	return dbu_error(c, err, "dmabuf_attach=kernel",
		"the kernel has the io_uring dma-buf series but refused to "
		"register dma-buf slot %u against %s (uapi_probe="
		"device-unsupported, %s): %s. Use an nvme-pci namespace "
		"(filename=/dev/nvmeXnY, direct=1). " TRY_INSTEAD, slot,
		c->target[0] ? c->target : "the target", dbu_errname(err), cause);
}
