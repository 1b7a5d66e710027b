/*
 * store.c - the LMDB environment, transactions, counters, the event log and
 * per-thread error messages.
 *
 * Invariants:
 *   - every table in enum store_table is opened once, in store_open(), and
 *     its handle is read-only afterwards;
 *   - a write transaction that changed anything bumps meta "gen" before it
 *     commits, so readers in other processes can tell the store changed;
 *   - the environment runs with MDB_NOSYNC: a committed transaction is in
 *     the page cache (it survives a killed process) and store_sync() makes
 *     it survive power loss.  See docs/architecture.md "Durability".
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <jansson.h>

#include "store/store_int.h"
#include "util/proc.h"

#define STORE_FORMAT_VERSION 1
#define STORE_MAP_SIZE (1ULL << 40)	/* address space only; files grow */
#define STORE_MAX_READERS 1024
#define STORE_ERRMSG_MAX 1024
#define STORE_FULL_MARGIN (4u << 20)	/* less free than this is "full" */

static const char *const table_names[TBL__COUNT] = {
	[TBL_META] = "meta",
	[TBL_OBJECTS] = "objects",
	[TBL_REFS] = "refs",
	[TBL_REFLOG] = "reflog",
	[TBL_REPOS] = "repos",
	[TBL_WORKTREES] = "worktrees",
	[TBL_INODES] = "inodes",
	[TBL_DIRENTS] = "dirents",
	[TBL_CHUNKS] = "chunks",
	[TBL_XATTRS] = "xattrs",
	[TBL_EVENTS] = "events",
	[TBL_OCI_BLOBS] = "oci_blobs",
	[TBL_OCI_TAGS] = "oci_tags",
	[TBL_OCI_LAYERS] = "oci_layers",
	[TBL_OCI_FILES] = "oci_files",
	[TBL_OCI_META] = "oci_meta",
	[TBL_YOUNG] = "young",
	[TBL_LINKS] = "links",
	[TBL_EXTRAS] = "extras",
};

static __thread char errmsg[STORE_ERRMSG_MAX];
static __thread struct store_txn *thread_wtxn;	/* this thread's write txn */

int store_verror(int rc, const char *fmt, va_list ap)
{
	/* formatted aside: the arguments may be the last message itself,
	 * as in store_error(rc, "%s: %s", what, store_errmsg()) */
	char msg[STORE_ERRMSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	memcpy(errmsg, msg, sizeof(msg));
	return rc;
}

int store_error(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	store_verror(rc, fmt, ap);
	va_end(ap);
	return rc;
}

const char *store_errmsg(void)
{
	return errmsg[0] ? errmsg : "unknown error";
}

int store_has_error(void)
{
	return errmsg[0] != '\0';
}

void store_error_clear(void)
{
	errmsg[0] = '\0';
}

int store_mdb_error(int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return store_error(-ENOENT, "%s: not found", what);
	case MDB_MAP_FULL:
	case ENOSPC:
		return store_error(-ENOSPC, "%s: the store is full (no space left on device)", what);
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return store_error(-EIO, "%s: the store is corrupt (%s); restore it from a backup",
				   what, mdb_strerror(rc));
	case MDB_READERS_FULL:
		return store_error(-EAGAIN, "%s: too many readers", what);
	case MDB_MAP_RESIZED:
		return store_error(-EAGAIN, "%s: store grown by another process, retry", what);
	default:
		if (rc > 0)
			return store_error(-rc, "%s: %s", what, strerror(rc));
		return store_error(-EIO, "%s: %s", what, mdb_strerror(rc));
	}
}

int store_cursor_end(int rc, const char *what)
{
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
		return store_mdb_error(rc, what);
	return rc;
}

int store_dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

