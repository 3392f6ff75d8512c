/*
 * registrar_proxy_test.c -- the bridge's home proxy (RFC 5626 §7, RFC 3261
 * §16/§17): target selection (RG-23), Route = Path (RG-26), failover on
 * 430 and 408 (RG-24), no second flow after a real answer (RG-25), 480
 * instead of 430 (RG-28), CANCEL, ACK and retransmissions.  Everything
 * the proxy sends is captured and parsed back.  Messages reach the proxy
 * through rb_parse(), as in the bridge, so what it forwards or relays is
 * checked byte for byte too (issue 7 §2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "epsip/config.h"
#include "epsip/sip_scan.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../../services/registrar-bridge/embedded/home_proxy.h"
#include "../../services/registrar-bridge/embedded/location.h"
#include "../../services/registrar-bridge/embedded/transaction.h"
#include "sent_capture.h"

#define NOW		1700000000
#define AOR		"sip:bob@example.com"
#define INST_A		"urn:uuid:00000000-0000-0000-0000-00000000000a"
#define INST_B		"urn:uuid:00000000-0000-0000-0000-00000000000b"

static struct epsip_config cfg;
static struct location_db *db;
static struct rb_txn *txn;
static struct home_proxy *hp;
static struct rb_out out;
static uint64_t clock_ms;



static int
setup(void **state)
{
	struct rb_timers timers;
	char err[256];

	(void)state;
	sip_library_init();
	stats_reset();
	config_defaults(&cfg);
	cfg.domain_count = 1;
	snprintf(cfg.domain[0], sizeof(cfg.domain[0]), "example.com");
	assert_int_equal(location_open(&db, ":memory:", REGISTRAR_SYNC_OFF, err,
	    sizeof(err)), 0);
	out.send = capture;
	out.arg = NULL;
	rb_timers_default(&timers);
	assert_non_null(txn = rb_txn_new(&out, &timers));
	assert_non_null(hp = home_proxy_new(&cfg, db, txn, &out));
	clock_ms = 1000;
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	home_proxy_free(hp);
	rb_txn_free(txn);
	location_close(db);
	sent_clear();
	return (0);
}

/* A binding as the registrar would store it, through `token`'s flow. */
static void
add_binding_hop(const char *instance, uint32_t reg_id, const char *contact,
    const char *token, int q1000, int64_t updated, const char *hop_params)
{
	struct location_binding b;
	char path[128];
	char *paths[1];

	snprintf(path, sizeof(path), "<sip:%s@edge.example.net:5060%s;lr;ob>",
	    token, hop_params);
	paths[0] = path;
	memset(&b, 0, sizeof(b));
	b.aor = AOR;
	b.instance = (char *)(uintptr_t)instance;
	b.reg_id = reg_id;
	b.contact_uri = (char *)(uintptr_t)contact;
	b.contact_value = (char *)(uintptr_t)contact;
	b.path = paths;
	b.path_count = 1;
	b.call_id = "reg";
	b.cseq = 1;
	b.expires_at = NOW + 3600;
	b.q1000 = q1000;
	b.updated_at = updated;
	b.flow_token = (char *)(uintptr_t)token;
	assert_int_equal(location_store(db, &b), 0);
}

/* As the edge writes the Path: with the flow's transport (TCP phone's). */
static void
add_binding(const char *instance, uint32_t reg_id, const char *contact,
    const char *token, int q1000, int64_t updated)
{
	add_binding_hop(instance, reg_id, contact, token, q1000, updated,
	    strstr(contact, "transport=tcp") ? ";transport=tcp" : "");
}

static osip_message_t *
parse(const char *text)
{
	osip_message_t *msg;

	assert_int_equal(rb_parse(text, strlen(text), &msg), 0);
	return (msg);
}

/* A request from the caller (alice), as the router hands it over. */
static osip_message_t *
caller_request(const char *method, const char *branch, const char *extra)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
	    "%s sip:bob@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bK%s\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKalice%s"
	    ";received=192.0.2.9;rport=5060\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: call-1\r\n"
	    "CSeq: 1 %s\r\n"
	    "Max-Forwards: 70\r\n"
	    "Contact: <sip:alice@192.0.2.9>\r\n"
	    "%s"
	    "Content-Length: 0\r\n\r\n", method, branch, branch, method,
	    extra != NULL ? extra : "");
	return (parse(buf));
}

static void
send_invite(void)
{
	home_proxy_request(hp, caller_request("INVITE", "inv1", NULL), NULL, NOW,
	    clock_ms);
}

/* The i-th captured message, parsed (caller frees). */
static osip_message_t *
sent_msg(size_t i)
{
	assert_true(i < nsent);
	return (parse(sent[i]));
}

/* The last captured request of `method`, or fail. */
static osip_message_t *
last_request(const char *method)
{
	size_t i;

	for (i = nsent; i > 0; i--) {
		osip_message_t *m = sent_msg(i - 1);

		if (MSG_IS_REQUEST(m) && strcmp(m->sip_method, method) == 0) {
			return (m);
		}
		osip_message_free(m);
	}
	fail_msg("no %s sent", method);
	return (NULL);
}

static size_t
count_requests(const char *method)
{
	size_t i, n = 0;

	for (i = 0; i < nsent; i++) {
		osip_message_t *m = sent_msg(i);

		if (MSG_IS_REQUEST(m) && strcmp(m->sip_method, method) == 0) {
			n++;
		}
		osip_message_free(m);
	}
	return (n);
}

