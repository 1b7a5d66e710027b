/*
 * git.h - libgit2 on top of the store: a custom ODB backend over the
 * objects table and a custom refdb backend over the refs table, so that
 * libgit2 itself builds trees, creates commits and walks history.
 *
 * Threads: a git_repository from store_git_open() belongs to one thread
 * at a time (libgit2's rule); opening one is cheap (no I/O), so open one
 * per operation.  The backends join the calling thread's open write
 * transaction (store_txn_current) if there is one, else run their own
 * short transaction per call.
 */
#ifndef GOVC_GIT_H
#define GOVC_GIT_H

#include <git2.h>
#include "store/store.h"

/*
 * store_git_open - a bare, in-memory-configured libgit2 repository for
 * repository REPO of store S (REPO need not exist yet: refs are simply
 * empty).  Never reads the user's git configuration.
 * @out: freed by the caller with git_repository_free().
 */
int store_git_open(git_repository **out, struct store *s, const char *repo);

/*
 * store_git_error - translate libgit2 return code RC into a negative errno
 * and record "WHAT: <libgit2 message>".  Returns 0 for RC == 0.
 */
int store_git_error(int rc, const char *what);

/* ---- reading history, for callers that do not speak libgit2 (fs/) ----- */

/* The hex form of an object id: STORE_OID_HEX + 1 bytes with the NUL. */
#define STORE_OID_HEX 40

/* store_oid_fmt - ID in hex into BUF (STORE_OID_HEX + 1 bytes); returns BUF */
char *store_oid_fmt(char *buf, const git_oid *id);

/* store_oid_empty_tree - the id of git's empty tree (4b825dc6...) */
void store_oid_empty_tree(git_oid *out);

/*
 * store_commit_read - the committer time (unix seconds) and the tree of
 * commit ID of REPO.  -ENOENT if no commit ID is stored, or another
 * negative errno with a message.  Reads in short transactions of its own
 * (or the thread's write transaction): call it outside a read transaction
 * or beside one, as libgit2's backends do.
 */
int store_commit_read(struct store *s, const char *repo, const git_oid *id,
		      int64_t *time, git_oid *tree);

/*
 * store_commit_parent - the first parent of commit ID of REPO into
 * *PARENT: 0, 1 if ID has none (a repository's first commit), -ENOENT if
 * no commit ID is stored, or another negative errno with a message.
 * Transactions as store_commit_read.
 */
int store_commit_parent(struct store *s, const char *repo, const git_oid *id,
			git_oid *parent);

/*
 * store_commit_reachable - 1 if commit ID is the head of REPO's current
 * branch or one of its ancestors, 0 if not (also when the branch has no
 * commit yet or HEAD cannot be read), or a negative errno.  T reads the
 * refs.
 */
int store_commit_reachable(struct store *s, struct store_txn *t,
			   const char *repo, const git_oid *id);

/*
 * store_history_foreach - call CB(id) for each commit reachable from the
 * head of REPO's current branch, newest first (libgit2's revwalk order);
 * nothing if the branch has no commit yet.  A non-zero return from CB
 * stops the walk and is returned; an error reading HEAD (-ENOENT: no such
 * repository) is returned too.  T reads the refs.
 */
int store_history_foreach(struct store *s, struct store_txn *t,
			  const char *repo,
			  int (*cb)(const git_oid *id, void *arg), void *arg);

#endif
