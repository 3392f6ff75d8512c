/*
 * router_response_test.c -- responses through the sip-router, which reads
 * them from the scan alone (response.c): what it forwards, byte for byte,
 * what it drops and under which counter, and how long the flow a 2xx
 * REGISTER returns to may then stay silent.  IDs are the checklist's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "epsip/stats.h"
#include "router_fixture.h"

/* Our Via on a request from flow A (%s: its token), and the phone's. */
#define OUR_VIA	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-ep0a1b;ept=%s"
#define PHONE_VIA "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-reg1;" \
	"received=198.51.100.7;rport=40000\r\n"
#define DIALOG	"From: <sip:bob@example.com>;tag=f1\r\n" \
	"To: <sip:bob@example.com>;tag=t1\r\n" \
	"Call-ID: reg-1@10.0.0.5\r\n"
#define BINDING	"Contact: <sip:bob@10.0.0.5:5060;ob>;reg-id=1;expires=3600\r\n"

#define setup router_fixture_setup_embedded
#define teardown router_fixture_teardown

/* `fmt` with flow A's token for its %s, from the core. */
static void
from_core(const char *fmt, struct router_output *out)
{
	char token[FLOW_TOKEN_MAX_TEXT], text[4096];

	token_of(&flow_a, token, sizeof(token));
	snprintf(text, sizeof(text), fmt, token);
	process(&core, text, out);
}

static void
assert_back_on_flow_a(const struct router_output *out)
{
	assert_int_equal(out->dest, ROUTER_TO_FLOW);
	assert_true(epsip_flow_id_equal(&out->flow.flow, &flow_a.flow.flow));
	assert_int_equal(out->local_status, 0);
}

static void
assert_dropped(const char *fmt, const char *reason)
{
	struct router_output out;
	enum metric_id counter;
	char name[64];
	int64_t before;

	snprintf(name, sizeof(name), "sip.dropped.%s", reason);
	assert_int_equal(metric_find(name, &counter), 0);
	before = stats_get(counter);
	from_core(fmt, &out);
	assert_int_equal(out.dest, ROUTER_DROP);
	assert_null(out.sip);
	assert_string_equal(out.drop_reason, reason);
	assert_int_equal(stats_get(counter), before + 1);
}

static void
test_register_2xx_through_a_flow_gets_flow_timer_above_content_length(
    void **state)
{
	struct router_output out;
	char want[2048];
	int64_t before = stats_get(M_SIP_IN_RESPONSE_2XX);

	(void)state;
	/* EP-18 (we advertise ours), EP-19 (the flow lives that long). */
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nRequire: outbound\r\n" BINDING
	    "Content-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, cfg.flow_timer);
	snprintf(want, sizeof(want), "SIP/2.0 200 OK\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nRequire: outbound\r\n" BINDING
	    "Flow-Timer: %u\r\nContent-Length: 0\r\n\r\n", cfg.flow_timer);
	assert_string_equal(out.sip, want);
	assert_int_equal(stats_get(M_SIP_IN_RESPONSE_2XX), before + 1);
	router_output_clear(&out);
}

static void
test_require_outbound_counts_in_a_comma_list_in_any_case(void **state)
{
	struct router_output out;
	char line[32];

	(void)state;
	/* EP-18 */
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 7 REGISTER\r\nRequire: path\r\nrequire: gruu , Outbound\r\n"
	    BINDING "Content-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, cfg.flow_timer);
	snprintf(line, sizeof(line), "\r\nFlow-Timer: %u\r\n", cfg.flow_timer);
	assert_non_null(strstr(out.sip, line));
	router_output_clear(&out);
}

static void
test_upstream_flow_timer_larger_than_ours_is_honoured_and_relayed(
    void **state)
{
	struct router_output out;

	(void)state;
	/* EP-19: the phone pings within 600 s; RG-29: relayed as it came. */
	assert_true(cfg.flow_timer < 600);
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nRequire: outbound\r\nFlow-Timer: 600\r\n"
	    BINDING "Content-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, 600);
	assert_string_equal(out.sip, "SIP/2.0 200 OK\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nRequire: outbound\r\nFlow-Timer: 600\r\n"
	    BINDING "Content-Length: 0\r\n\r\n");
	router_output_clear(&out);
}

static void
test_upstream_flow_timer_smaller_than_ours_is_raised_to_ours(void **state)
{
	struct router_output out;

	(void)state;
	/* EP-19: never reaped before ours; the header is theirs (RG-29). */
	assert_true(cfg.flow_timer > 15);
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nRequire: outbound\r\nFlow-Timer: 15\r\n"
	    BINDING "Content-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, cfg.flow_timer);
	assert_string_equal(out.sip, "SIP/2.0 200 OK\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nRequire: outbound\r\nFlow-Timer: 15\r\n"
	    BINDING "Content-Length: 0\r\n\r\n");
	router_output_clear(&out);
}