/* The last captured response, or fail. */
static osip_message_t *
last_response(void)
{
	size_t i;

	for (i = nsent; i > 0; i--) {
		osip_message_t *m = sent_msg(i - 1);

		if (MSG_IS_RESPONSE(m)) {
			return (m);
		}
		osip_message_free(m);
	}
	fail_msg("no response sent");
	return (NULL);
}

static char *
ruri(const osip_message_t *m)
{
	char *s;

	assert_int_equal(osip_uri_to_str(m->req_uri, &s), 0);
	return (s);
}

/* The user part (token) of the i-th Route, or NULL. */
static const char *
route_user(const osip_message_t *m, int i)
{
	osip_route_t *r = osip_list_get(&m->routes, i);

	return (r != NULL ? r->url->username : NULL);
}

/* The phone's answer to a branch request, back through the router. */
static void
answer(const osip_message_t *branch_req, int status)
{
	osip_message_t *resp;

	char *text;
	size_t len;

	assert_int_equal(sip_reply_create(branch_req, status,
	    sip_reason_phrase(status), &resp), 0);
	/* On the wire and back, as the bridge receives it. */
	assert_int_equal(sip_serialize(resp, &text, &len), 0);
	osip_message_free(resp);
	home_proxy_response(hp, parse(text), NOW, clock_ms);
	free(text);
}

/* Run the timers up to clock_ms + ms in 100 ms ticks. */
static void
advance(uint64_t ms)
{
	uint64_t end = clock_ms + ms;

	while (clock_ms < end) {
		clock_ms += RB_TXN_TICK_MS;
		home_proxy_tick(hp, NOW, clock_ms);
	}
}

/* RG-26, RG-23: lowest reg-id first, R-URI = Contact, Route = Path. */
static void
test_invite_goes_to_lowest_reg_id_with_path_as_route(void **state)
{
	osip_message_t *m;
	osip_via_t *via;
	char *s;

	(void)state;
	add_binding(INST_A, 2, "sip:bob@192.0.2.2:2;transport=tcp", "T2",
	    1000, NOW);
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW - 10);
	send_invite();
	/* 100 Trying to the caller (§16.2), one INVITE out (RG-23). */
	m = sent_msg(0);
	assert_int_equal(m->status_code, 100);
	osip_message_free(m);
	assert_int_equal(count_requests("INVITE"), 1);
	m = last_request("INVITE");
	s = ruri(m);
	assert_string_equal(s, "sip:bob@192.0.2.2:1;transport=tcp");
	osip_free(s);
	assert_int_equal(osip_list_size(&m->routes), 1);
	assert_string_equal(route_user(m, 0), "T1");
	/* Our Via on top, then the router's and the caller's. */
	assert_int_equal(osip_list_size(&m->vias), 3);
	via = osip_list_get(&m->vias, 0);
	assert_string_equal(via->host, "registrar.invalid");
	assert_non_null(strstr(sip_generic_param(&via->via_params, "branch"),
	    "z9hG4bK"));
	assert_string_equal(sip_header_value(m, "Max-Forwards", 0), "69");
	osip_message_free(m);
	assert_int_equal(stats_get(M_PROXY_BRANCHES), 1);
}

/* RG-24: 430 -> delete that binding, try the instance's next reg-id. */
static void
test_430_fails_over_to_next_reg_id_and_drops_binding(void **state)
{
	osip_message_t *inv, *ack;
	struct location_list list;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	add_binding(INST_A, 2, "sip:bob@192.0.2.2:2;transport=tcp", "T2",
	    1000, NOW);
	send_invite();
	inv = last_request("INVITE");
	sent_clear();
	answer(inv, 430);
	/* §17.1.1.3: the 430 is ACKed on its own branch. */
	ack = last_request("ACK");
	assert_string_equal(rb_top_branch(ack), rb_top_branch(inv));
	assert_string_equal(route_user(ack, 0), "T1");
	osip_message_free(ack);
	osip_message_free(inv);
	inv = last_request("INVITE");
	assert_string_equal(route_user(inv, 0), "T2");
	osip_message_free(inv);
	assert_int_equal(stats_get(M_PROXY_FAILOVER_430), 1);
	assert_int_equal(location_list_aor(db, AOR, NOW, &list), 0);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.v[0].reg_id, 2);
	location_list_clear(&list);
}

/*
 * RG-24 with a refresh in between: the phone re-registered over a new
 * flow while the INVITE was out on the old one.  The refresh updated the
 * binding in place (same id), so the old flow's 430 must not remove it.
 */
static void
test_430_from_old_flow_keeps_binding_refreshed_over_new_flow(void **state)
{
	osip_message_t *inv;
	struct location_list list;
	int64_t id;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	assert_int_equal(location_list_aor(db, AOR, NOW, &list), 0);
	assert_int_equal(list.count, 1);
	id = list.v[0].id;
	location_list_clear(&list);
	send_invite();
	inv = last_request("INVITE");
	sent_clear();
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T9",
	    1000, NOW + 1);
	answer(inv, 430);
	osip_message_free(inv);
	assert_int_equal(stats_get(M_PROXY_FAILOVER_430), 1);
	assert_int_equal(location_list_aor(db, AOR, NOW, &list), 0);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.v[0].id, id);
	assert_string_equal(list.v[0].flow_token, "T9");
	location_list_clear(&list);
	assert_int_equal(location_rows(db), 1);
}

