/*
 * proc.c - open descriptors of every process, from /proc (proc.h).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/proc.h"

/* each_pid - CB(pid, ARG) for every process but this one, until it returns
 * non-zero, which is returned */
static int each_pid(int (*cb)(const char *pid, void *arg), void *arg)
{
	struct dirent *de;
	DIR *proc = opendir("/proc");
	int rc = 0;

	while (proc && !rc && (de = readdir(proc)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
		    atol(de->d_name) != (long)getpid())
			rc = cb(de->d_name, arg);
	if (proc)
		closedir(proc);
	return rc;
}

/* each_fd - CB(path, ARG) for every open descriptor of process PID (the
 * path it has open), until it returns non-zero, which is returned */
static int each_fd(const char *pid, int (*cb)(const char *path, void *arg), void *arg)
{
	char dir[64], fp[400], link[4200];
	struct dirent *fe;
	DIR *fds;
	int rc = 0;

	snprintf(dir, sizeof(dir), "/proc/%.20s/fd", pid);
	fds = opendir(dir);
	while (fds && !rc && (fe = readdir(fds))) {
		ssize_t n;

		snprintf(fp, sizeof(fp), "%s/%.200s", dir, fe->d_name);
		n = readlink(fp, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		rc = cb(link, arg);
	}
	if (fds)
		closedir(fds);
	return rc;
}

struct fd_user {
	const char *path;
	int prefix;
	char *found;
	size_t len;
	long pid;
};

static int fd_matches(const char *link, void *arg)
{
	struct fd_user *f = arg;

	if (f->prefix ? strncmp(link, f->path, strlen(f->path)) : strcmp(link, f->path))
		return 0;
	if (f->found)
		snprintf(f->found, f->len, "%s", link);
	return 1;
}

static int pid_has_fd(const char *pid, void *arg)
{
	struct fd_user *f = arg;

	if (!each_fd(pid, fd_matches, f))
		return 0;
	f->pid = atol(pid);
	return 1;
}

long util_proc_fd_user(const char *path, int prefix, char *found, size_t len)
{
	struct fd_user f = { path, prefix, found, len, 0 };

	each_pid(pid_has_fd, &f);
	return f.pid;
}

struct users {
	const char *mnt;
	size_t mlen;
	int (*cb)(const char *path, long pid, const char *how, void *arg);
	void *arg;
	long pid;
	dev_t dev;
};

/* under - PATH relative to the mount, if it lies in it; else NULL */
static const char *under(const struct users *u, const char *path)
{
	if (strncmp(path, u->mnt, u->mlen) || (path[u->mlen] && path[u->mlen] != '/'))
		return NULL;
	return path[u->mlen] ? path + u->mlen : "/";
}

/* overlay_dirs - the lowerdir, upperdir and workdir of overlay OPTS */
static int overlay_dirs(struct users *u, char *opts)
{
	static const char *const keys[] = { "lowerdir=", "upperdir=", "workdir=" };
	char *save = NULL;
	int rc = 0;

	for (char *o = strtok_r(opts, ",", &save); o && !rc; o = strtok_r(NULL, ",", &save))
		for (size_t k = 0; k < 3 && !rc; k++) {
			char *s2 = NULL;
			size_t kl = strlen(keys[k]);

			if (strncmp(o, keys[k], kl))
				continue;
			for (char *d = strtok_r(o + kl, ":", &s2); d && !rc; d = strtok_r(NULL, ":", &s2)) {
				const char *rel = under(u, d);
				if (rel)
					rc = u->cb(rel, u->pid, k ? "an overlay upperdir" : "an overlay lowerdir",
						   u->arg);
			}
		}
	return rc;
}

static int mounts_of(struct users *u, const char *pid, dev_t dev)
{
	char path[64], line[8192];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%.20s/mountinfo", pid);
	f = fopen(path, "re");
	while (f && !rc && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char root[4096], *dash = strstr(line, " - ");

		if (sscanf(line, "%*u %*u %u:%u %4095s", &maj, &min, root) != 3)
			continue;
		if (makedev(maj, min) == dev) {
			rc = u->cb(root, u->pid, "a mount", u->arg);
		} else if (dash && !strncmp(dash, " - overlay ", 11)) {
			char *opts = strrchr(dash, ' ');
			if (opts) {
				opts[strcspn(opts, "\n")] = '\0';
				rc = overlay_dirs(u, opts + 1);
			}
		}
	}
	if (f)
		fclose(f);
	return rc;
}

/* open_file - an open descriptor of U's process on the mount */
static int open_file(const char *link, void *arg)
{
	struct users *u = arg;
	const char *rel = under(u, link);

	return rel ? u->cb(rel, u->pid, "an open file", u->arg) : 0;
}

static int fds_of(struct users *u, const char *pid)
{
	static const char *const links[] = { "root", "cwd" };
	static const char *const hows[] = { "the root directory", "the working directory" };
	char fp[64], link[4200];
	int rc = 0;

	for (size_t i = 0; i < 2 && !rc; i++) {
		ssize_t n;
		const char *rel;

		snprintf(fp, sizeof(fp), "/proc/%.20s/%s", pid, links[i]);
		n = readlink(fp, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if ((rel = under(u, link)))
			rc = u->cb(rel, u->pid, hows[i], u->arg);
	}
	return rc ? rc : each_fd(pid, open_file, u);
}

static int uses_of(const char *pid, void *arg)
{
	struct users *u = arg;
	int rc;

	u->pid = atol(pid);
	rc = mounts_of(u, pid, u->dev);
	return rc ? rc : fds_of(u, pid);
}

int util_proc_users(const char *mnt, dev_t dev,
		    int (*cb)(const char *path, long pid, const char *how, void *arg), void *arg)
{
	struct users u = { mnt, strlen(mnt), cb, arg, 0, dev };

	return each_pid(uses_of, &u);
}
