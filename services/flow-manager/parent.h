/*
 * parent.h -- the flow-manager parent's private state.
 *
 * The parent owns the phone-facing listeners and the children.  It knows,
 * per child, which slots hold which flow, so that it can hand a new flow to
 * a child with room, route a UDP datagram to the child that owns its remote
 * address, and tell the router about every flow that ends -- including all
 * of a child's flows when the child dies (EP-20).
 *
 * Files: parent.c (start, stop, report, SIGCHLD), listen.c (sockets),
 * spawn.c (fork+exec), children.c (child records, slots, generations),
 * accept.c (TCP), proxy_accept.c (TCP behind a load balancer: the PROXY
 * header first), udp_demux.c (UDP), router_link.c (FLOW_CLOSED out).
 */
#ifndef EPSIP_FM_PARENT_H
#define EPSIP_FM_PARENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "epsip/config.h"
#include "epsip/rate.h"
#include "epsip/source_rate.h"
#include "epsip/daemon.h"
#include "epsip/ipc.h"
#include "epsip/log.h"
#include "epsip/metrics.h"

#include "udp_table.h"

struct fm_parent;
struct fm_child_rec;
struct fm_proxy_wait;

/* Room for a child id in decimal, with the NUL. */
#define FM_CHILD_ID_TEXT	16

/* One flow as the parent sees it: a slot of a child. */
struct fm_pflow {
	struct fm_udp_node udp;		/* UDP: key in the demux table */
	struct fm_child_rec *child;
	uint32_t slot;
	uint32_t generation;
	uint8_t transport;		/* EPSIP_TRANSPORT_NONE: slot free */
	uint8_t in_table;
	uint16_t listener;
	struct epsip_addr local;
	struct epsip_addr remote;
};

struct fm_child_rec {
	struct fm_parent *parent;
	uint32_t id;
	pid_t pid;
	int ctl_fd;			/* -1 once closed */
	int ctl_watched;		/* ctl_fd is in the loop */
	char name[32];			/* "fm1-c7" */
	struct fm_pflow *slots;		/* [cfg.flows_per_child] */
	uint32_t *free_slots;		/* stack of free slot numbers */
	uint32_t nfree;
	uint32_t nflows;
	/*
	 * The most flows it takes: flows-per-child, until a connection
	 * passed to it was lost because it was out of descriptors; then
	 * the flows it held at that moment, for the rest of its life.
	 */
	uint32_t fd_cap;
	int retiring;			/* takes no new flows */
	uint32_t holding;		/* listeners (bits) held for it */
	uint64_t started_ms;
	uint64_t empty_since_ms;	/* when nflows last fell to 0; 0: busy */
	/* Children with a free slot that take new flows. */
	LIST_ENTRY(fm_child_rec) open_link;
	int on_open;
	TAILQ_ENTRY(fm_child_rec) all_link;
	SLIST_ENTRY(fm_child_rec) pid_link;	/* pid hash chain */
};

SLIST_HEAD(fm_pid_chain, fm_child_rec);

/*
 * Every phone-facing listener: the `listen` addresses first, each a UDP
 * socket and a TCP one, then listen-tls, listen-ws and listen-wss, a TCP
 * socket each (udp_fd -1).  Its connections are handed over with its
 * transport, before a byte is read: TLS and WebSocket are the child's.
 */
#define FM_MAX_LISTENERS	(4 * CONFIG_MAX_LISTEN)

struct fm_listener {
	struct fm_parent *parent;
	uint16_t index;			/* in the parent's listeners */
	uint8_t transport;		/* of the TCP socket's connections */
	int udp_fd;			/* -1: a stream-only listener */
	int tcp_fd;
	/* TCP connections start with a PROXY header (proxy-protocol). */
	int proxy;
	/* accept() failed in a way no retry can fix now: TCP is not
	 * watched until this timer fires (-1: watched). */
	int accept_pause_timer;
	struct epsip_addr addr;		/* as bound (port 0 resolved) */
	/*
	 * A datagram whose owner's control socket was full, encoded for it
	 * (held_len 0: none).  While it waits the listener is not read, so
	 * what follows waits in the kernel's buffer (udp_demux.c).
	 */
	uint8_t *held_buf;		/* FM_CTL_MAX_SIZE, allocated once */
	size_t held_len;
	int held_fd;			/* a new flow's socket with it, or -1 */
	struct fm_child_rec *held_for;
	uint32_t kernel_drops;		/* SO_RXQ_OVFL, as last read */
};

/*
 * One kind of refused flow: its counter, and a warning at most once a
 * second that says how many were refused since the line before -- a
 * flood of refusals must not become a flood of log lines.
 */
/*
 * The parent stops a child with SIGINT, never SIGTERM: a child that gets
 * SIGTERM was sent it by PR_SET_PDEATHSIG or by epsipd sweeping up
 * orphans -- its parent is gone, and it reports the flows it closes to
 * the router itself (child.c).
 */
