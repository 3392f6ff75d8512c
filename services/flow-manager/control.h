/*
 * control.h -- the flow-manager's parent <-> child control protocol.
 *
 * Parent and children talk over one AF_UNIX SOCK_SEQPACKET socketpair per
 * child (the child's end is its fd 3).  SEQPACKET keeps message boundaries,
 * so a UDP datagram travels as one control message, and it carries TCP
 * connections as SCM_RIGHTS.  Messages are encoded field by field in network
 * byte order behind a version byte, never as raw structs: a child from
 * another build must be refused, not misread.
 *
 *   parent -> child   NEW_STREAM_FLOW   slot, generation, listener,
 *                                    transport (TCP, TLS, WS, WSS), local,
 *                                    remote; the connection fd attached,
 *                                    not a byte of it read yet
 *   parent -> child   UDP_DATAGRAM   the same fields, then the datagram
 *   child -> parent   FLOW_CLOSED    slot, generation, reason; reason
 *                                    NONE: the child never had the flow,
 *                                    its descriptor was lost (EMFILE)
 *
 * Wire layout:
 *
 *   version(1) type(1) slot(4) generation(4)
 *   NEW_STREAM_FLOW, UDP_DATAGRAM: listener(2) transport(1) local(19)
 *                               remote(19) arrived(8) [datagram]
 *   FLOW_CLOSED:                reason(4)
 *
 * `arrived` is when the bytes reached the host (CLOCK_MONOTONIC ms, which
 * parent and child share): a datagram may wait in the listener's receive
 * buffer and in this socket before the child stamps its envelope, and the
 * waits past overload-delay are what overload.h sheds.
 *
 * An address is family(1) port(2) ip(16), the encoding of wire_put_addr():
 * IPv4 uses the first four bytes and the rest are zero.
 */
#ifndef EPSIP_FM_CONTROL_H
#define EPSIP_FM_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/wire.h"

#define FM_CTL_VERSION		3

#define FM_CTL_BASE_SIZE	10
/* NEW_STREAM_FLOW, and UDP_DATAGRAM without its datagram. */
#define FM_CTL_FLOW_SIZE	(FM_CTL_BASE_SIZE + 3 + 2 * WIRE_ADDR_SIZE + 8)
#define FM_CTL_CLOSED_SIZE	(FM_CTL_BASE_SIZE + 4)
/* The largest UDP payload (IPv4 and IPv6 without jumbograms). */
#define FM_CTL_MAX_DATAGRAM	65535
#define FM_CTL_MAX_SIZE		(FM_CTL_FLOW_SIZE + FM_CTL_MAX_DATAGRAM)
/*
 * Listener indexes run below this: `listen` first, then listen-tls,
 * listen-ws and listen-wss, CONFIG_MAX_LISTEN of each at most.
 */
#define FM_CTL_MAX_LISTENER	(4 * CONFIG_MAX_LISTEN)

enum fm_ctl_type {
	FM_CTL_NONE = 0,
	FM_CTL_NEW_STREAM_FLOW = 1,
	FM_CTL_UDP_DATAGRAM = 2,
	FM_CTL_FLOW_CLOSED = 3,
	FM_CTL_TYPE_MAX = 3,
};

struct fm_ctl_msg {
	uint8_t version;		/* set by fm_ctl_init / decode */
	uint8_t type;			/* enum fm_ctl_type */
	uint32_t slot;
	uint32_t generation;
	uint16_t listener;		/* the parent's listener index */
	uint8_t transport;		/* enum epsip_transport */
	uint32_t reason;		/* FLOW_CLOSED: enum epsip_close_reason */
	struct epsip_addr local;
	struct epsip_addr remote;
	uint64_t arrived_ms;		/* monotonic; see above */
	const uint8_t *payload;		/* UDP_DATAGRAM; decode: points into in */
	size_t payload_len;
};

/*
 * Encode and decode answer in the IPC envelope's errors (epsip/ipc.h),
 * named by epsip_msg_error_name(): ETRUNCATED shorter than its type needs,
 * EVERSION another build, ETYPE an unknown type, EFIELD a family, listener
 * or reason out of range, ELENGTH trailing bytes or a datagram size wrong,
 * ESPACE an output buffer too small.
 */
void fm_ctl_init(struct fm_ctl_msg *msg, enum fm_ctl_type type);

/* Bytes fm_ctl_encode() writes for msg (0 for an unknown type). */
size_t fm_ctl_encoded_size(const struct fm_ctl_msg *msg);

/*
 * Encode into out[0..cap) and set *len.  A UDP_DATAGRAM payload may already
 * sit at out + FM_CTL_FLOW_SIZE (the parent receives datagrams there), in
 * which case it is not copied.
 */
enum epsip_msg_error fm_ctl_encode(const struct fm_ctl_msg *msg,
    uint8_t *out, size_t cap, size_t *len);

/* Decode and validate; msg->payload points into in. */
enum epsip_msg_error fm_ctl_decode(const uint8_t *in, size_t len,
    struct fm_ctl_msg *msg);

const char *fm_ctl_type_name(uint8_t type);

/*
 * Send one message without blocking, with `pass_fd` attached by SCM_RIGHTS
 * when it is >= 0.  Returns 0, or -1 with errno (EAGAIN: the peer's queue
 * is full; EPIPE: the peer is gone).  Never raises SIGPIPE.
 */
int fm_ctl_send(int fd, const uint8_t *buf, size_t len, int pass_fd);

/* *passed_fd of a message whose descriptor the receiver had no room for. */
#define FM_CTL_FD_LOST		(-2)

/*
 * Receive one message without blocking.  Returns its length, 0 at EOF, or
 * -1 with errno (EAGAIN: nothing waiting; EMSGSIZE: the message or its
 * descriptors did not fit and were dropped).  *passed_fd is the descriptor
 * that came with it (close-on-exec), -1, or FM_CTL_FD_LOST when one was
 * sent but the receiver was out of descriptors (EMFILE): the kernel
 * dropped it, and the message is returned all the same.
 */
ssize_t fm_ctl_recv(int fd, uint8_t *buf, size_t cap, int *passed_fd);

/* fm_ctl_read(): nothing is waiting; read again when fd is readable. */
#define FM_CTL_DRAINED		(-3)

/*
 * fm_ctl_recv() for the read loops at both ends of the socket, so that
 * they treat a bad message alike: one that did not fit is counted
 * (control.errors) and skipped.  Returns the next message's length,
 * FM_CTL_DRAINED, 0 at EOF, or -1 with errno when the socket failed.
 */
ssize_t fm_ctl_read(int fd, uint8_t *buf, size_t cap, int *passed_fd);

#endif /* EPSIP_FM_CONTROL_H */
