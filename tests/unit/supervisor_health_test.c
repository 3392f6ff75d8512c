/*
 * supervisor_health_test.c -- the GET /health verdict and READY=1
 * (services/supervisor/aggregate.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/supervisor/aggregate.h"

struct fixture {
	struct sup_proc procs[SUP_NPROCS];
	struct sup_reports reports;
	struct sup_view view;
};

static int
setup(void **state)
{
	struct fixture *f;
	size_t i;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	sup_procs_init(f->procs, NULL, 1);
	for (i = 0; i < SUP_NPROCS; i++) {
		f->procs[i].pid = (pid_t)(100 * (i + 1));
	}
	sup_reports_init(&f->reports);
	f->view.version = "9.9.9";
	f->view.now_ms = 10000;
	f->view.procs = f->procs;
	f->view.nprocs = SUP_NPROCS;
	f->view.reports = &f->reports;
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	sup_reports_clear(&f->reports);
	free(f);
	return (0);
}

static void
say(struct fixture *f, enum sup_report_kind kind, size_t i, uint64_t now)
{
	char json[128], err[128];

	snprintf(json, sizeof(json), "{\"service\":\"%s\",\"instance\":\"%s\","
	    "\"pid\":%ld}", f->procs[i].name, f->procs[i].name,
	    (long)f->procs[i].pid);
	if (sup_reports_update(&f->reports, kind, json, strlen(json), now, err,
	    sizeof(err)) == NULL) {
		fail_msg("%s", err);
	}
}

/* Check the verdict, its HTTP status and the body's "down" list. */
static void
expect(struct fixture *f, enum sup_health_state want_state,
    const char *want_down)
{
	enum sup_health_state got;
	char down[256] = "";
	json_t *body, *name;
	size_t i;

	got = sup_health(&f->view, &body);
	assert_non_null(body);
	json_array_foreach(json_object_get(body, "down"), i, name) {
		snprintf(down + strlen(down), sizeof(down) - strlen(down),
		    "%s%s", i > 0 ? "," : "", json_string_value(name));
	}
	if (got != want_state || strcmp(down, want_down) != 0) {
		fail_msg("got %s down [%s], want %s down [%s]",
		    sup_health_name(got), down, sup_health_name(want_state),
		    want_down);
	}
	assert_string_equal(json_string_value(json_object_get(body,
	    "status")), sup_health_name(want_state));
	assert_int_equal(sup_health_http_status(got),
	    want_state == SUP_HEALTH_OK ? 200 : 503);
	if (want_state == SUP_HEALTH_OK) {
		assert_null(json_object_get(body, "down"));
	}
	json_decref(body);
}

static void
test_health_is_503_until_every_service_said_hello(void **state)
{
	struct fixture *f = *state;

	expect(f, SUP_HEALTH_STARTING,
	    "registrar-bridge,sip-router,flow-manager");
	say(f, SUP_REPORT_HELLO, 0, 9000);
	expect(f, SUP_HEALTH_STARTING, "sip-router,flow-manager");
	say(f, SUP_REPORT_HELLO, 1, 9000);
	/* STATS without a HELLO is not enough. */
	say(f, SUP_REPORT_STATS, 2, 9000);
	expect(f, SUP_HEALTH_STARTING, "flow-manager");
	say(f, SUP_REPORT_HELLO, 2, 9500);
	expect(f, SUP_HEALTH_OK, "");
}

static void
test_health_hello_from_another_pid_does_not_count(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < SUP_NPROCS; i++) {
		say(f, SUP_REPORT_HELLO, i, 9000);
	}
	/* The router was restarted: its old incarnation's HELLO is stale. */
	f->procs[1].pid = 201;
	f->procs[1].restarts = 1;
	expect(f, SUP_HEALTH_DEGRADED, "sip-router");
}

static void
test_health_service_silent_for_5_s_is_down(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < SUP_NPROCS; i++) {
		say(f, SUP_REPORT_HELLO, i, 9000);
	}
	f->view.was_ready = 1;
	f->view.now_ms = 13999;
	expect(f, SUP_HEALTH_OK, "");
	say(f, SUP_REPORT_STATS, 0, 13000);
	say(f, SUP_REPORT_STATS, 2, 13000);
	f->view.now_ms = 14000;
	expect(f, SUP_HEALTH_DEGRADED, "sip-router");
}

static void
test_health_is_degraded_not_starting_once_a_service_crashed(void **state)
{
	struct fixture *f = *state;

	/* Crash-looping from the very start: say so, it is not "starting". */
	f->procs[2].pid = 0;
	f->procs[2].backoff_ms = 1000;
	say(f, SUP_REPORT_HELLO, 0, 9000);
	say(f, SUP_REPORT_HELLO, 1, 9000);
	expect(f, SUP_HEALTH_DEGRADED, "flow-manager");
}

static void
test_health_is_degraded_while_an_immediate_restart_is_pending(void **state)
{
	struct fixture *f = *state;

	/* Killed after a healthy run: restarted at once (backoff_ms 0),
	 * its timer not fired yet.  Still a crash, not a start. */
	f->procs[2].pid = 0;
	f->procs[2].backoff_ms = 0;
	f->procs[2].restart_timer = 3;
	say(f, SUP_REPORT_HELLO, 0, 9000);
	say(f, SUP_REPORT_HELLO, 1, 9000);
	expect(f, SUP_HEALTH_DEGRADED, "flow-manager");
}

static void
test_health_is_degraded_after_having_been_ready(void **state)
{
	struct fixture *f = *state;

	f->view.was_ready = 1;
	say(f, SUP_REPORT_HELLO, 0, 9000);
	say(f, SUP_REPORT_HELLO, 1, 9000);
	expect(f, SUP_HEALTH_DEGRADED, "flow-manager");
}

static void
test_health_verdict_without_body(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sup_health(&f->view, NULL), SUP_HEALTH_STARTING);
}

static void
test_health_counts_a_draining_flow_manager_as_leaving_not_down(
    void **state)
{
	struct fixture *f = *state;

	sup_procs_init(f->procs, NULL, 2);
	for (size_t i = 0; i < 4; i++) {
		f->procs[i].pid = (pid_t)(100 * (i + 1));
		say(f, SUP_REPORT_HELLO, i, 9000);
	}
	f->view.was_ready = 1;
	expect(f, SUP_HEALTH_OK, "");
	/* A wanted one silent: down, and named. */
	f->view.now_ms = 9000 + SUP_HEALTH_SILENCE_MS + 1;
	say(f, SUP_REPORT_STATS, 0, f->view.now_ms);
	say(f, SUP_REPORT_STATS, 1, f->view.now_ms);
	say(f, SUP_REPORT_STATS, 2, f->view.now_ms);
	expect(f, SUP_HEALTH_DEGRADED, "flow-manager-2");
	/* Drained (not wanted): leaving, not missing. */
	f->procs[3].wanted = 0;
	expect(f, SUP_HEALTH_OK, "");
	f->procs[3].pid = 0;
	expect(f, SUP_HEALTH_OK, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_health_is_503_until_every_service_said_hello, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_health_hello_from_another_pid_does_not_count, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_health_service_silent_for_5_s_is_down, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_health_is_degraded_not_starting_once_a_service_crashed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_health_is_degraded_while_an_immediate_restart_is_pending,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_health_is_degraded_after_having_been_ready, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_health_verdict_without_body, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_health_counts_a_draining_flow_manager_as_leaving_not_down,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
