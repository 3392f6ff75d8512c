/* rate_test.c -- the token bucket behind new-flow-rate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "epsip/rate.h"

static void
test_burst_passes_then_the_rate_holds(void **state)
{
	struct rate_limit rl;
	int passed = 0;

	(void)state;
	rate_limit_init(&rl, 100, 10, 1000);
	for (int i = 0; i < 50; i++) {
		passed += rate_limit_take(&rl, 1000);
	}
	assert_int_equal(passed, 10);
	/* One second later: 100 more at most, capped by the burst. */
	passed = 0;
	for (uint64_t t = 1001; t <= 2000; t++) {
		passed += rate_limit_take(&rl, t);
		passed += rate_limit_take(&rl, t);
	}
	assert_in_range(passed, 99, 101);
}

static void
test_zero_rate_means_unlimited(void **state)
{
	struct rate_limit rl;

	(void)state;
	rate_limit_init(&rl, 0, 0, 0);
	for (int i = 0; i < 100000; i++) {
		assert_true(rate_limit_take(&rl, 0));
	}
}

static void
test_idle_time_refills_no_more_than_the_burst(void **state)
{
	struct rate_limit rl;
	int passed = 0;

	(void)state;
	rate_limit_init(&rl, 1000, 5, 0);
	for (int i = 0; i < 100; i++) {
		passed += rate_limit_take(&rl, 3600000);
	}
	assert_int_equal(passed, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_passes_then_the_rate_holds),
		cmocka_unit_test(test_zero_rate_means_unlimited),
		cmocka_unit_test(test_idle_time_refills_no_more_than_the_burst),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
