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
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>

#include "rb_sip.h"
#include "epsip/sip_util.h"

#include "core_hop.h"
#include "upstream_sip.h"

void
core_hop_cache_init(struct core_hop_cache *c,
    const struct epsip_addr *core_listen)
{
	static const uint8_t zero[16];

	memset(c, 0, sizeof(*c));
	/* A wildcard IPv6 socket is dual stack; anything else is not. */
	c->family = core_listen->family == AF_INET6 &&
	    memcmp(core_listen->ip, zero, 16) == 0 ? AF_UNSPEC :
	    core_listen->family;
}

/* getaddrinfo()'s first answer for `host`, through the cache; 0 or -1. */
static int
hop_lookup(struct core_hop_cache *c, const char *host, uint64_t now_ms,
    struct epsip_addr *out)
{
	struct addrinfo hints, *res = NULL;
	struct epsip_addr a;
	size_t i, slot;

	for (i = 0; i < CORE_HOP_NAMES; i++) {
		if (c->names[i].until_ms > now_ms &&
		    strcasecmp(c->names[i].host, host) == 0) {
			*out = c->names[i].addr;
			return (out->family != 0 ? 0 : -1);
		}
	}
	memset(&a, 0, sizeof(a));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = c->family;
	hints.ai_socktype = SOCK_DGRAM;		/* one answer per address */
	if (getaddrinfo(host, NULL, &hints, &res) == 0) {
		if (epsip_addr_from_sockaddr(&a, res->ai_addr) != 0) {
			memset(&a, 0, sizeof(a));
		}
		freeaddrinfo(res);
	}
	slot = c->next++ % CORE_HOP_NAMES;
	snprintf(c->names[slot].host, sizeof(c->names[slot].host), "%s",
	    host);
	c->names[slot].addr = a;
	c->names[slot].until_ms = now_ms + (a.family != 0 ? CORE_HOP_TTL_MS :
	    CORE_HOP_RETRY_MS);
	*out = a;
	return (a.family != 0 ? 0 : -1);
}

int
core_hop_of(struct core_hop_cache *c, const osip_message_t *req,
    uint64_t now_ms, struct core_hop *hop, const char **why)
{
	osip_route_t *route = osip_list_get(&req->routes, 0);
	const osip_uri_t *uri = route != NULL ? route->url : req->req_uri;
	const char *transport;
	long port = 5060;
	char *end;

	memset(hop, 0, sizeof(*hop));
	*why = "no_uri";
	if (uri == NULL || uri->scheme == NULL || uri->host == NULL ||
	    uri->host[0] == '\0') {
		return (-1);
	}
	*why = "scheme";
	if (strcasecmp(uri->scheme, "sip") != 0) {
		return (-1);		/* sips: we speak no TLS */
	}
	transport = rb_param(&uri->url_params, "transport");
	*why = "transport";
	if (transport == NULL || strcasecmp(transport, "udp") == 0) {
		hop->transport = EPSIP_TRANSPORT_UDP;
	} else if (strcasecmp(transport, "tcp") == 0) {
		hop->transport = EPSIP_TRANSPORT_TCP;
	} else {
		return (-1);
	}
	*why = "port";
	if (uri->port != NULL && uri->port[0] != '\0') {
		port = strtol(uri->port, &end, 10);
		if (*end != '\0' || port <= 0 || port > 65535) {
			return (-1);
		}
	}
	*why = "unresolved";
	if (sip_ip_literal(uri->host, &hop->addr) != 0 &&
	    hop_lookup(c, uri->host, now_ms, &hop->addr) != 0) {
		return (-1);
	}
	hop->addr.port = (uint16_t)port;
	return (0);
}
