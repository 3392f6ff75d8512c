/*
 * doc_splice.h -- documents with a part generated from a table in the
 * code: the counters of docs/operations.md (metrics.def), the keys of
 * man/epsip.conf.5 (config.c).
 *
 * The generated part sits between two marker lines; a `make docs-*`
 * target rewrites it (tools/), and a unit test fails while the file holds
 * anything else.  Only those link this code: no daemon does.
 */
#ifndef EPSIP_DOC_SPLICE_H
#define EPSIP_DOC_SPLICE_H

#include <stddef.h>

/* What a generator puts in a document: malloc'ed, or NULL with a reason. */
typedef char *(*doc_splice_fn)(const char *doc, char *err, size_t errcap);

/* The whole file at `path` (malloc'ed, NUL-terminated), or NULL (errno). */
char *doc_read_file(const char *path);

/*
 * `doc` with what lies between the line `begin` and the line `end`
 * replaced by `body` (malloc'ed), or NULL with a reason in err when a
 * marker line is missing.
 */
char *doc_splice(const char *doc, const char *begin, const char *end,
    const char *body, char *err, size_t errcap);

/*
 * The same with the body made by `generate` (malloc'ed text, or NULL when
 * out of memory), freed here.
 */
char *doc_splice_generated(const char *doc, const char *begin,
    const char *end, char *(*generate)(void), char *err, size_t errcap);

/*
 * A generator's main(): rewrite the file at `path` with splice(its text)
 * when they differ, and say which on stdout.  Returns the exit status.
 */
int doc_rewrite(const char *path, doc_splice_fn splice);

#endif /* EPSIP_DOC_SPLICE_H */
