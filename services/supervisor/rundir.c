/*
 * rundir.c -- the run directory: created 0700, owned by us, swept clean.
 *
 * Every IPC socket of the set lives in the run directory, and nng's
 * socket files carry no authentication of their own: whoever can connect
 * can inject SIP into any flow.  So the directory is the security
 * boundary, and epsipd refuses to run in one that is not a real directory
 * it owns (a symlink or someone else's directory could be swapped under
 * us).  Stale *.ipc files from a crashed run are removed at start; nng
 * would otherwise refuse to listen, or worse, a dead file would shadow a
 * live name.
 *
 * DIAGNOSTICS: every failure here is fatal to epsipd (exit 1) and is
 * returned as one line naming the path.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rundir.h"

/* mkdir -p of every component of path before the last one. */
static int
mkdir_parents(const char *path, char *err, size_t errcap)
{
	char buf[CONFIG_PATH_MAX];
	char *p;

	if (strlen(path) >= sizeof(buf)) {
		snprintf(err, errcap, "%s: path too long", path);
		return (-1);
	}
	strcpy(buf, path);
	for (p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST) {
			snprintf(err, errcap, "mkdir %s: %s", buf,
			    strerror(errno));
			return (-1);
		}
		*p = '/';
	}
	return (0);
}

int
sup_rundir_prepare(const char *path, char *err, size_t errcap)
{
	struct stat st;

	if (mkdir_parents(path, err, errcap) == -1) {
		return (-1);
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errcap, "run directory %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (lstat(path, &st) == -1) {
		snprintf(err, errcap, "run directory %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errcap, "run directory %s is not a directory "
		    "(a symlink is refused too)", path);
		return (-1);
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errcap, "run directory %s is owned by uid %u, "
		    "not by us (uid %u)", path, (unsigned)st.st_uid,
		    (unsigned)geteuid());
		return (-1);
	}
	if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) == -1) {
		snprintf(err, errcap, "chmod 0700 %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

int
sup_dir_ensure(const char *path, mode_t mode, char *err, size_t errcap)
{
	struct stat st;

	if (mkdir_parents(path, err, errcap) == -1) {
		return (-1);
	}
	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		snprintf(err, errcap, "mkdir %s: %s", path, strerror(errno));
		return (-1);
	}
	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errcap, "%s is not a directory", path);
		return (-1);
	}
	return (0);
}

int
sup_rundir_lock(const char *path, char *err, size_t errcap)
{
	char file[CONFIG_PATH_MAX + 16], pid[32];
	int fd, n;

	snprintf(file, sizeof(file), "%s/%s", path, SUP_LOCK_NAME);
	fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		snprintf(err, errcap, "%s: %s", file, strerror(errno));
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = (int)read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errcap, "another epsipd (pid %s) is using run "
		    "directory %s", n > 0 ? pid : "?", path);
		close(fd);
		return (-1);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || write(fd, pid, (size_t)n) != n) {
		snprintf(err, errcap, "%s: %s", file, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

size_t
sup_rundir_remove_ipc(const char *path)
{
	struct dirent *de;
	size_t len, n = 0;
	DIR *dir;

	if ((dir = opendir(path)) == NULL) {
		return (0);
	}
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 4 || strcmp(de->d_name + len - 4, ".ipc") != 0) {
			continue;
		}
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0) {
			n++;
		}
	}
	closedir(dir);
	return (n);
}

int
sup_rundir_write_config(const char *path, const struct epsip_config *cfg,
    char *out_path, size_t out_cap, char *err, size_t errcap)
{
	char tmp[CONFIG_PATH_MAX + 32];
	FILE *f;
	int fd;

	snprintf(out_path, out_cap, "%s/%s", path, SUP_CONFIG_NAME);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", path, SUP_CONFIG_NAME);
	/*
	 * Written aside and renamed, so a service restarted at any moment
	 * reads a whole file.  0600: it names the key file and the database.
	 */
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
		if (fd != -1) {
			close(fd);
		}
		return (-1);
	}
	fprintf(f, "# Written by epsipd at start and on each reload: the "
	    "effective\n# configuration every service reads.  Edit the "
	    "source file instead.\n");
	if (config_write(cfg, f) == -1 || fflush(f) == EOF ||
	    fsync(fd) == -1) {
		snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
		fclose(f);
		(void)unlink(tmp);
		return (-1);
	}
	if (fclose(f) == EOF || rename(tmp, out_path) == -1) {
		snprintf(err, errcap, "%s: %s", out_path, strerror(errno));
		(void)unlink(tmp);
		return (-1);
	}
	return (0);
}
