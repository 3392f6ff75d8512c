/*
 * supervisor.c -- epsipd's set-up and event wiring.
 *
 * One thread runs everything: SIGCHLD, SIGTERM, SIGINT and SIGHUP arrive
 * through the loop's signalfd (SIGHUP reloads: reload.c), restarts and
 * the stop sequence run on loop timers (lifecycle.c), reports arrive on
 * supervisor.ipc (pull) into the report store, and what the HTTP
 * endpoint serves is re-rendered by publish.c.
 *
 * Signals must be routed into the loop before the first nng call: nng
 * starts its threads then, and a thread created with SIGTERM unblocked
 * would take the default action and kill epsipd without cleanup.
 *
 * The services' stderr comes through epsipd (relay.c), so that the line
 * saying why a service could not start is at hand when it exits.
 *
 * DIAGNOSTICS: anything wrong before the services start (run directory,
 * key, config file, binaries, IPC or HTTP listener) is fatal: exit 1 with
 * one line.  So is a service that exits before its first HELLO: the
 * others are stopped and epsipd exits 1 (2 for the service's exit 2),
 * the service's reason its last line (lifecycle.c).  After that nothing
 * is: a service that dies is restarted, a malformed report is logged
 * and dropped (a bug in one service must not take every flow down with
 * the supervisor), a configuration a reload cannot use is logged and
 * the running one kept.
 */
#include <sys/prctl.h>
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/stats.h"

#include "http_stats.h"
#include "notify.h"
#include "reload.h"
#include "rundir.h"
#include "spawn.h"
#include "supervisor.h"

static int
sup_pid_alive(pid_t pid)
{
	return (kill(pid, 0) == 0 || errno == EPERM);
}

static void sup_on_ipc(struct loop *loop, int fd, uint32_t events,
    void *arg);

static void
sup_on_signal(struct loop *loop, int signo, void *arg)
{
	struct supervisor *sup = arg;

	switch (signo) {
	case SIGCHLD:
		if (sup->stopping) {
			/* Finish as soon as the last one is reaped. */
			sup_stop_check(loop, sup);
			break;
		}
		/*
		 * A HELLO already received but not yet read must count: a
		 * service that said it and then died was ready once.
		 */
		sup_on_ipc(loop, -1, 0, sup);
		if (sup_reap(sup)) {
			sup_publish(sup);
		}
		break;
	case SIGTERM:
	case SIGINT:
		sup_stop(sup, signo);
		break;
	case SIGHUP:
		sup_reload_on_signal(sup);
		break;
	default:
		break;
	}
}

/* Bound the work per wake-up so timers and signals are not starved. */
#define SUP_IPC_BATCH	256

static void
sup_on_ipc(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct supervisor *sup = arg;
	const struct sup_proc *p;
	enum sup_report_kind kind;
	struct sup_report *r;
	struct epsip_msg msg;
	int changed = 0, n, rv = 0;
	char err[160];

	(void)loop;
	(void)fd;
	(void)events;
	for (n = 0; n < SUP_IPC_BATCH &&
	    (rv = ipc_recv(sup->ipc, &msg)) == 1; n++) {
		if (msg.type == EPSIP_MSG_FLOWS) {
			/* An answer to GET /flows, never a report. */
			sup_flows_on_answer(sup, &msg);
			continue;
		}
		if (msg.type == EPSIP_MSG_HELLO) {
			kind = SUP_REPORT_HELLO;
		} else if (msg.type == EPSIP_MSG_STATS) {
			kind = SUP_REPORT_STATS;
		} else {
			log_warnx("unexpected %s message on supervisor.ipc, "
			    "dropped", epsip_msg_type_name(msg.type));
			continue;
		}
		r = sup_reports_update(&sup->reports, kind,
		    (const char *)msg.payload, msg.payload_len,
		    monotonic_ms(), err, sizeof(err));
		if (r == NULL) {
			log_warnx("bad %s report dropped: %s",
			    epsip_msg_type_name(msg.type), err);
			continue;
		}
		if (sup_watching(sup)) {
			sup_watch_heard(sup, r);
			changed |= kind == SUP_REPORT_HELLO;
			continue;
		}
		if (kind != SUP_REPORT_HELLO) {
			continue;
		}
		p = sup_procs_by_name(sup->procs, SUP_NPROCS, r->service);
		if (p == NULL) {
			log_warnx("HELLO from unknown service \"%s\" pid %ld",
			    r->service, (long)r->pid);
		} else if (strcmp(r->instance, p->name) != 0) {
			log_debug("HELLO from %s pid %ld", r->instance,
			    (long)r->pid);
		} else {
			if (r->pid != p->pid) {
				log_warnx("HELLO from %s pid %ld, but epsipd "
				    "started pid %ld", p->name, (long)r->pid,
				    (long)p->pid);
			} else {
				log_info("%s pid %ld said HELLO", p->name,
				    (long)r->pid);
				sup_proc_ready(sup, r->pid);
			}
			changed = 1;
		}
	}
	if (rv == -1) {
		log_warnx("supervisor.ipc: receive failed");
	}
	if (changed) {
		sup_publish(sup);
	}
}

