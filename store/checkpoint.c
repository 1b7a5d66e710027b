/*
 * checkpoint.c - power-loss integrity for an LMDB environment run with
 * MDB_NOSYNC (docs/architecture.md, "Durability").
 *
 * Under MDB_NOSYNC a commit writes its pages and then its meta page to the
 * page cache, and the disk may receive them in any order: after a power
 * loss the newest meta page may point at pages that never reached it.  A
 * checkpoint is a state known to be whole on disk: with the writer lock
 * held for a moment, the state is named (its txnid and two meta pages
 * copied, a read transaction begun on that very snapshot); then, with the
 * lock released, the data file is synced and the meta pages go, with the
 * boot id, into STORE/checkpoint (a temporary file, fsync'd, renamed, the
 * directory fsync'd).  The read transaction is held until the next
 * checkpoint, so LMDB reuses none of the snapshot's pages, in this process
 * or any other (the reader table is shared): writers that run during the
 * sync write other pages, and never wait for the disk.  Every writing process
 * checkpoints when it opens the store (before its first write), at least
 * once a second while it writes (store_checkpoint_due), on store_sync (so
 * an fsync'd change is in a checkpoint), and when it closes the store.
 * A process that sees another's newer checkpoint while idle drops its own
 * snapshot (store_checkpoint_due), which would only keep the pages freed
 * since from reuse, and takes a new checkpoint before its next write
 * (store_checkpoint_before_write); one that writes keeps it until its own
 * next checkpoint, taken soon (an older snapshot protects every newer
 * one's pages).
 * So the newest checkpoint's pages are never written over, even once the
 * process that took it has gone.
 *
 * Recovery: a store opened with a checkpoint from another boot (the machine
 * restarted since) gets the checkpoint's meta pages written back before
 * LMDB opens it.  After a clean shutdown the checkpoint holds the newest
 * state and this changes nothing; after a power loss the store opens at
 * the last checkpoint, whose pages are whole and untouched.
 *
 * File: "GOVCCKP1", boot id (40 bytes, NUL-padded), u32 page size, u32
 * pad, u64 txnid, the two meta pages, sha256 of all that.
 *
 * Threads: store_checkpoint takes s->ckpt_lock (a leaf lock) and, for a
 * moment, the writer lock; callers hold no write transaction.  A writer
 * tests for a checkpoint (store_checkpoint_before_write) without taking
 * ckpt_lock, so it never waits for a sync.  store_checkpointer_hold runs
 * store_checkpoint_due in a thread of its own (s->bg_lock, taken before
 * ckpt_lock) while long work writes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "store/store_int.h"
#include "util/file.h"

#define CKPT_MAGIC "GOVCCKP1"
#define CKPT_FILE "checkpoint"
#define CKPT_BOOT 40
#define CKPT_PAGE_MAX 65536
#define CKPT_EVERY_MS 1000
#define CKPT_NEWER_MS 250	/* after another process's: see _due */
#define CKPT_TICK_MS 100	/* the checkpointer thread looks this often */

struct ckpt_head {
	char magic[8];
	char boot[CKPT_BOOT];
	uint32_t psize;
	uint32_t pad;
	uint64_t txnid;
};

