/*
 * core_net.h -- the network on the core side: sockets, connections and
 * stream framing, nothing SIP beyond message boundaries.  Upstream mode
 * uses all of it; the embedded registrar with `core-listen` set uses the
 * sockets and core connections but no pool (there is no upstream).
 *
 *   - one UDP socket on `core-listen`: requests to a UDP upstream (or
 *     next hop) leave from it, and the core's UDP traffic (responses,
 *     requests to the Path URI) arrives on it;
 *   - a TCP listener on `core-listen` and the connections the core opens
 *     to it (bounded; closed when idle for long);
 *   - a pool of `upstream-connections` TCP connections to the upstream,
 *     one chosen per request by a hash of its Call-ID (one dialog keeps
 *     its order on one connection; one pipe for everything is Kamailio
 *     issue #1107), each connected lazily, without blocking, and backed
 *     off for at least a second after a failure.  Towards a TLS upstream
 *     (sips:) these run TLS, the upstream's certificate checked against
 *     tls-ca; the core-listen sockets stay plain.
 *
 * Everything runs in the caller's epoll loop.  What arrives is handed up
 * as whole SIP messages; what fails is reported as "connection lost" or
 * "refused by ICMP", so that the relay above can answer 503 at once.
 * Addresses handed up are plain IPv4 for IPv4 peers, also on an IPv6
 * socket (no ::ffff: forms).
 */
#ifndef RB_CORE_NET_H
#define RB_CORE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/loop.h"

/* Where a message came from. */
struct core_net_peer {
	uint8_t transport;		/* EPSIP_TRANSPORT_UDP, _TCP, or _TLS
					 * (a TLS upstream's pool) */
	struct epsip_addr remote;	/* the sender's address and port */
	uint64_t conn_id;		/* the TCP connection; 0 for UDP */
};

struct core_net_events {
	/* A whole SIP message (a datagram, or one framed from a stream). */
	void (*message)(void *arg, const char *buf, size_t len,
	    const struct core_net_peer *from);
	/*
	 * Pool connection `conn_id` failed or closed: what was sent on it
	 * will not be answered there (connect refused, reset, framing lost).
	 */
	void (*conn_lost)(void *arg, uint64_t conn_id);
	/*
	 * ICMP says the upstream refused a datagram (port or host
	 * unreachable).  `payload` is as much of that datagram as the
	 * kernel kept (its start, at least).
	 */
	void (*udp_refused)(void *arg, const char *payload, size_t len);
	void *arg;
};

/*
 * A message for the core side that did not arrive: each whole message
 * waiting on a connection we opened (to a next hop, or a response's
 * sent-by) that failed to connect, reported from a zero-delay timer; or
 * the start of a datagram to a core element other than the upstream that
 * ICMP returned as unreachable.  With the events' arg.
 */
typedef void (*core_net_undelivered_cb)(void *arg, const char *buf,
    size_t len);

struct core_net_limits {
	unsigned pool_size;		/* upstream-connections */
	size_t queue_max;		/* bytes waiting per connection */
	unsigned conns_max;		/* connections from/to the core */
	unsigned idle_ms;		/* such a connection silent: closed */
	unsigned connect_ms;		/* a connect pending this long fails */
	unsigned backoff_min_ms;	/* a slot's pause after a failure... */
	unsigned backoff_max_ms;	/* ...doubling up to this */
	size_t max_message;		/* stream framing bound (ER-04) */
};

/* From the configuration; tests shorten what they need. */
void core_net_limits_default(struct core_net_limits *limits,
    const struct epsip_config *cfg);

/* Why a request could not be sent. */
enum core_net_result {
	CORE_NET_OK = 0,
	CORE_NET_UNRESOLVED,	/* the upstream host has no address */
	CORE_NET_BACKOFF,	/* every pool slot is pausing after failures */
	CORE_NET_REFUSED,	/* connect or send failed at once */
	CORE_NET_QUEUE_FULL,	/* the connection's out-queue is full */
};

struct core_net;

/*
 * Bind UDP and TCP on cfg->core_listen (port 0: any free port, the same
 * for both) and resolve cfg->upstream if there is one (a failure there
 * is not fatal: it is tried again when needed).  NULL with a reason in
 * err.
 */
struct core_net *core_net_new(struct loop *loop,
    const struct epsip_config *cfg, const struct core_net_limits *limits,
    const struct core_net_events *ev, char *err, size_t errcap);
/* Close everything; no events. */
void core_net_free(struct core_net *n);
/* Report undelivered messages to `cb` (by default they are dropped). */
void core_net_on_undelivered(struct core_net *n, core_net_undelivered_cb cb);

/*
 * Send a request to the upstream: over UDP from the core-listen socket,
 * or over TCP on the pool connection picked by `hash` (the next slot
 * that is not backing off when that one is).  *conn_id is the
 * connection (0 for UDP).  Never blocks; the bytes are queued when the
 * connection is still being made or the socket is full.
 */
enum core_net_result core_net_send_upstream(struct core_net *n,
    uint8_t transport, uint32_t hash, const char *buf, size_t len,
    uint64_t *conn_id);

/*
 * Send a response to the core (RFC 3261 §18.2.2, RFC 3581).  UDP: to
 * `dest`.  TCP: on the live connection whose remote end is `conn_peer`
 * (the one the request came on), else on one whose remote end is `dest`,
 * else on a new connection to `dest`.  0, or -1 when it cannot go.
 */
int core_net_send_response(struct core_net *n, uint8_t transport,
    const struct epsip_addr *conn_peer, const struct epsip_addr *dest,
    const char *buf, size_t len);

/*
 * Send a request to a next hop on the core side that is not the
 * upstream: UDP from the core-listen socket; TCP on a live connection
 * whose remote end is `dest` (one it opened to us, or one we opened),
 * else on a new one.  Never blocks.  0, or -1 when it cannot go; then,
 * as when a new connection fails later, the undelivered callback gets
 * it.
 */
int core_net_send_to(struct core_net *n, uint8_t transport,
    const struct epsip_addr *dest, const char *buf, size_t len);

/*
 * A request that has no hop to go to (a name that does not resolve, a
 * URI we cannot reach): hand it to the undelivered callback, from a
 * timer like every other, so the caller is never re-entered.
 */
void core_net_undeliverable(struct core_net *n, const char *buf,
    size_t len);

/* The bound core-listen address (the real port when 0 was asked). */
void core_net_local(const struct core_net *n, struct epsip_addr *addr);
/* Pool connections established now. */
size_t core_net_pool_live(const struct core_net *n);
/* Connections from the core, and those opened to answer it. */
size_t core_net_core_conns(const struct core_net *n);

const char *core_net_result_name(enum core_net_result r);

#endif /* RB_CORE_NET_H */
