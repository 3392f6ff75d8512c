/*
 * core.h -- the bridge's core side behind one small interface.
 *
 * The IPC glue (bridge.c) knows only this: SIP from the router, dead flows,
 * a periodic tick, a stats hook.  Embedded mode (core_embedded.c) is the
 * registrar and home proxy in this process, with core-listen also
 * serving other edges over the network (core_dispatch.c).  Upstream mode
 * (core_upstream.c) relays to an external registrar/proxy (RG-29) behind
 * the same ops.
 */
#ifndef RB_CORE_H
#define RB_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/loop.h"

#include "rb_sip.h"

/* How often a core's tick runs: the granularity of its SIP timers. */
#define RB_TXN_TICK_MS	100

struct rb_core;

struct rb_core_ops {
	const char *name;
	/* EPSIP_MSG_SIP_TO_CORE: a request from a phone or a response. */
	void (*sip)(struct rb_core *core, const struct epsip_msg *msg,
	    uint64_t now_ms);
	/* EPSIP_MSG_FLOW_CLOSED: the token of a flow that died. */
	void (*flow_closed)(struct rb_core *core, const char *token,
	    size_t len);
	/* Every RB_TXN_TICK_MS. */
	void (*tick)(struct rb_core *core, uint64_t now_ms);
	/* Add fields to the STATS report (may be NULL). */
	void (*report)(struct rb_core *core, json_t *stats);
	/*
	 * SIGHUP (may be NULL): take what the core keeps of fresh's
	 * reloadable keys; 0, or -1 with a reason and nothing changed.
	 */
	int (*reload)(struct rb_core *core, const struct epsip_config *fresh,
	    char *err, size_t errcap);
	void (*free)(struct rb_core *core);
};

struct rb_core {
	const struct rb_core_ops *ops;
};

/*
 * The embedded registrar + home proxy; SIP goes out through `out`.  With
 * a `loop`, the REGISTERs of one loop iteration are committed together
 * at its end and answered only then (core_embedded.c); NULL commits and
 * answers each one at once.  NULL with a reason in err (e.g. the
 * database cannot be opened).
 */
struct rb_core *rb_core_embedded_new(const struct epsip_config *cfg,
    const struct rb_out *out, struct loop *loop, char *err, size_t errcap);

/*
 * The same with cfg->core_listen set: the core side's sockets run in
 * `loop`, and what the core sends goes to `out` or to that network
 * (core_dispatch.h), so that other edges can use this registrar.  NULL
 * with a reason in err (e.g. core-listen cannot be bound).
 */
struct rb_core *rb_core_embedded_net_new(const struct epsip_config *cfg,
    const struct rb_out *out, struct loop *loop, char *err, size_t errcap);

/*
 * Upstream mode: relay to cfg->upstream; its core-side sockets
 * (core-listen, the upstream pool) run in `loop`.  SIP for the router
 * goes out through `out`.  NULL with a reason in err (e.g. core-listen
 * cannot be bound).
 */
struct rb_core *rb_core_upstream_new(const struct epsip_config *cfg,
    const struct rb_out *out, struct loop *loop, char *err, size_t errcap);

#endif /* RB_CORE_H */
