/*
 * registrar_upstream_test.c -- the registrar-bridge in upstream mode
 * (RG-29) over a fake network: what goes to the upstream, what comes
 * back to the router, and the 503s that keep a phone from hanging when
 * the upstream is silent or gone (SP-16, SP-17).  Also SP-15 (a TCP
 * phone's request to a UDP upstream is retransmitted by the edge) and
 * TR-09 (a large request moves to TCP).  Time is a number the tests
 * advance; nothing sleeps and no socket is opened.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../../services/registrar-bridge/upstream/core_upstream.h"
#include "sent_capture.h"

#define ROUTER_VIA	"SIP/2.0/UDP 198.51.100.1:5070"
#define BRANCH_A	"z9hG4bK-ep0a0a0a0a0a0a0a0a"
#define BRANCH_B	"z9hG4bK-ep0b0b0b0b0b0b0b0b"

/* What the core handed the fake network. */
struct wire {
	uint8_t transport;
	uint32_t hash;
	struct epsip_addr conn_peer, dest;
	char *buf;
	size_t len;
};

#define MAX_WIRE	64

static struct wire up[MAX_WIRE];	/* requests to the upstream */
static size_t nup;
static struct wire down[MAX_WIRE];	/* responses to the core */
static size_t ndown;
static enum core_net_result send_result;
static uint64_t tcp_conn_id;

static struct epsip_config cfg;
static struct rb_core *core;
static struct rb_out out;
static struct up_txn_conf conf;

static enum core_net_result
fake_send_request(void *arg, uint8_t transport, uint32_t hash,
    const char *buf, size_t len, uint64_t *conn_id)
{
	(void)arg;
	assert_true(nup < MAX_WIRE);
	up[nup].transport = transport;
	up[nup].hash = hash;
	up[nup].buf = malloc(len + 1);
	memcpy(up[nup].buf, buf, len);
	up[nup].buf[len] = '\0';
	up[nup].len = len;
	nup++;
	*conn_id = transport == EPSIP_TRANSPORT_TCP ? tcp_conn_id : 0;
	return (send_result);
}

static int
fake_send_response(void *arg, uint8_t transport,
    const struct epsip_addr *conn_peer, const struct epsip_addr *dest,
    const char *buf, size_t len)
{
	(void)arg;
	assert_true(ndown < MAX_WIRE);
	down[ndown].transport = transport;
	down[ndown].conn_peer = *conn_peer;
	down[ndown].dest = *dest;
	down[ndown].buf = malloc(len + 1);
	memcpy(down[ndown].buf, buf, len);
	down[ndown].buf[len] = '\0';
	down[ndown].len = len;
	ndown++;
	return (0);
}

static void
make_core(const char *upstream)
{
	struct up_link link = { fake_send_request, fake_send_response, NULL };
	char err[256];

	if (core != NULL) {
		core->ops->free(core);
	}
	snprintf(cfg.upstream_uri, sizeof(cfg.upstream_uri), "%s", upstream);
	assert_int_equal(config_parse_upstream(upstream, &cfg.upstream, err,
	    sizeof(err)), 0);
	core = core_upstream_new_on(&cfg, &out, &link, &conf, err,
	    sizeof(err));
	assert_non_null(core);
}

static int
setup(void **state)
{
	(void)state;
	sip_library_init();
	stats_reset();
	config_defaults(&cfg);
	out.send = capture;
	out.arg = NULL;
	send_result = CORE_NET_OK;
	tcp_conn_id = 7;
	up_txn_conf_default(&conf, cfg.upstream_timeout);
	make_core("sip:192.0.2.50:5060;transport=udp");
	return (0);
}

static void
wires_clear(struct wire *w, size_t *n)
{
	while (*n > 0) {
		free(w[--*n].buf);
	}
}

static int
teardown(void **state)
{
	(void)state;
	core->ops->free(core);
	core = NULL;
	sent_clear();
	wires_clear(up, &nup);
	wires_clear(down, &ndown);
	return (0);
}

/* SIP_TO_CORE from the router. */
static void
from_router(const char *text, uint64_t now)
{
	struct epsip_msg msg;

	epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_CORE);
	msg.payload = (const uint8_t *)text;
	msg.payload_len = strlen(text);
	core->ops->sip(core, &msg, now);
}

static void
from_net(const char *text, uint8_t transport, const char *ip, uint16_t port,
    uint64_t now)
{
	struct core_net_peer peer;

	memset(&peer, 0, sizeof(peer));
	peer.transport = transport;
	peer.remote.family = AF_INET;
	peer.remote.port = port;
	assert_int_equal(inet_pton(AF_INET, ip, peer.remote.ip), 1);
	core_upstream_net_message(core, text, strlen(text), &peer, now);
}

