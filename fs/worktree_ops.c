/*
 * worktree_ops.c - the FUSE low-level operations.  Reads of the tree
 * (lookup, getattr, readdir, read, readlink, xattrs) find the node's view
 * with fs_view_of() and call its operation (fs_int.h, "Views"); the repos
 * view, whose nodes are the working trees, is served here from
 * store/worktree.h, and so is every change of a working tree.
 *
 * Each handler runs one store transaction and ends it before replying.  A
 * change acknowledged to the kernel is committed to LMDB first, so it
 * survives a killed daemon; git commits are made later by the committer
 * (fs.c), grouped.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fs_int.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/worktree.h"

#define FS_READ_MAX (4u << 20)

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ts_from_ns - NS as a timespec; before 1970 too (tv_nsec stays in
 * [0, 1e9): -0.5 s is -1 s + 500000000 ns) */
static void ts_from_ns(struct timespec *ts, int64_t ns)
{
	int64_t sec = ns / 1000000000, nsec = ns % 1000000000;

	if (nsec < 0) {
		sec--;
		nsec += 1000000000;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)nsec;
}

int fs_wt_attr(struct store_txn *t, const struct store_inode *n, struct stat *st)
{
	uint32_t nlink;
	int rc = store_wt_nlink(t, n, &nlink);

	if (rc)
		return rc;
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = nlink;
	st->st_rdev = (dev_t)n->rdev;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	ts_from_ns(&st->st_atim, n->atime_ns);
	ts_from_ns(&st->st_mtim, n->mtime_ns);
	ts_from_ns(&st->st_ctim, n->ctime_ns);
	return 0;
}

double fs_wt_timeout(void)
{
	return 86400.0;	/* every change passes through the kernel */
}

int fs_wt_entry(struct fs *fs, struct store_txn *t, uint64_t ino, struct fuse_entry_param *e)
{
	struct store_inode n;
	int rc = store_inode_get(t, ino, &n);

	if (rc)
		return rc;
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = e->entry_timeout = fs_wt_timeout();
	rc = fs_wt_attr(t, &n, &e->attr);
	return rc ? rc : fs_node_ref(fs, ino, 1);
}

void fs_reply_store_error(fuse_req_t req, int rc, const char *op)
{
	if (rc >= 0 || rc <= -1000) {
		/* not an errno (an untranslated code): libfuse would answer
		 * ERANGE for it; say what it was and answer EIO */
		fprintf(stderr, "govc: %s: bad error %d: %s\n", op, rc, store_errmsg());
		rc = -EIO;
	}
	if (rc == -EIO || rc == -ENOSPC || rc == -ENOMEM)
		fprintf(stderr, "govc: %s: %s\n", op, store_errmsg());
	fuse_reply_err(req, -rc);
}

/* holes are answered from here, at most ZEROS_LEN bytes a buffer */
#define ZEROS_LEN (64u * 1024)
static const char zeros[ZEROS_LEN];

void fs_reply_pieces(fuse_req_t req, struct store_txn *t, const struct store_piece *p, size_t n)
{
	struct fuse_bufvec *v;
	size_t bufs = 0, k = 0;

	for (size_t i = 0; i < n; i++)
		bufs += p[i].data ? 1 : (p[i].len + ZEROS_LEN - 1) / ZEROS_LEN;
	if (bufs == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	v = malloc(sizeof(*v) + bufs * sizeof(v->buf[0]));
	if (!v) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t left = p[i].len;
		uint64_t pos;
		int fd;

		if (p[i].data && store_locate(t, p[i].data, p[i].len, &fd, &pos) == 0) {
			v->buf[k++] = (struct fuse_buf){ .size = p[i].len, .fd = fd, .pos = (off_t)pos,
							 .flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK };
			continue;
		}
		if (p[i].data) {	/* not in the file: a write transaction's page */
			v->buf[k++] = (struct fuse_buf){ .size = left, .mem = (void *)p[i].data };
			continue;
		}
		while (left) {
			size_t step = left < ZEROS_LEN ? left : ZEROS_LEN;
			v->buf[k++] = (struct fuse_buf){ .size = step, .mem = (void *)zeros };
			left -= step;
		}
	}
	assert(k == bufs);
	v->count = bufs;
	v->idx = 0;
	v->off = 0;
	fuse_reply_data(req, v, 0);
	free(v);
}

int fs_reply_blob(fuse_req_t req, struct store_txn *t, const git_oid *id, uint64_t off,
		  size_t size)
{
	size_t max = STORE_BLOB_PIECES(size), n;
	struct store_piece *p = malloc(max * sizeof(*p));
	long got = p ? store_blob_pieces(t, id, off, size, p, max, &n) : -ENOMEM;

	if (got >= 0)
		fs_reply_pieces(req, t, p, n);
	free(p);
	return got < 0 ? (int)got : 0;
}

