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
#include "epsip/wire.h"

/* Families an envelope may carry: none, IPv4 or IPv6. */
static int
family_ok(uint8_t family)
{
	return (family == 0 || family == AF_INET || family == AF_INET6);
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
	struct wire_writer w;

	if (msg->payload_len > EPSIP_MSG_MAX_PAYLOAD ||
	    msg->transport > EPSIP_TRANSPORT_MAX ||
	    msg->type == EPSIP_MSG_NONE || msg->type > EPSIP_MSG_TYPE_MAX) {
		return (EPSIP_MSG_EFIELD);
	}
	/* Checked first so that nothing is written when it does not fit. */
	if (cap < epsip_msg_encoded_size(msg)) {
		return (EPSIP_MSG_ESPACE);
	}
	wire_writer_init(&w, out, cap);
	wire_put_u16(&w, EPSIP_MSG_VERSION);
	wire_put_u16(&w, msg->type);
	wire_put_u16(&w, msg->flags);
	wire_put_u32(&w, msg->arg);
	wire_put_u16(&w, msg->flow.instance);
	wire_put_u32(&w, msg->flow.child);
	wire_put_u32(&w, msg->flow.slot);
	wire_put_u32(&w, msg->flow.generation);
	wire_put_u8(&w, msg->transport);
	wire_put_addr(&w, &msg->local);
	wire_put_addr(&w, &msg->remote);
	wire_put_u64(&w, msg->stamp_ms);
	wire_put_u32(&w, (uint32_t)msg->payload_len);
	wire_put_bytes(&w, msg->payload, msg->payload_len);
	if (wire_write_end(&w) == -1) {
		return (EPSIP_MSG_ESPACE);
	}
	*len = wire_written(&w);
	return (EPSIP_MSG_OK);
}

/*
 * The checks run in this order (the header's length, version, type,
 * transport, families, then the payload's length) so that a garbled
 * envelope always counts under the same ipc.errors.* name, whatever
 * else is wrong with it.
 */
enum epsip_msg_error
epsip_msg_decode(const uint8_t *in, size_t len, struct epsip_msg *msg)
{
	struct wire_reader r;
	uint32_t payload_len;

	if (len < EPSIP_MSG_HEADER_SIZE) {
		return (EPSIP_MSG_ETRUNCATED);
	}
	wire_reader_init(&r, in, len);
	msg->version = wire_get_u16(&r);
	if (msg->version != EPSIP_MSG_VERSION) {
		return (EPSIP_MSG_EVERSION);
	}
	msg->type = wire_get_u16(&r);
	if (msg->type == EPSIP_MSG_NONE || msg->type > EPSIP_MSG_TYPE_MAX) {
		return (EPSIP_MSG_ETYPE);
	}
	msg->flags = wire_get_u16(&r);
	msg->arg = wire_get_u32(&r);
	msg->flow.instance = wire_get_u16(&r);
	msg->flow.child = wire_get_u32(&r);
	msg->flow.slot = wire_get_u32(&r);
	msg->flow.generation = wire_get_u32(&r);
	msg->transport = wire_get_u8(&r);
	if (msg->transport > EPSIP_TRANSPORT_MAX) {
		return (EPSIP_MSG_EFIELD);
	}
	wire_get_addr(&r, &msg->local);
	wire_get_addr(&r, &msg->remote);
	if (!family_ok(msg->local.family) || !family_ok(msg->remote.family)) {
		return (EPSIP_MSG_EFIELD);
	}
	msg->stamp_ms = wire_get_u64(&r);
	payload_len = wire_get_u32(&r);
	if (payload_len > EPSIP_MSG_MAX_PAYLOAD) {
		return (EPSIP_MSG_ELENGTH);
	}
	if (payload_len > wire_remaining(&r)) {
		return (EPSIP_MSG_ETRUNCATED);
	}
	msg->payload = wire_get_ptr(&r, payload_len);
	msg->payload_len = payload_len;
	/* Bytes after the payload. */
	if (wire_read_end(&r) == -1) {
		return (EPSIP_MSG_ELENGTH);
	}
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
	struct wire_writer w;

	wire_writer_init(&w, out, EPSIP_BATCH_HEADER_SIZE);
	wire_put_u16(&w, EPSIP_MSG_VERSION);
	wire_put_u16(&w, count);
}

enum epsip_msg_error
epsip_batch_put_entry(const struct epsip_msg *msg, uint8_t *out, size_t cap,
    size_t *len)
{
	struct wire_writer w;
	enum epsip_msg_error err;
	size_t n;

	if (cap < EPSIP_BATCH_ENTRY_OVERHEAD) {
		return (EPSIP_MSG_ESPACE);
	}
	/* The envelope goes in first: its length is known once it is. */
	err = epsip_msg_encode(msg, out + EPSIP_BATCH_ENTRY_OVERHEAD,
	    cap - EPSIP_BATCH_ENTRY_OVERHEAD, &n);
	if (err != EPSIP_MSG_OK) {
		return (err);
	}
	wire_writer_init(&w, out, EPSIP_BATCH_ENTRY_OVERHEAD);
	wire_put_u32(&w, (uint32_t)n);
	*len = EPSIP_BATCH_ENTRY_OVERHEAD + n;
	return (EPSIP_MSG_OK);
}

