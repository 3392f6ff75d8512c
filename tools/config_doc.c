/*
 * config_doc.c -- `make docs-config`: write the list of keys in
 * man/epsip.conf.5 from the configuration table in common/config.c.
 *
 * usage: config-doc FILE
 * Rewrites FILE when the list between its marker lines differs; the
 * config unit test fails until it has.
 * DIAGNOSTICS: exits 1 with a reason when FILE cannot be read or written
 * or has no markers.
 */
#include <stdio.h>

#include "epsip/config_doc.h"
#include "epsip/doc_splice.h"

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: config-doc FILE\n");
		return (1);
	}
	return (doc_rewrite(argv[1], config_doc_splice));
}
