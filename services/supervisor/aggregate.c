/*
 * aggregate.c -- render the view as JSON stats, a health verdict and
 * Prometheus text.
 *
 * Every number comes from the last report of each instance; totals add
 * up every counter of every instance shown, so a counter that appears in
 * several flow-manager children is summed across them (a share, a RATIO
 * in metrics.def, takes the largest instead).  /metrics prints what
 * metrics.def declares, with its help and type.  A service's own
 * report counts only while it belongs to the process now running: the
 * dead incarnation's counters vanish with it (a counter reset, in
 * Prometheus terms).  Pure code, no diagnostics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/metrics.h"

#include "aggregate.h"

/* Fields of a report that the supervisor renders itself. */
static const char *const report_own_keys[] = {
	"service", "instance", "pid", "round", "counters", "up", "ready",
	"restarts", "children", NULL,
};

static int
report_key_is_own(const char *key)
{
	size_t i;

	for (i = 0; report_own_keys[i] != NULL; i++) {
		if (strcmp(report_own_keys[i], key) == 0) {
			return (1);
		}
	}
	return (0);
}

const struct sup_report *
sup_view_service_report(const struct sup_view *v, const struct sup_proc *p)
{
	const struct sup_report *r;

	if (p->pid <= 0) {
		return (NULL);
	}
	r = sup_reports_find(v->reports, p->name);
	if (r == NULL || r->pid != p->pid ||
	    strcmp(r->service, p->name) != 0) {
		return (NULL);
	}
	return (r);
}

/* The table entry r belongs to, if r is to be shown at all. */
static const struct sup_proc *
report_owner(const struct sup_view *v, const struct sup_report *r)
{
	const struct sup_proc *p;

	p = sup_procs_by_name(v->procs, v->nprocs, r->service);
	if (p == NULL || !sup_proc_present(p)) {
		/* A drained flow-manager's children may still report. */
		return (NULL);
	}
	if (strcmp(r->instance, p->name) == 0 &&
	    sup_view_service_report(v, p) != r) {
		return (NULL);
	}
	return (p);
}

static json_t *
report_counters(const struct sup_report *r)
{
	json_t *c;

	c = r->stats != NULL ? json_object_get(r->stats, "counters") : NULL;
	if (json_is_object(c)) {
		return (json_deep_copy(c));
	}
	return (json_object());
}

/* Copy service-specific fields ("flows", "rss_kib", ...) of r into out. */
static int
report_fields(const struct sup_report *r, json_t *out)
{
	const char *key;
	json_t *val;

	if (r->stats == NULL) {
		return (0);
	}
	json_object_foreach(r->stats, key, val) {
		if (report_key_is_own(key)) {
			continue;
		}
		if (json_object_set(out, key, val) == -1) {
			return (-1);
		}
	}
	return (0);
}

/* A share (metrics.def RATIO): totals take the largest, not the sum. */
static int
counter_is_ratio(const char *key)
{
	enum metric_id id;

	return (metric_find(key, &id) == 0 &&
	    metric_families[metric_slots[id].family].kind == METRIC_RATIO);
}

/*
 * Add one report's counters into totals.  A total is a copy, never the
 * report's own number: adding into a shared one would change what the
 * report says, and the next rendering would add it again.
 */
static int
totals_add(json_t *totals, json_t *counters)
{
	const char *key;
	json_t *val, *sum;
	int rv;

	json_object_foreach(counters, key, val) {
		sum = json_object_get(totals, key);
		if (sum == NULL) {
			rv = json_object_set_new(totals, key, json_copy(val));
		} else if (counter_is_ratio(key)) {
			rv = json_number_value(val) <= json_number_value(sum) ?
			    0 : json_object_set_new(totals, key,
			    json_copy(val));
		} else if (json_is_integer(sum) && json_is_integer(val)) {
			rv = json_integer_set(sum, json_integer_value(sum) +
			    json_integer_value(val));
		} else if (json_is_real(sum)) {
			rv = json_real_set(sum, json_real_value(sum) +
			    json_number_value(val));
		} else {
			rv = json_object_set_new(totals, key,
			    json_real(json_number_value(sum) +
			    json_number_value(val)));
		}
		if (rv == -1) {
			return (-1);
		}
	}
	return (0);
}

/*
 * The children a parent says it has ({"fm1-c1": {"pid", "flows"}}), the
 * start of the "children" object: a child that has not reported yet (or
 * whose reports are lost) still shows.  Its own reports are merged in.
 */
