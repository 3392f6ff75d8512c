/*
 * self.c -- recognise this edge by every name it answers to (EP-17).
 *
 * A Route, Request-URI or Via names us when its host is one of: the
 * advertised host, a configured alias, a listen address, or (for wildcard
 * listeners) any address of this machine's interfaces, read once at start;
 * and its port, when given, is one of our listen ports.
 * DIAGNOSTICS: getifaddrs() failure at start is an error (router exits).
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "epsip/core_side.h"

#include "router.h"

#define SELF_MAX_HOSTS	64

struct router_self {
	char hosts[SELF_MAX_HOSTS][CONFIG_NAME_MAX];
	size_t host_count;
	/* Every listener's (4 kinds), core-listen's and advertise's. */
	uint16_t ports[4 * CONFIG_MAX_LISTEN + 2];
	size_t port_count;
	char primary4[INET6_ADDRSTRLEN];	/* for wildcard flows */
	char primary6[INET6_ADDRSTRLEN + 2];
	/* HOST:PORT the core reaches us at (upstream mode); "": none. */
	char core_hostport[CONFIG_NAME_MAX + 8];
};

static void
self_add_host(struct router_self *s, const char *host)
{
	for (size_t i = 0; i < s->host_count; i++) {
		if (strcasecmp(s->hosts[i], host) == 0) {
			return;
		}
	}
	if (s->host_count < SELF_MAX_HOSTS) {
		snprintf(s->hosts[s->host_count++], CONFIG_NAME_MAX, "%s",
		    host);
	}
}

static void
self_add_port(struct router_self *s, uint16_t port)
{
	for (size_t i = 0; i < s->port_count; i++) {
		if (s->ports[i] == port) {
			return;
		}
	}
	if (s->port_count < sizeof(s->ports) / sizeof(s->ports[0])) {
		s->ports[s->port_count++] = port;
	}
}

static int
self_add_interfaces(struct router_self *s)
{
	struct ifaddrs *ifs, *i;
	char ip[INET6_ADDRSTRLEN];

	if (getifaddrs(&ifs) == -1) {
		return (-1);
	}
	for (i = ifs; i != NULL; i = i->ifa_next) {
		struct epsip_addr a;

		if (i->ifa_addr == NULL ||
		    epsip_addr_from_sockaddr(&a, i->ifa_addr) == -1) {
			continue;
		}
		inet_ntop(a.family, a.ip, ip, sizeof(ip));
		self_add_host(s, ip);
		/* The first non-loopback address names us to wildcard flows. */
		if (a.family == AF_INET && s->primary4[0] == '\0' &&
		    a.ip[0] != 127) {
			snprintf(s->primary4, sizeof(s->primary4), "%s", ip);
		} else if (a.family == AF_INET6 && s->primary6[0] == '\0' &&
		    !IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a.ip) &&
		    !IN6_IS_ADDR_LINKLOCAL((struct in6_addr *)a.ip)) {
			snprintf(s->primary6, sizeof(s->primary6), "[%s]", ip);
		}
	}
	freeifaddrs(ifs);
	return (0);
}

/* "host", "host:port", "[v6]" or "[v6]:port" */
static void
self_add_hostport(struct router_self *s, const char *text)
{
	char host[CONFIG_NAME_MAX];
	const char *port = NULL, *close;

	snprintf(host, sizeof(host), "%s", text);
	if (host[0] == '[' && (close = strchr(text, ']')) != NULL) {
		host[close - text + 1] = '\0';
		if (close[1] == ':') {
			port = close + 2;
		}
	} else if ((port = strchr(text, ':')) != NULL) {
		if (strchr(port + 1, ':') != NULL) {
			port = NULL;	/* a bare IPv6 address */
		} else {
			host[port - text] = '\0';
			port++;
		}
	}
	if (port != NULL && atoi(port) > 0 && atoi(port) < 65536) {
		self_add_port(s, (uint16_t)atoi(port));
	}
	self_add_host(s, host);
}

/* The upstream's address, when its host resolves (A/AAAA). */
static int
self_upstream_addr(const struct epsip_upstream *up, struct epsip_addr *out)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int rv;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	snprintf(port, sizeof(port), "%u", up->port);
	if (getaddrinfo(up->host, port, &hints, &res) != 0) {
		return (-1);
	}
	rv = epsip_addr_from_sockaddr(out, res->ai_addr);
	freeaddrinfo(res);
	return (rv);
}

/*
 * The core-facing name (EP-15, EP-17) as the upstream sees it, worked out
 * the same way the registrar-bridge names its own Via (core_side.h).
 * Every core-side name is "us" too, on the core-listen port.
 */
