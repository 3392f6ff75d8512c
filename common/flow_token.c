/*
 * flow_token.c -- create and verify RFC 5626 §5.2 flow tokens.
 *
 * The MAC covers every byte before it and is checked with a constant-time
 * compare before any field is read back (FT-03, FT-07).  The key is 32
 * random bytes kept in a 0600 file as hex, so a restarted edge still
 * recognises its own tokens and answers 430 rather than 403 (FT-08).
 * DIAGNOSTICS: none fatal; errors are returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>

#include "epsip/flow_token.h"
#include "epsip/wire.h"

/* version, key id, instance, child, slot, generation, transport|family */
#define TOKEN_FIXED	17

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t
base64url_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | in[i + 1] << 8 | in[i + 2];

		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (len - i == 1) {
		out[o++] = b64url[in[i] >> 2];
		out[o++] = b64url[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = b64url[v >> 10];
		out[o++] = b64url[(v >> 4) & 63];
		out[o++] = b64url[(v & 15) << 2];
	}
	out[o] = '\0';
	return (o);
}

static int
base64url_value(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return (c - 'A');
	}
	if (c >= 'a' && c <= 'z') {
		return (c - 'a' + 26);
	}
	if (c >= '0' && c <= '9') {
		return (c - '0' + 52);
	}
	if (c == '-') {
		return (62);
	}
	if (c == '_') {
		return (63);
	}
	return (-1);
}

/* Decode into out (cap bytes); returns the length or -1. */
static int
base64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0;

	if (len % 4 == 1) {
		return (-1);
	}
	for (size_t i = 0; i < len; i++) {
		int v = base64url_value(in[i]);

		if (v < 0) {
			return (-1);
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap) {
				return (-1);
			}
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero, so each token has one spelling. */
	if ((acc & ((1u << bits) - 1)) != 0) {
		return (-1);
	}
	return ((int)o);
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
	if (c >= 'A' && c <= 'F') {
		return (c - 'A' + 10);
	}
	return (-1);
}

int
uri_unescape(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len) {
				return (-1);
			}
			hi = hex_value(in[i + 1]);
			lo = hex_value(in[i + 2]);
			if (hi < 0 || lo < 0) {
				return (-1);
			}
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o == cap) {
			return (-1);
		}
		out[o++] = c;
	}
	return ((int)o);
}

static void
token_mac(const struct flow_token_key *key, const uint8_t *data, size_t len,
    uint8_t mac[FLOW_TOKEN_MAC_SIZE])
{
	uint8_t full[32];

	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	    key->secret, sizeof(key->secret), data, len, full);
	memcpy(mac, full, FLOW_TOKEN_MAC_SIZE);
}

void
flow_token_key_init(struct flow_token_key *key,
    const uint8_t secret[FLOW_TOKEN_KEY_SIZE])
{
	uint8_t digest[32];

	memcpy(key->secret, secret, FLOW_TOKEN_KEY_SIZE);
	mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret,
	    FLOW_TOKEN_KEY_SIZE, digest);
	key->id = digest[0];
}

static size_t
addr_size(const struct epsip_addr *a)
{
	return (a->family == AF_INET6 ? 16 : 4);
}

/* An endpoint of the token: port(2) ip(4|16), the family being the token's. */
static void
put_endpoint(struct wire_writer *w, const struct epsip_addr *a)
{
	wire_put_u16(w, a->port);
	wire_put_bytes(w, a->ip, addr_size(a));
}

static void
get_endpoint(struct wire_reader *r, uint8_t family, struct epsip_addr *a)
{
	a->family = family;
	a->port = wire_get_u16(r);
	wire_get_bytes(r, a->ip, addr_size(a));
}

