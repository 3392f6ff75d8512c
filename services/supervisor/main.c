/*
 * main.c -- epsipd, the EPSIP supervisor.
 *
 * Reads the configuration (defaults, --config FILE, then flags), and
 * hands over to supervisor_main(), which runs the three services until
 * SIGTERM, and reads it again from the same argv on SIGHUP (reload.c).  Exit status: 0 after a clean stop or for --help and -n, 1
 * when the set cannot start, 2 for a configuration error.
 */
#include <stdio.h>

#include "epsip/config.h"
#include "epsip/log.h"

#include "spawn.h"
#include "supervisor.h"

int
main(int argc, char **argv)
{
	struct epsip_config cfg;
	int want_help = 0, check_only = 0;
	char err[512];

	/* Before any open(): a closed stderr must not become a socket. */
	sup_stdio_sanitize();
	log_init("epsipd", LOG_LEVEL_INFO);
	config_defaults(&cfg);
	if (config_parse_args(&cfg, argc, argv, NULL, NULL, &want_help,
	    &check_only, err, sizeof(err)) == -1) {
		fprintf(stderr, "epsipd: %s\n", err);
		return (2);
	}
	if (want_help) {
		config_usage(stdout, "epsipd");
		return (0);
	}
	if (config_finish(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "epsipd: %s\n", err);
		return (2);
	}
	if (check_only) {
		printf("configuration OK\n");
		return (0);
	}
	log_set_level(cfg.log_level);
	return (supervisor_main(&cfg, argc, argv));
}
