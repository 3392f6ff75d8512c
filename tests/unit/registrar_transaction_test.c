/*
 * registrar_transaction_test.c -- the bridge's transaction timers in their
 * heaps (issue 7 §3): a tick handles only what is due, however many
 * transactions linger, and the hash tables grow with them; a transaction freed early takes its timer with it;
 * Timer G and a branch's A/B still fire when they should, re-armed in
 * place.  The same for upstream mode's relay transactions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../../services/registrar-bridge/embedded/transaction.h"
#include "../../services/registrar-bridge/upstream/upstream_txn.h"

#define LINGERING	5000

static struct rb_txn *txn;
static struct rb_out out;
static size_t nsent;
static size_t timeouts;

/* The last message sent, to check which bytes left. */
static char last_sent[2048];
static size_t last_len;

static int
count_sent(void *arg, const char *buf, size_t len)
{
	(void)arg;
	nsent++;
	last_len = len < sizeof(last_sent) ? len : sizeof(last_sent);
	memcpy(last_sent, buf, last_len);
	return (0);
}

/* Assert that the last message sent was exactly `wire`. */
static void
assert_last_sent(const char *wire)
{
	assert_int_equal(last_len, strlen(wire));
	assert_memory_equal(last_sent, wire, last_len);
}

static void
on_timeout(void *arg, struct rb_ctx *ctx, uint64_t now)
{
	(void)arg;
	(void)ctx;
	(void)now;
	timeouts++;
}

static int
setup(void **state)
{
	struct rb_txn_events ev = { on_timeout, NULL };

	(void)state;
	sip_library_init();
	stats_reset();
	out.send = count_sent;
	out.arg = NULL;
	nsent = 0;
	timeouts = 0;
	assert_non_null(txn = rb_txn_new(&out, NULL));	/* RFC timers */
	rb_txn_set_events(txn, &ev);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	rb_txn_free(txn);
	return (0);
}

/* A request from a UDP phone behind the router; `n` makes it unique. */
static osip_message_t *
udp_request(const char *method, int n)
{
	osip_message_t *m;
	char text[1024];

	snprintf(text, sizeof(text),
	    "%s sip:bob@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrtr%d\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua%d\r\n"
	    "From: <sip:alice@example.com>;tag=f%d\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: c%d\r\n"
	    "CSeq: 1 %s\r\n"
	    "Content-Length: 0\r\n\r\n", method, n, n, n, n, method);
	assert_int_equal(sip_parse(text, strlen(text), &m), 0);
	return (m);
}

static struct rb_stx *
answered_stx(const char *method, int n, int status, uint64_t now)
{
	struct rb_stx *stx;

	assert_non_null(stx = rb_stx_new(txn, udp_request(method, n)));
	assert_int_equal(rb_stx_reply(txn, stx, status, NULL, now), 0);
	return (stx);
}

/*
 * Thousands lingering in Timer J: ticks before their time handle none of
 * them, the tick at their time frees them all.
 */
static void
test_tick_handles_only_due_transactions_however_many_linger(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < LINGERING; i++) {
		(void)answered_stx("REGISTER", i, 200, 1000);
	}
	assert_int_equal(rb_txn_count(txn), LINGERING);
	assert_int_equal(rb_txn_tick(txn, 1100), 0);
	assert_int_equal(rb_txn_tick(txn, 1000 + 32000 - 1), 0);
	assert_int_equal(rb_txn_count(txn), LINGERING);
	assert_int_equal(rb_txn_tick(txn, 1000 + 32000), LINGERING);
	assert_int_equal(rb_txn_count(txn), 0);
	assert_int_equal(rb_txn_tick(txn, 1000 + 64000), 0);
}

/*
 * A finished REGISTER transaction keeps what absorbing retransmissions
 * needs (its key and answer), not its parsed request; one still
 * proceeding keeps it.
 */
