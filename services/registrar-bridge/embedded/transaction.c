/*
 * transaction.c -- server and client transactions of the bridge (RFC 3261
 * §17, RFC 6026 for 2xx), see transaction.h.
 *
 * Server transactions are found by (top Via branch, sent-by, method), the
 * bridge's branches by their own branch.  Both live in chained hash tables
 * that double when they hold as many entries as buckets: at 10,000
 * REGISTER/s a UDP phone's transaction lingers 32 s, so 320,000 of them
 * must not share a fixed 1,024 chains (every look-up a strcmp() walk).
 * Each link keeps its key's hash, compared before the key.  A server
 * transaction owns its branches and everything is freed
 * together once the transaction has lingered long enough to absorb
 * retransmissions (64*T1 when the phone uses UDP or branches were sent,
 * at once otherwise).
 *
 * Every transaction and branch sits in a min-heap (server transactions
 * in one, branches in another) keyed by the earliest of its own timers,
 * from creation until it is freed; whoever changes a timer re-arms the
 * entry.  A timer that is only cleared may leave its entry early: the
 * tick then finds nothing due and re-arms it for what is left.  Nothing
 * walks all transactions.
 *
 * Timers: A (INVITE over UDP, doubling), E (non-INVITE and CANCEL over UDP,
 * capped at T2), B/F (no final response: the user is told, and treats it as
 * 408), C (INVITE proceeding too long: CANCEL, then B), G (our non-2xx
 * final to an INVITE from a UDP phone until its ACK).  ACKs for non-2xx
 * finals are built here (§17.1.1.3), as are CANCELs (§9.1).
 *
 * DIAGNOSTICS: none fatal.  A message that cannot be queued (to the
 * router, or to the core-side network) is logged; the timers recover or
 * time the branch out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "epsip/hash.h"
#include "epsip/log.h"
#include "epsip/sip_edit.h"
#include "epsip/sip_scan.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "transaction.h"

#define RB_TXN_BUCKETS	1024	/* at first; a power of two */

#define LINK_OWNER(link, type) \
	((type *)(void *)((char *)(link) - offsetof(type, hlink)))

SLIST_HEAD(rb_chain, rb_hlink);

/* A chained hash table of rb_hlinks that grows with its contents. */
struct rb_htab {
	struct rb_chain *bucket;
	size_t nbuckets;		/* a power of two */
	size_t count;
};

struct rb_txn {
	const struct rb_out *out;
	struct rb_timers timers;
	struct rb_txn_events ev;
	struct rb_htab stx_by_key;
	struct rb_htab ctx_by_branch;
	struct timer_heap stx_timers;	/* every server transaction */
	struct timer_heap ctx_timers;	/* every branch */
	size_t count;
};

void
rb_timers_default(struct rb_timers *timers)
{
	timers->t1_ms = 500;
	timers->t2_ms = 4000;
	timers->timer_b_ms = 64 * 500;
	timers->timer_c_ms = 180 * 1000;
	timers->linger_ms = 64 * 500;
}

static int
htab_init(struct rb_htab *h)
{
	h->nbuckets = RB_TXN_BUCKETS;
	h->count = 0;
	h->bucket = calloc(h->nbuckets, sizeof(*h->bucket));
	return (h->bucket != NULL ? 0 : -1);
}

static struct rb_chain *
htab_chain(const struct rb_htab *h, uint32_t hash)
{
	return (&h->bucket[hash & (h->nbuckets - 1)]);
}

/*
 * Twice the buckets, every link moved.  Without memory the table stays
 * as it is: slower chains, still correct.
 */
static void
htab_grow(struct rb_htab *h)
{
	struct rb_chain *old = h->bucket;
	struct rb_hlink *l;
	size_t i, n = h->nbuckets;

	if ((h->bucket = calloc(2 * n, sizeof(*h->bucket))) == NULL) {
		h->bucket = old;
		return;
	}
	h->nbuckets = 2 * n;
	for (i = 0; i < n; i++) {
		while ((l = SLIST_FIRST(&old[i])) != NULL) {
			SLIST_REMOVE_HEAD(&old[i], next);
			SLIST_INSERT_HEAD(htab_chain(h, l->hash), l, next);
		}
	}
	free(old);
}

