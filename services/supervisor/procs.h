/*
 * procs.h -- the services epsipd runs, and how fast it restarts them.
 *
 * A declarative table in the manner of relayd's procs[]: the supervisor
 * knows three services by name and binary, starts them in table order and
 * keeps one struct sup_proc of run-time state for each.  The flow-manager
 * has one entry per possible instance (flow-managers, at most
 * CONFIG_MAX_FLOW_MANAGERS): "flow-manager" for the first, as a
 * single-instance edge has always called it, then "flow-manager-2" and
 * on.  An entry is wanted while its number is within flow-managers;
 * one that is not wanted is not restarted, and once it has exited it is
 * not shown.  Nothing here touches the system; the fork+exec lives in
 * spawn.c.
 */
#ifndef SUP_PROCS_H
#define SUP_PROCS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "epsip/config.h"

#include "relay.h"

/* The bridge, the router, then one entry per possible flow-manager. */
#define SUP_FIRST_FLOW_MANAGER	2
#define SUP_NPROCS	(SUP_FIRST_FLOW_MANAGER + CONFIG_MAX_FLOW_MANAGERS)

/*
 * Restart back-off.  A service that said HELLO and then ran at least
 * SUP_BACKOFF_HEALTHY_MS is restarted at once: it was working, and every
 * second it is down costs calls.  One that died sooner (or before its
 * HELLO) is in a crash loop: 1 s, doubling, at most 30 s, until a
 * healthy run.
 */
#define SUP_BACKOFF_HEALTHY_MS	1000u
#define SUP_BACKOFF_MIN_MS	1000u
#define SUP_BACKOFF_MAX_MS	30000u

struct supervisor;

struct sup_proc {
	const char *name;	/* service name, as sent in HELLO */
	const char *binary;	/* file name under the libexec directory */
	int has_children;	/* reports children ("fm1-c3") of its own */
	unsigned flow_manager;	/* K of "--flow-manager K"; 0: not one */
	char name_buf[24];	/* name, for flow-manager entries */
	/*
	 * To be running: flow-managers above the configured count are
	 * not, nor one an operator drained.  A running entry that is not
	 * wanted drains and is not restarted when it exits.
	 */
	int wanted;
	int draining;		/* SIGUSR1 sent */
	pid_t pid;		/* 0 while not running */
	uint64_t started_ms;	/* loop clock at the last spawn */
	unsigned restarts;	/* respawns since epsipd started */
	unsigned backoff_ms;	/* delay used for the last restart, 0: none
				   or at once */
	int restart_timer;	/* pending loop_after() id, or -1 */
	/*
	 * Said HELLO at least once.  Until then an exit is a failed start
	 * and stops epsipd (lifecycle.c); after, it is a crash and the
	 * service is restarted with back-off.
	 */
	int ready_once;
	int ready;		/* said HELLO since its last spawn */
	struct sup_relay relay;	/* its stderr, through epsipd's */
	struct supervisor *sup;	/* back pointer for loop callbacks */
};

/*
 * Fill procs[0..SUP_NPROCS) from the table, in start order, wanting the
 * first `flow_managers` flow-managers.
 */
void sup_procs_init(struct sup_proc *procs, struct supervisor *sup,
    unsigned flow_managers);

/* 1 when `p` is shown and counted: wanted, or still running. */
int sup_proc_present(const struct sup_proc *p);

/* The entry running `pid`, or NULL. */
struct sup_proc *sup_procs_by_pid(struct sup_proc *procs, size_t n,
    pid_t pid);
/* The entry for service `name`, or NULL. */
const struct sup_proc *sup_procs_by_name(const struct sup_proc *procs,
    size_t n, const char *name);

/*
 * The delay before restarting a service that just exited, given the delay
 * used last time (0: none), how long it ran and whether it said HELLO
 * in that run: 0 after a healthy run (HELLO, and SUP_BACKOFF_HEALTHY_MS
 * or longer), else the crash-loop back-off.
 */
unsigned sup_backoff_next(unsigned prev_ms, uint64_t ran_ms, int ready);

#endif /* SUP_PROCS_H */
