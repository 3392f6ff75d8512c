/*
 * epsipctl_test.c -- what epsipctl reads from epsipd's answers and prints
 * (services/epsipctl/ctl.c), line by line, without an epsipd; and how
 * `user` finds the registrar's database and reads a password (user.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../services/epsipctl/ctl.h"

/* What fn printed: run it on a memory stream. */
struct capture {
	FILE *f;
	char *text;
	size_t len;
};

static void
capture_open(struct capture *c)
{
	c->text = NULL;
	c->len = 0;
	c->f = open_memstream(&c->text, &c->len);
	assert_non_null(c->f);
}

static const char *
capture_close(struct capture *c)
{
	assert_int_equal(fclose(c->f), 0);
	return (c->text);
}

static json_t *
doc(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (j == NULL) {
		fail_msg("bad test JSON: %s", err.text);
	}
	return (j);
}

static void
test_reply_is_split_at_the_headers_and_cut_to_content_length(void **state)
{
	struct ctl_reply r;
	char *raw;

	(void)state;
	raw = strdup("HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
	    "application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}trailing");
	assert_int_equal(ctl_parse_reply(raw, strlen(raw), &r), 0);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.len, 7);
	assert_string_equal(r.body, "{\"a\":1}");
	ctl_reply_free(&r);
	raw = strdup("HTTP/1.0 200 OK\r\n\r\nall of it");
	assert_int_equal(ctl_parse_reply(raw, strlen(raw), &r), 0);
	assert_string_equal(r.body, "all of it");
	ctl_reply_free(&r);
	raw = strdup("SSH-2.0-OpenSSH\r\n\r\n");
	assert_int_equal(ctl_parse_reply(raw, strlen(raw), &r), -1);
	free(raw);
	raw = strdup("HTTP/1.1 200 OK\r\nno end of headers");
	assert_int_equal(ctl_parse_reply(raw, strlen(raw), &r), -1);
	free(raw);
}