enum epsip_msg_error
epsip_batch_open(struct epsip_batch_reader *r, const uint8_t *in, size_t len)
{
	if (len < EPSIP_BATCH_HEADER_SIZE) {
		return (EPSIP_MSG_ETRUNCATED);
	}
	wire_reader_init(&r->rd, in, len);
	if (wire_get_u16(&r->rd) != EPSIP_MSG_VERSION) {
		return (EPSIP_MSG_EVERSION);
	}
	r->remaining = wire_get_u16(&r->rd);
	if (r->remaining == 0) {
		return (EPSIP_MSG_ELENGTH);
	}
	return (EPSIP_MSG_OK);
}

int
epsip_batch_next(struct epsip_batch_reader *r, struct epsip_msg *msg,
    enum epsip_msg_error *err)
{
	const uint8_t *envelope;
	uint32_t n;

	/* After an error the reader has failed and has nothing left. */
	if (r->remaining == 0) {
		/* Bytes after the last envelope are someone's mistake. */
		if (wire_remaining(&r->rd) != 0) {
			(void)wire_read_end(&r->rd);
			*err = EPSIP_MSG_ELENGTH;
			return (-1);
		}
		return (0);
	}
	r->remaining--;
	if ((envelope = wire_get_blob(&r->rd, &n)) == NULL) {
		r->remaining = 0;
		*err = EPSIP_MSG_ETRUNCATED;
		return (-1);
	}
	*err = epsip_msg_decode(envelope, n, msg);
	return (*err == EPSIP_MSG_OK ? 1 : -1);
}

void
epsip_flows_query_init(struct epsip_msg *msg, uint32_t query,
    const struct epsip_flows_filter *filter)
{
	epsip_msg_init(msg, EPSIP_MSG_FLOWS_QUERY);
	msg->arg = query;
	msg->flow.instance = filter->instance;
	msg->transport = filter->transport;
	msg->payload = (const uint8_t *)filter->aor;
	msg->payload_len = strnlen(filter->aor, EPSIP_AOR_MAX);
}

int
epsip_flows_query_filter(const struct epsip_msg *msg,
    struct epsip_flows_filter *filter)
{
	if (msg->payload_len > EPSIP_AOR_MAX) {
		return (-1);
	}
	filter->instance = msg->flow.instance;
	filter->transport = msg->transport;
	(void)epsip_aor_copy(filter->aor, msg->payload, msg->payload_len);
	return (0);
}

int
epsip_flows_filter_match(const struct epsip_flows_filter *filter,
    uint16_t instance, uint8_t transport, const char *aor)
{
	return ((filter->instance == 0 || filter->instance == instance) &&
	    (filter->transport == EPSIP_TRANSPORT_NONE ||
	    filter->transport == transport) &&
	    (filter->aor[0] == '\0' || strcmp(filter->aor, aor) == 0));
}

size_t
epsip_aor_copy(char *aor, const uint8_t *bytes, size_t len)
{
	size_t i;

	if (len > EPSIP_AOR_MAX) {
		len = EPSIP_AOR_MAX;
	}
	for (i = 0; i < len; i++) {
		aor[i] = bytes[i] > 0x20 && bytes[i] < 0x7f ? (char)bytes[i] :
		    '?';
	}
	aor[len] = '\0';
	return (len);
}

const char *
epsip_msg_type_name(uint16_t type)
{
	static const char *const names[] = {
		"none", "sip-from-flow", "flow-undeliverable",
		"flow-framing-error", "flow-closed", "sip-to-flow",
		"flow-set-timer", "sip-to-core", "sip-from-core", "hello",
		"stats", "overload", "flows-query", "flows",
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
	case EPSIP_TRANSPORT_TLS:
		return ("tls");
	case EPSIP_TRANSPORT_WS:
		return ("ws");
	case EPSIP_TRANSPORT_WSS:
		return ("wss");
	default:
		return ("none");
	}
}

uint8_t
epsip_transport_parse(const char *name)
{
	for (uint8_t t = EPSIP_TRANSPORT_UDP; t <= EPSIP_TRANSPORT_MAX; t++) {
		if (strcmp(name, epsip_transport_name(t)) == 0) {
			return (t);
		}
	}
	return (EPSIP_TRANSPORT_NONE);
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
epsip_addr_set_ip(struct epsip_addr *addr, const char *ip)
{
	if (inet_pton(AF_INET, ip, addr->ip) == 1) {
		addr->family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, addr->ip) == 1) {
		addr->family = AF_INET6;
	} else {
		return (-1);
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
epsip_addr_is_loopback(const struct epsip_addr *a)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (a->family == AF_INET) {
		return (a->ip[0] == 127);
	}
	if (a->family != AF_INET6) {
		return (0);
	}
	return (memcmp(a->ip, v6_loopback, 16) == 0 ||
	    (memcmp(a->ip, v4_mapped, 12) == 0 && a->ip[12] == 127));
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
