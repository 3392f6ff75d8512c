/*
 * stun_test.c -- unit tests for the limited STUN server (common/stun.c)
 * and the UDP first-octet demux.
 *
 * Requirement IDs refer to the outbound edge checklist: KA-02..KA-08
 * (Binding answers), KA-05/KA-12 (demux, CRLF keep-alives, junk), ER-08 (no
 * out-of-bounds reads).  Requests are copied into heap buffers of exactly
 * their length and answers written into buffers of exactly
 * STUN_MAX_RESPONSE bytes, so AddressSanitizer catches any overrun.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "epsip/stun.h"
#include "epsip/wire.h"

#define ATTR_XOR_MAPPED_ADDRESS		0x0020
#define ATTR_ERROR_CODE			0x0009
#define ATTR_UNKNOWN_ATTRIBUTES		0x000A
#define ATTR_SOFTWARE			0x8022

static const uint8_t txid[12] = {
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
};

/* A request under construction. */
struct req {
	uint8_t	buf[512];
	size_t	len;
};

/* An answer, decoded. */
struct answer {
	enum stun_verdict verdict;
	uint8_t	out[STUN_MAX_RESPONSE];
	size_t	len;
};

/* Start a message of `type` with our txid; fixes the length as it grows. */
static void
req_init(struct req *r, uint16_t type)
{
	struct wire_writer w;

	memset(r, 0, sizeof(*r));
	wire_writer_init(&w, r->buf, sizeof(r->buf));
	wire_put_u16(&w, type);
	wire_put_u16(&w, 0);
	wire_put_bytes(&w, "\x21\x12\xA4\x42", 4);
	wire_put_bytes(&w, txid, sizeof(txid));
	assert_int_equal(wire_write_end(&w), 0);
	r->len = wire_written(&w);
}

static void
req_add_attr(struct req *r, uint16_t type, const void *value, size_t len)
{
	struct wire_writer w;

	wire_writer_init(&w, r->buf + r->len, sizeof(r->buf) - r->len);
	wire_put_u16(&w, type);
	wire_put_u16(&w, (uint16_t)len);
	wire_put_bytes(&w, value, len);
	wire_put_zero(&w, ((len + 3) & ~(size_t)3) - len);
	assert_int_equal(wire_write_end(&w), 0);
	r->len += wire_written(&w);
	wire_store_u16(r->buf + 2, (uint16_t)(r->len - STUN_HEADER_SIZE));
}

static struct sockaddr_in
v4(const char *ip, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return (sin);
}

static struct sockaddr_in6
v6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	return (sin6);
}

/*
 * Answer `len` bytes of `data` from `src`: the request sits in a heap
 * buffer of exactly its size, the answer in one of exactly
 * STUN_MAX_RESPONSE bytes.
 */
static void
answer_bytes(const uint8_t *data, size_t len, const void *src,
    struct answer *a)
{
	uint8_t *req, *out;

	req = malloc(len > 0 ? len : 1);
	out = malloc(STUN_MAX_RESPONSE);
	assert_non_null(req);
	assert_non_null(out);
	if (len > 0) {
		memcpy(req, data, len);
	}
	memset(out, 0xEE, STUN_MAX_RESPONSE);
	a->len = 12345;
	a->verdict = stun_answer(req, len, src, out, STUN_MAX_RESPONSE,
	    &a->len);
	memcpy(a->out, out, STUN_MAX_RESPONSE);
	free(out);
	free(req);
}

static void
answer(const struct req *r, const void *src, struct answer *a)
{
	answer_bytes(r->buf, r->len, src, a);
}

static void
assert_discarded(const struct req *r, const void *src)
{
	struct answer a;

	answer(r, src, &a);
	assert_int_equal(a.verdict, STUN_DISCARD);
	assert_int_equal(a.len, 0);
}

/*
 * KA-03: a well-formed response of `type` echoing our txid, its length
 * field matching, its attributes tiling the body exactly.
 */
