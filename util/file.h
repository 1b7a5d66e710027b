/*
 * file.h - small file helpers the subsystems share: whole reads and writes
 * at an offset, retried until done, and unnamed temporary files.
 *
 * Threads: no shared state.
 */
#ifndef GOVC_UTIL_FILE_H
#define GOVC_UTIL_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * util_pread_all, util_pwrite_all - all N bytes at OFF, retrying short
 * transfers and EINTR.  0, or -errno (-EIO for an end of file before N
 * bytes were read, or a write that made no progress).
 */
int util_pread_all(int fd, void *buf, size_t n, off_t off);
int util_pwrite_all(int fd, const void *buf, size_t n, off_t off);

/* util_write_all - all N bytes at FD's position (a pipe too); as above. */
int util_write_all(int fd, const void *buf, size_t n);

/*
 * util_tmpfile - an unnamed temporary file for reading and writing in DIR
 * (NULL: $TMPDIR, else /var/tmp): O_TMPFILE, or where the file system
 * lacks it a file made with mkstemp and unlinked at once; nothing is left
 * however the process ends.  Returns the descriptor (close-on-exec) or
 * -errno.  PREFIX names the mkstemp file for the moment it exists.
 */
int util_tmpfile(const char *dir, const char *prefix);

/* util_tmpdir - where temporary files go: $TMPDIR, else /var/tmp. */
const char *util_tmpdir(void);

#endif
