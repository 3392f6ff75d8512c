/*
 * metrics_doc.c -- `make docs-metrics`: write the table of counters in
 * docs/operations.md from include/epsip/metrics.def.
 *
 * usage: metrics-doc FILE
 * Rewrites FILE when the table between its marker lines differs; the
 * metrics unit test fails until it has.
 * DIAGNOSTICS: exits 1 with a reason when FILE cannot be read or written
 * or has no markers.
 */
#include <stdio.h>

#include "epsip/doc_splice.h"
#include "epsip/metrics.h"

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: metrics-doc FILE\n");
		return (1);
	}
	return (doc_rewrite(argv[1], metric_doc_splice));
}
