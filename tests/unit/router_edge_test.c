/*
 * router_edge_test.c -- the sip-router's RFC 5626 §5 edge procedures and
 * RFC 3261 §16 stateless proxy rules, on real messages, without IPC.
 * Test names follow the checklist behaviour; IDs are in the comments.
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

#define setup router_fixture_setup_embedded
#define teardown router_fixture_teardown

static void
test_register_through_edge_adds_path_with_ob(void **state)
{
	struct router_output out;
	struct flow_token t;
	osip_message_t *m;
	osip_header_t *path;
	char text[2048], token[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	process(&flow_a, text, &out);
	/* EP-02, EP-05: Path <sip:T@edge;lr;ob> and the request goes up. */
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	assert_true(osip_message_header_get_byname(m, "path", 0, &path) >= 0);
	token_of(&flow_a, token, sizeof(token));
	assert_non_null(strstr(path->hvalue, token));
	assert_non_null(strstr(path->hvalue, "@192.0.2.1:5060;lr;ob>"));
	assert_int_equal(flow_token_decode(&router.keys, token, strlen(token),
	    &t), FLOW_TOKEN_OK);
	assert_true(epsip_flow_id_equal(&t.flow, &flow_a.flow.flow));
	/* SP-08: our Via on top, carrying the arrival flow (TR-05). */
	assert_non_null(strstr(via_param(m, 0, "branch"), "z9hG4bK"));
	assert_string_equal(via_param(m, 0, EPSIP_ROUTER_FLOW_PARAM), token);
	/* TR-02, TR-03: received and rport on the UA's Via. */
	assert_string_equal(via_param(m, 1, "received"), "198.51.100.7");
	assert_string_equal(via_param(m, 1, "rport"), "40000");
	osip_message_free(m);
	router_output_clear(&out);
}

/* Issue 11: Path names the flow's transport, sips: for a sips: request. */
static void
test_register_over_tls_and_wss_gets_path_naming_the_transport(void **state)
{
	static const struct {
		uint8_t transport;
		const char *scheme, *ruri, *tail;
	} cases[] = {
		{ EPSIP_TRANSPORT_TLS, "<sip:", "sip:example.com",
		    ":5060;transport=tls;lr;ob>" },
		{ EPSIP_TRANSPORT_WS, "<sip:", "sip:example.com",
		    ":5060;transport=ws;lr;ob>" },
		{ EPSIP_TRANSPORT_WSS, "<sips:", "sips:example.com",
		    ":5060;transport=wss;lr;ob>" },
	};
	struct router_origin o;
	struct router_output out;
	struct flow_token t;
	osip_message_t *m;
	osip_header_t *path;
	char text[2048], token[FLOW_TOKEN_MAX_TEXT], *at;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_flow(&o, 7, "198.51.100.9:40001", cases[i].transport);
		snprintf(text, sizeof(text), REGISTER_FMT, "", "");
		/* The Request-URI of REGISTER_FMT, sips: where asked. */
		memmove(text + 9 + strlen(cases[i].ruri), text + 9 +
		    strlen("sip:example.com"), strlen(text + 9 +
		    strlen("sip:example.com")) + 1);
		memcpy(text + 9, cases[i].ruri, strlen(cases[i].ruri));
		process(&o, text, &out);
		assert_int_equal(out.dest, ROUTER_TO_CORE);
		m = parse_out(&out);
		assert_true(osip_message_header_get_byname(m, "path", 0,
		    &path) >= 0);
		token_of(&o, token, sizeof(token));
		assert_true(strncmp(path->hvalue, cases[i].scheme,
		    strlen(cases[i].scheme)) == 0);
		assert_non_null(at = strstr(path->hvalue, token));
		assert_non_null(strstr(at, cases[i].tail));
		assert_int_equal(flow_token_decode(&router.keys, token,
		    strlen(token), &t), FLOW_TOKEN_OK);
		assert_int_equal(t.transport, cases[i].transport);
		osip_message_free(m);
		router_output_clear(&out);
	}
}

