/*
 * core_embedded.c -- embedded mode: the registrar and the home proxy in
 * the bridge process, bindings in SQLite (see core.h).
 *
 * Parses what the router hands over and dispatches it: REGISTER to the
 * registrar (its answer cached in a server transaction when the phone
 * retransmits over UDP, so a retransmission is answered, not re-judged
 * against RFC 3261 §10.3(7)'s CSeq rule), other requests and all
 * responses to the home proxy, FLOW_CLOSED to the registrar (RG-27).
 * Expired bindings are purged every RB_PURGE_MS; reads filter them anyway.
 *
 * Group commit: in the daemon (a loop given) the bindings written by all
 * REGISTERs of one loop iteration, and the removals of FLOW_CLOSED and
 * purges, share one SQLite transaction, committed by a LOOP_END_COMMIT
 * hook.  A REGISTER's response is held until then and released only
 * after COMMIT succeeded: IPC may leave before the iteration's flush (a
 * full batch is sent at once), and a 200 must never announce a binding a
 * crash would lose.  If COMMIT fails, every held REGISTER is answered 500
 * with Retry-After instead.  A UDP REGISTER gets its server transaction
 * before the registrar runs, so a retransmission arriving before the
 * commit finds it and is absorbed (nothing to resend yet), never
 * registered twice.  Without a loop (unit tests) every REGISTER commits
 * on its own and is answered at once, as before.
 *
 * With core-listen set, other edges reach this registrar over the
 * core-side network (core_net.c): what they send comes in here like the
 * router's SIP, and everything the registrar and home proxy send goes
 * through the dispatcher (core_dispatch.c), which picks the router or
 * the network.  Without core-listen there is no socket and everything
 * goes to the router, as it always did.
 *
 * DIAGNOSTICS: a database that cannot be opened, or a core-listen that
 * cannot be bound, stops the start (exit 1).  Unparsable SIP is counted
 * (sip.in.malformed) and dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "epsip/log.h"
#include "epsip/router_via.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../core.h"
#include "auth.h"
#include "core_embedded.h"
#include "home_proxy.h"
#include "location.h"
#include "registrar.h"
#include "transaction.h"

#define RB_PURGE_MS		10000
#define RB_TOKEN_MAX		256

/* A REGISTER's answer waiting for the group's COMMIT. */
struct held_reply {
	struct rb_stx *stx;		/* UDP: answer through it, else NULL */
	osip_message_t *req;		/* without stx: the request, owned */
	struct registrar_answer ans;	/* owned */
};

struct core_embedded {
	struct rb_core core;		/* first: the ops pointer */
	const struct epsip_config *cfg;
	const struct rb_out *out;	/* the router's, or dispatch_out */
	struct rb_out dispatch_out;	/* core_dispatch_send() */
	struct core_dispatch *dispatch;	/* NULL without core-listen */
	struct core_net *net;		/* NULL over a test's link */
	struct loop *loop;
	struct location_db *db;
	struct rb_txn *txn;
	struct home_proxy *hp;
	struct auth *auth;		/* auth.h: who may register and call */
	uint64_t next_purge_ms;
	struct held_reply *held;	/* kept across iterations: no churn */
	size_t nheld, held_cap;
};

static int64_t
wall_now(void)
{
	return ((int64_t)time(NULL));
}

/* Send a REGISTER's answer; takes `req` (when no stx) and `ans`. */
static void
answer_register(struct core_embedded *ce, struct rb_stx *stx,
    osip_message_t *req, struct registrar_answer *ans, uint64_t now_ms)
{
	if (stx != NULL) {
		/* Timer J: absorb the phone's retransmissions. */
		rb_stx_respond_wire(ce->txn, stx, ans->status, ans->wire,
		    ans->len, now_ms);
		ans->wire = NULL;	/* the transaction keeps it */
	} else {
		rb_send_bytes(ce->out, ans->wire, ans->len, ans->status);
		osip_message_free(req);
	}
	registrar_answer_clear(ans);
}

/* Hold an answer until the group commits; takes `req` and `ans`. */
static int
hold_reply(struct core_embedded *ce, struct rb_stx *stx, osip_message_t *req,
    struct registrar_answer *ans)
{
	struct held_reply *h;

