/*
 * bridge.c -- IPC in, the core, IPC out (see bridge.h).
 *
 * One envelope at a time from bridge.ipc: SIP_TO_CORE goes to the core as
 * is, FLOW_CLOSED hands the core the dead flow's token.  What the core
 * sends becomes SIP_FROM_CORE on a push socket towards router.ipc, dialed
 * in the background with a deep queue so a router restart loses nothing.
 * The core is the embedded registrar (with core-listen set, also
 * reachable by other edges over the network, core_dispatch.c), or with
 * `upstream` configured the relay to an external one (core_upstream.c);
 * core-side sockets share this process's loop.
 *
 * DIAGNOSTICS: failing to open the sockets or the core at start is fatal
 * (exit 1).  Any other message type is dropped and counted, like the
 * garbled envelopes ipc_recv() already drops: an IPC peer is never
 * trusted to be right (ipc.h).
 */
#include <stdlib.h>
#include <string.h>

#include "epsip/ipc.h"
#include "epsip/log.h"
#include "epsip/overload.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "bridge.h"

/* Envelopes handled per wake-up, so timers still get their turn. */
#define RB_RECV_BUDGET	256

static int
send_to_router(void *arg, const char *buf, size_t len)
{
	struct rb_bridge *b = arg;
	struct epsip_msg msg;

	if (len > EPSIP_MSG_MAX_PAYLOAD) {
		stats_inc(M_SIP_OUT_TOO_LARGE);
		return (-1);
	}
	epsip_msg_init(&msg, EPSIP_MSG_SIP_FROM_CORE);
	msg.payload = (const uint8_t *)buf;
	msg.payload_len = len;
	if (ipc_send(b->router, &msg) != 0) {
		return (-1);
	}
	stats_inc(M_SIP_OUT_TO_ROUTER);
	return (0);
}

/*
 * A new UDP request that waited too long in the edge's queues (the
 * router's link to us, when the core is the slowest part) gets 503
 * before the core spends anything on it (overload.h).  1 when answered.
 */
static int
shed_if_late(struct rb_bridge *b, const struct epsip_msg *msg)
{
	const struct epsip_config *cfg = &b->daemon->cfg;
	uint64_t now = loop_now_ms(b->daemon->loop);
	int late = overload_is_late(cfg, msg, now);
	char *out;
	size_t len;

	if (msg->transport == EPSIP_TRANSPORT_UDP && msg->stamp_ms != 0) {
		overload_meter_count(&b->overload, overload_wait_ms(msg, now));
	}
	if (!late || overload_reply(cfg, (const char *)msg->payload,
	    msg->payload_len, &out, &len) == 0) {
		return (0);
	}
	stats_inc(M_OVERLOAD_SHED);
	(void)b->out.send(b->out.arg, out, len);
	free(out);
	return (1);
}

static void
dispatch(struct rb_bridge *b, const struct epsip_msg *msg)
{
	struct rb_core *core = b->core;

	switch (msg->type) {
	case EPSIP_MSG_SIP_TO_CORE:
		if (shed_if_late(b, msg)) {
			break;
		}
		core->ops->sip(core, msg, loop_now_ms(b->daemon->loop));
		break;
	case EPSIP_MSG_FLOW_CLOSED:
		stats_inc(M_FLOW_CLOSED_NOTICES);
		core->ops->flow_closed(core, (const char *)msg->payload,
		    msg->payload_len);
		break;
	default:
		/* Dropped and counted, never trusted (ipc.h): a peer from
		 * another build must not take the registrar down with it. */
		stats_inc(M_IPC_ERRORS_UNEXPECTED);
		log_warnx("dropped unexpected %s message",
		    epsip_msg_type_name(msg->type));
	}
}

static void
on_ipc(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct rb_bridge *b = arg;
	struct epsip_msg msg;
	int budget = RB_RECV_BUDGET;
	int rv = 0;

	(void)loop;
	(void)fd;
	(void)events;
	while (budget-- > 0 && (rv = ipc_recv(b->in, &msg)) == 1) {
		dispatch(b, &msg);
	}
	if (rv == -1) {
		log_warnx("bridge.ipc: receive error");
	}
}

/*
 * Every window: the share of new UDP requests that came late here goes
 * to the router, which has the children shed it before it costs IPC
 * (overload.h); while it is not 0, and once when it drops to 0.
 */
