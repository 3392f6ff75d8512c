/*
 * digest.c -- HTTP Digest for SIP: parse credentials, compute HA1 and
 * responses, make and check stateless nonces (see digest.h).
 *
 * Hashes come from mbedcrypto (MD5 and SHA-256 contexts on the stack, no
 * allocation); HMAC-SHA256 is written out over the SHA-256 context for
 * the same reason: mbedtls_md_hmac() allocates its context per call.
 * DIAGNOSTICS: none; every input is untrusted and judged by return value.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/md5.h>
#include <mbedtls/sha256.h>

#include "epsip/digest.h"

/* ---- hashes ---- */

struct hash {
	enum digest_alg alg;
	union {
		mbedtls_md5_context md5;
		mbedtls_sha256_context sha256;
	} u;
};

static void
hash_start(struct hash *h, enum digest_alg alg)
{
	h->alg = alg;
	if (alg == DIGEST_MD5) {
		mbedtls_md5_init(&h->u.md5);
		(void)mbedtls_md5_starts_ret(&h->u.md5);
	} else {
		mbedtls_sha256_init(&h->u.sha256);
		(void)mbedtls_sha256_starts_ret(&h->u.sha256, 0);
	}
}

static void
hash_add(struct hash *h, const void *data, size_t len)
{
	if (h->alg == DIGEST_MD5) {
		(void)mbedtls_md5_update_ret(&h->u.md5, data, len);
	} else {
		(void)mbedtls_sha256_update_ret(&h->u.sha256, data, len);
	}
}

/* data, then ":" -- the separator of every Digest hash input. */
static void
hash_field(struct hash *h, const char *s)
{
	hash_add(h, s, strlen(s));
	hash_add(h, ":", 1);
}

static void
hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Finish into lower-case hex in out[DIGEST_HEX_MAX]. */
static void
hash_hex(struct hash *h, char *out)
{
	uint8_t sum[32];

	if (h->alg == DIGEST_MD5) {
		(void)mbedtls_md5_finish_ret(&h->u.md5, sum);
		mbedtls_md5_free(&h->u.md5);
		hex_encode(sum, 16, out);
	} else {
		(void)mbedtls_sha256_finish_ret(&h->u.sha256, sum);
		mbedtls_sha256_free(&h->u.sha256);
		hex_encode(sum, 32, out);
	}
}

size_t
digest_hex_len(enum digest_alg alg)
{
	return (alg == DIGEST_MD5 ? 32 : 64);
}

const char *
digest_alg_name(enum digest_alg alg)
{
	return (alg == DIGEST_MD5 ? "MD5" : "SHA-256");
}

void
digest_ha1(enum digest_alg alg, const char *user, const char *realm,
    const char *password, char *out)
{
	struct hash h;

	hash_start(&h, alg);
	hash_field(&h, user);
	hash_field(&h, realm);
	hash_add(&h, password, strlen(password));
	hash_hex(&h, out);
}

void
digest_response(const char *ha1, const struct digest_credentials *c,
    const char *method, char *out)
{
	char ha2[DIGEST_HEX_MAX];
	struct hash h;

	hash_start(&h, c->alg);
	hash_field(&h, method);
	hash_add(&h, c->uri, strlen(c->uri));
	hash_hex(&h, ha2);
	hash_start(&h, c->alg);
	hash_field(&h, ha1);
	hash_field(&h, c->nonce);
	hash_field(&h, c->nc);
	hash_field(&h, c->cnonce);
	hash_field(&h, "auth");
	hash_add(&h, ha2, strlen(ha2));
	hash_hex(&h, out);
}

int
digest_hex_equal(enum digest_alg alg, const char *a, const char *b)
{
	size_t n = digest_hex_len(alg);

	if (strnlen(a, n + 1) != n || strnlen(b, n + 1) != n) {
		return (0);
	}
	return (mbedtls_ct_memcmp(a, b, n) == 0);
}

/* ---- credentials ---- */

/* Which parameters were seen: each at most once. */
enum {
	P_USERNAME = 1 << 0,
	P_REALM = 1 << 1,
	P_NONCE = 1 << 2,
	P_URI = 1 << 3,
	P_RESPONSE = 1 << 4,
	P_ALGORITHM = 1 << 5,
	P_CNONCE = 1 << 6,
	P_OPAQUE = 1 << 7,
	P_QOP = 1 << 8,
	P_NC = 1 << 9,
	P_USERHASH = 1 << 10,
};
#define P_REQUIRED (P_USERNAME | P_REALM | P_NONCE | P_URI | P_RESPONSE | \
	P_CNONCE | P_QOP | P_NC)