static int check_format(struct store *s, MDB_txn *txn, int create)
{
	MDB_val k = { 6, "format" }, v;
	unsigned char buf[8];
	int rc = mdb_get(txn, s->dbi[TBL_META], &k, &v);

	if (rc == MDB_NOTFOUND && create) {
		store_be64_put(buf, STORE_FORMAT_VERSION);
		v.mv_size = 8;
		v.mv_data = buf;
		return store_mdb_error(mdb_put(txn, s->dbi[TBL_META], &k, &v, 0),
				       "writing store format");
	}
	if (rc == MDB_NOTFOUND)
		return store_error(-EIO, "'%s' is not a govc store (no format record)", s->dir);
	if (rc)
		return store_mdb_error(rc, "reading store format");
	if (v.mv_size != 8 || store_be64_get(v.mv_data) != STORE_FORMAT_VERSION)
		return store_error(-EIO, "store '%s' has an unknown format version", s->dir);
	return 0;
}

/*
 * locate_map - the data file's descriptor and map, for store_locate.
 * LMDB tells the map's size but not its address (me_mapaddr is set only
 * with MDB_FIXEDMAP), so the address is found in /proc/self/maps: the
 * mapping of the data file from offset 0.  If it cannot be found, map
 * stays NULL and store_locate refuses every pointer (readers then copy).
 */
static int locate_map(struct store *s)
{
	MDB_envinfo info;
	struct stat st;
	char line[512];
	FILE *maps;
	int rc = mdb_env_info(s->env, &info);

	if (rc == 0)
		rc = mdb_env_get_fd(s->env, &s->fd);
	if (rc)
		return store_mdb_error(rc, s->dir);
	s->map = NULL;
	s->map_size = info.me_mapsize;
	if (fstat(s->fd, &st) < 0 || !(maps = fopen("/proc/self/maps", "re")))
		return 0;
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end, inode;
		unsigned long long off;
		unsigned maj, mnr;

		if (sscanf(line, "%lx-%lx %*s %llx %x:%x %lu", &start, &end, &off, &maj, &mnr,
			   &inode) == 6 &&
		    off == 0 && inode == st.st_ino && makedev(maj, mnr) == st.st_dev) {
			s->map = (const char *)start;
			if (end - start < s->map_size)
				s->map_size = end - start;
			break;
		}
	}
	fclose(maps);
	return 0;
}

void store_map_release(struct store *s)
{
	/* the map is read-only and shared: the pages stay in the page cache,
	 * and a later read faults them back in */
	if (s->map && s->map_size)
		madvise((void *)s->map, s->map_size, MADV_DONTNEED);
}

static int open_tables(struct store *s, int create)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, (s->flags & STORE_RDONLY) ? MDB_RDONLY : 0, &txn);

	if (rc)
		return store_mdb_error(rc, s->dir);
	for (int i = 0; i < TBL__COUNT; i++) {
		rc = mdb_dbi_open(txn, table_names[i],
				  (s->flags & STORE_RDONLY) ? 0 : MDB_CREATE, &s->dbi[i]);
		if (rc == MDB_NOTFOUND && !create && i != TBL_META) {
			/* an older store without a newer table: read-only
			 * opens see it as empty */
			s->dbi[i] = 0;
			continue;
		}
		if (rc == MDB_NOTFOUND) {
			mdb_txn_abort(txn);
			return store_error(-ENOENT, "'%s' is not a govc store", s->dir);
		}
		if (rc) {
			mdb_txn_abort(txn);
			return store_mdb_error(rc, s->dir);
		}
	}
	rc = check_format(s, txn, create);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	return rc ? store_mdb_error(rc, s->dir) : 0;
}

/*
 * The writers' turnstile.  LMDB's writer lock is a mutex that is not fair:
 * a bulk writer that commits and asks again at once usually gets it back
 * before a writer it woke has run.  So a writer that is not bulk holds a
 * shared flock on STORE/writers while it waits for the lock (one per
 * process, while any of its threads waits: turn_waiting), and a bulk one
 * first waits until it could take an exclusive flock, that is, until no
 * writer of any process waits; at most STORE_YIELD_MAX_MS, so a stream of
 * small writers slows long work down but never stops it.  flock locks go
 * with their process, so a killed writer leaves nothing behind.
 */
