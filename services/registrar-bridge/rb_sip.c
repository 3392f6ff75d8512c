/*
 * rb_sip.c -- SIP helpers private to the registrar-bridge.
 *
 * Thin wrappers over libosip2 used by the registrar, the home proxy and the
 * transaction layer.  Nothing here keeps state.  Errors are returned, never
 * fatal: every input comes from the network (through the sip-router).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "epsip/sip_edit.h"
#include "epsip/sip_reply.h"
#include "epsip/sip_scan.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "rb_sip.h"

int
rb_send(const struct rb_out *out, osip_message_t *msg)
{
	char *buf;
	size_t len;
	int rv;

	if (MSG_IS_RESPONSE(msg)) {
		stats_inc(metric_status(MF_REPLIES, msg->status_code));
	}
	osip_message_force_update(msg);
	if (sip_serialize(msg, &buf, &len) != 0) {
		return (-1);
	}
	rv = out->send(out->arg, buf, len);
	free(buf);
	return (rv);
}

int
rb_send_bytes(const struct rb_out *out, const char *buf, size_t len,
    int status)
{
	if (status >= 100 && status <= 699) {
		stats_inc(metric_status(MF_REPLIES, status));
	}
	return (out->send(out->arg, buf, len));
}

int
rb_parse(const char *buf, size_t len, osip_message_t **msgp)
{
	osip_message_t *msg;

	if (sip_parse(buf, len, &msg) != 0) {
		return (-1);
	}
	if (rb_keep_bytes(msg, buf, len) != 0) {
		osip_message_free(msg);
		return (-1);
	}
	*msgp = msg;
	return (0);
}

int
rb_keep_bytes(osip_message_t *msg, const char *buf, size_t len)
{
	char *copy;

	/* osip_malloc: libosip2 frees it with the message. */
	if ((copy = osip_malloc(len + 1)) == NULL) {
		return (-1);
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';
	rb_forget_bytes(msg);
	msg->message = copy;
	msg->message_length = len;
	return (0);
}

int
rb_reply_bytes(const char *buf, size_t len, int status, const char *reason,
    char **out, size_t *outlen)
{
	struct sip_scan s;	/* on the stack: see answer_build() */

	if (sip_scan(buf, len, &s) != 0) {
		return (-1);
	}
	return (sip_reply_from_request(&s, status, reason, NULL, 0, out,
	    outlen));
}

const char *
rb_bytes(const osip_message_t *msg, size_t *len)
{
	if (msg == NULL || msg->message == NULL) {
		*len = 0;
		return (NULL);
	}
	*len = msg->message_length;
	return (msg->message);
}

void
rb_forget_bytes(osip_message_t *msg)
{
	if (msg->message != NULL) {
		osip_free(msg->message);
		msg->message = NULL;
	}
	msg->message_length = 0;
}

int
rb_reply(const osip_message_t *req, int status, const char *reason,
    osip_message_t **resp)
{
	if (reason == NULL) {
		reason = sip_reason_phrase(status);
	}
	if (reason == NULL) {
		reason = "Unknown";
	}
	return (sip_reply_create(req, status, reason, resp));
}

int
rb_reply_send(const struct rb_out *out, const osip_message_t *req,
    int status, const char *reason)
{
	osip_message_t *resp;
	int rv;

	if (rb_reply(req, status, reason, &resp) != 0) {
		return (-1);
	}
	rv = rb_send(out, resp);
	osip_message_free(resp);
	return (rv);
}

int
rb_aor_canonical(const osip_uri_t *uri, char *out, size_t cap)
{
	char host[256];
	size_t i;
	int n;

	if (uri == NULL || uri->scheme == NULL || uri->host == NULL ||
	    uri->host[0] == '\0') {
		return (-1);
	}
	if (strcasecmp(uri->scheme, "sip") != 0 &&
	    strcasecmp(uri->scheme, "sips") != 0) {
		return (-1);
	}
	for (i = 0; uri->host[i] != '\0' && i + 1 < sizeof(host); i++) {
		host[i] = (char)tolower((unsigned char)uri->host[i]);
	}
	host[i] = '\0';
	/*
	 * The port is dropped as well: the AOR names a user in a domain we
	 * serve, and "sip:bob@example.com:5060" must find bob's bindings.
	 */
	if (uri->username != NULL && uri->username[0] != '\0') {
		n = snprintf(out, cap, "%s:%s@%s",
		    strcasecmp(uri->scheme, "sips") == 0 ? "sips" : "sip",
		    uri->username, host);
	} else {
		n = snprintf(out, cap, "%s:%s",
		    strcasecmp(uri->scheme, "sips") == 0 ? "sips" : "sip",
		    host);
	}
	if (n < 0 || (size_t)n >= cap) {
		return (-1);
	}
	return (0);
}