static void
test_upstream_flow_timer_past_a_week_is_held_to_a_week(void **state)
{
	struct router_output out;

	(void)state;
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nRequire: outbound\r\n"
	    "Flow-Timer: 99999999999999999999999\r\n" BINDING
	    "Content-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, 604800);
	router_output_clear(&out);
}

static void
test_plain_register_2xx_keeps_the_flow_for_its_longest_binding(void **state)
{
	struct router_output out;

	(void)state;
	/* TR-11, and EP-18: no Require: outbound, no Flow-Timer. */
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\n"
	    "Contact: <sip:bob@10.0.0.5;expires=9000>;expires=60, "
	    "\"Bob, at home\" <sip:bob@10.0.0.6>;EXPIRES=3600\r\n"
	    "m: sip:bob@10.0.0.7;expires=1800\r\n"
	    "Expires: 7200\r\nContent-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, 3600);
	assert_null(strstr(out.sip, "Flow-Timer"));
	router_output_clear(&out);

	/* No expires param: the Expires header's, held to a week. */
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nContact: <sip:bob@10.0.0.5>\r\n"
	    "expires: 1800\r\nContent-Length: 0\r\n\r\n", &out);
	assert_int_equal(out.flow_timer, 1800);
	router_output_clear(&out);
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nContact: <sip:bob@10.0.0.5>;expires=700000\r\n"
	    "Content-Length: 0\r\n\r\n", &out);
	assert_int_equal(out.flow_timer, 604800);
	router_output_clear(&out);
}

