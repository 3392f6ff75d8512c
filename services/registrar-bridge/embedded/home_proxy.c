/*
 * home_proxy.c -- the authoritative (home) proxy of the embedded core,
 * see home_proxy.h.  Checklist RG-23..RG-28, RFC 3261 §16.
 *
 * A request from a phone for an AOR we serve becomes a serial fork over
 * its bindings, one branch in flight at a time:
 *
 *   targets  one per instance (RG-23: never two flows of one instance at
 *            once), holding its bindings lowest reg-id first; a plain
 *            binding without instance is a target of its own.  Targets are
 *            tried in the order of their best binding: q descending, then
 *            most recently refreshed.  Serial forking keeps RG-23 trivially
 *            true and never rings a phone twice; parallel forking across
 *            instances is a possible later refinement.
 *   430/408  from a branch: try the same instance's next reg-id (RG-24);
 *            430 also deletes that stale binding, as in RFC 5626 §7's
 *            example.  Any other final from an instance ends that instance
 *            (RG-25) and the next target is tried.
 *   2xx, 6xx forwarded at once, forking stops (RFC 3261 §16.7(5)).
 *   nothing  left: the best final (lowest class; a real answer beats our own
 *            408; 503 becomes 500, §16.7(6)); a 430 is never forwarded,
 *            and when no other answer was seen the caller gets 480
 *            (RG-28: endpoints should never see 430).
 *
 * Authentication first (auth.h): an INVITE, MESSAGE or SUBSCRIBE outside
 * a dialog without good credentials gets 407 (or 403) through its
 * transaction, so its ACK is absorbed like any other final's.
 *
 * Local answers: R-URI not sip/sips 416; domain not served, or no user
 * part, 404; a served AOR without live bindings 480 (the user may
 * register again soon, so "temporarily"); Max-Forwards 0 483.  An
 * in-dialog request (To tag) that reaches us goes to the binding whose
 * Contact URI equals its R-URI, else 404; such ACKs are forwarded
 * statelessly.  The bridge never Record-Routes.
 *
 * Bytes (issue 7 §2): what we forward or relay is the caller's or the
 * phone's own message (rb_parse() keeps it) with our edits spliced in
 * (rb_forward_bytes(), rb_relay_bytes()): headers we do not own leave
 * byte for byte, in order, with their case, compact forms and comma
 * lists.  Our own answers copy the request's lines (rb_reply_bytes()).
 * libosip2 reads values and makes the decisions; its print is only used
 * for a message that reached us without bytes (not through rb_parse()).
 *
 * DIAGNOSTICS: none fatal; SIP from phones is untrusted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "epsip/log.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "auth.h"
#include "home_proxy.h"
#include "registrar.h"
#include "registrar_answer.h"

struct home_proxy {
	const struct epsip_config *cfg;
	struct location_db *db;
	struct rb_txn *txn;
	const struct rb_out *out;
	struct auth *auth;	/* NULL: nobody is asked */
	int64_t now;		/* Unix time of the event being handled */
};

/* The forking state of one server transaction. */
struct hp_fork {
	struct home_proxy_plan plan;
	size_t cur;		/* target being tried */
	struct rb_ctx *live;	/* branch in flight, or NULL */
	osip_message_t *best;	/* best final so far, our Via still on */
	int cancelled;
};

static void next_branch(struct home_proxy *, struct rb_stx *, uint64_t);

static void
fork_free(void *arg)
{
	struct hp_fork *fork = arg;

	if (fork == NULL) {
		return;
	}
	home_proxy_plan_clear(&fork->plan);
	if (fork->best != NULL) {
		osip_message_free(fork->best);
	}
	free(fork);
}

/* Lowest reg-id first; plain bindings (reg-id 0) after them. */
static int
binding_order(const void *a, const void *b)
{
	const struct location_binding *x = a, *y = b;
	uint64_t kx = x->reg_id != 0 ? x->reg_id : UINT64_MAX;
	uint64_t ky = y->reg_id != 0 ? y->reg_id : UINT64_MAX;

	if (kx != ky) {
		return (kx < ky ? -1 : 1);
	}
	if (x->updated_at != y->updated_at) {
		return (x->updated_at > y->updated_at ? -1 : 1);
	}
	return (x->id > y->id ? -1 : x->id < y->id);
}

