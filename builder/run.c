/*
 * run.c - RUN: the command runs under crun, Debian's OCI runtime, in its
 * own mount, pid, ipc, uts and (unless --network=host) network
 * namespaces, rooted at the step's overlay (layers.c), with a /proc, a
 * minimal /dev (crun's default devices on a tmpfs), a read-only /sys, the
 * image's Env, WorkingDir and User, and Docker's default capabilities.
 *
 * Why crun rather than bubblewrap: a RUN under USER must create its files
 * as that user, with the root's capabilities dropped; bwrap can only
 * switch users inside a user namespace, which would leave every file the
 * command writes owned by the builder.  crun sets process.user from an OCI
 * runtime spec, as every container engine does.
 *
 * Mount stubs: a directory crun creates in the overlay to mount on (a
 * cache mount's target, /proc in a scratch stage) is removed from the
 * upper directory after the run, as BuildKit does, so it is not part of
 * the step's layer.
 *
 * Output: the command's stdout and stderr go through a pipe to the build
 * log (and to the terminal unless quiet); the last 2 KiB are kept for the
 * error message of a failed RUN.  A RUN past its timeout is killed (crun
 * kill KILL: the whole pid namespace goes).
 *
 * Threads: the build's thread only (exec.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder/exec.h"
#include "util/file.h"
#include "store/store.h"

extern char **environ;

static unsigned run_seq;

int bx_run_prepare(void)
{
	/* crun refuses hybrid cgroup hierarchies when cgroup2 lists
	 * controllers; with cgroups disabled for the build's containers,
	 * hide the list in this process's mount namespace (TESTBED.md) */
	const char *ctl = "/sys/fs/cgroup/unified/cgroup.controllers";
	struct stat st;

	if (stat(ctl, &st) == 0 && st.st_size >= 0)
		mount("/dev/null", ctl, NULL, MS_BIND, NULL);
	return 0;
}

/* find_exe - NAME on $PATH (or a usual place) into BUF */
static int find_exe(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s:/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin",
		 path ? path : "");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/%s", d, name);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return store_error(-ENOENT, "RUN needs crun, an OCI runtime (apt-get install crun)");
}