/* RG-28: every flow gone -> the caller gets 480, never 430. */
static void
test_480_when_all_flows_failed(void **state)
{
	osip_message_t *inv, *resp;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	add_binding(INST_A, 2, "sip:bob@192.0.2.2:2;transport=tcp", "T2",
	    1000, NOW);
	send_invite();
	inv = last_request("INVITE");
	answer(inv, 430);
	osip_message_free(inv);
	inv = last_request("INVITE");
	answer(inv, 430);
	osip_message_free(inv);
	resp = last_response();
	assert_int_equal(resp->status_code, 480);
	/* Routed back by the router's Via, which is on top again. */
	assert_int_equal(osip_list_size(&resp->vias), 2);
	osip_message_free(resp);
	assert_int_equal(stats_get(M_REPLIES_430), 0);
	assert_int_equal(stats_get(M_REPLIES_480), 1);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 0);
}

/* RG-25: 486 from an instance -> not its other flow; next instance. */
static void
test_486_stops_that_instance(void **state)
{
	osip_message_t *inv, *resp;
	char *s;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	add_binding(INST_A, 2, "sip:bob@192.0.2.2:2;transport=tcp", "T2",
	    1000, NOW);
	add_binding("", 0, "sip:bob@192.0.2.3;transport=tcp", "T3", 500,
	    NOW);
	send_invite();
	inv = last_request("INVITE");
	assert_string_equal(route_user(inv, 0), "T1");
	answer(inv, 486);
	osip_message_free(inv);
	inv = last_request("INVITE");
	s = ruri(inv);
	assert_string_equal(s, "sip:bob@192.0.2.3;transport=tcp");
	osip_free(s);
	answer(inv, 480);
	osip_message_free(inv);
	assert_int_equal(count_requests("INVITE"), 2);
	resp = last_response();
	assert_int_equal(resp->status_code, 486);	/* first 4xx wins */
	osip_message_free(resp);
}

/* RG-23: instances in q order, then most recent; one at a time. */
static void
test_targets_are_ordered_by_q_then_recency(void **state)
{
	struct location_list list;
	struct home_proxy_plan plan;

	(void)state;
	add_binding(INST_A, 2, "sip:a2@h", "TA2", 500, NOW - 5);
	add_binding(INST_A, 1, "sip:a1@h", "TA1", 500, NOW - 50);
	add_binding(INST_B, 1, "sip:b1@h", "TB1", 900, NOW - 100);
	add_binding("", 0, "sip:p@h", "TP", 500, NOW);
	assert_int_equal(location_list_aor(db, AOR, NOW, &list), 0);
	assert_int_equal(home_proxy_plan(&list, &plan), 0);
	assert_int_equal(plan.count, 3);
	assert_string_equal(plan.targets[0].bindings[0].contact_uri,
	    "sip:b1@h");
	assert_string_equal(plan.targets[1].bindings[0].contact_uri,
	    "sip:p@h");
	assert_int_equal(plan.targets[2].count, 2);
	assert_int_equal(plan.targets[2].bindings[0].reg_id, 1);
	assert_int_equal(plan.targets[2].bindings[1].reg_id, 2);
	home_proxy_plan_clear(&plan);
}

/* §16.7: 2xx goes to the caller with the caller's Vias, forking stops. */
static void
test_2xx_is_forwarded_and_forking_stops(void **state)
{
	osip_message_t *inv, *resp;
	osip_via_t *via;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	add_binding(INST_B, 1, "sip:bob@192.0.2.4;transport=tcp", "T4",
	    1000, NOW);
	send_invite();
	inv = last_request("INVITE");
	answer(inv, 180);
	resp = last_response();
	assert_int_equal(resp->status_code, 180);
	osip_message_free(resp);
	answer(inv, 200);
	osip_message_free(inv);
	resp = last_response();
	assert_int_equal(resp->status_code, 200);
	via = osip_list_get(&resp->vias, 0);
	assert_string_equal(via->host, "edge.example.net");
	osip_message_free(resp);
	assert_int_equal(count_requests("INVITE"), 1);
	assert_int_equal(count_requests("ACK"), 0);	/* 2xx ACK: e2e */
}

/* B fires: as a 408 from that flow; the next reg-id gets the INVITE. */
static void
test_timeout_counts_as_408_and_fails_over(void **state)
{
	osip_message_t *inv, *resp;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	add_binding(INST_A, 2, "sip:bob@192.0.2.2:2;transport=tcp", "T2",
	    1000, NOW);
	send_invite();
	advance(32000);
	assert_int_equal(count_requests("INVITE"), 2);
	inv = last_request("INVITE");
	assert_string_equal(route_user(inv, 0), "T2");
	osip_message_free(inv);
	advance(32000);
	resp = last_response();
	assert_int_equal(resp->status_code, 408);
	osip_message_free(resp);
	assert_int_equal(stats_get(M_PROXY_TIMEOUTS), 2);
	/* A timeout deletes nothing. */
	assert_int_equal(location_count(db, NOW), 2);
	/* Everything is freed once lingering is over. */
	advance(40000);
	assert_int_equal(rb_txn_count(txn), 0);
}

