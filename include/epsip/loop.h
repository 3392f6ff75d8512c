/*
 * loop.h -- a small single-threaded epoll event loop.
 *
 * Every EPSIP process runs one of these: sockets, nng's pollable receive
 * descriptor (NNG_OPT_RECVFD), signals through signalfd and a few periodic
 * timers.  There are no per-flow threads and no sleeps anywhere.
 */
#ifndef EPSIP_LOOP_H
#define EPSIP_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;

typedef void (*loop_fd_cb)(struct loop *loop, int fd, uint32_t events,
    void *arg);
typedef void (*loop_timer_cb)(struct loop *loop, void *arg);
typedef void (*loop_signal_cb)(struct loop *loop, int signo, void *arg);

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* events: EPOLLIN, EPOLLOUT, ... (EPOLLRDHUP etc. passed through). */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb,
    void *arg);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
void loop_del_fd(struct loop *loop, int fd);

/*
 * Call fd's callback again in the next iteration (with EPOLLIN), without
 * sleeping first, even if epoll does not report it: its owner holds input
 * that the descriptor no longer shows (the rest of an IPC batch read
 * with a budget).  Repeated calls before then count once.
 */
void loop_fd_again(struct loop *loop, int fd);

/* A periodic timer, first firing after `interval_ms`; returns an id >= 0. */
int loop_every(struct loop *loop, unsigned interval_ms, loop_timer_cb cb,
    void *arg);
/* A one-shot timer; returns an id >= 0 that loop_cancel() takes. */
int loop_after(struct loop *loop, unsigned delay_ms, loop_timer_cb cb,
    void *arg);
void loop_cancel(struct loop *loop, int timer_id);

/*
 * Deliver `signo` through the loop (blocks it for the calling thread).
 * Call it before any other thread exists (nng's!), or block the signal
 * earlier, as daemon_main() does for the signals services use.
 */
int loop_on_signal(struct loop *loop, int signo, loop_signal_cb cb, void *arg);

/*
 * Work done once per loop iteration, after every ready descriptor and due
 * timer of that iteration was handled and before the loop sleeps again.
 * Whatever one iteration produced is finished together: LOOP_END_COMMIT
 * hooks first (the registrar commits the bindings of the iteration's
 * REGISTERs in one transaction and only then releases their 200s), then
 * LOOP_END_FLUSH (every IPC batch leaves, ipc_socket.c).  Within a phase,
 * hooks run in the order they were added.  No delay is added: an idle
 * process flushes the one message its one event produced at once.  They
 * also run once when loop_run() starts, for what was produced before.
 */
enum loop_end_phase {
	LOOP_END_COMMIT = 0,
	LOOP_END_FLUSH = 1,
};
int loop_at_iteration_end(struct loop *loop, enum loop_end_phase phase,
    loop_timer_cb cb, void *arg);

int loop_run(struct loop *loop);	/* until loop_stop() */
void loop_stop(struct loop *loop);

/* Monotonic milliseconds, refreshed once per loop iteration. */
uint64_t loop_now_ms(struct loop *loop);
uint64_t monotonic_ms(void);

#endif /* EPSIP_LOOP_H */
