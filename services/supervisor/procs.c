/*
 * procs.c -- the table of services and the restart back-off.
 *
 * Start order matters only a little: flows arrive once the flow-manager
 * binds the phone-facing ports, and by then the router and the bridge
 * should already listen (nng would queue meanwhile, but a short queue
 * overflows under load).  So: bridge, router, flow-manager.
 *
 * Pure code, no diagnostics.
 */
#include <stdio.h>
#include <string.h>

#include "procs.h"

static const struct {
	const char *name;
	const char *binary;
	int has_children;
} sup_proc_table[SUP_FIRST_FLOW_MANAGER + 1] = {
	{ "registrar-bridge",	"epsip-registrar-bridge",	0 },
	{ "sip-router",		"epsip-sip-router",		0 },
	{ "flow-manager",	"epsip-flow-manager",		1 },
};

void
sup_procs_init(struct sup_proc *procs, struct supervisor *sup,
    unsigned flow_managers)
{
	struct sup_proc *p;
	size_t i, t;

	for (i = 0; i < SUP_NPROCS; i++) {
		p = &procs[i];
		t = i < SUP_FIRST_FLOW_MANAGER ? i : SUP_FIRST_FLOW_MANAGER;
		memset(p, 0, sizeof(*p));
		p->name = sup_proc_table[t].name;
		p->binary = sup_proc_table[t].binary;
		p->has_children = sup_proc_table[t].has_children;
		p->wanted = 1;
		if (t == SUP_FIRST_FLOW_MANAGER) {
			p->flow_manager = (unsigned)(i - t + 1);
			p->wanted = p->flow_manager <= flow_managers;
			if (p->flow_manager > 1) {
				(void)snprintf(p->name_buf,
				    sizeof(p->name_buf), "%s-%u", p->name,
				    p->flow_manager);
				p->name = p->name_buf;
			}
		}
		p->restart_timer = -1;
		sup_relay_init(&p->relay);
		p->sup = sup;
	}
}

int
sup_proc_present(const struct sup_proc *p)
{
	return (p->wanted || p->pid > 0);
}

struct sup_proc *
sup_procs_by_pid(struct sup_proc *procs, size_t n, pid_t pid)
{
	size_t i;

	if (pid <= 0) {
		return (NULL);
	}
	for (i = 0; i < n; i++) {
		if (procs[i].pid == pid) {
			return (&procs[i]);
		}
	}
	return (NULL);
}

const struct sup_proc *
sup_procs_by_name(const struct sup_proc *procs, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(procs[i].name, name) == 0) {
			return (&procs[i]);
		}
	}
	return (NULL);
}

unsigned
sup_backoff_next(unsigned prev_ms, uint64_t ran_ms, int ready)
{
	/*
	 * runsv's rule: a service that ran a while is restarted at once,
	 * one that dies right after its start waits.  The edge is down for
	 * as long as the wait (phones' flows, every call), so only a crash
	 * loop earns one: Postfix's master throttles a service that dies
	 * early, not one that worked and was killed.
	 */
	if (ready && ran_ms >= SUP_BACKOFF_HEALTHY_MS) {
		return (0);
	}
	if (prev_ms < SUP_BACKOFF_MIN_MS / 2) {
		return (SUP_BACKOFF_MIN_MS);
	}
	if (prev_ms >= SUP_BACKOFF_MAX_MS / 2) {
		return (SUP_BACKOFF_MAX_MS);
	}
	return (prev_ms * 2);
}
