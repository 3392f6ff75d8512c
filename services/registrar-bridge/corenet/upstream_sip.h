/*
 * upstream_sip.h -- the SIP handling of the core-side network that is
 * not a core's logic: a Call-ID's hash, byte-level edits of a request
 * that must otherwise go out as it came (RFC 3261 §16.6(7)), the Via
 * stamps on requests from the core, where a response goes by its Via,
 * and a look into what ICMP gave back.  Upstream mode (core_upstream.c)
 * and the embedded core's dispatcher (core_dispatch.c) share them.
 */
#ifndef RB_UPSTREAM_SIP_H
#define RB_UPSTREAM_SIP_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#include "epsip/ipc.h"

/* Above this, a request for a UDP next hop goes over TCP (TR-09). */
#define UP_UDP_MAX_REQUEST	1300

/* FNV-1a of the Call-ID: picks the pool connection. */
uint32_t up_callid_hash(const osip_message_t *msg);

/*
 * TR-09: the top Via's "SIP/2.0/UDP" becomes "SIP/2.0/TCP" in place,
 * nothing else changes.  0, or -1 when the top Via is not UDP.
 */
int up_via_udp_to_tcp(char *buf, size_t len);

/* 1 if buf[0..len) is exactly one message a stream peer can frame. */
int up_stream_framed(const char *buf, size_t len);



/*
 * Where a response goes by its top Via (RFC 3261 §18.2.2, RFC 3581 §4):
 * over *transport; *conn_peer is received:rport, the connection (or UDP
 * source) the request came from; *dest is where to send when that
 * connection is gone: received (else the sent-by host) and the sent-by
 * port for TCP, received:rport for UDP.  0, or -1 when the Via names no
 * UDP/TCP transport or no IP literal to send to.
 */
int up_response_dest(const osip_message_t *resp, uint8_t *transport,
    struct epsip_addr *conn_peer, struct epsip_addr *dest);

/* How a response leaves: core_net_send_response(), or a test's fake. */
typedef int up_send_response_fn(void *arg, uint8_t transport,
    const struct epsip_addr *conn_peer, const struct epsip_addr *dest,
    const char *buf, size_t len);

/*
 * Send a response to the core element by its top Via (up_response_dest),
 * counted as core.responses.sent or .undeliverable: both modes relay
 * the core's transactions alike.  0, or -1 when it could not go.
 */
int up_response_send(const osip_message_t *resp, const char *buf,
    size_t len, up_send_response_fn *send, void *arg);

/*
 * Method and top Via branch from the start of a request, which may be
 * cut anywhere (ICMP's copy of a datagram).  0 or -1.
 */
int up_scan_request(const char *buf, size_t len, char *method, size_t mcap,
    char *branch, size_t bcap);

#endif /* RB_UPSTREAM_SIP_H */
