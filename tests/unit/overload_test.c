/*
 * overload_test.c -- shed, don't collapse (issue 7 §4): which requests are
 * late, the 503 they get, the share of new requests the router asks the
 * children to shed (grown by a standing queue, as CoDel tells one from a
 * burst) and how a child spreads it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/config.h"
#include "epsip/overload.h"

static struct epsip_config cfg;

static int
setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	cfg.overload_delay = 200;
	cfg.retry_after = 30;
	return (0);
}

static void
test_only_a_udp_request_older_than_the_delay_is_late(void **state)
{
	struct epsip_msg m;

	(void)state;
	epsip_msg_init(&m, EPSIP_MSG_SIP_FROM_FLOW);
	m.transport = EPSIP_TRANSPORT_UDP;
	m.stamp_ms = 1000;
	assert_false(overload_is_late(&cfg, &m, 1200));
	assert_true(overload_is_late(&cfg, &m, 1201));
	m.transport = EPSIP_TRANSPORT_TCP;	/* back-pressure instead */
	assert_false(overload_is_late(&cfg, &m, 5000));
	m.transport = EPSIP_TRANSPORT_UDP;
	m.stamp_ms = 0;				/* unknown age */
	assert_false(overload_is_late(&cfg, &m, 5000));
	m.stamp_ms = 1000;
	cfg.overload_delay = 0;			/* shedding off */
	assert_false(overload_is_late(&cfg, &m, 5000));
}

static void
test_a_new_request_gets_503_with_retry_after_and_an_ack_none(void **state)
{
	static const char reg[] =
	    "REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
	    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
	    "Call-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
	static const char ack[] =
	    "ACK sip:a@192.0.2.1 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
	    "To: <sip:a@example.com>\r\n\r\n";
	char *out = NULL;
	size_t len;

	(void)state;
	assert_int_equal(overload_reply(&cfg, reg, strlen(reg), &out, &len),
	    1);
	assert_int_equal(strncmp(out, "SIP/2.0 503 ", 12), 0);
	assert_non_null(strstr(out, "\r\nRetry-After: 30\r\n"));
	free(out);
	out = NULL;
	assert_int_equal(overload_reply(&cfg, ack, strlen(ack), &out, &len),
	    0);
	assert_null(out);
	assert_int_equal(overload_reply(&cfg, "junk", 4, &out, &len), 0);
}

static void
test_a_standing_queue_raises_the_share_and_short_waits_lower_it(
    void **state)
{
	struct overload_meter m = { 0 };
	uint32_t first, second, quiet;
	int i;

	(void)state;
	assert_int_equal(overload_meter_next(&m, &cfg), 0);	/* nothing */
	/* Near capacity, waits of up to the delay are no standing queue. */
	for (i = 0; i < 100; i++) {
		overload_meter_count(&m, 150 + (uint64_t)i / 2);
	}
	assert_int_equal(overload_meter_next(&m, &cfg), 0);
	/* Even the quickest waited past the delay (200 ms). */
	for (i = 0; i < 100; i++) {
		overload_meter_count(&m, 201 + (uint64_t)i);
	}
	first = overload_meter_next(&m, &cfg);
	assert_int_equal(first, OVERLOAD_SHARE_ONE / 4);
	for (i = 0; i < 100; i++) {
		overload_meter_count(&m, 300 - (uint64_t)i);
	}
	second = overload_meter_next(&m, &cfg);	/* still standing: more */
	assert_int_equal(second, first + (OVERLOAD_SHARE_ONE - first) / 4);
	/* A burst: long waits, but one message went straight through. */
	for (i = 0; i < 100; i++) {
		overload_meter_count(&m, i == 50 ? 2 : 400);
	}
	quiet = overload_meter_next(&m, &cfg);	/* not standing: an eighth less */
	assert_int_equal(quiet, second - second / 8);
	/* Enough such windows and the children shed nothing. */
	for (i = 0; i < 64 && quiet != 0; i++) {
		quiet = overload_meter_next(&m, &cfg);
	}
	assert_int_equal(quiet, 0);
	/* Shedding off: never a share. */
	cfg.overload_delay = 0;
	overload_meter_count(&m, 5000);
	assert_int_equal(overload_meter_next(&m, &cfg), 0);
}