int
home_proxy_plan(struct location_list *list, struct home_proxy_plan *plan)
{
	size_t i, j;

	memset(plan, 0, sizeof(*plan));
	if (list->count == 0) {
		return (0);
	}
	if ((plan->targets = calloc(list->count, sizeof(*plan->targets))) ==
	    NULL) {
		return (-1);
	}
	for (i = 0; i < list->count; i++) {
		struct location_binding *b = &list->v[i];
		struct home_proxy_target *t = NULL;
		struct location_binding *v;

		/* RG-23, RG-15: one target per (AOR, instance). */
		for (j = 0; b->instance[0] != '\0' && j < plan->count; j++) {
			if (strcmp(plan->targets[j].bindings[0].instance,
			    b->instance) == 0) {
				t = &plan->targets[j];
				break;
			}
		}
		if (t == NULL) {
			t = &plan->targets[plan->count++];
		}
		v = realloc(t->bindings, (t->count + 1) * sizeof(*v));
		if (v == NULL) {
			home_proxy_plan_clear(plan);
			location_list_clear(list);
			return (-1);
		}
		t->bindings = v;
		t->bindings[t->count++] = *b;
		memset(b, 0, sizeof(*b));	/* moved */
	}
	for (j = 0; j < plan->count; j++) {
		qsort(plan->targets[j].bindings, plan->targets[j].count,
		    sizeof(struct location_binding), binding_order);
	}
	location_list_clear(list);
	return (0);
}

void
home_proxy_plan_clear(struct home_proxy_plan *plan)
{
	size_t i, j;

	for (i = 0; i < plan->count; i++) {
		for (j = 0; j < plan->targets[i].count; j++) {
			location_binding_clear(&plan->targets[i].bindings[j]);
		}
		free(plan->targets[i].bindings);
	}
	free(plan->targets);
	memset(plan, 0, sizeof(*plan));
}

static void
on_timeout(void *arg, struct rb_ctx *ctx, uint64_t now_ms);

struct home_proxy *
home_proxy_new(const struct epsip_config *cfg, struct location_db *db,
    struct rb_txn *txn, const struct rb_out *out)
{
	struct home_proxy *hp;
	struct rb_txn_events ev;

	if ((hp = calloc(1, sizeof(*hp))) == NULL) {
		return (NULL);
	}
	hp->cfg = cfg;
	hp->db = db;
	hp->txn = txn;
	hp->out = out;
	ev.timeout = on_timeout;
	ev.arg = hp;
	rb_txn_set_events(txn, &ev);
	return (hp);
}

void
home_proxy_free(struct home_proxy *hp)
{
	free(hp);
}

void
home_proxy_set_auth(struct home_proxy *hp, struct auth *auth)
{
	hp->auth = auth;
}

/*
 * The request for one binding (RFC 3261 §16.6, RG-26): R-URI = the
 * Contact URI, the Path as Route, Max-Forwards decremented, our Via on
 * top.  An in-dialog request that still carries Routes (a route set
 * through another edge, topology 4) already leads to the phone: the Path
 * would be a second way to the same flow, and its left-over Routes would
 * reach the phone (§16.12), so it is forwarded along them alone.
 */
/*
 * Where a branch goes first (§16.6(7)): its top Route (the Path, naming
 * the flow's transport, or another edge's core side), else the R-URI.
 * Retransmissions depend on that hop, not on what the Contact says.
 */
static const osip_uri_t *
first_hop(const osip_message_t *m)
{
	const osip_route_t *top = osip_list_get(&m->routes, 0);

	return (top != NULL && top->url != NULL ? top->url : m->req_uri);
}

static int
follows_route_set(const osip_message_t *req)
{
	return (rb_to_tag(req) != NULL && osip_list_size(&req->routes) > 0);
}

