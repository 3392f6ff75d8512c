/*
 * fuzz_ipc.c -- the messages between EPSIP's processes, decoded from
 * bytes nobody vouches for: the envelope and the batch of envelopes
 * (common/ipc.c: epsip_msg_decode(), epsip_batch_open(),
 * epsip_batch_next()) and the flow-manager's control messages
 * (services/flow-manager/control.c: fm_ctl_decode()).
 *
 * Input: byte 0 picks what the rest is, modulo 3: an envelope, a batch,
 * a control message.  Checked:
 *   - what decodes re-encodes to the same bytes, but for the 12 bytes an
 *     IPv4 address leaves unused, which the decoder skips and the encoder
 *     writes as zeros (wire.h); its payload lies inside the input;
 *   - a batch walk ends, takes at most the envelopes its header counts,
 *     and a batch whose every envelope decodes is rebuilt byte for byte
 *     by epsip_batch_put_header() and epsip_batch_put_entry();
 *   - a control message re-encodes alike into another buffer and in
 *     place (the parent encodes a datagram where it received it), and
 *     its size is fm_ctl_encoded_size().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "epsip/ipc.h"
#include "epsip/wire.h"
#include "../../services/flow-manager/control.h"

#include "fuzz.h"

/* Where an address starts (its family byte) in each layout. */
#define ENV_LOCAL	25
#define ENV_REMOTE	44
#define CTL_LOCAL	13
#define CTL_REMOTE	32
/* In an address: family(1) port(2) ip(16); IPv4 uses 4 bytes of ip. */
#define ADDR_UNUSED	7
#define ADDR_END	WIRE_ADDR_SIZE

static uint8_t *
copy(const uint8_t *in, size_t len)
{
	uint8_t *p = malloc(len > 0 ? len : 1);

	if (p == NULL) {
		abort();
	}
	if (len > 0) {
		memcpy(p, in, len);
	}
	return (p);
}

/* The bytes an encoder writes for an address the decoder read at `a`. */
static void
canonical_addr(uint8_t *a)
{
	if (a[0] == AF_INET) {
		memset(a + ADDR_UNUSED, 0, ADDR_END - ADDR_UNUSED);
	}
}

static int
inside(const uint8_t *p, size_t n, const uint8_t *in, size_t len)
{
	return (n == 0 || (p >= in && p + n <= in + len));
}

static void
one_envelope(const uint8_t *in, size_t len)
{
	struct epsip_msg msg;
	uint8_t *out, *want;
	size_t n;

	if (epsip_msg_decode(in, len, &msg) != EPSIP_MSG_OK) {
		return;
	}
	FUZZ_CHECK(len == EPSIP_MSG_HEADER_SIZE + msg.payload_len);
	FUZZ_CHECK(inside(msg.payload, msg.payload_len, in, len));
	FUZZ_CHECK(epsip_msg_encoded_size(&msg) == len);
	FUZZ_CHECK(strcmp(epsip_msg_type_name(msg.type), "unknown") != 0);
	out = malloc(len);
	want = copy(in, len);
	if (out == NULL) {
		abort();
	}
	canonical_addr(want + ENV_LOCAL);
	canonical_addr(want + ENV_REMOTE);
	FUZZ_CHECK(epsip_msg_encode(&msg, out, len, &n) == EPSIP_MSG_OK);
	FUZZ_CHECK(n == len && memcmp(out, want, len) == 0);
	/* One byte short: refused, nothing written past the end. */
	FUZZ_CHECK(epsip_msg_encode(&msg, out, len - 1, &n) ==
	    EPSIP_MSG_ESPACE);
	free(out);
	free(want);
}