int
flow_token_encode(const struct flow_token_key *key,
    const struct flow_token *t, char *text, size_t cap)
{
	uint8_t raw[FLOW_TOKEN_MAX_RAW], mac[FLOW_TOKEN_MAC_SIZE];
	struct wire_writer w;
	size_t n;

	/*
	 * Only fields token_fields() reads back: the transport has 4 bits
	 * in the token, and one of 16 or more would be signed as another.
	 */
	if ((t->local.family != AF_INET && t->local.family != AF_INET6) ||
	    t->local.family != t->remote.family ||
	    t->transport == EPSIP_TRANSPORT_NONE ||
	    t->transport > EPSIP_TRANSPORT_MAX || t->flow.instance == 0) {
		return (-1);
	}
	wire_writer_init(&w, raw, sizeof(raw));
	wire_put_u8(&w, FLOW_TOKEN_VERSION);
	wire_put_u8(&w, key->id);
	wire_put_u16(&w, t->flow.instance);
	wire_put_u32(&w, t->flow.child);
	wire_put_u32(&w, t->flow.slot);
	wire_put_u32(&w, t->flow.generation);
	wire_put_u8(&w, (uint8_t)(t->transport << 4 |
	    (t->local.family == AF_INET6 ? 6 : 4)));
	put_endpoint(&w, &t->local);
	put_endpoint(&w, &t->remote);
	token_mac(key, raw, wire_written(&w), mac);
	wire_put_bytes(&w, mac, sizeof(mac));
	n = wire_written(&w);
	if (wire_write_end(&w) == -1 || cap < (n + 2) / 3 * 4 + 1) {
		return (-1);
	}
	return ((int)base64url_encode(raw, n, text));
}

/* 1 when the last FLOW_TOKEN_MAC_SIZE bytes of raw[0..len) are key's MAC. */
static int
token_mac_matches(const struct flow_token_key *key, const uint8_t *raw,
    size_t len)
{
	uint8_t mac[FLOW_TOKEN_MAC_SIZE];

	token_mac(key, raw, len - FLOW_TOKEN_MAC_SIZE, mac);
	return (mbedtls_ct_memcmp(mac, raw + len - FLOW_TOKEN_MAC_SIZE,
	    FLOW_TOKEN_MAC_SIZE) == 0);
}

/*
 * Check the MAC with the key the token names.  A key id is one byte, so
 * the key rotated in has the id of the one rotated out once in 256
 * rotations: then both are tried, or every token issued before the
 * rotation would fail as forged.
 */
static enum flow_token_error
keyring_verify(const struct flow_token_keyring *ring, const uint8_t *raw,
    size_t len)
{
	int current = ring->current.id == raw[1];
	int previous = ring->has_previous && ring->previous.id == raw[1];

	if (!current && !previous) {
		return (FLOW_TOKEN_EKEY);
	}
	if ((current && token_mac_matches(&ring->current, raw, len)) ||
	    (previous && token_mac_matches(&ring->previous, raw, len))) {
		return (FLOW_TOKEN_OK);
	}
	return (FLOW_TOKEN_EMAC);
}

/*
 * The fields of a token whose length, version, key id and MAC
 * flow_token_decode() has checked: no field is taken before the MAC
 * matches (FT-07).
 */
static enum flow_token_error
token_fields(const uint8_t *raw, size_t n, struct flow_token *t)
{
	struct wire_reader r;
	uint8_t family, transport_family;

	wire_reader_init(&r, raw, n);
	wire_skip(&r, 2);			/* version, key id */
	t->flow.instance = wire_get_u16(&r);
	t->flow.child = wire_get_u32(&r);
	t->flow.slot = wire_get_u32(&r);
	t->flow.generation = wire_get_u32(&r);
	transport_family = wire_get_u8(&r);
	t->transport = transport_family >> 4;
	if (t->transport == EPSIP_TRANSPORT_NONE ||
	    t->transport > EPSIP_TRANSPORT_MAX || t->flow.instance == 0) {
		return (FLOW_TOKEN_EFIELD);
	}
	family = (transport_family & 15) == 6 ? AF_INET6 : AF_INET;
	get_endpoint(&r, family, &t->local);
	get_endpoint(&r, family, &t->remote);
	return (FLOW_TOKEN_OK);
}

enum flow_token_error
flow_token_decode(const struct flow_token_keyring *ring, const char *text,
    size_t len, struct flow_token *t)
{
	char plain[FLOW_TOKEN_MAX_TEXT * 3];
	uint8_t raw[FLOW_TOKEN_MAX_RAW];
	enum flow_token_error err;
	int plen, n;
	size_t want;

	memset(t, 0, sizeof(*t));
	if (len > sizeof(plain) ||
	    (plen = uri_unescape(text, len, plain, sizeof(plain))) < 0 ||
	    (n = base64url_decode(plain, (size_t)plen, raw, sizeof(raw))) < 0) {
		return (FLOW_TOKEN_EENCODING);
	}
	if (n < TOKEN_FIXED) {
		return (FLOW_TOKEN_ELENGTH);
	}
	want = TOKEN_FIXED + 2 * (2 + ((raw[16] & 15) == 6 ? 16 : 4)) +
	    FLOW_TOKEN_MAC_SIZE;
	if (((raw[16] & 15) != 4 && (raw[16] & 15) != 6) ||
	    (size_t)n != want) {
		return (FLOW_TOKEN_ELENGTH);
	}
	if (raw[0] != FLOW_TOKEN_VERSION) {
		return (FLOW_TOKEN_EVERSION);
	}
	if ((err = keyring_verify(ring, raw, want)) != FLOW_TOKEN_OK ||
	    (err = token_fields(raw, want, t)) != FLOW_TOKEN_OK) {
		memset(t, 0, sizeof(*t));
	}
	return (err);
}

