/*
 * edge.c -- the RFC 5626 §5 edge proxy procedures.
 *
 *   REGISTER from a flow        -> Path <sip:TOKEN@edge;lr[;ob]> (§5.1)
 *   top Route is us + token     -> same flow as the request: "outgoing",
 *                                  pop and go on; else "incoming": pop and
 *                                  deliver on the token's flow (§5.3)
 *   dialog-forming on a flow    -> Record-Route with the flow's token
 *                                  (§5.3.1, §5.3.2)
 * A token is always verified before anything is derived from it (FT-07).
 * DIAGNOSTICS: none; bad tokens become 403.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "epsip/sip_util.h"
#include "epsip/stats.h"
#include "router.h"

static int
uri_is_token_route(const struct router *r, const osip_uri_t *uri)
{
	return (router_is_self(r, uri) && uri->username != NULL &&
	    uri->username[0] != '\0');
}

/*
 * RFC 3261 §16.4: a strict router upstream put our Record-Route value into
 * the Request-URI.  Restore the Request-URI from the last Route and put our
 * value back on top, so the token rules below see it as a Route (EP-16).
 */
/*
 * The same fix in the bytes: the last Route value's URI (inside its <>)
 * replaces the Request-URI, and that value goes when the message is
 * forwarded (router_finish() in route.c).  Ours, put on top above, exists
 * in libosip2's list only: popping it pops nothing in the bytes.
 */
static int
strict_router_fix_raw(struct router_raw *raw)
{
	const struct sip_scan *s = &raw->scan;
	struct sip_span item, last = { 0, 0 };
	size_t pos;
	const char *lt, *gt;
	int i, found = 0;

	for (i = sip_scan_find(s, SIP_HDR_ROUTE, 0); i >= 0;
	    i = sip_scan_find(s, SIP_HDR_ROUTE, (size_t)i + 1)) {
		pos = s->h[i].value.off;
		while (sip_value_next(s->buf, s->h[i].value, &pos, &item)) {
			last = item;
			found = 1;
		}
	}
	if (!found || s->request_uri.len == 0) {
		return (-1);
	}
	lt = memchr(s->buf + last.off, '<', last.len);
	gt = lt != NULL ? memchr(lt, '>', (size_t)(s->buf + last.off +
	    last.len - lt)) : NULL;
	if (gt != NULL) {
		last.off = (size_t)(lt + 1 - s->buf);
		last.len = (size_t)(gt - lt - 1);
	}
	sip_edit_splice(&raw->edit, s->request_uri.off, s->request_uri.len,
	    s->buf + last.off, last.len);
	raw->strict_fixed = 1;
	raw->strict_pending = 1;
	return (0);
}

void
edge_strict_router_fix(struct router *r, osip_message_t *msg,
    struct router_raw *raw)
{
	osip_route_t *last, *ours;
	int n = osip_list_size(&msg->routes);

	if (n == 0 || !uri_is_token_route(r, msg->req_uri) ||
	    !sip_uri_has_param(msg->req_uri, "lr")) {
		return;
	}
	if (strict_router_fix_raw(raw) == -1) {
		return;
	}
	last = osip_list_get(&msg->routes, n - 1);
	if (osip_route_init(&ours) != 0) {
		raw->strict_fixed = raw->strict_pending = 0;
		return;
	}
	ours->url = msg->req_uri;
	msg->req_uri = last->url;
	last->url = NULL;
	osip_list_remove(&msg->routes, n - 1);
	osip_route_free(last);
	osip_list_add(&msg->routes, ours, 0);
	msg->message_property = 2;
}

/* Pop the top Route from libosip2's list now, from the bytes at the end. */
static void
route_pop(osip_message_t *msg, struct router_raw *raw)
{
	osip_route_t *top = osip_list_get(&msg->routes, 0);

	osip_list_remove(&msg->routes, 0);
	osip_route_free(top);
	if (raw->strict_pending) {
		raw->strict_pending = 0;
	} else {
		raw->routes_popped++;
	}
}

static int
same_flow(const struct flow_token *a, const struct flow_token *b)
{
	return (epsip_flow_id_equal(&a->flow, &b->flow));
}

void
edge_process_routes(struct router *r, const struct router_origin *origin,
    osip_message_t *msg, struct router_raw *raw,
    struct router_route_result *res)
{
	osip_route_t *top;