static osip_message_t *
branch_request(const osip_message_t *orig, const struct location_binding *b,
    char *branch, size_t cap)
{
	osip_message_t *m;
	osip_uri_t *uri;
	size_t i;
	int mf;

	if (osip_message_clone(orig, &m) != 0) {
		return (NULL);
	}
	/* Changed field by field below: the caller's bytes no longer fit. */
	rb_forget_bytes(m);
	if (osip_uri_init(&uri) != 0) {
		goto fail;
	}
	if (osip_uri_parse(uri, b->contact_uri) != 0) {
		osip_uri_free(uri);
		goto fail;
	}
	osip_uri_free(m->req_uri);
	m->req_uri = uri;
	for (i = 0; !follows_route_set(orig) && i < b->path_count; i++) {
		osip_route_t *route = rb_route_parse(b->path[i]);

		if (route == NULL) {
			goto fail;
		}
		osip_list_add(&m->routes, route, (int)i);
	}
	mf = rb_max_forwards(orig);
	if (rb_set_max_forwards(m, mf < 0 ? 70 : mf - 1) != 0 ||
	    rb_push_via(m, branch, cap) != 0) {
		goto fail;
	}
	return (m);
fail:
	log_warnx("home proxy: binding %lld (%s): cannot build a request",
	    (long long)b->id, b->contact_uri);
	osip_message_free(m);
	return (NULL);
}

/*
 * The bytes of the request branch_request() made (same edits, same
 * branch), from the caller's own bytes; without them (a request built
 * here), libosip2's print.  0 or -1.
 */
static int
branch_bytes(const osip_message_t *orig, osip_message_t *m,
    const struct location_binding *b, const char *branch, char **wire,
    size_t *len)
{
	struct rb_forward f;
	const char *buf;
	char via[128];
	size_t blen;
	int mf;

	if ((buf = rb_bytes(orig, &blen)) == NULL) {
		osip_message_force_update(m);
		return (sip_serialize(m, wire, len));
	}
	if (rb_via_value(branch, via, sizeof(via)) != 0) {
		return (-1);
	}
	memset(&f, 0, sizeof(f));
	f.request_uri = b->contact_uri;
	if (!follows_route_set(orig)) {
		f.routes = b->path;
		f.route_count = b->path_count;
	}
	f.via = via;
	mf = rb_max_forwards(orig);
	f.max_forwards = mf < 0 ? 70 : mf - 1;
	return (rb_forward_bytes(buf, blen, &f, wire, len));
}

/*
 * Our own answer to the caller, through its transaction: from the
 * request's own lines when it has bytes (Via, From, To, Call-ID and CSeq
 * leave as the caller wrote them, RFC 3261 §8.2.6.2), else libosip2's
 * print.
 */
static void
local_reply(struct home_proxy *hp, struct rb_stx *stx, int status,
    const char *reason, uint64_t now_ms)
{
	const char *buf;
	char *wire;
	size_t blen, len;

	if ((buf = rb_bytes(stx->req, &blen)) == NULL ||
	    rb_reply_bytes(buf, blen, status, reason, &wire, &len) != 0) {
		rb_stx_reply(hp->txn, stx, status, reason, now_ms);
		return;
	}
	rb_stx_respond_wire(hp->txn, stx, status, wire, len, now_ms);
}

/* A stateless answer (to a CANCEL), from the request's own lines. */
static void
reply_now(struct home_proxy *hp, const osip_message_t *req, int status,
    const char *reason)
{
	const char *buf;
	char *wire;
	size_t blen, len;

	if ((buf = rb_bytes(req, &blen)) == NULL ||
	    rb_reply_bytes(buf, blen, status, reason, &wire, &len) != 0) {
		rb_reply_send(hp->out, req, status, reason);
		return;
	}
	if (rb_send_bytes(hp->out, wire, len, status) != 0) {
		log_warnx("home proxy: cannot queue a %d", status);
	}
	free(wire);
}

/*
 * The bytes of a branch's response as the caller gets them: our Via
 * popped, the status `resp` has now (503 became 500).  A response without
 * bytes is printed, its Via already popped by the caller.
 */
static int
relayed_bytes(osip_message_t *resp, char **wire, size_t *len)
{
	const char *buf;
	size_t blen;

	if ((buf = rb_bytes(resp, &blen)) == NULL) {
		osip_message_force_update(resp);
		return (sip_serialize(resp, wire, len));
	}
	return (rb_relay_bytes(buf, blen, resp->status_code,
	    resp->reason_phrase, wire, len));
}