static void
htab_add(struct rb_htab *h, struct rb_hlink *l, const char *key)
{
	if (h->count >= h->nbuckets) {
		htab_grow(h);
	}
	l->hash = fnv1a_str(key);
	SLIST_INSERT_HEAD(htab_chain(h, l->hash), l, next);
	h->count++;
}

/* `l` is in the table. */
static void
htab_del(struct rb_htab *h, struct rb_hlink *l)
{
	SLIST_REMOVE(htab_chain(h, l->hash), l, rb_hlink, next);
	h->count--;
}

struct rb_txn *
rb_txn_new(const struct rb_out *out, const struct rb_timers *timers)
{
	struct rb_txn *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		return (NULL);
	}
	t->out = out;
	if (timers != NULL) {
		t->timers = *timers;
	} else {
		rb_timers_default(&t->timers);
	}
	/* A re-armed timer must lie ahead, or a tick would never end. */
	if (t->timers.t1_ms == 0) {
		t->timers.t1_ms = 1;
	}
	if (t->timers.t2_ms == 0) {
		t->timers.t2_ms = 1;
	}
	if (t->timers.timer_b_ms == 0) {
		t->timers.timer_b_ms = 1;
	}
	if (t->timers.timer_c_ms == 0) {
		t->timers.timer_c_ms = 1;
	}
	timer_heap_init(&t->stx_timers);
	timer_heap_init(&t->ctx_timers);
	if (htab_init(&t->stx_by_key) != 0 ||
	    htab_init(&t->ctx_by_branch) != 0) {
		rb_txn_free(t);
		return (NULL);
	}
	return (t);
}

void
rb_txn_set_events(struct rb_txn *t, const struct rb_txn_events *ev)
{
	t->ev = *ev;
}

const struct rb_timers *
rb_txn_timers(const struct rb_txn *t)
{
	return (&t->timers);
}

size_t
rb_txn_count(const struct rb_txn *t)
{
	return (t->count);
}

static void
send_wire(struct rb_txn *t, const char *wire, size_t len)
{
	if (t->out->send(t->out->arg, wire, len) != 0) {
		log_warnx("transaction: cannot queue %zu bytes", len);
	}
}

/* Serialise into a malloc'ed buffer; 0 or -1. */
static int
wire_of(osip_message_t *msg, char **wire, size_t *len)
{
	osip_message_force_update(msg);
	return (sip_serialize(msg, wire, len));
}

static uint64_t
earliest(uint64_t a, uint64_t at)
{
	return (at != 0 && at < a ? at : a);
}

/* Timer G while Completed; the end of lingering once a final went out. */
static uint64_t
stx_due(const struct rb_stx *stx)
{
	uint64_t due = UINT64_MAX;

	if (stx->state == RB_STX_COMPLETED) {
		due = earliest(due, stx->g_at);
	}
	if (stx->state != RB_STX_PROCEEDING && stx->expire_at < due) {
		due = stx->expire_at;	/* set with the final response */
	}
	return (due);
}

static uint64_t
ctx_due(const struct rb_ctx *ctx)
{
	return (earliest(earliest(earliest(UINT64_MAX, ctx->retrans_at),
	    ctx->cancel_at), ctx->timeout_at));
}

/* Move an entry already in its heap: never allocates, never fails. */
static void
stx_rearm(struct rb_txn *t, struct rb_stx *stx)
{
	(void)timer_heap_set(&t->stx_timers, &stx->timer, stx_due(stx));
}

static void
ctx_rearm(struct rb_txn *t, struct rb_ctx *ctx)
{
	(void)timer_heap_set(&t->ctx_timers, &ctx->timer, ctx_due(ctx));
}

