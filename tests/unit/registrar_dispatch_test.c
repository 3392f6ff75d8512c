/*
 * registrar_dispatch_test.c -- the embedded registrar shared by two
 * edges (core-listen set in embedded mode): which messages the
 * dispatcher hands the router, the core-side network or the embedded
 * core (core_dispatch.h), over a fake network.  A token is "ours" only
 * with our key AND our instance; the other edge shares the key.  The
 * last tests run the real registrar and home proxy behind the
 * dispatcher: a REGISTER from the other edge is stored and answered by
 * its Via, and a call fails over from our dead flow (430) to the other
 * edge's Path (RG-24) with our Via naming the core side.
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
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epsip/config.h"
#include "epsip/flow_token.h"
#include "epsip/ipc.h"
#include "epsip/loop.h"
#include "epsip/resolver.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../../services/registrar-bridge/embedded/core_dispatch.h"
#include "../../services/registrar-bridge/embedded/core_embedded.h"
#include "../../services/registrar-bridge/corenet/upstream_sip.h"
#include "sent_capture.h"

#define CORE_LISTEN	"198.51.100.7:5070"	/* edge A: us, instance 1 */
#define EDGE_B		"198.51.100.2:5072"	/* edge B's core side */
#define EDGE_B_IP	"198.51.100.2"

/* What went to the fake network. */
struct wire {
	int response;
	uint8_t transport;
	struct epsip_addr conn_peer, dest;
	char *buf;
};

#define MAX_WIRE	32

static struct wire net[MAX_WIRE];
static size_t nnet;
static int net_fails;

/* What the dispatcher handed the (fake) embedded core. */
static char *to_core[MAX_WIRE];
static size_t ncore;

static struct epsip_config cfg;
static struct flow_token_keyring keys;
static struct flow_token_key other_key;
static struct rb_out router;
static struct cd_link netlink;
static struct core_dispatch *dispatch;
static struct rb_core *core;

static char tok_a[FLOW_TOKEN_MAX_TEXT];	/* our flow (instance 1) */
static char tok_a2[FLOW_TOKEN_MAX_TEXT];	/* our caller's flow */
static char tok_b[FLOW_TOKEN_MAX_TEXT];	/* edge B's flow (instance 2) */
static char tok_x[FLOW_TOKEN_MAX_TEXT];	/* another cluster's key */

static char *
copy(const char *buf, size_t len)
{
	char *s = malloc(len + 1);

	assert_non_null(s);
	memcpy(s, buf, len);
	s[len] = '\0';
	return (s);
}

static int
fake_request(void *arg, uint8_t transport, const struct epsip_addr *dest,
    const char *buf, size_t len)
{
	(void)arg;
	assert_true(nnet < MAX_WIRE);
	memset(&net[nnet], 0, sizeof(net[nnet]));
	net[nnet].transport = transport;
	net[nnet].dest = *dest;
	net[nnet].buf = copy(buf, len);
	nnet++;
	return (net_fails ? -1 : 0);
}

static int
fake_response(void *arg, uint8_t transport,
    const struct epsip_addr *conn_peer, const struct epsip_addr *dest,
    const char *buf, size_t len)
{
	(void)arg;
	assert_true(nnet < MAX_WIRE);
	net[nnet].response = 1;
	net[nnet].transport = transport;
	net[nnet].conn_peer = *conn_peer;
	net[nnet].dest = *dest;
	net[nnet].buf = copy(buf, len);
	nnet++;
	return (net_fails ? -1 : 0);
}

/* What the dispatcher handed core_net as having no hop. */
static char *no_hop[MAX_WIRE];
static size_t nno_hop;

static void
fake_undeliverable(void *arg, const char *buf, size_t len)
{
	(void)arg;
	assert_true(nno_hop < MAX_WIRE);
	no_hop[nno_hop++] = copy(buf, len);
}

static void
fake_core(void *arg, osip_message_t *msg, const struct epsip_addr *source,
    uint64_t now_ms)
{
	char *buf;
	size_t len;

	(void)arg;
	(void)source;
	(void)now_ms;
	assert_true(ncore < MAX_WIRE);
	assert_int_equal(sip_serialize(msg, &buf, &len), 0);
	to_core[ncore++] = buf;
	osip_message_free(msg);
}

static void
make_token(const struct flow_token_key *key, uint16_t instance,
    uint32_t slot, char *out)
{
	struct flow_token t;

	memset(&t, 0, sizeof(t));
	t.flow.instance = instance;
	t.flow.child = 1;
	t.flow.slot = slot;
	t.flow.generation = 77;
	t.transport = EPSIP_TRANSPORT_TCP;
	assert_int_equal(config_parse_addr("192.0.2.1:5060", 5060, &t.local),
	    0);
	assert_int_equal(config_parse_addr("203.0.113.9:40000", 5060,
	    &t.remote), 0);
	assert_true(flow_token_encode(key, &t, out, FLOW_TOKEN_MAX_TEXT) > 0);
}

static void
addr(const char *text, struct epsip_addr *a)
{
	assert_int_equal(config_parse_addr(text, 5060, a), 0);
}

static char unreachable_branch[64];

static void
fake_unreachable(void *arg, const char *branch, uint64_t now_ms)
{
	(void)arg;
	(void)now_ms;
	snprintf(unreachable_branch, sizeof(unreachable_branch), "%s",
	    branch);
}

