/*
 * tls_test.c -- the TLS transport (common/tls_stream.c) and contexts
 * (common/tls_ctx.c) over real TCP loopback connections, the stream's
 * end driven by a real struct loop, the other end a plain OpenSSL
 * client (or a second stream, for the client side of the transport).
 *
 * The certificates are made here, with the OpenSSL API, into a temporary
 * directory (tls_certs.h): a root CA, an intermediate CA, a server
 * certificate for 127.0.0.1 signed by the intermediate (its file: leaf,
 * then the intermediate), one with thousands of names (a handshake bigger
 * than the socket's buffers), a client certificate from the root and one
 * self-signed.  All ECDSA P-256.  Clients trust the root only.
 *
 * Messages are framed as SIP without a body: a unit ends at CRLFCRLF.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "epsip/loop.h"
#include "epsip/stream.h"
#include "epsip/tls.h"
#include "tls_certs.h"

#define DEADLINE_MS	5000
#define BIG_REPLY	(4 * 1024 * 1024)
#define SMALL_BUF	8192		/* socket buffers of the big tests */

static const char REGISTER[] =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:alice@example.com>\r\n"
    "Call-ID: 1@127.0.0.1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:alice@127.0.0.1;transport=tls>;reg-id=1;"
    "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000000000001>\"\r\n"
    "Content-Length: 0\r\n\r\n";
static const char OK_200[] =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:alice@example.com>;tag=2\r\n"
    "Call-ID: 1@127.0.0.1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Content-Length: 0\r\n\r\n";

static const uint8_t secret_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t secret_b[32] = { 11, 12, 13, 14, 15, 16, 17, 18 };

/* ---- the stream's end ---- */

struct conn {
	struct stream s;
	char in[64 * 1024];		/* the units framed, in order */
	size_t nin;
	int units;
	int wakeups;			/* of its loop callback */
	int connecting;			/* a client stream's TCP connect */
	int pause_after_first;
	int ended;			/* stream_io said it is over */
	enum stream_result last;
	int last_errno;
	int saw_read_wait_out;		/* EPOLLOUT asked, nothing queued */
	uint32_t events_connected;	/* s.events after the first flush */
	uint32_t queued_connected;	/* s.wq_bytes then */
};

struct fixture {
	struct loop *loop;
	struct stream_class cls;
	int lfd;			/* listening on 127.0.0.1 */
	struct sockaddr_in addr;
	SSL_CTX *sctx;			/* the stream's, when a server */
	struct conn *srv;		/* the stream on the accepted socket */
	struct conn *cli;		/* a client stream, if any */
	/* The plain OpenSSL client: reads the socket, writes through a
	 * memory BIO so that what it sends leaves in one send(). */
	SSL_CTX *cctx;
	SSL *cssl;
	BIO *cout;
	int cfd;
};

static struct fixture *fx;

static ssize_t
frame_sip(struct stream *s, const char *buf, size_t len)
{
	struct conn *c = STREAM_OWNER(s, struct conn, s);
	const char *end;
	size_t off = 0, n;

	while (stream_framing(s) && off < len &&
	    (end = memmem(buf + off, len - off, "\r\n\r\n", 4)) != NULL) {
		n = (size_t)(end + 4 - (buf + off));
		assert_true(c->nin + n <= sizeof(c->in));
		memcpy(c->in + c->nin, buf + off, n);
		c->nin += n;
		c->units++;
		off += n;
		if (c->pause_after_first) {
			c->pause_after_first = 0;
			stream_pause(s);
		}
	}
	return ((ssize_t)off);
}

static void
count_nothing(struct stream *s, size_t n)
{
	(void)s;
	(void)n;
}

static void
on_io(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;
	enum stream_result r;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	(void)loop;
	c->wakeups++;
	if (c->ended) {
		return;
	}
	if (c->connecting) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
			return;
		}
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
		    &sl), 0);
		assert_int_equal(soerr, 0);
		c->connecting = 0;
		stream_connected(&c->s);
		r = stream_flush(&c->s);
		c->events_connected = c->s.events;
		c->queued_connected = c->s.wq_bytes;
	} else {
		r = stream_io(&c->s, events);
	}
	if ((c->s.events & EPOLLOUT) && STAILQ_EMPTY(&c->s.wq) &&
	    !c->connecting) {
		c->saw_read_wait_out = 1;
	}
	if (r != STREAM_OK) {
		c->ended = 1;
		c->last = r;
		c->last_errno = errno;
		/* Over: the loop stops reporting it (level-triggered). */
		loop_del_fd(fx->loop, c->s.fd);
	}
}

