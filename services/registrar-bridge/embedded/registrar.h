/*
 * registrar.h -- the embedded outbound-aware registrar.
 *
 * RFC 3261 §10.3 plus RFC 5626 §6 and RFC 3327 §5.3 on one parsed REGISTER
 * at a time: decide, update the location store in one transaction (or
 * one savepoint of the bridge's group transaction, location.h), build the
 * response.  No IPC and no clock of its own, so unit tests drive it
 * with text messages and a ":memory:" database.
 */
#ifndef REGISTRAR_H
#define REGISTRAR_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#include "epsip/config.h"

#include "location.h"
#include "registrar_answer.h"

#define REGISTRAR_INSTANCE_MAX	256

/* One Contact of a REGISTER after registrar_contact_parse(). */
struct registrar_contact {
	const osip_contact_t *contact;	/* borrowed from the request */
	char *uri;			/* Contact URI as text */
	char *value;			/* Contact value without expires */
	char instance[REGISTRAR_INSTANCE_MAX];	/* normalised, "" none */
	uint32_t reg_id;		/* 0: none, or ignored (RG-05) */
	int64_t expires;		/* requested expiry, before RG-21 */
	int q1000;
};

/*
 * Parse and check one Contact (ER-07): reg-id must be 1..2^31-1 and
 * +sip.instance a quoted "<...>", neither repeated.  reg-id without
 * +sip.instance is ignored (RG-05).  `header_expires` is the Expires header
 * (-1: none).  Returns 0, or 400 with *reason set.
 */
int registrar_contact_parse(const osip_contact_t *contact,
    int64_t header_expires, unsigned default_expires,
    struct registrar_contact *out, const char **reason);
void registrar_contact_clear(struct registrar_contact *rc);

/* A delta-seconds value; -1 if not 1*DIGIT.  Huge values saturate. */
int64_t registrar_parse_seconds(const char *s);

/*
 * RG-13: a +sip.instance value ("\"<urn:uuid:...>\"") to the form bindings
 * are compared in: URN scheme and NID in lower case, urn:uuid entirely in
 * lower case, %-escapes in lower case.  0, or -1 if not a quoted <...>.
 */
int registrar_instance_normalise(const char *param, char *out, size_t cap);

/*
 * Handle a REGISTER.  `now` is Unix time.  Returns 0 with the response's
 * bytes in *ans (the caller sends them and registrar_answer_clear()s),
 * or -1 when not even an error response could be built.
 */
int registrar_register(const struct epsip_config *cfg,
    struct location_db *db, const osip_message_t *req, int64_t now,
    struct registrar_answer *ans);

/*
 * The same, for a REGISTER that was judged already and now arrives again
 * (a retransmission, same branch and CSeq) over another flow: the first
 * flow is gone, so the request is judged again and its bindings take
 * this flow's Path.  Its own earlier bindings (same Call-ID and CSeq)
 * are not stale to it, as they would be to another request.
 */
int registrar_register_moved(const struct epsip_config *cfg,
    struct location_db *db, const osip_message_t *req, int64_t now,
    struct registrar_answer *ans);

/*
 * RG-27: a flow died; drop every binding whose first Path URI carries
 * `token`, across all AORs.  Returns the number dropped, or -1.
 */
int registrar_flow_closed(struct location_db *db, const char *token,
    int64_t now);

/* Purge expired bindings and refresh the registrations.active gauge. */
void registrar_purge(struct location_db *db, int64_t now);
void registrar_update_gauge(struct location_db *db, int64_t now);

#endif /* REGISTRAR_H */
