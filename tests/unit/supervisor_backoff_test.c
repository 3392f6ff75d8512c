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
test_backoff_first_restart_waits_1_s(void **state)
{
	(void)state;
	assert_int_equal(sup_backoff_next(0, 0), 1000);
	assert_int_equal(sup_backoff_next(0, 5000), 1000);
}

static void
test_backoff_doubles_to_30_s_and_resets_after_stable_run(void **state)
{
	static const unsigned want[] = {
		1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
	};
	unsigned delay = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		/* Each incarnation dies after 3 s: always "early". */
		delay = sup_backoff_next(delay, 3000);
		if (delay != want[i]) {
			fail_msg("restart %zu: got %u ms, want %u ms", i + 1,
			    delay, want[i]);
		}
	}
	/* A run of a minute or more earns a quick restart again. */
	assert_int_equal(sup_backoff_next(delay, 60000), 1000);
	assert_int_equal(sup_backoff_next(16000, 59999), 30000);
}

static void
test_backoff_never_below_1_s_or_above_30_s(void **state)
{
	unsigned prev;

	(void)state;
	for (prev = 1; prev < 100000; prev = prev * 3 + 1) {
		unsigned d = sup_backoff_next(prev, 0);

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
		cmocka_unit_test(test_backoff_first_restart_waits_1_s),
		cmocka_unit_test(
		    test_backoff_doubles_to_30_s_and_resets_after_stable_run),
		cmocka_unit_test(test_backoff_never_below_1_s_or_above_30_s),
		cmocka_unit_test(
		    test_procs_start_bridge_then_router_then_flow_manager),
		cmocka_unit_test(test_exit_cause_names_exit_code_and_signal),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
