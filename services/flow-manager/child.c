/*
 * child.c -- a flow-manager child: start, the control socket from the
 * parent, messages from the router, reaping, report and stop.
 *
 * Started only by the parent (fork+exec with --child N): fd 3 is the
 * control socket, fds 4.. the UDP listeners.  It listens for the router on
 * fm<instance>-c<N>.ipc, the address the router derives from a verified
 * flow token.  In process-per-flow mode it exits when its flow closes.
 * When the parent goes away (control EOF, or SIGTERM by PR_SET_PDEATHSIG)
 * it exits too, and tells the router itself of every flow it closes: the
 * parent, which does that otherwise, cannot.  The parent stops a child
 * with SIGINT (parent.h), so SIGTERM always means the parent is gone --
 * asking for its pid would not tell: a parent killed with SIGKILL keeps
 * its pid until its last thread is gone.
 *
 * Fatal: started without the descriptors above; no memory at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epsip/flow_token.h"
#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "child.h"
#include "flow_manager.h"

#define CONTROL_BATCH		64
#define ROUTER_BATCH		256
#define REAP_INTERVAL_MS	1000
/* How long stop waits for the parent to take our last FLOW_CLOSEDs. */
#define STOP_FLUSH_MS		1000
/* How long an orphaned child lets nng write its FLOW_CLOSED notices. */
#define ORPHAN_LINGER_MS	100
/* Messages from the router bounced at most when stopping. */
#define STOP_DRAIN_MAX		4096
/* Longest a stop may take (STOP_FLUSH_MS and the linger are within it). */
#define STOP_DEADLINE_S		5

static struct fm_child fm_child;

/* ---- control socket: to the parent ---- */

static void
ctl_set_events(struct fm_child *c)
{
	uint32_t want;

	want = EPOLLIN | (!STAILQ_EMPTY(&c->ctlq) ? EPOLLOUT : 0);
	if (c->ctl_fd != -1 && want != c->ctl_events &&
	    loop_mod_fd(c->loop, c->ctl_fd, want) == 0) {
		c->ctl_events = want;
	}
}

static void
ctlq_drop(struct fm_child *c)
{
	struct fm_ctlq *q;

	while ((q = STAILQ_FIRST(&c->ctlq)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->ctlq, next);
		free(q);
	}
}

/* Send what waits; stops at EAGAIN.  The parent gone: drop it all. */
static void
ctlq_flush(struct fm_child *c)
{
	struct fm_ctlq *q;

	while ((q = STAILQ_FIRST(&c->ctlq)) != NULL) {
		if (fm_ctl_send(c->ctl_fd, q->data, q->len, -1) == -1) {
			if (errno == EAGAIN) {
				break;
			}
			ctlq_drop(c);
			break;
		}
		STAILQ_REMOVE_HEAD(&c->ctlq, next);
		free(q);
	}
	ctl_set_events(c);
}

void
fm_child_ctl_send_closed(struct fm_child *c, uint32_t slot,
    uint32_t generation, uint32_t reason)
{
	struct fm_ctl_msg m;
	struct fm_ctlq *q;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		log_warn("FLOW_CLOSED for slot %" PRIu32, slot);
		return;
	}
	fm_ctl_init(&m, FM_CTL_FLOW_CLOSED);
	m.slot = slot;
	m.generation = generation;
	m.reason = reason;
	if (fm_ctl_encode(&m, q->data, sizeof(q->data), &q->len) !=
	    EPSIP_MSG_OK) {
		free(q);
		return;
	}
	if (STAILQ_EMPTY(&c->ctlq) &&
	    fm_ctl_send(c->ctl_fd, q->data, q->len, -1) == 0) {
		free(q);
		return;
	}
	if (STAILQ_EMPTY(&c->ctlq) && errno != EAGAIN) {
		free(q);		/* the parent is gone */
		return;
	}
	/* In order behind the others: the parent must see every one. */
	STAILQ_INSERT_TAIL(&c->ctlq, q, next);
	ctl_set_events(c);
}