/* A service wrote to its stderr: pass it on (relay.c). */
static void
sup_on_relay(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct sup_relay *r = arg;

	(void)events;
	if (sup_relay_read(r, STDERR_FILENO, SUP_RELAY_BATCH, 0) == 1) {
		loop_fd_again(loop, fd);
	}
}

/* A pipe for each service's stderr, read by the loop. */
static int
sup_relays_open(struct supervisor *sup)
{
	struct sup_proc *p;
	size_t i;

	for (i = 0; i < SUP_NPROCS; i++) {
		p = &sup->procs[i];
		if (sup_relay_open(&p->relay) == -1 ||
		    loop_add_fd(sup->loop, p->relay.rfd, EPOLLIN,
		    sup_on_relay, &p->relay) == -1) {
			log_error("cannot relay the stderr of %s: %s",
			    p->name, strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/* The services are gone: what they wrote last, before epsipd's last. */
static void
sup_relays_drain(struct supervisor *sup)
{
	size_t i;

	for (i = 0; i < SUP_NPROCS; i++) {
		(void)sup_relay_read(&sup->procs[i].relay, STDERR_FILENO, 0,
		    1);
	}
}

static void
sup_tick(struct loop *loop, void *arg)
{
	struct supervisor *sup = arg;

	(void)loop;
	/* Beside us, a pid is another namespace's: only silence counts. */
	(void)sup_reports_expire(&sup->reports, monotonic_ms(),
	    SUP_REPORT_MAX_AGE_MS, sup_watching(sup) ? NULL : sup_pid_alive);
	if (sup_watching(sup)) {
		sup_watch_expire(sup);
	}
	sup_publish(sup);
}

/* Everything that can fail before a service runs; exit 1 on failure. */
static int
sup_prepare(struct supervisor *sup)
{
	const struct epsip_config *cfg = sup->cfg;
	char err[512], path[CONFIG_PATH_MAX * 2];
	size_t i, n;

	if (sup_rundir_prepare(cfg->run_dir, err, sizeof(err)) == -1 ||
	    (sup->lock_fd = sup_rundir_lock(cfg->run_dir, err,
	    sizeof(err))) == -1 ||
	    sup_dir_ensure(cfg->state_dir, 0700, err, sizeof(err)) == -1) {
		log_error("%s", err);
		return (-1);
	}
	/* Beside us, the sockets there are the running services'. */
	if (!sup_watching(sup) &&
	    (n = sup_rundir_remove_ipc(cfg->run_dir)) > 0) {
		log_info("removed %zu stale socket%s from %s", n,
		    n == 1 ? "" : "s", cfg->run_dir);
	}
	if (sup_keys_check(cfg, err, sizeof(err)) == -1) {
		log_error("%s", err);
		return (-1);
	}
	if (sup_rundir_write_config(cfg->run_dir, cfg, sup->config_path,
	    sizeof(sup->config_path), err, sizeof(err)) == -1 ||
	    sup_libexec_dir(cfg, sup->libexec, sizeof(sup->libexec), err,
	    sizeof(err)) == -1) {
		log_error("%s", err);
		return (-1);
	}
	for (i = 0; i < SUP_NPROCS && !sup_watching(sup); i++) {
		snprintf(path, sizeof(path), "%s/%s", sup->libexec,
		    sup->procs[i].binary);
		if (access(path, X_OK) == -1) {
			log_error("%s: %s (set libexec-dir?)", path,
			    strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/* POST /drain, answered in the loop (http_stats.h): its JSON body. */
static int
sup_drain_answer(struct supervisor *sup, unsigned instance, char **body,
    size_t *len)
{
	char err[160];
	json_t *doc;
	int status = 200;

	if (sup->stopping) {
		snprintf(err, sizeof(err), "epsipd is stopping");
		status = 409;
	} else if (sup_drain(sup, instance, err, sizeof(err)) == -1) {
		status = 409;
	}
	doc = status == 200 ? json_pack("{s:b, s:I}", "ok", 1, "instance",
	    (json_int_t)instance) : json_pack("{s:b, s:s}", "ok", 0, "error",
	    err);
	*body = doc != NULL ? sup_dump(doc, len) : NULL;
	return (status);
}

/* A request the HTTP endpoint queued for the loop (http_stats.h). */
static void
sup_take_ask(void *arg, struct sup_http_ask *ask,
    const struct sup_http_request *req)
{
	struct supervisor *sup = arg;
	size_t len = 0;
	char *body;
	int status;

	switch (req->kind) {
	case SUP_HTTP_ASK_DRAIN:
		status = sup_drain_answer(sup, req->instance, &body, &len);
		sup_http_answer(sup->http, ask, status, body, len);
		break;
	case SUP_HTTP_ASK_FLOWS:
		sup_flows_start(sup, ask, &req->flows);
		break;
	}
}

static void
sup_on_ask(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct supervisor *sup = arg;

	(void)loop;
	(void)fd;
	(void)events;
	sup_http_answer_asks(sup->http, sup_take_ask, sup);
	sup_publish(sup);
}

static int
sup_listen(struct supervisor *sup)
{
	char url[CONFIG_PATH_MAX + 32], err[256];
	int fd;

	if (ipc_service_url(sup->cfg->run_dir, "supervisor", url,
	    sizeof(url)) == -1 ||
	    ipc_pull_listen(&sup->ipc, url) == -1) {
		log_error("cannot listen on %s", url);
		return (-1);
	}
	if ((fd = ipc_recv_fd(sup->ipc)) == -1 ||
	    loop_add_fd(sup->loop, fd, EPOLLIN, sup_on_ipc, sup) == -1) {
		log_error("cannot poll %s", url);
		return (-1);
	}
	if (sup->cfg->stats.family == 0) {
		log_info("stats endpoint disabled");
		return (0);
	}
	if (sup_http_start(&sup->http, &sup->cfg->stats, err,
	    sizeof(err)) == -1) {
		log_error("%s", err);
		return (-1);
	}
	if (loop_add_fd(sup->loop, sup_http_ask_fd(sup->http), EPOLLIN,
	    sup_on_ask, sup) == -1) {
		log_error("cannot poll the stats endpoint's requests");
		return (-1);
	}
	return (0);
}

static int
sup_signals(struct supervisor *sup)
{
	static const int signals[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	size_t i;

	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (loop_on_signal(sup->loop, signals[i], sup_on_signal,
		    sup) == -1) {
			log_error("cannot watch SIG%s",
			    sigabbrev_np(signals[i]));
			return (-1);
		}
	}
	/* A curl that hangs up must not kill the supervisor. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	/*
	 * Adopt what a dying service leaves behind, so it is reaped and,
	 * at stop, killed: nothing of the set outlives epsipd.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
		log_warn("PR_SET_CHILD_SUBREAPER");
	}
	return (0);
}

static void
sup_cleanup(struct supervisor *sup)
{
	size_t i;

	sup_flows_stop(sup);
	sup_http_stop(sup->http);
	if (sup->ipc != NULL) {
		ipc_close(sup->ipc);
	}
	ipc_library_fini();
	for (i = 0; i < SUP_NPROCS; i++) {
		if (sup->procs[i].restart_timer >= 0) {
			loop_cancel(sup->loop, sup->procs[i].restart_timer);
		}
	}
	if (sup->loop != NULL) {
		ipc_detach_loop();
		loop_free(sup->loop);
	}
	for (i = 0; i < SUP_NPROCS; i++) {
		sup_relay_close(&sup->procs[i].relay);
	}
	/* Without the lock the run directory is another epsipd's. */
	if (sup->lock_fd >= 0) {
		(void)sup_rundir_remove_ipc(sup->cfg->run_dir);
		if (sup->config_path[0] != '\0') {
			(void)unlink(sup->config_path);
		}
		close(sup->lock_fd);
	}
	sup_reports_clear(&sup->reports);
	json_decref(sup->self.stats);
}

int
supervisor_main(struct epsip_config *cfg, int argc, char **argv)
{
	struct supervisor sup;
	size_t i;
	int status = 1;

	memset(&sup, 0, sizeof(sup));
	sup.cfg = cfg;
	sup.argc = argc;
	sup.argv = argv;
	sup.lock_fd = -1;
	sup.stop_timer = -1;
	sup.health = SUP_HEALTH_STARTING;
	TAILQ_INIT(&sup.flow_rounds);
	sup_reports_init(&sup.reports);
	sup_procs_init(sup.procs, &sup, cfg->services == SERVICES_WATCH ? 1 :
	    cfg->flow_managers);
	if (sup_prepare(&sup) == -1) {
		goto out;
	}
	if ((sup.loop = loop_new()) == NULL) {
		log_error("cannot create the event loop");
		goto out;
	}
	/* Signals before nng: see the comment at the top. */
	if (sup_signals(&sup) == -1) {
		goto out;
	}
	(void)sup_notify_init();
	/* Reports arrive in batches, read SUP_IPC_BATCH at a time. */
	if (ipc_attach_loop(sup.loop) == -1 || sup_listen(&sup) == -1 ||
	    sup_relays_open(&sup) == -1) {
		goto out;
	}
	sup.started_ms = monotonic_ms();
	/* 0 in /metrics from the start, not a series appearing later. */
	stats_set(M_CONFIG_RELOADS, 0);
	stats_set(M_CONFIG_RELOAD_ERRORS, 0);
	if (sup_watching(&sup)) {
		log_info("epsipd %s: services run beside it, reporting to %s",
		    EPSIP_VERSION, cfg->run_dir);
		sup_notify("STATUS=waiting for the services' reports");
	} else {
		log_info("epsipd %s starting services from %s", EPSIP_VERSION,
		    sup.libexec);
		sup_notify("STATUS=starting services");
	}
	for (i = 0; i < SUP_NPROCS && !sup_watching(&sup); i++) {
		if (sup.procs[i].wanted) {
			sup_start_proc(&sup.procs[i]);
		}
	}
	if (loop_every(sup.loop, 1000, sup_tick, &sup) < 0) {
		log_error("cannot schedule the stats timer");
		goto out;
	}
	sup_publish(&sup);
	if (loop_run(sup.loop) == -1) {
		log_error("event loop failed");
		goto out;
	}
	sup_relays_drain(&sup);
	status = sup.exit_status;
	if (status != 0) {
		log_error("%s", sup.last_words);
	} else {
		log_info("stopped");
	}
out:
	if (status != 0) {
		/* Do not leave services behind on a failed start. */
		for (i = 0; i < SUP_NPROCS; i++) {
			if (sup.procs[i].pid > 0) {
				(void)kill(sup.procs[i].pid, SIGKILL);
			}
		}
	}
	sup_cleanup(&sup);
	return (status);
}
