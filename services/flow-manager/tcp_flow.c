/*
 * tcp_flow.c -- one TCP flow in a child: framing the stream, answering
 * CRLF keep-alives, pausing while the router is busy, closing after a
 * framing error.
 *
 * The connection itself -- reading, the input and output buffers,
 * close-after-send -- is a stream (common/stream.c); all of a child's
 * TCP flows share one stream class, hence one scratch buffer to read
 * into.  Input is framed from there (RFC 3261 §18.3, Content-Length);
 * only an incomplete tail is kept in the flow's own buffer, which is
 * freed as soon as it is empty, so an idle flow holds no buffer at all.
 * Output -- whole SIP messages and "\r\n" pongs -- goes through one queue
 * in order, so a pong can never land inside a message (KA-10).
 *
 * After a framing error with an answer possible (400/513, ER-02..04) the
 * flow stops reading, asks the router for the answer, and closes once the
 * answer is out (CLOSE_AFTER_SEND) or after a 2-3 s safety delay.  It sends
 * FIN and drains input before closing, so that unread input does not turn
 * the close into a RST that could destroy the answer in flight.
 *
 * Nothing here is fatal.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "epsip/log.h"
#include "epsip/sip_frame.h"
#include "epsip/stats.h"
#include "epsip/stream.h"

#include "child.h"
#include "flow_manager.h"

/* A peer that does not read gets cut off past this much queued output. */
#define WQ_LIMIT		(1024 * 1024)
/* Room past the message limit for CRLFs around it. */
#define RBUF_SLACK		4096
/*
 * From a framing error or CLOSE_AFTER_SEND to the close, at the latest
 * (the once-a-second reaper enforces it, so up to a second later).
 */
#define SAFETY_CLOSE_MS		2000

static const char pong[] = "\r\n";

/* How soon a flow paused for the router tries again. */
#define RESUME_MS		10

#define FLOW_OF(s)	STREAM_OWNER(s, struct fm_flow, stream)

static void
arm_safety(struct fm_flow *f)
{
	if (f->close_deadline_ms == 0) {
		f->close_deadline_ms = loop_now_ms(f->child->loop) +
		    SAFETY_CLOSE_MS;
	}
}

/*
 * The stream ended the flow: close it for the reason it gave.  After our
 * FIN (draining) the close is the framing error's.  0, or -1 if the flow
 * is gone.
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
	switch (r) {
	case STREAM_EOF:
		fm_flow_close(f, draining ? EPSIP_CLOSE_FRAMING :
		    EPSIP_CLOSE_PEER);
		break;
	case STREAM_INPUT_FULL:
		/* Never more than one message + slack (ER-04). */
		fm_flow_close(f, EPSIP_CLOSE_FRAMING);
		break;
	case STREAM_ERROR:
		fm_flow_close(f, draining ? EPSIP_CLOSE_FRAMING :
		    EPSIP_CLOSE_RESET);
		break;
	default:
		/* No memory for input. */
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		break;
	}
	return (-1);
}

int
fm_tcp_flow_send(struct fm_flow *f, const void *buf, size_t len)
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
fm_tcp_flow_finish(struct fm_flow *f)
{
	arm_safety(f);
	return (ended(f, stream_finish(&f->stream)));
}

/*
 * Stream framing lost.  With an answer possible the router gets the
 * header bytes and answers with CLOSE_AFTER_SEND; otherwise close now.
 * Returns -1 if the flow was closed.
 */
static int
framing_error(struct fm_flow *f, const char *buf, size_t len,
    const struct sip_frame *fr)
{
	size_t hl;

	stats_inc(metric_label_find(MF_FRAMING_ERRORS,
	    sip_frame_error_name(fr->error)));
	log_flow(LOG_LEVEL_INFO, &f->id, "framing lost: %s",
	    sip_frame_error_name(fr->error));
	if (fr->status == 0 || fr->header_length == 0 || fr->offset >= len) {
		fm_flow_close(f, EPSIP_CLOSE_FRAMING);
		return (-1);
	}
	hl = fr->header_length;
	if (hl > len - fr->offset) {
		hl = len - fr->offset;
	}
	if (hl > EPSIP_MSG_MAX_PAYLOAD) {
		hl = EPSIP_MSG_MAX_PAYLOAD;
	}
	(void)fm_flow_to_router(f, EPSIP_MSG_FLOW_FRAMING_ERROR,
	    (uint32_t)fr->status, buf + fr->offset, hl);
	stream_stop_reading(&f->stream);
	arm_safety(f);
	return (0);
}

