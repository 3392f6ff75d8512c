/*
 * supervisor_stats_test.c -- what GET /stats and GET /metrics show
 * (services/supervisor/report.c, aggregate.c).
 *
 * Reports are fed as the JSON documents services send; the view is
 * rendered and checked field by field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/metrics.h"

#include "../../services/supervisor/aggregate.h"

#define PID_BRIDGE	100
#define PID_ROUTER	200
#define PID_FM		300

struct fixture {
	struct sup_proc procs[SUP_NPROCS];
	struct sup_reports reports;
	struct sup_view view;
};

static int
setup(void **state)
{
	struct fixture *f;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	sup_procs_init(f->procs, NULL, 1);
	f->procs[0].pid = PID_BRIDGE;
	f->procs[1].pid = PID_ROUTER;
	f->procs[2].pid = PID_FM;
	sup_reports_init(&f->reports);
	f->view.version = "9.9.9";
	f->view.started_ms = 1000;
	f->view.now_ms = 11000;
	f->view.procs = f->procs;
	f->view.nprocs = SUP_NPROCS;
	f->view.reports = &f->reports;
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	sup_reports_clear(&f->reports);
	free(f);
	return (0);
}

static void
feed(struct fixture *f, enum sup_report_kind kind, uint64_t now,
    const char *json)
{
	char err[160];

	if (sup_reports_update(&f->reports, kind, json, strlen(json), now,
	    err, sizeof(err)) == NULL) {
		fail_msg("report refused: %s\n%s", err, json);
	}
}

static json_t *
render(struct fixture *f)
{
	json_t *stats;

	stats = sup_render_stats(&f->view);
	assert_non_null(stats);
	return (stats);
}

static json_int_t
get_int(json_t *doc, const char *path)
{
	char buf[256], *key, *save = NULL;
	json_t *v = doc;

	snprintf(buf, sizeof(buf), "%s", path);
	for (key = strtok_r(buf, "/", &save); key != NULL;
	    key = strtok_r(NULL, "/", &save)) {
		v = json_object_get(v, key);
		if (v == NULL) {
			fail_msg("no %s in the document (at %s)", path, key);
		}
	}
	if (!json_is_integer(v)) {
		fail_msg("%s is not an integer", path);
	}
	return (json_integer_value(v));
}

static void
feed_full_set(struct fixture *f)
{
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"registrar-bridge\",\"instance\":"
	    "\"registrar-bridge\",\"pid\":100,\"counters\":"
	    "{\"sip.in\":5,\"bindings\":2}}");
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"sip-router\",\"instance\":\"sip-router\","
	    "\"pid\":200,\"rss_kib\":2700,\"counters\":{\"sip.in\":7}}");
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager\",\"instance\":\"flow-manager\","
	    "\"pid\":300,\"children\":2,\"counters\":"
	    "{\"flows.opened\":1}}");
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager\",\"instance\":\"fm1-c1\","
	    "\"pid\":301,\"flows\":3,\"rss_kib\":2800,\"private_kib\":190,"
	    "\"counters\":{\"flows.opened\":10,\"sip.in\":100}}");
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager\",\"instance\":\"fm1-c2\","
	    "\"pid\":302,\"flows\":4,\"rss_kib\":2900,\"private_kib\":200,"
	    "\"counters\":{\"flows.opened\":20,\"sip.in\":1000}}");
}

static void
test_stats_has_version_uptime_and_every_service(void **state)
{
	struct fixture *f = *state;
	json_t *stats, *svc;

	stats = render(f);
	assert_string_equal(json_string_value(json_object_get(stats,
	    "version")), "9.9.9");
	assert_int_equal(get_int(stats, "uptime_s"), 10);
	svc = json_object_get(stats, "services");
	assert_int_equal(json_object_size(svc), 3);
	assert_int_equal(get_int(stats, "services/sip-router/pid"),
	    PID_ROUTER);
	assert_true(json_is_true(json_object_get(json_object_get(svc,
	    "sip-router"), "up")));
	assert_int_equal(get_int(stats, "services/sip-router/restarts"), 0);
	assert_true(json_is_object(json_object_get(json_object_get(svc,
	    "sip-router"), "counters")));
	/* The flow-manager always has a children object, even empty. */
	assert_true(json_is_object(json_object_get(json_object_get(svc,
	    "flow-manager"), "children")));
	assert_null(json_object_get(json_object_get(svc, "sip-router"),
	    "children"));
	json_decref(stats);
}

