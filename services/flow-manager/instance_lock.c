/*
 * instance_lock.c -- which of the edge's flow-managers are running, from
 * lock files in the run directory.
 *
 * Each flow-manager parent holds an open-file-description lock on
 * <run_dir>/fm-K.lock for as long as it runs; the kernel drops it when
 * the process dies, however it dies, so a lock never outlives its owner
 * the way a pid file can.  The locks say two things no other part of
 * EPSIP knows:
 *
 *   - that flow-manager K is not running twice (a second one would bind
 *     the same ports through SO_REUSEPORT and hand out the same tokens);
 *   - whether a sibling has bound our listen ports: a second lock, on
 *     the file's second byte, taken once every listener is bound.  Only
 *     then may a port already bound by someone be shared; otherwise it
 *     belongs to another program (another edge started on the same port
 *     by mistake, say), and we refuse to start instead of silently
 *     splitting its phones with it (listen.c).
 *
 * OFD locks (F_OFD_SETLK), not flock(): F_OFD_GETLK tests a sibling's
 * lock without taking it, so a test never makes a starting sibling
 * believe it is already running.
 *
 * The file also keeps the last child number K gave (bytes 8-11, beside
 * the lock bytes), so that a K started after a crash of the last one
 * numbers its children after its predecessor's.  Those children outlive
 * their parent for a moment (they close their flows and tell the router
 * first), and a child's number is its IPC address: a new child with an
 * old one's number would get the router's messages on the old child's
 * link, and when the old child closed its socket nng would remove the
 * new child's socket file -- a child nobody could reach again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "epsip/config.h"

#include "parent.h"

static int
lock_path(const char *run_dir, unsigned k, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/fm-%u.lock", run_dir, k);

	return (n < 0 || (size_t)n >= cap ? -1 : 0);
}

/* Byte 0 of fm-K.lock: K runs.  Byte 1: K has bound the listeners. */
#define LOCK_RUNNING	0
#define LOCK_BOUND	1
/* Bytes 8-11: the last child number K gave, in the host's byte order. */
#define LAST_CHILD_AT	8

static void
byte_lock(struct flock *fl, short type, off_t which)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = which;
	fl->l_len = 1;
}

int
fm_instance_lock(const char *run_dir, unsigned k)
{
	struct flock fl;
	char path[CONFIG_PATH_MAX + 32];
	int fd;

	if (lock_path(run_dir, k, path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		return (-1);
	}
	byte_lock(&fl, F_WRLCK, LOCK_RUNNING);
	if (fcntl(fd, F_OFD_SETLK, &fl) == -1) {
		int saved = errno == EACCES ? EAGAIN : errno;

		(void)close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

int
fm_instance_mark_bound(int fd)
{
	struct flock fl;

	byte_lock(&fl, F_WRLCK, LOCK_BOUND);
	return (fcntl(fd, F_OFD_SETLK, &fl));
}

/* 1 when flow-manager k holds lock `which`, 0 when not (or no file). */
static int
is_locked(const char *run_dir, unsigned k, off_t which)
{
	struct flock fl;
	char path[CONFIG_PATH_MAX + 32];
	int fd, locked;

	if (lock_path(run_dir, k, path, sizeof(path)) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		return (0);
	}
	/* A read lock conflicts with the owner's write lock: a fair test. */
	byte_lock(&fl, F_RDLCK, which);
	locked = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	(void)close(fd);
	return (locked);
}

unsigned
fm_instance_siblings_bound(const char *run_dir, unsigned self)
{
	unsigned k, n = 0;

	for (k = 1; k <= CONFIG_MAX_FLOW_MANAGERS; k++) {
		if (k != self && is_locked(run_dir, k, LOCK_BOUND)) {
			n++;
		}
	}
	return (n);
}

int
fm_instance_claim(const char *run_dir, unsigned *k)
{
	unsigned n;
	int fd;

	for (n = 1; n <= CONFIG_MAX_FLOW_MANAGERS; n++) {
		if ((fd = fm_instance_lock(run_dir, n)) >= 0) {
			*k = n;
			return (fd);
		}
		if (errno != EAGAIN) {
			return (-1);
		}
	}
	errno = EAGAIN;
	return (-1);
}

uint32_t
fm_instance_last_child(int fd)
{
	uint32_t id;

	if (pread(fd, &id, sizeof(id), LAST_CHILD_AT) != (ssize_t)sizeof(id)) {
		return (0);		/* a new file: nobody numbered yet */
	}
	return (id);
}

int
fm_instance_save_child(int fd, uint32_t id)
{
	return (pwrite(fd, &id, sizeof(id), LAST_CHILD_AT) ==
	    (ssize_t)sizeof(id) ? 0 : -1);
}