	if (ce->nheld == ce->held_cap) {
		size_t cap = ce->held_cap == 0 ? 64 : ce->held_cap * 2;

		if ((h = reallocarray(ce->held, cap, sizeof(*h))) == NULL) {
			return (-1);
		}
		ce->held = h;
		ce->held_cap = cap;
	}
	h = &ce->held[ce->nheld++];
	h->stx = stx;
	h->req = req;
	h->ans = *ans;
	memset(ans, 0, sizeof(*ans));
	return (0);
}

/*
 * 500 with Retry-After: the binding may not be saved.  It acknowledges
 * nothing, so it may leave before the commit.  -1 without memory.
 */
static int
retry_later(struct core_embedded *ce, const osip_message_t *req,
    struct registrar_answer *ans)
{
	struct answer_headers h;
	int rv;

	memset(&h, 0, sizeof(h));
	answer_header_addf(&h, "Retry-After", "%u", ce->cfg->retry_after > 0 ?
	    ce->cfg->retry_after : 1);
	rv = answer_build(req, 500, "Server Internal Error (bindings not "
	    "saved)", &h, ans);
	answer_headers_clear(&h);
	if (rv == 0) {
		stats_inc(M_REGISTRAR_REGISTER_REJECTED_500);
	}
	return (rv);
}

/*
 * RFC 3261 §10.3(3): the policy of auth.h.  1 when it answered (through
 * the transaction, so a retransmission gets the same 401); takes `req`
 * then.  A refusal acknowledges nothing and leaves before the commit.
 */
static int
refused(struct core_embedded *ce, struct rb_stx *stx, osip_message_t *req,
    const struct epsip_addr *source, uint64_t now_ms)
{
	const osip_message_t *r = stx != NULL ? stx->req : req;
	struct registrar_answer ans;
	struct answer_headers h;
	const char *reason;
	int status;

	memset(&h, 0, sizeof(h));
	status = auth_check(ce->auth, r, source, wall_now(), now_ms, &h,
	    &reason);
	if (status == 0) {
		return (0);
	}
	stats_inc(metric_status(MF_REGISTRAR_REGISTER_REJECTED, status));
	if (answer_build(r, status, reason, &h, &ans) != 0) {
		log_warnx("registrar: cannot build a %d", status);
		if (stx != NULL) {
			rb_stx_drop(ce->txn, stx);
		}
		osip_message_free(req);
	} else {
		answer_register(ce, stx, req, &ans, now_ms);
	}
	answer_headers_clear(&h);
	return (1);
}

/* The flow a request came over: the token in our router's Via. */
static const char *
arrival_flow(const osip_message_t *req)
{
	osip_via_t *via = osip_list_get(&req->vias, 0);

	return (via != NULL ? sip_generic_param(&via->via_params,
	    EPSIP_ROUTER_FLOW_PARAM) : NULL);
}

/*
 * 1 when `req` repeats stx's answered REGISTER over another flow.  The
 * request itself is gone once answered; the kept answer's top Via (the
 * router's, as the request had it) still names the flow.  Parsed only
 * for a retransmission, which is rare.
 */
static int
register_moved(const struct rb_stx *stx, const osip_message_t *req)
{
	osip_message_t *resp;
	const char *was, *now;
	int moved;

	if (stx->state != RB_STX_COMPLETED || stx->resp == NULL ||
	    (now = arrival_flow(req)) == NULL ||
	    sip_parse(stx->resp, stx->resp_len, &resp) != 0) {
		return (0);
	}
	was = arrival_flow(resp);
	moved = was != NULL && strcmp(was, now) != 0;
	osip_message_free(resp);
	return (moved);
}

