/*
 * overload.h -- shed, don't collapse (issue 7 §4).
 *
 * Past its capacity an edge must not work on requests their senders have
 * given up on: every such request costs the requests still in time, and
 * a UDP phone whose request waits longer than T1 (500 ms) sends it again,
 * which only adds load.  So a new request over UDP that waited longer
 * than `overload-delay` since it reached the host (the kernel's receive
 * timestamp, carried to the child and into its envelope's stamp_ms,
 * ipc.h) gets 503 with Retry-After (RFC 3261 §21.5.4) from its own lines
 * wherever it is noticed: in the flow-manager child before any IPC, in
 * the router or in the registrar-bridge.  A child does the same for one
 * the full link to the router cannot take, and the router for one (over
 * any transport) its full link to the registrar-bridge cannot take.  TCP flows are slowed by back-pressure instead, and what
 * finishes work (responses, ACK, CANCEL, in-dialog requests) always
 * passes.
 *
 * A 503 given that late is still dear: the request crossed the child,
 * two IPC hops and the router first.  So the router and the
 * registrar-bridge also watch, per OVERLOAD_WINDOW_MS, the shortest wait
 * of UDP flows' messages (as CoDel does: a queue that never empties
 * within a window is standing, not a burst).  While even the quickest
 * waited longer than overload-delay (every one of them is being shed
 * late), a share of new UDP requests is to be shed
 * at the flow-manager children, before any IPC; it grows by a quarter of
 * what is left each such window and shrinks by an eighth each window
 * without.  The bridge tells the router its share (EPSIP_MSG_OVERLOAD),
 * and the router tells the children the larger one.  A child that hears nothing for OVERLOAD_HOLD_MS stops shedding,
 * so a router that died leaves no child refusing work.
 */
#ifndef EPSIP_OVERLOAD_H
#define EPSIP_OVERLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/sip_scan.h"

#define OVERLOAD_WINDOW_MS	100
#define OVERLOAD_HOLD_MS	1000
/* Shares are fractions of OVERLOAD_SHARE_ONE (65536ths). */
#define OVERLOAD_SHARE_ONE	65536u
#define OVERLOAD_SHARE_MAX	(OVERLOAD_SHARE_ONE * 15 / 16)

/* What a process saw of the waits of UDP flows' messages in a window. */
struct overload_meter {
	uint32_t seen;		/* messages from UDP flows with a stamp */
	uint64_t least_wait_ms;	/* the shortest of their waits */
	uint32_t share;		/* what the children were told last */
};

/* A message from a UDP flow that waited `wait_ms` since it arrived. */
void overload_meter_count(struct overload_meter *m, uint64_t wait_ms);
/* The window is over: the share children shed next (0: none). */
uint32_t overload_meter_next(struct overload_meter *m,
    const struct epsip_config *cfg);
/* The wait of `msg` by `now_ms`; 0 when it has no stamp. */
uint64_t overload_wait_ms(const struct epsip_msg *msg, uint64_t now_ms);

/* A child's side: shed `share` of new UDP requests while it is fresh. */
struct overload_gate {
	uint32_t share;
	uint64_t until_ms;
	uint32_t credit;	/* spreads the share evenly over requests */
};

void overload_gate_set(struct overload_gate *g, uint32_t share,
    uint64_t now_ms);
/*
 * 1 when the next new request should be shed: called per UDP SIP message
 * while the gate is open, it says yes to `share` of them, evenly.  The
 * caller sheds only requests that start work; when it met another kind,
 * overload_gate_missed() keeps the turn for the next message.
 */
int overload_gate_turn(struct overload_gate *g, uint64_t now_ms);
void overload_gate_missed(struct overload_gate *g);

/*
 * 1 when `msg` came over UDP and waited longer than overload-delay by
 * `now_ms` (monotonic), whatever it is; 0 otherwise or when shedding is
 * off.  A cheap test of the envelope alone, made before any parse.
 */
int overload_is_late(const struct epsip_config *cfg,
    const struct epsip_msg *msg, uint64_t now_ms);
/* The same for any wait that began at `since_ms` (0: unknown, never). */
int overload_waited_too_long(const struct epsip_config *cfg,
    uint64_t since_ms, uint64_t now_ms);

/*
 * The 503 + Retry-After for the message in buf[0..len) when it is a
 * request that starts new work (sip_request_starts_work): 1 with *out
 * malloc'ed and *out_len; 0 when it must pass (or cannot be scanned).
 */
int overload_reply(const struct epsip_config *cfg, const char *buf,
    size_t len, char **out, size_t *out_len);

#endif /* EPSIP_OVERLOAD_H */
