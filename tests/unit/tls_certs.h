/*
 * tls_certs.h -- the certificates of the TLS tests, made with the OpenSSL
 * API into a temporary directory (no key is committed), all ECDSA P-256:
 *   root_pem               a root CA, what clients trust
 *   server_pem, server_key a certificate for IP 127.0.0.1 signed by an
 *                          intermediate CA: the file holds the leaf, then
 *                          the intermediate
 *   big_pem                the same with thousands of names (~60 KB: a
 *                          handshake bigger than small socket buffers),
 *                          key server_key
 *   client_pem, client_key a client certificate from the root
 *   rogue_pem, rogue_key   a self-signed one (no CA vouches for it)
 *   locked_key             server_key under a passphrase
 *   garbage_pem            not PEM; missing_pem does not exist
 * tls_certs_make() and tls_certs_remove() are cmocka group set-up and
 * tear-down.  Include after <cmocka.h>.
 */
#ifndef TESTS_TLS_CERTS_H
#define TESTS_TLS_CERTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static char tls_certs_dir[64];
static char root_pem[128], server_pem[128], server_key[128], big_pem[128];
static char client_pem[128], client_key[128], rogue_pem[128];
static char rogue_key[128], garbage_pem[128], missing_pem[128];
static char locked_key[128];

static inline void
tls_certs_path(char *out, const char *name)
{
	snprintf(out, 128, "%s/%s", tls_certs_dir, name);
}

static inline void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for `key`, signed by issuer (NULL: by itself). */
static inline X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    int ca, const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++),
	    1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : name), 1);
	if (issuer == NULL) {
		issuer = x;
		ikey = key;
	}
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (ca) {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	if (san != NULL) {
		add_ext(x, issuer, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	return (x);
}

/* Write the certificates, in order, to `file`. */
static inline void
write_certs(const char *file, X509 *a, X509 *b)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, a), 1);
	if (b != NULL) {
		assert_int_equal(PEM_write_X509(f, b), 1);
	}
	assert_int_equal(fclose(f), 0);
}

static inline void
write_key(const char *file, EVP_PKEY *key)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
	    NULL), 1);
	assert_int_equal(fclose(f), 0);
}

/* IP:127.0.0.1 after thousands of names: a certificate of ~60 KB. */
static inline char *
big_san(void)
{
	size_t cap = 4000 * 40, off = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	off += (size_t)snprintf(s, cap, "IP:127.0.0.1");
	for (int i = 0; i < 2500; i++) {
		off += (size_t)snprintf(s + off, cap - off,
		    ",DNS:filler-%04d.example.com", i);
	}
	return (s);
}

static inline int
tls_certs_make(void **state)
{
	EVP_PKEY *rkey, *ikey, *skey, *ckey, *gkey;
	X509 *root, *inter, *leaf, *big, *client, *rogue;
	char *san = big_san();
	FILE *f;

	(void)state;
	strcpy(tls_certs_dir, "/tmp/epsip-tls-test-XXXXXX");
	assert_non_null(mkdtemp(tls_certs_dir));
	tls_certs_path(root_pem, "root.pem");
	tls_certs_path(server_pem, "server.pem");
	tls_certs_path(server_key, "server.key");
	tls_certs_path(big_pem, "big.pem");
	tls_certs_path(client_pem, "client.pem");
	tls_certs_path(client_key, "client.key");
	tls_certs_path(rogue_pem, "rogue.pem");
	tls_certs_path(rogue_key, "rogue.key");
	tls_certs_path(garbage_pem, "garbage.pem");
	tls_certs_path(missing_pem, "missing.pem");
	tls_certs_path(locked_key, "locked.key");

	assert_non_null(rkey = EVP_EC_gen("P-256"));
	assert_non_null(ikey = EVP_EC_gen("P-256"));
	assert_non_null(skey = EVP_EC_gen("P-256"));
	assert_non_null(ckey = EVP_EC_gen("P-256"));
	assert_non_null(gkey = EVP_EC_gen("P-256"));
	root = make_cert(rkey, "EPSIP test root", NULL, NULL, 1, NULL);
	inter = make_cert(ikey, "EPSIP test intermediate", root, rkey, 1,
	    NULL);
	leaf = make_cert(skey, "127.0.0.1", inter, ikey, 0, "IP:127.0.0.1");
	big = make_cert(skey, "127.0.0.1", inter, ikey, 0, san);
	client = make_cert(ckey, "phone", root, rkey, 0, NULL);
	rogue = make_cert(gkey, "rogue phone", NULL, NULL, 0, NULL);

	write_certs(root_pem, root, NULL);
	write_certs(server_pem, leaf, inter);	/* leaf, then its chain */
	write_key(server_key, skey);
	write_certs(big_pem, big, inter);
	write_certs(client_pem, client, NULL);
	write_key(client_key, ckey);
	write_certs(rogue_pem, rogue, NULL);
	write_key(rogue_key, gkey);
	assert_non_null(f = fopen(locked_key, "w"));
	assert_int_equal(PEM_write_PrivateKey(f, skey, EVP_aes_128_cbc(),
	    (const unsigned char *)"secret", 6, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
	assert_non_null(f = fopen(garbage_pem, "w"));
	fputs("this is not PEM\n", f);
	assert_int_equal(fclose(f), 0);

	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	X509_free(big);
	X509_free(client);
	X509_free(rogue);
	EVP_PKEY_free(rkey);
	EVP_PKEY_free(ikey);
	EVP_PKEY_free(skey);
	EVP_PKEY_free(ckey);
	EVP_PKEY_free(gkey);
	free(san);
	return (0);
}

static inline int
tls_certs_remove(void **state)
{
	const char *files[] = { root_pem, server_pem, server_key, big_pem,
	    client_pem, client_key, rogue_pem, rogue_key, garbage_pem,
	    locked_key };

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)unlink(files[i]);
	}
	(void)rmdir(tls_certs_dir);
	return (0);
}

#endif /* TESTS_TLS_CERTS_H */
