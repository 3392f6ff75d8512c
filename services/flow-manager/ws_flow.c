/*
 * ws_flow.c -- SIP over WebSocket (RFC 7118) on a WS or WSS flow: the
 * HTTP upgrade, one SIP message per WebSocket message, control frames,
 * and the edge's Pings that keep a silent browser's flow alive.
 *
 * The codec is common/ws_upgrade.c and common/ws_frame.c; this file is
 * what the flow does with it.  The connection under it (socket or TLS,
 * buffers, back-pressure) is stream_flow.c's.  Frames are taken whole
 * from the stream's input: a frame is at most max-message-size plus its
 * header, and the stream holds that much unframed at most, so a bigger
 * one is refused by the codec (1009) before it could fill the buffer.
 *
 * Keep-alive.  JsSIP sends no keep-alive at all and ignores Flow-Timer;
 * SIP.js sends "\r\n\r\n" only when told to.  So the edge keeps the flow
 * alive itself: a flow silent for ws-ping-interval gets a Ping, which
 * browsers answer by themselves, and a Pong is activity like any byte.  A
 * flow that answers nothing for ws-ping-timeout is dead: it is closed, the
 * router learns it (its bindings go, requests for it get 430).  A
 * "\r\n\r\n" message is answered "\r\n", as RFC 5626 §4.4.1 does on TCP.
 *
 * Nothing here is fatal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/log.h"
#include "epsip/stats.h"
#include "epsip/stream.h"
#include "epsip/ws.h"

#include "child.h"
#include "flow_manager.h"

/* A connection that has not finished its upgrade by then is dropped. */
#define WS_UPGRADE_TIMEOUT_MS	10000

#define FLOW_OF(s)	STREAM_OWNER(s, struct fm_flow, stream)

/* One frame of ours: header and payload in one write, one TLS record. */
static int
send_frame(struct fm_flow *f, uint8_t opcode, const void *payload,
    size_t len)
{
	struct fm_child *c = f->child;
	size_t hl;

	if (len + WS_HEADER_MAX > c->ws_out_cap) {
		log_flow(LOG_LEVEL_WARN, &f->id, "%zu bytes: too long for one "
		    "frame", len);
		return (-1);
	}
	hl = ws_frame_header(c->ws_out, opcode, len);
	memcpy(c->ws_out + hl, payload, len);
	return (fm_stream_flow_write(f, c->ws_out, hl + len));
}

int
fm_ws_flow_send(struct fm_flow *f, const void *buf, size_t len)
{
	/* RFC 7118 §5: text frames carry UTF-8 SIP, which browsers take. */
	return (send_frame(f, WS_OP_TEXT, buf, len));
}

int
fm_ws_flow_close(struct fm_flow *f, uint16_t code)
{
	uint8_t payload[2];
	size_t n;

	n = ws_close_payload(payload, sizeof(payload), code, NULL);
	f->ws->close_sent = 1;
	stats_inc(metric_label_find(MF_WS_CLOSES_SENT,
	    code == WS_CLOSE_NORMAL ? "1000" : code == WS_CLOSE_GOING_AWAY ?
	    "1001" : code == WS_CLOSE_PROTOCOL_ERROR ? "1002" :
	    code == WS_CLOSE_INVALID_DATA ? "1007" : code == WS_CLOSE_TOO_BIG ?
	    "1009" : NULL));
	if (send_frame(f, WS_OP_CLOSE, payload, n) == -1) {
		return (-1);
	}
	/* The TCP close follows the Close frame (RFC 6455 §7.1.1). */
	return (fm_stream_flow_finish(f));
}

/*
 * The HTTP upgrade: bytes used, 0 for more, or -1 if the flow was
 * closed.  A refusal is answered and the flow closes once it is out.
 */
static ssize_t
upgrade(struct fm_flow *f, const char *buf, size_t len)
{
	struct fm_child *c = f->child;
	struct ws_upgrade up;
	char response[512], status[8];
	int n;

	switch (ws_upgrade_parse(buf, len, &c->ws_policy, &up)) {
	case WS_UPGRADE_NEED_MORE:
		return (0);
	case WS_UPGRADE_OK:
		if ((n = ws_upgrade_response(&up, response,
		    sizeof(response))) < 0 ||
		    fm_stream_flow_write(f, response, (size_t)n) == -1) {
			return (-1);
		}
		f->ws->open = 1;
		stats_inc(M_WS_UPGRADES);
		log_flow(LOG_LEVEL_DEBUG, &f->id, "WebSocket open");
		return ((ssize_t)up.consumed);
	case WS_UPGRADE_REFUSED:
		break;
	}
	(void)snprintf(status, sizeof(status), "%d", up.status);
	stats_inc(metric_label_find(MF_WS_UPGRADES_REFUSED, status));
	log_flow(LOG_LEVEL_INFO, &f->id, "WebSocket upgrade refused: %d %s",
	    up.status, up.reason);
	if ((n = ws_upgrade_response(&up, response, sizeof(response))) < 0 ||
	    fm_stream_flow_write(f, response, (size_t)n) == -1 ||
	    fm_stream_flow_finish(f) == -1) {
		return (-1);
	}
	return ((ssize_t)len);
}

