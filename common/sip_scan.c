/*
 * sip_scan.c -- header-line boundaries of a SIP message (see sip_scan.h).
 *
 * One pass over the head, no allocation, no copy: the scan only records
 * offsets.  It is deliberately looser than libosip2 (which still parses
 * every value the router decides on) and stricter only where an edit
 * could otherwise land in the wrong place: a header line without a colon.
 * DIAGNOSTICS: none; -1 on what it cannot delimit.
 */
#include <string.h>
#include <strings.h>

#include "epsip/sip_scan.h"

static const struct {
	const char *name;
	size_t len;
	char compact;
	enum sip_hdr_id id;
} sip_names[] = {
	{ "Via", 3, 'v', SIP_HDR_VIA },
	{ "Route", 5, 0, SIP_HDR_ROUTE },
	{ "Record-Route", 12, 0, SIP_HDR_RECORD_ROUTE },
	{ "Path", 4, 0, SIP_HDR_PATH },
	{ "Max-Forwards", 12, 0, SIP_HDR_MAX_FORWARDS },
	{ "From", 4, 'f', SIP_HDR_FROM },
	{ "To", 2, 't', SIP_HDR_TO },
	{ "Call-ID", 7, 'i', SIP_HDR_CALL_ID },
	{ "CSeq", 4, 0, SIP_HDR_CSEQ },
	{ "Contact", 7, 'm', SIP_HDR_CONTACT },
	{ "Content-Length", 14, 'l', SIP_HDR_CONTENT_LENGTH },
	{ "Content-Type", 12, 'c', SIP_HDR_CONTENT_TYPE },
	{ "Require", 7, 0, SIP_HDR_REQUIRE },
	{ "Proxy-Require", 13, 0, SIP_HDR_PROXY_REQUIRE },
	{ "Supported", 9, 'k', SIP_HDR_SUPPORTED },
	{ "Flow-Timer", 10, 0, SIP_HDR_FLOW_TIMER },
	/* Compact forms of headers nobody here reads: still not "other". */
	{ "Accept-Contact", 14, 'a', SIP_HDR_OTHER }, /* RFC 3841 */
	{ "Referred-By", 11, 'b', SIP_HDR_OTHER }, /* RFC 3892 */
	{ "Request-Disposition", 19, 'd', SIP_HDR_OTHER }, /* RFC 3841 */
	{ "Content-Encoding", 16, 'e', SIP_HDR_OTHER },
	{ "Reject-Contact", 14, 'j', SIP_HDR_OTHER }, /* RFC 3841 */
	{ "Identity-Info", 13, 'n', SIP_HDR_OTHER }, /* RFC 4474 */
	{ "Event", 5, 'o', SIP_HDR_OTHER }, /* RFC 3265 */
	{ "Refer-To", 8, 'r', SIP_HDR_OTHER }, /* RFC 3515 */
	{ "Subject", 7, 's', SIP_HDR_OTHER },
	{ "Allow-Events", 12, 'u', SIP_HDR_OTHER }, /* RFC 3265 */
	{ "Session-Expires", 15, 'x', SIP_HDR_OTHER }, /* RFC 4028 */
	{ "Identity", 8, 'y', SIP_HDR_OTHER }, /* RFC 4474 */
};
#define SIP_NNAMES	(sizeof(sip_names) / sizeof(sip_names[0]))

static int
is_lws(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
}

enum sip_hdr_id
sip_header_id(const char *name, size_t len)
{
	for (size_t i = 0; i < SIP_NNAMES; i++) {
		if (len == 1 ? lower(*name) == sip_names[i].compact :
		    len == sip_names[i].len &&
		    strncasecmp(name, sip_names[i].name, len) == 0) {
			return (sip_names[i].id);
		}
	}
	return (SIP_HDR_OTHER);
}

const char *
sip_compact_name(char letter)
{
	for (size_t i = 0; i < SIP_NNAMES; i++) {
		if (sip_names[i].compact != 0 &&
		    lower(letter) == sip_names[i].compact) {
			return (sip_names[i].name);
		}
	}
	return (NULL);
}

/* Offset just past the line end at or after `p`, and the line's end. */
static size_t
line_end(const char *buf, size_t len, size_t p, size_t *content_end)
{
	const char *nl = memchr(buf + p, '\n', len - p);
	size_t e;

	if (nl == NULL) {
		/* A CR that ends the bytes is a line end waiting for its LF:
		 * not content, or an edit at a value's end lands after it. */
		*content_end = len > p && buf[len - 1] == '\r' ? len - 1 : len;
		return (len);
	}
	e = (size_t)(nl - buf);
	*content_end = e > p && buf[e - 1] == '\r' ? e - 1 : e;
	return (e + 1);
}

