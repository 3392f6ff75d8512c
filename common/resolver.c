/*
 * resolver.c -- names looked up on a worker thread, see resolver.h.
 *
 * Two lists cross the thread boundary, both under one mutex: `todo`
 * (names for the worker) and `done` (jobs with their answers).  The
 * table of names is the loop thread's alone; the worker sees only the
 * job it is working on.  The worker wakes the loop by writing the
 * eventfd; the loop drains `done`, updates the table and tells the
 * owner.  A name being looked up is never evicted, so each answer finds
 * its entry.
 *
 * DIAGNOSTICS: counters dns.lookups, dns.failed (a lookup without an
 * address) and dns.table_full (a new name refused because all
 * RESOLVER_NAMES are being looked up).  Nothing is logged here: the
 * owner knows what the name is for.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "epsip/resolver.h"
#include "epsip/stats.h"

struct rs_job {
	STAILQ_ENTRY(rs_job) link;
	char host[RESOLVER_HOST_MAX];
	struct resolver_answer ans;
};
STAILQ_HEAD(rs_jobs, rs_job);

struct rs_name {
	char host[RESOLVER_HOST_MAX];	/* "" for a free entry */
	struct resolver_answer last;	/* the last answer with addresses */
	uint64_t answered_at;		/* when `last` came; 0: never */
	uint64_t failed_at;		/* the last lookup without address */
	uint64_t used_at;
	bool asking;
};

struct resolver {
	struct loop *loop;
	int family;
	unsigned ttl_ms, retry_ms;
	resolver_lookup_fn lookup;
	void *lookup_arg;
	resolver_done_cb done;
	void *done_arg;
	int efd;
	bool watching;			/* efd is in the loop */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started;
	bool stopping;			/* under mu */
	struct rs_jobs todo;		/* under mu, oldest first */
	struct rs_jobs answered;	/* under mu, newest first */
	size_t in_flight;		/* loop thread */

	struct rs_name names[RESOLVER_NAMES];
};

void
resolver_getaddrinfo(const char *host, int family,
    struct resolver_answer *ans, void *unused)
{
	struct addrinfo hints, *res, *ai;
	struct epsip_addr a;
	size_t i;

	(void)unused;
	memset(ans, 0, sizeof(*ans));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_DGRAM;	/* one entry per address */
	if ((ans->error = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		return;
	}
	for (ai = res; ai != NULL && ans->naddrs < RESOLVER_MAX_ADDRS;
	    ai = ai->ai_next) {
		if (epsip_addr_from_sockaddr(&a, ai->ai_addr) != 0) {
			continue;
		}
		for (i = 0; i < ans->naddrs; i++) {
			if (epsip_addr_equal(&ans->addrs[i], &a)) {
				break;
			}
		}
		if (i == ans->naddrs) {
			a.port = 0;
			ans->addrs[ans->naddrs++] = a;
		}
	}
	freeaddrinfo(res);
}

/* --- the worker --- */

static void *
worker_main(void *arg)
{
	struct resolver *r = arg;
	struct rs_job *job;
	uint64_t one = 1;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->stopping && STAILQ_EMPTY(&r->todo)) {
			pthread_cond_wait(&r->cv, &r->mu);
		}
		if (r->stopping) {
			break;
		}
		job = STAILQ_FIRST(&r->todo);
		STAILQ_REMOVE_HEAD(&r->todo, link);
		pthread_mutex_unlock(&r->mu);

		r->lookup(job->host, r->family, &job->ans, r->lookup_arg);

		pthread_mutex_lock(&r->mu);
		STAILQ_INSERT_HEAD(&r->answered, job, link);
		/* Never blocks: the counter would need 2^64 answers. */
		if (write(r->efd, &one, sizeof(one)) == -1) {
			/* EAGAIN only: the loop is already due to drain. */
		}
	}
	pthread_mutex_unlock(&r->mu);
	return (NULL);
}