static void turnstile_open(struct store *s)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/writers", s->dir);
	s->turn_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	s->turn_probe_fd = s->turn_fd < 0 ? -1 : open(path, O_RDWR | O_CLOEXEC);
}

static void turnstile_close(struct store *s)
{
	if (s->turn_fd >= 0)
		close(s->turn_fd);
	if (s->turn_probe_fd >= 0)
		close(s->turn_probe_fd);
	s->turn_fd = s->turn_probe_fd = -1;
	pthread_mutex_destroy(&s->turn_lock);
}

void store_turnstile_enter(struct store *s)
{
	if (s->turn_fd < 0)
		return;
	pthread_mutex_lock(&s->turn_lock);
	if (s->turn_waiting++ == 0 && flock(s->turn_fd, LOCK_SH))
		(void)0;	/* only a courtesy to bulk writers */
	pthread_mutex_unlock(&s->turn_lock);
}

void store_turnstile_leave(struct store *s)
{
	if (s->turn_fd < 0)
		return;
	pthread_mutex_lock(&s->turn_lock);
	if (--s->turn_waiting == 0)
		flock(s->turn_fd, LOCK_UN);
	pthread_mutex_unlock(&s->turn_lock);
}

static void turnstile_yield(struct store *s)
{
	struct timespec t0, now;

	if (s->turn_probe_fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (flock(s->turn_probe_fd, LOCK_EX | LOCK_NB)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (errno != EWOULDBLOCK ||
		    (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >=
			    STORE_YIELD_MAX_MS)
			return;
		usleep(200);
	}
	flock(s->turn_probe_fd, LOCK_UN);
}

int store_open(struct store **out, const char *dir, unsigned flags)
{
	struct store *s;
	char path[4096];
	struct stat st;
	int rc, create = !!(flags & STORE_CREATE);
	int dead;

	*out = NULL;
	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path))
		return store_error(-ENAMETOOLONG, "store path '%s' is too long", dir);
	if (create) {
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return store_error(-errno, "cannot create store directory '%s': %s",
					   dir, strerror(errno));
		rc = store_dir_is_empty(dir);
		if (rc < 0)
			return store_error(rc, "cannot open store directory '%s': %s",
					   dir, strerror(-rc));
		if (rc == 0 && stat(path, &st) == 0)
			return store_error(-EEXIST, "'%s' is already a govc store", dir);
		if (rc == 0)
			return store_error(-EEXIST, "'%s' is not empty; give govc init an empty or new directory",
					   dir);
	} else if (stat(path, &st) < 0) {
		/* "busybox:1.0", "oci:DIR", "git:DIR": arguments in the wrong order */
		if (stat(dir, &st) < 0 && strchr(dir, ':'))
			return store_error(-ENOENT, "no store at '%s': that looks like an image "
					   "or a location, not a store; the store comes first: "
					   "govc <command> STORE ... (see govc <command> --help)",
					   dir);
		if (stat(dir, &st) < 0)
			return store_error(-ENOENT, "no store at '%s' (create one with: govc init %s)",
					   dir, dir);
		return store_error(-ENOENT, "'%s' is not a govc store: no data.mdb (create one with: govc init)",
				   dir);
	}

	s = calloc(1, sizeof(*s));
	if (!s)
		return store_error(-ENOMEM, "out of memory");
	s->dir = strdup(dir);
	s->flags = flags;
	if (!s->dir) {
		free(s);
		return store_error(-ENOMEM, "out of memory");
	}
	pthread_mutex_init(&s->ckpt_lock, NULL);
	pthread_mutex_init(&s->bg_lock, NULL);
	pthread_cond_init(&s->bg_cond, NULL);
	pthread_mutex_init(&s->turn_lock, NULL);
	s->turn_fd = s->turn_probe_fd = -1;
	if (!create) {
		rc = store_ckpt_recover(dir);	/* after a restart: the checkpoint */
		if (rc)
			goto out_free;
	}
	rc = mdb_env_create(&s->env);
	if (rc)
		goto out_mdb;
	mdb_env_set_maxdbs(s->env, TBL__COUNT + 4);
	mdb_env_set_mapsize(s->env, STORE_MAP_SIZE);
	mdb_env_set_maxreaders(s->env, STORE_MAX_READERS);
	rc = mdb_env_open(s->env, dir,
			  MDB_NOTLS | MDB_NOSYNC |
				  ((flags & STORE_RDONLY) ? MDB_RDONLY : 0),
			  0644);
	if (rc)
		goto out_mdb;
	/* readers left behind by a killed process would pin old pages */
	mdb_reader_check(s->env, &dead);
	rc = locate_map(s);
	if (rc == 0)
		rc = open_tables(s, create);
	if (rc == 0 && !(flags & STORE_RDONLY))
		turnstile_open(s);
	/* before this process writes anything; a full disk must not keep
	 * the store from opening (the failure drops the old checkpoint) */
	if (rc == 0 && store_checkpoint(s))
		store_error_clear();
	if (rc)
		goto out_free;
	*out = s;
	return 0;

out_mdb:
	rc = store_mdb_error(rc, dir);
	if (rc == -EIO)
		store_error(-EIO, "store '%s' is corrupt or not an LMDB store (%s)", dir,
			    "restore data.mdb from a backup");
out_free:
	if (s->ckpt_reader)
		mdb_txn_abort(s->ckpt_reader);
	if (s->env)
		mdb_env_close(s->env);
	pthread_mutex_destroy(&s->ckpt_lock);
	pthread_mutex_destroy(&s->bg_lock);
	pthread_cond_destroy(&s->bg_cond);
	turnstile_close(s);
	free(s->dir);
	free(s);
	return rc;
}

