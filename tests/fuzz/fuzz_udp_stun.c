/*
 * fuzz_udp_stun.c -- one UDP datagram on the SIP port, through what the
 * flow-manager does with it, without sockets: the parent's demux
 * (services/flow-manager/udp_demux.c, forward()) and the child's input
 * (udp_flow.c, udp_flow_input()), with the functions they call --
 * udp_payload_classify(), stun_answer() (common/stun.c) for the binding
 * answer of stun_reply.c, the control message that carries the datagram
 * from parent to child (control.c) and the envelope to the router.
 *
 * Input: byte 0 bit 0 says the phone's family (IPv6 when set), bit 1
 * whether the parent knows a flow from that address; bytes 1-2 its port,
 * 3-18 its address (IPv4: the first 4); then the datagram.  Checked:
 *   - the classification keeps stun.h's rules (KA-05, KA-12): STUN starts
 *     0x00/0x01 and has a header, SIP is 12 bytes at least and not blank,
 *     a CRLF keep-alive is CR and LF only; parent and child agree;
 *   - a STUN answer exists only for a valid Binding request (KA-04,
 *     KA-07), fits STUN_MAX_RESPONSE, echoes the transaction, and its
 *     XOR-MAPPED-ADDRESS gives back the phone's address and port (KA-02);
 *     a 420 lists only unknown comprehension-required attributes the
 *     request had (KA-06); the same request gets the same bytes (KA-08);
 *   - the control message and the envelope carry the datagram and the
 *     addresses unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "epsip/ipc.h"
#include "epsip/stun.h"
#include "epsip/wire.h"
#include "../../services/flow-manager/control.h"

#include "fuzz.h"

#define PREFIX			19
#define STUN_BINDING_REQUEST	0x0001
#define STUN_BINDING_SUCCESS	0x0101
#define STUN_BINDING_ERROR	0x0111
#define ATTR_ERROR_CODE		0x0009
#define ATTR_UNKNOWN_ATTRIBUTES	0x000A
#define ATTR_XOR_MAPPED_ADDRESS	0x0020
#define ATTR_SOFTWARE		0x8022

static int
only_bytes(const uint8_t *p, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++) {
		/* "": only zeros; otherwise only the bytes of `set`. */
		if (p[i] == '\0' ? set[0] != '\0' :
		    strchr(set, p[i]) == NULL) {
			return (0);
		}
	}
	return (1);
}

static void
check_kind(const uint8_t *d, size_t n, enum udp_payload_kind kind)
{
	switch (kind) {
	case UDP_PAYLOAD_STUN:
		FUZZ_CHECK(n >= STUN_HEADER_SIZE && d[0] <= 1);
		FUZZ_CHECK(!only_bytes(d, n, ""));
		break;
	case UDP_PAYLOAD_SIP:
		FUZZ_CHECK(n >= 12 && d[0] > 1 && d[0] < 0xf8);
		FUZZ_CHECK(!only_bytes(d, n, "\r\n \t"));
		break;
	case UDP_PAYLOAD_CRLF:
		FUZZ_CHECK(n > 0 && only_bytes(d, n, "\r\n"));
		break;
	case UDP_PAYLOAD_SIGCOMP:
		FUZZ_CHECK(n > 0 && d[0] >= 0xf8);
		break;
	case UDP_PAYLOAD_JUNK:
		FUZZ_CHECK(n == 0 || only_bytes(d, n, "") ||
		    ((d[0] <= 1) && n < STUN_HEADER_SIZE) ||
		    (d[0] > 1 && d[0] < 0xf8 && (n < 12 ||
		    only_bytes(d, n, "\r\n \t"))));
		break;
	default:
		FUZZ_CHECK(!"unknown kind");
	}
}

/* 1 when the request's attributes hold `type`. */
static int
request_has_attr(const uint8_t *req, size_t n, uint16_t type)
{
	struct wire_reader r;
	uint16_t t, alen;

	wire_reader_init(&r, req + STUN_HEADER_SIZE, n - STUN_HEADER_SIZE);
	while (wire_remaining(&r) > 0) {
		t = wire_get_u16(&r);
		alen = wire_get_u16(&r);
		wire_skip(&r, (alen + 3u) & ~3u);
		if (wire_read_failed(&r)) {
			return (0);
		}
		if (t == type) {
			return (1);
		}
	}
	return (0);
}

