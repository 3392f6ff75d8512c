/*
 * ipc.c -- encode and decode struct epsip_msg, field by field.
 *
 * Layout (network byte order): version(2) type(2) flags(2) arg(4)
 * instance(2) child(4) slot(4) generation(4) transport(1)
 * local{family(1) port(2) ip(16)} remote{...} stamp_ms(8) payload_len(4)
 * payload.  Batches (ipc.h) frame envelopes with a length each.
 * The decoder trusts nothing: sizes, enums and the version are all checked.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "epsip/ipc.h"

struct writer {
	uint8_t *p;
	size_t left;
};

struct reader {
	const uint8_t *p;
	size_t left;
};

static void
put_u8(struct writer *w, uint8_t v)
{
	*w->p++ = v;
	w->left--;
}

static void
put_u16(struct writer *w, uint16_t v)
{
	put_u8(w, (uint8_t)(v >> 8));
	put_u8(w, (uint8_t)v);
}

static void
put_u32(struct writer *w, uint32_t v)
{
	put_u16(w, (uint16_t)(v >> 16));
	put_u16(w, (uint16_t)v);
}

static void
put_u64(struct writer *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

static void
put_addr(struct writer *w, const struct epsip_addr *a)
{
	put_u8(w, a->family);
	put_u16(w, a->port);
	memcpy(w->p, a->ip, 16);
	w->p += 16;
	w->left -= 16;
}

static uint8_t
get_u8(struct reader *r)
{
	r->left--;
	return (*r->p++);
}

static uint16_t
get_u16(struct reader *r)
{
	uint16_t hi = get_u8(r);

	return ((uint16_t)(hi << 8 | get_u8(r)));
}

static uint32_t
get_u32(struct reader *r)
{
	uint32_t hi = get_u16(r);

	return (hi << 16 | get_u16(r));
}

static uint64_t
get_u64(struct reader *r)
{
	uint64_t hi = get_u32(r);

	return (hi << 32 | get_u32(r));
}

static int
get_addr(struct reader *r, struct epsip_addr *a)
{
	a->family = get_u8(r);
	a->port = get_u16(r);
	memcpy(a->ip, r->p, 16);
	r->p += 16;
	r->left -= 16;
	return (a->family == 0 || a->family == AF_INET ||
	    a->family == AF_INET6);
}

void
epsip_msg_init(struct epsip_msg *msg, enum epsip_msg_type type)
{
	memset(msg, 0, sizeof(*msg));
	msg->version = EPSIP_MSG_VERSION;
	msg->type = (uint16_t)type;
}

size_t
epsip_msg_encoded_size(const struct epsip_msg *msg)
{
	return (EPSIP_MSG_HEADER_SIZE + msg->payload_len);
}

enum epsip_msg_error
epsip_msg_encode(const struct epsip_msg *msg, uint8_t *out, size_t cap,
    size_t *len)
{
	struct writer w = { out, cap };

	if (msg->payload_len > EPSIP_MSG_MAX_PAYLOAD ||
	    msg->transport > EPSIP_TRANSPORT_MAX ||
	    msg->type == EPSIP_MSG_NONE || msg->type > EPSIP_MSG_TYPE_MAX) {
		return (EPSIP_MSG_EFIELD);
	}
	if (cap < epsip_msg_encoded_size(msg)) {
		return (EPSIP_MSG_ESPACE);
	}
	put_u16(&w, EPSIP_MSG_VERSION);
	put_u16(&w, msg->type);
	put_u16(&w, msg->flags);
	put_u32(&w, msg->arg);
	put_u16(&w, msg->flow.instance);
	put_u32(&w, msg->flow.child);
	put_u32(&w, msg->flow.slot);
	put_u32(&w, msg->flow.generation);
	put_u8(&w, msg->transport);
	put_addr(&w, &msg->local);
	put_addr(&w, &msg->remote);
	put_u64(&w, msg->stamp_ms);
	put_u32(&w, (uint32_t)msg->payload_len);
	if (msg->payload_len > 0) {
		memcpy(w.p, msg->payload, msg->payload_len);
	}
	*len = EPSIP_MSG_HEADER_SIZE + msg->payload_len;
	return (EPSIP_MSG_OK);
}

enum epsip_msg_error
epsip_msg_decode(const uint8_t *in, size_t len, struct epsip_msg *msg)
{
	struct reader r = { in, len };
	uint32_t payload_len;

	if (len < EPSIP_MSG_HEADER_SIZE) {
		return (EPSIP_MSG_ETRUNCATED);
	}
	msg->version = get_u16(&r);
	if (msg->version != EPSIP_MSG_VERSION) {
		return (EPSIP_MSG_EVERSION);
	}
	msg->type = get_u16(&r);
	if (msg->type == EPSIP_MSG_NONE || msg->type > EPSIP_MSG_TYPE_MAX) {
		return (EPSIP_MSG_ETYPE);
	}
	msg->flags = get_u16(&r);
	msg->arg = get_u32(&r);
	msg->flow.instance = get_u16(&r);
	msg->flow.child = get_u32(&r);
	msg->flow.slot = get_u32(&r);
	msg->flow.generation = get_u32(&r);
	msg->transport = get_u8(&r);
	if (msg->transport > EPSIP_TRANSPORT_MAX) {
		return (EPSIP_MSG_EFIELD);
	}
	if (!get_addr(&r, &msg->local) || !get_addr(&r, &msg->remote)) {
		return (EPSIP_MSG_EFIELD);
	}
	msg->stamp_ms = get_u64(&r);
	payload_len = get_u32(&r);
	if (payload_len > EPSIP_MSG_MAX_PAYLOAD) {
		return (EPSIP_MSG_ELENGTH);
	}
	if (payload_len != r.left) {
		return (payload_len > r.left ? EPSIP_MSG_ETRUNCATED :
		    EPSIP_MSG_ELENGTH);
	}
	msg->payload = r.p;
	msg->payload_len = payload_len;
	return (EPSIP_MSG_OK);
}

size_t
epsip_batch_entry_size(const struct epsip_msg *msg)
{
	return (EPSIP_BATCH_ENTRY_OVERHEAD + epsip_msg_encoded_size(msg));
}

void
epsip_batch_put_header(uint8_t *out, uint16_t count)
{
	struct writer w = { out, EPSIP_BATCH_HEADER_SIZE };

	put_u16(&w, EPSIP_MSG_VERSION);
	put_u16(&w, count);
}

enum epsip_msg_error
epsip_batch_put_entry(const struct epsip_msg *msg, uint8_t *out, size_t cap,
    size_t *len)
{
	struct writer w = { out, cap };
	enum epsip_msg_error err;
	size_t n;

	if (cap < EPSIP_BATCH_ENTRY_OVERHEAD) {
		return (EPSIP_MSG_ESPACE);
	}
	err = epsip_msg_encode(msg, out + EPSIP_BATCH_ENTRY_OVERHEAD,
	    cap - EPSIP_BATCH_ENTRY_OVERHEAD, &n);
	if (err != EPSIP_MSG_OK) {
		return (err);
	}
	put_u32(&w, (uint32_t)n);
	*len = EPSIP_BATCH_ENTRY_OVERHEAD + n;
	return (EPSIP_MSG_OK);
}

enum epsip_msg_error
epsip_batch_open(struct epsip_batch_reader *r, const uint8_t *in, size_t len)
{
	struct reader rd = { in, len };

	if (len < EPSIP_BATCH_HEADER_SIZE) {
		return (EPSIP_MSG_ETRUNCATED);
	}
	if (get_u16(&rd) != EPSIP_MSG_VERSION) {
		return (EPSIP_MSG_EVERSION);
	}
	r->remaining = get_u16(&rd);
	if (r->remaining == 0) {
		return (EPSIP_MSG_ELENGTH);
	}
	r->p = rd.p;
	r->left = rd.left;
	return (EPSIP_MSG_OK);
}

int
epsip_batch_next(struct epsip_batch_reader *r, struct epsip_msg *msg,
    enum epsip_msg_error *err)
{
	struct reader rd = { r->p, r->left };
	uint32_t n;

	if (r->remaining == 0) {
		/* Bytes after the last envelope are someone's mistake. */
		if (r->left != 0) {
			r->left = 0;
			*err = EPSIP_MSG_ELENGTH;
			return (-1);
		}
		return (0);
	}
	r->remaining--;
	if (rd.left < EPSIP_BATCH_ENTRY_OVERHEAD ||
	    (n = get_u32(&rd)) > rd.left) {
		r->remaining = 0;
		r->left = 0;
		*err = EPSIP_MSG_ETRUNCATED;
		return (-1);
	}
	r->p = rd.p + n;
	r->left = rd.left - n;
	*err = epsip_msg_decode(rd.p, n, msg);
	return (*err == EPSIP_MSG_OK ? 1 : -1);
}

