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
 * DIAGNOSTICS: a database that cannot be opened stops the start (exit 1).
 * Unparsable SIP is counted (sip.in.malformed) and dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epsip/log.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "core.h"
#include "home_proxy.h"
#include "location.h"
#include "registrar.h"
#include "transaction.h"

#define RB_PURGE_MS		10000
#define RB_TOKEN_MAX		256

struct core_embedded {
	struct rb_core core;		/* first: the ops pointer */
	const struct epsip_config *cfg;
	const struct rb_out *out;
	struct location_db *db;
	struct rb_txn *txn;
	struct home_proxy *hp;
	uint64_t next_purge_ms;
};

static int64_t
wall_now(void)
{
	return ((int64_t)time(NULL));
}

static void
handle_register(struct core_embedded *ce, osip_message_t *req,
    uint64_t now_ms)
{
	osip_message_t *resp;
	struct rb_stx *stx;

	if ((stx = rb_stx_find(ce->txn, req, "REGISTER")) != NULL) {
		rb_stx_retransmission(ce->txn, stx);
		osip_message_free(req);
		return;
	}
	if (registrar_register(ce->cfg, ce->db, req, wall_now(), &resp) !=
	    0) {
		log_warnx("registrar: cannot build a response");
		osip_message_free(req);
		return;
	}
	if (rb_request_unreliable(req) &&
	    (stx = rb_stx_new(ce->txn, req)) != NULL) {
		/* Timer J: absorb the phone's retransmissions. */
		rb_stx_respond(ce->txn, stx, resp, now_ms);
	} else {
		rb_send(ce->out, resp);
		osip_message_free(req);
	}
	osip_message_free(resp);
}

static void
embedded_sip(struct rb_core *core, const struct epsip_msg *msg,
    uint64_t now_ms)
{
	struct core_embedded *ce = (struct core_embedded *)core;
	osip_message_t *sip;
	char name[32];

	if (sip_parse((const char *)msg->payload, msg->payload_len, &sip) !=
	    0) {
		stats_inc("sip.in.malformed");
		log_debug("dropping %zu unparsable bytes", msg->payload_len);
		return;
	}
	if (MSG_IS_RESPONSE(sip)) {
		snprintf(name, sizeof(name), "sip.in.response.%dxx",
		    sip->status_code / 100);
		stats_inc(name);
		home_proxy_response(ce->hp, sip, wall_now(), now_ms);
		return;
	}
	stats_inc2("sip.in.", sip->sip_method);
	if (sip->cseq == NULL || sip->cseq->method == NULL ||
	    strcmp(sip->cseq->method, sip->sip_method) != 0) {
		/* RFC 3261 §8.1.1.5: the methods must agree. */
		rb_reply_send(ce->out, sip, 400, "CSeq Method Mismatch");
		osip_message_free(sip);
		return;
	}
	if (strcmp(sip->sip_method, "REGISTER") == 0) {
		handle_register(ce, sip, now_ms);
	} else {
		home_proxy_request(ce->hp, sip, wall_now(), now_ms);
	}
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
}

static void
embedded_free(struct rb_core *core)
{
	struct core_embedded *ce = (struct core_embedded *)core;

	if (ce == NULL) {
		return;
	}
	home_proxy_free(ce->hp);
	rb_txn_free(ce->txn);
	location_close(ce->db);
	free(ce);
}

static const struct rb_core_ops embedded_ops = {
	.name = "embedded",
	.sip = embedded_sip,
	.flow_closed = embedded_flow_closed,
	.tick = embedded_tick,
	.report = embedded_report,
	.free = embedded_free,
};

struct rb_core *
rb_core_embedded_new(const struct epsip_config *cfg, const struct rb_out *out,
    char *err, size_t errcap)
{
	struct core_embedded *ce;

	if ((ce = calloc(1, sizeof(*ce))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	ce->core.ops = &embedded_ops;
	ce->cfg = cfg;
	ce->out = out;
	if (location_open(&ce->db, cfg->registrar_db, err, errcap) != 0) {
		free(ce);
		return (NULL);
	}
	if ((ce->txn = rb_txn_new(out, NULL)) == NULL ||
	    (ce->hp = home_proxy_new(cfg, ce->db, ce->txn, out)) == NULL) {
		snprintf(err, errcap, "out of memory");
		embedded_free(&ce->core);
		return (NULL);
	}
	registrar_purge(ce->db, wall_now());
	registrar_update_gauge(ce->db, wall_now());
	return (&ce->core);
}
