/*
 * builds.c - the daemon's build queue: a commit that changes what a build
 * of its repository would read queues a build of that commit, and builds
 * run one at a time per repository, each in a process of its own
 * (docs/architecture.md, "Builds").
 *
 * Trigger.  The watcher thread (watch.c) sees every "commit" event, the
 * daemon's own and other processes', and asks fs_builds_commit.  A commit
 * of repository R triggers when R has a Govcfile (else a Dockerfile) at
 * that commit and one of the paths the commit changed (store_tree_diff
 * against its first parent) is that file, an ignore file,
 * or a path its COPY, ADD or RUN --mount=type=bind reads from the context
 * and the ignore file keeps (builder/context.h).
 *
 * Queue.  A triggering commit of (repo, branch) takes the place of the
 * queued build of the same (repo, branch) if there is one (its record
 * then names the new commit), else gets a new record (bld_record_create,
 * status "queued"); either raises {"type":"build","action":"queued"}.  A
 * queued build starts once its (repo, branch) has had no triggering commit
 * for BUILDS_SETTLE_NS (BUILDS_SETTLE_MAX_NS at most) and no build of its
 * repository runs: a burst of commits becomes one build.  It runs as
 * `govc build STORE REPO --commit ID --record N -q`, spawned with
 * posix_spawn (the daemon has threads: nothing but exec runs in the
 * child), in a process group of its own with default signals, stdin and
 * stdout on /dev/null and stderr to the daemon's log; the build itself
 * writes its record and raises its "started", and "succeeded" or "failed"
 * events.  The watcher reaps it (waitpid, WNOHANG, every 100 ms: no
 * SIGCHLD handler) and, if it ended without a final status, marks its
 * record failed and raises "failed".
 *
 * So builds never run on a FUSE request's thread or the committer's, and
 * never hold the store's writer lock longer than their own short
 * transactions.  On unmount, queued builds are marked failed ("not
 * started") and running ones go on in their own processes; at start,
 * records still "queued" from an earlier daemon are marked failed too.
 *
 * Threads: struct fs_builds belongs to the watcher thread (fs_builds_start
 * before it starts, fs_builds_stop after it ended): no lock.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>

#include "builder/build.h"
#include "builder/context.h"
#include "builder/govcfile.h"
#include "builder/record.h"
#include "fs/fs_int.h"
#include "store/commit.h"
#include "store/git.h"
#include "store/object.h"
#include "store/repo.h"
#include "util/array.h"
#include "util/ignore.h"
#include "util/limits.h"

extern char **environ;

/* a burst: triggering commits of a (repo, branch) less than this apart;
 * a queued build waits at most BUILDS_SETTLE_MAX_NS for one to end */
#define BUILDS_SETTLE_NS (1000LL * 1000000)
#define BUILDS_SETTLE_MAX_NS (10000LL * 1000000)

struct build_job {
	char repo[STORE_REPO_NAME_MAX + 1];
	char branch[STORE_REF_NAME_MAX + 1];
	char commit[STORE_OID_HEX + 1];
	unsigned n;		/* its record */
	pid_t pid;		/* running: its process; 0: queued */
	int64_t queued_ns;	/* queued: since when */
	int64_t due_ns;		/* queued: when the burst is over */
};

struct fs_builds {
	struct util_array jobs;	/* struct build_job, oldest first */
};

/* ---- the trigger --------------------------------------------------------- */

/* what a commit's build would read, for on_change */
struct trigger {
	const char *file;	/* "Govcfile", "Dockerfile", or NULL: none */
	struct bld_file *govcfile;	/* NULL if it does not parse */
	struct bld_ignore *ignore;	/* NULL if none */
};

/*
 * read_root_file - the content of file NAME at the root of tree TREE, at
 * most MAX bytes: 0 and *OUT (malloc'd, NUL-terminated) and *LEN;
 * -ENOENT if there is none; -EFBIG if it is longer.
 */
static int read_root_file(struct store_txn *t, const git_oid *tree, const char *name,
			  size_t max, char **out, size_t *len)
{
	struct store_tree_entry e;
	git_object_t type;
	const void *body;
	size_t blen;
	uint64_t size;
	long got;
	int rc = store_object_read(t, tree, NULL, &body, &blen);

	*out = NULL;
	if (rc == 0)
		rc = store_tree_find(body, blen, name, &e);
	if (rc)
		return rc;
	if ((e.mode & 0170000) != 0100000)
		return -ENOENT;	/* a directory or a link is no Govcfile */
	rc = store_object_info(t, e.id, &type, &size);
	if (rc)
		return rc;
	if (size > max)
		return -EFBIG;
	*out = malloc((size_t)size + 1);
	if (!*out)
		return -ENOMEM;
	got = store_object_copy(t, e.id, 0, *out, (size_t)size);
	if (got < 0) {
		free(*out);
		*out = NULL;
		return (int)got;
	}
	(*out)[got] = '\0';
	*len = (size_t)got;
	return 0;
}

