/*
 * ctl.c -- what epsipctl prints, from the documents epsipd serves.
 *
 * Pure functions of the answers (GET /health, GET /stats, GET /flows,
 * POST /reload, POST /drain),
 * so that the unit tests can check every line without an epsipd.  A
 * field epsipd does not send (an older epsipd, a service never started)
 * prints as "-" rather than stopping the command.
 * DIAGNOSTICS: none; the caller turns return values into exit codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"

int
ctl_parse_reply(char *raw, size_t len, struct ctl_reply *reply)
{
	char *end, *line, *eol;
	unsigned long clen;
	int status;

	memset(reply, 0, sizeof(*reply));
	if (sscanf(raw, "HTTP/1.%*[01] %3d", &status) != 1 || status < 100 ||
	    status > 599 || (end = strstr(raw, "\r\n\r\n")) == NULL) {
		return (-1);
	}
	reply->status = status;
	reply->raw = raw;
	reply->body = end + 4;
	reply->len = len - (size_t)(reply->body - raw);
	/* Headers: only Content-Length matters, and may cut the body. */
	for (line = strstr(raw, "\r\n") + 2; line < end; line = eol + 2) {
		eol = strstr(line, "\r\n");
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			clen = strtoul(line + 15, NULL, 10);
			if (clen < reply->len) {
				reply->len = clen;
				raw[reply->body - raw + (ptrdiff_t)clen] = '\0';
			}
		}
	}
	return (0);
}

void
ctl_reply_free(struct ctl_reply *reply)
{
	free(reply->raw);
	memset(reply, 0, sizeof(*reply));
}

void
ctl_duration(long long seconds, char *buf, size_t cap)
{
	if (seconds < 0) {
		snprintf(buf, cap, "-");
	} else if (seconds >= 3600) {
		snprintf(buf, cap, "%lldh%02lldm%02llds", seconds / 3600,
		    seconds / 60 % 60, seconds % 60);
	} else if (seconds >= 60) {
		snprintf(buf, cap, "%lldm%02llds", seconds / 60, seconds % 60);
	} else {
		snprintf(buf, cap, "%llds", seconds);
	}
}

static void
ctl_print_scalar(FILE *out, json_t *v)
{
	if (json_is_string(v)) {
		fputs(json_string_value(v), out);
	} else if (json_is_integer(v)) {
		fprintf(out, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		fprintf(out, "%.17g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		fputs(json_is_true(v) ? "true" : "false", out);
	} else {
		fputs("null", out);
	}
}

void
ctl_print_flat(FILE *out, const char *prefix, json_t *doc)
{
	const char *key;
	char *name;
	size_t i, n;
	json_t *v;

	if (!json_is_object(doc) && !json_is_array(doc)) {
		fprintf(out, "%s=", prefix);
		ctl_print_scalar(out, doc);
		fputc('\n', out);
		return;
	}
	n = strlen(prefix) + 32;
	if (json_is_array(doc)) {
		json_array_foreach(doc, i, v) {
			if ((name = malloc(n)) == NULL) {
				return;
			}
			snprintf(name, n, "%s%s%zu", prefix,
			    prefix[0] ? "." : "", i);
			ctl_print_flat(out, name, v);
			free(name);
		}
		return;
	}
	json_object_foreach(doc, key, v) {
		if ((name = malloc(n + strlen(key))) == NULL) {
			return;
		}
		snprintf(name, n + strlen(key), "%s%s%s", prefix,
		    prefix[0] ? "." : "", key);
		ctl_print_flat(out, name, v);
		free(name);
	}
}

/* An integer field as text, "-" when missing or null. */
static void
ctl_int_text(json_t *obj, const char *key, char *buf, size_t cap)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v)) {
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
	} else {
		snprintf(buf, cap, "-");
	}
}

static const char *
ctl_service_state(json_t *svc)
{
	if (!json_is_true(json_object_get(svc, "up"))) {
		return ("down");
	}
	return (json_is_true(json_object_get(svc, "ready")) ? "ready" :
	    "starting");
}

static void
ctl_print_service(FILE *out, const char *name, json_t *svc)
{
	char pid[24], restarts[24], up[32];
	json_t *uptime = json_object_get(svc, "uptime_s");

	ctl_int_text(svc, "pid", pid, sizeof(pid));
	ctl_int_text(svc, "restarts", restarts, sizeof(restarts));
	ctl_duration(json_is_integer(uptime) ?
	    (long long)json_integer_value(uptime) : -1, up, sizeof(up));
	fprintf(out, "%-18s %-9s %-8s %-10s %s\n", name,
	    ctl_service_state(svc), pid, up, restarts);
}

