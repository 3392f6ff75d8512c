/*
 * timer_heap.c -- a binary min-heap of intrusive entries (see
 * timer_heap.h).
 *
 * The array holds pointers to the entries, and every entry keeps its own
 * position (slot = index + 1), updated whenever it moves: that is what
 * makes removing an arbitrary entry O(log n) -- swap the last one into
 * its place and let that one sift up or down.  The array only grows (by
 * doubling); a heap that once held a burst keeps its memory, which is
 * what a steady load wants.
 */
#include <stdlib.h>

#include "epsip/timer_heap.h"

#define TIMER_HEAP_MIN_CAP	64

void
timer_heap_init(struct timer_heap *h)
{
	h->v = NULL;
	h->count = 0;
	h->cap = 0;
}

void
timer_heap_clear(struct timer_heap *h)
{
	size_t i;

	for (i = 0; i < h->count; i++) {
		h->v[i]->slot = 0;
	}
	free(h->v);
	timer_heap_init(h);
}

size_t
timer_heap_count(const struct timer_heap *h)
{
	return (h->count);
}

int
timer_heap_armed(const struct timer_heap_entry *e)
{
	return (e->slot != 0);
}

static void
place(struct timer_heap *h, size_t i, struct timer_heap_entry *e)
{
	h->v[i] = e;
	e->slot = i + 1;
}

/* Move the entry at `i` towards the root while it is earlier. */
static void
sift_up(struct timer_heap *h, size_t i)
{
	struct timer_heap_entry *e = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->v[parent]->due <= e->due) {
			break;
		}
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, e);
}

/* Move the entry at `i` towards the leaves while a child is earlier. */
static void
sift_down(struct timer_heap *h, size_t i)
{
	struct timer_heap_entry *e = h->v[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->count) {
			break;
		}
		if (child + 1 < h->count &&
		    h->v[child + 1]->due < h->v[child]->due) {
			child++;
		}
		if (e->due <= h->v[child]->due) {
			break;
		}
		place(h, i, h->v[child]);
		i = child;
	}
	place(h, i, e);
}

/* After the entry at `i` changed its due time, restore the order. */
static void
reorder(struct timer_heap *h, size_t i)
{
	if (i > 0 && h->v[(i - 1) / 2]->due > h->v[i]->due) {
		sift_up(h, i);
	} else {
		sift_down(h, i);
	}
}

static int
grow(struct timer_heap *h)
{
	struct timer_heap_entry **v;
	size_t cap;

	cap = h->cap == 0 ? TIMER_HEAP_MIN_CAP : h->cap * 2;
	if ((v = reallocarray(h->v, cap, sizeof(*v))) == NULL) {
		return (-1);
	}
	h->v = v;
	h->cap = cap;
	return (0);
}

int
timer_heap_set(struct timer_heap *h, struct timer_heap_entry *e,
    uint64_t due)
{
	e->due = due;
	if (e->slot != 0) {
		reorder(h, e->slot - 1);
		return (0);
	}
	if (h->count == h->cap && grow(h) != 0) {
		return (-1);
	}
	place(h, h->count++, e);
	sift_up(h, h->count - 1);
	return (0);
}

void
timer_heap_remove(struct timer_heap *h, struct timer_heap_entry *e)
{
	size_t i;

	if (e->slot == 0) {
		return;
	}
	i = e->slot - 1;
	e->slot = 0;
	if (--h->count == i) {
		return;		/* it was the last one */
	}
	place(h, i, h->v[h->count]);
	reorder(h, i);
}

struct timer_heap_entry *
timer_heap_peek(const struct timer_heap *h)
{
	return (h->count > 0 ? h->v[0] : NULL);
}

struct timer_heap_entry *
timer_heap_pop_due(struct timer_heap *h, uint64_t now)
{
	struct timer_heap_entry *e;

	if (h->count == 0 || h->v[0]->due > now) {
		return (NULL);
	}
	e = h->v[0];
	timer_heap_remove(h, e);
	return (e);
}
