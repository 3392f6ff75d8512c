/*
 * core_dispatch.c -- the embedded core's traffic with a core-side
 * network: router, network or core, see core_dispatch.h for the table.
 *
 * Each message is parsed once here.  What goes to the router goes as it
 * came (the router parses it again anyway); a request for the network
 * gets its top Via -- the bridge's own, "registrar.invalid" on the way
 * to the router -- rewritten to the core side's name as the next hop
 * sees it and to the transport actually used, because the next hop (an
 * edge in upstream mode) answers by that Via (RFC 3261 §18.2.2).  A UDP
 * request over UP_UDP_MAX_REQUEST bytes goes over TCP (TR-09), as in
 * upstream mode.  Requests from the network get received/rport stamped
 * (§18.2.1, RFC 3581) before anyone sees them, so that their responses
 * find the way back; responses leave by their top Via with the same code
 * as upstream mode's (upstream_sip.c).
 *
 * The decision between router and network is the token's: a Route user
 * part that verifies with our keys and names our instance is a flow of
 * this edge, whatever host the URI names.  Anything else -- another
 * edge's token (same key, other instance), another cluster's token, a
 * Contact registered without Path -- is someone else's to deliver.
 *
 * A request that cannot reach its hop (connection refused, no answer to
 * the connect within upstream-timeout, over UDP an ICMP unreachable, or
 * no hop at all: a name that does not resolve, a URI we cannot use)
 * comes back from core_net undelivered; its branch ends at once as if
 * Timer B had fired (408): the home proxy moves to the phone's next flow
 * in milliseconds instead of after 32 s, which matters when the other
 * edge is down.
 *
 * DIAGNOSTICS: nothing is fatal.  What cannot be parsed, routed or sent
 * is counted (core.malformed, core.requests.undeliverable.<why>,
 * core.requests.unreachable, core.responses.undeliverable) and, for our
 * own output, returned as -1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "epsip/core_side.h"
#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "core_dispatch.h"
#include "core_hop.h"
#include "../corenet/upstream_sip.h"

/* Requests waiting for names; beyond, a request fails as unresolved. */
#define CD_PARKED_MAX	256

/* A request waiting for its hop's name (see core_dispatch.h). */
struct cd_parked {
	STAILQ_ENTRY(cd_parked) link;
	char name[RESOLVER_HOST_MAX];
	size_t len;
	char buf[];
};
STAILQ_HEAD(cd_parked_list, cd_parked);

struct core_dispatch {
	const struct epsip_config *cfg;
	struct flow_token_keyring keys;
	const struct rb_out *router;
	struct cd_core core;
	struct cd_link link;
	struct resolver *names;
	struct cd_parked_list parked;	/* oldest first */
	size_t nparked;
};

struct core_dispatch *
core_dispatch_new(const struct epsip_config *cfg,
    const struct flow_token_keyring *keys, const struct rb_out *router,
    const struct cd_core *core, const struct cd_link *link)
{
	struct core_dispatch *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		return (NULL);
	}
	STAILQ_INIT(&d->parked);
	d->cfg = cfg;
	d->keys = *keys;
	d->router = router;
	d->core = *core;
	d->link = *link;
	return (d);
}

void
core_dispatch_free(struct core_dispatch *d)
{
	struct cd_parked *p;

	if (d != NULL) {
		/* The keys are secrets: do not leave them in the heap. */
		memset(&d->keys, 0, sizeof(d->keys));
		resolver_free(d->names);
		while ((p = STAILQ_FIRST(&d->parked)) != NULL) {
			STAILQ_REMOVE_HEAD(&d->parked, link);
			free(p);
		}
		free(d);
	}
}

void
core_dispatch_set_link(struct core_dispatch *d, const struct cd_link *link)
{
	d->link = *link;
}

void
core_dispatch_set_keys(struct core_dispatch *d,
    const struct flow_token_keyring *keys)
{
	d->keys = *keys;
}

