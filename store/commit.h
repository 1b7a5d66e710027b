/*
 * commit.h - the one place where commits are made and events raised.
 *
 * store_wt_commit() turns a working tree's pending changes into a git
 * commit on its branch: it visits dirty directories only, hashes files
 * written since the last commit into blobs, builds the changed trees with
 * libgit2's treebuilder, creates the commit with libgit2 (which moves the
 * branch ref through the store's refdb, compare-and-swap), and appends a
 * "commit" event - all in one write transaction.
 *
 * Files never committed (they live in the working tree only): editor
 * scratch files (vim .swp/.swo/.swx and its 4913 probe, names ending in
 * '~', emacs .#locks and #autosaves#), ".git", and paths matched by the
 * working tree's .gitignore files.
 *
 * Threads: any thread; takes its own write transaction.
 */
#ifndef GOVC_COMMIT_H
#define GOVC_COMMIT_H

#include <git2/oid.h>
#include "store/store.h"

/*
 * store_wt_commit - commit REPO's BRANCH working tree.
 * @out: the new commit id, or zeroed if there was nothing to commit.
 * Returns 0 or a negative errno (-ENOSPC when the store is full: nothing
 * is lost, the changes stay pending).
 */
int store_wt_commit(struct store *s, const char *repo, const char *branch,
		    git_oid *out);

/*
 * store_wt_check_dirty - find the dirty directories of REPO's BRANCH
 * working tree that a commit would miss: taken by commits (not ignored, or
 * tracked) but below a clean directory, which a commit does not enter.
 * CB gets each one's inode, its parent's and its path; its non-zero
 * return stops the walk.  Ignored directories keep their dirty flags
 * below a clean parent (no commit visits them, and nothing needs to):
 * those are not reported.  Walks the whole working tree with the commit's
 * rules (.gitignore files included), in the caller's transaction T (read
 * or write).  Returns 0, CB's return, or a negative errno.
 */
int store_wt_check_dirty(struct store_txn *t, const char *repo, const char *branch,
			 int (*cb)(uint64_t ino, uint64_t parent, const char *path, void *arg),
			 void *arg);

/* store_ignored - 1 if a file named NAME is an editor scratch file. */
int store_ignored_name(const char *name);

/* How store_tree_diff reports a change. */
enum store_change { STORE_ADDED = 'A', STORE_MODIFIED = 'M', STORE_DELETED = 'D' };

/*
 * store_tree_diff - report the paths that differ between trees OLD and NEW
 * (either may be NULL: empty), skipping identical subtrees, so the work is
 * proportional to the change.  An empty directory added or deleted is
 * reported as "path/".  CB's non-zero return stops the walk.
 */
int store_tree_diff(struct store_txn *t, const git_oid *old_tree,
		    const git_oid *new_tree,
		    int (*cb)(enum store_change c, const char *path,
			      void *arg),
		    void *arg);

/*
 * store_log - call CB for each commit reachable from REPO's ref REF
 * ("HEAD" for the current branch), newest first, with a line of the form
 *   <40-hex id> \t <ISO-8601 UTC time> \t <subject> \t <changes>
 * where changes are "A path", "M path", "D path" separated by ", "
 * (capped at 20, then "+N more").  LINE has no newline.
 */
int store_log(struct store *s, const char *repo, const char *ref,
	      int (*cb)(const char *line, void *arg), void *arg);

/*
 * Commit failures.  When a commit of REPO's BRANCH fails (the disk is full,
 * say), store_commit_failed records why (meta "commit_failed:" REPO \0
 * BRANCH -> the message) and raises a "commit_failed" event, both best
 * effort (on a full disk even they may not fit; the caller logs it too).
 * store_commit_ok removes the record once a commit of it succeeds (a read
 * first: no write when there is none) and returns 1 if there was one.  store_commit_failures calls CB for
 * each record (strings borrowed for the call).  The working tree keeps the
 * changes either way: nothing is lost, only not yet committed.
 */
int store_commit_failed(struct store *s, const char *repo, const char *branch,
			const char *why);
int store_commit_ok(struct store *s, const char *repo, const char *branch);
int store_commit_failures(struct store *s,
			  int (*cb)(const char *repo, const char *branch,
				    const char *why, void *arg),
			  void *arg);

#endif
