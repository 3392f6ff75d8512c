/*
 * stream_test.c -- the non-blocking connection layer (common/stream.c)
 * over a real socketpair: output the socket does not take waits in order
 * until it is writable, close-after-send sends FIN only once the queue is
 * out and then discards input, the framing callback sees split input
 * whole and an idle stream holds no buffer, a paused stream reads
 * nothing and loses nothing, the input and queue limits hold, and a
 * callback may stop the reading or free the stream under the layer.
 * A transport's optional entries (a fake one here, over the same
 * socketpair): input it holds is read past the per-wakeup budget and
 * after a resume, and a read or write that waits for the other readiness
 * waits for that event and is retried on it.
 *
 * The framer here takes lines: a unit is everything up to a '\n'.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epsip/loop.h"
#include "epsip/stream.h"

#define BIG		(4 * 1024 * 1024)	/* more than a socket buffer */

struct conn {
	struct stream s;
	char in[256];			/* what the framer handed on */
	size_t nin;
	size_t nread, nwritten;		/* did_read, did_write */
	int calls;			/* of the framing callback */
	int pause_once;			/* pause after the next unit */
	int stop_at_bang;		/* a "!" line stops the reading */
	int free_in_frame;		/* release and free the stream */
	char after_stop[64];		/* bytes seen after stopping */
};

struct fixture {
	struct loop *loop;
	struct stream_class cls;
	int sp[2];			/* the stream's end, the peer's */
	struct conn *c;
};

static struct fixture *fx;

static ssize_t
frame_lines(struct stream *s, const char *buf, size_t len)
{
	struct conn *c = STREAM_OWNER(s, struct conn, s);
	const char *nl;
	size_t off = 0, n;

	c->calls++;
	if (c->free_in_frame) {
		stream_release(s);
		free(c);
		fx->c = NULL;
		return (-1);
	}
	while (stream_framing(s) && off < len &&
	    (nl = memchr(buf + off, '\n', len - off)) != NULL) {
		n = (size_t)(nl - (buf + off)) + 1;
		if (c->stop_at_bang && n == 2 && buf[off] == '!') {
			stream_stop_reading(s);
			/* The bytes stay valid until the callback returns. */
			memcpy(c->after_stop, buf + off + n, len - off - n);
			return ((ssize_t)len);
		}
		assert_true(c->nin + n <= sizeof(c->in));
		memcpy(c->in + c->nin, buf + off, n);
		c->nin += n;
		off += n;
		if (c->pause_once) {
			c->pause_once = 0;
			stream_pause(s);
		}
	}
	return ((ssize_t)off);
}

static void
count_read(struct stream *s, size_t n)
{
	STREAM_OWNER(s, struct conn, s)->nread += n;
}

static void
count_write(struct stream *s, size_t n)
{
	STREAM_OWNER(s, struct conn, s)->nwritten += n;
}

static void
on_io(struct loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	(void)arg;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->loop = loop_new());
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, f->sp), 0);
	fx = f;
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->c != NULL) {
		stream_release(&fx->c->s);
		free(f->c);
	} else if (f->sp[0] != -1) {
		(void)close(f->sp[0]);
	}
	if (f->sp[1] != -1) {
		(void)close(f->sp[1]);
	}
	stream_class_free(&f->cls);
	loop_free(f->loop);
	free(f);
	fx = NULL;
	return (0);
}

/* The stream on sp[0] with transport `tr`, watched by the loop. */
static struct conn *
start_on(void **state, const struct stream_transport *tr, size_t input_max,
    size_t queue_max, int connecting)
{
	struct fixture *f = *state;
	struct conn *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(stream_class_init(&f->cls, f->loop, input_max,
	    queue_max), 0);
	f->cls.frame = frame_lines;
	f->cls.did_read = count_read;
	f->cls.did_write = count_write;
	stream_init(&c->s, &f->cls, tr, f->sp[0], connecting);
	assert_int_equal(stream_watch(&c->s, on_io, c), 0);
	f->c = c;
	return (c);
}

