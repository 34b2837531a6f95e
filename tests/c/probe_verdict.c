// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs the engine's uAPI probe (engines/probe.c, kernel-uapi.md 4.1) with
 * no dma-buf: steps 1-2 on a scratch ring, and step 3 when TARGET (an
 * O_DIRECT block device) is given.
 *
 *   probe_verdict [TARGET]
 *
 * Prints "verdict=<uapi_probe> errno=<ERRNAME>" and, for every verdict but
 * present, "message=<the engine's one-line error>".  Exit 0: the probe
 * ran (any verdict); 77: io_uring is not usable here; 1: it could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbu.h"

int main(int argc, char **argv)
{
	struct dbu_ctx *c = calloc(1, sizeof(*c));
	char msg[1024];
	int fd = -1, ret;

	if (!c)
		return 1;
	snprintf(c->uapi_probe, sizeof(c->uapi_probe), "not-run");
	c->target_fd = -1;
	c->src = "none";
	if (argc > 1) {
		fd = open(argv[1], O_RDWR | O_DIRECT);
		if (fd < 0) {
			fprintf(stderr, "open %s: %s\n", argv[1],
				strerror(errno));
			return 1;
		}
		snprintf(c->target, sizeof(c->target), "%s", argv[1]);
		c->target_fd = fd;
		dbu_target_info(c->target, c->target_driver,
				sizeof(c->target_driver), c->iommu_domain,
				sizeof(c->iommu_domain));
	}
	ret = dbu_probe_uapi(c, fd);
	if (!strcmp(c->uapi_probe, "not-run")) {
		dbu_error_format(&c->error, msg, sizeof(msg));
		fprintf(stderr, "probe did not run: %s\n", msg);
		return ret == -EPERM || ret == -ENOSYS ? 77 : 1;
	}
	printf("verdict=%s errno=%s\n", c->uapi_probe,
	       c->uapi_errno ? dbu_errname(c->uapi_errno) : "0");
	if (ret) {
		dbu_error_format(&c->error, msg, sizeof(msg));
		printf("message=%s\n", msg);
	}
	if (fd >= 0)
		close(fd);
	free(c);
	return 0;
}
