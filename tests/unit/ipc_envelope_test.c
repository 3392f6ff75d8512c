/*
 * ipc_envelope_test.c -- the versioned envelope between EPSIP processes
 * round-trips field by field, and garbled input is refused (ER-10); so
 * does the batch that carries several envelopes in one nng message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/config.h"
#include "epsip/ipc.h"

static void
make_msg(struct epsip_msg *m, const char *payload)
{
	epsip_msg_init(m, EPSIP_MSG_SIP_FROM_FLOW);
	m->flags = EPSIP_MSG_F_CLOSE_AFTER_SEND;
	m->arg = 430;
	m->flow.instance = 3;
	m->flow.child = 70000;
	m->flow.slot = 4095;
	m->flow.generation = 0xdeadbeef;
	m->transport = EPSIP_TRANSPORT_TCP;
	config_parse_addr("192.0.2.1:5060", 0, &m->local);
	config_parse_addr("[2001:db8::7]:40000", 0, &m->remote);
	m->stamp_ms = 0x0123456789abcdefull;
	m->payload = (const uint8_t *)payload;
	m->payload_len = strlen(payload);
}

static void
test_envelope_round_trips_every_field(void **state)
{
	struct epsip_msg in, out;
	uint8_t buf[512];
	size_t len;

	(void)state;
	make_msg(&in, "OPTIONS sip:a@b SIP/2.0\r\n\r\n");
	assert_int_equal(epsip_msg_encode(&in, buf, sizeof(buf), &len),
	    EPSIP_MSG_OK);
	assert_int_equal(len, EPSIP_MSG_HEADER_SIZE + in.payload_len);
	assert_int_equal(epsip_msg_decode(buf, len, &out), EPSIP_MSG_OK);
	assert_int_equal(out.type, EPSIP_MSG_SIP_FROM_FLOW);
	assert_int_equal(out.flags, EPSIP_MSG_F_CLOSE_AFTER_SEND);
	assert_int_equal(out.arg, 430);
	assert_true(epsip_flow_id_equal(&in.flow, &out.flow));
	assert_int_equal(out.transport, EPSIP_TRANSPORT_TCP);
	assert_true(epsip_addr_equal(&in.local, &out.local));
	assert_true(epsip_addr_equal(&in.remote, &out.remote));
	assert_int_equal(out.stamp_ms, in.stamp_ms);
	assert_int_equal(out.payload_len, in.payload_len);
	assert_memory_equal(out.payload, in.payload, in.payload_len);
}

static void
test_envelope_from_another_version_is_refused(void **state)
{
	struct epsip_msg in, out;
	uint8_t buf[256];
	size_t len;

	(void)state;
	make_msg(&in, "x");
	epsip_msg_encode(&in, buf, sizeof(buf), &len);
	buf[1] ^= 0x7f;
	assert_int_equal(epsip_msg_decode(buf, len, &out), EPSIP_MSG_EVERSION);
}

static void
test_envelope_with_unknown_type_is_refused(void **state)
{
	struct epsip_msg in, out;
	uint8_t buf[256];
	size_t len;

	(void)state;
	make_msg(&in, "x");
	epsip_msg_encode(&in, buf, sizeof(buf), &len);
	buf[2] = 0x12;
	assert_int_equal(epsip_msg_decode(buf, len, &out), EPSIP_MSG_ETYPE);
}

static void
test_envelope_truncated_anywhere_is_refused(void **state)
{
	struct epsip_msg in, out;
	uint8_t buf[256];
	size_t len;

	(void)state;
	make_msg(&in, "payload");
	epsip_msg_encode(&in, buf, sizeof(buf), &len);
	for (size_t cut = 0; cut < len; cut++) {
		assert_int_not_equal(epsip_msg_decode(buf, cut, &out),
		    EPSIP_MSG_OK);
	}
}

static void
test_envelope_with_trailing_bytes_is_refused(void **state)
{
	struct epsip_msg in, out;
	uint8_t buf[256];
	size_t len;

	(void)state;
	make_msg(&in, "payload");
	epsip_msg_encode(&in, buf, sizeof(buf), &len);
	assert_int_equal(epsip_msg_decode(buf, len + 1, &out),
	    EPSIP_MSG_ELENGTH);
}

static void
test_envelope_with_bad_address_family_is_refused(void **state)
{
	struct epsip_msg in, out;
	uint8_t buf[256];
	size_t len;

	(void)state;
	make_msg(&in, "p");
	epsip_msg_encode(&in, buf, sizeof(buf), &len);
	buf[25] = 99;	/* local family, after 25 bytes of fixed fields */
	assert_int_equal(epsip_msg_decode(buf, len, &out), EPSIP_MSG_EFIELD);
}

