/*
 * registrar_group_commit_test.c -- the embedded core's group commit
 * (issue 7 §3): the REGISTERs of one loop iteration share one SQLite
 * transaction, committed by the LOOP_END_COMMIT hook, and no answer
 * leaves before that commit.  A failed commit answers 500 with
 * Retry-After, never 200.  A real loop drives it; the commit is made to
 * fail with SQLite's own commit hook, so the real COMMIT path fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/loop.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../../services/registrar-bridge/core.h"
#include "../../services/registrar-bridge/embedded/core_embedded.h"
#include "../../services/registrar-bridge/embedded/location.h"

#define MAX_OUT	16

static struct epsip_config cfg;
static struct loop *loop;
static struct rb_core *core;
static struct rb_out out;

/* What left, and how many commits had happened when it did. */
static char *sent[MAX_OUT];
static int64_t commits_when_sent[MAX_OUT];
static size_t nsent;

static int
capture(void *arg, const char *buf, size_t len)
{
	(void)arg;
	assert_true(nsent < MAX_OUT);
	assert_non_null(sent[nsent] = malloc(len + 1));
	memcpy(sent[nsent], buf, len);
	sent[nsent][len] = '\0';
	commits_when_sent[nsent] = stats_get(M_REGISTRAR_COMMITS);
	nsent++;
	return (0);
}

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
	cfg.retry_after = 7;
	out.send = capture;
	out.arg = NULL;
	assert_non_null(loop = loop_new());
	core = rb_core_embedded_new(&cfg, &out, loop, err, sizeof(err));
	if (core == NULL) {
		fail_msg("rb_core_embedded_new: %s", err);
	}
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	core->ops->free(core);
	loop_free(loop);
	while (nsent > 0) {
		free(sent[--nsent]);
	}
	return (0);
}

/* A REGISTER for `user` as the router hands it over; UDP or TCP phone. */
static void
deliver_register(const char *user, const char *transport, int cseq)
{
	struct epsip_msg msg;
	char text[2048];

	snprintf(text, sizeof(text),
	    "REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKrtr-%s-%d\r\n"
	    "Via: SIP/2.0/%s 192.0.2.2:5060;branch=z9hG4bKua-%s-%d"
	    ";received=192.0.2.2;rport=5060\r\n"
	    "From: <sip:%s@example.com>;tag=f1\r\n"
	    "To: <sip:%s@example.com>\r\n"
	    "Call-ID: reg-%s\r\n"
	    "CSeq: %d REGISTER\r\n"
	    "Supported: path, outbound\r\n"
	    "Path: <sip:TOKEN-%s@edge.example.net:5060;lr;ob>\r\n"
	    "Contact: <sip:%s@192.0.2.2:5060>;reg-id=1"
	    ";+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-"
	    "000000000001>\"\r\n"
	    "Content-Length: 0\r\n\r\n", user, cseq, transport, user, cseq,
	    user, user, user, cseq, user, user);
	epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_CORE);
	msg.payload = (const uint8_t *)text;
	msg.payload_len = strlen(text);
	core->ops->sip(core, &msg, loop_now_ms(loop));
}

static osip_message_t *
sent_message(size_t i)
{
	osip_message_t *m;

	assert_true(i < nsent);
	assert_int_equal(sip_parse(sent[i], strlen(sent[i]), &m), 0);
	return (m);
}

static int
status_of(size_t i)
{
	osip_message_t *m = sent_message(i);
	int status = m->status_code;

	osip_message_free(m);
	return (status);
}

static int64_t
bindings_now(void)
{
	return (location_count(core_embedded_db(core), 0));
}

static void
stop(struct loop *l, void *arg)
{
	(void)arg;
	loop_stop(l);
}

/* Run `fn` as one loop iteration's work, then that iteration's end. */
static void
one_iteration(loop_timer_cb fn)
{
	assert_true(loop_after(loop, 0, fn, NULL) >= 0);
	/* The loop stops after this iteration's (or the next one's) end. */
	assert_true(loop_after(loop, 1, stop, NULL) >= 0);
	assert_int_equal(loop_run(loop), 0);
}

static void
two_registers(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	deliver_register("alice", "UDP", 1);
	deliver_register("bob", "TCP", 1);
	/* Handled, written, and not answered: COMMIT has not run. */
	assert_int_equal(nsent, 0);
	assert_int_equal(stats_get(M_REGISTRAR_COMMITS), 0);
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_OK), 2);
}

