/*
 * tls_ctx.c -- the TLS contexts of tls.h: a server's (the flow-manager's
 * TLS and WSS listeners) and a client's (the registrar-bridge towards an
 * upstream over TLS).
 *
 * Session resumption without state: the server keeps no session cache
 * (SSL_SESS_CACHE_OFF) and resumes only from tickets, which the client
 * keeps.  Their keys (16 bytes of name, 32 of HMAC, 32 of AES: the 80
 * bytes SSL_CTX_set_tlsext_ticket_keys() takes) are HKDF-SHA256 of the
 * secret it is given, the flow-token key, under a label of their own, so
 * they tell nothing about that key, and every context built from the
 * same secret -- another flow-manager child, one restarted, one after a
 * reload -- opens the tickets of every other: a phone whose flow moves
 * to another child still resumes.  The same keys serve TLS 1.3 and 1.2.
 *
 * Files are opened here first, so that a missing or unreadable one is
 * told by its errno, and the private key is read without a passphrase
 * prompt (OpenSSL's default would read the terminal of a daemon).
 * DIAGNOSTICS: none fatal; one line in err naming the key and the file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "epsip/tls.h"

/* SSL_CTX_set_tlsext_ticket_keys(): name, HMAC key, AES key. */
#define TICKET_KEYS_LEN		80
#define TICKET_KEYS_SALT	"epsip tls session ticket keys"
#define TICKET_KEYS_INFO	"v1"

/*
 * Set in every session of a server context, so that a session resumes
 * only where it was made (OpenSSL refuses to resume at all without one
 * once client certificates are asked for).  The same in every EPSIP
 * context: any of them resumes any other's.
 */
#define SESSION_ID_CONTEXT	"epsip"

/*
 * OpenSSL's first reason, for a message (the first says what was wrong
 * with the file, "no start line"; the last only which layer gave up);
 * the queue is emptied.
 */
static const char *
tls_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return (why != NULL ? why : "unknown error");
}

/* The file can be read: else its errno in err, and -1. */
static int
tls_file_readable(const char *key, const char *path, char *err,
    size_t errcap)
{
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errcap, "%s %s: %s", key, path, strerror(errno));
		return (-1);
	}
	(void)fclose(f);
	return (0);
}

/* What every EPSIP context does, server or client. */
static int
tls_ctx_common(SSL_CTX *ctx)
{
	/* TLS 1.0 and 1.1 are deprecated (RFC 8996). */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		return (-1);
	}
	/*
	 * A renegotiation is a handshake in the middle of a flow, which
	 * SIP never needs, and a cheap way to make a server compute.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	/*
	 * RELEASE_BUFFERS: an idle connection holds no record buffer
	 * (about 14 KB a connection instead of 48 KB, measured), and most
	 * flows are idle.  ENABLE_PARTIAL_WRITE: a write returns once a
	 * record is out, so a long message does not wait whole in OpenSSL
	 * as well as in the stream's queue.  ACCEPT_MOVING_WRITE_BUFFER:
	 * after EAGAIN the stream offers the same bytes from its queued
	 * copy, not from the caller's buffer.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * No read-ahead (OpenSSL's default, said here because the stream
	 * relies on it): a read takes one record off the socket and leaves
	 * the next in the kernel, where epoll sees it.  What OpenSSL holds
	 * is then at most the rest of one record, which the stream reads on
	 * for past its budget (stream.h: `pending`) without one peer being
	 * able to hold the loop.
	 */
	SSL_CTX_set_read_ahead(ctx, 0);
	return (0);
}

/* The ticket keys, HKDF-SHA256 of the secret. */
static int
tls_ticket_keys(SSL_CTX *ctx, const uint8_t *secret, size_t len)
{
	unsigned char keys[TICKET_KEYS_LEN];
	OSSL_PARAM params[5];
	EVP_KDF_CTX *kctx = NULL;
	EVP_KDF *kdf;
	int ok = 0;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) != NULL) {
		kctx = EVP_KDF_CTX_new(kdf);
		EVP_KDF_free(kdf);
	}
	if (kctx == NULL) {
		return (-1);
	}
	params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string("key", (void *)secret,
	    len);
	params[2] = OSSL_PARAM_construct_octet_string("salt",
	    TICKET_KEYS_SALT, sizeof(TICKET_KEYS_SALT) - 1);
	params[3] = OSSL_PARAM_construct_octet_string("info",
	    TICKET_KEYS_INFO, sizeof(TICKET_KEYS_INFO) - 1);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, keys, sizeof(keys), params) == 1 &&
	    SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof(keys)) == 1) {
		ok = 1;
	}
	EVP_KDF_CTX_free(kctx);
	OPENSSL_cleanse(keys, sizeof(keys));
	return (ok ? 0 : -1);
}

