/*
 * views.c - the read-only, generated parts of the tree: the root, repos/
 * (whose entries are working-tree roots), commits/<repo>/<id>/ snapshots,
 * log/<repo> and events.
 *
 * Snapshots are immutable, so their entries and attributes are cached by
 * the kernel for long; the lists of repositories and commits change, so
 * those directories are cached for a second only.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs_int.h"
#include "store/commit.h"
#include "store/git.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/worktree.h"

#define LIST_TIMEOUT 1.0
#define SNAPSHOT_TIMEOUT 86400.0

static const struct {
	const char *name;
	fuse_ino_t id;
	mode_t mode;
} root_entries[] = {
	{ "repos", FS_ID_REPOS, S_IFDIR | 0755 },
	{ "commits", FS_ID_COMMITS, S_IFDIR | 0555 },
	{ "log", FS_ID_LOG, S_IFDIR | 0555 },
	{ "events", FS_ID_EVENTS, S_IFREG | 0444 },
	{ "images", FS_ID_IMAGES, S_IFDIR | 0555 },
	{ "layers", FS_ID_LAYERS, S_IFDIR | 0555 },
	{ "oci", FS_ID_OCI, S_IFDIR | 0555 },
};

int fs_dirlist_add(struct fs_dirlist *l, const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **nn = realloc(l->names, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		l->names = nn;
		l->cap = cap;
	}
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

void fs_dirlist_free(struct fs_dirlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->names[i]);
		if (l->nodes)
			free(l->nodes[i].target);
	}
	free(l->names);
	free(l->nodes);
	memset(l, 0, sizeof(*l));
}

static void fixed_attr(struct fs *fs, fuse_ino_t id, mode_t mode, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = id;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs->started;
}

static void dynamic_attr(struct fs *fs, const struct fs_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->id;
	st->st_mode = n->mode;
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)n->size;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_blksize = 4096;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = (time_t)n->time;
}

static int new_entry(struct fs *fs, const struct fs_node *tmpl, double timeout,
		     struct fuse_entry_param *e)
{
	uint64_t id = fs_node_new(fs, tmpl);
	struct fs_node n = *tmpl;

	if (!id)
		return -ENOMEM;
	n.id = id;
	memset(e, 0, sizeof(*e));
	e->ino = id;
	e->attr_timeout = e->entry_timeout = timeout;
	dynamic_attr(fs, &n, &e->attr);
	return 0;
}

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
	if (rc)
		return rc;
	snprintf(n.repo, sizeof(n.repo), "%s", parent->repo);
	n.oid = *te.id;
	if (te.mode == 040000) {
		n.kind = FS_K_TREE;
		n.mode = S_IFDIR | 0555;
	} else if (te.mode == 0160000) {
		n.kind = FS_K_TREE;	/* a submodule: shown as an empty dir */
		n.mode = S_IFDIR | 0555;
		store_oid_empty_tree(&n.oid);
	} else {
		rc = store_object_info(t, &n.oid, NULL, &blen);
		if (rc)
			return missing(rc, "blob", &n.oid, parent->repo);
		n.size = blen;
		n.kind = te.mode == 0120000 ? FS_K_LINK : FS_K_BLOB;
		n.mode = te.mode == 0120000 ? (S_IFLNK | 0777)
			 : (te.mode & 0111)  ? (S_IFREG | 0555)
					     : (S_IFREG | 0444);
	}
	return new_entry(fs, &n, SNAPSHOT_TIMEOUT, e);
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
	n->mode = S_IFDIR | 0555;
	return 0;
}

int fs_view_lookup(struct fs *fs, struct store_txn *t, fuse_ino_t parent, const char *name,
		   struct fuse_entry_param *e)
{
	struct fs_node p, n = { 0 };
	int rc;

