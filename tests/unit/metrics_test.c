/*
 * metrics_test.c -- the registry (include/epsip/metrics.def,
 * common/metrics.c): its tables agree with themselves, the outside
 * world's strings only reach declared values, the names an internal enum
 * can produce are all declared, and docs/operations.md carries the table
 * the registry writes.
 *
 * Run from the repository root (as make does): it reads the docs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/flow_token.h"
#include "epsip/ipc.h"
#include "epsip/metrics.h"
#include "epsip/sip_frame.h"
#include "epsip/stats.h"

#define DOC_PATH	"docs/operations.md"

static int
reset(void **state)
{
	(void)state;
	stats_reset();
	return (0);
}

static void
test_every_value_belongs_to_its_family(void **state)
{
	const struct metric_desc *d;
	enum metric_id id;
	unsigned f, i, n, total = 0;
	char want[160];

	(void)state;
	for (f = 0; f < MF_COUNT; f++) {
		d = &metric_families[f];
		n = metric_family_size(f);
		if (d->field) {
			assert_int_equal(n, 0);
			continue;
		}
		assert_true(n >= 1);
		total += n;
		for (i = 0; i < n; i++) {
			id = d->first + i;
			assert_int_equal(metric_slots[id].family, f);
			if (d->label == NULL) {
				assert_string_equal(metric_name(id), d->name);
				assert_null(metric_label_value(id));
				continue;
			}
			/* The name is the family's, a dot, the label. */
			snprintf(want, sizeof(want), "%s.%s", d->name,
			    metric_label_value(id));
			assert_string_equal(metric_name(id), want);
		}
		if (d->label != NULL) {
			/* `other` is always there, first. */
			assert_string_equal(metric_label_value(d->first),
			    "other");
		}
	}
	assert_int_equal(total, M_COUNT);
}

static void
test_names_are_unique_and_found_back(void **state)
{
	enum metric_id found;
	unsigned id;

	(void)state;
	for (id = 0; id < M_COUNT; id++) {
		assert_non_null(metric_name(id));
		if (metric_find(metric_name(id), &found) != 0) {
			fail_msg("%s not found", metric_name(id));
		}
		/* A second value of the same name would be found instead. */
		if (found != id) {
			fail_msg("%s declared twice", metric_name(id));
		}
	}
	assert_int_equal(metric_find("sip.in.MADEUP", &found), -1);
	assert_int_equal(metric_find("stats.names_dropped", &found), -1);
	assert_int_equal(metric_find("", &found), -1);
}

static int
prometheus_name_ok(const char *s)
{
	if (strncmp(s, "epsip_", 6) != 0) {
		return (0);
	}
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '_')) {
			return (0);
		}
	}
	return (1);
}

static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return (n >= t && strcmp(s + n - t, tail) == 0);
}

static void
test_declarations_are_well_formed(void **state)
{
	const struct metric_desc *d, *e;
	unsigned f, g;

	(void)state;
	for (f = 0; f < MF_COUNT; f++) {
		d = &metric_families[f];
		if (!prometheus_name_ok(d->prometheus)) {
			fail_msg("%s: bad Prometheus name %s", d->name,
			    d->prometheus);
		}
		/* Prometheus' convention: counters, and only they, _total. */
		if ((d->kind == METRIC_COUNTER) !=
		    ends_with(d->prometheus, "_total")) {
			fail_msg("%s: %s", d->name, d->prometheus);
		}
		assert_true(d->field == 0 || d->kind == METRIC_GAUGE);
		/* One line, and a cell of a markdown table. */
		assert_true(strlen(d->help) > 0);
		assert_null(strpbrk(d->help, "|\n\\"));
		assert_true(strlen(d->unit) > 0);
		assert_true(strlen(d->from) > 0);
		assert_null(strpbrk(d->from, "|\n"));
		for (g = 0; g < f; g++) {
			e = &metric_families[g];
			if (strcmp(d->prometheus, e->prometheus) == 0) {
				fail_msg("%s and %s are both %s", d->name,
				    e->name, d->prometheus);
			}
		}
	}
}

