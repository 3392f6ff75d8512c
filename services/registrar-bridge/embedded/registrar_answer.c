/*
 * registrar_answer.c -- the registrar's responses as bytes (see
 * registrar_answer.h).
 *
 * DIAGNOSTICS: none; every failure is -1 to the caller.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/sip_scan.h"
#include "epsip/sip_util.h"

#include "../rb_sip.h"
#include "registrar_answer.h"

static int
grow(struct answer_headers *h)
{
	struct sip_reply_header *v;
	char **owned;
	size_t cap;

	if (h->n < h->cap) {
		return (0);
	}
	cap = h->cap == 0 ? 8 : h->cap * 2;
	if ((v = reallocarray(h->v, cap, sizeof(*v))) == NULL) {
		return (-1);
	}
	h->v = v;
	if ((owned = reallocarray(h->owned, cap, sizeof(*owned))) == NULL) {
		return (-1);
	}
	h->owned = owned;
	h->cap = cap;
	return (0);
}

static void
add(struct answer_headers *h, const char *name, const char *value,
    char *owned)
{
	if (h->failed || value == NULL || grow(h) != 0) {
		h->failed = 1;
		free(owned);
		return;
	}
	h->v[h->n].name = name;
	h->v[h->n].value = value;
	h->owned[h->n] = owned;
	h->n++;
}

void
answer_header_add(struct answer_headers *h, const char *name,
    const char *value)
{
	add(h, name, value, NULL);
}

void
answer_header_addf(struct answer_headers *h, const char *name,
    const char *fmt, ...)
{
	va_list ap;
	char *value;

	va_start(ap, fmt);
	if (vasprintf(&value, fmt, ap) < 0) {
		value = NULL;
	}
	va_end(ap);
	add(h, name, value, value);
}

void
answer_headers_clear(struct answer_headers *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		free(h->owned[i]);
	}
	free(h->v);
	free(h->owned);
	memset(h, 0, sizeof(*h));
}

int
answer_build(const osip_message_t *req, int status, const char *reason,
    const struct answer_headers *h, struct registrar_answer *out)
{
	/*
	 * On the stack (~14 KiB; the router's is too): a malloc this large
	 * per answer made glibc consolidate its fast bins every time.
	 */
	struct sip_scan s;
	const char *bytes;
	char *printed = NULL;
	size_t len;
	int rv = -1;

	memset(out, 0, sizeof(*out));
	if (h != NULL && h->failed) {
		return (-1);
	}
	/* A request built in code (tests) has no bytes: print it once. */
	if ((bytes = rb_bytes(req, &len)) == NULL) {
		if (sip_serialize((osip_message_t *)(uintptr_t)req, &printed,
		    &len) != 0) {
			return (-1);
		}
		bytes = printed;
	}
	if (sip_scan(bytes, len, &s) == 0 && sip_reply_from_request(&s,
	    status, reason, h != NULL ? h->v : NULL, h != NULL ? h->n : 0,
	    &out->wire, &out->len) == 0) {
		out->status = status;
		rv = 0;
	}
	free(printed);
	return (rv);
}

void
registrar_answer_clear(struct registrar_answer *a)
{
	free(a->wire);
	memset(a, 0, sizeof(*a));
}