int
ctl_print_status(FILE *out, json_t *health, json_t *stats)
{
	const char *verdict, *name;
	char pid[24], up[32];
	json_t *down, *item, *svc;
	size_t i;

	verdict = json_string_value(json_object_get(health, "status"));
	if (verdict == NULL) {
		verdict = "unknown";
	}
	fprintf(out, "health: %s", verdict);
	down = json_object_get(health, "down");
	json_array_foreach(down, i, item) {
		fprintf(out, "%s%s", i == 0 ? " (down: " : ", ",
		    json_is_string(item) ? json_string_value(item) : "?");
	}
	fputs(json_array_size(down) > 0 ? ")\n" : "\n", out);
	ctl_int_text(json_object_get(stats, "epsipd"), "pid", pid,
	    sizeof(pid));
	item = json_object_get(stats, "uptime_s");
	ctl_duration(json_is_integer(item) ?
	    (long long)json_integer_value(item) : -1, up, sizeof(up));
	name = json_string_value(json_object_get(stats, "version"));
	fprintf(out, "epsipd %s: pid %s, up %s\n", name != NULL ? name : "-",
	    pid, up);
	fprintf(out, "%-18s %-9s %-8s %-10s %s\n", "SERVICE", "STATE", "PID",
	    "UPTIME", "RESTARTS");
	json_object_foreach(json_object_get(stats, "services"), name, svc) {
		ctl_print_service(out, name, svc);
	}
	return (strcmp(verdict, "ok") == 0 ? CTL_EXIT_OK : CTL_EXIT_REFUSED);
}

/* "log-level, max-flows" of a JSON array of names. */
static void
ctl_print_names(FILE *out, json_t *names)
{
	json_t *item;
	size_t i;

	json_array_foreach(names, i, item) {
		fprintf(out, "%s%s", i > 0 ? ", " : "",
		    json_is_string(item) ? json_string_value(item) : "?");
	}
	fputc('\n', out);
}

/*
 * A POST's answer that is not {"ok": true}: said on err as `what`'s, and
 * the exit code; -1 when it is a yes.
 */
static int
ctl_refusal(FILE *err, const char *what, int status, json_t *answer)
{
	const char *why;

	if (!json_is_object(answer)) {
		fprintf(err, "epsipctl: %s: HTTP %d without an answer\n", what,
		    status);
		return (CTL_EXIT_UNREACHABLE);
	}
	if (status != 200 || !json_is_true(json_object_get(answer, "ok"))) {
		why = json_string_value(json_object_get(answer, "error"));
		fprintf(err, "epsipctl: %s refused (HTTP %d): %s\n", what,
		    status, why != NULL ? why : "no reason given");
		return (CTL_EXIT_REFUSED);
	}
	return (-1);
}

int
ctl_print_reload(FILE *out, FILE *err, int status, json_t *answer)
{
	json_t *applied, *restart, *told;
	int rv;

	if ((rv = ctl_refusal(err, "reload", status, answer)) != -1) {
		return (rv);
	}
	applied = json_object_get(answer, "applied");
	restart = json_object_get(answer, "restart_needed");
	told = json_object_get(answer, "signalled");
	fprintf(out, "reloaded: %lld service%s told\n", json_is_integer(told) ?
	    (long long)json_integer_value(told) : 0LL,
	    json_integer_value(told) == 1 ? "" : "s");
	if (json_array_size(applied) > 0) {
		fputs("applied: ", out);
		ctl_print_names(out, applied);
	} else {
		fputs("applied: nothing changed\n", out);
	}
	if (json_array_size(restart) > 0) {
		fputs("changed, needs a restart: ", out);
		ctl_print_names(out, restart);
	}
	return (CTL_EXIT_OK);
}

int
ctl_print_drain(FILE *out, FILE *err, int status, json_t *answer)
{
	int rv;

	if ((rv = ctl_refusal(err, "drain", status, answer)) != -1) {
		return (rv);
	}
	fprintf(out, "draining instance %lld: no new flows; it leaves once "
	    "its flows are gone or drain-timeout has passed\n",
	    (long long)json_integer_value(json_object_get(answer,
	    "instance")));
	return (CTL_EXIT_OK);
}

/* Append "name=value", value percent-encoded but for RFC 3986's unreserved. */
static int
ctl_query_add(char *buf, size_t cap, size_t *len, const char *name,
    const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	int n;

	if (value == NULL) {
		return (0);
	}
	n = snprintf(buf + *len, cap - *len, "%c%s=", strchr(buf, '?') ==
	    NULL ? '?' : '&', name);
	if (n < 0 || (size_t)n >= cap - *len) {
		return (-1);
	}
	*len += (size_t)n;
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0';
	    p++) {
		if (*len + 4 > cap) {
			return (-1);
		}
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
			buf[(*len)++] = (char)*p;
		} else {
			buf[(*len)++] = '%';
			buf[(*len)++] = hex[*p >> 4];
			buf[(*len)++] = hex[*p & 15];
		}
		buf[*len] = '\0';
	}
	return (0);
}

