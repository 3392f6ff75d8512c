/*
 * user.c -- `epsipctl user add|del|list`: the embedded registrar's
 * digest users (users.h), written straight into its database.
 *
 * The database is found the way epsipd finds it: the defaults, the
 * configuration file (--config, else $EPSIP_CONFIG, else
 * /etc/epsip/epsip.conf when it can be read), EPSIP_<KEY> variables,
 * then --state-dir and --registrar-db.  A running registrar-bridge
 * reads the users table on every request, so a change counts from its
 * next request on.  Run as root on a database someone else owns (the
 * epsip user of the systemd unit), epsipctl becomes that owner first:
 * files SQLite creates beside it (the WAL) must stay the bridge's.
 * DIAGNOSTICS: one line on stderr; exit codes in ctl.h.
 */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sqlite3.h>

#include "epsip/config.h"
#include "epsip/users.h"

#include "ctl.h"

int
ctl_read_password(FILE *in, int tty, FILE *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	size_t n;
	int echo_off = 0;

	if (tty && prompt != NULL) {
		fputs("Password: ", prompt);
		fflush(prompt);
	}
	if (tty && tcgetattr(fileno(in), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(fileno(in), TCSAFLUSH, &quiet) == 0;
	}
	if (fgets(buf, (int)cap, in) == NULL) {
		buf[0] = '\0';
	}
	if (echo_off) {
		(void)tcsetattr(fileno(in), TCSAFLUSH, &old);
		if (prompt != NULL) {
			fputc('\n', prompt);
		}
	}
	n = strlen(buf);
	if (n > 0 && buf[n - 1] != '\n' && !feof(in)) {
		return (-1);		/* longer than cap: not cut silently */
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
		buf[--n] = '\0';
	}
	return (n > 0 ? 0 : -1);
}

int
ctl_registrar_config(const char *config, const char *registrar_db,
    const char *state_dir, struct epsip_config *cfg, char *err,
    size_t errcap)
{
	char *argv[8];
	int argc = 0, help, check;

	argv[argc++] = (char *)(uintptr_t)"epsipctl";
	if (config == NULL && getenv("EPSIP_CONFIG") == NULL &&
	    access(CTL_DEFAULT_CONFIG, R_OK) == 0) {
		config = CTL_DEFAULT_CONFIG;
	}
	if (config != NULL) {
		argv[argc++] = (char *)(uintptr_t)"--config";
		argv[argc++] = (char *)(uintptr_t)config;
	}
	if (state_dir != NULL) {
		argv[argc++] = (char *)(uintptr_t)"--state-dir";
		argv[argc++] = (char *)(uintptr_t)state_dir;
	}
	if (registrar_db != NULL) {
		argv[argc++] = (char *)(uintptr_t)"--registrar-db";
		argv[argc++] = (char *)(uintptr_t)registrar_db;
	}
	argv[argc] = NULL;
	config_defaults(cfg);
	if (config_parse_args(cfg, argc, argv, NULL, NULL, &help, &check,
	    err, errcap) == -1) {
		return (-1);
	}
	return (config_finish(cfg, err, errcap));
}

/* mkdir -p for the database's directory, each new level 0700. */
static int
make_dirs(const char *path)
{
	char buf[CONFIG_PATH_MAX];
	struct stat st;

	if (stat(path, &st) == 0 || path[0] == '\0') {
		return (0);
	}
	snprintf(buf, sizeof(buf), "%s", path);
	if (make_dirs(dirname(buf)) == -1) {
		return (-1);
	}
	return (mkdir(path, 0700) == -1 && errno != EEXIST ? -1 : 0);
}

/*
 * Root acting on a database another user owns (or will own: the
 * directory's owner) becomes that user, so the files SQLite adds stay
 * readable by the bridge.
 */
static int
become_owner(const char *db, char *err, size_t errcap)
{
	char dir[CONFIG_PATH_MAX];
	struct stat st;

	if (geteuid() != 0) {
		return (0);
	}
	snprintf(dir, sizeof(dir), "%s", db);
	if (stat(db, &st) == -1 && stat(dirname(dir), &st) == -1) {
		return (0);
	}
	if (st.st_uid == 0) {
		return (0);
	}
	if (setgroups(0, NULL) == -1 || setgid(st.st_gid) == -1 ||
	    setuid(st.st_uid) == -1) {
		snprintf(err, errcap, "cannot become uid %u, the owner of %s: "
		    "%s", (unsigned)st.st_uid, db, strerror(errno));
		return (-1);
	}
	return (0);
}

/* USER@DOMAIN, in a domain this registrar serves. */
static int
user_name(const struct epsip_config *cfg, const char *text, char *user,
    char *domain, FILE *err)
{
	char why[256];

	if (users_split(text, user, USERS_USER_MAX, domain, USERS_DOMAIN_MAX,
	    why, sizeof(why)) == -1) {
		fprintf(err, "epsipctl: user: %s\n", why);
		return (-1);
	}
	if (!config_serves_domain(cfg, domain)) {
		fprintf(err, "epsipctl: user: %s is not a domain the registrar "
		    "serves (its `domain` keys)\n", domain);
		return (-1);
	}
	return (0);
}

static void
print_user(void *arg, const char *user, const char *domain)
{
	fprintf(arg, "%s@%s\n", user, domain);
}

static int
user_add(sqlite3 *db, const char *user, const char *domain, FILE *in,
    FILE *out, FILE *err)
{
	char pw[USERS_PASSWORD_MAX + 1], again[USERS_PASSWORD_MAX + 1];
	char why[256];
	int tty = isatty(fileno(in)), replaced, rv;

	if (ctl_read_password(in, tty, err, pw, sizeof(pw)) == -1) {
		fprintf(err, "epsipctl: user add: no password on standard "
		    "input (one line, 1 to %d bytes)\n", USERS_PASSWORD_MAX - 1);
		return (CTL_EXIT_USAGE);
	}
	if (tty && (ctl_read_password(in, tty, err, again,
	    sizeof(again)) == -1 || strcmp(pw, again) != 0)) {
		fprintf(err, "epsipctl: user add: the passwords differ\n");
		explicit_bzero(pw, sizeof(pw));
		explicit_bzero(again, sizeof(again));
		return (CTL_EXIT_USAGE);
	}
	rv = users_set(db, user, domain, pw, &replaced, why, sizeof(why));
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
	if (rv == -1) {
		fprintf(err, "epsipctl: user add: %s\n", why);
		return (CTL_EXIT_REFUSED);
	}
	fprintf(out, replaced ? "changed the password of %s@%s\n" :
	    "added %s@%s\n", user, domain);
	return (CTL_EXIT_OK);
}

static int
user_del(sqlite3 *db, const char *user, const char *domain, FILE *out,
    FILE *err)
{
	char why[256];
	int rv = users_del(db, user, domain, why, sizeof(why));

	if (rv == -1) {
		fprintf(err, "epsipctl: user del: %s\n", why);
		return (CTL_EXIT_REFUSED);
	}
	if (rv == 0) {
		fprintf(err, "epsipctl: user del: %s@%s: no such user\n", user,
		    domain);
		return (CTL_EXIT_REFUSED);
	}
	fprintf(out, "removed %s@%s\n", user, domain);
	return (CTL_EXIT_OK);
}

int
ctl_user(const struct ctl_user_args *a, FILE *in, FILE *out, FILE *err)
{
	char user[USERS_USER_MAX], domain[USERS_DOMAIN_MAX], why[512];
	char dir[CONFIG_PATH_MAX];
	struct epsip_config cfg;
	sqlite3 *db;
	int rv;

	if (ctl_registrar_config(a->config, a->registrar_db, a->state_dir,
	    &cfg, why, sizeof(why)) == -1) {
		fprintf(err, "epsipctl: %s\n", why);
		return (CTL_EXIT_USAGE);
	}
	if (strcmp(a->sub, "list") != 0 &&
	    user_name(&cfg, a->name, user, domain, err) == -1) {
		return (CTL_EXIT_USAGE);
	}
	if (config_has_upstream(&cfg)) {
		fprintf(err, "epsipctl: note: `upstream` is set, so the "
		    "upstream authenticates and these users are not used\n");
	}
	/* The database holds HA1s: nobody else reads it (the unit's UMask). */
	umask(0077);
	snprintf(dir, sizeof(dir), "%s", cfg.registrar_db);
	why[0] = '\0';
	if (become_owner(cfg.registrar_db, why, sizeof(why)) == -1 ||
	    make_dirs(dirname(dir)) == -1) {
		fprintf(err, "epsipctl: %s\n", why[0] != '\0' ? why :
		    strerror(errno));
		return (CTL_EXIT_REFUSED);
	}
	if (users_open(cfg.registrar_db, &db, why, sizeof(why)) == -1) {
		fprintf(err, "epsipctl: %s\n", why);
		return (CTL_EXIT_REFUSED);
	}
	if (strcmp(a->sub, "add") == 0) {
		rv = user_add(db, user, domain, in, out, err);
	} else if (strcmp(a->sub, "del") == 0) {
		rv = user_del(db, user, domain, out, err);
	} else if (users_list(db, print_user, out, why, sizeof(why)) == -1) {
		fprintf(err, "epsipctl: user list: %s\n", why);
		rv = CTL_EXIT_REFUSED;
	} else {
		rv = CTL_EXIT_OK;
	}
	sqlite3_close(db);
	return (rv);
}
