/*
 * auth.h -- who may register with the embedded registrar and call
 * through its home proxy (docs/security.md, "Who may register").
 *
 * RFC 3261 §22 digest with qop=auth, SHA-256 (RFC 8760) and MD5, realm =
 * the domain: a REGISTER is challenged with 401 and two WWW-Authenticate
 * headers, an out-of-dialog INVITE, MESSAGE or SUBSCRIBE with 407 and two
 * Proxy-Authenticate headers, SHA-256 first (RFC 8760 §2.4), or as
 * `auth-algorithms` says: MD5 first, or one of them only.  Users and
 * their HA1s are read from the registrar's database on every request
 * (users.h); nonces are stateless HMACs under a key derived from the
 * flow-token key (digest.h), and their counts are checked against a
 * bounded table (auth_replay.h).  The `auth` key picks the policy:
 *
 *   protected  digest once the users table holds anyone; until then
 *              loopback clients pass and all others get 403 naming the
 *              fix (logged at most once a second)
 *   digest     digest always
 *   none       nobody is asked (a lab)
 *
 * A known user with a wrong password and an unknown user get the same
 * answer after the same work: the HA1 of an unknown user is a random one
 * made at start, and responses are compared in constant time.  A
 * challenge costs one look-up and one HMAC.
 */
#ifndef RB_AUTH_H
#define RB_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#include "epsip/config.h"
#include "epsip/digest.h"
#include "epsip/ipc.h"

#include "registrar_answer.h"

struct sqlite3;
struct auth;

/*
 * Reading users over `db` (the registrar's connection; the users table
 * made if missing), nonces keyed from `token_secret` (the flow-token
 * key).  `cfg` is read on every request: `auth` and
 * `auth-nonce-lifetime` apply on reload.  NULL with a reason in err.
 */
struct auth *auth_new(const struct epsip_config *cfg, struct sqlite3 *db,
    const uint8_t token_secret[DIGEST_KEY_SIZE], char *err, size_t errcap);
void auth_free(struct auth *a);

/*
 * A new flow-token key (SIGHUP): nonces under the old one stop
 * verifying, and their phones are challenged afresh.
 */
void auth_set_key(struct auth *a, const uint8_t token_secret[DIGEST_KEY_SIZE]);

/*
 * 1 for what the policy judges: a REGISTER, or an INVITE, MESSAGE or
 * SUBSCRIBE outside a dialog (no To tag).
 */
int auth_applies(const osip_message_t *req);

/*
 * Judge `req`, sent from `source` (the flow's remote address for a
 * phone's request, the peer's for one from the core-side network; NULL:
 * unknown, never loopback).  `now` is Unix time, `now_ms` monotonic (the
 * log's rate).  0: let it through.  Else the status to answer (401, 407,
 * 403, 400 or 500), *reason its phrase (NULL: the standard one), and the
 * challenge's headers added to `h`.
 */
int auth_check(struct auth *a, const osip_message_t *req,
    const struct epsip_addr *source, int64_t now, uint64_t now_ms,
    struct answer_headers *h, const char **reason);

#endif /* RB_AUTH_H */
