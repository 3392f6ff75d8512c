/*
 * tls_stream.c -- `stream_tls`, the TLS transport of stream.h (see
 * tls.h): OpenSSL 3 on a non-blocking socket, under the stream's framing.
 *
 * OpenSSL's answers map onto the stream's recv/send contract:
 *   WANT_READ, WANT_WRITE     -1/EAGAIN, and which readiness the read or
 *                             write now waits for is kept for `wants`: a
 *                             read that must write (handshake, tickets,
 *                             a KeyUpdate answer) waits for EPOLLOUT, a
 *                             write that must read (the peer's handshake)
 *                             for EPOLLIN;
 *   ZERO_RETURN               0: the peer's close_notify;
 *   SYSCALL, errno 0, or an   0 as well: the peer closed without
 *   unexpected EOF            close_notify, as phones do; SIP's framing
 *                             notices a message cut short;
 *   SYSCALL, errno set        -1 and that errno (ECONNRESET, EPIPE);
 *   anything else             -1/EPROTO, the reason kept for
 *                             tls_stream_error().
 * The thread's error queue is emptied before each call (SSL_get_error()
 * reads it) and after each failure, so a failure never shows on another
 * connection.  After a fatal error no close_notify is sent (OpenSSL
 * forbids SSL_shutdown() then).
 *
 * The socket is reached through a BIO of our own doing recv/send with
 * MSG_DONTWAIT and MSG_NOSIGNAL, as stream_socket does: OpenSSL's socket
 * BIO does read/write, which would block on a blocking descriptor and
 * raise SIGPIPE on a closed one.
 *
 * DIAGNOSTICS: none; errors are returned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "epsip/tls.h"

/* What a connection's last read and write wait for, and its end. */
#define TLS_READ_WANTS_OUT	0x01	/* SSL_read: WANT_WRITE */
#define TLS_WRITE_WANTS_IN	0x02	/* SSL_write: WANT_READ */
#define TLS_FAILED		0x04	/* fatal error: no close_notify */

/* s->tr_state. */
struct tls_conn {
	SSL *ssl;
	const char *why;		/* the last failure, static */
	uint8_t state;
};

/* ---- the socket, as OpenSSL sees it ---- */

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

static int
tls_bio_fd(BIO *b)
{
	return ((int)(intptr_t)BIO_get_data(b));
}

/* A retry, not an error: OpenSSL then says WANT_READ or WANT_WRITE. */
static int
tls_bio_again(void)
{
	return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

static int
tls_bio_read(BIO *b, char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = recv(tls_bio_fd(b), buf, (size_t)len, MSG_DONTWAIT);
	if (n == -1 && tls_bio_again()) {
		BIO_set_retry_read(b);
	}
	return ((int)n);
}

static int
tls_bio_write(BIO *b, const char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send(tls_bio_fd(b), buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == -1 && tls_bio_again()) {
		BIO_set_retry_write(b);
	}
	return ((int)n);
}

static long
tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	/* Nothing is buffered here: a flush is done at once.  Everything
	 * else (kTLS, EOF, pending) is "no". */
	return (cmd == BIO_CTRL_FLUSH ? 1 : 0);
}

static int
tls_bio_create(BIO *b)
{
	BIO_set_data(b, (void *)(intptr_t)-1);
	return (1);
}

/* The descriptor is the stream's, closed by tls_close(). */
static int
tls_bio_destroy(BIO *b)
{
	(void)b;
	return (1);
}

static void
tls_bio_method_new(void)
{
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "epsip stream socket");
	if (m == NULL || BIO_meth_set_read(m, tls_bio_read) != 1 ||
	    BIO_meth_set_write(m, tls_bio_write) != 1 ||
	    BIO_meth_set_ctrl(m, tls_bio_ctrl) != 1 ||
	    BIO_meth_set_create(m, tls_bio_create) != 1 ||
	    BIO_meth_set_destroy(m, tls_bio_destroy) != 1) {
		BIO_meth_free(m);
		return;
	}
	tls_bio_method = m;
}