static void
assert_response(const struct answer *a, uint16_t type)
{
	struct wire_reader r;
	uint16_t alen;

	assert_int_equal(a->verdict, STUN_REPLY);
	assert_true(a->len >= STUN_HEADER_SIZE);
	assert_true(a->len <= STUN_MAX_RESPONSE);
	wire_reader_init(&r, a->out, a->len);
	assert_int_equal(wire_get_u16(&r), type);
	assert_int_equal(wire_get_u16(&r), a->len - STUN_HEADER_SIZE);
	assert_int_equal(wire_get_u32(&r), STUN_MAGIC_COOKIE);
	assert_memory_equal(wire_get_ptr(&r, sizeof(txid)), txid,
	    sizeof(txid));
	while (wire_remaining(&r) > 0) {
		(void)wire_get_u16(&r);
		alen = wire_get_u16(&r);
		wire_skip(&r, (alen + 3u) & ~3u);
		assert_false(wire_read_failed(&r));
	}
}

/* The value of the first attribute of `type`, or NULL. */
static const uint8_t *
find_attr(const struct answer *a, uint16_t type, size_t *len)
{
	struct wire_reader r;
	const uint8_t *value;
	uint16_t t, alen;

	if (a->len < STUN_HEADER_SIZE) {
		return (NULL);
	}
	wire_reader_init(&r, a->out + STUN_HEADER_SIZE,
	    a->len - STUN_HEADER_SIZE);
	while (wire_remaining(&r) > 0) {
		t = wire_get_u16(&r);
		alen = wire_get_u16(&r);
		value = wire_get_ptr(&r, (alen + 3u) & ~3u);
		if (value != NULL && t == type) {
			*len = alen;
			return (value);
		}
	}
	return (NULL);
}

/* KA-02: decode XOR-MAPPED-ADDRESS per RFC 5389 §15.2. */
static void
assert_xor_mapped(const struct answer *a, int family, const char *ip,
    uint16_t port)
{
	uint8_t expect[16], mask[16];
	const uint8_t *v;
	size_t len, alen, i;

	v = find_attr(a, ATTR_XOR_MAPPED_ADDRESS, &len);
	assert_non_null(v);
	alen = family == AF_INET ? 4 : 16;
	assert_int_equal(len, 4 + alen);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], family == AF_INET ? 0x01 : 0x02);
	assert_int_equal(wire_load_u16(v + 2) ^ 0x2112, port);
	memcpy(mask, a->out + 4, 4);
	memcpy(mask + 4, txid, 12);
	assert_int_equal(inet_pton(family, ip, expect), 1);
	for (i = 0; i < alen; i++) {
		assert_int_equal(v[4 + i] ^ mask[i], expect[i]);
	}
}

/* KA-02, KA-03: Binding request from IPv4 gets 0x0101 + XOR address. */
static void
test_stun_binding_request_gets_xor_mapped_address_ipv4(void **state)
{
	struct sockaddr_in src = v4("198.51.100.7", 40000);
	struct answer a;
	struct req r;
	size_t len;

	(void)state;
	req_init(&r, 0x0001);
	answer(&r, &src, &a);
	assert_response(&a, 0x0101);
	assert_xor_mapped(&a, AF_INET, "198.51.100.7", 40000);
	assert_null(find_attr(&a, ATTR_ERROR_CODE, &len));
}

/* KA-02: the mapped address is the source of this request, never cached. */
static void
test_stun_binding_answer_follows_source_port(void **state)
{
	struct sockaddr_in src1 = v4("198.51.100.7", 40000);
	struct sockaddr_in src2 = v4("198.51.100.7", 40001);
	struct sockaddr_in src3 = v4("203.0.113.250", 5060);
	struct answer a;
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	answer(&r, &src1, &a);
	assert_xor_mapped(&a, AF_INET, "198.51.100.7", 40000);
	answer(&r, &src2, &a);
	assert_xor_mapped(&a, AF_INET, "198.51.100.7", 40001);
	answer(&r, &src3, &a);
	assert_xor_mapped(&a, AF_INET, "203.0.113.250", 5060);
}

