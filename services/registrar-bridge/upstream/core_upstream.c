/*
 * core_upstream.c -- upstream mode (RG-29): the bridge relays to an
 * external registrar/proxy instead of being one (see core.h,
 * core_upstream.h).
 *
 * Phone requests (SIP_TO_CORE) arrive with the router's Via on top, the
 * edge's only Via: they go to the configured upstream byte for byte
 * (RFC 3261 §16.6(7) local policy), over the upstream's transport, with
 * two exceptions.  A request for a UDP upstream above 1300 bytes goes
 * over TCP (TR-09, §18.1.1), its top Via's transport token rewritten to
 * match, since the upstream answers by that Via; and a message for a
 * stream that lacks a usable Content-Length is re-serialised (SP-12).
 * Every non-ACK request is remembered (upstream_txn.h) so that an
 * upstream that is silent, refuses or cannot be reached makes the phone
 * get 503 with Retry-After (SP-16), built like every local reply (SP-17),
 * and so that a TCP phone's request to a UDP upstream is retransmitted
 * here (SP-15).
 *
 * Everything the core side sends us goes to the router (SIP_FROM_CORE):
 * responses unchanged (the router follows its own Via), requests after
 * `received`/`rport` are stamped on their top Via from the real source
 * (§18.2.1, RFC 3581).  Responses the router hands back for those
 * requests are sent by their top Via (§18.2.2, RFC 3581): on the TCP
 * connection they came on, else to received and the sent-by port; over
 * UDP to received:rport.  The byte-level SIP work is upstream_sip.c's,
 * the sockets core_net's.
 *
 * DIAGNOSTICS: failing to bind core-listen stops the start (exit 1).
 * SIP that cannot be parsed is counted and dropped; a 503 that cannot be
 * built is logged.  Nothing here is fatal once running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/log.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "core_upstream.h"
#include "../corenet/upstream_sip.h"

struct core_upstream {
	struct rb_core core;		/* first: the ops pointer */
	const struct epsip_config *cfg;
	const struct rb_out *out;
	struct up_link link;
	struct up_txn_table *txns;
	struct core_net *net;		/* NULL over a test's link */
	struct loop *loop;
};

enum up_503 {
	UP_503_TIMEOUT,
	UP_503_UNREACHABLE,
	UP_503_OVERLOAD,
};

static const enum metric_id up_503_stat[] = {
	M_UPSTREAM_503_TIMEOUT,
	M_UPSTREAM_503_UNREACHABLE,
	M_UPSTREAM_503_OVERLOAD,
};

/* --- 503 --- */

/* RFC 3261 §16.9 / SP-16: the upstream cannot serve it; say when to retry. */
static void
answer_503(struct core_upstream *cu, const osip_message_t *req,
    enum up_503 why)
{
	osip_message_t *resp;
	char ra[16];

	stats_inc(up_503_stat[why]);
	if (rb_reply(req, 503, NULL, &resp) != 0) {
		log_warnx("upstream: cannot build a 503");
		return;
	}
	if (cu->cfg->retry_after > 0) {
		snprintf(ra, sizeof(ra), "%u", cu->cfg->retry_after);
		osip_message_set_header(resp, "Retry-After", ra);
	}
	if (rb_send(cu->out, resp) != 0) {
		log_warnx("upstream: cannot queue a 503 to the router");
	}
	osip_message_free(resp);
}

/* The 503 for a transaction, from the request it keeps. */
static void
txn_expire(void *arg, struct up_txn *txn, enum up_txn_end end)
{
	struct core_upstream *cu = arg;
	osip_message_t *req;

	if (sip_parse(txn->req, txn->req_len, &req) != 0) {
		log_warnx("upstream: a kept request no longer parses");
		return;
	}
	answer_503(cu, req, end == UP_TXN_TIMEOUT ? UP_503_TIMEOUT :
	    UP_503_UNREACHABLE);
	osip_message_free(req);
}

/* SP-15: Timer A/E fired for a TCP phone's request to a UDP upstream. */
static void
txn_retransmit(void *arg, struct up_txn *txn, uint64_t now)
{
	struct core_upstream *cu = arg;
	enum core_net_result r;
	uint64_t conn_id;

	(void)now;
	stats_inc(M_UPSTREAM_RETRANSMISSIONS);
	r = cu->link.send_request(cu->link.arg, EPSIP_TRANSPORT_UDP, 0,
	    txn->req, txn->req_len, &conn_id);
	if (r != CORE_NET_OK) {
		up_txn_fail(cu->txns, txn, UP_TXN_UNREACHABLE);
	}
}