int store_locate(struct store_txn *t, const void *p, size_t len, int *fd, uint64_t *off)
{
	const struct store *s = t->s;
	const char *c = p;

	if (!s->map || (uintptr_t)c < (uintptr_t)s->map || len > s->map_size ||
	    (uintptr_t)c - (uintptr_t)s->map > s->map_size - len)
		return -ERANGE;
	*fd = s->fd;
	*off = (uint64_t)(c - s->map);
	return 0;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	store_ckpt_close(s);	/* the last checkpoint, synced */
	mdb_env_close(s->env);
	pthread_mutex_destroy(&s->ckpt_lock);
	pthread_mutex_destroy(&s->bg_lock);
	pthread_cond_destroy(&s->bg_cond);
	turnstile_close(s);
	free(s->dir);
	free(s);
}

const char *store_dir(const struct store *s)
{
	return s->dir;
}

int store_sync(struct store *s)
{
	return store_checkpoint(s);
}

int store_txn_begin(struct store_txn **out, struct store *s, unsigned flags)
{
	struct store_txn *t;
	int write = !!(flags & STORE_TXN_WRITE);
	int rc;

	*out = NULL;
	if (write && (s->flags & STORE_RDONLY))
		return store_error(-EROFS, "store '%s' is open read-only", s->dir);
	/* the newest checkpoint must be protected before anything is written
	 * (a no-op unless ours was dropped for another's) */
	if (write && !(thread_wtxn && thread_wtxn->s == s))
		store_checkpoint_before_write(s);
	t = calloc(1, sizeof(*t));
	if (!t)
		return store_error(-ENOMEM, "out of memory");
	t->s = s;
	if (thread_wtxn && thread_wtxn->s == s) {
		assert(!write && "nested write transaction");
		t->txn = thread_wtxn->txn;
		t->borrowed = 1;
		*out = t;
		return 0;
	}
	if (write && (flags & STORE_TXN_BULK))
		turnstile_yield(s);
	else if (write)
		store_turnstile_enter(s);
	rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (write && !(flags & STORE_TXN_BULK))
		store_turnstile_leave(s);
	if (rc) {
		free(t);
		return store_mdb_error(rc, "beginning a transaction");
	}
	t->write = write;
	if (write)
		thread_wtxn = t;
	*out = t;
	return 0;
}

