/*
 * core_embedded.h -- embedded mode with its core-side network as a seam.
 *
 * rb_core_embedded_net_new() (core.h) runs the registrar and home proxy
 * over core_net through the dispatcher (core_dispatch.h).  The same core
 * runs over any `struct cd_link`: unit tests pass a fake one and feed
 * what "the network" delivers through core_embedded_net_message(), so
 * the dispatcher's decisions are tested with the real registrar behind
 * them and no socket.
 */
#ifndef RB_CORE_EMBEDDED_H
#define RB_CORE_EMBEDDED_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/flow_token.h"

#include "../core.h"
#include "core_dispatch.h"
#include "../corenet/core_net.h"

/* The core over `link`, tokens checked with `keys`.  NULL and err. */
struct rb_core *core_embedded_new_on(const struct epsip_config *cfg,
    const struct rb_out *out, const struct flow_token_keyring *keys,
    const struct cd_link *link, char *err, size_t errcap);

/*
 * Group commit from now on: the core's writes of one iteration of `loop`
 * share one transaction, committed (and the held answers released) by a
 * LOOP_END_COMMIT hook.  0 or -1.
 */
int core_embedded_group_commit(struct rb_core *core, struct loop *loop);

/* The core's location store (tests look at it, and break its commits). */
struct location_db *core_embedded_db(struct rb_core *core);

/* The network delivered a SIP message (core_net_events.message). */
void core_embedded_net_message(struct rb_core *core, const char *buf,
    size_t len, const struct core_net_peer *from, uint64_t now_ms);

/* A message the network could not deliver (core_net_on_undelivered). */
void core_embedded_net_undelivered(struct rb_core *core, const char *buf,
    size_t len, uint64_t now_ms);

#endif /* RB_CORE_EMBEDDED_H */