/* --- from the phones (through the router) --- */

static enum up_503
result_503(enum core_net_result r)
{
	return (r == CORE_NET_QUEUE_FULL ? UP_503_OVERLOAD :
	    UP_503_UNREACHABLE);
}

static void
send_request(struct core_upstream *cu, osip_message_t *req, const char *buf,
    size_t len, uint64_t now)
{
	const char *method = sip_method(req), *branch = rb_top_branch(req);
	uint8_t transport = cu->cfg->upstream.transport;
	enum core_net_result r;
	struct up_txn *txn;
	char *wire = NULL;
	uint64_t conn_id;
	int retransmit, too_big;

	if (branch == NULL) {
		/* The router always adds its Via: this one is broken. */
		stats_inc(M_SIP_IN_MALFORMED);
		return;
	}
	too_big = transport == EPSIP_TRANSPORT_UDP && len > UP_UDP_MAX_REQUEST;
	if ((epsip_transport_is_stream(transport) || too_big) &&
	    !up_stream_framed(buf, len)) {
		/* SP-12: a stream needs Content-Length; libosip2 adds it. */
		if (sip_serialize(req, &wire, &len) != 0) {
			stats_inc(M_SIP_IN_MALFORMED);
			return;
		}
		buf = wire;
	}
	if (too_big) {
		transport = EPSIP_TRANSPORT_TCP;
		stats_inc(M_UPSTREAM_TCP_FOR_SIZE);
		if (wire == NULL) {
			if ((wire = malloc(len)) == NULL) {
				answer_503(cu, req, UP_503_OVERLOAD);
				return;
			}
			memcpy(wire, buf, len);
			buf = wire;
		}
		if (up_via_udp_to_tcp(wire, len) != 0) {
			log_debug("upstream: top Via is not UDP; sent as is");
		}
	}
	if (strcmp(method, "ACK") == 0) {
		/* No transaction, no answer: lost is lost, as on the wire. */
		r = cu->link.send_request(cu->link.arg, transport,
		    up_callid_hash(req), buf, len, &conn_id);
		stats_inc(r == CORE_NET_OK ? M_UPSTREAM_REQUESTS_SENT :
		    M_UPSTREAM_ACK_LOST);
		free(wire);
		return;
	}
	if ((txn = up_txn_find(cu->txns, branch, method)) == NULL) {
		/* SP-15: only a reliable phone leaves retransmitting to us. */
		retransmit = transport == EPSIP_TRANSPORT_UDP &&
		    !rb_request_unreliable(req);
		txn = up_txn_add(cu->txns, branch, method, buf, len,
		    retransmit, now);
		if (txn == NULL) {
			answer_503(cu, req, UP_503_OVERLOAD);
			free(wire);
			return;
		}
	} else {
		/* The phone's retransmission: again, same deadline. */
		stats_inc(M_UPSTREAM_REQUESTS_PHONE_RETRANSMISSIONS);
	}
	r = cu->link.send_request(cu->link.arg, transport, up_callid_hash(req),
	    buf, len, &conn_id);
	free(wire);
	if (r != CORE_NET_OK) {
		log_debug("upstream: %s %s: %s", method, branch,
		    core_net_result_name(r));
		up_txn_remove(cu->txns, txn);
		answer_503(cu, req, result_503(r));
		return;
	}
	txn->conn_id = conn_id;
	txn->hash = up_callid_hash(req);
	stats_inc(M_UPSTREAM_REQUESTS_SENT);
}

/*
 * A response the router hands back for a request from the core: the top
 * Via is the core element's (the router popped its own).  UDP goes to
 * received:rport (RFC 3581 §4); TCP on the connection from
 * received:rport if it is still there, else on a new one to
 * received:sent-by-port (§18.2.2).
 */
static void
send_response(struct core_upstream *cu, osip_message_t *resp,
    const char *buf, size_t len)
{
	(void)up_response_send(resp, buf, len, cu->link.send_response,
	    cu->link.arg);
}

static void
upstream_sip(struct rb_core *core, const struct epsip_msg *msg,
    uint64_t now_ms)
{
	struct core_upstream *cu = (struct core_upstream *)core;
	const char *buf = (const char *)msg->payload;
	osip_message_t *sip;

	if (sip_parse(buf, msg->payload_len, &sip) != 0) {
		stats_inc(M_SIP_IN_MALFORMED);
		return;
	}
	if (MSG_IS_RESPONSE(sip)) {
		stats_inc(metric_response_class(sip->status_code));
		send_response(cu, sip, buf, msg->payload_len);
	} else {
		stats_inc(metric_sip_method(sip->sip_method));
		send_request(cu, sip, buf, msg->payload_len, now_ms);
	}
	osip_message_free(sip);
}

