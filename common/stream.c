/*
 * stream.c -- a non-blocking byte-stream connection (see stream.h): the
 * read loop and its buffer, the write queue, close-after-send, and the
 * plain-socket transport.
 *
 * Reads go to the class's scratch buffer and are framed from there; only
 * an unframed tail is copied into the stream's own buffer, which is freed
 * once framing has used it up.  At most input_max bytes wait unframed: a
 * stream that holds that much and still has no whole unit is over its
 * limit (the framing callback bounds a unit below it).
 *
 * The framing callback may free the stream (it returns -1), so after
 * calling it nothing here touches the stream unless it came back.  While
 * it runs the stream may be framing out of its own buffer; stopping the
 * reading then leaves the buffer to be freed once the callback is done.
 *
 * A transport may hold input the socket no longer shows, or wait for the
 * other readiness than the one its caller would (stream.h: `pending`,
 * `wants`); both are asked only when the transport has them, so a plain
 * socket pays nothing.
 *
 * Nothing here is fatal, logs or counts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epsip/stream.h"

/* Reads per wakeup, so one busy stream cannot starve the others. */
#define STREAM_READS_PER_WAKEUP	8
/* The first buffer for an unframed tail; it doubles up to input_max. */
#define STREAM_RBUF_INITIAL	1024

/* ---- the plain socket ---- */

static ssize_t
socket_read(struct stream *s, void *buf, size_t len)
{
	return (recv(s->fd, buf, len, MSG_DONTWAIT));
}

static ssize_t
socket_write(struct stream *s, const void *buf, size_t len)
{
	return (send(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL));
}

static void
socket_shutdown(struct stream *s)
{
	(void)shutdown(s->fd, SHUT_WR);
}

static void
socket_close(struct stream *s)
{
	(void)close(s->fd);
}

/* No `pending`, no `wants`: the socket's readiness is all there is. */
const struct stream_transport stream_socket = {
	.name = "socket",
	.read = socket_read,
	.write = socket_write,
	.shutdown = socket_shutdown,
	.close = socket_close,
};

/* ---- set-up ---- */

int
stream_class_init(struct stream_class *cls, struct loop *loop,
    size_t input_max, size_t queue_max)
{
	memset(cls, 0, sizeof(*cls));
	/* Lengths in a stream are 32-bit. */
	if (input_max == 0 || input_max > UINT32_MAX ||
	    queue_max > UINT32_MAX) {
		errno = EINVAL;
		return (-1);
	}
	cls->loop = loop;
	cls->read_events = EPOLLIN;
	cls->input_max = input_max;
	cls->queue_max = queue_max;
	cls->scratch = malloc(input_max);
	return (cls->scratch != NULL ? 0 : -1);
}

void
stream_class_free(struct stream_class *cls)
{
	free(cls->scratch);
	cls->scratch = NULL;
}

void
stream_init(struct stream *s, const struct stream_class *cls,
    const struct stream_transport *tr, int fd, int connecting)
{
	memset(s, 0, sizeof(*s));
	s->cls = cls;
	s->tr = tr;
	s->fd = fd;
	STAILQ_INIT(&s->wq);
	if (connecting) {
		s->flags |= STREAM_F_CONNECTING;
	}
}

/* ---- state ---- */

int
stream_framing(const struct stream *s)
{
	return (!(s->flags & (STREAM_F_STOPPED | STREAM_F_PAUSED)));
}

/* Input is read: to frame it, or to discard it after our FIN. */
static int
stream_reading(const struct stream *s)
{
	return ((!(s->flags & STREAM_F_STOPPED) ||
	    (s->flags & STREAM_F_DRAINING)) && !(s->flags & STREAM_F_PAUSED));
}

/* What the transport's read and write wait for (stream.h: `wants`). */
static uint32_t
stream_tr_wants(const struct stream *s)
{
	return (s->tr->wants != NULL ? s->tr->wants(s) : 0);
}