static void
test_every_method_label_is_found_and_nothing_else(void **state)
{
	static const char *const unknown[] = {
		"invite", "INVITEX", "INV", "I", "", "FOO", "malformed",
		"response", "other", "REGISTE", "REGISTERS", "PUBLISH2",
		"retransmissions",
	};
	enum metric_id first = metric_families[MF_SIP_IN].first;
	unsigned i, n = metric_family_size(MF_SIP_IN);

	(void)state;
	for (i = 1; i < n; i++) {
		assert_int_equal(metric_sip_method(metric_label_value(first +
		    i)), first + i);
	}
	assert_int_equal(metric_sip_method("INVITE"), M_SIP_IN_INVITE);
	assert_int_equal(metric_sip_method("REGISTER"), M_SIP_IN_REGISTER);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		if (metric_sip_method(unknown[i]) != M_SIP_IN_OTHER) {
			fail_msg("\"%s\" is not other", unknown[i]);
		}
	}
	assert_int_equal(metric_sip_method(NULL), M_SIP_IN_OTHER);
}

static void
test_made_up_methods_only_move_other(void **state)
{
	char method[32];
	json_t *json;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		snprintf(method, sizeof(method), "X%dMADEUP", i);
		stats_inc(metric_sip_method(method));
	}
	/* Counted after the flood, still counted. */
	stats_inc(metric_sip_method("OPTIONS"));
	stats_inc(M_FLOWS_CLOSED_TIMEOUT);
	json = stats_to_json();
	assert_int_equal(json_object_size(json), 3);
	assert_int_equal(json_integer_value(json_object_get(json,
	    "sip.in.other")), 1000);
	assert_int_equal(json_integer_value(json_object_get(json,
	    "sip.in.OPTIONS")), 1);
	assert_int_equal(json_integer_value(json_object_get(json,
	    "flows.closed.timeout")), 1);
	json_decref(json);
}

static void
test_status_codes(void **state)
{
	(void)state;
	assert_int_equal(metric_status(MF_REPLIES, 430), M_REPLIES_430);
	assert_string_equal(metric_name(metric_status(MF_REPLIES, 100)),
	    "replies.100");
	assert_string_equal(metric_name(metric_status(MF_REPLIES, 699)),
	    "replies.699");
	assert_int_equal(metric_status(MF_REPLIES, 99), M_REPLIES_OTHER);
	assert_int_equal(metric_status(MF_REPLIES, 700), M_REPLIES_OTHER);
	assert_int_equal(metric_status(MF_REPLIES, -1), M_REPLIES_OTHER);
	assert_string_equal(metric_name(metric_status(
	    MF_REGISTRAR_REGISTER_REJECTED, 439)),
	    "registrar.register.rejected.439");
	assert_int_equal(metric_response_class(100), M_SIP_IN_RESPONSE_1XX);
	assert_int_equal(metric_response_class(430), M_SIP_IN_RESPONSE_4XX);
	assert_int_equal(metric_response_class(699), M_SIP_IN_RESPONSE_6XX);
	assert_string_equal(metric_name(metric_response_class(200)),
	    "sip.in.response.2xx");
	assert_int_equal(metric_response_class(99),
	    M_SIP_IN_RESPONSE_OTHER);
	assert_int_equal(metric_response_class(700),
	    M_SIP_IN_RESPONSE_OTHER);
}

/* `name` is a declared value of `f`, not its `other`. */
static void
assert_declared(enum metric_family f, const char *name)
{
	if (metric_label_find(f, name) == metric_families[f].first) {
		fail_msg("%s.%s is not declared", metric_families[f].name,
		    name);
	}
}

static void
test_every_internal_reason_is_declared(void **state)
{
	unsigned i;

	(void)state;
	for (i = EPSIP_CLOSE_NONE + 1; i <= EPSIP_CLOSE_REASON_MAX; i++) {
		assert_declared(MF_FLOWS_CLOSED, epsip_close_reason_name(i));
	}
	for (i = SIP_FRAME_ERR_NONE + 1; i <= SIP_FRAME_ERR_TOO_LARGE; i++) {
		assert_declared(MF_FRAMING_ERRORS, sip_frame_error_name(i));
	}
	for (i = EPSIP_MSG_OK + 1; i <= EPSIP_MSG_ESPACE; i++) {
		assert_declared(MF_IPC_ERRORS, epsip_msg_error_name(i));
	}
	for (i = FLOW_TOKEN_OK + 1; i <= FLOW_TOKEN_EFIELD; i++) {
		assert_declared(MF_TOKENS_REJECTED, flow_token_error_name(i));
	}
	/* The enums end there: past it, the names say "unknown". */
	assert_string_equal(epsip_close_reason_name(EPSIP_CLOSE_REASON_MAX +
	    1), "unknown");
	assert_string_equal(sip_frame_error_name(SIP_FRAME_ERR_TOO_LARGE + 1),
	    "unknown");
	assert_string_equal(epsip_msg_error_name(EPSIP_MSG_ESPACE + 1),
	    "unknown");
	assert_string_equal(flow_token_error_name(FLOW_TOKEN_EFIELD + 1),
	    "unknown");
	/* And what is not declared lands on other, never a new name. */
	assert_int_equal(metric_label_find(MF_FLOWS_CLOSED, "unknown"),
	    M_FLOWS_CLOSED_OTHER);
	assert_int_equal(metric_label_find(MF_FLOWS_CLOSED, NULL),
	    M_FLOWS_CLOSED_OTHER);
	assert_int_equal(metric_label_find(MF_FLOWS_CLOSED, "timeout"),
	    M_FLOWS_CLOSED_TIMEOUT);
	assert_int_equal(metric_label_find(MF_FRAMING_ERRORS,
	    "stun-on-stream"), M_FRAMING_ERRORS_STUN_ON_STREAM);
}

