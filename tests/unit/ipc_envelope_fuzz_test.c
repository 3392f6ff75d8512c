/*
 * ipc_envelope_fuzz_test.c -- the envelope decoder (common/ipc.c) on
 * mutated input: valid envelopes with random fields, changed in one to
 * three places each, so every check of the layout is reached (ER-10).
 * Its verdict must be the one the layout gives, and it must never read
 * past the input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/socket.h>

#include "epsip/ipc.h"

#define FUZZ_INPUTS		20000
#define FUZZ_PAYLOAD_MAX	32
#define FUZZ_CAP		(EPSIP_MSG_HEADER_SIZE + FUZZ_PAYLOAD_MAX + 8)

/* Byte offsets of the checked fields (ipc.c's layout). */
#define AT_VERSION		0
#define AT_TYPE			2
#define AT_TRANSPORT		24
#define AT_LOCAL_FAMILY		25
#define AT_REMOTE_FAMILY	44
#define AT_PAYLOAD_LEN		71
/* An address is family(1) port(2) ip(16); IPv4 uses the first 4 of ip. */
#define ADDR_IP			3
#define ADDR_IPV4_UNUSED	(ADDR_IP + 4)
#define ADDR_IP_END		(ADDR_IP + 16)

static uint32_t
fuzz_next(uint32_t *x)
{
	/* xorshift32: every bit random, unlike a short LCG's low bits. */
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return (*x);
}

static uint32_t
be_get(const uint8_t *p, size_t n)
{
	uint32_t v = 0;

	while (n-- > 0) {
		v = v << 8 | *p++;
	}
	return (v);
}

static void
be_put(uint8_t *p, uint32_t v, size_t n)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static int
family_ok(uint8_t f)
{
	return (f == 0 || f == AF_INET || f == AF_INET6);
}

/*
 * What the decoder must answer for these bytes, read straight off the
 * layout in ipc.c's comment; *past_type says whether the input got past
 * the version and type checks.
 */
static enum epsip_msg_error
envelope_verdict(const uint8_t *b, size_t len, int *past_type)
{
	uint32_t type, plen;
	size_t have;

	*past_type = 0;
	if (len < EPSIP_MSG_HEADER_SIZE) {
		return (EPSIP_MSG_ETRUNCATED);
	}
	if (be_get(b + AT_VERSION, 2) != EPSIP_MSG_VERSION) {
		return (EPSIP_MSG_EVERSION);
	}
	type = be_get(b + AT_TYPE, 2);
	if (type == EPSIP_MSG_NONE || type > EPSIP_MSG_TYPE_MAX) {
		return (EPSIP_MSG_ETYPE);
	}
	*past_type = 1;
	if (b[AT_TRANSPORT] > EPSIP_TRANSPORT_MAX ||
	    !family_ok(b[AT_LOCAL_FAMILY]) || !family_ok(b[AT_REMOTE_FAMILY])) {
		return (EPSIP_MSG_EFIELD);
	}
	plen = be_get(b + AT_PAYLOAD_LEN, 4);
	have = len - EPSIP_MSG_HEADER_SIZE;
	if (plen > EPSIP_MSG_MAX_PAYLOAD) {
		return (EPSIP_MSG_ELENGTH);
	}
	if (plen != have) {
		return (plen > have ? EPSIP_MSG_ETRUNCATED : EPSIP_MSG_ELENGTH);
	}
	return (EPSIP_MSG_OK);
}

