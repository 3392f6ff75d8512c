/*
 * registrar_core_test.c -- the embedded core behind the bridge's IPC: what
 * the sip-router hands over as envelopes (SIP_TO_CORE, FLOW_CLOSED) and
 * what comes back.  Retransmitted REGISTERs are answered from the
 * transaction, not judged again (RFC 3261 §17.2.2 before §10.3(7)),
 * unless they came over another flow, whose Path the answer must name;
 * FLOW_CLOSED drops the flow's bindings (RG-27).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../../services/registrar-bridge/core.h"
#include "sent_capture.h"


static struct epsip_config cfg;
static struct rb_core *core;
static struct rb_out out;


static int
setup(void **state)
{
	char err[256];

	(void)state;
	sip_library_init();
	stats_reset();
	config_defaults(&cfg);
	snprintf(cfg.registrar_db, sizeof(cfg.registrar_db), ":memory:");
	/* Who may register is auth_test.c's subject. */
	cfg.auth = AUTH_NONE;
	out.send = capture;
	out.arg = NULL;
	core = rb_core_embedded_new(&cfg, &out, NULL, err,
	    sizeof(err));
	assert_non_null(core);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	core->ops->free(core);
	sent_clear();
	return (0);
}

static void
deliver(const char *text, uint64_t now_ms)
{
	struct epsip_msg msg;

	epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_CORE);
	msg.payload = (const uint8_t *)text;
	msg.payload_len = strlen(text);
	core->ops->sip(core, &msg, now_ms);
}

static int
status_of(size_t i)
{
	osip_message_t *m;
	int status;

	assert_true(i < nsent);
	assert_int_equal(sip_parse(sent[i], strlen(sent[i]), &m), 0);
	status = m->status_code;
	osip_message_free(m);
	return (status);
}

static const char register_udp[] =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrtr1\r\n"
    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua1"
    ";received=192.0.2.2;rport=5060\r\n"
    "From: <sip:bob@example.com>;tag=f1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: reg-1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Supported: path, outbound\r\n"
    "Path: <sip:TOKEN1@edge.example.net:5060;lr;ob>\r\n"
    "Contact: <sip:bob@192.0.2.2:5060>;reg-id=1"
    ";+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"\r\n"
    "Content-Length: 0\r\n\r\n";

/* §17.2.2: the same REGISTER again gets the same 200, not a 400. */
static void
test_register_retransmission_over_udp_gets_the_same_answer(void **state)
{
	(void)state;
	deliver(register_udp, 1000);
	assert_int_equal(nsent, 1);
	assert_int_equal(status_of(0), 200);
	deliver(register_udp, 1500);
	assert_int_equal(nsent, 2);
	assert_string_equal(sent[0], sent[1]);
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_OK), 1);
	assert_int_equal(stats_get(M_SIP_IN_REGISTER), 2);
	/* After Timer J the transaction is gone. */
	core->ops->tick(core, 1000 + 33000);
}

/* The same REGISTER (branch, CSeq) as it reaches the bridge over flow `tok`. */
static void
register_over(const char *tok, char *buf, size_t cap)
{
	snprintf(buf, cap,
	    "REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bK-eprtr2;ept=%s\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKua2"
	    ";received=192.0.2.2;rport=5060\r\n"
	    "From: <sip:bob@example.com>;tag=f2\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: reg-2\r\n"
	    "CSeq: 7 REGISTER\r\n"
	    "Supported: path, outbound\r\n"
	    "Path: <sip:%s@edge.example.net:5060;lr;ob>\r\n"
	    "Contact: <sip:bob@192.0.2.2:5060>;reg-id=1"
	    ";+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000002>\""
	    "\r\n"
	    "Content-Length: 0\r\n\r\n", tok, tok);
}

/* Over the same flow, a retransmission is still answered, not judged. */
static void
test_register_retransmission_over_the_same_flow_gets_the_same_answer(
    void **state)
{
	char reg[2048];

	(void)state;
	register_over("FLOWA", reg, sizeof(reg));
	deliver(reg, 1000);
	deliver(reg, 1500);
	assert_int_equal(nsent, 2);
	assert_string_equal(sent[0], sent[1]);
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_OK), 1);
}

/*
 * Its flow died after the 200 was committed (the flow-manager child was
 * killed with the answer on its way) and FLOW_CLOSED dropped the binding;
 * the phone's retransmission came over a new flow.  The answer kept for
 * the first flow would tell the phone it is registered through a flow
 * that no longer exists: it is registered on the new one instead.
 */
