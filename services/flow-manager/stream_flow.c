/*
 * stream_flow.c -- one connection flow in a child, whatever its transport:
 * TCP, TLS, WS or WSS.  Opening it on the descriptor the parent passed,
 * writing to it, pausing it while the router is busy, closing it for the
 * reason the stream gives.
 *
 * A flow is a stream (common/stream.c) with two choices made at open:
 *   - the transport under it: the plain socket, or TLS (common/tls.c),
 *     whose session is the stream's transport state;
 *   - the framing above it: SIP by Content-Length (tcp_flow.c) for TCP
 *     and TLS, WebSocket frames (ws_flow.c) for WS and WSS.
 * So the four transports are four pairings of two layers, and everything
 * here -- back-pressure, close-after-send, the counters -- is shared.
 * The parent read no byte of the connection: the TLS handshake and the
 * WebSocket upgrade happen here, in the process that owns the flow.
 *
 * Nothing here is fatal but a TLS context that cannot be built at start
 * (a missing or wrong tls-cert), which the child reports and exits on.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "epsip/flow_token.h"
#include "epsip/log.h"
#include "epsip/stats.h"
#include "epsip/stream.h"
#include "epsip/tls.h"

#include "child.h"
#include "flow_manager.h"

/* A peer that does not read gets cut off past this much queued output. */
#define WQ_LIMIT		(1024 * 1024)
/* Room past the message limit for CRLFs around it, or a frame header. */
#define RBUF_SLACK		4096
/*
 * From a framing error or CLOSE_AFTER_SEND to the close, at the latest
 * (the once-a-second reaper enforces it, so up to a second later).
 */
#define SAFETY_CLOSE_MS		2000
/*
 * A TLS connection that has not finished its handshake by then is
 * dropped: a slot and a descriptor are not for holding open silently.
 */
#define SETUP_TIMEOUT_MS	10000
/* How soon a flow paused for the router tries again. */
#define RESUME_MS		10

#define FLOW_OF(s)	STREAM_OWNER(s, struct fm_flow, stream)

void
fm_stream_flow_arm_safety(struct fm_flow *f)
{
	if (f->close_deadline_ms == 0) {
		f->close_deadline_ms = loop_now_ms(f->child->loop) +
		    SAFETY_CLOSE_MS;
	}
}

/*
 * The stream ended the flow: close it for the reason it gave.  After our
 * FIN (draining) the close is the framing error's, or the Close frame's.
 * 0, or -1 if the flow is gone.
 */
static int
ended(struct fm_flow *f, enum stream_result r)
{
	int draining;

	if (r == STREAM_OK) {
		return (0);
	}
	if (r == STREAM_GONE) {
		return (-1);
	}
	draining = f->stream.flags & STREAM_F_DRAINING;
	if (r == STREAM_ERROR && f->stream.tr == &stream_tls &&
	    tls_stream_error(&f->stream)[0] != '\0') {
		/* "unknown ca" from a phone that does not trust us says
		 * more than "reset". */
		log_flow(LOG_LEVEL_INFO, &f->id, "TLS: %s",
		    tls_stream_error(&f->stream));
	}
	switch (r) {
	case STREAM_EOF:
	case STREAM_ERROR:
		if (f->ws != NULL && f->ws->peer_closed) {
			/* After the phone's Close, any end is its close. */
			fm_flow_close(f, EPSIP_CLOSE_PEER);
		} else if (draining) {
			fm_flow_close(f, EPSIP_CLOSE_FRAMING);
		} else {
			fm_flow_close(f, r == STREAM_EOF ? EPSIP_CLOSE_PEER :
			    EPSIP_CLOSE_RESET);
		}
		break;
	case STREAM_INPUT_FULL:
		/* Never more than one message + slack (ER-04). */
		fm_flow_close(f, EPSIP_CLOSE_FRAMING);
		break;
	default:
		/* No memory for input. */
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		break;
	}
	return (-1);
}

int
fm_stream_flow_write(struct fm_flow *f, const void *buf, size_t len)
{
	enum stream_result r;

	switch ((r = stream_send(&f->stream, buf, len))) {
	case STREAM_QUEUE_FULL:
		log_flow(LOG_LEVEL_WARN, &f->id,
		    "more than %d bytes waiting: peer not reading", WQ_LIMIT);
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		return (-1);
	case STREAM_NOMEM:
	case STREAM_CUT:
		log_flow(LOG_LEVEL_WARN, &f->id, "no memory for output");
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		return (-1);
	default:
		return (ended(f, r));
	}
}