/* boot_id - this boot's id (GOVC_BOOT_ID overrides it, for tests) */
static void boot_id(char out[CKPT_BOOT])
{
	const char *env = getenv("GOVC_BOOT_ID");
	FILE *f;

	memset(out, 0, CKPT_BOOT);
	if (env && *env) {
		snprintf(out, CKPT_BOOT, "%s", env);
		return;
	}
	f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f) {
		if (!fgets(out, CKPT_BOOT, f))
			out[0] = '\0';
		out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

static void digest(unsigned char out[32], const void *p, size_t n)
{
	unsigned int len = 32;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GOVC_CHECKPOINTS=off: plain syncs, no checkpoint (for the crash
 * explorer's test, which shows that the explorer sees the damage then) */
static int disabled(void)
{
	const char *v = getenv("GOVC_CHECKPOINTS");

	return v && !strcmp(v, "off");
}

int store_ckpt_recover(const char *dir)
{
	char path[4200], now[CKPT_BOOT];
	struct ckpt_head h;
	unsigned char *buf = NULL, sum[32];
	size_t len;
	int fd, dfd = -1, rc = 0;

	snprintf(path, sizeof(path), "%s/" CKPT_FILE, dir);
	fd = disabled() ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* none yet: a store from before, or new */
	if (util_pread_all(fd, &h, sizeof(h), 0) || memcmp(h.magic, CKPT_MAGIC, 8) ||
	    h.psize < 512 || h.psize > CKPT_PAGE_MAX)
		goto bad;
	boot_id(now);
	if (!strncmp(now, h.boot, CKPT_BOOT))
		goto out;	/* same boot: the page cache holds the newest state */
	len = sizeof(h) + 2 * (size_t)h.psize;
	buf = malloc(len + 32);
	if (!buf || util_pread_all(fd, buf, len + 32, 0))
		goto bad;
	digest(sum, buf, len);
	if (memcmp(sum, buf + len, 32))
		goto bad;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	dfd = open(path, O_RDWR | O_CLOEXEC);
	if (dfd < 0) {
		rc = store_error(-errno, "store '%s': cannot restore its checkpoint: %s", dir,
				 strerror(errno));
		goto out;
	}
	rc = util_pwrite_all(dfd, buf + sizeof(h), 2 * (size_t)h.psize, 0);
	if (rc == 0 && fsync(dfd))
		rc = -errno;
	if (rc)
		rc = store_error(rc, "store '%s': cannot restore its checkpoint: %s", dir,
				 strerror(-rc));
	goto out;
bad:
	/* a checkpoint half written is never renamed into place: this is
	 * damage; LMDB's own meta pages are the best left */
	fprintf(stderr, "govc: store '%s': its checkpoint is unreadable; opening without it\n", dir);
out:
	if (dfd >= 0)
		close(dfd);
	free(buf);
	close(fd);
	return rc;
}

/* save - the checkpoint file := HEAD and PAGES, durably */
static int save(struct store *s, const struct ckpt_head *h, const unsigned char *pages)
{
	char tmp[4200], path[4200];
	size_t len = sizeof(*h) + 2 * (size_t)h->psize;
	unsigned char *buf = malloc(len + 32);
	int fd, dfd, rc = 0;

	if (!buf)
		return store_error(-ENOMEM, "out of memory");
	memcpy(buf, h, sizeof(*h));
	memcpy(buf + sizeof(*h), pages, 2 * (size_t)h->psize);
	digest(buf + len, buf, len);
	snprintf(tmp, sizeof(tmp), "%s/" CKPT_FILE ".tmp", s->dir);
	snprintf(path, sizeof(path), "%s/" CKPT_FILE, s->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = -errno;
	if (rc == 0)
		rc = util_pwrite_all(fd, buf, len + 32, 0);
	if (rc == 0 && fsync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && rename(tmp, path))
		rc = -errno;
	if (rc == 0 && (dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd))
			rc = -errno;
		close(dfd);
	}
	free(buf);
	return rc ? store_error(rc, "store '%s': cannot write its checkpoint: %s", s->dir,
				strerror(-rc))
		  : 0;
}

int store_checkpoint(struct store *s)
{
	struct ckpt_head h;
	unsigned char *pages = NULL;
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *w = NULL, *r = NULL;
	uint64_t gen;
	int rc;

	if (s->flags & STORE_RDONLY)
		return 0;
	if (disabled()) {
		int mrc = mdb_env_sync(s->env, 1);
		return mrc ? store_mdb_error(mrc, "syncing the store") : 0;
	}
	pthread_mutex_lock(&s->ckpt_lock);
	pages = malloc(CKPT_PAGE_MAX * 2);
	if (!pages) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * The writer lock only while the state is named: its txnid, its meta
	 * pages, and R, a reader of that very snapshot, which keeps its pages
	 * from reuse until the next checkpoint.  Every page of it was written
	 * (to the page cache) before its commit returned, so the sync below,
	 * after the lock is gone, puts it whole on disk; the writers that run
	 * meanwhile write only pages R keeps them off.  Writers never wait
	 * for the disk.
	 */
	store_turnstile_enter(s);	/* bulk writers let it pass */
	rc = mdb_txn_begin(s->env, NULL, 0, &w);	/* the writer lock */
	store_turnstile_leave(s);
	if (rc) {
		rc = store_mdb_error(rc, "checkpoint");
		goto out;
	}
	mdb_env_stat(s->env, &st);
	mdb_env_info(s->env, &info);
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CKPT_MAGIC, 8);
	boot_id(h.boot);
	h.psize = st.ms_psize;
	h.txnid = info.me_last_txnid;
	/* the commits the snapshot holds: one that ends after this is seen
	 * as written since (one counted after its commit is checkpointed
	 * twice, which is harmless) */
	gen = __atomic_load_n(&s->gen_seen, __ATOMIC_RELAXED);
	rc = h.psize > CKPT_PAGE_MAX ? -EINVAL : util_pread_all(s->fd, pages, 2 * (size_t)h.psize, 0);
	if (rc) {
		rc = store_error(rc, "checkpoint: cannot read the meta pages");
		goto out;
	}
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r);
	if (rc) {
		rc = store_mdb_error(rc, "checkpoint");
		goto out;
	}
	mdb_txn_abort(w);
	w = NULL;
	/* the state, on disk; then the file that names it (the previous
	 * checkpoint, and its reader, stay valid until it is replaced) */
	rc = mdb_env_sync(s->env, 1);
	if (rc) {
		rc = store_mdb_error(rc, "syncing the store");
		mdb_txn_abort(r);
		goto out;
	}
	rc = save(s, &h, pages);
	if (rc) {
		/* no checkpoint is better than a stale one: its pages are
		 * no longer kept from reuse by anyone, restoring it after a
		 * power loss could give a damaged store */
		char path[4200];

		snprintf(path, sizeof(path), "%s/" CKPT_FILE, s->dir);
		unlink(path);
		mdb_txn_abort(r);
		goto out;
	}
	if (s->ckpt_reader)
		mdb_txn_abort(s->ckpt_reader);
	__atomic_store_n(&s->ckpt_reader, r, __ATOMIC_RELEASE);
	s->ckpt_txnid = h.txnid;
	s->ckpt_newer = 0;
	s->ckpt_ms = now_ms();
	s->ckpt_gen = gen;
out:
	if (w)
		mdb_txn_abort(w);
	pthread_mutex_unlock(&s->ckpt_lock);
	free(pages);
	return rc;
}

/*
 * newer_elsewhere - has another process checkpointed a newer state than
 * ours?  Then our snapshot only keeps LMDB from reusing pages: the newer
 * checkpoint's pages are what must stay, and that process may be gone.
 * Read only when the file changed.  Call with ckpt_lock held.
 */
static int newer_elsewhere(struct store *s)
{
	char path[4200];
	struct ckpt_head h;
	struct stat st;
	int fd, newer = 0;

	snprintf(path, sizeof(path), "%s/" CKPT_FILE, s->dir);
	if (stat(path, &st) || (st.st_mtim.tv_sec == s->ckpt_mtime.tv_sec &&
				st.st_mtim.tv_nsec == s->ckpt_mtime.tv_nsec))
		return 0;
	s->ckpt_mtime = st.st_mtim;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && util_pread_all(fd, &h, sizeof(h), 0) == 0 && !memcmp(h.magic, CKPT_MAGIC, 8))
		newer = h.txnid > s->ckpt_txnid;
	if (fd >= 0)
		close(fd);
	return newer;
}

