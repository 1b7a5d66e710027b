/*
 * extras.h - what a commit's git tree cannot hold, kept beside it: the
 * special files (fifos, sockets, character and block devices) with their
 * mode, owners and device number, and which names are hard links of one
 * file.  One record per commit that has any (extras table, keyed by the
 * commit's id; docs/formats.md): a list of entries sorted by path.
 *
 * A special file is in the list only (its git tree has no entry for it).
 * A regular file or symlink with several names is in the git tree under
 * each name (the same blob) and in the list under each, with one group
 * number: the names that share it are one inode.  A special file with
 * several names has a group too.
 *
 * store_wt_commit() (commit.c) writes the record in the commit's own
 * transaction; commits/<repo>/<id>/ (fs/view_commits.c) and git export
 * read it.  gc deletes a record with its commit.
 *
 * Threads: every function takes the caller's transaction; nothing is
 * shared.  Entries handed to callbacks are borrowed for the call.
 */
#ifndef GOVC_EXTRAS_H
#define GOVC_EXTRAS_H

#include <stdint.h>
#include <git2/oid.h>
#include "store/store.h"
#include "util/buf.h"

struct store_extra {
	const char *path;	/* relative to the commit's root, NUL-terminated */
	uint32_t mode;		/* type and permission bits */
	uint32_t uid, gid;
	uint64_t rdev;		/* devices: the device number */
	uint64_t group;		/* names with one group are one inode; 0: none */
	uint32_t nlink;		/* how many entries have this group (1 if none) */
};

/* The largest record accepted (a corrupt length is -EIO, not a huge read). */
#define STORE_EXTRAS_MAX (64u << 20)

/*
 * store_extras_add - append E (nlink ignored) to the record being built in
 * B; the caller adds entries in path order (strcmp).  -ENOMEM, -E2BIG.
 */
int store_extras_add(struct util_buf *b, const struct store_extra *e);

/* store_extras_put - record BODY (LEN bytes, from store_extras_add) as
 * commit ID's extras; nothing when LEN is 0. */
int store_extras_put(struct store_txn *t, const git_oid *id, const void *body,
		     size_t len);

/*
 * store_extras_get - commit ID's record: *BODY borrowed until T ends or
 * writes, *LEN 0 (and 0 returned) when the commit has none.
 */
int store_extras_get(struct store_txn *t, const git_oid *id, const void **body,
		     size_t *len);

/* store_extras_delete - drop commit ID's record (gc); 0 if it had none */
int store_extras_delete(struct store_txn *t, const git_oid *id);

/*
 * store_extras_foreach - call CB for each entry of record BODY in path
 * order, with nlink counted.  CB's non-zero return stops the walk and is
 * returned; a corrupt record gives -EIO with a message.
 */
int store_extras_foreach(const void *body, size_t len,
			 int (*cb)(const struct store_extra *e, void *arg),
			 void *arg);

/*
 * store_extras_lookup - the entry for PATH in record BODY into *OUT (its
 * path is PATH), nlink counted: 1, 0 if there is none, or -EIO.
 */
int store_extras_lookup(const void *body, size_t len, const char *path,
			struct store_extra *out);

/*
 * store_extras_find - the entry for PATH in commit ID's record into *OUT
 * (its path borrowed like the record); -ENOENT if there is none.
 */
int store_extras_find(struct store_txn *t, const git_oid *id, const char *path,
		      struct store_extra *out);

/*
 * store_extras_head - call CB for each entry of the extras of the commit
 * REPO's HEAD names (nothing if it has none, or no commit yet), in a read
 * transaction of its own.  For git export, which says what it left out.
 */
int store_extras_head(struct store *s, const char *repo,
		      int (*cb)(const struct store_extra *e, void *arg), void *arg);

/* store_extras_is_special - 1 if E is a file a git tree does not hold */
int store_extras_is_special(const struct store_extra *e);

#endif