#define FM_CHILD_STOP_SIGNAL	SIGINT

struct fm_refusals {
	enum metric_id counter;		/* M_FLOWS_REFUSED_LIMIT */
	uint64_t last_line_ms;		/* 0: never logged */
	uint64_t unlogged;		/* refused since that line */
};

/* Why a connection to a proxy-protocol listener was closed unserved. */
enum fm_proxy_drop {
	FM_PROXY_UNTRUSTED,	/* not from a proxy-from address */
	FM_PROXY_MALFORMED,
	FM_PROXY_UNSUPPORTED,	/* v2 with UDP addresses */
	FM_PROXY_FAMILY,	/* IPv6 client, IPv4 listener */
	FM_PROXY_TIMEOUT,
	FM_PROXY_CLOSED,
	FM_PROXY_PENDING,	/* too many headers awaited */
	FM_PROXY_DROP_KINDS
};

struct fm_parent {
	struct daemon *d;
	const struct epsip_config *cfg;
	struct loop *loop;
	uint16_t instance;		/* in this instance's tokens */
	int lock_fd;			/* fm-K.lock, held while we run */
	/* udp-flow-sockets resolved at start: flows get their own. */
	int udp_connected;
	/* SIGUSR1 (drain.c): no new flows; stop once they are gone. */
	int draining;
	uint64_t drain_deadline_ms;
	int drain_timer;

	struct fm_listener listeners[FM_MAX_LISTENERS];
	size_t nlisteners;
	size_t nudp_listeners;		/* the first ones: `listen` */
	struct ipc_socket *router;
	struct fm_udp_table udp;
	/* recv buffer: control header room, then the datagram. */
	uint8_t *udp_buf;
	/* Kept open so accept() can still take and drop a connection
	 * when the process is out of descriptors. */
	int spare_fd;
	/* max-flows, lowered when the host's PIDs could not carry it. */
	unsigned max_flows;
	/* new-flow-rate: how fast flows may be created. */
	struct rate_limit new_flows;
	/* source-flow-rate: how fast one address may create them. */
	struct source_rate *source_flows;
	/* Refused flows, by why (flows.refused.<why>). */
	struct fm_refusals refused_limit;
	struct fm_refusals refused_rate;
	struct fm_refusals refused_source;
	struct fm_refusals refused_spawn;
	struct fm_refusals refused_backpressure;
	struct fm_refusals refused_fds;		/* the parent's own */
	struct fm_refusals refused_child_fds;	/* a child's */
	uint64_t accept_pause_last_warn;
	/* proxy_accept.c: connections whose PROXY header is awaited. */
	LIST_HEAD(, fm_proxy_wait) proxy_waiting;
	size_t nproxy_waiting;
	struct fm_refusals proxy_dropped[FM_PROXY_DROP_KINDS];

	/* Children. */
	TAILQ_HEAD(, fm_child_rec) all_children;	/* in spawn order */
	LIST_HEAD(, fm_child_rec) open_children;	/* by ascending id */
	struct fm_pid_chain *pid_hash;
	size_t pid_mask;
	size_t nchildren;
	uint32_t next_child_id;
	uint32_t generation;
	int respawn_timer;		/* -1: none pending */
	uint64_t spawn_last_warn;

	/* For exec: the parent's own argv, then "--child", N, NULL. */
	char **child_argv;
	char *child_argv_owned;		/* 1: child_argv[i] was allocated */
	int child_argc;			/* entries before "--child" */
	char flow_manager_text[8];	/* our K, for the children */

	size_t open[EPSIP_TRANSPORT_MAX + 1];	/* flows held, by transport */
	size_t open_total;
	int stopping;
};

/* listen.c: open every cfg.listen address on UDP and TCP (fatal on error). */
/*
 * instance_lock.c: hold <run_dir>/fm-K.lock while flow-manager K runs.
 * Returns the descriptor to keep open, or -1 with errno (EAGAIN: K is
 * already running).
 */
int fm_instance_lock(const char *run_dir, unsigned k);
/* --flow-manager auto: lock the lowest free K; its fd, or -1 (errno). */
int fm_instance_claim(const char *run_dir, unsigned *k);
/* Say that flow-manager K (lock `fd`) has bound its listeners. */
int fm_instance_mark_bound(int fd);
/* How many of the edge's other flow-managers have bound theirs. */
unsigned fm_instance_siblings_bound(const char *run_dir, unsigned self);
/*
 * The last child number flow-manager K (lock `fd`) gave, kept in its lock
 * file across K's restarts (0: none yet); and keeping it.
 */
uint32_t fm_instance_last_child(int fd);
int fm_instance_save_child(int fd, uint32_t id);

/* udp_flow_socket.c */
/* `connected` or `shared`: what `auto` means on this kernel and set. */
enum udp_flow_sockets fm_udp_flow_sockets_mode(
    const struct epsip_config *cfg);