static int
setup_common(void)
{
	uint8_t secret[FLOW_TOKEN_KEY_SIZE];

	sip_library_init();
	stats_reset();
	config_defaults(&cfg);
	cfg.instance = 1;
	snprintf(cfg.registrar_db, sizeof(cfg.registrar_db), ":memory:");
	/* Who may register is auth_test.c's subject. */
	cfg.auth = AUTH_NONE;
	addr(CORE_LISTEN, &cfg.core_listen);
	memset(secret, 0x5a, sizeof(secret));
	memset(&keys, 0, sizeof(keys));
	flow_token_key_init(&keys.current, secret);
	memset(secret, 0xa5, sizeof(secret));
	flow_token_key_init(&other_key, secret);
	make_token(&keys.current, 1, 3, tok_a);
	make_token(&keys.current, 1, 4, tok_a2);
	/* Another edge: instance 17, past our 1..16. */
	make_token(&keys.current, 17, 3, tok_b);
	make_token(&other_key, 1, 3, tok_x);
	router.send = capture;
	router.arg = NULL;
	netlink.send_request = fake_request;
	netlink.send_response = fake_response;
	netlink.undeliverable = fake_undeliverable;
	netlink.arg = NULL;
	net_fails = 0;
	unreachable_branch[0] = '\0';
	return (0);
}

static int
setup_dispatch(void **state)
{
	struct cd_core input = { fake_core, fake_unreachable, NULL };

	(void)state;
	setup_common();
	assert_non_null(dispatch = core_dispatch_new(&cfg, &keys, &router,
	    &input, &netlink));
	return (0);
}

static int
setup_core(void **state)
{
	char err[256];

	(void)state;
	setup_common();
	core = core_embedded_new_on(&cfg, &router, &keys, &netlink, err,
	    sizeof(err));
	if (core == NULL) {
		fail_msg("core_embedded_new_on: %s", err);
	}
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	core_dispatch_free(dispatch);
	dispatch = NULL;
	if (core != NULL) {
		core->ops->free(core);
		core = NULL;
	}
	sent_clear();
	while (nnet > 0) {
		free(net[--nnet].buf);
	}
	while (nno_hop > 0) {
		free(no_hop[--nno_hop]);
	}
	while (ncore > 0) {
		char *p = to_core[--ncore];

		osip_free(p);		/* a macro: evaluates twice */
	}
	return (0);
}

static osip_message_t *
parse(const char *text)
{
	osip_message_t *msg;

	assert_int_equal(sip_parse(text, strlen(text), &msg), 0);
	return (msg);
}

static const char *
via_param(osip_message_t *msg, int pos, const char *name)
{
	osip_via_t *via = osip_list_get(&msg->vias, pos);
	osip_generic_param_t *p = NULL;

	assert_non_null(via);
	osip_via_param_get_byname(via, (char *)(uintptr_t)name, &p);
	return (p != NULL ? (p->gvalue != NULL ? p->gvalue : "") : NULL);
}

static void
assert_addr(const struct epsip_addr *a, const char *text)
{
	struct epsip_addr want;

	addr(text, &want);
	assert_true(epsip_addr_equal(a, &want));
}

/*
 * net[i] is a request to edge B over TCP whose top Via, the bridge's own,
 * names our core side; returned parsed (the caller frees it).
 */
static osip_message_t *
assert_request_to_b_with_our_via(size_t i)
{
	osip_message_t *m;
	osip_via_t *via;

	assert_true(nnet > i);
	assert_false(net[i].response);
	assert_int_equal(net[i].transport, EPSIP_TRANSPORT_TCP);
	assert_addr(&net[i].dest, EDGE_B);
	m = parse(net[i].buf);
	via = osip_list_get(&m->vias, 0);
	assert_string_equal(via->host, "198.51.100.7");
	assert_string_equal(via->port, "5070");
	assert_string_equal(via->protocol, "TCP");
	return (m);
}

/*
 * A home proxy branch as the embedded core sends it: the bridge's Via
 * on top of the caller's path, Route = the callee's stored Path.
 */
static void
branch_text(char *buf, size_t cap, const char *method, const char *route)
{
	snprintf(buf, cap,
	    "%s sip:alice@10.0.0.5:40000;transport=tcp SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP registrar.invalid;branch=z9hG4bKbridge1\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-epcaller"
	    ";ept=%s\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKcaller"
	    ";received=10.0.0.9;rport=5060\r\n"
	    "%s%s%s"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\n"
	    "To: <sip:alice@example.com>\r\n"
	    "Call-ID: call-1\r\n"
	    "CSeq: 1 %s\r\n"
	    "Content-Length: 0\r\n\r\n", method, tok_a2,
	    route != NULL ? "Route: <" : "", route != NULL ? route : "",
	    route != NULL ? ">\r\n" : "", method);
}

static int
send_branch(const char *route)
{
	char buf[2048];

	branch_text(buf, sizeof(buf), "INVITE", route);
	return (core_dispatch_send(dispatch, buf, strlen(buf)));
}

/* --- what the embedded core sends --- */

static void
test_request_for_our_flow_goes_to_the_router(void **state)
{
	char route[256];

	(void)state;
	snprintf(route, sizeof(route), "sip:%s@192.0.2.1:5060;lr;ob", tok_a);
	assert_int_equal(send_branch(route), 0);
	assert_int_equal(nsent, 1);
	assert_int_equal(nnet, 0);
	/* As it came: the router expects the bridge's Via. */
	assert_non_null(strstr(sent[0], "registrar.invalid"));
}