/* begin - a transaction for a handler, replying the error itself. */
static int begin(fuse_req_t req, struct store_txn **t, int write)
{
	int rc = store_txn_begin(t, fs_of(req)->store, write ? STORE_TXN_WRITE : 0);

	if (rc)
		fs_reply_store_error(req, rc, "transaction");
	return rc;
}

/* finish - commit T (or abort it if RC); returns the final error. */
static int finish(struct store_txn *t, int rc)
{
	if (rc) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t);
}

/* refused - why OP of NAME was refused (store_errmsg()), in daemon.log
 * and as a "refused" event, for the user who only saw EINVAL */
static void refused(struct fs *fs, const char *op, const char *name)
{
	char msg[1024];
	struct store_txn *t;

	snprintf(msg, sizeof(msg), "%s", store_errmsg());
	fprintf(stderr, "govc: %s: %s\n", op, msg);
	if (store_txn_begin(&t, fs->store, STORE_TXN_WRITE))
		return;
	finish(t, store_event_raise(t, json_pack("{s:s, s:s, s:s, s:s}", "type", "refused", "op", op,
						 "name", name, "why", msg)));
}

static void free_orphan(struct fs *fs, uint64_t ino)
{
	struct store_txn *t;

	if (store_txn_begin(&t, fs->store, STORE_TXN_WRITE))
		return;
	if (finish(t, store_wt_forget(t, ino)))
		fprintf(stderr, "govc: freeing unlinked inode %llu: %s\n",
			(unsigned long long)ino, store_errmsg());
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct fs_node dir;
	const struct fs_view_ops *v = fs_view_of(fs, parent, &dir);
	struct store_txn *t;
	int rc;

	if (!v) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (begin(req, &t, 0))
		return;
	rc = v->lookup(fs, t, &dir, name, &e);
	store_txn_abort(t);
	if (rc)
		fs_reply_store_error(req, rc, "lookup");
	else
		fuse_reply_entry(req, &e);
}

