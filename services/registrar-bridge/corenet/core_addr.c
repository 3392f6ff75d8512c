/*
 * core_addr.c -- addresses on the core side (see core_conn.h): the
 * conversions between sockaddr and epsip_addr (IPv4 mapped on IPv6
 * sockets), the hash of a remote address, and the upstream's addresses:
 * an IP literal converted once, a name resolved at start and then by a
 * resolver off the loop's thread (core_net.c says why).  core_net.c and
 * core_conn.c both use it; it uses neither.
 * DIAGNOSTICS: none; a name that stops resolving is counted
 * (upstream.unresolved) and logged once until it resolves again.
 */
#include <netdb.h>
#include <string.h>

#include "epsip/hash.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "core_conn.h"

/* sockaddr to epsip_addr, ::ffff:a.b.c.d turned into plain IPv4. */
int
cn_addr_from(struct epsip_addr *a, const struct sockaddr_storage *ss)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	if (epsip_addr_from_sockaddr(a, (const struct sockaddr *)ss) != 0) {
		return (-1);
	}
	if (a->family == AF_INET6 && memcmp(a->ip, mapped, 12) == 0) {
		memmove(a->ip, a->ip + 12, 4);
		memset(a->ip + 4, 0, 12);
		a->family = AF_INET;
	}
	return (0);
}

/* epsip_addr to sockaddr for a socket of `family` (IPv4 mapped on v6). */
socklen_t
cn_sockaddr(const struct epsip_addr *a, int family,
    struct sockaddr_storage *ss)
{
	struct epsip_addr m;

	if (family == AF_INET6 && a->family == AF_INET) {
		memset(&m, 0, sizeof(m));
		m.family = AF_INET6;
		m.port = a->port;
		m.ip[10] = m.ip[11] = 0xff;
		memcpy(m.ip + 12, a->ip, 4);
		return (epsip_addr_to_sockaddr(&m, ss));
	}
	if (family != a->family) {
		return (0);
	}
	return (epsip_addr_to_sockaddr(a, ss));
}

size_t
cn_addr_bucket(const struct epsip_addr *a)
{
	uint8_t port[2] = { (uint8_t)(a->port & 0xff), (uint8_t)(a->port >> 8) };

	return (fnv1a_add(fnv1a(a->ip, a->family == AF_INET ? 4 : 16), port,
	    sizeof(port)) % CN_BUCKETS);
}

/* n->addrs from what a lookup found, with the upstream's port. */
static void
cn_take_addrs(struct core_net *n, const struct epsip_addr *addrs,
    size_t count)
{
	if (count != n->naddrs) {
		n->addr_cur = 0;
	}
	for (size_t i = 0; i < count; i++) {
		n->addrs[i] = addrs[i];
		n->addrs[i].port = n->port;
	}
	n->naddrs = count;
}

int
cn_resolve(struct core_net *n)
{
	struct epsip_addr addrs[CN_MAX_ADDRS];
	size_t count;

	if (n->resolver != NULL && resolver_get(n->resolver, n->host, addrs,
	    CN_MAX_ADDRS, &count) == RESOLVER_OK) {
		cn_take_addrs(n, addrs, count);
	}
	return (n->naddrs > 0 ? 0 : -1);
}

/* The resolver's answer: say so when the name fails or works again. */
static void
cn_resolved(const char *host, const struct resolver_answer *ans, void *arg)
{
	struct core_net *n = arg;

	if (ans->naddrs > 0) {
		cn_take_addrs(n, ans->addrs, ans->naddrs);
		if (n->resolve_failing) {
			log_info("upstream %s resolves again", host);
		}
		n->resolve_failing = 0;
		return;
	}
	stats_inc(M_UPSTREAM_UNRESOLVED);
	if (!n->resolve_failing) {
		log_warnx("upstream %s: %s%s", host, gai_strerror(ans->error),
		    n->naddrs > 0 ? " (keeping the last addresses)" :
		    ": requests get 503");
	}
	n->resolve_failing = 1;
}

/*
 * At start: a literal once, a name through a new resolver (waiting for
 * this first answer).  0, or -1 if there is no address yet.
 */
int
cn_resolve_first(struct core_net *n)
{
	struct epsip_addr addrs[CN_MAX_ADDRS];
	struct resolver_answer ans;
	size_t count;

	if (n->host_literal) {
		resolver_getaddrinfo(n->host, n->resolve_family, &ans, NULL);
		cn_take_addrs(n, ans.addrs, ans.naddrs);
		return (n->naddrs > 0 ? 0 : -1);
	}
	if ((n->resolver = resolver_new(n->loop, n->resolve_family, NULL,
	    NULL, cn_resolved, n)) == NULL) {
		return (-1);
	}
	if (resolver_get_now(n->resolver, n->host, addrs, CN_MAX_ADDRS,
	    &count) != RESOLVER_OK) {
		stats_inc(M_UPSTREAM_UNRESOLVED);
		n->resolve_failing = 1;
		return (-1);
	}
	cn_take_addrs(n, addrs, count);
	return (0);
}

const struct epsip_addr *
cn_upstream_addr(const struct core_net *n)
{
	return (&n->addrs[n->addr_cur % n->naddrs]);
}