/* KA-02: IPv6 addresses are XORed with cookie || txid. */
static void
test_stun_binding_request_gets_xor_mapped_address_ipv6(void **state)
{
	struct sockaddr_in6 src = v6("2001:db8::1:2:3:4", 5060);
	struct answer a;
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	answer(&r, &src, &a);
	assert_response(&a, 0x0101);
	assert_xor_mapped(&a, AF_INET6, "2001:db8::1:2:3:4", 5060);
}

/* SOFTWARE is short and carries no version. */
static void
test_stun_success_carries_short_software(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 1);
	const uint8_t *v;
	struct answer a;
	struct req r;
	size_t len;

	(void)state;
	req_init(&r, 0x0001);
	answer(&r, &src, &a);
	v = find_attr(&a, ATTR_SOFTWARE, &len);
	assert_non_null(v);
	assert_int_equal(len, 5);
	assert_memory_equal(v, "epsip", 5);
}

/* KA-04: wrong magic cookie (an RFC 3489 client, or noise): silence. */
static void
test_stun_bad_cookie_is_discarded(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	r.buf[7] ^= 0x01;
	assert_discarded(&r, &src);
}

/* KA-04: length 0xFFFF in a 28-byte datagram: silence. */
static void
test_stun_length_past_datagram_is_discarded(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	r.len = 28;
	wire_store_u16(r.buf + 2, 0xFFFF);
	assert_discarded(&r, &src);
	/* A multiple of 4 but still not the datagram's length. */
	wire_store_u16(r.buf + 2, 12);
	assert_discarded(&r, &src);
	/* Trailing bytes beyond the stated length. */
	wire_store_u16(r.buf + 2, 4);
	assert_discarded(&r, &src);
}

/* KA-04: a length that is not a multiple of 4: silence. */
static void
test_stun_length_not_multiple_of_four_is_discarded(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	r.len = 22;
	wire_store_u16(r.buf + 2, 2);
	assert_discarded(&r, &src);
}

/* KA-04: the two top bits must be zero. */
static void
test_stun_top_bits_set_is_discarded(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	r.buf[0] |= 0x40;
	assert_discarded(&r, &src);
	r.buf[0] = 0x80;
	assert_discarded(&r, &src);
}

/* ER-08: every truncation of a valid request is discarded. */
static void
test_stun_truncated_request_is_discarded(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct answer a;
	struct req r;
	size_t n;

	(void)state;
	req_init(&r, 0x0001);
	req_add_attr(&r, ATTR_SOFTWARE, "client 1.0", 10);
	for (n = 0; n < r.len; n++) {
		answer_bytes(r.buf, n, &src, &a);
		assert_int_equal(a.verdict, STUN_DISCARD);
		assert_int_equal(a.len, 0);
	}
}

/* ER-08: an attribute whose length runs past the message: silence. */
static void
test_stun_attribute_past_end_is_discarded(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	req_add_attr(&r, 0x8123, "abcd", 4);
	/* pads to 8 > 4 left */
	wire_store_u16(r.buf + STUN_HEADER_SIZE + 2, 5);
	assert_discarded(&r, &src);
	wire_store_u16(r.buf + STUN_HEADER_SIZE + 2, 0xFFFF);
	assert_discarded(&r, &src);
	/* A lone partial attribute header. */
	req_init(&r, 0x0001);
	req_add_attr(&r, 0x8123, "abcd", 4);
	/* then 4 bytes of junk */
	wire_store_u16(r.buf + STUN_HEADER_SIZE + 2, 0);
	assert_discarded(&r, &src);
}

/* KA-06: an unknown comprehension-required attribute gets a 420. */
static void
test_stun_unknown_required_attribute_gets_420(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	const uint8_t *v;
	struct answer a;
	struct req r;
	size_t len;

	(void)state;
	req_init(&r, 0x0001);
	req_add_attr(&r, 0x7FFF, "x", 1);
	answer(&r, &src, &a);
	assert_response(&a, 0x0111);
	v = find_attr(&a, ATTR_ERROR_CODE, &len);
	assert_non_null(v);
	assert_int_equal(len, 4 + strlen("Unknown Attribute"));
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2] & 0x07, 4);
	assert_int_equal(v[3], 20);
	assert_memory_equal(v + 4, "Unknown Attribute", len - 4);
	v = find_attr(&a, ATTR_UNKNOWN_ATTRIBUTES, &len);
	assert_non_null(v);
	assert_int_equal(len, 2);
	assert_int_equal(wire_load_u16(v), 0x7FFF);
	assert_null(find_attr(&a, ATTR_XOR_MAPPED_ADDRESS, &len));
}