/* ---- control socket: from the parent ---- */

static void
handle_control(struct fm_child *c, const uint8_t *buf, size_t len, int fd)
{
	struct fm_ctl_msg m;
	enum epsip_msg_error err;

	if ((err = fm_ctl_decode(buf, len, &m)) != EPSIP_MSG_OK) {
		/* The parent is the same binary: this is a bug. */
		log_warnx("bad control message: %s", epsip_msg_error_name(err));
		stats_inc(M_CONTROL_ERRORS);
	} else if (m.type == FM_CTL_NEW_STREAM_FLOW && fd == FM_CTL_FD_LOST) {
		/*
		 * Out of descriptors: the connection is gone.  The parent
		 * counts it, frees the slot and sends new flows elsewhere.
		 */
		log_debug("slot %" PRIu32 ": connection lost, out of "
		    "descriptors", m.slot);
		fm_child_ctl_send_closed(c, m.slot, m.generation,
		    EPSIP_CLOSE_NONE);
		return;
	} else if (m.type == FM_CTL_NEW_STREAM_FLOW && fd >= 0) {
		fm_stream_flow_open(c, &m, fd);
		return;
	} else if (m.type == FM_CTL_UDP_DATAGRAM) {
		fm_udp_flow_datagram(c, &m, fd);
		return;
	} else {
		log_warnx("unexpected control message %s (fd %d)",
		    fm_ctl_type_name(m.type), fd);
		stats_inc(M_CONTROL_ERRORS);
	}
	if (fd >= 0) {
		(void)close(fd);
	}
}

static void
parent_gone(struct fm_child *c)
{
	log_info("parent gone: exiting");
	c->orphaned = 1;
	ctlq_drop(c);
	loop_del_fd(c->loop, c->ctl_fd);
	(void)close(c->ctl_fd);
	c->ctl_fd = -1;
	c->exiting = 1;
	loop_stop(c->loop);
}

static void
control_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_child *c = arg;
	ssize_t n;
	int i, passed;

	(void)loop;
	if (events & EPOLLOUT) {
		ctlq_flush(c);
	}
	for (i = 0; i < CONTROL_BATCH && c->ctl_fd != -1; i++) {
		n = fm_ctl_read(fd, c->ctl_buf, FM_CTL_MAX_SIZE, &passed);
		if (n == FM_CTL_DRAINED) {
			return;
		}
		if (n <= 0) {
			parent_gone(c);
			return;
		}
		handle_control(c, c->ctl_buf, (size_t)n, passed);
	}
}

/* ---- the router ---- */

static void
undeliverable(struct fm_child *c, const struct epsip_msg *in)
{
	struct epsip_msg m;

	m = *in;
	m.type = EPSIP_MSG_FLOW_UNDELIVERABLE;
	m.flags = 0;
	stats_inc(M_SIP_UNDELIVERABLE);
	log_flow(LOG_LEVEL_DEBUG, &in->flow, "undeliverable");
	(void)ipc_send(c->router, &m);
}

static void
to_flow(struct fm_child *c, const struct epsip_msg *msg)
{
	struct fm_flow *f;
	int rc;

	f = fm_flow_find(c, &msg->flow);
	if (f == NULL || (epsip_transport_is_stream(f->transport) &&
	    !fm_stream_flow_open_for_output(f))) {
		undeliverable(c, msg);
		return;
	}
	rc = 0;
	if (msg->payload_len > 0) {
		log_flow(LOG_LEVEL_DEBUG, &f->id, "out %zu bytes",
		    msg->payload_len);
		if (epsip_transport_is_stream(f->transport)) {
			rc = fm_stream_flow_send(f, msg->payload,
			    msg->payload_len);
		} else {
			rc = fm_udp_flow_send(f, msg->payload,
			    msg->payload_len);
		}
	}
	if (rc == -1) {
		/* Not sent (a TCP flow is closed by now): let the router
		 * answer for it. */
		undeliverable(c, msg);
		return;
	}
	stats_inc(M_SIP_TO_FLOW);
	if (msg->flags & EPSIP_MSG_F_CLOSE_AFTER_SEND) {
		if (epsip_transport_is_stream(f->transport)) {
			(void)fm_stream_flow_finish(f);
		} else {
			fm_flow_close(f, EPSIP_CLOSE_FRAMING);
		}
	}
}

