/*
 * store.h - the govc store: one LMDB environment per store directory.
 *
 * A store holds, in named LMDB tables (see docs/formats.md):
 *   - git objects (blob, tree, commit) keyed by their SHA-1 id, shared by
 *     every repository (one content store: identical files are kept once);
 *   - refs and ref history per repository;
 *   - the working trees (one per repository branch) as inode records,
 *     directory entries, file chunks and xattrs, so that anything a
 *     filesystem call acknowledged survives a killed daemon;
 *   - the event log (JSON lines) and counters.
 * OCI blobs, manifests and per-layer file indexes live beside them (oci.h).
 *
 * Processes: several processes may open the same store at once (the
 * daemon and the command line); LMDB serialises writers across processes.
 * Every writer bumps the store generation so a daemon can notice changes
 * made by another process (store_generation()).
 *
 * Threads: a struct store may be shared by any number of threads.  A
 * struct store_txn belongs to the thread that began it.  A thread holds at
 * most one write transaction; while it does, store_txn_current() returns
 * it, and store functions called without an explicit transaction (the
 * libgit2 backends) join it instead of deadlocking on the writer lock.
 *
 * Errors: functions return 0 or a negative errno and leave a message with
 * the subject in it in a per-thread buffer (store_errmsg()).  LMDB codes are
 * translated here: MDB_NOTFOUND -> -ENOENT, MDB_MAP_FULL -> -ENOSPC,
 * MDB_CORRUPTED/MDB_INVALID/MDB_PAGE_NOTFOUND -> -EIO.
 */
#ifndef GOVC_STORE_H
#define GOVC_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

struct store;
struct store_txn;

enum store_open_flags {
	STORE_CREATE = 1 << 0,	/* create the directory and tables */
	STORE_RDONLY = 1 << 1,	/* open read-only (fsck, log, export) */
};

/*
 * store_open - open (or with STORE_CREATE, create) the store in DIR.
 * @out: receives the store, freed with store_free().
 * Errors: -ENOENT (no store there), -EIO (corrupt or not a store),
 * -EEXIST (STORE_CREATE on a non-empty directory that is not a store).
 */
int store_open(struct store **out, const char *dir, unsigned flags);

/* store_free - close the store; all its transactions must be finished. */
void store_free(struct store *s);

/* store_dir - the store's directory, borrowed for the store's lifetime. */
const char *store_dir(const struct store *s);

/*
 * store_sync - force everything committed so far to stable storage
 * (fsync), as a checkpoint: what it covers survives a power loss.
 * Commits themselves are not synced one by one; see docs/architecture.md
 * "Durability".
 */
int store_sync(struct store *s);

/*
 * Checkpoints (power-loss integrity; docs/architecture.md, "Durability").
 * store_checkpoint - sync the store and record its state as the one a
 * power loss falls back to (takes the writer lock briefly: call it holding
 * no write transaction).  store_checkpoint_due - the same if this process
 * wrote since its last checkpoint, a second ago or more; called after
 * every commit and by the daemon's watcher.  Writable stores only (a no-op
 * otherwise).  Threads: any.
 */
int store_checkpoint(struct store *s);
int store_checkpoint_due(struct store *s);

/*
 * store_checkpointer_hold - while at least one hold is taken, a thread of
 * the store's calls store_checkpoint_due every 100 ms and commits do not
 * checkpoint themselves, so no writer waits while the disk is synced (the
 * daemon holds one for its whole run, ingest sessions while they are
 * open).  A no-op if the thread cannot start (commits then go on
 * checkpointing).  store_checkpointer_release - drop a hold; the last one
 * stops the thread, and store_free stops it whatever the holds.  A
 * failing checkpoint is reported on stderr once, when it starts failing.
 * Threads: any.
 */
void store_checkpointer_hold(struct store *s);
void store_checkpointer_release(struct store *s);

enum store_txn_flags {
	STORE_TXN_WRITE = 1 << 0,
	/*
	 * With WRITE: a transaction of long work (an ingest session, ingest.h)
	 * that yields to other writers: it begins only once no other write
	 * transaction, of any process, is waiting to begin (or after
	 * STORE_YIELD_MAX_MS).  LMDB's writer lock is not fair: without this a
	 * pull, taking it again every few milliseconds, kept a mount's write
	 * waiting 400 ms.
	 */
	STORE_TXN_BULK = 1 << 1,
};

#define STORE_YIELD_MAX_MS 50

/*
 * store_txn_begin - begin a transaction.  A write transaction blocks
 * until no other writer (thread or process) holds one.
 * Nesting: beginning a write transaction while the thread already holds
 * one is a programming error (assert).  Beginning a read transaction while
 * the thread holds a write transaction returns a handle on the write
 * transaction (so reads see its uncommitted changes); committing or
 * aborting that handle only releases it.
 */
int store_txn_begin(struct store_txn **out, struct store *s, unsigned flags);

/*
 * store_txn_commit - commit and free T.  On failure the transaction is
 * aborted and its changes are lost; -ENOSPC when the disk or map is full.
 */
