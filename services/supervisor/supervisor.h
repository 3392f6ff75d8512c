/*
 * supervisor.h -- epsipd's run-time state and entry point.
 */
#ifndef SUP_SUPERVISOR_H
#define SUP_SUPERVISOR_H

#include <stdint.h>

#include "epsip/config.h"
#include "epsip/version.h"
#include "aggregate.h"
#include "procs.h"
#include "report.h"

/* Grace for services to stop after SIGTERM, before SIGKILL. */
#define SUP_STOP_GRACE_MS	4000u
#define SUP_STOP_POLL_MS	100u
/* Forget an instance not heard from for this long. */
#define SUP_REPORT_MAX_AGE_MS	10000u
/* Reads of a service's stderr per wake-up, so none starves the others. */
#define SUP_RELAY_BATCH		16u

struct loop;
struct ipc_socket;
struct sup_http;

/* flows.c's push sockets to the flow-manager children, hashed. */
#define SUP_FLOWS_LINK_BUCKETS	256
LIST_HEAD(sup_flows_links, sup_flows_link);

struct supervisor {
	struct epsip_config *cfg;	/* reloadable keys change on SIGHUP */
	int argc;			/* epsipd's own, read again on SIGHUP */
	char **argv;
	struct loop *loop;
	struct ipc_socket *ipc;		/* pull, supervisor.ipc */
	struct sup_http *http;		/* NULL when stats is off */
	struct sup_reports reports;
	struct sup_report self;		/* epsipd's own counters */
	struct sup_proc procs[SUP_NPROCS];
	char libexec[CONFIG_PATH_MAX];
	char config_path[CONFIG_PATH_MAX + 16];
	int lock_fd;
	uint64_t started_ms;
	enum sup_health_state health;	/* last verdict published */
	int was_ready;			/* READY=1 sent */
	int stopping;
	int exit_status;		/* non-zero: a service failed to start */
	char last_words[SUP_RELAY_LINE + 96];	/* and why, epsipd's last line */
	int stop_killed;		/* SIGKILL sent */
	int orphans_termed;		/* SIGTERM sent to orphans */
	uint64_t stop_deadline_ms;
	int stop_timer;
	/* GET /flows rounds waiting for the children, links to them. */
	TAILQ_HEAD(, sup_flows_round) flow_rounds;
	uint32_t flow_round_id;
	struct sup_flows_links flow_links[SUP_FLOWS_LINK_BUCKETS];
};

/*
 * Run the set until SIGTERM/SIGINT; returns the exit status.  cfg was
 * read from argc/argv, which SIGHUP reads again.
 */
int supervisor_main(struct epsip_config *cfg, int argc, char **argv);

/* publish.c: re-render /stats, /health, /metrics; READY=1 and STATUS=. */
void sup_publish(struct supervisor *sup);
/* publish.c: a document as served, with a newline (takes doc), or NULL. */
char *sup_dump(json_t *doc, size_t *len);

/* flows.c: GET /flows */
struct sup_http_ask;
struct sup_flows_request;
/* Ask every flow-manager child; answers `ask` once they have. */
void sup_flows_start(struct supervisor *sup, struct sup_http_ask *ask,
    const struct sup_flows_request *req);
/* A FLOWS envelope on supervisor.ipc. */
void sup_flows_on_answer(struct supervisor *sup, const struct epsip_msg *msg);
/*
 * Stopping: answer every round still waiting and close the links to the
 * children (before sup_http_stop).
 */
void sup_flows_stop(struct supervisor *sup);
/*
 * The answer to GET /flows from every flow gathered (sorted here by
 * instance, child, slot): the page `req` asks for, with the total and
 * whether every child answered.  Malloc'ed with its length, or NULL.
 */
char *sup_flows_render(json_t *flows, const struct sup_flows_request *req,
    int complete, size_t *len);

/* lifecycle.c */
void sup_start_proc(struct sup_proc *p);
/* The service running `pid` said HELLO: from now on it is restarted. */
void sup_proc_ready(struct supervisor *sup, pid_t pid);
/* Reap every exited child; 1 if a service was among them. */
int sup_reap(struct supervisor *sup);
/*
 * Start the flow-managers within cfg->flow_managers that do not run, and
 * drain those above it (after a reload).
 */
void sup_scale(struct supervisor *sup);
/*
 * Drain the flow-manager carrying `instance` in its tokens: 0, or -1 with
 * a reason in err (no such instance here, or the last one taking flows).
 */
int sup_drain(struct supervisor *sup, unsigned instance, char *err,
    size_t errcap);
/* watch.c: services = watch (the services run beside epsipd). */
int sup_watching(const struct supervisor *sup);
/* A report from a service beside us: its pid, start, readiness. */
void sup_watch_heard(struct supervisor *sup, const struct sup_report *r);
/* Forget the services whose reports went silent. */
void sup_watch_expire(struct supervisor *sup);
/* In watch mode: 1 and why `what` is not epsipd's to do, in err. */
int sup_watch_refuse(const struct supervisor *sup, const char *what,
    char *err, size_t errcap);
/* Begin (or, on a second signal, hurry) the stop sequence. */
void sup_stop(struct supervisor *sup, int signo);
/* Stop progress: a loop timer callback, also called on SIGCHLD. */
void sup_stop_check(struct loop *loop, void *arg);

#endif /* SUP_SUPERVISOR_H */