static void
test_stats_totals_sum_every_instance(void **state)
{
	struct fixture *f = *state;
	json_t *stats;

	feed_full_set(f);
	stats = render(f);
	assert_int_equal(get_int(stats, "totals/sip.in"), 5 + 7 + 100 + 1000);
	assert_int_equal(get_int(stats, "totals/flows.opened"), 1 + 10 + 20);
	assert_int_equal(get_int(stats, "totals/bindings"), 2);
	assert_int_equal(get_int(stats,
	    "services/sip-router/counters/sip.in"), 7);
	assert_int_equal(get_int(stats, "services/sip-router/rss_kib"), 2700);
	json_decref(stats);
}

static void
test_stats_children_are_listed_under_their_service(
    void **state)
{
	struct fixture *f = *state;
	json_t *stats, *children;

	feed_full_set(f);
	stats = render(f);
	children = json_object_get(json_object_get(json_object_get(stats,
	    "services"), "flow-manager"), "children");
	assert_true(json_is_object(children));
	assert_int_equal(json_object_size(children), 2);
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c1/pid"), 301);
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c1/flows"), 3);
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c2/private_kib"), 200);
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c2/counters/sip.in"), 1000);
	/* The parent's own counters are its own, not its children's. */
	assert_int_equal(get_int(stats,
	    "services/flow-manager/counters/flows.opened"), 1);
	assert_null(json_object_get(children, "flow-manager"));
	json_decref(stats);
}

static void
test_stats_children_merge_parent_list_and_own_reports(
    void **state)
{
	struct fixture *f = *state;
	json_t *stats;

	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager\",\"instance\":\"flow-manager\","
	    "\"pid\":300,\"children\":{\"fm1-c1\":{\"pid\":301,\"flows\":5},"
	    "\"fm1-c9\":{\"pid\":309,\"flows\":1},\"junk\":3},"
	    "\"counters\":{}}");
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager\",\"instance\":\"fm1-c1\","
	    "\"pid\":301,\"flows\":3,\"rss_kib\":2800,"
	    "\"counters\":{\"sip.in\":100}}");
	stats = render(f);
	/* Known to the parent only: still listed, no round of its own. */
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c9/flows"), 1);
	assert_null(json_object_get(json_object_get(json_object_get(
	    json_object_get(json_object_get(stats, "services"),
	    "flow-manager"), "children"), "fm1-c9"), "round"));
	/* Both: the child's own numbers win, the parent's fill the gaps. */
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c1/flows"), 3);
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c1/rss_kib"), 2800);
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c1/counters/sip.in"), 100);
	assert_null(json_object_get(json_object_get(json_object_get(
	    json_object_get(stats, "services"), "flow-manager"), "children"),
	    "junk"));
	json_decref(stats);
}

static void
test_stats_expired_instances_are_dropped(void **state)
{
	struct fixture *f = *state;
	json_t *stats;
	size_t dropped;

	feed_full_set(f);
	/* Only fm1-c2 keeps talking. */
	feed(f, SUP_REPORT_STATS, 19000,
	    "{\"service\":\"flow-manager\",\"instance\":\"fm1-c2\","
	    "\"pid\":302,\"counters\":{\"sip.in\":1001}}");
	dropped = sup_reports_expire(&f->reports, 20000, 10000, NULL);
	assert_int_equal(dropped, 4);
	f->view.now_ms = 20000;
	stats = render(f);
	assert_int_equal(get_int(stats, "totals/sip.in"), 1001);
	assert_int_equal(json_object_size(json_object_get(json_object_get(
	    json_object_get(stats, "services"), "flow-manager"), "children")),
	    1);
	assert_int_equal(json_object_size(json_object_get(json_object_get(
	    json_object_get(stats, "services"), "sip-router"), "counters")),
	    0);
	json_decref(stats);
}

/* "round": STATS reports from the running pid, so a test can wait for
 * the next one instead of sleeping. */
