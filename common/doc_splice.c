/*
 * doc_splice.c -- replace the generated part of a document (see
 * doc_splice.h).
 * DIAGNOSTICS: returned; doc_rewrite() prints its own and returns 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/doc_splice.h"

char *
doc_read_file(const char *path)
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

/*
 * The start of the line after the first line equal to `line`, or NULL;
 * the line itself in *at.
 */
static const char *
after_line(const char *doc, const char *line, const char **at)
{
	size_t n = strlen(line);
	const char *p = doc;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == doc || p[-1] == '\n') && p[n] == '\n') {
			*at = p;
			return (p + n + 1);
		}
		p += n;
	}
	return (NULL);
}

char *
doc_splice(const char *doc, const char *begin, const char *end,
    const char *body, char *err, size_t errcap)
{
	const char *inside, *begin_at, *end_at;
	size_t head, blen, tail;
	char *out;

	if ((inside = after_line(doc, begin, &begin_at)) == NULL ||
	    after_line(inside, end, &end_at) == NULL) {
		snprintf(err, errcap, "no line \"%s\" followed by a line "
		    "\"%s\"", begin, end);
		return (NULL);
	}
	/* The end marker stays, and what follows it. */
	head = (size_t)(inside - doc);
	blen = strlen(body);
	tail = strlen(end_at);
	if ((out = malloc(head + blen + tail + 1)) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	memcpy(out, doc, head);
	memcpy(out + head, body, blen);
	memcpy(out + head + blen, end_at, tail + 1);
	return (out);
}

int
doc_rewrite(const char *path, doc_splice_fn splice)
{
	char err[256], *doc, *out;
	FILE *f;
	int rv;

	if ((doc = doc_read_file(path)) == NULL) {
		perror(path);
		return (1);
	}
	if ((out = splice(doc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		free(doc);
		return (1);
	}
	rv = 0;
	if (strcmp(doc, out) == 0) {
		printf("%s: up to date\n", path);
	} else if ((f = fopen(path, "w")) == NULL ||
	    fputs(out, f) == EOF || fclose(f) != 0) {
		perror(path);
		rv = 1;
	} else {
		printf("%s: written\n", path);
	}
	free(out);
	free(doc);
	return (rv);
}

char *
doc_splice_generated(const char *doc, const char *begin, const char *end,
    char *(*generate)(void), char *err, size_t errcap)
{
	char *body, *out;

	if ((body = generate()) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	out = doc_splice(doc, begin, end, body, err, errcap);
	free(body);
	return (out);
}
