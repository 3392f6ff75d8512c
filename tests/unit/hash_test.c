/*
 * hash_test.c -- FNV-1a (common/hash.c): the published test values, and
 * hashing in pieces gives what hashing at once gives, which is what the
 * tables that hash a key made of parts (an address and its port, a
 * Call-ID's number and host) rely on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "epsip/hash.h"

static void
test_fnv1a_gives_the_published_values(void **state)
{
	(void)state;
	assert_int_equal(fnv1a_str(""), 0x811c9dc5u);
	assert_int_equal(fnv1a_str("a"), 0xe40c292cu);
	assert_int_equal(fnv1a_str("foobar"), 0xbf9cf968u);
	assert_int_equal(fnv1a("foobar", 6), 0xbf9cf968u);
}

static void
test_hashing_in_pieces_equals_hashing_at_once(void **state)
{
	const unsigned char bytes[] = { 127, 0, 0, 1, 0xc4, 0x13, 0, 0xff };

	(void)state;
	assert_int_equal(fnv1a_add(fnv1a(bytes, 4), bytes + 4, 4),
	    fnv1a(bytes, sizeof(bytes)));
	assert_int_equal(fnv1a_add(fnv1a_str("foo"), "bar", 3),
	    fnv1a_str("foobar"));
	assert_int_equal(fnv1a_add(FNV1A_BASIS, "", 0), fnv1a_str(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fnv1a_gives_the_published_values),
		cmocka_unit_test(test_hashing_in_pieces_equals_hashing_at_once),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
