/*
 * tcp_flow.c -- SIP on a byte stream, TCP or TLS (RFC 3261 §18.3): framing
 * by Content-Length, answering CRLF keep-alives, and closing after a
 * framing error.
 *
 * The connection under it -- the socket or the TLS session, its buffers,
 * pausing, close-after-send -- is stream_flow.c's.  All of a child's TCP
 * and TLS flows share one stream class, hence one scratch buffer to read
 * into.  Input is framed from there; only an incomplete tail is kept in
 * the flow's own buffer, freed as soon as it is empty, so an idle flow
 * holds no buffer at all.  Output -- whole SIP messages and "\r\n" pongs
 * -- goes through one queue in order, so a pong can never land inside a
 * message (KA-10).
 *
 * After a framing error with an answer possible (400/513, ER-02..04) the
 * flow stops reading, asks the router for the answer, and closes once the
 * answer is out (CLOSE_AFTER_SEND) or after a 2-3 s safety delay.  It sends
 * FIN and drains input before closing, so that unread input does not turn
 * the close into a RST that could destroy the answer in flight.
 *
 * Nothing here is fatal.
 */
#include "epsip/log.h"
#include "epsip/sip_frame.h"
#include "epsip/stats.h"
#include "epsip/stream.h"

#include "child.h"
#include "flow_manager.h"

static const char pong[] = "\r\n";

#define FLOW_OF(s)	STREAM_OWNER(s, struct fm_flow, stream)

/*
 * Stream framing lost.  With an answer possible the router gets the
 * header bytes and answers with CLOSE_AFTER_SEND; otherwise close now.
 * Returns -1 if the flow was closed.
 */
static int
framing_error(struct fm_flow *f, const char *buf, size_t len,
    const struct sip_frame *fr)
{
	size_t hl;

	stats_inc(metric_label_find(MF_FRAMING_ERRORS,
	    sip_frame_error_name(fr->error)));
	log_flow(LOG_LEVEL_INFO, &f->id, "framing lost: %s",
	    sip_frame_error_name(fr->error));
	if (fr->status == 0 || fr->header_length == 0 || fr->offset >= len) {
		fm_flow_close(f, EPSIP_CLOSE_FRAMING);
		return (-1);
	}
	hl = fr->header_length;
	if (hl > len - fr->offset) {
		hl = len - fr->offset;
	}
	if (hl > EPSIP_MSG_MAX_PAYLOAD) {
		hl = EPSIP_MSG_MAX_PAYLOAD;
	}
	(void)fm_flow_to_router(f, EPSIP_MSG_FLOW_FRAMING_ERROR,
	    (uint32_t)fr->status, buf + fr->offset, hl);
	stream_stop_reading(&f->stream);
	fm_stream_flow_arm_safety(f);
	return (0);
}

ssize_t
fm_sip_stream_frame(struct stream *s, const char *buf, size_t len)
{
	struct fm_flow *f = FLOW_OF(s);
	struct sip_frame fr;
	size_t off;

	off = 0;
	while (stream_framing(s)) {
		switch (sip_frame_stream_next(buf + off, len - off,
		    f->child->max_message, &fr)) {
		case SIP_FRAME_NEED_MORE:
			return ((ssize_t)off);
		case SIP_FRAME_MESSAGE:
			if (fm_flow_offer_to_router(f, buf + off + fr.offset,
			    fr.length, loop_now_ms(f->child->loop)) == -1) {
				/* Keep it and stop reading: TCP's window
				 * then slows the phone, nothing is lost. */
				fm_stream_flow_pause(f);
				return ((ssize_t)off);
			}
			log_flow(LOG_LEVEL_DEBUG, &f->id, "in %zu bytes",
			    fr.length);
			stats_inc(M_SIP_FROM_FLOW);
			break;
		case SIP_FRAME_PING:
			/* RFC 5626 §4.4.1: one CRLF back, now (KA-09). */
			stats_inc(M_KEEPALIVE_CRLF_PONGS);
			if (fm_stream_flow_write(f, pong, 2) == -1) {
				return (-1);
			}
			break;
		case SIP_FRAME_ERROR:
			if (framing_error(f, buf + off, len - off, &fr) == -1) {
				return (-1);
			}
			return ((ssize_t)len);
		}
		if (fr.consumed == 0) {
			/* Cannot happen; never spin on it. */
			fm_flow_close(f, EPSIP_CLOSE_FRAMING);
			return (-1);
		}
		off += fr.consumed;
	}
	return ((ssize_t)len);
}
