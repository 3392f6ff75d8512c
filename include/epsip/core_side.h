/*
 * core_side.h -- how this edge names itself to the core side.
 *
 * The core reaches us at core-advertise (its port defaulting to
 * core-listen's), else at core-listen; a wildcard core-listen means the
 * local address the kernel would use towards the peer in question.  The
 * sip-router puts this name into core-facing Path, Record-Route and Via
 * (services/sip-router/self.c, towards the upstream); the
 * registrar-bridge puts it into the Via of requests it sends out on the
 * core side (towards their next hop).
 */
#ifndef EPSIP_CORE_SIDE_H
#define EPSIP_CORE_SIDE_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/config.h"
#include "epsip/ipc.h"

/*
 * The source address the kernel would use towards `peer` (a connected
 * UDP socket sends nothing, it only asks the routing table); port 0.
 * 0, or -1 when there is no route.
 */
int core_side_source(const struct epsip_addr *peer, struct epsip_addr *out);

/*
 * HOST (a name, or an IP literal without brackets) and port of the core
 * side as `peer` should see it: core-advertise, else core-listen, else
 * for a wildcard core-listen the source address towards `peer` (NULL:
 * unknown), else 127.0.0.1 as the last resort.  0, or -1 when
 * core-listen is not set or host does not fit.
 */
int core_side_name(const struct epsip_config *cfg,
    const struct epsip_addr *peer, char *host, size_t hostcap,
    uint16_t *port);

#endif /* EPSIP_CORE_SIDE_H */