/*
 * A phone request as the router hands it over: its Via (the edge's only
 * one) on top, the phone's under it.
 */
static char *
request(const char *method, const char *branch, const char *phone_transport,
    const char *call_id, size_t body_len)
{
	char *text, *body;
	int n;

	body = malloc(body_len + 1);
	memset(body, 'x', body_len);
	body[body_len] = '\0';
	n = asprintf(&text,
	    "%s sip:bob@example.com SIP/2.0\r\n"
	    "Via: " ROUTER_VIA ";branch=%s;ept=TOKENA\r\n"
	    "Via: SIP/2.0/%s 192.0.2.2:5060;branch=z9hG4bKua-%s"
	    ";received=192.0.2.2;rport=5060\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=f1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: %s\r\n"
	    "CSeq: 1 %s\r\n"
	    "Path: <sip:TOKENA@198.51.100.1:5070;lr;ob>\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n\r\n%s",
	    method, branch, phone_transport, branch, call_id, method,
	    body_len, body);
	assert_true(n > 0);
	free(body);
	return (text);
}

/* The upstream's answer to `req`: its Vias, a To tag for finals. */
static char *
response_to(const char *req, int status, const char *reason)
{
	osip_message_t *m, *resp;
	char *text;
	size_t len;

	assert_int_equal(sip_parse(req, strlen(req), &m), 0);
	assert_int_equal(sip_reply_create(m, status, reason, &resp), 0);
	assert_int_equal(sip_serialize(resp, &text, &len), 0);
	osip_message_free(m);
	osip_message_free(resp);
	return (text);
}

static osip_message_t *
parse_sent(size_t i)
{
	osip_message_t *m;

	assert_true(i < nsent);
	assert_int_equal(sip_parse(sent[i], strlen(sent[i]), &m), 0);
	return (m);
}

static const char *
via_param_of(const osip_message_t *m, int index, const char *name)
{
	osip_via_t *via = osip_list_get(&m->vias, index);

	assert_non_null(via);
	return (sip_generic_param(&via->via_params, name));
}

/* sent[i] is a 503 as SP-17 wants it, for the router's request. */
static void
assert_503_for(size_t i, const char *branch, const char *method,
    const char *call_id, const char *retry_after)
{
	osip_message_t *m = parse_sent(i);

	assert_int_equal(m->status_code, 503);
	assert_string_equal(m->reason_phrase, "Service Unavailable");
	/* Every Via, the router's on top: the router pops it, follows ept. */
	assert_int_equal(osip_list_size(&m->vias), 2);
	assert_string_equal(via_param_of(m, 0, "branch"), branch);
	assert_string_equal(via_param_of(m, 0, "ept"), "TOKENA");
	assert_string_equal(via_param_of(m, 1, "received"), "192.0.2.2");
	assert_non_null(rb_to_tag(m));
	assert_string_equal(m->call_id->number, call_id);
	assert_string_equal(m->cseq->number, "1");
	assert_string_equal(m->cseq->method, method);
	if (retry_after != NULL) {
		assert_string_equal(sip_header_value(m, "Retry-After", 0),
		    retry_after);
	} else {
		assert_null(sip_header_value(m, "Retry-After", 0));
	}
	osip_message_free(m);
}

/* SP-16: no answer in upstream-timeout: 503 with Retry-After, once. */
static void
test_register_to_silent_upstream_gets_503_with_retry_after(void **state)
{
	char *req = request("REGISTER", BRANCH_A, "UDP", "reg-1", 0);

	(void)state;
	from_router(req, 1000);
	/* Forwarded byte for byte, over the upstream's transport. */
	assert_int_equal(nup, 1);
	assert_int_equal(up[0].transport, EPSIP_TRANSPORT_UDP);
	assert_string_equal(up[0].buf, req);
	assert_int_equal(core_upstream_pending(core), 1);
	core->ops->tick(core, 1000 + 4900);
	assert_int_equal(nsent, 0);
	core->ops->tick(core, 1000 + 5000);
	assert_int_equal(nsent, 1);
	assert_503_for(0, BRANCH_A, "REGISTER", "reg-1", "30");
	assert_int_equal(core_upstream_pending(core), 0);
	core->ops->tick(core, 1000 + 60000);
	assert_int_equal(nsent, 1);
	assert_int_equal(stats_get(M_UPSTREAM_503_TIMEOUT), 1);
	assert_int_equal(stats_get(M_UPSTREAM_REQUESTS_SENT), 1);
	free(req);
}

