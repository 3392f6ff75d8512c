/*
 * sip_reply_test.c -- stateless replies built from a request's own bytes
 * (SP-17): Vias, From, To, Call-ID and CSeq copied as they came, a To tag
 * added when missing, extra headers, no body; and which requests start
 * new work (what overload sheds).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/sip_reply.h"
#include "epsip/sip_scan.h"

static const char register_req[] =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-a;rport=5060;"
    "received=192.0.2.1\r\n"
    "Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-b, "
    "SIP/2.0/UDP 198.51.100.8;branch=z9hG4bK-c\r\n"
    "Max-Forwards: 70\r\n"
    "f: \"Dave\" <sip:dave@example.com>;tag=AbC\r\n"
    "To: <sip:dave@example.com>\r\n"
    "i: a84b4c76e66710@pc33\r\n"
    "CSeq: 314159 REGISTER\r\n"
    "X-Custom-Header: Keep This Case\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "body";

static char *
reply(const char *req, int status, const struct sip_reply_header *extra,
    size_t n, size_t *len)
{
	struct sip_scan s;
	char *out = NULL;

	assert_int_equal(sip_scan(req, strlen(req), &s), 0);
	assert_int_equal(sip_reply_from_request(&s, status, NULL, extra, n,
	    &out, len), 0);
	assert_int_equal(strlen(out), *len);
	return (out);
}

/*
 * A head cut short (no blank line, as a datagram may come): its last line
 * gets its line end only when the reply keeps it, and only the LF when
 * the CR is there.  Before, a dropped last line left a blank line that
 * put Content-Length: 0 in the body, and a kept one ended in CR CR LF
 * (found by tests/fuzz/fuzz_router.c).
 */
static void
test_reply_to_a_cut_head_ends_each_line_once(void **state)
{
	static const char *const cut[] = {
		"OPTIONS sip:x SIP/2.0\r\n"
		"Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\nSubject: y",
		"OPTIONS sip:x SIP/2.0\r\n"
		"Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\nSubject: y\r",
		"OPTIONS sip:x SIP/2.0\r\n"
		"Via: SIP/2.0/UDP a;branch=z9hG4bK1\r",
		"OPTIONS sip:x SIP/2.0\r\n"
		"Via: SIP/2.0/UDP a;branch=z9hG4bK1",
	};
	static const char want[] = "SIP/2.0 400 Bad Request\r\n"
	    "Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
	    "Content-Length: 0\r\n\r\n";
	char *out;
	size_t len;

	struct sip_scan s;

	(void)state;
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		out = reply(cut[i], 400, NULL, 0, &len);
		assert_string_equal(out, want);
		free(out);
	}
	/* The To-tag goes before the CR that ends the bytes, not after. */
	out = reply("OPTIONS sip:x SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\nTo:\r\n \r", 400, NULL, 0,
	    &len);
	assert_int_equal(sip_scan(out, len, &s), 0);
	assert_true(s.has_blank_line);
	assert_int_equal(s.body, len);
	free(out);
}

static void
test_reply_copies_vias_from_to_call_id_and_cseq_as_they_came(void **state)
{
	size_t len;
	char *out = reply(register_req, 503, NULL, 0, &len);

	(void)state;
	assert_non_null(strstr(out, "SIP/2.0 503 Service Unavailable\r\n"));
	assert_int_equal(strncmp(out, "SIP/2.0 503 ", 12), 0);
	assert_non_null(strstr(out, "\r\nv: SIP/2.0/UDP 192.0.2.1:5060;"
	    "branch=z9hG4bK-a;rport=5060;received=192.0.2.1\r\n"
	    "Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-b, "
	    "SIP/2.0/UDP 198.51.100.8;branch=z9hG4bK-c\r\n"));
	assert_non_null(strstr(out,
	    "\r\nf: \"Dave\" <sip:dave@example.com>;tag=AbC\r\n"));
	assert_non_null(strstr(out, "\r\ni: a84b4c76e66710@pc33\r\n"));
	assert_non_null(strstr(out, "\r\nCSeq: 314159 REGISTER\r\n"));
	/* Nothing else of the request, and no body. */
	assert_null(strstr(out, "X-Custom-Header"));
	assert_null(strstr(out, "Max-Forwards"));
	assert_null(strstr(out, "Content-Type"));
	assert_null(strstr(out, "body"));
	assert_non_null(strstr(out, "\r\nContent-Length: 0\r\n\r\n"));
	assert_int_equal(strcmp(out + len - 4, "\r\n\r\n"), 0);
	free(out);
}

