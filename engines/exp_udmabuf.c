// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring exporter "udmabuf": a memfd turned into a dma-buf.
 *
 *   dmabuf_src=udmabuf           memfd in ordinary shmem pages
 *   dmabuf_src=udmabuf:hugetlb   memfd in huge pages of the default size
 *                                (reserve them: vm.nr_hugepages)
 *
 * The dma-buf's own mmap is VM_PFNMAP and cannot be pinned (registering it
 * fails with EFAULT), so the pages attach registers a MAP_SHARED mapping of
 * the memfd instead: the same pages, true zero-copy.  The CPU view is the
 * generic mmap of the dma-buf.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/udmabuf.h>

#include "dbu.h"

#define UDMABUF_DEV	"/dev/udmabuf"
#define UDMABUF_LIMIT	"/sys/module/udmabuf/parameters/size_limit_mb"

struct udmabuf_priv {
	bool hugetlb;
	size_t huge_size;	/* bytes of one huge page, 0: none */
};

struct udmabuf_slot {
	int memfd;
	size_t mem_size;	/* memfd and pin length: s->size rounded up */
};

/* One "Key: N" value of /proc/meminfo, 0 when absent. */
static unsigned long long meminfo(const char *key)
{
	unsigned long long val = 0;
	size_t klen = strlen(key);
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			val = strtoull(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* udmabuf's size_limit_mb, -1 when the module does not say. */
static long long udmabuf_limit_mb(void)
{
	long long mb = -1;
	FILE *f = fopen(UDMABUF_LIMIT, "r");

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &mb) != 1)
		mb = -1;
	fclose(f);
	return mb;
}

static int udmabuf_open_error(struct dbu_ctx *c, int err)
{
	if (err == -ENOENT)
		return dbu_error(c, err, "opening " UDMABUF_DEV,
			UDMABUF_DEV " does not exist: the udmabuf module is "
			"not loaded or the kernel was built without "
			"CONFIG_UDMABUF. Try 'modprobe udmabuf', a kernel with "
			"CONFIG_UDMABUF, or dmabuf_src=heap or host");
	if (err == -EACCES || err == -EPERM)
		return dbu_error(c, err, "opening " UDMABUF_DEV,
			"no permission to open " UDMABUF_DEV " read-write. Try "
			"running as root, 'chmod 0666 " UDMABUF_DEV "' or a "
			"udev rule granting your group access");
	return dbu_error(c, err, "opening " UDMABUF_DEV,
			 "the udmabuf device refused to open. Try "
			 "'modprobe udmabuf' and check dmesg");
}

