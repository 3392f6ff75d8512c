/*
 * salvage.c -- answer requests that libosip2 refuses to parse.
 *
 * libosip2 rejects a whole message for a Request-URI with an unknown
 * scheme or for a duplicated Call-ID, yet RFC 3261 wants a 416 or a 400
 * for those (SP-03, ER-02), which needs the Vias, From, To, Call-ID and
 * CSeq.  We rebuild a minimal request from just those header lines (first
 * of each single-value one) with a placeholder Request-URI, parse that,
 * and answer from it.  Anything that still does not parse is dropped.
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

/*
 * Rebuild and parse.  Returns 0 with *msg and *status (416 or 400), or -1
 * when nothing answerable is left (a response, or no Via).
 */
int
salvage_request(const char *buf, size_t len, osip_message_t **msg,
    int *status)
{
	struct salvage_buf *b;
	const char *p = buf, *end = buf + len, *sp1, *sp2, *eol;
	int seen_f = 0, seen_t = 0, seen_i = 0, seen_c = 0, vias = 0, rv;

	if ((eol = memchr(buf, '\n', len)) == NULL ||
	    (sp1 = memchr(buf, ' ', (size_t)(eol - buf))) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1))) == NULL ||
	    strncmp(buf, "SIP/", 4) == 0 || sp1 == buf) {
		return (-1);
	}
	for (const char *m = buf; m < sp1; m++) {
		if (!isupper((unsigned char)*m) && *m != '-') {
			return (-1);
		}
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		return (-1);
	}
	*status = scheme_is_sip(sp1 + 1, (size_t)(sp2 - sp1 - 1)) ? 400 : 416;
	salvage_append(b, buf, (size_t)(sp1 - buf));
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