/*
 * trigger_load - the Govcfile (else Dockerfile) and the ignore file
 * (FILE.dockerignore, .govcignore or .dockerignore: the first there, as
 * the build reads them) of tree TREE into TR.  A Govcfile that
 * does not parse or is too long is kept as a name only (its change alone
 * triggers: the build will say what is wrong).
 */
static int trigger_load(struct store_txn *t, const git_oid *tree, struct trigger *tr)
{
	static const char *const files[] = { "Govcfile", "Dockerfile" };
	char own[32];
	const char *const ignores[] = { own, ".govcignore", ".dockerignore" };
	struct bld_diag diag;
	char *text = NULL;
	size_t len = 0;
	int rc = -ENOENT;

	for (size_t i = 0; rc == -ENOENT && i < 2; i++) {
		rc = read_root_file(t, tree, files[i], LIMIT_GOVCFILE_BYTES, &text, &len);
		if (rc != -ENOENT)
			tr->file = files[i];
	}
	if (rc == -ENOENT)
		return 0;	/* nothing to build */
	if (rc == 0 && bld_parse(&tr->govcfile, text, len, &diag) == -ENOMEM)
		rc = -ENOMEM;
	free(text);
	if (rc != 0 && rc != -EFBIG)
		return rc;
	rc = -ENOENT;
	snprintf(own, sizeof(own), "%s.dockerignore", tr->file);
	for (size_t i = 0; rc == -ENOENT && i < 3; i++)
		rc = read_root_file(t, tree, ignores[i], UTIL_IGNORE_TEXT_MAX, &text, &len);
	if (rc == 0)
		rc = bld_ignore_compile(&tr->ignore, text, len);
	free(text);
	/* an ignore file too long to read: the build fails on it; count
	 * everything as read meanwhile */
	return rc == -ENOENT || rc == -EFBIG ? 0 : rc;
}

static int on_change(enum store_change c, const char *path, void *arg)
{
	const struct trigger *tr = arg;

	(void)c;
	return bld_context_affects(tr->govcfile, tr->ignore, tr->file, path);
}

/*
 * affects - 1 if commit HEX of REPO changed something its build reads
 * (see the top of this file), 0 if not, or a negative errno.
 */
static int affects(struct fs *fs, const char *repo, const char *hex)
{
	struct trigger tr = { 0 };
	struct store_txn *t;
	git_oid id, tree, parent, old_tree;
	int64_t when;
	int rc = store_txn_begin(&t, fs->store, 0), root;

	if (rc)
		return rc;
	/* the history reads run beside T, in short transactions of their own */
	rc = store_object_prefix(t, hex, strlen(hex), &id);
	if (rc == 0)
		rc = store_commit_read(fs->store, repo, &id, &when, &tree);
	if (rc == 0)
		rc = trigger_load(t, &tree, &tr);
	if (rc == 0 && tr.file) {	/* most commits stop here: no Govcfile */
		root = store_commit_parent(fs->store, repo, &id, &parent);
		rc = root < 0 ? root : 0;
		if (root == 0)
			rc = store_commit_read(fs->store, repo, &parent, &when, &old_tree);
		if (rc == 0)
			rc = store_tree_diff(t, root ? NULL : &old_tree, &tree, on_change, &tr);
	}
	store_txn_abort(t);
	bld_file_free(tr.govcfile);
	bld_ignore_free(tr.ignore);
	return rc;
}

/* ---- records and events --------------------------------------------------- */

/*
 * build_event - the event {"type":"build","action":ACTION,...} of job J
 * (the build raises "started", "succeeded" and "failed" itself: build.c),
 * with KEY: VALUE if KEY is not NULL
 */
static void build_event(struct fs *fs, const char *action, const struct build_job *j,
			const char *key, const char *value)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I}", "type", "build", "action",
			       action, "repo", j->repo, "branch", j->branch, "n", (json_int_t)j->n,
			       "commit", j->commit, "time",
			       (json_int_t)(store_now_ns() / 1000000000));
	struct store_txn *t;
	int rc;

	if (ev && key)
		json_object_set_new(ev, key, json_string(value));
	rc = store_txn_begin(&t, fs->store, STORE_TXN_WRITE);
	if (rc) {
		json_decref(ev);
	} else {
		rc = store_event_raise(t, ev);
		rc = rc ? (store_txn_abort(t), rc) : store_txn_commit(t);
	}
	if (rc)
		fprintf(stderr, "govc: build %s/%u: cannot raise '%s': %s\n", j->repo, j->n, action,
			store_errmsg());
}

