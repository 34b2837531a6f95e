// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: what the target is, which driver serves it and how its
 * DMA is translated (the IOMMU domain type of its group).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>

#include "dbu.h"

/* O_DIRECT on a block device: lengths in logical blocks. */
static int check_block_size(struct dbu_ctx *c, int fd, const char *path)
{
	int ssz = 0;

	if (ioctl(fd, BLKSSZGET, &ssz) || ssz <= 0)
		return dbu_error(c, -errno, "BLKSSZGET",
			"reading the logical block size of %s", path);
	c->lbs = ssz;
	if (!c->direct || (c->min_bs % ssz == 0 && c->max_bs % ssz == 0))
		return 0;
	return dbu_error(c, -EINVAL, "direct=1 on a block device",
		"block sizes %zu..%zu are not multiples of %s's logical block "
		"size %d: the kernel fails such O_DIRECT requests with EINVAL. "
		"Use bs (and bsrange/bssplit) in multiples of %d", c->min_bs,
		c->max_bs, path, ssz, ssz);
}

int dbu_target_check(struct dbu_ctx *c, int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st))
		return dbu_error(c, -errno, "fstat of the target", "%s", path);
	if (S_ISBLK(st.st_mode))
		return check_block_size(c, fd, path);
	if (S_ISREG(st.st_mode))
		return 0;
	return dbu_error(c, -ENOTBLK, "opening the target",
		"%s is neither a regular file nor a block device. Try "
		"filename=/dev/nvmeXnY (or a file for the host tier)", path);
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/*
 * Walk up from the block device's sysfs node to the first ancestor bound
 * to a driver (nvme0n1 -> nvme0 -> 0000:00:04.0, driver "nvme").
 */
void dbu_target_info(const char *path, char *driver, size_t dlen,
		     char *iommu, size_t ilen)
{
	char sys[PATH_MAX + 32], link[PATH_MAX], real[PATH_MAX];
	struct stat st;
	char *slash;
	ssize_t n;

	snprintf(driver, dlen, "none");
	snprintf(iommu, ilen, "none");
	if (stat(path, &st) || !S_ISBLK(st.st_mode))
		return;
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u",
		 major(st.st_rdev), minor(st.st_rdev));
	if (!realpath(sys, real))
		return;
	while ((slash = strrchr(real, '/')) && slash != real) {
		snprintf(sys, sizeof(sys), "%s/driver", real);
		n = readlink(sys, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			snprintf(driver, dlen, "%s", strrchr(link, '/') + 1);
			snprintf(sys, sizeof(sys), "%s/iommu_group/type",
				 real);
			read_line(sys, iommu, ilen);
			return;
		}
		*slash = '\0';
	}
}
