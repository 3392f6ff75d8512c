/*
 * main.c -- epsipctl: ask a running epsipd how it is and which flows it
 * holds, or to reload or drain.
 *
 *   epsipctl [--stats ADDR:PORT] [--config FILE] [--timeout S] status
 *   epsipctl [...] stats [--flat]
 *   epsipctl [...] reload
 *   epsipctl [...] drain INSTANCE
 *   epsipctl [...] flows [--aor AOR] [--transport udp|tcp] [--instance N]
 *                        [--offset K] [--limit M] [--json]
 *   epsipctl [--config FILE] [--registrar-db PATH] [--state-dir DIR]
 *            user add USER@DOMAIN | user del USER@DOMAIN | user list
 *
 * Talks HTTP/1.0 to epsipd's stats endpoint (GET /health, GET /stats,
 * GET /flows, POST /reload, POST /drain).  The endpoint is found the way epsipd finds it: the
 * `stats` key of --config FILE, else of $EPSIP_CONFIG, else of
 * /etc/epsip/epsip.conf when it can be read, with $EPSIP_STATS over it
 * and --stats over everything.  `user` works on the registrar's
 * database itself, found as epsipd would (user.c), and needs no epsipd.
 * epsipctl(8) has the details.
 * DIAGNOSTICS: one line on stderr; exit codes in ctl.h and epsipctl(8).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epsip/config.h"

#include "ctl.h"

#define CTL_DEFAULT_TIMEOUT_S	15

struct ctl_options {
	const char *stats;	/* --stats, or NULL */
	const char *config;	/* --config, or NULL */
	unsigned timeout_ms;
	int flat;
	const char *command;
	const char *arg;	/* drain's INSTANCE; user's sub-command */
	const char *arg2;	/* user add/del's USER@DOMAIN */
	const char *registrar_db;	/* --registrar-db */
	const char *state_dir;	/* --state-dir */
	struct ctl_flows_args flows;	/* flows' options */
	int json;		/* flows --json */
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: epsipctl [--stats ADDR:PORT] [--config FILE] "
	    "[--timeout SECONDS] COMMAND\n\n"
	    "  status           health, and each service's state, pid, "
	    "uptime and restarts\n"
	    "  stats [--flat]   the /stats document: JSON, or one "
	    "key=value a line\n"
	    "  reload           read the configuration again (as SIGHUP "
	    "does) and say what changed\n"
	    "  drain INSTANCE   the flow-manager with that instance number "
	    "takes no new flows\n"
	    "                   and leaves once its flows are gone "
	    "(drain-timeout)\n"
	    "  flows [--aor AOR] [--transport udp|tcp] [--instance N] "
	    "[--offset K] [--limit M] [--json]\n"
	    "                   the flows held, a page (default 100, at most "
	    "1000) at a time\n"
	    "  user add USER@DOMAIN\n"
	    "                   a digest user of the embedded registrar; the "
	    "password is read\n"
	    "                   from standard input (one line)\n"
	    "  user del USER@DOMAIN\n"
	    "  user list\n\n"
	    "  --stats ADDR:PORT  epsipd's stats endpoint (default: the "
	    "configuration's `stats`)\n"
	    "  --config FILE      read `stats` from FILE (default: "
	    "$EPSIP_CONFIG, else %s)\n"
	    "  --timeout SECONDS  give up after this long (default %d)\n"
	    "  --registrar-db PATH, --state-dir DIR\n"
	    "                     user: where the registrar's database is "
	    "(default: as epsipd\n"
	    "                     computes it from the configuration)\n"
	    "\nexit: 0 done and healthy, 1 unhealthy or reload/drain refused, "
	    "2 usage, 3 epsipd unreachable\n", CTL_DEFAULT_CONFIG,
	    CTL_DEFAULT_TIMEOUT_S);
}