static void
set_timer(struct fm_child *c, const struct epsip_msg *msg)
{
	struct fm_flow *f;

	if ((f = fm_flow_find(c, &msg->flow)) == NULL) {
		stats_inc(M_FLOW_TIMER_UNKNOWN_FLOW);
		return;
	}
	/* 0: the 2xx set no timer, yet names the AoR registered. */
	if (msg->arg > 0) {
		f->timer_s = msg->arg;
	}
	fm_flow_set_aor(f, msg->payload, msg->payload_len);
	log_flow(LOG_LEVEL_DEBUG, &f->id, "Flow-Timer %" PRIu32 " s, AoR %s",
	    f->timer_s, f->aor != NULL ? f->aor : "-");
}

static void
router_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_child *c = arg;
	struct epsip_msg msg;
	int i, rc;

	(void)loop;
	(void)fd;
	(void)events;
	for (i = 0; i < ROUTER_BATCH; i++) {
		if ((rc = ipc_recv(c->pull, &msg)) <= 0) {
			if (rc == -1) {
				log_warnx("receiving from the router failed");
			}
			return;
		}
		switch (msg.type) {
		case EPSIP_MSG_SIP_TO_FLOW:
			to_flow(c, &msg);
			break;
		case EPSIP_MSG_FLOW_SET_TIMER:
			set_timer(c, &msg);
			break;
		case EPSIP_MSG_FLOWS_QUERY:
			fm_flows_answer(c, &msg);
			break;
		case EPSIP_MSG_OVERLOAD:
			overload_gate_set(&c->overload, msg.arg,
			    loop_now_ms(c->loop));
			break;
		default:
			log_warnx("unexpected %s from the router",
			    epsip_msg_type_name(msg.type));
			stats_inc(M_IPC_ERRORS_UNEXPECTED);
			break;
		}
	}
}

static void
reap_cb(struct loop *loop, void *arg)
{
	(void)loop;
	fm_flow_reap(arg);
	(void)ipc_redial_stuck();	/* the link to the router */
}

/* ---- life cycle ---- */

void
fm_child_maybe_exit(struct fm_child *c)
{
	/* Process per flow: the flow was the reason to live. */
	if (c->cfg->flows_per_child == 1 && c->had_flow && c->nflows == 0 &&
	    !c->exiting) {
		c->exiting = 1;
		loop_stop(c->loop);
	}
}

