/*
 * lifecycle.c -- start, lose, restart and stop the services.
 *
 * A service that exits is logged with its cause ("lost child sip-router
 * pid 42: exited 1"), whatever it left behind is sent SIGTERM (we are a
 * subreaper, so its orphans are our children now), and it is started
 * again on a loop timer, never a sleep: at once after a healthy run,
 * after a back-off in a crash loop (procs.c).
 *
 * Unless it never said HELLO: a service that exits before it was ever
 * ready failed to start -- a port already taken, an address that is not
 * ours, a configuration it refuses -- and would fail the same way every
 * 30 s forever, with /health down and nobody told.  Then epsipd stops
 * the other services and exits 1 (2 if the service exited 2, its code
 * for a configuration error), its last line the service's reason, the
 * way a web server refuses to start on a bind error.  Once a service has
 * been ready, an exit is a crash and only ever restarted.
 *
 * Stopping: SIGTERM to every service, then a 100 ms poll (and every
 * SIGCHLD) checks progress; orphans get SIGTERM once the services are
 * gone.  After SUP_STOP_GRACE_MS whatever is left gets SIGKILL, and after
 * a further 900 ms epsipd stops waiting: the set is down within 5 s.
 *
 * DIAGNOSTICS: a failed fork is retried with back-off.  Failing to arm
 * a loop timer is fatal: nothing else would restart the service or end
 * the stop.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "epsip/log.h"
#include "epsip/loop.h"

#include "notify.h"
#include "spawn.h"
#include "supervisor.h"

static void
sup_restart_cb(struct loop *loop, void *arg)
{
	struct sup_proc *p = arg;

	(void)loop;
	p->restart_timer = -1;
	if (p->sup->stopping || p->pid > 0 || !p->wanted) {
		return;
	}
	p->restarts++;
	sup_start_proc(p);
	sup_publish(p->sup);
}

static void
sup_schedule_restart(struct sup_proc *p)
{
	struct supervisor *sup = p->sup;
	uint64_t ran;

	ran = monotonic_ms() - p->started_ms;
	p->backoff_ms = sup_backoff_next(p->backoff_ms, ran, p->ready);
	log_info("restarting %s in %u.%u s (ran %llu.%llu s%s, restart %u)",
	    p->name, p->backoff_ms / 1000, p->backoff_ms % 1000 / 100,
	    (unsigned long long)(ran / 1000),
	    (unsigned long long)(ran % 1000 / 100),
	    p->ready ? "" : ", never ready", p->restarts + 1);
	p->restart_timer = loop_after(sup->loop, p->backoff_ms,
	    sup_restart_cb, p);
	if (p->restart_timer < 0) {
		/* Nothing else would ever bring it back. */
		fatalx("cannot schedule the restart of %s", p->name);
	}
}

void
sup_start_proc(struct sup_proc *p)
{
	struct supervisor *sup = p->sup;
	char path[CONFIG_PATH_MAX * 2], k[16];
	char *argv[6];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", sup->libexec, p->binary);
	argv[0] = path;
	argv[1] = (char *)"--config";
	argv[2] = sup->config_path;
	argv[3] = NULL;
	if (p->flow_manager > 0) {
		snprintf(k, sizeof(k), "%u", p->flow_manager);
		argv[3] = (char *)"--flow-manager";
		argv[4] = k;
		argv[5] = NULL;
	}
	p->draining = 0;
	p->ready = 0;
	p->started_ms = monotonic_ms();
	if (!p->ready_once) {
		sup_relay_watch(&p->relay);
	}
	if ((pid = sup_spawn(path, argv, p->relay.wfd)) == -1) {
		log_warn("cannot start %s: fork", p->name);
		sup_schedule_restart(p);
		return;
	}
	p->pid = pid;
	log_info("started %s pid %ld", p->name, (long)pid);
}

void
sup_proc_ready(struct supervisor *sup, pid_t pid)
{
	struct sup_proc *p;

	p = sup_procs_by_pid(sup->procs, SUP_NPROCS, pid);
	if (p == NULL) {
		return;
	}
	p->ready = 1;
	if (!p->ready_once) {
		p->ready_once = 1;
		sup_relay_unwatch(&p->relay);
	}
}

/*
 * Flow-manager `p` stops taking new flows and exits once its flows are
 * gone or drain-timeout has passed; it is not restarted (reap above).
 */