static void
ctx_free(struct rb_txn *t, struct rb_ctx *ctx)
{
	htab_del(&t->ctx_by_branch, &ctx->hlink);
	timer_heap_remove(&t->ctx_timers, &ctx->timer);
	osip_message_free(ctx->req);
	free(ctx->wire);
	free(ctx->cancel_wire);
	free(ctx->ack_wire);
	free(ctx->binding_flow);
	free(ctx);
}

static int
ctx_is_final(const struct rb_ctx *ctx)
{
	return (ctx->state == RB_CTX_COMPLETED || ctx->state == RB_CTX_ACCEPTED);
}

/*
 * A branch with its final answer re-sends nothing but its ACK: its request
 * (bytes and libosip2 tree) and CANCEL go.  An INVITE branch that ended
 * without a final from the phone (a timeout) keeps its request: a late
 * non-2xx still wants an ACK built from it (§17.1.1.3).
 */
static void
ctx_settle(struct rb_ctx *ctx)
{
	if (!ctx_is_final(ctx)) {
		return;
	}
	free(ctx->wire);
	ctx->wire = NULL;
	ctx->wire_len = 0;
	free(ctx->cancel_wire);
	ctx->cancel_wire = NULL;
	ctx->cancel_len = 0;
	if (ctx->invite && ctx->state == RB_CTX_COMPLETED &&
	    ctx->ack_wire == NULL) {
		return;
	}
	osip_message_free(ctx->req);
	ctx->req = NULL;
}

/*
 * What a finished transaction keeps while it lingers (64*T1 for a UDP
 * caller or when branches went out): its key, the answer it re-sends and,
 * per branch, the branch id and the ACK -- not the parsed requests.  At 50
 * calls/s that is ~1,600 transactions, whose libosip2 trees were tens of
 * thousands of small blocks living 32 s among the REGISTER path's
 * short-lived ones of the same sizes, which kept the allocator's pages
 * from ever emptying: the bridge's RSS crept while its live heap stayed
 * flat (docs/performance.md, "The soak").  The request itself goes once
 * every branch has its final answer.
 */
static void
stx_settle(struct rb_stx *stx)
{
	struct rb_ctx *ctx;
	int open = 0;

	if (stx->state == RB_STX_PROCEEDING) {
		return;
	}
	SLIST_FOREACH(ctx, &stx->branches, sibling) {
		ctx_settle(ctx);
		open |= !ctx_is_final(ctx);
	}
	if (!open) {
		osip_message_free(stx->req);
		stx->req = NULL;
	}
}

static void
stx_free(struct rb_txn *t, struct rb_stx *stx)
{
	struct rb_ctx *ctx;

	htab_del(&t->stx_by_key, &stx->hlink);
	timer_heap_remove(&t->stx_timers, &stx->timer);
	while ((ctx = SLIST_FIRST(&stx->branches)) != NULL) {
		SLIST_REMOVE_HEAD(&stx->branches, sibling);
		ctx_free(t, ctx);
	}
	if (stx->user_free != NULL) {
		stx->user_free(stx->user);
	}
	osip_message_free(stx->req);
	free(stx->resp);
	free(stx);
	t->count--;
}

void
rb_txn_free(struct rb_txn *t)
{
	if (t == NULL) {
		return;
	}
	while (timer_heap_count(&t->stx_timers) > 0) {
		stx_free(t, TIMER_HEAP_OWNER(timer_heap_peek(&t->stx_timers),
		    struct rb_stx, timer));
	}
	timer_heap_clear(&t->stx_timers);
	timer_heap_clear(&t->ctx_timers);
	free(t->stx_by_key.bucket);
	free(t->ctx_by_branch.bucket);
	free(t);
}

