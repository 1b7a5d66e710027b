/*
 * ingest.c - sessions of long work written in short transactions, and the
 * pins that keep what they wrote from gc until they publish (ingest.h).
 *
 * A pin is the oci_meta record 'P' be64 session, kind, key -> "": one
 * session's pins are one key range, dropped with a cursor walk.  A session
 * is alive while its process holds an flock on STORE/sessions/<id>; gc
 * tests that lock (it is free once the process is gone, however it died).
 *
 * The writer lock: a session's transaction is committed after
 * INGEST_TXN_MS or INGEST_TXN_BYTES, and the session yields the CPU after
 * each commit, so a writer that was waiting (pthread mutexes are not
 * fair) takes the lock before the session asks for it again.
 *
 * Several sessions in one process (a pull's download threads) take turns
 * through the gate, a mutex that a session holds from the moment it
 * begins a transaction until it has committed it and yielded.  So at most
 * one of a process's sessions waits on LMDB's writer lock at a time, and a
 * writer of another process (the mount) competes with one session, as
 * beside a single import, not with a queue of them.  The gate is a plain
 * mutex, not a queue: a running thread takes it at once, where a first
 * come, first served ticket would idle until a preempted waiter is
 * scheduled (four download threads on two cores).  gate_mu is a leaf
 * lock; a session never waits for the gate while it has a transaction
 * open (one session per thread, one transaction per session).
 *
 * While sessions are open, checkpoints (their syncs) run in a thread of
 * their own (store_checkpointer_hold), never in a commit of a session's,
 * which would hold the gate meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/gc.h"
#include "store/ingest.h"
#include "store/store_int.h"
#include "util/limits.h"

#define PIN_PREFIX 'P'
#define PIN_KEY_MAX (1 + 8 + 1 + 32)
#define UNPIN_BATCH 2048
#define SESSIONS_DIR "sessions"
#define DISK_CHECK_BYTES (64u << 20)	/* statvfs once per this written */
#define INGEST_PAUSE_NS 1000000u	/* store_ingest_pause keeps younger ones */

/* the gate (above): held while a session has a transaction open;
 * gate_waiting counts the sessions blocked on it */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned gate_waiting;	/* atomic */

static void gate_enter(void)
{
	if (pthread_mutex_trylock(&gate_mu) == 0)
		return;
	__atomic_add_fetch(&gate_waiting, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&gate_mu);
	__atomic_sub_fetch(&gate_waiting, 1, __ATOMIC_RELAXED);
}

static void gate_leave(void)
{
	pthread_mutex_unlock(&gate_mu);
}

/* gate_contended - does another session of this process wait for its turn? */
static int gate_contended(void)
{
	return __atomic_load_n(&gate_waiting, __ATOMIC_RELAXED) > 0;
}

struct store_ingest {
	struct store *s;
	uint64_t sid;
	int lockfd;
	struct store_txn *t;		/* the open transaction, or NULL */
	struct timespec opened;
	size_t bytes;
	uint64_t unchecked;		/* bytes written since the disk check */
	char what[200];
};

static uint64_t now_ms(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000 + (uint64_t)ts->tv_nsec / 1000000;
}

static void lock_path(char *buf, size_t len, struct store *s, uint64_t sid)
{
	snprintf(buf, len, "%s/" SESSIONS_DIR "/%llu", store_dir(s), (unsigned long long)sid);
}

/* lock_session - create and lock STORE/sessions/SID, saying WHAT the
 * session is (for messages of other processes); the fd or -errno */
static int lock_session(struct store *s, uint64_t sid, const char *what)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/" SESSIONS_DIR, store_dir(s));
	if (mkdir(path, 0700) && errno != EEXIST)
		return store_error(-errno, "cannot create '%s': %s", path, strerror(errno));
	lock_path(path, sizeof(path), s, sid);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_error(-errno, "cannot create '%s': %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		close(fd);
		return store_error(-e, "cannot lock '%s': %s", path, strerror(e));
	}
	if (ftruncate(fd, 0) == 0 && write(fd, what, strlen(what)) < 0)
		(void)0;	/* only a description: a session runs without it */
	return fd;
}