static void
stop(struct loop *loop, void *arg)
{
	(void)arg;
	loop_stop(loop);
}

/* One pass of the loop, waiting `ms` at most for something. */
static void
loop_once(unsigned ms)
{
	assert_true(loop_after(fx->loop, ms, stop, NULL) >= 0);
	assert_int_equal(loop_run(fx->loop), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	socklen_t sl = sizeof(f->addr);

	assert_non_null(f);
	assert_non_null(f->loop = loop_new());
	assert_int_equal(stream_class_init(&f->cls, f->loop, 64 * 1024,
	    2 * BIG_REPLY), 0);
	f->cls.frame = frame_sip;
	f->cls.did_read = count_nothing;
	f->cls.did_write = count_nothing;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	f->addr.sin_family = AF_INET;
	f->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&f->addr,
	    sizeof(f->addr)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&f->addr,
	    &sl), 0);
	f->cfd = -1;
	fx = f;
	*state = f;
	return (0);
}

static void
conn_free(struct conn *c)
{
	if (c != NULL) {
		stream_release(&c->s);
		free(c);
	}
}

static void
client_free(struct fixture *f)
{
	SSL_free(f->cssl);		/* and its BIOs */
	f->cssl = NULL;
	if (f->cfd != -1) {
		(void)close(f->cfd);
		f->cfd = -1;
	}
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	client_free(f);
	SSL_CTX_free(f->cctx);
	conn_free(f->srv);
	conn_free(f->cli);
	tls_ctx_free(f->sctx);
	(void)close(f->lfd);
	stream_class_free(&f->cls);
	loop_free(f->loop);
	free(f);
	fx = NULL;
	/* Nothing of one test's TLS is left for the next to trip on. */
	assert_int_equal(ERR_peek_error(), 0);
	return (0);
}

static SSL_CTX *
server_ctx(const char *cert, const char *ca, const uint8_t *secret)
{
	struct tls_settings ts = { cert, server_key, ca, secret, 32 };
	char err[256] = "";
	SSL_CTX *ctx = tls_server_ctx_new(&ts, err, sizeof(err));

	if (ctx == NULL) {
		fail_msg("tls_server_ctx_new: %s", err);
	}
	return (ctx);
}

/* A stream with the TLS transport on `fd`, watched by the loop. */
static struct conn *
stream_on(int fd, SSL_CTX *ctx, int server, const char *host,
    int connecting)
{
	struct conn *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	stream_init(&c->s, &fx->cls, &stream_tls, fd, connecting);
	c->connecting = connecting;
	assert_int_equal(tls_stream_start(&c->s, ctx, server, host), 0);
	assert_int_equal(stream_watch(&c->s, on_io, c), 0);
	return (c);
}

static void
set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void
small_buffers(int fd)
{
	int n = SMALL_BUF;

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n)),
	    0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n)),
	    0);
}

/* A client context trusting the root only, at most `max` TLS. */
static SSL_CTX *
client_ctx(int max)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, root_pem, NULL),
	    1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (max != 0) {
		assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max), 1);
	}
	return (ctx);
}

/*
 * The plain OpenSSL client connects (small socket buffers when `small`),
 * and the server stream starts on the accepted socket.
 */
static void
connect_client(SSL_CTX *sctx, int small)
{
	struct fixture *f = fx;
	BIO *in;
	int sfd;

	f->cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->cfd >= 0);
	if (small) {
		small_buffers(f->cfd);
	}
	assert_int_equal(connect(f->cfd, (struct sockaddr *)&f->addr,
	    sizeof(f->addr)), 0);
	set_nonblocking(f->cfd);
	sfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(sfd >= 0);
	if (small) {
		small_buffers(sfd);
	}
	f->srv = stream_on(sfd, sctx, 1, NULL, 0);

	assert_non_null(f->cssl = SSL_new(f->cctx));
	assert_non_null(in = BIO_new_socket(f->cfd, BIO_NOCLOSE));
	assert_non_null(f->cout = BIO_new(BIO_s_mem()));
	SSL_set_bio(f->cssl, in, f->cout);
	SSL_set_connect_state(f->cssl);
	assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(
	    SSL_get0_param(f->cssl), "127.0.0.1"), 1);
}