const char *
flow_token_error_name(enum flow_token_error error)
{
	switch (error) {
	case FLOW_TOKEN_OK:
		return ("ok");
	case FLOW_TOKEN_EENCODING:
		return ("encoding");
	case FLOW_TOKEN_ELENGTH:
		return ("length");
	case FLOW_TOKEN_EVERSION:
		return ("version");
	case FLOW_TOKEN_EKEY:
		return ("unknown_key");
	case FLOW_TOKEN_EMAC:
		return ("mac");
	case FLOW_TOKEN_EFIELD:
		return ("field");
	}
	return ("unknown");
}

int
flow_owner_ipc_url(const char *run_dir, uint16_t instance, uint32_t child,
    char *url, size_t cap)
{
	int n = snprintf(url, cap, "ipc://%s/fm%u-c%u.ipc", run_dir,
	    (unsigned)instance, (unsigned)child);

	return (n < 0 || (size_t)n >= cap ? -1 : 0);
}

static int
key_parse_hex(const char *text, size_t len, uint8_t *secret)
{
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) {
		len--;
	}
	if (len != 2 * FLOW_TOKEN_KEY_SIZE) {
		return (-1);
	}
	for (size_t i = 0; i < FLOW_TOKEN_KEY_SIZE; i++) {
		int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			return (-1);
		}
		secret[i] = (uint8_t)(hi << 4 | lo);
	}
	return (0);
}

int
flow_token_key_load(const char *path, struct flow_token_key *key, char *err,
    size_t errcap)
{
	uint8_t secret[FLOW_TOKEN_KEY_SIZE];
	char text[2 * FLOW_TOKEN_KEY_SIZE + 8];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || (st.st_mode & 077) != 0 ||
	    st.st_uid != geteuid()) {
		snprintf(err, errcap, "%s: must be a file of ours with mode "
		    "0600", path);
		close(fd);
		errno = EPERM;
		return (-1);
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0 || key_parse_hex(text, (size_t)n, secret) == -1) {
		snprintf(err, errcap, "%s: not %d hex digits", path,
		    2 * FLOW_TOKEN_KEY_SIZE);
		errno = EINVAL;
		return (-1);
	}
	flow_token_key_init(key, secret);
	return (0);
}

int
flow_token_key_load_or_create(const char *path, struct flow_token_key *key,
    char *err, size_t errcap)
{
	uint8_t secret[FLOW_TOKEN_KEY_SIZE];
	char text[2 * FLOW_TOKEN_KEY_SIZE + 2];
	int fd;

	if (flow_token_key_load(path, key, err, errcap) == 0) {
		return (0);
	}
	if (errno != ENOENT) {
		return (-1);
	}
	if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret)) {
		snprintf(err, errcap, "getrandom: %s", strerror(errno));
		return (-1);
	}
	for (size_t i = 0; i < sizeof(secret); i++) {
		snprintf(text + 2 * i, 3, "%02x", secret[i]);
	}
	text[2 * FLOW_TOKEN_KEY_SIZE] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, text, sizeof(text) - 1) !=
	    (ssize_t)sizeof(text) - 1 || fsync(fd) == -1) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		if (fd != -1) {
			close(fd);
			unlink(path);
		}
		return (-1);
	}
	close(fd);
	flow_token_key_init(key, secret);
	return (0);
}

int
flow_token_keyring_load(const char *current_path, const char *previous_path,
    struct flow_token_keyring *ring, char *err, size_t errcap)
{
	memset(ring, 0, sizeof(*ring));
	if (flow_token_key_load(current_path, &ring->current, err,
	    errcap) == -1) {
		return (-1);
	}
	if (previous_path != NULL && previous_path[0] != '\0') {
		if (flow_token_key_load(previous_path, &ring->previous, err,
		    errcap) == -1) {
			return (-1);
		}
		ring->has_previous = 1;
	}
	return (0);
}