static int udmabuf_open(struct dbu_ctx *c, const char *arg)
{
	struct udmabuf_priv *p;
	int fd;

	if (arg && strcmp(arg, "hugetlb"))
		return dbu_error(c, -EINVAL, "dmabuf_src",
			"dmabuf_src=udmabuf takes no argument or ':hugetlb' "
			"(got '%s'). Try dmabuf_src=udmabuf or "
			"dmabuf_src=udmabuf:hugetlb", arg);
	p = calloc(1, sizeof(*p));
	if (!p)
		return dbu_error(c, -ENOMEM, "dmabuf_src=udmabuf", "-");
	c->exp_priv = p;
	if (arg) {
		p->hugetlb = true;
		p->huge_size = meminfo("Hugepagesize") * 1024;
		if (!p->huge_size)
			return dbu_error(c, -ENOTSUP,
				"dmabuf_src=udmabuf:hugetlb",
				"this kernel has no huge pages (no "
				"Hugepagesize in /proc/meminfo; "
				"CONFIG_HUGETLBFS). Try dmabuf_src=udmabuf");
	}

	fd = open(UDMABUF_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return udmabuf_open_error(c, -errno);
	c->exp_fd = fd;
	return 0;
}

/* "<opt>=<val> is larger than udmabuf's size_limit_mb", and the way out. */
static int over_limit(struct dbu_ctx *c, const char *opt, size_t val,
		      long long mb, size_t limit, const char *why)
{
	return dbu_error(c, -EINVAL, opt,
		"%s=%zu is larger than udmabuf's size_limit_mb=%lld (%zu "
		"bytes)%s. Try %s=%zu or less, or raise the limit: 'echo N > "
		UDMABUF_LIMIT "' or boot with udmabuf.size_limit_mb=N (N in "
		"MiB)", opt, val, mb, limit, why, opt, limit);
}

/*
 * udmabuf refuses a buffer of more than size_limit_mb.  An explicit
 * dmabuf_size_max above it fails here, naming the limit and how to raise
 * it; 0 (automatic) splits the area into slots of at most the limit.
 */
static int udmabuf_max_size(struct dbu_ctx *c, size_t *limit)
{
	long long mb = udmabuf_limit_mb();

	*limit = mb > 0 ? (size_t)mb << 20 : 0;
	/* Without this, a block over the limit reads as a dmabuf_size_max
	 * problem though the user gave none. */
	if (*limit && c->max_bs > *limit)
		return over_limit(c, "bs", c->max_bs, mb, *limit,
				  ": one block must fit in one dma-buf");
	if (*limit && c->size_max > *limit)
		return over_limit(c, "dmabuf_size_max", c->size_max, mb, *limit,
				  "");
	return 0;
}

static int udmabuf_hugetlb_error(struct dbu_ctx *c, int err, size_t size,
				 const char *what)
{
	struct udmabuf_priv *p = c->exp_priv;
	unsigned long long total = meminfo("HugePages_Total");
	unsigned long long avail = meminfo("HugePages_Free");
	unsigned long long need = size / p->huge_size;

	return dbu_error(c, err, what,
		"%zu bytes of huge pages (%zu KiB each) are needed; "
		"HugePages_Free is %llu of HugePages_Total %llu. Try 'echo N > "
		"/proc/sys/vm/nr_hugepages' (N >= %llu) or boot with "
		"hugepages=N, or dmabuf_src=udmabuf", size,
		p->huge_size >> 10, avail, total,
		total + (need > avail ? need - avail : 0));
}

static int udmabuf_create(struct dbu_ctx *c, struct dbu_slot *s,
			  struct udmabuf_slot *u)
{
	struct udmabuf_create create = {
		.memfd	= u->memfd,
		.flags	= UDMABUF_FLAGS_CLOEXEC,
		.offset	= 0,
		.size	= s->size,
	};
	long long mb;
	int fd, err;

	fd = ioctl(c->exp_fd, UDMABUF_CREATE, &create);
	if (fd >= 0) {
		s->dmabuf_fd = fd;
		return 0;
	}
	err = -errno;
	mb = udmabuf_limit_mb();
	if (err == -EINVAL && mb >= 0 && s->size > (size_t)mb << 20)
		return dbu_error(c, err, "UDMABUF_CREATE",
			"a buffer of %zu bytes is larger than udmabuf's "
			"size_limit_mb=%lld. Try a smaller dmabuf_size_max, or "
			"raise the limit: 'echo N > " UDMABUF_LIMIT "' or boot "
			"with udmabuf.size_limit_mb=N (N in MiB)", s->size, mb);
	if (((struct udmabuf_priv *)c->exp_priv)->hugetlb &&
	    (err == -ENOMEM || err == -EFAULT))
		return udmabuf_hugetlb_error(c, err, u->mem_size,
					     "UDMABUF_CREATE");
	return dbu_error(c, err, "UDMABUF_CREATE",
			 "udmabuf refused a %zu-byte buffer from a sealed "
			 "memfd. Try a smaller dmabuf_size_max and check dmesg",
			 s->size);
}

static int udmabuf_memfd(struct dbu_ctx *c, struct dbu_slot *s,
			 struct udmabuf_slot *u)
{
	struct udmabuf_priv *p = c->exp_priv;
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	size_t unit = p->hugetlb ? p->huge_size : 1;

	if (p->hugetlb)
		flags |= MFD_HUGETLB;
	u->mem_size = (s->size + unit - 1) / unit * unit;
	u->memfd = memfd_create("dmabuf_uring", flags);
	if (u->memfd < 0)
		return dbu_error(c, -errno, "memfd_create",
			"%s. Try dmabuf_src=%s", p->hugetlb ?
			"the kernel refused a hugetlb memfd (MFD_HUGETLB)" :
			"the kernel refused a sealable memfd",
			p->hugetlb ? "udmabuf" : "host");
	if (ftruncate(u->memfd, u->mem_size) < 0)
		return p->hugetlb ?
			udmabuf_hugetlb_error(c, -errno, u->mem_size,
					      "sizing the hugetlb memfd") :
			dbu_error(c, -errno, "sizing the memfd",
				  "%zu bytes of shmem", u->mem_size);
	if (fcntl(u->memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		return dbu_error(c, -errno, "sealing the memfd (F_SEAL_SHRINK)",
				 "udmabuf needs a memfd that cannot shrink");
	return 0;
}

static int udmabuf_alloc(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct udmabuf_slot *u = calloc(1, sizeof(*u));
	void *pin;
	int ret;

	if (!u)
		return dbu_error(c, -ENOMEM, "dmabuf_src=udmabuf", "-");
	u->memfd = -1;
	s->priv = u;
	ret = udmabuf_memfd(c, s, u);
	if (!ret)
		ret = udmabuf_create(c, s, u);
	if (ret)
		return ret;

	/* The memfd's pages at a pinnable address, for the pages attach. */
	pin = mmap(NULL, u->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   u->memfd, 0);
	if (pin == MAP_FAILED)
		return dbu_error(c, -errno, "mmap of the udmabuf memfd",
				 "%zu bytes", u->mem_size);
	s->pin = pin;
	return 0;
}

/* From the option alone: the report may ask after close. */
static void udmabuf_placement(struct dbu_ctx *c, char *buf, size_t len)
{
	snprintf(buf, len, "system RAM (%smemfd)",
		 c->src_arg ? "hugetlb " : "");
}

static void udmabuf_free(struct dbu_ctx *c, struct dbu_slot *s)
{
	struct udmabuf_slot *u = s->priv;

	(void)c;
	if (!u)
		return;
	if (s->pin)
		munmap(s->pin, u->mem_size);
	s->pin = NULL;
	if (u->memfd >= 0)
		close(u->memfd);
	free(u);
	s->priv = NULL;
}

static void udmabuf_close(struct dbu_ctx *c)
{
	if (c->exp_fd >= 0)
		close(c->exp_fd);
	c->exp_fd = -1;
	free(c->exp_priv);
	c->exp_priv = NULL;
}

const struct dbu_exporter dbu_exp_udmabuf = {
	.name		= "udmabuf",
	.flags		= DBU_EXP_DMABUF | DBU_EXP_PIN,
	.open		= udmabuf_open,
	.max_size	= udmabuf_max_size,
	.alloc		= udmabuf_alloc,
	.placement	= udmabuf_placement,
	.free		= udmabuf_free,
	.close		= udmabuf_close,
};
