/*
 * record.c - build records on disk: STORE/builds/<repo>/<n>/ with the
 * files build.h lists (record.h says how they are written and read).
 *
 * (bld_record_dir is build.c's.)  A new record's number is one more than
 * the highest present, claimed with mkdir: two processes that pick the
 * same number find out from EEXIST, and the loser takes the next.
 * Records are few per repository (one per build), so a claim reads the
 * directory once.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/build.h"
#include "builder/record.h"
#include "store/repo.h"
#include "store/store.h"
#include "util/array.h"

/* the longest commit name a record keeps (a full SHA-256 hex id is 64) */
#define RECORD_COMMIT_MAX 200

int bld_record_path(struct store *s, const char *repo, unsigned n, const char *file,
		    char *buf, size_t len)
{
	int got;

	if (repo && store_repo_name_check(repo))
		return store_error(-EINVAL, "'%s' cannot name a repository", repo);
	if (file && (!*file || *file == '.' || strchr(file, '/')))
		return store_error(-EINVAL, "'%s' cannot name a file of a build record", file);
	if (!repo)
		got = snprintf(buf, len, "%s/builds", store_dir(s));
	else if (!n)
		got = snprintf(buf, len, "%s/builds/%s", store_dir(s), repo);
	else if (!file)
		got = snprintf(buf, len, "%s/builds/%s/%u", store_dir(s), repo, n);
	else
		got = snprintf(buf, len, "%s/builds/%s/%u/%s", store_dir(s), repo, n, file);
	if (got < 0 || (size_t)got >= len)
		return store_error(-ENAMETOOLONG, "the path of build record %s/%u is too long",
				   repo ? repo : "", n);
	return 0;
}

unsigned bld_record_number(const char *name)
{
	unsigned long v = 0;

	if (*name < '1' || *name > '9')
		return 0;
	for (; *name; name++) {
		if (*name < '0' || *name > '9')
			return 0;
		v = v * 10 + (unsigned long)(*name - '0');
		if (v > BLD_RECORD_MAX)
			return 0;
	}
	return (unsigned)v;
}

/* make_dir - mkdir PATH, which may exist already */
static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	return store_error(-errno, "cannot create '%s': %s", path, strerror(errno));
}

/* highest - the highest record number in directory PATH (0: none) */
static int highest(const char *path, unsigned *out)
{
	DIR *d = opendir(path);
	struct dirent *e;

	*out = 0;
	if (!d)
		return store_error(-errno, "cannot read '%s': %s", path, strerror(errno));
	while ((e = readdir(d))) {
		unsigned n = bld_record_number(e->d_name);
		if (n > *out)
			*out = n;
	}
	closedir(d);
	return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* remove_record - DIR/N and its files (plain files only, as records hold) */
static void remove_record(const char *dir, unsigned n)
{
	char path[4200], file[4600];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%u", dir, n);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
			unlink(file);
		}
	closedir(d);
	rmdir(path);
}

int bld_record_prune(struct store *s, const char *repo, unsigned keep)
{
	char dir[4096], status[32];
	struct util_array nums = UTIL_ARRAY_INIT(unsigned);
	struct dirent *e;
	DIR *d;
	int rc = bld_record_path(s, repo, 0, NULL, dir, sizeof(dir));

	if (rc)
		return rc;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : store_error(-errno, "cannot read '%s': %s", dir,
							 strerror(errno));
	while ((e = readdir(d)) && rc == 0) {
		unsigned n = bld_record_number(e->d_name), *slot;
		if (n && !(slot = UTIL_ARRAY_PUSH(&nums, unsigned)))
			rc = store_error(-ENOMEM, "out of memory");
		else if (n)
			*slot = n;
	}
	closedir(d);
	if (rc == 0 && nums.len > keep) {
		unsigned *v = nums.v;

		qsort(v, nums.len, sizeof(*v), cmp_unsigned);
		for (size_t i = 0; i < nums.len - keep; i++)
			if (bld_record_get(s, repo, v[i], BLD_RECORD_STATUS, status, sizeof(status)) == 0 &&
			    (!strcmp(status, "succeeded") || !strcmp(status, "failed")))
				remove_record(dir, v[i]);
		store_error_clear();
	}
	util_array_release(&nums);
	return rc;
}

