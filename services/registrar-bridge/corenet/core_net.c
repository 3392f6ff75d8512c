/*
 * core_net.c -- the sockets of the core side, see core_net.h:
 * the core-listen UDP socket and TCP listener, the once-a-second sweep,
 * and the send calls.  The TCP connections themselves (pool, accepted,
 * dialed) are core_conn.c's, the upstream's addresses core_addr.c's.
 *
 * The UDP socket has IP_RECVERR (and IPV6_RECVERR): an ICMP unreachable
 * for a datagram to the upstream arrives on the error queue with the
 * original destination and the start of the datagram, which is how a
 * request to a dead UDP upstream gets its 503 in milliseconds.  That same
 * option makes the kernel report the error once more on the next send or
 * receive (ECONNREFUSED); those calls try again.
 *
 * An upstream named by an IP literal is converted once.  A name is
 * looked up at start (waiting: nothing is served yet), then by a
 * resolver (resolver.h) off the loop's thread, again every
 * RESOLVER_TTL_MS: a slow or dead DNS server never stalls the bridge.
 * A name that stops resolving keeps its last addresses; one that never
 * resolved makes every send fail with CORE_NET_UNRESOLVED (a 503 above).
 *
 * DIAGNOSTICS: failing to bind core-listen is returned to the caller (the
 * bridge does not start).  Everything from the network is counted and
 * logged, never fatal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "epsip/log.h"
#include "epsip/stats.h"

#include "core_conn.h"

#define CN_SWEEP_MS		1000
#define CN_DGRAMS_PER_WAKEUP	64
#define CN_DGRAM_MAX		65535
#define CN_LISTEN_BACKLOG	128
/* Port 0 in core-listen: UDP picks a port, TCP must get the same one. */
#define CN_BIND_ATTEMPTS	16

void
core_net_limits_default(struct core_net_limits *limits,
    const struct epsip_config *cfg)
{
	limits->pool_size = cfg->upstream_connections > 0 ?
	    cfg->upstream_connections : 1;
	limits->queue_max = 512 * 1024;
	limits->conns_max = 1024;
	/* Far longer than any core's own idle timer (Kamailio: 120 s). */
	limits->idle_ms = 600 * 1000;
	limits->connect_ms = (cfg->upstream_timeout > 0 ?
	    cfg->upstream_timeout : 5) * 1000;
	limits->backoff_min_ms = 1000;
	limits->backoff_max_ms = 8000;
	limits->max_message = cfg->max_message_size;
}

const char *
core_net_result_name(enum core_net_result r)
{
	switch (r) {
	case CORE_NET_OK:
		return ("ok");
	case CORE_NET_UNRESOLVED:
		return ("upstream host does not resolve");
	case CORE_NET_BACKOFF:
		return ("every upstream connection is backing off");
	case CORE_NET_REFUSED:
		return ("upstream refused");
	case CORE_NET_QUEUE_FULL:
		return ("upstream connection queue full");
	}
	return ("?");
}

/* --- the upstream's addresses are core_addr.c's --- */

static int
cn_is_upstream(const struct core_net *n, const struct epsip_addr *a)
{
	for (size_t i = 0; i < n->naddrs; i++) {
		if (epsip_addr_equal(&n->addrs[i], a)) {
			return (1);
		}
	}
	return (0);
}

/* --- UDP --- */

/* sendto() that steps over an error the kernel kept from an earlier ICMP. */
static ssize_t
cn_sendto(struct core_net *n, const struct epsip_addr *to, const char *buf,
    size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	ssize_t r = -1;

	if ((sl = cn_sockaddr(to, n->local.family, &ss)) == 0) {
		errno = EAFNOSUPPORT;
		return (-1);
	}
	for (int tries = 0; tries < 3; tries++) {
		r = sendto(n->udp_fd, buf, len, MSG_DONTWAIT,
		    (struct sockaddr *)&ss, sl);
		if (r >= 0 || (errno != EINTR && errno != ECONNREFUSED &&
		    errno != EHOSTUNREACH && errno != ENETUNREACH)) {
			break;
		}
	}
	return (r);
}

static int
cn_is_keepalive(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\r' && buf[i] != '\n' && buf[i] != ' ') {
			return (0);
		}
	}
	return (1);
}

