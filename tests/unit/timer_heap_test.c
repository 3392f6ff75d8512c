/*
 * timer_heap_test.c -- the intrusive min-heap of deadlines
 * (common/timer_heap.c): only what is due comes out, in due order, and
 * entries can be moved or removed anywhere without breaking the order.
 * The heap's own invariants (parent not later than child, every entry
 * knowing its slot) are checked after every change in the random tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/timer_heap.h"

struct item {
	int id;
	struct timer_heap_entry timer;
};

#define NITEMS	2000

static struct item items[NITEMS];
static struct timer_heap heap;

static int
setup(void **state)
{
	int i;

	(void)state;
	memset(items, 0, sizeof(items));
	for (i = 0; i < NITEMS; i++) {
		items[i].id = i;
	}
	timer_heap_init(&heap);
	srandom(7);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	timer_heap_clear(&heap);
	return (0);
}

static void
check_invariants(void)
{
	size_t i;

	for (i = 0; i < heap.count; i++) {
		assert_int_equal(heap.v[i]->slot, i + 1);
		if (i > 0) {
			assert_true(heap.v[(i - 1) / 2]->due <= heap.v[i]->due);
		}
	}
}

static struct item *
owner(struct timer_heap_entry *e)
{
	return (e == NULL ? NULL : TIMER_HEAP_OWNER(e, struct item, timer));
}

static void
test_pop_due_returns_only_entries_whose_time_has_come(void **state)
{
	(void)state;
	assert_int_equal(timer_heap_set(&heap, &items[0].timer, 300), 0);
	assert_int_equal(timer_heap_set(&heap, &items[1].timer, 100), 0);
	assert_int_equal(timer_heap_set(&heap, &items[2].timer, 200), 0);
	assert_null(timer_heap_pop_due(&heap, 99));
	assert_ptr_equal(owner(timer_heap_pop_due(&heap, 250)), &items[1]);
	assert_ptr_equal(owner(timer_heap_pop_due(&heap, 250)), &items[2]);
	assert_null(timer_heap_pop_due(&heap, 250));
	assert_int_equal(timer_heap_count(&heap), 1);
	/* Due exactly now is due. */
	assert_ptr_equal(owner(timer_heap_pop_due(&heap, 300)), &items[0]);
	assert_null(timer_heap_pop_due(&heap, UINT64_MAX));
	assert_false(timer_heap_armed(&items[0].timer));
}

static void
test_entries_come_out_in_due_order(void **state)
{
	struct timer_heap_entry *e;
	uint64_t last = 0;
	int i, n = 0;

	(void)state;
	for (i = 0; i < NITEMS; i++) {
		assert_int_equal(timer_heap_set(&heap, &items[i].timer,
		    (uint64_t)(random() % 1000)), 0);
	}
	check_invariants();
	assert_int_equal(owner(timer_heap_peek(&heap))->timer.due,
	    heap.v[0]->due);
	while ((e = timer_heap_pop_due(&heap, 1000)) != NULL) {
		assert_true(e->due >= last);
		last = e->due;
		n++;
	}
	assert_int_equal(n, NITEMS);
	assert_int_equal(timer_heap_count(&heap), 0);
}

/* An entry freed early leaves from wherever it sits. */
static void
test_removing_entries_anywhere_keeps_the_others_in_order(void **state)
{
	struct timer_heap_entry *e;
	uint64_t last = 0;
	int i, left = NITEMS;

	(void)state;
	for (i = 0; i < NITEMS; i++) {
		assert_int_equal(timer_heap_set(&heap, &items[i].timer,
		    (uint64_t)(random() % 5000)), 0);
	}
	for (i = 0; i < NITEMS; i += 3) {
		timer_heap_remove(&heap, &items[i].timer);
		assert_false(timer_heap_armed(&items[i].timer));
		left--;
		check_invariants();
	}
	/* Removing what is not there changes nothing. */
	timer_heap_remove(&heap, &items[0].timer);
	assert_int_equal(timer_heap_count(&heap), left);
	while ((e = timer_heap_pop_due(&heap, UINT64_MAX)) != NULL) {
		assert_true(owner(e)->id % 3 != 0);
		assert_true(e->due >= last);
		last = e->due;
		left--;
	}
	assert_int_equal(left, 0);
}

static void
test_rearming_moves_an_entry_earlier_or_later(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 10; i++) {
		assert_int_equal(timer_heap_set(&heap, &items[i].timer,
		    (uint64_t)(100 + i)), 0);
	}
	/* Later: the last to come out; earlier: the first. */
	assert_int_equal(timer_heap_set(&heap, &items[0].timer, 500), 0);
	assert_int_equal(timer_heap_set(&heap, &items[9].timer, 5), 0);
	check_invariants();
	assert_int_equal(timer_heap_count(&heap), 10);
	assert_ptr_equal(owner(timer_heap_pop_due(&heap, 1000)), &items[9]);
	for (i = 1; i < 9; i++) {
		assert_ptr_equal(owner(timer_heap_pop_due(&heap, 1000)),
		    &items[i]);
	}
	assert_ptr_equal(owner(timer_heap_pop_due(&heap, 1000)), &items[0]);
}

/* Random sets, moves, removals and pops against a plain array. */
static void
test_random_operations_match_a_linear_scan(void **state)
{
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		struct item *it = &items[random() % NITEMS];
		struct timer_heap_entry *e;
		uint64_t now, min = UINT64_MAX;
		int i;

		switch (random() % 4) {
		case 0:
		case 1:
			assert_int_equal(timer_heap_set(&heap, &it->timer,
			    (uint64_t)(random() % 100000)), 0);
			break;
		case 2:
			timer_heap_remove(&heap, &it->timer);
			break;
		default:
			now = (uint64_t)(random() % 100000);
			for (i = 0; i < NITEMS; i++) {
				if (timer_heap_armed(&items[i].timer) &&
				    items[i].timer.due < min) {
					min = items[i].timer.due;
				}
			}
			e = timer_heap_pop_due(&heap, now);
			if (min > now) {
				assert_null(e);
			} else {
				assert_non_null(e);
				assert_int_equal(e->due, min);
			}
		}
		if (round % 500 == 0) {
			check_invariants();
		}
	}
	check_invariants();
}

static void
test_a_zeroed_entry_is_not_armed_and_clear_disarms_all(void **state)
{
	struct item fresh;

	(void)state;
	memset(&fresh, 0, sizeof(fresh));
	assert_false(timer_heap_armed(&fresh.timer));
	timer_heap_remove(&heap, &fresh.timer);
	assert_int_equal(timer_heap_count(&heap), 0);
	assert_null(timer_heap_peek(&heap));
	assert_int_equal(timer_heap_set(&heap, &items[0].timer, 1), 0);
	assert_int_equal(timer_heap_set(&heap, &items[1].timer, 2), 0);
	timer_heap_clear(&heap);
	assert_false(timer_heap_armed(&items[0].timer));
	assert_false(timer_heap_armed(&items[1].timer));
	assert_null(timer_heap_pop_due(&heap, UINT64_MAX));
	/* Usable again after clear. */
	assert_int_equal(timer_heap_set(&heap, &items[0].timer, 1), 0);
	assert_int_equal(timer_heap_count(&heap), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pop_due_returns_only_entries_whose_time_has_come),
		T(test_entries_come_out_in_due_order),
		T(test_removing_entries_anywhere_keeps_the_others_in_order),
		T(test_rearming_moves_an_entry_earlier_or_later),
		T(test_random_operations_match_a_linear_scan),
		T(test_a_zeroed_entry_is_not_armed_and_clear_disarms_all),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
