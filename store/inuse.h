/*
 * inuse.h - what a running daemon holds in its store, in files other
 * processes can read: the mount lock (one daemon per store) and, later,
 * the records of images its kernel still holds.
 *
 * The mount lock is STORE/daemon.lock, flock()ed exclusively by the daemon
 * from before it opens the store for serving until it exits.  The kernel
 * drops an flock with its last descriptor, so a killed daemon never leaves
 * a stale lock (a stale daemon.pid could name a stranger).  While held, the
 * file says who holds it, one field a line:
 *
 *	pid <decimal>
 *	mountpoint <absolute path>
 *
 * Anyone may read it (store_mount_holder); only a holder writes it.  The
 * daemon also writes STORE/daemon.pid once it holds the lock, for scripts.
 *
 * Threads: the functions here keep no shared state.
 */
#ifndef GOVC_STORE_INUSE_H
#define GOVC_STORE_INUSE_H

#include <stddef.h>
#include <sys/types.h>

/* The mount lock a daemon holds; opaque. */
struct store_mount_lock;

/*
 * store_mount_lock_take - take STORE_DIR's mount lock for a daemon serving
 * MOUNTPOINT and record both there and in STORE_DIR/daemon.pid.
 * @out: receives the lock, released (and the file emptied) with
 *       store_mount_lock_free(); a process that dies releases it too.
 * Errors: -EBUSY when another daemon holds it (the message names its
 * mount point and pid), else a negative errno from the file system.
 * The descriptor is close-on-exec: children never inherit the lock.
 */
int store_mount_lock_take(struct store_mount_lock **out, const char *store_dir,
			  const char *mountpoint);

/* store_mount_lock_free - release the lock (NULL is allowed). */
void store_mount_lock_free(struct store_mount_lock *l);

/*
 * store_mount_holder - who holds STORE_DIR's mount lock.
 * @pid: receives the holder's pid (0 if it has not written it yet)
 * @mnt: receives its mount point ("" if not written yet), LEN bytes
 * Returns 1 if a daemon holds the lock, 0 if none does, or a negative
 * errno (the store directory cannot be read).
 */
int store_mount_holder(const char *store_dir, pid_t *pid, char *mnt, size_t len);

#endif
