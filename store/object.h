/*
 * object.h - git objects (blob, tree, commit, tag) in the store's one
 * content table, shared by every repository, image and layer.
 *
 * Objects are stored uncompressed (type byte + the object's raw body) so a
 * read is a pointer into the memory map: FUSE reads of committed files copy
 * straight from it.  Ids are SHA-1 as git computes them ("blob 12\0...").
 *
 * Threads: every function takes the caller's transaction; pointers returned
 * are borrowed until that transaction ends (or, in a write transaction,
 * until the next write to the objects table).
 */
#ifndef GOVC_OBJECT_H
#define GOVC_OBJECT_H

#include <stddef.h>
#include <git2/oid.h>
#include <git2/types.h>
#include "store/store.h"
#include "store/worktree.h"

#define STORE_OBJECT_MAX (1ULL << 36)	/* 64 GiB: larger blobs are refused */

/*
 * Chunked blobs.  A large blob that a commit made of a working-tree file's
 * chunks keeps them where they were written instead of being copied into
 * one value: its record names the chunks' owner number (from the "ino"
 * counter, so owners never collide with inodes) and the length, and the
 * bytes are chunks (owner, 0..) of STORE_WT_CHUNK bytes, the last one
 * shorter (docs/formats.md).  A chunk stored empty stands for that many
 * zero bytes (layer files of zeros cost no space).  Chunked blobs are read
 * in pieces; the id is the same as it would be for the same bytes in one
 * value.
 *
 * Owners at or above STORE_OWNER_INGEST were made by an ingest session
 * (ingest.h) for a layer file; until the blob is recorded they are pinned,
 * and gc removes the chunks of such an owner that nothing holds.
 */
#define STORE_OWNER_INGEST (1ULL << 62)
#define STORE_BLOB_CHUNKED_MIN (1u << 20)	/* smaller blobs are one value */

/*
 * store_object_read - find object ID.  *type, *data and *len describe it;
 * data is borrowed (see above).  -ENOENT if absent (no message set);
 * -E2BIG for a chunked blob (read it with store_blob_pieces or
 * store_object_copy).
 */
int store_object_read(struct store_txn *t, const git_oid *id,
		      git_object_t *type, const void **data, size_t *len);

/* store_object_info - the type and length of object ID; -ENOENT if absent. */
int store_object_info(struct store_txn *t, const git_oid *id,
		      git_object_t *type, uint64_t *len);

/*
 * store_blob_pieces - up to LEN bytes of object ID from OFF as at most MAX
 * borrowed pieces (struct store_piece, never holes), however it is stored.
 * *COUNT receives how many.  Returns the bytes described (0 past the end),
 * -ENOBUFS if MAX is too small (STORE_BLOB_PIECES(LEN) always suffices),
 * -EIO if a chunk of a chunked blob is missing or of the wrong size.
 */
#define STORE_BLOB_PIECES(len) ((len) / STORE_WT_CHUNK + 2)
long store_blob_pieces(struct store_txn *t, const git_oid *id, uint64_t off,
		       size_t len, struct store_piece *out, size_t max,
		       size_t *count);

/* store_object_owner - the number chunked blob ID's chunks are keyed by
 * (fsck); -EINVAL if ID is stored in one value. */
int store_object_owner(struct store_txn *t, const git_oid *id, uint64_t *owner);

/* store_object_copy - copy up to LEN bytes of object ID at OFF into BUF;
 * returns the number copied (0 past the end) or a negative errno. */
long store_object_copy(struct store_txn *t, const git_oid *id, uint64_t off,
		       void *buf, size_t len);

/*
 * store_object_put_chunked - record blob ID of LEN bytes as the chunks of
 * OWNER, which the caller has written whole (and hashed to ID).  From now
 * on the chunks are the blob's: deleting the blob deletes them.
 * -EEXIST if ID is stored already.  Needs a write transaction.
 */
int store_object_put_chunked(struct store_txn *t, const git_oid *id,
			     uint64_t owner, uint64_t len);

/* store_object_exists - 1 if present, 0 if not, or a negative errno. */
int store_object_exists(struct store_txn *t, const git_oid *id);

/*
 * store_object_hash - the id git gives an object of TYPE with DATA.
 */
int store_object_hash(git_oid *out, git_object_t type, const void *data,
		      size_t len);

/*
 * Young objects: a blob that store_wt_write_whole made for one working-tree
 * file and that nothing else holds yet has an entry in the young table (id
 * -> that file's inode).  While the entry exists the file may delete the
 * blob when its content moves on, so no garbage is left.  Anything else
 * that comes to hold the blob adopts it, removing the entry: every writer
 * that finds the object already stored (store_object_reserve, hence
 * store_object_write and the git backends) and a commit that takes the file.
 *
 * store_object_adopt - make ID no longer young (a no-op if it is not).
 */
int store_object_adopt(struct store_txn *t, const git_oid *id);

/*
 * store_object_write - hash and store an object; a no-op if it exists.
 * @out: receives the id (may be NULL).  Needs a write transaction.
 */
int store_object_write(struct store_txn *t, git_object_t type,
		       const void *data, size_t len, git_oid *out);

/*
 * Streaming: hash a large body piece by piece, then reserve its space and
 * copy it in.  store_object_reserve returns -EEXIST if the object is
 * already stored (nothing to copy), else *out is LEN bytes to fill before
 * the next write to the store in this transaction.
 */
struct store_hasher;
int store_hasher_new(struct store_hasher **out, git_object_t type,
		     uint64_t len);
void store_hasher_update(struct store_hasher *h, const void *p, size_t n);
void store_hasher_final(struct store_hasher *h, git_oid *out);	/* frees */
int store_object_reserve(struct store_txn *t, const git_oid *id,
			 git_object_t type, size_t len, void **out);

/*
 * store_object_prefix - resolve a short hex id of HEXLEN digits (4..40).
 * -ENOENT if nothing matches, -EINVAL if several do (message names them).
 */
int store_object_prefix(struct store_txn *t, const char *hex, size_t hexlen,
			git_oid *out);

/*
 * store_object_foreach - call CB for every object id; a non-zero return
 * from CB stops the walk and is returned.
 */
int store_object_foreach(struct store_txn *t,
			 int (*cb)(const git_oid *id, void *arg), void *arg);

/* store_object_delete - remove an object (gc only), with its chunks. */
int store_object_delete(struct store_txn *t, const git_oid *id);

/* A parsed tree entry; NAME is NUL-terminated inside the tree body. */
struct store_tree_entry {
	const char *name;
	size_t namelen;
	unsigned mode;		/* 040000, 0100644, 0100755, 0120000, 0160000 */
	const git_oid *id;
};

/*
 * store_tree_next - parse the entry of tree body TREE at *POS and advance.
 * Returns 1 with *E filled, 0 at the end, -EIO if the tree is malformed.
 */
int store_tree_next(const void *tree, size_t len, size_t *pos,
		    struct store_tree_entry *e);

/* store_tree_find - the entry NAME of a tree body; -ENOENT if absent. */
int store_tree_find(const void *tree, size_t len, const char *name,
		    struct store_tree_entry *e);

#endif