static void
test_register_not_first_hop_gets_path_without_ob(void **state)
{
	struct router_output out;
	osip_message_t *m;
	osip_header_t *path;
	char text[2048];

	(void)state;
	/* EP-03: two Vias on arrival -> no ob. */
	snprintf(text, sizeof(text), REGISTER_FMT,
	    "Via: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bK-p1\r\n", "");
	process(&flow_a, text, &out);
	m = parse_out(&out);
	assert_true(osip_message_header_get_byname(m, "path", 0, &path) >= 0);
	assert_null(strstr(path->hvalue, ";ob"));
	assert_non_null(strstr(path->hvalue, ";lr"));
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_register_with_path_gets_ours_on_top(void **state)
{
	struct router_output out;
	osip_message_t *m;
	char text[2048];

	(void)state;
	/* EP-01 */
	snprintf(text, sizeof(text), REGISTER_FMT, "",
	    "Path: <sip:other.example.net;lr>\r\n");
	process(&flow_a, text, &out);
	m = parse_out(&out);
	assert_int_equal(sip_header_count(m, "path"), 2);
	assert_non_null(strstr(sip_header_value(m, "path", 0), "192.0.2.1"));
	assert_non_null(strstr(sip_header_value(m, "path", 1),
	    "other.example.net"));
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_strict_path_policy_answers_421_without_supported_path(void **state)
{
	struct router_output out;
	osip_message_t *m;
	char text[2048], *sup;

	(void)state;
	/* EP-06 */
	cfg.path_policy = PATH_STRICT;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	sup = strstr(text, "Supported: path, outbound");
	memcpy(sup, "Supported: xxxx, outbound", 25);
	process(&flow_a, text, &out);
	cfg.path_policy = PATH_LENIENT;
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_int_equal(out.local_status, 421);
	m = parse_out(&out);
	assert_true(sip_header_has_token(m, "require", "path"));
	osip_message_free(m);
	router_output_clear(&out);
}

static void
core_invite(const char *route_user, const char *route_params,
    const char *extra, struct router_output *out)
{
	char text[2048];

	snprintf(text, sizeof(text),
	    "INVITE sip:bob@10.0.0.5:5060 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP registrar.invalid;branch=z9hG4bK-core1\r\n"
	    "Route: <sip:%s@192.0.2.1:5060%s>\r\n"
	    "%s"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: call-1@example.com\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "Contact: <sip:alice@203.0.113.5>\r\n"
	    "Content-Length: 0\r\n\r\n", route_user, route_params, extra);
	process(&core, text, out);
}

/*
 * A core request cut short (no line end after its last line), which
 * libosip2 refuses: its 400 is made of its own lines, the last one
 * dropped.  Before, the line end added for that dropped line made a
 * blank line and put the Content-Length: 0 after it into the body (found
 * by tests/fuzz/fuzz_router.c).
 */
static void
test_reply_to_a_cut_core_request_has_one_head(void **state)
{
	struct router_output out;
	struct sip_scan s;
	char token[FLOW_TOKEN_MAX_TEXT], text[1024];
	int i, n;

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	n = snprintf(text, sizeof(text),
	    "MESSAGE sip:bob@10.0.0.5:5060 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP registrar.invalid;branch=z9hG4bK-cut1\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: cut-1@example.com\r\n"
	    "CSeq: 1 MESSAGE\r\n"
	    "Route: <sip:%s@192.0.2.1:5060;lr>", token);
	router_process(&router, &core, text, (size_t)n, &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	assert_int_equal(out.local_status, 400);
	assert_int_equal(sip_scan(out.sip, out.sip_len, &s), 0);
	assert_true(s.has_blank_line);
	assert_int_equal(s.body, out.sip_len);
	i = sip_scan_find(&s, SIP_HDR_CONTENT_LENGTH, 0);
	assert_int_not_equal(i, -1);
	assert_memory_equal(out.sip + s.h[i].value.off, "0", 1);
	assert_int_equal(sip_scan_find(&s, SIP_HDR_ROUTE, 0), -1);
	router_output_clear(&out);
}

/* Our Via towards a phone on a WebSocket says WSS (RFC 7118 §5.1). */
static void
test_core_invite_for_wss_flow_gets_wss_via_and_record_route(void **state)
{
	struct router_origin browser;
	struct router_output out;
	osip_message_t *m;
	osip_via_t *via;
	osip_record_route_t *rr;
	char token[FLOW_TOKEN_MAX_TEXT], *rrs;

	(void)state;
	make_flow(&browser, 9, "198.51.100.8:50600", EPSIP_TRANSPORT_WSS);
	token_of(&browser, token, sizeof(token));
	core_invite(token, ";transport=wss;lr;ob", "", &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_int_equal(out.flow.transport, EPSIP_TRANSPORT_WSS);
	m = parse_out(&out);
	via = osip_list_get(&m->vias, 0);
	assert_non_null(via);
	assert_string_equal(via->protocol, "WSS");
	rr = osip_list_get(&m->record_routes, 0);
	assert_non_null(rr);
	osip_record_route_to_str(rr, &rrs);
	assert_non_null(strstr(rrs, ";transport=wss;lr"));
	osip_free(rrs);
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_core_invite_with_token_goes_to_that_flow_and_is_record_routed(
    void **state)
{
	struct router_output out;
	osip_message_t *m;
	osip_record_route_t *rr;
	char token[FLOW_TOKEN_MAX_TEXT], *rrs;

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	core_invite(token, ";lr;ob", "", &out);
	/* EP-10: delivered on the token's flow, own Route popped. */
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_true(epsip_flow_id_equal(&out.flow.flow, &flow_b.flow.flow));
	m = parse_out(&out);
	assert_int_equal(osip_list_size(&m->routes), 0);
	/* EP-12: Record-Route = Route URI minus ob. */
	rr = osip_list_get(&m->record_routes, 0);
	assert_non_null(rr);
	assert_string_equal(rr->url->username, token);
	assert_true(sip_uri_has_param(rr->url, "lr"));
	assert_false(sip_uri_has_param(rr->url, "ob"));
	osip_record_route_to_str(rr, &rrs);
	assert_non_null(strstr(rrs, "transport=tcp"));
	osip_free(rrs);
	/* SP-07: Max-Forwards decremented. */
	assert_string_equal(sip_header_value(m, "max-forwards", 0), "68");
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_tampered_token_gets_403_and_reaches_no_flow(void **state)
{
	struct router_output out;
	char token[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	token[10] = token[10] == 'A' ? 'B' : 'A';	/* FT-03 */
	core_invite(token, ";lr", "", &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	assert_int_equal(out.local_status, 403);
	router_output_clear(&out);
}

static void
test_path_traversal_route_user_gets_403(void **state)
{
	struct router_output out;

	(void)state;
	core_invite("..%2F..%2Ftmp%2Fx", ";lr", "", &out);	/* FT-07 */
	assert_int_equal(out.local_status, 403);
	router_output_clear(&out);
	core_invite("!!!", ";lr", "", &out);			/* ER-06 */
	assert_int_equal(out.local_status, 403);
	router_output_clear(&out);
}

static void
test_token_of_another_instance_gets_430(void **state)
{
	struct router_origin other = flow_b;
	struct router_output out;
	char token[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	/* Our edge owns 1..16: 17 is the next edge's first. */
	other.flow.flow.instance = 17;
	token_of(&other, token, sizeof(token));
	core_invite(token, ";lr;ob", "", &out);
	assert_int_equal(out.local_status, 430);
	router_output_clear(&out);
}

static void
test_token_of_a_sibling_flow_manager_goes_to_its_owner(void **state)
{
	struct router_origin sibling = flow_b;
	struct router_output out;
	char token[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	/* flow-manager 16 of this edge: its flow, reached by its token. */
	sibling.flow.flow.instance = 16;
	token_of(&sibling, token, sizeof(token));
	core_invite(token, ";lr;ob", "", &out);
	assert_int_equal(out.local_status, 0);
	assert_true(epsip_flow_id_equal(&out.flow.flow, &sibling.flow.flow));
	router_output_clear(&out);
}

static void
test_core_request_without_token_is_not_routed_to_any_flow(void **state)
{
	struct router_output out;
	char text[1024];

	(void)state;
	/* TR-14: the UA side is never resolved. */
	snprintf(text, sizeof(text),
	    "OPTIONS sip:bob@198.51.100.8 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP registrar.invalid;branch=z9hG4bK-o1\r\n"
	    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
	    "Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
	process(&core, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	assert_int_equal(out.local_status, 404);
	router_output_clear(&out);
}

static void
test_in_dialog_request_on_own_flow_goes_upstream(void **state)
{
	struct router_output out;
	char token[FLOW_TOKEN_MAX_TEXT], routes[256];
	osip_message_t *m;

	(void)state;
	token_of(&flow_a, token, sizeof(token));
	/* EP-09: the token names the request's own flow -> outgoing. */
	snprintf(routes, sizeof(routes), "Route: <sip:%s@192.0.2.1;lr>\r\n",
	    token);
	flow_request(&flow_a, "BYE", routes, "", "sip", &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	assert_int_equal(osip_list_size(&m->routes), 0);
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_in_dialog_request_crosses_to_the_peer_flow(void **state)
{
	struct router_output out;
	char ta[FLOW_TOKEN_MAX_TEXT], tb[FLOW_TOKEN_MAX_TEXT], routes[512];

	(void)state;
	token_of(&flow_a, ta, sizeof(ta));
	token_of(&flow_b, tb, sizeof(tb));
	/* Route set of a dialog both edges' sides record-routed. */
	snprintf(routes, sizeof(routes), "Route: <sip:%s@192.0.2.1;lr>,"
	    "<sip:%s@edge.example.com:5060;lr;transport=tcp>\r\n", ta, tb);
	flow_request(&flow_a, "BYE", routes, "", "sip", &out);
	/* EP-17: recognised by alias too. */
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_true(epsip_flow_id_equal(&out.flow.flow, &flow_b.flow.flow));
	router_output_clear(&out);
}

static void
test_plain_loose_route_to_edge_is_popped(void **state)
{
	struct router_output out;
	osip_message_t *m;
	osip_route_t *r;

	(void)state;
	/* EP-08 */
	flow_request(&flow_a, "MESSAGE", "Route: <sip:192.0.2.1;lr>,"
	    "<sip:next.example.net;lr>\r\n", "", "sip", &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	assert_int_equal(osip_list_size(&m->routes), 1);
	r = osip_list_get(&m->routes, 0);
	assert_string_equal(r->url->host, "next.example.net");
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_outgoing_invite_with_ob_contact_is_record_routed_with_own_token(
    void **state)
{
	struct router_output out;
	osip_message_t *m;
	osip_record_route_t *rr;
	char token[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	cfg.record_route = RECORD_ROUTE_OUTBOUND;
	token_of(&flow_a, token, sizeof(token));
	flow_request(&flow_a, "SUBSCRIBE", "", ";ob", "sip", &out); /* EP-13 */
	m = parse_out(&out);
	rr = osip_list_get(&m->record_routes, 0);
	assert_non_null(rr);
	assert_string_equal(rr->url->username, token);
	osip_message_free(m);
	router_output_clear(&out);
	flow_request(&flow_a, "SUBSCRIBE", "", "", "sip", &out);
	m = parse_out(&out);
	assert_int_equal(osip_list_size(&m->record_routes), 0);
	osip_message_free(m);
	router_output_clear(&out);
	cfg.record_route = RECORD_ROUTE_ALWAYS;
}

static void
test_sips_request_gets_sips_record_route(void **state)
{
	struct router_output out;
	osip_message_t *m;
	osip_record_route_t *rr;

	(void)state;
	flow_request(&flow_a, "INVITE", "", ";ob", "sips", &out);  /* EP-14 */
	m = parse_out(&out);
	rr = osip_list_get(&m->record_routes, 0);
	assert_string_equal(rr->url->scheme, "sips");
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_response_from_core_returns_on_the_arrival_flow_with_flow_timer(
    void **state)
{
	static const char *const answer[] = { "Require", "outbound",
	    "Flow-Timer", "29", NULL };
	struct router_output down;
	osip_message_t *resp;
	char text[2048];

	(void)state;
	/* What the registrar would answer (RG-10, EP-18). */
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	register_and_answer(text, 200, answer, &down);
	/* TR-05: back on the REGISTER's flow, our Via gone. */
	assert_int_equal(down.dest, ROUTER_TO_FLOW);
	assert_true(epsip_flow_id_equal(&down.flow.flow, &flow_a.flow.flow));
	/* EP-19: reaped no earlier than the larger of theirs and ours. */
	assert_int_equal(down.flow_timer, cfg.flow_timer);
	resp = parse_out(&down);
	assert_int_equal(osip_list_size(&resp->vias), 1);
	assert_string_equal(via_param(resp, 0, "branch"), "z9hG4bK-reg1");
	osip_message_free(resp);
	router_output_clear(&down);
}

static void
test_plain_register_2xx_keeps_the_flow_for_the_registration(void **state)
{
	static const char *const answer[] = {
	    "Contact", "<sip:bob@10.0.0.5:5060>;expires=3600",
	    "Contact", "<sip:bob@10.0.0.6:5060>;expires=60", NULL };
	struct router_output down;
	char text[2048];

	(void)state;
	/* TR-11: no Flow-Timer, so the binding's expiry is the idle limit. */
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	memcpy(strstr(text, ";reg-id=1"), ";xx-id=1", 8);
	register_and_answer(text, 200, answer, &down);
	assert_int_equal(down.dest, ROUTER_TO_FLOW);
	assert_int_equal(down.flow_timer, 3600);
	router_output_clear(&down);
}

static void
test_registrar_439_is_relayed_unchanged(void **state)
{
	struct router_output down;
	osip_message_t *resp;
	char text[2048];

	(void)state;
	/* EP-21: the edge relays a registrar's 439, never makes one. */
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	register_and_answer(text, 439, NULL, &down);
	assert_int_equal(down.dest, ROUTER_TO_FLOW);
	assert_int_equal(down.local_status, 0);
	resp = parse_out(&down);
	assert_int_equal(resp->status_code, 439);
	osip_message_free(resp);
	router_output_clear(&down);
}

static void
test_response_with_foreign_top_via_is_dropped(void **state)
{
	struct router_output out;

	(void)state;
	/* SP-14 */
	process(&core, "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 203.0.113.4;branch=z9hG4bK-notours\r\n"
	    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
	    "Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", &out);
	assert_int_equal(out.dest, ROUTER_DROP);
}

static void
test_response_with_forged_via_token_is_dropped(void **state)
{
	struct router_output out;

	(void)state;
	process(&core, "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-ep1234;ept=AAAAAAAA\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-x\r\n"
	    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
	    "Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", &out);
	assert_int_equal(out.dest, ROUTER_DROP);
}

static void
test_response_with_another_edges_via_is_dropped(void **state)
{
	struct router_output out;
	struct router_origin other = flow_a;
	char token[FLOW_TOKEN_MAX_TEXT], text[1024];

	(void)state;
	/* SP-14: same key, same branch prefix, but instance 2's token. */
	other.flow.flow.instance = 17;
	token_of(&other, token, sizeof(token));
	snprintf(text, sizeof(text), "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-ep1234;ept=%s\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-x\r\n"
	    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
	    "Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
	    token);
	process(&core, text, &out);
	assert_int_equal(out.dest, ROUTER_DROP);
}

static void
check_local_reply(const char *text, int status)
{
	struct router_output out;
	osip_message_t *m;

	process(&flow_a, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_int_equal(out.local_status, status);
	m = parse_out(&out);
	/* SP-17: Vias, From, Call-ID, CSeq copied; To gets a tag. */
	assert_int_equal(m->status_code, status);
	assert_string_equal(via_param(m, 0, "received"), "198.51.100.7");
	if (strstr(text, "Call-ID") != NULL) {
		assert_non_null(m->call_id);
	}
	assert_non_null(m->cseq);
	if (status > 100) {
		osip_generic_param_t *tag = NULL;

		osip_to_get_tag(m->to, &tag);
		assert_non_null(tag);
	}
	osip_message_free(m);
	router_output_clear(&out);
}

#define REQ(first, extra) \
	first " SIP/2.0\r\n" \
	"Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-v1;rport\r\n" \
	"From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n" \
	extra "Content-Length: 0\r\n\r\n"

static void
test_max_forwards_zero_gets_483(void **state)
{
	(void)state;
	check_local_reply(REQ("INVITE sip:x@example.com", "Call-ID: m1\r\n"
	    "CSeq: 1 INVITE\r\nMax-Forwards: 0\r\n"), 483);	/* SP-04 */
}

static void
test_unknown_uri_scheme_gets_416(void **state)
{
	(void)state;
	check_local_reply(REQ("INVITE xyz:a", "Call-ID: m2\r\n"
	    "CSeq: 1 INVITE\r\n"), 416);			/* SP-03 */
}

static void
test_proxy_require_gets_420_with_unsupported(void **state)
{
	struct router_output out;
	osip_message_t *m;

	(void)state;
	/* SP-05 */
	process(&flow_a, REQ("INVITE sip:x@example.com", "Call-ID: m3\r\n"
	    "CSeq: 1 INVITE\r\nProxy-Require: foo\r\n"), &out);
	assert_int_equal(out.local_status, 420);
	m = parse_out(&out);
	assert_true(sip_header_has_token(m, "unsupported", "foo"));
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_missing_call_id_gets_400(void **state)
{
	(void)state;
	check_local_reply(REQ("REGISTER sip:example.com",
	    "CSeq: 1 REGISTER\r\n"), 400);			/* ER-01 */
}

/*
 * libosip2 takes "1*" for a CSeq number but response.c drops an answer
 * carrying it: such a request was forwarded and its answer lost (found
 * by tests/fuzz/fuzz_router.c).  Now the edge refuses it.
 */
static void
test_non_numeric_cseq_number_gets_400(void **state)
{
	(void)state;
	check_local_reply(REQ("REGISTER sip:example.com", "Call-ID: c1\r\n"
	    "CSeq: 1* REGISTER\r\n"), 400);
	check_local_reply(REQ("OPTIONS sip:x@example.com", "Call-ID: c2\r\n"
	    "CSeq: x1 OPTIONS\r\n"), 400);
}

/*
 * libosip2 read a To behind a bare CR, the scan took it into the
 * Max-Forwards value, and decrementing Max-Forwards erased the To from
 * the bytes forwarded: the core got a REGISTER without To, and its answer
 * was dropped (found by tests/fuzz/fuzz_router.c).  Such a request is
 * now answered 400 as unparseable.
 */
static void
test_bare_cr_in_a_header_line_is_not_forwarded(void **state)
{
	struct router_output out;

	(void)state;
	process(&flow_a, "REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-cr1;rport\r\n"
	    "Max-Forwards: 69\rTo: <sip:bob@example.com>\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\n"
	    "Call-ID: cr-1\r\nCSeq: 1 REGISTER\r\n"
	    "Contact: <sip:bob@10.0.0.5>\r\nContent-Length: 0\r\n\r\n",
	    &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_int_equal(out.local_status, 400);
	router_output_clear(&out);
}

static void
test_duplicate_call_id_gets_400(void **state)
{
	(void)state;
	check_local_reply(REQ("MESSAGE sip:x@example.com", "Call-ID: a\r\n"
	    "i: b\r\nCSeq: 1 MESSAGE\r\n"), 400);		/* ER-02 */
}

static void
test_udp_body_shorter_than_content_length_gets_400(void **state)
{
	(void)state;
	check_local_reply("MESSAGE sip:x@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-v1\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n"
	    "Call-ID: s1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 50\r\n\r\n"
	    "short", 400);					/* TR-08 */
}

/* TR-12: one SIP message per WebSocket message, Content-Length optional. */
static void
test_websocket_message_holding_two_requests_gets_400(void **state)
{
	struct router_origin browser;
	struct router_output out;
	osip_message_t *m;

	(void)state;
	make_flow(&browser, 9, "198.51.100.8:50600", EPSIP_TRANSPORT_WS);
	process(&browser, "MESSAGE sip:x@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/WS b.invalid;branch=z9hG4bK-w1\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n"
	    "Call-ID: w1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
	    "MESSAGE sip:y@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/WS b.invalid;branch=z9hG4bK-w2\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:y@example.com>\r\n"
	    "Call-ID: w2\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
	    &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	m = parse_out(&out);
	assert_int_equal(osip_message_get_status_code(m), 400);
	assert_string_equal(osip_message_get_reason_phrase(m),
	    "One SIP Message Per WebSocket Message");
	osip_message_free(m);
	router_output_clear(&out);
	/* A message without Content-Length, and blank lines after one,
	 * are one message each. */
	process(&browser, "MESSAGE sip:x@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/WS b.invalid;branch=z9hG4bK-w3\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n"
	    "Call-ID: w3\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
	    "\r\nhello", &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	router_output_clear(&out);
	process(&browser, "MESSAGE sip:x@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/WS b.invalid;branch=z9hG4bK-w4\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n"
	    "Call-ID: w4\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
	    "\r\n", &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	router_output_clear(&out);
}

static void
test_udp_bytes_past_content_length_are_discarded(void **state)
{
	struct router_output out;
	osip_message_t *m;
	osip_body_t *body;

	(void)state;
	process(&flow_a, "MESSAGE sip:x@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-v1\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n"
	    "Call-ID: s2\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 5\r\n\r\nhelloEXTRA", &out);	/* TR-08 */
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	body = osip_list_get(&m->bodies, 0);
	assert_non_null(body);
	assert_int_equal(body->length, 5);
	assert_memory_equal(body->body, "hello", 5);
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_compact_headers_route_like_long_ones(void **state)
{
	struct router_output out;
	osip_message_t *m;

	(void)state;
	/* TR-10 */
	process(&flow_a, "MESSAGE sip:x@example.com SIP/2.0\r\n"
	    "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-c1\r\n"
	    "f: <sip:bob@example.com>;tag=b1\r\nt: <sip:x@example.com>\r\n"
	    "i: c1\r\nCSeq: 1 MESSAGE\r\nl: 0\r\n\r\n", &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	assert_int_equal(osip_list_size(&m->vias), 2);
	assert_string_equal(m->call_id->number, "c1");
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_undeliverable_invite_gets_430_at_its_origin(void **state)
{
	struct router_output out, back;
	osip_message_t *m;
	char token[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	core_invite(token, ";lr;ob", "", &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	/* EP-11, EP-20: the owner says the flow is gone. */
	router_undeliverable(&router, out.sip, out.sip_len, &back);
	assert_int_equal(back.dest, ROUTER_TO_CORE);
	assert_int_equal(back.local_status, 430);
	m = parse_out(&back);
	/* SP-17: the core's own Via is what the 430 carries. */
	assert_int_equal(osip_list_size(&m->vias), 1);
	assert_string_equal(via_param(m, 0, "branch"), "z9hG4bK-core1");
	osip_message_free(m);
	router_output_clear(&out);
	router_output_clear(&back);
}

static void
test_undeliverable_response_is_dropped_not_misdelivered(void **state)
{
	struct router_output back;

	(void)state;
	/* TR-06 */
	router_undeliverable(&router, "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-x\r\n"
	    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
	    "Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", 170,
	    &back);
	assert_int_equal(back.dest, ROUTER_DROP);
}

static const char *
branch_of(const struct router_output *out, char *buf, size_t cap)
{
	osip_message_t *m = parse_out(out);

	snprintf(buf, cap, "%s", via_param(m, 0, "branch"));
	osip_message_free(m);
	return (buf);
}

static void
test_branch_is_stable_for_retransmission_and_cancel(void **state)
{
	struct router_output o1, o2, o3, o4;
	char b1[64], b2[64], b3[64], b4[64];
	const char *inv = REQ("INVITE sip:x@example.com", "Call-ID: br\r\n"
	    "CSeq: 1 INVITE\r\n");
	const char *can = REQ("CANCEL sip:x@example.com", "Call-ID: br\r\n"
	    "CSeq: 1 CANCEL\r\n");
	const char *other = "INVITE sip:x@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-v2;rport\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n"
	    "Call-ID: br2\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";

	(void)state;
	/* SP-09, SP-10 */
	process(&flow_a, inv, &o1);
	process(&flow_a, inv, &o2);
	process(&flow_a, can, &o3);
	process(&flow_a, other, &o4);
	assert_string_equal(branch_of(&o1, b1, sizeof(b1)),
	    branch_of(&o2, b2, sizeof(b2)));
	assert_string_equal(b1, branch_of(&o3, b3, sizeof(b3)));
	assert_string_not_equal(b1, branch_of(&o4, b4, sizeof(b4)));
	assert_int_equal(o1.sip_len, o2.sip_len);
	assert_memory_equal(o1.sip, o2.sip, o1.sip_len);
	router_output_clear(&o1);
	router_output_clear(&o2);
	router_output_clear(&o3);
	router_output_clear(&o4);
}

static void
test_strict_router_request_uri_is_restored_and_delivered(void **state)
{
	struct router_output out;
	osip_message_t *m;
	char token[FLOW_TOKEN_MAX_TEXT], text[2048];

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	/* EP-16: R-URI is our Record-Route value, last Route the contact. */
	snprintf(text, sizeof(text),
	    "BYE sip:%s@192.0.2.1:5060;lr SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP registrar.invalid;branch=z9hG4bK-s1\r\n"
	    "Route: <sip:bob@10.0.0.5:5060;transport=tcp>\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>;tag=b9\r\n"
	    "Call-ID: strict-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
	    token);
	process(&core, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_true(epsip_flow_id_equal(&out.flow.flow, &flow_b.flow.flow));
	m = parse_out(&out);
	assert_string_equal(m->req_uri->username, "bob");
	assert_int_equal(osip_list_size(&m->routes), 0);
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_options_to_the_edge_itself_is_answered(void **state)
{
	(void)state;
	check_local_reply(REQ("OPTIONS sip:192.0.2.1:5060", "Call-ID: op\r\n"
	    "CSeq: 1 OPTIONS\r\n"), 200);
}

static void
test_framing_error_answers_from_headers_then_closes(void **state)
{
	struct router_output out;
	const char *hdr = "INVITE sip:x@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 10.0.0.5;branch=z9hG4bK-f1\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n"
	    "Call-ID: fr\r\nCSeq: 1 INVITE\r\n\r\n";

	(void)state;
	/* ER-03 / ER-04 */
	router_framing_error(&router, &flow_b, 513, hdr, strlen(hdr), &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_int_equal(out.local_status, 513);
	assert_true(out.flags & EPSIP_MSG_F_CLOSE_AFTER_SEND);
	router_output_clear(&out);
	router_framing_error(&router, &flow_b, 400, "garbage", 7, &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_int_equal(out.sip_len, 0);
	assert_true(out.flags & EPSIP_MSG_F_CLOSE_AFTER_SEND);
}

static void
test_garbage_never_crashes_the_router(void **state)
{
	struct router_output out;
	char buf[600];
	const char *base = REQ("INVITE sip:x@example.com", "Call-ID: fz\r\n"
	    "CSeq: 1 INVITE\r\n");
	size_t blen = strlen(base);
	uint32_t seed = 7;

	(void)state;
	/* ER-*: mutated messages give a reply or a drop, never a crash. */
	for (int i = 0; i < 3000; i++) {
		memcpy(buf, base, blen);
		for (int j = 0; j < 4; j++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % blen] = (char)(seed >> 24);
		}
		seed = seed * 1103515245u + 12345u;
		router_process(&router, (seed & 1) ? &flow_a : &core, buf,
		    blen - (seed >> 20) % 40, &out);
		router_output_clear(&out);
	}
}

static void
test_register_that_cannot_get_a_token_is_rejected_with_500(void **state)
{
	struct router_origin broken = flow_a;
	struct router_output out;
	char text[2048];

	(void)state;
	/* EP-04: no address family, no token: nothing goes upstream. */
	broken.flow.local.family = 0;
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	process(&broken, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_int_equal(out.local_status, 500);
	router_output_clear(&out);
}

static void
test_unknown_method_and_bad_date_are_forwarded_unchanged(void **state)
{
	struct router_output out;
	osip_message_t *m;
	osip_body_t *body;
	const char *text = "FOO sip:carol@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-foo\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:carol@example.com>\r\n"
	    "Call-ID: foo-1\r\nCSeq: 1 FOO\r\n"
	    "Date: not a date at all\r\n"
	    "X-Order: first\r\nX-Order: second\r\n"
	    "Content-Type: application/x-test\r\nContent-Length: 11\r\n\r\n"
	    "hello\r\nbody";

	(void)state;
	/* SP-02: unknown methods and headers pass; SP-06: order and body. */
	process(&flow_a, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	m = parse_out(&out);
	assert_string_equal(m->sip_method, "FOO");
	assert_string_equal(sip_header_value(m, "date", 0),
	    "not a date at all");
	assert_string_equal(sip_header_value(m, "x-order", 0), "first");
	assert_string_equal(sip_header_value(m, "x-order", 1), "second");
	body = osip_list_get(&m->bodies, 0);
	assert_int_equal(body->length, 11);
	assert_memory_equal(body->body, "hello\r\nbody", 11);
	osip_message_free(m);
	router_output_clear(&out);
}

static void
test_body_without_content_type_is_forwarded_byte_for_byte(void **state)
{
	struct router_output out;
	/* An array, so its length counts the NUL inside the body. */
	static const char text[] = "MESSAGE sip:carol@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-nb\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:carol@example.com>\r\n"
	    "Call-ID: nb-1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 9\r\n\r\n"
	    "\r\nraw\x01\x00\r\n";

	(void)state;
	/* SP-06: libosip2 would drop this body (no Content-Type). */
	router_process(&router, &flow_a, text, sizeof(text) - 1, &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	assert_true(out.sip_len > 9);
	assert_memory_equal(out.sip + out.sip_len - 9, "\r\nraw\x01\x00\r\n",
	    9);
	assert_non_null(strstr(out.sip, "Content-Length: 9\r\n"));
	router_output_clear(&out);
}

static void
test_udp_request_without_length_gets_one_towards_a_stream(void **state)
{
	struct router_output out;
	osip_message_t *m;
	char ta[FLOW_TOKEN_MAX_TEXT], tb[FLOW_TOKEN_MAX_TEXT], text[2048];

	(void)state;
	token_of(&flow_a, ta, sizeof(ta));
	token_of(&flow_b, tb, sizeof(tb));
	/* SP-12: a UDP request without Content-Length, bound for TCP. */
	snprintf(text, sizeof(text),
	    "MESSAGE sip:bob@10.0.0.9 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-cl\r\n"
	    "Route: <sip:%s@192.0.2.1;lr>,<sip:%s@192.0.2.1;lr>\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>\r\n"
	    "Call-ID: cl-1\r\nCSeq: 1 MESSAGE\r\n"
	    "Content-Type: text/plain\r\n\r\nfive!", ta, tb);
	process(&flow_a, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_true(epsip_flow_id_equal(&out.flow.flow, &flow_b.flow.flow));
	assert_non_null(strstr(out.sip, "\r\nContent-Length: 5\r\n\r\nfive!"));
	m = parse_out(&out);
	assert_int_equal(((osip_body_t *)osip_list_get(&m->bodies, 0))->length,
	    5);
	osip_message_free(m);
	router_output_clear(&out);
}

/* 1 if `line` is one whole header line of the output. */
static int
has_line(const struct router_output *out, const char *line)
{
	char want[1024];

	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	return (memmem(out->sip, out->sip_len, want, strlen(want)) != NULL);
}

static void
test_forwarded_invite_keeps_unknown_header_case_and_order(void **state)
{
	struct router_output out;
	const char *text = "INVITE sip:carol@example.com SIP/2.0\r\n"
	    "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-kc;rport\r\n"
	    "max-forwards: 10\r\n"
	    "f: <sip:bob@example.com>;tag=b1\r\nt: <sip:carol@example.com>\r\n"
	    "i: kc-1\r\nCSeq: 1 INVITE\r\n"
	    "m: <sip:bob@10.0.0.5;ob>\r\n"
	    "X-Custom-Header: Keep This Case\r\n"
	    "P-Asserted-Identity: <sip:bob@example.com>\r\n"
	    "Allow: INVITE, ACK, BYE\r\n"
	    "x-lower: z\r\nl: 0\r\n\r\n";
	const char *order[] = { "f: ", "t: ", "i: kc-1", "CSeq: ", "m: ",
	    "X-Custom-Header: Keep This Case", "P-Asserted-Identity: ",
	    "Allow: INVITE, ACK, BYE\r\n", "x-lower: z", "l: 0\r\n\r\n" };
	const char *at;

	(void)state;
	/* Issue 7 §2: only what the edge owns changes; SBCs compare names. */
	process(&flow_a, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_CORE);
	assert_memory_equal(out.sip, "INVITE sip:carol@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-ep", 87);
	assert_true(has_line(&out, "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-kc;"
	    "rport=40000;received=198.51.100.7"));
	assert_true(has_line(&out, "max-forwards: 9"));
	at = out.sip;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const char *next = strstr(at, order[i]);

		if (next == NULL) {
			fail_msg("'%s' missing or out of order in:\n%s",
			    order[i], out.sip);
		}
		at = next;
	}
	router_output_clear(&out);
}

static void
test_register_2xx_gets_flow_timer_in_its_rfc_spelling(void **state)
{
	static const char *const answer[] = { "Require", "outbound", NULL };
	struct router_output down;
	char text[2048], line[32];

	(void)state;
	/* sipp's header check failed on libosip2's "Flow-timer" (EP-18). */
	snprintf(text, sizeof(text), REGISTER_FMT, "", "");
	register_and_answer(text, 200, answer, &down);
	snprintf(line, sizeof(line), "Flow-Timer: %u", cfg.flow_timer);
	assert_true(has_line(&down, line));
	assert_null(strstr(down.sip, "Flow-timer"));
	router_output_clear(&down);
}

static void
test_response_pops_only_our_via_from_a_comma_list(void **state)
{
	struct router_output out;
	char token[FLOW_TOKEN_MAX_TEXT], text[1024];

	(void)state;
	token_of(&flow_a, token, sizeof(token));
	snprintf(text, sizeof(text), "SIP/2.0 180 Ringing\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-ep1;ept=%s ,"
	    "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-x;received=198.51.100.7\r\n"
	    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
	    "Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
	    token);
	process(&core, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_string_equal(out.sip, "SIP/2.0 180 Ringing\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-x;received=198.51.100.7"
	    "\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;"
	    "tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0"
	    "\r\n\r\n");
	router_output_clear(&out);
}

static void
test_local_reply_copies_the_request_lines_byte_for_byte(void **state)
{
	struct router_output out;
	const char *text = "INVITE sip:x@example.com SIP/2.0\r\n"
	    "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-lr;rport\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-lr0\r\n"
	    "X-Custom-Header: Keep This Case\r\n"
	    "f: \"Bob\" <sip:bob@example.com>;tag=b1\r\n"
	    "To:   <sip:x@example.com>\r\n"
	    "call-id: lr-1\r\ncseq: 1 INVITE\r\nMax-Forwards: 0\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
	char *tag;

	(void)state;
	/* SP-17, RFC 3261 §8.2.6.2: the 483 carries the request's lines. */
	process(&flow_a, text, &out);
	assert_int_equal(out.local_status, 483);
	assert_memory_equal(out.sip, "SIP/2.0 483 Too Many Hops\r\n"
	    "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-lr;rport=40000;"
	    "received=198.51.100.7\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-lr0\r\n"
	    "f: \"Bob\" <sip:bob@example.com>;tag=b1\r\n"
	    "To:   <sip:x@example.com>;tag=", 219);
	tag = out.sip + 219;
	assert_int_equal(strspn(tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno"
	    "pqrstuvwxyz0123456789-_"), 16);
	assert_string_equal(tag + 16, "\r\ncall-id: lr-1\r\ncseq: 1 INVITE\r\n"
	    "Content-Length: 0\r\n\r\n");
	router_output_clear(&out);
}

static void
test_strict_router_fix_edits_only_the_request_uri_and_routes(void **state)
{
	struct router_output out;
	char token[FLOW_TOKEN_MAX_TEXT], text[2048];

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	/* EP-16, in bytes: the last Route's URI becomes the R-URI. */
	snprintf(text, sizeof(text),
	    "BYE sip:%s@192.0.2.1:5060;lr SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP registrar.invalid;branch=z9hG4bK-s2\r\n"
	    "Route: <sip:proxy.invalid;lr>, <sip:bob@10.0.0.5:5060;"
	    "transport=tcp>\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>;tag=b9\r\n"
	    "Call-ID: strict-2\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
	    token);
	process(&core, text, &out);
	assert_int_equal(out.dest, ROUTER_TO_FLOW);
	assert_memory_equal(out.sip, "BYE sip:bob@10.0.0.5:5060;transport=tcp "
	    "SIP/2.0\r\n", 49);
	assert_true(has_line(&out, "Route: <sip:proxy.invalid;lr>"));
	assert_true(has_line(&out, "Via: SIP/2.0/UDP registrar.invalid;"
	    "branch=z9hG4bK-s2"));
	router_output_clear(&out);
}

static void
test_undeliverable_430_carries_the_core_via_line_as_sent(void **state)
{
	struct router_output out, back;
	char token[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	token_of(&flow_b, token, sizeof(token));
	core_invite(token, ";lr;ob", "X-Custom-Header: Keep This Case\r\n",
	    &out);
	router_undeliverable(&router, out.sip, out.sip_len, &back);
	assert_int_equal(back.local_status, 430);
	assert_memory_equal(back.sip, "SIP/2.0 430 Flow Failed\r\n"
	    "Via: SIP/2.0/UDP registrar.invalid;branch=z9hG4bK-core1\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>;tag=", 150);
	assert_null(strstr(back.sip, "X-Custom-Header"));
	assert_null(strstr(back.sip, EPSIP_ROUTER_BRANCH_PREFIX));
	router_output_clear(&out);
	router_output_clear(&back);
}

static void
test_salvaged_request_reply_copies_its_lines_too(void **state)
{
	struct router_output out;

	(void)state;
	/* libosip2 refuses the scheme; salvage.c finds the status (SP-03). */
	process(&flow_a, "INVITE xyz:a SIP/2.0\r\n"
	    "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-sv;rport\r\n"
	    "f: <sip:bob@example.com>;tag=b1\r\n"
	    "To: <sip:x@example.com>;tag=t\r\n"
	    "i: sv-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", &out);
	assert_int_equal(out.local_status, 416);
	assert_string_equal(out.sip, "SIP/2.0 416 Unsupported URI Scheme\r\n"
	    "v: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-sv;rport=40000;"
	    "received=198.51.100.7\r\n"
	    "f: <sip:bob@example.com>;tag=b1\r\nTo: <sip:x@example.com>;tag=t"
	    "\r\ni: sv-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	router_output_clear(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_through_edge_adds_path_with_ob),
		cmocka_unit_test(
		    test_register_over_tls_and_wss_gets_path_naming_the_transport),
		cmocka_unit_test(
		    test_core_invite_for_wss_flow_gets_wss_via_and_record_route),
		cmocka_unit_test(
		    test_register_not_first_hop_gets_path_without_ob),
		cmocka_unit_test(test_register_with_path_gets_ours_on_top),
		cmocka_unit_test(
		    test_strict_path_policy_answers_421_without_supported_path),
		cmocka_unit_test(
		    test_core_invite_with_token_goes_to_that_flow_and_is_record_routed),
		cmocka_unit_test(
		    test_tampered_token_gets_403_and_reaches_no_flow),
		cmocka_unit_test(test_path_traversal_route_user_gets_403),
		cmocka_unit_test(test_token_of_another_instance_gets_430),
		cmocka_unit_test(
		    test_token_of_a_sibling_flow_manager_goes_to_its_owner),
		cmocka_unit_test(
		    test_core_request_without_token_is_not_routed_to_any_flow),
		cmocka_unit_test(test_in_dialog_request_on_own_flow_goes_upstream),
		cmocka_unit_test(test_in_dialog_request_crosses_to_the_peer_flow),
		cmocka_unit_test(test_plain_loose_route_to_edge_is_popped),
		cmocka_unit_test(
		    test_outgoing_invite_with_ob_contact_is_record_routed_with_own_token),
		cmocka_unit_test(test_sips_request_gets_sips_record_route),
		cmocka_unit_test(
		    test_response_from_core_returns_on_the_arrival_flow_with_flow_timer),
		cmocka_unit_test(
		    test_plain_register_2xx_keeps_the_flow_for_the_registration),
		cmocka_unit_test(test_response_with_foreign_top_via_is_dropped),
		cmocka_unit_test(test_response_with_forged_via_token_is_dropped),
		cmocka_unit_test(test_response_with_another_edges_via_is_dropped),
		cmocka_unit_test(test_max_forwards_zero_gets_483),
		cmocka_unit_test(test_unknown_uri_scheme_gets_416),
		cmocka_unit_test(test_proxy_require_gets_420_with_unsupported),
		cmocka_unit_test(test_missing_call_id_gets_400),
		cmocka_unit_test(test_non_numeric_cseq_number_gets_400),
		cmocka_unit_test(test_bare_cr_in_a_header_line_is_not_forwarded),
		cmocka_unit_test(test_reply_to_a_cut_core_request_has_one_head),
		cmocka_unit_test(test_duplicate_call_id_gets_400),
		cmocka_unit_test(
		    test_udp_body_shorter_than_content_length_gets_400),
		cmocka_unit_test(test_udp_bytes_past_content_length_are_discarded),
		cmocka_unit_test(
		    test_websocket_message_holding_two_requests_gets_400),
		cmocka_unit_test(test_compact_headers_route_like_long_ones),
		cmocka_unit_test(test_undeliverable_invite_gets_430_at_its_origin),
		cmocka_unit_test(
		    test_undeliverable_response_is_dropped_not_misdelivered),
		cmocka_unit_test(
		    test_branch_is_stable_for_retransmission_and_cancel),
		cmocka_unit_test(
		    test_strict_router_request_uri_is_restored_and_delivered),
		cmocka_unit_test(test_options_to_the_edge_itself_is_answered),
		cmocka_unit_test(
		    test_framing_error_answers_from_headers_then_closes),
		cmocka_unit_test(test_garbage_never_crashes_the_router),
		cmocka_unit_test(
		    test_register_that_cannot_get_a_token_is_rejected_with_500),
		cmocka_unit_test(test_registrar_439_is_relayed_unchanged),
		cmocka_unit_test(
		    test_unknown_method_and_bad_date_are_forwarded_unchanged),
		cmocka_unit_test(
		    test_udp_request_without_length_gets_one_towards_a_stream),
		cmocka_unit_test(
		    test_body_without_content_type_is_forwarded_byte_for_byte),
		cmocka_unit_test(
		    test_forwarded_invite_keeps_unknown_header_case_and_order),
		cmocka_unit_test(
		    test_register_2xx_gets_flow_timer_in_its_rfc_spelling),
		cmocka_unit_test(
		    test_response_pops_only_our_via_from_a_comma_list),
		cmocka_unit_test(
		    test_local_reply_copies_the_request_lines_byte_for_byte),
		cmocka_unit_test(
		    test_strict_router_fix_edits_only_the_request_uri_and_routes),
		cmocka_unit_test(
		    test_undeliverable_430_carries_the_core_via_line_as_sent),
		cmocka_unit_test(
		    test_salvaged_request_reply_copies_its_lines_too),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
