/*
 * registrar_answer.h -- the registrar's responses as bytes.
 *
 * A REGISTER's answer copies the request's Via, From, To, Call-ID and
 * CSeq lines as the phone (and the edges before us) wrote them
 * (sip_reply.h) and adds the registrar's own headers after them.  Built
 * this way a 200 costs a scan and one copy, where building it through
 * libosip2 cloned and reprinted every Via and URI: a third of the
 * bridge's time per REGISTER (issue 7 §3).
 */
#ifndef REGISTRAR_ANSWER_H
#define REGISTRAR_ANSWER_H

#include <stddef.h>

#include <osipparser2/osip_parser.h>

#include "epsip/sip_reply.h"

/* A response ready to send: its status and its bytes (malloc'ed). */
struct registrar_answer {
	int status;
	char *wire;
	size_t len;
};

/* The headers an answer adds, in order; values borrowed or owned. */
struct answer_headers {
	struct sip_reply_header *v;
	char **owned;		/* per header: the value to free, or NULL */
	size_t n, cap;
	int failed;		/* an add ran out of memory */
};

/* Add `name: value`; `value` must outlive the build. */
void answer_header_add(struct answer_headers *h, const char *name,
    const char *value);
/* Add `name: <printf of fmt>`, the value kept by `h`. */
void answer_header_addf(struct answer_headers *h, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void answer_headers_clear(struct answer_headers *h);

/*
 * The answer to `req` with `status` (`reason` NULL: the standard phrase)
 * and the headers in `h` (NULL: none).  The request's bytes are those
 * rb_parse() kept, or printed now for a request built in code.  0, or -1
 * (no memory, an add that failed, no Via).
 */
int answer_build(const osip_message_t *req, int status, const char *reason,
    const struct answer_headers *h, struct registrar_answer *out);

void registrar_answer_clear(struct registrar_answer *a);

#endif /* REGISTRAR_ANSWER_H */