/* disk_full - is the store's filesystem (nearly) out of space? */
static int disk_full(const struct store *s)
{
	struct statvfs sv;

	if (statvfs(s->dir, &sv) < 0)
		return 0;
	return (uint64_t)sv.f_bavail * sv.f_frsize < STORE_FULL_MARGIN;
}

static int bump_generation(struct store_txn *t)
{
	MDB_val k = { 3, "gen" }, v;
	unsigned char buf[8];
	uint64_t gen = 0;
	int rc = mdb_get(t->txn, t->s->dbi[TBL_META], &k, &v);

	if (rc == 0 && v.mv_size == 8)
		gen = store_be64_get(v.mv_data);
	store_be64_put(buf, gen + 1);
	v.mv_size = 8;
	v.mv_data = buf;
	return mdb_put(t->txn, t->s->dbi[TBL_META], &k, &v, 0);
}

int store_txn_commit(struct store_txn *t)
{
	int rc = 0;

	if (t->borrowed) {
		free(t);
		return 0;
	}
	if (t->write) {
		assert(thread_wtxn == t);
		thread_wtxn = NULL;
		if (t->dirty)
			rc = bump_generation(t);
		if (rc) {
			mdb_txn_abort(t->txn);
			free(t);
			return store_mdb_error(rc, "committing");
		}
	}
	struct store *s = t->s;
	int write = t->write;

	rc = mdb_txn_commit(t->txn);
	if (rc == EIO && disk_full(s))
		rc = ENOSPC;	/* LMDB reports a short write as EIO */
	free(t);
	if (rc)
		return store_mdb_error(rc, "committing to the store");
	if (write) {
		__atomic_add_fetch(&s->gen_seen, 1, __ATOMIC_RELAXED);
		/* here, unless a checkpointer thread does it (a failed one is
		 * retried at the next commit) */
		if (!__atomic_load_n(&s->bg_running, __ATOMIC_RELAXED))
			store_checkpoint_due(s);
	}
	return 0;
}

void store_txn_abort(struct store_txn *t)
{
	if (!t)
		return;
	if (!t->borrowed) {
		if (t->write) {
			assert(thread_wtxn == t);
			thread_wtxn = NULL;
		}
		mdb_txn_abort(t->txn);
	}
	free(t);
}

struct store_txn *store_txn_current(struct store *s)
{
	return thread_wtxn && thread_wtxn->s == s ? thread_wtxn : NULL;
}

struct store *store_txn_store(struct store_txn *t)
{
	return t->s;
}

uint64_t store_generation(struct store *s)
{
	struct store_txn *t;
	MDB_val v;
	uint64_t gen = 0;

	if (store_txn_begin(&t, s, 0))
		return 0;
	if (store_get(t, TBL_META, "gen", 3, &v) == 0 && v.mv_size == 8)
		gen = store_be64_get(v.mv_data);
	store_txn_abort(t);
	return gen;
}

int store_get(struct store_txn *t, enum store_table tbl, const void *key,
	      size_t klen, MDB_val *out)
{
	MDB_val k = { klen, (void *)key };
	int rc = mdb_get(t->txn, t->s->dbi[tbl], &k, out);

	if (rc == MDB_NOTFOUND)
		return -ENOENT;	/* common and expected: no message */
	return rc ? store_mdb_error(rc, table_names[tbl]) : 0;
}

int store_put(struct store_txn *t, enum store_table tbl, const void *key,
	      size_t klen, const void *val, size_t vlen, unsigned mdb_flags)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	int rc;

	assert(t->write || t->borrowed);
	if (klen == 0 || klen > 511)
		return store_error(-ENAMETOOLONG, "key of %zu bytes for table %s", klen,
				   table_names[tbl]);
	rc = mdb_put(t->txn, t->s->dbi[tbl], &k, &v, mdb_flags);
	if (rc == MDB_KEYEXIST)
		return -EEXIST;
	if (rc)
		return store_mdb_error(rc, table_names[tbl]);
	t->dirty = 1;
	if (t->borrowed)
		thread_wtxn->dirty = 1;
	return 0;
}

