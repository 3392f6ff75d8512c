/*
 * core_hop.c -- the next hop of a request leaving the embedded core over
 * the network, see core_hop.h.
 *
 * The Route the home proxy put on top is a stored Path: another edge's
 * core side (an IP literal, or core-advertise's name) with
 * `transport=tcp` when that edge reaches its registrar over TCP.  A
 * request without Route goes to its Request-URI, a Contact registered
 * without Path.  `maddr` and strict routing (a Route without `lr`) are
 * not honoured: a Path is always loose (RFC 3327 §4).
 *
 * DIAGNOSTICS: none; failures are returned with a reason the caller
 * counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../rb_sip.h"
#include "epsip/sip_util.h"

#include "core_hop.h"
#include "../corenet/upstream_sip.h"

/* hop->addr from hop->name; 0, CORE_HOP_RESOLVING or -1. */
static int
hop_lookup(struct resolver *names, struct core_hop *hop)
{
	size_t n;

	if (names == NULL) {
		return (-1);
	}
	switch (resolver_get(names, hop->name, &hop->addr, 1, &n)) {
	case RESOLVER_OK:
		return (0);
	case RESOLVER_PENDING:
		return (CORE_HOP_RESOLVING);
	default:
		return (-1);
	}
}

int
core_hop_of(struct resolver *names, const osip_message_t *req,
    struct core_hop *hop, enum metric_id *why)
{
	osip_route_t *route = osip_list_get(&req->routes, 0);
	const osip_uri_t *uri = route != NULL ? route->url : req->req_uri;
	const char *transport;
	long port = 5060;
	char *end;
	int rv;

	memset(hop, 0, sizeof(*hop));
	*why = M_CORE_REQUESTS_UNDELIVERABLE_NO_URI;
	if (uri == NULL || uri->scheme == NULL || uri->host == NULL ||
	    uri->host[0] == '\0') {
		return (-1);
	}
	*why = M_CORE_REQUESTS_UNDELIVERABLE_SCHEME;
	if (strcasecmp(uri->scheme, "sip") != 0) {
		return (-1);		/* sips: we speak no TLS */
	}
	transport = sip_generic_param(&uri->url_params, "transport");
	*why = M_CORE_REQUESTS_UNDELIVERABLE_TRANSPORT;
	if (transport == NULL || strcasecmp(transport, "udp") == 0) {
		hop->transport = EPSIP_TRANSPORT_UDP;
	} else if (strcasecmp(transport, "tcp") == 0) {
		hop->transport = EPSIP_TRANSPORT_TCP;
	} else {
		return (-1);
	}
	*why = M_CORE_REQUESTS_UNDELIVERABLE_PORT;
	if (uri->port != NULL && uri->port[0] != '\0') {
		port = strtol(uri->port, &end, 10);
		if (*end != '\0' || port <= 0 || port > 65535) {
			return (-1);
		}
	}
	if (sip_ip_literal(uri->host, &hop->addr) != 0) {
		*why = M_CORE_REQUESTS_UNDELIVERABLE_UNRESOLVED;
		if (strlen(uri->host) >= sizeof(hop->name)) {
			return (-1);
		}
		strcpy(hop->name, uri->host);
		if ((rv = hop_lookup(names, hop)) != 0) {
			*why = rv == CORE_HOP_RESOLVING ?
			    M_CORE_REQUESTS_UNDELIVERABLE_RESOLVING :
			    M_CORE_REQUESTS_UNDELIVERABLE_UNRESOLVED;
			return (rv);
		}
	}
	hop->addr.port = (uint16_t)port;
	return (0);
}