static void
test_the_share_never_reaches_every_request(void **state)
{
	struct overload_meter m = { 0 };

	(void)state;
	for (int w = 0; w < 40; w++) {
		overload_meter_count(&m, 1000);
		assert_true(overload_meter_next(&m, &cfg) <=
		    OVERLOAD_SHARE_MAX);
	}
	assert_int_equal(m.share, OVERLOAD_SHARE_MAX);
}

static void
test_a_message_without_stamp_has_no_wait(void **state)
{
	struct epsip_msg msg;

	(void)state;
	epsip_msg_init(&msg, EPSIP_MSG_SIP_FROM_FLOW);
	assert_int_equal(overload_wait_ms(&msg, 5000), 0);
	msg.stamp_ms = 4000;
	assert_int_equal(overload_wait_ms(&msg, 5000), 1000);
	assert_int_equal(overload_wait_ms(&msg, 3000), 0);	/* clock */
}

static void
test_a_child_sheds_its_share_evenly(void **state)
{
	struct overload_gate g = { 0 };
	int shed = 0, i;

	(void)state;
	assert_false(overload_gate_turn(&g, 10));	/* closed */
	overload_gate_set(&g, OVERLOAD_SHARE_ONE / 4, 10);
	for (i = 0; i < 100; i++) {
		int turn = overload_gate_turn(&g, 20);

		/* Every fourth, not the first 25 in a row. */
		assert_int_equal(turn, i % 4 == 3);
		shed += turn;
	}
	assert_int_equal(shed, 25);
}

static void
test_a_child_stops_shedding_without_news_from_the_router(void **state)
{
	struct overload_gate g = { 0 };
	int shed = 0;

	(void)state;
	overload_gate_set(&g, OVERLOAD_SHARE_MAX, 1000);
	for (int i = 0; i < 16; i++) {
		shed += overload_gate_turn(&g, 1000 + OVERLOAD_HOLD_MS - 1);
	}
	assert_true(shed > 0);
	for (int i = 0; i < 16; i++) {
		assert_false(overload_gate_turn(&g, 1000 + OVERLOAD_HOLD_MS));
	}
	overload_gate_set(&g, 0, 3000);		/* told: none */
	assert_false(overload_gate_turn(&g, 3001));
}

static void
test_a_missed_turn_passes_to_the_next_message(void **state)
{
	struct overload_gate g = { 0 };

	(void)state;
	overload_gate_set(&g, OVERLOAD_SHARE_ONE / 4, 0);
	assert_false(overload_gate_turn(&g, 1));
	assert_false(overload_gate_turn(&g, 1));
	assert_false(overload_gate_turn(&g, 1));
	assert_true(overload_gate_turn(&g, 1));
	overload_gate_missed(&g);	/* it was an ACK: not shed */
	assert_true(overload_gate_turn(&g, 1));
	assert_false(overload_gate_turn(&g, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(
		    test_only_a_udp_request_older_than_the_delay_is_late,
		    setup),
		cmocka_unit_test_setup(
		    test_a_new_request_gets_503_with_retry_after_and_an_ack_none,
		    setup),
		cmocka_unit_test_setup(
		    test_a_standing_queue_raises_the_share_and_short_waits_lower_it,
		    setup),
		cmocka_unit_test_setup(
		    test_the_share_never_reaches_every_request, setup),
		cmocka_unit_test(test_a_message_without_stamp_has_no_wait),
		cmocka_unit_test(test_a_child_sheds_its_share_evenly),
		cmocka_unit_test(
		    test_a_child_stops_shedding_without_news_from_the_router),
		cmocka_unit_test(test_a_missed_turn_passes_to_the_next_message),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