static void
cn_udp_read(struct core_net *n)
{
	struct sockaddr_storage ss;
	struct core_net_peer peer;
	socklen_t sl;
	ssize_t r;

	for (int i = 0; i < CN_DGRAMS_PER_WAKEUP; i++) {
		sl = sizeof(ss);
		r = recvfrom(n->udp_fd, n->dgram, CN_DGRAM_MAX, MSG_DONTWAIT,
		    (struct sockaddr *)&ss, &sl);
		if (r == -1) {
			/* An ICMP error reported once more here: go on. */
			if (errno == EINTR || errno == ECONNREFUSED ||
			    errno == EHOSTUNREACH || errno == ENETUNREACH) {
				continue;
			}
			return;
		}
		/* Keep-alives and STUN (first byte 0 or 1) are not SIP. */
		if (r == 0 || cn_is_keepalive(n->dgram, (size_t)r) ||
		    (unsigned char)n->dgram[0] < 2) {
			continue;
		}
		memset(&peer, 0, sizeof(peer));
		peer.transport = EPSIP_TRANSPORT_UDP;
		if (cn_addr_from(&peer.remote, &ss) != 0) {
			continue;
		}
		n->ev.message(n->ev.arg, n->dgram, (size_t)r, &peer);
	}
}

/*
 * The error queue: an ICMP unreachable for a datagram we sent.  Only
 * those addressed to the upstream matter; the kernel gives back the
 * original destination in msg_name and the datagram's start as data.
 */
/*
 * ICMP refused a datagram to a core element that is not the upstream.
 * With an undelivered callback (the embedded core sending to another
 * edge) that datagram is undelivered: a request there fails over at
 * once instead of after Timer B.  Otherwise the element's own
 * retransmissions and timers are its business.
 */
static void
cn_icmp_other(struct core_net *n, const char *payload, size_t len)
{
	if (n->undelivered == NULL) {
		stats_inc(M_CORE_ICMP_IGNORED);
		return;
	}
	stats_inc(M_CORE_ICMP_UNREACHABLE);
	n->undelivered(n->ev.arg, payload, len);
}

static void
cn_udp_errors(struct core_net *n)
{
	char payload[2048], ctrl[512];
	struct sock_extended_err ee = { 0 };
	struct sockaddr_storage ss;
	struct epsip_addr to;
	struct cmsghdr *cm;
	struct msghdr msg;
	struct iovec iov;
	ssize_t r;
	int found;

	for (int i = 0; i < CN_DGRAMS_PER_WAKEUP; i++) {
		memset(&msg, 0, sizeof(msg));
		memset(&ss, 0, sizeof(ss));
		iov.iov_base = payload;
		iov.iov_len = sizeof(payload);
		msg.msg_name = &ss;
		msg.msg_namelen = sizeof(ss);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctrl;
		msg.msg_controllen = sizeof(ctrl);
		r = recvmsg(n->udp_fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (r == -1) {
			if (errno == EINTR) {
				continue;
			}
			return;
		}
		found = 0;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
		    cm = CMSG_NXTHDR(&msg, cm)) {
			if ((cm->cmsg_level == SOL_IP &&
			    cm->cmsg_type == IP_RECVERR) ||
			    (cm->cmsg_level == SOL_IPV6 &&
			    cm->cmsg_type == IPV6_RECVERR)) {
				memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
				found = 1;
			}
		}
		if (!found || (ee.ee_origin != SO_EE_ORIGIN_ICMP &&
		    ee.ee_origin != SO_EE_ORIGIN_ICMP6) ||
		    (ee.ee_errno != ECONNREFUSED &&
		    ee.ee_errno != EHOSTUNREACH &&
		    ee.ee_errno != ENETUNREACH)) {
			continue;
		}
		if (cn_addr_from(&to, &ss) != 0 || !cn_is_upstream(n, &to)) {
			cn_icmp_other(n, payload, (size_t)r);
			continue;
		}
		stats_inc(M_UPSTREAM_ICMP_UNREACHABLE);
		n->addr_cur++;
		if (n->ev.udp_refused != NULL) {
			n->ev.udp_refused(n->ev.arg, payload, (size_t)r);
		}
	}
}

static void
cn_on_udp(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct core_net *n = arg;

	(void)loop;
	(void)fd;
	/* Errors first: reading them clears the error the kernel keeps. */
	if (events & EPOLLERR) {
		cn_udp_errors(n);
	}
	if (events & EPOLLIN) {
		cn_udp_read(n);
	}
}

/* --- the listener and the sweep --- */