static void
test_retry_after_follows_the_configuration(void **state)
{
	char *req = request("OPTIONS", BRANCH_A, "UDP", "o-1", 0);

	(void)state;
	cfg.retry_after = 120;
	cfg.upstream_timeout = 2;
	up_txn_conf_default(&conf, cfg.upstream_timeout);
	make_core("sip:192.0.2.50;transport=udp");
	from_router(req, 0);
	core->ops->tick(core, 1999);
	assert_int_equal(nsent, 0);
	core->ops->tick(core, 2000);
	assert_503_for(0, BRANCH_A, "OPTIONS", "o-1", "120");
	/* 0: no Retry-After at all rather than "retry at once". */
	cfg.retry_after = 0;
	from_router(req, 3000);
	core->ops->tick(core, 5000);
	assert_int_equal(nsent, 2);
	assert_503_for(1, BRANCH_A, "OPTIONS", "o-1", NULL);
	free(req);
}

/* SP-15: the TCP phone will not retransmit; the edge must (§17.1.1.2). */
static void
test_tcp_phone_to_udp_upstream_is_retransmitted_until_answered(void **state)
{
	char *req = request("INVITE", BRANCH_A, "TCP", "call-1", 0);
	char *trying = response_to(req, 100, "Trying");

	static const uint64_t at[] = { 500, 1500, 3500, 7500, 15500 };

	(void)state;
	cfg.upstream_timeout = 32;
	up_txn_conf_default(&conf, cfg.upstream_timeout);
	make_core("sip:192.0.2.50:5060;transport=udp");
	from_router(req, 0);
	assert_int_equal(nup, 1);
	/* Timer A: T1, then doubling, not capped at T2. */
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		core->ops->tick(core, at[i] - 100);
		assert_int_equal(nup, i + 1);
		core->ops->tick(core, at[i]);
		assert_int_equal(nup, i + 2);
	}
	for (size_t i = 1; i < nup; i++) {
		assert_int_equal(up[i].transport, EPSIP_TRANSPORT_UDP);
		assert_string_equal(up[i].buf, req);
	}
	assert_int_equal(stats_get(M_UPSTREAM_RETRANSMISSIONS), 5);
	/* A provisional ends them, and the INVITE's deadline. */
	from_net(trying, EPSIP_TRANSPORT_UDP, "192.0.2.50", 5060, 16000);
	assert_int_equal(nsent, 1);
	assert_string_equal(sent[0], trying);
	assert_int_equal(core_upstream_pending(core), 0);
	core->ops->tick(core, 31500);
	core->ops->tick(core, 60000);
	assert_int_equal(nup, 6);
	assert_int_equal(nsent, 1);
	free(req);
	free(trying);
}

/*
 * §17.1.2.2 for a non-INVITE: Timer E doubles up to T2; after a
 * provisional it fires every T2 (the server resends its final only when
 * the request comes again); the final ends it.
 */
static void
test_tcp_phone_register_to_udp_upstream_retransmits_up_to_t2(void **state)
{
	char *req = request("REGISTER", BRANCH_A, "TCP", "reg-2", 0);
	char *trying = response_to(req, 100, "Trying");
	char *ok = response_to(req, 200, "OK");
	static const uint64_t at[] = { 500, 1500, 3500, 7500, 11500 };

	(void)state;
	cfg.upstream_timeout = 32;
	up_txn_conf_default(&conf, cfg.upstream_timeout);
	make_core("sip:192.0.2.50:5060;transport=udp");
	from_router(req, 0);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		core->ops->tick(core, at[i] - 100);
		assert_int_equal(nup, i + 1);
		core->ops->tick(core, at[i]);
		assert_int_equal(nup, i + 2);
	}
	from_net(trying, EPSIP_TRANSPORT_UDP, "192.0.2.50", 5060, 12000);
	core->ops->tick(core, 15900);
	assert_int_equal(nup, 6);
	core->ops->tick(core, 16000);
	assert_int_equal(nup, 7);
	from_net(ok, EPSIP_TRANSPORT_UDP, "192.0.2.50", 5060, 17000);
	assert_int_equal(core_upstream_pending(core), 0);
	core->ops->tick(core, 40000);
	assert_int_equal(nup, 7);
	/* The 100 and the 200 went to the router; no 503. */
	assert_int_equal(nsent, 2);
	free(req);
	free(trying);
	free(ok);
}

/* A UDP phone retransmits itself: the edge must not add its own. */
static void
test_udp_phone_to_udp_upstream_is_not_retransmitted_by_the_edge(void **state)
{
	char *req = request("INVITE", BRANCH_A, "UDP", "call-2", 0);

	(void)state;
	from_router(req, 0);
	for (uint64_t t = 100; t < 5000; t += 100) {
		core->ops->tick(core, t);
	}
	assert_int_equal(nup, 1);
	assert_int_equal(stats_get(M_UPSTREAM_RETRANSMISSIONS), 0);
	free(req);
}

