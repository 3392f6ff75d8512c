/*
 * sip_edit_test.c -- edits spliced into the original bytes: inserts keep
 * their order, comma lists lose exactly the values asked for, parameters
 * are set in place, overlapping or out-of-bounds edits fail, and the
 * result is one exact allocation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/sip_edit.h"

static struct sip_scan scan;
static struct sip_edit edit;

static void
start(const char *text)
{
	assert_int_equal(sip_scan(text, strlen(text), &scan), 0);
	sip_edit_init(&edit, &scan);
}

/* Apply and compare with `want`; the output is NUL-terminated. */
static void
assert_result(const char *want)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(sip_edit_apply(&edit, &out, &len), 0);
	assert_int_equal(out[len], '\0');
	if (len != strlen(want) || memcmp(out, want, len) != 0) {
		fail_msg("got:\n%s\nwant:\n%s", out, want);
	}
	free(out);
}

static void
assert_apply_fails(void)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(sip_edit_apply(&edit, &out, &len), -1);
	assert_null(out);
}

#define HEAD "INVITE sip:b@x SIP/2.0\r\n"

static void
test_no_edits_give_the_same_bytes(void **state)
{
	const char *t = HEAD "v: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
	    "X-Custom-Header: Keep This Case\r\n"
	    "Allow: INVITE, ACK, BYE\r\nl: 3\r\n\r\nabc";

	(void)state;
	start(t);
	assert_result(t);
}

static void
test_pop_first_via_of_comma_list_leaves_the_rest(void **state)
{
	(void)state;
	start(HEAD "Via: SIP/2.0/UDP a;branch=z9hG4bK1 ,  SIP/2.0/UDP b;"
	    "branch=z9hG4bK2\r\nX-A: 1\r\n\r\n");
	assert_int_equal(sip_edit_remove_values(&edit, SIP_HDR_VIA, 1, 0), 0);
	assert_result(HEAD "Via: SIP/2.0/UDP b;branch=z9hG4bK2\r\nX-A: 1\r\n"
	    "\r\n");
}

static void
test_pop_only_value_removes_the_whole_line(void **state)
{
	(void)state;
	start(HEAD "X-A: 1\r\nv: SIP/2.0/UDP a\r\n"
	    "Via: SIP/2.0/UDP b\r\n\r\n");
	assert_int_equal(sip_edit_remove_values(&edit, SIP_HDR_VIA, 1, 0), 0);
	assert_result(HEAD "X-A: 1\r\nVia: SIP/2.0/UDP b\r\n\r\n");
}

static void
test_pop_values_across_lines_and_from_both_ends(void **state)
{
	(void)state;
	/* Two of ours on top, a strict router's value at the bottom. */
	start(HEAD "Route: <sip:e1;lr>\r\nRoute: <sip:e2;lr>, <sip:p;lr>,"
	    "\r\n <sip:last>\r\nTo: x\r\n\r\n");
	assert_int_equal(sip_edit_remove_values(&edit, SIP_HDR_ROUTE, 2, 1),
	    0);
	assert_result(HEAD "Route: <sip:p;lr>\r\nTo: x\r\n\r\n");
}

static void
test_pop_last_value_only(void **state)
{
	(void)state;
	start(HEAD "Route: <sip:a;lr>, <sip:b;lr>\r\n\r\n");
	assert_int_equal(sip_edit_remove_values(&edit, SIP_HDR_ROUTE, 0, 1),
	    0);
	assert_result(HEAD "Route: <sip:a;lr>\r\n\r\n");
}

static void
test_popping_more_values_than_there_are_fails(void **state)
{
	(void)state;
	start(HEAD "Route: <sip:a;lr>\r\n\r\n");
	assert_int_equal(sip_edit_remove_values(&edit, SIP_HDR_ROUTE, 1, 1),
	    -1);
	assert_apply_fails();
}

static void
test_inserts_at_one_place_keep_their_order(void **state)
{
	(void)state;
	start(HEAD "Via: SIP/2.0/UDP a\r\nRecord-Route: <sip:old;lr>\r\n\r\n");
	sip_edit_insert_header(&edit, sip_edit_top_of(&scan,
	    SIP_HDR_RECORD_ROUTE), "Record-Route", "<sip:first;lr>");
	sip_edit_insert_header(&edit, sip_edit_top_of(&scan,
	    SIP_HDR_RECORD_ROUTE), "Record-Route", "<sip:second;lr>");
	sip_edit_insert_header(&edit, sip_edit_top_of(&scan, SIP_HDR_VIA),
	    "Via", "SIP/2.0/UDP us");
	assert_result(HEAD "Via: SIP/2.0/UDP us\r\nVia: SIP/2.0/UDP a\r\n"
	    "Record-Route: <sip:first;lr>\r\nRecord-Route: <sip:second;lr>\r\n"
	    "Record-Route: <sip:old;lr>\r\n\r\n");
}