static void
sup_drain_proc(struct sup_proc *p)
{
	if (p->restart_timer >= 0) {
		loop_cancel(p->sup->loop, p->restart_timer);
		p->restart_timer = -1;
	}
	p->wanted = 0;
	if (p->pid <= 0 || p->draining) {
		return;
	}
	if (kill(p->pid, SIGUSR1) == -1) {
		log_warn("drain: SIGUSR1 to %s pid %ld", p->name,
		    (long)p->pid);
		return;
	}
	p->draining = 1;
	log_info("draining %s pid %ld", p->name, (long)p->pid);
}

void
sup_scale(struct supervisor *sup)
{
	struct sup_proc *p;
	size_t i;

	for (i = SUP_FIRST_FLOW_MANAGER; i < SUP_NPROCS; i++) {
		p = &sup->procs[i];
		if (p->flow_manager > sup->cfg->flow_managers) {
			if (p->wanted) {
				sup_drain_proc(p);
			}
			continue;
		}
		p->wanted = 1;
		if (p->pid <= 0 && p->restart_timer < 0 && !sup->stopping) {
			sup_start_proc(p);
		}
	}
}

int
sup_drain(struct supervisor *sup, unsigned instance, char *err,
    size_t errcap)
{
	struct sup_proc *p = NULL;
	size_t i, others = 0;

	if (sup_watch_refuse(sup, "stop or scale down its container instead",
	    err, errcap)) {
		return (-1);
	}
	for (i = SUP_FIRST_FLOW_MANAGER; i < SUP_NPROCS; i++) {
		if (sup->cfg->instance + sup->procs[i].flow_manager - 1 ==
		    instance) {
			p = &sup->procs[i];
		} else {
			others += sup->procs[i].wanted;
		}
	}
	if (p == NULL || (!p->wanted && p->pid <= 0)) {
		snprintf(err, errcap, "no flow-manager with instance %u runs "
		    "here", instance);
		return (-1);
	}
	if (others == 0) {
		snprintf(err, errcap, "instance %u is the only flow-manager: "
		    "raise flow-managers first, or nothing takes new flows",
		    instance);
		return (-1);
	}
	sup_drain_proc(p);
	return (0);
}

/* SIGTERM to every service; sup_stop_check() does the rest. */
static void
sup_stop_begin(struct supervisor *sup)
{
	size_t i;

	sup->stopping = 1;
	sup_notify("STOPPING=1\nSTATUS=stopping");
	sup->stop_deadline_ms = monotonic_ms() + SUP_STOP_GRACE_MS;
	for (i = 0; i < SUP_NPROCS; i++) {
		struct sup_proc *p = &sup->procs[i];

		if (p->restart_timer >= 0) {
			loop_cancel(sup->loop, p->restart_timer);
			p->restart_timer = -1;
		}
		if (p->pid > 0) {
			(void)kill(p->pid, SIGTERM);
		}
	}
	sup->stop_timer = loop_every(sup->loop, SUP_STOP_POLL_MS,
	    sup_stop_check, sup);
	if (sup->stop_timer < 0) {
		fatalx("cannot schedule the stop check");
	}
}

/* `p` exited before its first HELLO: see the comment at the top. */
static void
sup_fail_start(struct supervisor *sup, struct sup_proc *p, int status,
    const char *cause)
{
	const char *why;

	/* It is gone: whatever it wrote is in the pipe, unfinished or not. */
	(void)sup_relay_read(&p->relay, STDERR_FILENO, 0, 1);
	why = sup_relay_reason(&p->relay);
	snprintf(sup->last_words, sizeof(sup->last_words),
	    "%s failed to start (%s)%s%s", p->name, cause,
	    why[0] != '\0' ? ": " : "", why);
	sup->exit_status = WIFEXITED(status) && WEXITSTATUS(status) == 2 ?
	    2 : 1;
	log_warnx("%s failed its first start, %s: stopping the other "
	    "services", p->name, cause);
	sup_stop_begin(sup);
	sup_notify("STATUS=%s", sup->last_words);
}

static void
sup_known_pids(struct supervisor *sup, pid_t *pids)
{
	size_t i;

	for (i = 0; i < SUP_NPROCS; i++) {
		pids[i] = sup->procs[i].pid;
	}
}

