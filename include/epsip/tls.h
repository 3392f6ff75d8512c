/*
 * tls.h -- TLS (OpenSSL 3) for EPSIP's byte streams: server and client
 * contexts, and `stream_tls`, the transport that plugs into stream.h's
 * seam under the framing callback.
 *
 * A server context sends the whole chain of tls-cert, asks for a client
 * certificate only when given CAs (and serves a phone without one), and
 * resumes sessions from stateless tickets whose keys derive from a secret
 * (the flow-token key): any context built from the same secret, in
 * another flow-manager child or after a restart, resumes them, and no
 * state is kept per session.  A client context checks the server's
 * chain against given CAs or the system's, and tls_stream_start() its
 * name or address.
 *
 * Both are TLS 1.2 at least, never renegotiate, and keep no buffer while
 * a connection is idle (SSL_MODE_RELEASE_BUFFERS: about 14 KB a
 * connection instead of 48 KB).
 *
 * The transport, on a stream made with stream_init(s, cls, &stream_tls,
 * fd, connecting) and then tls_stream_start():
 *   - read gives plaintext: -1/EAGAIN while no whole record is in, 0 at
 *     the peer's close_notify or its plain end of the connection (SIP's
 *     framing notices a message cut short), -1/EPROTO when TLS fails
 *     (tls_stream_error() says why), or the socket's errno;
 *   - write takes plaintext and sends one record at a time; after EAGAIN
 *     the stream offers the same bytes again, possibly from its own copy;
 *   - shutdown sends close_notify (once, when the handshake is done),
 *     then the FIN; close frees the session and closes the socket;
 *   - `pending` and `wants` (stream.h) carry the rest of a record the
 *     stream's buffer did not take, and a handshake that needs the other
 *     readiness than the read or write that drove it.
 * The socket is used with recv/send (MSG_DONTWAIT, MSG_NOSIGNAL), never
 * blocks and never raises SIGPIPE, whatever the descriptor's flags.
 * The handshake happens inside the first reads and writes: a client
 * starts it with its first write.
 *
 * Every OpenSSL error is taken off the thread's error queue before these
 * return, so one connection's failure never shows on another.
 */
#ifndef EPSIP_TLS_H
#define EPSIP_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "epsip/stream.h"

struct tls_settings {
	const char *cert_file;	/* PEM: the certificate, then its chain,
				 * all of which is sent */
	const char *key_file;	/* PEM private key (NULL or "": cert_file) */
	const char *ca_file;	/* NULL or "": no client certificate asked
				 * for; else asked for (not required) and
				 * verified against these */
	const uint8_t *ticket_secret;	/* session-ticket keys derive from
				 * it (the flow-token key) */
	size_t ticket_secret_len;	/* at least 16 */
};

/* Bytes of the secret a ticket secret has at least. */
#define TLS_TICKET_SECRET_MIN	16

/*
 * A server context, or NULL with one line in err naming the key and the
 * file ("tls-cert /x.pem: No such file or directory", "tls-key /k.pem:
 * does not match tls-cert /c.pem").
 */
SSL_CTX *tls_server_ctx_new(const struct tls_settings *s, char *err,
    size_t errcap);
/*
 * A client context (towards an upstream): the server's chain is checked
 * against ca_file, or against the system's CAs when NULL or "".  NULL
 * with one line in err ("tls-ca /x.pem: ...").
 */
SSL_CTX *tls_client_ctx_new(const char *ca_file, char *err, size_t errcap);
/* Drop our reference: connections made from it keep it alive. */
void tls_ctx_free(SSL_CTX *ctx);

extern const struct stream_transport stream_tls;

/*
 * After stream_init(s, cls, &stream_tls, fd, connecting): the TLS state
 * on s->fd (s->tr_state).  server: waits for a ClientHello.  Client:
 * verify_host, a name or an IP address (IPv6 with or without brackets),
 * is what the server's certificate must name, and a name is also sent
 * as SNI; NULL or "": the chain alone is checked.  0, or -1 without
 * memory or with a verify_host OpenSSL refuses (s->tr_state stays NULL,
 * and stream_release() then only closes the socket).
 */
int tls_stream_start(struct stream *s, SSL_CTX *ctx, int server,
    const char *verify_host);

/* For logs and GET /flows: "TLSv1.3"; "" until the handshake is done. */
const char *tls_stream_version(const struct stream *s);
/* 1 when the handshake is done and resumed a session (a ticket). */
int tls_stream_resumed(const struct stream *s);
int tls_stream_handshake_done(const struct stream *s);
/*
 * Why TLS failed, after a read or write that set EPROTO: OpenSSL's
 * reason ("wrong version number"), or the certificate check's
 * ("hostname mismatch"); "" when nothing failed.  Static strings.
 */
const char *tls_stream_error(const struct stream *s);
/*
 * The connection's SSL, for what the above does not say (the peer's
 * certificate); NULL before tls_stream_start().  Not for I/O.
 */
SSL *tls_stream_ssl(const struct stream *s);

#endif /* EPSIP_TLS_H */
