/*
 * loop.c -- a single-threaded epoll loop with timers and signals.
 *
 * Descriptor callbacks live in an array indexed by fd, so dispatch is O(1)
 * whatever the number of flows.  Timers are few (a handful per process:
 * reaping, stats, back-off), so a small array scanned per iteration is
 * cheaper and simpler than a heap.  Signals arrive through one signalfd.
 * DIAGNOSTICS: epoll/signalfd set-up failures are fatal.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "epsip/log.h"
#include "epsip/loop.h"

#define LOOP_MAX_TIMERS		64
#define LOOP_MAX_SIGNALS	8
#define LOOP_EVENTS		256
#define LOOP_MAX_END_HOOKS	8

struct loop_fd {
	loop_fd_cb cb;
	void *arg;
	uint32_t generation;	/* bumped on delete: stale events are ignored */
	int again;		/* on the again list */
};

struct loop_timer {
	int used;
	unsigned interval_ms;	/* 0 for one-shot */
	uint64_t due_ms;
	loop_timer_cb cb;
	void *arg;
};

struct loop_signal {
	int signo;
	loop_signal_cb cb;
	void *arg;
};

struct loop_end_hook {
	enum loop_end_phase phase;
	loop_timer_cb cb;
	void *arg;
};

struct loop {
	int epfd;
	int running;
	uint64_t now_ms;
	struct loop_fd *fds;
	size_t fd_cap;
	struct loop_timer timers[LOOP_MAX_TIMERS];
	int sigfd;
	sigset_t sigmask;
	struct loop_signal signals[LOOP_MAX_SIGNALS];
	size_t signal_count;
	struct loop_end_hook end_hooks[LOOP_MAX_END_HOOKS]; /* by phase */
	size_t end_hook_count;
	int *again;		/* fds to call again (loop_fd_again) */
	size_t again_count, again_cap;
	int *again_run;		/* the list being run */
};

uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

struct loop *
loop_new(void)
{
	struct loop *loop;

	if ((loop = calloc(1, sizeof(*loop))) == NULL) {
		return (NULL);
	}
	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(loop);
		return (NULL);
	}
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	loop->now_ms = monotonic_ms();
	return (loop);
}

void
loop_free(struct loop *loop)
{
	if (loop == NULL) {
		return;
	}
	close(loop->epfd);
	if (loop->sigfd != -1) {
		close(loop->sigfd);
	}
	free(loop->fds);
	free(loop->again);
	free(loop->again_run);
	free(loop);
}

static int
loop_reserve(struct loop *loop, int fd)
{
	size_t cap;
	struct loop_fd *fds;

	if ((size_t)fd < loop->fd_cap) {
		return (0);
	}
	cap = loop->fd_cap ? loop->fd_cap : 64;
	while (cap <= (size_t)fd) {
		cap *= 2;
	}
	if ((fds = realloc(loop->fds, cap * sizeof(*fds))) == NULL) {
		return (-1);
	}
	memset(fds + loop->fd_cap, 0, (cap - loop->fd_cap) * sizeof(*fds));
	loop->fds = fds;
	loop->fd_cap = cap;
	return (0);
}

static uint64_t
loop_event_key(int fd, uint32_t generation)
{
	return ((uint64_t)generation << 32 | (uint32_t)fd);
}

int
loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb,
    void *arg)
{
	struct epoll_event ev;

	if (fd < 0 || loop_reserve(loop, fd) == -1) {
		return (-1);
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = loop_event_key(fd, loop->fds[fd].generation);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		return (-1);
	}
	loop->fds[fd].cb = cb;
	loop->fds[fd].arg = arg;
	return (0);
}

int
loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev;

	if (fd < 0 || (size_t)fd >= loop->fd_cap) {
		return (-1);
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = loop_event_key(fd, loop->fds[fd].generation);
	return (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev));
}

void
loop_del_fd(struct loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->fd_cap) {
		return;
	}
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd].cb = NULL;
	loop->fds[fd].arg = NULL;
	loop->fds[fd].generation++;
	/* Left on the again list: skipped unless the number is reused, and
	 * then one EPOLLIN too many is no harm (callbacks expect EAGAIN). */
}

void
loop_fd_again(struct loop *loop, int fd)
{
	int *list;
	size_t cap;

	if (fd < 0 || (size_t)fd >= loop->fd_cap || loop->fds[fd].again) {
		return;
	}
	if (loop->again_count == loop->again_cap) {
		cap = loop->again_cap ? loop->again_cap * 2 : 8;
		if ((list = realloc(loop->again, cap * sizeof(*list))) == NULL) {
			return;	/* its next event will do */
		}
		loop->again = list;
		if ((list = realloc(loop->again_run, cap * sizeof(*list))) ==
		    NULL) {
			return;
		}
		loop->again_run = list;
		loop->again_cap = cap;
	}
	loop->fds[fd].again = 1;
	loop->again[loop->again_count++] = fd;
}

/*
 * The fds asked for again in the last iteration, taken at the start of
 * this one: what asks again while they run waits for the next, so each
 * iteration still ends with timers and end hooks.
 */
static size_t
loop_take_again(struct loop *loop)
{
	size_t n = loop->again_count;

	if (n > 0) {
		memcpy(loop->again_run, loop->again, n * sizeof(*loop->again));
		loop->again_count = 0;
		for (size_t i = 0; i < n; i++) {
			loop->fds[loop->again_run[i]].again = 0;
		}
	}
	return (n);
}

static void
loop_run_again(struct loop *loop, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int fd = loop->again_run[i];

		if (loop->fds[fd].cb != NULL) {
			loop->fds[fd].cb(loop, fd, EPOLLIN, loop->fds[fd].arg);
		}
	}
}

