/*
 * home_proxy.h -- the authoritative proxy for the AORs the registrar
 * serves (RFC 3261 §16, RFC 5626 §7, RFC 3327 §5.4).
 *
 * A request for a registered AOR goes to its bindings: R-URI = Contact,
 * Route = the stored Path (RG-26), one flow per instance at a time
 * (RG-23), failover to the instance's next reg-id on 430/408 (RG-24,
 * RG-25), 480 to the caller when no flow is left (RG-28).
 */
#ifndef HOME_PROXY_H
#define HOME_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#include "epsip/config.h"

#include "location.h"
#include "../rb_sip.h"
#include "transaction.h"

struct home_proxy;
struct auth;

/*
 * One target of the serial fork (RG-23): every binding of one instance
 * (lowest reg-id first, plain ones last), or one plain binding without
 * instance.
 */
struct home_proxy_target {
	struct location_binding *bindings;	/* owned */
	size_t count;
	size_t next;		/* the binding to try next */
};

struct home_proxy_plan {
	struct home_proxy_target *targets;
	size_t count;
};

struct home_proxy *home_proxy_new(const struct epsip_config *cfg,
    struct location_db *db, struct rb_txn *txn, const struct rb_out *out);
void home_proxy_free(struct home_proxy *hp);
/*
 * Judge out-of-dialog INVITE, MESSAGE and SUBSCRIBE by `auth` (auth.h:
 * 407 with Proxy-Authenticate, or 403) before routing them; NULL: none.
 */
void home_proxy_set_auth(struct home_proxy *hp, struct auth *auth);

/*
 * A request from a phone that is not a REGISTER.  `req` is taken;
 * `source` is the address it came from (auth.h; NULL: unknown).  `now`
 * is Unix time (bindings), `now_ms` monotonic (timers).  A request read
 * with rb_parse() is forwarded as its own bytes with our edits spliced
 * in (issue 7 §2); one without bytes as libosip2 prints it.
 */
void home_proxy_request(struct home_proxy *hp, osip_message_t *req,
    const struct epsip_addr *source, int64_t now, uint64_t now_ms);

/*
 * A response to one of our branches (our Via on top).  `resp` is taken;
 * relayed as its own bytes, our Via popped, when read with rb_parse().
 */
void home_proxy_response(struct home_proxy *hp, osip_message_t *resp,
    int64_t now, uint64_t now_ms);

/* Run the transaction timers (every RB_TXN_TICK_MS). */
void home_proxy_tick(struct home_proxy *hp, int64_t now, uint64_t now_ms);

/*
 * RG-23 target selection, exposed for tests: group the AOR's bindings
 * (already ordered q desc, most recent first) into targets.  Takes the
 * bindings out of `list`.  0 or -1.
 */
int home_proxy_plan(struct location_list *list, struct home_proxy_plan *plan);
void home_proxy_plan_clear(struct home_proxy_plan *plan);

#endif /* HOME_PROXY_H */
