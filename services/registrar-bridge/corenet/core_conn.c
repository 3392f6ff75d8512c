/*
 * core_conn.c -- the TCP connections of the core side (see core_net.c
 * for the rest): the pool towards the upstream, connections the core
 * opened to our listener, and ones we opened to the core to deliver a
 * response whose connection was gone (RFC 3261 §18.2.2) or, for the
 * embedded core, a request to another edge's Path.
 *
 * All three share one structure, and one stream class (common/stream.c:
 * the socket, the input buffer, the bounded output queue flushed on
 * EPOLLOUT).  Every connection frames its stream with
 * sip_frame_stream_next(), answers a CRLFCRLF keep-alive with CRLF (RFC
 * 5626 §4.4.1), and is closed alone when its framing breaks.  A
 * connection still connecting queues its output too, so sending never
 * blocks.  Every live connection sits in a small hash table by remote
 * address, which is how a response finds the connection its request came
 * on.
 *
 * A connection we dial to the core that fails to connect hands what
 * waits on it to the undelivered callback (core_undelivered.c): for the
 * embedded core those are requests to another edge, which fail over.
 *
 * A pool slot connects lazily, on the first request hashed to it, without
 * blocking; a failed connect pauses the slot (back-off from
 * backoff_min_ms, doubling up to backoff_max_ms) and moves to the
 * upstream's next address.  The loss of a pool connection is reported
 * from a zero-delay timer, never from inside the call that found it.
 *
 * Towards a TLS upstream the pool's streams run TLS (common/tls_stream.c)
 * under the same framing: the handshake happens inside the first write,
 * the upstream's certificate must name the configured host, and a
 * handshake that fails counts as a failed connect (back-off, next
 * address), logged with TLS's reason.
 *
 * DIAGNOSTICS: none fatal.  Connect failures and framing errors are
 * counted and logged at info (connect failures once per slot going
 * down, not per attempt).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "epsip/log.h"
#include "epsip/sip_frame.h"
#include "epsip/stats.h"

#include "core_conn.h"

/* Room for a message and a few CRLFs around it. */
#define CN_INPUT_SLACK		8

#define CONN_OF(s)	STREAM_OWNER(s, struct cn_conn, stream)

static void cn_on_conn(struct loop *loop, int fd, uint32_t events,
    void *arg);

static void
cn_hash_insert(struct cn_conn *c)
{
	SLIST_INSERT_HEAD(&c->net->by_remote[cn_addr_bucket(&c->remote)], c,
	    hlink);
	c->hashed = 1;
}

static void
cn_hash_remove(struct cn_conn *c)
{
	if (!c->hashed) {
		return;
	}
	SLIST_REMOVE(&c->net->by_remote[cn_addr_bucket(&c->remote)], c,
	    cn_conn, hlink);
	c->hashed = 0;
}

struct cn_conn *
cn_find_remote(struct core_net *n, const struct epsip_addr *remote)
{
	struct cn_conn *c;

	SLIST_FOREACH(c, &n->by_remote[cn_addr_bucket(remote)], hlink) {
		if (!c->dead && epsip_addr_equal(&c->remote, remote)) {
			return (c);
		}
	}
	return (NULL);
}

struct cn_conn *
cn_conn_new(struct core_net *n, int fd, enum cn_kind kind,
    const struct epsip_addr *remote, int connecting, const char *tls_host)
{
	struct cn_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return (NULL);
	}
	c->net = n;
	c->kind = kind;
	c->id = ++n->next_id;
	c->remote = *remote;
	c->started_ms = c->active_ms = loop_now_ms(n->loop);
	stream_init(&c->stream, &n->streams, tls_host != NULL ? &stream_tls :
	    &stream_socket, fd, connecting);
	if (tls_host != NULL && tls_stream_start(&c->stream, n->tls, 0,
	    tls_host) == -1) {
		log_warnx("upstream %s: cannot start TLS", tls_host);
		stream_release(&c->stream);	/* closes fd */
		free(c);
		return (NULL);
	}
	if (stream_watch(&c->stream, cn_on_conn, c) == -1) {
		stream_release(&c->stream);	/* closes fd */
		free(c);
		return (NULL);
	}
	if (kind != CN_POOL) {
		LIST_INSERT_HEAD(&n->conns, c, link);
		n->nconns++;
		/* A DIALED one queues responses while it connects. */
		cn_hash_insert(c);
	}
	return (c);
}