/* --- from the core side network --- */

void
core_upstream_net_message(struct rb_core *core, const char *buf,
    size_t len, const struct core_net_peer *from, uint64_t now)
{
	struct core_upstream *cu = (struct core_upstream *)core;
	const char *branch;
	osip_message_t *sip;

	if (sip_parse(buf, len, &sip) != 0) {
		stats_inc(M_CORE_MALFORMED);
		return;
	}
	if (MSG_IS_RESPONSE(sip)) {
		/* Relayed unchanged whatever the table says: the router
		 * pops its Via and follows `ept` to the phone. */
		stats_inc(M_UPSTREAM_RESPONSES_RECEIVED);
		branch = rb_top_branch(sip);
		if (branch != NULL && sip->cseq != NULL &&
		    sip->cseq->method != NULL) {
			(void)up_txn_response(cu->txns, branch,
			    sip->cseq->method, sip->status_code, now);
		}
		if (cu->out->send(cu->out->arg, buf, len) != 0) {
			log_warnx("upstream: cannot queue a response to the "
			    "router");
		}
	} else {
		stats_inc(M_CORE_REQUESTS_RECEIVED);
		sip_via_stamp_received(sip, &from->remote,
		    epsip_transport_is_stream(from->transport));
		if (rb_send(cu->out, sip) != 0) {
			log_warnx("upstream: cannot queue a request to the "
			    "router");
		}
	}
	osip_message_free(sip);
}

/*
 * A pool connection died under an unanswered request.  The upstream may
 * have closed it just as we wrote (Kamailio closes idle connections after
 * tcp_connection_lifetime), so the request may never have been read:
 * send it once more on a fresh connection, which is safe (same branch:
 * to the upstream a retransmission).  A second loss, or no connection to
 * be had, is the phone's 503.
 */
static void
resend_or_fail(void *arg, struct up_txn *txn)
{
	struct core_upstream *cu = arg;
	uint64_t conn_id;

	if (!txn->resent && !txn->provisional &&
	    cu->link.send_request(cu->link.arg, EPSIP_TRANSPORT_TCP,
	    txn->hash, txn->req, txn->req_len, &conn_id) == CORE_NET_OK) {
		txn->resent = 1;
		txn->conn_id = conn_id;
		stats_inc(M_UPSTREAM_RESENT_AFTER_CLOSE);
		return;
	}
	up_txn_fail(cu->txns, txn, UP_TXN_UNREACHABLE);
}

void
core_upstream_net_conn_lost(struct rb_core *core, uint64_t conn_id)
{
	struct core_upstream *cu = (struct core_upstream *)core;

	if (conn_id != 0) {
		up_txn_each_on_conn(cu->txns, conn_id, resend_or_fail, cu);
	}
}

void
core_upstream_net_udp_refused(struct rb_core *core, const char *payload,
    size_t len)
{
	struct core_upstream *cu = (struct core_upstream *)core;
	char method[32], branch[UP_TXN_KEY_MAX];
	struct up_txn *txn;

	if (up_scan_request(payload, len, method, sizeof(method), branch,
	    sizeof(branch)) == 0) {
		txn = up_txn_find(cu->txns, branch, method);
		if (txn != NULL && txn->conn_id == 0) {
			up_txn_fail(cu->txns, txn, UP_TXN_UNREACHABLE);
		}
		return;
	}
	/* Too little came back to tell which: all UDP ones share its fate. */
	(void)up_txn_fail_conn(cu->txns, 0);
}

size_t
core_upstream_pending(const struct rb_core *core)
{
	return (up_txn_count(((const struct core_upstream *)core)->txns));
}

/* --- rb_core ops --- */

static void
upstream_flow_closed(struct rb_core *core, const char *token, size_t len)
{
	/* No bindings here: the upstream's own flow logic handles it
	 * (bridge.c has counted it). */
	(void)core;
	(void)token;
	(void)len;
}

static void
upstream_tick(struct rb_core *core, uint64_t now_ms)
{
	up_txn_tick(((struct core_upstream *)core)->txns, now_ms);
}