/* §16.10, §9.1: 200 to CANCEL, CANCEL after the provisional, 487. */
static void
test_cancel_is_answered_and_sent_to_the_branch(void **state)
{
	osip_message_t *inv, *cancel, *resp, *m;
	char *a, *b;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	add_binding(INST_A, 2, "sip:bob@192.0.2.2:2;transport=tcp", "T2",
	    1000, NOW);
	send_invite();
	inv = last_request("INVITE");
	sent_clear();
	home_proxy_request(hp, caller_request("CANCEL", "inv1", NULL), NULL, NOW,
	    clock_ms);
	resp = last_response();
	assert_int_equal(resp->status_code, 200);
	assert_string_equal(resp->cseq->method, "CANCEL");
	osip_message_free(resp);
	/* No provisional yet: the CANCEL waits (§9.1). */
	assert_int_equal(count_requests("CANCEL"), 0);
	answer(inv, 180);
	cancel = last_request("CANCEL");
	assert_string_equal(rb_top_branch(cancel), rb_top_branch(inv));
	a = ruri(cancel);
	b = ruri(inv);
	assert_string_equal(a, b);
	osip_free(a);
	osip_free(b);
	assert_string_equal(route_user(cancel, 0), "T1");
	assert_int_equal(osip_list_size(&cancel->vias), 1);
	osip_message_free(cancel);
	answer(inv, 487);
	osip_message_free(inv);
	resp = last_response();
	assert_int_equal(resp->status_code, 487);
	osip_message_free(resp);
	/* No other flow after a CANCEL. */
	assert_int_equal(count_requests("INVITE"), 0);
	m = last_request("ACK");
	osip_message_free(m);
}

/* §17.2.1: a retransmitted INVITE gets the last provisional again. */
static void
test_invite_retransmission_is_absorbed(void **state)
{
	osip_message_t *resp;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	send_invite();
	sent_clear();
	send_invite();
	assert_int_equal(nsent, 1);
	resp = sent_msg(0);
	assert_int_equal(resp->status_code, 100);
	osip_message_free(resp);
	assert_int_equal(stats_get(M_PROXY_BRANCHES), 1);
}

/* §17.1.1.2: Timer A towards a UDP contact, until a provisional. */
static void
test_udp_contact_gets_invite_retransmissions(void **state)
{
	osip_message_t *inv;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:5060", "T1", 1000, NOW);
	send_invite();
	assert_int_equal(count_requests("INVITE"), 1);
	advance(500);
	assert_int_equal(count_requests("INVITE"), 2);
	advance(1000);
	assert_int_equal(count_requests("INVITE"), 3);
	inv = last_request("INVITE");
	answer(inv, 180);
	osip_message_free(inv);
	advance(4000);
	assert_int_equal(count_requests("INVITE"), 3);
}

/* Retransmissions follow the first hop (the Path), not the Contact. */
static void
test_branch_retransmits_by_its_first_hop_not_its_contact(void **state)
{
	(void)state;
	/* A TCP Contact behind a UDP hop (another edge's core side over
	 * UDP): the hop loses datagrams, so the INVITE is retransmitted. */
	add_binding_hop(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW, "");
	send_invite();
	advance(500);
	assert_int_equal(count_requests("INVITE"), 2);
}

static void
test_branch_over_a_tcp_hop_is_not_retransmitted(void **state)
{
	(void)state;
	add_binding_hop(INST_A, 1, "sip:bob@192.0.2.2:5060", "T1", 1000, NOW,
	    ";transport=tcp");
	send_invite();
	advance(4000);
	assert_int_equal(count_requests("INVITE"), 1);
}

