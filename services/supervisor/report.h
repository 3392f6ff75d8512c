/*
 * report.h -- the last word from every process that reports to epsipd.
 *
 * Each service (and each flow-manager child) sends HELLO once and STATS
 * once a second, as JSON:
 *
 *   {"service": "flow-manager", "instance": "fm1-c3", "pid": 4242,
 *    "counters": {"flows.opened": 12, ...}, "flows": 3, "rss_kib": 2700}
 *
 * The store keeps one record per instance name, with the latest STATS
 * document as received and how many it has had from that pid (its
 * round, which lets a test wait for a report sent after some moment
 * instead of sleeping), and forgets instances that died or went silent.
 * Lookups are hashed: in process-per-flow mode thousands of children each
 * report once a second.
 */
#ifndef SUP_REPORT_H
#define SUP_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <jansson.h>

#define SUP_NAME_MAX		64
#define SUP_REPORT_BUCKETS	1024

struct sup_report {
	char instance[SUP_NAME_MAX];	/* "sip-router", "fm1-c3" */
	char service[SUP_NAME_MAX];	/* "sip-router", "flow-manager" */
	pid_t pid;
	int hello;			/* this pid said HELLO */
	json_t *version;		/* HELLO "version" (owned), or NULL */
	uint64_t first_ms;		/* first heard from this pid */
	uint64_t last_ms;		/* last HELLO or STATS */
	uint64_t rounds;		/* STATS documents from this pid */
	json_t *stats;			/* last STATS document (owned) */
	TAILQ_ENTRY(sup_report) entry;	/* all records, oldest first */
	SLIST_ENTRY(sup_report) hlink;	/* hash chain */
};

struct sup_reports {
	TAILQ_HEAD(, sup_report) all;
	SLIST_HEAD(, sup_report) bucket[SUP_REPORT_BUCKETS];
	size_t count;
};

enum sup_report_kind {
	SUP_REPORT_HELLO,
	SUP_REPORT_STATS,
};

void sup_reports_init(struct sup_reports *rs);
void sup_reports_clear(struct sup_reports *rs);

/*
 * Record a HELLO or STATS document of `len` bytes.  A different pid under
 * a known instance name is a new incarnation: the old record is replaced.
 * Returns the record, or NULL with a one-line reason in err (bad JSON,
 * missing or oversized fields; nothing is changed then).
 */
struct sup_report *sup_reports_update(struct sup_reports *rs,
    enum sup_report_kind kind, const char *json, size_t len, uint64_t now_ms,
    char *err, size_t errcap);

struct sup_report *sup_reports_find(const struct sup_reports *rs,
    const char *instance);

/* Drop one record. */
void sup_reports_remove(struct sup_reports *rs, struct sup_report *r);

/* Drop the record of `instance` if it belongs to `pid`; 1 if dropped. */
int sup_reports_forget(struct sup_reports *rs, const char *instance,
    pid_t pid);

/*
 * Drop records not heard from for `max_age_ms`, and those whose process is
 * gone according to `alive` (may be NULL).  Returns how many were dropped.
 */
size_t sup_reports_expire(struct sup_reports *rs, uint64_t now_ms,
    uint64_t max_age_ms, int (*alive)(pid_t pid));

#endif /* SUP_REPORT_H */