/* KA-06: the list is deduplicated and bounded, so the answer fits. */
static void
test_stun_unknown_attribute_list_is_unique_and_capped(void **state)
{
	struct sockaddr_in6 src = v6("2001:db8::1", 5060);
	const uint8_t *v;
	struct answer a;
	struct req r;
	size_t len, i, j;
	uint16_t t;

	(void)state;
	req_init(&r, 0x0001);
	req_add_attr(&r, 0x0100, "", 0);
	req_add_attr(&r, 0x0100, "", 0);
	for (t = 0x0101; t < 0x0101 + 12; t++) {
		req_add_attr(&r, t, "", 0);
	}
	answer(&r, &src, &a);
	assert_response(&a, 0x0111);
	v = find_attr(&a, ATTR_UNKNOWN_ATTRIBUTES, &len);
	assert_non_null(v);
	assert_true(len >= 2 && len <= 16 && len % 2 == 0);
	assert_int_equal(wire_load_u16(v), 0x0100);
	for (i = 0; i < len / 2; i++) {
		for (j = 0; j < i; j++) {
			assert_int_not_equal(wire_load_u16(v + 2 * i),
			    wire_load_u16(v + 2 * j));
		}
	}
}

/* KA-06: unknown optional attributes (>= 0x8000) are ignored. */
static void
test_stun_unknown_optional_attribute_is_ignored(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct answer a;
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	req_add_attr(&r, 0x8123, "abc", 3);
	answer(&r, &src, &a);
	assert_response(&a, 0x0101);
	assert_xor_mapped(&a, AF_INET, "192.0.2.1", 5060);
}

/* KA-06: SOFTWARE, FINGERPRINT, USERNAME, MESSAGE-INTEGRITY are accepted;
 * no MESSAGE-INTEGRITY is required. */
static void
test_stun_known_attributes_are_accepted(void **state)
{
	static const uint8_t hmac[20] = { 0 };
	static const uint8_t crc[4] = { 0xde, 0xad, 0xbe, 0xef };
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct answer a;
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	req_add_attr(&r, 0x0006, "alice", 5);		/* USERNAME */
	req_add_attr(&r, 0x8022, "pjnath-2.13", 11);	/* SOFTWARE */
	req_add_attr(&r, 0x0008, hmac, sizeof(hmac));	/* MESSAGE-INTEGRITY */
	req_add_attr(&r, 0x8028, crc, sizeof(crc));	/* FINGERPRINT */
	answer(&r, &src, &a);
	assert_response(&a, 0x0101);
}

/* KA-07: a Binding indication gets nothing, even with unknown attrs. */
static void
test_stun_indication_gets_no_answer(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct req r;

	(void)state;
	req_init(&r, 0x0011);
	assert_discarded(&r, &src);
	req_add_attr(&r, 0x7FFF, "x", 1);
	assert_discarded(&r, &src);
}

/* Responses and other methods are not ours to answer. */
static void
test_stun_responses_and_other_methods_are_discarded(void **state)
{
	static const uint16_t types[] = {
		0x0101, 0x0111, 0x0003, 0x0002, 0x0004, 0x0013,
	};
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	struct req r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		req_init(&r, types[i]);
		assert_discarded(&r, &src);
	}
}