static void
test_request_for_the_other_edges_flow_goes_to_its_path_with_our_via(
    void **state)
{
	osip_message_t *m;
	char route[256];

	(void)state;
	snprintf(route, sizeof(route), "sip:%s@" EDGE_B ";transport=tcp;lr;ob",
	    tok_b);
	assert_int_equal(send_branch(route), 0);
	assert_int_equal(nsent, 0);
	assert_int_equal(nnet, 1);
	/* Our Via names the core side and the transport used; same branch. */
	m = assert_request_to_b_with_our_via(0);
	assert_string_equal(via_param(m, 0, "branch"), "z9hG4bKbridge1");
	/* Nothing else changes: the Path stays for edge B to pop. */
	assert_int_equal(osip_list_size(&m->vias), 3);
	assert_string_equal(((osip_route_t *)osip_list_get(&m->routes,
	    0))->url->username, tok_b);
	assert_int_equal(stats_get(M_CORE_REQUESTS_SENT), 1);
	osip_message_free(m);
}

static void
test_token_of_another_key_is_not_ours_and_goes_to_the_network(void **state)
{
	char route[256];

	(void)state;
	/* Instance 1 as ours, but signed by another cluster's key. */
	snprintf(route, sizeof(route), "sip:%s@" EDGE_B ";lr", tok_x);
	assert_int_equal(send_branch(route), 0);
	assert_int_equal(nsent, 0);
	assert_int_equal(nnet, 1);
	assert_int_equal(net[0].transport, EPSIP_TRANSPORT_UDP);
	assert_addr(&net[0].dest, EDGE_B);
	assert_non_null(strstr(net[0].buf, "SIP/2.0/UDP 198.51.100.7:5070"));
}

static void
test_udp_path_goes_over_udp_and_a_large_request_over_tcp(void **state)
{
	char buf[4096], pad[1400], route[256];

	(void)state;
	snprintf(route, sizeof(route), "sip:%s@" EDGE_B_IP ";lr", tok_b);
	assert_int_equal(send_branch(route), 0);
	assert_int_equal(net[0].transport, EPSIP_TRANSPORT_UDP);
	assert_addr(&net[0].dest, EDGE_B_IP ":5060");	/* port 5060 */
	assert_non_null(strstr(net[0].buf, "Via: SIP/2.0/UDP "
	    "198.51.100.7:5070;branch=z9hG4bKbridge1"));
	/* TR-09: over 1300 bytes, TCP, and the Via says so. */
	snprintf(route, sizeof(route), "sip:%s@" EDGE_B ";lr", tok_b);
	branch_text(buf, sizeof(buf), "MESSAGE", route);
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(strstr(buf, "Content-Length"), sizeof(buf) - (size_t)(strstr(
	    buf, "Content-Length") - buf), "Content-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n\r\n%s", strlen(pad), pad);
	assert_int_equal(core_dispatch_send(dispatch, buf, strlen(buf)), 0);
	assert_int_equal(nnet, 2);
	assert_int_equal(net[1].transport, EPSIP_TRANSPORT_TCP);
	assert_addr(&net[1].dest, EDGE_B);
	assert_non_null(strstr(net[1].buf, "Via: SIP/2.0/TCP "
	    "198.51.100.7:5070;branch=z9hG4bKbridge1"));
	assert_int_equal(stats_get(M_CORE_REQUESTS_TCP_FOR_SIZE), 1);
}

static void
test_request_without_route_goes_to_its_request_uri(void **state)
{
	(void)state;
	/* A Contact registered without Path (directly, not through an edge). */
	assert_int_equal(send_branch(NULL), 0);
	assert_int_equal(nsent, 0);
	assert_int_equal(nnet, 1);
	assert_int_equal(net[0].transport, EPSIP_TRANSPORT_TCP);
	assert_addr(&net[0].dest, "10.0.0.5:40000");
}

static void
test_wildcard_core_listen_names_the_address_towards_the_next_hop(
    void **state)
{
	char route[256];

	(void)state;
	addr("0.0.0.0:5070", &cfg.core_listen);
	snprintf(route, sizeof(route), "sip:%s@127.0.0.1:5072;transport=tcp;lr",
	    tok_b);
	assert_int_equal(send_branch(route), 0);
	assert_int_equal(nnet, 1);
	assert_non_null(strstr(net[0].buf, "Via: SIP/2.0/TCP "
	    "127.0.0.1:5070;branch=z9hG4bKbridge1"));
	/* core-advertise wins, its port defaulting to core-listen's. */
	snprintf(cfg.core_advertise, sizeof(cfg.core_advertise),
	    "registrar.example.net");
	assert_int_equal(send_branch(route), 0);
	assert_non_null(strstr(net[1].buf, "Via: SIP/2.0/TCP "
	    "registrar.example.net:5070;branch=z9hG4bKbridge1"));
}

