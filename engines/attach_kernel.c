// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: dmabuf_attach=kernel (placeholder until the series'
 * registration path lands).
 */
#include <errno.h>

#include "dbu.h"

static int kernel_check(struct dbu_ctx *c)
{
	return dbu_error(c, -ENOTSUP, "dmabuf_attach=kernel",
		"dmabuf_attach=kernel is not available in this build. Try "
		"dmabuf_attach=pages or dmabuf_attach=bounce");
}

const struct dbu_attach dbu_attach_kernel = {
	.name	= "kernel",
	.check	= kernel_check,
};