static void
batch(const uint8_t *in, size_t len)
{
	struct epsip_batch_reader r;
	enum epsip_msg_error err;
	struct epsip_msg *msgs;
	uint8_t *out, *want, *env;
	size_t count, room, got = 0, calls = 0, o, n;
	int rc, all_ok = 1;

	if (epsip_batch_open(&r, in, len) != EPSIP_MSG_OK) {
		return;
	}
	count = r.remaining;
	FUZZ_CHECK(count > 0);
	/* Room for the envelopes the bytes can hold, not all 65535. */
	room = len / (EPSIP_BATCH_ENTRY_OVERHEAD + EPSIP_MSG_HEADER_SIZE) + 1;
	if ((msgs = calloc(room, sizeof(*msgs))) == NULL) {
		abort();
	}
	while ((rc = epsip_batch_next(&r, &msgs[got], &err)) != 0) {
		/* Every call takes an envelope, or ends the walk. */
		FUZZ_CHECK(++calls <= count + 1);
		if (rc == 1) {
			FUZZ_CHECK(got + 1 < room);
			FUZZ_CHECK(inside(msgs[got].payload,
			    msgs[got].payload_len, in, len));
			got++;
		} else {
			FUZZ_CHECK(rc == -1 && err != EPSIP_MSG_OK);
			all_ok = 0;
		}
	}
	FUZZ_CHECK(got <= count);
	if (!all_ok) {
		free(msgs);
		return;
	}
	/* Every envelope decoded: the batch is what the sender made. */
	FUZZ_CHECK(got == count);
	out = malloc(len);
	want = copy(in, len);
	if (out == NULL) {
		abort();
	}
	epsip_batch_put_header(out, (uint16_t)count);
	o = EPSIP_BATCH_HEADER_SIZE;
	for (size_t i = 0; i < count; i++) {
		FUZZ_CHECK(epsip_batch_put_entry(&msgs[i], out + o, len - o,
		    &n) == EPSIP_MSG_OK);
		FUZZ_CHECK(n == epsip_batch_entry_size(&msgs[i]));
		env = want + (msgs[i].payload - in) - EPSIP_MSG_HEADER_SIZE;
		canonical_addr(env + ENV_LOCAL);
		canonical_addr(env + ENV_REMOTE);
		o += n;
	}
	FUZZ_CHECK(o == len && memcmp(out, want, len) == 0);
	free(out);
	free(want);
	free(msgs);
}

static int
same_ctl(const struct fm_ctl_msg *a, const struct fm_ctl_msg *b)
{
	return (a->type == b->type && a->slot == b->slot &&
	    a->generation == b->generation && a->listener == b->listener &&
	    a->transport == b->transport && a->reason == b->reason &&
	    epsip_addr_equal(&a->local, &b->local) &&
	    epsip_addr_equal(&a->remote, &b->remote) &&
	    a->arrived_ms == b->arrived_ms &&
	    a->payload_len == b->payload_len);
}

static void
control(const uint8_t *in, size_t len)
{
	struct fm_ctl_msg m, again;
	uint8_t *out, *want, *place;
	size_t n;

	if (fm_ctl_decode(in, len, &m) != EPSIP_MSG_OK) {
		return;
	}
	FUZZ_CHECK(fm_ctl_encoded_size(&m) == len);
	FUZZ_CHECK(inside(m.payload, m.payload_len, in, len));
	FUZZ_CHECK(strcmp(fm_ctl_type_name(m.type), "unknown") != 0);
	want = copy(in, len);
	if (m.type != FM_CTL_FLOW_CLOSED) {
		canonical_addr(want + CTL_LOCAL);
		canonical_addr(want + CTL_REMOTE);
	}
	if ((out = malloc(len)) == NULL) {
		abort();
	}
	FUZZ_CHECK(fm_ctl_encode(&m, out, len, &n) == EPSIP_MSG_OK);
	FUZZ_CHECK(n == len && memcmp(out, want, len) == 0);
	FUZZ_CHECK(fm_ctl_encode(&m, out, len - 1, &n) == EPSIP_MSG_ESPACE);
	/* In place: decoded from the buffer it is encoded into. */
	place = copy(in, len);
	FUZZ_CHECK(fm_ctl_decode(place, len, &again) == EPSIP_MSG_OK);
	FUZZ_CHECK(same_ctl(&m, &again));
	FUZZ_CHECK(fm_ctl_encode(&again, place, len, &n) == EPSIP_MSG_OK);
	FUZZ_CHECK(n == len && memcmp(place, want, len) == 0);
	free(place);
	free(out);
	free(want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in;
	size_t len;

	if (size < 1) {
		return (0);
	}
	/* Its own copy, exactly as long: ASan sees any read past it. */
	len = size - 1;
	in = copy(data + 1, len);
	switch (data[0] % 3) {
	case 0:
		one_envelope(in, len);
		break;
	case 1:
		batch(in, len);
		break;
	default:
		control(in, len);
		break;
	}
	free(in);
	return (0);
}
