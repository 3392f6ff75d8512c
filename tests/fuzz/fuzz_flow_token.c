/*
 * fuzz_flow_token.c -- RFC 5626 §5.2 flow tokens (common/flow_token.c):
 * what flow_token_decode() makes of any text, and encode -> decode of any
 * fields.
 *
 * Input: byte 0 picks the mode.  Even: the rest is a token as it comes in
 * a Route or Via (%-escapes allowed), decoded with a fixed keyring whose
 * previous key has (bit 1 set) or has not the current key's id.  Odd:
 * the rest gives a token's fields (instance, child, slot, generation,
 * transport, family, both endpoints), signed with the current key or the
 * previous one (bit 1).  Checked:
 *   - decoding fails with a zeroed token, or succeeds only for a token
 *     one of the keys signed, with fields in range: signing those fields
 *     again gives back the very text (one spelling per token, FT-06), and
 *     the owner's IPC address can be built from them (FT-07);
 *   - every token encode makes decodes to the same fields, whichever key
 *     of the ring signed it, %-escaped or not (FT-06); fields decode
 *     would refuse or misread (a transport of 16 or more) are refused by
 *     encode already; changed
 *     in one character it no longer verifies (FT-03); without its key it
 *     is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "epsip/flow_token.h"
#include "epsip/wire.h"

#include "fuzz.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static struct flow_token_keyring ring_same, ring_other;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_keyring(&ring_same, 1);
	fuzz_keyring(&ring_other, 0);
	return (0);
}

static int
is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0) {
			return (0);
		}
	}
	return (1);
}

static int
same_endpoint(const struct epsip_addr *a, const struct epsip_addr *b)
{
	return (a->family == b->family && a->port == b->port &&
	    memcmp(a->ip, b->ip, sizeof(a->ip)) == 0);
}

static int
same_token(const struct flow_token *a, const struct flow_token *b)
{
	return (epsip_flow_id_equal(&a->flow, &b->flow) &&
	    a->transport == b->transport &&
	    same_endpoint(&a->local, &b->local) &&
	    same_endpoint(&a->remote, &b->remote));
}

/* Fields decode accepts (token_fields()). */
static int
fields_ok(const struct flow_token *t)
{
	return (t->transport != EPSIP_TRANSPORT_NONE &&
	    t->transport <= EPSIP_TRANSPORT_MAX && t->flow.instance != 0);
}

/* An endpoint of a decoded token: IPv4 uses the first 4 bytes only. */
static void
check_endpoint(const struct epsip_addr *a, uint8_t family)
{
	FUZZ_CHECK(a->family == family);
	if (family == AF_INET) {
		FUZZ_CHECK(is_zero(a->ip + 4, sizeof(a->ip) - 4));
	}
}

/* Text from a Route: decoded, and if it verifies, signed back alike. */
static void
decode_text(const struct flow_token_keyring *ring, const char *text,
    size_t len)
{
	char plain[FLOW_TOKEN_MAX_TEXT * 3], again[FLOW_TOKEN_MAX_TEXT];
	char url[128];
	struct flow_token t;
	enum flow_token_error err;
	int plen, n, matched = 0;

	err = flow_token_decode(ring, text, len, &t);
	FUZZ_CHECK(strcmp(flow_token_error_name(err), "unknown") != 0);
	if (err != FLOW_TOKEN_OK) {
		FUZZ_CHECK(is_zero(&t, sizeof(t)));
		return;
	}
	FUZZ_CHECK(fields_ok(&t));
	FUZZ_CHECK(t.local.family == AF_INET || t.local.family == AF_INET6);
	check_endpoint(&t.local, t.local.family);
	check_endpoint(&t.remote, t.local.family);
	plen = uri_unescape(text, len, plain, sizeof(plain));
	FUZZ_CHECK(plen > 0);
	n = flow_token_encode(&ring->current, &t, again, sizeof(again));
	matched |= n == plen && memcmp(again, plain, (size_t)n) == 0;
	n = flow_token_encode(&ring->previous, &t, again, sizeof(again));
	matched |= n == plen && memcmp(again, plain, (size_t)n) == 0;
	FUZZ_CHECK(matched);
	FUZZ_CHECK(flow_owner_ipc_url("/run/epsip", t.flow.instance,
	    t.flow.child, url, sizeof(url)) == 0);
}

