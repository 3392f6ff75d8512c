/*
 * daemon.c -- the skeleton every EPSIP service runs in.
 *
 * Owns argv and configuration (read again on SIGHUP), logging,
 * SIGTERM/SIGINT, the event loop, the HELLO to the supervisor and the
 * once-a-second STATS report, so that a service's main() only names its
 * callbacks.  Services are started by the
 * supervisor with fork+exec (nng is not fork-safe) and die with it.
 * DIAGNOSTICS: bad configuration exits 2; failing to start exits 1.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epsip/daemon.h"
#include "epsip/heap.h"
#include "epsip/log.h"
#include "epsip/stats.h"
#include "epsip/version.h"

static char daemon_instance[64];
static char daemon_service[64];

void
daemon_set_instance_name(struct daemon *d, const char *name)
{
	snprintf(daemon_instance, sizeof(daemon_instance), "%s", name);
	d->instance_name = daemon_instance;
}

void
daemon_set_service_name(struct daemon *d, const char *name)
{
	int same = d->instance_name == d->service_name;

	snprintf(daemon_service, sizeof(daemon_service), "%s", name);
	d->service_name = daemon_service;
	if (same) {
		d->instance_name = daemon_service;
	}
	log_init(daemon_service, d->cfg.log_level);
}

static void
daemon_send_json(struct daemon *d, enum epsip_msg_type type, json_t *body)
{
	struct epsip_msg msg;
	char *text;

	json_object_set_new(body, "service", json_string(d->service_name));
	json_object_set_new(body, "instance", json_string(d->instance_name));
	json_object_set_new(body, "pid", json_integer(getpid()));
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL) {
		return;
	}
	epsip_msg_init(&msg, type);
	msg.payload = (const uint8_t *)text;
	msg.payload_len = strlen(text);
	(void)ipc_send(d->supervisor, &msg);
	free(text);
}

static void
daemon_report(struct loop *loop, void *arg)
{
	struct daemon *d = arg;
	json_t *body = json_object();
	long rss, priv;

	(void)loop;
	(void)ipc_redial_stuck();
	json_object_set_new(body, "counters", stats_to_json());
	if (stats_memory_kib(&rss, &priv) == 0) {
		json_object_set_new(body, "rss_kib", json_integer(rss));
		json_object_set_new(body, "private_kib", json_integer(priv));
	}
	if (d->service->report != NULL) {
		d->service->report(d, body);
	}
	daemon_send_json(d, EPSIP_MSG_STATS, body);
	json_decref(body);
}

static void
daemon_release_heap(struct loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	heap_release();
}

static void
daemon_hello(struct daemon *d)
{
	json_t *body = json_object();

	json_object_set_new(body, "version", json_string(EPSIP_VERSION));
	json_object_set_new(body, "msg_version",
	    json_integer(EPSIP_MSG_VERSION));
	daemon_send_json(d, EPSIP_MSG_HELLO, body);
	json_decref(body);
}

/* The reloadable keys that live in the common code, not in d->cfg. */
static void
daemon_apply(const struct epsip_config *cfg)
{
	log_set_level(cfg->log_level);
	ipc_set_backlog_limit((size_t)cfg->ipc_backlog << 20);
	/* A link stuck for longer holds only requests that are late anyway. */
	ipc_set_offer_wait(cfg->overload_delay);
}

/*
 * SIGHUP: from epsipd once it has checked the new file and rewritten the
 * effective one, or from the flow-manager parent to its children.  Only
 * what may change under running flows changes (config.c); the service's
 * hook re-applies what it derived from those keys.
 */
static void
daemon_on_reload(struct loop *loop, int signo, void *arg)
{
	struct daemon *d = arg;
	struct epsip_config fresh;
	char err[512];
	int help, check;

	(void)loop;
	(void)signo;
	config_defaults(&fresh);
	if (config_parse_args(&fresh, d->argc, d->argv,
	    d->service->extra_option, d->service->arg, &help, &check, err,
	    sizeof(err)) == -1 || config_finish(&fresh, err,
	    sizeof(err)) == -1 || (d->service->reload != NULL &&
	    d->service->reload(d, &fresh, err, sizeof(err)) == -1)) {
		log_error("reload: %s: running configuration kept", err);
		stats_inc(M_CONFIG_RELOAD_ERRORS);
		return;
	}
	config_take_reloadable(&d->cfg, &fresh);
	daemon_apply(&d->cfg);
	stats_inc(M_CONFIG_RELOADS);
	/* A flow-manager child is one of thousands: no line each. */
	if (strcmp(d->instance_name, d->service_name) == 0) {
		log_info("reload: configuration applied");
	} else {
		log_debug("reload: configuration applied");
	}
}

