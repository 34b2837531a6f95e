// SPDX-License-Identifier: GPL-2.0-only
/*
 * engines/watchdog.c bounds a blocking, interruptible system call: a read
 * of an empty pipe (which, like DMA_BUF_IOCTL_SYNC on a dma-buf with an
 * unsignalled fence, would wait forever) returns EINTR after the bound,
 * in two threads at once, each with its own timer; once stopped, the
 * timer interrupts nothing else.  Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "dbu.h"

struct arg {
	unsigned int seconds;
	double took;
	int err;
};

static void *bounded_read(void *p)
{
	struct arg *a = p;
	struct dbu_wd wd;
	int fds[2];
	int64_t t0;
	char b;
	ssize_t n;

	if (pipe(fds))
		return NULL;
	t0 = dbu_now_ns();
	if (dbu_wd_start(&wd, a->seconds)) {
		a->err = -1;
		return NULL;
	}
	do {
		n = read(fds[0], &b, 1);
	} while (n < 0 && errno == EINTR && !dbu_wd_expired(&wd));
	a->err = n < 0 ? errno : 0;
	dbu_wd_stop(&wd);
	a->took = (dbu_now_ns() - t0) / 1e9;
	/* Disarmed: a short sleep must run to its end, not get EINTR. */
	if (usleep(300000))
		a->err = -2;
	dbu_wd_release();
	close(fds[0]);
	close(fds[1]);
	return NULL;
}

int main(void)
{
	struct arg a = { .seconds = 1 }, b = { .seconds = 2 };
	pthread_t ta, tb;
	int fail = 0;

	pthread_create(&ta, NULL, bounded_read, &a);
	pthread_create(&tb, NULL, bounded_read, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	printf("thread1 err=%d took=%.2f\n", a.err, a.took);
	printf("thread2 err=%d took=%.2f\n", b.err, b.took);
	if (a.err != EINTR || a.took < 1.0 || a.took > 1.5)
		fail = 1;
	if (b.err != EINTR || b.took < 2.0 || b.took > 2.5)
		fail = 1;
	printf("%s\n", fail ? "FAIL" : "PASS");
	return fail;
}
