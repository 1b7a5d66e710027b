/*
 * ingest.h - long work (an import, a pull, a build) that writes to the
 * store without holding its writer lock for long.
 *
 * An ingest session writes in short write transactions: the caller asks
 * for the session's transaction (store_ingest_txn), writes, and calls
 * store_ingest_step after each unit of work; the transaction is committed
 * once it has been open INGEST_TXN_MS or written INGEST_TXN_BYTES, so the
 * mount's writers (the FUSE daemon, another command) wait a few
 * milliseconds at most.  Nothing the session writes is reachable until it
 * publishes: the caller's publish callback runs in one short transaction
 * at the end (tags, image records, events), so nothing half-done is ever
 * visible.
 *
 * Pins.  Whatever the session wrote or found already stored and means to
 * refer to is pinned (oci_meta 'P' records, docs/oci.md) so that store_gc
 * keeps it even though no tag reaches it yet.  A pin belongs to the session;
 * the session is alive while it holds an flock on STORE/sessions/<id>.  A
 * killed session's lock goes with its process: gc then drops its pins and
 * sweeps what they kept, so a killed import leaves nothing gc does not
 * remove.  Pins are dropped after publishing (what they kept is then
 * reachable from the published records) or on abort.
 *
 * Threads: a session belongs to the thread that began it (its
 * transactions do).  Several sessions, in any processes, may run at once;
 * those of one process take turns at writing (ingest.c, "the gate"), so
 * another process's writer competes with one of them at a time, and their
 * transactions are bulk (STORE_TXN_BULK): any other writer waiting for
 * the writer lock goes first.  While sessions are open a thread of the
 * store's takes the checkpoints (store_checkpointer_hold).
 *
 * Errors: 0 or a negative errno with a message (store_errmsg()).
 */
#ifndef GOVC_INGEST_H
#define GOVC_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <git2/oid.h>
#include "store/store.h"

#define INGEST_TXN_MS 4			/* longest a session holds the lock */
#define INGEST_TXN_BYTES (4u << 20)	/* most it writes in one transaction */

struct store_ingest;

/* What a pin keeps (docs/oci.md). */
enum store_pin_kind {
	STORE_PIN_OBJECT = 'g',	/* a git object (20-byte id) */
	STORE_PIN_BLOB = 'b',	/* an OCI blob or what it reaches (32 bytes) */
	STORE_PIN_CHUNKS = 'c',	/* the chunks of an owner being written (be64) */
	STORE_PIN_LAYER = 'l',	/* the index records of a layer id (be64) */
};

/*
 * store_ingest_begin - start a session on S.  WHAT names it in messages
 * ("import of oci:/tmp/x").  *out is freed by store_ingest_finish or
 * store_ingest_abort.
 */
int store_ingest_begin(struct store_ingest **out, struct store *s,
		       const char *what);

/* store_ingest_store - the store of session IN. */
struct store *store_ingest_store(struct store_ingest *in);

/*
 * store_ingest_txn - the session's open write transaction, begun if none
 * is open.  Borrowed until the next store_ingest_step, _flush, _finish
 * or _abort.
 */
int store_ingest_txn(struct store_ingest *in, struct store_txn **t);

/*
 * store_ingest_step - account BYTES written in the open transaction and
 * commit it if it is old or large enough.  The caller must not keep
 * pointers from the transaction across this call.
 */
int store_ingest_step(struct store_ingest *in, size_t bytes);

/* store_ingest_flush - commit the open transaction now (if any). */
int store_ingest_flush(struct store_ingest *in);

/*
 * store_ingest_pause - the caller is about to work a while (decompress,
 * hash) without writing: if another session of this process waits to
 * write (a pull's other threads), commit the open transaction now, so
 * that it writes while this one works instead of waiting for it (unless
 * the transaction is younger than a millisecond: small pieces of work
 * would otherwise cost a commit each).  Alone, the transaction stays open
 * and batches on.
 */
int store_ingest_pause(struct store_ingest *in);

/*
 * store_ingest_pin - pin KEY (LEN bytes, as KIND says) for the session, in
 * the session's transaction.  Pinning twice is harmless.
 */
int store_ingest_pin(struct store_ingest *in, enum store_pin_kind kind,
		     const void *key, size_t len);

/*
 * store_ingest_unpin_key - drop the session's pin of KEY (LEN bytes) of
 * KIND, in its transaction (a no-op if it holds none).
 */
int store_ingest_unpin_key(struct store_ingest *in, enum store_pin_kind kind,
			   const void *key, size_t len);

/* store_ingest_pin_object - store_ingest_pin of a git object id. */
int store_ingest_pin_object(struct store_ingest *in, const git_oid *id);

/*
 * store_ingest_unpin - drop the pins of KIND (every kind: 0) the session
 * holds, in short transactions (they are many: one per file).  Used once
 * what they keep is reachable another way.
 */
int store_ingest_unpin(struct store_ingest *in, int kind);

/*
 * store_ingest_finish - run PUBLISH(t, ARG) in one write transaction of
 * its own (after committing the open one), then drop the session's pins
 * and free IN.  If PUBLISH or the commit fails nothing is published and
 * the session is aborted.  IN is freed in every case.
 */
int store_ingest_finish(struct store_ingest *in,
			int (*publish)(struct store_txn *t, void *arg),
			void *arg);

/*
 * store_ingest_abort - give up: the open transaction is committed (what it
 * wrote is garbage gc will take), the pins are dropped, IN is freed.  Keeps
 * the calling thread's error message.  NULL is allowed.
 */
void store_ingest_abort(struct store_ingest *in);

/*
 * store_ingest_foreach_pin - for gc: CB(kind, key, len, ARG) (CB may be
 * NULL) for every pin of a live session.  In a write transaction the pins
 * of dead sessions are deleted, with their lock files; a read transaction
 * skips them.  A non-zero return from CB stops the walk and is returned.
 */
int store_ingest_foreach_pin(struct store_txn *t,
			     int (*cb)(int kind, const unsigned char *key,
				       size_t len, void *arg),
			     void *arg);

/*
 * store_ingest_who - is KEY of KIND pinned by a live session?  1 with
 * WHAT (WLEN bytes) filled with that session's description (what
 * store_ingest_begin was given, e.g. "the mount at /mnt"), 0 if not, or a
 * negative errno.  Any transaction.
 */
int store_ingest_who(struct store_txn *t, int kind, const void *key,
		     size_t len, char *what, size_t wlen);

#endif