static void
test_reply_tags_a_to_without_tag_and_keeps_one_that_has_it(void **state)
{
	static const char bye[] =
	    "BYE sip:dave@192.0.2.1 SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 192.0.2.9;branch=z9hG4bK-x\r\n"
	    "From: <sip:e@example.com>;tag=1\r\n"
	    "t: <sip:dave@example.com>;tag=99\r\n"
	    "Call-ID: c\r\nCSeq: 2 BYE\r\n\r\n";
	size_t len;
	char *out = reply(register_req, 503, NULL, 0, &len);
	char *to = strstr(out, "\r\nTo: <sip:dave@example.com>;tag=");

	(void)state;
	assert_non_null(to);
	assert_int_equal(strcspn(to + 33, "\r"), 16);	/* a fresh tag */
	free(out);
	out = reply(bye, 481, NULL, 0, &len);
	assert_non_null(strstr(out, "\r\nt: <sip:dave@example.com>;tag=99\r\n"));
	free(out);
	/* A 100 Trying carries no tag of ours. */
	out = reply(register_req, 100, NULL, 0, &len);
	assert_non_null(strstr(out, "\r\nTo: <sip:dave@example.com>\r\n"));
	free(out);
}

static void
test_reply_adds_the_extra_headers_before_content_length(void **state)
{
	static const struct sip_reply_header retry[] = {
		{ "Retry-After", "30" },
	};
	size_t len;
	char *out = reply(register_req, 503, retry, 1, &len);

	(void)state;
	assert_non_null(strstr(out,
	    "\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n"));
	free(out);
}

static void
test_a_response_or_a_request_without_via_gets_no_reply(void **state)
{
	static const char resp[] =
	    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-a\r\n"
	    "CSeq: 1 REGISTER\r\n\r\n";
	static const char no_via[] =
	    "OPTIONS sip:example.com SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n";
	struct sip_scan s;
	char *out = NULL;
	size_t len;

	(void)state;
	assert_int_equal(sip_scan(resp, strlen(resp), &s), 0);
	assert_int_equal(sip_reply_from_request(&s, 503, NULL, NULL, 0, &out,
	    &len), -1);
	assert_int_equal(sip_scan(no_via, strlen(no_via), &s), 0);
	assert_int_equal(sip_reply_from_request(&s, 503, NULL, NULL, 0, &out,
	    &len), -1);
	assert_int_equal(sip_scan(register_req, strlen(register_req), &s), 0);
	assert_int_equal(sip_reply_from_request(&s, 700, NULL, NULL, 0, &out,
	    &len), -1);
	assert_null(out);
}

static int
starts_work(const char *msg)
{
	struct sip_scan s;

	assert_int_equal(sip_scan(msg, strlen(msg), &s), 0);
	return (sip_request_starts_work(&s));
}

static void
test_only_new_out_of_dialog_requests_start_work(void **state)
{
	(void)state;
	assert_true(starts_work(register_req));
	assert_true(starts_work("INVITE sip:a@b SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\r\n"));
	assert_false(starts_work("ACK sip:a@b SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\r\n"));
	assert_false(starts_work("CANCEL sip:a@b SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\r\n"));
	assert_false(starts_work("BYE sip:a@b SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
	    "To: <sip:a@b>;tag=x\r\n\r\n"));
	assert_false(starts_work("SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\r\n"));
	/* ACKnowledge is no ACK: the method is a whole word. */
	assert_true(starts_work("ACKNOWLEDGE sip:a@b SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\r\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_reply_copies_vias_from_to_call_id_and_cseq_as_they_came),
		cmocka_unit_test(
		    test_reply_tags_a_to_without_tag_and_keeps_one_that_has_it),
		cmocka_unit_test(
		    test_reply_adds_the_extra_headers_before_content_length),
		cmocka_unit_test(
		    test_a_response_or_a_request_without_via_gets_no_reply),
		cmocka_unit_test(
		    test_only_new_out_of_dialog_requests_start_work),
		cmocka_unit_test(test_reply_to_a_cut_head_ends_each_line_once),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
