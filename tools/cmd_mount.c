/*
 * cmd_mount.c - govc mount and govc umount.
 *
 * mount forks the daemon, which takes the store's mount lock (one daemon
 * per store, store/inuse.h), opens the store, mounts and reports "ok" (or
 * the first error) through a pipe; the parent returns only then, so a
 * script can use the mount on the next line.  The daemon logs to
 * STORE/daemon.log.  umount finds the store from the mount table (the
 * mount's source is the store directory), asks the kernel to unmount, and
 * waits for the daemon that holds the store's lock for that mount point
 * to commit and exit.
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
#include "store/commit.h"
#include "store/inuse.h"
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
	"  -o no_builds       commits build nothing (default: a commit that changes\n"
	"                     what a repository's Govcfile reads builds it)\n"
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

/* govc_mount_source - the source (store dir) of the govc mount at MNT. */
int govc_mount_source(const char *mnt, char *out, size_t len)
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

/*
 * mount_is_dead - is PATH a FUSE mount whose daemon is gone?  A plain
 * stat() may be answered from the attributes the kernel cached; a forced
 * one asks the daemon, and a dead connection answers ENOTCONN.
 */
static int mount_is_dead(const char *path)
{
	struct statx stx;

	return statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC, STATX_TYPE, &stx) < 0 &&
	       errno == ENOTCONN;
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
	if (mount_is_dead(argv[optind + 1]))
		return govc_fail("mount: '%s' is a dead mount (its daemon is gone: %s); "
				 "clear it with: fusermount3 -u %s (or umount -l %s)",
				 argv[optind + 1], strerror(ENOTCONN), argv[optind + 1],
				 argv[optind + 1]);
	if (!realpath(argv[optind + 1], mnt_abs) || stat(mnt_abs, &st) || !S_ISDIR(st.st_mode))
		return govc_fail("mount: mount point '%s' is not a directory", argv[optind + 1]);
	if (govc_mount_source(mnt_abs, msg, sizeof(msg)) == 0)
		return govc_fail("mount: '%s' is already a govc mount (of store '%s'); "
				 "unmount it first with: govc umount %s",
				 mnt_abs, msg, mnt_abs);
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
	if (o.foreground)
		return fs_run(&o);
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

/*
 * resolve_mountpoint - the absolute path of mount point ARG, also when the
 * mount is dead (its root answers ENOTCONN): then the parent is resolved
 * and the last component kept.  Returns 0, or -1 with errno set.
 */
static int resolve_mountpoint(const char *arg, char *out, size_t len)
{
	char copy[PATH_MAX], parent[PATH_MAX], *slash;
	const char *base;

	if (realpath(arg, out))
		return 0;
	if (errno != ENOTCONN || snprintf(copy, sizeof(copy), "%s", arg) >= (int)sizeof(copy))
		return -1;
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	slash = strrchr(copy, '/');
	base = slash ? slash + 1 : copy;
	if (slash)
		*slash = '\0';
	if (!realpath(slash ? (copy[0] ? copy : "/") : ".", parent))
		return -1;
	if (snprintf(out, len, "%s/%s", strcmp(parent, "/") ? parent : "", base) >= (int)len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static const char umount_usage[] =
	"usage: govc umount [-f|--force] MOUNTPOINT\n"
	"\n"
	"Commit what is pending, unmount, and wait for the store's daemon that\n"
	"served MOUNTPOINT to exit.  A dead mount (its daemon gone) is cleared.\n"
	"If a commit failed (a full disk, say) umount refuses, naming the\n"
	"repositories and why, and exits 1: nothing is lost (the changes are in\n"
	"the working tree) but they are not in the history yet.\n"
	"  -f, --force   unmount anyway; the next mount commits the changes\n";

static int print_failure(const char *repo, const char *branch, const char *why, void *arg)
{
	++*(int *)arg;
	fprintf(stderr, "govc: repos/%s (branch %s): the last commit failed: %s\n", repo, branch,
		why);
	return 0;
}

/* uncommitted - does STORE record commits that failed?  (printed) */
static int uncommitted(const char *store)
{
	struct store *s;
	int n = 0;

	if (store_open(&s, store, STORE_RDONLY))
		return 0;	/* cannot tell: the daemon's log will */
	store_commit_failures(s, print_failure, &n);
	store_free(s);
	return n;
}

int cmd_umount(int argc, char **argv)
{
	char mnt[PATH_MAX], store[PATH_MAX], held_at[PATH_MAX];
	pid_t pid = 0, child;
	int status, own, force = 0;

	if (govc_wants_help(argc, argv)) {
		fputs(umount_usage, stdout);
		return 0;
	}
	if (argc == 3 && (!strcmp(argv[1], "-f") || !strcmp(argv[1], "--force"))) {
		force = 1;
		argv++;
		argc--;
	} else if (argc == 3 && (!strcmp(argv[2], "-f") || !strcmp(argv[2], "--force"))) {
		force = 1;
		argc--;
	}
	if (argc != 2) {
		fputs(umount_usage, stderr);
		return 2;
	}
	if (resolve_mountpoint(argv[1], mnt, sizeof(mnt)))
		return govc_fail("umount: '%s': %s", argv[1], strerror(errno));
	if (govc_mount_source(mnt, store, sizeof(store)))
		return govc_fail("umount: '%s' is not a govc mount", mnt);
	if (!force && uncommitted(store))
		return govc_fail("umount: not unmounting '%s': the changes above are not committed; "
				 "make room (govc du, govc gc, govc compact, or delete files) and retry, "
				 "or unmount anyway with --force (the changes stay in the working tree and "
				 "are committed at the next mount)",
				 mnt);
	/* our daemon is the one holding the store's lock for this mount
	 * point; none does when the mount is dead */
	own = store_mount_holder(store, &pid, held_at, sizeof(held_at)) == 1 &&
	      !strcmp(held_at, mnt) && pid > 0;
	child = fork();
	if (child == 0) {
		execlp("fusermount3", "fusermount3", "-u", mnt, (char *)NULL);
		_exit(127);
	}
	if (child < 0 || waitpid(child, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return govc_fail("umount: cannot unmount '%s' (files still open? see fusermount3 -u)",
				 mnt);
	/* the daemon commits what is pending, then exits and drops the lock */
	for (int i = 0; own && i < UMOUNT_WAIT_S * 20; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		pid_t now = 0;
		if (store_mount_holder(store, &now, held_at, sizeof(held_at)) != 1 || now != pid)
			return 0;
		nanosleep(&ts, NULL);
	}
	if (own)
		return govc_fail("umount: the daemon (pid %ld) did not exit; see %s/daemon.log",
				 (long)pid, store);
	return 0;
}
