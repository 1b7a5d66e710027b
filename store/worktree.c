/*
 * worktree.c - working trees as inodes, directory entries, chunks and
 * xattrs in LMDB (see worktree.h for the model and its invariants).
 *
 * Workload: many small metadata operations and streaming writes from FUSE
 * threads, each in its own short write transaction; reads of committed
 * files come straight from the objects table's memory map.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <linux/fs.h>

#include "store/object.h"
#include "store/store_int.h"
#include "store/worktree.h"
#include "util/array.h"

#define INO_FIRST 1024		/* numbers below are the daemon's own */
#define XATTR_VALUE_MAX (64 * 1024)
#define XATTR_NAME_MAX_LEN 255

/* The inode record as stored (host byte order), followed by a symlink's
 * target bytes, a regular file's be64 chunk owner (when not its ino) or a
 * device's be64 rdev. */
struct inode_disk {
	uint64_t parent, size, base_len;
	int64_t atime_ns, mtime_ns, ctime_ns;
	uint32_t mode, uid, gid, flags;
	unsigned char id[GIT_OID_RAWSZ];
};

int64_t store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int store_time_ns(int64_t *out, int64_t sec, long nsec)
{
	int64_t ns;

	if (nsec < 0 || nsec >= 1000000000)
		return -EINVAL;
	if (sec < 0 && nsec > 0) {
		/* the earliest second holds its later nanoseconds only */
		sec++;
		nsec -= 1000000000;
	}
	if (__builtin_mul_overflow(sec, (int64_t)1000000000, &ns) ||
	    __builtin_add_overflow(ns, (int64_t)nsec, &ns))
		return -EOVERFLOW;
	*out = ns;
	return 0;
}

static void decode(struct store_inode *out, uint64_t ino, const MDB_val *v)
{
	struct inode_disk d;

	memcpy(&d, v->mv_data, sizeof(d));
	out->ino = ino;
	out->parent = d.parent;
	out->size = d.size;
	out->base_len = d.base_len;
	out->atime_ns = d.atime_ns;
	out->mtime_ns = d.mtime_ns;
	out->ctime_ns = d.ctime_ns;
	out->mode = d.mode;
	out->uid = d.uid;
	out->gid = d.gid;
	out->flags = d.flags;
	git_oid_fromraw(&out->id, d.id);
	out->owner = ino;
	out->rdev = 0;
	out->target = NULL;
	if (v->mv_size > sizeof(d) && S_ISLNK(d.mode))
		out->target = (const char *)v->mv_data + sizeof(d);
	else if (v->mv_size == sizeof(d) + 8 && S_ISREG(d.mode))
		out->owner = store_be64_get((const unsigned char *)v->mv_data + sizeof(d));
	else if (v->mv_size == sizeof(d) + 8 && (S_ISCHR(d.mode) || S_ISBLK(d.mode)))
		out->rdev = store_be64_get((const unsigned char *)v->mv_data + sizeof(d));
}

/* owner - the number file N's chunks are keyed by */
static uint64_t owner(const struct store_inode *n)
{
	return n->owner ? n->owner : n->ino;
}

int store_inode_get(struct store_txn *t, uint64_t ino, struct store_inode *out)
{
	unsigned char key[8];
	MDB_val v;
	int rc;

	store_be64_put(key, ino);
	rc = store_get(t, TBL_INODES, key, 8, &v);
	if (rc)
		return rc;
	if (v.mv_size < sizeof(struct inode_disk))
		return store_error(-EIO, "inode %llu is corrupt", (unsigned long long)ino);
	decode(out, ino, &v);
	return 0;
}

/* inode_write - store INO with symlink target TARGET (may be NULL). */
static int inode_write(struct store_txn *t, const struct store_inode *ino, const char *target)
{
	struct inode_disk d = {
		.parent = ino->parent, .size = ino->size, .base_len = ino->base_len,
		.atime_ns = ino->atime_ns, .mtime_ns = ino->mtime_ns, .ctime_ns = ino->ctime_ns,
		.mode = ino->mode, .uid = ino->uid, .gid = ino->gid, .flags = ino->flags,
	};
	size_t tlen = target ? strlen(target) : 0;
	unsigned char key[8], own[8];
	void *p;
	int rc;

	/* a file whose chunks are keyed by another number records it, and
	 * a device its number */
	if (!target && S_ISREG(ino->mode) && owner(ino) != ino->ino) {
		store_be64_put(own, owner(ino));
		target = (const char *)own;
		tlen = sizeof(own);
	} else if (!target && (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) && ino->rdev) {
		store_be64_put(own, ino->rdev);
		target = (const char *)own;
		tlen = sizeof(own);
	}
	memcpy(d.id, ino->id.id, GIT_OID_RAWSZ);
	store_be64_put(key, ino->ino);
	rc = store_reserve(t, TBL_INODES, key, 8, sizeof(d) + tlen, &p);
	if (rc)
		return rc;
	memcpy(p, &d, sizeof(d));
	if (tlen)
		memcpy((char *)p + sizeof(d), target, tlen);
	return 0;
}

int store_inode_put(struct store_txn *t, const struct store_inode *ino)
{
	char target[STORE_SYMLINK_MAX + 1];

	/* the borrowed target may point at the record being replaced */
	if (S_ISLNK(ino->mode) && ino->target) {
		size_t n = ino->size < STORE_SYMLINK_MAX ? ino->size : STORE_SYMLINK_MAX;
		memcpy(target, ino->target, n);
		target[n] = '\0';
		return inode_write(t, ino, target);
	}
	return inode_write(t, ino, NULL);
}

static size_t dirent_key(unsigned char *key, uint64_t parent, const char *name, size_t nlen)
{
	store_be64_put(key, parent);
	memcpy(key + 8, name, nlen);
	return 8 + nlen;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/'))
		return store_error(-EINVAL, "invalid file name '%s'", name);
	if (n > STORE_NAME_MAX)
		return store_error(-ENAMETOOLONG, "file name '%.32s...' is longer than %d bytes",
				   name, STORE_NAME_MAX);
	return 0;
}

int store_wt_lookup(struct store_txn *t, uint64_t parent, const char *name,
		    struct store_inode *out)
{
	unsigned char key[8 + STORE_NAME_MAX];
	size_t nlen = strlen(name);
	MDB_val v;
	int rc;

	if (nlen > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	rc = store_get(t, TBL_DIRENTS, key, dirent_key(key, parent, name, nlen), &v);
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return store_error(-EIO, "directory entry '%s' is corrupt", name);
	return store_inode_get(t, store_be64_get(v.mv_data), out);
}

int store_wt_readdir(struct store_txn *t, uint64_t dir, const char *after,
		     int (*cb)(const char *, const struct store_inode *, void *), void *arg)
{
	unsigned char key[8 + STORE_NAME_MAX];
	char name[STORE_NAME_MAX + 1];
	size_t alen = after ? strlen(after) : 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (alen > STORE_NAME_MAX)
		return -EINVAL;
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_DIRENTS), &c);
	if (rc)
		return store_mdb_error(rc, "dirents");
	k.mv_size = dirent_key(key, dir, after ? after : "", alen);
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > 8 && memcmp(k.mv_data, key, 8) == 0) {
		struct store_inode ino;
		size_t nlen = k.mv_size - 8;

		if (nlen > STORE_NAME_MAX || v.mv_size != 8) {
			rc = store_error(-EIO, "directory %llu has a corrupt entry",
					 (unsigned long long)dir);
			break;
		}
		memcpy(name, (char *)k.mv_data + 8, nlen);
		name[nlen] = '\0';
		if (after && nlen == alen && !memcmp(name, after, alen)) {
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		rc = store_inode_get(t, store_be64_get(v.mv_data), &ino);
		if (rc)
			break;
		rc = cb(name, &ino, arg);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "dirents");
}