static int
tls_load_cert(SSL_CTX *ctx, const char *path, char *err, size_t errcap)
{
	if (tls_file_readable("tls-cert", path, err, errcap) == -1) {
		return (-1);
	}
	/* The chain after the certificate is sent too: phones often trust
	 * only a root. */
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
		snprintf(err, errcap, "tls-cert %s: not a PEM certificate "
		    "chain (%s)", path, tls_reason());
		return (-1);
	}
	return (0);
}

/* A passphrase is never asked for: a daemon has nobody to type it. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return (0);
}

static int
tls_load_key(SSL_CTX *ctx, const char *path, const char *cert, char *err,
    size_t errcap)
{
	EVP_PKEY *pkey = NULL;
	FILE *f;
	int ok;

	if (tls_file_readable("tls-key", path, err, errcap) == -1) {
		return (-1);
	}
	if ((f = fopen(path, "r")) != NULL) {
		pkey = PEM_read_PrivateKey(f, NULL, tls_no_passphrase, NULL);
		(void)fclose(f);
	}
	if (pkey == NULL) {
		/* OpenSSL's reason says nothing more ("unsupported"). */
		ERR_clear_error();
		snprintf(err, errcap, "tls-key %s: no unencrypted PEM private "
		    "key in it", path);
		return (-1);
	}
	ok = SSL_CTX_use_PrivateKey(ctx, pkey) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(pkey);
	if (!ok) {
		ERR_clear_error();
		snprintf(err, errcap, "tls-key %s: does not match tls-cert %s",
		    path, cert);
		return (-1);
	}
	return (0);
}

/* Ask for a client certificate, and check one against these CAs. */
static int
tls_load_client_cas(SSL_CTX *ctx, const char *path, char *err,
    size_t errcap)
{
	STACK_OF(X509_NAME) *names;

	if (tls_file_readable("tls-ca", path, err, errcap) == -1) {
		return (-1);
	}
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(path)) == NULL) {
		snprintf(err, errcap, "tls-ca %s: no PEM CA certificate in it "
		    "(%s)", path, tls_reason());
		return (-1);
	}
	/* The CAs named in the CertificateRequest, to help the phone pick. */
	SSL_CTX_set_client_CA_list(ctx, names);
	/*
	 * Asked for, not required: SIP digest is the usual credential, and
	 * most phones have no certificate.  One that is sent must verify.
	 */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return (0);
}

SSL_CTX *
tls_server_ctx_new(const struct tls_settings *s, char *err, size_t errcap)
{
	const char *key = s->key_file != NULL && s->key_file[0] != '\0' ?
	    s->key_file : s->cert_file;
	SSL_CTX *ctx;

	ERR_clear_error();
	if (s->cert_file == NULL || s->cert_file[0] == '\0') {
		snprintf(err, errcap, "tls-cert: not set");
		return (NULL);
	}
	if (s->ticket_secret == NULL ||
	    s->ticket_secret_len < TLS_TICKET_SECRET_MIN) {
		snprintf(err, errcap, "tls: a ticket secret of %d bytes at "
		    "least is needed", TLS_TICKET_SECRET_MIN);
		return (NULL);
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    tls_ctx_common(ctx) == -1) {
		snprintf(err, errcap, "tls: %s", tls_reason());
		SSL_CTX_free(ctx);
		return (NULL);
	}
	if (tls_load_cert(ctx, s->cert_file, err, errcap) == -1 ||
	    tls_load_key(ctx, key, s->cert_file, err, errcap) == -1 ||
	    (s->ca_file != NULL && s->ca_file[0] != '\0' &&
	    tls_load_client_cas(ctx, s->ca_file, err, errcap) == -1)) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	/* Tickets only: nothing is kept per session (see the top). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)SESSION_ID_CONTEXT,
	    sizeof(SESSION_ID_CONTEXT) - 1) != 1 ||
	    tls_ticket_keys(ctx, s->ticket_secret, s->ticket_secret_len) ==
	    -1) {
		snprintf(err, errcap, "tls: session tickets: %s", tls_reason());
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

SSL_CTX *
tls_client_ctx_new(const char *ca_file, char *err, size_t errcap)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    tls_ctx_common(ctx) == -1) {
		snprintf(err, errcap, "tls: %s", tls_reason());
		SSL_CTX_free(ctx);
		return (NULL);
	}
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (tls_file_readable("tls-ca", ca_file, err, errcap) == -1) {
			SSL_CTX_free(ctx);
			return (NULL);
		}
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			snprintf(err, errcap, "tls-ca %s: no PEM CA "
			    "certificate in it (%s)", ca_file, tls_reason());
			SSL_CTX_free(ctx);
			return (NULL);
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errcap, "tls: the system's CA certificates: %s",
		    tls_reason());
		SSL_CTX_free(ctx);
		return (NULL);
	}
	/* The server must prove who it is: its name is set per connection. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return (ctx);
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