int store_txn_commit(struct store_txn *t);

/* store_txn_abort - abort and free T (NULL is allowed). */
void store_txn_abort(struct store_txn *t);

/* store_txn_current - the calling thread's open write transaction on S. */
struct store_txn *store_txn_current(struct store *s);

/* store_txn_store - the store T belongs to. */
struct store *store_txn_store(struct store_txn *t);

/*
 * store_generation - a number bumped by every write transaction of any
 * process.  Cheap (one read transaction).  Returns 0 on error.
 */
uint64_t store_generation(struct store *s);

/*
 * store_next_id - allocate a fresh, never reused 64-bit number from the
 * counter NAME (e.g. "ino", "build").  Needs a write transaction.
 */
int store_next_id(struct store_txn *t, const char *name, uint64_t *out);

/*
 * store_event_append - append one event (a JSON object, one line, without
 * the newline) to the event log, and trim its oldest events past the
 * store's limits (store_events_set_limits), a few per append.  Needs a
 * write transaction.
 * store_events_size - total bytes of the event log ever appended: offsets
 * are absolute and never move, trimmed or not.
 * store_events_read - copy up to LEN bytes of the event log at OFF.  The
 * trimmed part, [0, first kept event), reads as one line: spaces, then
 * {"type":"trimmed","upto":N} where N is the first kept offset, so a
 * reader that fell behind is told what it missed and reads on.
 * Returns bytes copied (0 at the end) or a negative errno.
 */
int store_event_append(struct store_txn *t, const char *json_line);

/*
 * store_event_raise - store_event_append of the JSON object EV (jansson's
 * json_t), which it takes: freed in every case.  EV NULL (a failed
 * json_pack) gives -ENOMEM.  Every event of the store goes through here.
 */
struct json_t;
int store_event_raise(struct store_txn *t, struct json_t *ev);
int store_events_size(struct store_txn *t, uint64_t *out);
long store_events_read(struct store_txn *t, uint64_t off, char *buf,
		       size_t len);

#define STORE_EVENTS_MAX_BYTES (64ull << 20)	/* default size kept */

/*
 * store_events_set_limits - keep at most MAX_BYTES of events (default
 * STORE_EVENTS_MAX_BYTES) and none older than MAX_AGE_S seconds (default:
 * no age limit), recorded in the store for every process that appends; a
 * 0 leaves that limit as it is.  Needs a write transaction.
 */
int store_events_set_limits(struct store_txn *t, uint64_t max_bytes,
			    uint64_t max_age_s);

/*
 * A run of a file's bytes borrowed from a transaction: LEN bytes at DATA,
 * or LEN zero bytes when DATA is NULL (a hole).  Borrowed until the
 * transaction ends.
 */
struct store_piece {
	const void *data;
	size_t len;
};

/*
 * store_locate - where LEN bytes at P, borrowed from transaction T, lie in
 * the store's data file, so a reader can be answered by splicing the file
 * instead of copying: *FD (the store's, borrowed for the store's lifetime;
 * never close or seek it) and the byte offset *OFF.  The bytes stay put in
 * the file while T is open.  -ERANGE if they are not in the file's map
 * (a write transaction's own pages): read them through P.
 * Threads: any; reads only fields fixed at open.
 */
int store_locate(struct store_txn *t, const void *p, size_t len, int *fd,
		 uint64_t *off);

/*
 * What uses the space of a store: per table, the bytes of the pages its
 * B-tree and large values take; the free pages (freed, waiting for reuse:
 * LMDB never gives pages back to the file system); the file's size.
 */
struct store_usage_table {
	const char *name;	/* static */
	uint64_t entries, bytes;
};
struct store_usage {
	struct store_usage_table tables[32];
	unsigned ntables;
	uint64_t free_bytes;	/* free pages, reusable */
	uint64_t used_bytes;	/* pages in use, LMDB's own included */
	uint64_t file_bytes;	/* data.mdb's size */
};

/* store_usage - fill OUT for S (one read transaction). */
int store_usage(struct store *s, struct store_usage *out);

/*
 * store_compact - rewrite the store in DIR without its free pages, so the
 * file shrinks to what is in use (LMDB's copy with MDB_CP_COMPACT, then a
 * rename over data.mdb).  Nothing else may have the store open: -EBUSY
 * (naming the process) if a daemon or another command does.  BEFORE and
 * AFTER (may be NULL) receive the file's sizes.
 */
int store_compact(const char *dir, uint64_t *before, uint64_t *after);

/*
 * Errors.  store_error() records a message for the calling thread and
 * returns RC (a negative errno) so it can be written
 * `return store_error(-ENOENT, "no repository '%s'", name);`.
 * store_errmsg() returns the last message, or "unknown error" if none
 * was recorded since store_error_clear(); it may be an argument of the
 * next store_error() ("%s: %s", what, store_errmsg()).  store_has_error()
 * says whether one was.
 */
int store_error(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int store_verror(int rc, const char *fmt, va_list ap);
const char *store_errmsg(void);
int store_has_error(void);
void store_error_clear(void);

#endif