/* A TCP upstream needs no retransmissions either. */
static void
test_tcp_upstream_gets_no_retransmissions(void **state)
{
	char *req = request("INVITE", BRANCH_A, "TCP", "call-3", 0);

	(void)state;
	make_core("sip:192.0.2.50:5060;transport=tcp");
	from_router(req, 0);
	assert_int_equal(up[0].transport, EPSIP_TRANSPORT_TCP);
	assert_string_equal(up[0].buf, req);
	for (uint64_t t = 100; t < 5000; t += 100) {
		core->ops->tick(core, t);
	}
	assert_int_equal(nup, 1);
	free(req);
}

static void
test_udp_phone_retransmission_does_not_restart_the_deadline(void **state)
{
	char *req = request("REGISTER", BRANCH_A, "UDP", "reg-3", 0);

	(void)state;
	from_router(req, 1000);
	from_router(req, 1500);
	from_router(req, 4000);
	/* Each copy is relayed: the upstream absorbs them. */
	assert_int_equal(nup, 3);
	assert_int_equal(core_upstream_pending(core), 1);
	assert_int_equal(stats_get(M_UPSTREAM_REQUESTS_PHONE_RETRANSMISSIONS),
	    2);
	core->ops->tick(core, 5999);
	assert_int_equal(nsent, 0);
	core->ops->tick(core, 6000);
	assert_int_equal(nsent, 1);
	assert_503_for(0, BRANCH_A, "REGISTER", "reg-3", "30");
	free(req);
}

static void
test_response_from_upstream_goes_to_router_unchanged(void **state)
{
	char *req = request("REGISTER", BRANCH_A, "UDP", "reg-4", 0);
	/* Compact forms and odd spacing: not ours to tidy. */
	const char *resp =
	    "SIP/2.0 200 OK\r\n"
	    "v: " ROUTER_VIA ";branch=" BRANCH_A ";ept=TOKENA\r\n"
	    "v: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua-" BRANCH_A
	    ";received=192.0.2.2;rport=5060\r\n"
	    "f: <sip:alice@example.com>;tag=f1\r\n"
	    "t: <sip:bob@example.com>;tag=up1\r\n"
	    "i: reg-4\r\n"
	    "CSeq:   1 REGISTER\r\n"
	    "Require: outbound\r\n"
	    "Path: <sip:TOKENA@198.51.100.1:5070;lr;ob>\r\n"
	    "Contact: <sip:bob@192.0.2.2:5060>;expires=3600\r\n"
	    "l: 0\r\n\r\n";

	(void)state;
	from_router(req, 1000);
	from_net(resp, EPSIP_TRANSPORT_UDP, "192.0.2.50", 5060, 1200);
	assert_int_equal(nsent, 1);
	assert_string_equal(sent[0], resp);
	assert_int_equal(core_upstream_pending(core), 0);
	assert_int_equal(stats_get(M_UPSTREAM_RESPONSES_RECEIVED), 1);
	/* The answer ended the transaction: no 503 later. */
	core->ops->tick(core, 10000);
	assert_int_equal(nsent, 1);
	/* A response nobody waits for still goes (stateless relay). */
	from_net(resp, EPSIP_TRANSPORT_UDP, "192.0.2.50", 5060, 11000);
	assert_int_equal(nsent, 2);
	assert_string_equal(sent[1], resp);
	free(req);
}

/* The brief's rule: a 1xx to a non-INVITE does not stop the clock. */
static void
test_provisional_to_register_keeps_the_deadline(void **state)
{
	char *req = request("REGISTER", BRANCH_A, "UDP", "reg-5", 0);
	char *trying = response_to(req, 100, "Trying");

	(void)state;
	from_router(req, 0);
	from_net(trying, EPSIP_TRANSPORT_UDP, "192.0.2.50", 5060, 100);
	assert_int_equal(core_upstream_pending(core), 1);
	core->ops->tick(core, 5000);
	assert_int_equal(nsent, 2);
	assert_503_for(1, BRANCH_A, "REGISTER", "reg-5", "30");
	free(req);
	free(trying);
}