/* Relay `resp` (our Via already popped from its fields) to the caller. */
static void
relay(struct home_proxy *hp, struct rb_stx *stx, osip_message_t *resp,
    uint64_t now_ms)
{
	char *wire;
	size_t len;

	if (relayed_bytes(resp, &wire, &len) != 0) {
		log_warnx("home proxy: a %d cannot be relayed",
		    resp->status_code);
		return;
	}
	if (stx != NULL) {
		rb_stx_respond_wire(hp->txn, stx, resp->status_code, wire,
		    len, now_ms);
		return;
	}
	/* Stateless: a 2xx after the final (RFC 6026). */
	if (rb_send_bytes(hp->out, wire, len, resp->status_code) != 0) {
		log_warnx("home proxy: cannot queue a %d", resp->status_code);
	}
	free(wire);
}

/* The caller's final answer: ours, or the best a branch gave. */
static void
answer_caller(struct home_proxy *hp, struct rb_stx *stx, uint64_t now_ms)
{
	struct hp_fork *fork = stx->user;
	osip_message_t *best = fork->best;

	if (fork->cancelled && (best == NULL || best->status_code != 487)) {
		local_reply(hp, stx, 487, NULL, now_ms);
		return;
	}
	if (best == NULL) {
		/* RG-28: every flow failed (430) or none was left. */
		local_reply(hp, stx, 480, "Temporarily Unavailable",
		    now_ms);
		return;
	}
	rb_pop_via(best);
	if (best->status_code == 503) {
		/* §16.7(6): a 503 is not ours to pass on. */
		osip_message_set_status_code(best, 500);
		osip_free(best->reason_phrase);
		best->reason_phrase = osip_strdup("Server Internal Error");
	}
	relay(hp, stx, best, now_ms);
}

/*
 * Send the caller our final answer (the fork is over).  While the
 * transaction lingers its plan and best answer serve nothing: a late
 * answer is only relayed (2xx) or dropped, so they go now, like the
 * transaction's own copies of the request (transaction.c, stx_settle).
 */
static void
finish(struct home_proxy *hp, struct rb_stx *stx, uint64_t now_ms)
{
	struct hp_fork *fork = stx->user;

	if (stx->state != RB_STX_PROCEEDING) {
		return;
	}
	answer_caller(hp, stx, now_ms);
	home_proxy_plan_clear(&fork->plan);
	fork->cur = 0;
	if (fork->best != NULL) {
		osip_message_free(fork->best);
		fork->best = NULL;
	}
}

/* Is `a` a better final answer than `b` (RFC 3261 §16.7(6))? */
static int
better(const osip_message_t *a, const osip_message_t *b)
{
	int ca = a->status_code / 100, cb = b->status_code / 100;

	if (ca != cb) {
		return (ca < cb);
	}
	/* A phone's own answer beats a timeout. */
	return (b->status_code == 408 && a->status_code != 408);
}

/* Keep `resp` if it is the best so far; takes it. */
static void
keep_best(struct hp_fork *fork, osip_message_t *resp)
{
	/* RG-28: 430 is between us and the edge; never the caller's. */
	if (resp->status_code == 430 || (fork->best != NULL &&
	    !better(resp, fork->best))) {
		osip_message_free(resp);
		return;
	}
	if (fork->best != NULL) {
		osip_message_free(fork->best);
	}
	fork->best = resp;
}