static void
test_envelope_encode_refuses_short_buffer(void **state)
{
	struct epsip_msg in;
	uint8_t buf[EPSIP_MSG_HEADER_SIZE];
	size_t len;

	(void)state;
	make_msg(&in, "too long for the buffer");
	assert_int_equal(epsip_msg_encode(&in, buf, sizeof(buf), &len),
	    EPSIP_MSG_ESPACE);
}

/* A batch of `n` envelopes whose arg is their index; returns its size. */
static size_t
make_batch(uint8_t *buf, size_t cap, int n)
{
	static const char *const payloads[] = { "", "a", "REGISTER" };
	struct epsip_msg m;
	size_t len = EPSIP_BATCH_HEADER_SIZE, one;

	epsip_batch_put_header(buf, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		make_msg(&m, payloads[i % 3]);
		m.arg = (uint32_t)i;
		assert_int_equal(epsip_batch_entry_size(&m),
		    EPSIP_BATCH_ENTRY_OVERHEAD + EPSIP_MSG_HEADER_SIZE +
		    m.payload_len);
		assert_int_equal(epsip_batch_put_entry(&m, buf + len,
		    cap - len, &one), EPSIP_MSG_OK);
		assert_int_equal(one, epsip_batch_entry_size(&m));
		len += one;
	}
	return (len);
}

static void
test_batch_yields_every_envelope_in_order(void **state)
{
	uint8_t buf[4096];
	struct epsip_batch_reader r;
	struct epsip_msg out;
	enum epsip_msg_error err;
	size_t len = make_batch(buf, sizeof(buf), 7);

	(void)state;
	assert_int_equal(epsip_batch_open(&r, buf, len), EPSIP_MSG_OK);
	for (uint32_t i = 0; i < 7; i++) {
		assert_int_equal(epsip_batch_next(&r, &out, &err), 1);
		assert_int_equal(out.arg, i);
		assert_int_equal(out.payload_len, strlen(i % 3 == 0 ? "" :
		    i % 3 == 1 ? "a" : "REGISTER"));
	}
	assert_int_equal(epsip_batch_next(&r, &out, &err), 0);
}

static void
test_batch_skips_a_garbled_envelope_and_keeps_the_rest(void **state)
{
	uint8_t buf[4096];
	struct epsip_batch_reader r;
	struct epsip_msg out;
	enum epsip_msg_error err;
	size_t len = make_batch(buf, sizeof(buf), 3);
	size_t second = EPSIP_BATCH_HEADER_SIZE + EPSIP_BATCH_ENTRY_OVERHEAD +
	    EPSIP_MSG_HEADER_SIZE + EPSIP_BATCH_ENTRY_OVERHEAD;

	(void)state;
	/* The second envelope's type (after its version) becomes unknown. */
	buf[second + 2] = 0xff;
	assert_int_equal(epsip_batch_open(&r, buf, len), EPSIP_MSG_OK);
	assert_int_equal(epsip_batch_next(&r, &out, &err), 1);
	assert_int_equal(out.arg, 0);
	assert_int_equal(epsip_batch_next(&r, &out, &err), -1);
	assert_int_equal(err, EPSIP_MSG_ETYPE);
	assert_int_equal(epsip_batch_next(&r, &out, &err), 1);
	assert_int_equal(out.arg, 2);
	assert_int_equal(epsip_batch_next(&r, &out, &err), 0);
}

static void
test_batch_length_past_the_end_ends_the_walk(void **state)
{
	uint8_t buf[4096];
	struct epsip_batch_reader r;
	struct epsip_msg out;
	enum epsip_msg_error err;
	size_t len = make_batch(buf, sizeof(buf), 2);

	(void)state;
	/* The first entry claims more bytes than the batch has. */
	buf[EPSIP_BATCH_HEADER_SIZE] = 0x7f;
	assert_int_equal(epsip_batch_open(&r, buf, len), EPSIP_MSG_OK);
	assert_int_equal(epsip_batch_next(&r, &out, &err), -1);
	assert_int_equal(err, EPSIP_MSG_ETRUNCATED);
	assert_int_equal(epsip_batch_next(&r, &out, &err), 0);
}