static void
test_two_registers_in_one_iteration_share_one_commit_and_wait_for_it(
    void **state)
{
	(void)state;
	one_iteration(two_registers);
	assert_int_equal(stats_get(M_REGISTRAR_COMMITS), 1);
	assert_int_equal(nsent, 2);
	assert_int_equal(status_of(0), 200);
	assert_int_equal(status_of(1), 200);
	/* Both left after the commit, not one before it. */
	assert_int_equal(commits_when_sent[0], 1);
	assert_int_equal(commits_when_sent[1], 1);
	assert_int_equal(bindings_now(), 2);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 2);
}

static void
register_and_retransmit(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	deliver_register("alice", "UDP", 1);
	deliver_register("alice", "UDP", 1);	/* the phone's retransmission */
	assert_int_equal(nsent, 0);
}

static void
retransmit(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	deliver_register("alice", "UDP", 1);
}

/*
 * §17.2.2 across the wait: a retransmission before the commit is absorbed
 * by the transaction (not registered twice, which the CSeq rule would
 * answer 400); one after it gets the same 200 again.
 */
static void
test_retransmission_before_the_commit_is_absorbed_not_registered_again(
    void **state)
{
	(void)state;
	one_iteration(register_and_retransmit);
	assert_int_equal(nsent, 1);
	assert_int_equal(status_of(0), 200);
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_OK), 1);
	assert_int_equal(stats_get(M_SIP_IN_RETRANSMISSIONS), 1);
	one_iteration(retransmit);
	assert_int_equal(nsent, 2);
	assert_string_equal(sent[0], sent[1]);
	assert_int_equal(stats_get(M_REGISTRAR_COMMITS), 1);
}

static int
refuse_commit(void *arg)
{
	int *calls = arg;

	(*calls)++;
	return (1);	/* SQLite turns the COMMIT into a ROLLBACK */
}

static void
test_failed_commit_answers_500_with_retry_after_and_never_200(void **state)
{
	sqlite3 *handle = location_sqlite(core_embedded_db(core));
	osip_message_t *m;
	osip_header_t *ra;
	int calls = 0;
	size_t i;

	(void)state;
	sqlite3_commit_hook(handle, refuse_commit, &calls);
	one_iteration(two_registers);
	sqlite3_commit_hook(handle, NULL, NULL);
	assert_int_equal(calls, 1);
	assert_int_equal(stats_get(M_REGISTRAR_COMMITS_FAILED), 1);
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_UNSAVED), 2);
	assert_int_equal(nsent, 2);
	for (i = 0; i < nsent; i++) {
		m = sent_message(i);
		assert_int_equal(m->status_code, 500);
		assert_true(osip_message_header_get_byname(m, "retry-after",
		    0, &ra) >= 0);
		assert_string_equal(ra->hvalue, "7");
		osip_message_free(m);
	}
	/* Nothing was kept, and the gauge says so. */
	assert_int_equal(bindings_now(), 0);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 0);
	/* The UDP phone's retransmission gets the 500 again. */
	one_iteration(retransmit);
	assert_int_equal(nsent, 3);
	assert_string_equal(sent[2], sent[0]);
}

static void
register_bob(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	deliver_register("bob", "TCP", 2);
}

static void
bob_flow_closes_and_alice_registers(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	core->ops->flow_closed(core, "TOKEN-bob", strlen("TOKEN-bob"));
	deliver_register("alice", "TCP", 1);
}

/* FLOW_CLOSED's removal joins the iteration's transaction. */
static void
test_flow_closed_removal_commits_with_the_iterations_registers(void **state)
{
	(void)state;
	one_iteration(register_bob);
	assert_int_equal(stats_get(M_REGISTRAR_COMMITS), 1);
	one_iteration(bob_flow_closes_and_alice_registers);
	assert_int_equal(stats_get(M_REGISTRAR_COMMITS), 2);
	assert_int_equal(stats_get(M_BINDINGS_DROPPED_FLOW_CLOSED), 1);
	assert_int_equal(bindings_now(), 1);
	assert_int_equal(nsent, 2);
	assert_int_equal(status_of(1), 200);
}

static void
idle(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
}

/* An iteration that wrote nothing commits nothing. */
static void
test_iteration_without_writes_does_not_commit(void **state)
{
	(void)state;
	one_iteration(idle);
	assert_int_equal(stats_get(M_REGISTRAR_COMMITS), 0);
	assert_int_equal(nsent, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_two_registers_in_one_iteration_share_one_commit_and_wait_for_it),
		T(test_retransmission_before_the_commit_is_absorbed_not_registered_again),
		T(test_failed_commit_answers_500_with_retry_after_and_never_200),
		T(test_flow_closed_removal_commits_with_the_iterations_registers),
		T(test_iteration_without_writes_does_not_commit),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