/* Local answers: no bindings 480, foreign domain 404, hops 483. */
static void
test_local_answers(void **state)
{
	osip_message_t *req, *resp;

	(void)state;
	send_invite();
	resp = last_response();
	assert_int_equal(resp->status_code, 480);
	osip_message_free(resp);

	req = parse("OPTIONS sip:bob@example.org SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKo1\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.org>\r\n"
	    "Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
	home_proxy_request(hp, req, NULL, NOW, clock_ms);
	resp = last_response();
	assert_int_equal(resp->status_code, 404);
	osip_message_free(resp);

	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	req = parse("MESSAGE sip:bob@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKm1\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>\r\nMax-Forwards: 0\r\n"
	    "Call-ID: m1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n");
	home_proxy_request(hp, req, NULL, NOW, clock_ms);
	resp = last_response();
	assert_int_equal(resp->status_code, 483);
	osip_message_free(resp);
}

/* A response nobody waits for is dropped. */
static void
test_unmatched_response_is_dropped(void **state)
{
	osip_message_t *resp;

	(void)state;
	resp = parse("SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/TCP registrar.invalid;branch=z9hG4bKnobody\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>;tag=b1\r\n"
	    "Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	home_proxy_response(hp, resp, NOW, clock_ms);
	assert_int_equal(nsent, 0);
	assert_int_equal(stats_get(M_PROXY_RESPONSES_UNMATCHED), 1);
}

/* Non-INVITE: forwarded, final answer relayed, no 100, no ACK. */
static void
test_message_is_forwarded_and_answered(void **state)
{
	osip_message_t *req, *resp;

	(void)state;
	add_binding("", 0, "sip:bob@192.0.2.3;transport=tcp", "T3", 1000,
	    NOW);
	home_proxy_request(hp, caller_request("MESSAGE", "msg1", NULL), NULL, NOW,
	    clock_ms);
	assert_int_equal(nsent, 1);
	req = last_request("MESSAGE");
	assert_string_equal(route_user(req, 0), "T3");
	answer(req, 200);
	osip_message_free(req);
	resp = last_response();
	assert_int_equal(resp->status_code, 200);
	assert_string_equal(resp->cseq->method, "MESSAGE");
	osip_message_free(resp);
	assert_int_equal(count_requests("ACK"), 0);
}

/* In-dialog request for a registered Contact follows its Path. */
static void
test_in_dialog_request_follows_contact_binding(void **state)
{
	osip_message_t *req;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	req = parse("BYE sip:bob@192.0.2.2:1;transport=tcp SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKbye1\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>;tag=b1\r\n"
	    "Call-ID: call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n");
	home_proxy_request(hp, req, NULL, NOW, clock_ms);
	req = last_request("BYE");
	assert_string_equal(route_user(req, 0), "T1");
	osip_message_free(req);
}

/* A route set through another edge leads there alone: no Path on top. */
static void
test_in_dialog_request_with_a_route_set_follows_it_without_path(
    void **state)
{
	osip_message_t *req;

	(void)state;
	add_binding(INST_A, 2, "sip:bob@192.0.2.2:1;transport=tcp", "T2",
	    1000, NOW);
	req = parse("BYE sip:bob@192.0.2.2:1;transport=tcp SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKbye2\r\n"
	    "Route: <sip:198.51.100.9:5072;transport=tcp;lr>,"
	    "<sip:T2@198.51.100.9:5062;transport=tcp;lr>\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:bob@example.com>;tag=b1\r\n"
	    "Call-ID: call-2\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n");
	home_proxy_request(hp, req, NULL, NOW, clock_ms);
	req = last_request("BYE");
	assert_int_equal(osip_list_size(&req->routes), 2);
	assert_null(route_user(req, 0));
	assert_string_equal(route_user(req, 1), "T2");
	osip_message_free(req);
}

/*
 * A caller's INVITE as the router hands it over, with what carriers'
 * phones send: unknown and mixed-case headers, compact forms, comma
 * lists, a folded line and a body.  `mf` is its Max-Forwards line.
 */
#define RICH_BODY	"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\n"

static char *
rich_invite(const char *mf)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
	    "INVITE sip:bob@example.com SIP/2.0\r\n"
	    "v: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrich1\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKalicerich1"
	    ";received=192.0.2.9;rport=5060\r\n"
	    "f: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
	    "t: <sip:bob@example.com>\r\n"
	    "i: call-rich-1\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "%s"
	    "m: <sip:alice@192.0.2.9>\r\n"
	    "X-Custom-Header: Keep This Case\r\n"
	    "P-Asserted-Identity: <sip:dave@example.test>\r\n"
	    "User-Agent: Test UA/1.0\r\n"
	    "Allow: INVITE, ACK, BYE\r\n"
	    "k: outbound, path\r\n"
	    "Subject: a folded\r\n"
	    "  subject line\r\n"
	    "c: application/sdp\r\n"
	    "l: %zu\r\n"
	    "\r\n" RICH_BODY, mf, strlen(RICH_BODY));
	return (strdup(buf));
}

/* The i-th header line of `s`, name through line end, as text. */
static char *
line_text(const struct sip_scan *s, size_t i)
{
	return (strndup(s->buf + s->h[i].line.off, s->h[i].line.len));
}

/*
 * Every header line of `in` but those of kind `owned` comes out in
 * `wire` byte for byte and in the same relative order; the body is
 * unchanged.  Returns how many lines not of kind `owned` `wire` has that
 * `in` did not.
 */
static size_t
assert_unowned_lines_kept(const char *in, const char *wire,
    enum sip_hdr_id owned)
{
	static struct sip_scan si, so;
	size_t i, j = 0, kept = 0;

	assert_int_equal(sip_scan(in, strlen(in), &si), 0);
	assert_int_equal(sip_scan(wire, strlen(wire), &so), 0);
	for (i = 0; i < si.count; i++) {
		char *want;

		if (si.h[i].id == owned) {
			continue;
		}
		want = line_text(&si, i);
		for (; j < so.count; j++) {
			char *got = line_text(&so, j);
			int same = strcmp(got, want) == 0;

			free(got);
			if (same) {
				break;
			}
		}
		if (j == so.count) {
			fail_msg("line not kept in order: %s", want);
		}
		free(want);
		kept++;
		j++;
	}
	assert_string_equal(wire + so.body, in + si.body);
	for (i = 0; i < so.count; i++) {
		if (so.h[i].id == owned) {
			kept++;
		}
	}
	return (so.count - kept);
}

/* The header lines of kind `id` in `text`, joined, as text. */
static void
lines_of(const char *text, enum sip_hdr_id id, char *buf, size_t cap)
{
	static struct sip_scan s;
	size_t i, n = 0;

	buf[0] = '\0';
	assert_int_equal(sip_scan(text, strlen(text), &s), 0);
	for (i = 0; i < s.count; i++) {
		if (s.h[i].id == id) {
			assert_true(n + s.h[i].line.len < cap);
			memcpy(buf + n, text + s.h[i].line.off,
			    s.h[i].line.len);
			n += s.h[i].line.len;
			buf[n] = '\0';
		}
	}
}

/* The index of the last captured request of `method`. */
static size_t
last_sent_request(const char *method)
{
	size_t i, n = strlen(method);

	for (i = nsent; i > 0; i--) {
		if (strncmp(sent[i - 1], method, n) == 0 &&
		    sent[i - 1][n] == ' ') {
			return (i - 1);
		}
	}
	fail_msg("no %s sent", method);
	return (0);
}