static int
is_lws(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* RFC 3261 §25.1 token characters. */
static int
is_token(char c)
{
	return (isalnum((unsigned char)c) ||
	    (c != '\0' && strchr("-.!%*_+`'~", c) != NULL));
}

/*
 * A quoted-string's text, unescaped: printable ASCII, HTAB and UTF-8;
 * no other control byte (a NUL would cut the C string short).
 */
static int
is_qdtext(char c)
{
	unsigned char u = (unsigned char)c;

	return (u == '\t' || (u >= 0x20 && u != 0x7f));
}

struct cursor {
	const char *p, *end;
};

static void
skip_lws(struct cursor *cur)
{
	while (cur->p < cur->end && is_lws(*cur->p)) {
		cur->p++;
	}
}

/*
 * One value, quoted or a token, into buf[0..cap) with a NUL; *len its
 * length.  0, -1 for bad syntax, -2 when it does not fit.
 */
static int
read_value(struct cursor *cur, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	int long_value = 0;

	if (cur->p < cur->end && *cur->p == '"') {
		cur->p++;
		for (;;) {
			char c;

			if (cur->p >= cur->end) {
				return (-1);		/* unterminated */
			}
			c = *cur->p++;
			if (c == '"') {
				break;
			}
			if (c == '\\') {
				if (cur->p >= cur->end) {
					return (-1);
				}
				c = *cur->p++;
			}
			if (!is_qdtext(c)) {
				return (-1);
			}
			if (n + 1 < cap) {
				buf[n++] = c;
			} else {
				long_value = 1;
			}
		}
	} else {
		while (cur->p < cur->end && is_token(*cur->p)) {
			if (n + 1 < cap) {
				buf[n++] = *cur->p;
			} else {
				long_value = 1;
			}
			cur->p++;
		}
		if (n == 0 && !long_value) {
			return (-1);
		}
	}
	buf[n] = '\0';
	*len = n;
	return (long_value ? -2 : 0);
}

/* Copy a value into a field of `cap` bytes; DIGEST_ELONG if too long. */
static enum digest_error
store(char *field, size_t cap, const char *value, size_t len)
{
	if (len >= cap) {
		return (DIGEST_ELONG);
	}
	memcpy(field, value, len + 1);
	return (DIGEST_OK);
}

static int
all_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)s[i])) {
			return (0);
		}
	}
	return (1);
}

/* One name=value, the name already known to be `name`. */
static enum digest_error
take_param(struct digest_credentials *c, unsigned *seen, const char *name,
    const char *value, size_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
		size_t offset, cap;
	} fields[] = {
		{ "username", P_USERNAME, offsetof(struct digest_credentials,
		    username), DIGEST_FIELD_MAX },
		{ "realm", P_REALM, offsetof(struct digest_credentials, realm),
		    DIGEST_FIELD_MAX },
		{ "nonce", P_NONCE, offsetof(struct digest_credentials, nonce),
		    DIGEST_NONCE_TEXT },
		{ "uri", P_URI, offsetof(struct digest_credentials, uri),
		    DIGEST_URI_MAX },
		{ "response", P_RESPONSE, offsetof(struct digest_credentials,
		    response), DIGEST_HEX_MAX },
		{ "cnonce", P_CNONCE, offsetof(struct digest_credentials,
		    cnonce), DIGEST_FIELD_MAX },
		{ "opaque", P_OPAQUE, offsetof(struct digest_credentials,
		    opaque), DIGEST_FIELD_MAX },
		{ "nc", P_NC, offsetof(struct digest_credentials, nc), 9 },
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcasecmp(name, fields[i].name) != 0) {
			continue;
		}
		if (*seen & fields[i].bit) {
			return (DIGEST_EDUPLICATE);
		}
		*seen |= fields[i].bit;
		if (fields[i].bit == P_NC && (len != 8 ||
		    !all_hex(value, len))) {
			return (DIGEST_EVALUE);
		}
		return (store((char *)c + fields[i].offset, fields[i].cap,
		    value, len));
	}
	if (strcasecmp(name, "algorithm") == 0) {
		if (*seen & P_ALGORITHM) {
			return (DIGEST_EDUPLICATE);
		}
		*seen |= P_ALGORITHM;
		if (strcasecmp(value, "MD5") == 0) {
			c->alg = DIGEST_MD5;
		} else if (strcasecmp(value, "SHA-256") == 0) {
			c->alg = DIGEST_SHA256;
		} else {
			return (DIGEST_EALGORITHM);
		}
	} else if (strcasecmp(name, "qop") == 0) {
		if (*seen & P_QOP) {
			return (DIGEST_EDUPLICATE);
		}
		*seen |= P_QOP;
		if (strcasecmp(value, "auth") != 0) {
			return (DIGEST_EQOP);
		}
	} else if (strcasecmp(name, "userhash") == 0) {
		if (*seen & P_USERHASH) {
			return (DIGEST_EDUPLICATE);
		}
		*seen |= P_USERHASH;
		/* RFC 7616 §3.4.4: a hashed username we cannot look up. */
		if (strcasecmp(value, "false") != 0) {
			return (DIGEST_EALGORITHM);
		}
	}
	return (DIGEST_OK);		/* an auth-param we do not use */
}

