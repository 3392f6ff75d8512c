/*
 * flow_token.h -- RFC 5626 §5.2 flow tokens.
 *
 * A token names one flow and the process that owns it.  Layout before
 * encoding (network byte order):
 *
 *   version(1) key-id(1) instance(2) child(4) slot(4) generation(4)
 *   transport<<4|family(1) local-port(2) local-ip(4|16)
 *   remote-port(2) remote-ip(4|16) MAC(16)
 *
 * MAC = HMAC-SHA256(key, everything before it), truncated to 128 bits and
 * compared in constant time.  The whole is base64url without padding, so it
 * is legal unescaped in a SIP URI user part (FT-06): 60 characters for IPv4,
 * 92 for IPv6.  flow_token_decode() verifies the MAC before it returns any
 * field, so nothing derived from a token (an IPC path, above all) is ever
 * built from unverified bytes (FT-07).
 */
#ifndef EPSIP_FLOW_TOKEN_H
#define EPSIP_FLOW_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/ipc.h"

#define FLOW_TOKEN_VERSION	1
#define FLOW_TOKEN_KEY_SIZE	32
#define FLOW_TOKEN_MAC_SIZE	16
#define FLOW_TOKEN_MAX_RAW	(17 + 36 + FLOW_TOKEN_MAC_SIZE)
#define FLOW_TOKEN_MAX_TEXT	96	/* base64url of the IPv6 form, plus NUL */

struct flow_token_key {
	uint8_t id;			/* first byte of SHA-256(secret) */
	uint8_t secret[FLOW_TOKEN_KEY_SIZE];
};

/*
 * The keys a verifier accepts: the current one signs, the previous one (if
 * any) still verifies during a rotation.  When both have the same one-byte
 * id, a token with that id is checked against both.
 */
struct flow_token_keyring {
	struct flow_token_key current;
	struct flow_token_key previous;
	int has_previous;
};

struct flow_token {
	struct epsip_flow_id flow;
	uint8_t transport;		/* enum epsip_transport */
	struct epsip_addr local;
	struct epsip_addr remote;
};

enum flow_token_error {
	FLOW_TOKEN_OK = 0,
	FLOW_TOKEN_EENCODING,	/* not base64url, or %-escape broken */
	FLOW_TOKEN_ELENGTH,	/* wrong size for its address family */
	FLOW_TOKEN_EVERSION,	/* unknown version */
	FLOW_TOKEN_EKEY,	/* key id we do not hold */
	FLOW_TOKEN_EMAC,	/* MAC mismatch: tampered or forged */
	FLOW_TOKEN_EFIELD,	/* MAC fine but a field out of range */
};

/* Derive the key id of a secret. */
void flow_token_key_init(struct flow_token_key *key,
    const uint8_t secret[FLOW_TOKEN_KEY_SIZE]);

/*
 * Load the key from `path`, or create it (mode 0600, from getrandom) if it
 * does not exist.  A key file readable by others is refused.  Returns 0, or
 * -1 with errno set and a reason in err[0..errcap).
 */
int flow_token_key_load_or_create(const char *path, struct flow_token_key *key,
    char *err, size_t errcap);
/* Load an existing key only (the verifier side). */
int flow_token_key_load(const char *path, struct flow_token_key *key,
    char *err, size_t errcap);
/*
 * The verifier's keyring: the current key and, when `previous_path` is
 * not empty, the one being rotated out.  0, or -1 with a reason.
 */
int flow_token_keyring_load(const char *current_path,
    const char *previous_path, struct flow_token_keyring *ring, char *err,
    size_t errcap);

/*
 * Encode into text[0..cap) with a NUL; returns the length, or -1 if cap
 * is short or the token holds what flow_token_decode() refuses: no
 * transport or an unknown one, instance 0, addresses of two families.
 */
int flow_token_encode(const struct flow_token_key *key,
    const struct flow_token *token, char *text, size_t cap);

/*
 * Verify and decode `len` bytes of `text` (a URI user part, %-escapes
 * allowed).  On any error *token is zeroed.
 */
enum flow_token_error flow_token_decode(const struct flow_token_keyring *ring,
    const char *text, size_t len, struct flow_token *token);

const char *flow_token_error_name(enum flow_token_error error);

/*
 * The nng IPC URL of the child that owns a verified flow:
 * "ipc://<run_dir>/fm<instance>-c<child>.ipc".  Takes integers only.
 */
int flow_owner_ipc_url(const char *run_dir, uint16_t instance, uint32_t child,
    char *url, size_t cap);

/*
 * Undo the %XX escapes of in[0..len) into out[0..cap): a token's URI user
 * part (FT-06), a query string's value.  Returns the length or -1 (a bad
 * or cut escape, no room); the result is never longer than the input and
 * is not terminated.
 */
int uri_unescape(const char *in, size_t len, char *out, size_t cap);

#endif /* EPSIP_FLOW_TOKEN_H */