	memset(e, 0, sizeof(*e));
	if (fs_img_is_fixed(parent))
		return fs_img_lookup(fs, t, parent, name, e);
	switch (parent) {
	case FS_ID_ROOT:
		for (size_t i = 0; i < sizeof(root_entries) / sizeof(root_entries[0]); i++) {
			if (strcmp(name, root_entries[i].name))
				continue;
			e->ino = root_entries[i].id;
			e->attr_timeout = root_entries[i].id == FS_ID_EVENTS ? 0 : SNAPSHOT_TIMEOUT;
			e->entry_timeout = SNAPSHOT_TIMEOUT;
			fixed_attr(fs, e->ino, root_entries[i].mode, &e->attr);
			return 0;
		}
		return -ENOENT;
	case FS_ID_REPOS: {
		char branch[STORE_REF_NAME_MAX + 1];
		uint64_t root;
		rc = store_repo_head_branch(t, name, branch, sizeof(branch));
		if (rc == 0)
			rc = store_wt_root(t, name, branch, &root);
		if (rc)
			return -ENOENT;
		rc = fs_wt_entry(fs, t, root, e);
		e->entry_timeout = LIST_TIMEOUT;
		return rc;
	}
	case FS_ID_COMMITS:
	case FS_ID_LOG:
		if (store_repo_exists(t, name) != 1)
			return -ENOENT;
		n.kind = parent == FS_ID_COMMITS ? FS_K_COMMITS_REPO : FS_K_LOG;
		n.mode = parent == FS_ID_COMMITS ? (S_IFDIR | 0555) : (S_IFREG | 0444);
		snprintf(n.repo, sizeof(n.repo), "%s", name);
		if (parent == FS_ID_COMMITS) {
			/* interned by name: the watcher invalidates its listing
			 * when the repository gets a commit */
			uint64_t id;
			n.key = strdup(name);
			n.key_len = strlen(name);
			id = n.key ? fs_node_intern(fs, &n) : 0;
			if (!id)
				return -ENOMEM;
			n.id = id;
			e->ino = id;
			e->attr_timeout = e->entry_timeout = LIST_TIMEOUT;
			dynamic_attr(fs, &n, &e->attr);
			return 0;
		}
		rc = new_entry(fs, &n, LIST_TIMEOUT, e);
		if (parent == FS_ID_LOG)
			e->attr_timeout = 0;
		return rc;
	default:
		break;
	}
	if (fs_node_get(fs, parent, &p))
		return -ENOENT;
	if (fs_img_is_kind(p.kind))
		return fs_img_lookup(fs, t, parent, name, e);
	switch (p.kind) {
	case FS_K_COMMITS_REPO:
		snprintf(n.repo, sizeof(n.repo), "%s", p.repo);
		rc = resolve_commit(fs, t, p.repo, name, &n);
		return rc ? rc : new_entry(fs, &n, SNAPSHOT_TIMEOUT, e);
	case FS_K_TREE:
		return entry_from_tree(fs, t, &p, name, e);
	default:
		return -ENOTDIR;
	}
}

int fs_view_getattr(struct fs *fs, struct store_txn *t, fuse_ino_t id, struct stat *st,
		    double *timeout)
{
	struct fs_node n;

	*timeout = SNAPSHOT_TIMEOUT;
	if (fs_img_is_fixed(id))
		return fs_img_getattr(fs, t, id, st, timeout);
	for (size_t i = 0; i < sizeof(root_entries) / sizeof(root_entries[0]); i++) {
		if (root_entries[i].id == id) {
			fixed_attr(fs, id, root_entries[i].mode, st);
			if (id == FS_ID_EVENTS) {
				uint64_t size = 0;
				store_events_size(t, &size);
				st->st_size = (off_t)size;
				*timeout = 0;
			}
			return 0;
		}
	}
	if (id == FS_ID_ROOT) {
		fixed_attr(fs, id, S_IFDIR | 0755, st);
		return 0;
	}
	if (fs_node_get(fs, id, &n))
		return -ENOENT;
	if (fs_img_is_kind(n.kind))
		return fs_img_getattr(fs, t, id, st, timeout);
	dynamic_attr(fs, &n, st);
	if (n.kind == FS_K_LOG || n.kind == FS_K_COMMITS_REPO)
		*timeout = n.kind == FS_K_LOG ? 0 : LIST_TIMEOUT;
	if (n.kind == FS_K_LOG) {
		uint64_t len;
		int64_t changed;
		size_t none;
		int rc = fs_text(fs, id, 0, 0, NULL, &none, &len, &changed);
		if (rc)
			return rc;
		st->st_size = (off_t)len;
		st->st_blocks = (blkcnt_t)((len + 511) / 512);
		st->st_mtim.tv_sec = st->st_ctim.tv_sec = (time_t)(changed / 1000000000);
		st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = (long)(changed % 1000000000);
	}
	return 0;
}

static int add_repo(const char *name, void *arg)
{
	return fs_dirlist_add(arg, name);
}

static int add_commit(const git_oid *id, void *arg)
{
	char hex[STORE_OID_HEX + 1];

	return fs_dirlist_add(arg, store_oid_fmt(hex, id));
}