static void
test_request_from_core_gets_received_and_rport_stamped(void **state)
{
	osip_message_t *m;

	(void)state;
	from_net("INVITE sip:TOKENA@198.51.100.1:5070;lr;ob SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP kamailio.example.net:5060;branch=z9hG4bKk1"
	    ";rport\r\n"
	    "Route: <sip:TOKENA@198.51.100.1:5070;lr;ob>\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:carol@example.com>;tag=c1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: in-1\r\nCSeq: 1 INVITE\r\n"
	    "Content-Length: 0\r\n\r\n", EPSIP_TRANSPORT_UDP, "203.0.113.5",
	    40000, 0);
	assert_int_equal(nsent, 1);
	m = parse_sent(0);
	assert_string_equal(via_param_of(m, 0, "received"), "203.0.113.5");
	assert_string_equal(via_param_of(m, 0, "rport"), "40000");
	osip_message_free(m);
	/* The sent-by is the source and no rport asked: left alone. */
	from_net("OPTIONS sip:TOKENA@198.51.100.1:5070 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKk2\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:carol@example.com>;tag=c1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: in-2\r\nCSeq: 1 OPTIONS\r\n"
	    "Content-Length: 0\r\n\r\n", EPSIP_TRANSPORT_UDP, "203.0.113.5",
	    5060, 0);
	m = parse_sent(1);
	assert_null(via_param_of(m, 0, "received"));
	assert_null(via_param_of(m, 0, "rport"));
	osip_message_free(m);
	/* Another address than the sent-by: received, even without rport. */
	from_net("OPTIONS sip:TOKENA@198.51.100.1:5070 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKk3\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:carol@example.com>;tag=c1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: in-3\r\nCSeq: 1 OPTIONS\r\n"
	    "Content-Length: 0\r\n\r\n", EPSIP_TRANSPORT_UDP, "203.0.113.5",
	    5060, 0);
	m = parse_sent(2);
	assert_string_equal(via_param_of(m, 0, "received"), "203.0.113.5");
	assert_null(via_param_of(m, 0, "rport"));
	osip_message_free(m);
	/* Over TCP rport is added unasked: the response must find the
	 * connection (its remote port), not the core's listening port. */
	from_net("OPTIONS sip:TOKENA@198.51.100.1:5070 SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 203.0.113.5:5060;branch=z9hG4bKk4\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:carol@example.com>;tag=c1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: in-4\r\nCSeq: 1 OPTIONS\r\n"
	    "Content-Length: 0\r\n\r\n", EPSIP_TRANSPORT_TCP, "203.0.113.5",
	    41234, 0);
	m = parse_sent(3);
	assert_string_equal(via_param_of(m, 0, "received"), "203.0.113.5");
	assert_string_equal(via_param_of(m, 0, "rport"), "41234");
	osip_message_free(m);
	assert_int_equal(stats_get(M_CORE_REQUESTS_RECEIVED), 4);
	assert_int_equal(core_upstream_pending(core), 0);
}

static void
assert_addr(const struct epsip_addr *a, const char *ip, uint16_t port)
{
	char buf[64], want[64];

	epsip_addr_format(a, buf, sizeof(buf));
	snprintf(want, sizeof(want), "%s:%u", ip, port);
	assert_string_equal(buf, want);
}

static void
response_from_router(const char *via)
{
	char text[1024];

	snprintf(text, sizeof(text), "SIP/2.0 180 Ringing\r\n"
	    "Via: %s\r\n"
	    "From: <sip:carol@example.com>;tag=c1\r\n"
	    "To: <sip:bob@example.com>;tag=b1\r\n"
	    "Call-ID: in-1\r\nCSeq: 1 INVITE\r\n"
	    "Content-Length: 0\r\n\r\n", via);
	from_router(text, 0);
}

/* §18.2.2 and RFC 3581: responses to the core go back by their Via. */
static void
test_response_to_core_goes_back_by_its_via(void **state)
{
	(void)state;
	response_from_router("SIP/2.0/UDP kamailio.example.net:5060"
	    ";branch=z9hG4bKk1;received=203.0.113.5;rport=40000");
	assert_int_equal(ndown, 1);
	assert_int_equal(down[0].transport, EPSIP_TRANSPORT_UDP);
	assert_addr(&down[0].dest, "203.0.113.5", 40000);
	/* No rport: received and the sent-by port. */
	response_from_router("SIP/2.0/UDP kamailio.example.net:5080"
	    ";branch=z9hG4bKk1;received=203.0.113.5");
	assert_addr(&down[1].dest, "203.0.113.5", 5080);
	/* No received: a sent-by IP literal, 5060 by default. */
	response_from_router("SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKk1");
	assert_addr(&down[2].dest, "203.0.113.9", 5060);
	/* TCP: the connection from received:rport, else sent-by's port. */
	response_from_router("SIP/2.0/TCP kamailio.example.net:5060"
	    ";branch=z9hG4bKk1;received=203.0.113.5;rport=41000");
	assert_int_equal(down[3].transport, EPSIP_TRANSPORT_TCP);
	assert_addr(&down[3].conn_peer, "203.0.113.5", 41000);
	assert_addr(&down[3].dest, "203.0.113.5", 5060);
	/* IPv6. */
	response_from_router("SIP/2.0/UDP [2001:db8::5]:5062"
	    ";branch=z9hG4bKk1;rport=40001;received=2001:db8::5");
	assert_addr(&down[4].dest, "[2001:db8::5]", 40001);
	/* A name with no received has no address to go to. */
	response_from_router("SIP/2.0/UDP kamailio.example.net:5060"
	    ";branch=z9hG4bKk1");
	assert_int_equal(ndown, 5);
	assert_int_equal(stats_get(M_CORE_RESPONSES_SENT), 5);
	assert_int_equal(stats_get(M_CORE_RESPONSES_UNDELIVERABLE), 1);
	/* The bytes are the router's. */
	assert_non_null(strstr(down[0].buf, "SIP/2.0 180 Ringing"));
}

