/*
 * heap.c -- give the allocator's free pages back to the kernel.
 *
 * Why: under a steady load a service's live heap is flat, yet its RSS
 * crept for half an hour.  In the 50,000-flow soak heaptrack saw the
 * registrar-bridge's live heap hold at 13.5 MB for 16 minutes and the
 * sip-router's at 1.9 MB with nothing leaked, while their RSS grew 22 %
 * and 12 % (docs/performance.md, "The soak").  The rest is free memory
 * the allocator keeps: nng's threads allocate the messages the loop
 * frees, so glibc keeps free pages in several arenas, and mimalloc in
 * its segments.  malloc_trim() returns whole free pages of every glibc
 * arena; mi_collect(true) frees mimalloc's empty pages and segments.
 */
#include <malloc.h>
#include <stdbool.h>

#include "epsip/heap.h"

/*
 * Only the registrar-bridge links mimalloc (Makefile, MALLOC_*): a weak
 * reference finds it there and is NULL in the others, so the one common
 * library serves both allocators.
 */
extern void mi_collect(bool force) __attribute__((weak));

void
heap_release(void)
{
	if (mi_collect != NULL) {
		mi_collect(true);
	} else {
		(void)malloc_trim(0);
	}
}