/* The stream on sp[0], a plain socket, with these limits. */
static struct conn *
start(void **state, size_t input_max, size_t queue_max, int connecting)
{
	return (start_on(state, &stream_socket, input_max, queue_max,
	    connecting));
}

static void
peer_write(const char *text)
{
	size_t len = strlen(text);

	assert_int_equal(write(fx->sp[1], text, len), (ssize_t)len);
}

/* The peer sends `text`, and the loop reports the stream readable. */
static enum stream_result
feed(const char *text)
{
	peer_write(text);
	return (stream_io(&fx->c->s, EPOLLIN));
}

/* Read what the peer has; the bytes, -1 at EOF (after what came). */
static ssize_t
peer_read(char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap) {
		n = read(fx->sp[1], buf + got, cap - got);
		if (n == 0) {
			return (got > 0 ? (ssize_t)got : -1);
		}
		if (n == -1) {
			assert_true(errno == EAGAIN);
			break;
		}
		got += (size_t)n;
	}
	return ((ssize_t)got);
}

static char *
pattern(size_t len)
{
	char *p = malloc(len);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		p[i] = (char)('a' + i % 23);
	}
	return (p);
}

/* Let the peer read and the stream flush until nothing is queued. */
static size_t
pump(char *into, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	for (int rounds = 0; rounds < 100000; rounds++) {
		n = peer_read(into + got, cap - got);
		assert_true(n >= 0);
		got += (size_t)n;
		if (fx->c->s.wq_bytes == 0) {
			break;
		}
		assert_int_equal(stream_io(&fx->c->s, EPOLLOUT), STREAM_OK);
	}
	n = peer_read(into + got, cap - got);
	if (n > 0) {
		got += (size_t)n;
	}
	return (got);
}

static void
test_stream_keeps_unsent_bytes_until_writable(void **state)
{
	struct conn *c = start(state, 4096, 2 * BIG, 0);
	char *big = pattern(BIG), *got = malloc(BIG + 16);
	size_t queued;

	assert_non_null(got);
	assert_int_equal(stream_send(&c->s, big, BIG), STREAM_OK);
	queued = c->s.wq_bytes;
	assert_true(queued > 0 && queued < BIG);
	assert_int_equal(c->nwritten, BIG - queued);
	assert_true(c->s.events & EPOLLOUT);
	/* Behind what waits, never before it. */
	assert_int_equal(stream_send(&c->s, "tail\n", 5), STREAM_OK);
	assert_int_equal(c->s.wq_bytes, queued + 5);

	assert_int_equal(pump(got, BIG + 16), BIG + 5);
	assert_memory_equal(got, big, BIG);
	assert_memory_equal(got + BIG, "tail\n", 5);
	assert_int_equal(c->nwritten, BIG + 5);
	assert_false(c->s.events & EPOLLOUT);
	assert_true(c->s.events & EPOLLIN);
	free(big);
	free(got);
}

static void
test_close_after_send_closes_once_queue_is_empty(void **state)
{
	struct conn *c = start(state, 4096, 2 * BIG, 0);
	char *big = pattern(BIG), *got = malloc(BIG);
	char tail[16];
	ssize_t n;

	assert_non_null(got);
	assert_int_equal(stream_send(&c->s, big, BIG), STREAM_OK);
	assert_int_equal(stream_finish(&c->s), STREAM_OK);
	assert_true(c->s.flags & STREAM_F_CLOSING);
	/* Output waits: no FIN yet, and nothing is read meanwhile. */
	assert_false(c->s.flags & STREAM_F_DRAINING);
	assert_false(c->s.events & EPOLLIN);
	n = peer_read(got, BIG);
	assert_true(n > 0 && n < BIG);

	assert_int_equal(pump(got + n, BIG - (size_t)n), BIG - (size_t)n);
	assert_memory_equal(got, big, BIG);
	assert_true(c->s.flags & STREAM_F_DRAINING);
	assert_int_equal(peer_read(tail, sizeof(tail)), -1);	/* FIN */

	/* After our FIN input is read and thrown away, never framed. */
	assert_true(c->s.events & EPOLLIN);
	assert_int_equal(feed("late\n"), STREAM_OK);
	assert_int_equal(c->calls, 0);
	assert_int_equal(c->nread, 5);
	assert_null(c->s.rbuf);
	(void)close(fx->sp[1]);
	fx->sp[1] = -1;
	assert_int_equal(stream_io(&c->s, EPOLLIN), STREAM_EOF);
	free(big);
	free(got);
}