static json_t *
report_children(const struct sup_report *r)
{
	json_t *list, *out, *val;
	const char *key;

	if ((out = json_object()) == NULL || r == NULL || r->stats == NULL) {
		return (out);
	}
	list = json_object_get(r->stats, "children");
	json_object_foreach(list, key, val) {
		if (json_is_object(val)) {
			(void)json_object_set_new(out, key,
			    json_deep_copy(val));
		}
	}
	return (out);
}

static json_t *
render_service(const struct sup_view *v, const struct sup_proc *p)
{
	const struct sup_report *r;
	json_t *svc;

	r = sup_view_service_report(v, p);
	svc = json_pack("{s:o, s:o, s:I, s:b, s:b, s:I}",
	    "pid", p->pid > 0 ? json_integer(p->pid) : json_null(),
	    "uptime_s", p->pid > 0 && v->now_ms >= p->started_ms ?
	    json_integer((json_int_t)((v->now_ms - p->started_ms) / 1000)) :
	    json_null(),
	    "round", (json_int_t)(r != NULL ? r->rounds : 0),
	    "up", p->pid > 0,
	    "ready", r != NULL && r->hello,
	    "restarts", (json_int_t)p->restarts);
	if (svc == NULL) {
		return (NULL);
	}
	if ((r != NULL && report_fields(r, svc) == -1) ||
	    json_object_set_new(svc, "counters", r != NULL ?
	    report_counters(r) : json_object()) == -1 ||
	    (p->has_children &&
	    json_object_set_new(svc, "children", report_children(r)) == -1)) {
		json_decref(svc);
		return (NULL);
	}
	return (svc);
}

static json_t *
render_child(const struct sup_report *r)
{
	json_t *child;

	child = json_pack("{s:I, s:I}", "pid", (json_int_t)r->pid,
	    "round", (json_int_t)r->rounds);
	if (child == NULL) {
		return (NULL);
	}
	if (report_fields(r, child) == -1 ||
	    json_object_set_new(child, "counters", report_counters(r)) ==
	    -1) {
		json_decref(child);
		return (NULL);
	}
	return (child);
}

json_t *
sup_render_stats(const struct sup_view *v)
{
	const struct sup_report *r;
	const struct sup_proc *p;
	json_t *root, *services, *totals, *svc, *children, *c;
	size_t i;
	int rv;

	root = json_pack("{s:s, s:I, s:o, s:o}",
	    "version", v->version,
	    "uptime_s", (json_int_t)((v->now_ms - v->started_ms) / 1000),
	    "services", json_object(),
	    "totals", json_object());
	if (root == NULL) {
		return (NULL);
	}
	services = json_object_get(root, "services");
	totals = json_object_get(root, "totals");
	if (v->self != NULL && (json_object_set_new(root, "epsipd",
	    json_pack("{s:I, s:o}", "pid", (json_int_t)v->self->pid,
	    "counters", report_counters(v->self))) == -1 ||
	    (v->self->stats != NULL && totals_add(totals,
	    json_object_get(v->self->stats, "counters")) == -1))) {
		goto fail;
	}
	for (i = 0; i < v->nprocs; i++) {
		p = &v->procs[i];
		if (!sup_proc_present(p)) {
			continue;
		}
		if ((svc = render_service(v, p)) == NULL ||
		    json_object_set_new(services, p->name, svc) == -1) {
			goto fail;
		}
	}
	TAILQ_FOREACH(r, &v->reports->all, entry) {
		if ((p = report_owner(v, r)) == NULL) {
			continue;
		}
		if (r->stats != NULL &&
		    totals_add(totals, json_object_get(r->stats,
		    "counters")) == -1) {
			goto fail;
		}
		if (strcmp(r->instance, p->name) == 0) {
			continue;
		}
		svc = json_object_get(services, p->name);
		children = json_object_get(svc, "children");
		if (children == NULL) {
			children = json_object();
			if (json_object_set_new(svc, "children", children) ==
			    -1) {
				goto fail;
			}
		}
		if ((c = render_child(r)) == NULL) {
			goto fail;
		}
		/* The child's own word wins over its parent's. */
		rv = json_is_object(json_object_get(children, r->instance)) ?
		    json_object_update(json_object_get(children,
		    r->instance), c) : json_object_set(children, r->instance,
		    c);
		json_decref(c);
		if (rv == -1) {
			goto fail;
		}
	}
	return (root);
fail:
	json_decref(root);
	return (NULL);
}