const char *
epsip_msg_type_name(uint16_t type)
{
	static const char *const names[] = {
		"none", "sip-from-flow", "flow-undeliverable",
		"flow-framing-error", "flow-closed", "sip-to-flow",
		"flow-set-timer", "sip-to-core", "sip-from-core", "hello",
		"stats", "overload",
	};

	return (type <= EPSIP_MSG_TYPE_MAX ? names[type] : "unknown");
}

const char *
epsip_msg_error_name(enum epsip_msg_error error)
{
	switch (error) {
	case EPSIP_MSG_OK:
		return ("ok");
	case EPSIP_MSG_ETRUNCATED:
		return ("truncated");
	case EPSIP_MSG_EVERSION:
		return ("version");
	case EPSIP_MSG_ETYPE:
		return ("type");
	case EPSIP_MSG_EFIELD:
		return ("field");
	case EPSIP_MSG_ELENGTH:
		return ("length");
	case EPSIP_MSG_ESPACE:
		return ("space");
	}
	return ("unknown");
}

const char *
epsip_transport_name(uint8_t transport)
{
	switch (transport) {
	case EPSIP_TRANSPORT_UDP:
		return ("udp");
	case EPSIP_TRANSPORT_TCP:
		return ("tcp");
	default:
		return ("none");
	}
}

