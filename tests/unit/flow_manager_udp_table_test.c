/*
 * flow_manager_udp_table_test.c -- the parent's UDP demux table: insert,
 * lookup, remove, keys that differ only by listener/family/port, 100k
 * entries, and reinsertion after removal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <netinet/in.h>

#include "epsip/config.h"
#include "epsip/ipc.h"

#include "../../services/flow-manager/udp_table.h"

#define MANY	100000

static void
v4(struct epsip_addr *a, uint32_t ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->port = port;
	a->ip[0] = (uint8_t)(ip >> 24);
	a->ip[1] = (uint8_t)(ip >> 16);
	a->ip[2] = (uint8_t)(ip >> 8);
	a->ip[3] = (uint8_t)ip;
}

static void
test_udp_table_insert_find_remove(void **state)
{
	struct fm_udp_table t;
	struct fm_udp_node n;
	struct epsip_addr a;

	(void)state;
	assert_int_equal(fm_udp_table_init(&t, 0), 0);
	v4(&a, 0xc6336407u, 40000);
	assert_null(fm_udp_table_find(&t, 0, &a));
	fm_udp_node_set_key(&n, 0, &a);
	assert_int_equal(fm_udp_table_insert(&t, &n), 0);
	assert_int_equal(t.count, 1);
	assert_ptr_equal(fm_udp_table_find(&t, 0, &a), &n);
	fm_udp_table_remove(&t, &n);
	assert_int_equal(t.count, 0);
	assert_null(fm_udp_table_find(&t, 0, &a));
	fm_udp_table_free(&t);
}

static void
test_udp_table_duplicate_is_refused(void **state)
{
	struct fm_udp_table t;
	struct fm_udp_node n1, n2;
	struct epsip_addr a;

	(void)state;
	assert_int_equal(fm_udp_table_init(&t, 16), 0);
	v4(&a, 0x7f000001u, 5060);
	fm_udp_node_set_key(&n1, 1, &a);
	fm_udp_node_set_key(&n2, 1, &a);
	assert_int_equal(fm_udp_table_insert(&t, &n1), 0);
	assert_int_equal(fm_udp_table_insert(&t, &n2), -1);
	assert_int_equal(t.count, 1);
	assert_ptr_equal(fm_udp_table_find(&t, 1, &a), &n1);
	fm_udp_table_free(&t);
}

static void
test_udp_table_keys_differ_by_every_field(void **state)
{
	struct fm_udp_table t;
	struct fm_udp_node n[5];
	struct epsip_addr a, b, c, d;

	(void)state;
	assert_int_equal(fm_udp_table_init(&t, 0), 0);
	v4(&a, 0xc0000202u, 5060);
	b = a;
	b.port = 5061;
	v4(&c, 0xc0000203u, 5060);
	assert_int_equal(config_parse_addr("[2001:db8::1]:5060", 5060, &d), 0);
	fm_udp_node_set_key(&n[0], 0, &a);
	fm_udp_node_set_key(&n[1], 1, &a);	/* other listener */
	fm_udp_node_set_key(&n[2], 0, &b);	/* other port */
	fm_udp_node_set_key(&n[3], 0, &c);	/* other ip */
	fm_udp_node_set_key(&n[4], 0, &d);	/* IPv6 */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(fm_udp_table_insert(&t, &n[i]), 0);
	}
	assert_ptr_equal(fm_udp_table_find(&t, 0, &a), &n[0]);
	assert_ptr_equal(fm_udp_table_find(&t, 1, &a), &n[1]);
	assert_ptr_equal(fm_udp_table_find(&t, 0, &b), &n[2]);
	assert_ptr_equal(fm_udp_table_find(&t, 0, &c), &n[3]);
	assert_ptr_equal(fm_udp_table_find(&t, 0, &d), &n[4]);
	assert_null(fm_udp_table_find(&t, 2, &a));
	fm_udp_table_free(&t);
}

static void
test_udp_table_ipv4_ignores_unused_bytes(void **state)
{
	struct fm_udp_table t;
	struct fm_udp_node n;
	struct epsip_addr a, dirty;

	(void)state;
	assert_int_equal(fm_udp_table_init(&t, 0), 0);
	v4(&a, 0x0a000001u, 1234);
	dirty = a;
	memset(dirty.ip + 4, 0xee, 12);
	fm_udp_node_set_key(&n, 0, &dirty);
	assert_int_equal(fm_udp_table_insert(&t, &n), 0);
	assert_ptr_equal(fm_udp_table_find(&t, 0, &a), &n);
	assert_ptr_equal(fm_udp_table_find(&t, 0, &dirty), &n);
	fm_udp_table_free(&t);
}