/* user add|del USER@DOMAIN, or user list. */
static int
user_args_ok(const struct ctl_options *o)
{
	if (o->arg == NULL) {
		return (0);
	}
	if (strcmp(o->arg, "list") == 0) {
		return (1);
	}
	return ((strcmp(o->arg, "add") == 0 || strcmp(o->arg, "del") == 0) &&
	    o->arg2 != NULL);
}

static int
parse_options(int argc, char **argv, struct ctl_options *o)
{
	static const struct option longopts[] = {
		{ "stats", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "flat", no_argument, NULL, 'f' },
		{ "aor", required_argument, NULL, 'a' },
		{ "transport", required_argument, NULL, 'T' },
		{ "instance", required_argument, NULL, 'i' },
		{ "offset", required_argument, NULL, 'o' },
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "registrar-db", required_argument, NULL, 'r' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long t;
	int ch;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = CTL_DEFAULT_TIMEOUT_S * 1000;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->stats = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 't':
			t = strtol(optarg, &end, 10);
			if (*end != '\0' || t < 1 || t > 3600) {
				fprintf(stderr, "epsipctl: --timeout: \"%s\" is "
				    "not 1..3600 seconds\n", optarg);
				return (-1);
			}
			o->timeout_ms = (unsigned)t * 1000;
			break;
		case 'f':
			o->flat = 1;
			break;
		case 'a':
			o->flows.aor = optarg;
			break;
		case 'T':
			o->flows.transport = optarg;
			break;
		case 'i':
			o->flows.instance = optarg;
			break;
		case 'o':
			o->flows.offset = optarg;
			break;
		case 'l':
			o->flows.limit = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'r':
			o->registrar_db = optarg;
			break;
		case 'S':
			o->state_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			usage(stderr);
			return (-1);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return (-1);
	}
	o->command = argv[optind++];
	if ((strcmp(o->command, "drain") == 0 ||
	    strcmp(o->command, "user") == 0) && optind < argc) {
		o->arg = argv[optind++];
	}
	if (strcmp(o->command, "user") == 0 && o->arg != NULL &&
	    strcmp(o->arg, "list") != 0 && optind < argc) {
		o->arg2 = argv[optind++];
	}
	if (optind != argc ||
	    (strcmp(o->command, "drain") == 0 && o->arg == NULL) ||
	    (strcmp(o->command, "user") == 0 && !user_args_ok(o))) {
		usage(stderr);
		return (-1);
	}
	if ((o->registrar_db != NULL || o->state_dir != NULL) &&
	    strcmp(o->command, "user") != 0) {
		fprintf(stderr, "epsipctl: --registrar-db and --state-dir are "
		    "for user only\n");
		return (-1);
	}
	if (o->flat && strcmp(o->command, "stats") != 0) {
		fprintf(stderr, "epsipctl: --flat is for stats only\n");
		return (-1);
	}
	if ((o->json || o->flows.aor != NULL || o->flows.transport != NULL ||
	    o->flows.instance != NULL || o->flows.offset != NULL ||
	    o->flows.limit != NULL) && strcmp(o->command, "flows") != 0) {
		fprintf(stderr, "epsipctl: --aor, --transport, --instance, "
		    "--offset, --limit and --json are for flows only\n");
		return (-1);
	}
	return (0);
}

/* One source's ADDR:PORT into addr; -1 said on stderr. */
static int
parse_stats(const char *text, const char *from, struct epsip_addr *addr)
{
	if (config_parse_addr(text, 8060, addr) == -1) {
		fprintf(stderr, "epsipctl: %s: stats: \"%s\" is not "
		    "ADDR:PORT\n", from, text);
		return (-1);
	}
	return (0);
}

/*
 * The stats endpoint, with epsipd's precedence: its default, the file's
 * `stats`, $EPSIP_STATS, then --stats.  Only that key is read from the
 * file: `epsipctl reload` must reach epsipd also when another line is
 * what epsipd refuses.
 */
