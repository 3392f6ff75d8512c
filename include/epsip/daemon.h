/*
 * daemon.h -- the skeleton every EPSIP service runs in.
 *
 * Like Postfix's multi_server_main(): the service's main() fills in its name
 * and callbacks, daemon_main() owns argv and configuration, logging, signals,
 * the event loop, the HELLO to the supervisor and the once-a-second STATS
 * report.  A service main stays short and is only about its own job.
 */
#ifndef EPSIP_DAEMON_H
#define EPSIP_DAEMON_H

#include <jansson.h>

#include "epsip/config.h"
#include "epsip/ipc_socket.h"
#include "epsip/loop.h"

struct daemon;

struct daemon_service {
	const char *name;		/* "sip-router" */
	/* Extra command-line options (may be NULL); see config_parse_args. */
	config_extra_option extra_option;
	/* Start: open sockets, register with the loop; 0 or -1 (exit 1). */
	int (*start)(struct daemon *d);
	/* Add service-specific fields to the STATS report (may be NULL). */
	void (*report)(struct daemon *d, json_t *stats);
	/* Before exit: close what start opened (may be NULL). */
	void (*stop)(struct daemon *d);
	/*
	 * SIGHUP (may be NULL): apply what the service keeps of the
	 * reloadable keys (config_key_reloadable()), taking their values
	 * from `fresh`.  d->cfg still holds the running ones, and takes
	 * fresh's reloadable keys after a 0.  -1 with a reason in err
	 * refuses the reload: the service must then have changed nothing.
	 */
	int (*reload)(struct daemon *d, const struct epsip_config *fresh,
	    char *err, size_t errcap);
	/*
	 * SIGUSR1 (may be NULL: the signal stays pending): stop taking new
	 * work and stop the loop once what is held is done.  epsipd sends
	 * it to a flow-manager it scales down or an operator drains.
	 */
	void (*drain)(struct daemon *d);
	void *arg;			/* the service's own state */
};

struct daemon {
	const struct daemon_service *service;
	struct epsip_config cfg;
	struct loop *loop;
	struct ipc_socket *supervisor;	/* push to supervisor.ipc */
	/*
	 * The service this process reports as: service->name, or for the
	 * second and later flow-managers "flow-manager-2" (and their
	 * children), so that epsipd tells the instances apart.
	 */
	const char *service_name;
	const char *instance_name;	/* "sip-router" or "fm1-c7" */
	int stop_signal;		/* what stopped the loop, or 0 */
	int argc;			/* read again on SIGHUP */
	char **argv;
};

/*
 * Parse, set up, run the loop until SIGTERM/SIGINT; returns exit status.
 * SIGHUP reads the configuration again from the same argv (the effective
 * file epsipd rewrote, the environment, this process's own flags) and
 * applies its reloadable keys; a configuration that does not read or
 * check is logged and counted, and the running one kept.
 */
int daemon_main(const struct daemon_service *service, int argc, char **argv);

/* Name this process in HELLO/STATS (e.g. a flow-manager child "fm1-c7"). */
void daemon_set_instance_name(struct daemon *d, const char *name);
/* Report as service `name` (and log as it), e.g. "flow-manager-2". */
void daemon_set_service_name(struct daemon *d, const char *name);

#endif /* EPSIP_DAEMON_H */