static int dir_is_empty(struct store_txn *t, uint64_t dir)
{
	unsigned char key[8];
	MDB_cursor *c;
	MDB_val k = { 8, key }, v;
	int rc;

	store_be64_put(key, dir);
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_DIRENTS), &c);
	if (rc)
		return store_mdb_error(rc, "dirents");
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0)
		rc = !(k.mv_size > 8 && memcmp(k.mv_data, key, 8) == 0);
	else if (rc == MDB_NOTFOUND)
		rc = 1;
	else
		rc = store_mdb_error(rc, "dirents");
	mdb_cursor_close(c);
	return rc;
}

static int root_of(struct store_txn *t, uint64_t ino, uint64_t *root)
{
	struct store_inode n;
	int rc;

	for (int depth = 0; depth < 4096; depth++) {
		rc = store_inode_get(t, ino, &n);
		if (rc)
			return rc;
		if (n.parent == 0) {
			*root = ino;
			return 0;
		}
		ino = n.parent;
	}
	return store_error(-ELOOP, "directory loop at inode %llu", (unsigned long long)ino);
}

/* mark_up - set FLAG on directory DIR and its ancestors, stopping at the
 * first that has it (its ancestors have it too: the flags' invariant) */
static int mark_up(struct store_txn *t, uint64_t dir, uint32_t flag)
{
	struct store_inode n;
	int rc;

	while (dir) {
		rc = store_inode_get(t, dir, &n);
		if (rc)
			return rc;
		if (n.flags & flag)
			return 0;
		n.flags |= flag;
		rc = store_inode_put(t, &n);
		if (rc)
			return rc;
		dir = n.parent;
	}
	return 0;
}

int store_wt_mark_dirty(struct store_txn *t, uint64_t dir)
{
	return mark_up(t, dir, STORE_INO_DIRTY);
}

/* mark_extras - flag directory DIR and its ancestors: a special file or
 * a hard link is below (see STORE_INO_EXTRAS) */
static int mark_extras(struct store_txn *t, uint64_t dir)
{
	return mark_up(t, dir, STORE_INO_EXTRAS);
}

int store_wt_is_extra(const struct store_inode *n)
{
	return (n->flags & STORE_INO_LINKS) ||
	       !(S_ISREG(n->mode) || S_ISDIR(n->mode) || S_ISLNK(n->mode));
}

/* ---- names: hard links ---------------------------------------------------- */

static size_t link_key(unsigned char *key, uint64_t ino, uint64_t parent, const char *name)
{
	size_t nlen = strlen(name);

	store_be64_put(key, ino);
	store_be64_put(key + 8, parent);
	memcpy(key + 16, name, nlen);
	return 16 + nlen;
}

int store_wt_links_foreach(struct store_txn *t, const struct store_inode *n,
			   int (*cb)(uint64_t parent, const char *name, void *arg), void *arg)
{
	unsigned char key[8];
	char name[STORE_NAME_MAX + 1];
	MDB_cursor *c;
	MDB_val k = { 8, key }, v;
	int rc;

	if (!(n->flags & STORE_INO_LINKS))
		return 0;
	store_be64_put(key, n->ino);
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_LINKS), &c);
	if (rc)
		return store_mdb_error(rc, "links");
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 16 && memcmp(k.mv_data, key, 8) == 0) {
		size_t nlen = k.mv_size - 16;

		if (nlen == 0 || nlen > STORE_NAME_MAX) {
			rc = store_error(-EIO, "inode %llu has a corrupt name record",
					 (unsigned long long)n->ino);
			break;
		}
		memcpy(name, (const char *)k.mv_data + 16, nlen);
		name[nlen] = '\0';
		rc = cb(store_be64_get((const unsigned char *)k.mv_data + 8), name, arg);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "links");
}

static int count_name(uint64_t parent, const char *name, void *arg)
{
	(void)parent;
	(void)name;
	(*(uint32_t *)arg)++;
	return 0;
}

int store_wt_nlink(struct store_txn *t, const struct store_inode *n, uint32_t *nlink)
{
	*nlink = (n->flags & STORE_INO_ORPHAN) ? 0 : 1;
	if (S_ISDIR(n->mode) || !(n->flags & STORE_INO_LINKS) || !*nlink)
		return 0;
	return store_wt_links_foreach(t, n, count_name, nlink);
}

/* first_name - store_wt_links_foreach's callback: the first name, and stop */
struct name_at {
	uint64_t parent;
	char name[STORE_NAME_MAX + 1];
};

static int first_name(uint64_t parent, const char *name, void *arg)
{
	struct name_at *at = arg;

	at->parent = parent;
	snprintf(at->name, sizeof(at->name), "%s", name);
	return 1;
}

static int dirty_name(uint64_t parent, const char *name, void *arg)
{
	(void)name;
	return store_wt_mark_dirty(arg, parent);
}

/* mark_names_dirty - N's content or what the commit records of it
 * changed: every directory holding one of its names is dirty */
static int mark_names_dirty(struct store_txn *t, const struct store_inode *n)
{
	int rc = n->parent ? store_wt_mark_dirty(t, n->parent) : 0;

	if (rc == 0 && !(n->flags & STORE_INO_ORPHAN))
		rc = store_wt_links_foreach(t, n, dirty_name, t);
	return rc;
}

/*
 * drop_name - N loses its name NAME in PARENT (the directory entry is
 * gone already).  With other names left, the record moves to one of them
 * if it named this one; the last name makes N an orphan.  Writes N.
 */
static int orphan(struct store_txn *t, struct store_inode *n);

static int drop_name(struct store_txn *t, struct store_inode *n, uint64_t parent,
		     const char *name)
{
	unsigned char key[16 + STORE_NAME_MAX];
	struct name_at other;
	int rc;

	if (!(n->flags & STORE_INO_LINKS))
		return orphan(t, n);
	rc = store_del(t, TBL_LINKS, key, link_key(key, n->ino, parent, name));
	if (rc == -ENOENT) {
		/* the record's own name: another name takes its place */
		rc = store_wt_links_foreach(t, n, first_name, &other);
		if (rc == 1)
			rc = store_del(t, TBL_LINKS, key,
				       link_key(key, n->ino, other.parent, other.name));
		if (rc)
			return rc ? rc : store_error(-EIO, "inode %llu lost its names",
						     (unsigned long long)n->ino);
		n->parent = other.parent;
	} else if (rc) {
		return rc;
	}
	rc = store_wt_links_foreach(t, n, first_name, &other);
	if (rc < 0)
		return rc;
	if (rc == 0)
		n->flags &= ~(uint32_t)STORE_INO_LINKS;
	n->ctime_ns = store_now_ns();
	rc = store_inode_put(t, n);
	/* the names left have one fewer sibling: the commit records that */
	return rc ? rc : mark_names_dirty(t, n);
}

/* changed - record that NAME in DIR changed; a .gitignore changes what is
 * committed everywhere below, so the next commit visits the whole tree. */
static int changed(struct store_txn *t, uint64_t dir, const char *name)
{
	struct store_inode root;
	uint64_t r = 0;
	int rc = store_wt_mark_dirty(t, dir);

	if (rc || strcmp(name, ".gitignore") != 0)
		return rc;
	rc = root_of(t, dir, &r);
	if (rc == 0)
		rc = store_inode_get(t, r, &root);
	if (rc)
		return rc;
	root.flags |= STORE_INO_RESCAN;
	return store_inode_put(t, &root);
}

static int link_entry(struct store_txn *t, uint64_t parent, const char *name, uint64_t ino)
{
	unsigned char key[8 + STORE_NAME_MAX], val[8];

	store_be64_put(val, ino);
	return store_put(t, TBL_DIRENTS, key, dirent_key(key, parent, name, strlen(name)), val,
			 8, 0);
}

