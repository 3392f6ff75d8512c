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

#include "epsip/sip_reply.h"
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

/* Unsupported per Proxy-Require tag (420), Require: path (421). */
#define REPLY_MAX_EXTRA	8

static size_t
reply_extra_headers(const osip_message_t *req, int status,
    struct sip_reply_header *extra)
{
	const char *v;
	size_t n = 0;

	if (status == 420) {
		for (int i = 0; n < REPLY_MAX_EXTRA && (v = sip_header_value(
		    req, "proxy-require", i)) != NULL; i++) {
			extra[n].name = "Unsupported";
			extra[n++].value = v;
		}
	} else if (status == 421) {
		extra[n].name = "Require";
		extra[n++].value = "path";
	}
	return (n);
}

/* The reply as edits of the request's bytes, its arrival edits kept. */
static int
reply_splice(const osip_message_t *req, struct router_raw *raw, int status,
    const char *reason, struct router_output *out)
{
	struct sip_reply_header extra[REPLY_MAX_EXTRA];
	size_t n = reply_extra_headers(req, status, extra);

	sip_edit_rollback(&raw->edit, raw->arrival_mark);
	if (sip_reply_edit(&raw->edit, status, reason, extra, n) == -1) {
		return (-1);
	}
	return (sip_edit_apply(&raw->edit, &out->sip, &out->sip_len));
}

void
reply_local(struct router *r, const struct router_origin *origin,
    osip_message_t *req, struct router_raw *raw, int status,
    const char *reason, struct router_output *out)
{
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
	stats_inc(metric_status(MF_REPLIES, status));
}
