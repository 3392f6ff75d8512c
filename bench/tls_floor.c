/*
 * tls_floor.c -- what OpenSSL itself keeps for one idle server-side TLS
 * connection, without EPSIP: the floor under the memory per TLS flow
 * that bench/many_flows.py measures in the edge (issue 11 §6).
 *
 * One process makes a server context the way common/tls_ctx.c does
 * (TLS 1.2 and later, no renegotiation, SSL_MODE_RELEASE_BUFFERS unless
 * told otherwise, no session cache, stateless tickets, an ECDSA P-256
 * certificate made here), then N connections over socketpairs, each
 * with a client SSL in the same process.  Each pair does its handshake,
 * the client sends a REGISTER-sized record and the server answers a
 * small one, then the client SSL is freed: what remains is N idle
 * server SSLs, as in a flow-manager child.  Heap in use (mallinfo2,
 * after malloc_trim) with them, minus before them, / N.
 *
 *   cc -O2 -o /tmp/tls_floor bench/tls_floor.c -lssl -lcrypto
 *   /tmp/tls_floor 5000 [1.3|1.2] [release|keep]
 *
 * Prints one JSON line.  No network: socketpairs only.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct pair {
	SSL	*srv;
	SSL	*cli;
	int	 fd[2];
};

static void
die(const char *what)
{
	fprintf(stderr, "tls_floor: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* A self-signed ECDSA P-256 certificate for 127.0.0.1, one day. */
static void
make_cert(EVP_PKEY **key, X509 **cert)
{
	X509_NAME *name;

	if ((*key = EVP_EC_gen("P-256")) == NULL ||
	    (*cert = X509_new()) == NULL) {
		die("key");
	}
	ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(*cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(*cert), 86400);
	X509_set_pubkey(*cert, *key);
	name = X509_get_subject_name(*cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(*cert, name);
	if (X509_sign(*cert, *key, EVP_sha256()) == 0) {
		die("sign");
	}
}

/* As common/tls_ctx.c builds the edge's server context. */
static SSL_CTX *
server_ctx(int release, int version)
{
	SSL_CTX *ctx;
	EVP_PKEY *key;
	X509 *cert;
	long mode = SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		die("SSL_CTX_new");
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, version);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, mode | (release ? SSL_MODE_RELEASE_BUFFERS : 0));
	SSL_CTX_set_read_ahead(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"epsip", 5);
	make_cert(&key, &cert);
	if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		die("certificate");
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return (ctx);
}

/*
 * Both ends in turn until both are done: the socketpairs are
 * non-blocking, so an end that waits for the other returns WANT_READ,
 * and the few bytes of a handshake always fit their buffers.
 */
static void
handshake(struct pair *p)
{
	int s = 0, c = 0, i;

	for (i = 0; i < 64 && (s != 1 || c != 1); i++) {
		if (c != 1) {
			c = SSL_do_handshake(p->cli);
		}
		if (s != 1) {
			s = SSL_do_handshake(p->srv);
		}
	}
	if (s != 1 || c != 1) {
		die("handshake");
	}
}

/*
 * One request and one answer; the client's read also takes what TLS 1.3
 * sent after the handshake (the tickets), as a phone's would.
 */
static void
exchange(struct pair *p)
{
	char req[600], buf[4096];

	memset(req, 'R', sizeof(req));
	if (SSL_write(p->cli, req, sizeof(req)) != (int)sizeof(req) ||
	    SSL_read(p->srv, buf, sizeof(buf)) <= 0 ||
	    SSL_write(p->srv, "SIP/2.0 200 OK\r\n\r\n", 18) != 18 ||
	    SSL_read(p->cli, buf, sizeof(buf)) <= 0) {
		die("exchange");
	}
}

static size_t
heap_in_use(void)
{
	malloc_trim(0);
	return (mallinfo2().uordblks);
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int v13 = !(argc > 2 && strcmp(argv[2], "1.2") == 0);
	int release = !(argc > 3 && strcmp(argv[3], "keep") == 0);
	struct rlimit rl;
	SSL_CTX *sctx, *cctx;
	struct pair *pairs;
	size_t before, after;
	int i;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (n < 1 || 2 * (rlim_t)n + 16 > rl.rlim_cur) {
		die("N out of range for the descriptor limit");
	}
	sctx = server_ctx(release, v13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	if ((cctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		die("client context");
	}
	SSL_CTX_set_mode(cctx, SSL_MODE_RELEASE_BUFFERS);
	if ((pairs = calloc(n, sizeof(*pairs))) == NULL) {
		die("calloc");
	}
	before = heap_in_use();
	for (i = 0; i < n; i++) {
		struct pair *p = &pairs[i];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd) != 0 ||
		    (p->srv = SSL_new(sctx)) == NULL ||
		    (p->cli = SSL_new(cctx)) == NULL) {
			die("connection");
		}
		SSL_set_fd(p->srv, p->fd[0]);
		SSL_set_fd(p->cli, p->fd[1]);
		SSL_set_accept_state(p->srv);
		SSL_set_connect_state(p->cli);
		handshake(p);
		exchange(p);
		SSL_free(p->cli);
		p->cli = NULL;
	}
	after = heap_in_use();
	printf("{\"connections\": %d, \"tls\": \"%s\", \"release_buffers\": "
	    "%s, \"openssl\": \"%s\", \"heap_bytes_per_idle_server_ssl\": "
	    "%.0f}\n", n, v13 ? "1.3" : "1.2", release ? "true" : "false",
	    OpenSSL_version(OPENSSL_VERSION),
	    ((double)after - (double)before) / n);
	for (i = 0; i < n; i++) {
		SSL_free(pairs[i].srv);
		close(pairs[i].fd[0]);
		close(pairs[i].fd[1]);
	}
	free(pairs);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return (0);
}