int
fm_stream_flow_send(struct fm_flow *f, const void *buf, size_t len)
{
	if (f->ws != NULL) {
		return (fm_ws_flow_send(f, buf, len));
	}
	return (fm_stream_flow_write(f, buf, len));
}

int
fm_stream_flow_finish(struct fm_flow *f)
{
	fm_stream_flow_arm_safety(f);
	if (f->ws != NULL && f->ws->open && !f->ws->close_sent) {
		/* RFC 6455 §7.1.2: a Close frame before the TCP close. */
		return (fm_ws_flow_close(f, WS_CLOSE_NORMAL));
	}
	return (ended(f, stream_finish(&f->stream)));
}

int
fm_stream_flow_open_for_output(const struct fm_flow *f)
{
	return (!(f->stream.flags & STREAM_F_CLOSING) &&
	    (f->ws == NULL || (f->ws->open && !f->ws->close_sent)));
}

static void resume_cb(struct loop *loop, void *arg);

/*
 * The router's queue is full (it is restarting, or busy): park the flow.
 * Its unsent bytes stay in its buffer; a timer retries every paused flow.
 */
void
fm_stream_flow_pause(struct fm_flow *f)
{
	struct fm_child *c = f->child;
	uint32_t *slots;
	size_t cap;

	if (c->npaused == c->paused_cap) {
		cap = c->paused_cap ? c->paused_cap * 2 : 16;
		if ((slots = realloc(c->paused_slots, cap * sizeof(*slots))) ==
		    NULL) {
			return;		/* not paused: the message is lost */
		}
		c->paused_slots = slots;
		c->paused_cap = cap;
	}
	c->paused_slots[c->npaused++] = f->id.slot;
	stream_pause(&f->stream);
	stats_inc(M_ROUTER_BACKPRESSURE);
	if (!c->resume_armed && loop_after(c->loop, RESUME_MS, resume_cb, c)
	    >= 0) {
		c->resume_armed = 1;
	}
}

/*
 * Retry every flow paused for the router.  A flow that still cannot hand
 * its message on pauses itself again, and the timer is re-armed.
 */
static void
resume_cb(struct loop *loop, void *arg)
{
	struct fm_child *c = arg;
	size_t n = c->npaused;
	uint32_t *slots = c->paused_slots;

	(void)loop;
	c->resume_armed = 0;
	c->paused_slots = NULL;
	c->npaused = c->paused_cap = 0;
	for (size_t i = 0; i < n; i++) {
		struct fm_flow *f = c->flows[slots[i]];

		/* Closed meanwhile, or already resumed (listed twice). */
		if (f == NULL || !(f->stream.flags & STREAM_F_PAUSED)) {
			continue;
		}
		(void)ended(f, stream_resume(&f->stream));
	}
	free(slots);
}

static void
did_read(struct stream *s, size_t n)
{
	struct fm_flow *f = FLOW_OF(s);

	stats_add(M_BYTES_IN, (int64_t)n);
	/* Any byte, a ping or a Pong included, proves the flow alive. */
	f->last_activity_ms = loop_now_ms(f->child->loop);
}

static void
did_write(struct stream *s, size_t n)
{
	(void)s;
	stats_add(M_BYTES_OUT, (int64_t)n);
}

/*
 * Part of a message waits in the flow's buffer: since when.  Read after
 * every wake-up; a paused flow's waiting input is the router's delay,
 * not the phone's, and does not count.
 */
static void
note_partial(struct fm_flow *f)
{
	if (f->stream.rlen == 0 || (f->stream.flags & STREAM_F_PAUSED)) {
		f->partial_since_ms = 0;
	} else if (f->partial_since_ms == 0) {
		f->partial_since_ms = loop_now_ms(f->child->loop);
	}
}

/* A TLS flow's handshake is counted once, when it is done. */
static void
count_handshake(struct fm_flow *f)
{
	if (f->tls_seen || f->stream.tr != &stream_tls ||
	    !tls_stream_handshake_done(&f->stream)) {
		return;
	}
	f->tls_seen = 1;
	stats_inc(tls_stream_resumed(&f->stream) ? M_TLS_HANDSHAKES_RESUMED :
	    M_TLS_HANDSHAKES_FULL);
	log_flow(LOG_LEVEL_DEBUG, &f->id, "%s%s",
	    tls_stream_version(&f->stream), tls_stream_resumed(&f->stream) ?
	    ", resumed" : "");
}

