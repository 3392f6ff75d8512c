/*
 * children.c -- the parent's records of its children and of the flows in
 * their slots: spawning, choosing the child for a new flow, generations,
 * ending flows (FLOW_CLOSED to the router) and reading what children send
 * on their control sockets.
 *
 * Ownership is one code path for both modes.  A child takes new flows
 * while it is on the "open" list (it has a free slot and is not retiring).
 * With flows_per_child == 1 (the paper's process per flow) a child retires
 * as soon as it has its flow, so every new flow spawns a child, and the
 * child exits when that flow closes.  With more, new flows go to the
 * lowest-numbered open child and a child is spawned only when all are full.
 *
 * Nothing here is fatal: a child that cannot be spawned refuses a flow.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "epsip/flow_token.h"
#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "control.h"
#include "flow_manager.h"
#include "parent.h"

#define IPC_PREFIX	"ipc://"

/* ---- the open list: children that take new flows, by ascending id ---- */

/* fd_cap is at most flows-per-child: below it, a slot is free. */
static int
has_room(const struct fm_child_rec *c)
{
	return (!c->retiring && c->nflows < c->fd_cap);
}

static void
open_remove(struct fm_child_rec *c)
{
	if (!c->on_open) {
		return;
	}
	LIST_REMOVE(c, open_link);
	c->on_open = 0;
}

/*
 * Sorted so the lowest child with room fills first.  Only pooled children
 * ever come back to the list, and there are few of them (max_flows /
 * flows_per_child), so the walk is short and off the per-message path.
 */
static void
open_insert(struct fm_parent *p, struct fm_child_rec *c)
{
	struct fm_child_rec *prev, *cur;

	if (c->on_open || !has_room(c) || p->stopping) {
		return;
	}
	prev = NULL;
	LIST_FOREACH(cur, &p->open_children, open_link) {
		if (cur->id >= c->id) {
			break;
		}
		prev = cur;
	}
	if (prev != NULL) {
		LIST_INSERT_AFTER(prev, c, open_link);
	} else {
		LIST_INSERT_HEAD(&p->open_children, c, open_link);
	}
	c->on_open = 1;
}

/* ---- pid hash: SIGCHLD gives a pid, paper mode has thousands ---- */

static size_t
pid_bucket(const struct fm_parent *p, pid_t pid)
{
	return (((size_t)pid * 2654435761u) & p->pid_mask);
}

static void
pid_grow(struct fm_parent *p)
{
	struct fm_pid_chain *nb;
	struct fm_child_rec *c;
	size_t i, n, oldn;

	oldn = p->pid_mask + 1;
	n = oldn * 2;
	if ((nb = calloc(n, sizeof(*nb))) == NULL) {
		return;		/* longer chains, still correct */
	}
	p->pid_mask = n - 1;
	for (i = 0; i < oldn; i++) {
		while ((c = SLIST_FIRST(&p->pid_hash[i])) != NULL) {
			SLIST_REMOVE_HEAD(&p->pid_hash[i], pid_link);
			SLIST_INSERT_HEAD(&nb[pid_bucket(p, c->pid)], c,
			    pid_link);
		}
	}
	free(p->pid_hash);
	p->pid_hash = nb;
}

static void
pid_insert(struct fm_parent *p, struct fm_child_rec *c)
{
	if (p->nchildren >= p->pid_mask + 1) {
		pid_grow(p);
	}
	SLIST_INSERT_HEAD(&p->pid_hash[pid_bucket(p, c->pid)], c, pid_link);
}

static void
pid_remove(struct fm_parent *p, struct fm_child_rec *c)
{
	SLIST_REMOVE(&p->pid_hash[pid_bucket(p, c->pid)], c, fm_child_rec,
	    pid_link);
}

struct fm_child_rec *
fm_children_by_pid(struct fm_parent *p, pid_t pid)
{
	struct fm_child_rec *c;

	SLIST_FOREACH(c, &p->pid_hash[pid_bucket(p, pid)], pid_link) {
		if (c->pid == pid) {
			return (c);
		}
	}
	return (NULL);
}