int store_checkpoint_due(struct store *s)
{
	int due, written;

	if ((s->flags & STORE_RDONLY) || disabled())
		return 0;
	/* another thread checkpointing now covers what this one wrote, or
	 * the next one does: never wait for its sync */
	if (pthread_mutex_trylock(&s->ckpt_lock))
		return 0;
	/*
	 * Another process's newer checkpoint is the one a power loss falls
	 * back to now, and that process protects it: ours only keeps the
	 * pages freed since from reuse (an idle daemon's snapshot would grow
	 * the file by every image rmi'd and gc'd beside it).  An idle process
	 * drops it, and takes a checkpoint before its next write
	 * (store_checkpoint_before_write).  One that writes replaces it soon
	 * (CKPT_NEWER_MS; the daemon in its checkpointer thread) and keeps it
	 * meanwhile: dropping it would make its next write wait for that
	 * checkpoint's sync of all the other process wrote (400 ms on a
	 * mount beside a pull).  Keeping it is safe: a reader protects the
	 * pages of every newer snapshot too.
	 */
	written = __atomic_load_n(&s->gen_seen, __ATOMIC_RELAXED) != s->ckpt_gen;
	if (s->ckpt_reader && newer_elsewhere(s)) {
		if (written) {
			s->ckpt_newer = 1;
		} else {
			mdb_txn_abort(s->ckpt_reader);
			__atomic_store_n(&s->ckpt_reader, NULL, __ATOMIC_RELEASE);
		}
	}
	due = s->ckpt_reader && written &&
	      now_ms() - s->ckpt_ms >= (s->ckpt_newer ? CKPT_NEWER_MS : CKPT_EVERY_MS);
	pthread_mutex_unlock(&s->ckpt_lock);
	return due ? store_checkpoint(s) : 0;
}