/*
 * The resolver has an answer for `name`: what waited for it goes now,
 * the same way as when it came (or, if the name did not resolve, ends
 * its branch like any request without a hop).
 */
static void
name_answered(const char *name, const struct resolver_answer *ans,
    void *arg)
{
	struct core_dispatch *d = arg;
	struct cd_parked_list mine = STAILQ_HEAD_INITIALIZER(mine);
	struct cd_parked *p, *next;

	(void)ans;
	/* Taken out first: a send may park again. */
	for (p = STAILQ_FIRST(&d->parked); p != NULL; p = next) {
		next = STAILQ_NEXT(p, link);
		if (strcasecmp(p->name, name) == 0) {
			STAILQ_REMOVE(&d->parked, p, cd_parked, link);
			d->nparked--;
			STAILQ_INSERT_TAIL(&mine, p, link);
		}
	}
	while ((p = STAILQ_FIRST(&mine)) != NULL) {
		STAILQ_REMOVE_HEAD(&mine, link);
		(void)core_dispatch_send(d, p->buf, p->len);
		free(p);
	}
}

int
core_dispatch_resolve_with(struct core_dispatch *d, struct loop *loop,
    resolver_lookup_fn lookup, void *lookup_arg)
{
	const struct epsip_addr *local = &d->cfg->core_listen;
	int family;

	/* A wildcard IPv6 socket is dual stack; anything else is not. */
	family = local->family == AF_INET6 && epsip_addr_is_any(local) ?
	    AF_UNSPEC : local->family;
	d->names = resolver_new(loop, family, lookup, lookup_arg,
	    name_answered, d);
	return (d->names != NULL ? 0 : -1);
}

size_t
core_dispatch_parked(const struct core_dispatch *d)
{
	return (d->nparked);
}

/* --- whose is it --- */

/* A token that verifies with our keys and names one of our instances. */
static int
is_our_token(const struct core_dispatch *d, const char *text)
{
	struct flow_token t;

	if (text == NULL || text[0] == '\0' || flow_token_decode(&d->keys,
	    text, strlen(text), &t) != FLOW_TOKEN_OK) {
		return (0);
	}
	return (config_owns_instance(d->cfg, t.flow.instance));
}

/* The top Route's user part is our token: one of our flows. */
static int
route_is_ours(const struct core_dispatch *d, const osip_message_t *req)
{
	const osip_route_t *route = osip_list_get(&req->routes, 0);

	return (route != NULL && route->url != NULL &&
	    is_our_token(d, route->url->username));
}

/*
 * The top Via is our router's: its branch prefix, and the arrival
 * flow's token, when it has one, ours.  Another edge's router writes the
 * same prefix, with a token of its own instance.
 */
static int
via_is_our_router(const struct core_dispatch *d, const osip_message_t *msg)
{
	const osip_via_t *via = osip_list_get(&msg->vias, 0);
	const char *branch, *ept;

	if (via == NULL ||
	    (branch = sip_generic_param(&via->via_params, "branch")) == NULL ||
	    strncmp(branch, EPSIP_ROUTER_BRANCH_PREFIX,
	    strlen(EPSIP_ROUTER_BRANCH_PREFIX)) != 0) {
		return (0);
	}
	ept = sip_generic_param(&via->via_params, EPSIP_ROUTER_FLOW_PARAM);
	return (ept == NULL || is_our_token(d, ept));
}

/* The top Via is the bridge's own (rb_push_via), not yet rewritten. */
static int
via_is_bridge(const osip_message_t *msg)
{
	const osip_via_t *via = osip_list_get(&msg->vias, 0);

	return (via != NULL && via->host != NULL &&
	    strcasecmp(via->host, RB_VIA_HOST) == 0);
}

/* --- to the network --- */

static int
to_router(const struct core_dispatch *d, const char *buf, size_t len)
{
	return (d->router->send(d->router->arg, buf, len));
}