int
fm_children_init(struct fm_parent *p)
{
	TAILQ_INIT(&p->all_children);
	p->pid_mask = 63;
	p->pid_hash = calloc(p->pid_mask + 1, sizeof(*p->pid_hash));
	return (p->pid_hash == NULL ? -1 : 0);
}

void
fm_children_free(struct fm_parent *p)
{
	free(p->pid_hash);
	p->pid_hash = NULL;
}

void
fm_children_gauges(struct fm_parent *p)
{
	stats_set(M_CHILDREN_ALIVE, (int64_t)p->nchildren);
	for (uint8_t t = EPSIP_TRANSPORT_UDP; t <= EPSIP_TRANSPORT_MAX; t++) {
		stats_set(metric_label_find(MF_FLOWS_OPEN,
		    epsip_transport_name(t)), (int64_t)p->open[t]);
	}
	fm_udp_demux_gauges(p);
}

/* ---- spawning and forgetting ---- */

/* The child's nng socket path: flow_owner_ipc_url() minus "ipc://". */
static void
unlink_ipc(struct fm_parent *p, uint32_t id)
{
	char url[CONFIG_PATH_MAX + 64];
	size_t plen;

	plen = strlen(IPC_PREFIX);
	if (flow_owner_ipc_url(p->cfg->run_dir, p->instance,
	    id, url, sizeof(url)) < 0 || strncmp(url, IPC_PREFIX, plen) != 0) {
		return;
	}
	if (unlink(url + plen) == -1 && errno != ENOENT) {
		log_warn("unlink %s", url + plen);
	}
}

static void
control_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_child_rec *c = arg;

	(void)loop;
	(void)fd;
	if ((events & EPOLLOUT) && c->holding != 0) {
		fm_udp_demux_writable(c->parent, c);
	}
	if (events & ~EPOLLOUT) {
		fm_children_read_control(c->parent, c);
	}
}

static void
rec_free(struct fm_child_rec *c)
{
	free(c->slots);
	free(c->free_slots);
	free(c);
}

static struct fm_child_rec *
rec_new(struct fm_parent *p)
{
	struct fm_child_rec *c;
	uint32_t i, n;

	n = p->cfg->flows_per_child;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->slots = calloc(n, sizeof(*c->slots))) == NULL ||
	    (c->free_slots = calloc(n, sizeof(*c->free_slots))) == NULL) {
		if (c != NULL) {
			rec_free(c);
		}
		return (NULL);
	}
	/* A stack: slot 0 comes out first, freed slots are reused first. */
	for (i = 0; i < n; i++) {
		c->free_slots[i] = n - 1 - i;
	}
	c->nfree = n;
	c->fd_cap = n;
	c->parent = p;
	c->ctl_fd = -1;
	return (c);
}