/*
 * Whether buf[from..to) holds a CR that does not end its line: RFC 3261
 * allows CR only in CRLF.  libosip2 ends a header line there and line_end()
 * does not, so the router would decide on one list of headers and edit
 * another (a Max-Forwards value taking in the To behind its CR), and such
 * a head is refused.  A CR that is the last byte, its LF not here, is
 * a line end (line_end()).
 */
static int
has_bare_cr(const char *buf, size_t len, size_t from, size_t to)
{
	const char *cr;
	size_t i;

	while (from < to && (cr = memchr(buf + from, '\r', to - from)) !=
	    NULL) {
		i = (size_t)(cr - buf);
		if (i + 1 < len && buf[i + 1] != '\n') {
			return (1);
		}
		from = i + 1;
	}
	return (0);
}

static int
scan_start_line(struct sip_scan *s, size_t from, size_t end)
{
	const char *b = s->buf;
	const char *sp1, *sp2;

	if (has_bare_cr(b, s->len, from, end)) {
		return (-1);
	}
	s->start_line.off = from;
	s->start_line.len = end - from;
	s->request_uri.off = from;
	s->request_uri.len = 0;
	if ((sp1 = memchr(b + from, ' ', end - from)) == NULL ||
	    sp1 == b + from) {
		return (-1);
	}
	if (end - from >= 4 && memcmp(b + from, "SIP/", 4) == 0) {
		return (0);		/* a status line */
	}
	if ((sp2 = memchr(sp1 + 1, ' ', (size_t)(b + end - sp1 - 1))) ==
	    NULL || sp2 == sp1 + 1) {
		return (-1);
	}
	s->request_uri.off = (size_t)(sp1 + 1 - b);
	s->request_uri.len = (size_t)(sp2 - sp1 - 1);
	return (0);
}

/* One header line at `p` (not blank, not a continuation). */
static int
scan_header(struct sip_scan *s, size_t p, size_t *next)
{
	const char *b = s->buf;
	struct sip_header_line *h;
	size_t ce, q, colon, vend;

	if (s->count == SIP_SCAN_MAX_HEADERS) {
		return (-1);
	}
	h = &s->h[s->count];
	q = line_end(b, s->len, p, &ce);
	if (has_bare_cr(b, s->len, p, ce)) {
		return (-1);
	}
	/* Continuation lines belong to this header (RFC 3261 §7.3.1). */
	vend = ce;
	while (q < s->len && (b[q] == ' ' || b[q] == '\t')) {
		size_t cq = q;

		q = line_end(b, s->len, cq, &ce);
		if (has_bare_cr(b, s->len, cq, ce)) {
			return (-1);
		}
		while (cq < ce && (b[cq] == ' ' || b[cq] == '\t')) {
			cq++;
		}
		if (cq < ce) {
			vend = ce;
		}
	}
	for (colon = p; colon < vend && b[colon] != ':'; colon++) {
		;
	}
	if (colon == vend || colon == p) {
		return (-1);
	}
	h->name.off = p;
	h->name.len = colon - p;
	while (h->name.len > 0 && (b[p + h->name.len - 1] == ' ' ||
	    b[p + h->name.len - 1] == '\t')) {
		h->name.len--;
	}
	if (h->name.len == 0) {
		return (-1);
	}
	colon++;
	while (colon < vend && is_lws(b[colon])) {
		colon++;
	}
	while (vend > colon && is_lws(b[vend - 1])) {
		vend--;
	}
	h->value.off = colon;
	h->value.len = vend - colon;
	h->line.off = p;
	h->line.len = q - p;
	h->id = sip_header_id(b + p, h->name.len);
	s->count++;
	*next = q;
	return (0);
}

int
sip_scan(const char *buf, size_t len, struct sip_scan *s)
{
	size_t p = 0, ce, q;

	s->buf = buf;
	s->len = len;
	s->count = 0;
	s->has_blank_line = 0;
	s->headers_end = s->body = len;
	/* RFC 3261 §7.5: CRLFs before the start line are ignored. */
	while (p < len && (buf[p] == '\r' || buf[p] == '\n')) {
		p++;
	}
	if (p == len) {
		return (-1);
	}
	q = line_end(buf, len, p, &ce);
	if (scan_start_line(s, p, ce) == -1) {
		return (-1);
	}
	for (p = q; p < len; ) {
		q = line_end(buf, len, p, &ce);
		if (ce == p) {
			s->headers_end = p;
			s->body = q;
			s->has_blank_line = 1;
			return (0);
		}
		if (buf[p] == ' ' || buf[p] == '\t') {
			return (-1);	/* a fold with no header above */
		}
		if (scan_header(s, p, &p) == -1) {
			return (-1);
		}
	}
	s->headers_end = s->body = len;
	return (0);
}

