/*
 * reload.c -- SIGHUP: read the configuration again, keep every flow.
 *
 * epsipd reads its sources again exactly as main() did at start (the
 * --config file or $EPSIP_CONFIG, EPSIP_<KEY>, then its flags, so a flag
 * still wins over the file), checks the result as at start, and loads the
 * token keys the services will load.  Only then does anything change:
 * the effective file in the run directory is rewritten with the new
 * values of the reloadable keys (config_key_reloadable()) and the running
 * values of all others, and every running service gets SIGHUP and reads
 * that file again itself (daemon.c); the flow-manager parent passes it on
 * to its children.  A service started or restarted later reads the same
 * file, so the set never disagrees.
 *
 * Why a signal and a file rather than an IPC message: epsipd has no
 * channel towards its services (they push reports to it), the file is
 * already what every process reads its configuration from, a service
 * that restarts in the middle of a reload still ends up right, and
 * SIGHUP is what an operator, systemd's ExecReload= and POST /reload all
 * send.  Nothing in the IPC protocol changes.
 *
 * A key that needs a restart and changed is named in a warning and keeps
 * its running value.
 *
 * DIAGNOSTICS: a file that does not parse or check, or a key that cannot
 * be read, is one error line naming the file and line (config.c), the
 * running configuration is kept, and config.reload_errors counts it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/flow_token.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "http_stats.h"
#include "reload.h"
#include "rundir.h"
#include "supervisor.h"

int
sup_keys_check(const struct epsip_config *cfg, char *err, size_t errcap)
{
	struct flow_token_key key;
	char why[384];
	int rv = 0;

	/*
	 * Created once and kept across restarts: tokens handed out before
	 * a restart must still verify (430 for a gone flow, not 403 for a
	 * forged token).  Deleted for a rotation, it is created again.
	 */
	if (flow_token_key_load_or_create(cfg->key_file, &key, why,
	    sizeof(why)) == -1) {
		snprintf(err, errcap, "flow token key %s: %s", cfg->key_file,
		    why);
		rv = -1;
	} else if (cfg->previous_key_file[0] != '\0' &&
	    flow_token_key_load(cfg->previous_key_file, &key, why,
	    sizeof(why)) == -1) {
		snprintf(err, errcap, "previous flow token key %s: %s",
		    cfg->previous_key_file, why);
		rv = -1;
	}
	explicit_bzero(&key, sizeof(key));
	return (rv);
}

static int
sup_reload_refused(struct sup_reload_result *res)
{
	log_error("reload: %s: running configuration kept", res->error);
	stats_inc(M_CONFIG_RELOAD_ERRORS);
	return (-1);
}

/* "log-level, max-flows" into buf. */
static void
sup_key_list(const char *const *names, size_t n, char *buf, size_t cap)
{
	size_t len = 0, i;

	buf[0] = '\0';
	for (i = 0; i < n && i < SUP_RELOAD_KEYS && len < cap; i++) {
		len += (size_t)snprintf(buf + len, cap - len, "%s%s",
		    i > 0 ? ", " : "", names[i]);
	}
}

static void
sup_reload_log(const struct sup_reload_result *res)
{
	char keys[1024];

	if (res->nrestart > 0) {
		sup_key_list(res->restart, res->nrestart, keys, sizeof(keys));
		log_warnx("reload: changed, but only a restart applies them "
		    "(running values kept): %s", keys);
	}
	sup_key_list(res->applied, res->napplied, keys, sizeof(keys));
	log_info("reload: configuration checked, %u service%s told%s%s",
	    res->signalled, res->signalled == 1 ? "" : "s",
	    res->napplied > 0 ? "; changed: " : "; no reloadable key changed",
	    keys);
}

int
sup_reload(struct supervisor *sup, struct sup_reload_result *res)
{
	struct epsip_config fresh, merged;
	char path[CONFIG_PATH_MAX + 16];
	int help, check;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (sup->stopping) {
		snprintf(res->error, sizeof(res->error), "epsipd is stopping");
		return (sup_reload_refused(res));
	}
	if (sup_watch_refuse(sup, "send each service SIGHUP (docker-compose "
	    "kill -s HUP)", res->error, sizeof(res->error))) {
		return (sup_reload_refused(res));
	}
	config_defaults(&fresh);
	if (config_parse_args(&fresh, sup->argc, sup->argv, NULL, NULL, &help,
	    &check, res->error, sizeof(res->error)) == -1 ||
	    config_finish(&fresh, res->error, sizeof(res->error)) == -1 ||
	    sup_keys_check(&fresh, res->error, sizeof(res->error)) == -1) {
		return (sup_reload_refused(res));
	}
	res->napplied = config_changed(sup->cfg, &fresh, 1, res->applied,
	    SUP_RELOAD_KEYS);
	res->nrestart = config_changed(sup->cfg, &fresh, 0, res->restart,
	    SUP_RELOAD_KEYS);
	merged = *sup->cfg;
	config_take_reloadable(&merged, &fresh);
	if (sup_rundir_write_config(merged.run_dir, &merged, path,
	    sizeof(path), res->error, sizeof(res->error)) == -1) {
		return (sup_reload_refused(res));
	}
	*sup->cfg = merged;
	log_set_level(sup->cfg->log_level);
	/* Key files are read again even when their names did not change. */
	for (i = 0; i < SUP_NPROCS; i++) {
		if (sup->procs[i].pid <= 0) {
			continue;	/* reads the new file when it starts */
		}
		if (kill(sup->procs[i].pid, SIGHUP) == -1) {
			log_warn("reload: SIGHUP to %s pid %ld",
			    sup->procs[i].name, (long)sup->procs[i].pid);
			continue;
		}
		res->signalled++;
	}
	/* After the signals: a flow-manager started now reads the file. */
	sup_scale(sup);
	res->ok = 1;
	stats_inc(M_CONFIG_RELOADS);
	sup_reload_log(res);
	return (0);
}

static json_t *
sup_names_json(const char *const *names, size_t n)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; list != NULL && i < n && i < SUP_RELOAD_KEYS; i++) {
		if (json_array_append_new(list, json_string(names[i])) == -1) {
			json_decref(list);
			return (NULL);
		}
	}
	return (list);
}

json_t *
sup_reload_json(const struct sup_reload_result *res)
{
	if (!res->ok) {
		return (json_pack("{s:b, s:s}", "ok", 0, "error",
		    res->error));
	}
	return (json_pack("{s:b, s:o*, s:o*, s:I}", "ok", 1,
	    "applied", sup_names_json(res->applied, res->napplied),
	    "restart_needed", sup_names_json(res->restart, res->nrestart),
	    "signalled", (json_int_t)res->signalled));
}

void
sup_reload_on_signal(struct supervisor *sup)
{
	struct sup_reload_result res;
	uint64_t ticket;
	size_t len = 0;
	char *body;

	/* The requests waiting now are answered by this reload. */
	ticket = sup->http != NULL ? sup_http_reload_asked(sup->http) : 0;
	(void)sup_reload(sup, &res);
	if (sup->http != NULL) {
		body = sup_dump(sup_reload_json(&res), &len);
		sup_http_reload_done(sup->http, ticket, res.ok ?
		    200 : 422, body, len);
	}
	sup_publish(sup);
}