/* By its top Via (§18.2.2, RFC 3581): the code upstream mode uses. */
static int
response_out(struct core_dispatch *d, const osip_message_t *resp,
    const char *buf, size_t len)
{
	return (up_response_send(resp, buf, len, d->link.send_response,
	    d->link.arg));
}

/* Our Via: the core side as `dest` sees it, over `transport`; 0 or -1. */
static int
name_our_via(const struct core_dispatch *d, osip_message_t *req,
    const struct epsip_addr *dest, uint8_t transport)
{
	osip_via_t *via = osip_list_get(&req->vias, 0);
	char host[CONFIG_NAME_MAX], port[8];
	uint16_t p;

	if (core_side_name(d->cfg, dest, host, sizeof(host), &p) == -1) {
		return (-1);
	}
	snprintf(port, sizeof(port), "%u", p);
	osip_free(via->host);
	via->host = osip_strdup(host);
	osip_free(via->port);
	via->port = osip_strdup(port);
	osip_free(via->protocol);
	via->protocol = osip_strdup(transport == EPSIP_TRANSPORT_TCP ?
	    "TCP" : "UDP");
	req->message_property = 2;
	return (0);
}

static void
undeliverable(const char *method, enum metric_id why)
{
	stats_inc(why);
	log_debug("core side: %s not sent: %s", method,
	    metric_label_value(why));
}

