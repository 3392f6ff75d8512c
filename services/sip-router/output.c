/*
 * output.c -- what a hop sends: the token text it stamps into Path,
 * Record-Route and its Via, and the message with the hop's edits applied
 * (or a counted drop).  Every path of route.c, edge.c, proxy.c and
 * response.c ends here, so they depend on this file and not on route.c.
 * DIAGNOSTICS: none; a message that cannot be built is a counted drop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/sip_edit.h"
#include "epsip/stats.h"
#include "router.h"

void
router_output_clear(struct router_output *out)
{
	free(out->sip);
	memset(out, 0, sizeof(*out));
}

int
router_flow_token(const struct router *r, const struct flow_token *flow,
    char *text, size_t cap)
{
	return (flow_token_encode(&r->keys.current, flow, text, cap));
}

void
router_drop(struct router_output *out, enum metric_id why)
{
	out->dest = ROUTER_DROP;
	out->drop_reason = metric_label_value(why);
	stats_inc(why);
}

int
router_raw_token(const struct router *r, struct router_raw *raw,
    const struct flow_token *flow, char *text, size_t cap)
{
	int n;

	if (raw->token_of != flow) {
		if (router_flow_token(r, flow, raw->token,
		    sizeof(raw->token)) < 0) {
			return (-1);
		}
		raw->token_of = flow;
	}
	n = snprintf(text, cap, "%s", raw->token);
	return (n < 0 || (size_t)n >= cap ? -1 : n);
}

/*
 * The hop's last edits, then the output: the Route values popped (and
 * the last one, which a strict router's fix moved into the R-URI), and a
 * Content-Length when the message had none (a UDP request bound for a
 * stream, SP-12).  An existing Content-Length stays: the body does not
 * change.
 */
void
router_finish(struct router_raw *raw, enum router_dest dest,
    const struct flow_token *flow, struct router_output *out)
{
	const struct sip_scan *s = &raw->scan;
	char cl[24];

	if (raw->routes_popped > 0 || raw->strict_fixed) {
		sip_edit_remove_values(&raw->edit, SIP_HDR_ROUTE,
		    raw->routes_popped, raw->strict_fixed ? 1 : 0);
	}
	sip_edit_end_cut_line(&raw->edit);
	if (sip_scan_find(s, SIP_HDR_CONTENT_LENGTH, 0) == -1) {
		snprintf(cl, sizeof(cl), "%zu", s->len - s->body);
		sip_edit_insert_header(&raw->edit, s->headers_end,
		    "Content-Length", cl);
	}
	if (!s->has_blank_line) {
		sip_edit_splice(&raw->edit, s->headers_end, 0, "\r\n", 2);
	}
	if (sip_edit_apply(&raw->edit, &out->sip, &out->sip_len) != 0) {
		router_drop(out, M_SIP_DROPPED_SERIALIZE);
		return;
	}
	out->dest = dest;
	if (flow != NULL) {
		out->flow = *flow;
	}
}
