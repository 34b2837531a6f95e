// SPDX-License-Identifier: GPL-2.0-only
/*
 * dmabuf_uring: bounded waits for system calls that can block forever.
 *
 * Posted versions of the io_uring dma-buf series can leave a dma-buf with
 * a fence that is never signalled (kernel-uapi.md section 5): after that,
 * unregistration waits without end (DMA_BUF_IOCTL_SYNC too, which
 * exporter.c bounds with poll()), and so can an IOPOLL ring's wait.  Those
 * waits are interruptible, so each is bounded by a per-thread POSIX timer that
 * sends a real-time signal to this thread alone (SIGEV_THREAD_ID).  The
 * handler does nothing and is installed without SA_RESTART: the blocked
 * call returns EINTR, the caller sees the deadline has passed and reports
 * what it was waiting for.
 *
 * After the deadline the timer keeps firing every DBU_WD_REFIRE_MS, so a
 * signal that lands just before the call blocks cannot be lost.  The timer
 * is disarmed outside a bounded wait, so no other call of fio's ever sees
 * an EINTR from it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "dbu.h"

#define DBU_WD_REFIRE_MS	100

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id	_sigev_un._tid
#endif

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;
static unsigned int wd_users;		/* threads holding a timer */
static bool wd_installed;
static struct sigaction wd_old;

static __thread bool wd_have;		/* this thread's timer exists */
static __thread timer_t wd_timer;

static int wd_signal(void)
{
	return SIGRTMIN + 5;
}

static void wd_handler(int sig)
{
	(void)sig;	/* only there to make the blocked call return EINTR */
}

/* A forked fio job does not inherit POSIX timers. */
static void wd_atfork_child(void)
{
	wd_have = false;
	wd_users = 0;
}

static void wd_init_once(void)
{
	pthread_atfork(NULL, NULL, wd_atfork_child);
}

static int wd_create(void)
{
	struct sigevent sev;
	struct sigaction sa;
	sigset_t set;
	int ret = 0;

	pthread_once(&wd_once, wd_init_once);
	pthread_mutex_lock(&wd_lock);
	if (!wd_installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = wd_handler;	/* no SA_RESTART */
		sigemptyset(&sa.sa_mask);
		if (sigaction(wd_signal(), &sa, &wd_old))
			ret = -errno;
		else
			wd_installed = true;
	}
	if (!ret) {
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = wd_signal();
		sev.sigev_notify_thread_id = syscall(SYS_gettid);
		if (timer_create(CLOCK_MONOTONIC, &sev, &wd_timer))
			ret = -errno;
	}
	if (!ret) {
		wd_have = true;
		wd_users++;
	}
	pthread_mutex_unlock(&wd_lock);
	if (!ret) {
		sigemptyset(&set);
		sigaddset(&set, wd_signal());
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	return ret;
}

int dbu_wd_start(struct dbu_wd *wd, unsigned int seconds)
{
	struct itimerspec its = {
		.it_value	= { .tv_sec = seconds },
		.it_interval	= { .tv_nsec = DBU_WD_REFIRE_MS * 1000000L },
	};
	int ret;

	wd->seconds = seconds;
	wd->armed = false;
	wd->deadline_ns = dbu_now_ns() + (int64_t)seconds * 1000000000;
	if (!seconds)
		return 0;	/* dmabuf_watchdog=0: unbounded, as asked */
	if (!wd_have && (ret = wd_create()))
		return ret;
	if (timer_settime(wd_timer, 0, &its, NULL))
		return -errno;
	wd->armed = true;
	return 0;
}

bool dbu_wd_expired(const struct dbu_wd *wd)
{
	return wd->seconds && dbu_now_ns() >= wd->deadline_ns;
}

void dbu_wd_stop(struct dbu_wd *wd)
{
	struct itimerspec off;
	int saved = errno;

	if (wd->armed) {
		memset(&off, 0, sizeof(off));
		timer_settime(wd_timer, 0, &off, NULL);
	}
	wd->armed = false;
	errno = saved;
}

/* Drop this thread's timer; the last one restores the signal's action. */
void dbu_wd_release(void)
{
	if (!wd_have)
		return;
	timer_delete(wd_timer);
	wd_have = false;
	pthread_mutex_lock(&wd_lock);
	if (wd_users && !--wd_users && wd_installed) {
		sigaction(wd_signal(), &wd_old, NULL);
		wd_installed = false;
	}
	pthread_mutex_unlock(&wd_lock);
}

/*
 * A wait at teardown ran out: record it for the report and say it now,
 * since the job's error has already been printed (or there was none).
 */
void dbu_wd_fail(struct dbu_ctx *c, const char *what, const char *fmt, ...)
{
	char detail[sizeof(c->error.detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	dbu_error(c, -ETIMEDOUT, what, "%s", detail);
	c->stuck = true;
	fprintf(stderr, "fio: " DBU_NAME ": %s: %s.\n", what, detail);
}