static void
cn_on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct core_net *n = arg;
	struct sockaddr_storage ss;
	struct epsip_addr remote;
	socklen_t sl;
	int cfd;

	(void)loop;
	(void)events;
	for (;;) {
		sl = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			if (errno != EAGAIN) {
				log_warn("core side: accept");
			}
			return;
		}
		if (n->nconns >= n->lim.conns_max ||
		    cn_addr_from(&remote, &ss) != 0) {
			stats_inc(M_CORE_CONNECTIONS_REJECTED);
			close(cfd);
			continue;
		}
		if (cn_conn_new(n, cfd, CN_ACCEPTED, &remote, 0, NULL) !=
		    NULL) {
			stats_inc(M_CORE_CONNECTIONS_ACCEPTED);
		}
	}
}

/*
 * Once a second: idle core connections, connects that take too long (a
 * TLS handshake is part of the connect: one that never ends holds its
 * requests as a connect that never ends would).
 */
static void
cn_sweep(struct loop *loop, void *arg)
{
	struct core_net *n = arg;
	struct cn_conn *c, *next;
	uint64_t now = loop_now_ms(loop);

	for (c = LIST_FIRST(&n->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		if (((c->stream.flags & STREAM_F_CONNECTING) ||
		    cn_conn_handshaking(c)) &&
		    now >= c->started_ms + n->lim.connect_ms) {
			cn_conn_failed(c);
		} else if (c->stream.wq_bytes == 0 &&
		    now >= c->active_ms + n->lim.idle_ms) {
			cn_conn_close(c, 0);
		}
	}
	for (size_t i = 0; i < n->lim.pool_size; i++) {
		c = n->slots[i].conn;
		if (c != NULL && ((c->stream.flags & STREAM_F_CONNECTING) ||
		    cn_conn_handshaking(c)) &&
		    now >= c->started_ms + n->lim.connect_ms) {
			cn_slot_failed(n, i, cn_conn_handshaking(c) ?
			    "TLS: no handshake in time" : strerror(ETIMEDOUT));
			cn_conn_close(c, 1);
		}
	}
}

/* --- set-up --- */

/* The UDP socket; -1 with errno. */
static int
cn_open_udp(struct core_net *n)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, zero = 0, fam = n->local.family, saved;

	n->udp_fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->udp_fd == -1) {
		return (-1);
	}
	if (fam == AF_INET6) {
		/* ::: both families, whatever net.ipv6.bindv6only says. */
		if (epsip_addr_is_any(&n->local)) {
			(void)setsockopt(n->udp_fd, IPPROTO_IPV6, IPV6_V6ONLY,
			    &zero, sizeof(zero));
		}
		(void)setsockopt(n->udp_fd, IPPROTO_IPV6, IPV6_RECVERR, &one,
		    sizeof(one));
	}
	/* On an IPv6 socket this covers IPv4-mapped destinations. */
	(void)setsockopt(n->udp_fd, IPPROTO_IP, IP_RECVERR, &one,
	    sizeof(one));
	sl = epsip_addr_to_sockaddr(&n->local, &ss);
	if (bind(n->udp_fd, (struct sockaddr *)&ss, sl) == -1) {
		saved = errno;
		close(n->udp_fd);
		n->udp_fd = -1;
		errno = saved;
		return (-1);
	}
	sl = sizeof(ss);
	if (getsockname(n->udp_fd, (struct sockaddr *)&ss, &sl) == 0) {
		struct epsip_addr bound;

		if (epsip_addr_from_sockaddr(&bound,
		    (struct sockaddr *)&ss) == 0) {
			n->local.port = bound.port;
		}
	}
	return (0);
}

/* The TCP listener on the UDP socket's port; -1 with errno. */
static int
cn_open_tcp(struct core_net *n)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, zero = 0, saved;

	n->tcp_fd = socket(n->local.family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (n->tcp_fd == -1) {
		return (-1);
	}
	(void)setsockopt(n->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one));
	if (n->local.family == AF_INET6 && epsip_addr_is_any(&n->local)) {
		(void)setsockopt(n->tcp_fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
		    sizeof(zero));
	}
	sl = epsip_addr_to_sockaddr(&n->local, &ss);
	if (bind(n->tcp_fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(n->tcp_fd, CN_LISTEN_BACKLOG) == -1) {
		saved = errno;
		close(n->tcp_fd);
		n->tcp_fd = -1;
		errno = saved;
		return (-1);
	}
	return (0);
}