/* A whole SIP message (or a keep-alive) from the phone.  0, or -1: gone. */
static int
message(struct fm_flow *f, const struct ws_event *ev, int *paused)
{
	static const char crlf[] = "\r\n";
	uint64_t now = loop_now_ms(f->child->loop);

	if (ev->len == 4 && memcmp(ev->data, "\r\n\r\n", 4) == 0) {
		/* SIP.js's keep-alive, answered as on TCP (KA-09). */
		stats_inc(M_KEEPALIVE_WS_CRLF_PONGS);
		return (fm_ws_flow_send(f, crlf, 2));
	}
	if (fm_flow_offer_to_router(f, ev->data, ev->len, now) == -1) {
		/*
		 * The frame is taken already, so the message goes into the
		 * link's outbox (ipc_send keeps it while the router lives)
		 * and the flow stops reading: the next one waits in TCP.
		 */
		(void)fm_flow_to_router_at(f, EPSIP_MSG_SIP_FROM_FLOW, 0,
		    ev->data, ev->len, now);
		fm_stream_flow_pause(f);
		*paused = 1;
	}
	log_flow(LOG_LEVEL_DEBUG, &f->id, "in %zu bytes", ev->len);
	stats_inc(M_SIP_FROM_FLOW);
	return (0);
}

/* What one frame made happen.  0, or -1 if the flow was closed. */
static int
event(struct fm_flow *f, const struct ws_event *ev, int *paused)
{
	switch (ev->type) {
	case WS_EV_MESSAGE:
		return (message(f, ev, paused));
	case WS_EV_PING:
		/* §5.5.3: the Pong carries the Ping's payload. */
		return (send_frame(f, WS_OP_PONG, ev->data, ev->len));
	case WS_EV_PONG:
		stats_inc(M_KEEPALIVE_WS_PONGS);
		f->ws->ping_sent_ms = 0;
		return (0);
	case WS_EV_CLOSE:
		/* §5.5.1: answer with a Close, then the TCP close. */
		f->ws->peer_closed = 1;
		log_flow(LOG_LEVEL_DEBUG, &f->id, "Close %u from the phone",
		    (unsigned)ev->close_code);
		if (f->ws->close_sent) {
			return (fm_stream_flow_finish(f));
		}
		return (fm_ws_flow_close(f, WS_CLOSE_NORMAL));
	case WS_EV_NONE:
		break;
	}
	return (0);
}

ssize_t
fm_ws_frame(struct stream *s, const char *buf, size_t len)
{
	struct fm_flow *f = FLOW_OF(s);
	struct fm_child *c = f->child;
	struct ws_event ev;
	uint16_t code;
	ssize_t n;
	size_t off = 0;
	int paused = 0;

	if (!f->ws->open) {
		if ((n = upgrade(f, buf, len)) <= 0 || !f->ws->open) {
			return (n);
		}
		off = (size_t)n;	/* a first frame may follow at once */
	}
	while (stream_framing(s) && !paused && off < len) {
		n = ws_reader_next(&f->ws->reader, (const uint8_t *)buf + off,
		    len - off, c->ws_buf, c->ws_buf_cap, c->max_message, &ev,
		    &code);
		if (n == 0) {
			break;
		}
		if (n < 0) {
			log_flow(LOG_LEVEL_INFO, &f->id, "WebSocket protocol "
			    "error: closing with %u", (unsigned)code);
			stream_stop_reading(s);
			return (fm_ws_flow_close(f, code) == -1 ? -1 :
			    (ssize_t)len);
		}
		off += (size_t)n;
		if (event(f, &ev, &paused) == -1) {
			return (-1);
		}
	}
	return ((ssize_t)off);
}

int
fm_ws_flow_tick(struct fm_flow *f, uint64_t now)
{
	const struct epsip_config *cfg = f->child->cfg;
	struct fm_ws *ws = f->ws;
	static const uint8_t nothing[1];

	if (!ws->open) {
		if (now - f->opened_ms >= WS_UPGRADE_TIMEOUT_MS) {
			log_flow(LOG_LEVEL_INFO, &f->id, "no WebSocket "
			    "upgrade in %d ms", WS_UPGRADE_TIMEOUT_MS);
			fm_flow_close(f, EPSIP_CLOSE_TIMEOUT);
			return (-1);
		}
		return (0);
	}
	if (ws->close_sent) {
		return (0);
	}
	if (ws->ping_sent_ms != 0) {
		if (f->last_activity_ms >= ws->ping_sent_ms) {
			ws->ping_sent_ms = 0;	/* any byte answers */
		} else if (now - ws->ping_sent_ms >=
		    1000ULL * cfg->ws_ping_timeout) {
			stats_inc(M_KEEPALIVE_WS_DEAD);
			log_flow(LOG_LEVEL_INFO, &f->id, "no answer to a Ping "
			    "in %u s: dead", cfg->ws_ping_timeout);
			fm_flow_close(f, EPSIP_CLOSE_TIMEOUT);
			return (-1);
		} else {
			return (0);
		}
	}
	if (now - f->last_activity_ms >= 1000ULL * cfg->ws_ping_interval) {
		stats_inc(M_KEEPALIVE_WS_PINGS);
		ws->ping_sent_ms = now;
		return (send_frame(f, WS_OP_PING, nothing, 0));
	}
	return (0);
}

void
fm_ws_flow_release(struct fm_flow *f)
{
	ws_reader_free(&f->ws->reader);
	free(f->ws);
	f->ws = NULL;
}