/* A token's fields from the input; IPv4 leaves 12 bytes of ip zero. */
static void
fields_from(struct wire_reader *r, struct flow_token *t)
{
	uint8_t family;

	memset(t, 0, sizeof(*t));
	t->flow.instance = wire_get_u16(r);
	t->flow.child = wire_get_u32(r);
	t->flow.slot = wire_get_u32(r);
	t->flow.generation = wire_get_u32(r);
	t->transport = wire_get_u8(r);
	family = (wire_get_u8(r) & 1) ? AF_INET6 : AF_INET;
	t->local.family = t->remote.family = family;
	t->local.port = wire_get_u16(r);
	wire_get_bytes(r, t->local.ip, family == AF_INET6 ? 16 : 4);
	t->remote.port = wire_get_u16(r);
	wire_get_bytes(r, t->remote.ip, family == AF_INET6 ? 16 : 4);
}

/* Each character %-escaped or not, as the bits of `mask` say. */
static size_t
escape(const char *text, size_t n, uint32_t mask, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (mask & (1u << (i % 32))) {
			out[o++] = '%';
			out[o++] = hex[(uint8_t)text[i] >> 4];
			out[o++] = hex[(uint8_t)text[i] & 15];
		} else {
			out[o++] = text[i];
		}
	}
	return (o);
}

static void
round_trip(uint8_t mode, const uint8_t *data, size_t size)
{
	const struct flow_token_keyring *ring;
	const struct flow_token_key *key;
	struct flow_token t, back;
	struct flow_token_keyring alone;
	enum flow_token_error err;
	struct wire_reader r;
	char text[FLOW_TOKEN_MAX_TEXT], esc[3 * FLOW_TOKEN_MAX_TEXT];
	uint32_t mask, at;
	size_t elen;
	int n;

	ring = (mode & 4) ? &ring_same : &ring_other;
	key = (mode & 2) ? &ring->previous : &ring->current;
	wire_reader_init(&r, data, size);
	fields_from(&r, &t);
	mask = wire_get_u32(&r);
	at = wire_get_u32(&r);

	n = flow_token_encode(key, &t, text, sizeof(text));
	if (!fields_ok(&t)) {
		/* Never signed as something else (found here, fixed). */
		FUZZ_CHECK(n == -1);
		return;
	}
	FUZZ_CHECK(n == (t.local.family == AF_INET ? 60 : 92));
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(strchr(b64url, text[i]) != NULL);
	}
	err = flow_token_decode(ring, text, (size_t)n, &back);
	FUZZ_CHECK(err == FLOW_TOKEN_OK);
	FUZZ_CHECK(same_token(&t, &back));

	/* The same token %-escaped (FT-06). */
	elen = escape(text, (size_t)n, mask, esc);
	FUZZ_CHECK(flow_token_decode(ring, esc, elen, &back) ==
	    FLOW_TOKEN_OK);
	FUZZ_CHECK(same_token(&t, &back));

	/* One character changed: no longer ours (FT-03). */
	at %= (uint32_t)n;
	text[at] = b64url[(strchr(b64url, text[at]) - b64url + 1 +
	    (mask >> 8) % 63) % 64];
	FUZZ_CHECK(flow_token_decode(ring, text, (size_t)n, &back) !=
	    FLOW_TOKEN_OK);
	FUZZ_CHECK(is_zero(&back, sizeof(back)));

	/* Signed by the previous key, verified by a ring without it. */
	if (key == &ring->previous) {
		(void)flow_token_encode(key, &t, text, sizeof(text));
		alone = *ring;
		alone.has_previous = 0;
		err = flow_token_decode(&alone, text, (size_t)n, &back);
		FUZZ_CHECK(err == (ring == &ring_same ? FLOW_TOKEN_EMAC :
		    FLOW_TOKEN_EKEY));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return (0);
	}
	if ((data[0] & 1) == 0) {
		decode_text((data[0] & 2) ? &ring_same : &ring_other,
		    (const char *)data + 1, size - 1);
	} else {
		round_trip(data[0], data + 1, size - 1);
	}
	return (0);
}