struct rb_stx *
rb_stx_find(struct rb_txn *t, const osip_message_t *req, const char *method)
{
	char key[RB_KEY_MAX];
	struct rb_hlink *l;
	uint32_t hash;

	if (rb_txn_key(req, method, key, sizeof(key)) != 0) {
		return (NULL);
	}
	hash = fnv1a_str(key);
	SLIST_FOREACH(l, htab_chain(&t->stx_by_key, hash), next) {
		struct rb_stx *stx = LINK_OWNER(l, struct rb_stx);

		if (l->hash == hash && strcmp(stx->key, key) == 0) {
			return (stx);
		}
	}
	return (NULL);
}

void
rb_stx_drop(struct rb_txn *t, struct rb_stx *stx)
{
	stx_free(t, stx);
}

struct rb_stx *
rb_stx_new(struct rb_txn *t, osip_message_t *req)
{
	struct rb_stx *stx;

	if (req->sip_method == NULL || (stx = calloc(1, sizeof(*stx))) ==
	    NULL) {
		return (NULL);
	}
	if (rb_txn_key(req, req->sip_method, stx->key, sizeof(stx->key)) !=
	    0) {
		free(stx);
		return (NULL);
	}
	stx->state = RB_STX_PROCEEDING;
	/* In the heap for life, so re-arming it later cannot fail. */
	if (timer_heap_set(&t->stx_timers, &stx->timer, stx_due(stx)) !=
	    0) {
		free(stx);
		return (NULL);
	}
	stx->req = req;
	stx->invite = strcmp(req->sip_method, "INVITE") == 0;
	stx->unreliable = rb_request_unreliable(req);
	htab_add(&t->stx_by_key, &stx->hlink, stx->key);
	t->count++;
	return (stx);
}

int
rb_stx_respond(struct rb_txn *t, struct rb_stx *stx, osip_message_t *resp,
    uint64_t now)
{
	char *wire;
	size_t len;

	if (wire_of(resp, &wire, &len) != 0) {
		return (-1);
	}
	return (rb_stx_respond_wire(t, stx, resp->status_code, wire, len, now));
}

int
rb_stx_respond_wire(struct rb_txn *t, struct rb_stx *stx, int status,
    char *wire, size_t len, uint64_t now)
{
	stats_inc(metric_status(MF_REPLIES, status));
	send_wire(t, wire, len);
	free(stx->resp);
	stx->resp = wire;
	stx->resp_len = len;
	stx->resp_status = status;
	if (status < 200 || stx->state != RB_STX_PROCEEDING) {
		return (0);
	}
	if (stx->invite && status < 300) {
		stx->state = RB_STX_ACCEPTED;
	} else {
		stx->state = RB_STX_COMPLETED;
	}
	/* Timer G: a UDP phone gets our non-2xx until it ACKs (§17.2.1). */
	if (stx->invite && status >= 300 && stx->unreliable) {
		stx->g_ms = t->timers.t1_ms;
		stx->g_at = now + stx->g_ms;
	}
	/* Timers H, J and RFC 6026's Accepted: linger only if useful. */
	stx->expire_at = now;
	if (stx->unreliable || !SLIST_EMPTY(&stx->branches)) {
		stx->expire_at += t->timers.linger_ms;
	}
	stx_rearm(t, stx);
	stx_settle(stx);
	return (0);
}

int
rb_stx_reply(struct rb_txn *t, struct rb_stx *stx, int status,
    const char *reason, uint64_t now)
{
	osip_message_t *resp;
	int rv;

	if (stx->req == NULL || rb_reply(stx->req, status, reason, &resp) != 0) {
		return (-1);
	}
	rv = rb_stx_respond(t, stx, resp, now);
	osip_message_free(resp);
	return (rv);
}

/*
 * The kept response with its top Via value made `via` (the retransmitted
 * request's); 0, or -1 and the response as it was.
 */
