/*
 * ipc.h -- the one message format spoken between EPSIP processes.
 *
 * Every nng message between services is an envelope: a fixed, versioned
 * header encoded field by field in network byte order, then a payload (SIP
 * bytes or a JSON control document).  Structs never cross a process boundary
 * as raw memory, so a peer built from other sources, or a garbled message,
 * can never be mistaken for a valid one: epsip_msg_decode() checks every
 * length and enum and the version before anything is trusted.
 *
 * Who sends what (see docs/architecture.md for the picture):
 *
 *   flow-manager child  -> sip-router    SIP_FROM_FLOW, FLOW_UNDELIVERABLE,
 *                                        FLOW_FRAMING_ERROR
 *   flow-manager parent -> sip-router    FLOW_CLOSED
 *   sip-router          -> fm child      SIP_TO_FLOW, FLOW_SET_TIMER,
 *                                        OVERLOAD
 *   sip-router          -> bridge        SIP_TO_CORE, FLOW_CLOSED
 *   registrar-bridge    -> sip-router    SIP_FROM_CORE, OVERLOAD
 *   any service         -> supervisor    HELLO, STATS
 *   supervisor          -> fm child      FLOWS_QUERY
 *   flow-manager child  -> supervisor    FLOWS
 *
 * Bump EPSIP_MSG_VERSION on any change to the layout or to enum
 * epsip_msg_type: mixing processes from two builds must fail loudly, not
 * misroute SIP.
 */
#ifndef EPSIP_IPC_H
#define EPSIP_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "epsip/wire.h"

#define EPSIP_MSG_VERSION	4

/* Header bytes on the wire; the payload follows. */
#define EPSIP_MSG_HEADER_SIZE	75
/* Largest payload we accept: a SIP message over UDP is at most 65,535 bytes. */
#define EPSIP_MSG_MAX_PAYLOAD	65536
#define EPSIP_MSG_MAX_SIZE	(EPSIP_MSG_HEADER_SIZE + EPSIP_MSG_MAX_PAYLOAD)

/*
 * What travels in one nng message: a batch of envelopes, everything one
 * loop iteration of the sender produced for one destination.  Each hop
 * over nng costs thread hand-offs in both processes (tens of µs here,
 * docs/performance.md); a batch pays them once for all its envelopes.
 *
 *   version(2) count(2), then count times: length(4) envelope
 *
 * The batch version is EPSIP_MSG_VERSION too.  A batch grows until the
 * next envelope would take it past EPSIP_BATCH_MAX_SIZE, which one
 * envelope of the largest size always fits in alone.  This is also
 * NNG_OPT_RECVMAXSZ on every listener and dialer.
 */
#define EPSIP_BATCH_HEADER_SIZE	4
#define EPSIP_BATCH_ENTRY_OVERHEAD	4
#define EPSIP_BATCH_MAX_COUNT	65535
#define EPSIP_BATCH_MAX_SIZE	(128 * 1024)