/* Issue 7 §2: what we do not own leaves as the caller wrote it. */
static void
test_forwarded_invite_keeps_unknown_header_case_and_order(void **state)
{
	char *in, *wire, *first_line, vias[512], routes[256], mf[64];
	osip_message_t *m;
	const char *branch;
	char want[256];

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	in = rich_invite("Max-Forwards: 70\r\n");
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
	wire = sent[last_sent_request("INVITE")];
	/* Added: our Via and the Path's Route; Max-Forwards replaced. */
	assert_int_equal(assert_unowned_lines_kept(in, wire,
	    SIP_HDR_MAX_FORWARDS), 2);
	assert_non_null(strstr(wire, "\r\nX-Custom-Header: Keep This Case\r\n"
	    "P-Asserted-Identity: <sip:dave@example.test>\r\n"
	    "User-Agent: Test UA/1.0\r\n"
	    "Allow: INVITE, ACK, BYE\r\n"
	    "k: outbound, path\r\n"));
	first_line = strndup(wire, (size_t)(strstr(wire, "\r\n") - wire));
	assert_string_equal(first_line,
	    "INVITE sip:bob@192.0.2.2:1;transport=tcp SIP/2.0");
	free(first_line);
	/* Our Via on top, spelled as RFC 3261 does; then the caller's. */
	m = last_request("INVITE");
	branch = sip_generic_param(&((osip_via_t *)osip_list_get(&m->vias,
	    0))->via_params, "branch");
	snprintf(want, sizeof(want), "Via: SIP/2.0/TCP registrar.invalid"
	    ";branch=%s\r\nv: SIP/2.0/TCP edge.example.net", branch);
	lines_of(wire, SIP_HDR_VIA, vias, sizeof(vias));
	assert_memory_equal(vias, want, strlen(want));
	assert_true(strncmp(strstr(wire, "\r\n") + 2, "Via: ", 5) == 0);
	osip_message_free(m);
	/* RFC 3327: the Path as Route, where Route goes: after the Vias. */
	lines_of(wire, SIP_HDR_ROUTE, routes, sizeof(routes));
	assert_string_equal(routes, "Route: <sip:T1@edge.example.net:5060"
	    ";transport=tcp;lr;ob>\r\n");
	assert_non_null(strstr(wire, ";rport=5060\r\nRoute: <sip:T1@"));
	lines_of(wire, SIP_HDR_MAX_FORWARDS, mf, sizeof(mf));
	assert_string_equal(mf, "Max-Forwards: 69\r\n");
	free(in);
}

/* A Path of two hops: both as Route, in order, above any Route. */
static void
test_forwarded_request_puts_path_routes_in_order_on_top(void **state)
{
	struct location_binding b;
	char *paths[2], *in, routes[512];

	(void)state;
	paths[0] = "<sip:T1@edge.example.net:5060;transport=tcp;lr;ob>";
	paths[1] = "<sip:proxy2.example.net;lr>";
	memset(&b, 0, sizeof(b));
	b.aor = AOR;
	b.instance = INST_A;
	b.reg_id = 1;
	b.contact_uri = "sip:bob@192.0.2.2:1;transport=tcp";
	b.contact_value = b.contact_uri;
	b.path = paths;
	b.path_count = 2;
	b.call_id = "reg";
	b.cseq = 1;
	b.expires_at = NOW + 3600;
	b.q1000 = 1000;
	b.updated_at = NOW;
	b.flow_token = "T1";
	assert_int_equal(location_store(db, &b), 0);
	in = rich_invite("Route: <sip:next.example.org;lr>\r\n"
	    "max-forwards: 10\r\n");
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
	lines_of(sent[last_sent_request("INVITE")], SIP_HDR_ROUTE, routes,
	    sizeof(routes));
	assert_string_equal(routes,
	    "Route: <sip:T1@edge.example.net:5060;transport=tcp;lr;ob>\r\n"
	    "Route: <sip:proxy2.example.net;lr>\r\n"
	    "Route: <sip:next.example.org;lr>\r\n");
	/* The caller's spelling of a header we own but only re-value. */
	assert_non_null(strstr(sent[last_sent_request("INVITE")],
	    "\r\nmax-forwards: 9\r\n"));
	free(in);
}

/* §16.6(3): no Max-Forwards: 70 is added, RFC-spelled. */
static void
test_forwarded_request_without_max_forwards_gets_70(void **state)
{
	char *in, mf[64];

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	in = rich_invite("");
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
	lines_of(sent[last_sent_request("INVITE")], SIP_HDR_MAX_FORWARDS, mf,
	    sizeof(mf));
	assert_string_equal(mf, "Max-Forwards: 70\r\n");
	assert_int_equal(assert_unowned_lines_kept(in,
	    sent[last_sent_request("INVITE")], SIP_HDR_MAX_FORWARDS), 2);
	free(in);
}

/* SP-10: a UDP branch's retransmissions are the first send's bytes. */
static void
test_branch_retransmissions_repeat_the_edited_bytes(void **state)
{
	char *in, *first;
	size_t i, n = 0;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1", "T1", 1000, NOW);
	in = rich_invite("Max-Forwards: 70\r\n");
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
	first = strdup(sent[last_sent_request("INVITE")]);
	advance(1600);
	for (i = 0; i < nsent; i++) {
		if (strncmp(sent[i], "INVITE ", 7) == 0) {
			assert_string_equal(sent[i], first);
			n++;
		}
	}
	assert_true(n >= 3);	/* at 0, T1, 3*T1 */
	assert_non_null(strstr(first, "X-Custom-Header: Keep This Case"));
	free(first);
	free(in);
}

/*
 * The phone's answer to the branch in sent[i]: our Via and the caller's
 * in one comma list, headers of its own, `status`.
 */
