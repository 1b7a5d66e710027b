/*
 * view_commits.c - commits/: commits/<repo>/ lists the full ids of the
 * current branch's history (short ids that name one of them resolve too),
 * and commits/<repo>/<id>/ is the read-only snapshot of that commit, read
 * straight from its git trees and blobs.
 *
 * A snapshot shows the modes its commit records (git's 100644, 100755 and
 * 040000 as 0644, 0755 and 0755, the root included), so that `rsync -a
 * --delete commits/<repo>/<id>/ repos/<repo>/` restores exactly the
 * committed tree; writes get EROFS from the view, whatever the mode says.
 * Owners are the mounting user's and times the commit's: a commit records
 * neither, for what its git tree holds.  What the tree cannot hold comes
 * from the commit's extras (store/extras.h): fifos, sockets and devices
 * are listed with their own mode, owners and device number, and the names
 * of one hard-linked file are one node (interned by commit and group), so
 * they show one inode number and their nlink.
 *
 * Snapshots are immutable, so their entries and attributes are cached by
 * the kernel for long; the lists of repositories and commits change, so
 * those directories are cached for a second only (the watcher invalidates
 * commits/<repo>/'s listing when the repository gets a commit).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs_int.h"
#include "store/extras.h"
#include "store/git.h"
#include "store/object.h"
#include "store/repo.h"

/* a directory of a snapshot, as a git tree is checked out */
#define SNAPSHOT_DIR_MODE 0755

/* missing - RC of reading object ID of REPO's history: a missing object
 * is damage (-EIO), with a message that names it */
static int missing(int rc, const char *what, const git_oid *id, const char *repo)
{
	char hex[STORE_OID_HEX + 1];

	if (rc != -ENOENT)
		return rc;
	return store_error(-EIO, "%s %s of repository '%s' is missing; run govc fsck", what,
			   store_oid_fmt(hex, id), repo);
}

static int has_extras(const struct fs_node *n)
{
	return !git_oid_is_zero(&n->commit);
}

/* child_path - the path of NAME in snapshot directory DIR, which has
 * extras; malloc'd, NULL when out of memory */
static char *child_path(const struct fs_node *dir, const char *name)
{
	size_t dl = dir->key_len, nl = strlen(name);
	char *p = malloc(dl + nl + 2);

	if (!p)
		return NULL;
	if (dl) {
		memcpy(p, dir->key, dl);
		p[dl] = '/';
	}
	memcpy(p + (dl ? dl + 1 : 0), name, nl + 1);
	return p;
}

/* extra_entry - E for node N, which the extras entry X describes: the
 * names of one hard-linked file are one node */
static int extra_entry(struct fs *fs, struct fs_node *n, const struct store_extra *x,
		       struct fuse_entry_param *e)
{
	n->nlink = x->nlink;
	if (!x->group)
		return fs_new_entry(fs, n, FS_FOREVER, e);
	n->key_a = x->group;
	n->key = malloc(GIT_OID_RAWSZ);
	if (!n->key)
		return -ENOMEM;
	memcpy(n->key, n->commit.id, GIT_OID_RAWSZ);
	n->key_len = GIT_OID_RAWSZ;
	return fs_intern_entry(fs, n, FS_FOREVER, e);
}

/* extra_of - the extras entry of NAME in snapshot directory PARENT into
 * *X: 0, -ENOENT if none, or another negative errno */
static int extra_of(struct store_txn *t, const struct fs_node *parent, const char *name,
		    struct store_extra *x)
{
	char *path = child_path(parent, name);
	int rc;

	if (!path)
		return -ENOMEM;
	rc = store_extras_find(t, &parent->commit, path, x);
	free(path);
	x->path = NULL;
	return rc;
}

/* special_entry - NAME in PARENT, which its tree does not hold: a fifo,
 * socket or device of the commit's extras, or -ENOENT */
static int special_entry(struct fs *fs, struct store_txn *t, const struct fs_node *parent,
			 const char *name, struct fuse_entry_param *e)
{
	struct fs_node n = { .time = parent->time, .kind = FS_K_SPECIAL, .owned = 1 };
	struct store_extra x;
	int rc = extra_of(t, parent, name, &x);

	if (rc)
		return rc;
	if (!store_extras_is_special(&x))
		return -ENOENT;
	snprintf(n.repo, sizeof(n.repo), "%s", parent->repo);
	n.commit = parent->commit;
	n.mode = x.mode;
	n.uid = x.uid;
	n.gid = x.gid;
	n.rdev = x.rdev;
	return extra_entry(fs, &n, &x, e);
}