/* XOR-MAPPED-ADDRESS (RFC 5389 §15.2) names `remote`. */
static void
check_mapped(const uint8_t *v, size_t vlen, const uint8_t *out,
    const struct epsip_addr *remote)
{
	size_t alen = remote->family == AF_INET6 ? 16 : 4;

	FUZZ_CHECK(vlen == 4 + alen);
	FUZZ_CHECK(v[0] == 0 && v[1] == (alen == 16 ? 2 : 1));
	FUZZ_CHECK((wire_load_u16(v + 2) ^ 0x2112) == remote->port);
	for (size_t i = 0; i < alen; i++) {
		/* The pad: the cookie, then the transaction id. */
		FUZZ_CHECK((v[4 + i] ^ out[4 + i]) == remote->ip[i]);
	}
}

/* The answer's attributes, which we wrote: every one whole. */
static void
check_answer_attrs(const uint8_t *req, size_t n, const uint8_t *out,
    size_t olen, const struct epsip_addr *remote)
{
	struct wire_reader r;
	const uint8_t *v;
	uint16_t type, t, alen;
	int mapped = 0, error = 0, unknown = 0, software = 0;

	type = wire_load_u16(out);
	wire_reader_init(&r, out + STUN_HEADER_SIZE, olen - STUN_HEADER_SIZE);
	while (wire_remaining(&r) > 0) {
		t = wire_get_u16(&r);
		alen = wire_get_u16(&r);
		v = wire_get_ptr(&r, alen);
		wire_skip(&r, ((alen + 3u) & ~3u) - alen);
		FUZZ_CHECK(v != NULL && !wire_read_failed(&r));
		if (t == ATTR_XOR_MAPPED_ADDRESS) {
			check_mapped(v, alen, out, remote);
			mapped++;
		} else if (t == ATTR_ERROR_CODE) {
			/* 420: class 4, number 20 (§15.6). */
			FUZZ_CHECK(alen >= 4 && v[2] == 4 && v[3] == 20);
			error++;
		} else if (t == ATTR_UNKNOWN_ATTRIBUTES) {
			FUZZ_CHECK(alen >= 2 && alen % 2 == 0);
			for (size_t i = 0; i < alen; i += 2) {
				uint16_t u = wire_load_u16(v + i);

				FUZZ_CHECK(u < 0x8000);
				FUZZ_CHECK(request_has_attr(req, n, u));
			}
			unknown++;
		} else {
			FUZZ_CHECK(t == ATTR_SOFTWARE);
			software++;
		}
	}
	FUZZ_CHECK(software == 1);
	if (type == STUN_BINDING_SUCCESS) {
		FUZZ_CHECK(mapped == 1 && error == 0 && unknown == 0);
	} else {
		FUZZ_CHECK(mapped == 0 && error == 1 && unknown == 1);
	}
}

/* stun_reply.c's answer to `req` from `remote`, checked. */
static void
stun_reply(const uint8_t *req, size_t n, const struct epsip_addr *remote)
{
	struct sockaddr_storage ss;
	enum stun_verdict v, again;
	uint8_t *out, *out2;
	size_t olen, olen2;

	FUZZ_CHECK(epsip_addr_to_sockaddr(remote, &ss) != 0);
	/* Exactly STUN_MAX_RESPONSE: ASan sees a byte written past it. */
	out = malloc(STUN_MAX_RESPONSE);
	out2 = malloc(STUN_MAX_RESPONSE);
	if (out == NULL || out2 == NULL) {
		abort();
	}
	v = stun_answer(req, n, (struct sockaddr *)&ss, out,
	    STUN_MAX_RESPONSE, &olen);
	if (v == STUN_DISCARD) {
		FUZZ_CHECK(olen == 0);
		goto done;
	}
	FUZZ_CHECK(v == STUN_REPLY);
	/* Only a valid Binding request (RFC 5389 §7.3, KA-04, KA-07). */
	FUZZ_CHECK(n >= STUN_HEADER_SIZE && n % 4 == 0);
	FUZZ_CHECK(wire_load_u16(req) == STUN_BINDING_REQUEST);
	FUZZ_CHECK(wire_load_u16(req + 2) == n - STUN_HEADER_SIZE);
	FUZZ_CHECK(wire_load_u32(req + 4) == STUN_MAGIC_COOKIE);
	/* A whole message of ours, echoing the transaction (§6). */
	FUZZ_CHECK(olen >= STUN_HEADER_SIZE && olen <= STUN_MAX_RESPONSE);
	FUZZ_CHECK(olen % 4 == 0);
	FUZZ_CHECK(wire_load_u16(out) == STUN_BINDING_SUCCESS ||
	    wire_load_u16(out) == STUN_BINDING_ERROR);
	FUZZ_CHECK(wire_load_u16(out + 2) == olen - STUN_HEADER_SIZE);
	FUZZ_CHECK(memcmp(out + 4, req + 4, 16) == 0);
	check_answer_attrs(req, n, out, olen, remote);
	/* A retransmission gets the same bytes (KA-08). */
	again = stun_answer(req, n, (struct sockaddr *)&ss, out2,
	    STUN_MAX_RESPONSE, &olen2);
	FUZZ_CHECK(again == v && olen2 == olen);
	FUZZ_CHECK(memcmp(out, out2, olen) == 0);
done:
	free(out);
	free(out2);
}