static void
test_new_kind_of_header_goes_after_the_vias(void **state)
{
	(void)state;
	start(HEAD "Via: SIP/2.0/UDP a\r\nv: SIP/2.0/UDP b\r\nTo: x\r\n\r\n");
	sip_edit_insert_header(&edit, sip_edit_top_of(&scan, SIP_HDR_PATH),
	    "Path", "<sip:p;lr>");
	assert_result(HEAD "Via: SIP/2.0/UDP a\r\nv: SIP/2.0/UDP b\r\n"
	    "Path: <sip:p;lr>\r\nTo: x\r\n\r\n");
	/* No Via at all: before the first header; no header: at the end. */
	start(HEAD "To: x\r\n\r\n");
	sip_edit_insert_header(&edit, sip_edit_top_of(&scan, SIP_HDR_PATH),
	    "Path", "<sip:p;lr>");
	assert_result(HEAD "Path: <sip:p;lr>\r\nTo: x\r\n\r\n");
	start(HEAD "\r\n");
	sip_edit_insert_header(&edit, sip_edit_top_of(&scan, SIP_HDR_PATH),
	    "Path", "<sip:p;lr>");
	assert_result(HEAD "Path: <sip:p;lr>\r\n\r\n");
}

static void
test_set_param_replaces_adds_a_value_or_appends(void **state)
{
	struct sip_span item;

	(void)state;
	start(HEAD "Via: SIP/2.0/UDP h;RPORT;branch=z9hG4bK1;Received=1.1.1.1,"
	    " SIP/2.0/UDP g;rport\r\n\r\n");
	assert_true(sip_edit_first_value(&scan, 0, &item));
	sip_edit_set_param(&edit, item, "rport", "4000");
	sip_edit_set_param(&edit, item, "received", "192.0.2.9");
	sip_edit_set_param(&edit, item, "branch", "z9hG4bK1");	/* same */
	sip_edit_set_param(&edit, item, "alias", "x");
	assert_result(HEAD "Via: SIP/2.0/UDP h;RPORT=4000;branch=z9hG4bK1;"
	    "Received=192.0.2.9;alias=x, SIP/2.0/UDP g;rport\r\n\r\n");
}

static void
test_replace_spans_and_remove_lines(void **state)
{
	(void)state;
	start(HEAD "max-forwards :  70\r\nSubject: a\r\n b\r\nTo: x\r\n\r\n"
	    "body");
	sip_edit_replace(&edit, scan.h[0].value, "69");
	sip_edit_remove_line(&edit, 1);
	sip_edit_replace(&edit, scan.request_uri, "sip:c@y");
	assert_result("INVITE sip:c@y SIP/2.0\r\nmax-forwards :  69\r\n"
	    "To: x\r\n\r\nbody");
}

static void
test_adjacent_removals_merge_and_body_can_be_cut(void **state)
{
	(void)state;
	start(HEAD "A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody");
	sip_edit_remove_line(&edit, 0);
	sip_edit_remove_line(&edit, 1);
	sip_edit_remove_line(&edit, 2);
	assert_int_equal(edit.count, 1);
	sip_edit_splice(&edit, scan.headers_end, strlen(scan.buf) -
	    scan.headers_end, "L: 0\r\n\r\n", 8);
	assert_result(HEAD "L: 0\r\n\r\n");
}

static void
test_overlapping_or_out_of_bounds_edits_fail(void **state)
{
	(void)state;
	start(HEAD "Route: <sip:a;lr>, <sip:b;lr>\r\n\r\n");
	sip_edit_remove_line(&edit, 0);
	assert_int_equal(sip_edit_remove_values(&edit, SIP_HDR_ROUTE, 1, 0),
	    0);
	assert_apply_fails();
	start(HEAD "\r\n");
	sip_edit_splice(&edit, strlen(HEAD) + 1, 5, "x", 1);
	assert_apply_fails();
	start(HEAD "\r\n");
	sip_edit_remove_line(&edit, 0);
	assert_apply_fails();
}

static void
test_too_much_text_or_too_many_edits_fail(void **state)
{
	static char big[SIP_EDIT_TEXT_MAX];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	start(HEAD "\r\n");
	sip_edit_insert_header(&edit, scan.headers_end, "X", big);
	assert_apply_fails();
	start(HEAD "\r\n");
	for (int i = 0; i <= SIP_EDIT_MAX_OPS; i++) {
		sip_edit_insert_header(&edit, scan.headers_end, "X", "1");
	}
	assert_apply_fails();
}