/* KA-08: a retransmission gets byte-identical answers. */
static void
test_stun_retransmission_gets_identical_answer(void **state)
{
	struct sockaddr_in6 src = v6("2001:db8::7", 40000);
	struct answer a1, a2;
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	req_add_attr(&r, 0x8123, "abc", 3);
	answer(&r, &src, &a1);
	answer(&r, &src, &a2);
	assert_int_equal(a1.verdict, STUN_REPLY);
	assert_int_equal(a1.len, a2.len);
	assert_memory_equal(a1.out, a2.out, a1.len);

	req_add_attr(&r, 0x0042, "z", 1);
	answer(&r, &src, &a1);
	answer(&r, &src, &a2);
	assert_response(&a1, 0x0111);
	assert_int_equal(a1.len, a2.len);
	assert_memory_equal(a1.out, a2.out, a1.len);
}

static void
test_stun_small_output_buffer_is_discarded(void **state)
{
	struct sockaddr_in src = v4("192.0.2.1", 5060);
	uint8_t out[STUN_MAX_RESPONSE];
	struct req r;
	size_t len = 99;

	(void)state;
	req_init(&r, 0x0001);
	assert_int_equal(stun_answer(r.buf, r.len,
	    (const struct sockaddr *)&src, out, STUN_MAX_RESPONSE - 1, &len),
	    STUN_DISCARD);
	assert_int_equal(len, 0);
}

static void
test_stun_unknown_address_family_is_discarded(void **state)
{
	struct sockaddr_un sun;
	struct req r;

	(void)state;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	req_init(&r, 0x0001);
	assert_discarded(&r, &sun);
}

static enum udp_payload_kind
classify(const void *data, size_t len)
{
	enum udp_payload_kind k;
	uint8_t *copy;

	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	if (len > 0) {
		memcpy(copy, data, len);
	}
	k = udp_payload_classify(copy, len);
	free(copy);
	return (k);
}

/*
 * KA-12 (corrected): a CRLF-only datagram is its own kind, a keep-alive
 * that refreshes a known flow and is never answered, however many pairs.
 */
static void
test_udp_crlf_only_datagram_is_a_keepalive_not_sip(void **state)
{
	const char *s;

	(void)state;
	assert_int_equal(classify("\r\n\r\n", 4), UDP_PAYLOAD_CRLF);
	assert_int_equal(classify("\r\n", 2), UDP_PAYLOAD_CRLF);
	assert_int_equal(classify("\n", 1), UDP_PAYLOAD_CRLF);
	s = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
	assert_true(strlen(s) >= 20);
	assert_int_equal(classify(s, strlen(s)), UDP_PAYLOAD_CRLF);
}

/* KA-12: blanks other than CR and LF are still junk, not a keep-alive. */
static void
test_udp_blank_datagram_with_spaces_is_junk(void **state)
{
	const char *s;

	(void)state;
	assert_int_equal(classify("\r\n \r\n", 5), UDP_PAYLOAD_JUNK);
	assert_int_equal(classify("\t", 1), UDP_PAYLOAD_JUNK);
	s = "\r\n\r\n\r\n\r\n \t\r\n\r\n\r\n\r\n\r\n";
	assert_true(strlen(s) >= 20);
	assert_int_equal(classify(s, strlen(s)), UDP_PAYLOAD_JUNK);
}

/* KA-12: a CRLF pair in front of a request does not hide the request. */
static void
test_udp_sip_after_leading_crlf_is_sip(void **state)
{
	const char *s = "\r\nOPTIONS sip:a@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1\r\n\r\n";

	(void)state;
	assert_int_equal(classify(s, strlen(s)), UDP_PAYLOAD_SIP);
}

/* KA-12: zero-byte keep-alives, though they start with 0x00, are junk. */
static void
test_udp_zero_datagram_is_junk(void **state)
{
	static const uint8_t zeros[64];

	(void)state;
	assert_int_equal(classify(zeros, 4), UDP_PAYLOAD_JUNK);
	assert_int_equal(classify(zeros, 1), UDP_PAYLOAD_JUNK);
	assert_int_equal(classify(zeros, 20), UDP_PAYLOAD_JUNK);
	assert_int_equal(classify(zeros, sizeof(zeros)), UDP_PAYLOAD_JUNK);
}