static void
test_unroutable_request_is_counted_and_refused(void **state)
{
	char route[256];

	(void)state;
	snprintf(route, sizeof(route), "sips:%s@" EDGE_B ";lr", tok_b);
	assert_int_equal(send_branch(route), -1);
	assert_int_equal(nnet, 0);
	assert_int_equal(stats_get(M_CORE_REQUESTS_UNDELIVERABLE_SCHEME), 1);
	/* No hop: handed back so that its branch ends now, not at Timer B. */
	assert_int_equal(nno_hop, 1);
	assert_non_null(strstr(no_hop[0], "branch=z9hG4bKbridge1"));
	net_fails = 1;
	snprintf(route, sizeof(route), "sip:%s@" EDGE_B ";lr", tok_b);
	assert_int_equal(send_branch(route), -1);
	assert_int_equal(stats_get(M_CORE_REQUESTS_UNDELIVERABLE_SEND), 1);
	/* core_net itself reports a failed send: not twice. */
	assert_int_equal(nno_hop, 1);
}

/* --- hops named by DNS names (resolver.h) --- */

static int lookups_done;

/* edge-b.example.net is EDGE_B_IP; nothing else resolves. */
static void
fake_dns(const char *host, int family, struct resolver_answer *ans,
    void *arg)
{
	(void)family;
	(void)arg;
	memset(ans, 0, sizeof(*ans));
	if (strcmp(host, "edge-b.example.net") == 0) {
		/* No cmocka assertion here: this is the worker thread. */
		ans->naddrs = 1;
		ans->addrs[0].family = AF_INET;
		(void)inet_pton(AF_INET, EDGE_B_IP, ans->addrs[0].ip);
	} else {
		ans->error = EAI_NONAME;
	}
	__atomic_add_fetch(&lookups_done, 1, __ATOMIC_SEQ_CST);
}

static void
stop_when_nothing_is_parked(struct loop *l, void *arg)
{
	uint64_t *deadline = arg;

	if (core_dispatch_parked(dispatch) == 0 ||
	    monotonic_ms() > *deadline) {
		loop_stop(l);
	}
}

/* Run `l` until no request waits for a name (or 5 s have passed). */
static void
run_until_unparked(struct loop *l)
{
	uint64_t deadline = monotonic_ms() + 5000;
	int timer = loop_every(l, 1, stop_when_nothing_is_parked, &deadline);

	loop_run(l);
	loop_cancel(l, timer);
	assert_int_equal(core_dispatch_parked(dispatch), 0);
}

static void
test_a_request_to_a_named_hop_waits_for_the_lookup_not_the_loop(
    void **state)
{
	struct loop *l = loop_new();
	char route[256];

	(void)state;
	lookups_done = 0;
	assert_int_equal(core_dispatch_resolve_with(dispatch, l, fake_dns,
	    NULL), 0);
	snprintf(route, sizeof(route),
	    "sip:%s@edge-b.example.net:5072;transport=tcp;lr;ob", tok_b);
	/* Accepted, but nothing sent yet: the name is being looked up. */
	assert_int_equal(send_branch(route), 0);
	assert_int_equal(nnet, 0);
	assert_int_equal(core_dispatch_parked(dispatch), 1);
	run_until_unparked(l);
	assert_int_equal(nnet, 1);
	assert_int_equal(net[0].transport, EPSIP_TRANSPORT_TCP);
	assert_addr(&net[0].dest, EDGE_B);
	assert_non_null(strstr(net[0].buf, "Via: SIP/2.0/TCP "
	    "198.51.100.7:5070;branch=z9hG4bKbridge1"));
	/* The next one goes at once, without another lookup. */
	assert_int_equal(send_branch(route), 0);
	assert_int_equal(nnet, 2);
	assert_int_equal(core_dispatch_parked(dispatch), 0);
	assert_int_equal(lookups_done, 1);
	assert_int_equal(stats_get(M_CORE_REQUESTS_PARKED), 1);
	assert_int_equal(stats_get(M_CORE_REQUESTS_SENT), 2);
	core_dispatch_free(dispatch);	/* its resolver is on `l` */
	dispatch = NULL;
	loop_free(l);
}

static void
test_a_request_to_a_name_that_does_not_resolve_is_undeliverable(
    void **state)
{
	struct loop *l = loop_new();
	char route[256];

	(void)state;
	assert_int_equal(core_dispatch_resolve_with(dispatch, l, fake_dns,
	    NULL), 0);
	snprintf(route, sizeof(route), "sip:%s@gone.example.net;lr", tok_b);
	assert_int_equal(send_branch(route), 0);
	assert_int_equal(nno_hop, 0);		/* still hoping */
	run_until_unparked(l);
	assert_int_equal(nnet, 0);
	assert_int_equal(stats_get(M_CORE_REQUESTS_UNDELIVERABLE_UNRESOLVED),
	    1);
	/* The branch is to end now: the home proxy tries the next flow. */
	assert_int_equal(nno_hop, 1);
	assert_non_null(strstr(no_hop[0], "@gone.example.net;lr"));
	/* Asked again within the retry time: refused at once. */
	assert_int_equal(send_branch(route), -1);
	assert_int_equal(stats_get(M_CORE_REQUESTS_UNDELIVERABLE_UNRESOLVED),
	    2);
	assert_int_equal(nno_hop, 2);
	core_dispatch_free(dispatch);
	dispatch = NULL;
	loop_free(l);
}