static int unlink_entry(struct store_txn *t, uint64_t parent, const char *name)
{
	unsigned char key[8 + STORE_NAME_MAX];

	return store_del(t, TBL_DIRENTS, key, dirent_key(key, parent, name, strlen(name)));
}

static int new_inode(struct store_txn *t, uint64_t parent, uint32_t mode, uint32_t uid,
		     uint32_t gid, struct store_inode *out)
{
	uint64_t id;
	int64_t now = store_now_ns();
	int rc = store_next_id(t, "ino", &id);

	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	out->ino = out->owner = id + INO_FIRST;
	out->parent = parent;
	out->mode = mode;
	out->uid = uid;
	out->gid = gid;
	out->atime_ns = out->mtime_ns = out->ctime_ns = now;
	if (S_ISDIR(mode))
		out->flags = STORE_INO_DIRTY;
	return 0;
}

static int touch_dir(struct store_txn *t, uint64_t dir)
{
	struct store_inode d;
	int rc = store_inode_get(t, dir, &d);

	if (rc)
		return rc;
	d.mtime_ns = d.ctime_ns = store_now_ns();
	return store_inode_put(t, &d);
}

static int checkout_tree(struct store_txn *t, uint64_t dir, const git_oid *tree, int depth);

int store_wt_create(struct store_txn *t, const char *repo, const char *branch,
		    const git_oid *tree, uint64_t *root)
{
	char key[512];
	unsigned char val[8];
	struct store_inode r;
	int n = snprintf(key, sizeof(key), "%s%c%s", repo, 0, branch);
	int rc;

	if (n >= (int)sizeof(key))
		return store_error(-ENAMETOOLONG, "repository or branch name too long");
	rc = new_inode(t, 0, S_IFDIR | 0755, (uint32_t)getuid(), (uint32_t)getgid(), &r);
	if (rc)
		return rc;
	rc = inode_write(t, &r, NULL);
	if (rc)
		return rc;
	store_be64_put(val, r.ino);
	rc = store_put(t, TBL_WORKTREES, key, (size_t)n, val, 8, MDB_NOOVERWRITE);
	if (rc == -EEXIST)
		return store_error(-EEXIST, "branch '%s' of '%s' already has a working tree",
				   branch, repo);
	if (rc)
		return rc;
	if (tree) {
		rc = checkout_tree(t, r.ino, tree, 0);
		if (rc)
			return rc;
	}
	*root = r.ino;
	return 0;
}

int store_wt_root(struct store_txn *t, const char *repo, const char *branch, uint64_t *root)
{
	char key[512];
	MDB_val v;
	int n = snprintf(key, sizeof(key), "%s%c%s", repo, 0, branch);
	int rc;

	if (n >= (int)sizeof(key))
		return -ENOENT;
	rc = store_get(t, TBL_WORKTREES, key, (size_t)n, &v);
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return store_error(-EIO, "working tree record of '%s' is corrupt", repo);
	*root = store_be64_get(v.mv_data);
	return 0;
}

int store_wt_foreach(struct store_txn *t, int dirty_only,
		     int (*cb)(const char *, const char *, uint64_t, void *), void *arg)
{
	char repo[256], branch[256];
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_WORKTREES), &c);

	if (rc)
		return store_mdb_error(rc, "worktrees");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		const char *nul = memchr(k.mv_data, 0, k.mv_size);
		size_t rl, bl;
		struct store_inode root;
		uint64_t ino;

		if (!nul || v.mv_size != 8)
			continue;
		rl = (size_t)(nul - (char *)k.mv_data);
		bl = k.mv_size - rl - 1;
		if (rl >= sizeof(repo) || bl >= sizeof(branch))
			continue;
		memcpy(repo, k.mv_data, rl);
		repo[rl] = '\0';
		memcpy(branch, nul + 1, bl);
		branch[bl] = '\0';
		ino = store_be64_get(v.mv_data);
		if (dirty_only) {
			rc = store_inode_get(t, ino, &root);
			if (rc)
				break;
			if (!(root.flags & STORE_INO_DIRTY))
				continue;
		}
		rc = cb(repo, branch, ino, arg);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "worktrees");
}

/* name_free - 0 if NAME can be made in directory PARENT, which exists and
 * is not removed; -EEXIST, -ENOTDIR, -ENOENT */
static int name_free(struct store_txn *t, uint64_t parent, const char *name)
{
	struct store_inode p, existing;
	int rc = store_inode_get(t, parent, &p);

	if (rc)
		return rc;
	if (!S_ISDIR(p.mode))
		return -ENOTDIR;
	if (p.flags & STORE_INO_ORPHAN)
		return -ENOENT;
	rc = store_wt_lookup(t, parent, name, &existing);
	return rc == 0 ? -EEXIST : rc == -ENOENT ? 0 : rc;
}

int store_wt_mknode(struct store_txn *t, uint64_t parent, const char *name, uint32_t mode,
		    uint32_t uid, uint32_t gid, const char *target, uint64_t rdev,
		    struct store_inode *out)
{
	int rc = check_name(name);

	if (rc)
		return rc;
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFIFO: case S_IFSOCK: case S_IFCHR:
	case S_IFBLK:
		break;
	default:
		return store_error(-EINVAL, "'%s': unknown file type %o", name, mode & S_IFMT);
	}
	rc = name_free(t, parent, name);
	if (rc)
		return rc;
	rc = new_inode(t, parent, mode, uid, gid, out);
	if (rc)
		return rc;
	if (S_ISLNK(mode)) {
		size_t tl = target ? strlen(target) : 0;
		if (tl == 0 || tl > STORE_SYMLINK_MAX)
			return store_error(-ENAMETOOLONG, "symlink target of '%s' is too long", name);
		out->size = tl;
	}
	if (S_ISCHR(mode) || S_ISBLK(mode))
		out->rdev = rdev;
	rc = inode_write(t, out, S_ISLNK(mode) ? target : NULL);
	if (rc == 0)
		rc = link_entry(t, parent, name, out->ino);
	if (rc == 0)
		rc = touch_dir(t, parent);
	if (rc == 0)
		rc = changed(t, parent, name);
	if (rc == 0 && store_wt_is_extra(out))
		rc = mark_extras(t, parent);
	if (rc == 0 && S_ISLNK(mode))
		rc = store_inode_get(t, out->ino, out);	/* target now borrowed */
	return rc;
}

int store_wt_link(struct store_txn *t, uint64_t ino, uint64_t newparent, const char *newname,
		  struct store_inode *out)
{
	unsigned char key[16 + STORE_NAME_MAX];
	struct store_inode n;
	uint64_t r1 = 0, r2 = 0;
	uint32_t nlink;
	int rc = check_name(newname);

	if (rc == 0)
		rc = store_inode_get(t, ino, &n);
	if (rc)
		return rc;
	if (S_ISDIR(n.mode))
		return -EPERM;
	if (n.flags & STORE_INO_ORPHAN)
		return -ENOENT;
	rc = name_free(t, newparent, newname);
	if (rc)
		return rc;
	rc = root_of(t, n.parent, &r1);
	if (rc == 0)
		rc = root_of(t, newparent, &r2);
	if (rc == 0 && r1 != r2)
		rc = -EXDEV;
	if (rc == 0)
		rc = store_wt_nlink(t, &n, &nlink);
	if (rc == 0 && nlink >= STORE_LINK_MAX)
		rc = -EMLINK;
	if (rc == 0)
		rc = store_put(t, TBL_LINKS, key, link_key(key, ino, newparent, newname), "", 0, 0);
	if (rc == 0)
		rc = link_entry(t, newparent, newname, ino);
	if (rc)
		return rc;
	n.flags |= STORE_INO_LINKS;
	n.ctime_ns = store_now_ns();
	rc = store_inode_put(t, &n);
	if (rc == 0)
		rc = touch_dir(t, newparent);
	if (rc == 0)
		rc = mark_names_dirty(t, &n);
	if (rc == 0)
		rc = changed(t, newparent, newname);
	if (rc == 0)
		rc = mark_extras(t, n.parent);
	if (rc == 0)
		rc = mark_extras(t, newparent);
	return rc ? rc : store_inode_get(t, ino, out);
}

