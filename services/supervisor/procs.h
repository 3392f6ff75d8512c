/*
 * procs.h -- the services epsipd runs, and how fast it restarts them.
 *
 * A declarative table in the manner of relayd's procs[]: the supervisor
 * knows three services by name and binary, starts them in table order and
 * keeps one struct sup_proc of run-time state for each.  Nothing here
 * touches the system; the fork+exec lives in spawn.c.
 */
#ifndef SUP_PROCS_H
#define SUP_PROCS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "relay.h"

#define SUP_NPROCS		3

/* Restart back-off: 1 s, doubling, at most 30 s; reset after 60 s up. */
#define SUP_BACKOFF_MIN_MS	1000u
#define SUP_BACKOFF_MAX_MS	30000u
#define SUP_BACKOFF_STABLE_MS	60000u

struct supervisor;

struct sup_proc {
	const char *name;	/* service name, as sent in HELLO */
	const char *binary;	/* file name under the libexec directory */
	int has_children;	/* reports children ("fm1-c3") of its own */
	pid_t pid;		/* 0 while not running */
	uint64_t started_ms;	/* loop clock at the last spawn */
	unsigned restarts;	/* respawns since epsipd started */
	unsigned backoff_ms;	/* delay used for the last restart, 0: none */
	int restart_timer;	/* pending loop_after() id, or -1 */
	/*
	 * Said HELLO at least once.  Until then an exit is a failed start
	 * and stops epsipd (lifecycle.c); after, it is a crash and the
	 * service is restarted with back-off.
	 */
	int ready_once;
	struct sup_relay relay;	/* its stderr, through epsipd's */
	struct supervisor *sup;	/* back pointer for loop callbacks */
};

/* Fill procs[0..SUP_NPROCS) from the table, in start order. */
void sup_procs_init(struct sup_proc *procs, struct supervisor *sup);

/* The entry running `pid`, or NULL. */
struct sup_proc *sup_procs_by_pid(struct sup_proc *procs, size_t n,
    pid_t pid);
/* The entry for service `name`, or NULL. */
const struct sup_proc *sup_procs_by_name(const struct sup_proc *procs,
    size_t n, const char *name);

/*
 * The delay before restarting a service that just exited, given the delay
 * used last time (0: never restarted) and how long it ran.  A service that
 * ran SUP_BACKOFF_STABLE_MS or longer is treated as healthy again.
 */
unsigned sup_backoff_next(unsigned prev_ms, uint64_t ran_ms);

#endif /* SUP_PROCS_H */