static void
upstream_report(struct rb_core *core, json_t *stats)
{
	struct core_upstream *cu = (struct core_upstream *)core;

	json_object_set_new(stats, "core", json_string("upstream"));
	json_object_set_new(stats, "upstream", json_string(
	    cu->cfg->upstream_uri));
	json_object_set_new(stats, "transactions",
	    json_integer((json_int_t)up_txn_count(cu->txns)));
	if (cu->net != NULL) {
		json_object_set_new(stats, "upstream.connections",
		    json_integer((json_int_t)core_net_pool_live(cu->net)));
		json_object_set_new(stats, "core.connections",
		    json_integer((json_int_t)core_net_core_conns(cu->net)));
	}
}

static void
upstream_free(struct rb_core *core)
{
	struct core_upstream *cu = (struct core_upstream *)core;

	if (cu == NULL) {
		return;
	}
	/* The network first: closing it must not 503 into a freed table. */
	core_net_free(cu->net);
	up_txn_free(cu->txns);
	free(cu);
}

static const struct rb_core_ops upstream_ops = {
	.name = "upstream",
	.sip = upstream_sip,
	.flow_closed = upstream_flow_closed,
	.tick = upstream_tick,
	.report = upstream_report,
	.free = upstream_free,
};

struct rb_core *
core_upstream_new_on(const struct epsip_config *cfg, const struct rb_out *out,
    const struct up_link *link, const struct up_txn_conf *conf, char *err,
    size_t errcap)
{
	struct core_upstream *cu;
	struct up_txn_conf defaults;
	struct up_txn_events ev;

	if (!config_has_upstream(cfg)) {
		snprintf(err, errcap, "no upstream configured");
		return (NULL);
	}
	if ((cu = calloc(1, sizeof(*cu))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	cu->core.ops = &upstream_ops;
	cu->cfg = cfg;
	cu->out = out;
	if (link != NULL) {
		cu->link = *link;
	}
	if (conf == NULL) {
		up_txn_conf_default(&defaults, cfg->upstream_timeout);
		conf = &defaults;
	}
	ev.retransmit = txn_retransmit;
	ev.expire = txn_expire;
	ev.arg = cu;
	if ((cu->txns = up_txn_new(conf, &ev)) == NULL) {
		snprintf(err, errcap, "out of memory");
		free(cu);
		return (NULL);
	}
	return (&cu->core);
}

/* --- over core_net --- */

static enum core_net_result
net_send_request(void *arg, uint8_t transport, uint32_t hash,
    const char *buf, size_t len, uint64_t *conn_id)
{
	return (core_net_send_upstream(arg, transport, hash, buf, len,
	    conn_id));
}

static int
net_send_response(void *arg, uint8_t transport,
    const struct epsip_addr *conn_peer, const struct epsip_addr *dest,
    const char *buf, size_t len)
{
	return (core_net_send_response(arg, transport, conn_peer, dest, buf,
	    len));
}

static void
net_message(void *arg, const char *buf, size_t len,
    const struct core_net_peer *from)
{
	struct core_upstream *cu = arg;

	core_upstream_net_message(&cu->core, buf, len, from,
	    loop_now_ms(cu->loop));
}

static void
net_conn_lost(void *arg, uint64_t conn_id)
{
	struct core_upstream *cu = arg;

	core_upstream_net_conn_lost(&cu->core, conn_id);
}

static void
net_udp_refused(void *arg, const char *payload, size_t len)
{
	struct core_upstream *cu = arg;

	core_upstream_net_udp_refused(&cu->core, payload, len);
}

struct rb_core *
rb_core_upstream_new(const struct epsip_config *cfg, const struct rb_out *out,
    struct loop *loop, char *err, size_t errcap)
{
	struct core_net_events ev;
	struct core_upstream *cu;
	struct rb_core *core;
	struct epsip_addr local;
	char buf[64];

	if ((core = core_upstream_new_on(cfg, out, NULL, NULL, err, errcap)) ==
	    NULL) {
		return (NULL);
	}
	cu = (struct core_upstream *)core;
	cu->loop = loop;
	ev.message = net_message;
	ev.conn_lost = net_conn_lost;
	ev.udp_refused = net_udp_refused;
	ev.arg = cu;
	if ((cu->net = core_net_new(loop, cfg, NULL, &ev, err, errcap)) ==
	    NULL) {
		upstream_free(core);
		return (NULL);
	}
	cu->link.send_request = net_send_request;
	cu->link.send_response = net_send_response;
	cu->link.arg = cu->net;
	core_net_local(cu->net, &local);
	epsip_addr_format(&local, buf, sizeof(buf));
	log_info("upstream %s, core side on %s (UDP and TCP), %u "
	    "connection(s), 503 after %u s", cfg->upstream_uri, buf,
	    cfg->upstream_connections, cfg->upstream_timeout);
	return (core);
}
