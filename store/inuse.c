/*
 * inuse.c - the mount lock of a store (see inuse.h): one daemon per store.
 *
 * An flock() on STORE/daemon.lock, not the pid in daemon.pid, says whether
 * a daemon serves the store: a pid file outlives a killed daemon and can
 * name another process, and two daemons racing both write theirs.  The
 * lock file is written only by its holder, after it holds the lock; a
 * reader that finds the lock held but the file still empty is told the
 * holder is starting.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "store/inuse.h"
#include "store/store.h"

#define MOUNT_LOCK_FILE "daemon.lock"
#define MOUNT_LOCK_MAX 8192	/* bytes of the lock file read */
#define MOUNT_LOCK_TRIES 25	/* x 20 ms while the holder is unnamed */

struct store_mount_lock {
	int fd;
};

static int lock_path(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* parse_holder - read pid and mount point from the lock file at FD. */
static void parse_holder(int fd, pid_t *pid, char *mnt, size_t len)
{
	char text[MOUNT_LOCK_MAX + 1];
	ssize_t n = pread(fd, text, MOUNT_LOCK_MAX, 0);

	*pid = 0;
	if (len)
		mnt[0] = '\0';
	if (n <= 0)
		return;
	text[n] = '\0';
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "pid ", 4))
			*pid = (pid_t)strtol(line + 4, NULL, 10);
		else if (!strncmp(line, "mountpoint ", 11) && len)
			snprintf(mnt, len, "%s", line + 11);
	}
}

static void write_pid_file(const char *dir)
{
	char path[PATH_MAX];
	FILE *f;

	if (lock_path(path, sizeof(path), dir, "daemon.pid"))
		return;
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
}

int store_mount_lock_take(struct store_mount_lock **out, const char *store_dir,
			  const char *mountpoint)
{
	struct store_mount_lock *l;
	char path[PATH_MAX], text[PATH_MAX + 64];
	int fd, n;

	*out = NULL;
	if (lock_path(path, sizeof(path), store_dir, MOUNT_LOCK_FILE))
		return store_error(-ENAMETOOLONG, "store path '%s' is too long", store_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return store_error(-errno, "cannot open '%s': %s", path, strerror(errno));
	for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; tries++) {
		int err = errno;
		char mnt[PATH_MAX];
		pid_t pid;

		if (err != EWOULDBLOCK) {
			close(fd);
			return store_error(-err, "cannot lock '%s': %s", path, strerror(err));
		}
		parse_holder(fd, &pid, mnt, sizeof(mnt));
		if (!mnt[0] && tries < MOUNT_LOCK_TRIES) {
			/* a reader's brief shared lock, or a daemon starting */
			usleep(20 * 1000);
			continue;
		}
		close(fd);
		if (!mnt[0])
			return store_error(-EBUSY,
					   "store '%s' is already being mounted by another daemon",
					   store_dir);
		return store_error(-EBUSY,
				   "store '%s' is already mounted at '%s' (daemon pid %ld); "
				   "unmount it first with: govc umount %s",
				   store_dir, mnt, (long)pid, mnt);
	}
	n = snprintf(text, sizeof(text), "pid %ld\nmountpoint %s\n", (long)getpid(),
		     mountpoint);
	if (n < 0 || (size_t)n >= sizeof(text) || ftruncate(fd, 0) < 0 ||
	    pwrite(fd, text, (size_t)n, 0) != n) {
		int err = n >= 0 && (size_t)n >= sizeof(text) ? ENAMETOOLONG : errno;
		close(fd);
		return store_error(-err, "cannot write '%s': %s", path, strerror(err));
	}
	l = malloc(sizeof(*l));
	if (!l) {
		close(fd);
		return store_error(-ENOMEM, "out of memory");
	}
	l->fd = fd;
	write_pid_file(store_dir);
	*out = l;
	return 0;
}

void store_mount_lock_free(struct store_mount_lock *l)
{
	if (!l)
		return;
	/* empty it first: a reader never sees our stale name once we are gone */
	if (ftruncate(l->fd, 0) < 0) {
		/* the lock goes with the descriptor anyway */
	}
	close(l->fd);
	free(l);
}

int store_mount_holder(const char *store_dir, pid_t *pid, char *mnt, size_t len)
{
	char path[PATH_MAX];
	int fd, held;

	*pid = 0;
	if (len)
		mnt[0] = '\0';
	if (lock_path(path, sizeof(path), store_dir, MOUNT_LOCK_FILE))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		held = 0;	/* nobody holds it; ours goes with the descriptor */
	} else if (errno == EWOULDBLOCK) {
		held = 1;
		parse_holder(fd, pid, mnt, len);
	} else {
		held = -errno;
	}
	close(fd);
	return held;
}