/* Send what the client's SSL wrote, in as few send()s as it takes. */
static void
client_flush(void)
{
	char buf[16384];
	int n;
	ssize_t w;

	while ((n = BIO_read(fx->cout, buf, sizeof(buf))) > 0) {
		for (int off = 0; off < n; off += (int)w) {
			w = send(fx->cfd, buf + off, (size_t)(n - off),
			    MSG_NOSIGNAL);
			if (w == -1) {
				assert_int_equal(errno, EAGAIN);
				loop_once(1);
				w = 0;
			}
		}
	}
}

/* An OpenSSL call on the client wants to go on later: 1, else 0. */
static int
client_retry(int ret)
{
	int e = SSL_get_error(fx->cssl, ret);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		return (1);
	}
	fail_msg("client: SSL error %d: %s", e,
	    ERR_reason_error_string(ERR_peek_last_error()));
	return (0);
}

static uint64_t
deadline(void)
{
	return (monotonic_ms() + DEADLINE_MS);
}

/* Both ends through the handshake: the stream's too. */
static void
handshake(void)
{
	uint64_t until = deadline();
	int ret;

	assert_string_equal(tls_stream_version(&fx->srv->s), "");
	assert_false(tls_stream_handshake_done(&fx->srv->s));
	for (;;) {
		ret = SSL_do_handshake(fx->cssl);
		client_flush();
		if (ret == 1 && tls_stream_handshake_done(&fx->srv->s)) {
			break;
		}
		if (ret != 1) {
			(void)client_retry(ret);
		}
		assert_false(fx->srv->ended);
		assert_true(monotonic_ms() < until);
		loop_once(1);
	}
}

static void
client_write(const void *buf, size_t len)
{
	size_t n;
	int ret;

	while (len > 0) {
		if ((ret = SSL_write_ex(fx->cssl, buf, len, &n)) == 1) {
			buf = (const char *)buf + n;
			len -= n;
		} else {
			(void)client_retry(ret);
		}
		client_flush();
	}
}

/* Read `want` bytes, the loop running meanwhile. */
static void
client_read(char *buf, size_t want)
{
	uint64_t until = deadline();
	size_t got = 0, n;
	int ret;

	while (got < want) {
		ret = SSL_read_ex(fx->cssl, buf + got, want - got, &n);
		client_flush();
		if (ret == 1) {
			got += n;
			continue;
		}
		(void)client_retry(ret);
		assert_true(monotonic_ms() < until);
		loop_once(1);
	}
}

/* Every byte sent has arrived in the stream's socket. */
static void
wait_arrived(int fd, int bytes)
{
	uint64_t until = deadline();
	int avail = 0;

	for (;;) {
		assert_int_equal(ioctl(fd, FIONREAD, &avail), 0);
		if (avail >= bytes) {
			break;
		}
		assert_true(monotonic_ms() < until);
		(void)poll(NULL, 0, 1);
	}
	assert_int_equal(avail, bytes);
}

/* Run the loop until the client stream ended, or a unit came. */
static void
run_until(const int *flag)
{
	uint64_t until = deadline();

	while (!*flag) {
		assert_true(monotonic_ms() < until);
		loop_once(1);
	}
}

/* ---- tests ---- */

static void
test_a_sip_message_goes_both_ways_after_the_handshake(void **state)
{
	struct fixture *f = *state;
	char got[sizeof(OK_200)];

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 0);
	handshake();
	assert_string_equal(tls_stream_version(&f->srv->s), "TLSv1.3");
	assert_int_equal(tls_stream_resumed(&f->srv->s), 0);

	client_write(REGISTER, strlen(REGISTER));
	while (f->srv->units == 0) {
		assert_false(f->srv->ended);
		loop_once(1);
	}
	assert_int_equal(f->srv->units, 1);
	assert_int_equal(f->srv->nin, strlen(REGISTER));
	assert_memory_equal(f->srv->in, REGISTER, strlen(REGISTER));

	assert_int_equal(stream_send(&f->srv->s, OK_200, strlen(OK_200)),
	    STREAM_OK);
	assert_int_equal(f->srv->s.wq_bytes, 0);
	client_read(got, strlen(OK_200));
	assert_memory_equal(got, OK_200, strlen(OK_200));
	assert_string_equal(tls_stream_error(&f->srv->s), "");
}

