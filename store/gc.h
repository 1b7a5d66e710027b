/*
 * gc.h - removing what nothing reaches: git objects, OCI blobs, layer
 * indexes and image records.
 *
 * Roots: every tag (its manifest and, if it came in one, its image index),
 * every pin (oci.h), every ref and reflog entry of every repository, and
 * every working-tree inode (a file's base blob, a clean directory's tree;
 * orphans still open included).  From them: commits -> trees and parents,
 * trees -> entries, tags -> targets; indexes -> manifests; manifests ->
 * config and layers; layers -> their index and the git blobs of their
 * files.  Everything else goes.
 *
 * Safe while the store is mounted or imported into, and never holding the
 * writer lock for long: the mark runs in a read transaction (a snapshot),
 * the sweep in short write transactions, and references taken meanwhile
 * to what the snapshot found unreachable are recorded (store_gc_touch) and
 * kept.  One gc runs at a time per store (-EBUSY otherwise).  A daemon
 * holding an image open whose tag was removed gets -ENOENT on its next
 * lookup.
 */
#ifndef GOVC_GC_H
#define GOVC_GC_H

#include <stdint.h>
#include "store/store.h"

struct store_gc_stats {
	uint64_t objects, object_bytes;	/* git objects removed */
	uint64_t blobs, blob_bytes;	/* OCI blobs removed */
	uint64_t layers;		/* layer indexes removed */
	uint64_t images;		/* image records removed */
	uint64_t kept_objects, kept_blobs;
};

enum store_gc_flags {
	STORE_GC_DRY_RUN = 1 << 0,	/* count, remove nothing */
};

/*
 * store_gc - collect garbage in store S (see above).  OUT receives what
 * was (or, with STORE_GC_DRY_RUN, would be) removed.  Takes its own write
 * transaction.  Errors: -ENOMEM, -EIO (a damaged record: nothing is
 * removed), -ENOSPC.
 */
int store_gc(struct store *s, unsigned flags, struct store_gc_stats *out);

/*
 * store_gc_touch - record, while a gc runs (in any process), that the
 * caller's write transaction T takes a new reference to KEY (LEN bytes)
 * of KIND (a store_pin_kind of ingest.h: 'g' a git object, 'b' an OCI
 * digest, 'l' a layer id, 'c' a chunk owner), which may already be a
 * candidate of that gc: it then keeps KEY and all it reaches.  A no-op
 * (one lookup) when no gc runs.  Called by whatever finds something stored
 * and comes to hold it: store_object_adopt, ingest pins, tags, refs.
 */
int store_gc_touch(struct store_txn *t, int kind, const void *key,
		   size_t len);

/*
 * store_gc_set_hook - for tests: HOOK(S, ARG) runs in every store_gc of
 * this process between the mark (the snapshot) and the sweep, so a test
 * can take references in between.  NULL removes it.  Not thread-safe.
 */
void store_gc_set_hook(void (*hook)(struct store *s, void *arg), void *arg);

#endif