enum sup_health_state
sup_health(const struct sup_view *v, json_t **body)
{
	enum sup_health_state state;
	const struct sup_report *r;
	const struct sup_proc *p;
	json_t *down;
	int crashed = 0;
	size_t i;

	down = json_array();
	for (i = 0; i < v->nprocs; i++) {
		p = &v->procs[i];
		if (!p->wanted) {
			continue;	/* draining or drained: not missing */
		}
		r = sup_view_service_report(v, p);
		if (r != NULL && r->hello &&
		    v->now_ms < r->last_ms + SUP_HEALTH_SILENCE_MS) {
			continue;
		}
		if (p->restarts > 0 || (p->pid <= 0 &&
		    (p->backoff_ms > 0 || p->restart_timer >= 0))) {
			crashed = 1;
		}
		json_array_append_new(down, json_string(p->name));
	}
	if (json_array_size(down) == 0) {
		state = SUP_HEALTH_OK;
	} else if (v->was_ready || crashed) {
		state = SUP_HEALTH_DEGRADED;
	} else {
		state = SUP_HEALTH_STARTING;
	}
	if (body != NULL) {
		if (state == SUP_HEALTH_OK) {
			*body = json_pack("{s:s}", "status",
			    sup_health_name(state));
			json_decref(down);
		} else {
			*body = json_pack("{s:s, s:o}", "status",
			    sup_health_name(state), "down", down);
		}
	} else {
		json_decref(down);
	}
	return (state);
}

int
sup_health_http_status(enum sup_health_state state)
{
	return (state == SUP_HEALTH_OK ? 200 : 503);
}

const char *
sup_health_name(enum sup_health_state state)
{
	switch (state) {
	case SUP_HEALTH_OK:
		return ("ok");
	case SUP_HEALTH_STARTING:
		return ("starting");
	case SUP_HEALTH_DEGRADED:
		return ("degraded");
	}
	return ("degraded");
}

/* ---- /metrics: every declaration of metrics.def, with its samples ---- */

/* One number a report holds: whose, and which declared value. */
struct metric_sample {
	size_t report;			/* the report's place in the list */
	const struct sup_report *r;
	enum metric_family family;
	enum metric_id id;		/* M_COUNT for a FIELD */
	json_t *val;
};

struct metric_samples {
	struct metric_sample *v;
	size_t n;
	size_t start[MF_COUNT + 1];	/* family f: v[start[f]..start[f+1]) */
};

/*
 * Every declared number of every report shown, through fn.  A name the
 * registry does not know (a report from another build) has no HELP or
 * TYPE to print under: /stats still shows it, /metrics leaves it out.
 */
typedef void (*sample_fn)(struct metric_samples *,
    const struct metric_sample *);

/* The declared numbers of s->r, through fn. */
static void
samples_walk_report(struct metric_sample *s, sample_fn fn,
    struct metric_samples *out)
{
	const char *key;
	json_t *val;
	int fam;

	json_object_foreach(json_object_get(s->r->stats, "counters"), key,
	    val) {
		if (json_is_number(val) && metric_find(key, &s->id) == 0) {
			s->family = metric_slots[s->id].family;
			s->val = val;
			fn(out, s);
		}
	}
	json_object_foreach(s->r->stats, key, val) {
		if (!report_key_is_own(key) && json_is_number(val) &&
		    (fam = metric_field_find(key)) >= 0) {
			s->family = (enum metric_family)fam;
			s->id = M_COUNT;
			s->val = val;
			fn(out, s);
		}
	}
}

/* epsipd's own numbers first, then every report shown. */
static void
samples_walk(const struct sup_view *v, sample_fn fn,
    struct metric_samples *out)
{
	struct metric_sample s;

	s.report = 0;
	if (v->self != NULL && v->self->stats != NULL) {
		s.r = v->self;
		samples_walk_report(&s, fn, out);
	}
	TAILQ_FOREACH(s.r, &v->reports->all, entry) {
		s.report++;
		if (s.r->stats != NULL && report_owner(v, s.r) != NULL) {
			samples_walk_report(&s, fn, out);
		}
	}
}

static void
sample_count(struct metric_samples *out, const struct metric_sample *s)
{
	out->start[s->family + 1]++;
	out->n++;
}

static void
sample_place(struct metric_samples *out, const struct metric_sample *s)
{
	/* start[f] runs ahead while placing; samples_sort() resets it. */
	out->v[out->start[s->family]++] = *s;
}

static int
sample_cmp(const void *a, const void *b)
{
	const struct metric_sample *x = a, *y = b;

	/* Report by report, values in the registry's order: stable. */
	if (x->report != y->report) {
		return (x->report < y->report ? -1 : 1);
	}
	return (x->id < y->id ? -1 : x->id > y->id);
}