static void
test_finished_transaction_forgets_its_request_but_still_absorbs(
    void **state)
{
	struct rb_stx *done, *open;
	osip_message_t *again;

	(void)state;
	done = answered_stx("REGISTER", 1, 200, 1000);
	assert_non_null(open = rb_stx_new(txn, udp_request("REGISTER", 2)));
	assert_null(done->req);
	assert_non_null(open->req);
	/* The phone's retransmission finds it and gets the 200 again. */
	again = udp_request("REGISTER", 1);
	assert_ptr_equal(rb_stx_find(txn, again, "REGISTER"), done);
	nsent = 0;
	rb_stx_retransmission(txn, done, again);
	assert_int_equal(nsent, 1);
	/* Nothing more to answer from: a reply is refused, not a crash. */
	assert_int_equal(rb_stx_reply(txn, done, 500, NULL, 1001), -1);
	osip_message_free(again);
}

/*
 * RFC 3261 §17.2.2: a phone whose connection broke retransmits on a new
 * one, and the edge's Via on top names the new flow: the last response
 * goes there, with that Via, not to the flow that is gone.
 */
static void
test_retransmission_on_a_new_flow_gets_the_answer_on_that_flow(
    void **state)
{
	static const char vias[] = "\r\nVia: SIP/2.0/TCP edge.example.net;"
	    "branch=z9hG4bKrtr7;ept=NEWFLOW\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua7\r\n";
	struct rb_stx *stx;
	osip_message_t *again;
	char text[1024];

	(void)state;
	stx = answered_stx("OPTIONS", 7, 200, 1000);
	snprintf(text, sizeof(text),
	    "OPTIONS sip:bob@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrtr7;ept=NEWFLOW"
	    "\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua7\r\n"
	    "From: <sip:alice@example.com>;tag=f7\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: c7\r\n"
	    "CSeq: 1 OPTIONS\r\n"
	    "Content-Length: 0\r\n\r\n");
	assert_int_equal(sip_parse(text, strlen(text), &again), 0);
	assert_ptr_equal(rb_stx_find(txn, again, "OPTIONS"), stx);
	nsent = 0;
	rb_stx_retransmission(txn, stx, again);
	assert_int_equal(nsent, 1);
	assert_true(last_len > 12 && memcmp(last_sent, "SIP/2.0 200 ", 12) ==
	    0);
	assert_non_null(memmem(last_sent, last_len, vias, strlen(vias)));
	/* And again from there on. */
	rb_stx_retransmission(txn, stx, again);
	assert_int_equal(nsent, 2);
	assert_non_null(memmem(last_sent, last_len, "ept=NEWFLOW", 11));
	osip_message_free(again);
}

/* The table grows past its first 1,024 buckets; every one is found. */
static void
test_thousands_of_transactions_are_found_after_the_table_grows(
    void **state)
{
	static struct rb_stx *made[LINGERING];
	osip_message_t *again;
	int i;

	(void)state;
	for (i = 0; i < LINGERING; i++) {
		made[i] = answered_stx("REGISTER", i, 200, 1000);
	}
	for (i = 0; i < LINGERING; i++) {
		again = udp_request("REGISTER", i);
		assert_ptr_equal(rb_stx_find(txn, again, "REGISTER"),
		    made[i]);
		osip_message_free(again);
	}
	again = udp_request("REGISTER", LINGERING);
	assert_null(rb_stx_find(txn, again, "REGISTER"));
	osip_message_free(again);
	/* Freed ones leave their chains. */
	rb_stx_drop(txn, made[7]);
	again = udp_request("REGISTER", 7);
	assert_null(rb_stx_find(txn, again, "REGISTER"));
	osip_message_free(again);
}

/* Dropped before its time: its timer goes with it, the others stay. */
static void
test_transaction_freed_early_takes_its_timer_along(void **state)
{
	struct rb_stx *a, *b, *c, *proceeding;

	(void)state;
	a = answered_stx("REGISTER", 1, 200, 1000);
	b = answered_stx("REGISTER", 2, 200, 2000);
	c = answered_stx("REGISTER", 3, 200, 3000);
	assert_non_null(proceeding = rb_stx_new(txn,
	    udp_request("REGISTER", 4)));
	(void)a;
	(void)c;
	rb_stx_drop(txn, b);
	rb_stx_drop(txn, proceeding);
	assert_int_equal(rb_txn_count(txn), 2);
	assert_int_equal(rb_txn_tick(txn, 33000), 1);	/* a */
	assert_int_equal(rb_txn_count(txn), 1);
	assert_int_equal(rb_txn_tick(txn, 34000), 0);	/* b is gone */
	assert_int_equal(rb_txn_tick(txn, 35000), 1);	/* c */
	assert_int_equal(rb_txn_count(txn), 0);
}

