/*
 * response.c -- responses, read from the scan alone (issue 7).
 *
 * A stateless proxy reads little of a response: its status, that the
 * lines every response has are there, our Via on top, and for a 2xx
 * REGISTER going back to a flow what says how long that flow may stay
 * silent.  All of it lies in sip_scan()'s spans, so a response never goes
 * through libosip2, whose parse of every header (dozens of small
 * allocations) was most of what a response cost the router.
 * DIAGNOSTICS: none; every failure is a counted drop.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "epsip/sip_scan.h"
#include "epsip/stats.h"
#include "router.h"

/* No flow idles longer than a week, whatever a registrar grants. */
#define RESPONSE_IDLE_MAX	604800UL

struct response {
	int status;
	struct sip_span method;		/* the CSeq's */
};

static int
is_digit(char c)
{
	return (c >= '0' && c <= '9');
}

static int
is_lws(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* delta-seconds (RFC 3261 §25.1), held to RESPONSE_IDLE_MAX. */
static unsigned long
seconds(const char *buf, struct sip_span v)
{
	unsigned long n = 0;

	for (size_t i = 0; i < v.len && is_digit(buf[v.off + i]); i++) {
		n = n * 10 + (unsigned long)(buf[v.off + i] - '0');
		if (n > RESPONSE_IDLE_MAX) {
			return (RESPONSE_IDLE_MAX);
		}
	}
	return (n);
}

/* "SIP/2.0 NNN reason" (the reason may be empty): NNN, or -1. */
static int
status_of(const struct sip_scan *s)
{
	const char *p = s->buf + s->start_line.off;

	if (s->start_line.len < 12 || memcmp(p, "SIP/2.0 ", 8) != 0 ||
	    !is_digit(p[8]) || !is_digit(p[9]) || !is_digit(p[10]) ||
	    p[11] != ' ') {
		return (-1);
	}
	return ((p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0'));
}

/* CSeq = 1*DIGIT LWS Method: 0 and the method, or -1. */
static int
cseq_method(const struct sip_scan *s, size_t i, struct sip_span *method)
{
	const char *b = s->buf;
	size_t p = s->h[i].value.off, end = p + s->h[i].value.len;

	while (p < end && is_digit(b[p])) {
		p++;
	}
	/* The value ends in a non-LWS byte: a method follows the LWS. */
	if (p == s->h[i].value.off || p == end || !is_lws(b[p])) {
		return (-1);
	}
	while (is_lws(b[p])) {
		p++;
	}
	method->off = p;
	method->len = end - p;
	return (0);
}

/*
 * What a response must be to be forwarded (SP-14: malformed ones are
 * dropped): a status line with a provisional or final status; a Via,
 * From, To, Call-ID and CSeq, each with a value (libosip2 took an empty
 * one for none); a CSeq with its number and method, which decide the
 * flow's timer; no single-valued header twice (ER-02).  0, or -1 with why
 * not in *why, counted as before: parse_error for what libosip2 refused to
 * parse (the status line, the CSeq, duplicates), bad_response for the rest.
 */
static int
response_check(const struct sip_scan *s, struct response *resp,
    enum metric_id *why)
{
	const unsigned want = (1U << SIP_HDR_VIA) | (1U << SIP_HDR_FROM) |
	    (1U << SIP_HDR_TO) | (1U << SIP_HDR_CALL_ID) |
	    (1U << SIP_HDR_CSEQ);
	unsigned seen = 0;
	int cseq = -1;

	resp->method.off = resp->method.len = 0;
	if ((resp->status = status_of(s)) == -1) {
		*why = M_SIP_DROPPED_PARSE_ERROR;
		return (-1);
	}
	for (size_t i = 0; i < s->count; i++) {
		unsigned bit = 1U << s->h[i].id;

		if (s->h[i].value.len == 0 || (bit & want) == 0) {
			continue;
		}
		if (s->h[i].id == SIP_HDR_CSEQ && cseq == -1) {
			cseq = (int)i;
		}
		seen |= bit;
	}
	if ((cseq >= 0 && cseq_method(s, (size_t)cseq, &resp->method) == -1) ||
	    proxy_duplicate_single_header(s)) {
		*why = M_SIP_DROPPED_PARSE_ERROR;
		return (-1);
	}
	if (seen != want || resp->status < 100 || resp->status > 699) {
		*why = M_SIP_DROPPED_BAD_RESPONSE;
		return (-1);
	}
	return (0);
}

/* Some Require line lists `outbound` (comma lists, any case). */
static int
requires_outbound(const struct sip_scan *s)
{
	struct sip_span item;
	size_t pos;

	for (int i = 0; (i = sip_scan_find(s, SIP_HDR_REQUIRE, (size_t)i)) >=
	    0; i++) {
		pos = s->h[i].value.off;
		while (sip_value_next(s->buf, s->h[i].value, &pos, &item)) {
			if (item.len == 8 && strncasecmp(s->buf + item.off,
			    "outbound", 8) == 0) {
				return (1);
			}
		}
	}
	return (0);
}

/* The longest Contact `expires`, else the Expires header; 0: none. */
static unsigned long
longest_expiry(const struct sip_scan *s)
{
	struct sip_span item, param, value;
	unsigned long longest = 0, v;
	size_t pos;

	for (int i = 0; (i = sip_scan_find(s, SIP_HDR_CONTACT, (size_t)i)) >=
	    0; i++) {
		pos = s->h[i].value.off;
		while (sip_value_next(s->buf, s->h[i].value, &pos, &item)) {
			if (sip_item_param(s->buf, item, "expires", &param,
			    &value) && (v = seconds(s->buf, value)) > longest) {
				longest = v;
			}
		}
	}
	for (size_t i = 0; longest == 0 && i < s->count; i++) {
		if (s->h[i].id == SIP_HDR_OTHER && s->h[i].name.len == 7 &&
		    strncasecmp(s->buf + s->h[i].name.off, "Expires", 7) == 0) {
			return (seconds(s->buf, s->h[i].value));
		}
	}
	return (longest);
}

/*
 * How long the flow a 2xx REGISTER goes back to may stay silent before it
 * is declared dead.  EP-18: as the hop next to the UA we may advertise our
 * Flow-Timer in a 2xx REGISTER that carries Require: outbound (above
 * Content-Length, which by custom closes the headers).  An upstream
 * registrar's own value is relayed unchanged (RG-29) and honoured, as the
 * phone pings within it (EP-19), but never below ours.
 * Without outbound, the longest registration granted, so that a plain
 * phone's flow lives as long as its binding (TR-11).  0: no change.
 */
static unsigned
register_flow_timer(const struct router *r, struct router_raw *raw)
{
	const struct sip_scan *s = &raw->scan;
	unsigned ours = r->cfg->flow_timer;
	unsigned long theirs;
	char value[16];
	int i;

	if ((i = sip_scan_find(s, SIP_HDR_FLOW_TIMER, 0)) >= 0) {
		theirs = seconds(s->buf, s->h[i].value);
		return (theirs > ours ? (unsigned)theirs : ours);
	}
	if (!requires_outbound(s)) {
		return ((unsigned)longest_expiry(s));
	}
	snprintf(value, sizeof(value), "%u", ours);
	i = sip_scan_find(s, SIP_HDR_CONTENT_LENGTH, 0);
	sip_edit_insert_header(&raw->edit, i >= 0 ? s->h[i].line.off :
	    s->headers_end, "Flow-Timer", value);
	return (ours);
}

/* The AoR a 2xx REGISTER is for, its To URI, cut at EPSIP_AOR_MAX. */
static void
register_aor(const struct sip_scan *s, struct router_output *out)
{
	struct sip_span item, uri;
	size_t pos;
	int i;

	out->aor_len = 0;
	if ((i = sip_scan_find(s, SIP_HDR_TO, 0)) < 0) {
		return;
	}
	pos = s->h[i].value.off;
	if (sip_value_next(s->buf, s->h[i].value, &pos, &item) &&
	    sip_item_uri(s->buf, item, &uri)) {
		out->aor_len = uri.len < sizeof(out->aor) ? uri.len :
		    sizeof(out->aor);
		memcpy(out->aor, s->buf + uri.off, out->aor_len);
	}
}

void
response_route(struct router *r, struct router_raw *raw, int short_body,
    struct router_output *out)
{
	const char *buf = raw->scan.buf;
	struct router_origin back;
	struct response resp;
	enum metric_id why;

	if (response_check(&raw->scan, &resp, &why) == -1) {
		router_drop(out, why);
		return;
	}
	if (short_body) {
		router_drop(out, M_SIP_DROPPED_BAD_RESPONSE);	/* TR-08 */
		return;
	}
	stats_inc(metric_response_class(resp.status));
	if (proxy_pop_own_via(r, raw, &back) == -1) {
		/* SP-14 */
		router_drop(out, M_SIP_DROPPED_RESPONSE_NOT_OURS);
		return;
	}
	if (back.source != ROUTER_FROM_FLOW) {
		router_finish(raw, ROUTER_TO_CORE, NULL, out);
		return;
	}
	if (resp.status / 100 == 2 && resp.method.len == 8 &&
	    memcmp(buf + resp.method.off, "REGISTER", 8) == 0) {
		out->flow_timer = register_flow_timer(r, raw);
		out->registered = 1;
		register_aor(&raw->scan, out);
	}
	router_finish(raw, ROUTER_TO_FLOW, &back.flow, out);
}
