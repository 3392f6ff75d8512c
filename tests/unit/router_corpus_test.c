/*
 * router_corpus_test.c -- real-looking messages (tests/corpus/: baresip,
 * sipp, Kamailio, JsSIP, compact and multi-value headers) through
 * router_process(): only the headers the edge owns may differ.  Every
 * other header line leaves byte for byte and in the same relative order,
 * the start line and the body are untouched, and the Vias below ours are
 * the UA's lines (issue 7 §2).
 *
 * The file name says where a message comes from: flow-udp-*, flow-tcp-*
 * (a phone flow) or core-* (the registrar-bridge).  @TOKEN_A@ and
 * @TOKEN_B@ stand for the flow tokens of the fixture's two flows, which
 * depend on the key made for the run.  EPSIP_CORPUS_SHOW=1 prints each
 * message in and out.
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

#include "epsip/sip_scan.h"
#include "router_fixture.h"

#define CORPUS_MAX	65536

static char corpus_dir[PATH_MAX];

#define setup router_fixture_setup_embedded
#define teardown router_fixture_teardown

/* tests/corpus from the working directory, or above this binary. */
static int
find_corpus(void)
{
	char exe[PATH_MAX], *dir;
	struct stat st;
	ssize_t n;

	if (stat("tests/corpus", &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(corpus_dir, sizeof(corpus_dir), "tests/corpus");
		return (0);
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0) {
		return (-1);
	}
	exe[n] = '\0';
	for (dir = dirname(exe); strcmp(dir, "/") != 0; dir = dirname(dir)) {
		snprintf(corpus_dir, sizeof(corpus_dir), "%s/tests/corpus",
		    dir);
		if (stat(corpus_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
			return (0);
		}
	}
	return (-1);
}

/* Replace every `mark` in text[0..*len) by `with`. */
static void
substitute(char *text, size_t *len, size_t cap, const char *mark,
    const char *with)
{
	size_t mlen = strlen(mark), wlen = strlen(with);
	char *p;

	while ((p = memmem(text, *len, mark, mlen)) != NULL) {
		size_t tail = *len - (size_t)(p - text) - mlen;

		assert_true(*len - mlen + wlen < cap);
		memmove(p + wlen, p + mlen, tail);
		memcpy(p, with, wlen);
		*len = *len - mlen + wlen;
	}
}

static size_t
load(const char *name, char *text, size_t cap)
{
	char path[PATH_MAX + 256], ta[FLOW_TOKEN_MAX_TEXT];
	char tb[FLOW_TOKEN_MAX_TEXT];
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
	assert_non_null(f = fopen(path, "rb"));
	len = fread(text, 1, cap - 1, f);
	fclose(f);
	token_of(&flow_a, ta, sizeof(ta));
	token_of(&flow_b, tb, sizeof(tb));
	substitute(text, &len, cap, "@TOKEN_A@", ta);
	substitute(text, &len, cap, "@TOKEN_B@", tb);
	return (len);
}

static int
owned(enum sip_hdr_id id)
{
	return (id == SIP_HDR_VIA || id == SIP_HDR_ROUTE ||
	    id == SIP_HDR_RECORD_ROUTE || id == SIP_HDR_PATH ||
	    id == SIP_HDR_MAX_FORWARDS || id == SIP_HDR_FLOW_TIMER);
}

static int
span_equal(const struct sip_scan *a, struct sip_span x,
    const struct sip_scan *b, struct sip_span y)
{
	return (x.len == y.len && memcmp(a->buf + x.off, b->buf + y.off,
	    x.len) == 0);
}

static void
print_both(const char *name, const char *in, size_t in_len,
    const struct router_output *out)
{
	fprintf(stderr, "--- %s in:\n%.*s\n--- out:\n%.*s\n", name,
	    (int)in_len, in, (int)out->sip_len, out->sip);
}

/*
 * The heart of it: the lines the edge does not own, in and out, are the
 * same list of byte strings.
 */
static void
assert_unowned_lines_unchanged(const char *name, const struct sip_scan *in,
    const struct sip_scan *out, const struct router_output *o)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < in->count && owned(in->h[i].id)) {
			i++;
		}
		while (j < out->count && owned(out->h[j].id)) {
			j++;
		}
		if (i == in->count || j == out->count) {
			break;
		}
		if (!span_equal(in, in->h[i].line, out, out->h[j].line)) {
			print_both(name, in->buf, in->len, o);
			fail_msg("%s: line %zu '%.*s' became '%.*s'", name, i,
			    (int)in->h[i].line.len, in->buf +
			    in->h[i].line.off, (int)out->h[j].line.len,
			    out->buf + out->h[j].line.off);
		}
		i++;
		j++;
	}
	if (i != in->count || j != out->count) {
		print_both(name, in->buf, in->len, o);
		fail_msg("%s: unowned lines lost or added", name);
	}
}