/* Timer G: T1, 2*T1, 4*T1, then T2, until the ACK stops it (§17.2.1). */
static void
test_timer_g_retransmits_with_backoff_until_the_ack(void **state)
{
	struct rb_stx *stx;

	(void)state;
	stx = answered_stx("INVITE", 1, 486, 0);
	assert_int_equal(nsent, 1);
	assert_int_equal(rb_txn_tick(txn, 499), 0);
	assert_int_equal(rb_txn_tick(txn, 500), 1);	/* +500 */
	assert_int_equal(nsent, 2);
	assert_int_equal(rb_txn_tick(txn, 1499), 0);
	assert_int_equal(rb_txn_tick(txn, 1500), 1);	/* +1000 */
	assert_int_equal(rb_txn_tick(txn, 3500), 1);	/* +2000 */
	assert_int_equal(rb_txn_tick(txn, 7500), 1);	/* +4000 = T2 */
	assert_int_equal(rb_txn_tick(txn, 11500), 1);	/* +4000, capped */
	assert_int_equal(nsent, 6);
	rb_stx_ack(txn, stx);
	assert_int_equal(rb_txn_tick(txn, 20000), 0);
	assert_int_equal(nsent, 6);
	/* Lingering ends 64*T1 after the final. */
	assert_int_equal(rb_txn_tick(txn, 32000), 1);
	assert_int_equal(rb_txn_count(txn), 0);
}

/* A branch to a UDP contact: A doubles, B times it out at 64*T1. */
static void
test_branch_retransmits_then_times_out(void **state)
{
	struct rb_stx *stx;
	osip_message_t *req;
	char branch[RB_BRANCH_MAX];

	(void)state;
	assert_non_null(stx = rb_stx_new(txn, udp_request("INVITE", 1)));
	req = udp_request("INVITE", 2);
	assert_int_equal(rb_push_via(req, branch, sizeof(branch)), 0);
	assert_non_null(rb_ctx_new(txn, stx, req, branch, 1, 7, 0));
	assert_int_equal(nsent, 1);
	assert_int_equal(rb_txn_tick(txn, 500), 1);
	assert_int_equal(rb_txn_tick(txn, 1000), 0);
	assert_int_equal(rb_txn_tick(txn, 1500), 1);
	assert_int_equal(nsent, 3);
	assert_int_equal(timeouts, 0);
	(void)rb_txn_tick(txn, 32000);
	assert_int_equal(timeouts, 1);
	/* Over: no more retransmissions, no second timeout. */
	nsent = 0;
	assert_int_equal(rb_txn_tick(txn, 40000), 0);
	assert_int_equal(rb_txn_tick(txn, 60000), 0);
	assert_int_equal(nsent, 0);
	assert_int_equal(timeouts, 1);
}

/*
 * Issue 7 §2: a branch made from the home proxy's edited bytes sends
 * them, and its Timer A retransmissions (SP-10) repeat them, not a
 * libosip2 print of the parsed request (which would spell the header
 * "X-odd-case" and split the Allow list).
 */
