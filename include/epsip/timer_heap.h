/*
 * timer_heap.h -- a binary min-heap of deadlines, for timers by the
 * hundred thousand.
 *
 * A periodic tick that walks every transaction costs O(n) each time even
 * when nothing is due; at 10,000 REGISTER/s with Timer J lingering 32 s
 * that is 320,000 entries per tick.  With the entries ordered by due time
 * the tick looks only at what is due: timer_heap_pop_due() is O(log n)
 * per entry it returns and O(1) when nothing is due.
 *
 * The heap is intrusive: the owner embeds a `struct timer_heap_entry` and
 * gets back from it with TIMER_HEAP_OWNER().  The entry remembers its
 * place in the heap, so moving it (a timer re-armed) or removing it (its
 * owner freed early) is O(log n) without a search.  A zeroed entry is
 * not in any heap.  Inserting may allocate; moving and removing never do.
 */
#ifndef EPSIP_TIMER_HEAP_H
#define EPSIP_TIMER_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct timer_heap_entry {
	uint64_t due;		/* monotonic ms */
	size_t slot;		/* 1 + index in the heap; 0: not in it */
};

struct timer_heap {
	struct timer_heap_entry **v;
	size_t count;
	size_t cap;
};

#define TIMER_HEAP_OWNER(entry, type, member) \
	((type *)(void *)((char *)(entry) - offsetof(type, member)))

/* An empty heap (a zeroed struct is one too). */
void timer_heap_init(struct timer_heap *h);
/* Forget every entry and free the array; the entries are not touched. */
void timer_heap_clear(struct timer_heap *h);

/*
 * Arm `e` for `due`: insert it, or move it if it is in the heap already.
 * 0, or -1 when inserting needed memory that was not there (then `e` is
 * left out).  Moving never fails.
 */
int timer_heap_set(struct timer_heap *h, struct timer_heap_entry *e,
    uint64_t due);
/* Take `e` out; nothing when it is not in the heap. */
void timer_heap_remove(struct timer_heap *h, struct timer_heap_entry *e);
/* 1 if `e` is in a heap. */
int timer_heap_armed(const struct timer_heap_entry *e);

/* The earliest entry, or NULL when empty; stays in the heap. */
struct timer_heap_entry *timer_heap_peek(const struct timer_heap *h);
/*
 * The earliest entry whose time has come (due <= now), taken out of the
 * heap; NULL when none is due.  Entries due at the same time come out in
 * no particular order.
 */
struct timer_heap_entry *timer_heap_pop_due(struct timer_heap *h,
    uint64_t now);

size_t timer_heap_count(const struct timer_heap *h);

#endif /* EPSIP_TIMER_HEAP_H */
