/*
 * route.c -- where each SIP message goes.
 *
 *   request  from a flow: validate, stamp received/rport, token Routes,
 *            Path (REGISTER), Record-Route, Max-Forwards, our Via; then to
 *            the target flow (incoming) or the core (outgoing).
 *   request  from the core: must carry a token Route; then to that flow.
 *   response from anywhere: top Via must be ours; pop it and follow its
 *            `ept` token to the flow, or go to the core (response.c).
 * DIAGNOSTICS: none; every failure is a counted drop or a local reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/ipc.h"
#include "epsip/sip_edit.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"
#include "router.h"

int
router_init(struct router *r, const struct epsip_config *cfg, char *err,
    size_t errcap)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	sip_library_init();
	if (flow_token_keyring_load(cfg->key_file, cfg->previous_key_file,
	    &r->keys, err, errcap) == -1) {
		return (-1);
	}
	return (router_self_init(r, err, errcap));
}

void
router_free(struct router *r)
{
	router_self_free(r);
}

/* Scan the bytes the router will edit; -1 when they cannot be delimited. */
static int
raw_init(struct router_raw *raw, const char *buf, size_t len)
{
	if (sip_scan(buf, len, &raw->scan) == -1) {
		return (-1);
	}
	sip_edit_init(&raw->edit, &raw->scan);
	raw->arrival_mark = 0;
	raw->routes_popped = 0;
	raw->strict_fixed = 0;
	raw->strict_pending = 0;
	raw->token_of = NULL;
	return (0);
}

/*
 * Received/rport on a request's top Via (in the bytes too when they could
 * be scanned: `raw` not NULL); a local reply keeps them, nothing after.
 */
static void
stamp_arrival(osip_message_t *msg, struct router_raw *raw,
    const struct router_origin *origin)
{
	if (raw != NULL) {
		if (origin->source == ROUTER_FROM_FLOW) {
			proxy_stamp_received(msg, raw, &origin->flow.remote);
		}
		raw->arrival_mark = sip_edit_mark(&raw->edit);
	} else if (origin->source == ROUTER_FROM_FLOW) {
		sip_via_stamp_received(msg, &origin->flow.remote, 0);
	}
}

static int
is_options_to_us(struct router *r, const osip_message_t *msg)
{
	return (strcmp(msg->sip_method, "OPTIONS") == 0 &&
	    osip_list_size(&msg->routes) == 0 &&
	    router_is_self(r, msg->req_uri) &&
	    (msg->req_uri->username == NULL ||
	    msg->req_uri->username[0] == '\0'));
}

static void
route_request(struct router *r, const struct router_origin *origin,
    osip_message_t *msg, struct router_raw *raw,
    struct router_output *out)
{
	struct router_route_result rr;
	const struct flow_token *via_flow;
	const char *reason = NULL;
	int status;

	stats_inc(metric_sip_method(msg->sip_method));
	status = proxy_validate_request(r, raw, msg, &reason);
	if (status == -1) {
		router_drop(out, M_SIP_DROPPED_NO_VIA);
		return;
	}
	stamp_arrival(msg, raw, origin);
	if (status > 0) {
		reply_local(r, origin, msg, raw, status, reason, out);
		if (status == 400 && reason != NULL &&
		    strcmp(reason, "Duplicate Header") == 0) {
			out->flags |= EPSIP_MSG_F_CLOSE_AFTER_SEND; /* ER-02 */
		}
		return;
	}
	edge_strict_router_fix(r, msg, raw);
	edge_process_routes(r, origin, msg, raw, &rr);
	if (rr.status > 0) {
		reply_local(r, origin, msg, raw, rr.status, rr.reason, out);
		return;
	}
	if (!rr.has_target && origin->source == ROUTER_FROM_CORE) {
		/* The UA side is never resolved: no token, no flow (TR-14). */
		reply_local(r, origin, msg, raw, 404, "No Flow Token", out);
		return;
	}
	if (!rr.has_target && origin->source == ROUTER_FROM_FLOW &&
	    is_options_to_us(r, msg)) {
		reply_local(r, origin, msg, raw, 200, NULL, out);
		return;
	}
	if (strcmp(msg->sip_method, "REGISTER") == 0 && !rr.has_target &&
	    edge_add_path(r, origin, msg, raw, &status) == -1) {
		reply_local(r, origin, msg, raw, status, NULL, out);
		return;
	}
	if (edge_wants_record_route(r, msg, origin, &rr) &&
	    edge_add_record_route(r, msg, raw, origin, &rr) == -1) {
		reply_local(r, origin, msg, raw, 500, NULL, out);
		return;
	}
	proxy_decrement_max_forwards(msg, raw);
	/* Our Via names the side the next hop answers to (NULL: the core's). */
	via_flow = rr.has_target ? &rr.target : config_has_upstream(r->cfg) ?
	    NULL : &origin->flow;
	if (proxy_push_via(r, msg, origin, via_flow, raw) == -1) {
		reply_local(r, origin, msg, raw, 500, NULL, out);
		return;
	}
	if (rr.has_target) {
		router_finish(raw, ROUTER_TO_FLOW, &rr.target, out);
	} else {
		router_finish(raw, ROUTER_TO_CORE, NULL, out);
	}
}