static void
cn_report_lost(struct loop *loop, void *arg)
{
	struct core_net *n = arg;

	(void)loop;
	n->lost_timer = -1;
	for (size_t i = 0; i < n->nlost; i++) {
		n->ev.conn_lost(n->ev.arg, n->lost[i]);
	}
	n->nlost = 0;
}

/*
 * Report a lost pool connection from a zero-delay timer, never from
 * inside the call that found it lost: the caller of
 * core_net_send_upstream() may hold a transaction that the report ends.
 */
static void
cn_lost(struct core_net *n, uint64_t id)
{
	uint64_t *lost;
	size_t cap;

	if (n->ev.conn_lost == NULL) {
		return;
	}
	if (n->nlost == n->lost_cap) {
		cap = n->lost_cap ? n->lost_cap * 2 : 8;
		if ((lost = realloc(n->lost, cap * sizeof(*lost))) == NULL) {
			/* Unreported: its requests time out instead. */
			return;
		}
		n->lost = lost;
		n->lost_cap = cap;
	}
	n->lost[n->nlost++] = id;
	if (n->lost_timer < 0) {
		n->lost_timer = loop_after(n->loop, 0, cn_report_lost, n);
	}
}

/*
 * Nothing of a connection still connecting has left, so each queued
 * chunk is one whole message.  Reported from a zero-delay timer, never
 * from inside the call that found the failure: the core's answer to it
 * (a failover) sends again.
 */
void
cn_conn_failed(struct cn_conn *c)
{
	struct core_net *n = c->net;

	stats_inc(M_CORE_CONNECT_FAILURES);
	if (n->undelivered == NULL) {
		/* Upstream mode dials the core only to deliver responses. */
		stats_inc(M_CORE_RESPONSES_UNDELIVERABLE);
	} else if (c->stream.flags & STREAM_F_CONNECTING) {
		cn_undelivered_take(n, &c->stream);
	}
	cn_conn_close(c, 1);
}

/*
 * Close a connection.  `notify`: a pool connection's loss is reported
 * (what was sent on it will not be answered there).  Inside the framing
 * loop the close is only marked and finished when the loop ends.
 */
void
cn_conn_close(struct cn_conn *c, int notify)
{
	struct core_net *n = c->net;
	uint64_t id = c->id;
	int pool = c->kind == CN_POOL;

	if (c->reading) {
		c->dead = 1;
		return;
	}
	stream_release(&c->stream);
	cn_hash_remove(c);
	if (pool) {
		n->slots[c->slot].conn = NULL;
		if (!(c->stream.flags & STREAM_F_CONNECTING)) {
			n->pool_live--;
		}
	} else {
		LIST_REMOVE(c, link);
		n->nconns--;
	}
	free(c);
	if (notify && pool) {
		cn_lost(n, id);
	}
}

/*
 * Send or queue one whole message: 0; -1 if the connection failed (it is
 * closed); -2 if its queue cannot take the message (nothing was sent, so
 * a message is never cut in half).
 */
int
cn_conn_send(struct cn_conn *c, const char *buf, size_t len)
{
	if (c->dead) {
		return (-1);
	}
	switch (stream_send(&c->stream, buf, len)) {
	case STREAM_OK:
		return (0);
	case STREAM_QUEUE_FULL:
	case STREAM_NOMEM:
		return (-2);
	default:
		cn_conn_close(c, 1);	/* failed, or half a message is out */
		return (-1);
	}
}

/*
 * The framing callback: hand every whole message up.  The bytes used, or
 * -1 if the connection was closed.
 */
