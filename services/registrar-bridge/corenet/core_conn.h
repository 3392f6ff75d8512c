/*
 * core_conn.h -- inside core_net: the structures it shares with
 * core_conn.c, which runs its TCP connections, and core_undelivered.c.
 * Nothing outside those files includes this; the rest of the bridge
 * sees core_net.h only.
 */
#ifndef RB_CORE_CONN_H
#define RB_CORE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "epsip/resolver.h"
#include "epsip/stream.h"
#include "epsip/tls.h"

#include "core_net.h"

#define CN_MAX_ADDRS		RESOLVER_MAX_ADDRS
#define CN_BUCKETS		256

enum cn_kind {
	CN_POOL,	/* ours, to the upstream */
	CN_ACCEPTED,	/* the core's, to our listener */
	CN_DIALED,	/* ours, to the core, to deliver a response */
};

struct cn_conn {
	struct core_net *net;
	SLIST_ENTRY(cn_conn) hlink;	/* by remote address */
	LIST_ENTRY(cn_conn) link;	/* ACCEPTED and DIALED */
	enum cn_kind kind;
	size_t slot;			/* POOL */
	uint64_t id;
	int hashed;
	int reading;			/* inside the framing loop */
	int dead;			/* closed while reading: finish after */
	int tls_up;			/* TLS: the handshake was seen done */
	struct epsip_addr remote;
	uint64_t started_ms;
	uint64_t active_ms;
	/* The socket, its input, its bounded output queue; connecting
	 * until the connect finished. */
	struct stream stream;
};

struct cn_slot {
	struct cn_conn *conn;
	uint64_t retry_at;		/* back-off: no connect before */
	unsigned backoff_ms;		/* 0: the slot is healthy */
};

struct core_net {
	struct loop *loop;
	struct core_net_limits lim;
	struct core_net_events ev;
	struct epsip_addr local;
	int udp_fd;
	int tcp_fd;
	int sweep_timer;
	uint64_t next_id;
	char *dgram;

	/* The upstream. */
	char host[CONFIG_NAME_MAX];
	uint16_t port;
	int host_literal;
	int resolve_family;
	struct resolver *resolver;	/* a name's; NULL for a literal */
	int resolve_failing;		/* the last lookup found nothing */
	struct epsip_addr addrs[CN_MAX_ADDRS];
	size_t naddrs, addr_cur;
	struct cn_slot *slots;
	size_t pool_live;
	/* A TLS upstream's client context (tls-ca); NULL otherwise.  Its
	 * pool runs TLS, and so do responses dialed back to it. */
	SSL_CTX *tls;

	/* Every TCP connection's stream class: limits, scratch buffer. */
	struct stream_class streams;

	/* The core's connections (ACCEPTED and DIALED), newest first. */
	LIST_HEAD(, cn_conn) conns;
	size_t nconns;
	SLIST_HEAD(, cn_conn) by_remote[CN_BUCKETS];

	/* Pool connections lost, reported from a timer (see cn_lost). */
	uint64_t *lost;
	size_t nlost, lost_cap;
	int lost_timer;

	/* Messages of dialed connections that never connected (same). */
	core_net_undelivered_cb undelivered;
	struct stream_queue undel;
	int undel_timer;
};

/* core_addr.c: addresses and the upstream's. */
/* sockaddr to epsip_addr, ::ffff:a.b.c.d turned into plain IPv4. */
int cn_addr_from(struct epsip_addr *a, const struct sockaddr_storage *ss);
/* For a socket of `family` (IPv4 mapped on IPv6); 0 if impossible. */
socklen_t cn_sockaddr(const struct epsip_addr *a, int family,
    struct sockaddr_storage *ss);
size_t cn_addr_bucket(const struct epsip_addr *a);
/* The upstream's addresses as the resolver has them; 0, or -1: none. */
int cn_resolve(struct core_net *n);
/*
 * At start: a literal once, a name through a new resolver (waiting for
 * its first answer).  0, or -1 if there is no address yet.
 */
int cn_resolve_first(struct core_net *n);
const struct epsip_addr *cn_upstream_addr(const struct core_net *n);

/* core_conn.c: TCP connections of every kind. */
/* Their stream class, from n->lim; 0, or -1 (no memory). */
int cn_streams_init(struct core_net *n);
/*
 * tls_host: TLS (n->tls), the server's certificate must name it; NULL:
 * plain TCP.  NULL when it cannot be made (the socket is closed).
 */
struct cn_conn *cn_conn_new(struct core_net *n, int fd, enum cn_kind kind,
    const struct epsip_addr *remote, int connecting, const char *tls_host);
/* 1 for a connection that runs TLS. */
#define cn_conn_tls(c)	((c)->stream.tr == &stream_tls)
/* Connected, TLS, and its handshake not done yet. */
int cn_conn_handshaking(const struct cn_conn *c);
/* notify: a pool connection's loss is reported (from a timer). */
void cn_conn_close(struct cn_conn *c, int notify);
/*
 * A connection we dialed failed to connect: hand what waits on it to
 * the undelivered callback (from a timer), then close it.
 */
void cn_conn_failed(struct cn_conn *c);
/*
 * core_undelivered.c: for the undelivered callback, from a timer.  What
 * waits on a stream that never connected (each chunk one message).
 */
void cn_undelivered_take(struct core_net *n, struct stream *s);
/* A copy of a message that could not go, for the undelivered callback. */
void cn_undelivered_add(struct core_net *n, const char *buf, size_t len);
/* Free undelivered messages not yet reported (core_net_free). */
void cn_undelivered_free(struct core_net *n);
/* 0; -1 the connection failed (closed); -2 its queue is full. */
int cn_conn_send(struct cn_conn *c, const char *buf, size_t len);
struct cn_conn *cn_find_remote(struct core_net *n,
    const struct epsip_addr *remote);
/* A non-blocking TCP socket connecting to `to`; -1 with errno. */
int cn_connect(struct core_net *n, const struct epsip_addr *to,
    int *pending);
/* why: strerror() of the connect, or what TLS said. */
void cn_slot_failed(struct core_net *n, size_t slot, const char *why);
struct cn_conn *cn_pool_pick(struct core_net *n, uint32_t hash,
    enum core_net_result *why);

#endif /* RB_CORE_CONN_H */