int store_reserve(struct store_txn *t, enum store_table tbl, const void *key,
		  size_t klen, size_t vlen, void **out)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, NULL };
	int rc;

	assert(t->write || t->borrowed);
	rc = mdb_put(t->txn, t->s->dbi[tbl], &k, &v, MDB_RESERVE);
	if (rc)
		return store_mdb_error(rc, table_names[tbl]);
	t->dirty = 1;
	if (t->borrowed)
		thread_wtxn->dirty = 1;
	*out = v.mv_data;
	return 0;
}

int store_del(struct store_txn *t, enum store_table tbl, const void *key,
	      size_t klen)
{
	MDB_val k = { klen, (void *)key };
	int rc = mdb_del(t->txn, t->s->dbi[tbl], &k, NULL);

	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return store_mdb_error(rc, table_names[tbl]);
	t->dirty = 1;
	if (t->borrowed)
		thread_wtxn->dirty = 1;
	return 0;
}

int store_del_prefix(struct store_txn *t, enum store_table tbl,
		     const void *prefix, size_t plen)
{
	MDB_cursor *c;
	MDB_val k = { plen, (void *)prefix }, v;
	int rc = mdb_cursor_open(t->txn, t->s->dbi[tbl], &c);

	if (rc)
		return store_mdb_error(rc, table_names[tbl]);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		t->dirty = 1;
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
		if (rc == EINVAL)	/* deleted the last item */
			rc = MDB_NOTFOUND;
	}
	mdb_cursor_close(c);
	if (t->borrowed && t->dirty)
		thread_wtxn->dirty = 1;
	return rc == MDB_NOTFOUND ? 0 : store_mdb_error(rc, table_names[tbl]);
}

int store_next_id(struct store_txn *t, const char *name, uint64_t *out)
{
	char key[64];
	unsigned char buf[8];
	MDB_val v;
	uint64_t id = 1;
	int n = snprintf(key, sizeof(key), "next:%s", name);
	int rc = store_get(t, TBL_META, key, (size_t)n, &v);

	if (rc == 0 && v.mv_size == 8)
		id = store_be64_get(v.mv_data);
	else if (rc && rc != -ENOENT)
		return rc;
	store_be64_put(buf, id + 1);
	rc = store_put(t, TBL_META, key, (size_t)n, buf, 8, 0);
	if (rc)
		return rc;
	*out = id;
	return 0;
}

int store_events_size(struct store_txn *t, uint64_t *out)
{
	MDB_val v;
	int rc = store_get(t, TBL_META, "events_size", 11, &v);

	*out = 0;
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (v.mv_size == 8)
		*out = store_be64_get(v.mv_data);
	return 0;
}

/* meta_u64 - the be64 meta value KEY, or DEF when it is not set */
static int meta_u64(struct store_txn *t, const char *key, uint64_t def, uint64_t *out)
{
	MDB_val v;
	int rc = store_get(t, TBL_META, key, strlen(key), &v);

	*out = def;
	if (rc == 0 && v.mv_size == 8)
		*out = store_be64_get(v.mv_data);
	return rc == -ENOENT ? 0 : rc;
}

static int meta_put_u64(struct store_txn *t, const char *key, uint64_t val)
{
	unsigned char b[8];

	store_be64_put(b, val);
	return store_put(t, TBL_META, key, strlen(key), b, 8, 0);
}

int store_events_set_limits(struct store_txn *t, uint64_t max_bytes, uint64_t max_age_s)
{
	int rc = max_bytes ? meta_put_u64(t, "events_max_bytes", max_bytes) : 0;

	return rc || !max_age_s ? rc : meta_put_u64(t, "events_max_age", max_age_s);
}