static ssize_t
cn_frame(struct stream *s, const char *buf, size_t len)
{
	struct cn_conn *c = CONN_OF(s);
	struct core_net *n = c->net;
	struct core_net_peer peer;
	struct sip_frame fr;
	size_t off = 0;

	peer.transport = cn_conn_tls(c) ? EPSIP_TRANSPORT_TLS :
	    EPSIP_TRANSPORT_TCP;
	peer.remote = c->remote;
	peer.conn_id = c->id;
	c->reading = 1;
	while (!c->dead && off < len) {
		switch (sip_frame_stream_next(buf + off, len - off,
		    n->lim.max_message, &fr)) {
		case SIP_FRAME_NEED_MORE:
			goto done;
		case SIP_FRAME_MESSAGE:
			n->ev.message(n->ev.arg, buf + off + fr.offset,
			    fr.length, &peer);
			break;
		case SIP_FRAME_PING:
			/* RFC 5626 §4.4.1: one CRLF back. */
			stats_inc(M_CORE_KEEPALIVE_PONGS);
			(void)cn_conn_send(c, "\r\n", 2);
			break;
		case SIP_FRAME_ERROR:
			fr.consumed = 0;
			break;
		}
		if (fr.consumed == 0) {
			/* No answer to a broken stream: only this one ends. */
			stats_inc(M_CORE_FRAMING_ERRORS);
			log_info("core side: framing lost (%s) on a connection "
			    "with %s", sip_frame_error_name(fr.error),
			    c->kind == CN_POOL ? "the upstream" : "the core");
			c->dead = 1;
			break;
		}
		off += fr.consumed;
	}
done:
	c->reading = 0;
	if (c->dead) {
		cn_conn_close(c, 1);
		return (-1);
	}
	return ((ssize_t)off);
}

/* Any byte in or out keeps the connection from the idle sweep. */
static void
cn_did_io(struct stream *s, size_t n)
{
	struct cn_conn *c = CONN_OF(s);

	(void)n;
	c->active_ms = loop_now_ms(c->net->loop);
}

int
cn_streams_init(struct core_net *n)
{
	if (stream_class_init(&n->streams, n->loop,
	    n->lim.max_message + CN_INPUT_SLACK, n->lim.queue_max) == -1) {
		return (-1);
	}
	n->streams.read_events = EPOLLIN | EPOLLRDHUP;
	n->streams.frame = cn_frame;
	n->streams.did_read = cn_did_io;
	n->streams.did_write = cn_did_io;
	return (0);
}

/* A slot failed to connect: pause it, and try the next address next. */
void
cn_slot_failed(struct core_net *n, size_t slot, const char *why)
{
	struct cn_slot *s = &n->slots[slot];
	char buf[64];

	stats_inc(M_UPSTREAM_CONNECT_FAILURES);
	if (s->backoff_ms == 0) {
		epsip_addr_format(cn_upstream_addr(n), buf, sizeof(buf));
		log_info("upstream %s: connect failed: %s", buf, why);
		s->backoff_ms = n->lim.backoff_min_ms;
	} else if (s->backoff_ms * 2 <= n->lim.backoff_max_ms) {
		s->backoff_ms *= 2;
	} else {
		s->backoff_ms = n->lim.backoff_max_ms;
	}
	s->retry_at = loop_now_ms(n->loop) + s->backoff_ms;
	n->addr_cur++;
}

static void
cn_connected(struct cn_conn *c)
{
	struct core_net *n = c->net;

	stream_connected(&c->stream);
	c->active_ms = loop_now_ms(n->loop);
	if (c->kind == CN_POOL) {
		stats_inc(M_UPSTREAM_CONNECTS);
		n->slots[c->slot].backoff_ms = 0;
		n->pool_live++;
		cn_hash_insert(c);
	}
}

static void
cn_connect_done(struct cn_conn *c)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	if (getsockopt(c->stream.fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1) {
		err = errno;
	}
	if (err != 0) {
		if (c->kind == CN_POOL) {
			cn_slot_failed(c->net, c->slot, strerror(err));
			cn_conn_close(c, 1);
		} else {
			cn_conn_failed(c);
		}
		return;
	}
	cn_connected(c);
	if (stream_flush(&c->stream) != STREAM_OK) {
		cn_conn_close(c, 1);
	}
}

/*
 * A TLS connection ended.  Before its handshake was done that is a
 * connect that failed: a pool slot backs off, and TLS's reason is logged
 * (a certificate the upstream's name is not in, a CA tls-ca lacks).
 */
static void
cn_tls_ended(struct cn_conn *c, enum stream_result r)
{
	const char *why = tls_stream_error(&c->stream);
	char addr[64], reason[160];

	if (why[0] != '\0') {
		snprintf(reason, sizeof(reason), "TLS: %s", why);
	} else {
		snprintf(reason, sizeof(reason), "TLS: %s", r == STREAM_EOF ?
		    "closed by the peer" : strerror(errno));
	}
	if (!tls_stream_handshake_done(&c->stream) && c->kind == CN_POOL) {
		cn_slot_failed(c->net, c->slot, reason);
	} else if (why[0] != '\0') {
		epsip_addr_format(&c->remote, addr, sizeof(addr));
		log_info("core side: connection with %s: %s", addr, reason);
	}
	cn_conn_close(c, 1);
}

