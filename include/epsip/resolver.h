/*
 * resolver.h -- host names looked up off the loop's thread, and kept.
 *
 * getaddrinfo() blocks, for as long as the DNS server takes: seconds
 * when it is slow or gone.  A service runs one loop on one thread, so a
 * lookup there stalls every flow and every transaction it serves.  A
 * resolver keeps the answers it has (RESOLVER_TTL_MS fresh, failures
 * RESOLVER_RETRY_MS) and asks one worker thread for new ones; the answer
 * comes back on the loop's thread through an eventfd, and the owner's
 * callback is told the name so it can send what waited for it.
 *
 * A stale answer is still given while it is being refreshed, and kept
 * when the refresh fails: a DNS outage does not take a working upstream
 * away.  A name that never resolved answers RESOLVER_PENDING while its
 * first lookup runs, RESOLVER_FAILED after that for RESOLVER_RETRY_MS.
 *
 * Only A/AAAA (getaddrinfo); IP literals need no resolver
 * (sip_ip_literal()).  Addresses come with port 0: the caller sets it.
 * The worker blocks every signal and is started at the first lookup,
 * so a service that only uses literals has no extra thread.
 */
#ifndef EPSIP_RESOLVER_H
#define EPSIP_RESOLVER_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/ipc.h"
#include "epsip/loop.h"

#define RESOLVER_TTL_MS		30000
#define RESOLVER_RETRY_MS	1000
#define RESOLVER_MAX_ADDRS	8
#define RESOLVER_NAMES		64	/* names kept, oldest go first */
#define RESOLVER_HOST_MAX	256	/* longer ones are not looked up */

enum resolver_status {
	RESOLVER_OK,		/* addresses (maybe stale, refreshing) */
	RESOLVER_PENDING,	/* first lookup running; callback follows */
	RESOLVER_FAILED		/* no address: bad name, or DNS said no */
};

struct resolver_answer {
	int error;		/* 0, or getaddrinfo()'s EAI_* code */
	size_t naddrs;
	struct epsip_addr addrs[RESOLVER_MAX_ADDRS];
};

/*
 * How a name is looked up; fills `ans` (addresses without duplicates).
 * resolver_getaddrinfo() is the real one; tests pass their own.  It runs
 * on the worker thread.
 */
typedef void (*resolver_lookup_fn)(const char *host, int family,
    struct resolver_answer *ans, void *lookup_arg);

/*
 * Called on the loop's thread when a lookup of `host` has ended, with
 * what it found (no address: `ans->error` says why).  resolver_get()
 * already gives the new state.
 */
typedef void (*resolver_done_cb)(const char *host,
    const struct resolver_answer *ans, void *arg);

struct resolver;

/*
 * `family`: AF_INET, AF_INET6 or AF_UNSPEC, what the owner's sockets
 * can reach.  `lookup` NULL means resolver_getaddrinfo.  `done` may be
 * NULL.  NULL on failure (out of memory, no eventfd).
 */
struct resolver *resolver_new(struct loop *loop, int family,
    resolver_lookup_fn lookup, void *lookup_arg, resolver_done_cb done,
    void *done_arg);

/* Other lifetimes than RESOLVER_TTL_MS and RESOLVER_RETRY_MS (tests). */
void resolver_set_lifetimes(struct resolver *r, unsigned ttl_ms,
    unsigned retry_ms);

/* Waits for a lookup in progress (it cannot be interrupted). */
void resolver_free(struct resolver *r);

/*
 * Up to `cap` addresses for `host` into `out`, *n of them; the status
 * says whether there are any.  Never blocks: what is missing or stale
 * is asked of the worker.
 */
enum resolver_status resolver_get(struct resolver *r, const char *host,
    struct epsip_addr *out, size_t cap, size_t *n);

/*
 * The same, waiting for the answer on this thread: for start-up, when
 * nothing is being served yet and a clear error is worth the wait.
 */
enum resolver_status resolver_get_now(struct resolver *r, const char *host,
    struct epsip_addr *out, size_t cap, size_t *n);

/* Lookups asked and not answered yet (for stats and tests). */
size_t resolver_in_flight(const struct resolver *r);

void resolver_getaddrinfo(const char *host, int family,
    struct resolver_answer *ans, void *unused);

#endif /* EPSIP_RESOLVER_H */