static void
response_text(char *buf, size_t cap, int status, const char *top_via)
{
	snprintf(buf, cap,
	    "SIP/2.0 %d Whatever\r\n"
	    "Via: %s\r\n"
	    "Via: SIP/2.0/TCP 10.0.0.9:40000;branch=z9hG4bKphone;rport=1"
	    ";received=10.0.0.9\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:alice@example.com>;tag=r1\r\n"
	    "Call-ID: reg-1\r\n"
	    "CSeq: 1 REGISTER\r\n"
	    "Content-Length: 0\r\n\r\n", status, top_via);
}

static void
test_response_for_our_router_goes_to_the_router(void **state)
{
	char via[256], buf[2048];

	(void)state;
	snprintf(via, sizeof(via), "SIP/2.0/TCP 192.0.2.1:5060"
	    ";branch=z9hG4bK-ep0123;ept=%s", tok_a);
	response_text(buf, sizeof(buf), 200, via);
	assert_int_equal(core_dispatch_send(dispatch, buf, strlen(buf)), 0);
	assert_int_equal(nsent, 1);
	assert_int_equal(nnet, 0);
}

static void
test_response_for_the_other_edges_router_goes_back_by_its_via(void **state)
{
	char via[256], buf[2048];

	(void)state;
	/* Edge B's router writes the same branch prefix: its ept says B. */
	snprintf(via, sizeof(via), "SIP/2.0/TCP " EDGE_B
	    ";branch=z9hG4bK-ep0123;ept=%s;rport=45678;received=" EDGE_B_IP,
	    tok_b);
	response_text(buf, sizeof(buf), 200, via);
	assert_int_equal(core_dispatch_send(dispatch, buf, strlen(buf)), 0);
	assert_int_equal(nsent, 0);
	assert_int_equal(nnet, 1);
	assert_true(net[0].response);
	assert_int_equal(net[0].transport, EPSIP_TRANSPORT_TCP);
	/* RFC 3261 §18.2.2: the connection it came on, else sent-by. */
	assert_addr(&net[0].conn_peer, EDGE_B_IP ":45678");
	assert_addr(&net[0].dest, EDGE_B);
	assert_string_equal(net[0].buf, buf);
	/* UDP, RFC 3581: received:rport. */
	response_text(buf, sizeof(buf), 486, "SIP/2.0/UDP core.example.net:5080"
	    ";branch=z9hG4bKk1;rport=5099;received=192.0.2.80");
	assert_int_equal(core_dispatch_send(dispatch, buf, strlen(buf)), 0);
	assert_int_equal(net[1].transport, EPSIP_TRANSPORT_UDP);
	assert_addr(&net[1].dest, "192.0.2.80:5099");
	assert_int_equal(stats_get(M_CORE_RESPONSES_SENT), 2);
}

/* --- what the network sends --- */

static void
net_deliver(const char *text)
{
	struct core_net_peer from;

	memset(&from, 0, sizeof(from));
	from.transport = EPSIP_TRANSPORT_TCP;
	addr(EDGE_B_IP ":45678", &from.remote);
	from.conn_id = 5;
	if (core != NULL) {
		core_embedded_net_message(core, text, strlen(text), &from,
		    1000);
	} else {
		core_dispatch_net_message(dispatch, text, strlen(text), &from,
		    1000);
	}
}

/* A request edge B relays: its router's Via on top (core-side name). */
static void
from_b_text(char *buf, size_t cap, const char *method, const char *ruri,
    const char *route_user, const char *extra)
{
	char route[256] = "";

	if (route_user != NULL) {
		snprintf(route, sizeof(route), "Route: <sip:%s@192.0.2.1:5060"
		    ";transport=tcp;lr>\r\n", route_user);
	}
	snprintf(buf, cap,
	    "%s %s SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP " EDGE_B ";branch=z9hG4bK-epb%s;ept=%s\r\n"
	    "Via: SIP/2.0/TCP 10.0.0.5:40001;branch=z9hG4bKp%s;rport\r\n"
	    "%s"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=a1\r\n"
	    "To: <sip:alice@example.com>\r\n"
	    "Call-ID: reg-1\r\n"
	    "CSeq: 1 %s\r\n"
	    "%s"
	    "Content-Length: 0\r\n\r\n", method, ruri, method, tok_b, method,
	    route, method, extra != NULL ? extra : "");
}

static void
test_network_request_for_our_flow_goes_to_the_router_stamped(void **state)
{
	char buf[2048];
	osip_message_t *m;

	(void)state;
	from_b_text(buf, sizeof(buf), "BYE", "sip:bob@10.0.0.9:5060", tok_a,
	    NULL);
	net_deliver(buf);
	assert_int_equal(nsent, 1);
	assert_int_equal(ncore, 0);
	m = parse(sent[0]);
	/* §18.2.1, RFC 3581: the way back, for the response. */
	assert_string_equal(via_param(m, 0, "received"), EDGE_B_IP);
	assert_string_equal(via_param(m, 0, "rport"), "45678");
	assert_int_equal(stats_get(M_CORE_REQUESTS_RECEIVED), 1);
	osip_message_free(m);
}

static void
test_network_request_with_another_edges_token_goes_to_the_core(void **state)
{
	char buf[2048];

	(void)state;
	from_b_text(buf, sizeof(buf), "OPTIONS", "sip:alice@example.com",
	    tok_b, NULL);
	net_deliver(buf);
	from_b_text(buf, sizeof(buf), "INVITE", "sip:alice@example.com",
	    NULL, NULL);
	net_deliver(buf);
	assert_int_equal(nsent, 0);
	assert_int_equal(ncore, 2);
	assert_non_null(strstr(to_core[1], "received=" EDGE_B_IP));
}

