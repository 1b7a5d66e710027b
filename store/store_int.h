/*
 * store_int.h - internals shared by the store/ modules.  Nothing here is
 * visible outside store/: no LMDB type or pointer escapes the folder.
 *
 * Tables (named LMDB databases, keys described in docs/formats.md):
 *   meta       counters and the format version       name -> value
 *   objects    git objects                            oid[20] -> type u8 + raw
 *   refs       refs per repository                    repo \0 refname -> text
 *   reflog     ref history                            repo \0 ref \0 be64 seq -> text
 *   repos      repositories                           name -> struct repo_rec
 *   worktrees  working tree per repository branch     repo \0 branch -> struct wt_rec
 *   inodes     working tree inodes                    be64 ino -> struct inode_rec + target
 *   dirents    working tree directory entries         be64 parent + name -> be64 ino
 *   chunks     contents of files written since commit be64 ino + be64 idx -> bytes
 *   xattrs     extended attributes                    be64 ino + name -> value
 *   links      a file's names beyond its record's     be64 ino + be64 parent + name -> ""
 *   extras     what a commit's tree cannot hold       commit oid[20] -> records (commit.c)
 *   events     the event log                          be64 byte offset -> line + '\n'
 *   oci_*      OCI blobs, manifests, tags, layer index (oci.c)
 */
#ifndef GOVC_STORE_INT_H
#define GOVC_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <time.h>
#include <string.h>
#include "store/store.h"

enum store_table {
	TBL_META,
	TBL_OBJECTS,
	TBL_REFS,
	TBL_REFLOG,
	TBL_REPOS,
	TBL_WORKTREES,
	TBL_INODES,
	TBL_DIRENTS,
	TBL_CHUNKS,
	TBL_XATTRS,
	TBL_EVENTS,
	TBL_OCI_BLOBS,
	TBL_OCI_TAGS,
	TBL_OCI_LAYERS,
	TBL_OCI_FILES,
	TBL_OCI_META,
	TBL_YOUNG,
	TBL_LINKS,
	TBL_EXTRAS,
	TBL__COUNT
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[TBL__COUNT];	/* set at open, read-only after */
	char *dir;			/* owned */
	unsigned flags;
	/* the data file and its map, set at open, read-only after */
	const char *map;
	size_t map_size;
	int fd;
	/* checkpoints (checkpoint.c): protected by ckpt_lock */
	pthread_mutex_t ckpt_lock;
	MDB_txn *ckpt_reader;		/* the last checkpoint's snapshot; written
				 * atomically, so it may be tested without */
	int64_t ckpt_ms;		/* when it was taken (monotonic) */
	uint64_t ckpt_gen;		/* gen_seen then */
	uint64_t ckpt_txnid;		/* the snapshot's transaction */
	struct timespec ckpt_mtime;	/* of the file when last read */
	int64_t ckpt_failed_ms;		/* when a checkpoint last failed */
	int ckpt_newer;			/* another process's is newer */
	uint64_t gen_seen;		/* atomic: write commits of this process */
	/* the checkpointer thread (store_checkpointer_hold): protected by
	 * bg_lock, which is taken before ckpt_lock, never after */
	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	pthread_t bg_thread;
	unsigned bg_holds;
	int bg_running;			/* the thread runs: commits leave checkpoints
					 * to it (read atomically there) */
	int bg_joining;			/* a release is joining it */
	/* the writers' turnstile (store.c, STORE_TXN_BULK): two descriptors
	 * of STORE/writers (-1: none), and the process's writers waiting to
	 * begin, protected by turn_lock (a leaf lock) */
	int turn_fd;
	int turn_probe_fd;
	pthread_mutex_t turn_lock;
	unsigned turn_waiting;
};

/* checkpoint.c: store_ckpt_recover before LMDB opens DIR (after a reboot
 * the last checkpoint's meta pages are written back); store_ckpt_close
 * takes the last checkpoint of a writable store and drops its snapshot. */
int store_ckpt_recover(const char *dir);
void store_ckpt_close(struct store *s);
/* store_checkpoint_before_write - a checkpoint first if this process has
 * dropped its snapshot (another's was newer); before a write transaction */
int store_checkpoint_before_write(struct store *s);

/*
 * store_turnstile_enter, store_turnstile_leave - around a wait for LMDB's
 * writer lock that does not go through store_txn_begin (a checkpoint's):
 * bulk transactions let it go first (store.c, "the writers' turnstile").
 */
void store_turnstile_enter(struct store *s);
void store_turnstile_leave(struct store *s);

/*
 * store_map_release - unmap from this process the pages of the store's
 * map it has touched (they stay in the page cache): long work that reads
 * a growing file through the map would otherwise count gigabytes of page
 * cache in its resident set (the kernel maps up to 16 cached neighbours
 * of each page read).  Pointers into the map stay valid.  Threads: any.
 */
void store_map_release(struct store *s);


struct store_txn {
	struct store *s;
	MDB_txn *txn;
	int write;
	int borrowed;		/* a read handle on the thread's write txn */
	int dirty;		/* a write happened: bump the generation */
};

/* store_mdb_error - translate an LMDB code once, with WHAT as subject. */
int store_mdb_error(int mdb_rc, const char *what);

static inline MDB_txn *store_mdb_txn(struct store_txn *t)
{
	return t->txn;
}

static inline MDB_dbi store_dbi(struct store_txn *t, enum store_table tbl)
{
	return t->s->dbi[tbl];
}

/*
 * store_cursor_end - the result of a cursor loop that stopped with RC: 0 at
 * the end of the table (MDB_NOTFOUND); an LMDB code translated once, with
 * WHAT as subject (store_mdb_error: corruption is -EIO); anything else, a
 * callback's own return (a negative errno), as it is.  Callbacks never
 * return LMDB codes, so the two cannot be confused.
 */
int store_cursor_end(int rc, const char *what);

/* store_dir_is_empty - 1 if directory DIR (a path) holds nothing, 0 if it
 * holds something, or a negative errno. */
int store_dir_is_empty(const char *dir);

/*
 * Thin, error-translating accessors.  store_get's OUT points into the map
 * and is valid until the transaction ends or the next write to TBL.
 */
int store_get(struct store_txn *t, enum store_table tbl, const void *key,
	      size_t klen, MDB_val *out);
int store_put(struct store_txn *t, enum store_table tbl, const void *key,
	      size_t klen, const void *val, size_t vlen, unsigned mdb_flags);
/* store_reserve - like store_put with MDB_RESERVE: *out receives the
 * space to fill before the next write in this transaction. */
int store_reserve(struct store_txn *t, enum store_table tbl, const void *key,
		  size_t klen, size_t vlen, void **out);
int store_del(struct store_txn *t, enum store_table tbl, const void *key,
	      size_t klen);
/* store_del_prefix - delete every key starting with PREFIX. */
int store_del_prefix(struct store_txn *t, enum store_table tbl,
		     const void *prefix, size_t plen);

static inline void store_be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static inline uint64_t store_be64_get(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

#endif