	memset(res, 0, sizeof(*res));
	while ((top = osip_list_get(&msg->routes, 0)) != NULL &&
	    router_is_self(r, top->url)) {
		struct flow_token t;
		enum flow_token_error err;
		const char *user = top->url->username;

		if (user == NULL || user[0] == '\0') {
			route_pop(msg, raw);	/* loose route to us */
			continue;
		}
		err = flow_token_decode(&r->keys, user, strlen(user), &t);
		if (err != FLOW_TOKEN_OK) {
			stats_inc(metric_label_find(MF_TOKENS_REJECTED,
			    flow_token_error_name(err)));
			res->status = 403;	/* FT-03, ER-06 */
			res->reason = "Invalid Flow Token";
			return;
		}
		if (origin->source == ROUTER_FROM_FLOW &&
		    same_flow(&t, &origin->flow)) {
			route_pop(msg, raw);	/* outgoing (EP-09) */
			continue;
		}
		if (!config_owns_instance(r->cfg, t.flow.instance)) {
			/* Genuine, but another edge's flow: not here. */
			stats_inc(M_TOKENS_REJECTED_OTHER_INSTANCE);
			res->status = 430;
			return;
		}
		res->has_target = 1;
		res->target = t;
		res->target_ob = sip_uri_has_param(top->url, "ob");
		route_pop(msg, raw);
		return;
	}
}

static int
contact_has_reg_id(const osip_message_t *msg)
{
	osip_contact_t *c;
	int pos = 0;

	while ((c = osip_list_get(&msg->contacts, pos++)) != NULL) {
		if (sip_generic_param(&c->gen_params, "reg-id") != NULL) {
			return (1);
		}
	}
	return (0);
}

/* A sips: request gets sips: Path and Record-Route. */
static int
request_is_sips(const osip_message_t *msg)
{
	return (msg->req_uri != NULL && msg->req_uri->scheme != NULL &&
	    strcasecmp(msg->req_uri->scheme, "sips") == 0);
}

static int
contact_has_ob(const osip_message_t *msg)
{
	osip_contact_t *c = osip_list_get(&msg->contacts, 0);

	return (c != NULL && sip_uri_has_param(c->url, "ob"));
}

/*
 * "<sip[s]:[TOKEN@]HOST:PORT[;transport=...];lr...>": our address on one
 * side of the edge.  The UA side is the flow's own local address and
 * transport; the core side (upstream mode) is core-advertise/core-listen
 * with the upstream's transport.  `flow` NULL: no token (a plain loose
 * route).  sips: when the request came as sips (RFC 3261 §16.6(4)).
 */
static int
edge_uri(const struct router *r, struct router_raw *raw,
    const struct flow_token *flow, enum edge_side side, int sips,
    const char *extra, char *out, size_t cap)
{
	char token[FLOW_TOKEN_MAX_TEXT] = "", hostport[CONFIG_NAME_MAX + 8];
	uint8_t transport;
	int n;

	if (flow != NULL && router_raw_token(r, raw, flow, token,
	    sizeof(token)) < 0) {
		return (-1);
	}
	if (side == EDGE_FACING_CORE) {
		if (router_core_hostport(r, hostport, sizeof(hostport)) == -1) {
			return (-1);
		}
		/* A TLS upstream reaches us back over our own connection
		 * (RFC 5923 alias in our Via, proxy.c). */
		transport = r->cfg->upstream.transport;
	} else {
		router_edge_hostport(r, flow, hostport, sizeof(hostport));
		transport = flow->transport;
	}
	n = snprintf(out, cap, "<%s:%s%s%s%s;lr%s>", sips ? "sips" : "sip",
	    token, token[0] != '\0' ? "@" : "", hostport,
	    sip_transport_uri_param(transport), extra);
	return (n < 0 || (size_t)n >= cap ? -1 : 0);
}

/* Which side the core reaches us on: the core-facing one in upstream mode. */
static enum edge_side
edge_core_side(const struct router *r)
{
	return (config_has_upstream(r->cfg) ? EDGE_FACING_CORE :
	    EDGE_FACING_UA);
}