static void forget_one(struct fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	if (fs_node_forget(fs, ino, nlookup) && fs_is_wt(ino))
		free_orphan(fs, ino);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_one(fs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* attr_of - the attributes of node INO, and how long they hold (views) */
static int attr_of(struct fs *fs, struct store_txn *t, fuse_ino_t ino, struct stat *st,
		   double *timeout)
{
	struct fs_node n;
	const struct fs_view_ops *v = fs_view_of(fs, ino, &n);

	*timeout = FS_FOREVER;
	return v ? v->getattr(fs, t, &n, st, timeout) : -ENOENT;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct store_txn *t;
	struct stat st;
	double timeout = fs_wt_timeout();
	int rc;

	if (begin(req, &t, 0))
		return;
	rc = attr_of(fs, t, ino, &st, &timeout);
	store_txn_abort(t);
	if (rc)
		fs_reply_store_error(req, rc, "getattr");
	else
		fuse_reply_attr(req, &st, timeout);
}

/*
 * op_access - access(2) and chdir, which reach the daemon only without
 * default_permissions, that is when only root can reach the mount
 * (fs->root_only).  Root may read and write anything; it may execute a
 * file with an execute bit set for someone, and search any directory.
 */
static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fs *fs = fs_of(req);
	struct store_txn *t;
	struct stat st;
	double timeout = 0;
	int rc;

	if (!(mask & X_OK)) {
		fuse_reply_err(req, 0);
		return;
	}
	if (begin(req, &t, 0))
		return;
	rc = attr_of(fs, t, ino, &st, &timeout);
	store_txn_abort(t);
	if (rc)
		fs_reply_store_error(req, rc, "access");
	else
		fuse_reply_err(req, S_ISDIR(st.st_mode) || (st.st_mode & 0111) ? 0 : EACCES);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct store_attr a = { 0 };
	struct store_inode n;
	struct store_txn *t;
	struct stat st;
	int rc;

	if (!fs_is_wt(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		a.mask |= STORE_ATTR_MODE;
		a.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		a.mask |= STORE_ATTR_UID;
		a.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		a.mask |= STORE_ATTR_GID;
		a.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		a.mask |= STORE_ATTR_SIZE;
		a.size = (uint64_t)attr->st_size;
	}
	/* a time the inode record cannot hold is refused, never wrapped */
	rc = 0;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		a.mask |= STORE_ATTR_ATIME;
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			a.atime_ns = store_now_ns();
		else
			rc = store_time_ns(&a.atime_ns, attr->st_atim.tv_sec, attr->st_atim.tv_nsec);
	}
	if (rc == 0 && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		a.mask |= STORE_ATTR_MTIME;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			a.mtime_ns = store_now_ns();
		else
			rc = store_time_ns(&a.mtime_ns, attr->st_mtim.tv_sec, attr->st_mtim.tv_nsec);
	}
	if (rc == 0 && (to_set & FUSE_SET_ATTR_CTIME)) {
		a.mask |= STORE_ATTR_CTIME;
		rc = store_time_ns(&a.ctime_ns, attr->st_ctim.tv_sec, attr->st_ctim.tv_nsec);
	}
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (begin(req, &t, 1))
		return;
	rc = store_wt_setattr(t, ino, &a, &n);
	if (rc == 0)
		rc = fs_wt_attr(t, &n, &st);
	rc = finish(t, rc);
	if (rc) {
		fs_reply_store_error(req, rc, "setattr");
		return;
	}
	if (a.mask & (STORE_ATTR_SIZE | STORE_ATTR_MODE | STORE_ATTR_UID | STORE_ATTR_GID))
		fs_changed(fs_of(req));
	fuse_reply_attr(req, &st, fs_wt_timeout());
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct fs_node n;
	const struct fs_view_ops *v = fs_view_of(fs, ino, &n);
	int rc = !v ? -ENOENT : v->readlink ? v->readlink(fs, &n, req) : -EINVAL;

	if (rc)
		fuse_reply_err(req, -rc);
}

/* make_node - create NAME in PARENT and reply with its entry (or open it). */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      const char *target, dev_t rdev, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct store_inode n;
	struct store_txn *t;
	int rc;

	if (!fs_is_wt(parent)) {
		/* a view's directory: only its mkdir, if it has one */
		struct fs_node dir;
		const struct fs_view_ops *v = fs_view_of(fs, parent, &dir);

		if (!v || !v->mkdir || !S_ISDIR(mode)) {
			fuse_reply_err(req, v ? v->change_errno : EROFS);
			return;
		}
		if (begin(req, &t, 1))
			return;
		rc = finish(t, v->mkdir(fs, t, &dir, name, &e));
		if (rc) {
			if (rc == -EINVAL)
				refused(fs, "mkdir", name);
			fs_reply_store_error(req, rc, "mkdir");
			return;
		}
		fuse_reply_entry(req, &e);
		return;
	}
	if (begin(req, &t, 1))
		return;
	rc = store_wt_mknode(t, parent, name, mode, ctx->uid, ctx->gid, target, (uint64_t)rdev, &n);
	if (rc == 0)
		rc = fs_wt_entry(fs, t, n.ino, &e);
	rc = finish(t, rc);
	if (rc) {
		fs_reply_store_error(req, rc, "create");
		return;
	}
	fs_changed(fs);
	if (fi) {
		/* a new file opened to be written only (cp, tar, shell
		 * redirection) bypasses the page cache: see FS_FH_DIO */
		int dio = (fi->flags & O_ACCMODE) == O_WRONLY;
		if (!fs->no_open)
			fs_node_open(fs, e.ino);
		fi->fh = dio ? FS_FH_DIO : 0;
		fi->direct_io = dio;
		fi->keep_cache = !dio;
		fuse_reply_create(req, &e, fi);
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	make_node(req, parent, name, mode, NULL, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | (mode & 07777), NULL, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_node(req, parent, name, S_IFLNK | 0777, link, 0, NULL);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	make_node(req, parent, name, S_IFREG | (mode & 07777), NULL, 0, fi);
}

/*
 * repos_change - rmdir of repos/NAME (NEWNAME NULL) or rename of repos/NAME
 * to repos/NEWNAME.  rmdir removes only a repository with no commit and an
 * empty working tree (a mistyped mkdir): `rm -rf` never takes history with
 * it; `govc rm-repo` removes the rest.  The store raises the events that
 * update commits/ and log/; why a change is refused goes to the log.
 */
static void repos_change(fuse_req_t req, const char *name, const char *newname)
{
	struct store_txn *t;
	int rc;

	if (begin(req, &t, 1))
		return;
	rc = newname ? store_repo_rename(t, name, newname) : store_repo_remove(t, name, 1);
	rc = finish(t, rc);
	if (rc == -EINVAL || rc == -ENOTEMPTY || rc == -EEXIST)
		fprintf(stderr, "govc: %s: %s\n", newname ? "rename" : "rmdir", store_errmsg());
	if (rc) {
		fs_reply_store_error(req, rc, newname ? "rename" : "rmdir");
		return;
	}
	fuse_reply_err(req, 0);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct fs *fs = fs_of(req);
	struct store_txn *t;
	uint64_t ino = 0;
	int rc;

	if (parent == FS_ID_REPOS && dir) {
		repos_change(req, name, NULL);
		return;
	}
	if (!fs_is_wt(parent)) {
		struct fs_node n;
		const struct fs_view_ops *v = fs_view_of(fs, parent, &n);

		fuse_reply_err(req, v ? v->change_errno : EROFS);
		return;
	}
	if (begin(req, &t, 1))
		return;
	rc = finish(t, store_wt_unlink(t, parent, name, dir, &ino));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fs_changed(fs);
	if (!dir && ino && fs_node_orphaned(fs, ino))
		free_orphan(fs, ino);
	fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 1);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct store_txn *t;
	uint64_t replaced = 0;
	int rc;

	if (parent == FS_ID_REPOS && newparent == FS_ID_REPOS) {
		/* mv repos/a repos/b renames the repository */
		if (flags & ~(unsigned)RENAME_NOREPLACE)
			fuse_reply_err(req, EINVAL);
		else
			repos_change(req, name, newname);
		return;
	}
	if (!fs_is_wt(parent) || !fs_is_wt(newparent)) {
		fuse_reply_err(req, (fs_is_wt(parent) || fs_is_wt(newparent)) ? EXDEV : EPERM);
		return;
	}
	if (begin(req, &t, 1))
		return;
	rc = finish(t, store_wt_rename(t, parent, name, newparent, newname, flags, &replaced));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fs_changed(fs);
	if (replaced && fs_node_orphaned(fs, replaced))
		free_orphan(fs, replaced);
	fuse_reply_err(req, 0);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct store_inode n;
	struct store_txn *t;
	int rc;

	if (!fs_is_wt(ino) || !fs_is_wt(newparent)) {
		struct fs_node dir;
		const struct fs_view_ops *v = fs_view_of(fs, newparent, &dir);

		fuse_reply_err(req, fs_is_wt(ino) || fs_is_wt(newparent) ? EXDEV
				    : v ? v->change_errno : EROFS);
		return;
	}
	if (begin(req, &t, 1))
		return;
	rc = store_wt_link(t, ino, newparent, newname, &n);
	if (rc == 0)
		rc = fs_wt_entry(fs, t, n.ino, &e);
	rc = finish(t, rc);
	if (rc) {
		fs_reply_store_error(req, rc, "link");
		return;
	}
	fs_changed(fs);
	fuse_reply_entry(req, &e);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	char *content = NULL;
	size_t len = 0;
	int direct = 0, rc;

	if (fs->no_open) {
		/* see fs->no_open: the kernel opens files itself from now on */
		fuse_reply_err(req, ENOSYS);
		return;
	}

	if (!fs_is_wt(ino)) {
		if ((fi->flags & O_ACCMODE) != O_RDONLY) {
			fuse_reply_err(req, EROFS);
			return;
		}
		struct fs_node n;
		const struct fs_view_ops *v = fs_view_of(fs, ino, &n);

		rc = !v ? -ENOENT : v->open ? v->open(fs, &n, &content, &len, &direct) : -EISDIR;
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
		if (content) {
			/* generated text: the handle owns a snapshot of it */
			char **h = malloc(sizeof(char *) + sizeof(size_t));
			if (!h) {
				free(content);
				fuse_reply_err(req, ENOMEM);
				return;
			}
			h[0] = content;
			memcpy(h + 1, &len, sizeof(len));
			fi->fh = (uint64_t)(uintptr_t)h;
		}
		fi->direct_io = direct;
		fi->keep_cache = !direct;
		fuse_reply_open(req, fi);
		return;
	}
	if (fi->flags & O_TRUNC) {
		/* atomic O_TRUNC (on unless fs->no_open): truncating is ours */
		struct store_attr a = { .mask = STORE_ATTR_SIZE };
		struct store_inode n;
		struct store_txn *t;

		if (begin(req, &t, 1))
			return;
		rc = store_inode_get(t, ino, &n);
		if (rc == 0 && n.size)
			rc = store_wt_setattr(t, ino, &a, NULL);
		rc = finish(t, rc);
		if (rc) {
			fs_reply_store_error(req, rc, "open");
			return;
		}
		fs_changed(fs);
	}
	fs_node_open(fs, ino);
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* reply_handle_text - a read of the text a view's file handle FH holds */
static void reply_handle_text(fuse_req_t req, uint64_t fh, size_t size, off_t off)
{
	/* reply from a copy: once the reply lands the reader may close, and
	 * RELEASE (another thread) frees the text */
	char **h = (char **)(uintptr_t)fh;
	size_t len, n;
	char *copy;

	memcpy(&len, h + 1, sizeof(len));
	n = (size_t)off >= len ? 0 : size < len - (size_t)off ? size : len - (size_t)off;
	copy = malloc(n ? n : 1);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (n)
		memcpy(copy, h[0] + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	const struct fs_view_ops *v;
	struct fs_node n;
	int rc;

	if (!fs_is_wt(ino) && fi->fh) {
		reply_handle_text(req, fi->fh, size, off);
		return;
	}
	v = fs_view_of(fs, ino, &n);
	rc = !v ? -ENOENT : v->read ? v->read(fs, &n, (uint64_t)off, size, req) : -EINVAL;
	if (rc)
		fuse_reply_err(req, -rc);
}

/* wt_read - a read of working-tree file N, answered from the store's pieces */
static int wt_read(struct fs *fs, const struct fs_node *node, uint64_t off, size_t size,
		   fuse_req_t req)
{
	struct store_piece *pieces;
	struct store_txn *t;
	size_t npieces;
	long got;
	fuse_ino_t ino = node->id;

	(void)fs;
	if (size > FS_READ_MAX)
		size = FS_READ_MAX;
	npieces = STORE_WT_PIECES(size);
	pieces = malloc(npieces * sizeof(*pieces));
	if (!pieces)
		return -ENOMEM;
	if (begin(req, &t, 0)) {
		free(pieces);
		return 0;
	}
	got = store_wt_pieces(t, ino, off, size, pieces, npieces, &npieces);
	if (got < 0)
		fs_reply_store_error(req, (int)got, "read");
	else
		fs_reply_pieces(req, t, pieces, npieces);
	store_txn_abort(t);
	free(pieces);
	return 0;
}

/*
 * kill_privs - what the kernel does itself on write() through the page
 * cache but leaves to the filesystem for direct I/O: drop the file's
 * capabilities, and unless the writer is root the setuid bit and the
 * setgid bit of a group-executable file.  *KILLED says the mode changed.
 */
static int kill_privs(struct store_txn *t, uint64_t ino, uid_t uid, int *killed)
{
	struct store_inode n;
	uint32_t kill;
	int rc = store_wt_xattr_remove(t, ino, "security.capability");

	if (rc && rc != -ENODATA)
		return rc;
	if (uid == 0)
		return 0;
	rc = store_inode_get(t, ino, &n);
	if (rc)
		return rc;
	kill = S_ISUID | ((n.mode & S_IXGRP) ? S_ISGID : 0);
	if (!(n.mode & kill))
		return 0;
	*killed = 1;
	return store_wt_setattr(t, ino,
				&(struct store_attr){ .mask = STORE_ATTR_MODE,
						      .mode = n.mode & 07777 & ~kill },
				&n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct store_txn *t;
	int killed = 0;
	long rc;

	if (!fs_is_wt(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (begin(req, &t, 1))
		return;
	if ((fi->flags & O_APPEND) && !fs->opt.writeback) {
		/* without the writeback cache the kernel leaves appends to us */
		struct store_inode n;
		rc = store_inode_get(t, ino, &n);
		if (rc) {
			store_txn_abort(t);
			fs_reply_store_error(req, (int)rc, "write");
			return;
		}
		off = (off_t)n.size;
	}
	if (fi->fh == FS_FH_DIO && off == 0)
		rc = store_wt_write_whole(t, ino, buf, size, store_now_ns());
	else
		rc = store_wt_write(t, ino, (uint64_t)off, buf, size, store_now_ns());
	if (rc >= 0 && fi->fh == FS_FH_DIO) {
		int krc = kill_privs(t, ino, fuse_req_ctx(req)->uid, &killed);
		if (krc)
			rc = krc;
	}
	if (rc >= 0) {
		int crc = store_txn_commit(t);
		if (crc)
			rc = crc;
	} else {
		store_txn_abort(t);
	}
	if (rc < 0) {
		fs_reply_store_error(req, (int)rc, "write");
		return;
	}
	fs_changed(fs);
	fuse_reply_write(req, (size_t)rc);
	if (killed)	/* the kernel caches the old mode */
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);

	if (!fs_is_wt(ino)) {
		if (fi->fh) {
			char **h = (char **)(uintptr_t)fi->fh;
			free(h[0]);
			free(h);
		}
		fuse_reply_err(req, 0);
		return;
	}
	/* without OPEN, opens are not counted: the kernel's lookup of an
	 * open file keeps an unlinked one until its FORGET */
	if (!fs->no_open && fs_node_release(fs, ino))
		free_orphan(fs, ino);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	int rc = 0;

	if (fs_is_wt(ino)) {
		rc = fs_commit_all(fs);
		if (rc == 0)
			rc = store_sync(fs->store);
	}
	if (rc)
		fs_reply_store_error(req, rc, "fsync");
	else
		fuse_reply_err(req, 0);
}

/* Directory handles hold a snapshot of the names, taken at opendir. */
/*
 * Directory listings.  Where the kernel allows (FUSE_CAP_NO_OPENDIR_SUPPORT)
 * OPENDIR answers ENOSYS: the kernel then opens directories without asking
 * us, caches every listing (FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE by default)
 * until it or the watcher invalidates it, and a warm `find` costs no round
 * trip at all.  READDIR then comes without a handle: the listing taken at
 * offset 0 is kept in fs->listings (the last FS_LISTINGS directories) for
 * the calls that continue it.  Otherwise OPENDIR makes a handle and the
 * listing is taken at the first READDIR.
 */
struct dir_handle {
	struct fs_dirlist list;
	int loaded;
	/* shared listings (no OPENDIR), under fs->lock */
	fuse_ino_t ino;
	unsigned refs;
	uint64_t used;
	int dead;
};

static int collect_name(const char *name, const struct store_inode *ino, void *arg)
{
	return fs_dirlist_add(arg, name);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d;

	if (fs_of(req)->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	{
		struct fs_node n;
		const struct fs_view_ops *v = fs_view_of(fs_of(req), ino, &n);
		fi->cache_readdir = fi->keep_cache = v && v->cacheable && v->cacheable(fs_of(req), &n);
	}
	fuse_reply_open(req, fi);
}

/* load - the listing of directory INO into D, once */
static int load(struct fs *fs, struct store_txn *t, fuse_ino_t ino, struct dir_handle *d)
{
	struct fs_node n;
	const struct fs_view_ops *v;
	int rc;

	if (d->loaded)
		return 0;
	v = fs_view_of(fs, ino, &n);
	rc = !v ? -ENOENT : v->list ? v->list(fs, t, &n, &d->list) : -ENOTDIR;
	if (rc)
		fs_dirlist_free(&d->list);
	else
		d->loaded = 1;
	return rc;
}

static void listing_free(struct dir_handle *d)
{
	if (d) {
		fs_dirlist_free(&d->list);
		free(d);
	}
}

/* listing_get - the shared listing of INO to read from offset OFF */
static int listing_get(struct fs *fs, struct store_txn *t, fuse_ino_t ino, off_t off,
		       struct dir_handle **out)
{
	struct dir_handle *d = NULL, *gone = NULL;
	size_t slot = 0;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (off > 0) {
		for (size_t i = 0; i < FS_LISTINGS; i++) {
			d = fs->listings[i];
			if (d && d->ino == ino)
				break;
			d = NULL;
		}
		if (d) {
			d->refs++;
			d->used = ++fs->listing_clock;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (d) {
		*out = d;
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ino = ino;
	d->refs = 1;
	rc = load(fs, t, ino, d);
	if (rc) {
		listing_free(d);
		return rc;
	}
	pthread_mutex_lock(&fs->lock);
	/* replace this directory's listing, else an empty slot, else the LRU */
	for (size_t i = 0; i < FS_LISTINGS; i++) {
		struct dir_handle *o = fs->listings[i];
		if (o && o->ino == ino) {
			slot = i;
			break;
		}
		if (!o || (fs->listings[slot] && o->used < fs->listings[slot]->used))
			slot = i;
	}
	gone = fs->listings[slot];
	if (gone) {
		gone->dead = 1;
		if (gone->refs)
			gone = NULL;	/* its last reader frees it */
	}
	d->used = ++fs->listing_clock;
	fs->listings[slot] = d;
	pthread_mutex_unlock(&fs->lock);
	listing_free(gone);
	*out = d;
	return 0;
}

static void listing_put(struct fs *fs, struct dir_handle *d)
{
	int free_it;

	pthread_mutex_lock(&fs->lock);
	free_it = --d->refs == 0 && d->dead;
	pthread_mutex_unlock(&fs->lock);
	if (free_it)
		listing_free(d);
}

void fs_listings_free(struct fs *fs)
{
	for (size_t i = 0; i < FS_LISTINGS; i++) {
		listing_free(fs->listings[i]);
		fs->listings[i] = NULL;
	}
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, int plus)
{
	struct fs *fs = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	struct store_txn *t = NULL;
	char *buf = malloc(size);
	size_t used = 0;
	struct fs_node dir;
	const struct fs_view_ops *v = plus ? fs_view_of(fs, ino, &dir) : NULL;
	int rc = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((plus || !d || !d->loaded) && begin(req, &t, 0)) {
		free(buf);
		return;
	}
	rc = d ? load(fs, t, ino, d) : listing_get(fs, t, ino, off, &d);
	if (rc) {
		store_txn_abort(t);
		free(buf);
		fs_reply_store_error(req, rc, "readdir");
		return;
	}
	for (size_t i = (size_t)off; i < d->list.n + 2; i++) {
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->list.names[i - 2];
		struct fuse_entry_param e;
		size_t need;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			e.attr.st_ino = i == 0 ? ino : FS_ID_ROOT;
			e.attr.st_mode = S_IFDIR;
		} else if (plus) {
			if (!v)
				rc = -ENOENT;
			else if (d->list.nodes && v->dirent)
				rc = v->dirent(fs, &d->list, i - 2, &e);
			else
				rc = v->lookup(fs, t, &dir, name, &e);
			if (rc == 0 && !e.ino)
				rc = -ENOENT;	/* a miss the kernel may cache */
			if (rc == -ENOENT) {	/* gone since opendir */
				rc = 0;
				continue;
			}
			if (rc) {
				/* list it without attributes or a lookup, so
				 * the listing shows every name and looking this
				 * one up gives the error */
				fprintf(stderr, "govc: readdir: %s\n", store_errmsg());
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = FS_UNKNOWN_INO;
				rc = 0;
			}
		} else {
			e.attr.st_ino = 0;
			e.attr.st_mode = 0;
		}
		if (plus) {
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)(i + 1));
		} else {
			need = fuse_add_direntry(req, buf + used, size - used, name, &e.attr,
						 (off_t)(i + 1));
		}
		if (need > size - used) {
			/* did not fit: undo the lookup it counted */
			if (plus && i >= 2 && e.ino)
				fs_node_forget(fs, e.ino, 1);
			break;
		}
		used += need;
	}
	store_txn_abort(t);
	fuse_reply_buf(req, buf, used);
	if (!fi->fh)
		listing_put(fs, d);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	listing_free((struct dir_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (statvfs(store_dir(fs_of(req)->store), &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = STORE_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

long fs_xattr_absent(const struct fs *fs, const char *name, long got)
{
	/* "not supported" rather than "absent" for SELinux labels, and for
	 * ACLs when the kernel does not handle them (fs->root_only; when it
	 * does, it asks for a directory's default ACL at every create and
	 * takes "not supported" for an error): ls -l then stops asking for
	 * the rest of the filesystem, one FUSE round trip per file saved
	 * (the kernel caches no xattr).  What is there is still returned. */
	if (got != -ENODATA)
		return got;
	if (!strcmp(name, "security.selinux"))
		return -EOPNOTSUPP;
	if (fs->root_only && (!strcmp(name, "system.posix_acl_access") ||
			      !strcmp(name, "system.posix_acl_default")))
		return -EOPNOTSUPP;
	return got;
}

static int xattr_name_ok(const char *name)
{
	/* ACLs and other system.* attributes have meaning we do not keep */
	return strncmp(name, "system.", 7) != 0;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct store_txn *t;
	int rc;

	if (!fs_is_wt(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!xattr_name_ok(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (begin(req, &t, 1))
		return;
	rc = finish(t, store_wt_xattr_set(t, ino, name, value, size, flags));
	fuse_reply_err(req, -rc);
}

static void reply_sized(fuse_req_t req, size_t size, long got, const char *buf)
{
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)got);
	else
		fuse_reply_buf(req, buf, (size_t)got);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	struct fs_node n;
	const struct fs_view_ops *v = fs_view_of(fs, ino, &n);
	char *buf = NULL;
	long got;

	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	got = !v ? -ENOENT
	      : v->getxattr ? v->getxattr(fs, &n, name, buf, size)
			    : fs_xattr_absent(fs, name, -ENODATA);
	reply_sized(req, size, got, buf);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	struct fs_node n;
	const struct fs_view_ops *v = fs_view_of(fs, ino, &n);
	char *buf = NULL;
	long got;

	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	got = !v ? -ENOENT : v->listxattr ? v->listxattr(fs, &n, buf, size) : 0;
	reply_sized(req, size, got, buf);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct store_txn *t;
	int rc;

	if (!fs_is_wt(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (begin(req, &t, 1))
		return;
	rc = finish(t, store_wt_xattr_remove(t, ino, name));
	fuse_reply_err(req, -rc);
}

/* ---- repos/: the view of the working trees ---------------------------------- */

/*
 * The repos view: repos/ itself (a fixed node) lists the repositories and
 * creates one at mkdir; every working-tree inode is its node, served from
 * store/worktree.h.  Every change of a working tree passes through the
 * kernel, so entries, misses, attributes and listings are cached for long.
 */
static int repos_lookup(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
			const char *name, struct fuse_entry_param *e)
{
	struct store_inode n;
	int rc;

	memset(e, 0, sizeof(*e));
	if (dir->kind == FS_K_FIXED) {
		char branch[STORE_REF_NAME_MAX + 1];
		uint64_t root;
		rc = store_repo_head_branch(t, name, branch, sizeof(branch));
		if (rc == 0)
			rc = store_wt_root(t, name, branch, &root);
		if (rc)
			return -ENOENT;
		rc = fs_wt_entry(fs, t, root, e);
		e->entry_timeout = FS_LIST_TIMEOUT;
		return rc;
	}
	rc = store_wt_lookup(t, dir->id, name, &n);
	if (rc == 0)
		rc = fs_wt_entry(fs, t, n.ino, e);
	if (rc == -ENOENT) {
		/* cache the miss: every creation passes through us */
		memset(e, 0, sizeof(*e));
		e->entry_timeout = fs_wt_timeout();
		rc = 0;
	}
	return rc;
}

static int repos_getattr(struct fs *fs, struct store_txn *t, const struct fs_node *node,
			 struct stat *st, double *timeout)
{
	struct store_inode n;
	int rc;

	(void)timeout;
	if (node->kind == FS_K_FIXED) {
		fs_fixed_attr(fs, node->id, S_IFDIR | 0755, st);
		return 0;
	}
	rc = store_inode_get(t, node->id, &n);
	if (rc == 0)
		rc = fs_wt_attr(t, &n, st);
	return rc;
}

static int repos_list(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		      struct fs_dirlist *out)
{
	struct store_inode n;
	int rc;

	(void)fs;
	if (dir->kind == FS_K_FIXED)
		return fs_list_repos(t, out);
	rc = store_inode_get(t, dir->id, &n);
	if (rc == 0 && !S_ISDIR(n.mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = store_wt_readdir(t, dir->id, NULL, collect_name, out);
	return rc;
}

static int repos_cacheable(struct fs *fs, const struct fs_node *dir)
{
	(void)fs;
	return dir->kind == FS_K_WT;
}

static int repos_read(struct fs *fs, const struct fs_node *n, uint64_t off, size_t size,
		      fuse_req_t req)
{
	return n->kind == FS_K_WT ? wt_read(fs, n, off, size, req) : -ENOENT;
}

static int repos_readlink(struct fs *fs, const struct fs_node *node, fuse_req_t req)
{
	char target[STORE_SYMLINK_MAX + 1];
	struct store_inode n;
	struct store_txn *t;
	int rc;

	if (node->kind != FS_K_WT)
		return -ENOENT;
	rc = store_txn_begin(&t, fs->store, 0);
	if (rc)
		return rc;
	rc = store_inode_get(t, node->id, &n);
	if (rc == 0 && (!S_ISLNK(n.mode) || !n.target))
		rc = -EINVAL;
	if (rc == 0)
		snprintf(target, sizeof(target), "%.*s", (int)n.size, n.target);
	store_txn_abort(t);
	if (rc == 0)
		fuse_reply_readlink(req, target);
	return rc;
}

static long repos_getxattr(struct fs *fs, const struct fs_node *n, const char *name, char *buf,
			   size_t size)
{
	struct store_txn *t;
	long got;

	if (n->kind != FS_K_WT || !xattr_name_ok(name))
		return fs_xattr_absent(fs, name, -ENODATA);
	got = store_txn_begin(&t, fs->store, 0);
	if (got)
		return got;
	got = fs_xattr_absent(fs, name, store_wt_xattr_get(t, n->id, name, buf, size));
	store_txn_abort(t);
	return got;
}

static long repos_listxattr(struct fs *fs, const struct fs_node *n, char *buf, size_t size)
{
	struct store_txn *t;
	long got;

	if (n->kind != FS_K_WT)
		return 0;
	got = store_txn_begin(&t, fs->store, 0);
	if (got)
		return got;
	got = store_wt_xattr_list(t, n->id, buf, size);
	store_txn_abort(t);
	return got;
}

/* repos_mkdir - mkdir repos/<name>: a new repository */
static int repos_mkdir(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		       const char *name, struct fuse_entry_param *e)
{
	char branch[] = STORE_DEFAULT_BRANCH;
	uint64_t root;
	int rc;

	assert(dir->kind == FS_K_FIXED);
	rc = store_repo_create(t, name, branch);
	if (rc == 0)
		rc = store_wt_root(t, name, branch, &root);
	return rc ? rc : fs_wt_entry(fs, t, root, e);
}

const struct fs_view_ops fs_view_repos = {
	.name = "repos",
	.lookup = repos_lookup,
	.getattr = repos_getattr,
	.list = repos_list,
	.cacheable = repos_cacheable,
	.read = repos_read,
	.readlink = repos_readlink,
	.getxattr = repos_getxattr,
	.listxattr = repos_listxattr,
	.mkdir = repos_mkdir,
	.change_errno = EPERM,
};

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	if (fs->opt.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		fs->opt.writeback = 0;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* a changed mtime drops cached pages (see FS_FH_DIO); the default */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* with POSIX ACLs on, the kernel caches each inode's (absent) ACL
	 * instead of asking for system.posix_acl_* on every ls -l */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) && !fs->root_only)
		conn->want |= FUSE_CAP_POSIX_ACL;	/* it implies default_permissions */
	/* read by the watcher thread */
	__atomic_store_n(&fs->can_expire, !!(conn->capable & FUSE_CAP_EXPIRE_ONLY),
			 __ATOMIC_RELEASE);
	/* OPENDIR answers ENOSYS: see struct dir_handle */
	fs->no_opendir = !!(conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT);
	/* OPEN answers ENOSYS too (see fs->no_open in fs_int.h), unless the
	 * writeback cache is on: it would absorb writes to read-only views,
	 * which then fail at open only */
	fs->no_open = !!(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) && !fs->opt.writeback;
	/* with atomic O_TRUNC the kernel leaves truncating to OPEN, which it
	 * then never sends: open(O_TRUNC) of an existing file kept its bytes.
	 * Without it the kernel truncates with a SETATTR of its own */
	if (fs->no_open)
		conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
	conn->max_background = 64;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.access = op_access,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	/* no .flush: every write is in the store when it is acknowledged, and
	 * the kernel writes dirty pages back at close() before it would send
	 * FLUSH; without the handler it stops sending one per close */
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
};