/*
 * own_young - 1 if file N's base blob is young and N alone holds it (see
 * object.h), 0 if not, or a negative errno.
 */
static int own_young(struct store_txn *t, const struct store_inode *n)
{
	MDB_val v;
	int rc;

	if (!(n->flags & STORE_INO_YOUNG))
		return 0;
	rc = store_get(t, TBL_YOUNG, n->id.id, GIT_OID_RAWSZ, &v);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	return v.mv_size == 8 && store_be64_get(v.mv_data) == n->ino;
}

/* drop_young - delete young blob ID and its entry */
static int drop_young(struct store_txn *t, const git_oid *id)
{
	int rc = store_object_delete(t, id);

	if (rc == 0 || rc == -ENOENT)
		rc = store_del(t, TBL_YOUNG, id->id, GIT_OID_RAWSZ);
	return rc == -ENOENT ? 0 : rc;
}

/* free_inode - delete INO's record, chunks, xattrs and young blob. */
static int free_inode(struct store_txn *t, uint64_t ino)
{
	unsigned char key[8], chunks[8];
	struct store_inode n;
	int rc = store_inode_get(t, ino, &n);

	store_be64_put(chunks, rc == 0 ? owner(&n) : ino);
	if (rc == 0)
		rc = own_young(t, &n);
	if (rc == 1)
		rc = drop_young(t, &n.id);
	if (rc && rc != -ENOENT)
		return rc;
	store_be64_put(key, ino);
	rc = store_del(t, TBL_INODES, key, 8);
	if (rc && rc != -ENOENT)
		return rc;
	rc = store_del_prefix(t, TBL_CHUNKS, chunks, 8);
	if (rc == 0)
		rc = store_del_prefix(t, TBL_XATTRS, key, 8);
	if (rc == 0 && (n.flags & STORE_INO_LINKS))	/* a removed working tree's */
		rc = store_del_prefix(t, TBL_LINKS, key, 8);
	return rc;
}

static int orphan(struct store_txn *t, struct store_inode *n)
{
	n->flags |= STORE_INO_ORPHAN;
	n->parent = 0;
	n->ctime_ns = store_now_ns();
	return store_inode_put(t, n);
}

int store_wt_unlink(struct store_txn *t, uint64_t parent, const char *name, int dir,
		    uint64_t *ino)
{
	struct store_inode n;
	int rc = store_wt_lookup(t, parent, name, &n);

	if (rc)
		return rc;
	*ino = n.ino;
	if (dir && !S_ISDIR(n.mode))
		return -ENOTDIR;
	if (!dir && S_ISDIR(n.mode))
		return -EISDIR;
	if (dir) {
		rc = dir_is_empty(t, n.ino);
		if (rc < 0)
			return rc;
		if (!rc)
			return -ENOTEMPTY;
	}
	rc = unlink_entry(t, parent, name);
	if (rc)
		return rc;
	rc = dir ? free_inode(t, n.ino) : drop_name(t, &n, parent, name);
	if (rc == 0 && !dir && !(n.flags & STORE_INO_ORPHAN))
		*ino = 0;	/* it keeps other names */
	if (rc == 0)
		rc = touch_dir(t, parent);
	return rc ? rc : changed(t, parent, name);
}

/* move_name - N's name NAME in PARENT becomes NEWNAME in NEWPARENT:
 * in the links table, or in N's record (the caller writes N) */
static int move_name(struct store_txn *t, struct store_inode *n, uint64_t parent,
		     const char *name, uint64_t newparent, const char *newname)
{
	unsigned char key[16 + STORE_NAME_MAX];
	int rc;

	if (!(n->flags & STORE_INO_LINKS)) {
		n->parent = newparent;
		return 0;
	}
	rc = store_del(t, TBL_LINKS, key, link_key(key, n->ino, parent, name));
	if (rc == -ENOENT) {	/* the record's own name */
		n->parent = newparent;
		return 0;
	}
	if (rc == 0)
		rc = store_put(t, TBL_LINKS, key, link_key(key, n->ino, newparent, newname), "",
			       0, 0);
	return rc;
}

int store_wt_rename(struct store_txn *t, uint64_t oldparent, const char *oldname,
		    uint64_t newparent, const char *newname, unsigned flags, uint64_t *replaced)
{
	struct store_inode src, dst;
	uint64_t r1 = 0, r2 = 0;
	int rc;

	*replaced = 0;
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	rc = check_name(newname);
	if (rc)
		return rc;
	rc = store_wt_lookup(t, oldparent, oldname, &src);
	if (rc)
		return rc;
	if (oldparent == newparent && !strcmp(oldname, newname))
		return 0;
	rc = root_of(t, oldparent, &r1);
	if (rc == 0)
		rc = root_of(t, newparent, &r2);
	if (rc)
		return rc;
	if (r1 != r2)
		return -EXDEV;
	if (S_ISDIR(src.mode)) {
		/* refuse to move a directory below itself */
		struct store_inode a;
		for (uint64_t i = newparent; i; i = a.parent) {
			if (i == src.ino)
				return -EINVAL;
			rc = store_inode_get(t, i, &a);
			if (rc)
				return rc;
		}
	}
	rc = store_wt_lookup(t, newparent, newname, &dst);
	if (rc == 0 && dst.ino == src.ino)
		return (flags & RENAME_NOREPLACE) ? -EEXIST : 0;	/* two names of one file */
	if (rc == 0) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (S_ISDIR(dst.mode)) {
			if (!S_ISDIR(src.mode))
				return -EISDIR;
			rc = dir_is_empty(t, dst.ino);
			if (rc < 0)
				return rc;
			if (!rc)
				return -ENOTEMPTY;
			rc = free_inode(t, dst.ino);
		} else {
			if (S_ISDIR(src.mode))
				return -ENOTDIR;
			rc = unlink_entry(t, newparent, newname);
			if (rc == 0)
				rc = drop_name(t, &dst, newparent, newname);
			if (rc == 0 && (dst.flags & STORE_INO_ORPHAN))
				*replaced = dst.ino;
		}
		if (rc)
			return rc;
	} else if (rc != -ENOENT) {
		return rc;
	}
	rc = unlink_entry(t, oldparent, oldname);
	if (rc == 0)
		rc = link_entry(t, newparent, newname, src.ino);
	if (rc == 0)
		rc = move_name(t, &src, oldparent, oldname, newparent, newname);
	if (rc)
		return rc;
	src.ctime_ns = store_now_ns();
	rc = store_inode_put(t, &src);
	if (rc == 0 && (store_wt_is_extra(&src) || (src.flags & STORE_INO_EXTRAS)))
		rc = mark_extras(t, newparent);
	if (rc == 0)
		rc = touch_dir(t, oldparent);
	if (rc == 0 && newparent != oldparent)
		rc = touch_dir(t, newparent);
	if (rc == 0)
		rc = changed(t, oldparent, oldname);
	if (rc == 0)
		rc = changed(t, newparent, newname);
	return rc;
}

static size_t chunk_key(unsigned char *key, uint64_t ino, uint64_t idx)
{
	store_be64_put(key, ino);
	store_be64_put(key + 8, idx);
	return 16;
}

/*
 * base_bytes - the base blob's body and the bytes of it still valid: DATA
 * NULL and LEN 0 if the file has none, DATA NULL and LEN > 0 if the blob
 * is chunked (read it with store_blob_pieces).
 */
