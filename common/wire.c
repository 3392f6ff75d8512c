/*
 * wire.c -- the encoding of an address that the IPC envelope and the
 * flow-manager's control messages share (see wire.h); the integer and
 * byte codecs are inline in the header.
 *
 * An IPv4 address always goes out with a zero tail and comes back with
 * one, whatever the struct held past its four bytes, so an address that
 * crosses a process is the same bytes on both sides.
 */
#include <netinet/in.h>
#include <string.h>

#include "epsip/ipc.h"
#include "epsip/wire.h"

static size_t
addr_ip_size(uint8_t family)
{
	return (family == AF_INET ? 4 : 16);
}

void
wire_put_addr(struct wire_writer *w, const struct epsip_addr *a)
{
	size_t n = addr_ip_size(a->family);

	wire_put_u8(w, a->family);
	wire_put_u16(w, a->port);
	wire_put_bytes(w, a->ip, n);
	wire_put_zero(w, sizeof(a->ip) - n);
}

void
wire_get_addr(struct wire_reader *r, struct epsip_addr *a)
{
	size_t n;

	memset(a, 0, sizeof(*a));
	a->family = wire_get_u8(r);
	a->port = wire_get_u16(r);
	n = addr_ip_size(a->family);
	wire_get_bytes(r, a->ip, n);
	wire_skip(r, sizeof(a->ip) - n);
}