enum epsip_msg_type {
	EPSIP_MSG_NONE = 0,
	/* flow-manager child -> sip-router */
	EPSIP_MSG_SIP_FROM_FLOW = 1,	/* a SIP message arrived on `flow` */
	EPSIP_MSG_FLOW_UNDELIVERABLE = 2, /* SIP_TO_FLOW for a flow we lack */
	EPSIP_MSG_FLOW_FRAMING_ERROR = 3, /* arg = status; payload = headers */
	/* flow-manager parent -> sip-router -> registrar-bridge */
	EPSIP_MSG_FLOW_CLOSED = 4,	/* arg = enum epsip_close_reason;
					 * to the bridge: payload = token */
	/* sip-router -> flow-manager child */
	EPSIP_MSG_SIP_TO_FLOW = 5,	/* send payload out on `flow` */
	EPSIP_MSG_FLOW_SET_TIMER = 6,	/* a 2xx REGISTER went to `flow`:
					 * arg = Flow-Timer seconds advertised
					 * (0: unchanged); payload = the AoR
					 * registered, the 2xx's To URI, at
					 * most EPSIP_AOR_MAX bytes (none: no
					 * AoR known) */
	/* sip-router <-> registrar-bridge */
	EPSIP_MSG_SIP_TO_CORE = 7,	/* from a phone's flow: flow, local
					 * and remote are the flow's (the
					 * registrar's loopback rule) */
	EPSIP_MSG_SIP_FROM_CORE = 8,
	/* any service -> supervisor; payload is a JSON object */
	EPSIP_MSG_HELLO = 9,		/* {"service","pid","version"} */
	EPSIP_MSG_STATS = 10,		/* {"service","pid", counters...} */
	/* sip-router -> flow-manager child, registrar-bridge -> router */
	EPSIP_MSG_OVERLOAD = 11,	/* arg = share of new UDP requests to
					 * answer 503 (overload.h); 0: none */
	/* supervisor -> flow-manager child (GET /flows) */
	EPSIP_MSG_FLOWS_QUERY = 12,	/* arg = query id; filters: transport
					 * (NONE: any), flow.instance (0: any),
					 * payload = AoR (empty: any) */
	/* flow-manager child -> supervisor */
	EPSIP_MSG_FLOWS = 13,		/* arg = the query id; flow.instance
					 * and flow.child = who answers;
					 * payload = JSON array of its flows
					 * that match; F_MORE on all but the
					 * last envelope of one answer */
	EPSIP_MSG_TYPE_MAX = 13,
};

/* Envelope flags. */
#define EPSIP_MSG_F_CLOSE_AFTER_SEND	0x0001u	/* SIP_TO_FLOW: then close */
#define EPSIP_MSG_F_MORE		0x0002u	/* FLOWS: more follow */

/*
 * Longest AoR a flow keeps (FLOW_SET_TIMER, FLOWS_QUERY): a longer one is
 * cut at this many bytes, by the router that sends it.
 */
#define EPSIP_AOR_MAX	128

enum epsip_transport {
	EPSIP_TRANSPORT_NONE = 0,
	EPSIP_TRANSPORT_UDP = 1,
	EPSIP_TRANSPORT_TCP = 2,
	EPSIP_TRANSPORT_TLS = 3,	/* SIP over TLS over TCP */
	EPSIP_TRANSPORT_WS = 4,		/* SIP over WebSocket (RFC 7118) */
	EPSIP_TRANSPORT_WSS = 5,	/* ... over TLS */
	EPSIP_TRANSPORT_MAX = 5,
};

/*
 * 1 for the transports on a byte stream (TCP, TLS, WS, WSS): a flow is a
 * connection, closed after a framing error, answered by its own kind of
 * keep-alive.  UDP is the only datagram one.
 */
#define epsip_transport_is_stream(t) \
	((t) >= EPSIP_TRANSPORT_TCP && (t) <= EPSIP_TRANSPORT_MAX)
/*
 * 1 for the transports that bring one whole SIP message at a time: UDP
 * (a datagram), WS and WSS (a WebSocket message).  Content-Length need
 * not frame them; the others are framed by it.
 */
#define epsip_transport_frames_messages(t) \
	((t) == EPSIP_TRANSPORT_UDP || (t) == EPSIP_TRANSPORT_WS || \
	(t) == EPSIP_TRANSPORT_WSS)
/* 1 for the transports whose bytes are encrypted: TLS and WSS. */
#define epsip_transport_is_secure(t) \
	((t) == EPSIP_TRANSPORT_TLS || (t) == EPSIP_TRANSPORT_WSS)

enum epsip_close_reason {
	EPSIP_CLOSE_NONE = 0,
	EPSIP_CLOSE_PEER = 1,		/* FIN from the UA */
	EPSIP_CLOSE_RESET = 2,		/* RST or socket error */
	EPSIP_CLOSE_TIMEOUT = 3,	/* silent past Flow-Timer + grace */
	EPSIP_CLOSE_FRAMING = 4,	/* stream framing lost (ER-02..05) */
	EPSIP_CLOSE_CHILD_EXIT = 5,	/* the owning child died */
	EPSIP_CLOSE_SHUTDOWN = 6,	/* the edge is stopping */
	EPSIP_CLOSE_REASON_MAX = 6,
};