static void
test_only_a_2xx_register_touches_the_flow_timer(void **state)
{
	struct router_output out;

	(void)state;
	from_core("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 2 INVITE\r\nRequire: outbound\r\n" BINDING
	    "Content-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, 0);
	assert_false(out.registered);
	assert_null(strstr(out.sip, "Flow-Timer"));
	router_output_clear(&out);
	from_core("SIP/2.0 401 Unauthorized\r\n" OUR_VIA "\r\n" PHONE_VIA
	    DIALOG "CSeq: 1 REGISTER\r\nRequire: outbound\r\n"
	    "Content-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, 0);
	assert_false(out.registered);
	assert_null(strstr(out.sip, "Flow-Timer"));
	router_output_clear(&out);
}

/* The AoR a 2xx REGISTER carries in its To, for epsipctl flows. */
static void
assert_register_aor(const char *to, const char *want)
{
	struct router_output out;
	char fmt[2048];

	/* Not a format: `fmt` keeps OUR_VIA's %s for from_core(). */
	snprintf(fmt, sizeof(fmt), "%s%s%s", "SIP/2.0 200 OK\r\n" OUR_VIA
	    "\r\n" PHONE_VIA "From: <sip:bob@example.com>;tag=f1\r\n", to,
	    "\r\nCall-ID: reg-1@10.0.0.5\r\nCSeq: 1 REGISTER\r\n" BINDING
	    "Content-Length: 0\r\n\r\n");
	from_core(fmt, &out);
	assert_back_on_flow_a(&out);
	assert_true(out.registered);
	assert_int_equal(out.aor_len, strlen(want));
	assert_memory_equal(out.aor, want, out.aor_len);
	router_output_clear(&out);
}

static void
test_register_2xx_names_its_aor_from_the_to_uri(void **state)
{
	char to[512], longest[EPSIP_AOR_MAX + 1];

	(void)state;
	assert_register_aor("To: <sip:bob@example.com>;tag=t1",
	    "sip:bob@example.com");
	assert_register_aor("t: \"Bob <x>\" <sips:bob@example.com;p=1>",
	    "sips:bob@example.com;p=1");
	assert_register_aor("To: sip:carol@example.com;tag=t2",
	    "sip:carol@example.com");
	/* Cut at EPSIP_AOR_MAX bytes, never past it. */
	memset(longest, '7', sizeof(longest));
	memcpy(longest, "sip:", 4);
	longest[EPSIP_AOR_MAX] = '\0';
	snprintf(to, sizeof(to), "To: <%s%s@example.com>;tag=t3", longest,
	    longest + 4);
	assert_register_aor(to, longest);
}

static void
test_response_with_foreign_top_via_is_dropped_and_counted(void **state)
{
	(void)state;
	/* SP-14: ours below the top one does not make it ours. */
	assert_dropped("SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 203.0.113.4;branch=z9hG4bK-notours\r\n"
	    OUR_VIA "\r\n" DIALOG "CSeq: 1 OPTIONS\r\n"
	    "Content-Length: 0\r\n\r\n", "response_not_ours");
}

static void
test_response_with_tampered_flow_token_is_dropped(void **state)
{
	struct router_output out;
	char token[FLOW_TOKEN_MAX_TEXT], text[2048];
	size_t mid;

	(void)state;
	/* SP-14, FT-07: one character off and the MAC no longer verifies. */
	token_of(&flow_a, token, sizeof(token));
	mid = strlen(token) / 2;
	token[mid] = token[mid] == 'A' ? 'B' : 'A';
	snprintf(text, sizeof(text), "SIP/2.0 200 OK\r\n" OUR_VIA "\r\n"
	    PHONE_VIA DIALOG "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
	    token);
	process(&core, text, &out);
	assert_int_equal(out.dest, ROUTER_DROP);
	assert_string_equal(out.drop_reason, "response_not_ours");
	/* A branch without our prefix is not ours, whatever its token. */
	assert_dropped("SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-xx;ept=%s\r\n"
	    PHONE_VIA DIALOG "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
	    "response_not_ours");
}

static void
test_our_value_goes_from_a_comma_list_and_theirs_stays_byte_for_byte(
    void **state)
{
	struct router_output out;

	(void)state;
	/* SP-14: the quoted comma is theirs, not a list separator. */
	from_core("SIP/2.0 180 Ringing\r\n" OUR_VIA " ,  SIP/2.0/TCP "
	    "10.0.0.5;branch=z9hG4bK-x;note=\"a, b\" ;rport=1\r\n"
	    "VIA: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-y\r\n" DIALOG
	    "CSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_string_equal(out.sip, "SIP/2.0 180 Ringing\r\n"
	    "Via: SIP/2.0/TCP 10.0.0.5;branch=z9hG4bK-x;note=\"a, b\" ;rport=1"
	    "\r\nVIA: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-y\r\n" DIALOG
	    "CSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n");
	router_output_clear(&out);
}

static void
test_compact_headers_are_read_like_long_ones(void **state)
{
	struct router_output out;
	char want[2048];

	(void)state;
	/* v f t i m l (RFC 3261 §7.3.3): read, and left as they came. */
	from_core("SIP/2.0 200 OK\r\n"
	    "v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-ep0a1b;ept=%s\r\n"
	    "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-c\r\n"
	    "f: <sip:bob@example.com>;tag=f1\r\n"
	    "t: <sip:bob@example.com>;tag=t\r\n"
	    "i: c-1\r\nCSeq: 3 REGISTER\r\nRequire: outbound\r\n"
	    "m: <sip:bob@10.0.0.5>;expires=60\r\nl: 0\r\n\r\n", &out);
	assert_back_on_flow_a(&out);
	assert_int_equal(out.flow_timer, cfg.flow_timer);
	snprintf(want, sizeof(want), "SIP/2.0 200 OK\r\n"
	    "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-c\r\n"
	    "f: <sip:bob@example.com>;tag=f1\r\n"
	    "t: <sip:bob@example.com>;tag=t\r\n"
	    "i: c-1\r\nCSeq: 3 REGISTER\r\nRequire: outbound\r\n"
	    "m: <sip:bob@10.0.0.5>;expires=60\r\nFlow-Timer: %u\r\n"
	    "l: 0\r\n\r\n",
	    cfg.flow_timer);
	assert_string_equal(out.sip, want);
	router_output_clear(&out);
}

static void
test_response_missing_a_mandatory_header_is_dropped(void **state)
{
	(void)state;
	/* SP-14: malformed responses are dropped. */
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "Content-Length: 0\r\n\r\n", "bad_response");
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA
	    "To: <sip:bob@example.com>;tag=t1\r\nCall-ID: c\r\n"
	    "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n", "bad_response");
	/* An empty value is none (libosip2 read it so). */
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA
	    "From: \r\nTo: <sip:bob@example.com>;tag=t1\r\nCall-ID: c\r\n"
	    "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n", "bad_response");
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA
	    "From: <sip:bob@example.com>;tag=f1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID:\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
	    "bad_response");
}

static void
test_response_with_duplicated_single_header_is_dropped(void **state)
{
	(void)state;
	/* ER-02, compact forms counted; libosip2 refused these to parse. */
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "f: <sip:eve@example.com>;tag=e\r\nCSeq: 1 REGISTER\r\n"
	    "Content-Length: 0\r\n\r\n", "parse_error");
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nContent-Length: 0\r\nl: 0\r\n\r\n",
	    "parse_error");
}

static void
test_response_cseq_without_number_or_method_is_dropped(void **state)
{
	(void)state;
	/* The method decides the flow's timer: it must be there. */
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1\r\nContent-Length: 0\r\n\r\n", "parse_error");
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: REGISTER\r\nContent-Length: 0\r\n\r\n", "parse_error");
	assert_dropped("SIP/2.0 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1x REGISTER\r\nContent-Length: 0\r\n\r\n", "parse_error");
}

