/*
 * main.c -- epsip-flow-manager: the parent, or with --child N one child.
 *
 *   epsip-flow-manager --config <run_dir>/epsip.conf [--flow-manager K]
 *   epsip-flow-manager ... --child N                    (by the parent)
 *
 * K (default 1) is which of the edge's flow-managers this is: epsipd
 * starts K = 1..flow-managers, and K decides the instance number in
 * this one's tokens and the name it reports as.  "auto" claims the
 * lowest number no running flow-manager of the run directory holds (a
 * container under docker-compose --scale, which nobody numbers).
 *
 * Fatal: a malformed --child or --flow-manager.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "epsip/daemon.h"

#include "flow_manager.h"

static uint32_t fm_main_child;		/* 0: the parent */
static unsigned fm_main_flow_manager = 1;	/* 0: auto */
static int fm_main_argc;
static char **fm_main_argv;

/* config_parse_args: the number of extra argv entries used, or -1. */
static int
fm_main_option(const char *name, const char *value, void *arg)
{
	(void)arg;
	if (strcmp(name, "child") == 0) {
		return (fm_parse_child_id(value, &fm_main_child) == -1 ?
		    -1 : 1);
	}
	if (strcmp(name, "flow-manager") == 0) {
		if (value != NULL && strcmp(value, "auto") == 0) {
			fm_main_flow_manager = 0;
			return (1);
		}
		return (fm_parse_flow_manager(value,
		    &fm_main_flow_manager) == -1 ? -1 : 1);
	}
	return (-1);
}

static int
fm_main_start(struct daemon *d)
{
	d->cfg.flow_manager = fm_main_flow_manager;
	if (fm_main_child != 0) {
		if (fm_main_flow_manager == 0) {
			return (-1);	/* the parent names its number */
		}
		fm_name_service(d);
		return (fm_child_start(d, fm_main_child));
	}
	return (fm_parent_start(d, fm_main_argc, fm_main_argv));
}

static void
fm_main_report(struct daemon *d, json_t *stats)
{
	if (fm_main_child != 0) {
		fm_child_report(d, stats);
	} else {
		fm_parent_report(d, stats);
	}
}

static void
fm_main_stop(struct daemon *d)
{
	if (fm_main_child != 0) {
		fm_child_stop(d);
	} else {
		fm_parent_stop(d);
	}
}

/*
 * A child's reloadable keys are read where they are used, but for the TLS
 * files, which it loads again now (d->cfg takes fresh's keys after this).
 */
static int
fm_main_reload(struct daemon *d, const struct epsip_config *fresh,
    char *err, size_t errcap)
{
	(void)err;
	(void)errcap;
	if (fm_main_child == 0) {
		fm_parent_reload(d, fresh);
	} else {
		fm_child_reload(d, fresh);
	}
	return (0);
}

/* Children hold flows, not listeners: only the parent drains. */
static void
fm_main_drain(struct daemon *d)
{
	if (fm_main_child == 0) {
		fm_parent_drain(d);
	}
}

static const struct daemon_service fm_main_service = {
	.name = "flow-manager",
	.extra_option = fm_main_option,
	.start = fm_main_start,
	.report = fm_main_report,
	.stop = fm_main_stop,
	.reload = fm_main_reload,
	.drain = fm_main_drain,
};

int
main(int argc, char **argv)
{
	fm_main_argc = argc;
	fm_main_argv = argv;
	return (daemon_main(&fm_main_service, argc, argv));
}
