/*
 * gitio.h - moving repositories between the store and ordinary git
 * repositories on disk, history intact (git log and git fsck agree).
 *
 * Threads: each call opens its own transactions; safe while mounted.
 */
#ifndef GOVC_GITIO_H
#define GOVC_GITIO_H

#include "store/store.h"

/*
 * store_git_export - write repository REPO into the git repository at DIR
 * (created as a normal, non-bare repository if absent): every object
 * reachable from REPO's refs, its branches under refs/heads, HEAD, and a
 * checkout of HEAD's tree.  -ENOENT if REPO does not exist.
 */
int store_git_export(struct store *s, const char *repo, const char *dir);

/*
 * store_git_import - create repository REPO from the git repository at DIR
 * (bare or not): every object reachable from its branches and tags, its
 * branches, HEAD, and a working tree checked out at HEAD.
 * -EEXIST if REPO exists; -EINVAL for a bad name.  All or nothing: on
 * error the store holds nothing of the import.
 */
int store_git_import(struct store *s, const char *dir, const char *repo);

#endif
