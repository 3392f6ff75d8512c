/*
 * stun.c -- the limited STUN server of RFC 5626 §8 on the SIP UDP port.
 *
 * A UA behind NAT sends STUN Binding requests to the SIP port it registered
 * through, both to learn its reflexive address and to keep the NAT binding
 * alive.  We answer exactly that (RFC 5389 §7.3): a Binding request gets a
 * success response carrying XOR-MAPPED-ADDRESS, an unknown
 * comprehension-required attribute gets a 420, and everything else --
 * indications, other methods, malformed or truncated datagrams -- gets
 * nothing.  The answer depends only on the request and its source, so a
 * retransmission gets the same bytes (RFC 5389 §7.3.1, KA-08).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "epsip/stun.h"
#include "epsip/wire.h"

/* Message types (RFC 5389 §6, §18.1): Binding method, four classes. */
#define STUN_BINDING_REQUEST	0x0001
#define STUN_BINDING_SUCCESS	0x0101
#define STUN_BINDING_ERROR	0x0111

/* Attribute types (RFC 5389 §18.2). */
#define STUN_ATTR_MAPPED_ADDRESS	0x0001
#define STUN_ATTR_USERNAME		0x0006
#define STUN_ATTR_MESSAGE_INTEGRITY	0x0008
#define STUN_ATTR_ERROR_CODE		0x0009
#define STUN_ATTR_UNKNOWN_ATTRIBUTES	0x000A
#define STUN_ATTR_REALM			0x0014
#define STUN_ATTR_NONCE			0x0015
#define STUN_ATTR_XOR_MAPPED_ADDRESS	0x0020
#define STUN_ATTR_SOFTWARE		0x8022

#define STUN_ATTR_OPTIONAL_MIN	0x8000	/* §15: 0x8000-0xFFFF may be ignored */
#define STUN_ATTR_HEADER_SIZE	4
#define STUN_TXID_OFFSET	8
#define STUN_TXID_SIZE		12
#define STUN_FAMILY_IPV4	0x01
#define STUN_FAMILY_IPV6	0x02

/* At most this many types are listed in UNKNOWN-ATTRIBUTES. */
#define STUN_MAX_UNKNOWN	8

/*
 * SOFTWARE (RFC 5389 §15.10) helps whoever debugs a NAT trace; it is kept
 * to the product name so it leaks no version.
 */
#define STUN_SOFTWARE		"epsip"
#define STUN_REASON_420		"Unknown Attribute"

/*
 * Even with bare-LF line ends the shortest SIP start line, "SIP/2.0 200\n",
 * is 12 bytes, so anything shorter is a NAT keep-alive or noise (KA-12).
 */
#define UDP_SIP_MIN_LEN		12

/* The unknown comprehension-required attributes of one request. */
struct stun_unknown {
	uint16_t	type[STUN_MAX_UNKNOWN];
	size_t		count;
};

/* Attribute values are padded to a multiple of 4 (RFC 5389 §15). */
static size_t
pad4(size_t n)
{
	return ((n + 3) & ~(size_t)3);
}

static int
all_bytes_in(const uint8_t *buf, size_t len, const char *set, size_t nset)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (memchr(set, buf[i], nset) == NULL) {
			return (0);
		}
	}
	return (1);
}

/*
 * The checks run in this order so that a few zero bytes (a common NAT
 * keep-alive) are junk even though a zero first octet otherwise says STUN
 * (RFC 5626 §8, KA-05).  A datagram of nothing but CR and LF is told apart
 * from other blank junk (KA-12): it is never answered, but phones such as
 * linphone send `\r\n\r\n` as their UDP keep-alive, so on a known flow it
 * proves the NAT mapping is still there.
 */
enum udp_payload_kind
udp_payload_classify(const uint8_t *buf, size_t len)
{
	if (buf == NULL || len == 0) {
		return (UDP_PAYLOAD_JUNK);
	}
	if (all_bytes_in(buf, len, "\0", 1)) {
		return (UDP_PAYLOAD_JUNK);
	}
	if (buf[0] == 0x00 || buf[0] == 0x01) {
		/* Shorter than a STUN header: cannot be STUN (§6). */
		return (len < STUN_HEADER_SIZE ? UDP_PAYLOAD_JUNK :
		    UDP_PAYLOAD_STUN);
	}
	if (buf[0] >= 0xF8) {
		/* RFC 3320 §7: SigComp messages start with 11111. */
		return (UDP_PAYLOAD_SIGCOMP);
	}
	if (all_bytes_in(buf, len, "\r\n", 2)) {
		return (UDP_PAYLOAD_CRLF);
	}
	if (all_bytes_in(buf, len, "\r\n \t", 4) || len < UDP_SIP_MIN_LEN) {
		return (UDP_PAYLOAD_JUNK);
	}
	return (UDP_PAYLOAD_SIP);
}

