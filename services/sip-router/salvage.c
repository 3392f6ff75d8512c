/*
 * salvage.c -- answer requests that libosip2 refuses to parse.
 *
 * libosip2 rejects a whole message for a Request-URI with an unknown
 * scheme or for a duplicated Call-ID, yet RFC 3261 wants a 416 or a 400
 * for those (SP-03, ER-02), which needs the Vias, From, To, Call-ID and
 * CSeq.  We rebuild a minimal request from just those header lines (first
 * of each single-value one) with a placeholder Request-URI, parse that,
 * and answer from it.  Anything that still does not parse is dropped.
 *
 * The start line is judged first, so the answer names what is wrong with
 * it (issue 12 §5): whitespace before the method or inside the
 * Request-URI, a method that is no token, another SIP version (505).
 * A message whose start line is fine failed on a header instead.
 * DIAGNOSTICS: none.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "epsip/sip_util.h"
#include "router.h"

#define SALVAGE_MAX	8192

struct salvage_buf {
	char text[SALVAGE_MAX];
	size_t len;
	int overflow;
};

static void
salvage_append(struct salvage_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > sizeof(b->text)) {
		b->overflow = 1;
		return;
	}
	memcpy(b->text + b->len, s, n);
	b->len += n;
	b->text[b->len] = '\0';
}

/* Which kind of header line this is: 'v'ia, single 'f','t','i','c', or 0. */
static char
salvage_kind(const char *line, size_t nlen)
{
	static const struct {
		const char *name;
		char kind;
	} names[] = {
		{ "via", 'v' }, { "v", 'v' }, { "from", 'f' }, { "f", 'f' },
		{ "to", 't' }, { "t", 't' }, { "call-id", 'i' }, { "i", 'i' },
		{ "cseq", 'c' },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == nlen &&
		    strncasecmp(line, names[i].name, nlen) == 0) {
			return (names[i].kind);
		}
	}
	return (0);
}

static int
scheme_is_sip(const char *uri, size_t len)
{
	const char *colon = memchr(uri, ':', len);
	size_t n = colon ? (size_t)(colon - uri) : 0;

	return ((n == 3 && strncasecmp(uri, "sip", 3) == 0) ||
	    (n == 4 && strncasecmp(uri, "sips", 4) == 0) ||
	    (n == 3 && strncasecmp(uri, "tel", 3) == 0));
}

/* "CSeq: N OPTIONS": the number of the value at p[0..end), if any. */
static void
salvage_cseq(struct salvage_buf *b, const char *p, const char *end)
{
	const char *num;

	while (p < end && (*p == ' ' || *p == '\t')) {
		p++;
	}
	num = p;
	while (p < end && isdigit((unsigned char)*p)) {
		p++;
	}
	salvage_append(b, "CSeq: ", 6);
	salvage_append(b, num, (size_t)(p - num));
	salvage_append(b, " OPTIONS\r\n", 10);
}

/*
 * What is wrong with the start line line[0..n) (no CR LF), in *status
 * and *reason; 0 when nothing is (the request failed on a header).  The
 * method to answer for is at *method, *method_len.  -1: no request at
 * all (a response, or no method to be found).
 */