struct fm_child_rec *
fm_children_spawn(struct fm_parent *p)
{
	struct fm_child_rec *c;
	int udp_fds[CONFIG_MAX_LISTEN], child_end;
	size_t i;

	/* Draining, the listeners a child inherits may be closed. */
	if (p->stopping || p->draining || (c = rec_new(p)) == NULL) {
		return (NULL);
	}
	do {
		c->id = ++p->next_child_id;
	} while (c->id == 0);
	/*
	 * Our successor numbers its children after ours: a child of ours
	 * may still be on its way out under its name when we are gone
	 * (instance_lock.c).  Best effort, like the lock file itself.
	 */
	if (p->lock_fd != -1) {
		(void)fm_instance_save_child(p->lock_fd, c->id);
	}
	(void)fm_child_name(c->name, sizeof(c->name), p->instance,
	    c->id);
	/* A crashed child of an earlier run may have left its socket. */
	unlink_ipc(p, c->id);
	if (fm_spawn_socketpair(&c->ctl_fd, &child_end) == -1) {
		/* Out of descriptors: once a second, not once a flow. */
		if (loop_now_ms(p->loop) - p->spawn_last_warn >= 1000) {
			p->spawn_last_warn = loop_now_ms(p->loop);
			log_warn("spawn %s: socketpair", c->name);
		}
		rec_free(c);
		return (NULL);
	}
	for (i = 0; i < p->nudp_listeners; i++) {
		udp_fds[i] = p->listeners[i].udp_fd;
	}
	(void)snprintf(p->child_argv[p->child_argc + 1], FM_CHILD_ID_TEXT,
	    "%" PRIu32, c->id);
	/* Connected flows send on their own sockets, not the listeners:
	 * a child holding one would keep it open past a drain. */
	c->pid = fm_spawn_exec(p->child_argv, child_end, udp_fds,
	    p->udp_connected ? 0 : p->nudp_listeners, getpid());
	(void)close(child_end);
	if (c->pid == -1) {
		/* Out of pids or memory: once a second, not once a flow. */
		if (loop_now_ms(p->loop) - p->spawn_last_warn >= 1000) {
			p->spawn_last_warn = loop_now_ms(p->loop);
			log_warn("spawn %s: fork", c->name);
		}
		(void)close(c->ctl_fd);
		rec_free(c);
		return (NULL);
	}
	c->started_ms = loop_now_ms(p->loop);
	c->empty_since_ms = c->started_ms;
	if (loop_add_fd(p->loop, c->ctl_fd, EPOLLIN, control_cb, c) == -1) {
		/* Unusable without its control socket; reaped on SIGCHLD. */
		log_warn("spawn %s: watching control socket", c->name);
		c->retiring = 1;
		(void)kill(c->pid, SIGKILL);
	} else {
		c->ctl_watched = 1;
	}
	pid_insert(p, c);
	TAILQ_INSERT_TAIL(&p->all_children, c, all_link);
	p->nchildren++;
	open_insert(p, c);
	stats_inc(M_CHILDREN_SPAWNED);
	fm_children_gauges(p);
	if (p->cfg->flows_per_child > 1) {
		log_info("spawned child %s pid %d", c->name, (int)c->pid);
	} else {
		log_debug("spawned child %s pid %d", c->name, (int)c->pid);
	}
	return (c);
}

static void
unwatch(struct fm_parent *p, struct fm_child_rec *c)
{
	fm_udp_demux_child_gone(p, c);
	if (c->ctl_watched) {
		loop_del_fd(p->loop, c->ctl_fd);
		c->ctl_watched = 0;
	}
	if (c->ctl_fd != -1) {
		(void)close(c->ctl_fd);
		c->ctl_fd = -1;
	}
}

void
fm_children_forget(struct fm_parent *p, struct fm_child_rec *c)
{
	open_remove(c);
	pid_remove(p, c);
	TAILQ_REMOVE(&p->all_children, c, all_link);
	unwatch(p, c);
	unlink_ipc(p, c->id);
	p->nchildren--;
	fm_children_gauges(p);
	rec_free(c);
}

/* ---- flows ---- */

static uint32_t
next_generation(struct fm_parent *p)
{
	/* 0 never names a flow, so a zeroed id cannot match one. */
	do {
		p->generation++;
	} while (p->generation == 0);
	return (p->generation);
}

