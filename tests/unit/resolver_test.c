/*
 * resolver_test.c -- names looked up off the loop's thread: the loop
 * keeps running while a lookup hangs, answers are kept, stale ones are
 * served while refreshed and survive a DNS outage.
 *
 * The lookup is a fake that waits at a gate the test opens, so "the
 * lookup is slow" is a fact of the test, not a timing guess.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "epsip/loop.h"
#include "epsip/resolver.h"

struct fake_dns {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool gate_open;
	bool failing;			/* answer EAI_NONAME */
	int lookups;
	int entered;			/* lookups that reached the gate */
};

struct fixture {
	struct loop *loop;
	struct resolver *r;
	struct fake_dns dns;
	int answers;			/* done callbacks */
	int stop_after;			/* stop the loop at this many */
	char last_host[RESOLVER_HOST_MAX];
	int last_error;
	size_t last_naddrs;
	int timer_ran;
};

static void
fake_lookup(const char *host, int family, struct resolver_answer *ans,
    void *arg)
{
	struct fake_dns *dns = arg;

	(void)family;
	memset(ans, 0, sizeof(*ans));
	pthread_mutex_lock(&dns->mu);
	dns->entered++;
	pthread_cond_broadcast(&dns->cv);
	while (!dns->gate_open) {
		pthread_cond_wait(&dns->cv, &dns->mu);
	}
	dns->lookups++;
	if (dns->failing) {
		ans->error = EAI_NONAME;
	} else {
		/* 192.0.2.N, N the name's length: each name its own address. */
		ans->naddrs = 1;
		ans->addrs[0].family = AF_INET;
		ans->addrs[0].ip[0] = 192;
		ans->addrs[0].ip[2] = 2;
		ans->addrs[0].ip[3] = (uint8_t)strlen(host);
	}
	pthread_mutex_unlock(&dns->mu);
}

static void
gate_set(struct fake_dns *dns, bool open)
{
	pthread_mutex_lock(&dns->mu);
	dns->gate_open = open;
	pthread_cond_broadcast(&dns->cv);
	pthread_mutex_unlock(&dns->mu);
}

static void
dns_set_failing(struct fake_dns *dns, bool failing)
{
	pthread_mutex_lock(&dns->mu);
	dns->failing = failing;
	pthread_mutex_unlock(&dns->mu);
}

/* Until the worker has entered `count` lookups (it waits at the gate). */
static void
wait_entered(struct fake_dns *dns, int count)
{
	pthread_mutex_lock(&dns->mu);
	while (dns->entered < count) {
		pthread_cond_wait(&dns->cv, &dns->mu);
	}
	pthread_mutex_unlock(&dns->mu);
}

static int
lookups(struct fake_dns *dns)
{
	int n;

	pthread_mutex_lock(&dns->mu);
	n = dns->lookups;
	pthread_mutex_unlock(&dns->mu);
	return (n);
}

static void
on_answer(const char *host, const struct resolver_answer *ans, void *arg)
{
	struct fixture *f = arg;

	f->answers++;
	f->last_error = ans->error;
	f->last_naddrs = ans->naddrs;
	snprintf(f->last_host, sizeof(f->last_host), "%s", host);
	if (f->answers >= f->stop_after) {
		loop_stop(f->loop);
	}
}

static void
give_up(struct loop *loop, void *arg)
{
	(void)arg;
	loop_stop(loop);	/* the assertion after loop_run() reports it */
}

/* Run the loop until the done callback has been called `total` times. */
static void
run_until_answers(struct fixture *f, int total)
{
	int guard;

	f->stop_after = total;
	if (f->answers >= total) {
		return;
	}
	guard = loop_after(f->loop, 10000, give_up, NULL);
	loop_run(f->loop);
	loop_cancel(f->loop, guard);
	assert_int_equal(f->answers, total);
}

static void
let_time_pass(struct fixture *f, unsigned ms)
{
	loop_after(f->loop, ms, give_up, NULL);
	loop_run(f->loop);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	pthread_mutex_init(&f->dns.mu, NULL);
	pthread_cond_init(&f->dns.cv, NULL);
	f->dns.gate_open = true;
	f->loop = loop_new();
	f->r = resolver_new(f->loop, AF_INET, fake_lookup, &f->dns, on_answer,
	    f);
	assert_non_null(f->r);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	gate_set(&f->dns, true);	/* resolver_free waits for it */
	resolver_free(f->r);
	loop_free(f->loop);
	pthread_mutex_destroy(&f->dns.mu);
	pthread_cond_destroy(&f->dns.cv);
	free(f);
	return (0);
}