static char *
phone_answer(size_t i, int status, const char *reason)
{
	osip_message_t *m = parse(sent[i]);
	char buf[2048];
	const char *branch;

	branch = sip_generic_param(&((osip_via_t *)osip_list_get(&m->vias,
	    0))->via_params, "branch");
	snprintf(buf, sizeof(buf),
	    "SIP/2.0 %d %s\r\n"
	    "Via: SIP/2.0/TCP registrar.invalid;branch=%s ,"
	    " SIP/2.0/TCP edge.example.net;branch=z9hG4bKrich1\r\n"
	    "v: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKalicerich1"
	    ";received=192.0.2.9;rport=5060\r\n"
	    "f: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
	    "t: <sip:bob@example.com>;tag=p1\r\n"
	    "i: call-rich-1\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "X-Phone-Header: Mixed CASE value\r\n"
	    "Allow: INVITE, ACK, CANCEL, BYE\r\n"
	    "Server: Phone/2.0\r\n"
	    "Content-Length: 0\r\n\r\n", status, reason, branch);
	osip_message_free(m);
	return (strdup(buf));
}

/* §16.7(3): only our Via value goes; the rest of its line stays. */
static void
test_relayed_response_pops_only_our_via(void **state)
{
	char *in, *resp, *wire, vias[512];
	size_t i;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	in = rich_invite("Max-Forwards: 70\r\n");
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
	resp = phone_answer(last_sent_request("INVITE"), 180, "Ringing");
	i = nsent;
	home_proxy_response(hp, parse(resp), NOW, clock_ms);
	assert_int_equal(nsent, i + 1);
	wire = sent[i];
	assert_int_equal(assert_unowned_lines_kept(resp, wire, SIP_HDR_VIA),
	    0);
	lines_of(wire, SIP_HDR_VIA, vias, sizeof(vias));
	assert_string_equal(vias,
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrich1\r\n"
	    "v: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKalicerich1"
	    ";received=192.0.2.9;rport=5060\r\n");
	assert_true(strncmp(wire, "SIP/2.0 180 Ringing\r\n", 21) == 0);
	free(resp);
	/* The 200 too, and it ends the fork. */
	resp = phone_answer(last_sent_request("INVITE"), 200, "OK");
	i = nsent;
	home_proxy_response(hp, parse(resp), NOW, clock_ms);
	assert_int_equal(nsent, i + 1);
	assert_int_equal(assert_unowned_lines_kept(resp, sent[i],
	    SIP_HDR_VIA), 0);
	assert_true(strncmp(sent[i], "SIP/2.0 200 OK\r\n", 16) == 0);
	free(resp);
	free(in);
}

/*
 * §16.7(6): a 503 leaves as 500, its other bytes kept; the caller's
 * retransmission gets those very bytes again (§17.2.1).
 */
static void
test_relayed_503_becomes_500_and_is_retransmitted_as_sent(void **state)
{
	char *in, *resp, *wire, *again;
	size_t i, j;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	in = rich_invite("Max-Forwards: 70\r\n");
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
	resp = phone_answer(last_sent_request("INVITE"), 503,
	    "Service Unavailable");
	i = nsent;
	home_proxy_response(hp, parse(resp), NOW, clock_ms);
	for (j = i; j < nsent && strncmp(sent[j], "SIP/2.0 ", 8) != 0; j++) {
		;	/* our ACK to the 503 goes first */
	}
	assert_true(j < nsent);
	wire = sent[j];
	assert_true(strncmp(wire, "SIP/2.0 500 Server Internal Error\r\n",
	    35) == 0);
	assert_int_equal(assert_unowned_lines_kept(resp, wire, SIP_HDR_VIA),
	    0);
	again = strdup(wire);
	i = nsent;
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
	assert_int_equal(nsent, i + 1);
	assert_string_equal(sent[i], again);
	free(again);
	free(resp);
	free(in);
}

static int
starts_with(const char *text, const char *prefix)
{
	return (strncmp(text, prefix, strlen(prefix)) == 0);
}

/* §8.2.6.2: our own answers copy the caller's lines as it wrote them. */
static void
test_local_answers_copy_the_callers_lines(void **state)
{
	char *in;
	size_t i;

	(void)state;
	in = rich_invite("Max-Forwards: 70\r\n");
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);	/* no binding */
	assert_int_equal(nsent, 1);
	assert_true(starts_with(sent[0], "SIP/2.0 480 Temporarily Unavailable"
	    "\r\nv: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrich1\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.9:5060;"));
	assert_non_null(strstr(sent[0],
	    "\r\nf: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
	    "t: <sip:bob@example.com>;tag="));
	assert_non_null(strstr(sent[0], "\r\ni: call-rich-1\r\n"
	    "CSeq: 1 INVITE\r\n"));
	assert_null(strstr(sent[0], "X-Custom-Header"));
	free(in);
	/* Once bound: the 100 and, when B fires, the 408 likewise. */
	sent_clear();
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	in = rich_invite("Max-Forwards: 70\r\n");
	in[strlen("INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/TCP "
	    "edge.example.net;branch=z9hG4bKrich")] = '2';
	home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
	assert_true(starts_with(sent[0], "SIP/2.0 100 Trying\r\nv: SIP/2.0/TCP "
	    "edge.example.net;branch=z9hG4bKrich2\r\n"));
	assert_non_null(strstr(sent[0], "\r\nt: <sip:bob@example.com>\r\n"));
	advance(32000);
	i = nsent - 1;
	assert_true(starts_with(sent[i], "SIP/2.0 408 Request Timeout\r\nv: "
	    "SIP/2.0/TCP edge.example.net;branch=z9hG4bKrich2\r\n"));
	assert_null(strstr(sent[i], "registrar.invalid"));
	assert_non_null(strstr(sent[i], "\r\ni: call-rich-1\r\n"));
	free(in);
}