/* TR-09: over 1300 bytes to a UDP upstream goes over TCP, Via says so. */
static void
test_large_request_to_udp_upstream_goes_over_tcp(void **state)
{
	char *req = request("INVITE", BRANCH_A, "TCP", "call-4", 1400);
	char *want = strdup(req);
	char *p = strstr(want, ROUTER_VIA);

	(void)state;
	memcpy(p + strlen("SIP/2.0/"), "TCP", 3);
	from_router(req, 0);
	assert_int_equal(nup, 1);
	assert_int_equal(up[0].transport, EPSIP_TRANSPORT_TCP);
	/* Only the top Via's transport token changed. */
	assert_string_equal(up[0].buf, want);
	assert_int_equal(stats_get(M_UPSTREAM_TCP_FOR_SIZE), 1);
	/* Over TCP the edge does not retransmit, even for a TCP phone. */
	core->ops->tick(core, 600);
	core->ops->tick(core, 1600);
	assert_int_equal(nup, 1);
	/* A small one still goes over UDP. */
	free(req);
	req = request("INVITE", BRANCH_B, "UDP", "call-5", 100);
	from_router(req, 0);
	assert_int_equal(up[1].transport, EPSIP_TRANSPORT_UDP);
	free(req);
	free(want);
}

/* SP-12: a stream needs Content-Length; such a request gets one. */
static void
test_request_without_content_length_gets_one_on_a_stream(void **state)
{
	const char *req =
	    "OPTIONS sip:bob@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 198.51.100.1:5070;branch=" BRANCH_A
	    ";ept=TOKENA\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua9\r\n"
	    "From: <sip:alice@example.com>;tag=f1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: o-9\r\nCSeq: 1 OPTIONS\r\n\r\n";

	char big[2048];
	osip_message_t *m;

	(void)state;
	make_core("sip:192.0.2.50:5060;transport=tcp");
	from_router(req, 0);
	assert_int_equal(nup, 1);
	assert_non_null(strstr(up[0].buf, "Content-Length: 0\r\n"));
	/* TR-09 and SP-12 at once: re-serialised, and the Via still TCP. */
	make_core("sip:192.0.2.50:5060;transport=udp");
	snprintf(big, sizeof(big), "MESSAGE sip:bob@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 198.51.100.1:5070;branch=" BRANCH_B
	    ";ept=TOKENA\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua9\r\n"
	    "From: <sip:alice@example.com>;tag=f1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: m-9\r\nCSeq: 1 MESSAGE\r\n"
	    "Content-Type: text/plain\r\n\r\n%01400d", 7);
	from_router(big, 0);
	assert_int_equal(nup, 2);
	assert_int_equal(up[1].transport, EPSIP_TRANSPORT_TCP);
	assert_int_equal(sip_parse(up[1].buf, up[1].len, &m), 0);
	assert_string_equal(((osip_via_t *)osip_list_get(&m->vias, 0))->
	    protocol, "TCP");
	assert_non_null(strstr(up[1].buf, "Content-Length: 1400\r\n"));
	osip_message_free(m);
}

/* "Nothing hangs": cannot even be sent, so 503 at once. */
static void
test_unreachable_upstream_gets_503_at_once(void **state)
{
	static const enum core_net_result results[] = {
		CORE_NET_REFUSED, CORE_NET_BACKOFF, CORE_NET_UNRESOLVED,
	};
	char *req = request("REGISTER", BRANCH_A, "UDP", "reg-6", 0);

	(void)state;
	make_core("sip:192.0.2.50:5060;transport=tcp");
	for (size_t i = 0; i < 3; i++) {
		send_result = results[i];
		from_router(req, 1000);
		assert_int_equal(nsent, i + 1);
		assert_503_for(i, BRANCH_A, "REGISTER", "reg-6", "30");
		assert_int_equal(core_upstream_pending(core), 0);
	}
	assert_int_equal(stats_get(M_UPSTREAM_503_UNREACHABLE), 3);
	/* A full out-queue is overload, same answer. */
	send_result = CORE_NET_QUEUE_FULL;
	from_router(req, 1000);
	assert_503_for(3, BRANCH_A, "REGISTER", "reg-6", "30");
	assert_int_equal(stats_get(M_UPSTREAM_503_OVERLOAD), 1);
	free(req);
}