static json_t *strv_json(const char *const *v)
{
	json_t *a = json_array();
	for (; a && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static const char *const caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", NULL
};

static json_t *mount_json(const char *dst, const char *type, const char *src,
			  const char *const *opts)
{
	json_t *m = json_pack("{s:s, s:s, s:s}", "destination", dst, "type", type, "source", src);
	if (m && opts)
		json_object_set_new(m, "options", strv_json(opts));
	return m;
}

/* spec - the OCI runtime spec of R on root ROOT */
static json_t *spec(const struct bx_run *r, const char *root)
{
	static const char *const dev_opts[] = { "nosuid", "strictatime", "mode=755",
						"size=65536k", NULL };
	static const char *const pts_opts[] = { "nosuid", "noexec", "newinstance",
						"ptmxmode=0666", "mode=0620", NULL };
	static const char *const shm_opts[] = { "nosuid", "noexec", "nodev", "mode=1777",
						"size=65536k", NULL };
	static const char *const sys_opts[] = { "nosuid", "noexec", "nodev", "ro", NULL };
	static const char *const masked[] = { "/proc/acpi", "/proc/kcore", "/proc/keys",
					      "/proc/latency_stats", "/proc/timer_list",
					      "/proc/timer_stats", "/proc/sched_debug",
					      "/proc/scsi", "/sys/firmware", NULL };
	static const char *const ro[] = { "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
					  "/proc/sys", "/proc/sysrq-trigger", NULL };
	json_t *caps_all = strv_json(caps);
	json_t *groups = json_array(), *mounts = json_array(), *ns = json_array();
	json_t *s;

	for (size_t i = 0; i < r->ngroups; i++)
		json_array_append_new(groups, json_integer(r->groups[i]));
	json_array_append_new(mounts, mount_json("/proc", "proc", "proc", NULL));
	json_array_append_new(mounts, mount_json("/dev", "tmpfs", "tmpfs", dev_opts));
	json_array_append_new(mounts, mount_json("/dev/pts", "devpts", "devpts", pts_opts));
	json_array_append_new(mounts, mount_json("/dev/shm", "tmpfs", "shm", shm_opts));
	json_array_append_new(mounts, mount_json("/sys", "sysfs", "sysfs", sys_opts));
	for (size_t i = 0; i < r->nmounts; i++) {
		const struct bx_mount *m = &r->mounts[i];
		if (m->skip)
			continue;
		if (m->tmpfs) {
			char size[64];
			const char *o[] = { "nosuid", "nodev", size, NULL };
			snprintf(size, sizeof(size), "size=%llu",
				 (unsigned long long)(m->size ? m->size : 64ull << 20));
			json_array_append_new(mounts, mount_json(m->target, "tmpfs", "tmpfs", o));
		} else {
			const char *o[] = { "rbind", m->readonly ? "ro" : "rw", NULL };
			json_array_append_new(mounts, mount_json(m->target, "bind", m->source, o));
		}
	}
	json_array_append_new(ns, json_pack("{s:s}", "type", "pid"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "ipc"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "uts"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
	if (!r->network_host)
		json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
	s = json_pack("{s:s, s:{s:b, s:{s:I, s:I, s:o}, s:O, s:O, s:s, s:{s:O, s:o, s:o, s:o, s:o},"
		      " s:b},"
		      " s:{s:s, s:b}, s:s, s:o, s:{s:o, s:o, s:o}}",
		      "ociVersion", "1.0.2",
		      "process", "terminal", 0,
		      "user", "uid", (json_int_t)r->uid, "gid", (json_int_t)r->gid,
		      "additionalGids", groups,
		      "args", r->args, "env", r->env, "cwd", r->cwd,
		      "capabilities", "bounding", caps_all,
		      "effective", r->uid ? json_array() : json_deep_copy(caps_all),
		      "permitted", r->uid ? json_array() : json_deep_copy(caps_all),
		      "inheritable", json_array(), "ambient", json_array(),
		      "noNewPrivileges", 0,
		      "root", "path", root, "readonly", 0,
		      "hostname", "govc-build",
		      "mounts", mounts,
		      "linux", "namespaces", ns, "maskedPaths", strv_json(masked),
		      "readonlyPaths", strv_json(ro));
	json_decref(caps_all);
	return s;
}

/* stubs: the first component of each mount target missing in the root */
struct stubs {
	char path[16][4096];
	size_t n;
};

static void stub_note(struct stubs *st, int rootfd, const char *target)
{
	char prefix[4096];
	const char *p = target;

	while (*p && st->n < 16) {
		int fd;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		p += strcspn(p, "/");
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(p - target), target);
		fd = bx_open_in_root(rootfd, prefix, O_PATH, 0);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		if (fd == -ENOENT) {
			for (size_t i = 0; i < st->n; i++)
				if (strcmp(st->path[i], prefix) == 0)
					return;
			snprintf(st->path[st->n++], sizeof(st->path[0]), "%s", prefix);
		}
		return;
	}
}

/* rm_empty - remove directory PATH if it holds nothing but empty
 * directories (or an empty file); 0 if it did */
static int rm_empty(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (S_ISREG(st.st_mode))
		return st.st_size == 0 ? unlink(path) : -1;
	if (!S_ISDIR(st.st_mode))
		return -1;
	if (rmdir(path) == 0)
		return 0;
	{
		char **names = NULL;
		size_t n = 0, cap = 0;
		int rc = 0;
		DIR *d = opendir(path);
		struct dirent *de;
		if (!d)
			return -1;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (n == cap) {
				char **nv = realloc(names, (cap = cap ? 2 * cap : 8) * sizeof(*nv));
				if (!nv)
					break;
				names = nv;
			}
			names[n++] = strdup(de->d_name);
		}
		closedir(d);
		for (size_t i = 0; i < n; i++) {
			char sub[8200];
			snprintf(sub, sizeof(sub), "%s/%s", path, names[i] ? names[i] : "");
			if (!names[i] || rm_empty(sub))
				rc = -1;
			free(names[i]);
		}
		free(names);
		return rc ? rc : rmdir(path);
	}
}

static void tail_add(struct bx_run *r, const char *p, size_t n)
{
	if (n >= sizeof(r->tail)) {
		p += n - (sizeof(r->tail) - 1);
		n = sizeof(r->tail) - 1;
	}
	if (r->tail_len + n >= sizeof(r->tail)) {
		size_t drop = r->tail_len + n - (sizeof(r->tail) - 1);
		memmove(r->tail, r->tail + drop, r->tail_len - drop);
		r->tail_len -= drop;
	}
	memcpy(r->tail + r->tail_len, p, n);
	r->tail_len += n;
	r->tail[r->tail_len] = '\0';
}

static int spawn_wait(char *const argv[])
{
	pid_t pid;
	int st;
	posix_spawn_file_actions_t fa;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int bx_run(struct store *s, struct bx_overlay *o, struct bx_run *r, int *status)
{
	char crun[4096], state[4096], bundle[4300], cfg[4400], id[64];
	struct stubs stubs = { .n = 0 };
	posix_spawn_file_actions_t fa;
	json_t *js = NULL;
	int pipefd[2] = { -1, -1 }, rc, st = 0;
	pid_t pid;
	double deadline;

	*status = -1;
	r->tail_len = 0;
	r->tail[0] = '\0';
	r->timed_out = 0;
	rc = find_exe("crun", crun, sizeof(crun));
	if (rc == 0)
		rc = bx_cache_dir(s, "crun", state, sizeof(state));
	if (rc)
		return rc;
	snprintf(id, sizeof(id), "govc-build-%ld-%u", (long)getpid(), run_seq++);
	snprintf(bundle, sizeof(bundle), "%s/bundle", o->dir);
	snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
	if (mkdir(bundle, 0700) && errno != EEXIST)
		return store_error(-errno, "%s: %s", bundle, strerror(errno));
	stub_note(&stubs, o->rootfd, "/proc");
	stub_note(&stubs, o->rootfd, "/dev");
	stub_note(&stubs, o->rootfd, "/sys");
	for (size_t i = 0; i < r->nmounts; i++)
		if (!r->mounts[i].skip)
			stub_note(&stubs, o->rootfd, r->mounts[i].target);
	js = spec(r, o->merged);
	if (!js || json_dump_file(js, cfg, JSON_COMPACT)) {
		json_decref(js);
		return store_error(-EIO, "%s: cannot write the runtime spec", cfg);
	}
	json_decref(js);
	if (pipe2(pipefd, O_CLOEXEC))
		return store_error(-errno, "pipe: %s", strerror(errno));
	{
		char *argv[] = { crun, "--root", state, "--cgroup-manager=disabled", "run",
				 "--bundle", bundle, id, NULL };
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
		rc = posix_spawn(&pid, crun, &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		return store_error(-rc, "starting crun: %s", strerror(rc));
	}
	deadline = now() + (r->timeout ? r->timeout : 3600);
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		char buf[8192];
		double left = deadline - now();
		int pr = poll(&p, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
		ssize_t n;

		if (pr == 0 && !r->timed_out) {
			char *kill_argv[] = { crun, "--root", state, "kill", id, "KILL", NULL };
			r->timed_out = 1;
			spawn_wait(kill_argv);
			kill(pid, SIGKILL);
			deadline = now() + 3600;
			continue;
		}
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (r->log_fd >= 0)
			util_write_all(r->log_fd, buf, (size_t)n);
		if (r->echo_fd >= 0)
			util_write_all(r->echo_fd, buf, (size_t)n);
		tail_add(r, buf, (size_t)n);
	}
	close(pipefd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	{
		char *del_argv[] = { crun, "--root", state, "delete", "-f", id, NULL };
		if (r->timed_out)
			spawn_wait(del_argv);
	}
	for (size_t i = 0; i < stubs.n; i++) {
		char up[8400];
		snprintf(up, sizeof(up), "%s/%s", o->upper, stubs.path[i]);
		rm_empty(up);
	}
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}