/* Start the worker with every signal blocked: they are the loop's. */
static int
worker_start(struct resolver *r)
{
	sigset_t all, old;
	int rv;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rv = pthread_create(&r->thread, NULL, worker_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rv != 0) {
		return (-1);
	}
	r->started = true;
	return (0);
}

/* --- the table (loop thread) --- */

static void
name_take_answer(struct rs_name *e, const struct resolver_answer *ans,
    uint64_t now)
{
	stats_inc(M_DNS_LOOKUPS);
	if (ans->naddrs > 0) {
		e->last = *ans;
		e->answered_at = now > 0 ? now : 1;
		e->failed_at = 0;
	} else {
		stats_inc(M_DNS_FAILED);
		e->failed_at = now > 0 ? now : 1;
	}
}

static void
answers_drain(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct resolver *r = arg;
	struct rs_jobs answers = STAILQ_HEAD_INITIALIZER(answers);
	struct rs_job *job;
	uint64_t count, now = loop_now_ms(loop);

	(void)events;
	if (read(fd, &count, sizeof(count)) == -1) {
		/* EAGAIN: an earlier wakeup drained this answer already. */
	}
	pthread_mutex_lock(&r->mu);
	STAILQ_CONCAT(&answers, &r->answered);
	pthread_mutex_unlock(&r->mu);
	while ((job = STAILQ_FIRST(&answers)) != NULL) {
		STAILQ_REMOVE_HEAD(&answers, link);
		for (size_t i = 0; i < RESOLVER_NAMES; i++) {
			struct rs_name *e = &r->names[i];

			if (e->asking && strcasecmp(e->host, job->host) == 0) {
				name_take_answer(e, &job->ans, now);
				e->asking = false;
				break;
			}
		}
		r->in_flight--;
		if (r->done != NULL) {
			r->done(job->host, &job->ans, r->done_arg);
		}
		free(job);
	}
}

static struct rs_name *
name_find(struct resolver *r, const char *host)
{
	for (size_t i = 0; i < RESOLVER_NAMES; i++) {
		if (r->names[i].host[0] != '\0' &&
		    strcasecmp(r->names[i].host, host) == 0) {
			return (&r->names[i]);
		}
	}
	return (NULL);
}

/* A free entry, else the least recently used one not being looked up. */
static struct rs_name *
name_new(struct resolver *r, const char *host)
{
	struct rs_name *victim = NULL;

	for (size_t i = 0; i < RESOLVER_NAMES; i++) {
		struct rs_name *e = &r->names[i];

		if (e->host[0] == '\0') {
			victim = e;
			break;
		}
		if (!e->asking && (victim == NULL ||
		    e->used_at < victim->used_at)) {
			victim = e;
		}
	}
	if (victim == NULL) {
		stats_inc(M_DNS_TABLE_FULL);
		return (NULL);
	}
	memset(victim, 0, sizeof(*victim));
	strcpy(victim->host, host);	/* length checked by the caller */
	return (victim);
}

/* Hand `e` to the worker; false if that cannot be done now. */
static bool
name_ask(struct resolver *r, struct rs_name *e)
{
	struct rs_job *job;

	if ((!r->started && worker_start(r) != 0) ||
	    (job = calloc(1, sizeof(*job))) == NULL) {
		return (false);
	}
	strcpy(job->host, e->host);
	pthread_mutex_lock(&r->mu);
	STAILQ_INSERT_TAIL(&r->todo, job, link);
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	e->asking = true;
	r->in_flight++;
	return (true);
}

static enum resolver_status
name_status(const struct rs_name *e, struct epsip_addr *out, size_t cap,
    size_t *n)
{
	*n = 0;
	if (e->last.naddrs > 0) {
		for (; *n < cap && *n < e->last.naddrs; (*n)++) {
			out[*n] = e->last.addrs[*n];
		}
		return (RESOLVER_OK);
	}
	if (e->asking) {
		return (RESOLVER_PENDING);
	}
	return (RESOLVER_FAILED);
}