/* The transport holds input epoll will not report (stream.h). */
static int
stream_tr_pending(const struct stream *s)
{
	return (s->tr->pending != NULL && s->tr->pending(s));
}

static uint32_t
stream_wants(const struct stream *s)
{
	uint32_t want = 0, tr = stream_tr_wants(s);

	if (stream_reading(s)) {
		want |= s->cls->read_events;
		/* The read is retried when the socket takes output. */
		want |= tr & EPOLLOUT;
	}
	if (s->flags & STREAM_F_CONNECTING) {
		want |= EPOLLOUT;
	} else if (!STAILQ_EMPTY(&s->wq)) {
		/*
		 * The write is retried on input when that is what it waits
		 * for: the socket is writable all along, and waiting for
		 * that would wake the loop for nothing until input came.
		 */
		want |= (tr & EPOLLIN) ? EPOLLIN : EPOLLOUT;
	}
	return (want);
}

static void
stream_set_events(struct stream *s)
{
	uint32_t want = stream_wants(s);

	if (want != s->events && loop_mod_fd(s->cls->loop, s->fd, want) ==
	    0) {
		s->events = want;
	}
}

int
stream_watch(struct stream *s, loop_fd_cb cb, void *arg)
{
	uint32_t want = stream_wants(s);

	if (loop_add_fd(s->cls->loop, s->fd, want, cb, arg) == -1) {
		return (-1);
	}
	s->events = want;
	return (0);
}

static void
stream_drop_input(struct stream *s)
{
	free(s->rbuf);
	s->rbuf = NULL;
	s->rlen = s->rcap = 0;
}

void
stream_chunks_free(struct stream_queue *q)
{
	struct stream_chunk *w, *next;

	for (w = STAILQ_FIRST(q); w != NULL; w = next) {
		next = STAILQ_NEXT(w, entry);
		free(w);
	}
	STAILQ_INIT(q);
}

void
stream_release(struct stream *s)
{
	if (s->fd != -1) {
		loop_del_fd(s->cls->loop, s->fd);
		s->tr->close(s);
		s->fd = -1;
	}
	stream_drop_input(s);
	stream_chunks_free(&s->wq);
	s->wq_bytes = 0;
}

void
stream_stop_reading(struct stream *s)
{
	s->flags |= STREAM_F_STOPPED;
	if (!(s->flags & STREAM_F_IN_FRAME)) {
		stream_drop_input(s);
	}
	stream_set_events(s);
}

void
stream_pause(struct stream *s)
{
	s->flags |= STREAM_F_PAUSED;
}

void
stream_connected(struct stream *s)
{
	s->flags &= ~STREAM_F_CONNECTING;
}

/* ---- output ---- */

struct stream_chunk *
stream_chunk_new(const void *buf, size_t len)
{
	struct stream_chunk *w;

	if ((w = malloc(sizeof(*w) + len)) == NULL) {
		return (NULL);
	}
	w->len = len;
	w->off = 0;
	memcpy(w->data, buf, len);
	return (w);
}

enum stream_result
stream_flush(struct stream *s)
{
	struct stream_chunk *w;
	ssize_t n;

	while ((w = STAILQ_FIRST(&s->wq)) != NULL) {
		n = s->tr->write(s, w->data + w->off, w->len - w->off);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN) {
				break;
			}
			return (STREAM_ERROR);
		}
		s->cls->did_write(s, (size_t)n);
		w->off += (size_t)n;
		if (w->off < w->len) {
			continue;
		}
		STAILQ_REMOVE_HEAD(&s->wq, entry);
		s->wq_bytes -= (uint32_t)w->len;
		free(w);
	}
	if (STAILQ_EMPTY(&s->wq) && (s->flags & STREAM_F_CLOSING) &&
	    !(s->flags & STREAM_F_DRAINING)) {
		/* All out: FIN, then read and discard until the peer's. */
		s->tr->shutdown(s);
		s->flags |= STREAM_F_DRAINING;
	}
	stream_set_events(s);
	return (STREAM_OK);
}

