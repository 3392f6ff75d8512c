/*
 * digest.h -- HTTP Digest as SIP uses it (RFC 3261 §22, RFC 7616 with
 * SHA-256 for SIP per RFC 8760): credentials parsed, HA1 and responses
 * computed and compared, nonces made and checked.
 *
 * Pure functions of their arguments: no I/O, no allocation, no SIP
 * library, no clock.  digest_parse() takes any bytes (a fuzz target can
 * call it on anything) and writes only into the fixed fields of
 * struct digest_credentials.  Only qop=auth is spoken: it is what gives
 * nc, the count that lets a server refuse a replayed request.
 *
 * Nonces are stateless: issue time, the issuing process's epoch and a
 * sequence number, then an HMAC-SHA256 over them and the realm, in hex.
 * The server keeps nothing per nonce until one is used (the replay
 * table is the registrar's business).
 */
#ifndef EPSIP_DIGEST_H
#define EPSIP_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* The algorithms offered and accepted, in the order challenges list them
 * (RFC 8760 §2.4: the preferred first). */
enum digest_alg {
	DIGEST_SHA256 = 0,	/* "SHA-256" */
	DIGEST_MD5 = 1,		/* "MD5", also when algorithm= is absent */
	DIGEST_ALG_COUNT = 2,
};

#define DIGEST_HEX_MAX		65	/* a SHA-256 in hex, and its NUL */
#define DIGEST_FIELD_MAX	256	/* username, realm, cnonce, opaque */
#define DIGEST_URI_MAX		1024
#define DIGEST_KEY_SIZE		32

/* Nonce: issued(8) epoch(4) seq(8) MAC(16), in lower-case hex. */
#define DIGEST_NONCE_RAW	36
#define DIGEST_NONCE_MAC	16
#define DIGEST_NONCE_TEXT	(2 * DIGEST_NONCE_RAW + 1)

/* Credentials of one Authorization or Proxy-Authorization value. */
struct digest_credentials {
	char username[DIGEST_FIELD_MAX];
	char realm[DIGEST_FIELD_MAX];
	char nonce[DIGEST_NONCE_TEXT];
	char uri[DIGEST_URI_MAX];
	char response[DIGEST_HEX_MAX];	/* lower case, the algorithm's size */
	char cnonce[DIGEST_FIELD_MAX];
	char opaque[DIGEST_FIELD_MAX];	/* "" when absent */
	char nc[9];			/* 8 hex digits, as sent */
	uint32_t nc_value;
	enum digest_alg alg;
};

enum digest_error {
	DIGEST_OK = 0,
	DIGEST_ESCHEME,		/* not "Digest ..." (Basic, another scheme) */
	DIGEST_ESYNTAX,		/* not a list of name=value */
	DIGEST_ELONG,		/* a value longer than its field */
	DIGEST_EDUPLICATE,	/* a parameter given twice */
	DIGEST_EMISSING,	/* username, realm, nonce, uri, response,
				 * qop, nc or cnonce missing */
	DIGEST_EALGORITHM,	/* an algorithm other than MD5 or SHA-256
				 * (the -sess ones, userhash=true) */
	DIGEST_EQOP,		/* qop other than auth */
	DIGEST_EVALUE,		/* nc not 8 hex digits, response not hex of
				 * the algorithm's size */
};

/*
 * Parse value[0..len), a header value such as `Digest username="bob",
 * realm="example.com", ...` (folded lines allowed), into *c.  Names are
 * case-insensitive, quoted values are unescaped, unknown parameters are
 * skipped.  Every field qop=auth needs must be there.  DIGEST_OK, or why
 * not (*c is then unspecified).
 */
enum digest_error digest_parse(const char *value, size_t len,
    struct digest_credentials *c);

const char *digest_error_name(enum digest_error e);

/* "SHA-256" or "MD5". */
const char *digest_alg_name(enum digest_alg alg);

/* Hex digits of a hash of `alg`: 64 or 32. */
size_t digest_hex_len(enum digest_alg alg);

/* HA1 = H(user ":" realm ":" password) in hex, into out[DIGEST_HEX_MAX]. */
void digest_ha1(enum digest_alg alg, const char *user, const char *realm,
    const char *password, char *out);

/*
 * The response qop=auth expects (RFC 7616 §3.4.1): H(HA1 ":" nonce ":"
 * nc ":" cnonce ":" "auth" ":" H(method ":" uri)) in hex, with c's
 * algorithm, nonce, nc, cnonce and uri.  `ha1` is hex of c->alg's size.
 */
void digest_response(const char *ha1, const struct digest_credentials *c,
    const char *method, char *out);

/*
 * 1 when two hex strings of `alg`'s length are equal, in time that does
 * not depend on where they differ.
 */
int digest_hex_equal(enum digest_alg alg, const char *a, const char *b);

/* What a nonce says once its MAC checked. */
struct digest_nonce {
	int64_t issued;		/* Unix seconds */
	uint32_t epoch;		/* the issuing process's random number */
	uint64_t seq;		/* its count of nonces issued */
};

/* A nonce for `realm` into out[DIGEST_NONCE_TEXT]: one HMAC. */
void digest_nonce_make(const uint8_t key[DIGEST_KEY_SIZE], const char *realm,
    const struct digest_nonce *n, char *out);

enum digest_nonce_state {
	DIGEST_NONCE_BAD,	/* not ours: MAC, realm, length or hex wrong */
	DIGEST_NONCE_FRESH,
	DIGEST_NONCE_STALE,	/* ours, but `lifetime` seconds old or more,
				 * or from over a minute ahead (a clock set
				 * back) */
};

/*
 * Check `text` against `key` and `realm` (one HMAC, compared in constant
 * time) and its age at `now`; *n filled unless BAD.
 */
enum digest_nonce_state digest_nonce_check(
    const uint8_t key[DIGEST_KEY_SIZE], const char *realm, const char *text,
    int64_t now, unsigned lifetime, struct digest_nonce *n);

#endif /* EPSIP_DIGEST_H */