char *
rb_uri_text(const osip_uri_t *uri)
{
	char *s, *copy;

	if (uri == NULL || osip_uri_to_str(uri, &s) != 0) {
		return (NULL);
	}
	/* osip_malloc'ed; hand out plain malloc memory. */
	copy = strdup(s);
	osip_free(s);
	return (copy);
}

const char *
rb_top_branch(const osip_message_t *msg)
{
	osip_via_t *via;

	via = osip_list_get(&msg->vias, 0);
	if (via == NULL) {
		return (NULL);
	}
	return (sip_generic_param(&via->via_params, "branch"));
}

int
rb_txn_key(const osip_message_t *msg, const char *method, char *out,
    size_t cap)
{
	osip_via_t *via;
	const char *branch, *tag;
	int n;

	via = osip_list_get(&msg->vias, 0);
	if (via == NULL || via->host == NULL) {
		return (-1);
	}
	branch = sip_generic_param(&via->via_params, "branch");
	if (branch != NULL && strncmp(branch, "z9hG4bK", 7) == 0) {
		n = snprintf(out, cap, "%s|%s:%s|%s", branch, via->host,
		    via->port != NULL ? via->port : "", method);
	} else {
		/* RFC 2543 peers: RFC 3261 §17.2.3 fallback, simplified. */
		if (msg->call_id == NULL || msg->cseq == NULL ||
		    msg->cseq->number == NULL || msg->from == NULL) {
			return (-1);
		}
		tag = sip_generic_param(&msg->from->gen_params, "tag");
		n = snprintf(out, cap, "%s@%s|%s|%s|%s",
		    msg->call_id->number != NULL ? msg->call_id->number : "",
		    msg->call_id->host != NULL ? msg->call_id->host : "",
		    msg->cseq->number, tag != NULL ? tag : "", method);
	}
	if (n < 0 || (size_t)n >= cap) {
		return (-1);
	}
	return (0);
}

int
rb_via_count(const osip_message_t *msg)
{
	return (osip_list_size(&msg->vias));
}

int
rb_request_unreliable(const osip_message_t *req)
{
	osip_via_t *via;

	via = osip_list_get(&req->vias, rb_via_count(req) > 1 ? 1 : 0);
	if (via == NULL || via->protocol == NULL) {
		return (1);
	}
	return (strcasecmp(via->protocol, "UDP") == 0);
}

int
rb_uri_unreliable(const osip_uri_t *uri)
{
	const char *transport;

	if (uri == NULL) {
		return (1);
	}
	transport = sip_generic_param(&uri->url_params, "transport");
	if (uri->scheme != NULL && strcasecmp(uri->scheme, "sips") == 0) {
		return (0);
	}
	return (transport == NULL || strcasecmp(transport, "udp") == 0);
}

int
rb_max_forwards(const osip_message_t *msg)
{
	osip_header_t *h;
	char *end;
	long v;

	if (osip_message_get_max_forwards(msg, 0, &h) < 0 || h == NULL ||
	    h->hvalue == NULL) {
		return (-1);
	}
	v = strtol(h->hvalue, &end, 10);
	if (end == h->hvalue || *end != '\0' || v < 0 || v > 255) {
		return (-2);
	}
	return ((int)v);
}

int
rb_set_max_forwards(osip_message_t *msg, int value)
{
	char buf[16];

	sip_header_remove_all(msg, "Max-Forwards");
	snprintf(buf, sizeof(buf), "%d", value);
	return (osip_message_set_max_forwards(msg, buf) == 0 ? 0 : -1);
}

int
rb_via_value(const char *branch, char *out, size_t cap)
{
	int n;

	/*
	 * TCP: the link to the router is reliable; retransmissions towards a
	 * UDP phone are the transaction layer's job, not the next hop's.
	 */
	n = snprintf(out, cap, "SIP/2.0/TCP %s;branch=%s", RB_VIA_HOST,
	    branch);
	return (n < 0 || (size_t)n >= cap ? -1 : 0);
}

int
rb_push_via(osip_message_t *msg, char *branch, size_t cap)
{
	char tok[24], via[128];

	if (cap < 8 + sizeof(tok)) {
		return (-1);
	}
	sip_random_token(tok, 16);
	tok[16] = '\0';
	snprintf(branch, cap, "z9hG4bK%s", tok);
	if (rb_via_value(branch, via, sizeof(via)) != 0) {
		return (-1);
	}
	/* libosip2's "append" inserts at the top (ecosystem notes §5). */
	if (osip_message_append_via(msg, via) != 0) {
		return (-1);
	}
	return (0);
}

int
rb_pop_via(osip_message_t *msg)
{
	osip_via_t *via;

	via = osip_list_get(&msg->vias, 0);
	if (via == NULL) {
		return (-1);
	}
	osip_list_remove(&msg->vias, 0);
	osip_via_free(via);
	osip_message_force_update(msg);
	return (0);
}

