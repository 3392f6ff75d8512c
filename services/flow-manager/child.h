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
 * flow.c (the slot table, closing, sending), tcp_flow.c (stream I/O and
 * framing), udp_flow.c (datagrams, STUN), flow_list.c (its flows listed
 * for epsipd's GET /flows).
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

#include "control.h"

struct fm_child;

struct fm_flow {
	struct fm_child *child;
	struct epsip_flow_id id;
	uint8_t transport;
	uint16_t listener;
	struct epsip_addr local;
	struct epsip_addr remote;
	/*
	 * TCP: the connection, its input (no buffer while empty, most of a
	 * flow's life), its output in order; paused while the router's
	 * queue is full.  Unused by UDP flows.
	 */
	struct stream stream;
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
	uint32_t nflows, nudp, ntcp;
	int had_flow;
	size_t nlisteners;		/* the edge's listen addresses */
	size_t inherited_udp;		/* UDP listener fds 4.. (shared) */
	size_t max_message;		/* framing limit */
	struct stream_class tcp;	/* every TCP flow's (tcp_flow.c) */
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

/* tcp_flow.c */
/* The stream class of the child's TCP flows; 0, or -1 (no memory). */
int fm_tcp_flows_init(struct fm_child *c);
void fm_tcp_flows_free(struct fm_child *c);
void fm_tcp_flow_open(struct fm_child *c, const struct fm_ctl_msg *m, int fd);
/* Queue and write; 0, or -1 if the flow was closed. */
int fm_tcp_flow_send(struct fm_flow *f, const void *buf, size_t len);
/* Close once the queued output is out (CLOSE_AFTER_SEND); 0 or -1 (gone). */
int fm_tcp_flow_finish(struct fm_flow *f);
void fm_tcp_flow_release(struct fm_flow *f);

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