static void
test_a_message_split_across_reads_is_framed_whole(void **state)
{
	struct conn *c = start(state, 4096, 4096, 0);

	assert_int_equal(feed("hel"), STREAM_OK);
	assert_int_equal(c->nin, 0);
	assert_int_equal(c->s.rlen, 3);
	assert_int_equal(feed("lo\nwor"), STREAM_OK);
	assert_int_equal(c->nin, 6);
	assert_int_equal(c->s.rlen, 3);
	assert_int_equal(feed("ld\n"), STREAM_OK);
	assert_int_equal(c->nin, 12);
	assert_memory_equal(c->in, "hello\nworld\n", 12);
	assert_int_equal(c->nread, 12);
}

static void
test_an_idle_stream_holds_no_input_buffer(void **state)
{
	struct conn *c = start(state, 4096, 4096, 0);

	assert_null(c->s.rbuf);
	assert_int_equal(feed("one\ntw"), STREAM_OK);
	assert_non_null(c->s.rbuf);
	assert_int_equal(feed("o\n"), STREAM_OK);
	assert_null(c->s.rbuf);
	assert_int_equal(c->s.rlen, 0);
	assert_int_equal(c->s.rcap, 0);
	/* Whole units straight from the scratch buffer need none either. */
	assert_int_equal(feed("three\n"), STREAM_OK);
	assert_null(c->s.rbuf);
	assert_int_equal(c->nin, 14);
}

static void
test_a_paused_stream_reads_nothing_until_resumed_and_loses_nothing(
    void **state)
{
	struct conn *c = start(state, 4096, 4096, 0);

	c->pause_once = 1;
	assert_int_equal(feed("one\ntwo\n"), STREAM_OK);
	assert_true(c->s.flags & STREAM_F_PAUSED);
	assert_false(stream_framing(&c->s));
	assert_int_equal(c->nin, 4);
	assert_int_equal(c->s.rlen, 4);		/* "two\n" waits */
	assert_false(c->s.events & EPOLLIN);

	assert_int_equal(feed("three\n"), STREAM_OK);
	assert_int_equal(c->calls, 1);
	assert_int_equal(c->nread, 8);		/* the socket keeps the rest */

	assert_int_equal(stream_resume(&c->s), STREAM_OK);
	assert_false(c->s.flags & STREAM_F_PAUSED);
	assert_true(c->s.events & EPOLLIN);
	assert_null(c->s.rbuf);
	assert_int_equal(stream_io(&c->s, EPOLLIN), STREAM_OK);
	assert_int_equal(c->nin, 14);
	assert_memory_equal(c->in, "one\ntwo\nthree\n", 14);
}

static void
test_input_past_its_limit_without_a_whole_unit_ends_the_stream(
    void **state)
{
	struct conn *c = start(state, 16, 4096, 0);

	assert_int_equal(feed("0123456789"), STREAM_OK);
	assert_int_equal(c->s.rlen, 10);
	assert_int_equal(feed("0123456789"), STREAM_INPUT_FULL);
	assert_int_equal(c->s.rlen, 16);
}

static void
test_a_message_past_the_queue_limit_is_refused_whole(void **state)
{
	struct conn *c = start(state, 4096, 16, 0);
	char got[64];

	/* Refused before anything leaves, even though the socket would
	 * take it: never half a message. */
	assert_int_equal(stream_send(&c->s, "0123456789abcdefg\n", 18),
	    STREAM_QUEUE_FULL);
	assert_int_equal(peer_read(got, sizeof(got)), 0);
	assert_int_equal(c->nwritten, 0);
	assert_int_equal(stream_send(&c->s, "0123456789abcde\n", 16),
	    STREAM_OK);
	assert_int_equal(peer_read(got, sizeof(got)), 16);
}

