/*
 * child.h -- a flow-manager child's private state.
 *
 * A child owns the flows in its slots, in one epoll loop: the control
 * socket from the parent (fd 3: new TCP connections, UDP datagrams), every
 * TCP connection, its nng pull socket (SIP_TO_FLOW and FLOW_SET_TIMER from
 * the router, FLOWS_QUERY from epsipd) and a once-a-second reaper.  It speaks SIP to the router and
 * reports every flow it ends to the parent, which tells the router.
 *
 * Files: child.c (start, stop, control socket, router messages, reaping),
 * flow.c (the slot table, closing, sending), stream_flow.c (a connection
 * of any stream transport: TCP, TLS, WS, WSS), tcp_flow.c (SIP framed by
 * Content-Length on TCP and TLS), ws_flow.c (SIP over WebSocket: the
 * upgrade, frames, Pings), udp_flow.c (datagrams, STUN), flow_list.c (its
 * flows listed for epsipd's GET /flows).
 *
 * TLS and WebSocket state lives here only, in the child that owns the
 * connection: nothing about it is shared with another process.
 */
#ifndef EPSIP_FM_CHILD_H
#define EPSIP_FM_CHILD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "epsip/config.h"
#include "epsip/daemon.h"
#include "epsip/ipc.h"
#include "epsip/overload.h"
#include "epsip/stream.h"
#include "epsip/ws.h"

#include "control.h"

struct fm_child;
typedef struct ssl_ctx_st SSL_CTX;

/* A WebSocket flow's own state (ws_flow.c); the others have none. */
struct fm_ws {
	struct ws_reader reader;
	uint8_t open;			/* upgraded: frames from now on */
	uint8_t close_sent;		/* our Close is out: nothing more */
	uint8_t peer_closed;		/* the phone's Close came */
	uint64_t ping_sent_ms;		/* a Ping awaits its Pong; 0: none */
};

struct fm_flow {
	struct fm_child *child;
	struct epsip_flow_id id;
	uint8_t transport;
	uint16_t listener;
	struct epsip_addr local;
	struct epsip_addr remote;
	/*
	 * TCP, TLS, WS, WSS: the connection, its input (no buffer while
	 * empty, most of a flow's life), its output in order; paused while
	 * the router's queue is full.  TLS: the session is the stream's
	 * transport state.  Unused by UDP flows.
	 */
	struct stream stream;
	struct fm_ws *ws;		/* WS and WSS only */
	uint8_t tls_seen;		/* its handshake was counted */
	/* Since when its input holds part of a message; 0: none. */
	uint64_t partial_since_ms;
	/*
	 * UDP: the flow's own connected socket, on which the kernel delivers
	 * its datagrams straight to this child (udp-flow-sockets), or -1
	 * when it shares the listener the parent reads.
	 */
	int udp_fd;
	uint64_t opened_ms;
	uint64_t last_activity_ms;
	uint32_t timer_s;		/* Flow-Timer; 0: none advertised */
	/* The AoR its last 2xx REGISTER was for (FLOW_SET_TIMER), at most
	 * EPSIP_AOR_MAX bytes, malloc'ed; NULL: never registered. */
	char *aor;
	/* Close by then whatever happens (framing error, CLOSE_AFTER_SEND);
	 * 0: none.  Checked by the reaper: the loop has few timers. */
	uint64_t close_deadline_ms;
};

/* A control message that the parent could not take yet. */
struct fm_ctlq {
	STAILQ_ENTRY(fm_ctlq) next;
	size_t len;
	uint8_t data[FM_CTL_CLOSED_SIZE];
};

struct fm_child {
	struct daemon *d;
	const struct epsip_config *cfg;
	struct loop *loop;
	uint16_t instance;		/* the flow-manager's, in tokens */
	uint32_t id;
	char name[32];

	int ctl_fd;
	uint32_t ctl_events;
	STAILQ_HEAD(, fm_ctlq) ctlq;
	uint8_t *ctl_buf;		/* FM_CTL_MAX_SIZE */

	struct ipc_socket *pull;	/* fm<i>-c<n>.ipc */
	struct overload_gate overload;	/* the router's share to shed */
	struct ipc_socket *router;
	int reap_timer;

	struct fm_flow **flows;		/* [nslots], by slot */
	uint32_t *closed_gen;		/* last generation closed per slot */
	uint32_t nslots;
	uint32_t nflows;
	uint32_t nopen[EPSIP_TRANSPORT_MAX + 1];	/* by transport */
	int had_flow;
	size_t nlisteners;		/* the edge's listen addresses */
	size_t inherited_udp;		/* UDP listener fds 4.. (shared) */
	size_t max_message;		/* framing limit */
	struct stream_class sip_stream;	/* TCP and TLS flows (tcp_flow.c) */
	struct stream_class ws;		/* WS and WSS flows (ws_flow.c) */
	/*
	 * New TLS and WSS flows' (NULL: no such listener).  Built again on
	 * reload; a flow keeps the one it started with (OpenSSL counts).
	 */
	SSL_CTX *tls_ctx;
	/* ws_flow.c: a frame's unmasked payload; one frame out. */
	uint8_t *ws_buf;
	size_t ws_buf_cap;
	uint8_t *ws_out;
	size_t ws_out_cap;
	/* Who may open a WebSocket (ws-origin). */
	const char *ws_origins[CONFIG_MAX_WS_ORIGINS];
	struct ws_upgrade_policy ws_policy;
	int exiting;
	/*
	 * Our parent died (or its control socket closed): a flow we close
	 * now is reported to the router by us, since it cannot be, so the
	 * registrar drops its bindings at once (a killed flow-manager
	 * costs its flows, not stale bindings as well).
	 */
	int orphaned;
	/* TCP flows paused for the router (by slot), retried on a timer. */
	uint32_t *paused_slots;
	size_t npaused, paused_cap;
	int resume_armed;
};