static bool
host_usable(const char *host)
{
	return (host[0] != '\0' && strlen(host) < RESOLVER_HOST_MAX);
}

/* The table's entry for `host`, made if new and marked used; NULL if
 * the name cannot be looked up or the table is busy. */
static struct rs_name *
name_entry(struct resolver *r, const char *host, uint64_t now)
{
	struct rs_name *e;

	if (!host_usable(host) || ((e = name_find(r, host)) == NULL &&
	    (e = name_new(r, host)) == NULL)) {
		return (NULL);
	}
	e->used_at = now;
	return (e);
}

enum resolver_status
resolver_get(struct resolver *r, const char *host, struct epsip_addr *out,
    size_t cap, size_t *n)
{
	uint64_t now = loop_now_ms(r->loop);
	struct rs_name *e;
	bool stale, retry;

	*n = 0;
	if ((e = name_entry(r, host, now)) == NULL) {
		return (RESOLVER_FAILED);
	}
	stale = e->answered_at == 0 || now >= e->answered_at + r->ttl_ms;
	retry = e->failed_at == 0 || now >= e->failed_at + r->retry_ms;
	if (!e->asking && stale && retry) {
		(void)name_ask(r, e);
	}
	return (name_status(e, out, cap, n));
}

enum resolver_status
resolver_get_now(struct resolver *r, const char *host,
    struct epsip_addr *out, size_t cap, size_t *n)
{
	uint64_t now = monotonic_ms();
	struct resolver_answer ans;
	struct rs_name *e;

	*n = 0;
	if ((e = name_entry(r, host, now)) == NULL) {
		return (RESOLVER_FAILED);
	}
	r->lookup(host, r->family, &ans, r->lookup_arg);
	name_take_answer(e, &ans, now);
	if (e->last.naddrs == 0) {
		return (RESOLVER_FAILED);	/* even while one is running */
	}
	return (name_status(e, out, cap, n));
}

void
resolver_set_lifetimes(struct resolver *r, unsigned ttl_ms,
    unsigned retry_ms)
{
	r->ttl_ms = ttl_ms;
	r->retry_ms = retry_ms;
}

size_t
resolver_in_flight(const struct resolver *r)
{
	return (r->in_flight);
}

/* --- life --- */

struct resolver *
resolver_new(struct loop *loop, int family, resolver_lookup_fn lookup,
    void *lookup_arg, resolver_done_cb done, void *done_arg)
{
	struct resolver *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		return (NULL);
	}
	r->loop = loop;
	r->family = family;
	r->ttl_ms = RESOLVER_TTL_MS;
	r->retry_ms = RESOLVER_RETRY_MS;
	r->lookup = lookup != NULL ? lookup : resolver_getaddrinfo;
	r->lookup_arg = lookup_arg;
	r->done = done;
	r->done_arg = done_arg;
	STAILQ_INIT(&r->todo);
	STAILQ_INIT(&r->answered);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd == -1 ||
	    loop_add_fd(loop, r->efd, EPOLLIN, answers_drain, r) != 0) {
		resolver_free(r);
		return (NULL);
	}
	r->watching = true;
	return (r);
}

static void
jobs_free(struct rs_jobs *jobs)
{
	struct rs_job *job;

	while ((job = STAILQ_FIRST(jobs)) != NULL) {
		STAILQ_REMOVE_HEAD(jobs, link);
		free(job);
	}
}

void
resolver_free(struct resolver *r)
{
	if (r == NULL) {
		return;
	}
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->started) {
		pthread_join(r->thread, NULL);
	}
	jobs_free(&r->todo);
	jobs_free(&r->answered);
	if (r->watching) {
		loop_del_fd(r->loop, r->efd);
	}
	if (r->efd != -1) {
		close(r->efd);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}
