/*
 * heap.h -- give the allocator's free pages back to the kernel.
 */
#ifndef EPSIP_HEAP_H
#define EPSIP_HEAP_H

/*
 * Returns the pages the allocator holds free to the kernel: mimalloc's
 * when the executable links it, glibc's arenas otherwise.  Live memory is
 * not touched.  Costs a walk of the free lists; meant for every few
 * seconds, not every message.
 */
void	heap_release(void);

#endif