static void
test_rollback_forgets_later_edits_and_their_failure(void **state)
{
	static char big[SIP_EDIT_TEXT_MAX];
	size_t mark;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	start(HEAD "A: 1\r\nB: 2\r\n\r\n");
	sip_edit_remove_line(&edit, 0);
	mark = sip_edit_mark(&edit);
	/* Adjacent to the kept removal, yet not merged into it. */
	sip_edit_remove_line(&edit, 1);
	sip_edit_insert_header(&edit, scan.headers_end, "X", big);
	sip_edit_rollback(&edit, mark);
	sip_edit_insert_header(&edit, scan.headers_end, "C", "3");
	assert_result(HEAD "B: 2\r\nC: 3\r\n\r\n");
}

/* The values of every `id` line of a scanned text, in order. */
static size_t
all_values(const struct sip_scan *s, enum sip_hdr_id id, struct sip_span *v,
    size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < s->count; i++) {
		size_t pos = s->h[i].value.off;

		while (s->h[i].id == id && n < cap &&
		    sip_value_next(s->buf, s->h[i].value, &pos, &v[n])) {
			n++;
		}
	}
	return (n);
}

static void
test_any_first_and_last_removal_keeps_exactly_the_middle(void **state)
{
	static const char *const seps[] = { ",", " , ", ",\r\n ", " ,\t" };
	struct sip_span before[32], after[32];
	struct sip_scan out_scan;
	char text[2048], *out;
	uint32_t seed = 11;

	(void)state;
	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)snprintf(text, sizeof(text), HEAD), total,
		    left, len;
		int lines = 1 + (int)(seed % 4), v = 0;

		for (int l = 0; l < lines; l++) {
			int values = 1 + (int)((seed >> 3) % 3);

			seed = seed * 1103515245u + 12345u;
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "%s:", (seed >> 9) & 1 ? "Via" : "v");
			for (int k = 0; k < values; k++) {
				seed = seed * 1103515245u + 12345u;
				n += (size_t)snprintf(text + n, sizeof(text) -
				    n, "%s SIP/2.0/UDP h%d;branch=z9hG4bK%d",
				    k > 0 ? seps[(seed >> 5) % 4] : "", v, v);
				v++;
			}
			n += (size_t)snprintf(text + n, sizeof(text) - n,
			    "\r\nX-%d: keep\r\n", l);
		}
		n += (size_t)snprintf(text + n, sizeof(text) - n, "\r\n");
		start(text);
		total = all_values(&scan, SIP_HDR_VIA, before, 32);
		assert_int_equal(total, (size_t)v);
		for (size_t first = 0; first <= total; first++) {
			for (size_t last = 0; first + last <= total; last++) {
				sip_edit_init(&edit, &scan);
				assert_int_equal(sip_edit_remove_values(&edit,
				    SIP_HDR_VIA, first, last), 0);
				assert_int_equal(sip_edit_apply(&edit, &out,
				    &len), 0);
				assert_int_equal(sip_scan(out, len, &out_scan),
				    0);
				left = all_values(&out_scan, SIP_HDR_VIA, after,
				    32);
				assert_int_equal(left, total - first - last);
				for (size_t k = 0; k < left; k++) {
					assert_int_equal(after[k].len,
					    before[first + k].len);
					assert_memory_equal(out + after[k].off,
					    text + before[first + k].off,
					    after[k].len);
				}
				/* Unowned lines all stay. */
				for (int l = 0; l < lines; l++) {
					char x[32];

					snprintf(x, sizeof(x), "\nX-%d: keep\r",
					    l);
					assert_non_null(strstr(out, x));
				}
				free(out);
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_edits_give_the_same_bytes),
		cmocka_unit_test(
		    test_pop_first_via_of_comma_list_leaves_the_rest),
		cmocka_unit_test(test_pop_only_value_removes_the_whole_line),
		cmocka_unit_test(
		    test_pop_values_across_lines_and_from_both_ends),
		cmocka_unit_test(test_pop_last_value_only),
		cmocka_unit_test(
		    test_popping_more_values_than_there_are_fails),
		cmocka_unit_test(test_inserts_at_one_place_keep_their_order),
		cmocka_unit_test(test_new_kind_of_header_goes_after_the_vias),
		cmocka_unit_test(
		    test_set_param_replaces_adds_a_value_or_appends),
		cmocka_unit_test(test_replace_spans_and_remove_lines),
		cmocka_unit_test(
		    test_adjacent_removals_merge_and_body_can_be_cut),
		cmocka_unit_test(test_overlapping_or_out_of_bounds_edits_fail),
		cmocka_unit_test(test_too_much_text_or_too_many_edits_fail),
		cmocka_unit_test(
		    test_rollback_forgets_later_edits_and_their_failure),
		cmocka_unit_test(
		    test_any_first_and_last_removal_keeps_exactly_the_middle),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