static void resume_cb(struct loop *loop, void *arg);

/*
 * The router's queue is full (it is restarting, or busy): park the flow.
 * Its unsent bytes stay in its buffer; a timer retries every paused flow.
 */
static void
pause_for_router(struct fm_flow *f)
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
 * The framing callback: hand every complete unit in buf[0..len) on.
 * Returns the bytes used, or -1 if the flow was closed.  Stops early once
 * reading stopped or the flow paused.
 */
static ssize_t
frame(struct stream *s, const char *buf, size_t len)
{
	struct fm_flow *f = FLOW_OF(s);
	struct sip_frame fr;
	size_t off;

	off = 0;
	while (stream_framing(s)) {
		switch (sip_frame_stream_next(buf + off, len - off,
		    f->child->max_message, &fr)) {
		case SIP_FRAME_NEED_MORE:
			return ((ssize_t)off);
		case SIP_FRAME_MESSAGE:
			if (fm_flow_offer_to_router(f, buf + off + fr.offset,
			    fr.length, loop_now_ms(f->child->loop)) == -1) {
				/* Keep it and stop reading: TCP's window
				 * then slows the phone, nothing is lost. */
				pause_for_router(f);
				return ((ssize_t)off);
			}
			log_flow(LOG_LEVEL_DEBUG, &f->id, "in %zu bytes",
			    fr.length);
			stats_inc(M_SIP_FROM_FLOW);
			break;
		case SIP_FRAME_PING:
			/* RFC 5626 §4.4.1: one CRLF back, now (KA-09). */
			stats_inc(M_KEEPALIVE_CRLF_PONGS);
			if (fm_tcp_flow_send(f, pong, 2) == -1) {
				return (-1);
			}
			break;
		case SIP_FRAME_ERROR:
			if (framing_error(f, buf + off, len - off, &fr) == -1) {
				return (-1);
			}
			return ((ssize_t)len);
		}
		if (fr.consumed == 0) {
			/* Cannot happen; never spin on it. */
			fm_flow_close(f, EPSIP_CLOSE_FRAMING);
			return (-1);
		}
		off += fr.consumed;
	}
	return ((ssize_t)len);
}

static void
did_read(struct stream *s, size_t n)
{
	struct fm_flow *f = FLOW_OF(s);

	stats_add(M_BYTES_IN, (int64_t)n);
	/* Any byte, a ping included, proves the flow alive. */
	f->last_activity_ms = loop_now_ms(f->child->loop);
}

static void
did_write(struct stream *s, size_t n)
{
	(void)s;
	stats_add(M_BYTES_OUT, (int64_t)n);
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
io_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_flow *f = arg;

	(void)loop;
	(void)fd;
	(void)ended(f, stream_io(&f->stream, events));
}

int
fm_tcp_flows_init(struct fm_child *c)
{
	if (stream_class_init(&c->tcp, c->loop, c->max_message + RBUF_SLACK,
	    WQ_LIMIT) == -1) {
		return (-1);
	}
	c->tcp.frame = frame;
	c->tcp.did_read = did_read;
	c->tcp.did_write = did_write;
	return (0);
}

void
fm_tcp_flows_free(struct fm_child *c)
{
	stream_class_free(&c->tcp);
}

void
fm_tcp_flow_open(struct fm_child *c, const struct fm_ctl_msg *m, int fd)
{
	struct fm_flow *f;
	int one;

	if ((f = fm_flow_new(c, m, EPSIP_TRANSPORT_TCP)) == NULL) {
		(void)close(fd);
		return;
	}
	stream_init(&f->stream, &c->tcp, &stream_socket, fd, 0);
	/* Pongs and answers go out at once, not after a delayed ACK. */
	one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (stream_watch(&f->stream, io_cb, f) == -1) {
		log_flow(LOG_LEVEL_WARN, &f->id, "cannot watch the connection");
		fm_flow_close(f, EPSIP_CLOSE_RESET);
	}
}

void
fm_tcp_flow_release(struct fm_flow *f)
{
	stream_release(&f->stream);
}