/*
 * A flow's identity: which flow-manager instance and child own it, the slot
 * inside that child, and a generation that makes a reconnect from the same
 * 5-tuple a different flow (FT-02).  Two flows are the same only when all
 * four fields are equal.
 */
struct epsip_flow_id {
	uint16_t instance;
	uint32_t child;
	uint32_t slot;
	uint32_t generation;
};

/* An IPv4 or IPv6 address and port, independent of struct sockaddr. */
struct epsip_addr {
	uint8_t family;		/* AF_INET, AF_INET6, or 0 for none */
	uint16_t port;		/* host byte order */
	uint8_t ip[16];		/* IPv4 uses the first 4 bytes */
};

struct epsip_msg {
	uint16_t version;
	uint16_t type;		/* enum epsip_msg_type */
	uint16_t flags;		/* EPSIP_MSG_F_* */
	uint32_t arg;		/* per-type integer, see the enum */
	struct epsip_flow_id flow;
	uint8_t transport;	/* enum epsip_transport: the flow's; with
				 * SIP_TO_CORE the one the request came on */
	struct epsip_addr local;	/* the edge's address on the flow */
	struct epsip_addr remote;	/* the UA's address on the flow */
	/*
	 * Monotonic ms (CLOCK_MONOTONIC, shared by the processes of one
	 * host) when the message's bytes reached the edge; 0 when unknown.
	 * Carried along the hops so that a process can tell how long a
	 * request waited in queues and shed it rather than work on a
	 * request its sender has already retransmitted.
	 */
	uint64_t stamp_ms;
	const uint8_t *payload;	/* decode: points into the input buffer */
	size_t payload_len;
};

/* Also the flow-manager's control messages' errors (control.h). */
enum epsip_msg_error {
	EPSIP_MSG_OK = 0,
	EPSIP_MSG_ETRUNCATED,	/* shorter than the header or the payload */
	EPSIP_MSG_EVERSION,	/* another build's envelope */
	EPSIP_MSG_ETYPE,	/* unknown type */
	EPSIP_MSG_EFIELD,	/* a field out of range (family, transport...) */
	EPSIP_MSG_ELENGTH,	/* payload length disagrees with the size */
	EPSIP_MSG_ESPACE,	/* encode: output buffer too small */
};

/* Fill a message with the current version and no flow. */
void epsip_msg_init(struct epsip_msg *msg, enum epsip_msg_type type);

/* Bytes epsip_msg_encode() will write for `msg`. */
size_t epsip_msg_encoded_size(const struct epsip_msg *msg);

/* Encode into out[0..cap); sets *len.  Fails only with ESPACE or EFIELD. */
enum epsip_msg_error epsip_msg_encode(const struct epsip_msg *msg,
    uint8_t *out, size_t cap, size_t *len);

/*
 * Decode and validate.  On success msg->payload points into `in`, which must
 * outlive the use of msg.  On failure msg is unspecified.
 */
enum epsip_msg_error epsip_msg_decode(const uint8_t *in, size_t len,
    struct epsip_msg *msg);

/* Bytes a batch needs for `msg` (its length prefix included). */
size_t epsip_batch_entry_size(const struct epsip_msg *msg);
/* The batch header for `count` envelopes into out[0..4). */
void epsip_batch_put_header(uint8_t *out, uint16_t count);
/* Encode `msg` with its length prefix; ESPACE/EFIELD as encode. */
enum epsip_msg_error epsip_batch_put_entry(const struct epsip_msg *msg,
    uint8_t *out, size_t cap, size_t *len);

/* Walks a received batch; nothing in it is trusted. */
struct epsip_batch_reader {
	struct wire_reader rd;
	uint16_t remaining;	/* envelopes not read yet */
};