/* A socket bound to `local`, connected to `remote`; or -1 with errno. */
int fm_udp_flow_socket_open(const struct epsip_addr *local,
    const struct epsip_addr *remote);

/* drain.c */
void fm_drain_begin(struct fm_parent *p);
void fm_drain_stop(struct fm_parent *p);

void fm_listen_open(struct fm_parent *p);
/* Drain: accept what is queued, then close every listener. */
void fm_listen_stop_taking(struct fm_parent *p);
void fm_listen_close(struct fm_parent *p);

/* spawn.c: fork+exec one child; the pid, or -1 with errno. */
pid_t fm_spawn_exec(char *const argv[], int ctl_fd, const int *udp_fds,
    size_t nudp, pid_t parent_pid);
/* A control socketpair: parent end non-blocking; both close-on-exec. */
int fm_spawn_socketpair(int *parent_end, int *child_end);

/* children.c */
int fm_children_init(struct fm_parent *p);
void fm_children_free(struct fm_parent *p);
struct fm_child_rec *fm_children_spawn(struct fm_parent *p);
struct fm_child_rec *fm_children_by_pid(struct fm_parent *p, pid_t pid);
/* Remove a dead child (already reaped) and free its record. */
void fm_children_forget(struct fm_parent *p, struct fm_child_rec *c);
/* A new flow: slot, child and generation; NULL if refused (counted). */
struct fm_pflow *fm_pflow_alloc(struct fm_parent *p, uint8_t transport,
    uint16_t listener, const struct epsip_addr *local,
    const struct epsip_addr *remote);
/*
 * End a flow: with a reason, tell the router and count it; with
 * EPSIP_CLOSE_NONE drop it silently (the child never learnt of it).
 */
void fm_pflow_release(struct fm_parent *p, struct fm_pflow *f,
    uint32_t reason);
/* Drain and handle what a child sent on its control socket. */
void fm_children_read_control(struct fm_parent *p, struct fm_child_rec *c);
void fm_children_gauges(struct fm_parent *p);
/* Retire pooled children empty for idle-child-timeout (timer callback). */
void fm_children_retire_idle(struct loop *loop, void *arg);

/* router_link.c: FLOW_CLOSED to the router, never lost to a burst. */
void fm_router_flow_closed(struct fm_parent *p, const struct epsip_msg *m);
/* Hand nng what waits (the loop does this itself while it runs). */
void fm_router_flush(struct fm_parent *p);
/* Messages to the router not yet taken by nng. */
size_t fm_router_waiting(const struct fm_parent *p);
void fm_router_free(struct fm_parent *p);

/* accept.c, udp_demux.c: listener callbacks. */
void fm_accept_cb(struct loop *loop, int fd, uint32_t events, void *arg);
/*
 * accept.c: make accepted connection `fd` a flow of a child, from
 * `remote` to `local`; `fd` is the child's or closed when it returns.
 */
void fm_accept_hand_off(struct fm_parent *p, struct fm_listener *l, int fd,
    const struct epsip_addr *local, const struct epsip_addr *remote);
/* accept.c: end a connection nobody will serve with a reset. */
void fm_reset_and_close(int fd);
/* accept.c: stop a paused listener's timer (before closing it). */
void fm_accept_unpause(struct fm_parent *p, struct fm_listener *l);
/*
 * accept.c: count one refused flow of kind `r` and, at most once a second,
 * log `fmt` with how many were refused since the last such line.
 */
void fm_refused(struct fm_parent *p, struct fm_refusals *r,
    const char *fmt, ...) EPSIP_PRINTF(3, 4);

/* proxy_accept.c: the PROXY protocol on listeners that expect it. */
void fm_proxy_init(struct fm_parent *p);
/*
 * A connection from `peer` to proxy-protocol listener `l`: dropped unread
 * unless `peer` is a proxy-from balancer, else a flow from the client
 * its header names once the header is in (fm_accept_hand_off).
 */
void fm_proxy_accept(struct fm_parent *p, struct fm_listener *l, int fd,
    const struct epsip_addr *local, const struct epsip_addr *peer);
/* Close every connection still waiting for its header (stop). */
void fm_proxy_close_all(struct fm_parent *p);
void fm_udp_demux_cb(struct loop *loop, int fd, uint32_t events, void *arg);
/* udp_demux.c: `c`'s control socket can be written: hand it what waits. */
void fm_udp_demux_writable(struct fm_parent *p, struct fm_child_rec *c);
/* udp_demux.c: `c` is gone: what waits for it is dropped, counted. */
void fm_udp_demux_child_gone(struct fm_parent *p, struct fm_child_rec *c);
/* udp_demux.c: udp.dropped.kernel, the listeners' buffer overflows. */
void fm_udp_demux_gauges(struct fm_parent *p);
/* udp_demux.c: before the listener closes. */
void fm_udp_demux_close(struct fm_parent *p, struct fm_listener *l);

#endif /* EPSIP_FM_PARENT_H */