static void
test_branch_from_wire_bytes_retransmits_exactly_those_bytes(void **state)
{
	static const char edited[] =
	    "INVITE sip:bob@192.0.2.9:5060 SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP registrar.invalid;branch=z9hG4bKhp1\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrtr2\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua2\r\n"
	    "Max-Forwards: 69\r\n"
	    "From: <sip:alice@example.com>;tag=f2\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: c2\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "X-ODD-case: Keep This\r\n"
	    "Allow: INVITE, ACK,BYE\r\n"
	    "Content-Length: 0\r\n\r\n";
	struct rb_stx *stx;
	struct rb_ctx *ctx;
	osip_message_t *req;
	char branch[RB_BRANCH_MAX], *wire;

	(void)state;
	assert_non_null(stx = rb_stx_new(txn, udp_request("INVITE", 1)));
	req = udp_request("INVITE", 2);
	assert_int_equal(rb_push_via(req, branch, sizeof(branch)), 0);
	assert_non_null(wire = strdup(edited));
	assert_non_null(ctx = rb_ctx_new_wire(txn, stx, req, wire,
	    strlen(wire), branch, 1, 7, 0));
	assert_ptr_equal(ctx->wire, wire);
	assert_int_equal(nsent, 1);
	assert_last_sent(edited);
	memset(last_sent, 0, sizeof(last_sent));
	assert_int_equal(rb_txn_tick(txn, 500), 1);
	assert_int_equal(nsent, 2);
	assert_last_sent(edited);
	assert_int_equal(rb_txn_tick(txn, 1500), 1);
	assert_int_equal(nsent, 3);
	assert_last_sent(edited);
}

/*
 * A response given as bytes goes out as them and is what a retransmitted
 * request and Timer G send again (SP-09).
 */
static void
test_response_from_wire_bytes_is_sent_again_as_is(void **state)
{
	static const char relayed[] =
	    "SIP/2.0 486 Busy Here\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrtr3\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua3\r\n"
	    "From: <sip:alice@example.com>;tag=f3\r\n"
	    "To: <sip:bob@example.com>;tag=b3\r\n"
	    "Call-ID: c3\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "x-phone-HEADER: Mixed CASE\r\n"
	    "Content-Length: 0\r\n\r\n";
	struct rb_stx *stx;
	osip_message_t *again;
	char *wire;

	(void)state;
	assert_non_null(stx = rb_stx_new(txn, udp_request("INVITE", 3)));
	assert_non_null(wire = strdup(relayed));
	assert_int_equal(rb_stx_respond_wire(txn, stx, 486, wire,
	    strlen(wire), 0), 0);
	assert_int_equal(nsent, 1);
	assert_last_sent(relayed);
	assert_int_equal(stx->resp_status, 486);
	assert_int_equal(stx->state, RB_STX_COMPLETED);
	memset(last_sent, 0, sizeof(last_sent));
	again = udp_request("INVITE", 3);
	rb_stx_retransmission(txn, stx, again);
	osip_message_free(again);
	assert_int_equal(nsent, 2);
	assert_last_sent(relayed);
	memset(last_sent, 0, sizeof(last_sent));
	assert_int_equal(rb_txn_tick(txn, 500), 1);	/* Timer G */
	assert_int_equal(nsent, 3);
	assert_last_sent(relayed);
}

/* The phone's answer to branch `branch` of INVITE `n`, parsed. */
static osip_message_t *
phone_answer(int status, const char *branch, int n)
{
	osip_message_t *m;
	char text[1024];

	snprintf(text, sizeof(text),
	    "SIP/2.0 %d Answer\r\n"
	    "Via: SIP/2.0/TCP registrar.invalid;branch=%s\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrtr%d\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua%d\r\n"
	    "From: <sip:alice@example.com>;tag=f%d\r\n"
	    "To: <sip:bob@example.com>;tag=b%d\r\n"
	    "Call-ID: c%d\r\n"
	    "CSeq: 1 INVITE\r\n"
	    "Content-Length: 0\r\n\r\n", status, branch, n, n, n, n, n);
	assert_int_equal(sip_parse(text, strlen(text), &m), 0);
	return (m);
}

/* An INVITE from a UDP caller with one branch; fills `branch`. */
static struct rb_stx *
call_with_a_branch(struct rb_ctx **ctx, char *branch, size_t cap, int n)
{
	struct rb_stx *stx;
	osip_message_t *req;

	assert_non_null(stx = rb_stx_new(txn, udp_request("INVITE", n)));
	req = udp_request("INVITE", n);
	assert_int_equal(rb_push_via(req, branch, cap), 0);
	assert_non_null(*ctx = rb_ctx_new(txn, stx, req, branch, 0, 7, 0));
	return (stx);
}