static void
test_udp_empty_and_tiny_datagrams_are_junk(void **state)
{
	(void)state;
	assert_int_equal(classify("", 0), UDP_PAYLOAD_JUNK);
	assert_int_equal(classify("x", 1), UDP_PAYLOAD_JUNK);
	assert_int_equal(classify("INVITE sip", 10), UDP_PAYLOAD_JUNK);
	/* 0x00/0x01 but shorter than a STUN header. */
	assert_int_equal(classify("\x00\x01\x00\x00\x21\x12", 6),
	    UDP_PAYLOAD_JUNK);
}

/* KA-05: first octet 0x00/0x01 means STUN. */
static void
test_udp_stun_first_octet_is_stun(void **state)
{
	struct req r;

	(void)state;
	req_init(&r, 0x0001);
	assert_int_equal(classify(r.buf, r.len), UDP_PAYLOAD_STUN);
	req_init(&r, 0x0101);
	assert_int_equal(classify(r.buf, r.len), UDP_PAYLOAD_STUN);
}

/* KA-05: first octet 0xF8..0xFF means SigComp (unsupported, dropped). */
static void
test_udp_sigcomp_first_octet_is_sigcomp(void **state)
{
	uint8_t msg[32];
	unsigned int b;

	(void)state;
	memset(msg, 'a', sizeof(msg));
	for (b = 0xF8; b <= 0xFF; b++) {
		msg[0] = (uint8_t)b;
		assert_int_equal(classify(msg, sizeof(msg)),
		    UDP_PAYLOAD_SIGCOMP);
	}
}

/* KA-05: anything else plausible is SIP, for the SIP parser to judge. */
static void
test_udp_sip_request_is_sip(void **state)
{
	const char *s = "OPTIONS sip:a@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1\r\n\r\n";

	(void)state;
	assert_int_equal(classify(s, strlen(s)), UDP_PAYLOAD_SIP);
	s = "SIP/2.0 200\n";
	assert_int_equal(classify(s, strlen(s)), UDP_PAYLOAD_SIP);
}

/* Fixed-seed LCG (Numerical Recipes constants): reproducible fuzzing. */
static uint32_t
lcg_next(uint32_t *seed)
{
	*seed = *seed * 1664525u + 1013904223u;
	return (*seed >> 8);
}

static void
fuzz_base_request(struct req *r, uint32_t *seed)
{
	req_init(r, 0x0001);
	switch (lcg_next(seed) % 4) {
	case 0:
		break;
	case 1:
		req_add_attr(r, 0x8022, "softphone", 9);
		req_add_attr(r, 0x8123, "opt", 3);
		break;
	case 2:
		req_add_attr(r, 0x0006, "user", 4);
		req_add_attr(r, 0x7FFF, "xy", 2);
		break;
	default:
		req_add_attr(r, 0x8028, "\x01\x02\x03\x04", 4);
		break;
	}
}

static void
fuzz_mutate(struct req *r, uint32_t *seed)
{
	size_t i, count, at;

	count = lcg_next(seed) % 4;
	for (i = 0; i < count; i++) {
		at = lcg_next(seed) % r->len;
		switch (lcg_next(seed) % 3) {
		case 0:
			r->buf[at] = (uint8_t)lcg_next(seed);
			break;
		case 1:
			/* Aim at the length fields, where bugs hide. */
			at = lcg_next(seed) % 2 == 0 ? 2 :
			    STUN_HEADER_SIZE + 2;
			if (at + 1 < r->len) {
				wire_store_u16(r->buf + at,
				    (uint16_t)lcg_next(seed));
			}
			break;
		default:
			r->buf[at] ^= (uint8_t)(1u << (lcg_next(seed) % 8));
			break;
		}
	}
	if (lcg_next(seed) % 3 == 0) {
		r->len = lcg_next(seed) % (r->len + 1);
	}
}