static int
stats_address(const struct ctl_options *o, struct epsip_addr *addr)
{
	struct epsip_config defaults;
	const char *path = o->config, *env;
	char value[CONFIG_NAME_MAX];
	int found;

	config_defaults(&defaults);
	*addr = defaults.stats;
	if (path == NULL) {
		path = getenv("EPSIP_CONFIG");
	}
	if (path == NULL && access(CTL_DEFAULT_CONFIG, R_OK) == 0) {
		path = CTL_DEFAULT_CONFIG;
	}
	if (path != NULL && path[0] != '\0') {
		if ((found = config_file_value(path, "stats", value,
		    sizeof(value))) == -1) {
			fprintf(stderr, "epsipctl: %s: %s\n", path,
			    strerror(errno));
			return (-1);
		}
		if (found && parse_stats(value, path, addr) == -1) {
			return (-1);
		}
	}
	if ((env = getenv("EPSIP_STATS")) != NULL &&
	    parse_stats(env, "EPSIP_STATS", addr) == -1) {
		return (-1);
	}
	if (o->stats != NULL && parse_stats(o->stats, "--stats", addr) == -1) {
		return (-1);
	}
	return (0);
}

/* A JSON answer, or NULL (said on stderr). */
static json_t *
reply_json(const struct ctl_reply *r, const char *what)
{
	json_error_t jerr;
	json_t *doc;

	doc = json_loadb(r->body, r->len, 0, &jerr);
	if (doc == NULL) {
		fprintf(stderr, "epsipctl: %s: HTTP %d, not JSON: %s\n", what,
		    r->status, jerr.text);
	}
	return (doc);
}

/* GET `path`: 0 and *doc, or -1 (said on stderr). */
static int
get_json(const struct epsip_addr *addr, const struct ctl_options *o,
    const char *path, struct ctl_reply *r, json_t **doc)
{
	char err[512];

	if (ctl_http(addr, "GET", path, o->timeout_ms, r, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "epsipctl: %s\n", err);
		return (-1);
	}
	if ((*doc = reply_json(r, path)) == NULL) {
		ctl_reply_free(r);
		return (-1);
	}
	return (0);
}

static int
cmd_status(const struct epsip_addr *addr, const struct ctl_options *o)
{
	struct ctl_reply hr, sr;
	json_t *health, *stats;
	int rv;

	/* /health answers 503 while unhealthy: still a verdict. */
	if (get_json(addr, o, "/health", &hr, &health) == -1) {
		return (CTL_EXIT_UNREACHABLE);
	}
	if (get_json(addr, o, "/stats", &sr, &stats) == -1) {
		json_decref(health);
		ctl_reply_free(&hr);
		return (CTL_EXIT_UNREACHABLE);
	}
	rv = ctl_print_status(stdout, health, stats);
	json_decref(health);
	json_decref(stats);
	ctl_reply_free(&hr);
	ctl_reply_free(&sr);
	return (rv);
}

static int
cmd_stats(const struct epsip_addr *addr, const struct ctl_options *o)
{
	struct ctl_reply r;
	json_t *stats;
	char err[512];

	if (!o->flat) {
		if (ctl_http(addr, "GET", "/stats", o->timeout_ms, &r, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "epsipctl: %s\n", err);
			return (CTL_EXIT_UNREACHABLE);
		}
		if (r.status != 200) {
			fprintf(stderr, "epsipctl: /stats: HTTP %d\n",
			    r.status);
			ctl_reply_free(&r);
			return (CTL_EXIT_UNREACHABLE);
		}
		fwrite(r.body, 1, r.len, stdout);
		ctl_reply_free(&r);
		return (CTL_EXIT_OK);
	}
	if (get_json(addr, o, "/stats", &r, &stats) == -1) {
		return (CTL_EXIT_UNREACHABLE);
	}
	ctl_print_flat(stdout, "", stats);
	json_decref(stats);
	ctl_reply_free(&r);
	return (CTL_EXIT_OK);
}