/* A pool connection fails: its requests get 503, the others wait. */
static void
test_lost_connection_resends_once_then_503s(void **state)
{
	char *a = request("REGISTER", BRANCH_A, "TCP", "reg-7", 0);
	char *b = request("REGISTER", BRANCH_B, "TCP", "reg-8", 0);

	(void)state;
	make_core("sip:192.0.2.50:5060;transport=tcp");
	tcp_conn_id = 7;
	from_router(a, 0);
	tcp_conn_id = 8;
	from_router(b, 0);
	assert_int_equal(core_upstream_pending(core), 2);
	/* Closed under it (an idle close racing our write): sent again,
	 * byte for byte, on a fresh connection of the same slot. */
	tcp_conn_id = 9;
	core_upstream_net_conn_lost(core, 7);
	assert_int_equal(nup, 3);
	assert_string_equal(up[2].buf, up[0].buf);
	assert_int_equal(up[2].hash, up[0].hash);
	assert_int_equal(nsent, 0);
	/* Lost again: now the phone hears 503 (SP-16). */
	core_upstream_net_conn_lost(core, 9);
	assert_int_equal(nup, 3);
	assert_int_equal(nsent, 1);
	assert_503_for(0, BRANCH_A, "REGISTER", "reg-7", "30");
	assert_int_equal(core_upstream_pending(core), 1);
	/* No connection to be had at all: 503 at once, no resend. */
	send_result = CORE_NET_BACKOFF;
	core_upstream_net_conn_lost(core, 8);
	assert_int_equal(nsent, 2);
	assert_int_equal(core_upstream_pending(core), 0);
	free(a);
	free(b);
}

/* ICMP port unreachable names the datagram: that request gets 503. */
static void
test_icmp_unreachable_503s_the_request_it_names(void **state)
{
	char *a = request("INVITE", BRANCH_A, "UDP", "call-6", 0);
	char *b = request("INVITE", BRANCH_B, "UDP", "call-7", 0);
	const char *ack = "ACK sip:x SIP/2.0\r\nVia: " ROUTER_VIA
	    ";branch=z9hG4bK-epack\r\n";

	(void)state;
	from_router(a, 0);
	from_router(b, 0);
	/* What ICMP returns may be cut short. */
	core_upstream_net_udp_refused(core, b, 200);
	assert_int_equal(nsent, 1);
	assert_503_for(0, BRANCH_B, "INVITE", "call-7", "30");
	assert_int_equal(core_upstream_pending(core), 1);
	/* An ACK's ICMP (no transaction) changes nothing. */
	core_upstream_net_udp_refused(core, ack, strlen(ack));
	assert_int_equal(nsent, 1);
	/* Too short to tell which: every UDP request shares the fate. */
	core_upstream_net_udp_refused(core, a, 20);
	assert_int_equal(nsent, 2);
	assert_503_for(1, BRANCH_A, "INVITE", "call-6", "30");
	assert_int_equal(core_upstream_pending(core), 0);
	free(a);
	free(b);
}

static void
test_full_transaction_table_answers_503_at_once(void **state)
{
	char *a = request("REGISTER", BRANCH_A, "UDP", "reg-9", 0);
	char *b = request("REGISTER", BRANCH_B, "UDP", "reg-10", 0);

	(void)state;
	conf.max = 1;
	make_core("sip:192.0.2.50:5060;transport=udp");
	from_router(a, 0);
	from_router(b, 0);
	assert_int_equal(nup, 1);
	assert_int_equal(nsent, 1);
	assert_503_for(0, BRANCH_B, "REGISTER", "reg-10", "30");
	assert_int_equal(stats_get(M_UPSTREAM_503_OVERLOAD), 1);
	/* The bytes it keeps are bounded too. */
	conf.max = 100;
	conf.max_bytes = strlen(a) + strlen(b) - 1;
	make_core("sip:192.0.2.50:5060;transport=udp");
	from_router(a, 0);
	from_router(b, 0);
	assert_int_equal(nup, 2);
	assert_int_equal(nsent, 2);
	assert_503_for(1, BRANCH_B, "REGISTER", "reg-10", "30");
	free(a);
	free(b);
}

/* A retransmission that cannot go out is a 503 too. */
static void
test_retransmission_that_cannot_be_sent_gets_503(void **state)
{
	char *req = request("OPTIONS", BRANCH_A, "TCP", "o-2", 0);

	(void)state;
	from_router(req, 0);
	send_result = CORE_NET_REFUSED;
	core->ops->tick(core, 500);
	assert_int_equal(nup, 2);
	assert_int_equal(nsent, 1);
	assert_503_for(0, BRANCH_A, "OPTIONS", "o-2", "30");
	assert_int_equal(core_upstream_pending(core), 0);
	free(req);
}

