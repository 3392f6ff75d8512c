/*
 * supervisor_flows_test.c -- GET /flows in epsipd (services/supervisor/
 * flows.c): its query string, and how the children's flows become one
 * sorted page.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/supervisor/http_stats.h"
#include "../../services/supervisor/supervisor.h"

static void
test_query_without_parameters_asks_for_the_first_page_of_all(void **state)
{
	struct sup_flows_request req;
	char err[160];

	(void)state;
	assert_int_equal(sup_flows_parse_query("/flows", &req, err,
	    sizeof(err)), 0);
	assert_int_equal(req.offset, 0);
	assert_int_equal(req.limit, SUP_FLOWS_LIMIT_DEFAULT);
	assert_int_equal(req.filter.instance, 0);
	assert_int_equal(req.filter.transport, EPSIP_TRANSPORT_NONE);
	assert_string_equal(req.filter.aor, "");
}

static void
test_query_reads_every_filter_and_decodes_the_aor(void **state)
{
	struct sup_flows_request req;
	char err[160];

	(void)state;
	assert_int_equal(sup_flows_parse_query("/flows?aor=sip%3A+49%40"
	    "example.com&transport=tcp&&instance=2&offset=10&limit=1000",
	    &req, err, sizeof(err)), 0);
	/* '+' is a '+' in a SIP user part, not a space. */
	assert_string_equal(req.filter.aor, "sip:+49@example.com");
	assert_int_equal(req.filter.transport, EPSIP_TRANSPORT_TCP);
	assert_int_equal(req.filter.instance, 2);
	assert_int_equal(req.offset, 10);
	assert_int_equal(req.limit, 1000);
}

static void
test_query_out_of_range_or_unknown_is_refused(void **state)
{
	static const char *const bad[] = {
		"/flows?transport=sctp", "/flows?instance=0",
		"/flows?instance=65536", "/flows?limit=0", "/flows?limit=1001",
		"/flows?offset=-1", "/flows?offset=x", "/flows?colour=blue",
		"/flows?aor", "/flows?aor=%4", "/flows?aor=%00x",
		"/flows?aor=%zz",
	};
	struct sup_flows_request req;
	char err[160], query[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(sup_flows_parse_query(bad[i], &req, err,
		    sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	snprintf(query, sizeof(query), "/flows?aor=sip:%0*d", EPSIP_AOR_MAX,
	    0);
	assert_int_equal(sup_flows_parse_query(query, &req, err,
	    sizeof(err)), -1);
}

static json_t *
flow(int instance, int child, int slot)
{
	char id[64];

	snprintf(id, sizeof(id), "%d.%d.%d.1", instance, child, slot);
	return (json_pack("{s:s, s:i, s:i, s:i}", "id", id, "instance",
	    instance, "child", child, "slot", slot));
}

/* The ids of a rendered page, space-separated, and its other fields. */
static void
render(json_t *flows, size_t offset, size_t limit, int complete,
    const char *want)
{
	struct sup_flows_request req;
	json_t *doc, *item;
	char *text, ids[512] = "";
	size_t len, i;

	memset(&req, 0, sizeof(req));
	req.offset = offset;
	req.limit = limit;
	text = sup_flows_render(flows, &req, complete, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "total")),
	    json_array_size(flows));
	assert_int_equal(json_integer_value(json_object_get(doc, "offset")),
	    offset);
	assert_int_equal(json_integer_value(json_object_get(doc, "limit")),
	    limit);
	assert_int_equal(json_is_true(json_object_get(doc, "complete")),
	    complete);
	json_array_foreach(json_object_get(doc, "flows"), i, item) {
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%s",
		    i > 0 ? " " : "", json_string_value(json_object_get(item,
		    "id")));
	}
	assert_string_equal(ids, want);
	json_decref(doc);
	free(text);
}

static void
test_flows_are_sorted_and_paged(void **state)
{
	json_t *flows = json_array();

	(void)state;
	/* As two children might answer: each in slot order, mixed. */
	json_array_append_new(flows, flow(2, 1, 0));
	json_array_append_new(flows, flow(2, 1, 7));
	json_array_append_new(flows, flow(1, 3, 2));
	json_array_append_new(flows, flow(1, 1, 10));
	json_array_append_new(flows, flow(1, 1, 9));
	render(flows, 0, 100, 1, "1.1.9.1 1.1.10.1 1.3.2.1 2.1.0.1 2.1.7.1");
	render(flows, 0, 2, 1, "1.1.9.1 1.1.10.1");
	render(flows, 2, 2, 0, "1.3.2.1 2.1.0.1");
	render(flows, 4, 2, 1, "2.1.7.1");
	render(flows, 5, 2, 1, "");
	render(flows, 1000, 1, 1, "");
	json_decref(flows);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_query_without_parameters_asks_for_the_first_page_of_all),
		cmocka_unit_test(
		    test_query_reads_every_filter_and_decodes_the_aor),
		cmocka_unit_test(test_query_out_of_range_or_unknown_is_refused),
		cmocka_unit_test(test_flows_are_sorted_and_paged),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
