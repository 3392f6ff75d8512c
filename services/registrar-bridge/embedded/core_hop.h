/*
 * core_hop.h -- where a request from the embedded core goes when it
 * leaves over the core-side network: the next hop named by its top Route
 * (a Path the registrar stored), else by its Request-URI (RFC 3261
 * §16.6(6), §8.1.2), as a transport and an address.
 *
 * Hosts are IP literals or names (A/AAAA only: no RFC 3263 NAPTR/SRV,
 * so a name without port means 5060).  Names are the resolver's
 * (resolver.h): looked up off the loop's thread, so a request whose hop
 * is a name not known yet waits for its answer (CORE_HOP_RESOLVING)
 * instead of stalling the bridge.  A Path keeps its edge's IP literal
 * unless the operator advertised a name.
 */
#ifndef RB_CORE_HOP_H
#define RB_CORE_HOP_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/metrics.h"
#include "epsip/resolver.h"

/* core_hop_of(): the hop's name is being looked up; ask again later. */
#define CORE_HOP_RESOLVING	1

struct core_hop {
	uint8_t transport;		/* EPSIP_TRANSPORT_UDP or _TCP */
	struct epsip_addr addr;		/* with the port */
	char name[RESOLVER_HOST_MAX];	/* the host, when not a literal */
};

/*
 * The next hop of `req`: its top Route URI, else its Request-URI.
 * sip: only (no TLS here), transport=udp (the default) or tcp, port 5060
 * unless given.  0; CORE_HOP_RESOLVING while hop->name is looked up
 * (the resolver's callback follows); or -1 with *why the reason
 * (M_CORE_REQUESTS_UNDELIVERABLE_*).  `names` NULL: IP literals only.
 */
int core_hop_of(struct resolver *names, const osip_message_t *req,
    struct core_hop *hop, enum metric_id *why);

#endif /* RB_CORE_HOP_H */