static void
handle_register(struct core_embedded *ce, osip_message_t *req,
    const struct epsip_addr *source, uint64_t now_ms)
{
	struct registrar_answer ans;
	struct rb_stx *stx;
	int moved = 0;

	if ((stx = rb_stx_find(ce->txn, req, "REGISTER")) != NULL &&
	    !(moved = register_moved(stx, req))) {
		/* Before the commit it has no answer yet: absorbed. */
		rb_stx_retransmission(ce->txn, stx, req);
		osip_message_free(req);
		return;
	}
	if (moved) {
		/* Answered already: nothing holds it.  Judged anew below. */
		rb_stx_drop(ce->txn, stx);
		stx = NULL;
	}
	/* UDP: the transaction first, so it absorbs what comes meanwhile. */
	if (rb_request_unreliable(req) &&
	    (stx = rb_stx_new(ce->txn, req)) != NULL) {
		req = NULL;
	}
	if (refused(ce, stx, req, source, now_ms)) {
		return;
	}
	if ((moved ? registrar_register_moved : registrar_register)(ce->cfg,
	    ce->db, stx != NULL ? stx->req : req, wall_now(), &ans) != 0) {
		log_warnx("registrar: cannot build a response");
		if (stx != NULL) {
			rb_stx_drop(ce->txn, stx);
		}
		osip_message_free(req);
		return;
	}
	/* It read or wrote the group's uncommitted rows: wait for COMMIT. */
	if (!location_group_pending(ce->db) ||
	    hold_reply(ce, stx, req, &ans) != 0) {
		if (location_group_pending(ce->db)) {
			/* No memory to hold it: never an early 200. */
			log_warnx("registrar: cannot hold a response");
			registrar_answer_clear(&ans);
			(void)retry_later(ce, stx != NULL ? stx->req : req,
			    &ans);
		}
		if (ans.wire != NULL) {
			answer_register(ce, stx, req, &ans, now_ms);
		} else if (stx != NULL) {
			rb_stx_drop(ce->txn, stx);
		} else {
			osip_message_free(req);
		}
	}
}

/*
 * LOOP_END_COMMIT: commit what this iteration wrote, then release the
 * held answers -- or, if COMMIT failed, answer them 500.
 */
static void
embedded_commit(struct loop *loop, void *arg)
{
	struct core_embedded *ce = arg;
	uint64_t now_ms = loop_now_ms(loop);
	int committed;
	size_t i;

	if (!location_group_pending(ce->db)) {
		return;
	}
	committed = location_group_commit(ce->db) == 0;
	if (committed) {
		stats_inc(M_REGISTRAR_COMMITS);
	} else {
		stats_inc(M_REGISTRAR_COMMITS_FAILED);
		stats_add(M_REGISTRAR_REGISTER_UNSAVED, (int64_t)ce->nheld);
		log_warnx("registrar: commit failed: %zu REGISTER(s) get 500",
		    ce->nheld);
		registrar_update_gauge(ce->db, wall_now());
	}
	for (i = 0; i < ce->nheld; i++) {
		struct held_reply *h = &ce->held[i];

		if (!committed) {
			registrar_answer_clear(&h->ans);
			if (retry_later(ce, h->stx != NULL ? h->stx->req :
			    h->req, &h->ans) != 0) {
				log_warnx("registrar: cannot build a 500");
				if (h->stx != NULL) {
					rb_stx_drop(ce->txn, h->stx);
				}
				osip_message_free(h->req);
				continue;
			}
		}
		answer_register(ce, h->stx, h->req, &h->ans, now_ms);
	}
	ce->nheld = 0;
}

/* Shutdown with answers held: nothing was answered, so nothing is kept. */
static void
drop_held(struct core_embedded *ce)
{
	size_t i;

	location_group_rollback(ce->db);
	for (i = 0; i < ce->nheld; i++) {
		osip_message_free(ce->held[i].req);
		registrar_answer_clear(&ce->held[i].ans);
	}
	ce->nheld = 0;
	free(ce->held);
	ce->held = NULL;
}

/*
 * One parsed message from the router or the network; takes `sip`.
 * `source`: the phone's address on its flow, or the network peer's.
 */
static void
embedded_handle(void *arg, osip_message_t *sip,
    const struct epsip_addr *source, uint64_t now_ms)
{
	struct core_embedded *ce = arg;

	if (MSG_IS_RESPONSE(sip)) {
		stats_inc(metric_response_class(sip->status_code));
		home_proxy_response(ce->hp, sip, wall_now(), now_ms);
		return;
	}
	stats_inc(metric_sip_method(sip->sip_method));
	if (sip->cseq == NULL || sip->cseq->method == NULL ||
	    strcmp(sip->cseq->method, sip->sip_method) != 0) {
		/* RFC 3261 §8.1.1.5: the methods must agree. */
		rb_reply_send(ce->out, sip, 400, "CSeq Method Mismatch");
		osip_message_free(sip);
		return;
	}
	if (strcmp(sip->sip_method, "REGISTER") == 0) {
		handle_register(ce, sip, source, now_ms);
	} else {
		home_proxy_request(ce->hp, sip, source, wall_now(), now_ms);
	}
}