/* ETRUNCATED, EVERSION or ELENGTH when the batch header is bad. */
enum epsip_msg_error epsip_batch_open(struct epsip_batch_reader *r,
    const uint8_t *in, size_t len);
/*
 * The next envelope: 1 with *msg filled (pointing into the batch), 0 at
 * the end.  -1 with *err for an envelope that does not decode: it is
 * skipped and the walk goes on, unless its length prefix itself is
 * wrong, which ends the batch (nothing after it can be framed).
 */
int epsip_batch_next(struct epsip_batch_reader *r, struct epsip_msg *msg,
    enum epsip_msg_error *err);

/* What GET /flows asks the children for (FLOWS_QUERY). */
struct epsip_flows_filter {
	uint16_t instance;		/* 0: any */
	uint8_t transport;		/* EPSIP_TRANSPORT_NONE: any */
	char aor[EPSIP_AOR_MAX + 1];	/* "": any; else exactly this */
};

/* A FLOWS_QUERY with id `query`; its payload points into `filter`. */
void epsip_flows_query_init(struct epsip_msg *msg, uint32_t query,
    const struct epsip_flows_filter *filter);
/* The filter a FLOWS_QUERY carries: 0, or -1 if its AoR is too long. */
int epsip_flows_query_filter(const struct epsip_msg *msg,
    struct epsip_flows_filter *filter);
/* 1 when a flow of `instance`, `transport` and `aor` ("": none) passes. */
int epsip_flows_filter_match(const struct epsip_flows_filter *filter,
    uint16_t instance, uint8_t transport, const char *aor);
/*
 * An AoR from an envelope into aor[EPSIP_AOR_MAX + 1], terminated: cut
 * at EPSIP_AOR_MAX bytes, and any byte outside printable ASCII (which a
 * URI never has unescaped) made '?', since it reaches JSON and terminals.
 * Returns its length.
 */
size_t epsip_aor_copy(char *aor, const uint8_t *bytes, size_t len);

const char *epsip_msg_type_name(uint16_t type);
const char *epsip_msg_error_name(enum epsip_msg_error error);
const char *epsip_transport_name(uint8_t transport);
/* The transport epsip_transport_name() calls `name`; NONE if none. */
uint8_t epsip_transport_parse(const char *name);
const char *epsip_close_reason_name(uint32_t reason);

/* Conversions between struct epsip_addr and struct sockaddr_storage. */
int epsip_addr_from_sockaddr(struct epsip_addr *addr,
    const struct sockaddr *sa);
socklen_t epsip_addr_to_sockaddr(const struct epsip_addr *addr,
    struct sockaddr_storage *ss);
/*
 * The family and address of an IPv4 or IPv6 literal without brackets
 * ("192.0.2.1", "2001:db8::1"); the port is left alone.  0 or -1.
 */
int epsip_addr_set_ip(struct epsip_addr *addr, const char *ip);
/* "192.0.2.1:5060" or "[2001:db8::1]:5060"; returns snprintf's result. */
int epsip_addr_format(const struct epsip_addr *addr, char *buf, size_t cap);
int epsip_addr_equal(const struct epsip_addr *a, const struct epsip_addr *b);
/*
 * The wildcard, 0.0.0.0 or ::, that a socket bound to every address has.
 * The port does not count, and an address of no family is one when all
 * sixteen bytes of ip are zero.
 */
int epsip_addr_is_any(const struct epsip_addr *a);
/*
 * 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104 (an IPv4 loopback client of
 * a dual-stack socket, or named by a PROXY header on an IPv6 listener).
 * An address of no family is not.
 */
int epsip_addr_is_loopback(const struct epsip_addr *a);

int epsip_flow_id_equal(const struct epsip_flow_id *a,
    const struct epsip_flow_id *b);
/* "instance.child.slot.generation", the id used in logs and stats. */
int epsip_flow_id_format(const struct epsip_flow_id *id, char *buf,
    size_t cap);

#endif /* EPSIP_IPC_H */