/* event_time - the "time" (unix seconds) of event line V, 0 if none */
static uint64_t event_time(const MDB_val *v)
{
	const char *p = memmem(v->mv_data, v->mv_size, "\"time\":", 7);
	const char *end = (const char *)v->mv_data + v->mv_size;
	uint64_t sec = 0;

	for (p = p ? p + 7 : end; p < end && *p >= '0' && *p <= '9'; p++)
		sec = sec * 10 + (uint64_t)(*p - '0');
	return sec;
}

/*
 * events_trim - drop the oldest events while the log holds more than its
 * byte limit or they are older than its age limit, never the newest, at
 * most EVENTS_TRIM_BATCH per append: each transaction frees a few pages,
 * never one large free-list record (docs/architecture.md).
 */
#define EVENTS_TRIM_BATCH 16
static int events_trim(struct store_txn *t, uint64_t size)
{
	uint64_t max_bytes, max_age, start, old = 0, trimmed = 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = meta_u64(t, "events_max_bytes", STORE_EVENTS_MAX_BYTES, &max_bytes);

	if (rc == 0)
		rc = meta_u64(t, "events_max_age", 0, &max_age);
	if (rc == 0)
		rc = meta_u64(t, "events_start", 0, &start);
	if (rc)
		return rc;
	if (size - start <= max_bytes && !max_age)
		return 0;
	if (max_age)
		old = (uint64_t)time(NULL) - max_age;
	rc = mdb_cursor_open(t->txn, t->s->dbi[TBL_EVENTS], &c);
	if (rc)
		return store_mdb_error(rc, "events");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0 && trimmed < EVENTS_TRIM_BATCH) {
		uint64_t off = store_be64_get(k.mv_data), next = off + v.mv_size;
		if (next >= size || (size - off <= max_bytes && (!max_age || event_time(&v) >= old)))
			break;
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		start = next;
		trimmed++;
	}
	mdb_cursor_close(c);
	rc = store_cursor_end(rc, "events");
	if (rc == 0 && trimmed) {
		t->dirty = 1;
		rc = meta_put_u64(t, "events_start", start);
	}
	return rc;
}

/* events_gap - the bytes [OFF, OFF + LEN) of the trimmed part [0, START):
 * spaces, then the notice, then a newline */
static void events_gap(uint64_t start, uint64_t off, char *buf, size_t len)
{
	char notice[64];
	int n = snprintf(notice, sizeof(notice), "{\"type\":\"trimmed\",\"upto\":%llu}",
			 (unsigned long long)start);
	uint64_t at = start > (uint64_t)n + 1 ? start - (uint64_t)n - 1 : start;

	for (size_t i = 0; i < len; i++) {
		uint64_t p = off + i;
		buf[i] = p == start - 1 ? '\n' : p >= at ? notice[p - at] : ' ';
	}
}

int store_event_raise(struct store_txn *t, json_t *ev)
{
	char *line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	int rc = line ? store_event_append(t, line) : store_error(-ENOMEM, "out of memory");

	json_decref(ev);
	free(line);
	return rc;
}

int store_event_append(struct store_txn *t, const char *json_line)
{
	size_t len = strlen(json_line);
	unsigned char key[8];
	uint64_t size;
	void *p;
	int rc = store_events_size(t, &size);

	if (rc)
		return rc;
	store_be64_put(key, size);
	rc = store_reserve(t, TBL_EVENTS, key, 8, len + 1, &p);
	if (rc)
		return rc;
	memcpy(p, json_line, len);
	((char *)p)[len] = '\n';
	store_be64_put(key, size + len + 1);
	rc = store_put(t, TBL_META, "events_size", 11, key, 8, 0);
	return rc ? rc : events_trim(t, size + len + 1);
}