/* POST `path` and print its JSON answer with `print`; the exit code. */
static int
post_and_print(const struct epsip_addr *addr, const struct ctl_options *o,
    const char *path, int (*print)(FILE *, FILE *, int, json_t *))
{
	struct ctl_reply r;
	json_t *answer;
	char err[512];
	int rv;

	if (ctl_http(addr, "POST", path, o->timeout_ms, &r, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "epsipctl: %s\n", err);
		return (CTL_EXIT_UNREACHABLE);
	}
	answer = json_loadb(r.body, r.len, 0, NULL);
	rv = print(stdout, stderr, r.status, answer);
	json_decref(answer);
	ctl_reply_free(&r);
	return (rv);
}

static int
cmd_reload(const struct epsip_addr *addr, const struct ctl_options *o)
{
	return (post_and_print(addr, o, "/reload", ctl_print_reload));
}

static int
cmd_drain(const struct epsip_addr *addr, const struct ctl_options *o)
{
	char path[64], *end;
	long n;

	n = strtol(o->arg, &end, 10);
	if (*o->arg == '\0' || *end != '\0' || n < 1 || n > 65535) {
		fprintf(stderr, "epsipctl: drain: \"%s\" is not an instance "
		    "number (1..65535, as /stats shows it)\n", o->arg);
		return (CTL_EXIT_USAGE);
	}
	snprintf(path, sizeof(path), "/drain?instance=%ld", n);
	return (post_and_print(addr, o, path, ctl_print_drain));
}

static int
cmd_flows(const struct epsip_addr *addr, const struct ctl_options *o)
{
	struct ctl_reply r;
	json_t *answer;
	char err[512], path[1024];
	int rv;

	if (ctl_flows_path(&o->flows, path, sizeof(path)) == -1) {
		fprintf(stderr, "epsipctl: flows: the filters are too long\n");
		return (CTL_EXIT_USAGE);
	}
	if (ctl_http(addr, "GET", path, o->timeout_ms, &r, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "epsipctl: %s\n", err);
		return (CTL_EXIT_UNREACHABLE);
	}
	if (o->json && r.status == 200) {
		fwrite(r.body, 1, r.len, stdout);
		ctl_reply_free(&r);
		return (CTL_EXIT_OK);
	}
	answer = json_loadb(r.body, r.len, 0, NULL);
	rv = ctl_print_flows(stdout, stderr, r.status, answer);
	json_decref(answer);
	ctl_reply_free(&r);
	return (rv);
}

int
main(int argc, char **argv)
{
	struct ctl_options o;
	struct epsip_addr addr;
	int rv;

	if (parse_options(argc, argv, &o) == -1) {
		return (CTL_EXIT_USAGE);
	}
	if (strcmp(o.command, "user") == 0) {
		struct ctl_user_args u = { o.arg, o.arg2, o.config,
		    o.registrar_db, o.state_dir };

		rv = ctl_user(&u, stdin, stdout, stderr);
		if (fflush(stdout) == EOF) {
			perror("epsipctl: stdout");
			return (CTL_EXIT_REFUSED);
		}
		return (rv);
	}
	if (stats_address(&o, &addr) == -1) {
		return (CTL_EXIT_USAGE);
	}
	if (strcmp(o.command, "status") == 0) {
		rv = cmd_status(&addr, &o);
	} else if (strcmp(o.command, "stats") == 0) {
		rv = cmd_stats(&addr, &o);
	} else if (strcmp(o.command, "reload") == 0) {
		rv = cmd_reload(&addr, &o);
	} else if (strcmp(o.command, "drain") == 0) {
		rv = cmd_drain(&addr, &o);
	} else if (strcmp(o.command, "flows") == 0) {
		rv = cmd_flows(&addr, &o);
	} else {
		fprintf(stderr, "epsipctl: %s: unknown command (status, "
		    "stats, reload, drain, flows, user)\n", o.command);
		return (CTL_EXIT_USAGE);
	}
	if (fflush(stdout) == EOF) {
		perror("epsipctl: stdout");
		return (CTL_EXIT_REFUSED);
	}
	return (rv);
}