/*
 * The attributes this server understands, in the comprehension-required
 * range (RFC 5389 §18.2).  Knowing one does not mean acting on it: we do
 * no authentication, so USERNAME and MESSAGE-INTEGRITY are just accepted.
 */
static int
stun_attr_known(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_USERNAME:
	case STUN_ATTR_MESSAGE_INTEGRITY:
	case STUN_ATTR_ERROR_CODE:
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
	case STUN_ATTR_REALM:
	case STUN_ATTR_NONCE:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
		return (1);
	}
	return (0);
}

static void
stun_unknown_add(struct stun_unknown *u, uint16_t type)
{
	size_t i;

	for (i = 0; i < u->count; i++) {
		if (u->type[i] == type) {
			return;
		}
	}
	if (u->count < STUN_MAX_UNKNOWN) {
		u->type[u->count++] = type;
	}
}

/*
 * RFC 5389 §7.3: the first two bits are zero, the cookie is right, and the
 * length is a multiple of 4 that matches the datagram exactly (KA-04).
 */
static int
stun_header_valid(const uint8_t *req, size_t req_len)
{
	struct wire_reader r;
	uint16_t type;
	size_t mlen;

	if (req_len < STUN_HEADER_SIZE) {
		return (0);
	}
	wire_reader_init(&r, req, req_len);
	type = wire_get_u16(&r);
	mlen = wire_get_u16(&r);
	if ((type & 0xC000) != 0) {
		return (0);
	}
	if (mlen % 4 != 0 || mlen != req_len - STUN_HEADER_SIZE) {
		return (0);
	}
	return (wire_get_u32(&r) == STUN_MAGIC_COOKIE);
}

/*
 * Walk the attributes, each a type-length-value padded to 4 (RFC 5389
 * §15), and collect the unknown comprehension-required ones.  Any
 * attribute that runs past the message makes it invalid (ER-08).
 */
static int
stun_attrs_walk(const uint8_t *req, size_t req_len, struct stun_unknown *u)
{
	struct wire_reader r;
	uint16_t type, alen;

	u->count = 0;
	wire_reader_init(&r, req + STUN_HEADER_SIZE,
	    req_len - STUN_HEADER_SIZE);
	while (wire_remaining(&r) > 0) {
		type = wire_get_u16(&r);
		alen = wire_get_u16(&r);
		wire_skip(&r, pad4(alen));
		if (wire_read_failed(&r)) {
			return (0);
		}
		if (type < STUN_ATTR_OPTIONAL_MIN && !stun_attr_known(type)) {
			stun_unknown_add(u, type);
		}
	}
	return (1);
}

/*
 * Append one attribute with its value zero-padded to 4, so the same
 * request always gives the same bytes (KA-08).
 */
static void
stun_put_attr(struct wire_writer *w, uint16_t type, const void *value,
    size_t len)
{
	wire_put_u16(w, type);
	wire_put_u16(w, (uint16_t)len);
	wire_put_bytes(w, value, len);
	wire_put_zero(w, pad4(len) - len);
}

static void
stun_put_software(struct wire_writer *w)
{
	stun_put_attr(w, STUN_ATTR_SOFTWARE, STUN_SOFTWARE,
	    sizeof(STUN_SOFTWARE) - 1);
}

/*
 * The 20-byte header in front of a body written at out + 20: type,
 * length, cookie, echoed txid (§6).  Returns the message's length, or 0
 * when the body did not fit.
 */
static size_t
stun_finish(uint8_t *out, uint16_t type, const struct wire_writer *body,
    const uint8_t *req)
{
	struct wire_writer w;

	if (wire_write_end(body) == -1) {
		return (0);
	}
	wire_writer_init(&w, out, STUN_HEADER_SIZE);
	wire_put_u16(&w, type);
	wire_put_u16(&w, (uint16_t)wire_written(body));
	wire_put_u32(&w, STUN_MAGIC_COOKIE);
	wire_put_bytes(&w, req + STUN_TXID_OFFSET, STUN_TXID_SIZE);
	return (STUN_HEADER_SIZE + wire_written(body));
}

/*
 * XOR-MAPPED-ADDRESS value (RFC 5389 §15.2): 0, family, port ^ top half
 * of the cookie, address ^ cookie (IPv4) or ^ cookie || txid (IPv6).  The
 * source is read afresh for every request, never cached (KA-02).  Returns
 * the value length, or 0 for a family we cannot express.
 */