static void
test_stats_round_counts_the_reports_of_this_pid(void **state)
{
	struct fixture *f = *state;
	const char *router = "{\"service\":\"sip-router\",\"pid\":200,"
	    "\"counters\":{}}";
	json_t *stats;
	size_t len;
	char *text;

	stats = render(f);
	assert_int_equal(get_int(stats, "services/sip-router/round"), 0);
	json_decref(stats);
	feed_full_set(f);
	feed(f, SUP_REPORT_HELLO, 10000, "{\"service\":\"sip-router\","
	    "\"pid\":200,\"version\":\"0.1.0\"}");
	feed(f, SUP_REPORT_STATS, 11000, router);
	feed(f, SUP_REPORT_STATS, 12000, router);
	feed(f, SUP_REPORT_STATS, 12000,
	    "{\"service\":\"flow-manager\",\"instance\":\"fm1-c2\","
	    "\"pid\":302,\"counters\":{}}");
	stats = render(f);
	/* A HELLO is not a round. */
	assert_int_equal(get_int(stats, "services/sip-router/round"), 3);
	assert_int_equal(get_int(stats, "services/registrar-bridge/round"),
	    1);
	assert_int_equal(get_int(stats, "services/flow-manager/round"), 1);
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c1/round"), 1);
	assert_int_equal(get_int(stats,
	    "services/flow-manager/children/fm1-c2/round"), 2);
	json_decref(stats);
	/* Not a gauge of its own in /metrics. */
	assert_non_null(text = sup_render_metrics(&f->view, &len));
	assert_null(strstr(text, "round"));
	free(text);
	/* A restarted service starts again from its first report. */
	f->procs[1].pid = 201;
	stats = render(f);
	assert_int_equal(get_int(stats, "services/sip-router/round"), 0);
	json_decref(stats);
	feed(f, SUP_REPORT_STATS, 13000, "{\"service\":\"sip-router\","
	    "\"pid\":201,\"counters\":{}}");
	stats = render(f);
	assert_int_equal(get_int(stats, "services/sip-router/round"), 1);
	json_decref(stats);
}

static int
alive_except_301(pid_t pid)
{
	return (pid != 301);
}

static void
test_stats_instances_whose_pid_is_gone_are_dropped(void **state)
{
	struct fixture *f = *state;
	json_t *stats;

	feed_full_set(f);
	assert_int_equal(sup_reports_expire(&f->reports, 10500, 10000,
	    alive_except_301), 1);
	assert_null(sup_reports_find(&f->reports, "fm1-c1"));
	stats = render(f);
	assert_int_equal(get_int(stats, "totals/flows.opened"), 1 + 20);
	json_decref(stats);
}

static void
test_stats_dead_incarnation_counters_are_not_shown(void **state)
{
	struct fixture *f = *state;
	json_t *stats;

	feed_full_set(f);
	/* The router died; its report stays until forgotten or expired. */
	f->procs[1].pid = 0;
	f->procs[1].restarts = 1;
	stats = render(f);
	assert_true(json_is_null(json_object_get(json_object_get(
	    json_object_get(stats, "services"), "sip-router"), "pid")));
	assert_true(json_is_false(json_object_get(json_object_get(
	    json_object_get(stats, "services"), "sip-router"), "up")));
	assert_int_equal(get_int(stats, "services/sip-router/restarts"), 1);
	assert_int_equal(get_int(stats, "totals/sip.in"), 5 + 100 + 1000);
	json_decref(stats);
}

static void
test_reports_new_pid_replaces_the_old_incarnation(void **state)
{
	struct fixture *f = *state;
	struct sup_report *r;

	feed(f, SUP_REPORT_HELLO, 1000,
	    "{\"service\":\"sip-router\",\"instance\":\"sip-router\","
	    "\"pid\":200,\"version\":\"0.1.0\"}");
	feed(f, SUP_REPORT_STATS, 2000,
	    "{\"service\":\"sip-router\",\"pid\":200,"
	    "\"counters\":{\"a\":1}}");
	r = sup_reports_find(&f->reports, "sip-router");
	assert_non_null(r);
	assert_true(r->hello);
	assert_non_null(r->stats);
	feed(f, SUP_REPORT_STATS, 3000,
	    "{\"service\":\"sip-router\",\"pid\":201,"
	    "\"counters\":{\"a\":1}}");
	r = sup_reports_find(&f->reports, "sip-router");
	assert_int_equal(r->pid, 201);
	assert_false(r->hello);
	assert_int_equal(f->reports.count, 1);
	assert_int_equal(sup_reports_forget(&f->reports, "sip-router", 200),
	    0);
	assert_int_equal(sup_reports_forget(&f->reports, "sip-router", 201),
	    1);
	assert_int_equal(f->reports.count, 0);
}