static int
same_addr(const struct epsip_addr *a, const struct epsip_addr *b)
{
	return (a->family == b->family && a->port == b->port &&
	    memcmp(a->ip, b->ip, sizeof(a->ip)) == 0);
}

/* The child hands a SIP datagram to the router: one envelope, intact. */
static void
to_router(const struct fm_ctl_msg *m)
{
	struct epsip_batch_reader r;
	enum epsip_msg_error err;
	struct epsip_msg msg, back;
	uint8_t *batch;
	size_t len, cap;

	epsip_msg_init(&msg, EPSIP_MSG_SIP_FROM_FLOW);
	msg.flow.instance = 1;
	msg.flow.child = 3;
	msg.flow.slot = m->slot;
	msg.flow.generation = m->generation;
	msg.transport = m->transport;
	msg.local = m->local;
	msg.remote = m->remote;
	msg.stamp_ms = m->arrived_ms;
	msg.payload = m->payload;
	msg.payload_len = m->payload_len;
	cap = EPSIP_BATCH_HEADER_SIZE + epsip_batch_entry_size(&msg);
	if ((batch = malloc(cap)) == NULL) {
		abort();
	}
	epsip_batch_put_header(batch, 1);
	FUZZ_CHECK(epsip_batch_put_entry(&msg, batch + EPSIP_BATCH_HEADER_SIZE,
	    cap - EPSIP_BATCH_HEADER_SIZE, &len) == EPSIP_MSG_OK);
	FUZZ_CHECK(EPSIP_BATCH_HEADER_SIZE + len == cap);
	FUZZ_CHECK(epsip_batch_open(&r, batch, cap) == EPSIP_MSG_OK);
	FUZZ_CHECK(epsip_batch_next(&r, &back, &err) == 1);
	FUZZ_CHECK(back.type == EPSIP_MSG_SIP_FROM_FLOW);
	FUZZ_CHECK(back.transport == EPSIP_TRANSPORT_UDP);
	FUZZ_CHECK(epsip_flow_id_equal(&back.flow, &msg.flow));
	FUZZ_CHECK(same_addr(&back.local, &msg.local));
	FUZZ_CHECK(same_addr(&back.remote, &msg.remote));
	FUZZ_CHECK(back.stamp_ms == msg.stamp_ms);
	FUZZ_CHECK(back.payload_len == msg.payload_len);
	FUZZ_CHECK(memcmp(back.payload, msg.payload, msg.payload_len) == 0);
	FUZZ_CHECK(epsip_batch_next(&r, &back, &err) == 0);
	free(batch);
}

/* udp_flow.c, udp_flow_input(): the child's side of the datagram. */
static void
child_input(const struct fm_ctl_msg *m, enum udp_payload_kind parent_kind)
{
	enum udp_payload_kind kind;

	kind = udp_payload_classify(m->payload, m->payload_len);
	FUZZ_CHECK(kind == parent_kind);
	switch (kind) {
	case UDP_PAYLOAD_STUN:
		stun_reply(m->payload, m->payload_len, &m->remote);
		break;
	case UDP_PAYLOAD_SIP:
		to_router(m);
		break;
	default:
		/* A CRLF keep-alive refreshes the flow; nothing is sent. */
		FUZZ_CHECK(kind == UDP_PAYLOAD_CRLF);
		break;
	}
}

