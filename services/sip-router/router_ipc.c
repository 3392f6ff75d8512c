/*
 * router_ipc.c -- the sip-router's IPC side: envelopes in, router_process(),
 * envelopes out.
 *
 * Reads router.ipc (flow-manager children, the flow-manager parent and the
 * registrar-bridge); sends to each child's own address (owners.c), derived
 * from the verified token, and to bridge.ipc.  Overload (overload.h): a
 * late new UDP request is answered 503 here, and every window the children
 * are told which share of new requests to shed themselves.  All SIP
 * decisions are in route.c and the files it calls.
 * DIAGNOSTICS: none; every failure is counted, and a request whose flow
 * owner is gone gets 430.
 */
#include <stdlib.h>
#include <string.h>

#include "epsip/log.h"
#include "epsip/source_rate.h"
#include "epsip/stats.h"
#include "router_ipc.h"

static void send_output(struct sip_router *sr, struct router_output *out,
    const struct epsip_msg *in, int depth);

static void
fill_flow_envelope(struct epsip_msg *msg, const struct flow_token *flow)
{
	msg->flow = flow->flow;
	msg->transport = flow->transport;
	msg->local = flow->local;
	msg->remote = flow->remote;
}

static int
send_to_flow(struct sip_router *sr, const struct router_output *out)
{
	struct ipc_socket *sock;
	struct epsip_msg msg;

	sock = owners_get(sr->owners, out->flow.flow.instance,
	    out->flow.flow.child);
	if (sock == NULL) {
		return (-1);
	}
	epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_FLOW);
	fill_flow_envelope(&msg, &out->flow);
	msg.flags = out->flags;
	msg.payload = (const uint8_t *)out->sip;
	msg.payload_len = out->sip_len;
	if (ipc_send(sock, &msg) == -1) {
		if (!ipc_peer_lost(sock)) {
			/*
			 * The child lives but has taken nothing for a whole
			 * ipc-backlog: a false 430 would make the registrar
			 * drop a good binding.  Counted (ipc_send), and the
			 * sender's transaction retries.
			 */
			stats_inc(M_IPC_FLOW_QUEUE_FULL);
			return (0);
		}
		owners_drop(sr->owners, out->flow.flow.instance,
		    out->flow.flow.child);
		return (-1);
	}
	if (out->registered) {
		/* The child keeps the timer and the AoR (epsipctl flows). */
		epsip_msg_init(&msg, EPSIP_MSG_FLOW_SET_TIMER);
		fill_flow_envelope(&msg, &out->flow);
		msg.arg = out->flow_timer;
		msg.payload = (const uint8_t *)out->aor;
		msg.payload_len = out->aor_len;
		(void)ipc_send(sock, &msg);
	}
	stats_inc(M_SIP_OUT_TO_FLOW);
	log_flow(LOG_LEVEL_DEBUG, &out->flow.flow, "to flow %zu bytes",
	    out->sip_len);
	return (0);
}

static int answer_overload(struct sip_router *, const struct epsip_msg *,
    enum metric_id);

/*
 * `in`: the envelope `out` answers or forwards.  Towards the core its
 * stamp (when the bytes reached the edge) and transport go along, so
 * the registrar-bridge can shed late UDP requests as the router does.
 */
static void
send_output(struct sip_router *sr, struct router_output *out,
    const struct epsip_msg *in, int depth)
{
	struct router_output again;
	struct epsip_msg msg;

	switch (out->dest) {
	case ROUTER_DROP:
		break;
	case ROUTER_TO_CORE:
		epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_CORE);
		msg.stamp_ms = in->stamp_ms;
		msg.transport = in->transport;
		if (in->type == EPSIP_MSG_SIP_FROM_FLOW) {
			/*
			 * Who sent it: the registrar lets loopback clients
			 * in without credentials while no user exists
			 * (auth = protected, docs/security.md).  The flow's
			 * address, never a Via the phone wrote.
			 */
			msg.flow = in->flow;
			msg.local = in->local;
			msg.remote = in->remote;
		}
		msg.payload = (const uint8_t *)out->sip;
		msg.payload_len = out->sip_len;
		/*
		 * The core's link is backed up: new work gets 503, whatever
		 * the transport; what finishes work waits its turn
		 * (overload.h).  Nothing is dropped silently.
		 */
		if (ipc_offer(sr->bridge, &msg) == 0 ||
		    ((depth > 0 ||
		    !answer_overload(sr, in, M_OVERLOAD_REFUSED)) &&
		    ipc_send(sr->bridge, &msg) == 0)) {
			stats_inc(M_SIP_OUT_TO_CORE);
			log_debug("to core %zu bytes", out->sip_len);
		}
		break;
	case ROUTER_TO_FLOW:
		if (send_to_flow(sr, out) == 0 || depth > 0) {
			break;
		}
		/* The owner is gone: 430 now, not after a time-out (EP-20). */
		log_flow(LOG_LEVEL_INFO, &out->flow.flow, "flow owner gone");
		router_undeliverable(&sr->router, out->sip, out->sip_len,
		    &again);
		send_output(sr, &again, in, depth + 1);
		router_output_clear(&again);
		break;
	}
}