static void
embedded_sip(struct rb_core *core, const struct epsip_msg *msg,
    uint64_t now_ms)
{
	struct core_embedded *ce = (struct core_embedded *)core;
	const char *buf = (const char *)msg->payload;
	osip_message_t *sip;

	if (rb_parse(buf, msg->payload_len, &sip) != 0) {
		stats_inc(M_SIP_IN_MALFORMED);
		log_debug("dropping %zu unparsable bytes", msg->payload_len);
		return;
	}
	/* The answer to a request from the network goes back there. */
	if (ce->dispatch != NULL && MSG_IS_RESPONSE(sip) &&
	    core_dispatch_router_response(ce->dispatch, sip, buf,
	    msg->payload_len)) {
		osip_message_free(sip);
		return;
	}
	embedded_handle(ce, sip, &msg->remote, now_ms);
}

void
core_embedded_net_message(struct rb_core *core, const char *buf,
    size_t len, const struct core_net_peer *from, uint64_t now_ms)
{
	struct core_embedded *ce = (struct core_embedded *)core;

	core_dispatch_net_message(ce->dispatch, buf, len, from, now_ms);
}

void
core_embedded_net_undelivered(struct rb_core *core, const char *buf,
    size_t len, uint64_t now_ms)
{
	struct core_embedded *ce = (struct core_embedded *)core;

	core_dispatch_net_undelivered(ce->dispatch, buf, len, now_ms);
}

static void
embedded_flow_closed(struct rb_core *core, const char *token, size_t len)
{
	struct core_embedded *ce = (struct core_embedded *)core;
	char tok[RB_TOKEN_MAX];
	int n;

	if (len == 0 || len >= sizeof(tok) || memchr(token, '\0', len)) {
		log_warnx("FLOW_CLOSED with an unusable token (%zu bytes)",
		    len);
		return;
	}
	memcpy(tok, token, len);
	tok[len] = '\0';
	n = registrar_flow_closed(ce->db, tok, wall_now());
	if (n > 0) {
		log_info("flow closed: %d binding(s) dropped", n);
	}
}

static void
embedded_tick(struct rb_core *core, uint64_t now_ms)
{
	struct core_embedded *ce = (struct core_embedded *)core;

	home_proxy_tick(ce->hp, wall_now(), now_ms);
	if (now_ms >= ce->next_purge_ms) {
		ce->next_purge_ms = now_ms + RB_PURGE_MS;
		registrar_purge(ce->db, wall_now());
	}
}

static void
embedded_report(struct rb_core *core, json_t *stats)
{
	struct core_embedded *ce = (struct core_embedded *)core;

	json_object_set_new(stats, "core", json_string("embedded"));
	json_object_set_new(stats, "transactions",
	    json_integer((json_int_t)rb_txn_count(ce->txn)));
	if (ce->dispatch != NULL) {
		char buf[64];

		epsip_addr_format(&ce->cfg->core_listen, buf, sizeof(buf));
		if (ce->net != NULL) {
			struct epsip_addr local;

			core_net_local(ce->net, &local);
			epsip_addr_format(&local, buf, sizeof(buf));
			json_object_set_new(stats, "core.connections",
			    json_integer((json_int_t)core_net_core_conns(
			    ce->net)));
		}
		json_object_set_new(stats, "core_listen", json_string(buf));
	}
}

static void
embedded_free(struct rb_core *core)
{
	struct core_embedded *ce = (struct core_embedded *)core;

	if (ce == NULL) {
		return;
	}
	/* The network first: nothing may arrive for a freed core. */
	core_net_free(ce->net);
	if (ce->db != NULL) {
		drop_held(ce);
	}
	home_proxy_free(ce->hp);
	auth_free(ce->auth);
	rb_txn_free(ce->txn);
	location_close(ce->db);
	core_dispatch_free(ce->dispatch);
	free(ce);
}

/*
 * SIGHUP: a key rotation changes the nonces' key, and with core-listen
 * what other edges send is told apart by our tokens, so it reaches the
 * dispatcher too.
 */