static enum resolver_status
get(struct fixture *f, const char *host, struct epsip_addr *a)
{
	size_t n;
	enum resolver_status st = resolver_get(f->r, host, a, 1, &n);

	assert_int_equal(n, st == RESOLVER_OK ? 1 : 0);
	return (st);
}

/* A timer that opens the gate: it can only run if the loop is free. */
static void
open_gate_from_loop(struct loop *loop, void *arg)
{
	struct fixture *f = arg;

	(void)loop;
	f->timer_ran = 1;
	gate_set(&f->dns, true);
}

static void
test_a_hanging_lookup_leaves_the_loop_running(void **state)
{
	struct fixture *f = *state;
	struct epsip_addr a;

	gate_set(&f->dns, false);
	assert_int_equal(get(f, "registrar.example.net", &a), RESOLVER_PENDING);
	/* The lookup waits for a timer of the same loop: with a blocking
	 * lookup this would never end. */
	loop_after(f->loop, 1, open_gate_from_loop, f);
	run_until_answers(f, 1);
	assert_true(f->timer_ran);
	assert_string_equal(f->last_host, "registrar.example.net");
	assert_int_equal(get(f, "registrar.example.net", &a), RESOLVER_OK);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.ip[0], 192);
	assert_int_equal(a.ip[3], strlen("registrar.example.net"));
	assert_int_equal(a.port, 0);
}

static void
test_an_answer_is_kept_and_not_asked_again(void **state)
{
	struct fixture *f = *state;
	struct epsip_addr a;

	assert_int_equal(get(f, "edge-b.example.net", &a), RESOLVER_PENDING);
	run_until_answers(f, 1);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(get(f, "EDGE-B.example.net", &a), RESOLVER_OK);
	}
	assert_int_equal(lookups(&f->dns), 1);
	assert_int_equal(resolver_in_flight(f->r), 0);
}

static void
test_a_name_asked_twice_while_pending_is_looked_up_once(void **state)
{
	struct fixture *f = *state;
	struct epsip_addr a;

	gate_set(&f->dns, false);
	assert_int_equal(get(f, "edge-b.example.net", &a), RESOLVER_PENDING);
	assert_int_equal(get(f, "edge-b.example.net", &a), RESOLVER_PENDING);
	assert_int_equal(resolver_in_flight(f->r), 1);
	gate_set(&f->dns, true);
	run_until_answers(f, 1);
	assert_int_equal(lookups(&f->dns), 1);
}

static void
test_a_failed_name_is_not_asked_again_before_the_retry_time(void **state)
{
	struct fixture *f = *state;
	struct epsip_addr a;

	resolver_set_lifetimes(f->r, 60000, 50);
	dns_set_failing(&f->dns, true);
	assert_int_equal(get(f, "nowhere.example.net", &a), RESOLVER_PENDING);
	run_until_answers(f, 1);
	assert_int_equal(f->last_error, EAI_NONAME);
	assert_int_equal(f->last_naddrs, 0);
	assert_int_equal(get(f, "nowhere.example.net", &a), RESOLVER_FAILED);
	assert_int_equal(lookups(&f->dns), 1);
	let_time_pass(f, 60);
	/* Retry time passed: asked again, and it works now. */
	dns_set_failing(&f->dns, false);
	assert_int_equal(get(f, "nowhere.example.net", &a), RESOLVER_PENDING);
	run_until_answers(f, 2);
	assert_int_equal(get(f, "nowhere.example.net", &a), RESOLVER_OK);
}

static void
test_a_stale_answer_is_served_while_refreshing_and_kept_if_dns_fails(
    void **state)
{
	struct fixture *f = *state;
	struct epsip_addr a;

	resolver_set_lifetimes(f->r, 20, 20);
	assert_int_equal(get(f, "upstream.example.net", &a), RESOLVER_PENDING);
	run_until_answers(f, 1);
	let_time_pass(f, 30);
	/* Stale now, and DNS is down: the old address is still given. */
	dns_set_failing(&f->dns, true);
	gate_set(&f->dns, false);
	assert_int_equal(get(f, "upstream.example.net", &a), RESOLVER_OK);
	assert_int_equal(resolver_in_flight(f->r), 1);
	gate_set(&f->dns, true);
	run_until_answers(f, 2);
	assert_int_equal(lookups(&f->dns), 2);
	assert_int_equal(get(f, "upstream.example.net", &a), RESOLVER_OK);
	assert_int_equal(a.ip[3], strlen("upstream.example.net"));
}