static void
test_network_response_goes_to_its_branch_or_to_our_router(void **state)
{
	char via[256], buf[2048];

	(void)state;
	/* The answer to a home proxy branch (our Via, renamed). */
	response_text(buf, sizeof(buf), 180, "SIP/2.0/TCP 198.51.100.7:5070"
	    ";branch=z9hG4bKbridge1");
	net_deliver(buf);
	assert_int_equal(ncore, 1);
	assert_int_equal(nsent, 0);
	snprintf(via, sizeof(via), "SIP/2.0/TCP 192.0.2.1:5060"
	    ";branch=z9hG4bK-ep0123;ept=%s", tok_a);
	response_text(buf, sizeof(buf), 200, via);
	net_deliver(buf);
	assert_int_equal(nsent, 1);
	assert_int_equal(stats_get(M_CORE_RESPONSES_RECEIVED), 2);
}

static void
test_router_response_to_a_network_request_goes_back_to_the_network(
    void **state)
{
	char buf[2048], via[256];
	osip_message_t *m;

	(void)state;
	/* The BYE edge B sent to our flow, answered; our router's Via gone. */
	snprintf(via, sizeof(via), "SIP/2.0/TCP " EDGE_B ";branch=z9hG4bK-epbye"
	    ";ept=%s;rport=45678;received=" EDGE_B_IP, tok_b);
	response_text(buf, sizeof(buf), 200, via);
	m = parse(buf);
	assert_int_equal(core_dispatch_router_response(dispatch, m, buf,
	    strlen(buf)), 1);
	osip_message_free(m);
	assert_int_equal(nnet, 1);
	assert_addr(&net[0].conn_peer, EDGE_B_IP ":45678");
	/* A home proxy branch's answer is the core's. */
	response_text(buf, sizeof(buf), 200, "SIP/2.0/TCP registrar.invalid"
	    ";branch=z9hG4bKbridge1");
	m = parse(buf);
	assert_int_equal(core_dispatch_router_response(dispatch, m, buf,
	    strlen(buf)), 0);
	osip_message_free(m);
	assert_int_equal(nnet, 1);
}

static void
test_undelivered_request_fails_its_branch_at_once_but_not_an_ack(
    void **state)
{
	char buf[2048], route[256];

	(void)state;
	snprintf(route, sizeof(route), "sip:%s@" EDGE_B ";transport=tcp;lr",
	    tok_b);
	assert_int_equal(send_branch(route), 0);
	/* Edge B's connection never came up: what was waiting comes back,
	 * and the branch it belongs to is ended now, not by Timer B. */
	core_dispatch_net_undelivered(dispatch, net[0].buf, strlen(net[0].buf),
	    1000);
	assert_string_equal(unreachable_branch, "z9hG4bKbridge1");
	assert_int_equal(ncore, 0);
	/* What ICMP returns is cut short: the branch is still read. */
	unreachable_branch[0] = '\0';
	core_dispatch_net_undelivered(dispatch, net[0].buf, 120, 1000);
	assert_string_equal(unreachable_branch, "z9hG4bKbridge1");
	unreachable_branch[0] = '\0';
	branch_text(buf, sizeof(buf), "ACK", route);
	core_dispatch_net_undelivered(dispatch, buf, strlen(buf), 1000);
	assert_string_equal(unreachable_branch, "");
	assert_int_equal(stats_get(M_CORE_REQUESTS_UNREACHABLE), 2);
}

/* --- the real registrar and home proxy behind the dispatcher --- */

static void
router_deliver(const char *text)
{
	struct epsip_msg msg;

	epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_CORE);
	msg.payload = (const uint8_t *)text;
	msg.payload_len = strlen(text);
	core->ops->sip(core, &msg, 1000);
}

#define INSTANCE	"+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-" \
			"0000000000aa>\""

static void
register_through_b(void)
{
	char buf[2048], extra[512];

	snprintf(extra, sizeof(extra),
	    "Path: <sip:%s@" EDGE_B ";transport=tcp;lr;ob>\r\n"
	    "Supported: path, outbound\r\n"
	    "Contact: <sip:alice@10.0.0.5:40001;transport=tcp;ob>;reg-id=2;"
	    INSTANCE "\r\n"
	    "Expires: 600\r\n", tok_b);
	from_b_text(buf, sizeof(buf), "REGISTER", "sip:example.com", NULL,
	    extra);
	net_deliver(buf);
}

static void
test_network_register_is_stored_and_answered_by_its_via(void **state)
{
	osip_message_t *m;

	(void)state;
	register_through_b();
	assert_int_equal(nsent, 0);
	assert_int_equal(nnet, 1);
	assert_true(net[0].response);
	assert_addr(&net[0].conn_peer, EDGE_B_IP ":45678");
	assert_addr(&net[0].dest, EDGE_B);
	m = parse(net[0].buf);
	assert_int_equal(m->status_code, 200);
	/* RFC 5626 §6: the other edge's ob Path made it an outbound one. */
	assert_true(sip_header_has_token(m, "require", "outbound"));
	assert_int_equal(osip_list_size(&m->contacts), 1);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 1);
	osip_message_free(m);
}