static size_t
stun_xor_address(const struct sockaddr *src, const uint8_t *req,
    uint8_t *v, size_t cap)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct wire_writer w;
	const uint8_t *addr, *mask;
	size_t alen, i;
	uint16_t port;
	uint8_t family;

	mask = req + 4;		/* cookie, then txid: the XOR pad */
	if (src->sa_family == AF_INET) {
		memcpy(&sin, src, sizeof(sin));
		family = STUN_FAMILY_IPV4;
		port = ntohs(sin.sin_port);
		addr = (const uint8_t *)&sin.sin_addr;
		alen = 4;
	} else if (src->sa_family == AF_INET6) {
		memcpy(&sin6, src, sizeof(sin6));
		family = STUN_FAMILY_IPV6;
		port = ntohs(sin6.sin6_port);
		addr = (const uint8_t *)&sin6.sin6_addr;
		alen = 16;
	} else {
		return (0);
	}
	wire_writer_init(&w, v, cap);
	wire_put_u8(&w, 0);
	wire_put_u8(&w, family);
	wire_put_u16(&w, (uint16_t)(port ^ (STUN_MAGIC_COOKIE >> 16)));
	for (i = 0; i < alen; i++) {
		wire_put_u8(&w, addr[i] ^ mask[i]);
	}
	return (wire_write_end(&w) == 0 ? wire_written(&w) : 0);
}

/* 0x0101 with XOR-MAPPED-ADDRESS and SOFTWARE (RFC 5389 §7.3.1.1). */
static size_t
stun_build_success(const uint8_t *req, const struct sockaddr *src,
    uint8_t *out, size_t cap)
{
	struct wire_writer body;
	uint8_t value[20];
	size_t vlen;

	vlen = stun_xor_address(src, req, value, sizeof(value));
	if (vlen == 0) {
		return (0);
	}
	wire_writer_init(&body, out + STUN_HEADER_SIZE,
	    cap - STUN_HEADER_SIZE);
	stun_put_attr(&body, STUN_ATTR_XOR_MAPPED_ADDRESS, value, vlen);
	stun_put_software(&body);
	return (stun_finish(out, STUN_BINDING_SUCCESS, &body, req));
}

/*
 * 0x0111 with ERROR-CODE 420 and UNKNOWN-ATTRIBUTES (RFC 5389 §7.3.1,
 * §15.6, §15.9).  The list uses ordinary zero padding, not RFC 3489's
 * repeated last entry.
 */
static size_t
stun_build_420(const uint8_t *req, const struct stun_unknown *u,
    uint8_t *out, size_t cap)
{
	uint8_t value[4 + sizeof(STUN_REASON_420) - 1];
	uint8_t list[2 * STUN_MAX_UNKNOWN];
	struct wire_writer w, body;
	size_t i;

	/* 21 reserved bits, class 4 in 3 bits, number 20 in 8 bits. */
	wire_writer_init(&w, value, sizeof(value));
	wire_put_u16(&w, 0);
	wire_put_u8(&w, 4);
	wire_put_u8(&w, 20);
	wire_put_bytes(&w, STUN_REASON_420, sizeof(STUN_REASON_420) - 1);
	wire_writer_init(&w, list, sizeof(list));
	for (i = 0; i < u->count; i++) {
		wire_put_u16(&w, u->type[i]);
	}
	wire_writer_init(&body, out + STUN_HEADER_SIZE,
	    cap - STUN_HEADER_SIZE);
	stun_put_attr(&body, STUN_ATTR_ERROR_CODE, value, sizeof(value));
	stun_put_attr(&body, STUN_ATTR_UNKNOWN_ATTRIBUTES, list,
	    2 * u->count);
	stun_put_software(&body);
	return (stun_finish(out, STUN_BINDING_ERROR, &body, req));
}

enum stun_verdict
stun_answer(const uint8_t *req, size_t req_len, const struct sockaddr *src,
    uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct stun_unknown unknown;
	size_t n;

	if (out_len != NULL) {
		*out_len = 0;
	}
	if (req == NULL || src == NULL || out == NULL || out_len == NULL ||
	    out_cap < STUN_MAX_RESPONSE) {
		return (STUN_DISCARD);
	}
	if (!stun_header_valid(req, req_len) ||
	    !stun_attrs_walk(req, req_len, &unknown)) {
		return (STUN_DISCARD);
	}
	/*
	 * Only Binding requests are answered.  Indications never are, not
	 * even with unknown attributes (§7.3.2, KA-07); responses and other
	 * methods are not ours to answer.
	 */
	if (wire_load_u16(req) != STUN_BINDING_REQUEST) {
		return (STUN_DISCARD);
	}
	if (src->sa_family != AF_INET && src->sa_family != AF_INET6) {
		return (STUN_DISCARD);
	}
	if (unknown.count > 0) {
		n = stun_build_420(req, &unknown, out, out_cap);
	} else {
		n = stun_build_success(req, src, out, out_cap);
	}
	if (n == 0) {
		return (STUN_DISCARD);
	}
	*out_len = n;
	return (STUN_REPLY);
}