/* A response of the live branch; takes `resp`. */
static void
branch_response(struct home_proxy *hp, struct rb_ctx *ctx,
    osip_message_t *resp, uint64_t now_ms)
{
	struct rb_stx *stx = ctx->stx;
	struct hp_fork *fork = stx->user;
	int status = resp->status_code;
	struct home_proxy_target *t;

	if (status < 200) {
		/* §16.7(5): provisionals except 100 go upstream. */
		if (status > 100 && stx->state == RB_STX_PROCEEDING) {
			rb_pop_via(resp);
			relay(hp, stx, resp, now_ms);
		}
		osip_message_free(resp);
		return;
	}
	if (fork->live == ctx) {
		fork->live = NULL;
	}
	if (status < 300 || status >= 600) {
		/* §16.7(5): 2xx always, 6xx ends the fork. */
		rb_pop_via(resp);
		if (stx->state == RB_STX_PROCEEDING) {
			relay(hp, stx, resp, now_ms);
		} else if (status < 300) {
			relay(hp, NULL, resp, now_ms);
		}
		osip_message_free(resp);
		return;
	}
	t = fork->cur < fork->plan.count ? &fork->plan.targets[fork->cur] :
	    NULL;
	if (status == 430) {
		/* RG-24: that flow is gone; so is its binding. */
		stats_inc(M_PROXY_FAILOVER_430);
		if (ctx->binding_flow != NULL && location_remove_id(hp->db,
		    ctx->binding_id, ctx->binding_flow) == 0) {
			registrar_update_gauge(hp->db, hp->now);
		}
	} else if (status != 408 && t != NULL) {
		/* RG-25: the instance answered; no other flow of it. */
		t->next = t->count;
	}
	keep_best(fork, resp);
	if (fork->cancelled || stx->state != RB_STX_PROCEEDING) {
		finish(hp, stx, now_ms);
		return;
	}
	next_branch(hp, stx, now_ms);
}

/* Start the next binding of the plan, or finish. */
static void
next_branch(struct home_proxy *hp, struct rb_stx *stx, uint64_t now_ms)
{
	struct hp_fork *fork = stx->user;

	/* A finished transaction starts no branch (its request is gone). */
	if (stx->state != RB_STX_PROCEEDING) {
		return;
	}
	while (fork->cur < fork->plan.count) {
		struct home_proxy_target *t = &fork->plan.targets[fork->cur];
		struct location_binding *b;
		char branch[RB_BRANCH_MAX], *wire;
		osip_message_t *m;
		size_t len;

		if (t->next >= t->count) {
			fork->cur++;
			continue;
		}
		b = &t->bindings[t->next++];
		if ((m = branch_request(stx->req, b, branch,
		    sizeof(branch))) == NULL) {
			continue;
		}
		if (branch_bytes(stx->req, m, b, branch, &wire, &len) != 0) {
			log_warnx("home proxy: binding %lld: cannot edit the "
			    "request", (long long)b->id);
			osip_message_free(m);
			continue;
		}
		/* Retransmissions (SP-10) repeat these very bytes. */
		fork->live = rb_ctx_new_wire(hp->txn, stx, m, wire, len,
		    branch, rb_uri_unreliable(first_hop(m)), b->id, now_ms);
		if (fork->live == NULL) {
			free(wire);
			osip_message_free(m);
			continue;
		}
		/* NULL without memory: a 430 then removes nothing (RG-24). */
		fork->live->binding_flow = strdup(b->flow_token != NULL ?
		    b->flow_token : "");
		return;
	}
	finish(hp, stx, now_ms);
}

/*
 * Our 408 for a branch gets the bytes the phone's answer would have had:
 * a reply to the branch's own wire, our Via on top, so it is relayed
 * like one.  0, or -1 (`resp` freed).
 */
static int
timeout_bytes(const struct rb_ctx *ctx, osip_message_t *resp)
{
	char *wire;
	size_t len;
	int rv;

	if (rb_reply_bytes(ctx->wire, ctx->wire_len, 408, "Request Timeout",
	    &wire, &len) != 0) {
		osip_message_free(resp);
		return (-1);
	}
	rv = rb_keep_bytes(resp, wire, len);
	free(wire);
	if (rv != 0) {
		osip_message_free(resp);
	}
	return (rv);
}

/* B/F (or C then B) fired on a branch: as if it had answered 408. */
static void
on_timeout(void *arg, struct rb_ctx *ctx, uint64_t now_ms)
{
	struct home_proxy *hp = arg;
	osip_message_t *resp;

	if (ctx->stx->user == NULL) {
		return;
	}
	if (rb_reply(ctx->req, 408, "Request Timeout", &resp) != 0 ||
	    timeout_bytes(ctx, resp) != 0) {
		/* Cannot even build it: end the fork without this answer. */
		struct hp_fork *fork = ctx->stx->user;

		if (fork->live == ctx) {
			fork->live = NULL;
		}
		next_branch(hp, ctx->stx, now_ms);
		return;
	}
	branch_response(hp, ctx, resp, now_ms);
}