static void
test_udp_table_holds_100k_flows(void **state)
{
	struct fm_udp_table t;
	struct fm_udp_node *n;
	struct epsip_addr a;
	size_t i;

	(void)state;
	n = calloc(MANY, sizeof(*n));
	assert_non_null(n);
	/* Start small: growth is part of the test. */
	assert_int_equal(fm_udp_table_init(&t, 0), 0);
	for (i = 0; i < MANY; i++) {
		/* Many sources, 28k ports each, like the load generator. */
		v4(&a, 0x7f000001u + (uint32_t)(i / 28000),
		    (uint16_t)(10000 + i % 28000));
		fm_udp_node_set_key(&n[i], (uint16_t)(i % 2), &a);
		assert_int_equal(fm_udp_table_insert(&t, &n[i]), 0);
	}
	assert_int_equal(t.count, MANY);
	/* Load stays at most one per bucket. */
	assert_true(t.mask + 1 >= MANY);
	for (i = 0; i < MANY; i++) {
		assert_ptr_equal(fm_udp_table_find(&t, n[i].listener,
		    &n[i].remote), &n[i]);
	}
	/* Remove every other one; the rest are still found. */
	for (i = 0; i < MANY; i += 2) {
		fm_udp_table_remove(&t, &n[i]);
	}
	assert_int_equal(t.count, MANY / 2);
	for (i = 0; i < MANY; i++) {
		if (i % 2 == 0) {
			assert_null(fm_udp_table_find(&t, n[i].listener,
			    &n[i].remote));
		} else {
			assert_ptr_equal(fm_udp_table_find(&t, n[i].listener,
			    &n[i].remote), &n[i]);
		}
	}
	fm_udp_table_free(&t);
	free(n);
}

static void
test_udp_table_reinsertion_after_removal(void **state)
{
	struct fm_udp_table t;
	struct fm_udp_node *n;
	struct fm_udp_node again;
	struct epsip_addr a;
	size_t i;

	(void)state;
	n = calloc(1000, sizeof(*n));
	assert_non_null(n);
	assert_int_equal(fm_udp_table_init(&t, 0), 0);
	for (i = 0; i < 1000; i++) {
		v4(&a, 0xc0000200u, (uint16_t)(20000 + i));
		fm_udp_node_set_key(&n[i], 0, &a);
		assert_int_equal(fm_udp_table_insert(&t, &n[i]), 0);
	}
	/* A flow ends and the same remote comes back as a new flow. */
	for (int round = 0; round < 3; round++) {
		for (i = 0; i < 1000; i++) {
			fm_udp_table_remove(&t, &n[i]);
			assert_null(fm_udp_table_find(&t, 0, &n[i].remote));
			fm_udp_node_set_key(&n[i], 0, &n[i].remote);
			assert_int_equal(fm_udp_table_insert(&t, &n[i]), 0);
			assert_ptr_equal(fm_udp_table_find(&t, 0,
			    &n[i].remote), &n[i]);
		}
	}
	assert_int_equal(t.count, 1000);
	/* Removed, then the key taken by a different node. */
	fm_udp_table_remove(&t, &n[5]);
	fm_udp_node_set_key(&again, 0, &n[5].remote);
	assert_int_equal(fm_udp_table_insert(&t, &again), 0);
	assert_ptr_equal(fm_udp_table_find(&t, 0, &n[5].remote), &again);
	fm_udp_table_free(&t);
	free(n);
}

static void
test_udp_table_seeds_differ(void **state)
{
	struct fm_udp_table t1, t2;

	(void)state;
	/* Keyed from getrandom(): two tables never share a hash key. */
	assert_int_equal(fm_udp_table_init(&t1, 0), 0);
	assert_int_equal(fm_udp_table_init(&t2, 0), 0);
	assert_true(t1.k0 != t2.k0 || t1.k1 != t2.k1);
	fm_udp_table_free(&t1);
	fm_udp_table_free(&t2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_table_insert_find_remove),
		cmocka_unit_test(test_udp_table_duplicate_is_refused),
		cmocka_unit_test(test_udp_table_keys_differ_by_every_field),
		cmocka_unit_test(test_udp_table_ipv4_ignores_unused_bytes),
		cmocka_unit_test(test_udp_table_holds_100k_flows),
		cmocka_unit_test(test_udp_table_reinsertion_after_removal),
		cmocka_unit_test(test_udp_table_seeds_differ),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