static BIO *
tls_bio_new(int fd)
{
	BIO *b;

	(void)pthread_once(&tls_bio_once, tls_bio_method_new);
	if (tls_bio_method == NULL || (b = BIO_new(tls_bio_method)) == NULL) {
		return (NULL);
	}
	BIO_set_data(b, (void *)(intptr_t)fd);
	BIO_set_init(b, 1);
	return (b);
}

/* ---- errors ---- */

/* A fatal TLS error: remember why, empty the queue, EPROTO. */
static ssize_t
tls_fail(struct tls_conn *t)
{
	unsigned long e = ERR_peek_last_error();
	long verify;

	t->state |= TLS_FAILED;
	t->why = NULL;
	if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
	    (verify = SSL_get_verify_result(t->ssl)) != X509_V_OK) {
		t->why = X509_verify_cert_error_string(verify);
	} else if (e != 0) {
		t->why = ERR_reason_error_string(e);
	}
	if (t->why == NULL) {
		t->why = "TLS error";
	}
	ERR_clear_error();
	errno = EPROTO;
	return (-1);
}

/* The peer is gone: its end without close_notify, or the socket's error. */
static ssize_t
tls_gone(struct tls_conn *t, int saved, int eof)
{
	t->state |= TLS_FAILED;
	ERR_clear_error();
	if (saved == 0 || saved == EAGAIN || saved == EINTR) {
		if (eof) {
			return (0);
		}
		saved = EPIPE;
	}
	errno = saved;
	return (-1);
}

