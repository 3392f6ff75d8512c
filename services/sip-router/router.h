/*
 * router.h -- the sip-router: stateless RFC 3261 §16.11 proxy logic plus
 * the RFC 5626 §5 edge procedures.
 *
 * router_process() is pure: bytes and their origin in, at most one routed
 * message out.  It keeps no per-message state, so the router can restart
 * (or run as several copies) without losing anything: the way back for
 * every response is written into the router's own Via (the `ept` param
 * holds the arrival flow's token), and the way to every flow is the flow
 * token in the Route.
 */
#ifndef EPSIP_SIP_ROUTER_H
#define EPSIP_SIP_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#include "epsip/config.h"
#include "epsip/flow_token.h"
#include "epsip/metrics.h"
#include "epsip/router_via.h"
#include "epsip/sip_edit.h"

struct router_self;

struct router {
	const struct epsip_config *cfg;
	struct flow_token_keyring keys;
	struct router_self *self;
};

enum router_source {
	ROUTER_FROM_FLOW,	/* a phone, through a flow-manager child */
	ROUTER_FROM_CORE,	/* the registrar-bridge */
};

/* Where a message came from: local replies go back there. */
struct router_origin {
	enum router_source source;
	struct flow_token flow;		/* ROUTER_FROM_FLOW only */
};

enum router_dest {
	ROUTER_DROP,		/* nothing to send (counted, maybe logged) */
	ROUTER_TO_FLOW,		/* send `sip` on `flow` */
	ROUTER_TO_CORE,		/* send `sip` to the registrar-bridge */
};

struct router_output {
	enum router_dest dest;
	struct flow_token flow;		/* ROUTER_TO_FLOW */
	char *sip;			/* malloc'ed; router_output_clear frees */
	size_t sip_len;
	uint16_t flags;			/* EPSIP_MSG_F_* */
	unsigned flow_timer;		/* >0: the flow may be silent this long
				 * (+ grace): Flow-Timer or expiry */
	int registered;			/* a 2xx REGISTER: FLOW_SET_TIMER */
	char aor[EPSIP_AOR_MAX];	/* ... for this AoR, its To URI */
	size_t aor_len;
	int local_status;		/* >0: `sip` is our own reply */
	const char *drop_reason;	/* ROUTER_DROP: why (a stats name) */
};

int router_init(struct router *r, const struct epsip_config *cfg, char *err,
    size_t errcap);
void router_free(struct router *r);

/* Route one SIP message (a UDP datagram or a framed stream message). */
void router_process(struct router *r, const struct router_origin *origin,
    const char *buf, size_t len, struct router_output *out);

/*
 * A message we sent to a flow could not be delivered (the child said so,
 * or it was not there to dial): requests get 430 at their origin, which we
 * read back from our own Via (EP-11, EP-20).
 */
void router_undeliverable(struct router *r, const char *buf, size_t len,
    struct router_output *out);

/* A stream's framing broke: answer `status` from its headers, then close. */
void router_framing_error(struct router *r, const struct router_origin *origin,
    int status, const char *headers, size_t len, struct router_output *out);

/*
 * The message as it arrived and this hop's edits to it (issue 7 §2).
 * The router decides a request on libosip2's values and a response on
 * the scan's, but what it sends is these bytes with the edits spliced
 * in: every header the edge does not own leaves byte for byte.
 */
struct router_raw {
	struct sip_scan scan;
	struct sip_edit edit;
	/* Edits before it came with the arrival (received/rport, or our
	 * Via popped): a local reply keeps them and drops the rest. */
	size_t arrival_mark;
	size_t routes_popped;	/* Route values to pop when forwarding */
	int strict_fixed;	/* the last Route went into the R-URI */
	int strict_pending;	/* ... and ours, from the R-URI, is on top
				 * in libosip2's list only */
	const struct flow_token *token_of;	/* `token` names this flow */
	char token[FLOW_TOKEN_MAX_TEXT];
};

/* --- output.c: what every path ends with --- */
void router_output_clear(struct router_output *out);

/*
 * The token text of `flow`, made once per message: Path or Record-Route
 * and our Via's `ept` name the same flow, and each token costs an HMAC.
 */
int router_raw_token(const struct router *r, struct router_raw *raw,
    const struct flow_token *flow, char *text, size_t cap);

/* The token text naming `flow` (for Path, Record-Route, Via, FLOW_CLOSED). */
int router_flow_token(const struct router *r, const struct flow_token *flow,
    char *text, size_t cap);