int store_checkpoint_before_write(struct store *s)
{
	int none;

	if ((s->flags & STORE_RDONLY) || disabled())
		return 0;
	/* the common case, without waiting for a checkpoint's sync to end */
	if (__atomic_load_n(&s->ckpt_reader, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&s->ckpt_lock);
	/* after a failure (a full disk) the old checkpoint is gone, so a
	 * write is no less safe than without checkpoints: retry once a
	 * second, not before every write */
	none = !s->ckpt_reader && now_ms() - s->ckpt_failed_ms >= CKPT_EVERY_MS;
	pthread_mutex_unlock(&s->ckpt_lock);
	if (none && store_checkpoint(s)) {
		pthread_mutex_lock(&s->ckpt_lock);
		s->ckpt_failed_ms = now_ms();
		pthread_mutex_unlock(&s->ckpt_lock);
		fprintf(stderr, "govc: %s\n", store_errmsg());
		store_error_clear();
	}
	return 0;
}

static void bg_stop(struct store *s);

void store_ckpt_close(struct store *s)
{
	bg_stop(s);	/* a session left open: its thread goes before the store */
	if (!(s->flags & STORE_RDONLY) && s->env)
		store_checkpoint(s);
	if (s->ckpt_reader)
		mdb_txn_abort(s->ckpt_reader);
	__atomic_store_n(&s->ckpt_reader, NULL, __ATOMIC_RELEASE);
}

/* checkpointer - store_checkpointer_hold's thread: store_checkpoint_due
 * every CKPT_TICK_MS until it is told to stop (bg_running cleared); the
 * last writes become a checkpoint within a second even when no further
 * write comes to trigger it */
static void *checkpointer(void *arg)
{
	struct store *s = arg;
	int failing = 0;

	pthread_mutex_lock(&s->bg_lock);
	while (s->bg_running) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += CKPT_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->bg_cond, &s->bg_lock, &ts);
		if (!s->bg_running)
			break;
		pthread_mutex_unlock(&s->bg_lock);
		if (store_checkpoint_due(s)) {
			/* said once (the daemon's log); the next tick retries */
			if (!failing)
				fprintf(stderr, "govc: checkpoint: %s\n", store_errmsg());
			failing = 1;
			store_error_clear();
		} else {
			failing = 0;
		}
		pthread_mutex_lock(&s->bg_lock);
	}
	pthread_mutex_unlock(&s->bg_lock);
	return NULL;
}

/* bg_start - start the thread (bg_lock held); commits stop checkpointing */
static void bg_start(struct store *s)
{
	__atomic_store_n(&s->bg_running, 1, __ATOMIC_RELAXED);
	if (pthread_create(&s->bg_thread, NULL, checkpointer, s))
		__atomic_store_n(&s->bg_running, 0, __ATOMIC_RELAXED);
}

/* bg_stopped - tell the thread to stop (bg_lock held); 1 if it ran, and
 * the caller is to join it */
static int bg_stopped(struct store *s)
{
	int ran = s->bg_running;

	__atomic_store_n(&s->bg_running, 0, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&s->bg_cond);
	return ran;
}

void store_checkpointer_hold(struct store *s)
{
	if ((s->flags & STORE_RDONLY) || disabled())
		return;
	pthread_mutex_lock(&s->bg_lock);
	/* (while a release joins the thread, that release restarts it) */
	if (s->bg_holds++ == 0 && !s->bg_running && !s->bg_joining)
		bg_start(s);
	pthread_mutex_unlock(&s->bg_lock);
}

/* bg_stop - stop the thread whatever the holds (the store is closing) */
static void bg_stop(struct store *s)
{
	int join;

	pthread_mutex_lock(&s->bg_lock);
	s->bg_holds = 0;
	join = bg_stopped(s);
	pthread_mutex_unlock(&s->bg_lock);
	if (join)
		pthread_join(s->bg_thread, NULL);
}

void store_checkpointer_release(struct store *s)
{
	int join;

	if ((s->flags & STORE_RDONLY) || disabled())
		return;
	pthread_mutex_lock(&s->bg_lock);
	join = s->bg_holds && --s->bg_holds == 0 && bg_stopped(s);
	if (join)
		s->bg_joining = 1;
	pthread_mutex_unlock(&s->bg_lock);
	if (!join)
		return;
	pthread_join(s->bg_thread, NULL);
	pthread_mutex_lock(&s->bg_lock);
	s->bg_joining = 0;
	if (s->bg_holds && !s->bg_running)
		bg_start(s);	/* held again meanwhile */
	pthread_mutex_unlock(&s->bg_lock);
}
