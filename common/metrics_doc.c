/*
 * metrics_doc.c -- the counters table of docs/operations.md, written from
 * the registry.
 *
 * `make docs-metrics` (tools/metrics_doc.c) puts it in the file; the
 * metrics unit test fails while the file holds another.  Only those two
 * link this file: no daemon does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/doc_splice.h"
#include "epsip/metrics.h"

static const char *
kind_name(enum metric_kind kind)
{
	switch (kind) {
	case METRIC_COUNTER:
		return ("counter");
	case METRIC_GAUGE:
		return ("gauge");
	case METRIC_RATIO:
		return ("gauge (a share)");
	}
	return ("?");
}

/* " — method: `INVITE`, `ACK`, ... or `other`" */
static void
doc_labels(FILE *f, enum metric_family fam)
{
	const struct metric_desc *d = &metric_families[fam];
	unsigned i, n = metric_family_size(fam);

	fprintf(f, " — %s: ", d->label);
	if (n == 1 + METRIC_CODE_MAX - METRIC_CODE_MIN + 1) {
		fprintf(f, "`%d` to `%d`", METRIC_CODE_MIN, METRIC_CODE_MAX);
	} else {
		for (i = 1; i < n; i++) {
			fprintf(f, "%s`%s`", i > 1 ? ", " : "",
			    metric_label_value(d->first + i));
		}
	}
	fputs(" or `other`", f);
}

char *
metric_doc_table(void)
{
	const struct metric_desc *d;
	char *text = NULL;
	size_t len;
	unsigned fam;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL) {
		return (NULL);
	}
	fputs("| counter (/stats) | metric (/metrics) | type | from | "
	    "meaning |\n|---|---|---|---|---|\n", f);
	for (fam = 0; fam < MF_COUNT; fam++) {
		d = &metric_families[fam];
		if (d->label != NULL) {
			fprintf(f, "| `%s.<%s>` | `%s{%s}` |", d->name,
			    d->label, d->prometheus, d->label);
		} else {
			fprintf(f, "| `%s`%s | `%s` |", d->name,
			    d->field ? " (report field)" : "", d->prometheus);
		}
		fprintf(f, " %s, %s | %s | %s", kind_name(d->kind), d->unit,
		    d->from, d->help);
		if (d->label != NULL) {
			doc_labels(f, fam);
		}
		fputs(" |\n", f);
	}
	if (fclose(f) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}

char *
metric_doc_splice(const char *doc, char *err, size_t errcap)
{
	return (doc_splice_generated(doc, METRIC_DOC_BEGIN, METRIC_DOC_END,
	    metric_doc_table, err, errcap));
}
