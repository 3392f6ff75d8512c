/*
 * tcp_flow.c -- one TCP flow in a child: reading and framing the stream,
 * answering CRLF keep-alives, writing in order, closing after a framing
 * error.
 *
 * Input is read into the child's one scratch buffer and framed from there
 * (RFC 3261 §18.3, Content-Length); only an incomplete tail is copied into
 * the flow's own buffer, which is freed as soon as it is empty, so an idle
 * flow holds no buffer at all.  Output -- whole SIP messages and "\r\n"
 * pongs -- goes through one queue in order, so a pong can never land
 * inside a message (KA-10).
 *
 * After a framing error with an answer possible (400/513, ER-02..04) the
 * flow stops reading, asks the router for the answer, and closes once the
 * answer is out (CLOSE_AFTER_SEND) or after a 2-3 s safety delay.  It sends
 * FIN and drains input before closing, so that unread input does not turn
 * the close into a RST that could destroy the answer in flight.
 *
 * Nothing here is fatal.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "epsip/log.h"
#include "epsip/sip_frame.h"
#include "epsip/stats.h"

#include "child.h"
#include "flow_manager.h"

/* A peer that does not read gets cut off past this much queued output. */
#define WQ_LIMIT		(1024 * 1024)
/* Reads per wakeup, so one busy flow cannot starve the others. */
#define READS_PER_WAKEUP	8
/*
 * From a framing error or CLOSE_AFTER_SEND to the close, at the latest
 * (the once-a-second reaper enforces it, so up to a second later).
 */
#define SAFETY_CLOSE_MS		2000

static const char pong[] = "\r\n";

/* How soon a flow paused for the router tries again. */
#define RESUME_MS		10

static void
set_events(struct fm_flow *f)
{
	uint32_t want;

	want = 0;
	if ((!f->reading_stopped || f->draining) && !f->paused) {
		want |= EPOLLIN;
	}
	if (f->wq_head != NULL) {
		want |= EPOLLOUT;
	}
	if (want != f->events &&
	    loop_mod_fd(f->child->loop, f->fd, want) == 0) {
		f->events = want;
	}
}

static void
arm_safety(struct fm_flow *f)
{
	if (f->close_deadline_ms == 0) {
		f->close_deadline_ms = loop_now_ms(f->child->loop) +
		    SAFETY_CLOSE_MS;
	}
}

static void
stop_reading(struct fm_flow *f)
{
	f->reading_stopped = 1;
	free(f->rbuf);
	f->rbuf = NULL;
	f->rlen = f->rcap = 0;
	set_events(f);
}

static void
wq_free(struct fm_flow *f)
{
	struct fm_wchunk *w;

	while ((w = f->wq_head) != NULL) {
		f->wq_head = w->next;
		free(w);
	}
	f->wq_tail = NULL;
	f->wq_bytes = 0;
}

/* Write what is queued; 0, or -1 if the flow was closed. */
static int
flush(struct fm_flow *f)
{
	struct fm_wchunk *w;
	ssize_t n;

	while ((w = f->wq_head) != NULL) {
		n = send(f->fd, w->data + w->off, w->len - w->off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN) {
				break;
			}
			fm_flow_close(f, EPSIP_CLOSE_RESET);
			return (-1);
		}
		stats_add(M_BYTES_OUT, (int64_t)n);
		w->off += (size_t)n;
		if (w->off < w->len) {
			continue;
		}
		f->wq_head = w->next;
		if (f->wq_head == NULL) {
			f->wq_tail = NULL;
		}
		f->wq_bytes -= w->len;
		free(w);
	}
	if (f->wq_head == NULL && f->closing && !f->draining) {
		/* All out: FIN, then read and discard until the peer's. */
		(void)shutdown(f->fd, SHUT_WR);
		f->draining = 1;
	}
	set_events(f);
	return (0);
}