static int
embedded_reload(struct rb_core *core, const struct epsip_config *fresh,
    char *err, size_t errcap)
{
	struct core_embedded *ce = (struct core_embedded *)core;
	struct flow_token_keyring keys;

	if (fresh->key_file[0] == '\0') {
		return (0);		/* a test's core: its key is random */
	}
	if (flow_token_keyring_load(fresh->key_file,
	    fresh->previous_key_file, &keys, err, errcap) != 0) {
		return (-1);
	}
	if (ce->dispatch != NULL) {
		core_dispatch_set_keys(ce->dispatch, &keys);
	}
	auth_set_key(ce->auth, keys.current.secret);
	explicit_bzero(&keys, sizeof(keys));
	return (0);
}

static const struct rb_core_ops embedded_ops = {
	.name = "embedded",
	.sip = embedded_sip,
	.flow_closed = embedded_flow_closed,
	.tick = embedded_tick,
	.report = embedded_report,
	.reload = embedded_reload,
	.free = embedded_free,
};

/*
 * The nonces' key comes from the flow-token key, which epsipd makes
 * before it starts the bridge.  A core without a key file (unit tests)
 * gets a random one: its nonces die with it, as everyone's do at a
 * restart anyway (auth_replay.h).
 */
static struct auth *
embedded_auth(struct core_embedded *ce, char *err, size_t errcap)
{
	struct flow_token_keyring keys;
	struct auth *a;

	memset(&keys, 0, sizeof(keys));
	if (ce->cfg->key_file[0] != '\0') {
		if (flow_token_keyring_load(ce->cfg->key_file,
		    ce->cfg->previous_key_file, &keys, err, errcap) != 0) {
			return (NULL);
		}
	} else if (getrandom(keys.current.secret,
	    sizeof(keys.current.secret), 0) !=
	    (ssize_t)sizeof(keys.current.secret)) {
		snprintf(err, errcap, "getrandom failed");
		return (NULL);
	}
	a = auth_new(ce->cfg, location_sqlite(ce->db), keys.current.secret,
	    err, errcap);
	explicit_bzero(&keys, sizeof(keys));
	return (a);
}

/* The registrar, home proxy and transactions, sending through ce->out. */
static int
embedded_open(struct core_embedded *ce, char *err, size_t errcap)
{
	if (location_open(&ce->db, ce->cfg->registrar_db,
	    ce->cfg->registrar_sync, err, errcap) != 0) {
		return (-1);
	}
	if ((ce->auth = embedded_auth(ce, err, errcap)) == NULL) {
		return (-1);
	}
	if ((ce->txn = rb_txn_new(ce->out, NULL)) == NULL ||
	    (ce->hp = home_proxy_new(ce->cfg, ce->db, ce->txn, ce->out)) ==
	    NULL) {
		snprintf(err, errcap, "out of memory");
		return (-1);
	}
	home_proxy_set_auth(ce->hp, ce->auth);
	registrar_purge(ce->db, wall_now());
	registrar_update_gauge(ce->db, wall_now());
	return (0);
}

int
core_embedded_group_commit(struct rb_core *core, struct loop *loop)
{
	struct core_embedded *ce = (struct core_embedded *)core;

	if (loop_at_iteration_end(loop, LOOP_END_COMMIT, embedded_commit,
	    ce) != 0) {
		return (-1);
	}
	ce->loop = loop;
	location_set_grouped(ce->db, 1);
	return (0);
}

struct location_db *
core_embedded_db(struct rb_core *core)
{
	return (((struct core_embedded *)core)->db);
}

struct rb_core *
rb_core_embedded_new(const struct epsip_config *cfg, const struct rb_out *out,
    struct loop *loop, char *err, size_t errcap)
{
	struct core_embedded *ce;