/* --- edge.c: RFC 5626 §5 --- */
enum edge_side {
	EDGE_FACING_UA,		/* the flow's own address and transport */
	EDGE_FACING_CORE,	/* core-listen/core-advertise (upstream mode) */
};
struct router_route_result {
	int has_target;			/* incoming: deliver on `target` */
	struct flow_token target;
	int target_ob;			/* the token Route had ;ob */
	int status;			/* >0: answer with this (403...) */
	const char *reason;
};
void edge_strict_router_fix(struct router *r, osip_message_t *msg,
    struct router_raw *raw);
void edge_process_routes(struct router *r, const struct router_origin *origin,
    osip_message_t *msg, struct router_raw *raw,
    struct router_route_result *res);
int edge_add_path(struct router *r, const struct router_origin *origin,
    osip_message_t *msg, struct router_raw *raw, int *status);
int edge_add_record_route(struct router *r, osip_message_t *msg,
    struct router_raw *raw, const struct router_origin *origin,
    const struct router_route_result *rr);
int edge_wants_record_route(const struct router *r, const osip_message_t *msg,
    const struct router_origin *origin, const struct router_route_result *rr);

/* Nothing to send; `why` (M_SIP_DROPPED_*) is counted and kept as text. */
void router_drop(struct router_output *out, enum metric_id why);
/* The hop's last edits applied: `out` holds the message for `dest`. */
void router_finish(struct router_raw *raw, enum router_dest dest,
    const struct flow_token *flow, struct router_output *out);

/* --- response.c: responses, from the scan alone --- */
/* `short_body`: a datagram shorter than its Content-Length (TR-08). */
void response_route(struct router *r, struct router_raw *raw,
    int short_body, struct router_output *out);

/* --- proxy.c: RFC 3261 §16.3, §16.6, §16.11, §18 --- */
int proxy_validate_request(struct router *r, const struct router_raw *raw,
    osip_message_t *msg, const char **reason);
/* 1 when a header that may appear once appears twice (ER-02). */
int proxy_duplicate_single_header(const struct sip_scan *s);
void proxy_decrement_max_forwards(const osip_message_t *msg,
    struct router_raw *raw);
/* via_flow NULL: name the core side (upstream mode). */
int proxy_push_via(struct router *r, const osip_message_t *msg,
    const struct router_origin *origin, const struct flow_token *via_flow,
    struct router_raw *raw);
/* Pops our Via in the bytes only; libosip2's list is the caller's. */
int proxy_pop_own_via(struct router *r, struct router_raw *raw,
    struct router_origin *back);
/* received/rport on the top Via, in libosip2's values and in the bytes. */
void proxy_stamp_received(osip_message_t *msg, struct router_raw *raw,
    const struct epsip_addr *src);
int proxy_udp_trim(const char *buf, size_t len, size_t *msg_len);

/* --- salvage.c --- */
/* What a salvaged request is answered. */
struct salvage_verdict {
	int status;		/* 400, 416 or 505 */
	const char *reason;	/* NULL: the status's own */
	int start_line_ok;	/* 0: the start line is what is wrong */
};
int salvage_request(const char *buf, size_t len, osip_message_t **msg,
    struct salvage_verdict *v);

/* --- reply.c --- */
/*
 * `raw` NULL (a salvaged request): the reply is printed by libosip2;
 * otherwise its Via, From, To, Call-ID and CSeq lines are the request's
 * bytes (RFC 3261 §8.2.6.2).
 */
void reply_local(struct router *r, const struct router_origin *origin,
    osip_message_t *req, struct router_raw *raw, int status,
    const char *reason, struct router_output *out);
int reply_serialize(osip_message_t *msg, struct router_output *out);

/* --- self.c: which hosts mean "this edge" (EP-17) --- */
int router_self_init(struct router *r, char *err, size_t errcap);
void router_self_free(struct router *r);
int router_is_self(const struct router *r, const osip_uri_t *uri);
/* HOST:PORT of the edge as a flow's peer sees it. */
void router_edge_hostport(const struct router *r, const struct flow_token *flow,
    char *buf, size_t cap);
/* HOST:PORT of the edge as the core sees it; -1 in embedded mode. */
int router_core_hostport(const struct router *r, char *buf, size_t cap);

#endif /* EPSIP_SIP_ROUTER_H */
