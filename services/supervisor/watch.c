/*
 * watch.c -- `services = watch`: the services run beside epsipd, not
 * under it.
 *
 * Under docker-compose each executable has a container of its own, and
 * compose starts, restarts and scales them (deploy/docker).  They share
 * the run directory and the state volume with epsipd's container, which
 * still prepares both -- the private run directory, the token key -- and
 * still serves /stats, /health and /metrics.  It learns of the services
 * only from their reports on supervisor.ipc: the process table's pids
 * and start times are taken from what each says, and a service that has
 * been silent past SUP_REPORT_MAX_AGE_MS is gone.  The bridge, the router
 * and the first flow-manager are always wanted, so their absence is ill
 * health; a further flow-manager ("flow-manager-3", whichever number its
 * container claimed) is wanted while it reports, so scaling down is not
 * an outage.
 *
 * Their pids are another pid namespace's: epsipd never signals them, and
 * reload and drain are refused with the way to do it instead.
 *
 * Nothing here is fatal.
 */
#include <stdio.h>
#include <string.h>

#include "epsip/log.h"

#include "supervisor.h"

int
sup_watching(const struct supervisor *sup)
{
	return (sup->cfg->services == SERVICES_WATCH);
}

void
sup_watch_heard(struct supervisor *sup, const struct sup_report *r)
{
	struct sup_proc *p = NULL;
	size_t i;

	/* A child of a flow-manager speaks for itself, not for it. */
	if (strcmp(r->instance, r->service) != 0) {
		return;
	}
	for (i = 0; i < SUP_NPROCS && p == NULL; i++) {
		if (strcmp(sup->procs[i].name, r->service) == 0) {
			p = &sup->procs[i];
		}
	}
	if (p == NULL) {
		return;
	}
	if (p->pid != r->pid) {
		log_info("%s pid %ld reports beside us", p->name,
		    (long)r->pid);
		p->pid = r->pid;
		p->started_ms = r->first_ms;
	}
	p->wanted = 1;
	if (r->hello) {
		p->ready_once = 1;
	}
}

void
sup_watch_expire(struct supervisor *sup)
{
	const struct sup_report *r;
	struct sup_proc *p;
	size_t i;

	for (i = 0; i < SUP_NPROCS; i++) {
		p = &sup->procs[i];
		if (p->pid <= 0) {
			continue;
		}
		r = sup_reports_find(&sup->reports, p->name);
		if (r != NULL && r->pid == p->pid) {
			continue;
		}
		log_warnx("%s pid %ld went silent", p->name, (long)p->pid);
		p->pid = 0;
		if (p->flow_manager > 1) {
			p->wanted = 0;
		}
	}
}

int
sup_watch_refuse(const struct supervisor *sup, const char *what, char *err,
    size_t errcap)
{
	if (!sup_watching(sup)) {
		return (0);
	}
	snprintf(err, errcap, "services = watch: the services run beside "
	    "epsipd, which cannot signal them; %s", what);
	return (1);
}
