/*
 * metrics.h -- the registry of counters and gauges declared in metrics.def.
 *
 * Two kinds of number come out of it.  A metric_id is one value, what
 * stats_inc() takes: M_IPC_REDIALS ("ipc.redials"), M_SIP_IN_INVITE
 * ("sip.in.INVITE"), M_REPLIES_430 ("replies.430").  A metric_family is
 * one declaration, what /metrics prints a HELP and TYPE for: a family's
 * values are consecutive ids, its `other` first.  Values come from the
 * outside world only through the lookups below, which map anything not
 * declared to `other`: a peer cannot make up a counter.
 */
#ifndef EPSIP_METRICS_H
#define EPSIP_METRICS_H

#include <stddef.h>

enum metric_kind {
	METRIC_COUNTER,		/* grows while the process lives */
	METRIC_GAUGE,		/* a level: totals add it up */
	METRIC_RATIO,		/* a share: totals take the largest */
};

/* The status codes a CODES() family counts, and the ids they take. */
#define METRIC_CODE_MIN	100
#define METRIC_CODE_MAX	699

#define METRIC_CODES_10_(X, f, p, a, b) X(f, p, a, b, 0) X(f, p, a, b, 1) \
	X(f, p, a, b, 2) X(f, p, a, b, 3) X(f, p, a, b, 4) X(f, p, a, b, 5) \
	X(f, p, a, b, 6) X(f, p, a, b, 7) X(f, p, a, b, 8) X(f, p, a, b, 9)
#define METRIC_CODES_100_(X, f, p, a) METRIC_CODES_10_(X, f, p, a, 0) \
	METRIC_CODES_10_(X, f, p, a, 1) METRIC_CODES_10_(X, f, p, a, 2) \
	METRIC_CODES_10_(X, f, p, a, 3) METRIC_CODES_10_(X, f, p, a, 4) \
	METRIC_CODES_10_(X, f, p, a, 5) METRIC_CODES_10_(X, f, p, a, 6) \
	METRIC_CODES_10_(X, f, p, a, 7) METRIC_CODES_10_(X, f, p, a, 8) \
	METRIC_CODES_10_(X, f, p, a, 9)
/* X(family, prefix, hundreds, tens, units) for 100 ... 699. */
#define METRIC_CODES_(X, f, p) METRIC_CODES_100_(X, f, p, 1) \
	METRIC_CODES_100_(X, f, p, 2) METRIC_CODES_100_(X, f, p, 3) \
	METRIC_CODES_100_(X, f, p, 4) METRIC_CODES_100_(X, f, p, 5) \
	METRIC_CODES_100_(X, f, p, 6)

enum metric_family {
#define METRIC(id, kind, name, prom, unit, from, help)	MF_##id,
#define FAMILY(id, kind, name, label, prom, unit, from, help) MF_##id,
#define LABEL(family, id, name)
#define CODES(family, prefix)
#define FIELD(id, name, prom, unit, from, help)	MF_##id,
#include "epsip/metrics.def"
#undef METRIC
#undef FAMILY
#undef LABEL
#undef CODES
#undef FIELD
	MF_COUNT
};

#define METRIC_CODE_ID_(f, p, a, b, c)	M_##f##_##a##b##c,
/*
 * A FIELD has no value here; its marker (equal to the next id) only keeps
 * every declaration's `first` in order.
 */
enum metric_id {
#define METRIC(id, kind, name, prom, unit, from, help)	M_##id,
#define FAMILY(id, kind, name, label, prom, unit, from, help) M_##id##_OTHER,
#define LABEL(family, id, name)	M_##family##_##id,
#define CODES(family, prefix) \
	METRIC_CODES_(METRIC_CODE_ID_, family, prefix)
#define FIELD(id, name, prom, unit, from, help) \
	M_##id##__AT, M_##id##__BEFORE = M_##id##__AT - 1,
#include "epsip/metrics.def"
#undef METRIC
#undef FAMILY
#undef LABEL
#undef CODES
#undef FIELD
	M_COUNT
};

/* One value. */
struct metric_slot {
	const char *name;		/* in /stats: "sip.in.INVITE" */
	enum metric_family family;
};

/* One declaration. */
struct metric_desc {
	const char *name;		/* "sip.in", "ipc.redials" */
	const char *label;		/* "method"; NULL: a single value */
	const char *prometheus;		/* "epsip_sip_in_total" */
	const char *unit;		/* "requests" */
	const char *from;		/* the processes that report it */
	const char *help;		/* one line */
	enum metric_kind kind;
	int field;			/* a report field, not a slot */
	enum metric_id first;		/* its first value (`other`) */
};

extern const struct metric_slot metric_slots[M_COUNT];
extern const struct metric_desc metric_families[MF_COUNT];

/* "sip.in.INVITE" */
static inline const char *
metric_name(enum metric_id id)
{
	return (metric_slots[id].name);
}

/* How many values family f has (0 for a FIELD). */
unsigned metric_family_size(enum metric_family f);

/* "sip.in.INVITE" -> "INVITE"; NULL for a value of a plain METRIC. */
const char *metric_label_value(enum metric_id id);

/* The value of family f labelled `value`, or f's `other`. */
enum metric_id metric_label_find(enum metric_family f, const char *value);

/* sip.in.<method>: a request's method as sent (case matters). */
enum metric_id metric_sip_method(const char *method);

/* sip.in.response.<N>xx of a status code. */
enum metric_id metric_response_class(int status);

/* The value of a CODES() family for a status code. */
enum metric_id metric_status(enum metric_family f, int status);

/*
 * A name from /stats back to its value (0), or -1 if none is declared.
 * Hashed: epsipd looks up every counter of every report it renders.
 */
int metric_find(const char *name, enum metric_id *id);

/* The FIELD declared as `name`, or -1. */
int metric_field_find(const char *name);

/* common/metrics_doc.c */

/*
 * The table of docs/operations.md, between its two marker lines: every
 * declaration, one markdown row each (malloc'ed), or NULL.
 */
char *metric_doc_table(void);

/*
 * `doc` with the text between METRIC_DOC_BEGIN and METRIC_DOC_END lines
 * replaced by metric_doc_table() (malloc'ed), or NULL with a reason in
 * err (a marker missing, out of memory).
 */
#define METRIC_DOC_BEGIN "<!-- metrics table: `make docs-metrics` writes it " \
	"from include/epsip/metrics.def -->"
#define METRIC_DOC_END	"<!-- end of metrics table -->"
char *metric_doc_splice(const char *doc, char *err, size_t errcap);

#endif /* EPSIP_METRICS_H */