static void
test_ack_is_relayed_without_a_transaction(void **state)
{
	char *ack = request("ACK", BRANCH_A, "TCP", "call-8", 0);

	(void)state;
	from_router(ack, 0);
	assert_int_equal(nup, 1);
	assert_int_equal(core_upstream_pending(core), 0);
	core->ops->tick(core, 600);
	core->ops->tick(core, 60000);
	assert_int_equal(nup, 1);
	assert_int_equal(nsent, 0);
	free(ack);
}

/* CANCEL shares its INVITE's branch but is its own transaction. */
static void
test_cancel_is_its_own_transaction(void **state)
{
	char *inv = request("INVITE", BRANCH_A, "UDP", "call-9", 0);
	char *cancel = request("CANCEL", BRANCH_A, "UDP", "call-9", 0);
	char *ok = response_to(cancel, 200, "OK");

	(void)state;
	from_router(inv, 0);
	from_router(cancel, 10);
	assert_int_equal(nup, 2);
	assert_int_equal(core_upstream_pending(core), 2);
	from_net(ok, EPSIP_TRANSPORT_UDP, "192.0.2.50", 5060, 20);
	assert_int_equal(core_upstream_pending(core), 1);
	core->ops->tick(core, 5000);
	assert_503_for(1, BRANCH_A, "INVITE", "call-9", "30");
	free(inv);
	free(cancel);
	free(ok);
}

/* One dialog, one pool connection: the hash is the Call-ID's. */
static void
test_pool_hash_follows_the_call_id(void **state)
{
	char *a = request("INVITE", BRANCH_A, "TCP", "dialog-1", 0);
	char *b = request("BYE", BRANCH_B, "TCP", "dialog-1", 0);
	char *c = request("INVITE", "z9hG4bK-ep0c0c", "TCP", "dialog-2", 0);

	(void)state;
	make_core("sip:192.0.2.50:5060;transport=tcp");
	from_router(a, 0);
	from_router(b, 0);
	from_router(c, 0);
	assert_int_equal(up[0].hash, up[1].hash);
	assert_int_not_equal(up[0].hash, up[2].hash);
	free(a);
	free(b);
	free(c);
}

static void
test_flow_closed_and_garbage_are_harmless(void **state)
{
	(void)state;
	core->ops->flow_closed(core, "TOKENA", 6);
	from_router("not SIP at all\r\n\r\n", 0);
	from_net("neither\r\n\r\n", EPSIP_TRANSPORT_UDP, "192.0.2.50", 5060,
	    0);
	core_upstream_net_udp_refused(core, "", 0);
	assert_int_equal(nup, 0);
	assert_int_equal(nsent, 0);
	assert_int_equal(stats_get(M_SIP_IN_MALFORMED), 1);
	assert_int_equal(stats_get(M_CORE_MALFORMED), 1);
}

static void
test_report_names_the_core(void **state)
{
	char *req = request("REGISTER", BRANCH_A, "UDP", "reg-11", 0);
	json_t *stats = json_object();

	(void)state;
	from_router(req, 0);
	core->ops->report(core, stats);
	assert_string_equal(json_string_value(json_object_get(stats, "core")),
	    "upstream");
	assert_int_equal(json_integer_value(json_object_get(stats,
	    "transactions")), 1);
	json_decref(stats);
	free(req);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_register_to_silent_upstream_gets_503_with_retry_after),
		T(test_retry_after_follows_the_configuration),
		T(test_tcp_phone_to_udp_upstream_is_retransmitted_until_answered),
		T(test_tcp_phone_register_to_udp_upstream_retransmits_up_to_t2),
		T(test_udp_phone_to_udp_upstream_is_not_retransmitted_by_the_edge),
		T(test_tcp_upstream_gets_no_retransmissions),
		T(test_udp_phone_retransmission_does_not_restart_the_deadline),
		T(test_response_from_upstream_goes_to_router_unchanged),
		T(test_provisional_to_register_keeps_the_deadline),
		T(test_request_from_core_gets_received_and_rport_stamped),
		T(test_response_to_core_goes_back_by_its_via),
		T(test_large_request_to_udp_upstream_goes_over_tcp),
		T(test_request_without_content_length_gets_one_on_a_stream),
		T(test_unreachable_upstream_gets_503_at_once),
		T(test_lost_connection_resends_once_then_503s),
		T(test_icmp_unreachable_503s_the_request_it_names),
		T(test_full_transaction_table_answers_503_at_once),
		T(test_retransmission_that_cannot_be_sent_gets_503),
		T(test_ack_is_relayed_without_a_transaction),
		T(test_cancel_is_its_own_transaction),
		T(test_pool_hash_follows_the_call_id),
		T(test_flow_closed_and_garbage_are_harmless),
		T(test_report_names_the_core),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
