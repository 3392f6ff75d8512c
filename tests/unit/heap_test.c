/*
 * heap_test.c -- heap_release() hands free pages back to the kernel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <valgrind/valgrind.h>

#include "epsip/heap.h"
#include "skip_reason.h"

#define BLOCKS		20000
#define BLOCK_SIZE	1024	/* small: served from the arena, not mmap */

/* This process's anonymous resident memory, KiB, or -1. */
static long
rss_anon_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL) {
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1) {
			break;
		}
	}
	fclose(f);
	return (kib);
}

/*
 * 20 MB of small blocks freed below one still in use: glibc cannot give
 * them back by trimming the top of the heap, so they stay resident until
 * heap_release() -- what a service's arenas look like after a burst.
 */
static void
test_heap_release_returns_freed_pages_below_a_live_block(void **state)
{
	static char *blocks[BLOCKS];
	char *pin;
	long before, after;
	int i;

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip_because("ASan's allocator keeps freed memory in quarantine; "
	    "the plain and valgrind-free runs check this");
#endif
	if (RUNNING_ON_VALGRIND) {
		skip_because("valgrind replaces malloc: glibc's arenas, which "
		    "heap_release() trims, are not used");
	}
	for (i = 0; i < BLOCKS; i++) {
		assert_non_null(blocks[i] = malloc(BLOCK_SIZE));
		memset(blocks[i], 0x5a, BLOCK_SIZE);
	}
	assert_non_null(pin = malloc(BLOCK_SIZE));
	memset(pin, 0x5a, BLOCK_SIZE);
	for (i = 0; i < BLOCKS; i++) {
		free(blocks[i]);
	}
	before = rss_anon_kib();
	heap_release();
	after = rss_anon_kib();
	free(pin);
	assert_true(before > 0 && after > 0);
	print_message("RssAnon %ld -> %ld KiB\n", before, after);
	/* At least three quarters of the 20 MB freed went back. */
	assert_true(before - after >= (long)BLOCKS * BLOCK_SIZE / 1024 * 3 / 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_heap_release_returns_freed_pages_below_a_live_block),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
