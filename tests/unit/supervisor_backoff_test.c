/*
 * supervisor_backoff_test.c -- epsipd's restart schedule and process table
 * (services/supervisor/procs.c, spawn.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "../../services/supervisor/procs.h"
#include "../../services/supervisor/spawn.h"

static void
test_backoff_service_that_worked_is_restarted_at_once(void **state)
{
	(void)state;
	/* Said HELLO, ran a while, was killed: no wait (issue 12 §7). */
	assert_int_equal(sup_backoff_next(0, 1000, 1), 0);
	assert_int_equal(sup_backoff_next(0, 3000, 1), 0);
	/* Even after a crash loop: it worked this time. */
	assert_int_equal(sup_backoff_next(30000, 5000, 1), 0);
}

static void
test_backoff_first_quick_death_waits_1_s(void **state)
{
	(void)state;
	/* Died within a second of its start, ready or not. */
	assert_int_equal(sup_backoff_next(0, 0, 0), 1000);
	assert_int_equal(sup_backoff_next(0, 999, 1), 1000);
	/* Ran long but never said HELLO: it never worked. */
	assert_int_equal(sup_backoff_next(0, 5000, 0), 1000);
}

static void
test_backoff_crash_loop_doubles_to_30_s_and_resets_after_healthy_run(
    void **state)
{
	static const unsigned want[] = {
		1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
	};
	unsigned delay = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		/* Each incarnation dies 0.3 s after its start: a loop. */
		delay = sup_backoff_next(delay, 300, 1);
		if (delay != want[i]) {
			fail_msg("restart %zu: got %u ms, want %u ms", i + 1,
			    delay, want[i]);
		}
	}
	/* A healthy run ends the loop; the next quick death starts over. */
	delay = sup_backoff_next(delay, 1500, 1);
	assert_int_equal(delay, 0);
	assert_int_equal(sup_backoff_next(delay, 300, 1), 1000);
}

static void
test_backoff_never_above_30_s(void **state)
{
	unsigned prev;

	(void)state;
	for (prev = 1; prev < 100000; prev = prev * 3 + 1) {
		unsigned d = sup_backoff_next(prev, 0, 0);

		assert_true(d >= 1000 && d <= 30000);
	}
}

static void
test_procs_start_bridge_then_router_then_flow_manager(void **state)
{
	struct sup_proc procs[SUP_NPROCS];

	(void)state;
	sup_procs_init(procs, NULL, 1);
	assert_string_equal(procs[0].name, "registrar-bridge");
	assert_string_equal(procs[0].binary, "epsip-registrar-bridge");
	assert_string_equal(procs[1].name, "sip-router");
	assert_string_equal(procs[1].binary, "epsip-sip-router");
	assert_string_equal(procs[2].name, "flow-manager");
	assert_string_equal(procs[2].binary, "epsip-flow-manager");
	assert_true(procs[2].has_children);
	assert_int_equal(procs[0].restart_timer, -1);
	assert_int_equal(procs[1].pid, 0);
	procs[1].pid = 4242;
	assert_ptr_equal(sup_procs_by_pid(procs, SUP_NPROCS, 4242),
	    &procs[1]);
	assert_null(sup_procs_by_pid(procs, SUP_NPROCS, 0));
	assert_ptr_equal(sup_procs_by_name(procs, SUP_NPROCS,
	    "flow-manager"), &procs[2]);
	assert_null(sup_procs_by_name(procs, SUP_NPROCS, "fm1-c1"));
}

static void
test_exit_cause_names_exit_code_and_signal(void **state)
{
	char buf[64];

	(void)state;
	sup_exit_cause(1 << 8, buf, sizeof(buf));
	assert_string_equal(buf, "exited 1");
	sup_exit_cause(0, buf, sizeof(buf));
	assert_string_equal(buf, "exited 0");
	sup_exit_cause(SIGKILL, buf, sizeof(buf));
	assert_string_equal(buf, "killed by signal 9");
	sup_exit_cause(SIGSEGV | 0x80, buf, sizeof(buf));
	assert_string_equal(buf, "killed by signal 11 (core dumped)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_backoff_service_that_worked_is_restarted_at_once),
		cmocka_unit_test(test_backoff_first_quick_death_waits_1_s),
		cmocka_unit_test(
	test_backoff_crash_loop_doubles_to_30_s_and_resets_after_healthy_run),
		cmocka_unit_test(test_backoff_never_above_30_s),
		cmocka_unit_test(
		    test_procs_start_bridge_then_router_then_flow_manager),
		cmocka_unit_test(test_exit_cause_names_exit_code_and_signal),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
