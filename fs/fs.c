/*
 * fs.c - the daemon's life: open the store, mount, serve with libfuse's
 * multi-threaded loop, group changes into commits on a committer thread,
 * and on unmount commit what is pending.
 *
 * Grouping: a change is committed once the working trees have been quiet
 * for commit_delay_ms, or at the latest commit_max_ms after the first
 * uncommitted change, so a burst (cp -r) becomes a few commits and a lone
 * change lands within about a second.  fsync() commits at once.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs/fs_int.h"
#include "store/commit.h"
#include "store/inuse.h"
#include "store/worktree.h"
#include "util/array.h"

#define COMMIT_RETRY_NS (2LL * 1000000000)

int fs_parse_option(struct fs_options *o, const char *opt)
{
	char *end;
	unsigned long v;

	if (!strcmp(opt, "writeback")) {
		o->writeback = 1;
		return 1;
	}
	if (!strcmp(opt, "no_writeback")) {
		o->writeback = 0;
		return 1;
	}
	if (!strcmp(opt, "builds") || !strcmp(opt, "no_builds")) {
		o->no_builds = opt[0] == 'n';
		return 1;
	}
	if (!strncmp(opt, "commit_delay=", 13) || !strncmp(opt, "commit_max=", 11)) {
		const char *val = strchr(opt, '=') + 1;
		errno = 0;
		v = strtoul(val, &end, 10);
		if (errno || *end || end == val || v > 3600000)
			return -1;
		if (opt[7] == 'd')
			o->commit_delay_ms = (unsigned)v;
		else
			o->commit_max_ms = (unsigned)v;
		return 1;
	}
	if (!strncmp(opt, "events_max_kb=", 14) || !strncmp(opt, "events_max_days=", 16)) {
		const char *val = strchr(opt, '=') + 1;
		errno = 0;
		v = strtoul(val, &end, 10);
		if (errno || *end || end == val || v == 0 || v > (1ul << 30))
			return -1;
		if (opt[11] == 'k')
			o->events_max_kb = v;
		else
			o->events_max_days = v;
		return 1;
	}
	if (!strncmp(opt, "readahead=", 10)) {
		errno = 0;
		v = strtoul(opt + 10, &end, 10);
		if (errno || *end || end == opt + 10 || v > 1024 * 1024)
			return -1;
		o->readahead_kb = (unsigned)v;
		return 1;
	}
	return 0;
}

void fs_changed(struct fs *fs)
{
	int64_t now = store_now_ns();

	pthread_mutex_lock(&fs->lock);
	fs->last_change_ns = now;
	if (!fs->first_change_ns) {
		fs->first_change_ns = now;
		pthread_cond_signal(&fs->wake);
	}
	pthread_mutex_unlock(&fs->lock);
}

struct wt_ref {
	char repo[128], branch[256];
};

static int collect_dirty(const char *repo, const char *branch, uint64_t root, void *arg)
{
	struct wt_ref *r = UTIL_ARRAY_PUSH((struct util_array *)arg, struct wt_ref);

	(void)root;
	if (!r)
		return -ENOMEM;
	snprintf(r->repo, sizeof(r->repo), "%s", repo);
	snprintf(r->branch, sizeof(r->branch), "%s", branch);
	return 0;
}

int fs_commit_all(struct fs *fs)
{
	struct util_array l = UTIL_ARRAY_INIT(struct wt_ref);
	struct store_txn *t;
	int rc, first_err = 0;

	pthread_mutex_lock(&fs->commit_lock);
	rc = store_txn_begin(&t, fs->store, 0);
	if (rc == 0) {
		rc = store_wt_foreach(t, 1, collect_dirty, &l);
		store_txn_abort(t);
	}
	for (size_t i = 0; rc == 0 && i < util_array_len(&l); i++) {
		const struct wt_ref *w = UTIL_ARRAY_AT(&l, struct wt_ref, i);
		git_oid id;
		int crc = store_wt_commit(fs->store, w->repo, w->branch, &id);
		if (crc) {
			char why[1024];

			snprintf(why, sizeof(why), "%s", store_errmsg());
			fprintf(stderr, "govc: commit of '%s' (%s) failed: %s; the changes stay in the working tree, retrying\n",
				w->repo, w->branch, why);
			/* an event and a record umount checks (best effort) */
			if (store_commit_failed(fs->store, w->repo, w->branch, why))
				fprintf(stderr, "govc: cannot record the failure either: %s\n",
					store_errmsg());
			if (!first_err)
				first_err = crc;
		} else {
			int ok = store_commit_ok(fs->store, w->repo, w->branch);
			if (ok == 1)
				fprintf(stderr, "govc: commit of '%s' (%s) went through after failing\n",
					w->repo, w->branch);
			else if (ok < 0)
				fprintf(stderr, "govc: '%s' committed, but its old failure record stays: %s\n",
					w->repo, store_errmsg());
		}
	}
	pthread_mutex_unlock(&fs->commit_lock);
	if (util_array_len(&l))
		fs_watch_kick(fs);	/* commits/<repo>/ lists the new commit now */
	util_array_release(&l);
	return rc ? rc : first_err;
}

