/*
 * owners.h -- the router's push sockets to flow-manager children.
 *
 * One socket per child, dialed on first use at the address derived from a
 * verified token and kept, so the router never dials per message.  A child
 * that died is noticed through the socket (peer lost) or FLOW_CLOSED, and
 * its entry is dropped; the next dial then fails at once, which is our 430.
 * Entries of children that died and are not asked for again are swept
 * (owners_sweep): a child's number is never given again, even by a
 * restarted flow-manager, and each such socket would redial its address
 * ten times a second for as long as the router runs.
 */
#ifndef EPSIP_SIP_ROUTER_OWNERS_H
#define EPSIP_SIP_ROUTER_OWNERS_H

#include <stdint.h>

#include "epsip/ipc_socket.h"

struct owners;

struct owners *owners_new(const char *run_dir);
void owners_free(struct owners *o);
/* The socket of child (instance, child), dialing it if needed; NULL: gone. */
struct ipc_socket *owners_get(struct owners *o, uint16_t instance,
    uint32_t child);
void owners_drop(struct owners *o, uint16_t instance, uint32_t child);
size_t owners_count(const struct owners *o);
/* Drop every child whose socket has lost its peer; the number dropped. */
size_t owners_sweep(struct owners *o);
/* Call `fn` with every child's socket the router holds (a broadcast). */
void owners_foreach(struct owners *o,
    void (*fn)(struct ipc_socket *sock, void *arg), void *arg);

#endif /* EPSIP_SIP_ROUTER_OWNERS_H */
