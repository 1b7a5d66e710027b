/*
 * proc.c - open descriptors of every process, from /proc (proc.h).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