/* Keep the core's bytes until `name` is looked up; 0 or -1 (full). */
static int
park(struct core_dispatch *d, const char *name, const char *buf,
    size_t len)
{
	struct cd_parked *p;

	if (d->nparked >= CD_PARKED_MAX ||
	    (p = malloc(sizeof(*p) + len)) == NULL) {
		return (-1);
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->len = len;
	memcpy(p->buf, buf, len);
	STAILQ_INSERT_TAIL(&d->parked, p, link);
	d->nparked++;
	stats_inc(M_CORE_REQUESTS_PARKED);
	return (0);
}

/* A request for someone else's flow, or a Contact without Path. */
static int
request_out(struct core_dispatch *d, osip_message_t *req, const char *buf,
    size_t buflen)
{
	struct core_hop hop;
	enum metric_id why;
	char *wire;
	size_t len;
	int rv;

	if ((rv = core_hop_of(d->names, req, &hop, &why)) != 0) {
		if (rv == CORE_HOP_RESOLVING &&
		    park(d, hop.name, buf, buflen) == 0) {
			return (0);
		}
		undeliverable(sip_method(req), why);
		/* No hop is as final as a refused one: fail over now. */
		if (d->link.undeliverable != NULL) {
			d->link.undeliverable(d->link.arg, buf, buflen);
		}
		return (-1);
	}
	/* Only our own Via is ours to rename; others pass as they are. */
	if (via_is_bridge(req) && name_our_via(d, req, &hop.addr,
	    hop.transport) != 0) {
		undeliverable(sip_method(req),
		    M_CORE_REQUESTS_UNDELIVERABLE_NO_CORE_NAME);
		return (-1);
	}
	osip_message_force_update(req);
	if (sip_serialize(req, &wire, &len) != 0) {
		undeliverable(sip_method(req),
		    M_CORE_REQUESTS_UNDELIVERABLE_SERIALIZE);
		return (-1);
	}
	if (hop.transport == EPSIP_TRANSPORT_UDP && len > UP_UDP_MAX_REQUEST) {
		/* TR-09; the Via says TCP too, or the answer comes by UDP. */
		hop.transport = EPSIP_TRANSPORT_TCP;
		stats_inc(M_CORE_REQUESTS_TCP_FOR_SIZE);
		(void)up_via_udp_to_tcp(wire, len);
	}
	rv = d->link.send_request(d->link.arg, hop.transport, &hop.addr, wire,
	    len);
	free(wire);
	if (rv != 0) {
		undeliverable(sip_method(req),
		    M_CORE_REQUESTS_UNDELIVERABLE_SEND);
		return (-1);
	}
	stats_inc(M_CORE_REQUESTS_SENT);
	return (0);
}

/* --- the three entries --- */

int
core_dispatch_send(void *arg, const char *buf, size_t len)
{
	struct core_dispatch *d = arg;
	osip_message_t *sip;
	int rv;

	if (sip_parse(buf, len, &sip) != 0) {
		/* Our own serialisation: cannot happen; the router judges. */
		return (to_router(d, buf, len));
	}
	if (MSG_IS_RESPONSE(sip)) {
		rv = via_is_our_router(d, sip) ? to_router(d, buf, len) :
		    response_out(d, sip, buf, len);
	} else {
		rv = route_is_ours(d, sip) ? to_router(d, buf, len) :
		    request_out(d, sip, buf, len);
	}
	osip_message_free(sip);
	return (rv);
}

void
core_dispatch_net_message(struct core_dispatch *d, const char *buf,
    size_t len, const struct core_net_peer *from, uint64_t now_ms)
{
	osip_message_t *sip;

	if (rb_parse(buf, len, &sip) != 0) {
		stats_inc(M_CORE_MALFORMED);
		return;
	}
	if (MSG_IS_RESPONSE(sip)) {
		stats_inc(M_CORE_RESPONSES_RECEIVED);
		if (!via_is_our_router(d, sip)) {
			/* A home proxy branch's answer, most likely. */
			d->core.sip(d->core.arg, sip, NULL, now_ms);
			return;
		}
		if (to_router(d, buf, len) != 0) {
			log_warnx("core side: cannot queue a response to the "
			    "router");
		}
		osip_message_free(sip);
		return;
	}
	stats_inc(M_CORE_REQUESTS_RECEIVED);
	/*
	 * The received/rport stamp is what routes the answer back to this
	 * peer, and the kept bytes would not carry it: a request from the
	 * core-side network leaves as the parsed message prints.
	 */
	rb_forget_bytes(sip);
	sip_via_stamp_received(sip, &from->remote,
	    from->transport == EPSIP_TRANSPORT_TCP);
	if (!route_is_ours(d, sip)) {
		/* A REGISTER or a call through another edge: ours to serve. */
		d->core.sip(d->core.arg, sip, &from->remote, now_ms);
		return;
	}
	if (rb_send(d->router, sip) != 0) {
		log_warnx("core side: cannot queue a request to the router");
	}
	osip_message_free(sip);
}

void
core_dispatch_net_undelivered(struct core_dispatch *d, const char *buf,
    size_t len, uint64_t now_ms)
{
	char method[32], branch[RB_BRANCH_MAX];

	/*
	 * What ICMP hands back is cut short (about 500 bytes of an IPv4
	 * datagram), so only the start line and the top Via are read: the
	 * branch is what the transaction layer knows the request by.
	 */
	if (up_scan_request(buf, len, method, sizeof(method), branch,
	    sizeof(branch)) != 0) {
		if (len >= 8 && strncmp(buf, "SIP/2.0 ", 8) == 0) {
			stats_inc(M_CORE_RESPONSES_UNDELIVERABLE);
		}
		return;
	}
	if (strcmp(method, "ACK") == 0) {
		return;		/* nothing waits for an ACK */
	}
	stats_inc(M_CORE_REQUESTS_UNREACHABLE);
	d->core.unreachable(d->core.arg, branch, now_ms);
}

int
core_dispatch_router_response(struct core_dispatch *d,
    const osip_message_t *resp, const char *buf, size_t len)
{
	/*
	 * The router popped its own Via.  The bridge's Via under it: the
	 * answer to a home proxy branch.  Any other: the answer to a
	 * request the network sent to one of our flows.
	 */
	if (osip_list_get(&resp->vias, 0) == NULL || via_is_bridge(resp) ||
	    via_is_our_router(d, resp)) {
		return (0);
	}
	(void)response_out(d, resp, buf, len);
	return (1);
}
