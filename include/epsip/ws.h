/*
 * ws.h -- the server side of WebSocket (RFC 6455) for SIP over WebSocket
 * (RFC 7118), as a pure codec: no sockets, no logging, no configuration.
 *
 * The flow-manager reads a connection's bytes into its buffer and asks
 * these functions what the front of the buffer holds: first the HTTP
 * upgrade request (ws_upgrade_parse(), answered by ws_upgrade_response()),
 * then one frame at a time (ws_reader_next()).  Nothing ever reads past
 * the `len` it is given; the bytes are a stranger's.
 */
#ifndef EPSIP_WS_H
#define EPSIP_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the upgrade (RFC 6455 §4.2, RFC 7118 §4) ---- */

/* Request headers longer than this are refused (431). */
#define WS_UPGRADE_MAX	8192

struct ws_upgrade_policy {
	/* Allowed Origin values, exact (ASCII case ignored, so the host's
	 * case too). */
	const char *const *origins;
	/* 0: any origin, and requests with no Origin. */
	size_t norigins;
};

enum ws_upgrade_result {
	WS_UPGRADE_NEED_MORE,	/* no end of headers yet: read, call again */
	WS_UPGRADE_OK,		/* answer 101, then frames follow `consumed` */
	WS_UPGRADE_REFUSED,	/* answer `status`, then close */
};

struct ws_upgrade {
	size_t consumed;	/* bytes of the request, through the empty line
				 * (0 when refused before its end was found) */
	int status;		/* 101, or 400 / 403 / 405 / 426 / 431 */
	/* Static text: why refused (for the log and the response body). */
	const char *reason;
	char accept[32];	/* Sec-WebSocket-Accept, NUL-ended (101) */
};

/*
 * Read the upgrade request at the front of buf[0..len).  Any request path
 * is accepted; Host must appear exactly once (RFC 9112 §3.2); the
 * subprotocol must be `sip`; Sec-WebSocket-Extensions is ignored.  Bytes after the empty line are not part of the request (a
 * client may send its first frame at once).  A request malformed in its
 * first bytes is refused before its end arrives.
 */
enum ws_upgrade_result ws_upgrade_parse(const char *buf, size_t len,
    const struct ws_upgrade_policy *policy, struct ws_upgrade *up);

/*
 * The whole HTTP/1.1 response for `up` (101 with `Sec-WebSocket-Protocol:
 * sip`, or the refusal with a short text body, Content-Length and
 * Connection: close; 426 adds `Upgrade: websocket` and
 * `Sec-WebSocket-Version: 13`, 405 `Allow: GET`), NUL-terminated.
 * Returns its length (without the NUL), or -1 if cap is short or `up`
 * holds no status this codec gives.
 */
int ws_upgrade_response(const struct ws_upgrade *up, char *out, size_t cap);

/* ---- frames (RFC 6455 §5) ---- */

enum ws_opcode {
	WS_OP_CONTINUATION = 0,
	WS_OP_TEXT = 1,
	WS_OP_BINARY = 2,
	WS_OP_CLOSE = 8,
	WS_OP_PING = 9,
	WS_OP_PONG = 10,
};

/* Close codes (§7.4.1) we send */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL_ERROR	1002
#define WS_CLOSE_INVALID_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_INTERNAL_ERROR	1011	/* we could not allocate a message */
/* Never sent: "the peer's Close had no code". */
#define WS_CLOSE_NO_STATUS	1005

#define WS_HEADER_MAX		14	/* 2 + 8 bytes of length + 4 of mask */
#define WS_CONTROL_MAX		125	/* a control frame's payload (§5.5) */
#define WS_CLOSE_REASON_MAX	123	/* 125 less the code */

/*
 * Per connection; small, and holds no buffer while no fragmented message
 * is in progress (the flow-manager keeps 100,000 idle flows: this struct
 * stays <= 24 bytes). Zero it to init.
 */
struct ws_reader {
	uint8_t *msg;		/* a fragmented message; NULL otherwise */
	uint32_t msg_len, msg_cap;
	uint8_t msg_opcode;	/* TEXT or BINARY of that message; 0: none */
};

enum ws_event_type {
	WS_EV_NONE,
	WS_EV_MESSAGE,
	WS_EV_PING,
	WS_EV_PONG,
	WS_EV_CLOSE,
};

struct ws_event {
	enum ws_event_type type;
	uint8_t opcode;		/* MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
	/* Unmasked payload, valid until the next call on the reader (CLOSE:
	 * the reason, after the code); never points into the input. */
	const uint8_t *data;
	size_t len;
	/* CLOSE: the peer's code, WS_CLOSE_NO_STATUS when it sent none. */
	uint16_t close_code;
};

/*
 * Take the next frame from buf[0..len): returns the bytes it used (> 0)
 * and fills *ev (WS_EV_NONE for a frame that completes nothing, e.g. a
 * non-final fragment); 0 when buf holds no whole frame yet (nothing used;
 * the caller keeps the bytes and calls again with more); -1 on a protocol
 * violation or a limit, with *close_code the code to send in our Close
 * (1002, 1007, 1009; 1011 when malloc fails).  A violation visible in a
 * frame's header is reported as soon as the header is, before its payload.
 *
 * Unmasked payloads go to out[0..out_cap) (the caller's scratch, out_cap
 * >= max_message and >= WS_CONTROL_MAX) for a single-frame message or a
 * control frame; a fragmented message is reassembled in r->msg (malloc),
 * and when its last fragment arrives it is handed out in out and r->msg
 * is freed at once (ws_reader_free frees one left in progress).
 * max_message bounds one message (all its fragments) and therefore one
 * frame: beyond it, 1009.  r->msg is freed on every error.
 */
ssize_t ws_reader_next(struct ws_reader *r, const uint8_t *buf, size_t len,
    uint8_t *out, size_t out_cap, size_t max_message, struct ws_event *ev,
    uint16_t *close_code);
void ws_reader_free(struct ws_reader *r);

/*
 * The header of an unmasked server frame (FIN set) with `len` bytes of
 * payload; returns its length (2, 4 or 10).
 */
size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], uint8_t opcode,
    uint64_t len);

/*
 * A Close frame's payload: the code, then at most 123 bytes of reason
 * (cut at a character boundary); returns its length.  WS_CLOSE_NO_STATUS
 * (echoing a Close that had no code), or a cap under 2, gives the empty
 * payload: 0.
 */
size_t ws_close_payload(uint8_t *out, size_t cap, uint16_t code,
    const char *reason);

const char *ws_opcode_name(uint8_t opcode);

/*
 * Whether buf[0..len) is UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF).
 */
int ws_utf8_valid(const uint8_t *buf, size_t len);

#endif /* EPSIP_WS_H */
