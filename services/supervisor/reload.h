/*
 * reload.h -- SIGHUP (and POST /reload): read the configuration again and
 * hand its reloadable keys to every service.
 */
#ifndef SUP_RELOAD_H
#define SUP_RELOAD_H

#include <stddef.h>

#include <jansson.h>

#include "epsip/config.h"

/* More than the table has keys: a reload never has to leave one out. */
#define SUP_RELOAD_KEYS		64

struct supervisor;

/* What one reload did: the log line's and POST /reload's answer. */
struct sup_reload_result {
	int ok;
	char error[512];	/* !ok: why, e.g. "FILE:LINE: key: reason" */
	const char *applied[SUP_RELOAD_KEYS];	/* reloadable keys changed */
	size_t napplied;
	const char *restart[SUP_RELOAD_KEYS];	/* changed, need a restart */
	size_t nrestart;
	unsigned signalled;	/* services sent SIGHUP */
};

/*
 * Load (or create) the flow-token key and load the previous one, as the
 * services will: 0, or -1 with a reason in err.  At start and on reload.
 */
int sup_keys_check(const struct epsip_config *cfg, char *err,
    size_t errcap);

/*
 * Read the configuration again from epsipd's argv, as at start (the file,
 * the environment, the flags: flags still win), check it, rewrite the
 * effective file with its reloadable keys and the running values of the
 * others, and send SIGHUP to every running service.  Counted
 * (config.reloads, config.reload_errors) and logged; on any error the
 * running configuration stays.  0, or -1; *res says what happened.
 */
int sup_reload(struct supervisor *sup, struct sup_reload_result *res);

/*
 * POST /reload's answer: {"ok": true, "applied": [...], "restart_needed":
 * [...], "signalled": N} or {"ok": false, "error": "..."}.  A new
 * reference, or NULL when out of memory.
 */
json_t *sup_reload_json(const struct sup_reload_result *res);

/* The loop took SIGHUP: reload, answer POST /reload, re-render /stats. */
void sup_reload_on_signal(struct supervisor *sup);

#endif /* SUP_RELOAD_H */