static void
test_two_records_in_one_read_are_both_framed_in_one_wakeup(void **state)
{
	struct fixture *f = *state;
	int wakeups, sent;

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 0);
	handshake();
	loop_once(0);			/* nothing is left to read */
	wakeups = f->srv->wakeups;

	/* Two records, in the memory BIO, then one send(). */
	assert_int_equal(SSL_write(f->cssl, REGISTER, strlen(REGISTER)),
	    (int)strlen(REGISTER));
	assert_int_equal(SSL_write(f->cssl, REGISTER, strlen(REGISTER)),
	    (int)strlen(REGISTER));
	sent = (int)BIO_pending(f->cout);
	assert_true(sent > 2 * (int)strlen(REGISTER));
	client_flush();
	wait_arrived(f->srv->s.fd, sent);

	loop_once(0);
	assert_int_equal(f->srv->wakeups, wakeups + 1);
	assert_int_equal(f->srv->units, 2);
	assert_int_equal(f->srv->nin, 2 * strlen(REGISTER));
}

/*
 * One record holds 20 messages; the stream reads 512 bytes at a time, so
 * its 8 reads per wakeup leave most of the record in OpenSSL, which epoll
 * never reports: `pending` must make the stream read on.
 */
static void
test_a_record_longer_than_the_reads_of_a_wakeup_is_framed_whole(
    void **state)
{
	struct fixture *f = *state;
	size_t len = strlen(REGISTER);
	char *many = malloc(20 * len);
	int wakeups, avail = -1;

	assert_non_null(many);
	stream_class_free(&f->cls);
	assert_int_equal(stream_class_init(&f->cls, f->loop, 512, 4096), 0);
	f->cls.frame = frame_sip;
	f->cls.did_read = count_nothing;
	f->cls.did_write = count_nothing;
	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 0);
	handshake();
	loop_once(0);
	wakeups = f->srv->wakeups;

	for (int i = 0; i < 20; i++) {
		memcpy(many + (size_t)i * len, REGISTER, len);
	}
	assert_true(20 * len > 8 * 512);
	assert_true(20 * len < 16384);		/* one record */
	client_write(many, 20 * len);
	wait_arrived(f->srv->s.fd, (int)(20 * len) + 22);

	loop_once(0);
	assert_int_equal(f->srv->wakeups, wakeups + 1);
	assert_int_equal(f->srv->units, 20);
	assert_int_equal(ioctl(f->srv->s.fd, FIONREAD, &avail), 0);
	assert_int_equal(avail, 0);
	free(many);
}

/*
 * Paused after the first message with the rest of the record still in
 * OpenSSL: resuming has the loop call the stream again, since epoll
 * will not.
 */
static void
test_a_resumed_stream_frames_what_its_transport_held(void **state)
{
	struct fixture *f = *state;
	size_t len = strlen(REGISTER);
	char many[4 * sizeof(REGISTER)];
	int wakeups;

	stream_class_free(&f->cls);
	assert_int_equal(stream_class_init(&f->cls, f->loop, 512, 4096), 0);
	f->cls.frame = frame_sip;
	f->cls.did_read = count_nothing;
	f->cls.did_write = count_nothing;
	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 0);
	handshake();
	loop_once(0);

	for (int i = 0; i < 4; i++) {
		memcpy(many + (size_t)i * len, REGISTER, len);
	}
	f->srv->pause_after_first = 1;
	client_write(many, 4 * len);
	wait_arrived(f->srv->s.fd, (int)(4 * len) + 22);
	loop_once(0);
	assert_int_equal(f->srv->units, 1);
	assert_true(f->srv->s.flags & STREAM_F_PAUSED);
	loop_once(0);
	assert_int_equal(f->srv->units, 1);	/* paused: nothing read */

	wakeups = f->srv->wakeups;
	assert_int_equal(stream_resume(&f->srv->s), STREAM_OK);
	loop_once(0);
	assert_int_equal(f->srv->wakeups, wakeups + 1);
	assert_int_equal(f->srv->units, 4);
	assert_false(f->srv->ended);
}