static int
stx_resp_follow_via(struct rb_stx *stx, const char *via)
{
	struct sip_scan scan;
	struct sip_edit edit;
	char *out;
	size_t len;
	int i;

	if (sip_scan(stx->resp, stx->resp_len, &scan) != 0 ||
	    (i = sip_scan_find(&scan, SIP_HDR_VIA, 0)) < 0) {
		return (-1);
	}
	if (scan.h[i].value.len == strlen(via) && memcmp(stx->resp +
	    scan.h[i].value.off, via, scan.h[i].value.len) == 0) {
		return (0);		/* the same flow: nothing to do */
	}
	sip_edit_init(&edit, &scan);
	/* The whole first line: one Via value each, as we print them. */
	sip_edit_replace(&edit, scan.h[i].value, via);
	if (sip_edit_apply(&edit, &out, &len) != 0) {
		return (-1);
	}
	free(stx->resp);
	stx->resp = out;
	stx->resp_len = len;
	return (0);
}

void
rb_stx_retransmission(struct rb_txn *t, struct rb_stx *stx,
    const osip_message_t *req)
{
	osip_via_t *via;
	char *text = NULL;

	stats_inc(M_SIP_IN_RETRANSMISSIONS);
	if (stx->resp == NULL || (stx->state != RB_STX_PROCEEDING &&
	    stx->state != RB_STX_COMPLETED)) {
		return;
	}
	if ((via = osip_list_get(&req->vias, 0)) != NULL &&
	    osip_via_to_str(via, &text) == 0) {
		(void)stx_resp_follow_via(stx, text);
		osip_free(text);
	}
	send_wire(t, stx->resp, stx->resp_len);
}

void
rb_stx_ack(struct rb_txn *t, struct rb_stx *stx)
{
	if (stx->state == RB_STX_COMPLETED) {
		stx->state = RB_STX_CONFIRMED;
		stx->g_at = 0;
		stx_rearm(t, stx);
	}
}

/*
 * An ACK (for a non-2xx final, `resp` given) or a CANCEL for a branch:
 * same Request-URI, our Via alone with the same branch, the same Route
 * set, From, Call-ID and CSeq number; To from the response for an ACK
 * (RFC 3261 §17.1.1.3, §9.1).
 */
static osip_message_t *
build_ack_cancel(const osip_message_t *req, const osip_message_t *resp,
    const char *method)
{
	osip_message_t *m;
	osip_via_t *via, *vcopy;
	osip_route_t *route, *rcopy;
	int i;

	if (osip_message_init(&m) != 0) {
		return (NULL);
	}
	osip_message_set_version(m, osip_strdup("SIP/2.0"));
	osip_message_set_method(m, osip_strdup(method));
	via = osip_list_get(&req->vias, 0);
	if (via == NULL || osip_uri_clone(req->req_uri, &m->req_uri) != 0 ||
	    osip_via_clone(via, &vcopy) != 0) {
		goto fail;
	}
	osip_list_add(&m->vias, vcopy, -1);
	if (osip_from_clone(req->from, &m->from) != 0 ||
	    osip_to_clone(resp != NULL ? resp->to : req->to, &m->to) != 0 ||
	    osip_call_id_clone(req->call_id, &m->call_id) != 0 ||
	    osip_cseq_init(&m->cseq) != 0) {
		goto fail;
	}
	osip_cseq_set_number(m->cseq, osip_strdup(req->cseq->number));
	osip_cseq_set_method(m->cseq, osip_strdup(method));
	for (i = 0; (route = osip_list_get(&req->routes, i)) != NULL; i++) {
		if (osip_route_clone(route, &rcopy) != 0) {
			goto fail;
		}
		osip_list_add(&m->routes, rcopy, -1);
	}
	osip_message_set_max_forwards(m, "70");
	osip_message_set_content_length(m, "0");
	return (m);
fail:
	osip_message_free(m);
	return (NULL);
}