static void
check_inherited(struct fm_child *c)
{
	socklen_t len;
	size_t i;
	int type, flags;

	len = sizeof(type);
	if (getsockopt(FM_CONTROL_FD, SOL_SOCKET, SO_TYPE, &type, &len) ==
	    -1 || type != SOCK_SEQPACKET) {
		fatalx("%s: fd %d is not a control socket (children are "
		    "started by the flow-manager parent only)", c->name,
		    FM_CONTROL_FD);
	}
	for (i = 0; i < c->inherited_udp; i++) {
		len = sizeof(type);
		if (getsockopt(FM_FIRST_UDP_FD + (int)i, SOL_SOCKET, SO_TYPE,
		    &type, &len) == -1 || type != SOCK_DGRAM) {
			fatalx("%s: fd %d is not UDP listener %zu", c->name,
			    FM_FIRST_UDP_FD + (int)i, i);
		}
	}
	if ((flags = fcntl(FM_CONTROL_FD, F_GETFL)) == -1 ||
	    fcntl(FM_CONTROL_FD, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(FM_CONTROL_FD, F_SETFD, FD_CLOEXEC) == -1) {
		fatal("%s: control socket flags", c->name);
	}
}

int
fm_child_start(struct daemon *d, uint32_t id)
{
	struct fm_child *c = &fm_child;
	char url[CONFIG_PATH_MAX + 64];
	size_t max;

	memset(c, 0, sizeof(*c));
	STAILQ_INIT(&c->ctlq);
	c->d = d;
	c->cfg = &d->cfg;
	c->loop = d->loop;
	c->instance = (uint16_t)config_flow_manager_instance(c->cfg);
	c->id = id;
	c->ctl_fd = FM_CONTROL_FD;
	c->reap_timer = -1;
	(void)fm_child_name(c->name, sizeof(c->name), c->instance, id);
	daemon_set_instance_name(d, c->name);
	/* Log lines say which child; ps shows the binary, not "exe". */
	log_init(c->name, log_get_level());
	(void)prctl(PR_SET_NAME, "epsip-flow-manager");
	/* `listen` (UDP and TCP), then the stream-only ones (parent.h). */
	c->nlisteners = c->cfg->listen_count + c->cfg->listen_tls_count +
	    c->cfg->listen_ws_count + c->cfg->listen_wss_count;
	/* Connected flows send on their own sockets (udp_flow.c). */
	c->inherited_udp = c->cfg->udp_flow_sockets ==
	    UDP_FLOW_SOCKETS_CONNECTED ? 0 : c->nlisteners;
	check_inherited(c);

	c->nslots = c->cfg->flows_per_child;
	max = c->cfg->max_message_size;
	if (max == 0 || max > EPSIP_MSG_MAX_PAYLOAD) {
		/* A message must fit one envelope to the router. */
		max = EPSIP_MSG_MAX_PAYLOAD;
	}
	c->max_message = max;
	if (c->nslots == 0 ||
	    (c->flows = calloc(c->nslots, sizeof(*c->flows))) == NULL ||
	    (c->closed_gen = calloc(c->nslots, sizeof(*c->closed_gen))) ==
	    NULL || (c->ctl_buf = malloc(FM_CTL_MAX_SIZE)) == NULL) {
		fatal("%s: start", c->name);
	}
	if (fm_stream_flows_init(c) == -1) {
		return (-1);		/* logged: a TLS file, or no memory */
	}

	if (ipc_service_url(c->cfg->run_dir, "router", url, sizeof(url)) < 0 ||
	    ipc_push_dial(&c->router, url, 0, (int)c->cfg->ipc_queue) == -1) {
		log_error("%s: cannot dial the router", c->name);
		return (-1);
	}
	if (flow_owner_ipc_url(c->cfg->run_dir, c->instance,
	    id, url, sizeof(url)) < 0 || ipc_pull_listen(&c->pull, url) == -1) {
		log_error("%s: cannot listen on %s", c->name, url);
		return (-1);
	}
	c->ctl_events = EPOLLIN;
	if (loop_add_fd(c->loop, c->ctl_fd, EPOLLIN, control_cb, c) == -1 ||
	    loop_add_fd(c->loop, ipc_recv_fd(c->pull), EPOLLIN, router_cb,
	    c) == -1 ||
	    (c->reap_timer = loop_every(c->loop, REAP_INTERVAL_MS, reap_cb,
	    c)) < 0) {
		fatal("%s: loop", c->name);
	}
	log_debug("%s: started, %" PRIu32 " slots", c->name, c->nslots);
	return (0);
}

void
fm_child_reload(struct daemon *d, const struct epsip_config *fresh)
{
	(void)d;
	fm_stream_flows_reload(&fm_child, fresh);
}

void
fm_child_report(struct daemon *d, json_t *stats)
{
	struct fm_child *c = &fm_child;
	long rss, priv;

	(void)d;
	(void)json_object_set_new(stats, "flows",
	    json_integer((json_int_t)c->nflows));
	if (stats_memory_kib(&rss, &priv) == 0) {
		(void)json_object_set_new(stats, "rss_kib",
		    json_integer((json_int_t)rss));
		(void)json_object_set_new(stats, "private_kib",
		    json_integer((json_int_t)priv));
	}
}

/*
 * Stopping, our flows closed: what the router sent meanwhile is for them.
 * Bounced (FLOW_UNDELIVERABLE), its requests get 430 from the router now
 * and the registrar fails over at once; left in the socket, they would
 * vanish with it and their callers wait out their timers (a parent
 * killed mid-call: its children go on their own).  The number bounced.
 */
static uint32_t
router_drain(struct fm_child *c)
{
	struct epsip_msg msg;
	uint32_t n = 0;

	while (n < STOP_DRAIN_MAX && ipc_recv(c->pull, &msg) == 1) {
		if (msg.type == EPSIP_MSG_SIP_TO_FLOW) {
			to_flow(c, &msg);
			n++;
		}
	}
	return (n);
}

/* Give the parent our last FLOW_CLOSEDs, waiting at most `ms`. */
static void
ctlq_flush_wait(struct fm_child *c, int ms)
{
	struct pollfd pfd;
	uint64_t deadline, now;

	deadline = monotonic_ms() + (uint64_t)ms;
	while (!STAILQ_EMPTY(&c->ctlq) && c->ctl_fd != -1) {
		ctlq_flush(c);
		now = monotonic_ms();
		if (STAILQ_EMPTY(&c->ctlq) || now >= deadline) {
			break;
		}
		pfd.fd = c->ctl_fd;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, (int)(deadline - now));
	}
	ctlq_drop(c);
}