/* Answer `req` as the router (a 430) or edge B's phone would. */
static void
answer(const char *req, int status, void (*deliver)(const char *))
{
	osip_message_t *m, *resp;
	char *wire;
	size_t len;

	m = parse(req);
	assert_int_equal(rb_reply(m, status, NULL, &resp), 0);
	osip_message_free(m);
	assert_int_equal(sip_serialize(resp, &wire, &len), 0);
	osip_message_free(resp);
	deliver(wire);
	osip_free(wire);
}

/* What edge B's core side does to a request before its answer. */
static char *
as_received_by_b(const char *req)
{
	osip_message_t *m;
	struct epsip_addr src;
	char *wire;
	size_t len;

	m = parse(req);
	addr(CORE_LISTEN, &src);
	src.port = 45679;
	sip_via_stamp_received(m, &src, 1);
	assert_int_equal(sip_serialize(m, &wire, &len), 0);
	osip_message_free(m);
	return (wire);
}

static void
test_call_fails_over_from_our_dead_flow_to_the_other_edge(void **state)
{
	char buf[2048], *at_b;
	osip_message_t *m;

	(void)state;
	/* reg-id 1 through our own router (our token), reg-id 2 through B. */
	snprintf(buf, sizeof(buf),
	    "REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-epr1;ept=%s\r\n"
	    "Via: SIP/2.0/TCP 10.0.0.5:40000;branch=z9hG4bKr1\r\n"
	    "Path: <sip:%s@192.0.2.1:5060;transport=tcp;lr;ob>\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=r1\r\n"
	    "To: <sip:alice@example.com>\r\n"
	    "Call-ID: reg-0\r\n"
	    "CSeq: 1 REGISTER\r\n"
	    "Supported: path, outbound\r\n"
	    "Contact: <sip:alice@10.0.0.5:40000;transport=tcp;ob>;reg-id=1;"
	    INSTANCE "\r\n"
	    "Expires: 600\r\n"
	    "Content-Length: 0\r\n\r\n", tok_a, tok_a);
	router_deliver(buf);
	register_through_b();
	assert_int_equal(nsent, 1);		/* our phone's 200 */
	assert_int_equal(nnet, 1);		/* edge B's 200 */
	/* A caller on one of our flows calls alice: reg-id 1 first. */
	snprintf(buf, sizeof(buf),
	    "INVITE sip:alice@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-epinv;ept=%s\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKinv;rport=5060"
	    ";received=10.0.0.9\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\n"
	    "To: <sip:alice@example.com>\r\n"
	    "Call-ID: call-1\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "Contact: <sip:bob@10.0.0.9:5060>\r\n"
	    "Content-Length: 0\r\n\r\n", tok_a2);
	router_deliver(buf);
	assert_int_equal(nsent, 3);		/* 100 Trying, the branch */
	assert_non_null(strstr(sent[2], tok_a));
	/* Our router: the flow is gone, 430 (EP-11). */
	answer(sent[2], 430, router_deliver);
	/* RG-24: reg-id 2, over the network to B's Path, our Via renamed. */
	assert_int_equal(stats_get(M_PROXY_FAILOVER_430), 1);
	assert_int_equal(nsent, 4);		/* the ACK for the 430 */
	assert_non_null(strstr(sent[3], "ACK "));
	assert_int_equal(nnet, 2);
	osip_message_free(assert_request_to_b_with_our_via(1));
	/* Edge B's phone answers; the 200 reaches the caller via our router. */
	at_b = as_received_by_b(net[1].buf);
	answer(at_b, 200, net_deliver);
	osip_free(at_b);
	assert_int_equal(nsent, 5);
	m = parse(sent[4]);
	assert_int_equal(m->status_code, 200);
	assert_string_equal(via_param(m, 0, "branch"), "z9hG4bK-epinv");
	osip_message_free(m);
}