struct rb_ctx *
rb_ctx_new(struct rb_txn *t, struct rb_stx *stx, osip_message_t *req,
    const char *branch, int unreliable, int64_t binding_id, uint64_t now)
{
	struct rb_ctx *ctx;
	char *wire;
	size_t len;

	if (wire_of(req, &wire, &len) != 0) {
		return (NULL);
	}
	ctx = rb_ctx_new_wire(t, stx, req, wire, len, branch, unreliable,
	    binding_id, now);
	if (ctx == NULL) {
		free(wire);
	}
	return (ctx);
}

struct rb_ctx *
rb_ctx_new_wire(struct rb_txn *t, struct rb_stx *stx, osip_message_t *req,
    char *wire, size_t wire_len, const char *branch, int unreliable,
    int64_t binding_id, uint64_t now)
{
	struct rb_ctx *ctx;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		return (NULL);
	}
	/* In the heap for life (due later), so re-arming cannot fail. */
	if (timer_heap_set(&t->ctx_timers, &ctx->timer, UINT64_MAX) != 0) {
		free(ctx);
		return (NULL);
	}
	ctx->wire = wire;
	ctx->wire_len = wire_len;
	snprintf(ctx->branch, sizeof(ctx->branch), "%s", branch);
	snprintf(ctx->method, sizeof(ctx->method), "%s", req->sip_method);
	ctx->stx = stx;
	ctx->req = req;
	ctx->invite = strcmp(req->sip_method, "INVITE") == 0;
	ctx->unreliable = unreliable;
	ctx->state = RB_CTX_CALLING;
	ctx->binding_id = binding_id;
	/* A and E start at T1 (§17.1.1.2, §17.1.2.2); B and F at 64*T1. */
	if (unreliable) {
		ctx->retrans_ms = t->timers.t1_ms;
		ctx->retrans_at = now + ctx->retrans_ms;
	}
	ctx->timeout_at = now + t->timers.timer_b_ms;
	ctx_rearm(t, ctx);
	htab_add(&t->ctx_by_branch, &ctx->hlink, ctx->branch);
	SLIST_INSERT_HEAD(&stx->branches, ctx, sibling);
	stats_inc(M_PROXY_BRANCHES);
	send_wire(t, ctx->wire, ctx->wire_len);
	return (ctx);
}

static void
send_cancel(struct rb_txn *t, struct rb_ctx *ctx, uint64_t now)
{
	osip_message_t *cancel;

	ctx->cancel_wanted = 0;
	if ((cancel = build_ack_cancel(ctx->req, NULL, "CANCEL")) == NULL) {
		return;
	}
	if (wire_of(cancel, &ctx->cancel_wire, &ctx->cancel_len) == 0) {
		send_wire(t, ctx->cancel_wire, ctx->cancel_len);
		if (ctx->unreliable) {
			ctx->cancel_ms = t->timers.t1_ms;
			ctx->cancel_at = now + ctx->cancel_ms;
		}
	}
	osip_message_free(cancel);
	/* §9.1: no final within 64*T1 of the CANCEL: the branch is dead. */
	ctx->timeout_at = now + t->timers.timer_b_ms;
	ctx->timer_c = 0;
	ctx_rearm(t, ctx);
}

void
rb_ctx_cancel(struct rb_txn *t, struct rb_ctx *ctx, uint64_t now)
{
	if (!ctx->invite || ctx->cancel_wire != NULL ||
	    (ctx->state != RB_CTX_CALLING && ctx->state != RB_CTX_PROCEEDING)) {
		return;
	}
	if (ctx->state == RB_CTX_CALLING) {
		/* §9.1: MUST wait for a provisional response. */
		ctx->cancel_wanted = 1;
		return;
	}
	send_cancel(t, ctx, now);
}

void
rb_ctx_terminate(struct rb_ctx *ctx, int status)
{
	ctx->state = RB_CTX_COMPLETED;
	ctx->status = status;
	ctx->retrans_at = 0;
	ctx->timeout_at = 0;
	ctx->cancel_at = 0;
	ctx->cancel_wanted = 0;
}

