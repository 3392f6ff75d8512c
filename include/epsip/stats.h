/*
 * stats.h -- named counters of one process.
 *
 * Names are dotted ("sip.in.INVITE", "flows.closed.timeout").  Each service
 * pushes its counters to the supervisor once a second as a flat JSON object
 * (EPSIP_MSG_STATS); the supervisor serves them at GET /stats.  Counters are
 * touched only from the process's single loop thread.
 */
#ifndef EPSIP_STATS_H
#define EPSIP_STATS_H

#include <stdint.h>

#include <jansson.h>

void stats_add(const char *name, int64_t delta);
void stats_set(const char *name, int64_t value);
int64_t stats_get(const char *name);
#define stats_inc(name) stats_add((name), 1)

/* "sip.in.<METHOD>" style helpers; the method is sanitised to [A-Z]. */
void stats_inc2(const char *prefix, const char *suffix);

/* A new JSON object holding every counter. */
json_t *stats_to_json(void);
void stats_reset(void);

/* Resident and private (anonymous) memory of this process, in KiB. */
int stats_memory_kib(long *rss_kib, long *private_kib);

#endif /* EPSIP_STATS_H */