/* What any answer must satisfy, whatever the request. */
static void
check_answer_sane(const struct req *r, const struct answer *a)
{
	if (a->verdict == STUN_DISCARD) {
		assert_int_equal(a->len, 0);
		return;
	}
	assert_int_equal(a->verdict, STUN_REPLY);
	/* Only a well-formed Binding request gets anything. */
	assert_true(r->len >= STUN_HEADER_SIZE);
	assert_int_equal(wire_load_u16(r->buf), 0x0001);
	assert_int_equal(wire_load_u16(r->buf + 2),
	    r->len - STUN_HEADER_SIZE);
	assert_true(wire_load_u16(a->out) == 0x0101 ||
	    wire_load_u16(a->out) == 0x0111);
	assert_int_equal(wire_load_u16(a->out + 2),
	    a->len - STUN_HEADER_SIZE);
	assert_memory_equal(a->out + 4, r->buf + 4, 16);
}

/* ER-08: mutated and truncated requests never overrun or misanswer. */
static void
test_stun_fuzzed_requests_stay_sane(void **state)
{
	struct sockaddr_in src4 = v4("198.51.100.7", 40000);
	struct sockaddr_in6 src6 = v6("2001:db8::1", 40000);
	uint32_t seed = 0xC0FFEEu;
	enum udp_payload_kind k;
	struct answer a;
	struct req r;
	int iter;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		fuzz_base_request(&r, &seed);
		fuzz_mutate(&r, &seed);
		k = classify(r.buf, r.len);
		assert_true(k == UDP_PAYLOAD_SIP || k == UDP_PAYLOAD_STUN ||
		    k == UDP_PAYLOAD_SIGCOMP || k == UDP_PAYLOAD_CRLF ||
		    k == UDP_PAYLOAD_JUNK);
		if (lcg_next(&seed) % 2 == 0) {
			answer(&r, &src4, &a);
		} else {
			answer(&r, &src6, &a);
		}
		check_answer_sane(&r, &a);
		if (a.verdict == STUN_REPLY) {
			assert_int_equal(k, UDP_PAYLOAD_STUN);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_stun_binding_request_gets_xor_mapped_address_ipv4),
		cmocka_unit_test(test_stun_binding_answer_follows_source_port),
		cmocka_unit_test(
		    test_stun_binding_request_gets_xor_mapped_address_ipv6),
		cmocka_unit_test(test_stun_success_carries_short_software),
		cmocka_unit_test(test_stun_bad_cookie_is_discarded),
		cmocka_unit_test(test_stun_length_past_datagram_is_discarded),
		cmocka_unit_test(
		    test_stun_length_not_multiple_of_four_is_discarded),
		cmocka_unit_test(test_stun_top_bits_set_is_discarded),
		cmocka_unit_test(test_stun_truncated_request_is_discarded),
		cmocka_unit_test(test_stun_attribute_past_end_is_discarded),
		cmocka_unit_test(test_stun_unknown_required_attribute_gets_420),
		cmocka_unit_test(
		    test_stun_unknown_attribute_list_is_unique_and_capped),
		cmocka_unit_test(
		    test_stun_unknown_optional_attribute_is_ignored),
		cmocka_unit_test(test_stun_known_attributes_are_accepted),
		cmocka_unit_test(test_stun_indication_gets_no_answer),
		cmocka_unit_test(
		    test_stun_responses_and_other_methods_are_discarded),
		cmocka_unit_test(
		    test_stun_retransmission_gets_identical_answer),
		cmocka_unit_test(test_stun_small_output_buffer_is_discarded),
		cmocka_unit_test(test_stun_unknown_address_family_is_discarded),
		cmocka_unit_test(
		    test_udp_crlf_only_datagram_is_a_keepalive_not_sip),
		cmocka_unit_test(test_udp_blank_datagram_with_spaces_is_junk),
		cmocka_unit_test(test_udp_sip_after_leading_crlf_is_sip),
		cmocka_unit_test(test_udp_zero_datagram_is_junk),
		cmocka_unit_test(test_udp_empty_and_tiny_datagrams_are_junk),
		cmocka_unit_test(test_udp_stun_first_octet_is_stun),
		cmocka_unit_test(test_udp_sigcomp_first_octet_is_sigcomp),
		cmocka_unit_test(test_udp_sip_request_is_sip),
		cmocka_unit_test(test_stun_fuzzed_requests_stay_sane),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
