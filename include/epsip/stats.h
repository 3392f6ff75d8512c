/*
 * stats.h -- the counters and gauges of one process.
 *
 * Every value is declared in metrics.def and named by its id:
 * stats_inc(M_FLOWS_OPENED_TCP).  Values live in an array sized by the
 * registry, so a bump is one add and a store, and no value can be lost to
 * a full table.  Each service pushes the values it touched to the
 * supervisor once a second as a flat JSON object (EPSIP_MSG_STATS,
 * {"sip.in.INVITE": 3, ...}); the supervisor serves them at GET /stats
 * and /metrics.  Values are touched only from the process's loop thread.
 */
#ifndef EPSIP_STATS_H
#define EPSIP_STATS_H

#include <stdint.h>

#include <jansson.h>

#include "epsip/metrics.h"

extern int64_t stats_value[M_COUNT];
/* Touched since start: only those are reported, as before the registry. */
extern unsigned char stats_touched[M_COUNT];

static inline void
stats_add(enum metric_id id, int64_t delta)
{
	stats_value[id] += delta;
	stats_touched[id] = 1;
}

static inline void
stats_inc(enum metric_id id)
{
	stats_add(id, 1);
}

static inline void
stats_set(enum metric_id id, int64_t value)
{
	stats_value[id] = value;
	stats_touched[id] = 1;
}

static inline int64_t
stats_get(enum metric_id id)
{
	return (stats_value[id]);
}

/* A new JSON object holding every value touched, by name. */
json_t *stats_to_json(void);
void stats_reset(void);

/* Resident and private (anonymous) memory of this process, in KiB. */
int stats_memory_kib(long *rss_kib, long *private_kib);

#endif /* EPSIP_STATS_H */