int
sip_scan_find(const struct sip_scan *s, enum sip_hdr_id id, size_t from)
{
	for (size_t i = from; i < s->count; i++) {
		if (s->h[i].id == id) {
			return ((int)i);
		}
	}
	return (-1);
}

int
sip_value_next(const char *buf, struct sip_span value, size_t *pos,
    struct sip_span *item)
{
	size_t end = value.off + value.len, p = *pos, e;
	int quoted = 0, angle = 0;

	while (p < end && (is_lws(buf[p]) || buf[p] == ',')) {
		p++;
	}
	if (p >= end) {
		*pos = end;
		return (0);
	}
	for (e = p; e < end; e++) {
		char c = buf[e];

		if (quoted) {
			if (c == '\\' && e + 1 < end) {
				e++;
			} else if (c == '"') {
				quoted = 0;
			}
		} else if (c == '"') {
			quoted = 1;
		} else if (c == '<') {
			angle = 1;
		} else if (c == '>') {
			angle = 0;
		} else if (c == ',' && !angle) {
			break;
		}
	}
	*pos = e;
	while (e > p && is_lws(buf[e - 1])) {
		e--;
	}
	item->off = p;
	item->len = e - p;
	return (1);
}

size_t
sip_scan_value_count(const struct sip_scan *s, size_t i)
{
	struct sip_span item;
	size_t pos = s->h[i].value.off, n = 0;

	while (sip_value_next(s->buf, s->h[i].value, &pos, &item)) {
		n++;
	}
	return (n);
}

/* Where the parameters of an item start: after `>`, else at its first `;`. */
static size_t
params_start(const char *buf, struct sip_span item)
{
	size_t end = item.off + item.len, p;
	const char *gt = NULL;
	int quoted = 0;

	for (p = item.off; p < end; p++) {
		if (buf[p] == '"' && (p == item.off || buf[p - 1] != '\\')) {
			quoted = !quoted;
		} else if (!quoted && buf[p] == '<') {
			gt = memchr(buf + p, '>', end - p);
			break;
		}
	}
	if (gt != NULL) {
		return ((size_t)(gt - buf) + 1);
	}
	for (p = item.off; p < end && buf[p] != ';'; p++) {
		;
	}
	return (p);
}

int
sip_item_uri(const char *buf, struct sip_span item, struct sip_span *uri)
{
	size_t end = item.off + item.len, p, start = params_start(buf, item);
	const char *lt;

	if (start > item.off && buf[start - 1] == '>') {
		/* name-addr: what the brackets hold; a `<` in the display
		 * name is quoted, and params_start() skipped it. */
		lt = memrchr(buf + item.off, '<', start - 1 - item.off);
		if (lt == NULL) {
			return (0);
		}
		p = (size_t)(lt - buf) + 1;
		end = start - 1;
	} else {
		p = item.off;
		end = start;
	}
	uri->off = p;
	uri->len = end - p;
	return (uri->len > 0);
}

int
sip_item_param(const char *buf, struct sip_span item, const char *name,
    struct sip_span *param, struct sip_span *pvalue)
{
	size_t end = item.off + item.len, nlen = strlen(name);
	size_t p = params_start(buf, item);

	while (p < end) {
		size_t n, ne, v, ve;
		int quoted = 0;

		if (buf[p] != ';') {
			p++;
			continue;
		}
		for (n = p + 1; n < end && is_lws(buf[n]); n++) {
			;
		}
		for (ne = n; ne < end && buf[ne] != '=' && buf[ne] != ';' &&
		    !is_lws(buf[ne]); ne++) {
			;
		}
		for (v = ne; v < end && is_lws(buf[v]); v++) {
			;
		}
		ve = v;
		if (v < end && buf[v] == '=') {
			for (v++; v < end && is_lws(buf[v]); v++) {
				;
			}
			for (ve = v; ve < end && (quoted || buf[ve] != ';');
			    ve++) {
				if (buf[ve] == '"') {
					quoted = !quoted;
				}
			}
			while (ve > v && is_lws(buf[ve - 1])) {
				ve--;
			}
		} else {
			v = ve = ne;
		}
		if (ne - n == nlen && strncasecmp(buf + n, name, nlen) == 0) {
			param->off = n;
			param->len = (ve > ne ? ve : ne) - n;
			pvalue->off = v;
			pvalue->len = ve - v;
			return (1);
		}
		for (p = ve > ne ? ve : ne; p < end && buf[p] != ';'; p++) {
			;
		}
	}
	return (0);
}