/* A valid envelope, every field random; its encoded size. */
static size_t
random_envelope(uint32_t *x, uint8_t *buf)
{
	static const uint8_t families[] = { 0, AF_INET, AF_INET6 };
	uint8_t payload[FUZZ_PAYLOAD_MAX];
	struct epsip_msg m;
	size_t len;

	epsip_msg_init(&m, (enum epsip_msg_type)(1 + fuzz_next(x) %
	    EPSIP_MSG_TYPE_MAX));
	m.flags = (uint16_t)fuzz_next(x);
	m.arg = fuzz_next(x);
	m.flow.instance = (uint16_t)fuzz_next(x);
	m.flow.child = fuzz_next(x);
	m.flow.slot = fuzz_next(x);
	m.flow.generation = fuzz_next(x);
	m.transport = (uint8_t)(fuzz_next(x) % (EPSIP_TRANSPORT_MAX + 1));
	m.local.family = families[fuzz_next(x) % 3];
	m.local.port = (uint16_t)fuzz_next(x);
	m.remote.family = families[fuzz_next(x) % 3];
	m.remote.port = (uint16_t)fuzz_next(x);
	for (size_t i = 0; i < 16; i++) {
		m.local.ip[i] = (uint8_t)fuzz_next(x);
		m.remote.ip[i] = (uint8_t)fuzz_next(x);
	}
	m.stamp_ms = (uint64_t)fuzz_next(x) << 32 | fuzz_next(x);
	m.payload_len = fuzz_next(x) % (FUZZ_PAYLOAD_MAX + 1);
	for (size_t i = 0; i < m.payload_len; i++) {
		payload[i] = (uint8_t)fuzz_next(x);
	}
	m.payload = payload;
	assert_int_equal(epsip_msg_encode(&m, buf, FUZZ_CAP, &len),
	    EPSIP_MSG_OK);
	return (len);
}

/* One mutation of the envelope in buf[0..*len), within FUZZ_CAP. */
static void
mutate(uint32_t *x, uint8_t *buf, size_t *len)
{
	static const uint32_t lengths[] = { 0, 1, EPSIP_MSG_MAX_PAYLOAD,
	    EPSIP_MSG_MAX_PAYLOAD + 1, 0xffffffffu };
	static const uint16_t types[] = { EPSIP_MSG_NONE, 1,
	    EPSIP_MSG_TYPE_MAX, EPSIP_MSG_TYPE_MAX + 1, 0xffff };
	static const uint8_t families[] = { 0, AF_INET, AF_INET6, 1, 99,
	    0xff };
	size_t have = *len - EPSIP_MSG_HEADER_SIZE, extra;
	uint32_t r = fuzz_next(x);

	switch (r % 9) {
	case 0:		/* any byte of the header, any value */
		buf[fuzz_next(x) % EPSIP_MSG_HEADER_SIZE] =
		    (uint8_t)fuzz_next(x);
		break;
	case 1:		/* the payload length: off by one, huge, anything */
		switch (fuzz_next(x) % 4) {
		case 0:
			be_put(buf + AT_PAYLOAD_LEN, (uint32_t)have + 1, 4);
			break;
		case 1:
			be_put(buf + AT_PAYLOAD_LEN, (uint32_t)have - 1, 4);
			break;
		case 2:
			be_put(buf + AT_PAYLOAD_LEN,
			    lengths[fuzz_next(x) % 5], 4);
			break;
		default:
			be_put(buf + AT_PAYLOAD_LEN, fuzz_next(x), 4);
			break;
		}
		break;
	case 2:		/* the type: edges of the range, or anything */
		be_put(buf + AT_TYPE, fuzz_next(x) % 2 ?
		    types[fuzz_next(x) % 5] : fuzz_next(x), 2);
		break;
	case 3:
		buf[AT_TRANSPORT] = (uint8_t)(fuzz_next(x) %
		    (EPSIP_TRANSPORT_MAX + 3));
		break;
	case 4:
		buf[fuzz_next(x) % 2 ? AT_LOCAL_FAMILY : AT_REMOTE_FAMILY] =
		    families[fuzz_next(x) % 6];
		break;
	case 5:		/* cut anywhere, header included */
		*len = fuzz_next(x) % *len;
		break;
	case 6:		/* bytes past the end */
		extra = 1 + fuzz_next(x) % 8;
		for (size_t i = 0; i < extra && *len < FUZZ_CAP; i++) {
			buf[(*len)++] = (uint8_t)fuzz_next(x);
		}
		break;
	case 7:
		be_put(buf + AT_VERSION, fuzz_next(x) % 2 ?
		    EPSIP_MSG_VERSION + 1 : fuzz_next(x), 2);
		break;
	default:	/* a payload byte, or a header byte if none */
		buf[fuzz_next(x) % *len] = (uint8_t)fuzz_next(x);
		break;
	}
}

