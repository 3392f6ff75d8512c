/*
 * main.c -- epsip-registrar-bridge: the core side of EPSIP.
 *
 * Embedded mode: an RFC 5626 outbound-aware registrar with bindings in
 * SQLite and a home proxy that reaches phones along their Path.  Upstream
 * mode (`upstream` set): a relay to an external registrar, with the
 * core-facing sockets on core-listen.  Started
 * by epsipd as `epsip-registrar-bridge --config <run_dir>/epsip.conf`.
 * Everything is in bridge.c (IPC) and the core it opens (core.h).
 * DIAGNOSTICS: see daemon.h (configuration: exit 2; start: exit 1).
 */
#include "epsip/daemon.h"

#include "bridge.h"

static struct rb_bridge bridge;

int
main(int argc, char **argv)
{
	static const struct daemon_service service = {
		.name = "registrar-bridge",
		.start = rb_bridge_start,
		.report = rb_bridge_report,
		.stop = rb_bridge_stop,
		.reload = rb_bridge_reload,
		.arg = &bridge,
	};

	return (daemon_main(&service, argc, argv));
}