struct fm_pflow *
fm_pflow_alloc(struct fm_parent *p, uint8_t transport, uint16_t listener,
    const struct epsip_addr *local, const struct epsip_addr *remote)
{
	struct fm_child_rec *c;
	struct fm_pflow *f;
	uint32_t slot;

	if (p->stopping) {
		return (NULL);
	}
	if (p->open_total >= p->max_flows) {
		fm_refused(p, &p->refused_limit, "max-flows (%u) reached: new "
		    "flows refused", p->max_flows);
		return (NULL);
	}
	if (!source_rate_take(p->source_flows, remote, loop_now_ms(p->loop))) {
		fm_refused(p, &p->refused_source, "source-flow-rate (%u a "
		    "second from one address) exceeded: new flows refused",
		    p->cfg->source_flow_rate);
		return (NULL);
	}
	if (!rate_limit_take(&p->new_flows, loop_now_ms(p->loop))) {
		fm_refused(p, &p->refused_rate, "new-flow-rate (%u a second) "
		    "exceeded: new flows refused", p->cfg->new_flow_rate);
		return (NULL);
	}
	if ((c = LIST_FIRST(&p->open_children)) == NULL &&
	    (c = fm_children_spawn(p)) == NULL) {
		fm_refused(p, &p->refused_spawn, "no child can take a new "
		    "flow and none can be spawned: new flows refused");
		return (NULL);
	}
	slot = c->free_slots[--c->nfree];
	f = &c->slots[slot];
	memset(f, 0, sizeof(*f));
	f->child = c;
	f->slot = slot;
	f->generation = next_generation(p);
	f->transport = transport;
	f->listener = listener;
	f->local = *local;
	f->remote = *remote;
	c->nflows++;
	c->empty_since_ms = 0;
	if (p->cfg->flows_per_child == 1) {
		/* Process per flow: this child's one flow, then it exits. */
		c->retiring = 1;
	}
	if (!has_room(c)) {
		open_remove(c);
	}
	p->open[transport]++;
	p->open_total++;
	stats_inc(metric_label_find(MF_FLOWS_OPENED,
	    epsip_transport_name(transport)));
	fm_children_gauges(p);
	return (f);
}

static void
tell_router(struct fm_parent *p, const struct fm_pflow *f, uint32_t reason)
{
	struct epsip_msg m;

	epsip_msg_init(&m, EPSIP_MSG_FLOW_CLOSED);
	m.arg = reason;
	m.flow.instance = p->instance;
	m.flow.child = f->child->id;
	m.flow.slot = f->slot;
	m.flow.generation = f->generation;
	m.transport = f->transport;
	m.local = f->local;
	m.remote = f->remote;
	fm_router_flow_closed(p, &m);
}

void
fm_pflow_release(struct fm_parent *p, struct fm_pflow *f, uint32_t reason)
{
	struct fm_child_rec *c;

	c = f->child;
	if (f->transport == EPSIP_TRANSPORT_NONE) {
		return;
	}
	if (reason != EPSIP_CLOSE_NONE) {
		tell_router(p, f, reason);
		stats_inc(metric_label_find(MF_FLOWS_CLOSED,
		    epsip_close_reason_name(reason)));
	}
	if (f->in_table) {
		fm_udp_table_remove(&p->udp, &f->udp);
		f->in_table = 0;
	}
	p->open[f->transport]--;
	p->open_total--;
	f->transport = EPSIP_TRANSPORT_NONE;
	c->free_slots[c->nfree++] = f->slot;
	if (--c->nflows == 0) {
		c->empty_since_ms = loop_now_ms(p->loop);
	}
	open_insert(p, c);
	if (reason == EPSIP_CLOSE_NONE && c->retiring && c->nflows == 0 &&
	    !p->stopping) {
		/*
		 * Process per flow, and the flow never reached the child:
		 * it would wait forever for one.
		 */
		(void)kill(c->pid, FM_CHILD_STOP_SIGNAL);
	}
	fm_children_gauges(p);
}

/*
 * After a peak, pooled children that stayed empty for idle-child-timeout
 * give their memory and threads back.  One is always kept, so the next
 * flow needs no spawn.  A retiring child takes no new flow, so it exits
 * with nothing to lose.
 */
void
fm_children_retire_idle(struct loop *loop, void *arg)
{
	struct fm_parent *p = arg;
	struct fm_child_rec *c;
	uint64_t now = loop_now_ms(loop);
	size_t active = 0;

	if (p->stopping || p->cfg->flows_per_child == 1) {
		return;
	}
	TAILQ_FOREACH(c, &p->all_children, all_link) {
		active += !c->retiring;
	}
	for (c = TAILQ_FIRST(&p->all_children); c != NULL && active > 1;
	    c = TAILQ_NEXT(c, all_link)) {
		if (c->retiring || c->nflows > 0 || c->empty_since_ms == 0 ||
		    now - c->empty_since_ms <
		    (uint64_t)p->cfg->idle_child_timeout * 1000) {
			continue;
		}
		log_info("retiring %s: no flow for %" PRIu64 " s", c->name,
		    (now - c->empty_since_ms) / 1000);
		c->retiring = 1;
		open_remove(c);
		(void)kill(c->pid, FM_CHILD_STOP_SIGNAL);
		stats_inc(M_CHILDREN_RETIRED);
		active--;
	}
}

