// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: PCI devices by address, for the exporters of device memory
 * (vfio, p2pmem): parsing "BDF[:N]" and reading the device's sysfs files.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbu.h"

/* 1 to max hex digits at *p, no sign or space; advances *p. */
static int hex_field(const char **p, unsigned int max, unsigned int *v)
{
	static const char digits[] = "0123456789abcdef";
	const char *s = *p, *d;
	unsigned int n = 0;

	*v = 0;
	while (n < max && isxdigit((unsigned char)s[n])) {
		d = strchr(digits, tolower((unsigned char)s[n++]));
		*v = *v * 16 + (unsigned int)(d - digits);
	}
	if (!n || isxdigit((unsigned char)s[n]))
		return -EINVAL;
	*p = s + n;
	return 0;
}

/*
 * "0000:00:04.0" or "00:04.0", then optionally ":N" (*n, else -1).
 * Writes the full address (domain included) to bdf.
 */
int dbu_pci_parse(const char *arg, char bdf[DBU_BDF_LEN], int *n)
{
	unsigned int f[4] = { 0 }, i, colons = 0;
	const char *p = arg, *dot;

	if (!arg || !(dot = strchr(arg, '.')))
		return -EINVAL;
	/* domain:bus:dev.fn or bus:dev.fn: two colons before the dot, or one */
	for (; p < dot; p++)
		colons += *p == ':';
	if (colons < 1 || colons > 2)
		return -EINVAL;
	p = arg;
	for (i = 2 - colons; i < 4; i++) {
		if (hex_field(&p, i == 0 ? 4 : i == 3 ? 1 : 2, &f[i]))
			return -EINVAL;
		if (i < 3 && *p++ != (i == 2 ? '.' : ':'))
			return -EINVAL;
	}
	if (f[2] > 0x1f || f[3] > 7)
		return -EINVAL;
	if (n)
		*n = -1;
	if (*p) {
		if (!n || p[0] != ':' || p[1] < '0' || p[1] > '5' || p[2])
			return -EINVAL;
		*n = p[1] - '0';
	}
	snprintf(bdf, DBU_BDF_LEN, "%04x:%02x:%02x.%x", f[0], f[1], f[2], f[3]);
	return 0;
}

/* /sys/bus/pci/devices/BDF/ATTR, its first line; -errno when unreadable. */
int dbu_pci_attr(const char *bdf, const char *attr, char *buf, size_t len)
{
	char path[128];
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), DBU_PCI_SYSFS "/%s/%s", bdf, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, len - 1);
	close(fd);
	if (got < 0)
		return -errno;
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The last path element of the symlink BDF/ATTR ("" when absent). */
void dbu_pci_link(const char *bdf, const char *attr, char *buf, size_t len)
{
	char path[128], target[PATH_MAX];
	ssize_t got;
	char *slash;

	snprintf(path, sizeof(path), DBU_PCI_SYSFS "/%s/%s", bdf, attr);
	got = readlink(path, target, sizeof(target) - 1);
	buf[0] = '\0';
	if (got <= 0)
		return;
	target[got] = '\0';
	slash = strrchr(target, '/');
	snprintf(buf, len, "%s", slash ? slash + 1 : target);
}

/* "vvvv:dddd" of the device, "?" where sysfs does not say. */
void dbu_pci_ids(const char *bdf, char *buf, size_t len)
{
	char ven[16], dev[16];

	if (dbu_pci_attr(bdf, "vendor", ven, sizeof(ven)) ||
	    dbu_pci_attr(bdf, "device", dev, sizeof(dev))) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%s:%s", ven + (ven[0] == '0' && ven[1] == 'x') * 2,
		 dev + (dev[0] == '0' && dev[1] == 'x') * 2);
}

/* "16 MiB" */
void dbu_size_str(uint64_t bytes, char *buf, size_t len)
{
	static const char *unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (u < 4 && bytes >= 1024 && !(bytes % 1024)) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)bytes, unit[u]);
}