/* fail - mark record J failed with WHY, as the build would have */
static void fail(struct fs *fs, const struct build_job *j, const char *why)
{
	fprintf(stderr, "govc: build %s/%u of %s: %s\n", j->repo, j->n, j->commit, why);
	if (bld_record_put(fs->store, j->repo, j->n, BLD_RECORD_ERROR, why, strlen(why)) ||
	    bld_record_put(fs->store, j->repo, j->n, BLD_RECORD_STATUS, "failed", 6))
		fprintf(stderr, "govc: build %s/%u: %s\n", j->repo, j->n, store_errmsg());
	build_event(fs, "failed", j, "error", why);
}

/* ---- the queue ------------------------------------------------------------ */

static struct build_job *job_at(struct fs_builds *b, size_t i)
{
	return UTIL_ARRAY_AT(&b->jobs, struct build_job, i);
}

static void job_remove(struct fs_builds *b, size_t i)
{
	struct build_job *v = b->jobs.v;

	memmove(v + i, v + i + 1, (b->jobs.len - i - 1) * sizeof(*v));
	b->jobs.len--;
}

/* queue - a build of commit HEX of REPO's BRANCH (see the top) */
static int queue(struct fs *fs, const char *repo, const char *branch, const char *hex)
{
	struct fs_builds *b = fs->builds;
	struct build_job *j;
	int rc;

	for (size_t i = 0; i < util_array_len(&b->jobs); i++) {
		j = job_at(b, i);
		if (j->pid || strcmp(j->repo, repo) || strcmp(j->branch, branch))
			continue;
		rc = bld_record_put(fs->store, repo, j->n, BLD_RECORD_COMMIT, hex, strlen(hex));
		if (rc)
			return rc;
		snprintf(j->commit, sizeof(j->commit), "%s", hex);
		j->due_ns = store_now_ns() + BUILDS_SETTLE_NS;
		if (j->due_ns > j->queued_ns + BUILDS_SETTLE_MAX_NS)
			j->due_ns = j->queued_ns + BUILDS_SETTLE_MAX_NS;
		build_event(fs, "queued", j, NULL, NULL);
		return 0;
	}
	j = UTIL_ARRAY_PUSH(&b->jobs, struct build_job);
	if (!j)
		return store_error(-ENOMEM, "out of memory");
	memset(j, 0, sizeof(*j));
	snprintf(j->repo, sizeof(j->repo), "%s", repo);
	snprintf(j->branch, sizeof(j->branch), "%s", branch);
	snprintf(j->commit, sizeof(j->commit), "%s", hex);
	j->queued_ns = store_now_ns();
	j->due_ns = j->queued_ns + BUILDS_SETTLE_NS;
	rc = bld_record_create(fs->store, repo, hex, &j->n);
	if (rc) {
		b->jobs.len--;
		return rc;
	}
	build_event(fs, "queued", j, NULL, NULL);
	return 0;
}

void fs_builds_commit(struct fs *fs, const char *repo, const char *branch, const char *id)
{
	int rc;

	if (!fs->builds || fs->opt.no_builds || strlen(id) != STORE_OID_HEX ||
	    store_repo_name_check(repo) ||
	    strlen(branch) > STORE_REF_NAME_MAX)
		return;
	rc = affects(fs, repo, id);
	if (rc == 1)
		rc = queue(fs, repo, branch, id);
	if (rc < 0)
		fprintf(stderr, "govc: no build for commit %s of '%s': %s\n", id, repo,
			store_errmsg());
}

/*
 * spawn - start job J: `govc build STORE REPO --commit ID --record N -q`
 * from the daemon's own executable, with nothing of the daemon but
 * stderr (its log): every other descriptor closed, signals as a fresh
 * program has them, a process group of its own.
 */
static int spawn(struct fs *fs, struct build_job *j)
{
	char n[16];
	char *argv[] = { "govc", "build", (char *)store_dir(fs->store), j->repo, "--commit",
			 j->commit, "--record", n, "-q", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int rc;

	snprintf(n, sizeof(n), "%u", j->n);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
						      POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &all);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (rc == 0)
		rc = posix_spawn(&j->pid, "/proc/self/exe", &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		j->pid = 0;
		return store_error(-rc, "cannot start the build process: %s", strerror(rc));
	}
	fprintf(stderr, "govc: build %s/%u of %s (%s) runs in process %ld\n", j->repo, j->n,
		j->commit, j->branch, (long)j->pid);
	return 0;
}