static void
daemon_on_drain(struct loop *loop, int signo, void *arg)
{
	struct daemon *d = arg;

	(void)loop;
	(void)signo;
	d->service->drain(d);
}

static void
daemon_on_stop_signal(struct loop *loop, int signo, void *arg)
{
	struct daemon *d = arg;

	d->stop_signal = signo;
	log_info("signal %d: stopping", signo);
	loop_stop(loop);
}

/*
 * nng starts its threads at the first nng call, and they inherit our mask.
 * A signal the loop takes through signalfd must be blocked in every thread
 * by then, or an nng thread may take it first and it is lost (for SIGCHLD,
 * whose default is to ignore, silently).
 */
static void
daemon_block_loop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int
daemon_main(const struct daemon_service *service, int argc, char **argv)
{
	struct daemon d;
	char err[512], url[CONFIG_PATH_MAX + 32];
	int help, check, rv;

	memset(&d, 0, sizeof(d));
	d.service = service;
	d.argc = argc;
	d.argv = argv;
	d.service_name = service->name;
	d.instance_name = service->name;
	log_init(service->name, LOG_LEVEL_INFO);
	config_defaults(&d.cfg);
	if (config_parse_args(&d.cfg, argc, argv, service->extra_option,
	    service->arg, &help, &check, err, sizeof(err)) == -1 ||
	    config_finish(&d.cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", argv[0], err);
		return (2);
	}
	if (help) {
		config_usage(stdout, argv[0]);
		return (0);
	}
	if (check) {
		printf("configuration OK\n");
		return (0);
	}
	daemon_apply(&d.cfg);
	daemon_block_loop_signals();
	/*
	 * Dying with the supervisor is the starter's to arrange: epsipd and
	 * the flow-manager parent set PR_SET_PDEATHSIG before exec, which
	 * keeps it.  A service started on its own (a container of its own,
	 * services = watch) must outlive the shell that started it.
	 */
	signal(SIGPIPE, SIG_IGN);
	if ((d.loop = loop_new()) == NULL) {
		fatal("loop");
	}
	loop_on_signal(d.loop, SIGTERM, daemon_on_stop_signal, &d);
	loop_on_signal(d.loop, SIGINT, daemon_on_stop_signal, &d);
	/* Taken in the loop, after start: a service is reloaded whole. */
	loop_on_signal(d.loop, SIGHUP, daemon_on_reload, &d);
	if (service->drain != NULL) {
		loop_on_signal(d.loop, SIGUSR1, daemon_on_drain, &d);
	}
	if (ipc_attach_loop(d.loop) == -1) {
		fatalx("loop: cannot batch IPC");
	}
	/* 0 in /metrics from the start, not a series appearing later. */
	stats_set(M_CONFIG_RELOADS, 0);
	stats_set(M_CONFIG_RELOAD_ERRORS, 0);
	if (ipc_service_url(d.cfg.run_dir, "supervisor", url, sizeof(url)) ||
	    ipc_push_dial(&d.supervisor, url, 0, 16) == -1) {
		fatalx("cannot dial the supervisor in %s", d.cfg.run_dir);
	}
	if (service->start(&d) == -1) {
		log_error("failed to start");
		return (1);
	}
	daemon_hello(&d);
	/* Report at once: a restarted service's counters show up at once. */
	daemon_report(d.loop, &d);
	loop_every(d.loop, 1000, daemon_report, &d);
	if (d.cfg.heap_release != 0) {
		loop_every(d.loop, d.cfg.heap_release * 1000,
		    daemon_release_heap, NULL);
	}
	log_info("started (%s)", d.instance_name);
	rv = loop_run(d.loop);
	/* What the last iteration queued leaves; stop() sends at once. */
	ipc_flush_all();
	ipc_detach_loop();
	if (service->stop != NULL) {
		service->stop(&d);
	}
	ipc_close(d.supervisor);
	ipc_library_fini();
	loop_free(d.loop);
	log_info("stopped");
	return (rv == 0 ? 0 : 1);
}