static int base_bytes(struct store_txn *t, const struct store_inode *n, const char **data,
		      uint64_t *len)
{
	size_t plain = 0;
	int rc;

	*data = NULL;
	*len = 0;
	if (n->base_len == 0 || git_oid_is_zero(&n->id))
		return 0;
	rc = store_object_read(t, &n->id, NULL, (const void **)data, &plain);
	*len = plain;
	if (rc == -E2BIG)
		rc = store_object_info(t, &n->id, NULL, len);
	if (rc == -ENOENT) {
		char hex[GIT_OID_HEXSZ + 1];
		return store_error(-EIO, "blob %s of inode %llu is missing",
				   git_oid_tostr(hex, sizeof(hex), &n->id),
				   (unsigned long long)n->ino);
	}
	if (rc)
		return rc;
	if (*len > n->base_len)
		*len = n->base_len;
	return 0;
}

/*
 * add_piece - append LEN bytes at DATA (NULL: zeros) to the pieces, joining
 * them to the last one when they follow it.  Returns -ENOBUFS when full.
 */
static int add_piece(struct store_piece *out, size_t max, size_t *n, const char *data,
		     size_t len)
{
	struct store_piece *last = *n ? &out[*n - 1] : NULL;

	if (!len)
		return 0;
	if (last && (data ? last->data && (const char *)last->data + last->len == data
			  : !last->data)) {
		last->len += len;
		return 0;
	}
	if (*n == max)
		return -ENOBUFS;
	out[(*n)++] = (struct store_piece){ data, len };
	return 0;
}

/*
 * pieces_at - file N's logical content from OFF, up to LEN bytes (N's size
 * bounds it), as borrowed pieces.  Returns the number of bytes described.
 */
static long pieces_at(struct store_txn *t, const struct store_inode *n, uint64_t off, size_t len,
		      struct store_piece *out, size_t max, size_t *count)
{
	const char *base;
	uint64_t base_len;
	size_t done = 0;
	int rc;

	*count = 0;
	if (off >= n->size)
		return 0;
	if (len > n->size - off)
		len = (size_t)(n->size - off);
	rc = base_bytes(t, n, &base, &base_len);
	if (rc)
		return rc;
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t idx = pos / STORE_WT_CHUNK;
		size_t within = (size_t)(pos % STORE_WT_CHUNK);
		size_t n_here = STORE_WT_CHUNK - within;
		const char *from = NULL;
		size_t have = 0;
		unsigned char key[16];
		MDB_val v;

		if (n_here > len - done)
			n_here = len - done;
		rc = (n->flags & STORE_INO_CHUNKS)
			     ? store_get(t, TBL_CHUNKS, key, chunk_key(key, owner(n), idx), &v)
			     : -ENOENT;
		if (rc == 0) {
			have = v.mv_size > within ? v.mv_size - within : 0;
			from = (const char *)v.mv_data + within;
		} else if (rc == -ENOENT) {
			have = base_len > pos ? (size_t)(base_len - pos < n_here ? base_len - pos
										 : n_here)
					      : 0;
			from = base ? base + pos : NULL;
		} else {
			return rc;
		}
		if (have > n_here)
			have = n_here;
		rc = 0;
		if (have && !from) {	/* a chunked base: within one of its chunks */
			struct store_piece p[STORE_BLOB_PIECES(STORE_WT_CHUNK)];
			size_t np;
			long got = store_blob_pieces(t, &n->id, pos, have, p, 3, &np);
			if (got >= 0 && (size_t)got != have)
				got = store_error(-EIO, "blob of inode %llu is short",
						  (unsigned long long)n->ino);
			if (got < 0)
				return got;
			for (size_t i = 0; i < np && rc == 0; i++)
				rc = add_piece(out, max, count, p[i].data, p[i].len);
		} else {
			rc = add_piece(out, max, count, from, have);
		}
		if (rc == 0)
			rc = add_piece(out, max, count, NULL, n_here - have);
		if (rc)
			return rc;
		done += n_here;
	}
	return (long)done;
}

/* regular_file - inode INO, which must be a regular file */
static int regular_file(struct store_txn *t, uint64_t ino, struct store_inode *n)
{
	int rc = store_inode_get(t, ino, n);

	if (rc)
		return rc;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	return S_ISREG(n->mode) ? 0 : -EINVAL;
}

long store_wt_pieces(struct store_txn *t, uint64_t ino, uint64_t off, size_t len,
		     struct store_piece *out, size_t max, size_t *count)
{
	struct store_inode n;
	int rc = regular_file(t, ino, &n);

	*count = 0;
	return rc ? rc : pieces_at(t, &n, off, len, out, max, count);
}

/* read_at - copy file N's logical content at OFF into BUF */
static long read_at(struct store_txn *t, const struct store_inode *n, uint64_t off, char *buf,
		    size_t len)
{
	struct store_piece pieces[STORE_WT_PIECES(STORE_WT_CHUNK)];
	size_t done = 0;

	while (done < len) {
		size_t step = len - done < STORE_WT_CHUNK ? len - done : STORE_WT_CHUNK;
		size_t count, at = done;
		long got = pieces_at(t, n, off + done, step, pieces,
				     sizeof(pieces) / sizeof(pieces[0]), &count);

		if (got <= 0)
			return got < 0 ? got : (long)done;
		for (size_t i = 0; i < count; i++) {
			if (pieces[i].data)
				memcpy(buf + at, pieces[i].data, pieces[i].len);
			else
				memset(buf + at, 0, pieces[i].len);
			at += pieces[i].len;
		}
		done += (size_t)got;
		if ((size_t)got < step)
			break;
	}
	return (long)done;
}

long store_wt_read(struct store_txn *t, uint64_t ino, uint64_t off, char *buf, size_t len)
{
	struct store_inode n;
	int rc = regular_file(t, ino, &n);

	return rc ? rc : read_at(t, &n, off, buf, len);
}

/*
 * unyoung - file N's content is about to change.  If N alone holds its
 * young base blob (at most one chunk long), its bytes become chunk 0 and
 * the blob goes, so a file that goes on growing leaves nothing for gc.
 * Updates N; the caller writes it.
 */
static int unyoung(struct store_txn *t, struct store_inode *n)
{
	unsigned char key[16];
	const char *data;
	char *copy;
	uint64_t len;
	int rc = own_young(t, n);

	n->flags &= ~(uint32_t)STORE_INO_YOUNG;
	if (rc <= 0)
		return rc;
	rc = base_bytes(t, n, &data, &len);
	if (rc)
		return rc;
	if (len > STORE_WT_CHUNK || (!data && len) || (n->flags & STORE_INO_CHUNKS))
		return 0;	/* not as store_wt_write_whole left it: keep */
	copy = malloc(len ? len : 1);
	if (!copy)
		return store_error(-ENOMEM, "out of memory");
	if (len)
		memcpy(copy, data, len);
	rc = len ? store_put(t, TBL_CHUNKS, key, chunk_key(key, owner(n), 0), copy, len, 0) : 0;
	free(copy);
	if (rc == 0)
		rc = drop_young(t, &n->id);
	if (rc)
		return rc;
	memset(&n->id, 0, sizeof(n->id));
	n->base_len = 0;
	n->flags |= STORE_INO_CHUNKS;
	return 0;
}

