/*
 * main.c -- epsip-sip-router: the daemon skeleton around router_ipc.c.
 *
 * Listens on router.ipc for flow-manager children, the flow-manager parent
 * and the registrar-bridge; sends to children's own addresses and to
 * bridge.ipc (router_ipc.c).  All SIP decisions are in route.c and the
 * files it calls.  SIGHUP loads the token keys again (a rotation).
 * DIAGNOSTICS: missing key or IPC set-up failure at start is fatal; a key
 * that cannot be read on SIGHUP keeps the running ones (daemon.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/daemon.h"
#include "epsip/log.h"
#include "epsip/source_rate.h"
#include "router_ipc.h"

static struct sip_router sip_router;

/*
 * Shedding needs the window timer once overload-delay is not 0; once
 * running it stays (at 0 the share only decays to nothing).
 */
static int
router_overload_window_start(struct daemon *d,
    const struct epsip_config *cfg)
{
	struct sip_router *sr = d->service->arg;

	if (cfg->overload_delay == 0 || sr->overload_window_on) {
		return (0);
	}
	if (loop_every(d->loop, OVERLOAD_WINDOW_MS, router_overload_window,
	    sr) < 0) {
		return (-1);
	}
	sr->overload_window_on = 1;
	return (0);
}

/* Addresses whose request buckets are kept (source_rate.h). */
#define ROUTER_SOURCE_SLOTS	16384
/* How often the sockets of children that died are swept (owners.h). */
#define OWNERS_SWEEP_MS		1000

static void
router_owners_sweep(struct loop *loop, void *arg)
{
	struct sip_router *sr = arg;

	(void)loop;
	(void)owners_sweep(sr->owners);
}

static int
router_start(struct daemon *d)
{
	struct sip_router *sr = d->service->arg;
	char err[512], url[CONFIG_PATH_MAX + 32];

	if (router_init(&sr->router, &d->cfg, err, sizeof(err)) == -1) {
		log_error("%s", err);
		return (-1);
	}
	if ((sr->owners = owners_new(d->cfg.run_dir)) == NULL ||
	    ipc_service_url(d->cfg.run_dir, "router", url, sizeof(url)) ||
	    ipc_pull_listen(&sr->in, url) == -1 ||
	    ipc_service_url(d->cfg.run_dir, "bridge", url, sizeof(url)) ||
	    ipc_push_dial(&sr->bridge, url, 0, (int)d->cfg.ipc_queue) == -1) {
		return (-1);
	}
	if (router_overload_window_start(d, &d->cfg) == -1 ||
	    loop_every(d->loop, OWNERS_SWEEP_MS, router_owners_sweep,
	    sr) < 0 ||
	    (sr->source_requests = source_rate_new(d->cfg.source_request_rate,
	    d->cfg.source_request_burst, ROUTER_SOURCE_SLOTS)) == NULL) {
		return (-1);
	}
	return (loop_add_fd(d->loop, ipc_recv_fd(sr->in), EPOLLIN, router_on_ipc,
	    sr));
}

/* SIGHUP: new token keys sign and verify from the next message on. */
static int
router_reload(struct daemon *d, const struct epsip_config *fresh, char *err,
    size_t errcap)
{
	struct sip_router *sr = d->service->arg;
	struct flow_token_keyring keys;

	if (flow_token_keyring_load(fresh->key_file, fresh->previous_key_file,
	    &keys, err, errcap) == -1) {
		return (-1);
	}
	if (router_overload_window_start(d, fresh) == -1) {
		explicit_bzero(&keys, sizeof(keys));
		snprintf(err, errcap, "overload-delay: no timer left");
		return (-1);
	}
	sr->router.keys = keys;
	explicit_bzero(&keys, sizeof(keys));
	if (fresh->source_request_rate != d->cfg.source_request_rate ||
	    fresh->source_request_burst != d->cfg.source_request_burst) {
		source_rate_set(sr->source_requests,
		    fresh->source_request_rate, fresh->source_request_burst);
	}
	return (0);
}

static void
router_report(struct daemon *d, json_t *stats)
{
	struct sip_router *sr = d->service->arg;

	json_object_set_new(stats, "owner_sockets",
	    json_integer((json_int_t)owners_count(sr->owners)));
}

static void
router_stop(struct daemon *d)
{
	struct sip_router *sr = d->service->arg;

	owners_free(sr->owners);
	source_rate_free(sr->source_requests);
	sr->source_requests = NULL;
	ipc_close(sr->in);
	ipc_close(sr->bridge);
	router_free(&sr->router);
}

int
main(int argc, char **argv)
{
	static const struct daemon_service service = {
		.name = "sip-router",
		.start = router_start,
		.report = router_report,
		.stop = router_stop,
		.reload = router_reload,
		.arg = &sip_router,
	};

	return (daemon_main(&service, argc, argv));
}