/* tests/corpus from the working directory, or above this binary. */
static int
find_corpus(char *dir, size_t cap)
{
	char exe[PATH_MAX], *d;
	struct stat st;
	ssize_t n;

	if (stat("tests/corpus", &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(dir, cap, "tests/corpus");
		return (0);
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0) {
		return (-1);
	}
	exe[n] = '\0';
	for (d = dirname(exe); strcmp(d, "/") != 0; d = dirname(d)) {
		snprintf(dir, cap, "%s/tests/corpus", d);
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
			return (0);
		}
	}
	return (-1);
}

/*
 * A corpus message (tests/corpus/flow-*: what phones send) with its
 * token marks made plain text, or NULL when it is not a request for
 * bob's AOR.  malloc'ed.
 */
static char *
corpus_request_for_bob(const char *dir, const char *name)
{
	char path[PATH_MAX + 256], *text, *p;
	FILE *f;
	size_t len;

	if (strncmp(name, "flow-", 5) != 0) {
		return (NULL);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(text = calloc(1, 65536));
	assert_non_null(f = fopen(path, "rb"));
	len = fread(text, 1, 65535, f);
	fclose(f);
	text[len] = '\0';
	p = strchr(text, ' ');
	if (p == NULL || strncmp(p, " sip:bob@example.com SIP/2.0\r\n",
	    30) != 0 || strncmp(text, "REGISTER ", 9) == 0) {
		free(text);
		return (NULL);
	}
	/* Flow tokens only matter to the router: any text will do here. */
	while ((p = strstr(text, "@TOKEN_")) != NULL) {
		memcpy(p, "xTOKEN_", 7);
		p[8] = 'x';
	}
	return (text);
}

/*
 * Real phones' requests (baresip, JsSIP, compact and multi-value forms,
 * folded lines) through the home proxy: every line but Max-Forwards
 * leaves byte for byte and in order, plus our Via and the Path's Route.
 */
static void
test_corpus_requests_keep_every_unowned_line(void **state)
{
	char dir[PATH_MAX], *in, *wire, method[16];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	(void)state;
	add_binding(INST_A, 1, "sip:bob@192.0.2.2:1;transport=tcp", "T1",
	    1000, NOW);
	assert_int_equal(find_corpus(dir, sizeof(dir)), 0);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if ((in = corpus_request_for_bob(dir, de->d_name)) == NULL) {
			continue;
		}
		snprintf(method, sizeof(method), "%.*s",
		    (int)(strchr(in, ' ') - in), in);
		sent_clear();
		home_proxy_request(hp, parse(in), NULL, NOW, clock_ms);
		wire = sent[last_sent_request(method)];
		if (getenv("EPSIP_CORPUS_SHOW") != NULL) {
			fprintf(stderr, "--- %s in:\n%s\n--- out:\n%s\n",
			    de->d_name, in, wire);
		}
		assert_int_equal(assert_unowned_lines_kept(in, wire,
		    SIP_HDR_MAX_FORWARDS), 2);
		assert_true(starts_with(strchr(wire, ' '),
		    " sip:bob@192.0.2.2:1;transport=tcp SIP/2.0\r\n"
		    "Via: SIP/2.0/TCP registrar.invalid;branch=z9hG4bK"));
		assert_non_null(strstr(wire, "Route: <sip:T1@edge.example.net"
		    ":5060;transport=tcp;lr;ob>\r\n"));
		free(in);
		n++;
	}
	closedir(d);
	assert_true(n >= 4);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_invite_goes_to_lowest_reg_id_with_path_as_route),
		T(test_430_fails_over_to_next_reg_id_and_drops_binding),
	T(test_430_from_old_flow_keeps_binding_refreshed_over_new_flow),
		T(test_480_when_all_flows_failed),
		T(test_486_stops_that_instance),
		T(test_targets_are_ordered_by_q_then_recency),
		T(test_2xx_is_forwarded_and_forking_stops),
		T(test_timeout_counts_as_408_and_fails_over),
		T(test_cancel_is_answered_and_sent_to_the_branch),
		T(test_invite_retransmission_is_absorbed),
		T(test_udp_contact_gets_invite_retransmissions),
		T(test_branch_retransmits_by_its_first_hop_not_its_contact),
		T(test_branch_over_a_tcp_hop_is_not_retransmitted),
		T(test_local_answers),
		T(test_unmatched_response_is_dropped),
		T(test_message_is_forwarded_and_answered),
		T(test_in_dialog_request_follows_contact_binding),
		T(test_in_dialog_request_with_a_route_set_follows_it_without_path),
		T(test_forwarded_invite_keeps_unknown_header_case_and_order),
		T(test_forwarded_request_puts_path_routes_in_order_on_top),
		T(test_forwarded_request_without_max_forwards_gets_70),
		T(test_branch_retransmissions_repeat_the_edited_bytes),
		T(test_relayed_response_pops_only_our_via),
		T(test_relayed_503_becomes_500_and_is_retransmitted_as_sent),
		T(test_local_answers_copy_the_callers_lines),
		T(test_corpus_requests_keep_every_unowned_line),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