/*
 * A request libosip2 refuses may still deserve its 400 or 416.  Its
 * values come from salvage.c's rebuilt request, made of the same Via,
 * From, To, Call-ID and CSeq lines the reply copies from the bytes
 * (`raw`, or NULL when they could not be scanned).
 */
static void
answer_unparseable(struct router *r, const struct router_origin *origin,
    const char *buf, size_t len, struct router_raw *raw,
    struct router_output *out)
{
	struct salvage_verdict v;
	osip_message_t *msg;

	if (salvage_request(buf, len, &msg, &v) == -1) {
		router_drop(out, M_SIP_DROPPED_PARSE_ERROR);
		return;
	}
	stats_inc(M_SIP_SALVAGED);
	stamp_arrival(msg, raw, origin);
	reply_local(r, origin, msg, raw, v.status, v.reason != NULL ?
	    v.reason : v.status == 400 ? "Malformed Request" : NULL, out);
	if (origin->source == ROUTER_FROM_FLOW &&
	    !epsip_transport_frames_messages(origin->flow.transport) &&
	    v.status == 400 && v.start_line_ok) {
		/*
		 * ER-02: a header libosip2 refuses on a stream (duplicated
		 * ones) smells of smuggling.  A bad start line does not:
		 * the framing held, and the connection stays (issue 12 §5).
		 */
		out->flags |= EPSIP_MSG_F_CLOSE_AFTER_SEND;
	}
	osip_message_free(msg);
}

/* Nothing but CR, LF, space or tab in buf[0..len). */
static int
only_blank(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\r' && buf[i] != '\n' && buf[i] != ' ' &&
		    buf[i] != '\t') {
			return (0);
		}
	}
	return (1);
}

/*
 * The scan comes first: it tells a response, which needs nothing from
 * libosip2 (response.c), from a request, which is still decided on
 * libosip2's values.  Lines the scan cannot tell apart go to salvage as
 * a request libosip2 refused would.
 */