/* UDP and TCP on one port; with port 0, a port free for both. */
static int
cn_bind(struct core_net *n, char *err, size_t errcap)
{
	struct epsip_addr asked = n->local;
	char buf[64];
	int saved = 0;

	for (int i = 0; i < CN_BIND_ATTEMPTS; i++) {
		n->local = asked;
		if (cn_open_udp(n) == -1) {
			saved = errno;
			break;
		}
		if (cn_open_tcp(n) == 0) {
			return (0);
		}
		saved = errno;
		close(n->udp_fd);
		n->udp_fd = -1;
		if (asked.port != 0 || saved != EADDRINUSE) {
			break;
		}
	}
	epsip_addr_format(&asked, buf, sizeof(buf));
	snprintf(err, errcap, "core-listen %s: %s", buf, strerror(saved));
	return (-1);
}

struct core_net *
core_net_new(struct loop *loop, const struct epsip_config *cfg,
    const struct core_net_limits *limits, const struct core_net_events *ev,
    char *err, size_t errcap)
{
	struct core_net *n;
	struct in6_addr a6;
	struct in_addr a4;

	if ((n = calloc(1, sizeof(*n))) == NULL ||
	    (n->dgram = malloc(CN_DGRAM_MAX)) == NULL) {
		free(n);
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	n->loop = loop;
	n->ev = *ev;
	STAILQ_INIT(&n->undel);
	n->udp_fd = n->tcp_fd = -1;
	n->sweep_timer = n->lost_timer = n->undel_timer = -1;
	if (limits != NULL) {
		n->lim = *limits;
	} else {
		core_net_limits_default(&n->lim, cfg);
	}
	if (n->lim.pool_size == 0) {
		n->lim.pool_size = 1;
	}
	n->local = cfg->core_listen;
	snprintf(n->host, sizeof(n->host), "%s", cfg->upstream.host);
	n->port = cfg->upstream.port;
	n->host_literal = inet_pton(AF_INET, n->host, &a4) == 1 ||
	    inet_pton(AF_INET6, n->host, &a6) == 1;
	/* What the UDP socket can reach: its family, or both on ::. */
	n->resolve_family = n->local.family == AF_INET6 &&
	    epsip_addr_is_any(&n->local) ? AF_UNSPEC : n->local.family;
	if (n->local.family != AF_INET && n->local.family != AF_INET6) {
		snprintf(err, errcap, "core-listen is not set");
		core_net_free(n);
		return (NULL);
	}
	if ((n->slots = calloc(n->lim.pool_size, sizeof(*n->slots))) ==
	    NULL || cn_streams_init(n) == -1) {
		snprintf(err, errcap, "out of memory");
		core_net_free(n);
		return (NULL);
	}
	/* The upstream's certificate is checked against tls-ca, or the
	 * system's CAs without one. */
	if (n->host[0] != '\0' &&
	    cfg->upstream.transport == EPSIP_TRANSPORT_TLS &&
	    (n->tls = tls_client_ctx_new(cfg->tls_ca, err, errcap)) == NULL) {
		core_net_free(n);
		return (NULL);
	}
	if (cn_bind(n, err, errcap) == -1) {
		core_net_free(n);
		return (NULL);
	}
	if (loop_add_fd(loop, n->udp_fd, EPOLLIN, cn_on_udp, n) == -1 ||
	    loop_add_fd(loop, n->tcp_fd, EPOLLIN, cn_on_accept, n) == -1 ||
	    (n->sweep_timer = loop_every(loop, CN_SWEEP_MS, cn_sweep, n)) <
	    0) {
		snprintf(err, errcap, "core side: cannot register with the "
		    "event loop");
		core_net_free(n);
		return (NULL);
	}
	if (n->host[0] != '\0' && cn_resolve_first(n) == -1) {
		/* Not fatal: a name may resolve later (a literal will not). */
		log_warnx("upstream %s %s: requests get 503", n->host,
		    n->host_literal ? "is not of core-listen's address family" :
		    "does not resolve yet");
	}
	return (n);
}

void
core_net_on_undelivered(struct core_net *n, core_net_undelivered_cb cb)
{
	n->undelivered = cb;
}

void
core_net_free(struct core_net *n)
{
	if (n == NULL) {
		return;
	}
	while (!LIST_EMPTY(&n->conns)) {
		cn_conn_close(LIST_FIRST(&n->conns), 0);
	}
	for (size_t i = 0; n->slots != NULL && i < n->lim.pool_size; i++) {
		if (n->slots[i].conn != NULL) {
			cn_conn_close(n->slots[i].conn, 0);
		}
	}
	if (n->sweep_timer >= 0) {
		loop_cancel(n->loop, n->sweep_timer);
	}
	if (n->lost_timer >= 0) {
		loop_cancel(n->loop, n->lost_timer);
	}
	free(n->lost);
	cn_undelivered_free(n);
	resolver_free(n->resolver);
	if (n->udp_fd != -1) {
		loop_del_fd(n->loop, n->udp_fd);
		close(n->udp_fd);
	}
	if (n->tcp_fd != -1) {
		loop_del_fd(n->loop, n->tcp_fd);
		close(n->tcp_fd);
	}
	free(n->slots);
	tls_ctx_free(n->tls);
	stream_class_free(&n->streams);
	free(n->dgram);
	free(n);
}

/* --- sending --- */

enum core_net_result
core_net_send_upstream(struct core_net *n, uint8_t transport, uint32_t hash,
    const char *buf, size_t len, uint64_t *conn_id)
{
	enum core_net_result why;
	struct cn_conn *c;
	int rv;

	*conn_id = 0;
	if (transport == EPSIP_TRANSPORT_UDP) {
		if (cn_resolve(n) == -1) {
			return (CORE_NET_UNRESOLVED);
		}
		if (cn_sendto(n, cn_upstream_addr(n), buf, len) == -1) {
			return (errno == EAGAIN || errno == ENOBUFS ?
			    CORE_NET_QUEUE_FULL : CORE_NET_REFUSED);
		}
		return (CORE_NET_OK);
	}
	if ((c = cn_pool_pick(n, hash, &why)) == NULL) {
		return (why);
	}
	*conn_id = c->id;
	if ((rv = cn_conn_send(c, buf, len)) == 0) {
		return (CORE_NET_OK);
	}
	*conn_id = 0;
	return (rv == -2 ? CORE_NET_QUEUE_FULL : CORE_NET_REFUSED);
}

int
core_net_send_response(struct core_net *n, uint8_t transport,
    const struct epsip_addr *conn_peer, const struct epsip_addr *dest,
    const char *buf, size_t len)
{
	struct cn_conn *c;
	int fd, pending;

	if (transport == EPSIP_TRANSPORT_UDP) {
		return (cn_sendto(n, dest, buf, len) == -1 ? -1 : 0);
	}
	if ((c = cn_find_remote(n, conn_peer)) == NULL &&
	    (c = cn_find_remote(n, dest)) == NULL) {
		/* §18.2.2: the connection is gone; open one to sent-by. */
		if (n->nconns >= n->lim.conns_max) {
			return (-1);
		}
		/* TLS only to a TLS upstream, whose name we can check. */
		if (transport == EPSIP_TRANSPORT_TLS && (n->tls == NULL ||
		    !cn_is_upstream(n, dest))) {
			return (-1);
		}
		if ((fd = cn_connect(n, dest, &pending)) == -1) {
			stats_inc(M_CORE_CONNECT_FAILURES);
			return (-1);
		}
		if ((c = cn_conn_new(n, fd, CN_DIALED, dest, pending,
		    transport == EPSIP_TRANSPORT_TLS ? n->host : NULL)) ==
		    NULL) {
			return (-1);
		}
		stats_inc(M_CORE_CONNECTIONS_DIALED);
	}
	return (cn_conn_send(c, buf, len) == 0 ? 0 : -1);
}

/*
 * The same search as for a response: a request knows only its hop.  One
 * that cannot go is also reported undelivered, as if its connection had
 * failed, so that the core fails over now rather than at Timer B.
 */
int
core_net_send_to(struct core_net *n, uint8_t transport,
    const struct epsip_addr *dest, const char *buf, size_t len)
{
	if (core_net_send_response(n, transport, dest, dest, buf, len) == 0) {
		return (0);
	}
	cn_undelivered_add(n, buf, len);
	return (-1);
}

void
core_net_undeliverable(struct core_net *n, const char *buf, size_t len)
{
	cn_undelivered_add(n, buf, len);
}

void
core_net_local(const struct core_net *n, struct epsip_addr *addr)
{
	*addr = n->local;
}

size_t
core_net_pool_live(const struct core_net *n)
{
	return (n->pool_live);
}

size_t
core_net_core_conns(const struct core_net *n)
{
	return (n->nconns);
}
