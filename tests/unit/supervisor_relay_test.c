/*
 * supervisor_relay_test.c -- the services' stderr through epsipd, and the
 * line kept to explain a failed start (services/supervisor/relay.c).
 *
 * A real pipe stands for a service's stderr and another for epsipd's:
 * what is written to the first must come out of the second whole lines
 * at a time, and the reason must be the line an operator needs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../../services/supervisor/relay.h"

struct fixture {
	struct sup_relay relay;
	int out[2];		/* epsipd's stderr: [1] written, [0] read */
};

static int
setup(void **state)
{
	static struct fixture f;

	sup_relay_init(&f.relay);
	assert_int_equal(sup_relay_open(&f.relay), 0);
	assert_int_equal(pipe2(f.out, O_NONBLOCK), 0);
	*state = &f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	sup_relay_close(&f->relay);
	close(f->out[0]);
	close(f->out[1]);
	return (0);
}

/* What the service writes, as one write(2) like log.c's. */
static void
service_writes(struct fixture *f, const char *text)
{
	assert_int_equal(write(f->relay.wfd, text, strlen(text)),
	    (ssize_t)strlen(text));
}

/* What came out on epsipd's stderr since the last call. */
static const char *
epsipd_wrote(struct fixture *f)
{
	static char buf[SUP_RELAY_BUF * 2];
	ssize_t n;

	n = read(f->out[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	return (buf);
}

static void
test_log_line_message_plain_and_journal(void **state)
{
	static const char plain[] = "2026-12-07T16:41:54.817Z error "
	    "flow-manager[22574] flow=- listen 127.0.0.1:5060: cannot bind "
	    "udp: Address already in use";
	static const char journal[] = "<6>info fm1-c3[9] flow=1.3.0.7 "
	    "started (fm1-c3)";
	size_t off;
	int err;

	(void)state;
	off = sup_log_line_message(plain, strlen(plain), &err);
	assert_string_equal(plain + off, "listen 127.0.0.1:5060: cannot bind "
	    "udp: Address already in use");
	assert_true(err);
	off = sup_log_line_message(journal, strlen(journal), &err);
	assert_string_equal(journal + off, "started (fm1-c3)");
	assert_false(err);
}

static void
test_log_line_message_other_lines_are_all_message(void **state)
{
	static const char *const lines[] = {
		"epsipd: cannot exec /x/epsip-sip-router: errno 2",
		"epsip-sip-router: flow-timer: not a number",
		"==42==ERROR: AddressSanitizer: heap-use-after-free",
		"error",
		"",
	};
	size_t i;
	int err;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(sup_log_line_message(lines[i],
		    strlen(lines[i]), &err), 0);
		assert_false(err);
	}
}

static void
test_relay_passes_whole_lines_only(void **state)
{
	struct fixture *f = *state;

	service_writes(f, "one\ntw");
	assert_int_equal(sup_relay_read(&f->relay, f->out[1], 0, 0), 0);
	assert_string_equal(epsipd_wrote(f), "one\n");
	service_writes(f, "o\nthree\n");
	assert_int_equal(sup_relay_read(&f->relay, f->out[1], 0, 0), 0);
	assert_string_equal(epsipd_wrote(f), "two\nthree\n");
}

static void
test_relay_flush_ends_an_unfinished_line(void **state)
{
	struct fixture *f = *state;

	sup_relay_watch(&f->relay);
	service_writes(f, "last words without a newline");
	assert_int_equal(sup_relay_read(&f->relay, f->out[1], 0, 0), 0);
	assert_string_equal(epsipd_wrote(f), "");
	assert_int_equal(sup_relay_read(&f->relay, f->out[1], 0, 1), 0);
	assert_string_equal(epsipd_wrote(f), "last words without a newline\n");
	assert_string_equal(sup_relay_reason(&f->relay),
	    "last words without a newline");
}

static void
test_relay_reason_is_the_first_error_not_its_echo(void **state)
{
	struct fixture *f = *state;

	sup_relay_watch(&f->relay);
	service_writes(f, "2026-12-07T16:42:01.805Z info registrar-bridge[7] "
	    "flow=- core upstream\n");
	service_writes(f, "2026-12-07T16:42:01.805Z error registrar-bridge[7] "
	    "flow=- upstream core: core-listen 127.0.0.1:5070: Address "
	    "already in use\n");
	service_writes(f, "2026-12-07T16:42:01.805Z error registrar-bridge[7] "
	    "flow=- failed to start\n");
	service_writes(f, "2026-12-07T16:42:01.806Z info registrar-bridge[7] "
	    "flow=- stopped\n");
	(void)sup_relay_read(&f->relay, f->out[1], 0, 1);
	assert_string_equal(sup_relay_reason(&f->relay), "upstream core: "
	    "core-listen 127.0.0.1:5070: Address already in use");
}

static void
test_relay_reason_without_error_is_the_last_line(void **state)
{
	struct fixture *f = *state;

	sup_relay_watch(&f->relay);
	assert_string_equal(sup_relay_reason(&f->relay), "");
	service_writes(f, "<6>info sip-router[8] flow=- starting\n"
	    "epsip-sip-router: flow-timer: not a number\n");
	(void)sup_relay_read(&f->relay, f->out[1], 0, 1);
	assert_string_equal(sup_relay_reason(&f->relay),
	    "epsip-sip-router: flow-timer: not a number");
	/* The next incarnation starts with a clean slate. */
	sup_relay_watch(&f->relay);
	assert_string_equal(sup_relay_reason(&f->relay), "");
}

static void
test_relay_keeps_nothing_once_ready(void **state)
{
	struct fixture *f = *state;

	sup_relay_watch(&f->relay);
	service_writes(f, "<3>error sip-router[8] flow=- early trouble\n");
	(void)sup_relay_read(&f->relay, f->out[1], 0, 0);
	sup_relay_unwatch(&f->relay);
	service_writes(f, "<3>error sip-router[8] flow=- later trouble\n");
	(void)sup_relay_read(&f->relay, f->out[1], 0, 0);
	assert_string_equal(sup_relay_reason(&f->relay), "early trouble");
	assert_string_equal(epsipd_wrote(f),
	    "<3>error sip-router[8] flow=- early trouble\n"
	    "<3>error sip-router[8] flow=- later trouble\n");
}

static void
test_relay_passes_on_a_buffer_without_newline(void **state)
{
	struct fixture *f = *state;
	static char big[SUP_RELAY_BUF + 10];
	const char *got;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	service_writes(f, big);
	(void)sup_relay_read(&f->relay, f->out[1], 0, 0);
	got = epsipd_wrote(f);
	/* A full buffer goes out as a line; the 9 left wait for more. */
	assert_int_equal(strlen(got), SUP_RELAY_BUF + 1);
	assert_int_equal(got[SUP_RELAY_BUF], '\n');
	assert_int_equal(f->relay.len, 9);
}

static void
test_relay_read_stops_at_its_budget(void **state)
{
	struct fixture *f = *state;
	static char chunk[SUP_RELAY_BUF];
	int i;

	memset(chunk, 'y', sizeof(chunk) - 2);
	chunk[sizeof(chunk) - 2] = '\n';
	chunk[sizeof(chunk) - 1] = '\0';
	for (i = 0; i < 3; i++) {
		service_writes(f, chunk);
	}
	assert_int_equal(sup_relay_read(&f->relay, f->out[1], 1, 0), 1);
	(void)epsipd_wrote(f);
	assert_int_equal(sup_relay_read(&f->relay, f->out[1], 0, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_line_message_plain_and_journal),
		cmocka_unit_test(
		    test_log_line_message_other_lines_are_all_message),
		cmocka_unit_test_setup_teardown(
		    test_relay_passes_whole_lines_only, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_flush_ends_an_unfinished_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_reason_is_the_first_error_not_its_echo, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_reason_without_error_is_the_last_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_keeps_nothing_once_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_passes_on_a_buffer_without_newline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_relay_read_stops_at_its_budget, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
