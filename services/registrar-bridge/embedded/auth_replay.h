/*
 * auth_replay.h -- which nonce counts have been used: a captured request
 * with valid credentials cannot be played again (RFC 7616 §3.4.5 and
 * §5.7: the server checks that nc grows for each nonce).
 *
 * Nonces are stateless (digest.h), so a nonce enters the table only when
 * a request using it verified -- only someone who knows a password can
 * add entries -- and leaves when it expires.  The table is bounded: at
 * `capacity` the entry used first is evicted and the table remembers a
 * floor, the highest sequence number it ever evicted.  A nonce at or
 * under the floor that is not in the table may have been evicted, so it
 * is FORGOTTEN, never accepted: the phone gets 401 with stale=true and
 * answers the fresh nonce without asking its user (one more round trip,
 * nothing else).  A nonce of another epoch -- issued before the bridge
 * restarted, when the table was empty -- is FORGOTTEN the same way.
 */
#ifndef RB_AUTH_REPLAY_H
#define RB_AUTH_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/digest.h"

enum auth_replay_verdict {
	AUTH_REPLAY_OK,		/* nc is new for this nonce: recorded */
	AUTH_REPLAY_SEEN,	/* nc not above the highest used: a replay */
	AUTH_REPLAY_FORGOTTEN,	/* the table cannot vouch for this nonce */
};

struct auth_replay;

/* A table of `capacity` nonces for this process's `epoch`; NULL: memory. */
struct auth_replay *auth_replay_new(size_t capacity, uint32_t epoch);
void auth_replay_free(struct auth_replay *r);

/*
 * The nonce `n` (its MAC verified, fresh at `now`) is used with count
 * `nc` by a request whose digest verified.  Expired entries go first;
 * a new entry lives until n->issued + lifetime.
 */
enum auth_replay_verdict auth_replay_use(struct auth_replay *r,
    const struct digest_nonce *n, uint32_t nc, int64_t now,
    unsigned lifetime);

/* Nonces held now. */
size_t auth_replay_count(const struct auth_replay *r);

#endif /* RB_AUTH_REPLAY_H */