static void
self_init_core(struct router_self *s, const struct epsip_config *cfg)
{
	struct epsip_addr up, *peer = NULL;
	char host[CONFIG_NAME_MAX];
	uint16_t port;

	if (cfg->core_listen.family == 0) {
		return;
	}
	self_add_port(s, cfg->core_listen.port);
	if (config_has_upstream(cfg) &&
	    self_upstream_addr(&cfg->upstream, &up) == 0) {
		peer = &up;
	}
	if (core_side_name(cfg, peer, host, sizeof(host), &port) == -1) {
		return;
	}
	self_add_port(s, port);
	self_add_host(s, host);
	snprintf(s->core_hostport, sizeof(s->core_hostport),
	    strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host, port);
}

int
router_self_init(struct router *r, char *err, size_t errcap)
{
	const struct epsip_config *cfg = r->cfg;
	struct router_self *s;
	char ip[INET6_ADDRSTRLEN];
	int wildcard = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (-1);
	}
	r->self = s;
	/* `listen`, then the TLS and WebSocket listeners: all are us. */
	for (uint8_t t = EPSIP_TRANSPORT_TCP; t <= EPSIP_TRANSPORT_MAX; t++) {
		size_t n;
		const struct epsip_addr *l = config_listeners(cfg, t, &n);

		for (size_t i = 0; i < n; i++) {
			self_add_port(s, l[i].port);
			if (epsip_addr_is_any(&l[i])) {
				wildcard = 1;
				continue;
			}
			inet_ntop(l[i].family, l[i].ip, ip, sizeof(ip));
			self_add_host(s, ip);
		}
	}
	for (size_t i = 0; i < cfg->alias_count; i++) {
		self_add_host(s, cfg->alias[i]);
	}
	if (cfg->advertise[0] != '\0') {
		self_add_hostport(s, cfg->advertise);
	}
	if ((wildcard || (cfg->core_listen.family != 0 &&
	    epsip_addr_is_any(&cfg->core_listen))) &&
	    self_add_interfaces(s) == -1) {
		snprintf(err, errcap, "getifaddrs failed");
		return (-1);
	}
	self_init_core(s, cfg);
	if (s->primary4[0] == '\0') {
		snprintf(s->primary4, sizeof(s->primary4), "127.0.0.1");
	}
	if (s->primary6[0] == '\0') {
		snprintf(s->primary6, sizeof(s->primary6), "[::1]");
	}
	return (0);
}

void
router_self_free(struct router *r)
{
	free(r->self);
	r->self = NULL;
}

int
router_is_self(const struct router *r, const osip_uri_t *uri)
{
	const struct router_self *s = r->self;
	char host[CONFIG_NAME_MAX];
	const char *h;
	size_t len;
	int port_ok = 0;

	if (uri == NULL || uri->host == NULL || uri->scheme == NULL ||
	    (strcasecmp(uri->scheme, "sip") != 0 &&
	    strcasecmp(uri->scheme, "sips") != 0)) {
		return (0);
	}
	if (uri->port != NULL && uri->port[0] != '\0') {
		int port = atoi(uri->port);

		for (size_t i = 0; i < s->port_count; i++) {
			port_ok |= s->ports[i] == port;
		}
		if (!port_ok) {
			return (0);
		}
	}
	/* libosip2 strips IPv6 brackets; compare without them. */
	h = uri->host;
	len = strlen(h);
	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (len >= sizeof(host)) {
		return (0);
	}
	memcpy(host, h, len);
	host[len] = '\0';
	for (size_t i = 0; i < s->host_count; i++) {
		const char *mine = s->hosts[i];
		size_t mlen = strlen(mine);

		if (mine[0] == '[' && mlen >= 2) {
			if (mlen - 2 == len && strncasecmp(mine + 1, host,
			    len) == 0) {
				return (1);
			}
		} else if (strcasecmp(mine, host) == 0) {
			return (1);
		}
	}
	return (0);
}

void
router_edge_hostport(const struct router *r, const struct flow_token *flow,
    char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	if (r->cfg->advertise[0] != '\0') {
		snprintf(buf, cap, "%s", r->cfg->advertise);
		return;
	}
	if (!epsip_addr_is_any(&flow->local)) {
		epsip_addr_format(&flow->local, buf, cap);
		return;
	}
	if (flow->local.family == AF_INET6) {
		snprintf(buf, cap, "%s:%u", r->self->primary6,
		    flow->local.port);
	} else {
		snprintf(ip, sizeof(ip), "%s", r->self->primary4);
		snprintf(buf, cap, "%s:%u", ip, flow->local.port);
	}
}

int
router_core_hostport(const struct router *r, char *buf, size_t cap)
{
	if (r->self->core_hostport[0] == '\0') {
		return (-1);
	}
	snprintf(buf, cap, "%s", r->self->core_hostport);
	return (0);
}