/* write_chunk - write LEN bytes at WITHIN of chunk IDX of file N. */
static int write_chunk(struct store_txn *t, const struct store_inode *n, uint64_t idx,
		       size_t within, const char *src, size_t len, char *scratch)
{
	unsigned char key[16];
	size_t klen = chunk_key(key, owner(n), idx);
	uint64_t start = idx * STORE_WT_CHUNK;
	size_t have = 0, newlen;
	MDB_val v;
	void *p;
	int rc;

	if (within == 0 && len == STORE_WT_CHUNK)
		return store_put(t, TBL_CHUNKS, key, klen, src, len, 0);
	rc = (n->flags & STORE_INO_CHUNKS) ? store_get(t, TBL_CHUNKS, key, klen, &v) : -ENOENT;
	if (rc == 0) {
		have = v.mv_size;
		memcpy(scratch, v.mv_data, have);
	} else if (rc == -ENOENT) {
		/* first write to this chunk: start from the base's bytes,
		 * bounded by the file size (truncated bytes read as zero) */
		uint64_t end = start + STORE_WT_CHUNK;
		if (end > n->size)
			end = n->size;
		if (end > start) {
			long got = read_at(t, n, start, scratch, (size_t)(end - start));
			if (got < 0)
				return (int)got;
			have = (size_t)got;
		}
	} else {
		return rc;
	}
	if (within > have)
		memset(scratch + have, 0, within - have);
	memcpy(scratch + within, src, len);
	newlen = within + len > have ? within + len : have;
	rc = store_reserve(t, TBL_CHUNKS, key, klen, newlen, &p);
	if (rc)
		return rc;
	memcpy(p, scratch, newlen);
	return 0;
}

long store_wt_write(struct store_txn *t, uint64_t ino, uint64_t off, const char *buf, size_t len,
		    int64_t mtime_ns)
{
	struct store_inode n;
	char *scratch = NULL;
	size_t done = 0;
	int rc = store_inode_get(t, ino, &n);

	if (rc)
		return rc;
	if (!S_ISREG(n.mode))
		return S_ISDIR(n.mode) ? -EISDIR : -EINVAL;
	if (off + len < off || off + len > STORE_OBJECT_MAX)
		return -EFBIG;
	rc = unyoung(t, &n);
	if (rc)
		return rc;
	while (done < len) {
		uint64_t pos = off + done;
		size_t within = (size_t)(pos % STORE_WT_CHUNK);
		size_t n_here = STORE_WT_CHUNK - within;

		if (n_here > len - done)
			n_here = len - done;
		if (!scratch && !(within == 0 && n_here == STORE_WT_CHUNK)) {
			scratch = malloc(STORE_WT_CHUNK);
			if (!scratch)
				return store_error(-ENOMEM, "out of memory");
		}
		rc = write_chunk(t, &n, pos / STORE_WT_CHUNK, within, buf + done, n_here, scratch);
		if (rc) {
			free(scratch);
			return rc;
		}
		done += n_here;
	}
	free(scratch);
	if (off + len > n.size)
		n.size = off + len;
	n.flags |= STORE_INO_CHUNKS;
	n.mtime_ns = n.ctime_ns = mtime_ns;
	rc = store_inode_put(t, &n);
	if (rc == 0)
		rc = mark_names_dirty(t, &n);
	return rc ? rc : (long)len;
}

long store_wt_write_whole(struct store_txn *t, uint64_t ino, const char *buf, size_t len,
			  int64_t mtime_ns)
{
	struct store_inode n;
	git_oid id;
	void *dst;
	int rc = store_inode_get(t, ino, &n);

	if (rc)
		return rc;
	if (!S_ISREG(n.mode) || n.size || (n.flags & STORE_INO_CHUNKS) || len == 0 ||
	    len > STORE_WT_WHOLE_MAX)
		return store_wt_write(t, ino, 0, buf, len, mtime_ns);
	rc = store_object_hash(&id, GIT_OBJECT_BLOB, buf, len);
	if (rc == 0)
		rc = store_object_reserve(t, &id, GIT_OBJECT_BLOB, len, &dst);
	if (rc == 0) {
		/* a new blob only this file holds: young until adopted */
		unsigned char ino_be[8];
		memcpy(dst, buf, len);
		store_be64_put(ino_be, ino);
		rc = store_put(t, TBL_YOUNG, id.id, GIT_OID_RAWSZ, ino_be, 8, 0);
		n.flags |= STORE_INO_YOUNG;
	} else if (rc == -EEXIST) {
		rc = 0;
	}
	if (rc)
		return rc;
	git_oid_cpy(&n.id, &id);
	n.size = n.base_len = len;
	n.mtime_ns = n.ctime_ns = mtime_ns;
	rc = store_inode_put(t, &n);
	if (rc == 0)
		rc = mark_names_dirty(t, &n);
	return rc ? rc : (long)len;
}

static int truncate_file(struct store_txn *t, struct store_inode *n, uint64_t size)
{
	unsigned char key[16];
	uint64_t first_gone = (size + STORE_WT_CHUNK - 1) / STORE_WT_CHUNK;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (size < n->size && (n->flags & STORE_INO_CHUNKS)) {
		/* drop whole chunks past the end, trim the last one */
		rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_CHUNKS), &c);
		if (rc)
			return store_mdb_error(rc, "chunks");
		k.mv_size = chunk_key(key, owner(n), first_gone);
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		while (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, key, 8) == 0) {
			rc = mdb_cursor_del(c, 0);
			if (rc == 0)
				rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
		}
		mdb_cursor_close(c);
		if (rc && rc != MDB_NOTFOUND && rc != EINVAL)
			return store_mdb_error(rc, "chunks");
		if (size % STORE_WT_CHUNK) {
			size_t keep = (size_t)(size % STORE_WT_CHUNK);
			size_t klen = chunk_key(key, owner(n), size / STORE_WT_CHUNK);
			rc = store_get(t, TBL_CHUNKS, key, klen, &v);
			if (rc == 0 && v.mv_size > keep) {
				char *copy = malloc(keep);
				if (!copy)
					return store_error(-ENOMEM, "out of memory");
				memcpy(copy, v.mv_data, keep);
				rc = store_put(t, TBL_CHUNKS, key, klen, copy, keep, 0);
				free(copy);
			}
			if (rc && rc != -ENOENT)
				return rc;
		}
	}
	if (size < n->base_len)
		n->base_len = size;
	if (size != n->size)
		n->flags |= STORE_INO_CHUNKS;
	n->size = size;
	return 0;
}

int store_wt_setattr(struct store_txn *t, uint64_t ino, const struct store_attr *a,
		     struct store_inode *out)
{
	struct store_inode n;
	int rc = store_inode_get(t, ino, &n);
	int content = 0;

	if (rc)
		return rc;
	if (a->mask & STORE_ATTR_SIZE) {
		if (!S_ISREG(n.mode))
			return S_ISDIR(n.mode) ? -EISDIR : -EINVAL;
		if (a->size > STORE_OBJECT_MAX)
			return -EFBIG;
		rc = a->size != n.size ? unyoung(t, &n) : 0;
		if (rc == 0)
			rc = truncate_file(t, &n, a->size);
		if (rc)
			return rc;
		n.mtime_ns = store_now_ns();
		content = 1;
	}
	if (a->mask & STORE_ATTR_MODE) {
		content |= (n.mode & 0111) != (a->mode & 0111);
		/* a special file's mode is in the commit's extras */
		content |= !S_ISREG(n.mode) && !S_ISDIR(n.mode) && !S_ISLNK(n.mode) &&
			   (n.mode & 07777) != (a->mode & 07777);
		n.mode = (n.mode & S_IFMT) | (a->mode & 07777);
	}
	/* and so are its owners */
	if (!S_ISREG(n.mode) && !S_ISDIR(n.mode) && !S_ISLNK(n.mode) &&
	    (((a->mask & STORE_ATTR_UID) && a->uid != n.uid) ||
	     ((a->mask & STORE_ATTR_GID) && a->gid != n.gid)))
		content = 1;
	if (a->mask & STORE_ATTR_UID)
		n.uid = a->uid;
	if (a->mask & STORE_ATTR_GID)
		n.gid = a->gid;
	if (a->mask & STORE_ATTR_ATIME)
		n.atime_ns = a->atime_ns;
	if (a->mask & STORE_ATTR_MTIME)
		n.mtime_ns = a->mtime_ns;
	n.ctime_ns = (a->mask & STORE_ATTR_CTIME) ? a->ctime_ns : store_now_ns();
	rc = store_inode_put(t, &n);
	if (rc == 0 && content)
		rc = mark_names_dirty(t, &n);
	if (rc == 0 && out)
		rc = store_inode_get(t, ino, out);
	return rc;
}

