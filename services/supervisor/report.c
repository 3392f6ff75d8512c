/*
 * report.c -- HELLO and STATS documents, kept per instance.
 *
 * Reports come from EPSIP processes we started, but they are parsed like
 * any input: a malformed one is refused with a reason for the caller to
 * log, and never kills the supervisor (that would take every flow down
 * for one buggy counter).  Pure code: no I/O, no clock, no diagnostics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/hash.h"

#include "report.h"

static unsigned
report_hash(const char *name)
{
	return (fnv1a_str(name) % SUP_REPORT_BUCKETS);
}

void
sup_reports_init(struct sup_reports *rs)
{
	memset(rs, 0, sizeof(*rs));
	TAILQ_INIT(&rs->all);
}

static void
report_free(struct sup_report *r)
{
	json_decref(r->stats);
	json_decref(r->version);
	free(r);
}

void
sup_reports_clear(struct sup_reports *rs)
{
	struct sup_report *r;

	while ((r = TAILQ_FIRST(&rs->all)) != NULL) {
		TAILQ_REMOVE(&rs->all, r, entry);
		report_free(r);
	}
	sup_reports_init(rs);
}

struct sup_report *
sup_reports_find(const struct sup_reports *rs, const char *instance)
{
	struct sup_report *r;

	SLIST_FOREACH(r, &rs->bucket[report_hash(instance)], hlink) {
		if (strcmp(r->instance, instance) == 0) {
			return (r);
		}
	}
	return (NULL);
}

void
sup_reports_remove(struct sup_reports *rs, struct sup_report *r)
{
	SLIST_REMOVE(&rs->bucket[report_hash(r->instance)], r, sup_report,
	    hlink);
	TAILQ_REMOVE(&rs->all, r, entry);
	rs->count--;
	report_free(r);
}

int
sup_reports_forget(struct sup_reports *rs, const char *instance, pid_t pid)
{
	struct sup_report *r;

	if ((r = sup_reports_find(rs, instance)) == NULL || r->pid != pid) {
		return (0);
	}
	sup_reports_remove(rs, r);
	return (1);
}

static struct sup_report *
report_insert(struct sup_reports *rs, const char *instance)
{
	struct sup_report *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		return (NULL);
	}
	/* Length checked by the caller. */
	memcpy(r->instance, instance, strlen(instance) + 1);
	SLIST_INSERT_HEAD(&rs->bucket[report_hash(instance)], r, hlink);
	TAILQ_INSERT_TAIL(&rs->all, r, entry);
	rs->count++;
	return (r);
}

/* A non-empty string field shorter than SUP_NAME_MAX, or NULL. */
static const char *
report_name(json_t *doc, const char *key, char *err, size_t errcap)
{
	const char *s;
	json_t *v;

	v = json_object_get(doc, key);
	if (v == NULL || (s = json_string_value(v)) == NULL || *s == '\0') {
		snprintf(err, errcap, "\"%s\" missing or not a string", key);
		return (NULL);
	}
	if (strlen(s) >= SUP_NAME_MAX) {
		snprintf(err, errcap, "\"%s\" longer than %d bytes", key,
		    SUP_NAME_MAX - 1);
		return (NULL);
	}
	return (s);
}

static int
report_check(json_t *doc, enum sup_report_kind kind, char *err,
    size_t errcap)
{
	const char *key;
	json_t *counters, *pid, *v;

	if (!json_is_object(doc)) {
		snprintf(err, errcap, "not a JSON object");
		return (-1);
	}
	pid = json_object_get(doc, "pid");
	if (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
	    json_integer_value(pid) > 0x7fffffff) {
		snprintf(err, errcap, "\"pid\" missing or not a positive "
		    "integer");
		return (-1);
	}
	if (kind != SUP_REPORT_STATS) {
		return (0);
	}
	counters = json_object_get(doc, "counters");
	if (counters == NULL) {
		return (0);
	}
	if (!json_is_object(counters)) {
		snprintf(err, errcap, "\"counters\" is not an object");
		return (-1);
	}
	json_object_foreach(counters, key, v) {
		if (!json_is_number(v)) {
			snprintf(err, errcap, "counter \"%.64s\" is not a "
			    "number", key);
			return (-1);
		}
	}
	return (0);
}

struct sup_report *
sup_reports_update(struct sup_reports *rs, enum sup_report_kind kind,
    const char *json, size_t len, uint64_t now_ms, char *err, size_t errcap)
{
	struct sup_report *r;
	json_error_t jerr;
	const char *service, *instance;
	json_t *doc;
	pid_t pid;

	if ((doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errcap, "bad JSON: %s", jerr.text);
		return (NULL);
	}
	if (report_check(doc, kind, err, errcap) == -1 ||
	    (service = report_name(doc, "service", err, errcap)) == NULL) {
		json_decref(doc);
		return (NULL);
	}
	/* A service with a single process may leave "instance" out. */
	if (json_object_get(doc, "instance") == NULL) {
		instance = service;
	} else if ((instance = report_name(doc, "instance", err, errcap)) ==
	    NULL) {
		json_decref(doc);
		return (NULL);
	}
	pid = (pid_t)json_integer_value(json_object_get(doc, "pid"));

	r = sup_reports_find(rs, instance);
	if (r != NULL && r->pid != pid) {
		/* Restarted (or a reused child name): start afresh. */
		sup_reports_remove(rs, r);
		r = NULL;
	}
	if (r == NULL) {
		if ((r = report_insert(rs, instance)) == NULL) {
			snprintf(err, errcap, "out of memory");
			json_decref(doc);
			return (NULL);
		}
		r->pid = pid;
		r->first_ms = now_ms;
	}
	memcpy(r->service, service, strlen(service) + 1);
	r->last_ms = now_ms;
	if (kind == SUP_REPORT_HELLO) {
		r->hello = 1;
		json_decref(r->version);
		r->version = json_incref(json_object_get(doc, "version"));
		json_decref(doc);
	} else {
		json_decref(r->stats);
		r->stats = doc;
		r->rounds++;
	}
	return (r);
}

size_t
sup_reports_expire(struct sup_reports *rs, uint64_t now_ms,
    uint64_t max_age_ms, int (*alive)(pid_t pid))
{
	struct sup_report *r, *next;
	size_t dropped = 0;

	for (r = TAILQ_FIRST(&rs->all); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (now_ms >= r->last_ms + max_age_ms ||
		    (alive != NULL && !alive(r->pid))) {
			sup_reports_remove(rs, r);
			dropped++;
		}
	}
	return (dropped);
}