	if ((ce = calloc(1, sizeof(*ce))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	ce->core.ops = &embedded_ops;
	ce->cfg = cfg;
	ce->out = out;
	if (embedded_open(ce, err, errcap) != 0) {
		embedded_free(&ce->core);
		return (NULL);
	}
	if (loop != NULL && core_embedded_group_commit(&ce->core, loop) !=
	    0) {
		snprintf(err, errcap, "no iteration-end hook left");
		embedded_free(&ce->core);
		return (NULL);
	}
	return (&ce->core);
}

/* A branch's next hop is not there: fail over now (core_dispatch.c). */
static void
embedded_unreachable(void *arg, const char *branch, uint64_t now_ms)
{
	struct core_embedded *ce = arg;

	(void)rb_txn_branch_unreachable(ce->txn, branch, now_ms);
}

struct rb_core *
core_embedded_new_on(const struct epsip_config *cfg, const struct rb_out *out,
    const struct flow_token_keyring *keys, const struct cd_link *link,
    char *err, size_t errcap)
{
	struct core_embedded *ce;
	struct cd_core input;

	if ((ce = calloc(1, sizeof(*ce))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	ce->core.ops = &embedded_ops;
	ce->cfg = cfg;
	input.sip = embedded_handle;
	input.unreachable = embedded_unreachable;
	input.arg = ce;
	if ((ce->dispatch = core_dispatch_new(cfg, keys, out, &input,
	    link)) == NULL) {
		snprintf(err, errcap, "out of memory");
		free(ce);
		return (NULL);
	}
	ce->dispatch_out.send = core_dispatch_send;
	ce->dispatch_out.arg = ce->dispatch;
	ce->out = &ce->dispatch_out;
	if (embedded_open(ce, err, errcap) != 0) {
		embedded_free(&ce->core);
		return (NULL);
	}
	return (&ce->core);
}

/* --- over core_net --- */

static int
net_send_request(void *arg, uint8_t transport, const struct epsip_addr *dest,
    const char *buf, size_t len)
{
	struct core_embedded *ce = arg;

	return (core_net_send_to(ce->net, transport, dest, buf, len));
}

static int
net_send_response(void *arg, uint8_t transport,
    const struct epsip_addr *conn_peer, const struct epsip_addr *dest,
    const char *buf, size_t len)
{
	struct core_embedded *ce = arg;

	return (core_net_send_response(ce->net, transport, conn_peer, dest,
	    buf, len));
}

static void
net_undeliverable(void *arg, const char *buf, size_t len)
{
	struct core_embedded *ce = arg;

	core_net_undeliverable(ce->net, buf, len);
}

static void
net_message(void *arg, const char *buf, size_t len,
    const struct core_net_peer *from)
{
	struct core_embedded *ce = arg;

	core_dispatch_net_message(ce->dispatch, buf, len, from,
	    loop_now_ms(ce->loop));
}

static void
net_undelivered(void *arg, const char *buf, size_t len)
{
	struct core_embedded *ce = arg;

	core_dispatch_net_undelivered(ce->dispatch, buf, len,
	    loop_now_ms(ce->loop));
}

struct rb_core *
rb_core_embedded_net_new(const struct epsip_config *cfg,
    const struct rb_out *out, struct loop *loop, char *err, size_t errcap)
{
	struct flow_token_keyring keys;
	struct core_net_events ev;
	struct core_embedded *ce;
	struct epsip_addr local;
	struct cd_link link;
	struct rb_core *core;
	char buf[64];

	if (flow_token_keyring_load(cfg->key_file,
	    cfg->previous_key_file, &keys, err, errcap) != 0) {
		return (NULL);
	}
	/* The link reaches ce->net, which exists once the core does. */
	memset(&link, 0, sizeof(link));
	core = core_embedded_new_on(cfg, out, &keys, &link, err, errcap);
	memset(&keys, 0, sizeof(keys));
	if (core == NULL) {
		return (NULL);
	}
	ce = (struct core_embedded *)core;
	if (core_embedded_group_commit(core, loop) != 0) {
		snprintf(err, errcap, "no iteration-end hook left");
		embedded_free(core);
		return (NULL);
	}
	memset(&ev, 0, sizeof(ev));
	ev.message = net_message;
	ev.arg = ce;
	if ((ce->net = core_net_new(loop, cfg, NULL, &ev, err, errcap)) ==
	    NULL) {
		embedded_free(core);
		return (NULL);
	}
	core_net_on_undelivered(ce->net, net_undelivered);
	link.send_request = net_send_request;
	link.send_response = net_send_response;
	link.undeliverable = net_undeliverable;
	link.arg = ce;
	core_dispatch_set_link(ce->dispatch, &link);
	if (core_dispatch_resolve_with(ce->dispatch, loop, NULL, NULL) != 0) {
		snprintf(err, errcap, "core side: cannot start a resolver");
		embedded_free(core);
		return (NULL);
	}
	core_net_local(ce->net, &local);
	epsip_addr_format(&local, buf, sizeof(buf));
	log_info("core side on %s (UDP and TCP): other edges may use this "
	    "registrar", buf);
	return (core);
}
