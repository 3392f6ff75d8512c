/*
 * core_hop.h -- where a request from the embedded core goes when it
 * leaves over the core-side network: the next hop named by its top Route
 * (a Path the registrar stored), else by its Request-URI (RFC 3261
 * §16.6(6), §8.1.2), as a transport and an address.
 *
 * Hosts are IP literals or names looked up with getaddrinfo() (A/AAAA
 * only: no RFC 3263 NAPTR/SRV, so a name without port means 5060).  A
 * lookup blocks the bridge's loop, so answers are kept CORE_HOP_TTL_MS
 * in a small table (failures CORE_HOP_RETRY_MS) and a Path keeps its
 * edge's IP literal unless the operator advertised a name.
 */
#ifndef RB_CORE_HOP_H
#define RB_CORE_HOP_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#include "epsip/config.h"
#include "epsip/ipc.h"

#define CORE_HOP_NAMES		16
#define CORE_HOP_TTL_MS		30000
#define CORE_HOP_RETRY_MS	1000

struct core_hop {
	uint8_t transport;		/* EPSIP_TRANSPORT_UDP or _TCP */
	struct epsip_addr addr;		/* with the port */
};

/* Names looked up lately; zero it, then core_hop_cache_init(). */
struct core_hop_cache {
	int family;			/* what getaddrinfo() may return */
	size_t next;			/* the entry replaced next */
	struct {
		char host[CONFIG_NAME_MAX];
		struct epsip_addr addr;	/* family 0: it did not resolve */
		uint64_t until_ms;
	} names[CORE_HOP_NAMES];
};

/* Look names up in the families a socket on `core_listen` can reach. */
void core_hop_cache_init(struct core_hop_cache *c,
    const struct epsip_addr *core_listen);

/*
 * The next hop of `req`: its top Route URI, else its Request-URI.
 * sip: only (no TLS here), transport=udp (the default) or tcp, port 5060
 * unless given.  0, or -1 with *why a short reason (a stats suffix).
 */
int core_hop_of(struct core_hop_cache *c, const osip_message_t *req,
    uint64_t now_ms, struct core_hop *hop, const char **why);

#endif /* RB_CORE_HOP_H */
