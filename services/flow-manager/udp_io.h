/*
 * udp_io.h -- datagrams in and out of the SIP UDP listeners, with the
 * local address each one used.
 *
 * A wildcard listener (0.0.0.0:5060) hears datagrams sent to any address
 * of the host.  RFC 3581 §4 wants the answer to leave from the address the
 * request was sent to, or a NAT (and the phone) will not recognise it; so
 * we learn the destination address of every datagram (IP_PKTINFO) and send
 * each flow's datagrams from it.
 */
#ifndef EPSIP_FM_UDP_IO_H
#define EPSIP_FM_UDP_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "epsip/ipc.h"

/* Ask the kernel for each datagram's destination address. */
int fm_udp_want_pktinfo(int fd, int family);
/* ... and for when it arrived (fm_udp_recv's *arrived_ms). */
int fm_udp_want_timestamps(int fd);
/* ... and for how many the socket's full buffer dropped so far. */
int fm_udp_want_drop_count(int fd);

/*
 * Receive one datagram.  *local is the address it was sent to, with the
 * listener's port; `bound` (the listener's address) stands in when the
 * kernel says nothing.  *arrived_ms: when the kernel took it (monotonic
 * ms), or now without a timestamp.  *kernel_drops: the datagrams the
 * socket's full receive buffer dropped since it opened (SO_RXQ_OVFL),
 * left as it was when the kernel says nothing (none since the last).
 * Returns the length, or -1 with errno.
 */
ssize_t fm_udp_recv(int fd, void *buf, size_t cap,
    const struct epsip_addr *bound, struct epsip_addr *remote,
    struct epsip_addr *local, uint64_t *arrived_ms, uint32_t *kernel_drops);

/* Send from `local` (when it is a specific address) to `remote`. */
ssize_t fm_udp_send(int fd, const void *buf, size_t len,
    const struct epsip_addr *remote, const struct epsip_addr *local);

#endif /* EPSIP_FM_UDP_IO_H */