void
home_proxy_response(struct home_proxy *hp, osip_message_t *resp,
    int64_t now, uint64_t now_ms)
{
	struct rb_ctx *ctx;

	hp->now = now;
	switch (rb_txn_response(hp->txn, resp, now_ms, &ctx)) {
	case RB_RESP_NEW:
		branch_response(hp, ctx, resp, now_ms);
		return;
	case RB_RESP_RETRANSMIT_2XX:
		/* RFC 6026: 2xx retransmissions pass through. */
		rb_pop_via(resp);
		relay(hp, NULL, resp, now_ms);
		break;
	case RB_RESP_ABSORBED:
	case RB_RESP_DROP:
		break;
	}
	osip_message_free(resp);
}

/* The binding an in-dialog request's R-URI names: 1, 0 or -1. */
static int
dialog_target(struct home_proxy *hp, const osip_message_t *req,
    struct location_binding *b)
{
	char *uri;
	int rv;

	if ((uri = rb_uri_text(req->req_uri)) == NULL) {
		return (0);
	}
	rv = location_find_contact(hp->db, uri, hp->now, b);
	free(uri);
	return (rv);
}

/* An ACK: ours to absorb (non-2xx), or in-dialog: pass it on. */
static void
handle_ack(struct home_proxy *hp, osip_message_t *ack)
{
	struct location_binding b;
	struct rb_stx *stx;
	char branch[RB_BRANCH_MAX], *wire;
	osip_message_t *m;
	size_t len;

	if ((stx = rb_stx_find(hp->txn, ack, "INVITE")) != NULL) {
		rb_stx_ack(hp->txn, stx);
	} else if (rb_to_tag(ack) != NULL &&
	    dialog_target(hp, ack, &b) == 1) {
		/* §16.11-style stateless forwarding: no transaction. */
		if ((m = branch_request(ack, &b, branch, sizeof(branch))) !=
		    NULL && branch_bytes(ack, m, &b, branch, &wire, &len) ==
		    0) {
			rb_send_bytes(hp->out, wire, len, 0);
			free(wire);
		}
		if (m != NULL) {
			osip_message_free(m);
		}
		location_binding_clear(&b);
	}
	osip_message_free(ack);
}

/* RFC 3261 §16.10: 200 to the CANCEL, then cancel the branch. */
static void
handle_cancel(struct home_proxy *hp, osip_message_t *cancel,
    uint64_t now_ms)
{
	struct rb_stx *stx;
	struct hp_fork *fork;

	if ((stx = rb_stx_find(hp->txn, cancel, "INVITE")) == NULL) {
		reply_now(hp, cancel, 481, NULL);
		osip_message_free(cancel);
		return;
	}
	reply_now(hp, cancel, 200, "OK");
	osip_message_free(cancel);
	fork = stx->user;
	if (stx->state != RB_STX_PROCEEDING || fork == NULL ||
	    fork->cancelled) {
		return;
	}
	fork->cancelled = 1;
	if (fork->live != NULL) {
		rb_ctx_cancel(hp->txn, fork->live, now_ms);
	} else {
		finish(hp, stx, now_ms);
	}
}

/*
 * Where `req` should go: fills *plan, or returns the status to answer
 * with (and *reason).
 */
static int
route_request(struct home_proxy *hp, const osip_message_t *req,
    struct home_proxy_plan *plan, const char **reason)
{
	struct location_list list;
	char aor[RB_AOR_MAX];
	const char *host;
	int rv;