static void
test_response_with_malformed_status_line_is_dropped(void **state)
{
	(void)state;
	assert_dropped("SIP/2.0 200\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n", "parse_error");
	assert_dropped("SIP/2.0 2O0 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n", "parse_error");
	assert_dropped("SIP/2.1 200 OK\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n", "parse_error");
	assert_dropped("SIP/2.0 700 Beyond\r\n" OUR_VIA "\r\n" PHONE_VIA
	    DIALOG "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
	    "bad_response");
	assert_dropped("SIP/2.0 099 Below\r\n" OUR_VIA "\r\n" PHONE_VIA
	    DIALOG "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
	    "bad_response");
}

static void
test_udp_response_shorter_than_its_content_length_is_dropped(void **state)
{
	static const char head[] = "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-ep77\r\n"
	    "Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK-core\r\n" DIALOG
	    "CSeq: 2 INVITE\r\nContent-Type: text/plain\r\n";
	struct router_output out;
	char text[1024];
	int64_t before = stats_get(M_SIP_DROPPED_BAD_RESPONSE);

	(void)state;
	/* TR-08: from a phone over UDP, a response is dropped, not answered. */
	snprintf(text, sizeof(text), "%sContent-Length: 10\r\n\r\nabc", head);
	process(&flow_a, text, &out);
	assert_int_equal(out.dest, ROUTER_DROP);
	assert_string_equal(out.drop_reason, "bad_response");
	assert_int_equal(stats_get(M_SIP_DROPPED_BAD_RESPONSE), before + 1);
	/* Whole, it goes to the core: our Via on its request had no token. */
	snprintf(text, sizeof(text), "%sContent-Length: 3\r\n\r\nabc", head);
	process(&flow_a, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	assert_null(strstr(out.sip, "z9hG4bK-ep77"));
	assert_non_null(strstr(out.sip, "\r\n\r\nabc"));
	router_output_clear(&out);
}

static void
test_response_headers_the_edge_does_not_read_pass_unjudged(void **state)
{
	struct router_output out;

	(void)state;
	/*
	 * libosip2 refused the whole response for this Contact; the edge
	 * reads no Contact of a 180 and forwards it as it came (SP-14 asks
	 * only that what it routes on be well formed).
	 */
	from_core("SIP/2.0 180 Ringing\r\n" OUR_VIA "\r\n" PHONE_VIA DIALOG
	    "CSeq: 2 INVITE\r\nContact: <sip:\r\nContent-Length: 0\r\n\r\n",
	    &out);
	assert_back_on_flow_a(&out);
	assert_string_equal(out.sip, "SIP/2.0 180 Ringing\r\n" PHONE_VIA
	    DIALOG "CSeq: 2 INVITE\r\nContact: <sip:\r\n"
	    "Content-Length: 0\r\n\r\n");
	router_output_clear(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_register_2xx_through_a_flow_gets_flow_timer_above_content_length),
		cmocka_unit_test(
		    test_require_outbound_counts_in_a_comma_list_in_any_case),
		cmocka_unit_test(
		    test_upstream_flow_timer_larger_than_ours_is_honoured_and_relayed),
		cmocka_unit_test(
		    test_upstream_flow_timer_smaller_than_ours_is_raised_to_ours),
		cmocka_unit_test(
		    test_upstream_flow_timer_past_a_week_is_held_to_a_week),
		cmocka_unit_test(
		    test_plain_register_2xx_keeps_the_flow_for_its_longest_binding),
		cmocka_unit_test(test_only_a_2xx_register_touches_the_flow_timer),
		cmocka_unit_test(
		    test_register_2xx_names_its_aor_from_the_to_uri),
		cmocka_unit_test(
		    test_response_with_foreign_top_via_is_dropped_and_counted),
		cmocka_unit_test(test_response_with_tampered_flow_token_is_dropped),
		cmocka_unit_test(
		    test_our_value_goes_from_a_comma_list_and_theirs_stays_byte_for_byte),
		cmocka_unit_test(test_compact_headers_are_read_like_long_ones),
		cmocka_unit_test(
		    test_response_missing_a_mandatory_header_is_dropped),
		cmocka_unit_test(
		    test_response_with_duplicated_single_header_is_dropped),
		cmocka_unit_test(
		    test_response_cseq_without_number_or_method_is_dropped),
		cmocka_unit_test(
		    test_response_with_malformed_status_line_is_dropped),
		cmocka_unit_test(
		    test_udp_response_shorter_than_its_content_length_is_dropped),
		cmocka_unit_test(
		    test_response_headers_the_edge_does_not_read_pass_unjudged),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