static void *committer(void *arg)
{
	struct fs *fs = arg;

	pthread_mutex_lock(&fs->lock);
	while (!fs->stopping) {
		int64_t now = store_now_ns(), due;
		struct timespec ts;

		if (!fs->first_change_ns) {
			pthread_cond_wait(&fs->wake, &fs->lock);
			continue;
		}
		due = fs->last_change_ns + (int64_t)fs->opt.commit_delay_ms * 1000000;
		if (due > fs->first_change_ns + (int64_t)fs->opt.commit_max_ms * 1000000)
			due = fs->first_change_ns + (int64_t)fs->opt.commit_max_ms * 1000000;
		if (now < due) {
			ts.tv_sec = (time_t)(due / 1000000000);
			ts.tv_nsec = (long)(due % 1000000000);
			pthread_cond_timedwait(&fs->wake, &fs->lock, &ts);
			continue;
		}
		/* changes from now on belong to the next commit */
		fs->first_change_ns = 0;
		pthread_mutex_unlock(&fs->lock);
		if (fs_commit_all(fs)) {
			/* e.g. the disk is full: keep the changes, retry later */
			pthread_mutex_lock(&fs->lock);
			if (!fs->first_change_ns)
				fs->first_change_ns = store_now_ns() + COMMIT_RETRY_NS;
			fs->last_change_ns = store_now_ns() + COMMIT_RETRY_NS;
			continue;
		}
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

static void report(int fd, const char *msg)
{
	char line[1300];
	int n = snprintf(line, sizeof(line), "%s\n", msg);

	/* one write: the parent reads one message */
	if (fd >= 0 && write(fd, line, (size_t)n) < 0)
		return;
}

/*
 * LMDB trusts its pages: bytes overwritten inside one can send a read
 * anywhere.  The daemon reads the whole dirty state of the store before it
 * mounts (startup_recovery); a fault there is reported as damage, as govc
 * fsck reports it, not as a crash.  Nothing is mounted yet.
 */
static char fault_msg[1400];
static size_t fault_len;
static int fault_fd = -1;
static struct sigaction old_segv, old_bus;

static void startup_fault(int sig)
{
	(void)sig;
	if (fault_fd >= 0)
		(void)!write(fault_fd, fault_msg, fault_len);
	(void)!write(2, fault_msg, fault_len);
	_exit(1);
}

static void catch_faults(const char *store_dir, int ready_fd)
{
	static char altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa = { .sa_handler = startup_fault, .sa_flags = SA_ONSTACK };
	int n = snprintf(fault_msg, sizeof(fault_msg),
			 "store '%s' is damaged: reading it faulted; run govc fsck on it, and "
			 "restore it from a backup or export what still reads\n",
			 store_dir);

	fault_len = n < (int)sizeof(fault_msg) ? (size_t)n : sizeof(fault_msg) - 1;
	fault_fd = ready_fd;
	sigemptyset(&sa.sa_mask);
	sigaltstack(&ss, NULL);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
}

static void release_faults(void)
{
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
}

static int startup_recovery(struct fs *fs)
{
	struct store_txn *t;
	struct util_array l = UTIL_ARRAY_INIT(struct wt_ref);
	int rc = store_txn_begin(&t, fs->store, STORE_TXN_WRITE);

	if (rc)
		return rc;
	rc = store_wt_purge_orphans(t);
	if (rc == 0 && (fs->opt.events_max_kb || fs->opt.events_max_days))
		rc = store_events_set_limits(t, (uint64_t)fs->opt.events_max_kb << 10,
					     (uint64_t)fs->opt.events_max_days * 86400);
	if (rc == 0)
		rc = store_wt_foreach(t, 1, collect_dirty, &l);
	rc = rc ? (store_txn_abort(t), rc) : store_txn_commit(t);
	if (rc == 0 && util_array_len(&l))
		fs_changed(fs);	/* changes a killed daemon had not committed */
	util_array_release(&l);
	return rc;
}

/* has_opt - is NAME one of the comma-separated options in OPTS? */
static int has_opt(const char *opts, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

/* root_only - can nobody but root reach the mount (see fs->root_only)? */
static int root_only(const struct fs_options *o)
{
	return geteuid() == 0 && !has_opt(o->fuse_opts, "allow_other") &&
	       !has_opt(o->fuse_opts, "allow_root") &&
	       !has_opt(o->fuse_opts, "default_permissions");
}

static int build_args(struct fuse_args *args, const struct fs_options *o, int kernel_checks)
{
	char opts[4096];
	/*
	 * Setuid bits and device nodes: an image's rootfs run by root needs
	 * them, so a mount only root reaches honours them.  A mount others
	 * reach (allow_other) must not let any user run an image's
	 * setuid-root programs or open its devices: there it is nosuid,nodev
	 * unless the user's own -o suid or -o dev, which come later and so
	 * win in libfuse's option parsing, says otherwise.
	 */
	const char *suid = "";
	int n;

	if (has_opt(o->fuse_opts, "allow_other"))
		suid = ",nosuid,nodev";
	else if (geteuid() == 0)
		suid = ",suid,dev";
	n = snprintf(opts, sizeof(opts), "fsname=%s,subtype=govc%s%s%s%s", o->store_dir,
		     kernel_checks ? ",default_permissions" : "", suid,
		     o->fuse_opts && *o->fuse_opts ? "," : "", o->fuse_opts ? o->fuse_opts : "");

	if (n >= (int)sizeof(opts))
		return -E2BIG;
	if (fuse_opt_add_arg(args, "govc") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, opts))
		return -ENOMEM;
	return 0;
}

/*
 * set_readahead - raise the mount's read-ahead to O->readahead_kb.  The
 * kernel offers FUSE its default (128 KiB) at INIT and only lets the answer
 * lower it, so this writes the mount's bdi in sysfs once INIT is done.
 * Needs root; otherwise the kernel's stays, which is only slower.
 */
static void set_readahead(const struct fs_options *o)
{
	char path[64], val[16];
	struct stat st;
	int fd, n;

	if (!o->readahead_kb || stat(o->mountpoint, &st) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	n = snprintf(val, sizeof(val), "%u\n", o->readahead_kb);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, (size_t)n) != n)
		fprintf(stderr, "govc: cannot set read-ahead in '%s': %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/*
 * prime - open a regular file of the mount once, so that the kernel meets
 * OPEN's ENOSYS (fs->no_open) before anything else opens or creates a file,
 * then tell `govc mount` the mount is ready.  Runs beside the loop that
 * answers it.
 */
static void *prime(void *arg)
{
	const struct fs_options *o = arg;
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/events", o->mountpoint) < (int)sizeof(path) &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
		close(fd);
	set_readahead(o);
	report(o->ready_fd, "ok");
	return NULL;
}

int fs_run(const struct fs_options *o)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop = NULL;
	struct fs fs = { .opt = *o };
	struct store_mount_lock *lock = NULL;
	char msg[1200];
	int rc, status = 1, mounted = 0, committer_started = 0, watcher_started = 0;

	pthread_mutex_init(&fs.lock, NULL);
	pthread_mutex_init(&fs.commit_lock, NULL);
	pthread_cond_init(&fs.wake, NULL);
	pthread_cond_init(&fs.watch_wake, NULL);
	fs.uid = getuid();
	fs.gid = getgid();
	fs.started = time(NULL);
	/* one daemon per store: two would serve views that disagree */
	rc = store_mount_lock_take(&lock, o->store_dir, o->mountpoint);
	if (rc) {
		snprintf(msg, sizeof(msg), "%s", store_errmsg());
		report(o->ready_fd, msg);
		goto out;
	}
	catch_faults(o->store_dir, o->ready_fd);
	rc = store_open(&fs.store, o->store_dir, 0);
	if (rc) {
		release_faults();
		snprintf(msg, sizeof(msg), "cannot open store: %s", store_errmsg());
		report(o->ready_fd, msg);
		goto out;
	}
	rc = fs_nodes_init(&fs);
	if (rc == 0)
		rc = store_images_new(&fs.images);
	if (rc == 0)	/* checkpoints in a thread of their own, for the
			 * store's life (store_free stops it) */
		store_checkpointer_hold(fs.store);
	if (rc == 0) {
		char what[4200];
		snprintf(what, sizeof(what), "the mount at %s", o->mountpoint);
		rc = store_ingest_begin(&fs.inuse, fs.store, what);
	}
	if (rc == 0)
		rc = startup_recovery(&fs);
	release_faults();
	if (rc) {
		snprintf(msg, sizeof(msg), "cannot start: store '%s': %s", o->store_dir,
			 store_errmsg());
		report(o->ready_fd, msg);
		goto out;
	}
	fs.root_only = root_only(o);
	if (build_args(&args, o, !fs.root_only)) {
		report(o->ready_fd, "mount options too long");
		goto out;
	}
	fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se) {
		report(o->ready_fd, "bad mount options (see the daemon log)");
		goto out;
	}
	if (fuse_set_signal_handlers(fs.se) || fuse_session_mount(fs.se, o->mountpoint)) {
		snprintf(msg, sizeof(msg), "cannot mount at '%s' (is it an empty directory, and is /dev/fuse usable?)",
			 o->mountpoint);
		report(o->ready_fd, msg);
		goto out;
	}
	mounted = 1;
	fs.mountpoint = o->mountpoint;	/* its device: the watcher's to find */
	if (pthread_create(&fs.committer, NULL, committer, &fs) != 0) {
		report(o->ready_fd, "cannot start the committer thread");
		goto out;
	}
	committer_started = 1;
	if (fs_builds_start(&fs) != 0) {
		report(o->ready_fd, "out of memory");
		goto out;
	}
	if (fs_watch_start(&fs) != 0) {
		report(o->ready_fd, "cannot start the watcher thread");
		goto out;
	}
	watcher_started = 1;
	loop = fuse_loop_cfg_create();
	if (!loop) {
		report(o->ready_fd, "out of memory");
		goto out;
	}
	fuse_loop_cfg_set_clone_fd(loop, 0);
	fuse_loop_cfg_set_max_threads(loop, 16);
	fuse_loop_cfg_set_idle_threads(loop, 8);
	{
		/* prime reports "ok" once the kernel knows OPEN is not served */
		pthread_t t;
		if (pthread_create(&t, NULL, prime, (void *)o) == 0)
			pthread_detach(t);
		else
			report(o->ready_fd, "ok");
	}
	rc = fuse_session_loop_mt(fs.se, loop);
	status = rc < 0 ? 1 : 0;
out:
	if (watcher_started)
		fs_watch_stop(&fs);
	fs_builds_stop(&fs);
	store_ingest_abort(fs.inuse);	/* its pins go: nothing is held now */
	fs.inuse = NULL;
	free(fs.real_mountpoint);
	if (committer_started) {
		pthread_mutex_lock(&fs.lock);
		fs.stopping = 1;
		pthread_cond_signal(&fs.wake);
		pthread_mutex_unlock(&fs.lock);
		pthread_join(fs.committer, NULL);
	}
	if (fs.store && mounted) {
		/* commit what is pending before we go */
		if (fs_commit_all(&fs))
			status = 1;
	}
	if (fs.se) {
		if (mounted)
			fuse_session_unmount(fs.se);
		fuse_remove_signal_handlers(fs.se);
		fuse_session_destroy(fs.se);
	}
	if (loop)
		fuse_loop_cfg_destroy(loop);
	fuse_opt_free_args(&args);
	fs_listings_free(&fs);
	fs_texts_free(&fs);
	fs_nodes_free(&fs);
	fs_images_free(&fs);
	store_free(fs.store);
	store_mount_lock_free(lock);
	pthread_cond_destroy(&fs.wake);
	pthread_cond_destroy(&fs.watch_wake);
	pthread_mutex_destroy(&fs.commit_lock);
	pthread_mutex_destroy(&fs.lock);
	return status;
}