/* Ended without close_notify: OpenSSL 3 says so as an SSL error. */
static int
tls_unexpected_eof(void)
{
	unsigned long e = ERR_peek_last_error();

	return (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
}

/* ---- the transport ---- */

static ssize_t
tls_read(struct stream *s, void *buf, size_t len)
{
	struct tls_conn *t = s->tr_state;
	size_t n = 0;
	int ret, saved;

	if (t == NULL) {
		errno = ENOTCONN;
		return (-1);
	}
	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(t->ssl, buf, len, &n);
	saved = errno;
	t->state &= ~TLS_READ_WANTS_OUT;
	if (SSL_is_init_finished(t->ssl)) {
		/* The handshake a write waited for is over. */
		t->state &= ~TLS_WRITE_WANTS_IN;
	}
	if (ret == 1) {
		return ((ssize_t)n);
	}
	switch (SSL_get_error(t->ssl, ret)) {
	case SSL_ERROR_WANT_WRITE:
		t->state |= TLS_READ_WANTS_OUT;
		/* FALLTHROUGH */
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return (-1);
	case SSL_ERROR_ZERO_RETURN:
		return (0);
	case SSL_ERROR_SYSCALL:
		return (tls_gone(t, saved, 1));
	case SSL_ERROR_SSL:
		if (tls_unexpected_eof()) {
			return (tls_gone(t, 0, 1));
		}
		/* FALLTHROUGH */
	default:
		return (tls_fail(t));
	}
}

static ssize_t
tls_write(struct stream *s, const void *buf, size_t len)
{
	struct tls_conn *t = s->tr_state;
	size_t n = 0;
	int ret, saved;

	if (t == NULL) {
		errno = ENOTCONN;
		return (-1);
	}
	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(t->ssl, buf, len, &n);
	saved = errno;
	t->state &= ~TLS_WRITE_WANTS_IN;
	if (ret == 1) {
		return ((ssize_t)n);
	}
	switch (SSL_get_error(t->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		t->state |= TLS_WRITE_WANTS_IN;
		/* FALLTHROUGH */
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return (-1);
	case SSL_ERROR_ZERO_RETURN:
		/* The peer's close_notify: nothing more will be read. */
		ERR_clear_error();
		errno = EPIPE;
		return (-1);
	case SSL_ERROR_SYSCALL:
		return (tls_gone(t, saved, 0));
	case SSL_ERROR_SSL:
		if (tls_unexpected_eof()) {
			return (tls_gone(t, EPIPE, 0));
		}
		/* FALLTHROUGH */
	default:
		return (tls_fail(t));
	}
}

/*
 * Our close_notify, once: the stream calls this when its queue is out,
 * then reads until the peer's end.  A close_notify the socket does not
 * take now is not retried: the FIN follows, and the peer reads it as an
 * end without close_notify, which SIP survives.
 */
static void
tls_shutdown(struct stream *s)
{
	struct tls_conn *t = s->tr_state;

	if (t != NULL && !(t->state & TLS_FAILED) &&
	    SSL_is_init_finished(t->ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
	(void)shutdown(s->fd, SHUT_WR);
}

static void
tls_close(struct stream *s)
{
	struct tls_conn *t = s->tr_state;

	if (t != NULL) {
		SSL_free(t->ssl);
		free(t);
		s->tr_state = NULL;
	}
	(void)close(s->fd);
}

/* The rest of a record (no read-ahead: never more, tls_ctx.c). */
static int
tls_pending(const struct stream *s)
{
	const struct tls_conn *t = s->tr_state;

	return (t != NULL && SSL_has_pending(t->ssl));
}

static uint32_t
tls_wants(const struct stream *s)
{
	const struct tls_conn *t = s->tr_state;
	uint32_t ev = 0;

	if (t != NULL) {
		if (t->state & TLS_READ_WANTS_OUT) {
			ev |= EPOLLOUT;
		}
		if (t->state & TLS_WRITE_WANTS_IN) {
			ev |= EPOLLIN;
		}
	}
	return (ev);
}

const struct stream_transport stream_tls = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.pending = tls_pending,
	.wants = tls_wants,
};

/* ---- set-up and state ---- */

/* The server's certificate must name `host`, a name or an address. */
static int
tls_verify_host(SSL *ssl, const char *host)
{
	char buf[INET6_ADDRSTRLEN + 2];
	unsigned char addr[sizeof(struct in6_addr)];
	size_t len = strlen(host);

	/* "[2001:db8::1]" as in a SIP URI. */
	if (len > 2 && host[0] == '[' && host[len - 1] == ']' &&
	    len - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		/* No SNI: RFC 6066 §3 allows names only. */
		return (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    host) == 1 ? 0 : -1);
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    SSL_set1_host(ssl, host) != 1) {
		return (-1);
	}
	return (0);
}

int
tls_stream_start(struct stream *s, SSL_CTX *ctx, int server,
    const char *verify_host)
{
	struct tls_conn *t;
	BIO *bio;

	ERR_clear_error();
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		return (-1);
	}
	if ((t->ssl = SSL_new(ctx)) == NULL ||
	    (bio = tls_bio_new(s->fd)) == NULL) {
		goto fail;
	}
	SSL_set_bio(t->ssl, bio, bio);	/* one reference, taken */
	if (server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (verify_host != NULL && verify_host[0] != '\0' &&
		    tls_verify_host(t->ssl, verify_host) == -1) {
			goto fail;
		}
	}
	s->tr_state = t;
	return (0);
fail:
	SSL_free(t->ssl);
	free(t);
	ERR_clear_error();
	return (-1);
}

SSL *
tls_stream_ssl(const struct stream *s)
{
	const struct tls_conn *t = s->tr_state;

	return (t != NULL ? t->ssl : NULL);
}

int
tls_stream_handshake_done(const struct stream *s)
{
	SSL *ssl = tls_stream_ssl(s);

	return (ssl != NULL && SSL_is_init_finished(ssl));
}

const char *
tls_stream_version(const struct stream *s)
{
	if (!tls_stream_handshake_done(s)) {
		return ("");
	}
	return (SSL_get_version(tls_stream_ssl(s)));
}

int
tls_stream_resumed(const struct stream *s)
{
	return (tls_stream_handshake_done(s) &&
	    SSL_session_reused(tls_stream_ssl(s)) == 1);
}

const char *
tls_stream_error(const struct stream *s)
{
	const struct tls_conn *t = s->tr_state;

	return (t != NULL && t->why != NULL ? t->why : "");
}
