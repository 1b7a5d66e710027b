/*
 * cmd_mount.c - govc mount and govc umount.
 *
 * mount forks the daemon, which opens the store, mounts and reports "ok"
 * (or the first error) through a pipe; the parent returns only then, so a
 * script can use the mount on the next line.  The daemon writes its pid to
 * STORE/daemon.pid and logs to STORE/daemon.log.  umount finds the store
 * from the mount table (the mount's source is the store directory), asks
 * the kernel to unmount, and waits for the daemon to commit and exit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "store/store.h"
#include "tools/govc.h"

#define UMOUNT_WAIT_S 120

static const char mount_usage[] =
	"usage: govc mount [-f] [-o OPT[,OPT...]] STORE MOUNTPOINT\n"
	"\n"
	"Mount STORE at MOUNTPOINT and return once the mount is ready; the daemon\n"
	"runs in the background and logs to STORE/daemon.log.\n"
	"\n"
	"  -f                 stay in the foreground, log to stderr\n"
	"  -o commit_delay=MS quiet time before pending changes are committed (1000)\n"
	"  -o commit_max=MS   longest a change waits for its commit (5000)\n"
	"  -o writeback       enable the kernel writeback cache (off: see docs)\n"
	"  -o readahead=KB    the mount's read-ahead, as root (4096; 0: the kernel's)\n"
	"  -o events_max_kb=KB, events_max_days=DAYS\n"
	"                     trim the event log to its last KB (65536) or DAYS\n"
	"                     (no limit); kept in the store for every process\n"
	"  -o OPT             any other option goes to FUSE (e.g. allow_other,\n"
	"                     which mounts nosuid,nodev unless -o suid / -o dev)\n";

static int add_fuse_opt(char *buf, size_t len, const char *opt)
{
	size_t used = strlen(buf);
	int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", opt);

	return n >= (int)(len - used) ? -1 : 0;
}

static int parse_opts(struct fs_options *o, char *list, char *fuse_opts, size_t len)
{
	for (char *save = NULL, *opt = strtok_r(list, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		int r = fs_parse_option(o, opt);
		if (r < 0)
			return govc_fail("mount: bad option '%s'", opt);
		if (r == 0 && add_fuse_opt(fuse_opts, len, opt))
			return govc_fail("mount: too many options");
	}
	return 0;
}

static void daemon_stdio(const char *store)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/daemon.log", store);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
}

static void write_pid(const char *store)
{
	char path[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/daemon.pid", store);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
}

int cmd_mount(int argc, char **argv)
{
	static char store_abs[PATH_MAX], mnt_abs[PATH_MAX], fuse_opts[4096];
	struct fs_options o = { .commit_delay_ms = 1000, .commit_max_ms = 5000, .writeback = 0,
				.readahead_kb = FS_READAHEAD_KB, .ready_fd = -1 };
	struct store *s;
	struct stat st;
	int pipefd[2], opt;
	char msg[1300];
	ssize_t n;
	pid_t pid;

	if (govc_wants_help(argc, argv)) {
		fputs(mount_usage, stdout);
		return 0;
	}
	optind = 1;
	while ((opt = getopt(argc, argv, "fo:")) != -1) {
		if (opt == 'f')
			o.foreground = 1;
		else if (opt == 'o') {
			if (parse_opts(&o, optarg, fuse_opts, sizeof(fuse_opts)))
				return 1;
		} else {
			fputs(mount_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fputs(mount_usage, stderr);
		return 2;
	}
	if (!realpath(argv[optind], store_abs))
		return govc_fail("mount: no store at '%s': %s", argv[optind], strerror(errno));
	if (!realpath(argv[optind + 1], mnt_abs) || stat(mnt_abs, &st) || !S_ISDIR(st.st_mode))
		return govc_fail("mount: mount point '%s' is not a directory", argv[optind + 1]);
	if (strchr(store_abs, ','))
		return govc_fail("mount: store path '%s' must not contain ','", store_abs);
	/* check the store here, where the error can be shown; the daemon
	 * opens it again after the fork (an LMDB env must not cross one) */
	if (store_open(&s, store_abs, 0))
		return govc_fail("mount: %s", store_errmsg());
	store_free(s);
	o.store_dir = store_abs;
	o.mountpoint = mnt_abs;
	o.fuse_opts = fuse_opts;
	if (o.foreground) {
		write_pid(store_abs);
		return fs_run(&o);
	}
	if (pipe(pipefd) < 0)
		return govc_fail("mount: pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return govc_fail("mount: fork: %s", strerror(errno));
	if (pid == 0) {
		close(pipefd[0]);
		setsid();
		if (chdir("/") < 0)
			_exit(1);
		daemon_stdio(store_abs);
		write_pid(store_abs);
		o.ready_fd = pipefd[1];
		_exit(fs_run(&o));
	}
	close(pipefd[1]);
	n = read(pipefd[0], msg, sizeof(msg) - 1);
	close(pipefd[0]);
	if (n <= 0) {
		waitpid(pid, NULL, 0);
		return govc_fail("mount: the daemon died while starting; see %s/daemon.log", store_abs);
	}
	msg[n] = '\0';
	if (strcmp(msg, "ok\n") != 0) {
		msg[strcspn(msg, "\n")] = '\0';
		waitpid(pid, NULL, 0);
		return govc_fail("mount: %s", msg);
	}
	return 0;
}

/* mount_source - the source (store dir) of the govc mount at MNT. */
static int mount_source(const char *mnt, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts ... - fstype source superopts */
		char mp[PATH_MAX], fstype[64], source[PATH_MAX];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		if (sscanf(dash + 3, "%63s %4095s", fstype, source) != 2)
			continue;
		if (strcmp(mp, mnt) == 0 && strcmp(fstype, "fuse.govc") == 0) {
			snprintf(out, len, "%s", source);
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

/* alive - is process PID still running (not gone, not a zombie)? */
static int alive(pid_t pid)
{
	char path[64], stat[256];
	FILE *f;
	int running = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(stat, sizeof(stat), f)) {
		char *p = strrchr(stat, ')');
		running = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	}
	fclose(f);
	return running;
}

static pid_t read_pid(const char *store)
{
	char path[PATH_MAX + 32];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/daemon.pid", store);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

int cmd_umount(int argc, char **argv)
{
	char mnt[PATH_MAX], store[PATH_MAX];
	pid_t pid, child;
	int status;

	if (govc_wants_help(argc, argv)) {
		printf("usage: govc umount MOUNTPOINT\n\n"
		       "Commit what is pending, unmount and wait for the daemon to exit.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: govc umount MOUNTPOINT\n");
		return 2;
	}
	if (!realpath(argv[1], mnt))
		return govc_fail("umount: '%s': %s", argv[1], strerror(errno));
	if (mount_source(mnt, store, sizeof(store)))
		return govc_fail("umount: '%s' is not a govc mount", mnt);
	pid = read_pid(store);
	child = fork();
	if (child == 0) {
		execlp("fusermount3", "fusermount3", "-u", mnt, (char *)NULL);
		_exit(127);
	}
	if (child < 0 || waitpid(child, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return govc_fail("umount: cannot unmount '%s' (files still open? see fusermount3 -u)",
				 mnt);
	/* the daemon commits what is pending, then exits */
	for (int i = 0; pid > 0 && i < UMOUNT_WAIT_S * 20; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		if (!alive(pid))
			return 0;
		nanosleep(&ts, NULL);
	}
	if (pid > 0 && alive(pid))
		return govc_fail("umount: the daemon (pid %ld) did not exit; see %s/daemon.log",
				 (long)pid, store);
	return 0;
}
