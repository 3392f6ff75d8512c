/*
 * parent.c -- the flow-manager parent: start, SIGCHLD, stop and report.
 *
 * The parent binds the listeners, keeps the children (children.c), takes
 * TCP connections (accept.c) and UDP datagrams (udp_demux.c) and hands
 * each flow to a child.  When a child dies it tells the router at once
 * that all of that child's flows are gone (EP-20), so the next request for
 * one of them gets 430 instead of waiting for an IPC timeout.
 *
 * Fatal: a listener that cannot be bound, no memory at start, a bad
 * flows-per-child/max-flows setting.  A child that cannot be spawned later
 * only refuses flows.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "control.h"
#include "flow_manager.h"
#include "parent.h"

/* How long stop waits for children after asking, then after SIGKILL. */
#define STOP_TERM_MS		2000
#define STOP_KILL_MS		1000
/* The longest single wait for SIGCHLD while stopping. */
#define STOP_POLL_MS		50
/* A pooled child that dies younger than this is respawned after a pause. */
#define RESPAWN_PAUSE_MS	1000

static struct fm_parent fm_parent;

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("raising RLIMIT_NOFILE to %llu",
			    (unsigned long long)rl.rlim_max);
		}
	}
}

/*
 * Children get the parent's own arguments (so every command-line override
 * applies to them too) plus "--child N".  A relative --config is made
 * absolute so that a child never depends on the parent's directory.
 */
static int
build_child_argv(struct fm_parent *p, int argc, char **argv)
{
	char *abs, *eq;
	int i, n;

	p->child_argv = calloc((size_t)argc + 7, sizeof(char *));
	p->child_argv_owned = calloc((size_t)argc + 7, 1);
	if (p->child_argv == NULL || p->child_argv_owned == NULL) {
		return (-1);
	}
	n = 0;
	p->child_argv[n++] = "epsip-flow-manager";
	for (i = 1; i < argc; i++) {
		p->child_argv[n++] = argv[i];
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc &&
		    argv[i + 1][0] != '/' &&
		    (abs = realpath(argv[i + 1], NULL)) != NULL) {
			p->child_argv_owned[n] = 1;
			p->child_argv[n++] = abs;
			i++;
		} else if (strncmp(argv[i], "--config=", 9) == 0 &&
		    argv[i][9] != '/' &&
		    (abs = realpath(argv[i] + 9, NULL)) != NULL) {
			eq = malloc(strlen(abs) + 10);
			if (eq != NULL) {
				(void)sprintf(eq, "--config=%s", abs);
				p->child_argv_owned[n - 1] = 1;
				p->child_argv[n - 1] = eq;
			}
			free(abs);
		}
	}
	/* What `auto` meant at our start: children must agree with us. */
	p->child_argv[n++] = "--udp-flow-sockets";
	p->child_argv[n++] = p->udp_connected ? "connected" : "shared";
	p->child_argv[n++] = "--flow-manager";
	snprintf(p->flow_manager_text, sizeof(p->flow_manager_text), "%u",
	    p->cfg->flow_manager);
	p->child_argv[n++] = p->flow_manager_text;
	p->child_argc = n;
	p->child_argv[n] = "--child";
	/* Rewritten before every fork, never after it. */
	if ((p->child_argv[n + 1] = calloc(1, FM_CHILD_ID_TEXT)) == NULL) {
		return (-1);
	}
	p->child_argv_owned[n + 1] = 1;
	p->child_argv[n + 2] = NULL;
	return (0);
}

/* ---- children dying ---- */

static void
describe_status(int status, char *buf, size_t cap)
{
	if (WIFSIGNALED(status)) {
		(void)snprintf(buf, cap, "killed by signal %d",
		    WTERMSIG(status));
	} else if (WIFEXITED(status)) {
		(void)snprintf(buf, cap, "exited with status %d",
		    WEXITSTATUS(status));
	} else {
		(void)snprintf(buf, cap, "status 0x%x", (unsigned)status);
	}
}

static void
child_gone(struct fm_parent *p, struct fm_child_rec *c, int status)
{
	char how[64];
	uint32_t s, reason;
	int clean;

	/* What it said before dying comes first: real close reasons. */
	fm_children_read_control(p, c);
	c->retiring = 1;
	describe_status(status, how, sizeof(how));
	clean = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    c->nflows == 0;
	if (p->stopping) {
		log_debug("child %s pid %d %s (%" PRIu32 " flows)", c->name,
		    (int)c->pid, how, c->nflows);
	} else if (clean) {
		log_debug("child %s pid %d %s", c->name, (int)c->pid, how);
	} else {
		log_warnx("lost child %s pid %d: %s (%" PRIu32 " flows)",
		    c->name, (int)c->pid, how, c->nflows);
		stats_inc(M_CHILDREN_LOST);
	}
	reason = p->stopping ? EPSIP_CLOSE_SHUTDOWN : EPSIP_CLOSE_CHILD_EXIT;
	for (s = 0; c->nflows > 0 && s < p->cfg->flows_per_child; s++) {
		fm_pflow_release(p, &c->slots[s], reason);
	}
	fm_children_forget(p, c);
}