static void
test_only_touched_values_are_reported(void **state)
{
	json_t *json;

	(void)state;
	json = stats_to_json();
	assert_int_equal(json_object_size(json), 0);
	json_decref(json);
	/* A gauge set to zero is reported: it says "none now". */
	stats_set(M_FLOWS_OPEN_TCP, 0);
	stats_add(M_BYTES_IN, 1500);
	stats_add(M_BYTES_IN, 20);
	assert_int_equal(stats_get(M_BYTES_IN), 1520);
	json = stats_to_json();
	assert_int_equal(json_object_size(json), 2);
	assert_int_equal(json_integer_value(json_object_get(json,
	    "flows.open.tcp")), 0);
	assert_int_equal(json_integer_value(json_object_get(json,
	    "bytes.in")), 1520);
	json_decref(json);
}

static char *
read_file(const char *path)
{
	char *text;
	long n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		fail_msg("%s: cannot open (run from the repository root)",
		    path);
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return (text);
}

static void
test_operations_doc_has_the_registry_table(void **state)
{
	char err[256], *doc, *want;

	(void)state;
	doc = read_file(DOC_PATH);
	want = metric_doc_splice(doc, err, sizeof(err));
	if (want == NULL) {
		fail_msg("%s: %s", DOC_PATH, err);
	}
	if (strcmp(doc, want) != 0) {
		fail_msg("%s and include/epsip/metrics.def disagree: run "
		    "`make docs-metrics`", DOC_PATH);
	}
	/* Each declaration has its row. */
	assert_non_null(strstr(doc, "| `sip.in.<method>` | "
	    "`epsip_sip_in_total{method}` |"));
	assert_non_null(strstr(doc, "| `ipc.redials` | "
	    "`epsip_ipc_redials_total` |"));
	free(want);
	free(doc);
}

static void
test_doc_splice_keeps_the_rest_and_needs_both_markers(void **state)
{
	char err[256], *out;

	(void)state;
	out = metric_doc_splice("# x\n" METRIC_DOC_BEGIN "\nold table\n"
	    METRIC_DOC_END "\nafter\n", err, sizeof(err));
	assert_non_null(out);
	assert_int_equal(strncmp(out, "# x\n" METRIC_DOC_BEGIN "\n| counter",
	    strlen("# x\n" METRIC_DOC_BEGIN "\n| counter")), 0);
	assert_null(strstr(out, "old table"));
	assert_non_null(strstr(out, " |\n" METRIC_DOC_END "\nafter\n"));
	free(out);
	assert_null(metric_doc_splice("# x\n" METRIC_DOC_BEGIN "\n", err,
	    sizeof(err)));
	assert_null(metric_doc_splice(METRIC_DOC_END "\n" METRIC_DOC_BEGIN
	    "\n", err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_value_belongs_to_its_family),
		cmocka_unit_test(test_names_are_unique_and_found_back),
		cmocka_unit_test(test_declarations_are_well_formed),
		cmocka_unit_test(
		    test_every_method_label_is_found_and_nothing_else),
		cmocka_unit_test_setup(test_made_up_methods_only_move_other,
		    reset),
		cmocka_unit_test(test_status_codes),
		cmocka_unit_test(test_every_internal_reason_is_declared),
		cmocka_unit_test_setup(test_only_touched_values_are_reported,
		    reset),
		cmocka_unit_test(test_operations_doc_has_the_registry_table),
		cmocka_unit_test(
		    test_doc_splice_keeps_the_rest_and_needs_both_markers),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