static void
origin_from_envelope(const struct epsip_msg *msg, struct router_origin *o)
{
	memset(o, 0, sizeof(*o));
	o->source = ROUTER_FROM_FLOW;
	o->flow.flow = msg->flow;
	o->flow.transport = msg->transport;
	o->flow.local = msg->local;
	o->flow.remote = msg->remote;
}

static void
on_flow_closed(struct sip_router *sr, const struct epsip_msg *msg)
{
	struct router_origin o;
	struct epsip_msg out;
	char token[FLOW_TOKEN_MAX_TEXT];
	int n;

	origin_from_envelope(msg, &o);
	if (msg->arg == EPSIP_CLOSE_CHILD_EXIT ||
	    sr->router.cfg->flows_per_child == 1) {
		owners_drop(sr->owners, msg->flow.instance, msg->flow.child);
	}
	/* The registrar drops bindings whose Path carries this token. */
	if ((n = router_flow_token(&sr->router, &o.flow, token,
	    sizeof(token))) < 0) {
		return;
	}
	epsip_msg_init(&out, EPSIP_MSG_FLOW_CLOSED);
	fill_flow_envelope(&out, &o.flow);
	out.arg = msg->arg;
	out.payload = (const uint8_t *)token;
	out.payload_len = (size_t)n;
	(void)ipc_send(sr->bridge, &out);
}

/*
 * 503 + Retry-After, from its own lines, to the flow `msg` came on, when
 * it is a request that starts new work (overload.h); counted as `what`.
 * 1 when answered, 0 when it must be judged (or dropped) as usual.
 */
static int
answer_overload(struct sip_router *sr, const struct epsip_msg *msg,
    enum metric_id what)
{
	struct router_output out;
	struct router_origin origin;

	memset(&out, 0, sizeof(out));
	if (msg->type != EPSIP_MSG_SIP_FROM_FLOW ||
	    overload_reply(sr->router.cfg, (const char *)msg->payload,
	    msg->payload_len, &out.sip, &out.sip_len) == 0) {
		return (0);
	}
	stats_inc(what);
	origin_from_envelope(msg, &origin);
	out.dest = ROUTER_TO_FLOW;
	out.flow = origin.flow;
	out.local_status = 503;
	/* Depth 1: a flow gone meanwhile gets no 430 for a 503. */
	send_output(sr, &out, msg, 1);
	router_output_clear(&out);
	return (1);
}

/*
 * A new request from a UDP flow that waited too long gets 503 here
 * instead of costing the core (overload.h).  1 when answered.
 */
static int
shed_if_late(struct sip_router *sr, const struct epsip_msg *msg)
{
	uint64_t now = monotonic_ms();

	if (msg->transport == EPSIP_TRANSPORT_UDP && msg->stamp_ms != 0) {
		overload_meter_count(&sr->overload,
		    overload_wait_ms(msg, now));
	}
	return (overload_is_late(sr->router.cfg, msg, now) &&
	    answer_overload(sr, msg, M_OVERLOAD_SHED));
}

/*
 * A request from an address over source-request-rate: dropped, counted,
 * no answer -- a flood is not answered (issue 12 §6).  ACK and CANCEL
 * finish work already taken, and responses are not new work: they pass.
 */