static void
test_a_connecting_stream_queues_until_connected(void **state)
{
	struct conn *c = start(state, 4096, 16, 1);
	char got[64];

	assert_true(c->s.events & EPOLLOUT);
	assert_int_equal(stream_send(&c->s, "first\n", 6), STREAM_OK);
	assert_int_equal(stream_send(&c->s, "second...\n", 10), STREAM_OK);
	assert_int_equal(stream_send(&c->s, "x\n", 2), STREAM_QUEUE_FULL);
	assert_int_equal(c->s.wq_bytes, 16);
	assert_int_equal(peer_read(got, sizeof(got)), 0);

	stream_connected(&c->s);
	assert_int_equal(stream_flush(&c->s), STREAM_OK);
	assert_int_equal(peer_read(got, sizeof(got)), 16);
	assert_memory_equal(got, "first\nsecond...\n", 16);
	assert_false(c->s.events & EPOLLOUT);
}

static void
test_a_stream_that_never_connected_hands_over_its_messages_in_order(
    void **state)
{
	struct conn *c = start(state, 4096, 4096, 1);
	struct stream_queue q;
	struct stream_chunk *w;

	STAILQ_INIT(&q);
	assert_int_equal(stream_send(&c->s, "a\n", 2), STREAM_OK);
	assert_int_equal(stream_send(&c->s, "bb\n", 3), STREAM_OK);
	assert_int_equal(stream_take_queue(&c->s, &q), 2);
	assert_int_equal(c->s.wq_bytes, 0);
	assert_true(STAILQ_EMPTY(&c->s.wq));
	w = STAILQ_FIRST(&q);
	assert_int_equal(w->len, 2);
	assert_memory_equal(w->data, "a\n", 2);
	STAILQ_REMOVE_HEAD(&q, entry);
	free(w);
	w = STAILQ_FIRST(&q);
	assert_int_equal(w->len, 3);
	assert_memory_equal(w->data, "bb\n", 3);
	STAILQ_REMOVE_HEAD(&q, entry);
	free(w);
	assert_true(STAILQ_EMPTY(&q));
}

static void
test_stopping_inside_the_callback_drops_the_input_once_it_returns(
    void **state)
{
	struct conn *c = start(state, 4096, 4096, 0);

	assert_int_equal(feed("on"), STREAM_OK);
	assert_non_null(c->s.rbuf);
	/* Framed out of the stream's own buffer, which the stop frees. */
	c->stop_at_bang = 1;
	assert_int_equal(feed("e\n!\nrest"), STREAM_OK);
	assert_int_equal(c->nin, 4);
	assert_string_equal(c->after_stop, "rest");
	assert_null(c->s.rbuf);
	assert_false(stream_framing(&c->s));
	assert_false(c->s.events & EPOLLIN);

	/* Not reading: a hang-up or an error is the only news. */
	assert_int_equal(feed("more\n"), STREAM_OK);
	assert_int_equal(c->calls, 2);
	assert_int_equal(stream_io(&c->s, EPOLLIN | EPOLLHUP), STREAM_EOF);
	assert_int_equal(stream_io(&c->s, EPOLLERR), STREAM_ERROR);
}

static void
test_a_callback_that_frees_the_stream_is_not_touched_again(void **state)
{
	struct conn *c = start(state, 4096, 4096, 0);

	c->free_in_frame = 1;
	assert_int_equal(feed("bye\n"), STREAM_GONE);
	assert_null(fx->c);
	fx->sp[0] = -1;			/* closed by the release */
}

static void
test_the_peers_end_comes_after_what_it_sent(void **state)
{
	struct conn *c = start(state, 4096, 4096, 0);

	peer_write("last\n");
	(void)close(fx->sp[1]);
	fx->sp[1] = -1;
	assert_int_equal(stream_io(&c->s, EPOLLIN | EPOLLHUP), STREAM_EOF);
	assert_int_equal(c->nin, 5);
	assert_memory_equal(c->in, "last\n", 5);
}