static void
test_reports_refuse_malformed_documents(void **state)
{
	static const char *const bad[] = {
		"not json",
		"[1,2]",
		"{\"service\":\"sip-router\"}",
		"{\"service\":\"sip-router\",\"pid\":-4}",
		"{\"service\":\"sip-router\",\"pid\":\"7\"}",
		"{\"pid\":7}",
		"{\"service\":\"\",\"pid\":7}",
		"{\"service\":\"sip-router\",\"pid\":7,\"instance\":3}",
		"{\"service\":\"sip-router\",\"pid\":7,\"counters\":[]}",
		"{\"service\":\"sip-router\",\"pid\":7,\"counters\":"
		    "{\"a\":\"x\"}}",
		"{\"service\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxx\",\"pid\":7}",
	};
	struct fixture *f = *state;
	char err[160];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (sup_reports_update(&f->reports, SUP_REPORT_STATS, bad[i],
		    strlen(bad[i]), 1, err, sizeof(err)) != NULL) {
			fail_msg("accepted %s", bad[i]);
		}
		assert_true(err[0] != '\0');
	}
	assert_int_equal(f->reports.count, 0);
}

static void
test_reports_thousands_of_children_are_found_by_name(void **state)
{
	struct fixture *f = *state;
	char json[160], name[32];
	struct sup_report *r;
	int i;

	for (i = 1; i <= 5000; i++) {
		snprintf(json, sizeof(json), "{\"service\":\"flow-manager\","
		    "\"instance\":\"fm1-c%d\",\"pid\":%d}", i, 1000 + i);
		feed(f, SUP_REPORT_HELLO, 1, json);
	}
	assert_int_equal(f->reports.count, 5000);
	for (i = 1; i <= 5000; i += 499) {
		snprintf(name, sizeof(name), "fm1-c%d", i);
		r = sup_reports_find(&f->reports, name);
		assert_non_null(r);
		assert_int_equal(r->pid, 1000 + i);
	}
	assert_int_equal(sup_reports_expire(&f->reports, 10001, 10000, NULL),
	    5000);
	assert_true(TAILQ_EMPTY(&f->reports.all));
	assert_int_equal(f->reports.count, 0);
}

/* Reports with names from metrics.def, and one no build declares. */
static void
feed_declared_set(struct fixture *f)
{
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"sip-router\",\"instance\":\"sip-router\","
	    "\"pid\":200,\"rss_kib\":2700,\"counters\":"
	    "{\"sip.in.INVITE\":7,\"sip.in.other\":3,\"replies.430\":2,"
	    "\"overload.share_permille\":250,\"made.up\":9}}");
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager\",\"instance\":\"flow-manager\","
	    "\"pid\":300,\"flows\":4,\"counters\":"
	    "{\"flows.opened.udp\":1,\"ipc.redials\":1}}");
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager\",\"instance\":\"fm1-c2\","
	    "\"pid\":302,\"flows\":4,\"counters\":"
	    "{\"sip.from_flow\":1000,\"flows.owned.tcp\":4}}");
}

static void
assert_has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL) {
		fail_msg("no \"%s\" in:\n%s", line, text);
	}
}