/* The response: hex of the algorithm's size, kept in lower case. */
static enum digest_error
check_response(struct digest_credentials *c)
{
	size_t n = strlen(c->response);

	if (n != digest_hex_len(c->alg) || !all_hex(c->response, n)) {
		return (DIGEST_EVALUE);
	}
	for (size_t i = 0; i < n; i++) {
		c->response[i] = (char)tolower((unsigned char)c->response[i]);
	}
	return (DIGEST_OK);
}

enum digest_error
digest_parse(const char *value, size_t len, struct digest_credentials *c)
{
	struct cursor cur = { value, value + len };
	char name[32], buf[DIGEST_URI_MAX];
	unsigned seen = 0;
	enum digest_error e;

	memset(c, 0, sizeof(*c));
	c->alg = DIGEST_MD5;		/* RFC 7616 §3.3: absent means MD5 */
	skip_lws(&cur);
	if (cur.end - cur.p < 6 || strncasecmp(cur.p, "Digest", 6) != 0 ||
	    (cur.end - cur.p > 6 && !is_lws(cur.p[6]))) {
		return (DIGEST_ESCHEME);
	}
	cur.p += 6;
	for (;;) {
		size_t n = 0, vlen;
		int rv;

		/* Empty list elements are allowed (RFC 3261 §7.3.1). */
		while (cur.p < cur.end && (is_lws(*cur.p) || *cur.p == ',')) {
			cur.p++;
		}
		if (cur.p == cur.end) {
			break;
		}
		while (cur.p < cur.end && is_token(*cur.p)) {
			if (n + 1 >= sizeof(name)) {
				return (DIGEST_ESYNTAX);
			}
			name[n++] = *cur.p++;
		}
		name[n] = '\0';
		skip_lws(&cur);
		if (n == 0 || cur.p == cur.end || *cur.p != '=') {
			return (DIGEST_ESYNTAX);
		}
		cur.p++;
		skip_lws(&cur);
		rv = read_value(&cur, buf, sizeof(buf), &vlen);
		if (rv == -1) {
			return (DIGEST_ESYNTAX);
		}
		skip_lws(&cur);
		if (cur.p < cur.end && *cur.p != ',') {
			return (DIGEST_ESYNTAX);
		}
		if (rv == -2) {
			vlen = sizeof(buf);	/* too long for any field */
		}
		if ((e = take_param(c, &seen, name, buf, vlen)) != DIGEST_OK) {
			return (e);
		}
	}
	if ((seen & P_REQUIRED) != P_REQUIRED) {
		return (DIGEST_EMISSING);
	}
	c->nc_value = (uint32_t)strtoul(c->nc, NULL, 16);
	return (check_response(c));
}

const char *
digest_error_name(enum digest_error e)
{
	static const char *const names[] = {
		[DIGEST_OK] = "ok",
		[DIGEST_ESCHEME] = "not Digest",
		[DIGEST_ESYNTAX] = "bad syntax",
		[DIGEST_ELONG] = "value too long",
		[DIGEST_EDUPLICATE] = "parameter repeated",
		[DIGEST_EMISSING] = "parameter missing",
		[DIGEST_EALGORITHM] = "algorithm not supported",
		[DIGEST_EQOP] = "qop not auth",
		[DIGEST_EVALUE] = "bad nc or response",
	};

	if ((unsigned)e >= sizeof(names) / sizeof(names[0])) {
		return ("?");
	}
	return (names[e]);
}