/* Reap every child that has ended; the number reaped. */
static size_t
reap(struct fm_parent *p)
{
	struct fm_child_rec *c;
	size_t n;
	pid_t pid;
	int status;

	n = 0;
	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR) {
			continue;
		}
		if (pid <= 0) {
			return (n);
		}
		if ((c = fm_children_by_pid(p, pid)) != NULL) {
			child_gone(p, c, status);
			n++;
		}
	}
}

static void
respawn_cb(struct loop *loop, void *arg)
{
	struct fm_parent *p = arg;

	(void)loop;
	p->respawn_timer = -1;
	if (!p->stopping && p->nchildren == 0) {
		(void)fm_children_spawn(p);
	}
}

static void
sigchld_cb(struct loop *loop, int signo, void *arg)
{
	struct fm_parent *p = arg;
	struct fm_child_rec *c;
	uint64_t youngest;

	(void)signo;
	youngest = 0;
	TAILQ_FOREACH(c, &p->all_children, all_link) {
		if (c->started_ms > youngest) {
			youngest = c->started_ms;
		}
	}
	if (reap(p) == 0 || p->stopping) {
		return;
	}
	/*
	 * Pooled: keep a child ready so the next flow does not wait for a
	 * spawn.  One that died right after starting is probably broken:
	 * pause rather than fork in a loop (new flows still spawn lazily).
	 */
	if (p->cfg->flows_per_child > 1 && p->nchildren == 0 &&
	    p->respawn_timer == -1) {
		if (loop_now_ms(loop) - youngest >= RESPAWN_PAUSE_MS) {
			(void)fm_children_spawn(p);
		} else {
			p->respawn_timer = loop_after(loop, RESPAWN_PAUSE_MS,
			    respawn_cb, p);
		}
	}
}

/*
 * Source addresses whose new-flow buckets are kept: a flood from more
 * addresses than this costs one burst per address (source_rate.h).
 */
#define FM_SOURCE_SLOTS		16384

/* ---- start ---- */

static int
check_config(const struct epsip_config *cfg)
{
	char err[320];

	if (cfg->flows_per_child < 1) {
		log_error("flows-per-child must be at least 1");
		return (-1);
	}
	if (cfg->max_flows < 1) {
		log_error("max-flows must be at least 1");
		return (-1);
	}
	if (cfg->instance < 1 ||
	    config_flow_manager_instance(cfg) > UINT16_MAX) {
		log_error("instance must be in 1..%u",
		    65536 - CONFIG_MAX_FLOW_MANAGERS);
		return (-1);
	}
	/* A bad certificate stops the start, not each child later. */
	if (fm_tls_check(cfg, err, sizeof(err)) == -1) {
		log_error("%s", err);
		return (-1);
	}
	return (0);
}

/*
 * Every child is a process with about 14 nng threads, each taking a PID.
 * Process per flow with max-flows 100,000 would fork-bomb a stock kernel
 * (pid_max 32768) long before the limit: refuse new flows instead, at a
 * number of children that leaves the host half of its PIDs.
 */
#define FM_PIDS_PER_CHILD	16

static unsigned
effective_max_flows(const struct epsip_config *cfg)
{
	unsigned long pid_max = 32768, children;
	FILE *f;

	if ((f = fopen("/proc/sys/kernel/pid_max", "r")) != NULL) {
		if (fscanf(f, "%lu", &pid_max) != 1) {
			pid_max = 32768;
		}
		fclose(f);
	}
	children = pid_max / 2 / FM_PIDS_PER_CHILD;
	if ((unsigned long)cfg->max_flows / cfg->flows_per_child <= children) {
		return (cfg->max_flows);
	}
	log_warnx("max-flows lowered from %u to %lu: %u flows per child need "
	    "%lu children of ~%d PIDs each, and kernel.pid_max is %lu (see "
	    "deploy/sysctl/99-epsip.conf)", cfg->max_flows,
	    children * cfg->flows_per_child, cfg->flows_per_child,
	    (unsigned long)cfg->max_flows / cfg->flows_per_child,
	    FM_PIDS_PER_CHILD, pid_max);
	return ((unsigned)(children * cfg->flows_per_child));
}