/*
 * §5.1: a REGISTER from a flow gets our Path with the flow's token, `ob`
 * only when we are the first hop (one Via) and the UA asked for outbound
 * (reg-id).  Returns 0, or -1 with *status to answer (421, 500).
 */
int
edge_add_path(struct router *r, const struct router_origin *origin,
    osip_message_t *msg, struct router_raw *raw, int *status)
{
	char value[CONFIG_NAME_MAX + 160];
	int first_hop, reg_id, supports_path;

	*status = 0;
	if (origin->source != ROUTER_FROM_FLOW) {
		return (0);
	}
	first_hop = osip_list_size(&msg->vias) == 1;
	reg_id = contact_has_reg_id(msg);
	supports_path = sip_header_has_token(msg, "supported", "path");
	if (!supports_path && r->cfg->path_policy == PATH_STRICT) {
		if (reg_id) {
			*status = 421;	/* EP-06 */
			return (-1);
		}
		return (0);
	}
	/* The registrar's core uses Path to reach us: name the core side. */
	if (edge_uri(r, raw, &origin->flow, edge_core_side(r),
	    request_is_sips(msg), first_hop && reg_id ? ";ob" : "", value,
	    sizeof(value)) == -1) {
		*status = 500;		/* EP-04: no token, no REGISTER */
		return (-1);
	}
	sip_edit_insert_header(&raw->edit, sip_edit_top_of(&raw->scan,
	    SIP_HDR_PATH), "Path", value);
	stats_inc(M_TOKENS_ISSUED);
	return (0);
}

int
edge_wants_record_route(const struct router *r, const osip_message_t *msg,
    const struct router_origin *origin, const struct router_route_result *rr)
{
	if (!sip_is_dialog_forming(msg)) {
		return (0);
	}
	if (r->cfg->record_route == RECORD_ROUTE_ALWAYS) {
		return (rr->has_target || origin->source == ROUTER_FROM_FLOW);
	}
	if (rr->has_target) {
		return (rr->target_ob);			/* EP-12 */
	}
	return (origin->source == ROUTER_FROM_FLOW &&
	    contact_has_ob(msg));			/* EP-13 */
}

/* One Record-Route value, inserted above those already there (EP-14). */
static int
edge_insert_record_route(const struct router *r, const osip_message_t *msg,
    struct router_raw *raw, const struct flow_token *flow,
    enum edge_side side)
{
	char value[CONFIG_NAME_MAX + 160];

	if (edge_uri(r, raw, flow, side, request_is_sips(msg), "", value,
	    sizeof(value)) == -1) {
		return (-1);
	}
	/* Inserts at one place keep their order: the first call is on top. */
	sip_edit_insert_header(&raw->edit, sip_edit_top_of(&raw->scan,
	    SIP_HDR_RECORD_ROUTE), "Record-Route", value);
	if (flow != NULL) {
		stats_inc(M_TOKENS_ISSUED);
	}
	return (0);
}

/*
 * Record-Route with the token of the phone's flow.  When the request
 * crosses from one interface to the other (upstream mode, EP-15) we
 * record both: the value nearer each end faces that end, the token value
 * faces the UA, and in-dialog requests pop both (edge_process_routes).
 *   phone -> core:  [core-facing, UA-facing(token), ...]
 *   core -> phone:  [UA-facing(token), core-facing, ...]
 */
int
edge_add_record_route(struct router *r, osip_message_t *msg,
    struct router_raw *raw, const struct router_origin *origin,
    const struct router_route_result *rr)
{
	int crosses = config_has_upstream(r->cfg) &&
	    (origin->source == ROUTER_FROM_CORE) == (rr->has_target != 0);
	const struct flow_token *flow = rr->has_target ? &rr->target :
	    &origin->flow;

	if (!crosses) {
		return (edge_insert_record_route(r, msg, raw, flow,
		    EDGE_FACING_UA));
	}
	if (rr->has_target) {
		return (edge_insert_record_route(r, msg, raw, flow,
		    EDGE_FACING_UA) == -1 ? -1 : edge_insert_record_route(r,
		    msg, raw, NULL, EDGE_FACING_CORE));
	}
	return (edge_insert_record_route(r, msg, raw, NULL,
	    EDGE_FACING_CORE) == -1 ? -1 : edge_insert_record_route(r, msg,
	    raw, flow, EDGE_FACING_UA));
}
