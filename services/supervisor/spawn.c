/*
 * spawn.c -- start a service the way OpenSMTPD's start_child() does.
 *
 * nng is not fork-safe: its atfork handler makes any nng call in a forked
 * child abort, and epsipd has nng threads running by the time it starts
 * services.  So the child does nothing but async-signal-safe system calls
 * between fork() and execv(): everything it needs (argv, the signal
 * mask, the /dev/null descriptor, an error message) is prepared before
 * the fork.  The signal mask must be emptied because the event loop
 * blocks the signals it reads through signalfd, and a blocked mask
 * survives exec: a service started with SIGTERM blocked could never be
 * stopped.  All but SIGHUP and SIGUSR1: epsipd sends them on a reload
 * and a drain, and a service still starting would die of their default
 * action; blocked, they wait for the service's loop (daemon.c).  Dispositions set to SIG_IGN survive
 * exec too (SIGPIPE here).
 *
 * DIAGNOSTICS: a failed fork is returned to the caller, which retries
 * with back-off.  A failed exec is written to stderr by the child, which
 * exits 127; the supervisor sees an ordinary early exit.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spawn.h"

void
sup_stdio_sanitize(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2) {
		continue;
	}
	if (fd > 2) {
		close(fd);
	}
}

int
sup_libexec_dir(const struct epsip_config *cfg, char *dir, size_t cap,
    char *err, size_t errcap)
{
	ssize_t n;
	char *slash;

	if (cfg->libexec_dir[0] != '\0') {
		if (strlen(cfg->libexec_dir) >= cap) {
			snprintf(err, errcap, "libexec-dir too long");
			return (-1);
		}
		strcpy(dir, cfg->libexec_dir);
		return (0);
	}
	if ((n = readlink("/proc/self/exe", dir, cap - 1)) == -1 ||
	    (size_t)n >= cap - 1) {
		snprintf(err, errcap, "/proc/self/exe: %s (set libexec-dir)",
		    n == -1 ? strerror(errno) : "path too long");
		return (-1);
	}
	dir[n] = '\0';
	if ((slash = strrchr(dir, '/')) == NULL) {
		snprintf(err, errcap, "/proc/self/exe: %s: no directory",
		    dir);
		return (-1);
	}
	*(slash == dir ? slash + 1 : slash) = '\0';
	return (0);
}

/* Decimal digits of v into buf, for the child's exec error message. */
static size_t
fmt_uint(char *buf, unsigned v)
{
	char tmp[12];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++) {
		buf[i] = tmp[n - 1 - i];
	}
	return (n);
}

/* In the child: only async-signal-safe calls, then exec or _exit. */
static void __attribute__((noreturn))
spawn_child(const char *path, char *const argv[], int devnull, int errfd,
    pid_t parent, const sigset_t *mask, const char *msg, size_t msglen,
    unsigned maxfd)
{
	struct sigaction dfl;
	char buf[16];
	unsigned fd;
	size_t n;
	ssize_t w;
	int sig, e;

	/* Die with epsipd; the check closes the race with its exit. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent) {
		_exit(127);
	}
	memset(&dfl, 0, sizeof(dfl));	/* memset is async-signal-safe */
	dfl.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++) {
		(void)sigaction(sig, &dfl, NULL);	/* KILL/STOP fail */
	}
	if (sigprocmask(SIG_SETMASK, mask, NULL) == -1 ||
	    dup2(devnull, STDIN_FILENO) == -1 ||
	    (errfd >= 0 && dup2(errfd, STDERR_FILENO) == -1)) {
		_exit(127);
	}
	if (close_range(3, ~0U, 0) == -1) {
		/* Kernels before 5.9. */
		for (fd = 3; fd < maxfd; fd++) {
			(void)close((int)fd);
		}
	}
	execv(path, argv);
	e = errno;
	buf[0] = ' ';
	n = fmt_uint(buf + 1, (unsigned)e) + 1;
	buf[n++] = '\n';
	/* Nothing left to do if stderr fails too. */
	w = write(STDERR_FILENO, msg, msglen);
	w = write(STDERR_FILENO, buf, n);
	(void)w;
	_exit(127);
}

pid_t
sup_spawn(const char *path, char *const argv[], int errfd)
{
	char msg[CONFIG_PATH_MAX + 64];
	struct rlimit rl;
	sigset_t mask;
	unsigned maxfd;
	pid_t parent, pid;
	int devnull, n, saved;

	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		return (-1);
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	parent = getpid();
	maxfd = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576) {
		maxfd = (unsigned)rl.rlim_cur;
	}
	n = snprintf(msg, sizeof(msg), "epsipd: cannot exec %s: errno",
	    path);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		n = (int)strlen(msg);
	}
	pid = fork();
	if (pid == 0) {
		spawn_child(path, argv, devnull, errfd, parent, &mask, msg,
		    (size_t)n, maxfd);
		/* NOTREACHED */
	}
	saved = errno;
	close(devnull);
	errno = saved;
	return (pid);
}

void
sup_exit_cause(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status)) {
		snprintf(buf, cap, "exited %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(buf, cap, "killed by signal %d%s", WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	} else {
		snprintf(buf, cap, "wait status 0x%x", (unsigned)status);
	}
}

/* ppid and state of /proc/<pid>/stat, or -1. */
static int
proc_stat(const char *pid, pid_t *ppid, char *state)
{
	char path[64], buf[512], *p;
	ssize_t n;
	long pp;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		return (-1);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return (-1);
	}
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %ld", state, &pp) != 2) {
		return (-1);
	}
	*ppid = (pid_t)pp;
	return (0);
}

size_t
sup_signal_orphans(const pid_t *known, size_t nknown, int signo)
{
	struct dirent *de;
	pid_t me, pid, ppid;
	size_t i, n = 0;
	char state;
	DIR *dir;

	if ((dir = opendir("/proc")) == NULL) {
		return (0);
	}
	me = getpid();
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    proc_stat(de->d_name, &ppid, &state) == -1 ||
		    ppid != me || state == 'Z') {
			continue;
		}
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		for (i = 0; i < nknown && known[i] != pid; i++) {
			continue;
		}
		if (i < nknown) {
			continue;
		}
		if (signo == 0 || kill(pid, signo) == 0) {
			n++;
		}
	}
	closedir(dir);
	return (n);
}