static void
io_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_flow *f = arg;

	(void)loop;
	(void)fd;
	if (ended(f, stream_io(&f->stream, events)) == 0) {
		count_handshake(f);
		note_partial(f);
	}
}

static int
class_init(struct fm_child *c, struct stream_class *cls, size_t input_max,
    ssize_t (*frame)(struct stream *, const char *, size_t))
{
	if (stream_class_init(cls, c->loop, input_max, WQ_LIMIT) == -1) {
		return (-1);
	}
	cls->frame = frame;
	cls->did_read = did_read;
	cls->did_write = did_write;
	return (0);
}

/* The TLS context of new flows, from tls-cert and the token key. */
static SSL_CTX *
tls_context(const struct epsip_config *cfg, char *err, size_t errcap)
{
	struct flow_token_key key;
	struct tls_settings ts;
	SSL_CTX *ctx;

	if (flow_token_key_load(cfg->key_file, &key, err, errcap) == -1) {
		return (NULL);
	}
	/* Tickets any child, and a restarted one, can open (issue 11). */
	ts.cert_file = cfg->tls_cert;
	ts.key_file = cfg->tls_key;
	ts.ca_file = cfg->tls_ca;
	ts.ticket_secret = key.secret;
	ts.ticket_secret_len = sizeof(key.secret);
	ctx = tls_server_ctx_new(&ts, err, errcap);
	explicit_bzero(&key, sizeof(key));
	return (ctx);
}

static int
wants_tls(const struct epsip_config *cfg)
{
	return (cfg->listen_tls_count > 0 || cfg->listen_wss_count > 0);
}

int
fm_tls_check(const struct epsip_config *cfg, char *err, size_t errcap)
{
	SSL_CTX *ctx;

	if (!wants_tls(cfg)) {
		return (0);
	}
	if ((ctx = tls_context(cfg, err, errcap)) == NULL) {
		return (-1);
	}
	tls_ctx_free(ctx);
	return (0);
}

/* The WebSocket flows' class and buffers, for an edge that has them. */
static int
ws_init(struct fm_child *c)
{
	size_t ws_max;

	/* A frame or the upgrade request, whichever is longer. */
	ws_max = c->max_message + WS_HEADER_MAX;
	if (ws_max < WS_UPGRADE_MAX) {
		ws_max = WS_UPGRADE_MAX;
	}
	/* Out: whatever the router sends, as one frame. */
	c->ws_out_cap = EPSIP_MSG_MAX_PAYLOAD + WS_HEADER_MAX;
	if (class_init(c, &c->ws, ws_max + RBUF_SLACK, fm_ws_frame) == -1 ||
	    (c->ws_buf = malloc(ws_max)) == NULL ||
	    (c->ws_out = malloc(c->ws_out_cap)) == NULL) {
		return (-1);
	}
	c->ws_buf_cap = ws_max;
	for (size_t i = 0; i < c->cfg->ws_origin_count; i++) {
		c->ws_origins[i] = c->cfg->ws_origin[i];
	}
	c->ws_policy.origins = c->ws_origins;
	c->ws_policy.norigins = c->cfg->ws_origin_count;
	return (0);
}

int
fm_stream_flows_init(struct fm_child *c)
{
	char err[256];

	if (class_init(c, &c->sip_stream, c->max_message + RBUF_SLACK,
	    fm_sip_stream_frame) == -1) {
		return (-1);
	}
	if ((c->cfg->listen_ws_count > 0 || c->cfg->listen_wss_count > 0) &&
	    ws_init(c) == -1) {
		return (-1);
	}
	if (wants_tls(c->cfg) &&
	    (c->tls_ctx = tls_context(c->cfg, err, sizeof(err))) == NULL) {
		log_error("%s: %s", c->name, err);
		return (-1);
	}
	return (0);
}

void
fm_stream_flows_free(struct fm_child *c)
{
	stream_class_free(&c->sip_stream);
	stream_class_free(&c->ws);
	free(c->ws_buf);
	free(c->ws_out);
	c->ws_buf = c->ws_out = NULL;
	if (c->tls_ctx != NULL) {
		tls_ctx_free(c->tls_ctx);
		c->tls_ctx = NULL;
	}
}

