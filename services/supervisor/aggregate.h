/*
 * aggregate.h -- what epsipd says about the set: /stats, /health, /metrics.
 *
 * Pure functions from a view (process table + report store + clock) to
 * documents.  The loop thread renders them once a second and on every
 * process event; the HTTP threads only copy the last rendering.
 */
#ifndef SUP_AGGREGATE_H
#define SUP_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "procs.h"
#include "report.h"

/* A service that has not reported for this long is not healthy. */
#define SUP_HEALTH_SILENCE_MS	5000u

struct sup_view {
	const char *version;		/* EPSIP version string */
	uint64_t now_ms;
	uint64_t started_ms;		/* when epsipd started */
	int was_ready;			/* the set has been healthy before */
	const struct sup_proc *procs;
	size_t nprocs;
	const struct sup_reports *reports;
	/* epsipd's own report ({"counters": ...}, config.reloads), or NULL. */
	const struct sup_report *self;
};

enum sup_health_state {
	SUP_HEALTH_OK,
	SUP_HEALTH_STARTING,	/* not yet healthy, nothing crashed yet */
	SUP_HEALTH_DEGRADED,	/* was healthy, or a service crashed */
};

/* The report of the running process of service `p`, or NULL. */
const struct sup_report *sup_view_service_report(const struct sup_view *v,
    const struct sup_proc *p);

/*
 * GET /stats:
 *   {"version", "uptime_s", ["epsipd": {"pid", "counters"}], "services":
 *    {name: {"pid", "uptime_s", "round", "up", "ready", "restarts",
 *    "counters", [service fields], ["children": {instance: {"pid",
 *    "round", [fields], "counters"}}]}}, "totals": {counter: sum}}
 * "round" is how many STATS reports came from that pid (0 before the
 * first); a service's "uptime_s" is null while it is down.  "children" starts from the list the parent reports and is
 * completed by each child's own report (a child not heard from yet has
 * no "round").
 * Returns a new reference, or NULL when out of memory.
 */
json_t *sup_render_stats(const struct sup_view *v);

/*
 * The health verdict; with `body`, also {"status": ..., "down": [names]}
 * (a new reference).
 */
enum sup_health_state sup_health(const struct sup_view *v, json_t **body);
int sup_health_http_status(enum sup_health_state state);
const char *sup_health_name(enum sup_health_state state);

/*
 * GET /metrics as Prometheus text 0.0.4 (malloc'ed), or NULL: a HELP and a
 * TYPE for every declaration of metrics.def, then its samples, e.g.
 *   epsip_sip_in_total{service="sip-router",instance="sip-router",
 *   method="INVITE"} 12
 */
char *sup_render_metrics(const struct sup_view *v, size_t *len);

#endif /* SUP_AGGREGATE_H */