static void
test_batch_count_disagreeing_with_its_bytes_is_refused(void **state)
{
	uint8_t buf[4096];
	struct epsip_batch_reader r;
	struct epsip_msg out;
	enum epsip_msg_error err;
	size_t len = make_batch(buf, sizeof(buf), 3);

	(void)state;
	/* Says 2, carries 3: the third is trailing garbage. */
	epsip_batch_put_header(buf, 2);
	assert_int_equal(epsip_batch_open(&r, buf, len), EPSIP_MSG_OK);
	assert_int_equal(epsip_batch_next(&r, &out, &err), 1);
	assert_int_equal(epsip_batch_next(&r, &out, &err), 1);
	assert_int_equal(epsip_batch_next(&r, &out, &err), -1);
	assert_int_equal(err, EPSIP_MSG_ELENGTH);
	assert_int_equal(epsip_batch_next(&r, &out, &err), 0);
	/* Says 4, carries 3. */
	epsip_batch_put_header(buf, 4);
	assert_int_equal(epsip_batch_open(&r, buf, len), EPSIP_MSG_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(epsip_batch_next(&r, &out, &err), 1);
	}
	assert_int_equal(epsip_batch_next(&r, &out, &err), -1);
	assert_int_equal(err, EPSIP_MSG_ETRUNCATED);
}

static void
test_batch_header_of_another_version_or_empty_is_refused(void **state)
{
	uint8_t buf[4096];
	struct epsip_batch_reader r;
	size_t len = make_batch(buf, sizeof(buf), 1);

	(void)state;
	assert_int_equal(epsip_batch_open(&r, buf, 3), EPSIP_MSG_ETRUNCATED);
	buf[1] = EPSIP_MSG_VERSION + 1;
	assert_int_equal(epsip_batch_open(&r, buf, len), EPSIP_MSG_EVERSION);
	epsip_batch_put_header(buf, 0);
	assert_int_equal(epsip_batch_open(&r, buf, len), EPSIP_MSG_ELENGTH);
}

static void
test_batch_largest_envelope_fits_alone(void **state)
{
	struct epsip_msg m;

	(void)state;
	epsip_msg_init(&m, EPSIP_MSG_SIP_TO_CORE);
	m.payload_len = EPSIP_MSG_MAX_PAYLOAD;
	assert_true(EPSIP_BATCH_HEADER_SIZE + epsip_batch_entry_size(&m) <=
	    EPSIP_BATCH_MAX_SIZE);
}

/* Encode then decode `in` into `out`, which points into buf. */
static void
round_trip(const struct epsip_msg *in, uint8_t *buf, size_t cap,
    struct epsip_msg *out)
{
	size_t len;

	assert_int_equal(epsip_msg_encode(in, buf, cap, &len), EPSIP_MSG_OK);
	assert_int_equal(epsip_msg_decode(buf, len, out), EPSIP_MSG_OK);
	assert_int_equal(out->type, in->type);
}

static void
test_flows_query_carries_its_id_and_filters(void **state)
{
	struct epsip_flows_filter want, got;
	struct epsip_msg in, out;
	uint8_t buf[512];

	(void)state;
	memset(&want, 0, sizeof(want));
	want.instance = 2;
	want.transport = EPSIP_TRANSPORT_TCP;
	strcpy(want.aor, "sip:alice@example.com");
	epsip_flows_query_init(&in, 77, &want);
	round_trip(&in, buf, sizeof(buf), &out);
	assert_int_equal(out.arg, 77);
	assert_int_equal(epsip_flows_query_filter(&out, &got), 0);
	assert_int_equal(got.instance, 2);
	assert_int_equal(got.transport, EPSIP_TRANSPORT_TCP);
	assert_string_equal(got.aor, "sip:alice@example.com");
	assert_true(epsip_flows_filter_match(&got, 2, EPSIP_TRANSPORT_TCP,
	    "sip:alice@example.com"));
	assert_false(epsip_flows_filter_match(&got, 1, EPSIP_TRANSPORT_TCP,
	    "sip:alice@example.com"));
	assert_false(epsip_flows_filter_match(&got, 2, EPSIP_TRANSPORT_UDP,
	    "sip:alice@example.com"));
	assert_false(epsip_flows_filter_match(&got, 2, EPSIP_TRANSPORT_TCP,
	    "sip:alice@example.co"));
	assert_false(epsip_flows_filter_match(&got, 2, EPSIP_TRANSPORT_TCP,
	    ""));
}

static void
test_flows_query_without_filters_matches_every_flow(void **state)
{
	struct epsip_flows_filter any, got;
	struct epsip_msg in, out;
	uint8_t buf[512];

	(void)state;
	memset(&any, 0, sizeof(any));
	epsip_flows_query_init(&in, 1, &any);
	round_trip(&in, buf, sizeof(buf), &out);
	assert_int_equal(out.payload_len, 0);
	assert_int_equal(epsip_flows_query_filter(&out, &got), 0);
	assert_true(epsip_flows_filter_match(&got, 65535, EPSIP_TRANSPORT_UDP,
	    ""));
	assert_true(epsip_flows_filter_match(&got, 1, EPSIP_TRANSPORT_TCP,
	    "sip:bob@example.com"));
}