static int
loop_add_timer(struct loop *loop, unsigned delay_ms, unsigned interval_ms,
    loop_timer_cb cb, void *arg)
{
	for (int i = 0; i < LOOP_MAX_TIMERS; i++) {
		struct loop_timer *t = &loop->timers[i];

		if (!t->used) {
			t->used = 1;
			t->interval_ms = interval_ms;
			t->due_ms = monotonic_ms() + delay_ms;
			t->cb = cb;
			t->arg = arg;
			return (i);
		}
	}
	log_error("loop: out of timers");
	return (-1);
}

int
loop_every(struct loop *loop, unsigned interval_ms, loop_timer_cb cb,
    void *arg)
{
	return (loop_add_timer(loop, interval_ms, interval_ms ? interval_ms : 1,
	    cb, arg));
}

int
loop_after(struct loop *loop, unsigned delay_ms, loop_timer_cb cb, void *arg)
{
	return (loop_add_timer(loop, delay_ms, 0, cb, arg));
}

void
loop_cancel(struct loop *loop, int timer_id)
{
	if (timer_id >= 0 && timer_id < LOOP_MAX_TIMERS) {
		loop->timers[timer_id].used = 0;
	}
}

static void
loop_signal_read(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (size_t i = 0; i < loop->signal_count; i++) {
			if (loop->signals[i].signo == (int)si.ssi_signo) {
				loop->signals[i].cb(loop, (int)si.ssi_signo,
				    loop->signals[i].arg);
			}
		}
	}
}

int
loop_on_signal(struct loop *loop, int signo, loop_signal_cb cb, void *arg)
{
	int fd;

	if (loop->signal_count == LOOP_MAX_SIGNALS) {
		return (-1);
	}
	sigaddset(&loop->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &loop->sigmask, NULL) == -1) {
		return (-1);
	}
	fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1) {
		return (-1);
	}
	if (loop->sigfd == -1) {
		loop->sigfd = fd;
		if (loop_add_fd(loop, fd, EPOLLIN, loop_signal_read, NULL)) {
			return (-1);
		}
	}
	loop->signals[loop->signal_count].signo = signo;
	loop->signals[loop->signal_count].cb = cb;
	loop->signals[loop->signal_count].arg = arg;
	loop->signal_count++;
	return (0);
}

/* Milliseconds until the next timer is due, or -1 for none. */
static int
loop_next_timeout(struct loop *loop)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < LOOP_MAX_TIMERS; i++) {
		if (loop->timers[i].used && loop->timers[i].due_ms < next) {
			next = loop->timers[i].due_ms;
		}
	}
	if (next == UINT64_MAX) {
		return (-1);
	}
	return (next <= loop->now_ms ? 0 : (int)(next - loop->now_ms));
}

static void
loop_run_timers(struct loop *loop)
{
	for (int i = 0; i < LOOP_MAX_TIMERS; i++) {
		struct loop_timer *t = &loop->timers[i];

		if (!t->used || t->due_ms > loop->now_ms) {
			continue;
		}
		if (t->interval_ms == 0) {
			t->used = 0;
		} else {
			t->due_ms = loop->now_ms + t->interval_ms;
		}
		t->cb(loop, t->arg);
	}
}

int
loop_at_iteration_end(struct loop *loop, enum loop_end_phase phase,
    loop_timer_cb cb, void *arg)
{
	size_t at;

	if (loop->end_hook_count == LOOP_MAX_END_HOOKS) {
		log_error("loop: out of iteration-end hooks");
		return (-1);
	}
	/* Kept sorted by phase, stable within one. */
	for (at = loop->end_hook_count; at > 0 &&
	    loop->end_hooks[at - 1].phase > phase; at--) {
		loop->end_hooks[at] = loop->end_hooks[at - 1];
	}
	loop->end_hooks[at].phase = phase;
	loop->end_hooks[at].cb = cb;
	loop->end_hooks[at].arg = arg;
	loop->end_hook_count++;
	return (0);
}

static void
loop_run_end_hooks(struct loop *loop)
{
	for (size_t i = 0; i < loop->end_hook_count; i++) {
		loop->end_hooks[i].cb(loop, loop->end_hooks[i].arg);
	}
}

int
loop_run(struct loop *loop)
{
	struct epoll_event events[LOOP_EVENTS];
	int n;

	loop->running = 1;
	/* What was produced before the loop ran is finished first. */
	loop_run_end_hooks(loop);
	while (loop->running) {
		size_t again = loop_take_again(loop);

		loop->now_ms = monotonic_ms();
		n = epoll_wait(loop->epfd, events, LOOP_EVENTS,
		    again > 0 ? 0 : loop_next_timeout(loop));
		if (n == -1 && errno != EINTR) {
			log_warn("epoll_wait");
			return (-1);
		}
		loop->now_ms = monotonic_ms();
		for (int i = 0; i < n; i++) {
			int fd = (int)(events[i].data.u64 & 0xffffffffu);
			uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);

			/*
			 * An earlier callback of this batch may have closed the
			 * fd, and even opened a new one with the same number:
			 * the generation tells the two apart.
			 */
			if ((size_t)fd < loop->fd_cap && loop->fds[fd].cb &&
			    loop->fds[fd].generation == gen) {
				loop->fds[fd].cb(loop, fd, events[i].events,
				    loop->fds[fd].arg);
			}
		}
		loop_run_again(loop, again);
		loop_run_timers(loop);
		loop_run_end_hooks(loop);
	}
	return (0);
}

void
loop_stop(struct loop *loop)
{
	loop->running = 0;
}

uint64_t
loop_now_ms(struct loop *loop)
{
	return (loop->now_ms);
}
