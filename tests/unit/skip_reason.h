/*
 * skip_reason.h -- cmocka's skip() with its reason said out loud.
 *
 * cmocka names a skipped test but cannot say why.  skip_because() prints
 * "skip reason: TEST: WHY" first; tests/run-unit.sh pairs that line with
 * cmocka's "[  SKIPPED ] TEST" and counts the test as skipped, never as
 * passed.  Include after <cmocka.h>.
 */
#ifndef TESTS_SKIP_REASON_H
#define TESTS_SKIP_REASON_H

#define skip_because(why) do {						\
	print_message("skip reason: %s: %s\n", __func__, (why));	\
	skip();								\
} while (0)

#endif /* TESTS_SKIP_REASON_H */