	memset(&list, 0, sizeof(list));
	if (rb_to_tag(req) != NULL) {
		list.v = calloc(1, sizeof(*list.v));
		if (list.v == NULL) {
			return (500);
		}
		rv = dialog_target(hp, req, &list.v[0]);
		if (rv != 1) {
			free(list.v);
			*reason = "Not Found (no binding for in-dialog target)";
			return (rv < 0 ? 500 : 404);
		}
		list.count = 1;
		return (home_proxy_plan(&list, plan) == 0 ? 0 : 500);
	}
	if (req->req_uri == NULL || req->req_uri->scheme == NULL ||
	    (strcasecmp(req->req_uri->scheme, "sip") != 0 &&
	    strcasecmp(req->req_uri->scheme, "sips") != 0)) {
		*reason = NULL;
		return (416);
	}
	host = req->req_uri->host;
	if (host == NULL || !config_serves_domain(hp->cfg, host)) {
		*reason = "Not Found (domain not served)";
		return (404);
	}
	if (req->req_uri->username == NULL ||
	    req->req_uri->username[0] == '\0' ||
	    rb_aor_canonical(req->req_uri, aor, sizeof(aor)) != 0) {
		*reason = "Not Found (not an AOR)";
		return (404);
	}
	if (location_list_aor(hp->db, aor, hp->now, &list) != 0) {
		*reason = NULL;
		return (500);
	}
	if (list.count == 0) {
		*reason = "Temporarily Unavailable";
		return (480);
	}
	return (home_proxy_plan(&list, plan) == 0 ? 0 : 500);
}

/*
 * The policy of auth.h: 1 when it answered `stx` (407, 403...), with the
 * challenge's headers after the request's own lines.
 */
static int
refused(struct home_proxy *hp, struct rb_stx *stx,
    const struct epsip_addr *source, uint64_t now_ms)
{
	struct registrar_answer ans;
	struct answer_headers h;
	const char *reason;
	int status;

	if (hp->auth == NULL || !auth_applies(stx->req)) {
		return (0);
	}
	memset(&h, 0, sizeof(h));
	status = auth_check(hp->auth, stx->req, source, hp->now, now_ms, &h,
	    &reason);
	if (status == 0) {
		return (0);
	}
	if (answer_build(stx->req, status, reason, &h, &ans) != 0) {
		local_reply(hp, stx, 500, NULL, now_ms);
	} else {
		/* The transaction keeps the bytes (retransmissions). */
		rb_stx_respond_wire(hp->txn, stx, status, ans.wire, ans.len,
		    now_ms);
	}
	answer_headers_clear(&h);
	return (1);
}

void
home_proxy_request(struct home_proxy *hp, osip_message_t *req,
    const struct epsip_addr *source, int64_t now, uint64_t now_ms)
{
	struct rb_stx *stx;
	struct hp_fork *fork;
	const char *reason = NULL;
	int status;

	hp->now = now;
	if (strcmp(req->sip_method, "ACK") == 0) {
		handle_ack(hp, req);
		return;
	}
	if (strcmp(req->sip_method, "CANCEL") == 0) {
		handle_cancel(hp, req, now_ms);
		return;
	}
	if ((stx = rb_stx_find(hp->txn, req, req->sip_method)) != NULL) {
		rb_stx_retransmission(hp->txn, stx, req);
		osip_message_free(req);
		return;
	}
	if ((stx = rb_stx_new(hp->txn, req)) == NULL) {
		/* No usable Via: nobody to answer (ER-01). */
		osip_message_free(req);
		return;
	}
	if (rb_max_forwards(req) == 0) {
		local_reply(hp, stx, 483, NULL, now_ms);
		return;
	}
	if (refused(hp, stx, source, now_ms)) {
		return;
	}
	if ((fork = calloc(1, sizeof(*fork))) == NULL) {
		local_reply(hp, stx, 500, NULL, now_ms);
		return;
	}
	stx->user = fork;
	stx->user_free = fork_free;
	if ((status = route_request(hp, req, &fork->plan, &reason)) != 0) {
		local_reply(hp, stx, status, reason, now_ms);
		return;
	}
	if (stx->invite) {
		/* §16.2: a stateful proxy answers an INVITE with 100. */
		local_reply(hp, stx, 100, "Trying", now_ms);
	}
	next_branch(hp, stx, now_ms);
}

void
home_proxy_tick(struct home_proxy *hp, int64_t now, uint64_t now_ms)
{
	hp->now = now;
	rb_txn_tick(hp->txn, now_ms);
}