void
fm_stream_flows_reload(struct fm_child *c, const struct epsip_config *fresh)
{
	char err[256];
	SSL_CTX *ctx;

	/* Listeners need a restart: only a running one's files change. */
	if (c->tls_ctx == NULL) {
		return;
	}
	/* A broken new file keeps the old context: no flow is refused. */
	if ((ctx = tls_context(fresh, err, sizeof(err))) == NULL) {
		log_warnx("reload: %s: new TLS connections keep the old "
		    "certificate", err);
		return;
	}
	if (c->tls_ctx != NULL) {
		tls_ctx_free(c->tls_ctx);	/* its flows hold their own */
	}
	c->tls_ctx = ctx;
}

void
fm_stream_flow_open(struct fm_child *c, const struct fm_ctl_msg *m, int fd)
{
	struct stream_class *cls = &c->sip_stream;
	struct fm_flow *f;
	int one, secure, websocket;

	secure = epsip_transport_is_secure(m->transport);
	websocket = m->transport == EPSIP_TRANSPORT_WS ||
	    m->transport == EPSIP_TRANSPORT_WSS;
	if ((secure && c->tls_ctx == NULL) ||
	    (websocket && c->ws_buf == NULL)) {
		/* The parent has no such listener: another build's? */
		log_warnx("a %s connection, but no %s listener here",
		    epsip_transport_name(m->transport),
		    epsip_transport_name(m->transport));
		fm_child_ctl_send_closed(c, m->slot, m->generation,
		    EPSIP_CLOSE_RESET);
		(void)close(fd);
		return;
	}
	if ((f = fm_flow_new(c, m, m->transport)) == NULL) {
		(void)close(fd);
		return;
	}
	if (websocket) {
		cls = &c->ws;
	}
	stream_init(&f->stream, cls, secure ? &stream_tls : &stream_socket,
	    fd, 0);
	if (cls == &c->ws && (f->ws = calloc(1, sizeof(*f->ws))) == NULL) {
		log_flow(LOG_LEVEL_WARN, &f->id, "no memory");
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		return;
	}
	if (secure && tls_stream_start(&f->stream, c->tls_ctx, 1, NULL) ==
	    -1) {
		log_flow(LOG_LEVEL_WARN, &f->id, "cannot start TLS");
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		return;
	}
	/* Pongs and answers go out at once, not after a delayed ACK. */
	one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (stream_watch(&f->stream, io_cb, f) == -1) {
		log_flow(LOG_LEVEL_WARN, &f->id, "cannot watch the connection");
		fm_flow_close(f, EPSIP_CLOSE_RESET);
	}
}

int
fm_stream_flow_tick(struct fm_flow *f, uint64_t now)
{
	unsigned limit = f->child->cfg->message_timeout;

	/* Slowloris: headers dribbled in, or a body that never comes. */
	if (limit != 0 && f->partial_since_ms != 0 &&
	    !(f->stream.flags & STREAM_F_PAUSED) &&
	    now - f->partial_since_ms >= 1000ULL * limit) {
		stats_inc(M_STREAMS_SLOW_MESSAGES);
		log_flow(LOG_LEVEL_INFO, &f->id, "part of a message waited "
		    "%u s: closed (message-timeout)", limit);
		fm_flow_close(f, EPSIP_CLOSE_TIMEOUT);
		return (-1);
	}
	if (f->stream.tr == &stream_tls && !f->tls_seen &&
	    now - f->opened_ms >= SETUP_TIMEOUT_MS) {
		log_flow(LOG_LEVEL_INFO, &f->id, "no TLS handshake in %d ms",
		    SETUP_TIMEOUT_MS);
		fm_flow_close(f, EPSIP_CLOSE_TIMEOUT);
		return (-1);
	}
	if (f->ws != NULL) {
		return (fm_ws_flow_tick(f, now));
	}
	return (0);
}

void
fm_stream_flow_release(struct fm_flow *f)
{
	if (f->stream.tr == &stream_tls && !f->tls_seen) {
		stats_inc(M_TLS_HANDSHAKE_FAILURES);
	}
	if (f->ws != NULL) {
		fm_ws_flow_release(f);
	}
	stream_release(&f->stream);
}