static void
test_durations_read_like_a_clock(void **state)
{
	char buf[32];

	(void)state;
	ctl_duration(42, buf, sizeof(buf));
	assert_string_equal(buf, "42s");
	ctl_duration(185, buf, sizeof(buf));
	assert_string_equal(buf, "3m05s");
	ctl_duration(3723, buf, sizeof(buf));
	assert_string_equal(buf, "1h02m03s");
	ctl_duration(-1, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

static void
test_flat_stats_are_one_key_value_a_line_in_order(void **state)
{
	struct capture c;
	json_t *d;

	(void)state;
	d = doc("{\"version\":\"1.2\",\"services\":{\"sip-router\":{\"pid\":"
	    "7,\"up\":true,\"counters\":{\"sip.in.INVITE\":3}}},\"down\":"
	    "[\"a\",null],\"share\":0.5}");
	capture_open(&c);
	ctl_print_flat(c.f, "", d);
	assert_string_equal(capture_close(&c),
	    "version=1.2\n"
	    "services.sip-router.pid=7\n"
	    "services.sip-router.up=true\n"
	    "services.sip-router.counters.sip.in.INVITE=3\n"
	    "down.0=a\n"
	    "down.1=null\n"
	    "share=0.5\n");
	free(c.text);
	json_decref(d);
}

static void
test_status_prints_health_epsipd_and_a_line_per_service(void **state)
{
	struct capture c;
	json_t *health, *stats;

	(void)state;
	health = doc("{\"status\":\"ok\"}");
	stats = doc("{\"version\":\"0.1.0\",\"uptime_s\":3723,\"epsipd\":"
	    "{\"pid\":10},\"services\":{\"registrar-bridge\":{\"pid\":11,"
	    "\"uptime_s\":185,\"up\":true,\"ready\":true,\"restarts\":2},"
	    "\"sip-router\":{\"pid\":12,\"uptime_s\":4,\"up\":true,"
	    "\"ready\":false,\"restarts\":0},\"flow-manager\":{\"pid\":null,"
	    "\"uptime_s\":null,\"up\":false,\"ready\":false,\"restarts\":1}}}");
	capture_open(&c);
	assert_int_equal(ctl_print_status(c.f, health, stats), CTL_EXIT_OK);
	assert_string_equal(capture_close(&c),
	    "health: ok\n"
	    "epsipd 0.1.0: pid 10, up 1h02m03s\n"
	    "SERVICE            STATE     PID      UPTIME     RESTARTS\n"
	    "registrar-bridge   ready     11       3m05s      2\n"
	    "sip-router         starting  12       4s         0\n"
	    "flow-manager       down      -        -          1\n");
	free(c.text);
	json_decref(health);
	health = doc("{\"status\":\"degraded\",\"down\":[\"flow-manager\","
	    "\"sip-router\"]}");
	capture_open(&c);
	assert_int_equal(ctl_print_status(c.f, health, stats),
	    CTL_EXIT_REFUSED);
	assert_non_null(strstr(capture_close(&c), "health: degraded "
	    "(down: flow-manager, sip-router)\n"));
	free(c.text);
	json_decref(health);
	json_decref(stats);
}

static void
test_reload_says_what_changed_or_why_it_was_refused(void **state)
{
	struct capture out, err;
	json_t *answer;

	(void)state;
	answer = doc("{\"ok\":true,\"applied\":[\"log-level\",\"max-flows\"],"
	    "\"restart_needed\":[\"listen\"],\"signalled\":3}");
	capture_open(&out);
	capture_open(&err);
	assert_int_equal(ctl_print_reload(out.f, err.f, 200, answer),
	    CTL_EXIT_OK);
	assert_string_equal(capture_close(&out),
	    "reloaded: 3 services told\n"
	    "applied: log-level, max-flows\n"
	    "changed, needs a restart: listen\n");
	assert_string_equal(capture_close(&err), "");
	free(out.text);
	free(err.text);
	json_decref(answer);

	answer = doc("{\"ok\":false,\"error\":\"/etc/epsip/epsip.conf:3: "
	    "max-flows: bad\"}");
	capture_open(&out);
	capture_open(&err);
	assert_int_equal(ctl_print_reload(out.f, err.f, 422, answer),
	    CTL_EXIT_REFUSED);
	assert_string_equal(capture_close(&out), "");
	assert_string_equal(capture_close(&err), "epsipctl: reload refused "
	    "(HTTP 422): /etc/epsip/epsip.conf:3: max-flows: bad\n");
	free(out.text);
	free(err.text);
	json_decref(answer);

	/* An epsipd without /reload answers 404 in HTML. */
	capture_open(&out);
	capture_open(&err);
	assert_int_equal(ctl_print_reload(out.f, err.f, 404, NULL),
	    CTL_EXIT_UNREACHABLE);
	capture_close(&out);
	assert_non_null(strstr(capture_close(&err), "HTTP 404"));
	free(out.text);
	free(err.text);
}

static void
test_drain_says_what_happens_or_why_it_was_refused(void **state)
{
	struct capture out, err;
	json_t *answer;

	(void)state;
	answer = doc("{\"ok\":true,\"instance\":2}");
	capture_open(&out);
	capture_open(&err);
	assert_int_equal(ctl_print_drain(out.f, err.f, 200, answer),
	    CTL_EXIT_OK);
	assert_non_null(strstr(capture_close(&out), "draining instance 2"));
	assert_string_equal(capture_close(&err), "");
	free(out.text);
	free(err.text);
	json_decref(answer);

	answer = doc("{\"ok\":false,\"error\":\"instance 1 is the only "
	    "flow-manager\"}");
	capture_open(&out);
	capture_open(&err);
	assert_int_equal(ctl_print_drain(out.f, err.f, 409, answer),
	    CTL_EXIT_REFUSED);
	assert_string_equal(capture_close(&out), "");
	assert_string_equal(capture_close(&err), "epsipctl: drain refused "
	    "(HTTP 409): instance 1 is the only flow-manager\n");
	free(out.text);
	free(err.text);
	json_decref(answer);
}

static void
test_flows_prints_a_table_and_the_page_it_is(void **state)
{
	struct capture out, err;
	json_t *answer;

	(void)state;
	answer = doc("{\"total\":3,\"offset\":1,\"limit\":2,"
	    "\"complete\":true,\"flows\":["
	    "{\"id\":\"1.0.4.77\",\"transport\":\"udp\","
	    "\"remote\":\"192.0.2.9:5060\",\"local\":\"192.0.2.1:5060\","
	    "\"aor\":\"sip:alice@example.com\",\"age_s\":75,\"idle_s\":3},"
	    "{\"id\":\"2.1.0.5\",\"transport\":\"tcp\","
	    "\"remote\":\"[2001:db8::2]:40000\",\"local\":\"[::1]:5060\","
	    "\"aor\":null,\"age_s\":4000,\"idle_s\":0}]}");
	capture_open(&out);
	capture_open(&err);
	assert_int_equal(ctl_print_flows(out.f, err.f, 200, answer),
	    CTL_EXIT_OK);
	assert_string_equal(capture_close(&out),
	    "TOKEN-ID  TRANSPORT  REMOTE               LOCAL           "
	    "AOR                    AGE       IDLE\n"
	    "1.0.4.77  udp        192.0.2.9:5060       192.0.2.1:5060  "
	    "sip:alice@example.com  1m15s     3s\n"
	    "2.1.0.5   tcp        [2001:db8::2]:40000  [::1]:5060      "
	    "-                      1h06m40s  0s\n"
	    "2 of 3 flows (offset 1)\n");
	assert_string_equal(capture_close(&err), "");
	free(out.text);
	free(err.text);
	json_decref(answer);
}

static void
test_flows_says_when_incomplete_or_refused(void **state)
{
	struct capture out, err;
	json_t *answer;

	(void)state;
	answer = doc("{\"total\":0,\"offset\":0,\"limit\":100,"
	    "\"complete\":false,\"flows\":[]}");
	capture_open(&out);
	capture_open(&err);
	assert_int_equal(ctl_print_flows(out.f, err.f, 200, answer),
	    CTL_EXIT_OK);
	assert_string_equal(capture_close(&out),
	    "TOKEN-ID  TRANSPORT  REMOTE  LOCAL  AOR  AGE  IDLE\n"
	    "0 of 0 flows (offset 0)\n"
	    "incomplete: some flow-manager children did not answer in "
	    "time; their flows are missing\n");
	assert_string_equal(capture_close(&err), "");
	free(out.text);
	free(err.text);
	json_decref(answer);

	answer = doc("{\"ok\":false,\"error\":\"transport: udp or tcp\"}");
	capture_open(&out);
	capture_open(&err);
	assert_int_equal(ctl_print_flows(out.f, err.f, 400, answer),
	    CTL_EXIT_REFUSED);
	assert_string_equal(capture_close(&out), "");
	assert_string_equal(capture_close(&err), "epsipctl: flows refused "
	    "(HTTP 400): transport: udp or tcp\n");
	free(out.text);
	free(err.text);
	json_decref(answer);
}

static void
test_flows_path_encodes_each_filter(void **state)
{
	struct ctl_flows_args args;
	char path[256], tiny[24];

	(void)state;
	memset(&args, 0, sizeof(args));
	assert_int_equal(ctl_flows_path(&args, path, sizeof(path)), 0);
	assert_string_equal(path, "/flows");
	args.aor = "sip:+49 30@example.com";
	args.transport = "tcp";
	args.instance = "2";
	args.offset = "100";
	args.limit = "50";
	assert_int_equal(ctl_flows_path(&args, path, sizeof(path)), 0);
	assert_string_equal(path, "/flows?aor=sip%3A%2B49%2030%40example.com"
	    "&transport=tcp&instance=2&offset=100&limit=50");
	assert_int_equal(ctl_flows_path(&args, tiny, sizeof(tiny)), -1);
}

/* One line of a pipe: its line end gone; empty or too long refused. */
static void
test_password_is_one_line_of_standard_input(void **state)
{
	static const struct {
		const char *in;
		int rv;
		const char *want;
	} cases[] = {
		{ "s3cret\n", 0, "s3cret" },
		{ "with spaces \"and\" quotes\r\nsecond line\n", 0,
		    "with spaces \"and\" quotes" },
		{ "no line end", 0, "no line end" },
		{ "\n", -1, "" },
		{ "", -1, "" },
		/* longer than 31 */
		{ "0123456789abcdef0123456789abcdef\n", -1, NULL },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *in = fmemopen((void *)(uintptr_t)cases[i].in,
		    strlen(cases[i].in), "r");

		if (cases[i].in[0] == '\0') {
			fclose(in);
			in = fopen("/dev/null", "r");
		}
		assert_non_null(in);
		assert_int_equal(ctl_read_password(in, 0, NULL, buf,
		    sizeof(buf)), cases[i].rv);
		if (cases[i].want != NULL && cases[i].rv == 0) {
			assert_string_equal(buf, cases[i].want);
		}
		fclose(in);
	}
}

/* The database epsipd would use: state-dir's, unless registrar-db. */
static void
test_registrar_db_is_found_as_epsipd_finds_it(void **state)
{
	struct epsip_config cfg;
	char err[256], path[] = "/tmp/epsipctl-test-XXXXXX";
	FILE *f;
	int fd;

	(void)state;
	unsetenv("EPSIP_CONFIG");
	unsetenv("EPSIP_STATE_DIR");
	unsetenv("EPSIP_REGISTRAR_DB");
	assert_int_equal(ctl_registrar_config(NULL, NULL, "/srv/state", &cfg,
	    err, sizeof(err)), 0);
	assert_string_equal(cfg.registrar_db, "/srv/state/registrar.sqlite");
	assert_int_equal(ctl_registrar_config(NULL, "/srv/r.db",
	    "/srv/state", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.registrar_db, "/srv/r.db");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fprintf(f, "state-dir = /var/lib/x\ndomain = example.com\n");
	fclose(f);
	assert_int_equal(ctl_registrar_config(path, NULL, NULL, &cfg, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.registrar_db, "/var/lib/x/registrar.sqlite");
	assert_int_equal(cfg.domain_count, 1);
	/* The environment over the file, flags over both (epsipd's order). */
	setenv("EPSIP_STATE_DIR", "/env/state", 1);
	assert_int_equal(ctl_registrar_config(path, NULL, NULL, &cfg, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.registrar_db, "/env/state/registrar.sqlite");
	assert_int_equal(ctl_registrar_config(path, NULL, "/flag", &cfg, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.registrar_db, "/flag/registrar.sqlite");
	unsetenv("EPSIP_STATE_DIR");
	/* A file epsipd refuses is refused here too, with its line. */
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "flow-timer = abc\n");
	fclose(f);
	assert_int_equal(ctl_registrar_config(path, NULL, NULL, &cfg, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: flow-timer"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_reply_is_split_at_the_headers_and_cut_to_content_length),
		cmocka_unit_test(test_durations_read_like_a_clock),
		cmocka_unit_test(
		    test_flat_stats_are_one_key_value_a_line_in_order),
		cmocka_unit_test(
		    test_status_prints_health_epsipd_and_a_line_per_service),
		cmocka_unit_test(
		    test_reload_says_what_changed_or_why_it_was_refused),
		cmocka_unit_test(
		    test_drain_says_what_happens_or_why_it_was_refused),
		cmocka_unit_test(test_flows_prints_a_table_and_the_page_it_is),
		cmocka_unit_test(test_flows_says_when_incomplete_or_refused),
		cmocka_unit_test(test_flows_path_encodes_each_filter),
		cmocka_unit_test(test_password_is_one_line_of_standard_input),
		cmocka_unit_test(test_registrar_db_is_found_as_epsipd_finds_it),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