static int
over_source_rate(struct sip_router *sr, const struct epsip_msg *msg)
{
	const char *p = (const char *)msg->payload;
	size_t n = msg->payload_len;

	if (n < 4 || memcmp(p, "SIP/", 4) == 0 ||
	    (n >= 4 && memcmp(p, "ACK ", 4) == 0) ||
	    (n >= 7 && memcmp(p, "CANCEL ", 7) == 0)) {
		return (0);
	}
	if (source_rate_take(sr->source_requests, &msg->remote,
	    monotonic_ms())) {
		return (0);
	}
	stats_inc(M_SIP_DROPPED_SOURCE_RATE);
	return (1);
}

static void
dispatch(struct sip_router *sr, const struct epsip_msg *msg)
{
	struct router_output out;
	struct router_origin origin;
	const char *payload = (const char *)msg->payload;

	memset(&out, 0, sizeof(out));
	switch (msg->type) {
	case EPSIP_MSG_SIP_FROM_FLOW:
		if (over_source_rate(sr, msg) || shed_if_late(sr, msg)) {
			return;
		}
		origin_from_envelope(msg, &origin);
		log_flow(LOG_LEVEL_DEBUG, &msg->flow, "from flow %zu bytes",
		    msg->payload_len);
		router_process(&sr->router, &origin, payload,
		    msg->payload_len, &out);
		break;
	case EPSIP_MSG_SIP_FROM_CORE:
		log_debug("from core %zu bytes", msg->payload_len);
		memset(&origin, 0, sizeof(origin));
		origin.source = ROUTER_FROM_CORE;
		router_process(&sr->router, &origin, payload,
		    msg->payload_len, &out);
		break;
	case EPSIP_MSG_FLOW_UNDELIVERABLE:
		stats_inc(M_SIP_UNDELIVERABLE);
		router_undeliverable(&sr->router, payload, msg->payload_len,
		    &out);
		break;
	case EPSIP_MSG_FLOW_FRAMING_ERROR:
		origin_from_envelope(msg, &origin);
		router_framing_error(&sr->router, &origin, (int)msg->arg,
		    payload, msg->payload_len, &out);
		break;
	case EPSIP_MSG_FLOW_CLOSED:
		on_flow_closed(sr, msg);
		return;
	case EPSIP_MSG_OVERLOAD:
		/* The bridge's late share: the children shed it too. */
		overload_gate_set(&sr->bridge_late, msg->arg, monotonic_ms());
		return;
	default:
		stats_inc(M_IPC_ERRORS_UNEXPECTED);
		log_warnx("unexpected %s message", epsip_msg_type_name(
		    msg->type));
		return;
	}
	send_output(sr, &out, msg, 0);
	router_output_clear(&out);
}

void
router_on_ipc(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct sip_router *sr = arg;
	struct epsip_msg msg;
	int budget = 256;

	(void)loop;
	(void)fd;
	(void)events;
	while (budget-- > 0 && ipc_recv(sr->in, &msg) == 1) {
		dispatch(sr, &msg);
	}
}

static void
send_overload(struct ipc_socket *sock, void *arg)
{
	const uint32_t *share = arg;
	struct epsip_msg msg;

	epsip_msg_init(&msg, EPSIP_MSG_OVERLOAD);
	msg.arg = *share;
	(void)ipc_send(sock, &msg);
}

/*
 * Every window: tell the children which share of new UDP requests to
 * shed themselves (overload.h), while it is not 0 and once when it
 * drops to 0.
 */
void
router_overload_window(struct loop *loop, void *arg)
{
	struct sip_router *sr = arg;
	uint32_t before = sr->overload.share;
	uint32_t share = overload_meter_next(&sr->overload, sr->router.cfg);

	(void)loop;
	/* The larger of ours and the bridge's, while the bridge's is fresh. */
	if (monotonic_ms() < sr->bridge_late.until_ms &&
	    sr->bridge_late.share > share) {
		share = sr->overload.share = sr->bridge_late.share;
	}
	if (share != 0 || before != 0) {
		owners_foreach(sr->owners, send_overload, &share);
	}
	stats_set(M_OVERLOAD_SHARE_PERMILLE,
	    (int64_t)share * 1000 / OVERLOAD_SHARE_ONE);
}