void
router_process(struct router *r, const struct router_origin *origin,
    const char *buf, size_t len, struct router_output *out)
{
	struct router_raw raw;
	osip_message_t *msg;
	size_t msg_len = len;
	int trim = 0, scanned;

	memset(out, 0, sizeof(*out));
	/* A datagram or a WebSocket message is one message: Content-Length
	 * may be absent or short (RFC 3261 §18.3, RFC 7118 §5). */
	if (origin->source == ROUTER_FROM_FLOW &&
	    epsip_transport_frames_messages(origin->flow.transport)) {
		trim = proxy_udp_trim(buf, len, &msg_len);
		if (trim == -1) {
			router_drop(out,
			    M_SIP_DROPPED_UNFRAMEABLE_DATAGRAM);
			return;
		}
		if (trim == 0 && origin->flow.transport !=
		    EPSIP_TRANSPORT_UDP && !only_blank(buf + msg_len,
		    len - msg_len)) {
			trim = 2;	/* TR-12: a second message after it */
		}
	}
	scanned = raw_init(&raw, buf, msg_len) == 0;
	if (scanned && raw.scan.request_uri.len == 0) {
		response_route(r, &raw, trim != 0, out);
		return;
	}
	if (!scanned || sip_parse(buf, msg_len, &msg) != 0) {
		answer_unparseable(r, origin, buf, msg_len, scanned ? &raw :
		    NULL, out);
		return;
	}
	if (trim == 1) {
		stamp_arrival(msg, &raw, origin);
		reply_local(r, origin, msg, &raw, 400, "Body Shorter Than "
		    "Content-Length", out);			/* TR-08 */
	} else if (trim == 2) {
		/* RFC 7118 §5: one SIP message per WebSocket message. */
		stamp_arrival(msg, &raw, origin);
		reply_local(r, origin, msg, &raw, 400, "One SIP Message Per "
		    "WebSocket Message", out);			/* TR-12 */
	} else {
		route_request(r, origin, msg, &raw, out);
	}
	osip_message_free(msg);
}

void
router_undeliverable(struct router *r, const char *buf, size_t len,
    struct router_output *out)
{
	struct router_origin back;
	struct router_raw raw;
	osip_message_t *msg;
	osip_via_t *via;

	memset(out, 0, sizeof(*out));
	if (sip_parse(buf, len, &msg) != 0) {
		router_drop(out, M_SIP_DROPPED_PARSE_ERROR);
		return;
	}
	if (raw_init(&raw, buf, len) == -1) {
		router_drop(out, M_SIP_DROPPED_PARSE_ERROR);
	} else if (MSG_IS_RESPONSE(msg)) {
		/* TR-06: never deliver a response on another flow. */
		router_drop(out, M_SIP_DROPPED_RESPONSE_FLOW_GONE);
	} else if (strcmp(msg->sip_method, "ACK") == 0) {
		/* ACK gets no answer */
		router_drop(out, M_SIP_DROPPED_ACK_FLOW_GONE);
	} else if (proxy_pop_own_via(r, &raw, &back) == -1) {
		router_drop(out, M_SIP_DROPPED_UNDELIVERABLE_NOT_OURS);
	} else {
		/* A reply libosip2 prints must not name us either. */
		if ((via = osip_list_get(&msg->vias, 0)) != NULL) {
			osip_list_remove(&msg->vias, 0);
			osip_via_free(via);
		}
		raw.arrival_mark = sip_edit_mark(&raw.edit);
		reply_local(r, &back, msg, &raw, 430, NULL, out); /* EP-11 */
	}
	osip_message_free(msg);
}

void
router_framing_error(struct router *r, const struct router_origin *origin,
    int status, const char *headers, size_t len, struct router_output *out)
{
	struct router_raw raw, *rawp;
	struct salvage_verdict salvaged;
	osip_message_t *msg = NULL;

	memset(out, 0, sizeof(*out));
	/* Framing broke on exactly what libosip2 refuses (two CLs): salvage. */
	if (status > 0 && sip_parse(headers, len, &msg) != 0 &&
	    salvage_request(headers, len, &msg, &salvaged) != 0) {
		msg = NULL;
	}
	if (msg != NULL && MSG_IS_REQUEST(msg) &&
	    osip_list_size(&msg->vias) > 0) {
		rawp = raw_init(&raw, headers, len) == 0 ? &raw : NULL;
		stamp_arrival(msg, rawp, origin);
		reply_local(r, origin, msg, rawp, status, NULL, out);
	}
	if (msg != NULL) {
		osip_message_free(msg);
	}
	if (out->dest != ROUTER_TO_FLOW) {
		/* Nothing to say: just close (empty payload). */
		memset(out, 0, sizeof(*out));
		out->dest = ROUTER_TO_FLOW;
	}
	out->flow = origin->flow;
	out->flags |= EPSIP_MSG_F_CLOSE_AFTER_SEND;
}