static void
test_flows_query_with_an_aor_too_long_is_refused(void **state)
{
	struct epsip_flows_filter got;
	struct epsip_msg in, out;
	uint8_t buf[512], aor[EPSIP_AOR_MAX + 1];

	(void)state;
	memset(aor, 'a', sizeof(aor));
	epsip_msg_init(&in, EPSIP_MSG_FLOWS_QUERY);
	in.payload = aor;
	in.payload_len = sizeof(aor);
	round_trip(&in, buf, sizeof(buf), &out);
	assert_int_equal(epsip_flows_query_filter(&out, &got), -1);
}

static void
test_flows_answer_round_trips_with_more_flag(void **state)
{
	static const char flows[] = "[{\"id\":\"2.3.4.5\"}]";
	struct epsip_msg in, out;
	uint8_t buf[512];

	(void)state;
	epsip_msg_init(&in, EPSIP_MSG_FLOWS);
	in.arg = 0xfffffffe;
	in.flags = EPSIP_MSG_F_MORE;
	in.flow.instance = 2;
	in.flow.child = 3;
	in.payload = (const uint8_t *)flows;
	in.payload_len = sizeof(flows) - 1;
	round_trip(&in, buf, sizeof(buf), &out);
	assert_int_equal(out.arg, 0xfffffffe);
	assert_int_equal(out.flags, EPSIP_MSG_F_MORE);
	assert_int_equal(out.flow.instance, 2);
	assert_int_equal(out.flow.child, 3);
	assert_int_equal(out.payload_len, in.payload_len);
	assert_memory_equal(out.payload, flows, in.payload_len);
	assert_string_equal(epsip_msg_type_name(EPSIP_MSG_FLOWS), "flows");
	assert_string_equal(epsip_msg_type_name(EPSIP_MSG_FLOWS_QUERY),
	    "flows-query");
}

static void
test_set_timer_aor_is_cut_and_made_printable(void **state)
{
	char aor[EPSIP_AOR_MAX + 1];
	uint8_t in[EPSIP_AOR_MAX + 10];

	(void)state;
	assert_int_equal(epsip_aor_copy(aor, (const uint8_t *)"sip:a@b", 7),
	    7);
	assert_string_equal(aor, "sip:a@b");
	assert_int_equal(epsip_aor_copy(aor, (const uint8_t *)"sip:\n\"\xff"
	    "@b", 9), 9);
	assert_string_equal(aor, "sip:?\"?@b");
	memset(in, 'x', sizeof(in));
	assert_int_equal(epsip_aor_copy(aor, in, sizeof(in)), EPSIP_AOR_MAX);
	assert_int_equal(strlen(aor), EPSIP_AOR_MAX);
	assert_int_equal(epsip_aor_copy(aor, in, 0), 0);
	assert_string_equal(aor, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_round_trips_every_field),
		cmocka_unit_test(test_envelope_from_another_version_is_refused),
		cmocka_unit_test(test_envelope_with_unknown_type_is_refused),
		cmocka_unit_test(test_envelope_truncated_anywhere_is_refused),
		cmocka_unit_test(test_envelope_with_trailing_bytes_is_refused),
		cmocka_unit_test(
		    test_envelope_with_bad_address_family_is_refused),
		cmocka_unit_test(test_envelope_encode_refuses_short_buffer),
		cmocka_unit_test(test_batch_yields_every_envelope_in_order),
		cmocka_unit_test(
		    test_batch_skips_a_garbled_envelope_and_keeps_the_rest),
		cmocka_unit_test(test_batch_length_past_the_end_ends_the_walk),
		cmocka_unit_test(
		    test_batch_count_disagreeing_with_its_bytes_is_refused),
		cmocka_unit_test(
		    test_batch_header_of_another_version_or_empty_is_refused),
		cmocka_unit_test(test_batch_largest_envelope_fits_alone),
		cmocka_unit_test(test_flows_query_carries_its_id_and_filters),
		cmocka_unit_test(
		    test_flows_query_without_filters_matches_every_flow),
		cmocka_unit_test(
		    test_flows_query_with_an_aor_too_long_is_refused),
		cmocka_unit_test(test_flows_answer_round_trips_with_more_flag),
		cmocka_unit_test(test_set_timer_aor_is_cut_and_made_printable),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