static void
name_refusals(struct fm_parent *p)
{
	p->refused_limit.counter = M_FLOWS_REFUSED_LIMIT;
	p->refused_rate.counter = M_FLOWS_REFUSED_RATE;
	p->refused_source.counter = M_FLOWS_REFUSED_SOURCE;
	p->refused_spawn.counter = M_FLOWS_REFUSED_SPAWN;
	p->refused_backpressure.counter = M_FLOWS_REFUSED_BACKPRESSURE;
	p->refused_fds.counter = M_FLOWS_REFUSED_FDS;
	p->refused_child_fds.counter = M_FLOWS_REFUSED_CHILD_FDS;
}

/*
 * Descriptors a child uses besides its flows: stdio, control, UDP
 * listeners, epoll, signalfd, timers and nng's sockets, pipes and pollers
 * (14 measured with one listener, before the router dials it).  Only for
 * a warning: the child itself finds its real limit.
 */
#define FM_CHILD_OWN_FDS	16

/*
 * Children inherit the parent's RLIMIT_NOFILE.  A child asked to hold
 * more flows than that allows refuses the connections past it
 * (flows.refused.child_fds) and the parent moves on to another child:
 * say so at start, not at the 20,000th phone.
 */
static void
check_child_fd_limit(const struct epsip_config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur ==
	    RLIM_INFINITY || (rlim_t)cfg->flows_per_child + FM_CHILD_OWN_FDS <=
	    rl.rlim_cur) {
		return;
	}
	log_warnx("flows-per-child %u needs more descriptors than a child's "
	    "limit (RLIMIT_NOFILE %llu): a child will hold about %llu flows, "
	    "then refuse a connection (flows.refused.child_fds) and leave "
	    "the next ones to more children; raise LimitNOFILE or lower "
	    "flows-per-child", cfg->flows_per_child,
	    (unsigned long long)rl.rlim_cur, rl.rlim_cur > FM_CHILD_OWN_FDS ?
	    (unsigned long long)(rl.rlim_cur - FM_CHILD_OWN_FDS) : 0ULL);
}

/*
 * Hold fm-K.lock for our K, or claim the lowest free one for "auto" (0),
 * and report under that number's name.
 */
static int
take_number(struct fm_parent *p, struct daemon *d)
{
	unsigned k = d->cfg.flow_manager;

	p->lock_fd = k == 0 ? fm_instance_claim(d->cfg.run_dir, &k) :
	    fm_instance_lock(d->cfg.run_dir, k);
	if (p->lock_fd == -1) {
		if (errno != EAGAIN) {
			log_error("flow-manager: cannot lock in %s: %s",
			    d->cfg.run_dir, strerror(errno));
		} else if (d->cfg.flow_manager == 0) {
			log_error("flow-manager: all %d numbers are taken in %s",
			    CONFIG_MAX_FLOW_MANAGERS, d->cfg.run_dir);
		} else {
			log_error("flow-manager %u is already running in %s",
			    k, d->cfg.run_dir);
		}
		return (-1);
	}
	d->cfg.flow_manager = k;
	fm_name_service(d);
	/* Our children are numbered after our predecessor's. */
	p->next_child_id = fm_instance_last_child(p->lock_fd);
	return (0);
}

