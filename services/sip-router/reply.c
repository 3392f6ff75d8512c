/*
 * reply.c -- answers the edge gives itself (SP-17): 400, 403, 416, 420,
 * 421, 430, 483, 500, 513.  A reply goes back where the request came from:
 * to the arrival flow, or to the core.
 *
 * RFC 3261 §8.2.6.2 wants the request's Via, From, To, Call-ID and CSeq
 * in the response; we copy their lines byte for byte (To with a tag added
 * when it had none), with the arrival's edits to the top Via kept.  Only
 * a request libosip2 refused, rebuilt by salvage.c, is printed by
 * libosip2 instead.
 * DIAGNOSTICS: none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/sip_util.h"
#include "epsip/stats.h"
#include "router.h"

int
reply_serialize(osip_message_t *msg, struct router_output *out)
{
	char *text;
	size_t len;

	if (sip_serialize(msg, &text, &len) != 0) {
		return (-1);
	}
	out->sip = text;
	out->sip_len = len;
	return (0);
}

/* Unsupported: every Proxy-Require tag, since we support none (SP-05). */
static void
reply_add_unsupported(const osip_message_t *req, osip_message_t *resp)
{
	const char *v;

	for (int i = 0; (v = sip_header_value(req, "proxy-require", i)); i++) {
		osip_message_set_header(resp, "Unsupported", v);
	}
}

/* The reply printed by libosip2 from its values (a salvaged request). */
static int
reply_print(const osip_message_t *req, int status, const char *reason,
    struct router_output *out)
{
	osip_message_t *resp;
	int rv;

	if (sip_reply_create(req, status, reason, &resp) != 0) {
		return (-1);
	}
	if (status == 420) {
		reply_add_unsupported(req, resp);
	} else if (status == 421) {
		osip_message_set_header(resp, "Require", "path");
	}
	rv = reply_serialize(resp, out);
	osip_message_free(resp);
	return (rv);
}

static int
has_to_tag(const osip_message_t *req)
{
	osip_generic_param_t *tag = NULL;

	return (req->to != NULL && osip_to_get_tag(req->to, &tag) == 0 &&
	    tag != NULL);
}

/* Headers the reply adds after the copied ones (420, 421). */
static void
reply_extra_headers(const osip_message_t *req, int status,
    struct sip_edit *e, size_t at)
{
	const char *v;

	if (status == 420) {
		for (int i = 0; (v = sip_header_value(req, "proxy-require",
		    i)) != NULL; i++) {
			sip_edit_insert_header(e, at, "Unsupported", v);
		}
	} else if (status == 421) {
		sip_edit_insert_header(e, at, "Require", "path");
	}
}

/*
 * The reply as edits of the request's bytes: the start line becomes the
 * status line, every line but Via and the first From, To, Call-ID and
 * CSeq goes, and so does the body.  Only a Via is needed (ER-01): headers
 * the request lacked stay out.
 */
static int
reply_splice(const osip_message_t *req, struct router_raw *raw, int status,
    const char *reason, struct router_output *out)
{
	const struct sip_scan *s = &raw->scan;
	struct sip_edit *e = &raw->edit;
	int seen[SIP_HDR_FLOW_TIMER + 1] = { 0 };
	char line[128], tag[17];
	int n;

	sip_edit_rollback(e, raw->arrival_mark);
	n = snprintf(line, sizeof(line), "SIP/2.0 %d %s", status,
	    reason != NULL ? reason : sip_reason_phrase(status));
	if (n < 0 || (size_t)n >= sizeof(line)) {
		return (-1);
	}
	sip_edit_splice(e, 0, s->start_line.off + s->start_line.len, line,
	    (size_t)n);
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
			if (status > 100 && !has_to_tag(req)) {
				sip_random_token(tag, 16);
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
	if (!s->has_blank_line && s->len > 0 && s->buf[s->len - 1] != '\n') {
		sip_edit_splice(e, s->headers_end, 0, "\r\n", 2);
	}
	reply_extra_headers(req, status, e, s->headers_end);
	/* The blank line and the body give way to an empty body. */
	sip_edit_splice(e, s->headers_end, s->len - s->headers_end,
	    "Content-Length: 0\r\n\r\n", 21);
	return (sip_edit_apply(e, &out->sip, &out->sip_len));
}

void
reply_local(struct router *r, const struct router_origin *origin,
    osip_message_t *req, struct router_raw *raw, int status,
    const char *reason, struct router_output *out)
{
	char name[32];

	(void)r;
	memset(out, 0, sizeof(*out));
	out->dest = ROUTER_DROP;
	out->drop_reason = "reply_failed";
	if (osip_list_size(&req->vias) == 0) {
		return;		/* nowhere to send it */
	}
	/* Too many lines to drop for one edit list: print it instead. */
	if ((raw == NULL || reply_splice(req, raw, status, reason, out) != 0) &&
	    reply_print(req, status, reason, out) != 0) {
		return;
	}
	out->dest = origin->source == ROUTER_FROM_FLOW ? ROUTER_TO_FLOW :
	    ROUTER_TO_CORE;
	out->flow = origin->flow;
	out->local_status = status;
	snprintf(name, sizeof(name), "replies.%d", status);
	stats_inc(name);
}
