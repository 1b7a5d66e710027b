/*
 * repo.h - repositories and their refs.
 *
 * A repository is a name (validated by store_repo_name_check), a HEAD
 * (symbolic, "ref: refs/heads/<branch>") and refs, all in the refs table
 * under the key  repo \0 refname.  Ref values are git's loose-ref text: 40
 * hex digits, or "ref: <target>" for a symbolic ref.  Every ref update
 * appends to the reflog table (libgit2 1.5 has no public reflog
 * constructor, so the history of refs is ours).
 *
 * Threads: all functions take the caller's transaction.
 */
#ifndef GOVC_REPO_H
#define GOVC_REPO_H

#include <git2/oid.h>
#include "store/store.h"

#define STORE_REPO_NAME_MAX 100
#define STORE_REF_NAME_MAX 255
#define STORE_REF_VALUE_MAX 512
#define STORE_DEFAULT_BRANCH "main"

/*
 * store_repo_name_check - 0 if NAME can name a repository: 1 to 100 of
 * [A-Za-z0-9._-], not starting with '.' or '-'.  Else -EINVAL and a
 * message saying what is wrong.
 */
int store_repo_name_check(const char *name);

/* store_branch_name_check - the same rule for branch names. */
int store_branch_name_check(const char *name);

/*
 * store_repo_create - create repository NAME whose HEAD points at BRANCH
 * (unborn until its first commit) and an empty working tree for it.
 * -EEXIST if it exists.  Raises a "repo" event.
 */
int store_repo_create(struct store_txn *t, const char *name,
		      const char *branch);

/*
 * store_repo_remove - remove repository NAME: its working trees (their
 * inodes become orphans, see store_wt_remove), refs, reflog and record;
 * its objects stay until gc.  With ONLY_IF_EMPTY (rmdir through the
 * mount), only a repository with no commit and empty working trees goes,
 * else -ENOTEMPTY naming the command that removes it.  -ENOENT if absent.
 * Raises {"type":"repo","repo":NAME,"action":"removed"}.
 */
int store_repo_remove(struct store_txn *t, const char *name, int only_if_empty);

/*
 * store_repo_rename - rename repository OLD to NEW, with its refs, reflog
 * and working trees (the same inodes).  -EINVAL for a bad NEW (message
 * says why), -ENOENT, -EEXIST.  Raises "removed" for OLD and
 * {"type":"repo","repo":NEW,"action":"renamed","from":OLD}.
 */
int store_repo_rename(struct store_txn *t, const char *old, const char *new);

/* store_repo_exists - 1, 0, or a negative errno. */
int store_repo_exists(struct store_txn *t, const char *name);

/*
 * store_repo_foreach - call CB(name) for each repository in name order;
 * a non-zero return stops the walk and is returned.
 */
int store_repo_foreach(struct store_txn *t,
		       int (*cb)(const char *name, void *arg), void *arg);

/*
 * store_repo_head_branch - the branch HEAD names, copied into BUF.
 */
int store_repo_head_branch(struct store_txn *t, const char *repo, char *buf,
			   size_t len);

/*
 * store_ref_read - the raw value of ref NAME of REPO ("HEAD",
 * "refs/heads/main"), NUL-terminated in BUF.  -ENOENT if absent.
 */
int store_ref_read(struct store_txn *t, const char *repo, const char *name,
		   char *buf, size_t len);

/*
 * store_ref_resolve - follow symbolic refs from NAME to an object id.
 * -ENOENT if the ref or its target does not exist (an unborn branch).
 */
int store_ref_resolve(struct store_txn *t, const char *repo, const char *name,
		      git_oid *out);

/*
 * store_ref_write - set ref NAME of REPO to VALUE ("<40 hex>" or
 * "ref: <target>").  If OLD is not NULL the write is a compare-and-swap:
 * it fails with -EAGAIN unless the current value equals OLD (the empty
 * string "" meaning "must not exist").  MESSAGE goes to the reflog.
 */
int store_ref_write(struct store_txn *t, const char *repo, const char *name,
		    const char *value, const char *old, const char *message);

/* store_ref_delete - remove ref NAME (CAS on OLD as above). */
int store_ref_delete(struct store_txn *t, const char *repo, const char *name,
		     const char *old);

/*
 * store_ref_foreach - call CB(name, value) for each ref of REPO whose name
 * starts with PREFIX (NULL for all), in name order.
 */
int store_ref_foreach(struct store_txn *t, const char *repo,
		      const char *prefix,
		      int (*cb)(const char *name, const char *value, void *arg),
		      void *arg);

/*
 * store_reflog_foreach - call CB for each reflog entry of ref NAME, oldest
 * first.  LINE is "<old hex> <new hex> <unix time> <message>".
 */
int store_reflog_foreach(struct store_txn *t, const char *repo,
			 const char *name,
			 int (*cb)(const char *line, size_t len, void *arg),
			 void *arg);

#endif
