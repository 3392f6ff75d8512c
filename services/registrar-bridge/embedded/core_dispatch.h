/*
 * core_dispatch.h -- the embedded core with a network of its own: who
 * gets each message when `core-listen` is set in embedded mode, so that
 * another EPSIP edge (upstream mode, `upstream` = our core-listen) can
 * share our registrar (docs/deployment.md, two edges).
 *
 * Without core-listen the embedded core talks to the sip-router only;
 * with it, its output (rb_out.send) goes through core_dispatch_send(),
 * and what core_net receives through core_dispatch_net_message():
 *
 *   from the core (registrar, home proxy, transactions)
 *     request,  top Route user is OUR token   -> router (a flow of ours)
 *     request,  anything else                 -> network: top Route URI,
 *               else R-URI; our Via names the core side
 *     response, top Via is our router's       -> router
 *     response, anything else                 -> network by its top Via
 *   from the network (core_net)
 *     request,  top Route user is OUR token   -> router, as SIP_FROM_CORE
 *     request,  anything else                 -> the embedded core
 *               (both after received/rport are stamped)
 *     response, top Via is our router's       -> router
 *     response, anything else                 -> the embedded core
 *   from the router (SIP_TO_CORE)
 *     response, top Via not the bridge's own  -> network by its top Via
 *               (a request the network sent to one of our flows)
 *   from the network, undelivered (connection failed, ICMP unreachable,
 *   or no hop at all: a name that does not resolve, a sips: URI)
 *     request but ACK                         -> its branch ends now (408)
 *
 * A request whose hop is a name not yet looked up waits (at most
 * CD_PARKED_MAX of them) for the resolver's answer and then goes the
 * same way: the bridge's loop never waits for DNS.
 *
 * OUR token verifies with our keys AND names our instance: edges that
 * share the key tell each other's tokens apart by instance only.  For
 * the same reason "our router's Via" is a branch starting
 * EPSIP_ROUTER_BRANCH_PREFIX whose EPSIP_ROUTER_FLOW_PARAM token (if any) is
 * ours: the other edge's router writes the same prefix.
 *
 * The network is a seam (struct cd_link): core_net in the bridge, a
 * fake in unit tests.
 */
#ifndef RB_CORE_DISPATCH_H
#define RB_CORE_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#include "epsip/config.h"
#include "epsip/flow_token.h"
#include "epsip/loop.h"
#include "epsip/resolver.h"
#include "epsip/router_via.h"

#include "../corenet/core_net.h"
#include "../corenet/upstream_sip.h"
#include "../rb_sip.h"


/* The core side's network: core_net's calls, or a fake. */
struct cd_link {
	/* core_net_send_to(): a request to its next hop. */
	int (*send_request)(void *arg, uint8_t transport,
	    const struct epsip_addr *dest, const char *buf, size_t len);
	/* core_net_send_response() */
	up_send_response_fn *send_response;
	/* core_net_undeliverable(): a request without a hop; may be NULL. */
	void (*undeliverable)(void *arg, const char *buf, size_t len);
	void *arg;
};

/*
 * The embedded core's input, as if from the router; takes `msg`.
 * `source`: the network peer that sent a request (the registrar's
 * loopback rule, auth.h); NULL for a response.
 */
struct cd_core {
	void (*sip)(void *arg, osip_message_t *msg,
	    const struct epsip_addr *source, uint64_t now_ms);
	/* The request of branch `branch` cannot reach its next hop. */
	void (*unreachable)(void *arg, const char *branch, uint64_t now_ms);
	void *arg;
};

struct core_dispatch;

/* Everything is copied but cfg and router, which must outlive it. */
struct core_dispatch *core_dispatch_new(const struct epsip_config *cfg,
    const struct flow_token_keyring *keys, const struct rb_out *router,
    const struct cd_core *core, const struct cd_link *link);
void core_dispatch_free(struct core_dispatch *d);
/* Replace the link (the bridge's network exists after the core). */
void core_dispatch_set_link(struct core_dispatch *d,
    const struct cd_link *link);
/* Replace the keys our tokens are told by (a rotation, on SIGHUP). */
void core_dispatch_set_keys(struct core_dispatch *d,
    const struct flow_token_keyring *keys);

/*
 * Look up next hops' names with a resolver on `loop` (`lookup` NULL:
 * getaddrinfo; tests pass a fake).  Without it only IP literals are
 * reached.  0 or -1.
 */
int core_dispatch_resolve_with(struct core_dispatch *d, struct loop *loop,
    resolver_lookup_fn lookup, void *lookup_arg);

/* Requests waiting for a name (stats and tests). */
size_t core_dispatch_parked(const struct core_dispatch *d);

/* rb_out.send of the embedded core (arg: the dispatcher); 0 or -1. */
int core_dispatch_send(void *arg, const char *buf, size_t len);

/* core_net_events.message. */
void core_dispatch_net_message(struct core_dispatch *d, const char *buf,
    size_t len, const struct core_net_peer *from, uint64_t now_ms);

/*
 * core_net_on_undelivered()'s callback: a message that never arrived (its
 * connection failed, or ICMP returned it, cut short).  For a request other
 * than ACK the core's `unreachable` ends its branch at once, as Timer B/F
 * would much later, so that the home proxy fails over now (RG-24).
 */
void core_dispatch_net_undelivered(struct core_dispatch *d, const char *buf,
    size_t len, uint64_t now_ms);

/*
 * A response from the router, parsed: 1 when it went to the network
 * (the caller frees it), 0 when it is the embedded core's.
 */
int core_dispatch_router_response(struct core_dispatch *d,
    const osip_message_t *resp, const char *buf, size_t len);

#endif /* RB_CORE_DISPATCH_H */