int store_ingest_begin(struct store_ingest **out, struct store *s, const char *what)
{
	struct store_ingest *in = calloc(1, sizeof(*in));
	struct store_txn *t;
	int rc;

	*out = NULL;
	if (!in)
		return store_error(-ENOMEM, "out of memory");
	in->s = s;
	in->lockfd = -1;
	snprintf(in->what, sizeof(in->what), "%s", what);
	rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
	if (rc == 0) {
		rc = store_next_id(t, "session", &in->sid);
		rc = rc ? (store_txn_abort(t), rc) : store_txn_commit(t);
	}
	if (rc == 0) {
		in->lockfd = lock_session(s, in->sid, in->what);
		if (in->lockfd < 0)
			rc = in->lockfd;
	}
	if (rc) {
		free(in);
		return rc;
	}
	/* syncs in a thread of their own while sessions write (store_int.h) */
	store_checkpointer_hold(s);
	*out = in;
	return 0;
}

struct store *store_ingest_store(struct store_ingest *in)
{
	return in->s;
}

int store_ingest_txn(struct store_ingest *in, struct store_txn **t)
{
	if (!in->t) {
		int rc;

		gate_enter();
		rc = store_txn_begin(&in->t, in->s, STORE_TXN_WRITE | STORE_TXN_BULK);
		if (rc) {
			in->t = NULL;
			gate_leave();
			return rc;
		}
		clock_gettime(CLOCK_MONOTONIC, &in->opened);
		in->bytes = 0;
	}
	*t = in->t;
	return 0;
}

int store_ingest_flush(struct store_ingest *in)
{
	int rc;

	if (!in->t)
		return 0;
	rc = store_txn_commit(in->t);
	in->t = NULL;
	/* let a writer the commit woke take the lock before we (or the next
	 * session of this process) ask again */
	sched_yield();
	gate_leave();
	return rc;
}

int store_ingest_pause(struct store_ingest *in)
{
	struct timespec ts;

	if (!in->t)
		return 0;
	/* a transaction younger than that is cheaper to keep: many small
	 * entries would otherwise cost a commit each */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if ((uint64_t)(ts.tv_sec - in->opened.tv_sec) * 1000000000u + (uint64_t)ts.tv_nsec -
		    (uint64_t)in->opened.tv_nsec < INGEST_PAUSE_NS)
		return 0;
	return gate_contended() ? store_ingest_flush(in) : 0;
}

/* disk_check - refuse to go on when the store's disk is nearly full */
static int disk_check(struct store_ingest *in)
{
	struct statvfs sv;
	uint64_t avail, reserve;

	in->unchecked = 0;
	if (statvfs(store_dir(in->s), &sv))
		return 0;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	reserve = (uint64_t)sv.f_blocks * sv.f_frsize / 100 * LIMIT_DISK_RESERVE_PCT;
	if (reserve < LIMIT_DISK_RESERVE)
		reserve = LIMIT_DISK_RESERVE;
	if (avail >= reserve)
		return 0;
	return store_error(-ENOSPC,
			   "%s: stopped, the disk holding the store has only %llu MB free (the %llu MB kept in reserve); free space, or run govc gc",
			   in->what, (unsigned long long)(avail >> 20),
			   (unsigned long long)(reserve >> 20));
}

int store_ingest_step(struct store_ingest *in, size_t bytes)
{
	struct timespec ts;

	if (!in->t)
		return 0;
	in->bytes += bytes;
	in->unchecked += bytes;
	if (in->unchecked >= DISK_CHECK_BYTES) {
		int rc = disk_check(in);
		if (rc)
			return rc;
		store_map_release(in->s);	/* a resident set that does not grow */
	}
	if (in->bytes >= INGEST_TXN_BYTES)
		return store_ingest_flush(in);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (now_ms(&ts) - now_ms(&in->opened) >= INGEST_TXN_MS)
		return store_ingest_flush(in);
	return 0;
}