const char *
rb_to_tag(const osip_message_t *msg)
{
	if (msg->to == NULL) {
		return (NULL);
	}
	return (sip_generic_param(&msg->to->gen_params, "tag"));
}

int
rb_supports(const osip_message_t *msg, const char *tag)
{
	return (sip_header_has_token(msg, "Supported", tag) ||
	    sip_header_has_token(msg, "k", tag));
}

osip_route_t *
rb_route_parse(const char *text)
{
	osip_route_t *route;

	if (osip_route_init(&route) != 0) {
		return (NULL);
	}
	if (osip_route_parse(route, text) != 0 || route->url == NULL) {
		osip_route_free(route);
		return (NULL);
	}
	return (route);
}

/*
 * The framing a forwarded message needs whatever came: a Content-Length
 * (a stream next hop frames by it) and the blank line.
 */
static void
frame(struct sip_edit *e, const struct sip_scan *s)
{
	char cl[24];

	sip_edit_end_cut_line(e);
	if (sip_scan_find(s, SIP_HDR_CONTENT_LENGTH, 0) == -1) {
		snprintf(cl, sizeof(cl), "%zu", s->len - s->body);
		sip_edit_insert_header(e, s->headers_end, "Content-Length", cl);
	}
	if (!s->has_blank_line) {
		sip_edit_splice(e, s->headers_end, 0, "\r\n", 2);
	}
}

/* A scan and its edits: too big for the stack of every caller. */
struct rb_edit {
	struct sip_scan scan;
	struct sip_edit edit;
};

int
rb_forward_bytes(const char *buf, size_t len, const struct rb_forward *f,
    char **out, size_t *outlen)
{
	struct rb_edit *x;
	struct sip_scan *s;
	struct sip_edit *e;
	size_t i, route_at;
	char mf[16];
	int first, rv;

	if ((x = malloc(sizeof(*x))) == NULL) {
		return (-1);
	}
	s = &x->scan;
	e = &x->edit;
	if (sip_scan(buf, len, s) != 0 || s->request_uri.len == 0) {
		free(x);
		return (-1);
	}
	sip_edit_init(e, s);
	if (f->request_uri != NULL) {
		sip_edit_replace(e, s->request_uri, f->request_uri);
	}
	route_at = sip_edit_top_of(s, SIP_HDR_ROUTE);
	for (i = 0; i < f->route_count; i++) {
		sip_edit_insert_header(e, route_at, "Route", f->routes[i]);
	}
	sip_edit_insert_header(e, sip_edit_top_of(s, SIP_HDR_VIA), "Via",
	    f->via);
	snprintf(mf, sizeof(mf), "%d", f->max_forwards);
	first = sip_scan_find(s, SIP_HDR_MAX_FORWARDS, 0);
	if (first < 0) {
		sip_edit_insert_header(e, sip_edit_top_of(s,
		    SIP_HDR_MAX_FORWARDS), "Max-Forwards", mf);
	} else {
		sip_edit_replace(e, s->h[first].value, mf);
		/* One Max-Forwards leaves, as libosip2's reading has it. */
		for (i = (size_t)first + 1; i < s->count; i++) {
			if (s->h[i].id == SIP_HDR_MAX_FORWARDS) {
				sip_edit_remove_line(e, i);
			}
		}
	}
	frame(e, s);
	rv = sip_edit_apply(e, out, outlen);
	free(x);
	return (rv);
}

/* The status code of a scanned status line, or -1. */
static int
status_of(const struct sip_scan *s)
{
	const char *p = s->buf + s->start_line.off;
	size_t n = s->start_line.len;

	if (n < 11 || strncasecmp(p, "SIP/2.0 ", 8) != 0 ||
	    !isdigit((unsigned char)p[8]) || !isdigit((unsigned char)p[9]) ||
	    !isdigit((unsigned char)p[10])) {
		return (-1);
	}
	return ((p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0'));
}

int
rb_relay_bytes(const char *buf, size_t len, int status, const char *reason,
    char **out, size_t *outlen)
{
	struct rb_edit *x;
	struct sip_scan *s;
	struct sip_edit *e;
	char line[128];
	int rv;

	if ((x = malloc(sizeof(*x))) == NULL) {
		return (-1);
	}
	s = &x->scan;
	e = &x->edit;
	if (sip_scan(buf, len, s) != 0 || s->request_uri.len != 0 ||
	    status_of(s) < 0) {
		free(x);
		return (-1);
	}
	sip_edit_init(e, s);
	if (status != status_of(s)) {
		snprintf(line, sizeof(line), "SIP/2.0 %d %s", status,
		    reason != NULL ? reason : "");
		sip_edit_replace(e, s->start_line, line);
	}
	/* Fails (sticky) when there is no Via to pop. */
	(void)sip_edit_remove_values(e, SIP_HDR_VIA, 1, 0);
	frame(e, s);
	rv = sip_edit_apply(e, out, outlen);
	free(x);
	return (rv);
}
