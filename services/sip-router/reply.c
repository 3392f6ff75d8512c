/*
 * reply.c -- answers the edge gives itself (SP-17): 400, 403, 416, 420,
 * 421, 430, 483, 500, 513.  A reply goes back where the request came from:
 * to the arrival flow, or to the core.
 * DIAGNOSTICS: none.
 */
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

void
reply_local(struct router *r, const struct router_origin *origin,
    osip_message_t *req, int status, const char *reason,
    struct router_output *out)
{
	osip_message_t *resp;
	char name[32];

	(void)r;
	memset(out, 0, sizeof(*out));
	out->dest = ROUTER_DROP;
	out->drop_reason = "reply_failed";
	if (sip_reply_create(req, status, reason, &resp) != 0) {
		return;
	}
	if (status == 420) {
		reply_add_unsupported(req, resp);
	} else if (status == 421) {
		osip_message_set_header(resp, "Require", "path");
	}
	if (reply_serialize(resp, out) == 0) {
		out->dest = origin->source == ROUTER_FROM_FLOW ?
		    ROUTER_TO_FLOW : ROUTER_TO_CORE;
		out->flow = origin->flow;
		out->local_status = status;
		snprintf(name, sizeof(name), "replies.%d", status);
		stats_inc(name);
	}
	osip_message_free(resp);
}