static void
test_a_large_reply_waits_in_the_queue_until_writable(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(BIG_REPLY), *got = malloc(BIG_REPLY);

	assert_non_null(big);
	assert_non_null(got);
	for (size_t i = 0; i < BIG_REPLY; i++) {
		big[i] = (char)('a' + i % 23);
	}
	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 1);
	handshake();

	assert_int_equal(stream_send(&f->srv->s, big, BIG_REPLY), STREAM_OK);
	assert_true(f->srv->s.wq_bytes > 0);
	assert_true(f->srv->s.events & EPOLLOUT);
	client_read(got, BIG_REPLY);
	assert_memory_equal(got, big, BIG_REPLY);
	loop_once(0);
	assert_int_equal(f->srv->s.wq_bytes, 0);
	assert_false(f->srv->s.events & EPOLLOUT);
	assert_false(f->srv->ended);
	free(big);
	free(got);
}

static void
test_finishing_sends_close_notify_then_fin(void **state)
{
	struct fixture *f = *state;
	char got[sizeof(OK_200)], byte;
	size_t n;
	int ret;

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 0);
	handshake();
	assert_int_equal(stream_send(&f->srv->s, OK_200, strlen(OK_200)),
	    STREAM_OK);
	assert_int_equal(stream_finish(&f->srv->s), STREAM_OK);
	assert_true(f->srv->s.flags & STREAM_F_DRAINING);

	client_read(got, strlen(OK_200));
	assert_memory_equal(got, OK_200, strlen(OK_200));
	ret = SSL_read_ex(f->cssl, got, sizeof(got), &n);
	assert_int_equal(ret, 0);
	assert_int_equal(SSL_get_error(f->cssl, ret), SSL_ERROR_ZERO_RETURN);
	assert_true(SSL_get_shutdown(f->cssl) & SSL_RECEIVED_SHUTDOWN);
	assert_int_equal(recv(f->cfd, &byte, 1, 0), 0);	/* then FIN */

	/* Our close_notify back, then our end: the stream's is over. */
	assert_int_equal(SSL_shutdown(f->cssl), 1);
	client_flush();
	(void)shutdown(f->cfd, SHUT_WR);
	run_until(&f->srv->ended);
	assert_int_equal(f->srv->last, STREAM_EOF);
}

static void
test_a_peer_gone_without_close_notify_is_an_end_not_an_error(
    void **state)
{
	struct fixture *f = *state;
	char buf[4096];

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 0);
	handshake();
	/* What came (the tickets) is read first: unread, the close would
	 * be a RST. */
	loop_once(0);
	while (recv(f->cfd, buf, sizeof(buf), 0) > 0) {
		continue;
	}
	(void)close(f->cfd);
	f->cfd = -1;
	run_until(&f->srv->ended);
	assert_int_equal(f->srv->last, STREAM_EOF);
}

static void
test_the_whole_chain_is_sent(void **state)
{
	struct fixture *f = *state;

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);	/* trusts the root, not the
					 * intermediate */
	connect_client(f->sctx, 0);
	handshake();
	assert_int_equal(SSL_get_verify_result(f->cssl), X509_V_OK);
	assert_int_equal(sk_X509_num(SSL_get_peer_cert_chain(f->cssl)), 2);
}

/* Connect, handshake, and take a session (1.3: its ticket comes after). */
static SSL_SESSION *
session_from(SSL_CTX *sctx, int max, SSL_SESSION *resume)
{
	struct fixture *f = fx;
	uint64_t until = deadline();
	SSL_SESSION *sess;
	char byte;
	size_t n;
	int ret;

	if (f->cctx == NULL) {
		f->cctx = client_ctx(max);
	}
	connect_client(sctx, 0);
	if (resume != NULL) {
		assert_int_equal(SSL_set_session(f->cssl, resume), 1);
	}
	handshake();
	for (;;) {
		sess = SSL_get1_session(f->cssl);
		if (sess != NULL && SSL_SESSION_is_resumable(sess)) {
			break;
		}
		SSL_SESSION_free(sess);
		ret = SSL_read_ex(f->cssl, &byte, 1, &n);
		assert_int_equal(ret, 0);
		(void)client_retry(ret);
		assert_true(monotonic_ms() < until);
		loop_once(1);
	}
	return (sess);
}

/*
 * A new connection, the client and stream of the last one closed.  The
 * client says close_notify first: an SSL freed without one marks its
 * session not resumable (OpenSSL's ssl_clear_bad_session()).
 */
static void
reconnect_reset(void)
{
	(void)SSL_shutdown(fx->cssl);
	ERR_clear_error();
	client_flush();
	client_free(fx);
	conn_free(fx->srv);
	fx->srv = NULL;
}

