/*
 * sip_frame.h -- find SIP message boundaries in a byte stream (TCP).
 *
 * RFC 3261 §18.3 makes Content-Length mandatory on streams, so a stream
 * message ends exactly Content-Length bytes after the blank line.  RFC 5626
 * §4.4.1 adds the CRLF keep-alive: a double CRLF *between* messages is a ping
 * that must be answered with one CRLF, while a lone CRLF before a start line
 * is ignored (RFC 3261 §7.5).  This module is pure: it never allocates, never
 * reads past `len`, and keeps no state between calls, so the caller's buffer
 * is the only state of a stream.
 */
#ifndef EPSIP_SIP_FRAME_H
#define EPSIP_SIP_FRAME_H

#include <stddef.h>

enum sip_frame_kind {
	SIP_FRAME_NEED_MORE,	/* no complete unit yet: keep the bytes, read more */
	SIP_FRAME_MESSAGE,	/* a whole message at buf + offset, length bytes */
	SIP_FRAME_PING,		/* a CRLFCRLF keep-alive: answer with one CRLF */
	SIP_FRAME_ERROR,	/* framing is lost: answer `status` if set, close */
};

enum sip_frame_error {
	SIP_FRAME_ERR_NONE,
	SIP_FRAME_ERR_JUNK,		/* bytes that cannot start a SIP message (ER-05) */
	SIP_FRAME_ERR_STUN,		/* STUN on a stream (KA-13) */
	SIP_FRAME_ERR_NO_LENGTH,	/* no Content-Length on a stream (ER-03) */
	SIP_FRAME_ERR_BAD_LENGTH,	/* negative, non-numeric, overflowing CL (ER-03) */
	SIP_FRAME_ERR_DUP_LENGTH,	/* two Content-Length headers (ER-02) */
	SIP_FRAME_ERR_TOO_LARGE,	/* headers or headers+body over the limit (ER-04) */
};

struct sip_frame {
	enum sip_frame_kind kind;
	/*
	 * Bytes to remove from the front of the buffer once the unit is handled.
	 * For MESSAGE this includes any lone CRLFs skipped before the start line.
	 */
	size_t consumed;
	size_t offset;		/* MESSAGE: where the start line begins */
	size_t length;		/* MESSAGE: header + body bytes */
	size_t header_length;	/* MESSAGE or ERROR with status: bytes up to and
				 * including the blank line (0 if unknown) */
	enum sip_frame_error error;
	int status;		/* ERROR: SIP status to answer before closing
				 * (400 or 513), 0 when no answer is possible */
};

/*
 * Look at the front of a stream buffer and say what it holds.  `max_message`
 * bounds header + body; a message that cannot fit is an error, not NEED_MORE,
 * so a peer cannot make us buffer without limit.  Returns out->kind.
 */
enum sip_frame_kind sip_frame_stream_next(const char *buf, size_t len,
    size_t max_message, struct sip_frame *out);

const char *sip_frame_error_name(enum sip_frame_error error);

#endif /* EPSIP_SIP_FRAME_H */