int
ctl_flows_path(const struct ctl_flows_args *args, char *buf, size_t cap)
{
	size_t len;

	if (snprintf(buf, cap, "/flows") >= (int)cap) {
		return (-1);
	}
	len = strlen(buf);
	if (ctl_query_add(buf, cap, &len, "aor", args->aor) == -1 ||
	    ctl_query_add(buf, cap, &len, "transport", args->transport) ==
	    -1 ||
	    ctl_query_add(buf, cap, &len, "instance", args->instance) == -1 ||
	    ctl_query_add(buf, cap, &len, "offset", args->offset) == -1 ||
	    ctl_query_add(buf, cap, &len, "limit", args->limit) == -1) {
		return (-1);
	}
	return (0);
}

#define CTL_FLOW_COLUMNS	7

/* One flow's cells, in the table's order. */
static void
ctl_flow_cells(json_t *flow, char cell[CTL_FLOW_COLUMNS][160])
{
	static const char *const keys[] = { "id", "transport", "remote",
	    "local", "aor" };
	json_t *v;
	size_t i;

	for (i = 0; i < 5; i++) {
		v = json_object_get(flow, keys[i]);
		snprintf(cell[i], sizeof(cell[i]), "%s", json_is_string(v) ?
		    json_string_value(v) : "-");
	}
	v = json_object_get(flow, "age_s");
	ctl_duration(json_is_integer(v) ? json_integer_value(v) : -1,
	    cell[5], sizeof(cell[5]));
	v = json_object_get(flow, "idle_s");
	ctl_duration(json_is_integer(v) ? json_integer_value(v) : -1,
	    cell[6], sizeof(cell[6]));
}

/* One line of the table, each cell but the last padded to its column. */
static void
ctl_print_row(FILE *out, const char *const cell[CTL_FLOW_COLUMNS],
    const int width[CTL_FLOW_COLUMNS])
{
	for (size_t c = 0; c + 1 < CTL_FLOW_COLUMNS; c++) {
		fprintf(out, "%-*s  ", width[c], cell[c]);
	}
	fprintf(out, "%s\n", cell[CTL_FLOW_COLUMNS - 1]);
}

int
ctl_print_flows(FILE *out, FILE *err, int status, json_t *answer)
{
	static const char *const heads[CTL_FLOW_COLUMNS] = { "TOKEN-ID",
	    "TRANSPORT", "REMOTE", "LOCAL", "AOR", "AGE", "IDLE" };
	char cell[CTL_FLOW_COLUMNS][160];
	const char *row[CTL_FLOW_COLUMNS];
	int width[CTL_FLOW_COLUMNS];
	json_t *flows, *flow;
	const char *why;
	size_t i, c;

	if (!json_is_object(answer)) {
		fprintf(err, "epsipctl: flows: HTTP %d without an answer\n",
		    status);
		return (CTL_EXIT_UNREACHABLE);
	}
	flows = json_object_get(answer, "flows");
	if (status != 200 || !json_is_array(flows)) {
		why = json_string_value(json_object_get(answer, "error"));
		fprintf(err, "epsipctl: flows refused (HTTP %d): %s\n",
		    status, why != NULL ? why : "no reason given");
		return (CTL_EXIT_REFUSED);
	}
	/* Each column as wide as its widest cell. */
	for (c = 0; c < CTL_FLOW_COLUMNS; c++) {
		width[c] = (int)strlen(heads[c]);
	}
	json_array_foreach(flows, i, flow) {
		ctl_flow_cells(flow, cell);
		for (c = 0; c < CTL_FLOW_COLUMNS; c++) {
			if ((int)strlen(cell[c]) > width[c]) {
				width[c] = (int)strlen(cell[c]);
			}
		}
	}
	ctl_print_row(out, heads, width);
	for (c = 0; c < CTL_FLOW_COLUMNS; c++) {
		row[c] = cell[c];
	}
	json_array_foreach(flows, i, flow) {
		ctl_flow_cells(flow, cell);
		ctl_print_row(out, row, width);
	}
	fprintf(out, "%zu of %lld flows (offset %lld)\n", json_array_size(flows),
	    (long long)json_integer_value(json_object_get(answer, "total")),
	    (long long)json_integer_value(json_object_get(answer, "offset")));
	if (!json_is_true(json_object_get(answer, "complete"))) {
		fputs("incomplete: some flow-manager children did not answer "
		    "in time; their flows are missing\n", out);
	}
	return (CTL_EXIT_OK);
}
