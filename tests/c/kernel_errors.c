// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CQE errors of kernel-uapi.md section 4.3 on a kernel carrying the
 * io_uring dma-buf series, with the engine's private uAPI header:
 *
 *   kernel_errors /dev/nvmeXnY
 *
 * Registers a 1 MiB udmabuf in slot 0 of a 2-slot sparse table against
 * the O_DIRECT target, then: WRITE_FIXED/READ_FIXED with the data checked
 * through the memfd (never DMA_BUF_IOCTL_SYNC: see section 5), the same
 * device opened a second time -> EBADF, a dma-buf offset of 2 -> EINVAL,
 * a device offset of 100 -> EINVAL, a range past the dma-buf's end ->
 * EFAULT, the empty slot 1 -> EFAULT, registering against a descriptor
 * without O_DIRECT -> EINVAL, unregistering through an EMPTY descriptor.
 * All I/O is 4 KiB, below max_sectors.  Prints "case NAME expected X got
 * Y ok|FAIL"; exit 0 all pass, 1 a failure, 77 no udmabuf or no series.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/udmabuf.h>
#include <liburing.h>

#include "dbu.h"
#include "dbu_uapi.h"

#define SIZE	(1U << 20)
#define LEN	4096U

static int failed;

static void expect(const char *name, int want, int got)
{
	printf("case %s expected %d got %d %s\n", name, want, got,
	       want == got ? "ok" : "FAIL");
	failed |= want != got;
}

static int rw(struct io_uring *ring, int op, int fd, uint64_t addr,
	      unsigned int len, uint64_t off, int slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	io_uring_prep_rw(op, sqe, fd, (void *)(uintptr_t)addr, len, off);
	sqe->buf_index = slot;
	io_uring_submit(ring);
	if (io_uring_wait_cqe(ring, &cqe))
		return -9999;
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static int make_udmabuf(char **map)
{
	struct udmabuf_create cr = { .flags = UDMABUF_FLAGS_CLOEXEC,
				     .size = SIZE };
	int dev, mfd, buf;

	dev = open("/dev/udmabuf", O_RDWR);
	if (dev < 0)
		return -1;
	mfd = memfd_create("kernel_errors", MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, SIZE) ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return -1;
	cr.memfd = mfd;
	buf = ioctl(dev, UDMABUF_CREATE, &cr);
	*map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	close(dev);
	return *map == MAP_FAILED ? -1 : buf;
}

int main(int argc, char **argv)
{
	struct dbu_regbuf_desc desc;
	struct io_uring ring;
	char *map, *chk;
	int fd, fd2, fdb, dbuf, ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s /dev/nvmeXnY\n", argv[0]);
		return 1;
	}
	fd = open(argv[1], O_RDWR | O_DIRECT);
	fd2 = open(argv[1], O_RDWR | O_DIRECT);
	fdb = open(argv[1], O_RDWR);
	if (fd < 0 || fd2 < 0 || fdb < 0) {
		perror(argv[1]);
		return 1;
	}
	dbuf = make_udmabuf(&map);
	if (dbuf < 0) {
		printf("skip: no udmabuf (%s)\n", strerror(errno));
		return 77;
	}
	if (io_uring_queue_init(8, &ring, 0) ||
	    dbu_regbuf_sparse(ring.ring_fd, 2) < 0)
		return 1;
	memset(&desc, 0, sizeof(desc));
	desc.type = DBU_REGBUF_TYPE_DMABUF;
	desc.dmabuf_fd = dbuf;
	desc.target_fd = fd;
	ret = dbu_regbuf_update(ring.ring_fd, 0, &desc, 1);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		printf("skip: registration refused (%s): series absent or "
		       "device unsupported\n", dbu_errname(ret));
		return 77;
	}
	expect("register", 1, ret);

	memset(map, 0x5a, LEN);
	expect("write_fixed", LEN, rw(&ring, IORING_OP_WRITE_FIXED, fd, 0, LEN,
				     0, 0));
	if (posix_memalign((void **)&chk, 4096, LEN) ||
	    pread(fd, chk, LEN, 0) != LEN)
		return 1;
	expect("write_data", 0, memcmp(chk, map, LEN) ? 1 : 0);
	memset(map + 8192, 0, LEN);
	expect("read_fixed", LEN, rw(&ring, IORING_OP_READ_FIXED, fd, 8192,
				    LEN, 0, 0));
	expect("read_data", 0, memcmp(map + 8192, chk, LEN) ? 1 : 0);

	expect("other_file_ebadf", -EBADF,
	       rw(&ring, IORING_OP_READ_FIXED, fd2, 0, LEN, 0, 0));
	expect("unaligned_addr_einval", -EINVAL,
	       rw(&ring, IORING_OP_READ_FIXED, fd, 2, LEN, 0, 0));
	expect("unaligned_offset_einval", -EINVAL,
	       rw(&ring, IORING_OP_READ_FIXED, fd, 0, LEN, 100, 0));
	expect("beyond_dmabuf_efault", -EFAULT,
	       rw(&ring, IORING_OP_READ_FIXED, fd, SIZE - LEN / 2, LEN, 0, 0));
	expect("empty_slot_efault", -EFAULT,
	       rw(&ring, IORING_OP_READ_FIXED, fd, 0, LEN, 0, 1));

	desc.target_fd = fdb;
	expect("register_no_odirect_einval", -EINVAL,
	       dbu_regbuf_update(ring.ring_fd, 1, &desc, 1));
	memset(&desc, 0, sizeof(desc));
	expect("unregister_empty", 1,
	       dbu_regbuf_update(ring.ring_fd, 0, &desc, 1));
	expect("unregistered_slot_efault", -EFAULT,
	       rw(&ring, IORING_OP_READ_FIXED, fd, 0, LEN, 0, 0));
	io_uring_queue_exit(&ring);
	printf("%s\n", failed ? "FAIL" : "PASS");
	return failed;
}