static size_t pin_key(unsigned char *key, uint64_t sid, int kind, const void *k, size_t len)
{
	key[0] = PIN_PREFIX;
	store_be64_put(key + 1, sid);
	if (!kind)
		return 9;
	key[9] = (unsigned char)kind;
	memcpy(key + 10, k, len);
	return 10 + len;
}

int store_ingest_pin(struct store_ingest *in, enum store_pin_kind kind, const void *key, size_t len)
{
	unsigned char k[PIN_KEY_MAX];
	struct store_txn *t;
	int rc = store_ingest_txn(in, &t);

	if (len > 32)
		return store_error(-EINVAL, "pin key too long");
	if (rc == 0)	/* a gc running now must keep it */
		rc = store_gc_touch(t, kind, key, len);
	if (rc)
		return rc;
	return store_put(t, TBL_OCI_META, k, pin_key(k, in->sid, kind, key, len), "", 0, 0);
}

int store_ingest_unpin_key(struct store_ingest *in, enum store_pin_kind kind, const void *key,
			   size_t len)
{
	unsigned char k[PIN_KEY_MAX];
	struct store_txn *t = NULL;
	int rc = len > 32 ? store_error(-EINVAL, "pin key too long") : store_ingest_txn(in, &t);

	if (rc == 0)
		rc = store_del(t, TBL_OCI_META, k, pin_key(k, in->sid, kind, key, len));
	return rc == -ENOENT ? 0 : rc;
}

int store_ingest_pin_object(struct store_ingest *in, const git_oid *id)
{
	return store_ingest_pin(in, STORE_PIN_OBJECT, id->id, GIT_OID_RAWSZ);
}

/* unpin_some - delete up to UNPIN_BATCH pins of SID (KIND 0: all) in T;
 * 1 if more may remain, 0 when done, or a negative errno */
static int unpin_some(struct store_txn *t, uint64_t sid, int kind)
{
	unsigned char prefix[PIN_KEY_MAX];
	size_t plen = pin_key(prefix, sid, kind, NULL, 0);
	MDB_cursor *c;
	MDB_val k, v;
	unsigned n = 0;
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_META), &c);

	if (rc)
		return store_mdb_error(rc, "pins");
	k.mv_size = plen;
	k.mv_data = prefix;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > plen && !memcmp(k.mv_data, prefix, plen)) {
		if (n++ == UNPIN_BATCH) {
			mdb_cursor_close(c);
			return 1;
		}
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		/* after a delete the cursor's position is unreliable: seek */
		k.mv_size = plen;
		k.mv_data = prefix;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_error(rc, "pins");
	return 0;
}

int store_ingest_unpin(struct store_ingest *in, int kind)
{
	int rc;

	do {
		struct store_txn *t;

		rc = store_ingest_txn(in, &t);
		if (rc == 0)
			rc = unpin_some(t, in->sid, kind);
		if (rc >= 0) {
			int frc = store_ingest_flush(in);
			if (frc)
				rc = frc;
		}
	} while (rc == 1);
	return rc;
}

static void session_free(struct store_ingest *in)
{
	char path[4200];

	if (in->lockfd >= 0) {
		lock_path(path, sizeof(path), in->s, in->sid);
		unlink(path);
		close(in->lockfd);
	}
	store_checkpointer_release(in->s);
	free(in);
}

int store_ingest_finish(struct store_ingest *in,
			int (*publish)(struct store_txn *t, void *arg), void *arg)
{
	struct store_txn *t;
	int rc = store_ingest_flush(in);

	if (rc == 0)
		rc = store_txn_begin(&t, in->s, STORE_TXN_WRITE);
	if (rc == 0) {
		rc = publish ? publish(t, arg) : 0;
		if (rc)
			store_txn_abort(t);
		else
			rc = store_txn_commit(t);
	}
	if (rc) {
		store_ingest_abort(in);
		return rc;
	}
	/* what the pins kept is reachable from what was published */
	rc = store_ingest_unpin(in, 0);
	session_free(in);
	return rc;
}