static void
test_get_now_answers_at_once_and_fills_the_table(void **state)
{
	struct fixture *f = *state;
	struct epsip_addr a;
	size_t n;

	assert_int_equal(resolver_get_now(f->r, "kamailio.example.net", &a, 1,
	    &n), RESOLVER_OK);
	assert_int_equal(n, 1);
	assert_int_equal(get(f, "kamailio.example.net", &a), RESOLVER_OK);
	assert_int_equal(lookups(&f->dns), 1);
	assert_int_equal(resolver_in_flight(f->r), 0);

	dns_set_failing(&f->dns, true);
	assert_int_equal(resolver_get_now(f->r, "gone.example.net", &a, 1,
	    &n), RESOLVER_FAILED);
	assert_int_equal(n, 0);
}

static void
test_a_name_too_long_or_empty_fails_without_a_lookup(void **state)
{
	struct fixture *f = *state;
	char name[RESOLVER_HOST_MAX + 10];
	struct epsip_addr a;

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(get(f, name, &a), RESOLVER_FAILED);
	assert_int_equal(get(f, "", &a), RESOLVER_FAILED);
	assert_int_equal(resolver_in_flight(f->r), 0);
}

static void
test_new_names_are_refused_while_every_entry_is_being_looked_up(
    void **state)
{
	struct fixture *f = *state;
	char host[32];
	struct epsip_addr a;

	gate_set(&f->dns, false);
	for (int i = 0; i < RESOLVER_NAMES; i++) {
		snprintf(host, sizeof(host), "h%d.example.net", i);
		assert_int_equal(get(f, host, &a), RESOLVER_PENDING);
	}
	assert_int_equal(get(f, "one-more.example.net", &a),
	    RESOLVER_FAILED);
	gate_set(&f->dns, true);
	run_until_answers(f, RESOLVER_NAMES);
	/* Answered names can be replaced again: the oldest goes. */
	assert_int_equal(get(f, "one-more.example.net", &a),
	    RESOLVER_PENDING);
	run_until_answers(f, RESOLVER_NAMES + 1);
	assert_int_equal(get(f, "one-more.example.net", &a), RESOLVER_OK);
}

/* Opens the gate from another thread, while resolver_free() waits. */
static void *
open_gate_later(void *arg)
{
	gate_set(arg, true);
	return (NULL);
}

static void
test_free_waits_for_the_lookup_in_progress_and_leaks_nothing(void **state)
{
	struct fixture *f = *state;
	struct epsip_addr a;
	pthread_t opener;

	gate_set(&f->dns, false);
	assert_int_equal(get(f, "slow.example.net", &a), RESOLVER_PENDING);
	assert_int_equal(get(f, "queued.example.net", &a), RESOLVER_PENDING);
	wait_entered(&f->dns, 1);	/* "slow" is at the gate */
	assert_int_equal(pthread_create(&opener, NULL, open_gate_later,
	    &f->dns), 0);
	resolver_free(f->r);		/* the answers are dropped */
	f->r = resolver_new(f->loop, AF_INET, fake_lookup, &f->dns,
	    on_answer, f);
	pthread_join(opener, NULL);
	/* No callback after free; the queued name ran only if the worker
	 * took it before it saw the stop.  Leaks are valgrind's to find. */
	assert_int_equal(f->answers, 0);
	assert_in_range(lookups(&f->dns), 1, 2);
}

static void
test_getaddrinfo_finds_an_ip_literal_and_refuses_a_bad_name(void **state)
{
	struct resolver_answer ans;
	char text[INET6_ADDRSTRLEN];

	(void)state;
	resolver_getaddrinfo("127.0.0.1", AF_UNSPEC, &ans, NULL);
	assert_int_equal(ans.error, 0);
	assert_int_equal(ans.naddrs, 1);	/* once, not per protocol */
	assert_non_null(inet_ntop(AF_INET, ans.addrs[0].ip, text,
	    sizeof(text)));
	assert_string_equal(text, "127.0.0.1");
	resolver_getaddrinfo("::1", AF_INET, &ans, NULL);
	assert_int_not_equal(ans.error, 0);	/* wrong family */
	assert_int_equal(ans.naddrs, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_a_hanging_lookup_leaves_the_loop_running, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_an_answer_is_kept_and_not_asked_again, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_name_asked_twice_while_pending_is_looked_up_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_failed_name_is_not_asked_again_before_the_retry_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_stale_answer_is_served_while_refreshing_and_kept_if_dns_fails,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_get_now_answers_at_once_and_fills_the_table, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_name_too_long_or_empty_fails_without_a_lookup, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_new_names_are_refused_while_every_entry_is_being_looked_up,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_free_waits_for_the_lookup_in_progress_and_leaks_nothing,
		    setup, teardown),
		cmocka_unit_test(
		    test_getaddrinfo_finds_an_ip_literal_and_refuses_a_bad_name),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