static void
check_tickets_resume_across_contexts(int max, const char *version)
{
	struct fixture *f = fx;
	SSL_CTX *same, *other;
	SSL_SESSION *sess, *again;

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	sess = session_from(f->sctx, max, NULL);
	assert_string_equal(tls_stream_version(&f->srv->s), version);
	assert_int_equal(tls_stream_resumed(&f->srv->s), 0);
	reconnect_reset();

	/* Another context, as another child or a restart would build. */
	same = server_ctx(server_pem, NULL, secret_a);
	again = session_from(same, max, sess);
	assert_int_equal(SSL_session_reused(f->cssl), 1);
	assert_int_equal(tls_stream_resumed(&f->srv->s), 1);
	assert_string_equal(tls_stream_version(&f->srv->s), version);
	SSL_SESSION_free(again);
	reconnect_reset();
	tls_ctx_free(same);

	/* Another secret: a full handshake. */
	other = server_ctx(server_pem, NULL, secret_b);
	again = session_from(other, max, sess);
	assert_int_equal(SSL_session_reused(f->cssl), 0);
	assert_int_equal(tls_stream_resumed(&f->srv->s), 0);
	SSL_SESSION_free(again);
	reconnect_reset();
	tls_ctx_free(other);
	SSL_SESSION_free(sess);
}

static void
test_a_ticket_resumes_on_another_context_of_the_same_secret_tls13(
    void **state)
{
	(void)state;
	check_tickets_resume_across_contexts(0, "TLSv1.3");
}

static void
test_a_ticket_resumes_on_another_context_of_the_same_secret_tls12(
    void **state)
{
	(void)state;
	check_tickets_resume_across_contexts(TLS1_2_VERSION, "TLSv1.2");
}

/* The client was asked for a certificate. */
static int asked_for_cert;

static int
note_cert_request(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	(void)ssl;
	(void)x509;
	(void)pkey;
	asked_for_cert = 1;
	return (0);			/* none sent */
}

static void
test_a_client_certificate_is_asked_for_only_with_a_ca_file(void **state)
{
	struct fixture *f = *state;

	/* No tls-ca: not asked. */
	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	SSL_CTX_set_client_cert_cb(f->cctx, note_cert_request);
	asked_for_cert = 0;
	connect_client(f->sctx, 0);
	handshake();
	assert_int_equal(asked_for_cert, 0);
	reconnect_reset();
	tls_ctx_free(f->sctx);

	/* tls-ca: asked, and a phone without one is served all the same. */
	f->sctx = server_ctx(server_pem, root_pem, secret_a);
	connect_client(f->sctx, 0);
	handshake();
	assert_int_equal(asked_for_cert, 1);
	assert_null(SSL_get0_peer_certificate(tls_stream_ssl(&f->srv->s)));
	reconnect_reset();
}

/* A client certificate of this file and key, on the next connections. */
static void
client_cert(const char *cert, const char *key)
{
	assert_int_equal(SSL_CTX_use_certificate_file(fx->cctx, cert,
	    SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(fx->cctx, key,
	    SSL_FILETYPE_PEM), 1);
}

static void
test_a_client_certificate_must_chain_to_tls_ca(void **state)
{
	struct fixture *f = *state;
	uint64_t until;
	int ret;

	f->sctx = server_ctx(server_pem, root_pem, secret_a);
	f->cctx = client_ctx(0);
	client_cert(client_pem, client_key);
	connect_client(f->sctx, 0);
	handshake();
	assert_non_null(SSL_get0_peer_certificate(tls_stream_ssl(
	    &f->srv->s)));
	assert_int_equal(SSL_get_verify_result(tls_stream_ssl(&f->srv->s)),
	    X509_V_OK);
	reconnect_reset();

	/* A certificate from nowhere: the stream's read fails, says why. */
	SSL_CTX_free(f->cctx);
	f->cctx = client_ctx(0);
	client_cert(rogue_pem, rogue_key);
	connect_client(f->sctx, 0);
	until = deadline();
	while (!f->srv->ended) {
		ret = SSL_do_handshake(f->cssl);
		client_flush();
		ERR_clear_error();
		(void)ret;
		assert_true(monotonic_ms() < until);
		loop_once(1);
	}
	assert_int_equal(f->srv->last, STREAM_ERROR);
	assert_int_equal(f->srv->last_errno, EPROTO);
	assert_string_not_equal(tls_stream_error(&f->srv->s), "");
	print_message("rogue client certificate: %s\n",
	    tls_stream_error(&f->srv->s));
}

static void
test_garbage_instead_of_a_client_hello_is_an_error(void **state)
{
	struct fixture *f = *state;

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 0);
	assert_int_equal(send(f->cfd, REGISTER, strlen(REGISTER), 0),
	    (ssize_t)strlen(REGISTER));
	run_until(&f->srv->ended);
	assert_int_equal(f->srv->last, STREAM_ERROR);
	assert_int_equal(f->srv->last_errno, EPROTO);
	assert_string_not_equal(tls_stream_error(&f->srv->s), "");
	assert_int_equal(ERR_peek_error(), 0);
	assert_int_equal(f->srv->units, 0);
}