int
fm_tcp_flow_send(struct fm_flow *f, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct fm_wchunk *w;
	ssize_t n;

	if (f->wq_head == NULL) {
		/* The common case: straight out, nothing queued. */
		do {
			n = send(f->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		} while (n == -1 && errno == EINTR);
		if (n == -1 && errno != EAGAIN) {
			fm_flow_close(f, EPSIP_CLOSE_RESET);
			return (-1);
		}
		if (n > 0) {
			stats_add(M_BYTES_OUT, (int64_t)n);
			p += n;
			len -= (size_t)n;
		}
		if (len == 0) {
			return (0);
		}
	}
	if (f->wq_bytes + len > WQ_LIMIT) {
		log_flow(LOG_LEVEL_WARN, &f->id,
		    "more than %d bytes waiting: peer not reading", WQ_LIMIT);
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		return (-1);
	}
	if ((w = malloc(sizeof(*w) + len)) == NULL) {
		log_flow(LOG_LEVEL_WARN, &f->id, "no memory for output");
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		return (-1);
	}
	w->next = NULL;
	w->len = len;
	w->off = 0;
	memcpy(w->data, p, len);
	if (f->wq_tail != NULL) {
		f->wq_tail->next = w;
	} else {
		f->wq_head = w;
	}
	f->wq_tail = w;
	f->wq_bytes += len;
	set_events(f);
	return (0);
}

int
fm_tcp_flow_finish(struct fm_flow *f)
{
	f->closing = 1;
	if (!f->reading_stopped) {
		stop_reading(f);
	}
	arm_safety(f);
	return (flush(f));
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
	stop_reading(f);
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
	f->paused = 1;
	stats_inc(M_ROUTER_BACKPRESSURE);
	if (!c->resume_armed && loop_after(c->loop, RESUME_MS, resume_cb, c)
	    >= 0) {
		c->resume_armed = 1;
	}
}

/*
 * Hand every complete unit in buf[0..len) on.  Returns the bytes used, or
 * -1 if the flow was closed.  Stops early once reading stopped.
 */
static ssize_t
frame(struct fm_flow *f, const char *buf, size_t len)
{
	struct sip_frame fr;
	size_t off;

	off = 0;
	while (!f->reading_stopped && !f->paused) {
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

/* Keep the unframed tail in the flow's own buffer; 0 or -1 (closed). */
static int
keep(struct fm_flow *f, const char *buf, size_t len)
{
	char *nb;
	size_t ncap;

	if (f->rlen + len > f->rcap) {
		ncap = f->rcap != 0 ? f->rcap : 1024;
		while (ncap < f->rlen + len) {
			ncap *= 2;
		}
		if (ncap > f->child->rbuf_limit) {
			ncap = f->child->rbuf_limit;
		}
		if (ncap < f->rlen + len ||
		    (nb = realloc(f->rbuf, ncap)) == NULL) {
			fm_flow_close(f, EPSIP_CLOSE_RESET);
			return (-1);
		}
		f->rbuf = nb;
		f->rcap = ncap;
	}
	memcpy(f->rbuf + f->rlen, buf, len);
	f->rlen += len;
	return (0);
}

/* Frame what waits in the flow's buffer; 0, or -1 if it was closed. */
static int
frame_pending(struct fm_flow *f)
{
	ssize_t used;

	if ((used = frame(f, f->rbuf, f->rlen)) == -1) {
		return (-1);
	}
	if (f->reading_stopped) {
		return (0);
	}
	f->rlen -= (size_t)used;
	if (f->rlen == 0) {
		free(f->rbuf);
		f->rbuf = NULL;
		f->rcap = 0;
	} else if (used > 0) {
		memmove(f->rbuf, f->rbuf + used, f->rlen);
	}
	return (0);
}

/* New bytes arrived; 0, or -1 if the flow was closed. */
static int
absorb(struct fm_flow *f, const char *buf, size_t len)
{
	ssize_t used;

	if (f->rlen == 0) {
		/* Nothing pending: frame straight from the scratch buffer. */
		if ((used = frame(f, buf, len)) == -1) {
			return (-1);
		}
		if (f->reading_stopped || (size_t)used == len) {
			return (0);
		}
		return (keep(f, buf + used, len - (size_t)used));
	}
	if (keep(f, buf, len) == -1) {
		return (-1);
	}
	return (frame_pending(f));
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
		if (f == NULL || !f->paused) {
			continue;
		}
		f->paused = 0;
		if (frame_pending(f) == 0) {
			set_events(f);
		}
	}
	free(slots);
}

static void
read_input(struct fm_flow *f)
{
	struct fm_child *c = f->child;
	size_t room;
	ssize_t n;
	int i;

	for (i = 0; i < READS_PER_WAKEUP; i++) {
		/* Never hold more than one message + slack (ER-04). */
		room = c->scratch_size;
		if (f->rlen > 0 && !f->draining) {
			room = c->rbuf_limit > f->rlen ?
			    c->rbuf_limit - f->rlen : 0;
		}
		if (room == 0) {
			fm_flow_close(f, EPSIP_CLOSE_FRAMING);
			return;
		}
		n = recv(f->fd, c->scratch, room, MSG_DONTWAIT);
		if (n == 0) {
			fm_flow_close(f, f->draining ? EPSIP_CLOSE_FRAMING :
			    EPSIP_CLOSE_PEER);
			return;
		}
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN) {
				fm_flow_close(f, f->draining ?
				    EPSIP_CLOSE_FRAMING : EPSIP_CLOSE_RESET);
			}
			return;
		}
		stats_add(M_BYTES_IN, (int64_t)n);
		/* Any byte, a ping included, proves the flow alive. */
		f->last_activity_ms = loop_now_ms(c->loop);
		if (f->draining) {
			continue;
		}
		if (absorb(f, c->scratch, (size_t)n) == -1 ||
		    f->reading_stopped) {
			return;
		}
		if (f->paused) {
			set_events(f);		/* stop reading until resumed */
			return;
		}
	}
}

static void
io_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_flow *f = arg;

	(void)loop;
	(void)fd;
	if ((events & EPOLLOUT) && flush(f) == -1) {
		return;
	}
	if ((!f->reading_stopped || f->draining) && !f->paused) {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			read_input(f);
		}
		return;
	}
	/* Not reading: a hang-up or error is the only news. */
	if (events & EPOLLERR) {
		fm_flow_close(f, EPSIP_CLOSE_RESET);
	} else if (events & EPOLLHUP) {
		fm_flow_close(f, EPSIP_CLOSE_PEER);
	}
}

void
fm_tcp_flow_open(struct fm_child *c, const struct fm_ctl_msg *m, int fd)
{
	struct fm_flow *f;
	int one;

	if ((f = fm_flow_new(c, m, EPSIP_TRANSPORT_TCP, fd)) == NULL) {
		(void)close(fd);
		return;
	}
	/* Pongs and answers go out at once, not after a delayed ACK. */
	one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (loop_add_fd(c->loop, fd, EPOLLIN, io_cb, f) == -1) {
		log_flow(LOG_LEVEL_WARN, &f->id, "cannot watch the connection");
		f->fd = -1;
		(void)close(fd);
		fm_flow_close(f, EPSIP_CLOSE_RESET);
		return;
	}
	f->events = EPOLLIN;
}

void
fm_tcp_flow_release(struct fm_flow *f)
{
	if (f->fd != -1) {
		loop_del_fd(f->child->loop, f->fd);
		(void)close(f->fd);
		f->fd = -1;
	}
	free(f->rbuf);
	f->rbuf = NULL;
	f->rlen = f->rcap = 0;
	wq_free(f);
}