/* The phone answers the branch; returns the verdict. */
static enum rb_resp_verdict
phone_answers(int status, const char *branch, int n, uint64_t now)
{
	osip_message_t *resp = phone_answer(status, branch, n);
	struct rb_ctx *ctx;
	enum rb_resp_verdict v = rb_txn_response(txn, resp, now, &ctx);

	osip_message_free(resp);
	return (v);
}

/*
 * A call that ended busy lingers 32 s for its UDP caller keeping only
 * what absorbing needs: the caller's retransmitted INVITE still gets the
 * 486 and the phone's retransmitted 486 still gets the ACK, though the
 * parsed requests and the branch's INVITE bytes are gone (issue 8 §4:
 * they kept the bridge's allocator pages from emptying).
 */
static void
test_finished_call_keeps_its_answer_and_ack_not_its_requests(void **state)
{
	char branch[RB_BRANCH_MAX], ack[2048];
	struct rb_stx *stx;
	struct rb_ctx *ctx;
	osip_message_t *again;
	size_t ack_len;

	(void)state;
	stx = call_with_a_branch(&ctx, branch, sizeof(branch), 4);
	assert_int_equal(phone_answers(486, branch, 4, 100), RB_RESP_NEW);
	assert_int_equal(nsent, 2);		/* the INVITE, our ACK */
	assert_non_null(ctx->ack_wire);
	memcpy(ack, last_sent, last_len);
	ack_len = last_len;
	assert_non_null(stx->req);		/* not answered yet */
	assert_int_equal(rb_stx_reply(txn, stx, 486, NULL, 100), 0);
	assert_null(stx->req);
	assert_null(ctx->req);
	assert_null(ctx->wire);
	assert_int_equal(phone_answers(486, branch, 4, 200),
	    RB_RESP_ABSORBED);
	assert_int_equal(nsent, 4);
	assert_int_equal(last_len, ack_len);
	assert_memory_equal(last_sent, ack, ack_len);
	again = udp_request("INVITE", 4);
	rb_stx_retransmission(txn, stx, again);
	osip_message_free(again);
	assert_int_equal(nsent, 5);
	assert_int_equal(stx->resp_status, 486);
}

/* An answered call: the phone's retransmitted 2xx still passes on. */
static void
test_accepted_call_passes_2xx_retransmissions_without_its_requests(
    void **state)
{
	char branch[RB_BRANCH_MAX];
	struct rb_stx *stx;
	struct rb_ctx *ctx;

	(void)state;
	stx = call_with_a_branch(&ctx, branch, sizeof(branch), 5);
	assert_int_equal(phone_answers(200, branch, 5, 100), RB_RESP_NEW);
	assert_int_equal(rb_stx_reply(txn, stx, 200, NULL, 100), 0);
	assert_int_equal(stx->state, RB_STX_ACCEPTED);
	assert_null(stx->req);
	assert_null(ctx->req);
	assert_int_equal(phone_answers(200, branch, 5, 300),
	    RB_RESP_RETRANSMIT_2XX);
}

/*
 * Answered while a branch is still out (the caller got its 487 first):
 * the request stays, since that branch may still need a CANCEL or ACK.
 */
static void
test_answered_transaction_keeps_its_request_while_a_branch_is_out(
    void **state)
{
	char branch[RB_BRANCH_MAX];
	struct rb_stx *stx;
	struct rb_ctx *ctx;

	(void)state;
	stx = call_with_a_branch(&ctx, branch, sizeof(branch), 6);
	assert_int_equal(rb_stx_reply(txn, stx, 487, NULL, 100), 0);
	assert_non_null(stx->req);
	assert_non_null(ctx->req);
	assert_non_null(ctx->wire);
}

/* --- upstream mode's relay transactions --- */

static size_t up_retransmits, up_expired;
static int fail_on_retransmit;
static struct up_txn_table *up_table;