static void
test_metrics_are_prometheus_lines_with_service_and_instance(void **state)
{
	struct fixture *f = *state;
	const char *type;
	size_t len;
	char *text;

	feed_declared_set(f);
	f->procs[1].restarts = 3;
	text = sup_render_metrics(&f->view, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_has(text, "\nepsip_sip_in_total{service=\"sip-router\","
	    "instance=\"sip-router\",method=\"INVITE\"} 7\n");
	assert_has(text, "\nepsip_sip_in_total{service=\"sip-router\","
	    "instance=\"sip-router\",method=\"other\"} 3\n");
	assert_has(text, "\nepsip_replies_total{service=\"sip-router\","
	    "instance=\"sip-router\",code=\"430\"} 2\n");
	assert_has(text, "\nepsip_flows_opened_total{service=\"flow-manager\","
	    "instance=\"flow-manager\",transport=\"udp\"} 1\n");
	assert_has(text, "\nepsip_sip_from_flow_total{service=\"flow-manager\","
	    "instance=\"fm1-c2\"} 1000\n");
	assert_has(text, "\nepsip_flows_owned{service=\"flow-manager\","
	    "instance=\"fm1-c2\",transport=\"tcp\"} 4\n");
	assert_has(text, "\nepsip_rss_kib{service=\"sip-router\","
	    "instance=\"sip-router\"} 2700\n");
	assert_has(text, "\nepsip_flows{service=\"flow-manager\","
	    "instance=\"flow-manager\"} 4\n");
	assert_has(text, "epsip_restarts_total{service=\"sip-router\"} 3\n");
	assert_has(text, "epsip_up{service=\"flow-manager\"} 1\n");
	assert_has(text, "epsip_uptime_seconds 10\n");
	assert_has(text, "\n# TYPE epsip_overload_share_permille gauge\n");
	assert_has(text, "\n# TYPE epsip_flows_owned gauge\n");
	assert_has(text, "\n# TYPE epsip_ipc_redials_total counter\n");
	/* A name no declaration knows has no type: left out. */
	assert_null(strstr(text, "made.up"));
	assert_null(strstr(text, "made_up"));
	/* One TYPE line per family, before its samples. */
	type = strstr(text, "# TYPE epsip_sip_in_total counter\n");
	assert_non_null(type);
	assert_null(strstr(type + 1, "# TYPE epsip_sip_in_total "));
	assert_true(type < strstr(text, "epsip_sip_in_total{"));
	free(text);
}

static void
test_metrics_declare_every_metric_with_help_and_type(void **state)
{
	struct fixture *f = *state;
	const struct metric_desc *d;
	char line[160], *text, *at;
	size_t len;
	unsigned i;

	/* Nothing reported yet: every declaration is there all the same. */
	text = sup_render_metrics(&f->view, &len);
	assert_non_null(text);
	for (i = 0; i < MF_COUNT; i++) {
		d = &metric_families[i];
		snprintf(line, sizeof(line), "\n# HELP %s ", d->prometheus);
		assert_has(text, line);
		snprintf(line, sizeof(line), "\n# TYPE %s %s\n", d->prometheus,
		    d->kind == METRIC_COUNTER ? "counter" : "gauge");
		at = strstr(text, line);
		if (at == NULL || strstr(at + 1, line) != NULL) {
			fail_msg("\"%s\" not exactly once", line + 1);
		}
	}
	free(text);
}

/*
 * epsipd's own counters (config.reloads) show beside the services', in
 * the totals and in /metrics; each service has its uptime while it runs.
 */
static void
test_epsipd_own_counters_and_service_uptimes_are_shown(void **state)
{
	struct fixture *f = *state;
	struct sup_report self;
	json_t *stats;
	size_t len;
	char *text;

	memset(&self, 0, sizeof(self));
	snprintf(self.service, sizeof(self.service), "epsipd");
	snprintf(self.instance, sizeof(self.instance), "epsipd");
	self.pid = 42;
	self.stats = json_pack("{s:{s:i, s:i}}", "counters",
	    "config.reloads", 2, "config.reload_errors", 1);
	f->view.self = &self;
	f->procs[1].started_ms = 4000;
	f->procs[2].pid = 0;
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"sip-router\",\"instance\":\"sip-router\","
	    "\"pid\":200,\"counters\":{\"config.reloads\":2}}");
	stats = render(f);
	assert_int_equal(get_int(stats, "epsipd/pid"), 42);
	assert_int_equal(get_int(stats, "epsipd/counters/config.reloads"), 2);
	assert_int_equal(get_int(stats, "totals/config.reloads"), 4);
	assert_int_equal(get_int(stats, "totals/config.reload_errors"), 1);
	assert_int_equal(get_int(stats, "services/sip-router/uptime_s"), 7);
	assert_true(json_is_null(json_object_get(json_object_get(
	    json_object_get(stats, "services"), "flow-manager"),
	    "uptime_s")));
	json_decref(stats);
	text = sup_render_metrics(&f->view, &len);
	assert_non_null(text);
	assert_has(text, "\nepsip_config_reloads_total{service=\"epsipd\","
	    "instance=\"epsipd\"} 2\n");
	assert_has(text, "\nepsip_config_reloads_total{service=\"sip-router\","
	    "instance=\"sip-router\"} 2\n");
	assert_has(text, "\nepsip_config_reload_errors_total{service="
	    "\"epsipd\",instance=\"epsipd\"} 1\n");
	free(text);
	json_decref(self.stats);
}