static void
send_ack(struct rb_txn *t, struct rb_ctx *ctx, const osip_message_t *resp)
{
	osip_message_t *ack;

	if (ctx->ack_wire == NULL) {
		if ((ack = build_ack_cancel(ctx->req, resp, "ACK")) == NULL) {
			return;
		}
		if (wire_of(ack, &ctx->ack_wire, &ctx->ack_len) != 0) {
			ctx->ack_wire = NULL;
		}
		osip_message_free(ack);
		if (ctx->ack_wire == NULL) {
			return;
		}
	}
	send_wire(t, ctx->ack_wire, ctx->ack_len);
}

static struct rb_ctx *
ctx_find(struct rb_txn *t, const char *branch)
{
	uint32_t hash = fnv1a_str(branch);
	struct rb_hlink *l;

	SLIST_FOREACH(l, htab_chain(&t->ctx_by_branch, hash), next) {
		struct rb_ctx *ctx = LINK_OWNER(l, struct rb_ctx);

		if (l->hash == hash && strcmp(ctx->branch, branch) == 0) {
			return (ctx);
		}
	}
	return (NULL);
}

enum rb_resp_verdict
rb_txn_response(struct rb_txn *t, osip_message_t *resp, uint64_t now,
    struct rb_ctx **ctxp)
{
	struct rb_ctx *ctx;
	const char *branch;
	int status = resp->status_code;

	*ctxp = NULL;
	branch = rb_top_branch(resp);
	if (branch == NULL || resp->cseq == NULL ||
	    resp->cseq->method == NULL ||
	    (ctx = ctx_find(t, branch)) == NULL) {
		stats_inc(M_PROXY_RESPONSES_UNMATCHED);
		return (RB_RESP_DROP);
	}
	/* The answer to our CANCEL shares the INVITE's branch (§9.1). */
	if (strcasecmp(resp->cseq->method, "CANCEL") == 0) {
		if (status >= 200) {
			ctx->cancel_at = 0;
		}
		return (RB_RESP_ABSORBED);
	}
	if (strcasecmp(resp->cseq->method, ctx->method) != 0) {
		stats_inc(M_PROXY_RESPONSES_UNMATCHED);
		return (RB_RESP_DROP);
	}
	*ctxp = ctx;
	switch (ctx->state) {
	case RB_CTX_CALLING:
	case RB_CTX_PROCEEDING:
		break;
	case RB_CTX_COMPLETED:
		if (status >= 200 && status < 300 && ctx->invite) {
			/* A late 2xx still makes a dialog: pass it on. */
			ctx->state = RB_CTX_ACCEPTED;
			return (RB_RESP_RETRANSMIT_2XX);
		}
		if (status >= 300 && ctx->invite) {
			send_ack(t, ctx, resp);
		}
		return (RB_RESP_ABSORBED);
	case RB_CTX_ACCEPTED:
		if (status >= 200 && status < 300) {
			return (RB_RESP_RETRANSMIT_2XX);
		}
		return (RB_RESP_ABSORBED);
	}
	if (status < 200) {
		ctx->state = RB_CTX_PROCEEDING;
		if (ctx->invite) {
			ctx->retrans_at = 0;	/* A stops (§17.1.1.2) */
			if (ctx->cancel_wanted) {
				send_cancel(t, ctx, now);
			} else if (ctx->cancel_wire == NULL && status > 100) {
				/* §16.8: Timer C, reset by provisionals. */
				ctx->timeout_at = now + t->timers.timer_c_ms;
				ctx->timer_c = 1;
				ctx_rearm(t, ctx);
			}
		} else if (ctx->retrans_at != 0) {
			/* E continues at T2 (§17.1.2.2). */
			ctx->retrans_ms = t->timers.t2_ms;
		}
		return (RB_RESP_NEW);
	}
	rb_ctx_terminate(ctx, status);
	if (ctx->invite && status < 300) {
		ctx->state = RB_CTX_ACCEPTED;
	} else if (ctx->invite) {
		send_ack(t, ctx, resp);
	}
	return (RB_RESP_NEW);
}