/* A handshake bigger than both sockets' buffers: the stream's read must
 * wait for EPOLLOUT and be retried on it, or the handshake stalls. */
static void
test_a_handshake_bigger_than_the_socket_waits_for_writability(
    void **state)
{
	struct fixture *f = *state;

	f->sctx = server_ctx(big_pem, NULL, secret_a);
	f->cctx = client_ctx(0);
	connect_client(f->sctx, 1);
	handshake();
	assert_true(f->srv->saw_read_wait_out);
	assert_false(f->srv->s.events & EPOLLOUT);
	assert_int_equal(SSL_get_verify_result(f->cssl), X509_V_OK);
}

/* ---- the client side of the transport: a stream to a stream ---- */

/* A client stream connecting to the listener, and the server stream. */
static void
connect_streams(SSL_CTX *cctx, const char *host)
{
	struct fixture *f = fx;
	uint64_t until = deadline();
	int fd, sfd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_true(connect(fd, (struct sockaddr *)&f->addr,
	    sizeof(f->addr)) == 0 || errno == EINPROGRESS);
	f->cli = stream_on(fd, cctx, 0, host, 1);
	while ((sfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1) {
		assert_int_equal(errno, EAGAIN);
		assert_true(monotonic_ms() < until);
		(void)poll(NULL, 0, 1);
	}
	f->srv = stream_on(sfd, f->sctx, 1, NULL, 0);
}

static SSL_CTX *
our_client_ctx(void)
{
	char err[256] = "";
	SSL_CTX *ctx = tls_client_ctx_new(root_pem, err, sizeof(err));

	if (ctx == NULL) {
		fail_msg("tls_client_ctx_new: %s", err);
	}
	return (ctx);
}

static void
test_a_client_stream_sends_once_its_handshake_is_done(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx = our_client_ctx();

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	connect_streams(cctx, "127.0.0.1");
	tls_ctx_free(cctx);		/* the connection keeps it */
	assert_int_equal(stream_send(&f->cli->s, REGISTER, strlen(REGISTER)),
	    STREAM_OK);
	assert_true(f->cli->s.wq_bytes > 0);	/* not connected yet */

	/* Connected: the first write sends the ClientHello and then waits
	 * for the server's answer, on EPOLLIN, not on EPOLLOUT (the socket
	 * is writable: waiting for that would spin). */
	run_until(&f->srv->units);
	assert_true(f->cli->queued_connected > 0);
	assert_true(f->cli->events_connected & EPOLLIN);
	assert_false(f->cli->events_connected & EPOLLOUT);
	assert_memory_equal(f->srv->in, REGISTER, strlen(REGISTER));
	assert_int_equal(f->cli->s.wq_bytes, 0);
	assert_string_equal(tls_stream_version(&f->cli->s), "TLSv1.3");

	assert_int_equal(stream_send(&f->srv->s, OK_200, strlen(OK_200)),
	    STREAM_OK);
	run_until(&f->cli->units);
	assert_memory_equal(f->cli->in, OK_200, strlen(OK_200));
	assert_false(f->cli->ended);
	assert_false(f->srv->ended);
	/* A handful of wakeups, not a spin. */
	assert_true(f->cli->wakeups < 20);
}

static void
check_client_refuses(const char *host)
{
	struct fixture *f = fx;
	SSL_CTX *cctx = our_client_ctx();

	f->sctx = server_ctx(server_pem, NULL, secret_a);
	connect_streams(cctx, host);
	tls_ctx_free(cctx);
	assert_int_equal(stream_send(&f->cli->s, REGISTER, strlen(REGISTER)),
	    STREAM_OK);
	run_until(&f->cli->ended);
	assert_int_equal(f->cli->last, STREAM_ERROR);
	assert_int_equal(f->cli->last_errno, EPROTO);
	print_message("%s: %s\n", host, tls_stream_error(&f->cli->s));
	assert_non_null(strstr(tls_stream_error(&f->cli->s), "mismatch"));
	assert_int_equal(f->srv->units, 0);
}

static void
test_a_client_stream_refuses_a_server_of_another_address(void **state)
{
	(void)state;
	check_client_refuses("192.0.2.7");
}

static void
test_a_client_stream_refuses_a_server_of_another_name(void **state)
{
	(void)state;
	check_client_refuses("sip.example.com");
}

/* ---- contexts ---- */

static void
expect_server_error(const char *cert, const char *key, const char *ca,
    const char *want1, const char *want2)
{
	struct tls_settings ts = { cert, key, ca, secret_a, 32 };
	char err[512] = "";
	SSL_CTX *ctx = tls_server_ctx_new(&ts, err, sizeof(err));

	assert_null(ctx);
	print_message("%s\n", err);
	assert_non_null(strstr(err, want1));
	assert_non_null(strstr(err, want2));
	assert_null(strchr(err, '\n'));
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_bad_files_are_one_line_errors_naming_the_key(void **state)
{
	char err[512] = "";

	(void)state;
	expect_server_error(missing_pem, server_key, NULL, "tls-cert ",
	    "missing.pem: No such file");
	expect_server_error(garbage_pem, server_key, NULL, "tls-cert ",
	    "garbage.pem: not a PEM certificate");
	expect_server_error(server_pem, missing_pem, NULL, "tls-key ",
	    "missing.pem: No such file");
	expect_server_error(server_pem, garbage_pem, NULL, "tls-key ",
	    "garbage.pem: no unencrypted PEM private key");
	/* Never a passphrase prompt: a daemon has no terminal. */
	expect_server_error(server_pem, locked_key, NULL, "tls-key ",
	    "locked.key: no unencrypted PEM private key");
	expect_server_error(server_pem, client_key, NULL, "tls-key ",
	    "client.key: does not match tls-cert");
	expect_server_error(server_pem, server_key, missing_pem, "tls-ca ",
	    "missing.pem: No such file");
	expect_server_error(server_pem, server_key, garbage_pem, "tls-ca ",
	    "garbage.pem: no PEM CA certificate");
	/* The key in tls-cert's own file when tls-key is not set. */
	expect_server_error(server_pem, NULL, NULL, "tls-key ",
	    "server.pem: no unencrypted PEM private key");

	assert_null(tls_client_ctx_new(missing_pem, err, sizeof(err)));
	assert_non_null(strstr(err, "tls-ca "));
	assert_non_null(strstr(err, "missing.pem: No such file"));
	assert_null(tls_client_ctx_new(garbage_pem, err, sizeof(err)));
	assert_non_null(strstr(err, "garbage.pem: no PEM CA certificate"));
	assert_int_equal(ERR_peek_error(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_a_sip_message_goes_both_ways_after_the_handshake,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_two_records_in_one_read_are_both_framed_in_one_wakeup,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_record_longer_than_the_reads_of_a_wakeup_is_framed_whole,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_resumed_stream_frames_what_its_transport_held,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_large_reply_waits_in_the_queue_until_writable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_finishing_sends_close_notify_then_fin, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_peer_gone_without_close_notify_is_an_end_not_an_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_whole_chain_is_sent,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_ticket_resumes_on_another_context_of_the_same_secret_tls13,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_ticket_resumes_on_another_context_of_the_same_secret_tls12,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_client_certificate_is_asked_for_only_with_a_ca_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_client_certificate_must_chain_to_tls_ca, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_garbage_instead_of_a_client_hello_is_an_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_handshake_bigger_than_the_socket_waits_for_writability,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_client_stream_sends_once_its_handshake_is_done,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_client_stream_refuses_a_server_of_another_address,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_client_stream_refuses_a_server_of_another_name,
		    setup, teardown),
		cmocka_unit_test(
		    test_bad_files_are_one_line_errors_naming_the_key),
	};

	/* The plain client writes with write(2) (OpenSSL's socket BIO). */
	signal(SIGPIPE, SIG_IGN);
	return (cmocka_run_group_tests(tests, tls_certs_make,
	    tls_certs_remove));
}