static void
up_retransmit(void *arg, struct up_txn *ut, uint64_t now)
{
	(void)arg;
	(void)now;
	up_retransmits++;
	if (fail_on_retransmit) {
		/* A send that fails ends the transaction from the callback. */
		up_txn_fail(up_table, ut, UP_TXN_UNREACHABLE);
	}
}

static void
up_expire(void *arg, struct up_txn *ut, enum up_txn_end why)
{
	(void)arg;
	(void)ut;
	(void)why;
	up_expired++;
}

static struct up_txn_table *
up_table_new(void)
{
	struct up_txn_events ev = { up_retransmit, up_expire, NULL };
	struct up_txn_conf conf;

	up_retransmits = 0;
	up_expired = 0;
	fail_on_retransmit = 0;
	up_txn_conf_default(&conf, 32);
	conf.max = 2 * LINGERING;
	return (up_table = up_txn_new(&conf, &ev));
}

static void
test_upstream_tick_handles_only_due_transactions(void **state)
{
	struct up_txn_table *t = up_table_new();
	char branch[32];
	int i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < LINGERING; i++) {
		snprintf(branch, sizeof(branch), "z9hG4bK-ep%d", i);
		assert_non_null(up_txn_add(t, branch, "REGISTER", "R", 1, 0,
		    1000));
	}
	/* One retransmitting for a TCP phone. */
	assert_non_null(up_txn_add(t, "z9hG4bK-epR", "INVITE", "I", 1, 1,
	    1000));
	assert_int_equal(up_txn_tick(t, 1100), 0);
	assert_int_equal(up_txn_tick(t, 1500), 1);	/* A at T1 */
	assert_int_equal(up_retransmits, 1);
	assert_int_equal(up_txn_tick(t, 2499), 0);
	assert_int_equal(up_txn_tick(t, 2500), 1);	/* then 2*T1 */
	assert_int_equal(up_txn_response(t, "z9hG4bK-epR", "INVITE", 100,
	    2600), 1);
	assert_int_equal(up_txn_tick(t, 32999), 0);
	assert_int_equal(up_expired, 0);
	assert_int_equal(up_txn_tick(t, 33000), LINGERING);
	assert_int_equal(up_expired, LINGERING);
	assert_int_equal(up_txn_count(t), 0);
	up_txn_free(t);
}

static void
test_upstream_retransmission_may_end_its_own_transaction(void **state)
{
	struct up_txn_table *t = up_table_new();

	(void)state;
	assert_non_null(t);
	assert_non_null(up_txn_add(t, "z9hG4bK-ep1", "INVITE", "I", 1, 1,
	    0));
	assert_non_null(up_txn_add(t, "z9hG4bK-ep2", "INVITE", "I", 1, 1,
	    0));
	fail_on_retransmit = 1;
	assert_int_equal(up_txn_tick(t, 500), 2);
	assert_int_equal(up_retransmits, 2);
	assert_int_equal(up_expired, 2);
	assert_int_equal(up_txn_count(t), 0);
	assert_int_equal(up_txn_tick(t, 40000), 0);
	up_txn_free(t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_tick_handles_only_due_transactions_however_many_linger),
		T(test_finished_transaction_forgets_its_request_but_still_absorbs),
		T(test_retransmission_on_a_new_flow_gets_the_answer_on_that_flow),
		T(test_thousands_of_transactions_are_found_after_the_table_grows),
		T(test_transaction_freed_early_takes_its_timer_along),
		T(test_timer_g_retransmits_with_backoff_until_the_ack),
		T(test_branch_retransmits_then_times_out),
	T(test_branch_from_wire_bytes_retransmits_exactly_those_bytes),
	T(test_response_from_wire_bytes_is_sent_again_as_is),
	T(test_finished_call_keeps_its_answer_and_ack_not_its_requests),
	T(test_accepted_call_passes_2xx_retransmissions_without_its_requests),
	T(test_answered_transaction_keeps_its_request_while_a_branch_is_out),
		T(test_upstream_tick_handles_only_due_transactions),
		T(test_upstream_retransmission_may_end_its_own_transaction),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