static void
test_register_retransmission_over_a_new_flow_registers_it_there(
    void **state)
{
	char reg[2048];

	(void)state;
	register_over("FLOWA", reg, sizeof(reg));
	deliver(reg, 1000);
	assert_int_equal(status_of(0), 200);
	core->ops->flow_closed(core, "FLOWA", 5);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 0);
	register_over("FLOWB", reg, sizeof(reg));
	deliver(reg, 1500);
	assert_int_equal(nsent, 2);
	assert_int_equal(status_of(1), 200);
	assert_non_null(strstr(sent[1], "Path: <sip:FLOWB@"));
	assert_null(strstr(sent[1], "FLOWA"));
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 1);
	core->ops->flow_closed(core, "FLOWB", 5);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 0);
}

/*
 * The same before FLOW_CLOSED arrived: the request's own binding on the
 * old flow is not "CSeq out of order" to it; the new flow replaces it.
 */
static void
test_register_moved_before_flow_closed_replaces_its_own_binding(
    void **state)
{
	char reg[2048];

	(void)state;
	register_over("FLOWA", reg, sizeof(reg));
	deliver(reg, 1000);
	register_over("FLOWB", reg, sizeof(reg));
	deliver(reg, 1500);
	assert_int_equal(nsent, 2);
	assert_int_equal(status_of(1), 200);
	assert_non_null(strstr(sent[1], "Path: <sip:FLOWB@"));
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 1);
	core->ops->flow_closed(core, "FLOWA", 5);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 1);
	core->ops->flow_closed(core, "FLOWB", 5);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 0);
}

/* A new request with the same CSeq is still stale (RG-12). */
static void
test_register_with_a_reused_cseq_over_a_new_flow_is_still_stale(
    void **state)
{
	char reg[2048], *b;

	(void)state;
	register_over("FLOWA", reg, sizeof(reg));
	deliver(reg, 1000);
	/* Another transaction (new branch) reusing CSeq 7: not a move. */
	register_over("FLOWB", reg, sizeof(reg));
	b = strstr(reg, "z9hG4bK-eprtr2");
	assert_non_null(b);
	b[strlen("z9hG4bK-eprtr")] = '9';
	deliver(reg, 1500);
	assert_int_equal(nsent, 2);
	assert_int_equal(status_of(1), 400);
}

/* RG-27 through the envelope: the token's bindings are dropped. */
static void
test_flow_closed_envelope_drops_bindings(void **state)
{
	(void)state;
	deliver(register_udp, 1000);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 1);
	core->ops->flow_closed(core, "TOKEN2", 6);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 1);
	core->ops->flow_closed(core, "TOKEN1", 6);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 0);
	assert_int_equal(stats_get(M_BINDINGS_DROPPED_FLOW_CLOSED), 1);
	/* A broken payload is ignored, not fatal. */
	core->ops->flow_closed(core, "", 0);
	core->ops->flow_closed(core, "A\0B", 3);
}

static void
test_unparsable_sip_is_counted_and_dropped(void **state)
{
	(void)state;
	deliver("this is not SIP\r\n\r\n", 1000);
	assert_int_equal(nsent, 0);
	assert_int_equal(stats_get(M_SIP_IN_MALFORMED), 1);
}

/* RFC 3261 §8.1.1.5: CSeq method must match the request method. */
static void
test_cseq_method_mismatch_gets_400(void **state)
{
	(void)state;
	deliver("OPTIONS sip:bob@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrtr2\r\n"
	    "From: <sip:alice@example.com>;tag=f1\r\n"
	    "To: <sip:bob@example.com>\r\n"
	    "Call-ID: o-1\r\nCSeq: 1 INVITE\r\n"
	    "Content-Length: 0\r\n\r\n", 1000);
	assert_int_equal(nsent, 1);
	assert_int_equal(status_of(0), 400);
}

/* A response for nobody's branch goes nowhere. */
static void
test_response_for_unknown_branch_is_dropped(void **state)
{
	(void)state;
	deliver("SIP/2.0 180 Ringing\r\n"
	    "Via: SIP/2.0/TCP registrar.invalid;branch=z9hG4bKgone\r\n"
	    "From: <sip:alice@example.com>;tag=f1\r\n"
	    "To: <sip:bob@example.com>;tag=t1\r\n"
	    "Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", 1000);
	assert_int_equal(nsent, 0);
	assert_int_equal(stats_get(M_SIP_IN_RESPONSE_1XX), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_register_retransmission_over_udp_gets_the_same_answer),
		T(test_register_retransmission_over_the_same_flow_gets_the_same_answer),
		T(test_register_retransmission_over_a_new_flow_registers_it_there),
		T(test_register_moved_before_flow_closed_replaces_its_own_binding),
		T(test_register_with_a_reused_cseq_over_a_new_flow_is_still_stale),
		T(test_flow_closed_envelope_drops_bindings),
		T(test_unparsable_sip_is_counted_and_dropped),
		T(test_cseq_method_mismatch_gets_400),
		T(test_response_for_unknown_branch_is_dropped),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