enum stream_result
stream_send(struct stream *s, const void *buf, size_t len)
{
	const char *p = buf;
	struct stream_chunk *w;
	ssize_t n;

	/* Refused whole, before anything leaves: never half a message. */
	if ((size_t)s->wq_bytes + len > s->cls->queue_max) {
		return (STREAM_QUEUE_FULL);
	}
	if (!(s->flags & STREAM_F_CONNECTING) && STAILQ_EMPTY(&s->wq)) {
		/* The common case: straight out, nothing queued. */
		do {
			n = s->tr->write(s, p, len);
		} while (n == -1 && errno == EINTR);
		if (n == -1 && errno != EAGAIN) {
			return (STREAM_ERROR);
		}
		if (n > 0) {
			s->cls->did_write(s, (size_t)n);
			p += n;
			len -= (size_t)n;
		}
		if (len == 0) {
			return (STREAM_OK);
		}
	}
	if ((w = stream_chunk_new(p, len)) == NULL) {
		return (p != buf ? STREAM_CUT : STREAM_NOMEM);
	}
	STAILQ_INSERT_TAIL(&s->wq, w, entry);
	s->wq_bytes += (uint32_t)len;
	stream_set_events(s);
	return (STREAM_OK);
}

enum stream_result
stream_finish(struct stream *s)
{
	s->flags |= STREAM_F_CLOSING;
	if (!(s->flags & STREAM_F_STOPPED)) {
		stream_stop_reading(s);
	}
	return (stream_flush(s));
}

size_t
stream_take_queue(struct stream *s, struct stream_queue *to)
{
	struct stream_chunk *w;
	size_t n = 0;

	while ((w = STAILQ_FIRST(&s->wq)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->wq, entry);
		STAILQ_INSERT_TAIL(to, w, entry);
		n++;
	}
	s->wq_bytes = 0;
	return (n);
}

/* ---- input ---- */

/* The framing callback on buf[0..len); the bytes used, or -1: gone. */
static ssize_t
stream_frame(struct stream *s, const char *buf, size_t len)
{
	ssize_t used;

	s->flags |= STREAM_F_IN_FRAME;
	if ((used = s->cls->frame(s, buf, len)) == -1) {
		return (-1);
	}
	s->flags &= ~STREAM_F_IN_FRAME;
	if (s->flags & STREAM_F_STOPPED) {
		stream_drop_input(s);
	}
	return (used);
}

/* Keep the unframed tail in the stream's own buffer. */
static enum stream_result
stream_keep(struct stream *s, const char *buf, size_t len)
{
	size_t need = (size_t)s->rlen + len, ncap;
	char *nb;

	if (need > s->rcap) {
		ncap = s->rcap != 0 ? s->rcap : STREAM_RBUF_INITIAL;
		while (ncap < need) {
			ncap *= 2;
		}
		if (ncap > s->cls->input_max) {
			ncap = s->cls->input_max;
		}
		if (ncap < need || (nb = realloc(s->rbuf, ncap)) == NULL) {
			return (STREAM_NOMEM);
		}
		s->rbuf = nb;
		s->rcap = (uint32_t)ncap;
	}
	memcpy(s->rbuf + s->rlen, buf, len);
	s->rlen = (uint32_t)need;
	return (STREAM_OK);
}

/* Frame what waits in the stream's own buffer. */
static enum stream_result
stream_frame_pending(struct stream *s)
{
	ssize_t used;

	if (s->rlen == 0) {
		return (STREAM_OK);
	}
	if ((used = stream_frame(s, s->rbuf, s->rlen)) == -1) {
		return (STREAM_GONE);
	}
	if (s->flags & STREAM_F_STOPPED) {
		return (STREAM_OK);
	}
	s->rlen -= (uint32_t)used;
	if (s->rlen == 0) {
		stream_drop_input(s);
	} else if (used > 0) {
		memmove(s->rbuf, s->rbuf + used, s->rlen);
	}
	return (STREAM_OK);
}

