/*
 * source_rate_test.c -- per-source token buckets (issue 12 §6): one
 * address over its limit is refused while every other goes on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/config.h"
#include "epsip/source_rate.h"

static struct epsip_addr
addr(const char *text)
{
	struct epsip_addr a;

	assert_int_equal(config_parse_addr(text, 5060, &a), 0);
	return (a);
}

static void
test_one_source_gets_its_burst_then_its_rate(void **state)
{
	struct source_rate *sr = source_rate_new(10, 5, 64);
	struct epsip_addr a = addr("192.0.2.7:5060");
	int i;

	(void)state;
	assert_non_null(sr);
	for (i = 0; i < 5; i++) {
		assert_int_equal(source_rate_take(sr, &a, 1000), 1);
	}
	assert_int_equal(source_rate_take(sr, &a, 1000), 0);
	/* 10 a second: one more after 100 ms, not before. */
	assert_int_equal(source_rate_take(sr, &a, 1099), 0);
	assert_int_equal(source_rate_take(sr, &a, 1100), 1);
	assert_int_equal(source_rate_take(sr, &a, 1100), 0);
	source_rate_free(sr);
}

static void
test_flooding_source_does_not_limit_another(void **state)
{
	struct source_rate *sr = source_rate_new(1, 2, 64);
	struct epsip_addr flood = addr("192.0.2.7:5060");
	struct epsip_addr phone = addr("198.51.100.9:40000");
	struct epsip_addr other_port = addr("192.0.2.7:5061");

	(void)state;
	for (int i = 0; i < 100; i++) {
		(void)source_rate_take(sr, &flood, 5000);
	}
	assert_int_equal(source_rate_take(sr, &flood, 5000), 0);
	/* The port does not make another source: a NAT shares one. */
	assert_int_equal(source_rate_take(sr, &other_port, 5000), 0);
	assert_int_equal(source_rate_take(sr, &phone, 5000), 1);
	assert_int_equal(source_rate_take(sr, &phone, 5000), 1);
	assert_int_equal(source_rate_take(sr, &phone, 5000), 0);
	source_rate_free(sr);
}

static void
test_ipv4_and_ipv6_sources_are_apart(void **state)
{
	struct source_rate *sr = source_rate_new(1, 1, 64);
	struct epsip_addr v4 = addr("192.0.2.7:5060");
	struct epsip_addr v6 = addr("[c000:207::]:5060");

	(void)state;
	assert_int_equal(source_rate_take(sr, &v4, 0), 1);
	assert_int_equal(source_rate_take(sr, &v4, 0), 0);
	assert_int_equal(source_rate_take(sr, &v6, 0), 1);
	source_rate_free(sr);
}

static void
test_rate_zero_takes_everything_and_reload_refills(void **state)
{
	struct source_rate *sr = source_rate_new(0, 0, 64);
	struct epsip_addr a = addr("192.0.2.7:5060");

	(void)state;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(source_rate_take(sr, &a, 0), 1);
	}
	source_rate_set(sr, 1, 1);
	assert_int_equal(source_rate_take(sr, &a, 0), 1);
	assert_int_equal(source_rate_take(sr, &a, 0), 0);
	source_rate_set(sr, 1, 1);
	assert_int_equal(source_rate_take(sr, &a, 0), 1);
	source_rate_free(sr);
}

/*
 * More sources than slots: the table stays its size, and a source seen
 * a moment ago keeps its (empty) bucket while those idle longest go.
 */
static void
test_full_table_keeps_the_busy_source_limited(void **state)
{
	struct source_rate *sr = source_rate_new(1, 1, 16);
	struct epsip_addr busy = addr("192.0.2.7:5060"), a;
	char text[64];
	uint64_t now = 100000;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(text, sizeof(text), "10.%d.%d.1:5060", i / 250,
		    i % 250);
		a = addr(text);
		(void)source_rate_take(sr, &a, now - 50000 + (uint64_t)i);
	}
	assert_int_equal(source_rate_take(sr, &busy, now), 1);
	assert_int_equal(source_rate_take(sr, &busy, now), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(text, sizeof(text), "10.%d.%d.1:5060", i / 250,
		    i % 250);
		a = addr(text);
		(void)source_rate_take(sr, &a, now - 90000 + (uint64_t)i);
		assert_int_equal(source_rate_take(sr, &busy, now), 0);
	}
	source_rate_free(sr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_source_gets_its_burst_then_its_rate),
		cmocka_unit_test(test_flooding_source_does_not_limit_another),
		cmocka_unit_test(test_ipv4_and_ipv6_sources_are_apart),
		cmocka_unit_test(
		    test_rate_zero_takes_everything_and_reload_refills),
		cmocka_unit_test(test_full_table_keeps_the_busy_source_limited),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