void store_ingest_abort(struct store_ingest *in)
{
	char msg[1024];

	if (!in)
		return;
	snprintf(msg, sizeof(msg), "%s", store_errmsg());
	if (in->t) {
		store_txn_commit(in->t);	/* if it fails, it was aborted */
		in->t = NULL;
		gate_leave();
	}
	/* if this fails the pins stay; gc drops them once the lock is gone */
	store_ingest_unpin(in, 0);
	store_ingest_flush(in);
	session_free(in);
	store_error(-EIO, "%s", msg);
}

/* ---- for gc ------------------------------------------------------------- */

/* session_alive - 1 if a process holds SID's lock, 0 if not (its file
 * removed if REAP) */
static int session_alive(struct store *s, uint64_t sid, int reap)
{
	char path[4200];
	int fd, alive;

	lock_path(path, sizeof(path), s, sid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	alive = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	if (!alive && reap)
		unlink(path);
	close(fd);
	return alive;
}

/* seek - position C at the first pin of session SID or after; MDB code */
static int seek(MDB_cursor *c, uint64_t sid, MDB_val *k, MDB_val *v, unsigned char *buf)
{
	buf[0] = PIN_PREFIX;
	store_be64_put(buf + 1, sid);
	k->mv_size = 9;
	k->mv_data = buf;
	return mdb_cursor_get(c, k, v, MDB_SET_RANGE);
}

int store_ingest_foreach_pin(struct store_txn *t,
			     int (*cb)(int kind, const unsigned char *key, size_t len, void *arg),
			     void *arg)
{
	unsigned char buf[9];
	uint64_t sid = 0;
	int alive = 0, mrc, rc = 0;
	MDB_cursor *c;
	MDB_val k, v;

	mrc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_META), &c);
	if (mrc)
		return store_mdb_error(mrc, "pins");
	mrc = seek(c, 0, &k, &v, buf);
	while (mrc == 0 && k.mv_size > 10 && ((const unsigned char *)k.mv_data)[0] == PIN_PREFIX) {
		const unsigned char *key = k.mv_data;
		uint64_t this = store_be64_get(key + 1);

		if (this != sid) {
			sid = this;
			alive = session_alive(t->s, sid, t->write);
		}
		if (alive || !t->write) {	/* a reader only reports the living */
			rc = alive && cb ? cb(key[9], key + 10, k.mv_size - 10, arg) : 0;
			if (rc)
				break;
			mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		/* a dead session: drop all its pins, then go on after them */
		mdb_cursor_close(c);
		do
			rc = unpin_some(t, sid, 0);
		while (rc == 1);
		if (rc < 0)
			return rc;
		mrc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_META), &c);
		if (mrc)
			return store_mdb_error(mrc, "pins");
		mrc = seek(c, sid + 1, &k, &v, buf);
	}
	mdb_cursor_close(c);
	if (rc)
		return rc;
	return mrc && mrc != MDB_NOTFOUND ? store_mdb_error(mrc, "pins") : 0;
}

/* ---- who holds a key ------------------------------------------------------ */

int store_ingest_who(struct store_txn *t, int kind, const void *key, size_t len, char *what,
		     size_t wlen)
{
	unsigned char buf[9];
	char path[4200];
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t sid = 0;
	int found = 0, fd, mrc;

	mrc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_META), &c);
	if (mrc)
		return store_mdb_error(mrc, "pins");
	mrc = seek(c, 0, &k, &v, buf);
	while (mrc == 0 && k.mv_size > 10 && ((const unsigned char *)k.mv_data)[0] == PIN_PREFIX) {
		const unsigned char *p = k.mv_data;

		if (p[9] == kind && k.mv_size - 10 == len && !memcmp(p + 10, key, len) &&
		    session_alive(t->s, store_be64_get(p + 1), 0)) {
			sid = store_be64_get(p + 1);
			found = 1;
			break;
		}
		mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (!found)
		return mrc && mrc != MDB_NOTFOUND ? store_mdb_error(mrc, "pins") : 0;
	snprintf(what, wlen, "session %llu", (unsigned long long)sid);
	lock_path(path, sizeof(path), t->s, sid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, what, wlen - 1);
		if (n > 0)
			what[n] = '\0';
		close(fd);
	}
	return 1;
}