/* New bytes arrived. */
static enum stream_result
stream_absorb(struct stream *s, const char *buf, size_t len)
{
	enum stream_result r;
	ssize_t used;

	if (s->rlen == 0) {
		/* Nothing pending: frame straight from the scratch buffer. */
		if ((used = stream_frame(s, buf, len)) == -1) {
			return (STREAM_GONE);
		}
		if ((s->flags & STREAM_F_STOPPED) || (size_t)used == len) {
			return (STREAM_OK);
		}
		return (stream_keep(s, buf + used, len - (size_t)used));
	}
	if ((r = stream_keep(s, buf, len)) != STREAM_OK) {
		return (r);
	}
	return (stream_frame_pending(s));
}

enum stream_result
stream_resume(struct stream *s)
{
	enum stream_result r;

	s->flags &= ~STREAM_F_PAUSED;
	if ((r = stream_frame_pending(s)) == STREAM_OK) {
		stream_set_events(s);
		/* Input the transport holds: epoll will never say so. */
		if (stream_framing(s) && stream_tr_pending(s)) {
			loop_fd_again(s->cls->loop, s->fd);
		}
	}
	return (r);
}

/*
 * Read and frame, STREAM_READS_PER_WAKEUP times at most, or on while the
 * transport holds input already taken off the socket: epoll would not
 * wake us for it, and the transport bounds it (stream.h: `pending`).
 */
static enum stream_result
stream_read_some(struct stream *s)
{
	const struct stream_class *cls = s->cls;
	enum stream_result r;
	size_t room;
	ssize_t n;

	for (int i = 0; i < STREAM_READS_PER_WAKEUP || stream_tr_pending(s);
	    i++) {
		/* Never hold more than input_max unframed. */
		room = cls->input_max;
		if (s->rlen > 0 && !(s->flags & STREAM_F_DRAINING)) {
			room = cls->input_max > s->rlen ?
			    cls->input_max - s->rlen : 0;
		}
		if (room == 0) {
			return (STREAM_INPUT_FULL);
		}
		n = s->tr->read(s, cls->scratch, room);
		if (n == 0) {
			return (STREAM_EOF);
		}
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			return (errno == EAGAIN ? STREAM_OK : STREAM_ERROR);
		}
		cls->did_read(s, (size_t)n);
		if (s->flags & STREAM_F_DRAINING) {
			continue;
		}
		if ((r = stream_absorb(s, cls->scratch, (size_t)n)) !=
		    STREAM_OK || (s->flags & STREAM_F_STOPPED)) {
			return (r);
		}
		if (s->flags & STREAM_F_PAUSED) {
			stream_set_events(s);	/* read nothing until resumed */
			return (STREAM_OK);
		}
	}
	return (STREAM_OK);
}

static enum stream_result
stream_read(struct stream *s)
{
	enum stream_result r = stream_read_some(s);

	/* The transport's read may wait for EPOLLOUT now, or no longer. */
	if (r == STREAM_OK && s->tr->wants != NULL) {
		stream_set_events(s);
	}
	return (r);
}

enum stream_result
stream_io(struct stream *s, uint32_t events)
{
	const uint32_t input = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
	uint32_t tr = stream_tr_wants(s);
	enum stream_result r;

	/* A write waiting for input is retried when input comes. */
	if (((events & EPOLLOUT) || ((tr & EPOLLIN) && (events & EPOLLIN) &&
	    !STAILQ_EMPTY(&s->wq))) && (r = stream_flush(s)) != STREAM_OK) {
		return (r);
	}
	if (stream_reading(s)) {
		/* And a read waiting for the socket to take output on that. */
		if ((events & input) || ((tr & EPOLLOUT) &&
		    (events & EPOLLOUT))) {
			return (stream_read(s));
		}
		return (STREAM_OK);
	}
	/* Not reading: a hang-up or an error is the only news. */
	if (events & EPOLLERR) {
		return (STREAM_ERROR);
	}
	if (events & EPOLLHUP) {
		return (STREAM_EOF);
	}
	return (STREAM_OK);
}