int store_wt_needs_blob(const struct store_inode *n)
{
	return (n->flags & STORE_INO_CHUNKS) || n->base_len != n->size || git_oid_is_zero(&n->id);
}

/* take_blob - make blob ID file N's base, dropping N's chunks if DROP */
static int take_blob(struct store_txn *t, struct store_inode *n, const git_oid *id, int drop)
{
	unsigned char prefix[8];
	int rc = 0;

	store_be64_put(prefix, owner(n));
	if (drop)
		rc = store_del_prefix(t, TBL_CHUNKS, prefix, 8);
	if (rc)
		return rc;
	git_oid_cpy(&n->id, id);
	n->base_len = n->size;
	n->flags &= ~(uint32_t)STORE_INO_CHUNKS;
	return store_inode_put(t, n);
}

/*
 * blob_from_chunks - store_wt_blob for a large file: complete its chunks
 * (copying only stretches that still come from the base, and holes), hash
 * them where they lie and hand them to a chunked blob (object.h); the
 * file's chunks are keyed by a fresh number from then on.  A file written
 * whole since its last commit costs a hash and no copy.
 */
static int blob_from_chunks(struct store_txn *t, struct store_inode *n)
{
	uint64_t nchunks = (n->size + STORE_WT_CHUNK - 1) / STORE_WT_CHUNK, fresh;
	struct store_hasher *h;
	char *scratch = NULL;
	git_oid id;
	int rc = store_hasher_new(&h, GIT_OBJECT_BLOB, n->size);

	if (rc)
		return rc;
	for (uint64_t idx = 0; idx < nchunks && rc == 0; idx++) {
		uint64_t start = idx * STORE_WT_CHUNK;
		size_t want = n->size - start < STORE_WT_CHUNK ? (size_t)(n->size - start)
							       : STORE_WT_CHUNK;
		unsigned char key[16];
		size_t klen = chunk_key(key, owner(n), idx);
		MDB_val v;
		long got;

		rc = (n->flags & STORE_INO_CHUNKS) ? store_get(t, TBL_CHUNKS, key, klen, &v)
						   : -ENOENT;
		if (rc == 0 && v.mv_size == want) {
			store_hasher_update(h, v.mv_data, want);
			continue;
		}
		if (rc && rc != -ENOENT)
			break;
		if (!scratch && !(scratch = malloc(STORE_WT_CHUNK))) {
			rc = store_error(-ENOMEM, "out of memory");
			break;
		}
		got = read_at(t, n, start, scratch, want);
		rc = got < 0 ? (int)got : (size_t)got != want ? -EIO : 0;
		if (rc == 0)
			rc = store_put(t, TBL_CHUNKS, key, klen, scratch, want, 0);
		if (rc == 0)
			store_hasher_update(h, scratch, want);
	}
	store_hasher_final(h, &id);
	free(scratch);
	if (rc == 0)
		rc = store_object_put_chunked(t, &id, owner(n), n->size);
	if (rc == 0) {
		rc = store_next_id(t, "ino", &fresh);
		if (rc)
			return rc;
		n->owner = fresh + INO_FIRST;
		return take_blob(t, n, &id, 0);
	}
	if (rc == -EEXIST)	/* stored already: the chunks go */
		rc = store_object_adopt(t, &id);
	return rc ? rc : take_blob(t, n, &id, 1);
}

int store_wt_blob(struct store_txn *t, struct store_inode *n)
{
	struct store_hasher *h;
	char *buf;
	void *dst;
	git_oid id;
	uint64_t off;
	int rc;

	if (!store_wt_needs_blob(n))
		return 0;
	if (n->size >= STORE_BLOB_CHUNKED_MIN)
		return blob_from_chunks(t, n);
	buf = malloc(STORE_WT_CHUNK);
	if (!buf)
		return store_error(-ENOMEM, "out of memory");
	rc = store_hasher_new(&h, GIT_OBJECT_BLOB, n->size);
	if (rc)
		goto out;
	for (off = 0; off < n->size; off += STORE_WT_CHUNK) {
		long got = read_at(t, n, off, buf, STORE_WT_CHUNK);
		if (got < 0) {
			git_oid dummy;
			store_hasher_final(h, &dummy);
			rc = (int)got;
			goto out;
		}
		store_hasher_update(h, buf, (size_t)got);
	}
	store_hasher_final(h, &id);
	rc = store_object_reserve(t, &id, GIT_OBJECT_BLOB, n->size, &dst);
	if (rc == 0) {
		/* the reserve may have moved pages: read_at re-reads the map */
		for (off = 0; off < n->size; off += STORE_WT_CHUNK) {
			long got = read_at(t, n, off, (char *)dst + off, STORE_WT_CHUNK);
			if (got < 0) {
				rc = (int)got;
				goto out;
			}
		}
	} else if (rc != -EEXIST) {
		goto out;
	}
	rc = take_blob(t, n, &id, 1);
out:
	free(buf);
	return rc;
}

int store_wt_forget(struct store_txn *t, uint64_t ino)
{
	struct store_inode n;
	int rc = store_inode_get(t, ino, &n);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (!(n.flags & STORE_INO_ORPHAN))
		return 0;
	return free_inode(t, ino);
}

int store_wt_purge_orphans(struct store_txn *t)
{
	MDB_cursor *c;
	MDB_val k, v;
	struct util_array orphans = UTIL_ARRAY_INIT(uint64_t);
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_INODES), &c);

	if (rc)
		return store_mdb_error(rc, "inodes");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		struct inode_disk d;
		if (k.mv_size != 8 || v.mv_size < sizeof(d))
			continue;
		memcpy(&d, v.mv_data, sizeof(d));
		if (!(d.flags & STORE_INO_ORPHAN))
			continue;
		uint64_t *ino = UTIL_ARRAY_PUSH(&orphans, uint64_t);
		if (!ino) {
			rc = ENOMEM;
			break;
		}
		*ino = store_be64_get(k.mv_data);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND) {
		util_array_release(&orphans);
		return store_mdb_error(rc, "inodes");
	}
	rc = 0;
	for (size_t i = 0; i < util_array_len(&orphans) && rc == 0; i++)
		rc = free_inode(t, *UTIL_ARRAY_AT(&orphans, uint64_t, i));
	util_array_release(&orphans);
	return rc;
}

static size_t xattr_key(unsigned char *key, uint64_t ino, const char *name, size_t nlen)
{
	store_be64_put(key, ino);
	memcpy(key + 8, name, nlen);
	return 8 + nlen;
}

long store_wt_xattr_get(struct store_txn *t, uint64_t ino, const char *name, void *buf,
			size_t len)
{
	unsigned char key[8 + XATTR_NAME_MAX_LEN];
	size_t nlen = strlen(name);
	MDB_val v;
	int rc;

	if (nlen == 0 || nlen > XATTR_NAME_MAX_LEN)
		return -ERANGE;
	rc = store_get(t, TBL_XATTRS, key, xattr_key(key, ino, name, nlen), &v);
	if (rc == -ENOENT)
		return -ENODATA;
	if (rc)
		return rc;
	if (len == 0)
		return (long)v.mv_size;
	if (len < v.mv_size)
		return -ERANGE;
	memcpy(buf, v.mv_data, v.mv_size);
	return (long)v.mv_size;
}

