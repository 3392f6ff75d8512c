/*
 * core_upstream.h -- upstream mode (RG-29) with its network as a seam.
 *
 * rb_core_upstream_new() (core.h) runs this core over core_net.  The
 * same core runs over any `struct up_link`: unit tests pass a fake one,
 * feed what "the network" delivers through the core_upstream_net_*()
 * calls and keep the time themselves, so timeouts, retransmissions and
 * 503s are tested without sockets or sleeping.
 */
#ifndef RB_CORE_UPSTREAM_H
#define RB_CORE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "../core.h"
#include "../corenet/core_net.h"
#include "../corenet/upstream_sip.h"
#include "upstream_txn.h"

/* What the core needs from a network; core_net's calls, or a fake. */
struct up_link {
	/* core_net_send_upstream() */
	enum core_net_result (*send_request)(void *arg, uint8_t transport,
	    uint32_t hash, const char *buf, size_t len, uint64_t *conn_id);
	/* core_net_send_response() */
	up_send_response_fn *send_response;
	void *arg;
};

/* The core over `link`; conf NULL: defaults from cfg.  NULL and err. */
struct rb_core *core_upstream_new_on(const struct epsip_config *cfg,
    const struct rb_out *out, const struct up_link *link,
    const struct up_txn_conf *conf, char *err, size_t errcap);

/* The network delivered a SIP message (core_net_events.message). */
void core_upstream_net_message(struct rb_core *core, const char *buf,
    size_t len, const struct core_net_peer *from, uint64_t now);
/* A pool connection was lost (core_net_events.conn_lost). */
void core_upstream_net_conn_lost(struct rb_core *core, uint64_t conn_id);
/* ICMP refused a datagram to the upstream (core_net_events.udp_refused). */
void core_upstream_net_udp_refused(struct rb_core *core, const char *payload,
    size_t len);

/* Pending relay transactions (tests, the report). */
size_t core_upstream_pending(const struct rb_core *core);

#endif /* RB_CORE_UPSTREAM_H */