static void
test_stats_totals_take_the_largest_share_and_copy(void **state)
{
	struct fixture *f = *state;
	json_t *stats;
	int round;

	feed_declared_set(f);
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager\",\"instance\":\"fm1-c1\","
	    "\"pid\":301,\"counters\":{\"sip.from_flow\":10,"
	    "\"flows.owned.tcp\":3,\"overload.share_permille\":400}}");
	/* Rendering twice must not add a report's numbers twice. */
	for (round = 0; round < 2; round++) {
		stats = render(f);
		assert_int_equal(get_int(stats, "totals/sip.from_flow"), 1010);
		assert_int_equal(get_int(stats, "totals/flows.owned.tcp"), 7);
		assert_int_equal(get_int(stats,
		    "totals/overload.share_permille"), 400);
		assert_int_equal(get_int(stats, "totals/made.up"), 9);
		assert_int_equal(get_int(stats, "services/flow-manager/children/"
		    "fm1-c2/counters/sip.from_flow"), 1000);
		json_decref(stats);
	}
}

static void
test_each_flow_manager_is_a_service_with_its_own_children(void **state)
{
	struct fixture *f = *state;
	json_t *stats, *svc;

	sup_procs_init(f->procs, NULL, 2);
	f->procs[0].pid = PID_BRIDGE;
	f->procs[1].pid = PID_ROUTER;
	f->procs[2].pid = PID_FM;
	f->procs[3].pid = 400;
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager-2\",\"instance\":"
	    "\"flow-manager-2\",\"pid\":400,\"token_instance\":2,"
	    "\"counters\":{\"flows.opened\":4}}");
	feed(f, SUP_REPORT_STATS, 10000,
	    "{\"service\":\"flow-manager-2\",\"instance\":\"fm2-c1\","
	    "\"pid\":401,\"flows\":4,\"counters\":{\"sip.in\":9}}");
	stats = render(f);
	svc = json_object_get(stats, "services");
	/* Two wanted: the fourteen other possible ones are not shown. */
	assert_int_equal(json_object_size(svc), 4);
	assert_int_equal(get_int(stats, "services/flow-manager-2/pid"), 400);
	assert_int_equal(get_int(stats,
	    "services/flow-manager-2/token_instance"), 2);
	assert_int_equal(get_int(stats,
	    "services/flow-manager-2/children/fm2-c1/flows"), 4);
	assert_null(json_object_get(json_object_get(json_object_get(svc,
	    "flow-manager"), "children"), "fm2-c1"));
	assert_int_equal(get_int(stats, "totals/sip.in"), 9);
	json_decref(stats);

	/* Draining (not wanted, still running): still shown. */
	f->procs[3].wanted = 0;
	stats = render(f);
	assert_int_equal(get_int(stats, "services/flow-manager-2/pid"), 400);
	json_decref(stats);
	/* Gone: not shown at all. */
	f->procs[3].pid = 0;
	stats = render(f);
	assert_null(json_object_get(json_object_get(stats, "services"),
	    "flow-manager-2"));
	json_decref(stats);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_stats_has_version_uptime_and_every_service, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_stats_totals_sum_every_instance, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stats_children_are_listed_under_their_service,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stats_children_merge_parent_list_and_own_reports,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stats_expired_instances_are_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stats_round_counts_the_reports_of_this_pid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_stats_instances_whose_pid_is_gone_are_dropped, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_stats_dead_incarnation_counters_are_not_shown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_reports_new_pid_replaces_the_old_incarnation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_reports_refuse_malformed_documents, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reports_thousands_of_children_are_found_by_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_metrics_are_prometheus_lines_with_service_and_instance,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_metrics_declare_every_metric_with_help_and_type,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_epsipd_own_counters_and_service_uptimes_are_shown,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stats_totals_take_the_largest_share_and_copy, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_each_flow_manager_is_a_service_with_its_own_children,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