const char *
epsip_close_reason_name(uint32_t reason)
{
	static const char *const names[] = {
		"none", "peer", "reset", "timeout", "framing", "child_exit",
		"shutdown",
	};

	return (reason <= EPSIP_CLOSE_REASON_MAX ? names[reason] : "unknown");
}

int
epsip_addr_from_sockaddr(struct epsip_addr *addr, const struct sockaddr *sa)
{
	memset(addr, 0, sizeof(*addr));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		addr->family = AF_INET;
		addr->port = ntohs(in->sin_port);
		memcpy(addr->ip, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		addr->family = AF_INET6;
		addr->port = ntohs(in6->sin6_port);
		memcpy(addr->ip, &in6->sin6_addr, 16);
	} else {
		return (-1);
	}
	return (0);
}

socklen_t
epsip_addr_to_sockaddr(const struct epsip_addr *addr,
    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (addr->family == AF_INET) {
		struct sockaddr_in *in = (void *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(addr->port);
		memcpy(&in->sin_addr, addr->ip, 4);
		return (sizeof(*in));
	}
	if (addr->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (void *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(addr->port);
		memcpy(&in6->sin6_addr, addr->ip, 16);
		return (sizeof(*in6));
	}
	return (0);
}

int
epsip_addr_format(const struct epsip_addr *addr, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	if (addr->family == AF_INET) {
		inet_ntop(AF_INET, addr->ip, ip, sizeof(ip));
		return (snprintf(buf, cap, "%s:%u", ip, addr->port));
	}
	if (addr->family == AF_INET6) {
		inet_ntop(AF_INET6, addr->ip, ip, sizeof(ip));
		return (snprintf(buf, cap, "[%s]:%u", ip, addr->port));
	}
	return (snprintf(buf, cap, "-"));
}

int
epsip_addr_equal(const struct epsip_addr *a, const struct epsip_addr *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return (a->family == b->family && a->port == b->port &&
	    memcmp(a->ip, b->ip, n) == 0);
}

int
epsip_addr_is_any(const struct epsip_addr *a)
{
	static const uint8_t zero[16];

	return (memcmp(a->ip, zero, a->family == AF_INET ? 4 : 16) == 0);
}

int
epsip_flow_id_equal(const struct epsip_flow_id *a,
    const struct epsip_flow_id *b)
{
	return (a->instance == b->instance && a->child == b->child &&
	    a->slot == b->slot && a->generation == b->generation);
}

int
epsip_flow_id_format(const struct epsip_flow_id *id, char *buf, size_t cap)
{
	return (snprintf(buf, cap, "%u.%u.%u.%u", id->instance, id->child,
	    id->slot, id->generation));
}
