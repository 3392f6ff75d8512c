/*
 * router_upstream_test.c -- the sip-router in upstream mode: the edge has
 * a phone side (192.0.2.1:5060) and a core side (198.51.100.1:5070, TCP
 * towards the upstream registrar).  Path, Record-Route and our Via must
 * name the side that will use them (EP-15, EP-17), and Flow-Timer follows
 * the larger of the upstream's and ours (EP-18, EP-19).
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

#include "router_fixture.h"

#define CORE_SIDE	"198.51.100.1:5070"

static int
setup(void **state)
{
	static const char *const keys[] = {
	    "upstream", "sip:198.51.100.50:5060;transport=tcp",
	    "core-listen", CORE_SIDE, NULL };

	(void)state;
	return (router_fixture_setup(keys));
}

#define teardown router_fixture_teardown

static void
assert_route_text(const osip_message_t *m, int routes, int index,
    const char *want)
{
	char *text = route_text(m, routes, index);

	assert_non_null(text);
	assert_string_equal(text, want);
	osip_free(text);
}

static void
test_register_in_upstream_mode_gets_path_naming_the_core_side(void **state)
{
	struct router_output out;
	osip_message_t *m;
	osip_header_t *path = NULL;
	osip_via_t *via;
	char text[2048], token[FLOW_TOKEN_MAX_TEXT], want[512];

	(void)state;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	process(&flow_a, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	/* The registrar's core reaches the phone through Path: core side. */
	token_of(&flow_a, token, sizeof(token));
	snprintf(want, sizeof(want), "<sip:%s@" CORE_SIDE
	    ";transport=tcp;lr;ob>", token);
	assert_true(osip_message_header_get_byname(m, "path", 0, &path) >= 0);
	assert_string_equal(path->hvalue, want);
	/* Our Via is where the upstream answers: core side, its transport. */
	via = osip_list_get(&m->vias, 0);
	assert_string_equal(via->protocol, "TCP");
	assert_string_equal(via->host, "198.51.100.1");
	assert_string_equal(via->port, "5070");
	assert_string_equal(via_param(m, 0, "ept"), token);
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_invite_from_phone_to_core_gets_double_record_route(void **state)
{
	struct router_output out;
	osip_message_t *m;
	char token[FLOW_TOKEN_MAX_TEXT], want[512];

	(void)state;
	flow_request(&flow_a, "INVITE", "", ";ob", "sip", &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	/* EP-15: nearest the core on top; the token value faces the UA. */
	assert_int_equal(osip_list_size(&m->record_routes), 2);
	assert_route_text(m, 0, 0, "<sip:" CORE_SIDE ";transport=tcp;lr>");
	token_of(&flow_a, token, sizeof(token));
	snprintf(want, sizeof(want), "<sip:%s@192.0.2.1:5060;lr>", token);
	assert_route_text(m, 0, 1, want);
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_core_invite_to_phone_gets_double_record_route_token_facing_ua(
    void **state)
{
	struct router_output out;
	osip_message_t *m;
	char token[FLOW_TOKEN_MAX_TEXT], text[2048], want[512];

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	snprintf(text, sizeof(text),
	    "INVITE sip:bob@10.0.0.5:5060 SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 198.51.100.50;branch=z9hG4bK-k1;received="
	    "198.51.100.50;rport=5060\r\n"
	    "Route: <sip:%s@" CORE_SIDE ";transport=tcp;lr;ob>\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: in-1@example.com\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "Contact: <sip:alice@203.0.113.5>\r\n"
	    "Content-Length: 0\r\n\r\n", token);
	process(&core, text, &out);
	/* EP-17: the core-side Path URI is us; EP-10: onto its flow. */
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_true(epsip_flow_id_equal(&out.flow.flow, &flow_b.flow.flow));
	m = parse_out(&out);
	assert_int_equal(osip_list_size(&m->routes), 0);
	assert_int_equal(osip_list_size(&m->record_routes), 2);
	snprintf(want, sizeof(want), "<sip:%s@192.0.2.1:5060;transport=tcp;"
	    "lr>", token);
	assert_route_text(m, 0, 0, want);
	assert_route_text(m, 0, 1, "<sip:" CORE_SIDE ";transport=tcp;lr>");
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_core_bye_with_both_record_routes_reaches_the_flow(void **state)
{
	struct router_output out;
	osip_message_t *m;
	char token[FLOW_TOKEN_MAX_TEXT], text[2048];

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	/* EP-15: pop every consecutive self-Route, deliver on the token. */
	snprintf(text, sizeof(text),
	    "BYE sip:bob@10.0.0.5:5060 SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 198.51.100.50;branch=z9hG4bK-k2\r\n"
	    "Route: <sip:" CORE_SIDE ";transport=tcp;lr>,"
	    "<sip:%s@192.0.2.1:5060;transport=tcp;lr>\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>;tag=b1\r\n"
	    "Call-ID: in-1@example.com\r\n"
	    "CSeq: 2 BYE\r\n"
	    "Content-Length: 0\r\n\r\n", token);
	process(&core, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_true(epsip_flow_id_equal(&out.flow.flow, &flow_b.flow.flow));
	m = parse_out(&out);
	assert_int_equal(osip_list_size(&m->routes), 0);
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_phone_bye_with_both_routes_goes_to_core_without_ours(void **state)
{
	struct router_output out;
	osip_message_t *m;
	char token[FLOW_TOKEN_MAX_TEXT], routes[512];

	(void)state;
	token_of(&flow_a, token, sizeof(token));
	snprintf(routes, sizeof(routes), "Route: <sip:%s@192.0.2.1:5060;lr>,"
	    "<sip:" CORE_SIDE ";transport=tcp;lr>,"
	    "<sip:198.51.100.50;transport=tcp;lr>\r\n", token);
	flow_request(&flow_a, "BYE", routes, "", "sip", &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	/* Both of ours popped; the upstream's own Record-Route stays. */
	assert_int_equal(osip_list_size(&m->routes), 1);
	assert_route_text(m, 1, 0, "<sip:198.51.100.50;transport=tcp;lr>");
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_upstream_flow_timer_larger_than_ours_is_relayed_and_reaps_later(
    void **state)
{
	static const char *const answer[] = { "Require", "outbound",
	    "Flow-Timer", "300", NULL };
	struct router_output down;
	osip_message_t *resp;
	char text[2048];

	(void)state;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	register_and_answer(text, 200, answer, &down);
	assert_int_equal(down.dest, ROUTER_TO_FLOW);
	/* RG-29: their value unchanged; EP-19: never reaped before it. */
	assert_int_equal(down.flow_timer, 300);
	resp = parse_out(&down);
	assert_string_equal(sip_header_value(resp, "flow-timer", 0), "300");
	osip_message_free(resp);
	router_output_clear(&down);
}

static void
test_upstream_flow_timer_smaller_than_ours_reaps_at_ours(void **state)
{
	static const char *const answer[] = { "Require", "outbound",
	    "Flow-Timer", "20", NULL };
	struct router_output down;
	char text[2048];

	(void)state;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	register_and_answer(text, 200, answer, &down);
	assert_int_equal(down.flow_timer, cfg.flow_timer);
	router_output_clear(&down);
}

static void
test_upstream_outbound_2xx_without_flow_timer_gets_ours(void **state)
{
	static const char *const answer[] = { "Require", "outbound", NULL };
	struct router_output down;
	osip_message_t *resp;
	char text[2048], want[16];

	(void)state;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	register_and_answer(text, 200, answer, &down);
	/* EP-18: the hop next to the UA may advertise its own. */
	resp = parse_out(&down);
	snprintf(want, sizeof(want), "%u", cfg.flow_timer);
	assert_string_equal(sip_header_value(resp, "flow-timer", 0), want);
	assert_int_equal(down.flow_timer, cfg.flow_timer);
	osip_message_free(resp);
	router_output_clear(&down);
}

static void
test_upstream_2xx_without_require_outbound_gets_no_flow_timer(void **state)
{
	static const char *const answer[] = {
	    "Contact", "<sip:bob@10.0.0.5:5060>;expires=600", NULL };
	struct router_output down;
	osip_message_t *resp;
	char text[2048];

	(void)state;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	register_and_answer(text, 200, answer, &down);
	/* EP-18: Flow-Timer only with Require: outbound. */
	resp = parse_out(&down);
	assert_null(sip_header_value(resp, "flow-timer", 0));
	assert_int_equal(down.flow_timer, 600);
	osip_message_free(resp);
	router_output_clear(&down);
}

/* The same edge with its upstream over TLS (sips:), for one test. */
static int
upstream_tls(void **state)
{
	char err[256];

	(void)state;
	return (config_parse_upstream("sips:198.51.100.50", &cfg.upstream, err,
	    sizeof(err)));
}

static int
upstream_tcp(void **state)
{
	char err[256];

	(void)state;
	return (config_parse_upstream("sip:198.51.100.50:5060;transport=tcp",
	    &cfg.upstream, err, sizeof(err)));
}

/*
 * Towards a TLS upstream the core side is TLS too.  Nothing listens for
 * TLS on core-listen, so our Via asks (RFC 5923 `alias`) that what is
 * for it come back over the connection the request went on.
 */
static void
test_towards_a_tls_upstream_path_rr_and_via_say_tls_with_alias(
    void **state)
{
	struct router_output out;
	osip_header_t *path = NULL;
	osip_generic_param_t *alias;
	osip_message_t *m;
	osip_via_t *via;
	char text[2048], token[FLOW_TOKEN_MAX_TEXT], want[512];

	(void)state;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	process(&flow_a, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	token_of(&flow_a, token, sizeof(token));
	snprintf(want, sizeof(want), "<sip:%s@" CORE_SIDE
	    ";transport=tls;lr;ob>", token);
	assert_true(osip_message_header_get_byname(m, "path", 0, &path) >= 0);
	assert_string_equal(path->hvalue, want);
	via = osip_list_get(&m->vias, 0);
	assert_string_equal(via->protocol, "TLS");
	assert_string_equal(via->host, "198.51.100.1");
	assert_string_equal(via->port, "5070");
	assert_int_equal(osip_via_param_get_byname(via, "alias", &alias), 0);
	assert_string_equal(via_param(m, 0, "ept"), token);
	osip_message_free(m);
	router_output_clear(&out);

	flow_request(&flow_a, "INVITE", "", ";ob", "sip", &out);
	m = parse_out(&out);
	assert_route_text(m, 0, 0, "<sip:" CORE_SIDE ";transport=tls;lr>");
	osip_message_free(m);
	router_output_clear(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_register_in_upstream_mode_gets_path_naming_the_core_side),
		cmocka_unit_test(
		    test_invite_from_phone_to_core_gets_double_record_route),
		cmocka_unit_test(
		    test_core_invite_to_phone_gets_double_record_route_token_facing_ua),
		cmocka_unit_test(
		    test_core_bye_with_both_record_routes_reaches_the_flow),
		cmocka_unit_test(
		    test_phone_bye_with_both_routes_goes_to_core_without_ours),
		cmocka_unit_test(
		    test_upstream_flow_timer_larger_than_ours_is_relayed_and_reaps_later),
		cmocka_unit_test(
		    test_upstream_flow_timer_smaller_than_ours_reaps_at_ours),
		cmocka_unit_test(
		    test_upstream_outbound_2xx_without_flow_timer_gets_ours),
		cmocka_unit_test(
		    test_upstream_2xx_without_require_outbound_gets_no_flow_timer),
		cmocka_unit_test_setup_teardown(
		    test_towards_a_tls_upstream_path_rr_and_via_say_tls_with_alias,
		    upstream_tls, upstream_tcp),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
