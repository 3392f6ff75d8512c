/*
 * overload.h -- shed, don't collapse (issue 7 §4).
 *
 * Past its capacity an edge must not work on requests their senders have
 * given up on: every such request costs the requests still in time, and
 * a UDP phone whose request waits longer than T1 (500 ms) sends it again,
 * which only adds load.  So a new request over UDP that waited longer
 * than `overload-delay` in the edge's queues (its envelope's stamp_ms,
 * ipc.h) gets 503 with Retry-After (RFC 3261 §21.5.4) from its own lines
 * wherever it is noticed: in the router or in the registrar-bridge.  A
 * flow-manager child does the same for one the full link to the router
 * cannot take.  TCP flows are slowed by back-pressure instead, and what
 * finishes work (responses, ACK, CANCEL, in-dialog requests) always
 * passes.
 */
#ifndef EPSIP_OVERLOAD_H
#define EPSIP_OVERLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/sip_scan.h"

/*
 * 1 when `msg` came over UDP and waited longer than overload-delay by
 * `now_ms` (monotonic), whatever it is; 0 otherwise or when shedding is
 * off.  A cheap test of the envelope alone, made before any parse.
 */
int overload_is_late(const struct epsip_config *cfg,
    const struct epsip_msg *msg, uint64_t now_ms);

/*
 * The 503 + Retry-After for the message in buf[0..len) when it is a
 * request that starts new work (sip_request_starts_work): 1 with *out
 * malloc'ed and *out_len; 0 when it must pass (or cannot be scanned).
 */
int overload_reply(const struct epsip_config *cfg, const char *buf,
    size_t len, char **out, size_t *out_len);

#endif /* EPSIP_OVERLOAD_H */