static void
cn_on_conn(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct cn_conn *c = arg;
	enum stream_result r;
	char addr[64];

	(void)loop;
	(void)fd;
	if (c->stream.flags & STREAM_F_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			cn_connect_done(c);
		}
		return;
	}
	if ((r = stream_io(&c->stream, events)) == STREAM_GONE) {
		return;
	}
	if (r != STREAM_OK) {
		if (cn_conn_tls(c)) {
			cn_tls_ended(c, r);
		} else {
			cn_conn_close(c, 1);
		}
		return;
	}
	if (cn_conn_tls(c) && !c->tls_up &&
	    tls_stream_handshake_done(&c->stream)) {
		c->tls_up = 1;
		epsip_addr_format(&c->remote, addr, sizeof(addr));
		log_debug("core side: %s with %s%s",
		    tls_stream_version(&c->stream), addr,
		    tls_stream_resumed(&c->stream) ? " (resumed)" : "");
	}
}

/* A TLS connection whose handshake is not over yet. */
int
cn_conn_handshaking(const struct cn_conn *c)
{
	return (cn_conn_tls(c) && !(c->stream.flags & STREAM_F_CONNECTING) &&
	    !tls_stream_handshake_done(&c->stream));
}

/* A non-blocking TCP socket connecting to `to`; -1 with errno. */
int
cn_connect(struct core_net *n, const struct epsip_addr *to, int *pending)
{
	struct sockaddr_storage ss;
	struct epsip_addr src;
	socklen_t sl;
	int fd, one = 1, saved;

	if ((sl = cn_sockaddr(to, to->family, &ss)) == 0) {
		errno = EAFNOSUPPORT;
		return (-1);
	}
	fd = socket(to->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		return (-1);
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Leave from the core-listen address when it names one. */
	if (n->local.family == to->family && !epsip_addr_is_any(&n->local)) {
		struct sockaddr_storage bs;
		socklen_t bl;

		src = n->local;
		src.port = 0;
		bl = cn_sockaddr(&src, src.family, &bs);
		if (bind(fd, (struct sockaddr *)&bs, bl) == -1) {
			log_debug("core side: bind before connect: %s",
			    strerror(errno));
		}
	}
	*pending = 0;
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1) {
		if (errno != EINPROGRESS) {
			saved = errno;
			close(fd);
			errno = saved;
			return (-1);
		}
		*pending = 1;
	}
	return (fd);
}

/* Open pool slot `slot`; the new connection, or NULL and *why. */
static struct cn_conn *
cn_pool_connect(struct core_net *n, size_t slot, enum core_net_result *why)
{
	struct epsip_addr to;
	struct cn_conn *c;
	int fd, pending;

	if (cn_resolve(n) == -1) {
		*why = CORE_NET_UNRESOLVED;
		return (NULL);
	}
	to = *cn_upstream_addr(n);
	if ((fd = cn_connect(n, &to, &pending)) == -1) {
		cn_slot_failed(n, slot, strerror(errno));
		*why = CORE_NET_REFUSED;
		return (NULL);
	}
	if ((c = cn_conn_new(n, fd, CN_POOL, &to, pending, n->tls != NULL ?
	    n->host : NULL)) == NULL) {
		*why = CORE_NET_REFUSED;
		return (NULL);
	}
	c->slot = slot;
	n->slots[slot].conn = c;
	if (!pending) {
		cn_connected(c);
	}
	return (c);
}

/*
 * The connection for a request whose Call-ID hashes to `hash`: its own
 * slot, or the next one that is not backing off.  NULL and *why.
 */
struct cn_conn *
cn_pool_pick(struct core_net *n, uint32_t hash, enum core_net_result *why)
{
	uint64_t now = loop_now_ms(n->loop);
	size_t size = n->lim.pool_size;
	struct cn_slot *s;

	*why = CORE_NET_BACKOFF;
	for (size_t k = 0; k < size; k++) {
		size_t i = (hash % size + k) % size;

		s = &n->slots[i];
		if (s->conn != NULL) {
			return (s->conn);
		}
		if (now >= s->retry_at) {
			return (cn_pool_connect(n, i, why));
		}
	}
	return (NULL);
}