int bld_record_create(struct store *s, const char *repo, const char *commit, unsigned *n)
{
	char dir[4096], path[4200];
	size_t clen = strlen(commit);
	unsigned top;
	int rc;

	*n = 0;
	if (!clen || clen > RECORD_COMMIT_MAX || strpbrk(commit, "\n\r"))
		return store_error(-EINVAL, "'%.*s' cannot name a commit", RECORD_COMMIT_MAX,
				   commit);
	rc = bld_record_path(s, NULL, 0, NULL, dir, sizeof(dir));
	if (rc == 0)
		rc = make_dir(dir);
	if (rc == 0)
		rc = bld_record_path(s, repo, 0, NULL, dir, sizeof(dir));
	if (rc == 0)
		rc = make_dir(dir);
	if (rc == 0)
		rc = highest(dir, &top);
	if (rc)
		return rc;
	for (;;) {
		if (top >= BLD_RECORD_MAX)
			return store_error(-ENOSPC, "repository '%s' has %u build records: remove "
					   "old ones from '%s'", repo, top, dir);
		snprintf(path, sizeof(path), "%s/%u", dir, ++top);
		if (mkdir(path, 0755) == 0)
			break;
		if (errno != EEXIST)
			return store_error(-errno, "cannot create '%s': %s", path, strerror(errno));
	}
	rc = bld_record_put(s, repo, top, BLD_RECORD_COMMIT, commit, clen);
	if (rc == 0)
		rc = bld_record_put(s, repo, top, BLD_RECORD_STATUS, "queued", 6);
	if (rc == 0)
		*n = top;
	if (rc == 0 && bld_record_prune(s, repo, BLD_RECORDS_KEEP))
		store_error_clear();	/* old records stay; the new one is made */
	return rc;
}

/* write_all - LEN bytes at P to FD, then "\n" unless P ends with one */
static int write_all(int fd, const char *p, size_t len)
{
	int newline = !len || p[len - 1] != '\n';

	while (len) {
		ssize_t got = write(fd, p, len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		p += got;
		len -= (size_t)got;
	}
	if (newline && write(fd, "\n", 1) != 1)
		return errno ? -errno : -EIO;
	return 0;
}

int bld_record_put(struct store *s, const char *repo, unsigned n, const char *file,
		   const char *text, size_t len)
{
	char path[4096], dir[4096], tmp[4200];
	int fd, rc = bld_record_path(s, repo, n, file, path, sizeof(path));

	if (rc == 0)
		rc = bld_record_dir(s, repo, n, dir, sizeof(dir));
	if (rc)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, file, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return store_error(-errno, "cannot write '%s': %s", tmp, strerror(errno));
	rc = write_all(fd, text, len);
	if (close(fd) && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return store_error(rc, "cannot write '%s': %s", path, strerror(-rc));
	}
	return 0;
}

int bld_record_get(struct store *s, const char *repo, unsigned n, const char *file, char *buf,
		   size_t len)
{
	char path[4096];
	ssize_t got;
	int fd, rc = bld_record_path(s, repo, n, file, path, sizeof(path));

	if (len)
		buf[0] = '\0';
	if (rc)
		return rc;
	if (len < 2)
		return store_error(-ERANGE, "no room to read '%s'", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0)
		return store_error(-errno, "cannot read '%s': %s", path, strerror(errno));
	do
		got = read(fd, buf, len - 1);
	while (got < 0 && errno == EINTR);
	rc = got < 0 ? -errno : 0;
	close(fd);
	if (rc)
		return store_error(rc, "cannot read '%s': %s", path, strerror(-rc));
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
