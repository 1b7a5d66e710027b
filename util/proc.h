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

#endif