/* entry_from_tree - the node for NAME inside snapshot tree PARENT. */
static int entry_from_tree(struct fs *fs, struct store_txn *t, const struct fs_node *parent,
			   const char *name, struct fuse_entry_param *e)
{
	struct store_tree_entry te;
	struct fs_node n = { .time = parent->time };
	const void *body;
	size_t len;
	uint64_t blen;
	int rc = store_object_read(t, &parent->oid, NULL, &body, &len);

	if (rc)
		return missing(rc, "tree", &parent->oid, parent->repo);
	rc = store_tree_find(body, len, name, &te);
	if (rc == -ENOENT && has_extras(parent))
		return special_entry(fs, t, parent, name, e);
	if (rc)
		return rc;
	snprintf(n.repo, sizeof(n.repo), "%s", parent->repo);
	n.oid = *te.id;
	if (te.mode == 040000) {
		n.kind = FS_K_TREE;
		n.mode = S_IFDIR | SNAPSHOT_DIR_MODE;
	} else if (te.mode == 0160000) {
		n.kind = FS_K_TREE;	/* a submodule: shown as an empty dir */
		n.mode = S_IFDIR | SNAPSHOT_DIR_MODE;
		store_oid_empty_tree(&n.oid);
	} else {
		rc = store_object_info(t, &n.oid, NULL, &blen);
		if (rc)
			return missing(rc, "blob", &n.oid, parent->repo);
		n.size = blen;
		n.kind = te.mode == 0120000 ? FS_K_LINK : FS_K_BLOB;
		/* the modes git records: 100755 and 100644 */
		n.mode = te.mode == 0120000 ? (S_IFLNK | 0777)
			 : (te.mode & 0111)  ? (S_IFREG | 0755)
					     : (S_IFREG | 0644);
	}
	if (has_extras(parent)) {
		struct store_extra x;

		n.commit = parent->commit;
		if (n.kind == FS_K_TREE) {	/* its children need their paths */
			n.key = child_path(parent, name);
			if (!n.key)
				return -ENOMEM;
			n.key_len = strlen(n.key);
			rc = fs_new_entry(fs, &n, FS_FOREVER, e);
			if (rc)
				free(n.key);
			return rc;
		}
		rc = extra_of(t, parent, name, &x);
		if (rc == 0 && x.group)
			return extra_entry(fs, &n, &x, e);
		if (rc && rc != -ENOENT)
			return rc;
	}
	return fs_new_entry(fs, &n, FS_FOREVER, e);
}

/* resolve_commit - NAME (full or unique short id) in repo's history. */
static int resolve_commit(struct fs *fs, struct store_txn *t, const char *repo, const char *name,
			  struct fs_node *n)
{
	git_object_t type;
	const void *body;
	size_t len;
	git_oid id;
	int64_t when;
	int rc = store_object_prefix(t, name, strlen(name), &id);

	if (rc == -EINVAL)
		return -ENOENT;
	if (rc)
		return rc;
	rc = store_object_read(t, &id, &type, &body, &len);
	if (rc)
		return rc;
	if (type != GIT_OBJECT_COMMIT)
		return -ENOENT;
	/* the content store is shared: a short id must name one of this
	 * repo's commits (full ids come from listings and are trusted) */
	if (strlen(name) < STORE_OID_HEX) {
		rc = store_commit_reachable(fs->store, t, repo, &id);
		if (rc < 0)
			return -EIO;
		if (!rc)
			return -ENOENT;
	}
	if (store_commit_read(fs->store, repo, &id, &when, &n->oid))
		return -EIO;
	n->time = when;
	n->kind = FS_K_TREE;
	n->mode = S_IFDIR | SNAPSHOT_DIR_MODE;	/* the repository's root */
	rc = store_extras_get(t, &id, &body, &len);
	if (rc == 0 && len) {
		n->commit = id;
		n->key = strdup("");	/* the root's path */
		n->key_len = 0;
		if (!n->key)
			rc = -ENOMEM;
	}
	return rc;
}

static int commits_lookup(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
			  const char *name, struct fuse_entry_param *e)
{
	struct fs_node n = { 0 };
	int rc;

	memset(e, 0, sizeof(*e));
	switch (dir->kind) {
	case FS_K_FIXED:	/* commits/ */
		if (store_repo_exists(t, name) != 1)
			return -ENOENT;
		/* interned by name: the watcher invalidates its listing when
		 * the repository gets a commit */
		n.kind = FS_K_COMMITS_REPO;
		n.mode = S_IFDIR | 0555;
		snprintf(n.repo, sizeof(n.repo), "%s", name);
		n.key = strdup(name);
		n.key_len = strlen(name);
		if (!n.key)
			return -ENOMEM;
		return fs_intern_entry(fs, &n, FS_LIST_TIMEOUT, e);
	case FS_K_COMMITS_REPO:
		snprintf(n.repo, sizeof(n.repo), "%s", dir->repo);
		rc = resolve_commit(fs, t, dir->repo, name, &n);
		if (rc == 0)
			rc = fs_new_entry(fs, &n, FS_FOREVER, e);
		if (rc)
			free(n.key);
		return rc;
	case FS_K_TREE:
		return entry_from_tree(fs, t, dir, name, e);
	default:
		return -ENOTDIR;
	}
}

