/*
 * record.c - an LD_PRELOAD shim for the crash-state explorer (explore.py):
 * it logs every write, sync, rename and truncation a process makes to the
 * files of one directory (GOVC_CRASH_DIR, a store), with the bytes
 * written, to GOVC_CRASH_LOG, so that the states a power loss could leave
 * behind can be rebuilt afterwards.  Test code only: never linked into
 * govc.
 *
 * Record: u8 type ('W' write, 'S' sync, 'R' rename, 'T' truncate), u32
 * path length, path, u32 second path length, second path (renames), u64
 * offset (or size), u64 length, then LENGTH bytes (writes).  Appended
 * under a mutex: the records of all threads form one order.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int logfd = -1;
static char dir[PATH_MAX];
static size_t dirlen;

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_ftruncate)(int, off_t);

__attribute__((constructor)) static void init(void)
{
	const char *d = getenv("GOVC_CRASH_DIR"), *l = getenv("GOVC_CRASH_LOG");

	real_pwrite = dlsym(RTLD_NEXT, "pwrite64");
	real_write = dlsym(RTLD_NEXT, "write");
	real_writev = dlsym(RTLD_NEXT, "writev");
	real_pwritev = dlsym(RTLD_NEXT, "pwritev64");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	real_rename = dlsym(RTLD_NEXT, "rename");
	real_ftruncate = dlsym(RTLD_NEXT, "ftruncate64");
	if (!d || !l || !realpath(d, dir))
		return;
	dirlen = strlen(dir);
	logfd = open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* ours - the path of FD if it is in the directory (into BUF), else NULL */
static const char *ours(int fd, char *buf)
{
	char link[64];
	ssize_t n;

	if (logfd < 0 || fd == logfd)
		return NULL;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, PATH_MAX - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if (strncmp(buf, dir, dirlen) || buf[dirlen] != '/')
		return (n == (ssize_t)dirlen && !strncmp(buf, dir, dirlen)) ? buf : NULL;
	return buf;
}

static void emit(char type, const char *a, const char *b, uint64_t off,
		 const struct iovec *iov, int iovcnt)
{
	uint32_t la = (uint32_t)strlen(a), lb = b ? (uint32_t)strlen(b) : 0;
	uint64_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	pthread_mutex_lock(&mu);
	real_write(logfd, &type, 1);
	real_write(logfd, &la, 4);
	real_write(logfd, a, la);
	real_write(logfd, &lb, 4);
	if (lb)
		real_write(logfd, b, lb);
	real_write(logfd, &off, 8);
	real_write(logfd, &len, 8);
	for (int i = 0; i < iovcnt; i++)
		real_write(logfd, iov[i].iov_base, iov[i].iov_len);
	pthread_mutex_unlock(&mu);
}

/* a write of N bytes done at OFF: log what was written */
static void wrote(int fd, off_t off, const struct iovec *iov, int iovcnt, ssize_t n)
{
	char buf[PATH_MAX];
	const char *p = n > 0 ? ours(fd, buf) : NULL;
	struct iovec cut[64];
	int k = 0;

	if (!p || iovcnt > 64)
		return;
	for (ssize_t left = n; left > 0 && k < iovcnt; k++) {
		cut[k] = iov[k];
		if ((ssize_t)cut[k].iov_len > left)
			cut[k].iov_len = (size_t)left;
		left -= (ssize_t)cut[k].iov_len;
	}
	emit('W', p, NULL, (uint64_t)off, cut, k);
}

ssize_t pwrite64(int fd, const void *b, size_t n, off_t off)
{
	ssize_t r = real_pwrite(fd, b, n, off);
	struct iovec v = { (void *)b, n };

	wrote(fd, off, &v, 1, r);
	return r;
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t off) __attribute__((alias("pwrite64")));

ssize_t write(int fd, const void *b, size_t n)
{
	off_t off = logfd >= 0 && fd != logfd ? lseek(fd, 0, SEEK_CUR) : -1;
	ssize_t r = real_write(fd, b, n);
	struct iovec v = { (void *)b, n };

	if (off >= 0 && !(fcntl(fd, F_GETFL) & O_APPEND))
		wrote(fd, off, &v, 1, r);
	return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	off_t off = logfd >= 0 ? lseek(fd, 0, SEEK_CUR) : -1;
	ssize_t r = real_writev(fd, iov, cnt);

	if (off >= 0)
		wrote(fd, off, iov, cnt, r);
	return r;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t r = real_pwritev(fd, iov, cnt, off);

	wrote(fd, off, iov, cnt, r);
	return r;
}
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) __attribute__((alias("pwritev64")));

static void synced(int fd)
{
	char buf[PATH_MAX];
	const char *p = ours(fd, buf);

	if (p)
		emit('S', p, NULL, 0, NULL, 0);
}

int fsync(int fd)
{
	int r = real_fsync(fd);

	if (r == 0)
		synced(fd);
	return r;
}

int fdatasync(int fd)
{
	int r = real_fdatasync(fd);

	if (r == 0)
		synced(fd);
	return r;
}

int rename(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];
	int in = logfd >= 0 && realpath(a, ra) && !strncmp(ra, dir, dirlen);
	int r = real_rename(a, b);

	if (r == 0 && in && realpath(b, rb))
		emit('R', ra, rb, 0, NULL, 0);
	return r;
}

int ftruncate64(int fd, off_t len)
{
	int r = real_ftruncate(fd, len);
	char buf[PATH_MAX];
	const char *p = r == 0 ? ours(fd, buf) : NULL;

	if (p)
		emit('T', p, NULL, (uint64_t)len, NULL, 0);
	return r;
}
int ftruncate(int fd, off_t len) __attribute__((alias("ftruncate64")));