/* ---- nonces ---- */

/* HMAC-SHA256 (RFC 2104) of a || b with a 32-byte key, no allocation. */
static void
hmac_sha256(const uint8_t key[DIGEST_KEY_SIZE], const void *a, size_t alen,
    const void *b, size_t blen, uint8_t out[32])
{
	mbedtls_sha256_context ctx;
	uint8_t pad[64], inner[32];
	int i;

	mbedtls_sha256_init(&ctx);
	for (i = 0; i < 64; i++) {
		pad[i] = (uint8_t)((i < DIGEST_KEY_SIZE ? key[i] : 0) ^ 0x36);
	}
	(void)mbedtls_sha256_starts_ret(&ctx, 0);
	(void)mbedtls_sha256_update_ret(&ctx, pad, sizeof(pad));
	(void)mbedtls_sha256_update_ret(&ctx, a, alen);
	(void)mbedtls_sha256_update_ret(&ctx, b, blen);
	(void)mbedtls_sha256_finish_ret(&ctx, inner);
	for (i = 0; i < 64; i++) {
		pad[i] ^= 0x36 ^ 0x5c;
	}
	(void)mbedtls_sha256_starts_ret(&ctx, 0);
	(void)mbedtls_sha256_update_ret(&ctx, pad, sizeof(pad));
	(void)mbedtls_sha256_update_ret(&ctx, inner, sizeof(inner));
	(void)mbedtls_sha256_finish_ret(&ctx, out);
	mbedtls_sha256_free(&ctx);
}

static void
put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++) {
		v = v << 8 | p[i];
	}
	return (v);
}

#define NONCE_FIELDS	(DIGEST_NONCE_RAW - DIGEST_NONCE_MAC)

/* The MAC binds the fields and the realm: a nonce serves one realm. */
static void
nonce_mac(const uint8_t key[DIGEST_KEY_SIZE], const char *realm,
    const uint8_t fields[NONCE_FIELDS], uint8_t mac[DIGEST_NONCE_MAC])
{
	uint8_t full[32];

	hmac_sha256(key, fields, NONCE_FIELDS, realm, strlen(realm), full);
	memcpy(mac, full, DIGEST_NONCE_MAC);
}

void
digest_nonce_make(const uint8_t key[DIGEST_KEY_SIZE], const char *realm,
    const struct digest_nonce *n, char *out)
{
	uint8_t raw[DIGEST_NONCE_RAW];

	put_be(raw, (uint64_t)n->issued, 8);
	put_be(raw + 8, n->epoch, 4);
	put_be(raw + 12, n->seq, 8);
	nonce_mac(key, realm, raw, raw + NONCE_FIELDS);
	hex_encode(raw, sizeof(raw), out);
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return (c - '0');
	}
	if (c >= 'a' && c <= 'f') {
		return (c - 'a' + 10);
	}
	return (-1);			/* we write lower case only */
}

enum digest_nonce_state
digest_nonce_check(const uint8_t key[DIGEST_KEY_SIZE], const char *realm,
    const char *text, int64_t now, unsigned lifetime, struct digest_nonce *n)
{
	uint8_t raw[DIGEST_NONCE_RAW], mac[DIGEST_NONCE_MAC];
	size_t i;

	if (strnlen(text, DIGEST_NONCE_TEXT) != DIGEST_NONCE_TEXT - 1) {
		return (DIGEST_NONCE_BAD);
	}
	for (i = 0; i < DIGEST_NONCE_RAW; i++) {
		int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			return (DIGEST_NONCE_BAD);
		}
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	nonce_mac(key, realm, raw, mac);
	if (mbedtls_ct_memcmp(mac, raw + NONCE_FIELDS, sizeof(mac)) != 0) {
		return (DIGEST_NONCE_BAD);
	}
	n->issued = (int64_t)get_be(raw, 8);
	n->epoch = (uint32_t)get_be(raw + 8, 4);
	n->seq = get_be(raw + 12, 8);
	if (n->issued > now + 60 || now - n->issued >= (int64_t)lifetime) {
		return (DIGEST_NONCE_STALE);
	}
	return (DIGEST_NONCE_FRESH);
}