/* ---- control messages from a child ---- */

/*
 * The child was out of descriptors when this flow's connection reached it:
 * the kernel could not install the descriptor and dropped it, and with
 * the parent's copy already closed that closed the connection.  The child
 * answered FLOW_CLOSED without a reason.  That connection is gone and
 * cannot be placed elsewhere; the next ones can: from now on the child
 * takes no more flows than it holds, and new flows go to another child
 * (or a new one).
 */
static void
child_out_of_fds(struct fm_parent *p, struct fm_child_rec *c,
    struct fm_pflow *f)
{
	fm_pflow_release(p, f, EPSIP_CLOSE_NONE);
	if (c->fd_cap > c->nflows) {
		c->fd_cap = c->nflows;
	}
	open_remove(c);
	fm_refused(p, &p->refused_child_fds, "%s is out of descriptors at "
	    "%" PRIu32 " flows: a connection passed to it was closed, and it "
	    "takes no more flows than that", c->name, c->nflows);
}

static void
handle_control(struct fm_parent *p, struct fm_child_rec *c,
    const uint8_t *buf, size_t len)
{
	struct fm_ctl_msg m;
	struct fm_pflow *f;
	enum epsip_msg_error err;

	if ((err = fm_ctl_decode(buf, len, &m)) != EPSIP_MSG_OK) {
		log_warnx("%s: bad control message: %s", c->name,
		    epsip_msg_error_name(err));
		stats_inc(M_CONTROL_ERRORS);
		return;
	}
	if (m.type != FM_CTL_FLOW_CLOSED) {
		log_warnx("%s: unexpected control message %s", c->name,
		    fm_ctl_type_name(m.type));
		stats_inc(M_CONTROL_ERRORS);
		return;
	}
	if (m.slot >= p->cfg->flows_per_child) {
		log_warnx("%s: FLOW_CLOSED for slot %" PRIu32 " out of range",
		    c->name, m.slot);
		stats_inc(M_CONTROL_ERRORS);
		return;
	}
	f = &c->slots[m.slot];
	if (f->transport == EPSIP_TRANSPORT_NONE ||
	    f->generation != m.generation) {
		/* Already ended here, or a slot reused since. */
		stats_inc(M_CONTROL_STALE);
		return;
	}
	if (m.reason == EPSIP_CLOSE_NONE) {
		child_out_of_fds(p, c, f);
		return;
	}
	fm_pflow_release(p, f, m.reason);
}

void
fm_children_read_control(struct fm_parent *p, struct fm_child_rec *c)
{
	uint8_t buf[256];
	ssize_t n;
	int passed;

	while (c->ctl_fd != -1) {
		n = fm_ctl_read(c->ctl_fd, buf, sizeof(buf), &passed);
		if (n == FM_CTL_DRAINED) {
			return;
		}
		if (n > 0) {
			if (passed >= 0) {
				(void)close(passed);
			}
			handle_control(p, c, buf, (size_t)n);
			continue;
		}
		/*
		 * EOF: the child is exiting or gone.  SIGCHLD reports its
		 * remaining flows; meanwhile it takes no new ones.
		 */
		if (n == -1) {
			log_warn("%s: control socket", c->name);
		}
		if (c->nflows > 0 && !p->stopping) {
			/*
			 * A child holding flows never closes fd 3 on
			 * purpose: whatever it does, it is broken.  Not
			 * reaped yet, so its pid cannot have been reused.
			 */
			(void)kill(c->pid, FM_CHILD_STOP_SIGNAL);
		}
		c->retiring = 1;
		open_remove(c);
		unwatch(p, c);
		return;
	}
}
