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

#endif
