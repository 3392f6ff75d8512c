/*
 * rundir.h -- the private run directory and the files epsipd keeps there.
 */
#ifndef SUP_RUNDIR_H
#define SUP_RUNDIR_H

#include <stddef.h>
#include <sys/types.h>

#include "epsip/config.h"

#define SUP_CONFIG_NAME		"epsip.conf"
#define SUP_LOCK_NAME		"epsipd.pid"

/*
 * Create `path` (parents 0755, the directory itself 0700) or, if it
 * exists, insist that it is a real directory owned by us and chmod it
 * 0700.  0, or -1 with a reason in err.
 */
int sup_rundir_prepare(const char *path, char *err, size_t errcap);

/* mkdir -p with `mode` for the last component, when missing. */
int sup_dir_ensure(const char *path, mode_t mode, char *err, size_t errcap);

/*
 * Lock <path>/epsipd.pid so a second epsipd on the same run directory
 * refuses to start instead of deleting the first one's sockets.  Returns
 * the lock descriptor (close-on-exec), or -1 with a reason in err.
 */
int sup_rundir_lock(const char *path, char *err, size_t errcap);

/* Remove <path>/ *.ipc; returns how many were removed. */
size_t sup_rundir_remove_ipc(const char *path);

/*
 * Write the effective configuration to <path>/epsip.conf (0600), aside
 * and renamed: at start, and again on each reload.
 */
int sup_rundir_write_config(const char *path,
    const struct epsip_config *cfg, char *out_path, size_t out_cap,
    char *err, size_t errcap);

#endif /* SUP_RUNDIR_H */