void
fm_child_stop(struct daemon *d)
{
	struct fm_child *c = &fm_child;
	uint32_t s, closed = 0, bounced = 0;

	c->exiting = 1;
	if (d->stop_signal == SIGTERM) {
		c->orphaned = 1;
	}
	/*
	 * A child on its way out must go, whatever waits: nng 1.5.2's
	 * nng_close() can wait for ever on a pipe caught in its handshake
	 * as the socket closes (the chaos of issue 12 §7 left an orphan
	 * there).  Its flows are closed and reported well before this;
	 * SIGALRM's default ends the process.
	 */
	(void)alarm(STOP_DEADLINE_S);
	for (s = 0; c->flows != NULL && s < c->nslots; s++) {
		if (c->flows[s] != NULL) {
			fm_flow_close(c->flows[s], EPSIP_CLOSE_SHUTDOWN);
			closed++;
		}
	}
	ctlq_flush_wait(c, STOP_FLUSH_MS);
	if (c->reap_timer >= 0) {
		loop_cancel(c->loop, c->reap_timer);
		c->reap_timer = -1;
	}
	if (c->pull != NULL) {
		loop_del_fd(c->loop, ipc_recv_fd(c->pull));
		bounced = router_drain(c);
		ipc_close(c->pull);
		c->pull = NULL;
	}
	if (c->router != NULL) {
		if ((c->orphaned && closed > 0) || bounced > 0) {
			/*
			 * nng 1.5 has no linger: a socket closed at once drops
			 * what its pipe has not written yet, and these are
			 * the only word the router gets of these flows (an
			 * orphan's FLOW_CLOSEDs) and of these requests.
			 */
			struct timespec t = { 0, ORPHAN_LINGER_MS * 1000000L };

			ipc_flush_all();
			(void)nanosleep(&t, NULL);
		}
		ipc_close(c->router);
		c->router = NULL;
	}
	if (c->ctl_fd != -1) {
		loop_del_fd(c->loop, c->ctl_fd);
		(void)close(c->ctl_fd);
		c->ctl_fd = -1;
	}
	free(c->flows);
	free(c->paused_slots);
	free(c->closed_gen);
	fm_stream_flows_free(c);
	free(c->ctl_buf);
	c->flows = NULL;
	c->closed_gen = NULL;
	c->ctl_buf = NULL;
}
