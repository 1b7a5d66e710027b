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
 * Safe while the store is mounted: the mark and the sweep run in one write
 * transaction, so no writer (thread or process) can add a reference in
 * between, and readers keep their snapshot (LMDB MVCC).  A daemon holding
 * an image open whose tag was removed gets -ENOENT on its next lookup.
 * The cost is that writers wait while gc runs (seconds for ~100k objects).
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

#endif
