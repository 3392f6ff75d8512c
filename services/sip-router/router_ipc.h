/*
 * router_ipc.h -- the sip-router process: its router and its IPC links.
 */
#ifndef EPSIP_SIP_ROUTER_IPC_H
#define EPSIP_SIP_ROUTER_IPC_H

#include "epsip/ipc_socket.h"
#include "epsip/loop.h"
#include "epsip/overload.h"
#include "owners.h"
#include "router.h"

struct source_rate;

struct sip_router {
	struct router router;
	struct owners *owners;	/* push sockets to flow-manager children */
	struct ipc_socket *in;	/* router.ipc: children, parent, bridge */
	struct ipc_socket *bridge;	/* bridge.ipc */
	struct overload_meter overload;	/* this window's UDP waits */
	struct overload_gate bridge_late;	/* the bridge's late share */
	int overload_window_on;	/* router_overload_window() is scheduled */
	/* source-request-rate: requests one address may send. */
	struct source_rate *source_requests;
};

/* The `in` socket is readable: route every envelope waiting (a batch). */
void router_on_ipc(struct loop *loop, int fd, uint32_t events, void *arg);

/* Every OVERLOAD_WINDOW_MS: the share of new UDP requests children shed. */
void router_overload_window(struct loop *loop, void *arg);

#endif /* EPSIP_SIP_ROUTER_IPC_H */