static void
test_dead_other_edge_fails_over_to_our_flow_at_once(void **state)
{
	char buf[2048], path[256];

	(void)state;
	/* reg-id 1 through B (tried first), reg-id 2 through our router. */
	register_through_b();
	snprintf(path, sizeof(path), "%s", tok_a);
	snprintf(buf, sizeof(buf),
	    "REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-epr2;ept=%s\r\n"
	    "Via: SIP/2.0/TCP 10.0.0.5:40000;branch=z9hG4bKr2\r\n"
	    "Path: <sip:%s@192.0.2.1:5060;transport=tcp;lr;ob>\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=r2\r\n"
	    "To: <sip:alice@example.com>\r\n"
	    "Call-ID: reg-2\r\n"
	    "CSeq: 1 REGISTER\r\n"
	    "Supported: path, outbound\r\n"
	    "Contact: <sip:alice@10.0.0.5:40000;transport=tcp;ob>;reg-id=3;"
	    INSTANCE "\r\n"
	    "Expires: 600\r\n"
	    "Content-Length: 0\r\n\r\n", tok_a, path);
	router_deliver(buf);
	assert_int_equal(nsent, 1);
	snprintf(buf, sizeof(buf),
	    "INVITE sip:alice@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-epinv;ept=%s\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKinv;rport=5060"
	    ";received=10.0.0.9\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\n"
	    "To: <sip:alice@example.com>\r\n"
	    "Call-ID: call-2\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "Content-Length: 0\r\n\r\n", tok_a2);
	router_deliver(buf);
	assert_int_equal(nnet, 2);		/* B's 200, then the INVITE */
	assert_false(net[1].response);
	assert_non_null(strstr(net[1].buf, "INVITE "));
	/* B is down: its connection fails; reg-id 3 now, not in 32 s. */
	core_embedded_net_undelivered(core, net[1].buf, strlen(net[1].buf),
	    1100);
	assert_int_equal(nsent, 3);		/* 100 Trying, the branch */
	assert_non_null(strstr(sent[2], "INVITE "));
	assert_non_null(strstr(sent[2], tok_a));
	/* Nothing more went towards B: no hop, no ACK to send it. */
	assert_int_equal(nnet, 2);
	assert_int_equal(stats_get(M_PROXY_UNREACHABLE), 1);
}

/* --- core_net for real: a dialed connection that fails --- */

static char *undelivered_msg;

static void
on_undelivered(void *arg, const char *buf, size_t len)
{
	(void)arg;
	free(undelivered_msg);
	undelivered_msg = copy(buf, len);
}

static void
on_message(void *arg, const char *buf, size_t len,
    const struct core_net_peer *from)
{
	(void)arg;
	(void)buf;
	(void)len;
	(void)from;
}

static void
check_done(struct loop *l, void *arg)
{
	uint64_t *deadline = arg;

	if (undelivered_msg != NULL || monotonic_ms() >= *deadline) {
		loop_stop(l);
	}
}

static void
test_refused_connection_or_no_hop_hands_requests_back_undelivered(void **state)
{
	static const char options[] =
	    "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKo1\r\n"
	    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
	    "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
	struct core_net_events ev = { on_message, NULL, NULL, NULL };
	struct epsip_addr dest;
	struct core_net *n;
	struct loop *l;
	uint64_t deadline;
	char err[256];
	int fd, timer;

	(void)state;
	assert_non_null(l = loop_new());
	addr("127.0.0.1:5070", &cfg.core_listen);
	cfg.core_listen.port = 0;		/* any free port */
	assert_non_null(n = core_net_new(l, &cfg, NULL, &ev, err,
	    sizeof(err)));
	core_net_on_undelivered(n, on_undelivered);
	/* A port nothing listens on: bound a moment ago, then closed. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	addr("127.0.0.1:5060", &dest);
	dest.port = 0;
	{
		struct sockaddr_storage ss;
		socklen_t sl = epsip_addr_to_sockaddr(&dest, &ss);

		assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
		sl = sizeof(ss);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl),
		    0);
		epsip_addr_from_sockaddr(&dest, (struct sockaddr *)&ss);
	}
	close(fd);
	(void)core_net_send_to(n, EPSIP_TRANSPORT_TCP, &dest, options,
	    strlen(options));
	/* Never from inside the send: the caller may be mid-transaction. */
	assert_null(undelivered_msg);
	deadline = monotonic_ms() + 2000;
	timer = loop_every(l, 5, check_done, &deadline);
	loop_run(l);
	loop_cancel(l, timer);
	assert_non_null(undelivered_msg);
	assert_string_equal(undelivered_msg, options);
	assert_int_equal(stats_get(M_CORE_CONNECT_FAILURES), 1);
	free(undelivered_msg);
	undelivered_msg = NULL;
	/* A request with no hop at all takes the same way back. */
	core_net_undeliverable(n, options, strlen(options));
	assert_null(undelivered_msg);
	deadline = monotonic_ms() + 2000;
	timer = loop_every(l, 5, check_done, &deadline);
	loop_run(l);
	loop_cancel(l, timer);
	assert_non_null(undelivered_msg);
	assert_string_equal(undelivered_msg, options);
	free(undelivered_msg);
	undelivered_msg = NULL;
	core_net_free(n);
	loop_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_a_request_to_a_named_hop_waits_for_the_lookup_not_the_loop,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_request_to_a_name_that_does_not_resolve_is_undeliverable,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_request_for_our_flow_goes_to_the_router,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_request_for_the_other_edges_flow_goes_to_its_path_with_our_via,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_token_of_another_key_is_not_ours_and_goes_to_the_network,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_udp_path_goes_over_udp_and_a_large_request_over_tcp,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_request_without_route_goes_to_its_request_uri,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_wildcard_core_listen_names_the_address_towards_the_next_hop,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unroutable_request_is_counted_and_refused,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_response_for_our_router_goes_to_the_router,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_response_for_the_other_edges_router_goes_back_by_its_via,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_network_request_for_our_flow_goes_to_the_router_stamped,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_network_request_with_another_edges_token_goes_to_the_core,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_network_response_goes_to_its_branch_or_to_our_router,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_router_response_to_a_network_request_goes_back_to_the_network,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_network_register_is_stored_and_answered_by_its_via,
		    setup_core, teardown),
		cmocka_unit_test_setup_teardown(
		    test_undelivered_request_fails_its_branch_at_once_but_not_an_ack,
		    setup_dispatch, teardown),
		cmocka_unit_test_setup_teardown(
		    test_call_fails_over_from_our_dead_flow_to_the_other_edge,
		    setup_core, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dead_other_edge_fails_over_to_our_flow_at_once,
		    setup_core, teardown),
		cmocka_unit_test_setup_teardown(
		    test_refused_connection_or_no_hop_hands_requests_back_undelivered,
		    setup_dispatch, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