/* Via values of the whole message, in order. */
static size_t
via_values(const struct sip_scan *s, struct sip_span *v, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < s->count; i++) {
		size_t pos = s->h[i].value.off;

		while (s->h[i].id == SIP_HDR_VIA && n < cap &&
		    sip_value_next(s->buf, s->h[i].value, &pos, &v[n])) {
			n++;
		}
	}
	return (n);
}

/*
 * A request gains our Via on top and keeps the rest: the top one with at
 * most received/rport appended, the others byte for byte.  A response
 * loses our Via and keeps the rest byte for byte.
 */
static void
assert_vias(const char *name, const struct sip_scan *in,
    const struct sip_scan *out, int request)
{
	struct sip_span vi[16], vo[16];
	size_t ni = via_values(in, vi, 16), no = via_values(out, vo, 16);

	assert_true(ni > 0);
	if (!request) {
		assert_int_equal(no + 1, ni);
		for (size_t k = 0; k < no; k++) {
			if (!span_equal(in, vi[k + 1], out, vo[k])) {
				fail_msg("%s: Via %zu changed", name, k + 1);
			}
		}
		return;
	}
	assert_int_equal(no, ni + 1);
	assert_memory_equal(out->buf + vo[0].off, "SIP/2.0/", 8);
	assert_non_null(memmem(out->buf + vo[0].off, vo[0].len,
	    ";branch=" EPSIP_ROUTER_BRANCH_PREFIX, 18));
	/* The UA's own Via: its bytes, then maybe our stamps. */
	assert_true(vo[1].len >= vi[0].len);
	assert_memory_equal(out->buf + vo[1].off, in->buf + vi[0].off,
	    vi[0].len);
	for (size_t k = 1; k < ni; k++) {
		if (!span_equal(in, vi[k], out, vo[k + 1])) {
			fail_msg("%s: Via %zu changed", name, k);
		}
	}
}

static void
check_one(const char *name)
{
	static char text[CORPUS_MAX];
	static struct sip_scan in, out_scan;
	const struct router_origin *o;
	struct router_output out;
	osip_message_t *m;
	size_t len = load(name, text, sizeof(text));
	int request = strncmp(text, "SIP/", 4) != 0;

	if (strncmp(name, "flow-udp-", 9) == 0) {
		o = &flow_a;
	} else if (strncmp(name, "flow-tcp-", 9) == 0) {
		o = &flow_b;
	} else {
		assert_int_equal(strncmp(name, "core-", 5), 0);
		o = &core;
	}
	router_process(&router, o, text, len, &out);
	if (out.dest == ROUTER_DROP || out.local_status != 0) {
		fail_msg("%s: not forwarded (%s, status %d)", name,
		    out.drop_reason ? out.drop_reason : "-", out.local_status);
	}
	/* To look at, not to test. */
	if (getenv("EPSIP_CORPUS_SHOW") != NULL) {
		print_both(name, text, len, &out);
	}
	assert_int_equal(sip_scan(text, len, &in), 0);
	assert_int_equal(sip_scan(out.sip, out.sip_len, &out_scan), 0);
	/* Start line and body: untouched. */
	assert_true(span_equal(&in, in.start_line, &out_scan,
	    out_scan.start_line));
	assert_int_equal(in.len - in.body, out_scan.len - out_scan.body);
	assert_memory_equal(in.buf + in.body, out_scan.buf + out_scan.body,
	    in.len - in.body);
	assert_unowned_lines_unchanged(name, &in, &out_scan, &out);
	assert_vias(name, &in, &out_scan, request);
	/* And it is still SIP. */
	assert_int_equal(sip_parse(out.sip, out.sip_len, &m), 0);
	osip_message_free(m);
	router_output_clear(&out);
}

static int
corpus_name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static void
test_corpus_messages_change_only_the_headers_the_edge_owns(void **state)
{
	char *names[128];
	size_t n = 0;
	struct dirent *d;
	DIR *dir;

	(void)state;
	assert_int_equal(find_corpus(), 0);
	assert_non_null(dir = opendir(corpus_dir));
	while ((d = readdir(dir)) != NULL && n < 128) {
		size_t l = strlen(d->d_name);

		if (l > 4 && strcmp(d->d_name + l - 4, ".sip") == 0) {
			names[n++] = strdup(d->d_name);
		}
	}
	closedir(dir);
	/* An empty or missing corpus must not pass. */
	assert_true(n >= 10);
	qsort(names, n, sizeof(names[0]), corpus_name_cmp);
	for (size_t i = 0; i < n; i++) {
		check_one(names[i]);
		free(names[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_corpus_messages_change_only_the_headers_the_edge_owns),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