/* Samples grouped by family; -1 when out of memory. */
static int
samples_collect(const struct sup_view *v, struct metric_samples *out)
{
	size_t f;

	memset(out, 0, sizeof(*out));
	samples_walk(v, sample_count, out);
	for (f = 1; f <= MF_COUNT; f++) {
		out->start[f] += out->start[f - 1];
	}
	if (out->n > 0 &&
	    (out->v = calloc(out->n, sizeof(*out->v))) == NULL) {
		return (-1);
	}
	samples_walk(v, sample_place, out);
	/* Each start[f] stopped where family f + 1 begins. */
	memmove(&out->start[1], &out->start[0],
	    MF_COUNT * sizeof(out->start[0]));
	out->start[0] = 0;
	for (f = 0; f < MF_COUNT; f++) {
		if (out->start[f + 1] > out->start[f]) {
			qsort(out->v + out->start[f], out->start[f + 1] -
			    out->start[f], sizeof(*out->v), sample_cmp);
		}
	}
	return (0);
}

/*
 * Escapes of the text format: backslash and newline everywhere, the
 * double quote in label values only.
 */
static void
metric_escape(FILE *f, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || (quote && *s == '"')) {
			fputc('\\', f);
			fputc(*s, f);
		} else if (*s == '\n') {
			fputs("\\n", f);
		} else {
			fputc(*s, f);
		}
	}
}

static void
metric_value(FILE *f, json_t *val)
{
	if (json_is_integer(val)) {
		fprintf(f, "%lld", (long long)json_integer_value(val));
	} else {
		fprintf(f, "%.17g", json_number_value(val));
	}
}

static void
family_print(FILE *f, enum metric_family fam,
    const struct metric_samples *samples)
{
	const struct metric_desc *d = &metric_families[fam];
	const struct metric_sample *s;
	size_t i;

	fprintf(f, "# HELP %s ", d->prometheus);
	metric_escape(f, d->help, 0);
	fprintf(f, " (%s%s%s%s in /stats)\n# TYPE %s %s\n", d->name,
	    d->label != NULL ? ".<" : "", d->label != NULL ? d->label : "",
	    d->label != NULL ? ">" : "", d->prometheus,
	    d->kind == METRIC_COUNTER ? "counter" : "gauge");
	for (i = samples->start[fam]; i < samples->start[fam + 1]; i++) {
		s = &samples->v[i];
		fprintf(f, "%s{service=\"", d->prometheus);
		metric_escape(f, s->r->service, 1);
		fputs("\",instance=\"", f);
		metric_escape(f, s->r->instance, 1);
		if (d->label != NULL) {
			fprintf(f, "\",%s=\"", d->label);
			metric_escape(f, metric_label_value(s->id), 1);
		}
		fputs("\"} ", f);
		metric_value(f, s->val);
		fputc('\n', f);
	}
}

char *
sup_render_metrics(const struct sup_view *v, size_t *len)
{
	struct metric_samples samples;
	char *text = NULL;
	size_t i;
	FILE *f;

	if (samples_collect(v, &samples) == -1) {
		return (NULL);
	}
	if ((f = open_memstream(&text, len)) == NULL) {
		free(samples.v);
		return (NULL);
	}
	fprintf(f, "# HELP epsip_uptime_seconds Seconds since epsipd "
	    "started.\n# TYPE epsip_uptime_seconds gauge\n"
	    "epsip_uptime_seconds %llu\n",
	    (unsigned long long)((v->now_ms - v->started_ms) / 1000));
	fputs("# HELP epsip_up 1 while the service process runs.\n"
	    "# TYPE epsip_up gauge\n", f);
	for (i = 0; i < v->nprocs; i++) {
		if (sup_proc_present(&v->procs[i])) {
			fprintf(f, "epsip_up{service=\"%s\"} %d\n",
			    v->procs[i].name, v->procs[i].pid > 0);
		}
	}
	fputs("# HELP epsip_restarts_total Times epsipd restarted the "
	    "service.\n# TYPE epsip_restarts_total counter\n", f);
	for (i = 0; i < v->nprocs; i++) {
		if (sup_proc_present(&v->procs[i])) {
			fprintf(f, "epsip_restarts_total{service=\"%s\"} "
			    "%u\n", v->procs[i].name, v->procs[i].restarts);
		}
	}
	for (i = 0; i < MF_COUNT; i++) {
		family_print(f, (enum metric_family)i, &samples);
	}
	free(samples.v);
	if (fclose(f) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}