long store_wt_xattr_list(struct store_txn *t, uint64_t ino, char *buf, size_t len)
{
	unsigned char key[8];
	MDB_cursor *c;
	MDB_val k = { 8, key }, v;
	size_t total = 0;
	int rc;

	store_be64_put(key, ino);
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_XATTRS), &c);
	if (rc)
		return store_mdb_error(rc, "xattrs");
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > 8 && memcmp(k.mv_data, key, 8) == 0) {
		size_t nlen = k.mv_size - 8;
		if (len) {
			if (total + nlen + 1 > len) {
				mdb_cursor_close(c);
				return -ERANGE;
			}
			memcpy(buf + total, (char *)k.mv_data + 8, nlen);
			buf[total + nlen] = '\0';
		}
		total += nlen + 1;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_error(rc, "xattrs");
	return (long)total;
}

int store_wt_xattr_set(struct store_txn *t, uint64_t ino, const char *name, const void *val,
		       size_t len, int flags)
{
	unsigned char key[8 + XATTR_NAME_MAX_LEN];
	size_t nlen = strlen(name), klen;
	struct store_inode n;
	MDB_val v;
	int rc;

	if (nlen == 0 || nlen > XATTR_NAME_MAX_LEN)
		return -ERANGE;
	if (len > XATTR_VALUE_MAX)
		return -E2BIG;
	rc = store_inode_get(t, ino, &n);
	if (rc)
		return rc;
	klen = xattr_key(key, ino, name, nlen);
	rc = store_get(t, TBL_XATTRS, key, klen, &v);
	if (rc && rc != -ENOENT)
		return rc;
	if (rc == 0 && (flags & XATTR_CREATE))
		return -EEXIST;
	if (rc == -ENOENT && (flags & XATTR_REPLACE))
		return -ENODATA;
	rc = store_put(t, TBL_XATTRS, key, klen, len ? val : "", len, 0);
	if (rc)
		return rc;
	n.ctime_ns = store_now_ns();
	return store_inode_put(t, &n);
}

int store_wt_xattr_remove(struct store_txn *t, uint64_t ino, const char *name)
{
	unsigned char key[8 + XATTR_NAME_MAX_LEN];
	size_t nlen = strlen(name);
	int rc;

	if (nlen == 0 || nlen > XATTR_NAME_MAX_LEN)
		return -ERANGE;
	rc = store_del(t, TBL_XATTRS, key, xattr_key(key, ino, name, nlen));
	return rc == -ENOENT ? -ENODATA : rc;
}

static int checkout_tree(struct store_txn *t, uint64_t dir, const git_oid *tree, int depth)
{
	const void *body;
	size_t len, pos = 0;
	git_object_t type;
	struct store_tree_entry e;
	int rc;

	if (depth > 256)
		return store_error(-ELOOP, "tree nests too deeply");
	rc = store_object_read(t, tree, &type, &body, &len);
	if (rc == -ENOENT)
		return store_error(-EIO, "tree to check out is missing");
	if (rc)
		return rc;
	if (type != GIT_OBJECT_TREE)
		return store_error(-EIO, "object to check out is not a tree");
	while ((rc = store_tree_next(body, len, &pos, &e)) == 1) {
		struct store_inode n;
		char name[STORE_NAME_MAX + 1];
		git_oid id;
		const void *blob;
		size_t blen;
		uint32_t mode;

		if (e.namelen > STORE_NAME_MAX)
			return store_error(-EIO, "tree entry name too long");
		memcpy(name, e.name, e.namelen);
		name[e.namelen] = '\0';
		git_oid_cpy(&id, e.id);
		if (e.mode == 0160000)
			continue;	/* submodules are not checked out */
		mode = e.mode == 040000 ? (S_IFDIR | 0755)
		     : e.mode == 0120000 ? (S_IFLNK | 0777)
		     : (S_IFREG | ((e.mode & 0111) ? 0755 : 0644));
		rc = new_inode(t, dir, mode, (uint32_t)getuid(), (uint32_t)getgid(), &n);
		if (rc)
			return rc;
		if (S_ISLNK(mode)) {
			rc = store_object_read(t, &id, NULL, &blob, &blen);
			n.size = blen;
		} else if (!S_ISDIR(mode)) {
			rc = store_object_info(t, &id, NULL, &n.size);
		}
		if (rc)
			return rc == -ENOENT ? store_error(-EIO, "blob of '%s' is missing", name) : rc;
		if (S_ISLNK(mode)) {
			char target[STORE_SYMLINK_MAX + 1];
			if (blen == 0 || blen > STORE_SYMLINK_MAX)
				return store_error(-EIO, "symlink '%s' has a bad target", name);
			memcpy(target, blob, blen);
			target[blen] = '\0';
			rc = inode_write(t, &n, target);
		} else {
			git_oid_cpy(&n.id, &id);
			n.base_len = n.size;
			if (S_ISDIR(mode))
				n.flags = 0;	/* clean: its tree is ID */
			rc = inode_write(t, &n, NULL);
		}
		if (rc == 0)
			rc = link_entry(t, dir, name, n.ino);
		if (rc == 0 && S_ISDIR(mode))
			rc = checkout_tree(t, n.ino, &id, depth + 1);
		if (rc)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (depth > 0)
		return 0;
	/* the root: clean at TREE */
	{
		struct store_inode r;
		rc = store_inode_get(t, dir, &r);
		if (rc)
			return rc;
		git_oid_cpy(&r.id, tree);
		r.flags &= ~(uint32_t)STORE_INO_DIRTY;
		return store_inode_put(t, &r);
	}
}

int store_wt_checkout(struct store_txn *t, uint64_t root, const git_oid *tree)
{
	if (!dir_is_empty(t, root))
		return store_error(-ENOTEMPTY, "working tree is not empty");
	return checkout_tree(t, root, tree, 0);
}

/* ---- removing a whole working tree (store_wt_remove) -------------------- */

static int collect_child(const char *name, const struct store_inode *n, void *arg)
{
	uint64_t *slot = UTIL_ARRAY_PUSH((struct util_array *)arg, uint64_t);

	(void)name;
	if (!slot)
		return store_error(-ENOMEM, "out of memory");
	*slot = n->ino;
	return 0;
}

int store_wt_remove(struct store_txn *t, const char *repo, const char *branch)
{
	struct util_array all = UTIL_ARRAY_INIT(uint64_t);
	char key[512];
	uint64_t root, *slot;
	int n = snprintf(key, sizeof(key), "%s%c%s", repo, 0, branch);
	int rc = store_wt_root(t, repo, branch, &root);

	if (rc)
		return rc;
	slot = UTIL_ARRAY_PUSH(&all, uint64_t);
	if (!slot)
		return store_error(-ENOMEM, "out of memory");
	*slot = root;
	/* breadth first: the array grows while it is walked */
	for (size_t i = 0; rc == 0 && i < util_array_len(&all); i++) {
		uint64_t ino = *UTIL_ARRAY_AT(&all, uint64_t, i);
		struct store_inode node;
		unsigned char dkey[8];

		rc = store_inode_get(t, ino, &node);
		if (rc == 0 && S_ISDIR(node.mode)) {
			rc = store_wt_readdir(t, ino, NULL, collect_child, &all);
			store_be64_put(dkey, ino);
			if (rc == 0)
				rc = store_del_prefix(t, TBL_DIRENTS, dkey, 8);
		}
		/* an orphan: freed at the last close, or at the next start */
		if (rc == 0)
			rc = orphan(t, &node);
	}
	util_array_release(&all);
	if (rc == 0)
		rc = store_del(t, TBL_WORKTREES, key, (size_t)n);
	return rc;
}