int fs_view_list(struct fs *fs, struct store_txn *t, fuse_ino_t id, struct fs_dirlist *out)
{
	struct store_tree_entry te;
	struct fs_node n;
	const void *body;
	size_t len, pos = 0;
	int rc;

	if (fs_img_is_fixed(id))
		return fs_img_list(fs, t, id, out);
	switch (id) {
	case FS_ID_ROOT:
		for (size_t i = 0; i < sizeof(root_entries) / sizeof(root_entries[0]); i++)
			if ((rc = fs_dirlist_add(out, root_entries[i].name)))
				return rc;
		return 0;
	case FS_ID_REPOS:
	case FS_ID_COMMITS:
	case FS_ID_LOG:
		return store_repo_foreach(t, add_repo, out);
	case FS_ID_EVENTS:
		return -ENOTDIR;
	default:
		break;
	}
	if (fs_node_get(fs, id, &n))
		return -ENOENT;
	if (fs_img_is_kind(n.kind))
		return fs_img_list(fs, t, id, out);
	if (n.kind == FS_K_COMMITS_REPO)
		return store_history_foreach(fs->store, t, n.repo, add_commit, out);
	if (n.kind != FS_K_TREE)
		return -ENOTDIR;
	rc = store_object_read(t, &n.oid, NULL, &body, &len);
	if (rc == -ENOENT && memcmp(&n.oid, &(git_oid){ 0 }, sizeof(n.oid)))
		return 0;	/* the empty tree need not be stored */
	if (rc)
		return rc;
	while ((rc = store_tree_next(body, len, &pos, &te)) == 1) {
		char name[STORE_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)te.namelen, te.name);
		if ((rc = fs_dirlist_add(out, name)))
			return rc;
	}
	return rc;
}

int fs_view_cacheable(struct fs *fs, fuse_ino_t id)
{
	struct fs_node n;

	if (id == FS_ID_IMAGES)
		return 1;
	if (id <= FS_ID_FIXED_MAX || fs_node_get(fs, id, &n))
		return 0;
	return n.kind == FS_K_TREE || (fs_img_is_kind(n.kind) && n.kind != FS_K_IMG_BLOB &&
				       n.kind != FS_K_IMG_LINK);
}

struct text {
	char *buf;
	size_t len, cap;
};

static int add_log_line(const char *line, void *arg)
{
	struct text *x = arg;
	size_t n = strlen(line);

	if (x->len + n + 2 > x->cap) {
		size_t cap = (x->len + n + 2) * 2;
		char *nb = realloc(x->buf, cap);
		if (!nb)
			return -ENOMEM;
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, line, n);
	x->len += n;
	x->buf[x->len++] = '\n';
	return 0;
}

int fs_view_open(struct fs *fs, fuse_ino_t id, char **content, size_t *len, int *direct_io)
{
	struct fs_node n;
	struct text x = { 0 };
	int rc;

	*content = NULL;
	*len = 0;
	*direct_io = 0;
	if (id == FS_ID_EVENTS) {
		*direct_io = 1;
		return 0;
	}
	if (fs_img_is_fixed(id))
		return fs_img_open(fs, id, content, len, direct_io);
	if (id <= FS_ID_FIXED_MAX || fs_node_get(fs, id, &n))
		return id <= FS_ID_FIXED_MAX ? -EISDIR : -ENOENT;
	if (fs_img_is_kind(n.kind))
		return fs_img_open(fs, id, content, len, direct_io);
	if (n.kind == FS_K_TREE || n.kind == FS_K_COMMITS_REPO)
		return -EISDIR;
	if (n.kind != FS_K_LOG)
		return 0;
	rc = store_log(fs->store, n.repo, "HEAD", add_log_line, &x);
	if (rc) {
		free(x.buf);
		return rc;
	}
	*content = x.buf ? x.buf : strdup("");
	*len = x.len;
	*direct_io = 1;
	return *content ? 0 : -ENOMEM;
}

/*
 * Generated files read without OPEN (fs->no_open): the text of log/<repo>,
 * oci/index.json and oci/oci-layout is made when first asked for and kept,
 * for the FS_TEXTS nodes asked for last, until the store's generation
 * moves.  GETATTR gives its length and the time it last changed, so the
 * kernel's cached pages follow it: a changed size or mtime drops them.
 */
static struct fs_text *text_find(struct fs *fs, fuse_ino_t id)
{
	for (size_t i = 0; i < FS_TEXTS; i++)
		if (fs->texts[i].id == id)
			return &fs->texts[i];
	return NULL;
}

static struct fs_text *text_slot(struct fs *fs, fuse_ino_t id)
{
	struct fs_text *e = &fs->texts[0];

	for (size_t i = 1; i < FS_TEXTS; i++)
		if (fs->texts[i].used < e->used)
			e = &fs->texts[i];
	free(e->buf);
	memset(e, 0, sizeof(*e));
	e->id = id;
	return e;
}