/*
 * udp_demux.c, forward(): the datagram sits where the control message's
 * payload goes, is encoded in place and decoded by the child.
 */
static void
parent_forward(const uint8_t *d, size_t n, const struct epsip_addr *local,
    const struct epsip_addr *remote, enum udp_payload_kind kind)
{
	struct fm_ctl_msg m, got;
	uint8_t *buf;
	size_t len;

	if ((buf = malloc(FM_CTL_FLOW_SIZE + n)) == NULL) {
		abort();
	}
	memcpy(buf + FM_CTL_FLOW_SIZE, d, n);
	fm_ctl_init(&m, FM_CTL_UDP_DATAGRAM);
	m.slot = 7;
	m.generation = 0x01020304;
	m.listener = 0;
	m.local = *local;
	m.remote = *remote;
	m.arrived_ms = 123456789;
	m.payload = buf + FM_CTL_FLOW_SIZE;
	m.payload_len = n;
	FUZZ_CHECK(fm_ctl_encode(&m, buf, FM_CTL_FLOW_SIZE + n, &len) ==
	    EPSIP_MSG_OK);
	FUZZ_CHECK(len == FM_CTL_FLOW_SIZE + n);
	FUZZ_CHECK(memcmp(buf + FM_CTL_FLOW_SIZE, d, n) == 0);
	FUZZ_CHECK(fm_ctl_decode(buf, len, &got) == EPSIP_MSG_OK);
	FUZZ_CHECK(got.type == FM_CTL_UDP_DATAGRAM);
	FUZZ_CHECK(got.slot == m.slot && got.generation == m.generation);
	FUZZ_CHECK(got.listener == m.listener);
	FUZZ_CHECK(got.transport == EPSIP_TRANSPORT_UDP);
	FUZZ_CHECK(got.arrived_ms == m.arrived_ms);
	FUZZ_CHECK(same_addr(&got.local, local));
	FUZZ_CHECK(same_addr(&got.remote, remote));
	FUZZ_CHECK(got.payload == buf + FM_CTL_FLOW_SIZE);
	FUZZ_CHECK(got.payload_len == n);
	child_input(&got, kind);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct epsip_addr local, remote;
	enum udp_payload_kind kind;
	const uint8_t *d;
	size_t n;
	int known;

	if (size < PREFIX || size - PREFIX > FM_CTL_MAX_DATAGRAM) {
		return (0);
	}
	memset(&remote, 0, sizeof(remote));
	memset(&local, 0, sizeof(local));
	remote.family = local.family = (data[0] & 1) ? AF_INET6 : AF_INET;
	remote.port = wire_load_u16(data + 1);
	memcpy(remote.ip, data + 3, remote.family == AF_INET6 ? 16 : 4);
	local.port = 5060;
	if (local.family == AF_INET) {
		FUZZ_CHECK(epsip_addr_set_ip(&local, "192.0.2.1") == 0);
	} else {
		FUZZ_CHECK(epsip_addr_set_ip(&local, "2001:db8::1") == 0);
	}
	known = (data[0] & 2) != 0;
	d = data + PREFIX;
	n = size - PREFIX;

	kind = udp_payload_classify(d, n);
	check_kind(d, n, kind);
	switch (kind) {
	case UDP_PAYLOAD_JUNK:
	case UDP_PAYLOAD_SIGCOMP:
		return (0);		/* dropped, counted */
	case UDP_PAYLOAD_STUN:
		if (!known) {
			/* Answered by the parent; no flow is made. */
			stun_reply(d, n, &remote);
			return (0);
		}
		break;
	case UDP_PAYLOAD_CRLF:
		if (!known) {
			/* Keeps no flow alive, opens none. */
			return (0);
		}
		break;
	case UDP_PAYLOAD_SIP:
		break;		/* opens a flow if there is none */
	}
	parent_forward(d, n, &local, &remote, kind);
	return (0);
}