int
fm_parent_start(struct daemon *d, int argc, char **argv)
{
	struct fm_parent *p = &fm_parent;
	char url[CONFIG_PATH_MAX + 64];
	size_t i, expect;
	int claimed;

	memset(p, 0, sizeof(*p));
	p->d = d;
	p->cfg = &d->cfg;
	p->loop = d->loop;
	p->spare_fd = -1;
	p->lock_fd = -1;
	p->drain_timer = -1;
	rate_limit_init(&p->new_flows, p->cfg->new_flow_rate,
	    p->cfg->new_flow_burst, loop_now_ms(p->loop));
	p->respawn_timer = -1;
	for (i = 0; i < FM_MAX_LISTENERS; i++) {
		p->listeners[i].udp_fd = p->listeners[i].tcp_fd = -1;
		p->listeners[i].accept_pause_timer = -1;
		p->listeners[i].held_fd = -1;
	}
	name_refusals(p);
	fm_proxy_init(p);
	if (check_config(p->cfg) == -1) {
		return (-1);
	}
	claimed = d->cfg.flow_manager == 0;
	if (take_number(p, d) == -1) {
		return (-1);
	}
	p->instance = (uint16_t)config_flow_manager_instance(p->cfg);
	/* A claimed number means others may join: `auto` is connected. */
	p->udp_connected = fm_udp_flow_sockets_mode(p->cfg) ==
	    UDP_FLOW_SOCKETS_CONNECTED || (claimed &&
	    p->cfg->udp_flow_sockets == UDP_FLOW_SOCKETS_AUTO);
	p->max_flows = effective_max_flows(p->cfg);
	raise_nofile();
	check_child_fd_limit(p->cfg);
	if (build_child_argv(p, argc, argv) == -1 ||
	    fm_children_init(p) == -1 ||
	    (p->source_flows = source_rate_new(p->cfg->source_flow_rate,
	    p->cfg->source_flow_burst, FM_SOURCE_SLOTS)) == NULL ||
	    (p->udp_buf = malloc(FM_CTL_MAX_SIZE)) == NULL) {
		fatal("flow-manager parent: start");
	}
	/* A reconnect from the same 5-tuple must never get an old
	 * identity, not even across a restart (FT-02). */
	if (getrandom(&p->generation, sizeof(p->generation), 0) !=
	    sizeof(p->generation)) {
		fatal("getrandom");
	}
	expect = p->max_flows < 65536 ? p->max_flows : 65536;
	if (fm_udp_table_init(&p->udp, expect) == -1) {
		fatal("flow-manager parent: udp table");
	}
	fm_listen_open(p);
	p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (ipc_service_url(p->cfg->run_dir, "router", url, sizeof(url)) < 0 ||
	    ipc_push_dial(&p->router, url, 0, (int)p->cfg->ipc_queue) == -1) {
		log_error("cannot dial the router at %s", url);
		return (-1);
	}
	for (i = 0; i < p->nlisteners; i++) {
		if ((p->listeners[i].udp_fd != -1 && loop_add_fd(p->loop,
		    p->listeners[i].udp_fd, EPOLLIN, fm_udp_demux_cb,
		    &p->listeners[i]) == -1) ||
		    loop_add_fd(p->loop, p->listeners[i].tcp_fd, EPOLLIN,
		    fm_accept_cb, &p->listeners[i]) == -1) {
			fatal("flow-manager parent: loop_add_fd");
		}
	}
	if (loop_on_signal(p->loop, SIGCHLD, sigchld_cb, p) == -1) {
		fatal("flow-manager parent: SIGCHLD");
	}
	fm_children_gauges(p);
	if (loop_every(p->loop, 1000, fm_children_retire_idle, p) < 0) {
		fatalx("flow-manager parent: timer");
	}
	if (p->cfg->flows_per_child > 1 && fm_children_spawn(p) == NULL) {
		log_error("cannot spawn the first child");
		return (-1);
	}
	log_info("flow-manager %u (instance %u): %zu listener(s), %s, "
	    "%s UDP flow sockets, %u flows per child, max %u flows",
	    p->cfg->flow_manager, (unsigned)p->instance, p->nlisteners,
	    p->cfg->flows_per_child == 1 ? "process per flow" : "pooled",
	    p->udp_connected ? "connected" : "shared",
	    p->cfg->flows_per_child, p->max_flows);
	return (0);
}

/* ---- report ---- */

void
fm_parent_report(struct daemon *d, json_t *stats)
{
	struct fm_parent *p = &fm_parent;
	struct fm_child_rec *c;
	json_t *children;

	(void)d;
	if ((children = json_object()) == NULL) {
		return;
	}
	TAILQ_FOREACH(c, &p->all_children, all_link) {
		(void)json_object_set_new(children, c->name,
		    json_pack("{s:I, s:I}", "pid", (json_int_t)c->pid,
		    "flows", (json_int_t)c->nflows));
	}
	(void)json_object_set_new(stats, "children", children);
	(void)json_object_set_new(stats, "flows",
	    json_integer((json_int_t)(p->open_total)));
	(void)json_object_set_new(stats, "flow_manager",
	    json_integer((json_int_t)p->cfg->flow_manager));
	/* "instance" names the reporting process (daemon.c). */
	(void)json_object_set_new(stats, "token_instance",
	    json_integer((json_int_t)p->instance));
	(void)json_object_set_new(stats, "draining",
	    json_boolean(p->draining));
}

void
fm_parent_drain(struct daemon *d)
{
	(void)d;
	fm_drain_begin(&fm_parent);
}

/* ---- reload and stop ---- */

static void
signal_all(struct fm_parent *p, int signo)
{
	struct fm_child_rec *c;

	TAILQ_FOREACH(c, &p->all_children, all_link) {
		(void)kill(c->pid, signo);
	}
}

