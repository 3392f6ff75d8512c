/*
 * main.c -- epsip-flow-manager: the parent, or with --child N one child.
 *
 *   epsip-flow-manager --config <run_dir>/epsip.conf            (parent)
 *   epsip-flow-manager --config <run_dir>/epsip.conf --child N  (by parent)
 *
 * Fatal: a malformed --child.
 */
#include <stddef.h>
#include <string.h>

#include "epsip/daemon.h"

#include "flow_manager.h"

static uint32_t fm_main_child;		/* 0: the parent */
static int fm_main_argc;
static char **fm_main_argv;

/* config_parse_args: the number of extra argv entries used, or -1. */
static int
fm_main_option(const char *name, const char *value, void *arg)
{
	(void)arg;
	if (strcmp(name, "child") != 0 ||
	    fm_parse_child_id(value, &fm_main_child) == -1) {
		return (-1);
	}
	return (1);
}

static int
fm_main_start(struct daemon *d)
{
	if (fm_main_child != 0) {
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

/* A child's reloadable keys are all read where they are used. */
static int
fm_main_reload(struct daemon *d, const struct epsip_config *fresh,
    char *err, size_t errcap)
{
	(void)err;
	(void)errcap;
	if (fm_main_child == 0) {
		fm_parent_reload(d, fresh);
	}
	return (0);
}

static const struct daemon_service fm_main_service = {
	.name = "flow-manager",
	.extra_option = fm_main_option,
	.start = fm_main_start,
	.report = fm_main_report,
	.stop = fm_main_stop,
	.reload = fm_main_reload,
};

int
main(int argc, char **argv)
{
	fm_main_argc = argc;
	fm_main_argv = argv;
	return (daemon_main(&fm_main_service, argc, argv));
}