static int commits_getattr(struct fs *fs, struct store_txn *t, const struct fs_node *n,
			   struct stat *st, double *timeout)
{
	(void)t;
	if (n->kind == FS_K_FIXED) {
		fs_fixed_attr(fs, n->id, S_IFDIR | 0555, st);
		return 0;
	}
	fs_dynamic_attr(fs, n, st);
	if (n->kind == FS_K_COMMITS_REPO)
		*timeout = FS_LIST_TIMEOUT;
	return 0;
}

static int add_commit(const git_oid *id, void *arg)
{
	char hex[STORE_OID_HEX + 1];

	return fs_dirlist_add(arg, store_oid_fmt(hex, id));
}

/* The special files of one snapshot directory, for its listing. */
struct special_list {
	const char *dir;	/* its path */
	size_t dlen;
	struct fs_dirlist *out;
};

static int list_special(const struct store_extra *x, void *arg)
{
	struct special_list *l = arg;
	const char *slash = strrchr(x->path, '/');
	size_t plen = slash ? (size_t)(slash - x->path) : 0;

	if (!store_extras_is_special(x) || plen != l->dlen || memcmp(x->path, l->dir, plen))
		return 0;
	return fs_dirlist_add(l->out, slash ? slash + 1 : x->path);
}

static int commits_list(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
			struct fs_dirlist *out)
{
	struct store_tree_entry te;
	const void *body;
	size_t len, pos = 0;
	int rc;

	switch (dir->kind) {
	case FS_K_FIXED:
		return fs_list_repos(t, out);
	case FS_K_COMMITS_REPO:
		return store_history_foreach(fs->store, t, dir->repo, add_commit, out);
	case FS_K_TREE:
		break;
	default:
		return -ENOTDIR;
	}
	rc = store_object_read(t, &dir->oid, NULL, &body, &len);
	if (rc == -ENOENT && memcmp(&dir->oid, &(git_oid){ 0 }, sizeof(dir->oid))) {
		body = NULL;	/* the empty tree need not be stored */
		len = 0;
		rc = 0;
	}
	if (rc)
		return rc;
	while ((rc = store_tree_next(body, len, &pos, &te)) == 1) {
		char name[STORE_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)te.namelen, te.name);
		if ((rc = fs_dirlist_add(out, name)))
			return rc;
	}
	if (rc == 0 && has_extras(dir)) {
		struct special_list l = { dir->key, dir->key_len, out };
		rc = store_extras_get(t, &dir->commit, &body, &len);
		if (rc == 0)
			rc = store_extras_foreach(body, len, list_special, &l);
	}
	return rc;
}

static int commits_cacheable(struct fs *fs, const struct fs_node *dir)
{
	(void)fs;
	return dir->kind == FS_K_TREE;	/* a snapshot never changes */
}

static int commits_open(struct fs *fs, const struct fs_node *n, char **content, size_t *len,
			int *direct_io)
{
	(void)fs;
	*content = NULL;
	*len = 0;
	*direct_io = 0;
	return n->kind == FS_K_BLOB || n->kind == FS_K_LINK ? 0 : -EISDIR;
}

static int commits_read(struct fs *fs, const struct fs_node *n, uint64_t off, size_t size,
			fuse_req_t req)
{
	struct store_txn *t;
	int rc;

	if (n->kind == FS_K_FIXED)
		return -ENOENT;
	rc = store_txn_begin(&t, fs->store, 0);
	if (rc)
		return rc;
	rc = n->kind != FS_K_BLOB ? -EINVAL : fs_reply_blob(req, t, &n->oid, off, size);
	store_txn_abort(t);
	return rc;
}

static int commits_readlink(struct fs *fs, const struct fs_node *n, fuse_req_t req)
{
	char target[STORE_SYMLINK_MAX + 1];
	struct store_txn *t;
	const void *body;
	size_t len;
	int rc;

	if (n->kind == FS_K_FIXED)
		return -ENOENT;
	if (n->kind != FS_K_LINK)
		return -EINVAL;
	rc = store_txn_begin(&t, fs->store, 0);
	if (rc)
		return rc;
	rc = store_object_read(t, &n->oid, NULL, &body, &len);
	if (rc == 0)
		snprintf(target, sizeof(target), "%.*s", (int)len, (const char *)body);
	store_txn_abort(t);
	if (rc == 0)
		fuse_reply_readlink(req, target);
	return rc;
}

const struct fs_view_ops fs_view_commits = {
	.name = "commits",
	.lookup = commits_lookup,
	.getattr = commits_getattr,
	.list = commits_list,
	.cacheable = commits_cacheable,
	.open = commits_open,
	.read = commits_read,
	.readlink = commits_readlink,
	.change_errno = EROFS,
};