static void
test_writing_to_a_closed_peer_is_an_error_not_a_signal(void **state)
{
	struct conn *c = start(state, 4096, 4096, 0);

	(void)close(fx->sp[1]);
	fx->sp[1] = -1;
	assert_int_equal(stream_send(&c->s, "x\n", 2), STREAM_ERROR);
}

/* ---- a transport with `pending` and `wants` ---- */

/*
 * What a TLS transport does, made visible: input it already took off
 * the socket (`held`, handed out `chunk` bytes a read), a read that
 * waits for writability, a write that waits for input.
 */
static struct fake {
	char held[256];
	size_t nheld, off, chunk;
	int read_blocked;		/* read: EAGAIN until writable */
	int write_blocked;		/* write: EAGAIN until input comes */
	int read_waits, write_waits;	/* what the last read, write said */
	int reads, writes;		/* calls */
} fake;

static ssize_t
fake_read(struct stream *s, void *buf, size_t len)
{
	size_t n = fake.nheld - fake.off;

	fake.reads++;
	fake.read_waits = fake.read_blocked;
	if (fake.read_blocked) {
		errno = EAGAIN;
		return (-1);
	}
	if (n > 0) {
		n = n < fake.chunk ? n : fake.chunk;
		n = n < len ? n : len;
		memcpy(buf, fake.held + fake.off, n);
		fake.off += n;
		return ((ssize_t)n);
	}
	return (recv(s->fd, buf, len, MSG_DONTWAIT));
}

static ssize_t
fake_write(struct stream *s, const void *buf, size_t len)
{
	fake.writes++;
	fake.write_waits = fake.write_blocked;
	if (fake.write_blocked) {
		errno = EAGAIN;
		return (-1);
	}
	return (send(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL));
}

static int
fake_pending(const struct stream *s)
{
	(void)s;
	return (fake.off < fake.nheld);
}

static uint32_t
fake_wants(const struct stream *s)
{
	(void)s;
	return ((fake.read_waits ? EPOLLOUT : 0) |
	    (fake.write_waits ? EPOLLIN : 0));
}

static void
fake_shutdown(struct stream *s)
{
	stream_socket.shutdown(s);
}

static void
fake_close(struct stream *s)
{
	stream_socket.close(s);
}

static const struct stream_transport fake_transport = {
	.name = "fake",
	.read = fake_read,
	.write = fake_write,
	.shutdown = fake_shutdown,
	.close = fake_close,
	.pending = fake_pending,
	.wants = fake_wants,
};

/* `n` lines of "x\n" held by the transport, `chunk` bytes a read. */
static void
fake_hold(int n, size_t chunk)
{
	memset(&fake, 0, sizeof(fake));
	for (int i = 0; i < n; i++) {
		fake.held[fake.nheld++] = 'x';
		fake.held[fake.nheld++] = '\n';
	}
	fake.chunk = chunk;
}

static void
test_input_its_transport_holds_is_read_past_the_budget(void **state)
{
	struct conn *c;

	fake_hold(20, 2);		/* 20 reads, the socket empty */
	c = start_on(state, &fake_transport, 4096, 4096, 0);
	assert_int_equal(stream_io(&c->s, EPOLLIN), STREAM_OK);
	assert_int_equal(c->nin, 40);
	assert_int_equal(fake.off, fake.nheld);
	assert_int_equal(fake.reads, 20);
}

static void
on_io_stream(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	c->calls += 1000;		/* wakeups, apart from frames */
	assert_int_equal(stream_io(&c->s, events), STREAM_OK);
	loop_stop(loop);
}

static void
stop_loop(struct loop *loop, void *arg)
{
	(void)arg;
	loop_stop(loop);
}