long store_events_read(struct store_txn *t, uint64_t off, char *buf, size_t len)
{
	MDB_cursor *c;
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	size_t done = 0;
	uint64_t first;
	int rc = meta_u64(t, "events_start", 0, &first);

	if (rc)
		return rc;
	if (off < first) {
		/* the trimmed part */
		done = first - off < len ? (size_t)(first - off) : len;
		events_gap(first, off, buf, done);
		if (done == len)
			return (long)done;
	}
	store_be64_put(kb, off + done);
	rc = mdb_cursor_open(t->txn, t->s->dbi[TBL_EVENTS], &c);
	if (rc)
		return store_mdb_error(rc, "events");
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND || (rc == 0 && store_be64_get(k.mv_data) > off + done))
		rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
	while (rc == 0 && done < len) {
		uint64_t start = store_be64_get(k.mv_data);
		if (off + done >= start && off + done < start + v.mv_size) {
			size_t skip = off + done - start;
			size_t n = v.mv_size - skip;
			if (n > len - done)
				n = len - done;
			memcpy(buf + done, (char *)v.mv_data + skip, n);
			done += n;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_error(rc, "events");
	return (long)done;
}

/* ---- space ---------------------------------------------------------------- */

int store_usage(struct store *s, struct store_usage *out)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn;
	struct stat fst;
	uint64_t used = 0, freelist = 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_mdb_error(rc, "usage");
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	for (unsigned i = 0; i < TBL__COUNT && i < 32; i++) {
		MDB_stat ts;
		uint64_t pages;

		if (mdb_stat(txn, s->dbi[i], &ts))
			continue;
		pages = ts.ms_branch_pages + ts.ms_leaf_pages + ts.ms_overflow_pages;
		out->tables[out->ntables].name = table_names[i];
		out->tables[out->ntables].entries = ts.ms_entries;
		out->tables[out->ntables].bytes = pages * st.ms_psize;
		out->ntables++;
		used += pages;
	}
	/* the free list (dbi 0): each record lists free page numbers */
	if (mdb_cursor_open(txn, 0, &c) == 0) {
		while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
			if (v.mv_size >= sizeof(size_t))
				freelist += *(const size_t *)v.mv_data;	/* count first */
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	out->free_bytes = freelist * st.ms_psize;
	out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize - out->free_bytes;
	if (stat(s->dir, &fst) == 0) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
		if (stat(path, &fst) == 0)
			out->file_bytes = (uint64_t)fst.st_size;
	}
	return 0;
}

/* opener - a process (not us) that has DIR's data.mdb open: its pid, or 0 */
static long opener(const char *dir)
{
	char want[4300], real[4200];

	if (!realpath(dir, real))
		return 0;
	snprintf(want, sizeof(want), "%s/data.mdb", real);
	return util_proc_fd_user(want, 0, NULL, 0);
}

int store_compact(const char *dir, uint64_t *before, uint64_t *after)
{
	char tmp[4200], from[4300], to[4300];
	struct store *s;
	struct stat st;
	long pid = opener(dir);
	int rc;

	if (pid)
		return store_error(-EBUSY,
				   "store '%s' is in use by pid %ld (a mount or another command); unmount it or let it finish first",
				   dir, pid);
	rc = store_open(&s, dir, 0);
	if (rc)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s/compact.tmp", dir);
	snprintf(from, sizeof(from), "%s/data.mdb", tmp);
	snprintf(to, sizeof(to), "%s/data.mdb", dir);
	if (before)
		*before = stat(to, &st) == 0 ? (uint64_t)st.st_size : 0;
	unlink(from);
	rmdir(tmp);
	if (mkdir(tmp, 0700)) {
		rc = store_error(-errno, "cannot create '%s': %s", tmp, strerror(errno));
		store_free(s);
		return rc;
	}
	rc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT);
	store_free(s);
	if (rc) {
		unlink(from);
		rmdir(tmp);
		return store_mdb_error(rc, "compacting");
	}
	/* the copy is complete and synced by LMDB: it replaces the file */
	if (rename(from, to)) {
		rc = store_error(-errno, "cannot replace '%s': %s", to, strerror(errno));
		unlink(from);
	}
	rmdir(tmp);
	if (rc == 0) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	if (after)
		*after = stat(to, &st) == 0 ? (uint64_t)st.st_size : 0;
	return rc;
}
