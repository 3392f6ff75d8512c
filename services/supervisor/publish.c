/*
 * publish.c -- turn epsipd's state into what the outside sees.
 *
 * After every event an operator would notice, and once a second, the
 * loop thread renders /stats, /health and /metrics from the process table
 * and the report store and hands them to http_stats.c.  The health
 * verdict is also where READY=1 and STATUS= for systemd come from, and
 * where health transitions are logged, so the journal, systemd and a
 * load balancer polling /health always tell the same story.
 *
 * DIAGNOSTICS: none fatal.  A rendering that runs out of memory keeps
 * the previous document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/stats.h"

#include "http_stats.h"
#include "notify.h"
#include "supervisor.h"

/* epsipd's own counters, rendered beside the services' reports. */
static void
sup_self_report(struct supervisor *sup)
{
	struct sup_report *self = &sup->self;
	json_t *stats;

	if ((stats = json_pack("{s:o}", "counters", stats_to_json())) ==
	    NULL) {
		return;		/* out of memory: the last one stays */
	}
	json_decref(self->stats);
	self->stats = stats;
	self->pid = getpid();
	snprintf(self->service, sizeof(self->service), "epsipd");
	snprintf(self->instance, sizeof(self->instance), "epsipd");
}

static void
sup_view(struct supervisor *sup, struct sup_view *v)
{
	memset(v, 0, sizeof(*v));
	v->version = EPSIP_VERSION;
	v->now_ms = monotonic_ms();
	v->started_ms = sup->started_ms;
	v->was_ready = sup->was_ready;
	v->procs = sup->procs;
	v->nprocs = SUP_NPROCS;
	v->reports = &sup->reports;
	sup_self_report(sup);
	v->self = &sup->self;
}

/* json_dumps() plus a trailing newline, for people using curl. */
char *
sup_dump(json_t *doc, size_t *len)
{
	char *text, *nl;
	size_t n;

	if (doc == NULL) {
		return (NULL);
	}
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL) {
		return (NULL);
	}
	n = strlen(text);
	if ((nl = realloc(text, n + 2)) == NULL) {
		free(text);
		return (NULL);
	}
	nl[n] = '\n';
	nl[n + 1] = '\0';
	*len = n + 1;
	return (nl);
}

/* "sip-router, flow-manager" from a health body's "down" array. */
static void
sup_down_names(json_t *body, char *buf, size_t cap)
{
	json_t *name;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach(json_object_get(body, "down"), i, name) {
		if (n < cap) {
			n += (size_t)snprintf(buf + n, cap - n, "%s%s",
			    i > 0 ? ", " : "", json_string_value(name));
		}
	}
}

/* Health first: READY=1 and transitions are logged from here. */
static void
sup_check_health(struct supervisor *sup, const struct sup_view *v)
{
	enum sup_health_state state;
	char down[256];
	json_t *body;
	size_t len;
	char *text;

	state = sup_health(v, &body);
	sup_down_names(body, down, sizeof(down));
	if (sup->http == NULL) {
		json_decref(body);
	} else if ((text = sup_dump(body, &len)) != NULL) {
		sup_http_publish(sup->http, SUP_HTTP_HEALTH,
		    sup_health_http_status(state), text, len);
	}
	if (state == sup->health || sup->stopping) {
		return;
	}
	if (state == SUP_HEALTH_OK) {
		log_info("all services ready");
		if (!sup->was_ready) {
			sup->was_ready = 1;
			sup_notify("READY=1\nSTATUS=running");
		} else {
			sup_notify("STATUS=running");
		}
	} else if (state == SUP_HEALTH_DEGRADED) {
		log_warnx("health degraded, down: %s", down);
		sup_notify("STATUS=degraded, down: %s", down);
	}
	sup->health = state;
}

/* Re-render everything served over HTTP. */
void
sup_publish(struct supervisor *sup)
{
	struct sup_view v;
	size_t len;
	char *text;

	sup_view(sup, &v);
	sup_check_health(sup, &v);
	if (sup->http == NULL) {
		return;
	}
	if ((text = sup_dump(sup_render_stats(&v), &len)) != NULL) {
		sup_http_publish(sup->http, SUP_HTTP_STATS, 200, text, len);
	}
	if ((text = sup_render_metrics(&v, &len)) != NULL) {
		sup_http_publish(sup->http, SUP_HTTP_METRICS, 200, text,
		    len);
	}
}
