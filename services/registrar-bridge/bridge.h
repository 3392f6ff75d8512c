/*
 * bridge.h -- the registrar-bridge's IPC side and daemon callbacks.
 *
 * The bridge pulls on bridge.ipc (SIP_TO_CORE and FLOW_CLOSED from the
 * sip-router) and pushes SIP_FROM_CORE to router.ipc; everything SIP is
 * the core's business (core.h).
 */
#ifndef RB_BRIDGE_H
#define RB_BRIDGE_H

#include <jansson.h>

#include "epsip/daemon.h"
#include "epsip/ipc_socket.h"
#include "epsip/overload.h"

#include "core.h"
#include "rb_sip.h"

struct rb_bridge {
	struct daemon *daemon;
	struct ipc_socket *in;		/* pull, bridge.ipc */
	struct ipc_socket *router;	/* push, router.ipc */
	struct rb_out out;
	struct rb_core *core;
	int tick_timer;
	struct overload_meter overload;	/* this window's UDP waits */
	int overload_window_on;	/* overload_window() is scheduled */
};

/* daemon_service callbacks; the service's `arg` is a struct rb_bridge. */
int rb_bridge_start(struct daemon *d);
void rb_bridge_report(struct daemon *d, json_t *stats);
int rb_bridge_reload(struct daemon *d, const struct epsip_config *fresh,
    char *err, size_t errcap);
void rb_bridge_stop(struct daemon *d);

#endif /* RB_BRIDGE_H */