/* Branch timers; may call the user, who may add branches to the stx. */
static void
ctx_tick(struct rb_txn *t, struct rb_ctx *ctx, uint64_t now)
{
	if (ctx->retrans_at != 0 && now >= ctx->retrans_at) {
		send_wire(t, ctx->wire, ctx->wire_len);
		ctx->retrans_ms *= 2;
		if (!ctx->invite && ctx->retrans_ms > t->timers.t2_ms) {
			ctx->retrans_ms = t->timers.t2_ms;
		}
		ctx->retrans_at = now + ctx->retrans_ms;
	}
	if (ctx->cancel_at != 0 && now >= ctx->cancel_at) {
		send_wire(t, ctx->cancel_wire, ctx->cancel_len);
		ctx->cancel_ms *= 2;
		if (ctx->cancel_ms > t->timers.t2_ms) {
			ctx->cancel_ms = t->timers.t2_ms;
		}
		ctx->cancel_at = now + ctx->cancel_ms;
	}
	if (ctx->timeout_at == 0 || now < ctx->timeout_at) {
		return;
	}
	if (ctx->timer_c && ctx->state == RB_CTX_PROCEEDING) {
		/* §16.8: Timer C fired after a provisional: CANCEL. */
		send_cancel(t, ctx, now);
		return;
	}
	rb_ctx_terminate(ctx, 408);
	stats_inc(M_PROXY_TIMEOUTS);
	if (t->ev.timeout != NULL) {
		t->ev.timeout(t->ev.arg, ctx, now);
	}
}

int
rb_txn_branch_unreachable(struct rb_txn *t, const char *branch, uint64_t now)
{
	struct rb_ctx *ctx = ctx_find(t, branch);

	if (ctx == NULL || ctx->state != RB_CTX_CALLING) {
		return (-1);
	}
	rb_ctx_terminate(ctx, 408);
	stats_inc(M_PROXY_UNREACHABLE);
	if (t->ev.timeout != NULL) {
		t->ev.timeout(t->ev.arg, ctx, now);
	}
	return (0);
}

/* The entry at the top of `h` if it is due, else NULL. */
static struct timer_heap_entry *
next_due(const struct timer_heap *h, uint64_t now)
{
	struct timer_heap_entry *e = timer_heap_peek(h);

	return (e != NULL && e->due <= now ? e : NULL);
}

/*
 * Branches first, then server transactions, as the per-transaction walk
 * did: a branch's timeout may finish its transaction, which then starts
 * lingering.  Each due entry is handled and re-armed in place (its new
 * deadline lies ahead: every timer is at least 1 ms), so the loop ends.
 * A timeout may add branches; they are not due yet.
 */
size_t
rb_txn_tick(struct rb_txn *t, uint64_t now)
{
	struct timer_heap_entry *e;
	size_t handled = 0;

	while ((e = next_due(&t->ctx_timers, now)) != NULL) {
		handled++;
		struct rb_ctx *ctx = TIMER_HEAP_OWNER(e, struct rb_ctx, timer);

		ctx_tick(t, ctx, now);
		ctx_rearm(t, ctx);
	}
	while ((e = next_due(&t->stx_timers, now)) != NULL) {
		struct rb_stx *stx = TIMER_HEAP_OWNER(e, struct rb_stx, timer);

		handled++;
		if (stx->state != RB_STX_PROCEEDING && now >= stx->expire_at) {
			stx_free(t, stx);
			continue;
		}
		if (stx->state == RB_STX_COMPLETED && stx->g_at != 0 &&
		    now >= stx->g_at) {
			send_wire(t, stx->resp, stx->resp_len);
			stx->g_ms *= 2;
			if (stx->g_ms > t->timers.t2_ms) {
				stx->g_ms = t->timers.t2_ms;
			}
			stx->g_at = now + stx->g_ms;
		}
		stx_rearm(t, stx);
	}
	return (handled);
}
