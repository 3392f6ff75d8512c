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
#include <stdlib.h>
#include <string.h>

#include "epsip/metrics.h"

static char *
slurp(const char *path)
{
	char *text = NULL;
	size_t len = 0, n;
	char buf[8192];
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		return (NULL);
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		char *more = realloc(text, len + n + 1);

		if (more == NULL) {
			free(text);
			fclose(f);
			return (NULL);
		}
		text = more;
		memcpy(text + len, buf, n);
		len += n;
		text[len] = '\0';
	}
	if (ferror(f) || text == NULL) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return (text);
}

int
main(int argc, char **argv)
{
	char err[256], *doc, *out;
	FILE *f;
	int rv;

	if (argc != 2) {
		fprintf(stderr, "usage: metrics-doc FILE\n");
		return (1);
	}
	if ((doc = slurp(argv[1])) == NULL) {
		perror(argv[1]);
		return (1);
	}
	if ((out = metric_doc_splice(doc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", argv[1], err);
		free(doc);
		return (1);
	}
	rv = 0;
	if (strcmp(doc, out) == 0) {
		printf("%s: table up to date\n", argv[1]);
	} else if ((f = fopen(argv[1], "w")) == NULL ||
	    fputs(out, f) == EOF || fclose(f) != 0) {
		perror(argv[1]);
		rv = 1;
	} else {
		printf("%s: table written\n", argv[1]);
	}
	free(out);
	free(doc);
	return (rv);
}