static void
overload_window(struct loop *loop, void *arg)
{
	struct rb_bridge *b = arg;
	uint32_t before = b->overload.share;
	struct epsip_msg msg;

	(void)loop;
	epsip_msg_init(&msg, EPSIP_MSG_OVERLOAD);
	msg.arg = overload_meter_next(&b->overload, &b->daemon->cfg);
	if (msg.arg != 0 || before != 0) {
		(void)ipc_send(b->router, &msg);
	}
}

static void
on_tick(struct loop *loop, void *arg)
{
	struct rb_bridge *b = arg;

	b->core->ops->tick(b->core, loop_now_ms(loop));
}

/*
 * Shedding needs the window timer once overload-delay is not 0; once
 * running it stays (at 0 the share only decays to nothing).
 */
static int
overload_window_start(struct rb_bridge *b, const struct epsip_config *cfg)
{
	if (cfg->overload_delay == 0 || b->overload_window_on) {
		return (0);
	}
	if (loop_every(b->daemon->loop, OVERLOAD_WINDOW_MS, overload_window,
	    b) < 0) {
		return (-1);
	}
	b->overload_window_on = 1;
	return (0);
}

int
rb_bridge_start(struct daemon *d)
{
	struct rb_bridge *b = d->service->arg;
	char err[512], url[CONFIG_PATH_MAX + 32];

	b->daemon = d;
	sip_library_init();
	b->out.send = send_to_router;
	b->out.arg = b;
	if (config_has_upstream(&d->cfg)) {
		/* RG-29: relay to an external registrar/proxy. */
		b->core = rb_core_upstream_new(&d->cfg, &b->out, d->loop, err,
		    sizeof(err));
	} else if (d->cfg.core_listen.family != 0) {
		/* Other edges share this registrar over core-listen. */
		b->core = rb_core_embedded_net_new(&d->cfg, &b->out, d->loop,
		    err, sizeof(err));
	} else {
		b->core = rb_core_embedded_new(&d->cfg, &b->out, d->loop,
		    err, sizeof(err));
	}
	if (b->core == NULL) {
		log_error("%s core: %s", config_has_upstream(&d->cfg) ?
		    "upstream" : "embedded", err);
		return (-1);
	}
	if (ipc_service_url(d->cfg.run_dir, "bridge", url, sizeof(url)) ||
	    ipc_pull_listen(&b->in, url) == -1) {
		log_error("cannot listen on %s", url);
		return (-1);
	}
	if (ipc_service_url(d->cfg.run_dir, "router", url, sizeof(url)) ||
	    ipc_push_dial(&b->router, url, 0, (int)d->cfg.ipc_queue) == -1) {
		log_error("cannot dial %s", url);
		return (-1);
	}
	if (loop_add_fd(d->loop, ipc_recv_fd(b->in), EPOLLIN, on_ipc, b) ==
	    -1) {
		return (-1);
	}
	b->tick_timer = loop_every(d->loop, RB_TXN_TICK_MS, on_tick, b);
	if (overload_window_start(b, &d->cfg) == -1) {
		return (-1);
	}
	if (!config_has_upstream(&d->cfg)) {
		log_info("core %s, bindings in %s", b->core->ops->name,
		    d->cfg.registrar_db);
	}
	return (b->tick_timer < 0 ? -1 : 0);
}

int
rb_bridge_reload(struct daemon *d, const struct epsip_config *fresh,
    char *err, size_t errcap)
{
	struct rb_bridge *b = d->service->arg;

	/* First: a timer that runs for a refused reload sheds nothing. */
	if (overload_window_start(b, fresh) == -1) {
		snprintf(err, errcap, "overload-delay: no timer left");
		return (-1);
	}
	if (b->core->ops->reload != NULL &&
	    b->core->ops->reload(b->core, fresh, err, errcap) == -1) {
		return (-1);
	}
	return (0);
}

void
rb_bridge_report(struct daemon *d, json_t *stats)
{
	struct rb_bridge *b = d->service->arg;

	if (b->core != NULL && b->core->ops->report != NULL) {
		b->core->ops->report(b->core, stats);
	}
}

void
rb_bridge_stop(struct daemon *d)
{
	struct rb_bridge *b = d->service->arg;

	if (b->in != NULL) {
		loop_del_fd(d->loop, ipc_recv_fd(b->in));
		ipc_close(b->in);
	}
	if (b->router != NULL) {
		ipc_close(b->router);
	}
	if (b->core != NULL) {
		b->core->ops->free(b->core);
	}
	memset(b, 0, sizeof(*b));
}