static int
salvage_start_line(const char *line, size_t n, const char **method,
    size_t *method_len, struct salvage_verdict *v)
{
	const char *p = line, *end = line + n, *word[4];
	size_t len[4], words = 0;

	v->status = 400;
	v->reason = NULL;
	while (p < end && (*p == ' ' || *p == '\t')) {
		p++;
	}
	if (p != line) {
		v->reason = "Leading Whitespace Before Method";
	}
	if (end - p >= 4 && strncmp(p, "SIP/", 4) == 0) {
		return (-1);			/* a response */
	}
	while (p < end && words < 4) {
		word[words] = p;
		while (p < end && *p != ' ' && *p != '\t') {
			p++;
		}
		len[words] = (size_t)(p - word[words]);
		words++;
		while (p < end && (*p == ' ' || *p == '\t')) {
			p++;
		}
	}
	if (words < 3) {
		return (-1);
	}
	*method = word[0];
	*method_len = len[0];
	for (size_t i = 0; i < len[0]; i++) {
		/* A bad byte in the method: libosip2 took it (proxy.c
		 * answers those); here it is one of many, so OPTIONS
		 * stands in and the CSeq line is rebuilt to match. */
		if ((unsigned char)word[0][i] <= ' ' ||
		    (unsigned char)word[0][i] >= 0x7f) {
			*method = "OPTIONS";
			*method_len = 7;
			if (v->reason == NULL) {
				v->reason = "Method Is Not A Token";
			}
			return (1);
		}
	}
	if (v->reason != NULL) {
		return (1);
	}
	if (words > 3 || p < end) {
		v->reason = "Whitespace In Request-URI";
		return (1);
	}
	if (len[2] != 7 || strncasecmp(word[2], "SIP/2.0", 7) != 0) {
		if (len[2] >= 4 && strncasecmp(word[2], "SIP/", 4) == 0) {
			v->status = 505;
			v->reason = "Version Not Supported";
		} else {
			v->reason = "Malformed Request-Line";
		}
		return (1);
	}
	if (!scheme_is_sip(word[1], len[1])) {
		v->status = 416;	/* SP-03 */
		return (1);
	}
	return (0);
}

/*
 * Rebuild and parse.  Returns 0 with *msg and *v, or -1 when nothing
 * answerable is left (a response, no Via, no method).
 */
int
salvage_request(const char *buf, size_t len, osip_message_t **msg,
    struct salvage_verdict *v)
{
	struct salvage_buf *b;
	const char *p = buf, *end = buf + len, *eol, *method;
	size_t line_len, method_len;
	int seen_f = 0, seen_t = 0, seen_i = 0, seen_c = 0, vias = 0, rv;

	if ((eol = memchr(buf, '\n', len)) == NULL) {
		return (-1);
	}
	line_len = (size_t)(eol - buf);
	if (line_len > 0 && buf[line_len - 1] == '\r') {
		line_len--;
	}
	if ((rv = salvage_start_line(buf, line_len, &method, &method_len,
	    v)) == -1) {
		return (-1);
	}
	v->start_line_ok = rv == 0;
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		return (-1);
	}
	salvage_append(b, method, method_len);
	salvage_append(b, " sip:invalid.invalid SIP/2.0\r\n", 30);
	for (p = eol + 1; p < end; p = eol + 1) {
		const char *colon;
		char kind;

		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			break;
		}
		if (eol == p || (eol - p == 1 && *p == '\r')) {
			break;			/* end of headers */
		}
		if ((colon = memchr(p, ':', (size_t)(eol - p))) == NULL) {
			continue;
		}
		kind = salvage_kind(p, (size_t)(colon - p));
		while (kind != 0 && colon > p && isspace((unsigned char)
		    colon[-1])) {
			colon--;
		}
		kind = salvage_kind(p, (size_t)(colon - p));
		if (kind == 0 || (kind == 'f' && seen_f++) ||
		    (kind == 't' && seen_t++) || (kind == 'i' && seen_i++) ||
		    (kind == 'c' && seen_c++)) {
			continue;
		}
		vias += kind == 'v';
		if (kind == 'c' && method_len == 7 &&
		    strncmp(method, "OPTIONS", 7) == 0 && method != buf &&
		    !v->start_line_ok) {
			/* The method was no token: its CSeq would not parse
			 * either; the reply copies the request's own line. */
			salvage_cseq(b, colon + 1, eol);
			continue;
		}
		salvage_append(b, p, (size_t)(eol - p) + 1);
	}
	salvage_append(b, "Content-Length: 0\r\n\r\n", 21);
	rv = -1;
	if (vias > 0 && !b->overflow && sip_parse(b->text, b->len, msg) == 0) {
		rv = 0;
	}
	free(b);
	return (rv);
}