/* reaped - job J's process ended with wait status ST */
static void reaped(struct fs *fs, const struct build_job *j, int st)
{
	char status[32], why[128];
	int rc = bld_record_get(fs->store, j->repo, j->n, BLD_RECORD_STATUS, status,
				sizeof(status));

	if (rc == 0 && (!strcmp(status, "succeeded") || !strcmp(status, "failed")))
		return;	/* the build said how it ended */
	if (WIFSIGNALED(st))
		snprintf(why, sizeof(why), "the build process was killed by signal %d",
			 WTERMSIG(st));
	else
		snprintf(why, sizeof(why), "the build process exited with status %d before it "
			 "ended the record (the daemon's log may say why)", WEXITSTATUS(st));
	fail(fs, j, why);
}

/* running - 1 if a build of REPO runs */
static int running(struct fs_builds *b, const char *repo)
{
	for (size_t i = 0; i < util_array_len(&b->jobs); i++)
		if (job_at(b, i)->pid && !strcmp(job_at(b, i)->repo, repo))
			return 1;
	return 0;
}

void fs_builds_poll(struct fs *fs)
{
	struct fs_builds *b = fs->builds;
	int64_t now = store_now_ns();

	if (!b)
		return;
	for (size_t i = 0; i < util_array_len(&b->jobs);) {
		struct build_job *j = job_at(b, i);
		int st;
		pid_t got = j->pid ? waitpid(j->pid, &st, WNOHANG) : 0;

		if (got == 0 || (got < 0 && errno == EINTR)) {
			i++;
			continue;
		}
		if (got < 0)	/* not our child any more: nothing to say */
			st = 0;
		reaped(fs, j, st);
		job_remove(b, i);
	}
	/* the oldest queued build of each repository with none running */
	for (size_t i = 0; i < util_array_len(&b->jobs); i++) {
		struct build_job *j = job_at(b, i);

		if (j->pid || j->due_ns > now || running(b, j->repo))
			continue;
		if (spawn(fs, j)) {
			char why[600];

			snprintf(why, sizeof(why), "%s", store_errmsg());
			fail(fs, j, why);
			job_remove(b, i--);
		}
	}
}

/* ---- start and stop -------------------------------------------------------- */

/* mark_stale - records of repository directory REPO still "queued" */
static void mark_stale(struct fs *fs, const char *repo)
{
	char dir[4096];
	struct dirent *e;
	DIR *d;

	if (bld_record_path(fs->store, repo, 0, NULL, dir, sizeof(dir)) || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		struct build_job j = { .n = bld_record_number(e->d_name) };
		char status[32];

		if (!j.n || bld_record_get(fs->store, repo, j.n, BLD_RECORD_STATUS, status,
					   sizeof(status)) || strcmp(status, "queued"))
			continue;
		snprintf(j.repo, sizeof(j.repo), "%.*s", STORE_REPO_NAME_MAX, repo);
		bld_record_get(fs->store, repo, j.n, BLD_RECORD_COMMIT, j.commit, sizeof(j.commit));
		fail(fs, &j, "not started: the daemon stopped before it could start the build");
	}
	closedir(d);
}

int fs_builds_start(struct fs *fs)
{
	char dir[4096];
	struct dirent *e;
	DIR *d;

	fs->builds = calloc(1, sizeof(*fs->builds));
	if (!fs->builds)
		return -ENOMEM;
	util_array_init(&fs->builds->jobs, sizeof(struct build_job));
	if (bld_record_path(fs->store, NULL, 0, NULL, dir, sizeof(dir)) == 0 &&
	    (d = opendir(dir))) {
		while ((e = readdir(d)))
			if (store_repo_name_check(e->d_name) == 0)
				mark_stale(fs, e->d_name);
		closedir(d);
	}
	store_error_clear();
	return 0;
}

void fs_builds_stop(struct fs *fs)
{
	struct fs_builds *b = fs->builds;

	if (!b)
		return;
	for (size_t i = 0; i < util_array_len(&b->jobs); i++) {
		struct build_job *j = job_at(b, i);

		if (j->pid)
			fprintf(stderr, "govc: build %s/%u goes on in process %ld\n", j->repo, j->n,
				(long)j->pid);
		else
			fail(fs, j, "not started: the daemon stopped before it could start the "
				    "build");
	}
	util_array_release(&b->jobs);
	free(b);
	fs->builds = NULL;
}
