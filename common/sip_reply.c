/*
 * sip_reply.c -- a stateless reply as edits of the request's bytes (see
 * sip_reply.h): the request line becomes the status line, every line but
 * the Vias and the first From, To, Call-ID and CSeq goes, and the body
 * gives way to Content-Length: 0.
 * DIAGNOSTICS: none; -1 when the request cannot be answered.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "epsip/sip_edit.h"
#include "epsip/sip_reply.h"
#include "epsip/sip_util.h"

/* A response's start line is "SIP/2.0 ..."; a request's ends in it. */
static int
is_response(const struct sip_scan *s)
{
	return (s->start_line.len >= 8 &&
	    strncasecmp(s->buf + s->start_line.off, "SIP/2.0 ", 8) == 0);
}

static int
has_to_tag(const struct sip_scan *s)
{
	struct sip_span item, param, value;
	int i = sip_scan_find(s, SIP_HDR_TO, 0);

	return (i >= 0 && sip_edit_first_value(s, (size_t)i, &item) &&
	    sip_item_param(s->buf, item, "tag", &param, &value));
}

static int
method_is(const struct sip_scan *s, const char *method)
{
	size_t n = strlen(method);

	return (s->start_line.len > n &&
	    memcmp(s->buf + s->start_line.off, method, n) == 0 &&
	    s->buf[s->start_line.off + n] == ' ');
}

int
sip_request_starts_work(const struct sip_scan *s)
{
	return (!is_response(s) && !method_is(s, "ACK") &&
	    !method_is(s, "CANCEL") && !has_to_tag(s));
}

/* Keep the Vias and the first From, To, Call-ID and CSeq; drop the rest. */
static void
keep_reply_lines(const struct sip_scan *s, struct sip_edit *e, int to_tag)
{
	int seen[SIP_HDR_FLOW_TIMER + 1] = { 0 };
	char tag[17];

	for (size_t i = 0; i < s->count; i++) {
		const struct sip_header_line *h = &s->h[i];

		switch (h->id) {
		case SIP_HDR_VIA:
			continue;
		case SIP_HDR_FROM:
		case SIP_HDR_CALL_ID:
		case SIP_HDR_CSEQ:
			if (seen[h->id]++ == 0) {
				continue;
			}
			break;
		case SIP_HDR_TO:
			if (seen[h->id]++ > 0) {
				break;
			}
			if (to_tag) {
				sip_random_token(tag, 16);
				tag[16] = '\0';
				sip_edit_splice(e, h->value.off + h->value.len,
				    0, ";tag=", 5);
				sip_edit_splice(e, h->value.off + h->value.len,
				    0, tag, 16);
			}
			continue;
		default:
			break;
		}
		sip_edit_remove_line(e, i);
	}
}

int
sip_reply_edit(struct sip_edit *e, int status, const char *reason,
    const struct sip_reply_header *extra, size_t extra_count)
{
	const struct sip_scan *s = e->scan;
	char line[128];
	int n;

	if (status < 100 || status > 699 || is_response(s) ||
	    sip_scan_find(s, SIP_HDR_VIA, 0) < 0) {
		return (-1);
	}
	n = snprintf(line, sizeof(line), "SIP/2.0 %d %s", status,
	    reason != NULL ? reason : sip_reason_phrase(status));
	if (n < 0 || (size_t)n >= sizeof(line)) {
		return (-1);
	}
	sip_edit_splice(e, 0, s->start_line.off + s->start_line.len, line,
	    (size_t)n);
	keep_reply_lines(s, e, status > 100 && !has_to_tag(s));
	sip_edit_end_cut_line(e);
	for (size_t i = 0; i < extra_count; i++) {
		sip_edit_insert_header(e, s->headers_end, extra[i].name,
		    extra[i].value);
	}
	/* The blank line and the body give way to an empty body. */
	sip_edit_splice(e, s->headers_end, s->len - s->headers_end,
	    "Content-Length: 0\r\n\r\n", 21);
	return (0);
}

int
sip_reply_from_request(const struct sip_scan *s, int status,
    const char *reason, const struct sip_reply_header *extra,
    size_t extra_count, char **out, size_t *len)
{
	struct sip_edit e;

	sip_edit_init(&e, s);
	if (sip_reply_edit(&e, status, reason, extra, extra_count) == -1) {
		return (-1);
	}
	return (sip_edit_apply(&e, out, len));
}
