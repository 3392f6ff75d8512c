/*
 * spawn.h -- fork+exec of service binaries, and what became of them.
 */
#ifndef SUP_SPAWN_H
#define SUP_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "epsip/config.h"

/* Make sure descriptors 0, 1 and 2 are open (to /dev/null if not). */
void sup_stdio_sanitize(void);

/*
 * Where the service binaries are: cfg->libexec_dir if set, else the
 * directory of /proc/self/exe.  0, or -1 with a reason in err.
 */
int sup_libexec_dir(const struct epsip_config *cfg, char *dir, size_t cap,
    char *err, size_t errcap);

/*
 * Start `path` with `argv` in a fresh image: stdin from /dev/null,
 * stdout inherited, stderr on `errfd` (-1: inherited), no other
 * descriptor, only SIGHUP blocked, default dispositions, SIGTERM when
 * epsipd dies.  Returns the pid, or -1 (errno set) when fork failed.  An
 * exec failure is written to that stderr and shows up as exit 127.
 */
pid_t sup_spawn(const char *path, char *const argv[], int errfd);

/* "exited 1", "killed by signal 9 (core dumped)" for a wait status. */
void sup_exit_cause(int status, char *buf, size_t cap);

/*
 * Send `signo` (0: just count) to every child of ours that is not in
 * known[0..nknown) and not already a zombie.  With PR_SET_CHILD_SUBREAPER
 * these are grandchildren orphaned by a service that died.
 */
size_t sup_signal_orphans(const pid_t *known, size_t nknown, int signo);

#endif /* SUP_SPAWN_H */