static void
test_a_resumed_stream_is_called_again_for_what_its_transport_holds(
    void **state)
{
	struct fixture *f = *state;
	struct conn *c;

	fake_hold(3, 2);
	c = start_on(state, &fake_transport, 4096, 4096, 0);
	loop_del_fd(f->loop, c->s.fd);
	assert_int_equal(stream_watch(&c->s, on_io_stream, c), 0);
	c->pause_once = 1;
	assert_int_equal(stream_io(&c->s, EPOLLIN), STREAM_OK);
	assert_int_equal(c->nin, 2);
	assert_true(fake_pending(&c->s));

	/* Nothing on the socket: only the resume can bring the rest. */
	assert_int_equal(stream_resume(&c->s), STREAM_OK);
	assert_int_equal(c->nin, 2);
	assert_true(loop_after(f->loop, 1000, stop_loop, NULL) >= 0);
	assert_int_equal(loop_run(f->loop), 0);
	assert_true(c->calls >= 1000);
	assert_int_equal(c->nin, 6);
}

static void
test_a_read_waiting_for_writability_is_retried_when_writable(
    void **state)
{
	struct conn *c;

	fake_hold(0, 0);
	c = start_on(state, &fake_transport, 4096, 4096, 0);
	fake.read_blocked = 1;
	assert_int_equal(feed("one\n"), STREAM_OK);
	assert_int_equal(c->nin, 0);
	/* Nothing queued, yet it waits for EPOLLOUT, reading still. */
	assert_true(c->s.events & EPOLLOUT);
	assert_true(c->s.events & EPOLLIN);

	fake.read_blocked = 0;
	assert_int_equal(stream_io(&c->s, EPOLLOUT), STREAM_OK);
	assert_int_equal(c->nin, 4);
	assert_false(c->s.events & EPOLLOUT);
	/* A plain EPOLLOUT with nothing asked for it reads nothing. */
	peer_write("two\n");
	assert_int_equal(stream_io(&c->s, EPOLLOUT), STREAM_OK);
	assert_int_equal(c->nin, 4);
}

static void
test_a_write_waiting_for_input_waits_for_epollin_not_epollout(
    void **state)
{
	struct conn *c;
	char got[16];

	fake_hold(0, 0);
	c = start_on(state, &fake_transport, 4096, 4096, 0);
	fake.write_blocked = 1;
	assert_int_equal(stream_send(&c->s, "reply\n", 6), STREAM_OK);
	assert_int_equal(c->s.wq_bytes, 6);
	/* The socket is writable all along: EPOLLOUT would spin. */
	assert_false(c->s.events & EPOLLOUT);
	assert_true(c->s.events & EPOLLIN);
	/* Even once it reads nothing more. */
	assert_int_equal(stream_finish(&c->s), STREAM_OK);
	assert_int_equal(c->s.events, EPOLLIN);

	fake.write_blocked = 0;
	peer_write("in\n");
	assert_int_equal(stream_io(&c->s, EPOLLIN), STREAM_OK);
	assert_int_equal(c->s.wq_bytes, 0);
	assert_int_equal(peer_read(got, sizeof(got)), 6);
	assert_memory_equal(got, "reply\n", 6);
	assert_int_equal(peer_read(got, sizeof(got)), -1);	/* and FIN */
	assert_true(c->s.flags & STREAM_F_DRAINING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_stream_keeps_unsent_bytes_until_writable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_close_after_send_closes_once_queue_is_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_message_split_across_reads_is_framed_whole, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_an_idle_stream_holds_no_input_buffer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_paused_stream_reads_nothing_until_resumed_and_loses_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_input_past_its_limit_without_a_whole_unit_ends_the_stream,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_message_past_the_queue_limit_is_refused_whole, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_connecting_stream_queues_until_connected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_stream_that_never_connected_hands_over_its_messages_in_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stopping_inside_the_callback_drops_the_input_once_it_returns,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_callback_that_frees_the_stream_is_not_touched_again,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_the_peers_end_comes_after_what_it_sent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_writing_to_a_closed_peer_is_an_error_not_a_signal,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_input_its_transport_holds_is_read_past_the_budget,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_resumed_stream_is_called_again_for_what_its_transport_holds,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_read_waiting_for_writability_is_retried_when_writable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_write_waiting_for_input_waits_for_epollin_not_epollout,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
