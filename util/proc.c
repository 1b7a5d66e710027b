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

/* fd_of - a descriptor of process PID on PATH (or below it): 1 with FOUND */
static int fd_of(const char *pid, const char *path, int prefix, char *found, size_t len)
{
	char dir[64], fp[400], link[4200];
	size_t plen = strlen(path);
	struct dirent *fe;
	DIR *fds;
	int hit = 0;

	snprintf(dir, sizeof(dir), "/proc/%.20s/fd", pid);
	fds = opendir(dir);
	while (fds && !hit && (fe = readdir(fds))) {
		ssize_t n;

		snprintf(fp, sizeof(fp), "%s/%.200s", dir, fe->d_name);
		n = readlink(fp, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (prefix ? !strncmp(link, path, plen) : !strcmp(link, path)) {
			if (found)
				snprintf(found, len, "%s", link);
			hit = 1;
		}
	}
	if (fds)
		closedir(fds);
	return hit;
}

long util_proc_fd_user(const char *path, int prefix, char *found, size_t len)
{
	struct dirent *de;
	DIR *proc = opendir("/proc");
	long pid = 0;

	while (proc && !pid && (de = readdir(proc))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' || atol(de->d_name) == (long)getpid())
			continue;
		if (fd_of(de->d_name, path, prefix, found, len))
			pid = atol(de->d_name);
	}
	if (proc)
		closedir(proc);
	return pid;
}

struct users {
	const char *mnt;
	size_t mlen;
	int (*cb)(const char *path, long pid, const char *how, void *arg);
	void *arg;
	long pid;
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

static int fds_of(struct users *u, const char *pid)
{
	static const char *const links[] = { "root", "cwd" };
	static const char *const hows[] = { "the root directory", "the working directory" };
	char dir[64], fp[400], link[4200];
	struct dirent *fe;
	DIR *fds;
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
	snprintf(dir, sizeof(dir), "/proc/%.20s/fd", pid);
	fds = rc ? NULL : opendir(dir);
	while (fds && !rc && (fe = readdir(fds))) {
		ssize_t n;
		const char *rel;

		snprintf(fp, sizeof(fp), "%s/%.200s", dir, fe->d_name);
		n = readlink(fp, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if ((rel = under(u, link)))
			rc = u->cb(rel, u->pid, "an open file", u->arg);
	}
	if (fds)
		closedir(fds);
	return rc;
}

int util_proc_users(const char *mnt, dev_t dev,
		    int (*cb)(const char *path, long pid, const char *how, void *arg), void *arg)
{
	struct users u = { mnt, strlen(mnt), cb, arg, 0 };
	struct dirent *de;
	DIR *proc = opendir("/proc");
	int rc = 0;

	while (proc && !rc && (de = readdir(proc))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		u.pid = atol(de->d_name);
		rc = mounts_of(&u, de->d_name, dev);
		if (!rc)
			rc = fds_of(&u, de->d_name);
	}
	if (proc)
		closedir(proc);
	return rc;
}
