/*
 * spawn.c -- start one flow-manager child: fork, arrange descriptors, exec.
 *
 * nng is not fork-safe (design-sketch.md), so a child never runs on after
 * fork: between fork and exec it makes only async-signal-safe calls, and
 * everything it needs (argv, descriptor numbers) is prepared beforehand.
 * The child gets its control socket on fd 3 and the UDP listeners on
 * fd 4, 5, ... in cfg.listen order; every other descriptor above 2 is
 * closed.  It dies with SIGTERM when the parent does (PR_SET_PDEATHSIG).
 *
 * Nothing here is fatal: a failed spawn refuses one flow, not the edge.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flow_manager.h"
#include "parent.h"

/* Enough for a 64 KiB datagram and a burst behind it (see fm_ctl_send). */
#define CONTROL_SNDBUF	(2 * 1024 * 1024)
#define MAX_CHILD_FDS	(1 + CONFIG_MAX_LISTEN)

int
fm_spawn_socketpair(int *parent_end, int *child_end)
{
	int sv[2], size, flags;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		return (-1);
	}
	/*
	 * Connected AF_UNIX datagrams are bounded only by the sender's
	 * SO_SNDBUF (not net.unix.max_dgram_qlen), so that is what decides
	 * how many datagrams can wait for a busy child.  The kernel caps
	 * it at wmem_max; best effort.
	 */
	size = CONTROL_SNDBUF;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if ((flags = fcntl(sv[0], F_GETFL)) == -1 ||
	    fcntl(sv[0], F_SETFL, flags | O_NONBLOCK) == -1) {
		(void)close(sv[0]);
		(void)close(sv[1]);
		return (-1);
	}
	*parent_end = sv[0];
	*child_end = sv[1];
	return (0);
}

/* In the child after fork: async-signal-safe calls only, never returns. */
static void __attribute__((noreturn))
exec_child(char *const argv[], const int *src, size_t n, pid_t parent_pid,
    int max_fd)
{
	sigset_t mask;
	int tmp[MAX_CHILD_FDS];
	size_t i;

	/*
	 * Move every source above the target range first, so that dup2()
	 * onto 3, 4, ... can never clobber a source not yet moved.
	 */
	for (i = 0; i < n; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD, (int)(FM_CONTROL_FD + n));
		if (tmp[i] == -1) {
			_exit(127);
		}
	}
	for (i = 0; i < n; i++) {
		/* dup2 clears FD_CLOEXEC on the target. */
		if (dup2(tmp[i], (int)(FM_CONTROL_FD + i)) == -1) {
			_exit(127);
		}
	}
	if (close_range((unsigned)(FM_CONTROL_FD + n), ~0U, 0) == -1) {
		/* Kernel before 5.9: the slow way. */
		for (i = FM_CONTROL_FD + n; i < (size_t)max_fd; i++) {
			(void)close((int)i);
		}
	}
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1) {
		_exit(127);
	}
	/* The parent may have died before prctl took effect. */
	if (getppid() != parent_pid) {
		_exit(0);
	}
	/*
	 * The parent blocks signals for its signalfd; start clean, but for
	 * SIGHUP: its default would kill a child the parent tells to reload
	 * before the child's loop takes it (daemon.c).
	 */
	(void)sigemptyset(&mask);
	(void)sigaddset(&mask, SIGHUP);
	(void)sigprocmask(SIG_SETMASK, &mask, NULL);
	execv("/proc/self/exe", argv);
	_exit(127);
}

pid_t
fm_spawn_exec(char *const argv[], int ctl_fd, const int *udp_fds,
    size_t nudp, pid_t parent_pid)
{
	int src[MAX_CHILD_FDS];
	struct rlimit rl;
	size_t i, n;
	pid_t pid;
	int max_fd;

	if (nudp > CONFIG_MAX_LISTEN) {
		errno = EINVAL;
		return (-1);
	}
	/* getrlimit is not async-signal-safe: ask before fork. */
	max_fd = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536) {
		max_fd = (int)rl.rlim_cur;
	}
	n = 0;
	src[n++] = ctl_fd;
	for (i = 0; i < nudp; i++) {
		src[n++] = udp_fds[i];
	}
	pid = fork();
	if (pid == 0) {
		exec_child(argv, src, n, parent_pid, max_fd);
	}
	return (pid);
}