int fs_text(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size, char **out, size_t *n,
	    uint64_t *total, int64_t *changed_ns)
{
	uint64_t gen = store_generation(fs->store);
	struct fs_text *e;
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	if (out)
		*out = NULL;
	*n = 0;
	pthread_mutex_lock(&fs->lock);
	e = text_find(fs, id);
	if (!e || e->gen != gen) {
		int direct;
		pthread_mutex_unlock(&fs->lock);
		rc = fs_view_open(fs, id, &buf, &len, &direct);
		if (rc == 0 && !buf)
			rc = -EINVAL;	/* not a generated file */
		if (rc)
			return rc;
		pthread_mutex_lock(&fs->lock);
		e = text_find(fs, id);
		if (!e)
			e = text_slot(fs, id);
		if (!e->buf || e->len != len || memcmp(e->buf, buf, len) != 0) {
			free(e->buf);
			e->buf = buf;
			e->len = len;
			e->changed_ns = store_now_ns();
		} else {
			free(buf);
		}
		e->gen = gen;
	}
	e->used = ++fs->text_clock;
	*total = e->len;
	*changed_ns = e->changed_ns;
	if (out && off < e->len) {
		*n = size < e->len - off ? size : (size_t)(e->len - off);
		*out = malloc(*n ? *n : 1);
		if (*out)
			memcpy(*out, e->buf + off, *n);
		else
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void fs_texts_free(struct fs *fs)
{
	for (size_t i = 0; i < FS_TEXTS; i++) {
		free(fs->texts[i].buf);
		memset(&fs->texts[i], 0, sizeof(fs->texts[i]));
	}
}

/* reply_text - a read of generated file ID, from its text (fs_text) */
static int reply_text(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size, fuse_req_t req)
{
	char *copy;
	size_t n;
	uint64_t total;
	int64_t changed;
	int rc = fs_text(fs, id, off, size, &copy, &n, &total, &changed);

	if (rc == 0)
		fuse_reply_buf(req, copy, n);
	free(copy);
	return rc;
}

int fs_view_read(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size, fuse_req_t req)
{
	struct store_txn *t;
	struct fs_node n;
	int have = id != FS_ID_EVENTS && fs_node_get(fs, id, &n) == 0;
	int rc;

	if (have && fs_img_is_kind(n.kind))
		return fs_img_read(fs, id, off, size, req);
	if (id == FS_ID_OCI_LAYOUT || id == FS_ID_OCI_INDEX || (have && n.kind == FS_K_LOG))
		return reply_text(fs, id, off, size, req);
	rc = store_txn_begin(&t, fs->store, 0);
	if (rc)
		return rc;
	if (id == FS_ID_EVENTS) {
		char *buf = malloc(size ? size : 1);
		long got = buf ? store_events_read(t, off, buf, size) : -ENOMEM;
		store_txn_abort(t);
		if (got >= 0)
			fuse_reply_buf(req, buf, (size_t)got);
		free(buf);
		return got < 0 ? (int)got : 0;
	}
	rc = !have ? -ENOENT : n.kind != FS_K_BLOB ? -EINVAL : 0;
	if (rc == 0)
		rc = fs_reply_blob(req, t, &n.oid, off, size);
	store_txn_abort(t);
	return rc;
}

int fs_view_readlink(struct fs *fs, fuse_ino_t id, fuse_req_t req)
{
	char target[STORE_SYMLINK_MAX + 1];
	struct store_txn *t;
	struct fs_node n;
	const void *body;
	size_t len;
	int rc = fs_node_get(fs, id, &n);

	if (rc)
		return rc;
	if (fs_img_is_kind(n.kind))
		return fs_img_readlink(fs, id, req);
	if (n.kind != FS_K_LINK)
		return -EINVAL;
	rc = store_txn_begin(&t, fs->store, 0);
	if (rc)
		return rc;
	rc = store_object_read(t, &n.oid, NULL, &body, &len);
	if (rc == 0)
		snprintf(target, sizeof(target), "%.*s", (int)len, (const char *)body);
	store_txn_abort(t);
	if (rc == 0)
		fuse_reply_readlink(req, target);
	return rc;
}

long fs_view_xattr(struct fs *fs, fuse_ino_t id, const char *name, char *buf, size_t size)
{
	struct fs_node n;

	/* only the trees of images carry extended attributes */
	if (id > FS_ID_FIXED_MAX && fs_node_get(fs, id, &n) == 0 && fs_img_is_kind(n.kind))
		return fs_img_xattr(fs, id, name, buf, size);
	return name ? fs_xattr_absent(fs, name, -ENODATA) : 0;
}
