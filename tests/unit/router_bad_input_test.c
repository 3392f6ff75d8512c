/*
 * router_bad_input_test.c -- bad input gets a clear answer and the
 * connection survives it (issue 12 §5).  Each file of tests/corpus/bad/
 * is a request a phone sent over TCP whose start line or a header is
 * wrong while its framing is intact.  It goes through the flow-manager's
 * framing (one whole message, nothing lost) and then router_process(),
 * and must get the status and reason phrase its first line names, with
 * the connection kept: no CLOSE_AFTER_SEND.
 *
 *   # expect: 400 Whitespace In Request-URI     answered so, connection kept
 *   # expect: forward                           a legal oddity: forwarded
 *   # unsupported: foo, bar                     a 420's Unsupported values
 *
 * The files are written with LF line ends; each LF becomes CRLF here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "epsip/sip_frame.h"
#include "router_fixture.h"

#define BAD_MAX		16384

#define setup router_fixture_setup_embedded
#define teardown router_fixture_teardown

static char bad_dir[PATH_MAX];

struct bad_case {
	int forward;			/* "forward": routed on, not answered */
	int status;
	char reason[128];
	char unsupported[256];		/* "" when not a 420 */
	char msg[BAD_MAX];
	size_t len;
};

/* tests/corpus/bad from the working directory, or above this binary. */
static int
find_bad_corpus(void)
{
	char exe[PATH_MAX], *dir;
	struct stat st;
	ssize_t n;

	if (stat("tests/corpus/bad", &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(bad_dir, sizeof(bad_dir), "tests/corpus/bad");
		return (0);
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0) {
		return (-1);
	}
	exe[n] = '\0';
	for (dir = dirname(exe); strcmp(dir, "/") != 0; dir = dirname(dir)) {
		snprintf(bad_dir, sizeof(bad_dir), "%s/tests/corpus/bad", dir);
		if (stat(bad_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
			return (0);
		}
	}
	return (-1);
}

/* The "# " lines first, then the message with CRLF line ends. */
static void
load_case(const char *name, struct bad_case *c)
{
	char path[PATH_MAX + 256], line[BAD_MAX];
	FILE *f;

	memset(c, 0, sizeof(*c));
	snprintf(path, sizeof(path), "%s/%s", bad_dir, name);
	assert_non_null(f = fopen(path, "rb"));
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\n");

		if (c->len == 0 && strncmp(line, "# expect: ", 10) == 0) {
			line[n] = '\0';
			if (strcmp(line + 10, "forward") == 0) {
				c->forward = 1;
			} else {
				c->status = atoi(line + 10);
				snprintf(c->reason, sizeof(c->reason), "%.127s",
				    line + 14);
			}
			continue;
		}
		if (c->len == 0 && strncmp(line, "# unsupported: ", 15) ==
		    0) {
			line[n] = '\0';
			snprintf(c->unsupported, sizeof(c->unsupported), "%.255s",
			    line + 15);
			continue;
		}
		assert_true(c->len + n + 2 < sizeof(c->msg));
		memcpy(c->msg + c->len, line, n);
		c->len += n;
		if (line[n] == '\n') {
			memcpy(c->msg + c->len, "\r\n", 2);
			c->len += 2;
		}
	}
	fclose(f);
	assert_true(c->forward || c->status != 0);
}

/* Every Unsupported value of the answer, in order, ", "-joined. */
static void
unsupported_of(osip_message_t *m, char *out, size_t cap)
{
	osip_header_t *h;
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; osip_message_header_get_byname(m, "unsupported", i,
	    &h) >= 0; i++) {
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "",
		    h->hvalue);
		i = osip_message_header_get_byname(m, "unsupported", i, &h);
	}
}

static void
check_case(const char *name)
{
	struct bad_case *c = malloc(sizeof(*c));
	struct router_output out;
	struct sip_frame fr;
	osip_message_t *m;
	char got[256];

	assert_non_null(c);
	load_case(name, c);
	/* The framing holds: one whole message, the connection lives on. */
	assert_int_equal(sip_frame_stream_next(c->msg, c->len, 65535, &fr),
	    SIP_FRAME_MESSAGE);
	assert_int_equal(fr.consumed, c->len);
	process(&flow_b, c->msg, &out);
	if (c->forward) {
		if (out.dest != ROUTER_TO_CORE) {
			fail_msg("%s: not forwarded (dest %d)", name, out.dest);
		}
		router_output_clear(&out);
		free(c);
		return;
	}
	if (out.dest != ROUTER_TO_FLOW) {
		fail_msg("%s: not answered (dest %d)", name, out.dest);
	}
	assert_true(epsip_flow_id_equal(&out.flow.flow, &flow_b.flow.flow));
	if (out.flags & EPSIP_MSG_F_CLOSE_AFTER_SEND) {
		fail_msg("%s: the connection would be closed", name);
	}
	m = parse_out(&out);
	if (osip_message_get_status_code(m) != c->status ||
	    strcmp(osip_message_get_reason_phrase(m), c->reason) != 0) {
		fail_msg("%s: answered %d %s, not %d %s", name,
		    osip_message_get_status_code(m),
		    osip_message_get_reason_phrase(m), c->status, c->reason);
	}
	if (c->unsupported[0] != '\0') {
		unsupported_of(m, got, sizeof(got));
		if (strcmp(got, c->unsupported) != 0) {
			fail_msg("%s: Unsupported \"%s\", not \"%s\"", name,
			    got, c->unsupported);
		}
	}
	osip_message_free(m);
	router_output_clear(&out);
	free(c);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static void
test_bad_input_gets_a_clear_answer_and_the_connection_survives(
    void **state)
{
	char *names[64];
	size_t n = 0;
	struct dirent *d;
	DIR *dir;

	(void)state;
	assert_int_equal(find_bad_corpus(), 0);
	assert_non_null(dir = opendir(bad_dir));
	while ((d = readdir(dir)) != NULL && n < 64) {
		size_t l = strlen(d->d_name);

		if (l > 4 && strcmp(d->d_name + l - 4, ".sip") == 0) {
			names[n++] = strdup(d->d_name);
		}
	}
	closedir(dir);
	/* An empty or missing corpus must not pass. */
	assert_true(n >= 7);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		check_case(names[i]);
		free(names[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_bad_input_gets_a_clear_answer_and_the_connection_survives),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
