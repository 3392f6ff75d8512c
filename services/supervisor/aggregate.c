/*
 * aggregate.c -- render the view as JSON stats, a health verdict and
 * Prometheus text.
 *
 * Every number comes from the last report of each instance; totals add
 * up every counter of every instance shown, so a counter that appears in
 * several flow-manager children is summed across them.  A service's own
 * report counts only while it belongs to the process now running: the
 * dead incarnation's counters vanish with it (a counter reset, in
 * Prometheus terms).  Pure code, no diagnostics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"

/* Fields of a report that the supervisor renders itself. */
static const char *const report_own_keys[] = {
	"service", "instance", "pid", "counters", "up", "ready", "restarts",
	"children", NULL,
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
	if (p == NULL) {
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

static int
totals_add(json_t *totals, json_t *counters)
{
	const char *key;
	json_t *val, *sum;
	int rv;

	json_object_foreach(counters, key, val) {
		sum = json_object_get(totals, key);
		if (sum == NULL) {
			rv = json_object_set(totals, key, val);
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
	svc = json_pack("{s:o, s:b, s:b, s:I}",
	    "pid", p->pid > 0 ? json_integer(p->pid) : json_null(),
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

	if ((child = json_pack("{s:I}", "pid", (json_int_t)r->pid)) == NULL) {
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
	for (i = 0; i < v->nprocs; i++) {
		p = &v->procs[i];
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
		r = sup_view_service_report(v, p);
		if (r != NULL && r->hello &&
		    v->now_ms < r->last_ms + SUP_HEALTH_SILENCE_MS) {
			continue;
		}
		if (p->restarts > 0 || (p->pid <= 0 && p->backoff_ms > 0)) {
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

int
sup_metric_name(const char *counter, char *buf, size_t cap)
{
	size_t n = 0;
	char ch;

	if (cap < sizeof("epsip_")) {
		return (-1);
	}
	memcpy(buf, "epsip_", 6);
	n = 6;
	for (; *counter != '\0'; counter++) {
		if (n + 1 >= cap) {
			return (-1);
		}
		ch = *counter;
		/* Prometheus names are [a-zA-Z_:][a-zA-Z0-9_:]*. */
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == ':')) {
			ch = '_';
		}
		buf[n++] = ch;
	}
	buf[n] = '\0';
	return (0);
}

/* Label values escape backslash, double quote and newline. */
static void
metric_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"') {
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

/* Add one sample [service, instance, value] to family `name`. */
static int
family_add(json_t *families, const char *name, const char *service,
    const char *instance, json_t *val)
{
	char metric[256];
	json_t *fam;

	if (sup_metric_name(name, metric, sizeof(metric)) == -1) {
		return (0);	/* absurd names are left out, not fatal */
	}
	if ((fam = json_object_get(families, metric)) == NULL) {
		fam = json_array();
		if (json_object_set_new(families, metric, fam) == -1) {
			return (-1);
		}
	}
	return (json_array_append_new(fam, json_pack("[s, s, O]", service,
	    instance, val)));
}

static int
families_add_report(json_t *families, const struct sup_report *r)
{
	const char *key;
	json_t *val, *counters;

	if (r->stats == NULL) {
		return (0);
	}
	counters = json_object_get(r->stats, "counters");
	json_object_foreach(counters, key, val) {
		if (family_add(families, key, r->service, r->instance,
		    val) == -1) {
			return (-1);
		}
	}
	/* Numeric service fields ("flows", "rss_kib") are gauges too. */
	json_object_foreach(r->stats, key, val) {
		if (report_key_is_own(key) || !json_is_number(val)) {
			continue;
		}
		if (family_add(families, key, r->service, r->instance,
		    val) == -1) {
			return (-1);
		}
	}
	return (0);
}

static int
key_cmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

static void
families_print(FILE *f, json_t *families)
{
	const char **names, *key;
	json_t *fam, *sample;
	size_t i, j, n;

	n = json_object_size(families);
	if (n == 0 || (names = calloc(n, sizeof(*names))) == NULL) {
		return;
	}
	i = 0;
	json_object_foreach(families, key, fam) {
		names[i++] = key;
	}
	/* One block per family, in a stable order for diffing scrapes. */
	qsort(names, n, sizeof(*names), key_cmp);
	for (i = 0; i < n; i++) {
		fam = json_object_get(families, names[i]);
		fprintf(f, "# TYPE %s untyped\n", names[i]);
		json_array_foreach(fam, j, sample) {
			fprintf(f, "%s{service=\"", names[i]);
			metric_label(f, json_string_value(
			    json_array_get(sample, 0)));
			fputs("\",instance=\"", f);
			metric_label(f, json_string_value(
			    json_array_get(sample, 1)));
			fputs("\"} ", f);
			metric_value(f, json_array_get(sample, 2));
			fputc('\n', f);
		}
	}
	free(names);
}

char *
sup_render_metrics(const struct sup_view *v, size_t *len)
{
	const struct sup_report *r;
	const struct sup_proc *p;
	json_t *families;
	char *text = NULL;
	size_t i;
	FILE *f;

	if ((f = open_memstream(&text, len)) == NULL) {
		return (NULL);
	}
	fprintf(f, "# HELP epsip_uptime_seconds Seconds since epsipd "
	    "started.\n# TYPE epsip_uptime_seconds gauge\n"
	    "epsip_uptime_seconds %llu\n",
	    (unsigned long long)((v->now_ms - v->started_ms) / 1000));
	fputs("# HELP epsip_up 1 while the service process runs.\n"
	    "# TYPE epsip_up gauge\n", f);
	for (i = 0; i < v->nprocs; i++) {
		fprintf(f, "epsip_up{service=\"%s\"} %d\n", v->procs[i].name,
		    v->procs[i].pid > 0);
	}
	fputs("# HELP epsip_restarts_total Times epsipd restarted the "
	    "service.\n# TYPE epsip_restarts_total counter\n", f);
	for (i = 0; i < v->nprocs; i++) {
		fprintf(f, "epsip_restarts_total{service=\"%s\"} %u\n",
		    v->procs[i].name, v->procs[i].restarts);
	}
	if ((families = json_object()) != NULL) {
		TAILQ_FOREACH(r, &v->reports->all, entry) {
			p = report_owner(v, r);
			if (p != NULL && families_add_report(families, r) ==
			    -1) {
				break;
			}
		}
		families_print(f, families);
		json_decref(families);
	}
	if (fclose(f) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}