/* Reap every child that exited; 1 if a service was among them. */
int
sup_reap(struct supervisor *sup)
{
	pid_t pid, known[SUP_NPROCS];
	struct sup_proc *p;
	char cause[64];
	int status, lost = 0;
	size_t n;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		sup_exit_cause(status, cause, sizeof(cause));
		p = sup_procs_by_pid(sup->procs, SUP_NPROCS, pid);
		if (p == NULL) {
			/* An orphan we adopted as subreaper. */
			log_debug("reaped orphan pid %ld: %s", (long)pid,
			    cause);
			continue;
		}
		lost = 1;
		p->pid = 0;
		sup_reports_forget(&sup->reports, p->name, pid);
		/* Its last lines before the news of its death. */
		(void)sup_relay_read(&p->relay, STDERR_FILENO,
		    SUP_RELAY_BATCH, 0);
		if (sup->stopping) {
			log_info("%s pid %ld %s", p->name, (long)pid, cause);
			continue;
		}
		if (!p->wanted) {
			log_info("%s pid %ld %s%s", p->name, (long)pid, cause,
			    p->draining ? " after draining" : "");
			p->draining = 0;
			continue;
		}
		/* A flow-manager added to a running set only ever retries. */
		if (!p->ready_once && !sup->was_ready) {
			sup_fail_start(sup, p, status, cause);
			continue;
		}
		log_warnx("lost child %s pid %ld: %s", p->name, (long)pid,
		    cause);
		sup_notify("STATUS=%s %s, restarting", p->name, cause);
		/*
		 * What it started cannot be reached through its successor:
		 * a flow-manager child of a dead parent would hold its
		 * flows and its fm<i>-c<n>.ipc name forever.
		 */
		sup_known_pids(sup, known);
		if ((n = sup_signal_orphans(known, SUP_NPROCS, SIGTERM)) > 0) {
			log_warnx("sent SIGTERM to %zu orphaned process%s "
			    "of %s", n, n == 1 ? "" : "es", p->name);
		}
		sup_schedule_restart(p);
	}
	return (lost);
}

static void
sup_stop_done(struct supervisor *sup)
{
	if (sup->stop_timer >= 0) {
		loop_cancel(sup->loop, sup->stop_timer);
		sup->stop_timer = -1;
	}
	loop_stop(sup->loop);
}

void
sup_stop_check(struct loop *loop, void *arg)
{
	struct supervisor *sup = arg;
	pid_t known[SUP_NPROCS];
	size_t i, running = 0, orphans;
	uint64_t now;

	(void)loop;
	(void)sup_reap(sup);
	now = monotonic_ms();
	for (i = 0; i < SUP_NPROCS; i++) {
		running += sup->procs[i].pid > 0;
	}
	sup_known_pids(sup, known);
	if (running == 0) {
		/*
		 * Orphans of a service killed at the deadline appear only
		 * after it is reaped, and get SIGKILL at once.
		 */
		orphans = sup_signal_orphans(known, SUP_NPROCS,
		    sup->stop_killed ? SIGKILL :
		    sup->orphans_termed ? 0 : SIGTERM);
		sup->orphans_termed = 1;
		if (orphans == 0) {
			sup_stop_done(sup);
			return;
		}
	}
	if (now >= sup->stop_deadline_ms && !sup->stop_killed) {
		sup->stop_killed = 1;
		for (i = 0; i < SUP_NPROCS; i++) {
			if (sup->procs[i].pid > 0) {
				log_warnx("%s pid %ld did not stop in time, "
				    "killing it", sup->procs[i].name,
				    (long)sup->procs[i].pid);
				(void)kill(sup->procs[i].pid, SIGKILL);
			}
		}
		if ((orphans = sup_signal_orphans(known, SUP_NPROCS,
		    SIGKILL)) > 0) {
			log_warnx("killed %zu leftover process%s", orphans,
			    orphans == 1 ? "" : "es");
		}
	} else if (now >= sup->stop_deadline_ms + 900) {
		/* SIGKILL is not ignorable; a D-state process is. */
		log_warnx("processes still exiting after SIGKILL, giving up");
		sup_stop_done(sup);
	}
}

void
sup_stop(struct supervisor *sup, int signo)
{
	if (sup_watching(sup)) {
		/* Nothing of ours to stop: the services are not ours. */
		log_info("SIG%s: stopping", sigabbrev_np(signo));
		sup->stopping = 1;
		loop_stop(sup->loop);
		return;
	}
	if (sup->stopping) {
		log_info("SIG%s again: killing what is left now",
		    sigabbrev_np(signo));
		sup->stop_deadline_ms = monotonic_ms();
		return;
	}
	log_info("SIG%s: stopping services", sigabbrev_np(signo));
	sup_stop_begin(sup);
	sup_stop_check(sup->loop, sup);
}