/* child.c */
void fm_child_ctl_send_closed(struct fm_child *c, uint32_t slot,
    uint32_t generation, uint32_t reason);
void fm_child_maybe_exit(struct fm_child *c);

/* flow.c */
struct fm_flow *fm_flow_new(struct fm_child *c, const struct fm_ctl_msg *m,
    uint8_t transport);
/* Ends the flow and frees it; `f` is gone afterwards. */
void fm_flow_close(struct fm_flow *f, uint32_t reason);
/* The flow a router message names, or NULL if it is not ours. */
struct fm_flow *fm_flow_find(struct fm_child *c,
    const struct epsip_flow_id *id);
/*
 * Send SIP or a framing error to the router, with this flow's envelope,
 * stamped now; _at: stamped `arrived_ms`, when the bytes reached the host.
 * Kept while the router is busy (ipc_send): -1 only when it is gone.
 */
int fm_flow_to_router(struct fm_flow *f, uint16_t type, uint32_t arg,
    const void *payload, size_t len);
int fm_flow_to_router_at(struct fm_flow *f, uint16_t type, uint32_t arg,
    const void *payload, size_t len, uint64_t arrived_ms);
/*
 * Offer SIP from the flow (ipc_offer): -1, nothing queued, when the link
 * to the router is backed up; the caller pauses the flow (TCP) or sheds.
 */
int fm_flow_offer_to_router(struct fm_flow *f, const void *sip, size_t len,
    uint64_t arrived_ms);
void fm_flow_reap(struct fm_child *c);
void fm_flow_gauges(struct fm_child *c);
void fm_flow_describe(const struct fm_flow *f, char *buf, size_t cap);

/* Keep the AoR of a FLOW_SET_TIMER's payload (none: the old one stays). */
void fm_flow_set_aor(struct fm_flow *f, const uint8_t *aor, size_t len);

/* flow_list.c */
/* Answer epsipd's FLOWS_QUERY with FLOWS on the supervisor link. */
void fm_flows_answer(struct fm_child *c, const struct epsip_msg *query);

/* stream_flow.c */
/*
 * The stream classes and the TLS context of the child's connections; 0,
 * or -1 with the reason logged.
 */
int fm_stream_flows_init(struct fm_child *c);
void fm_stream_flows_free(struct fm_child *c);
/* SIGHUP: a new TLS context (tls-cert may have changed) for new flows. */
void fm_stream_flows_reload(struct fm_child *c,
    const struct epsip_config *fresh);
/* A connection the parent accepted: m->transport says which kind. */
void fm_stream_flow_open(struct fm_child *c, const struct fm_ctl_msg *m,
    int fd);
/* Queue and write bytes as they are; 0, or -1 if the flow was closed. */
int fm_stream_flow_write(struct fm_flow *f, const void *buf, size_t len);
/* One SIP message to the phone (a WebSocket message on WS); 0 or -1. */
int fm_stream_flow_send(struct fm_flow *f, const void *buf, size_t len);
/* Close once the queued output is out (CLOSE_AFTER_SEND); 0 or -1 (gone). */
int fm_stream_flow_finish(struct fm_flow *f);
/* Stop reading: the router's queue is full.  A timer resumes the flow. */
void fm_stream_flow_pause(struct fm_flow *f);
/* Output still goes out, or can: not finishing or finished. */
int fm_stream_flow_open_for_output(const struct fm_flow *f);
/*
 * The reaper's second: a TLS handshake or WebSocket upgrade that takes
 * too long, a WebSocket to Ping or found dead.  0, or -1 if it closed.
 */
int fm_stream_flow_tick(struct fm_flow *f, uint64_t now);
void fm_stream_flow_release(struct fm_flow *f);

/* tcp_flow.c: the framing callback of SIP on TCP and TLS. */
ssize_t fm_sip_stream_frame(struct stream *s, const char *buf, size_t len);
/* Closes at most this long after a framing error or CLOSE_AFTER_SEND. */
void fm_stream_flow_arm_safety(struct fm_flow *f);

/* ws_flow.c */
/* The framing callback of WS and WSS flows: the upgrade, then frames. */
ssize_t fm_ws_frame(struct stream *s, const char *buf, size_t len);
/* One SIP message as one text frame; 0, or -1 if the flow was closed. */
int fm_ws_flow_send(struct fm_flow *f, const void *buf, size_t len);
/* Our Close (code), then close once it is out; 0 or -1. */
int fm_ws_flow_close(struct fm_flow *f, uint16_t code);
/* fm_stream_flow_tick() for WebSockets. */
int fm_ws_flow_tick(struct fm_flow *f, uint64_t now);
void fm_ws_flow_release(struct fm_flow *f);

/* udp_flow.c */
/*
 * A datagram the parent read; `fd` (or -1) is the flow's own socket,
 * which comes with its first datagram, FM_CTL_FD_LOST when we had no
 * descriptor left for it.
 */
void fm_udp_flow_datagram(struct fm_child *c, const struct fm_ctl_msg *m,
    int fd);
void fm_udp_flow_release(struct fm_flow *f);
int fm_udp_flow_send(struct fm_flow *f, const void *buf, size_t len);

#endif /* EPSIP_FM_CHILD_H */
