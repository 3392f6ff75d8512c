/*
 * supervisor_spawn_test.c -- what a service inherits from epsipd
 * (services/supervisor/spawn.c).
 *
 * The parent blocks SIGTERM (as the event loop does for signalfd),
 * ignores SIGPIPE and holds a descriptor without close-on-exec; small
 * programs report what the child sees.  A child that inherited the
 * blocked mask could never be stopped by epsipd.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../services/supervisor/spawn.h"

#define LEAK_FD	37

/*
 * Run argv through sup_spawn() with stdout captured, in a parent that
 * looks like epsipd: SIGTERM and SIGCHLD blocked, SIGPIPE ignored, an
 * inheritable descriptor at LEAK_FD.  The probes are exec'd directly:
 * a shell would clear its signal mask itself and hide the bug.
 */
static char *
run_child(char *const argv[])
{
	char out[] = "/tmp/supervisor_spawn_test.XXXXXX";
	static char buf[4096];
	struct sigaction ign, oldpipe;
	sigset_t block, old;
	int fd, saved, status;
	ssize_t n;
	pid_t pid;

	fd = mkstemp(out);
	assert_true(fd >= 0);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
	assert_int_equal(dup2(STDERR_FILENO, LEAK_FD), LEAK_FD);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old), 0);
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGPIPE, &ign, &oldpipe), 0);

	pid = sup_spawn(argv[0], argv, -1);

	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGPIPE, &oldpipe, NULL);
	close(LEAK_FD);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail_msg("%s: wait status 0x%x", argv[0], status);
	}
	fd = open(out, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(out);
	buf[n > 0 ? n : 0] = '\0';
	return (buf);
}

/* The hex mask of a "SigXxx:" line of /proc/<pid>/status, or ~0 if absent. */
static unsigned long long
status_mask(const char *status, const char *name)
{
	const char *p = strstr(status, name);

	return (p != NULL ? strtoull(p + strlen(name), NULL, 16) : ~0ULL);
}

/*
 * Nothing blocked but SIGHUP, which a service takes in its loop (a reload
 * sent while it starts must wait for it, not kill it); nothing ignored.
 */
static void
test_spawn_child_blocks_only_sighup_and_sigusr1_and_has_default_signals(
    void **state)
{
	char *argv[] = { (char *)"/bin/grep", (char *)"-E",
	    (char *)"^Sig(Blk|Ign):", (char *)"/proc/self/status", NULL };
	/*
	 * Signals 32 and 33 are glibc's own (thread cancel, setxid):
	 * sigaction() refuses them, so whatever disposition our own parent
	 * gave them cannot be reset by anyone and is not our leak.
	 */
	const unsigned long long glibc_reserved = 3ULL << 31;
	const char *got;

	(void)state;
	got = run_child(argv);
	if (status_mask(got, "SigBlk:") != (1ULL << (SIGHUP - 1) |
	    1ULL << (SIGUSR1 - 1)) ||
	    (status_mask(got, "SigIgn:") & ~glibc_reserved) != 0) {
		fail_msg("got:\n%swant SigBlk SIGHUP and SIGUSR1 only, SigIgn "
		    "zero", got);
	}
}

static void
test_spawn_child_inherits_no_descriptor_above_stderr(void **state)
{
	char *argv[] = { (char *)"/bin/ls", (char *)"-1",
	    (char *)"/proc/self/fd", NULL };
	const char *got;

	(void)state;
	got = run_child(argv);
	/* ls itself holds fd 3 open on the directory it lists. */
	if (strcmp(got, "0\n1\n2\n3\n") != 0) {
		fail_msg("got descriptors:\n%swant 0 1 2 (3: ls's own)", got);
	}
}

static void
test_spawn_child_reads_stdin_from_dev_null(void **state)
{
	char *argv[] = { (char *)"/bin/readlink", (char *)"/proc/self/fd/0",
	    NULL };
	const char *got;

	(void)state;
	got = run_child(argv);
	assert_string_equal(got, "/dev/null\n");
}

static void
test_spawn_exec_failure_exits_127(void **state)
{
	char *argv[] = { (char *)"/nonexistent/epsip", NULL };
	int status;
	pid_t pid;

	(void)state;
	pid = sup_spawn(argv[0], argv, -1);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 127);
}

/* What a child started with stderr on a pipe wrote there. */
static const char *
child_stderr(char *const argv[])
{
	static char buf[1024];
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = sup_spawn(argv[0], argv, fds[1]);
	assert_true(pid > 0);
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	buf[n > 0 ? n : 0] = '\0';
	return (buf);
}

static void
test_spawn_stderr_goes_to_errfd(void **state)
{
	char *list[] = { (char *)"/bin/ls", (char *)"/nonexistent-epsip",
	    NULL };
	char *exec[] = { (char *)"/nonexistent/epsip", NULL };

	(void)state;
	/* What the service writes, and what the child writes when exec
	 * fails: epsipd reads both from the pipe (relay.c). */
	assert_non_null(strstr(child_stderr(list), "/nonexistent-epsip"));
	assert_string_equal(child_stderr(exec),
	    "epsipd: cannot exec /nonexistent/epsip: errno 2\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_spawn_child_blocks_only_sighup_and_sigusr1_and_has_default_signals),
		cmocka_unit_test(
		    test_spawn_child_inherits_no_descriptor_above_stderr),
		cmocka_unit_test(test_spawn_child_reads_stdin_from_dev_null),
		cmocka_unit_test(test_spawn_exec_failure_exits_127),
		cmocka_unit_test(test_spawn_stderr_goes_to_errfd),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