/*
 * Reap children (and send their FLOW_CLOSEDs) until none is left or `ms`
 * have passed.  SIGCHLD is
 * blocked (the loop takes it through a signalfd), so sigtimedwait()
 * sleeps exactly until a child ends; the short cap only guards against
 * a SIGCHLD that some other thread consumed.
 */
static void
wait_children(struct fm_parent *p, uint64_t ms)
{
	struct timespec ts;
	sigset_t set;
	uint64_t deadline, now, left;

	(void)sigemptyset(&set);
	(void)sigaddset(&set, SIGCHLD);
	(void)pthread_sigmask(SIG_BLOCK, &set, NULL);
	deadline = monotonic_ms() + ms;
	for (;;) {
		(void)reap(p);
		/* The loop is not running: retry the router by hand. */
		fm_router_flush(p);
		now = monotonic_ms();
		/* Also give the router a moment for the last FLOW_CLOSEDs. */
		if ((p->nchildren == 0 && fm_router_waiting(p) == 0) ||
		    now >= deadline) {
			return;
		}
		left = deadline - now;
		if (left > STOP_POLL_MS) {
			left = STOP_POLL_MS;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		(void)sigtimedwait(&set, NULL, &ts);
	}
}

void
fm_parent_reload(struct daemon *d, const struct epsip_config *fresh)
{
	struct fm_parent *p = &fm_parent;
	unsigned max;

	(void)d;
	max = effective_max_flows(fresh);
	if (max != p->max_flows) {
		log_info("max-flows %u (was %u): %zu flows held", max,
		    p->max_flows, p->open_total);
		p->max_flows = max;
	}
	if (fresh->new_flow_rate != p->cfg->new_flow_rate ||
	    fresh->new_flow_burst != p->cfg->new_flow_burst) {
		rate_limit_init(&p->new_flows, fresh->new_flow_rate,
		    fresh->new_flow_burst, loop_now_ms(p->loop));
	}
	if (fresh->source_flow_rate != p->cfg->source_flow_rate ||
	    fresh->source_flow_burst != p->cfg->source_flow_burst) {
		source_rate_set(p->source_flows, fresh->source_flow_rate,
		    fresh->source_flow_burst);
	}
	/* Blocked from exec until its loop takes it (spawn.c). */
	signal_all(p, SIGHUP);
}

void
fm_parent_stop(struct daemon *d)
{
	struct fm_parent *p = &fm_parent;
	struct fm_child_rec *c;
	uint32_t s;
	int i;

	(void)d;
	p->stopping = 1;
	fm_drain_stop(p);
	if (p->respawn_timer != -1) {
		loop_cancel(p->loop, p->respawn_timer);
		p->respawn_timer = -1;
	}
	/* No new flows from here on. */
	fm_listen_close(p);
	fm_proxy_close_all(p);
	signal_all(p, FM_CHILD_STOP_SIGNAL);
	wait_children(p, STOP_TERM_MS);
	if (p->nchildren > 0) {
		log_warnx("%zu child(ren) still running after %d ms, killing",
		    p->nchildren, STOP_TERM_MS);
		signal_all(p, SIGKILL);
		wait_children(p, STOP_KILL_MS);
	}
	/* Unreapable (stuck in the kernel): forget them anyway. */
	while ((c = TAILQ_FIRST(&p->all_children)) != NULL) {
		log_warnx("child %s pid %d did not exit", c->name,
		    (int)c->pid);
		for (s = 0; c->nflows > 0 && s < p->cfg->flows_per_child;
		    s++) {
			fm_pflow_release(p, &c->slots[s], EPSIP_CLOSE_SHUTDOWN);
		}
		fm_children_forget(p, c);
	}
	fm_router_flush(p);
	fm_router_free(p);
	if (p->router != NULL) {
		ipc_close(p->router);
		p->router = NULL;
	}
	fm_udp_table_free(&p->udp);
	fm_children_free(p);
	source_rate_free(p->source_flows);
	p->source_flows = NULL;
	free(p->udp_buf);
	p->udp_buf = NULL;
	if (p->spare_fd != -1) {
		(void)close(p->spare_fd);
		p->spare_fd = -1;
	}
	if (p->child_argv != NULL) {
		for (i = 0; i < p->child_argc + 2; i++) {
			if (p->child_argv_owned[i]) {
				free(p->child_argv[i]);
			}
		}
		free(p->child_argv_owned);
		free(p->child_argv);
		p->child_argv = NULL;
	}
	/* Last: the sockets are closed, a successor may bind them. */
	if (p->lock_fd != -1) {
		(void)close(p->lock_fd);
		p->lock_fd = -1;
	}
}
