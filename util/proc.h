/*
 * proc.h - who uses a file: the open descriptors of every process, read
 * from /proc as fuser and lsof read them (root sees every process).
 *
 * Threads: no shared state.
 */
#ifndef GOVC_UTIL_PROC_H
#define GOVC_UTIL_PROC_H

#include <stddef.h>

/*
 * util_proc_fd_user - a process other than the caller with an open
 * descriptor on PATH (PREFIX 0), or on anything whose path starts with
 * PATH (PREFIX 1).  Returns its pid and fills FOUND (LEN bytes, may be
 * NULL) with the path it has open; 0 if none.
 */
long util_proc_fd_user(const char *path, int prefix, char *found, size_t len);

/*
 * util_proc_users - every use, by a process other than the caller, of the
 * file system mounted at MNT (device
 * DEV) that keeps a path of it alive: a mount whose root lies in it (a
 * bind mount, in any process's mount namespace), an overlay mount with a
 * lowerdir, upperdir or workdir in it, a process whose root or working
 * directory lies in it, an open descriptor on a file in it.  CB(PATH, PID,
 * HOW, ARG) gets PATH relative to the file system's root ("/images/x/
 * rootfs"), the pid whose /proc showed it and HOW ("a mount", "an overlay
 * lowerdir", "the root directory", "the working directory", "an open
 * file"); a non-zero return stops the walk and is returned.  A mount shows
 * once per mount namespace that has it, and more often.
 */
#include <sys/types.h>
int util_proc_users(const char *mnt, dev_t dev,
		    int (*cb)(const char *path, long pid, const char *how,
			      void *arg),
		    void *arg);

#endif