/*
 * What an accepted envelope encodes back to: its own bytes, but an IPv4
 * address's 12 unused bytes are zero (wire_put_addr: one encoding).
 */
static void
expected_reencoding(const uint8_t *in, size_t len, uint8_t *expect)
{
	static const size_t at[] = { AT_LOCAL_FAMILY, AT_REMOTE_FAMILY };

	memcpy(expect, in, len);
	for (size_t i = 0; i < 2; i++) {
		if (expect[at[i]] == AF_INET) {
			memset(expect + at[i] + ADDR_IPV4_UNUSED, 0,
			    ADDR_IP_END - ADDR_IPV4_UNUSED);
		}
	}
}

/*
 * Valid envelopes with random fields, then one to three mutations each
 * (type, transport, families, payload length, version, any byte, cut,
 * bytes past the end); one in eight is left whole.  Each input sits in a
 * heap block of exactly its size, so a read past it is an ASan or
 * valgrind error.  The decoder's answer must be the one the layout gives;
 * what it accepts points inside the input and encodes back to the same
 * bytes (an IPv4 address's unused bytes zeroed).
 */
static void
test_envelope_fuzzed_fields_get_the_right_verdict(void **state)
{
	unsigned verdicts[EPSIP_MSG_ESPACE + 1] = { 0 };
	uint8_t buf[FUZZ_CAP], again[FUZZ_CAP], expect[FUZZ_CAP], *in;
	unsigned past_type = 0;
	uint32_t x = 0x9e3779b9u;
	struct epsip_msg out;
	enum epsip_msg_error want, got;
	size_t len, relen;
	int past;

	(void)state;
	for (int i = 0; i < FUZZ_INPUTS; i++) {
		len = random_envelope(&x, buf);
		if (fuzz_next(&x) % 8 != 0) {
			for (uint32_t n = 1 + fuzz_next(&x) % 3; n > 0 &&
			    len > 0; n--) {
				mutate(&x, buf, &len);
			}
		}
		want = envelope_verdict(buf, len, &past);
		assert_non_null(in = malloc(len > 0 ? len : 1));
		memcpy(in, buf, len);
		got = epsip_msg_decode(in, len, &out);
		if (got != want) {
			fail_msg("input %d (%zu bytes): decoder says %d, the "
			    "layout %d", i, len, got, want);
		}
		if (got == EPSIP_MSG_OK) {
			assert_ptr_equal(out.payload,
			    in + EPSIP_MSG_HEADER_SIZE);
			assert_int_equal(out.payload_len,
			    len - EPSIP_MSG_HEADER_SIZE);
			assert_int_equal(epsip_msg_encode(&out, again,
			    sizeof(again), &relen), EPSIP_MSG_OK);
			assert_int_equal(relen, len);
			expected_reencoding(in, len, expect);
			assert_memory_equal(again, expect, len);
		}
		free(in);
		verdicts[got]++;
		past_type += (unsigned)past;
	}
	print_message("envelope fuzz: %d inputs, %u (%.1f%%) past the type "
	    "check; ok %u, truncated %u, version %u, type %u, field %u, "
	    "length %u\n", FUZZ_INPUTS, past_type,
	    100.0 * past_type / FUZZ_INPUTS, verdicts[EPSIP_MSG_OK],
	    verdicts[EPSIP_MSG_ETRUNCATED], verdicts[EPSIP_MSG_EVERSION],
	    verdicts[EPSIP_MSG_ETYPE], verdicts[EPSIP_MSG_EFIELD],
	    verdicts[EPSIP_MSG_ELENGTH]);
	/* Most inputs reach the fields after the type; every check fires. */
	assert_true(past_type > FUZZ_INPUTS / 2);
	for (int v = EPSIP_MSG_OK; v <= EPSIP_MSG_ELENGTH; v++) {
		assert_true(verdicts[v] >= FUZZ_INPUTS / 100);
	}
	assert_int_equal(verdicts[EPSIP_MSG_ESPACE], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_envelope_fuzzed_fields_get_the_right_verdict),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
