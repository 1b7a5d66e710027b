/*
 * view_images.c - the image views of the tree (docs/tree.md):
 *
 *   images/<name>/            manifest.json, config.json, layers/, rootfs/,
 *                             tags/ of the default tag ("latest", else the
 *                             tag set last); a name's '/'-separated
 *                             components are nested directories
 *   images/<name>/tags/<t>/   manifest.json, config.json, layers/, rootfs/
 *   .../layers/<digest>       symlinks to layers/<digest>, bottom first in
 *                             manifest.json
 *   layers/<digest>/          one layer's own tree (overlayfs conventions)
 *   oci/                      the store as an OCI image layout
 *
 * Everything bound to a digest (blobs, rootfs and layer trees) is immutable,
 * so the kernel caches it for long: entries, attributes, listings, pages and
 * negative lookups.  What names and tags point at changes with imports and
 * rmi; each raises an event, and the watcher (watch.c) invalidates what the
 * kernel cached of images/ when it sees one, so those are cached for long
 * too.  A retagged image shows a new rootfs, with new inode numbers.
 * layers/ and oci/blobs/sha256/ follow imports and gc the same way.
 *
 * What a name in these directories is, and what they list, the store
 * answers in one call (store/image_path.h); a node keeps the place it
 * stands for, and is interned by it.
 *
 * Threads: handlers run on any thread.  The node tables are under
 * fs->lock; the opened images (fs->images) are the store's, under its own
 * lock, immutable and shared.  Each handler reads the store in its own
 * read transaction.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs_int.h"
#include "store/image_path.h"
#include "store/object.h"
#include "store/oci.h"



void fs_images_free(struct fs *fs)
{
	store_images_free(fs->images);
	fs->images = NULL;
}

/* ---- attributes ---------------------------------------------------------- */

static void plain_attr(struct fs *fs, uint64_t id, mode_t mode, uint64_t size, struct stat *st)
{
	fs_fixed_attr(fs, id, mode, st);
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_blksize = 4096;
}

static void node_attr(uint64_t id, const struct oci_node *on, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = id;
	st->st_mode = on->mode;
	st->st_nlink = on->nlink ? on->nlink : 1;
	st->st_uid = on->uid;
	st->st_gid = on->gid;
	st->st_size = (off_t)on->size;
	st->st_rdev = (dev_t)on->rdev;
	st->st_blocks = (blkcnt_t)((on->size + 511) / 512);
	st->st_blksize = 4096;
	st->st_mtim.tv_sec = on->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = on->mtime_ns % 1000000000;
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	st->st_atim = st->st_ctim = st->st_mtim;
}

static void view_attr(struct fs *fs, const struct fs_node *n, struct stat *st, double *timeout)
{
	*timeout = FS_FOREVER;
	switch (n->kind) {
	case FS_K_IMG_NODE:
		node_attr(n->id, &n->on, st);
		return;
	case FS_K_IMG_BLOB:
		plain_attr(fs, n->id, S_IFREG | 0444, n->size, st);
		return;
	case FS_K_IMG_LINK:
		plain_attr(fs, n->id, S_IFLNK | 0777, n->key_len, st);
		return;
	case FS_K_IMG_LAYERS:
		plain_attr(fs, n->id, S_IFDIR | 0555, 0, st);
		return;
	default:		/* names and tags: the watcher invalidates them */
		plain_attr(fs, n->id, S_IFDIR | 0555, 0, st);
		return;
	}
}

/* intern - the entry for TMPL (which gives up its key and target). */
static int intern(struct fs *fs, struct fs_node *tmpl, struct fuse_entry_param *e)
{
	double timeout;
	int rc = fs_intern_entry(fs, tmpl, 0, e);

	if (rc)
		return rc;
	view_attr(fs, tmpl, &e->attr, &timeout);
	e->attr_timeout = e->entry_timeout = timeout;
	return 0;
}

static int set_key(struct fs_node *n, const char *key, size_t len)
{
	n->key = malloc(len + 1);
	if (!n->key)
		return -ENOMEM;
	memcpy(n->key, key, len);
	n->key[len] = '\0';
	n->key_len = len;
	return 0;
}

/*
 * Places of the image views (store/image_path.h) and the nodes that keep
 * them: a node holds what the store needs to go on from it, and is
 * interned by it, so that a path keeps its inode number while the kernel
 * holds it and the hard links of a layer share one.
 */

/* place_of - the place node N stands for */
static int place_of(const struct fs_node *n, struct store_image_path *p)
{
	p->name[0] = p->tag[0] = p->target[0] = '\0';
	p->image = NULL;
	switch (n->kind == FS_K_FIXED ? n->id : 0) {
	case FS_ID_IMAGES:
		p->kind = STORE_IMG_NAMES;
		return 0;
	case FS_ID_LAYERS:
		p->kind = STORE_IMG_LAYER_ROOT;
		return 0;
	case FS_ID_OCI_SHA256:
		p->kind = STORE_IMG_BLOB_ROOT;
		return 0;
	default:
		break;
	}
	switch (n->kind) {
	case FS_K_IMG_DIR:
		p->kind = STORE_IMG_NAMES;
		snprintf(p->name, sizeof(p->name), "%s", n->key);
		return 0;
	case FS_K_IMG_TAGS:
		p->kind = STORE_IMG_TAGS;
		snprintf(p->name, sizeof(p->name), "%s", n->key);
		return 0;
	case FS_K_IMG_TAG:
		p->kind = STORE_IMG_TAG;
		snprintf(p->name, sizeof(p->name), "%s", n->key);
		snprintf(p->tag, sizeof(p->tag), "%s", n->key + strlen(n->key) + 1);
		return 0;
	case FS_K_IMG_LAYERS:
		p->kind = STORE_IMG_LAYERS;
		p->digest = n->digest;
		p->depth = n->depth;
		return 0;
	case FS_K_IMG_NODE:
		p->kind = STORE_IMG_NODE;
		p->image = n->image;
		p->node = n->on;
		return 0;
	default:
		return -ENOTDIR;
	}
}

/* node_entry - the entry of node ON of opened image IM. */
static int node_entry(struct fs *fs, struct store_image *im, const struct oci_node *on,
		      const char *target, struct fuse_entry_param *e)
{
	struct fs_node n = { .kind = FS_K_IMG_NODE, .image = im, .on = *on };

	n.on.target = NULL;
	n.key_a = im->slot;
	n.key_b = on->id;
	if (S_ISLNK(on->mode) && target && !(n.target = strdup(target)))
		return -ENOMEM;
	return intern(fs, &n, e);
}

/* place_entry - the entry of place P, interned by what it stands for */
static int place_entry(struct fs *fs, const struct store_image_path *p,
		       struct fuse_entry_param *e)
{
	struct fs_node n = { 0 };
	int rc = 0;

	switch (p->kind) {
	case STORE_IMG_NAMES:
		n.kind = FS_K_IMG_DIR;
		rc = set_key(&n, p->name, strlen(p->name));
		break;
	case STORE_IMG_TAGS:
		n.kind = FS_K_IMG_TAGS;
		rc = set_key(&n, p->name, strlen(p->name));
		break;
	case STORE_IMG_TAG: {
		size_t nl = strlen(p->name), tl = strlen(p->tag);
		char key[sizeof(p->name) + sizeof(p->tag)];
		memcpy(key, p->name, nl + 1);
		memcpy(key + nl + 1, p->tag, tl + 1);
		n.kind = FS_K_IMG_TAG;
		rc = set_key(&n, key, nl + 1 + tl);
		break;
	}
	case STORE_IMG_BLOB:
		n.kind = FS_K_IMG_BLOB;
		n.digest = p->digest;
		n.size = p->size;
		n.key_a = 1;	/* a blob */
		rc = set_key(&n, (const char *)n.digest.sha256, sizeof(n.digest.sha256));
		break;
	case STORE_IMG_LAYERS:
		n.kind = FS_K_IMG_LAYERS;
		n.digest = p->digest;
		n.depth = p->depth;
		n.key_b = n.depth;
		rc = set_key(&n, (const char *)n.digest.sha256, sizeof(n.digest.sha256));
		break;
	case STORE_IMG_LINK:
		n.kind = FS_K_IMG_LINK;
		rc = set_key(&n, p->target, strlen(p->target));
		break;
	case STORE_IMG_NODE:
		return node_entry(fs, p->image, &p->node, p->target, e);
	default:
		return -EIO;
	}
	return rc ? rc : intern(fs, &n, e);
}

/* ---- the operations: images/, layers/ and oci/ share them ---------------- */

static mode_t fixed_mode(fuse_ino_t id)
{
	return id == FS_ID_OCI_LAYOUT || id == FS_ID_OCI_INDEX ? S_IFREG | 0444 : S_IFDIR | 0555;
}

static int img_getattr(struct fs *fs, struct store_txn *t, const struct fs_node *n,
		       struct stat *st, double *timeout)
{
	uint64_t size = 0;

	(void)t;
	if (n->kind != FS_K_FIXED) {
		view_attr(fs, n, st, timeout);
		return 0;
	}
	*timeout = FS_FOREVER;
	if (n->id == FS_ID_OCI_LAYOUT) {
		size = strlen(OCI_LAYOUT_FILE);
	} else if (n->id == FS_ID_OCI_INDEX) {
		/* the text reads are served from (fs_text) */
		int64_t changed;
		size_t none;
		if (fs_text(fs, n->id, 0, 0, NULL, &none, &size, &changed) != 0)
			size = 0;
		*timeout = FS_LIST_TIMEOUT;
	}
	plain_attr(fs, n->id, fixed_mode(n->id), size, st);
	return 0;
}

/* fixed_entry - the entry of fixed node ID of oci/ */
static int fixed_entry(struct fs *fs, struct store_txn *t, fuse_ino_t id,
		       struct fuse_entry_param *e)
{
	struct fs_node n = { .id = id, .kind = FS_K_FIXED };
	double timeout;

	memset(e, 0, sizeof(*e));
	e->ino = id;
	img_getattr(fs, t, &n, &e->attr, &timeout);
	e->entry_timeout = FS_FOREVER;
	e->attr_timeout = timeout;
	return 0;
}

static int img_lookup(struct fs *fs, struct store_txn *t, const struct fs_node *parent,
		      const char *name, struct fuse_entry_param *e)
{
	struct store_image_path dir, child;
	int rc;

	memset(e, 0, sizeof(e[0]));
	switch (parent->kind == FS_K_FIXED ? parent->id : 0) {
	case FS_ID_OCI:
		if (!strcmp(name, "oci-layout"))
			return fixed_entry(fs, t, FS_ID_OCI_LAYOUT, e);
		if (!strcmp(name, "index.json"))
			return fixed_entry(fs, t, FS_ID_OCI_INDEX, e);
		if (!strcmp(name, "blobs"))
			return fixed_entry(fs, t, FS_ID_OCI_BLOBS, e);
		return -ENOENT;
	case FS_ID_OCI_BLOBS:
		return strcmp(name, "sha256") ? -ENOENT : fixed_entry(fs, t, FS_ID_OCI_SHA256, e);
	default:
		break;
	}
	rc = place_of(parent, &dir);
	if (rc == 0)
		rc = store_image_lookup(fs->images, t, &dir, name, &child);
	if (rc == -ENOENT && dir.kind == STORE_IMG_NODE) {
		/* immutable: cache the miss */
		e->ino = 0;
		e->entry_timeout = FS_FOREVER;
		return 0;
	}
	return rc ? rc : place_entry(fs, &child, e);
}

/* add_listed - NAME, with its image node for readdirplus (ON not NULL) */
static int add_listed(const char *name, const struct oci_node *on, void *arg)
{
	struct fs_dirlist *l = arg;
	size_t cap = l->cap;
	int rc = fs_dirlist_add(l, name);

	if (rc || !on)
		return rc;
	if (l->cap != cap || !l->nodes) {
		struct fs_dirnode *nn = realloc(l->nodes, l->cap * sizeof(*nn));
		if (!nn) {
			free(l->names[--l->n]);	/* no node for it: drop the name */
			return -ENOMEM;
		}
		l->nodes = nn;
	}
	l->nodes[l->n - 1].on = *on;
	l->nodes[l->n - 1].on.target = NULL;
	l->nodes[l->n - 1].target = NULL;
	if (S_ISLNK(on->mode) && on->target &&
	    !(l->nodes[l->n - 1].target = strdup(on->target)))
		return -ENOMEM;
	return 0;
}

static int img_list(struct fs *fs, struct store_txn *t, const struct fs_node *dir_node,
		    struct fs_dirlist *out)
{
	struct store_image_path dir;
	int rc;

	switch (dir_node->kind == FS_K_FIXED ? dir_node->id : 0) {
	case FS_ID_OCI:
		rc = fs_dirlist_add(out, "oci-layout");
		if (rc == 0)
			rc = fs_dirlist_add(out, "index.json");
		return rc ? rc : fs_dirlist_add(out, "blobs");
	case FS_ID_OCI_BLOBS:
		return fs_dirlist_add(out, "sha256");
	default:
		break;
	}
	rc = place_of(dir_node, &dir);
	if (rc)
		return rc;
	out->image = dir.image;
	return store_image_list(fs->images, t, &dir, add_listed, out);
}

static int img_dirent(struct fs *fs, const struct fs_dirlist *l, size_t i,
		      struct fuse_entry_param *e)
{
	return node_entry(fs, l->image, &l->nodes[i].on, l->nodes[i].target, e);
}

static int img_cacheable(struct fs *fs, const struct fs_node *dir)
{
	(void)fs;
	/* what a digest names never changes; images/ and its names and tags
	 * the watcher invalidates */
	if (dir->kind == FS_K_FIXED)
		return dir->id == FS_ID_IMAGES;
	return dir->kind != FS_K_IMG_BLOB && dir->kind != FS_K_IMG_LINK;
}

static int img_open(struct fs *fs, const struct fs_node *n, char **content, size_t *len,
		    int *direct_io)
{
	struct store_txn *t;
	int rc;

	*content = NULL;
	*len = 0;
	*direct_io = 0;
	if (n->id == FS_ID_OCI_LAYOUT) {
		*content = strdup(OCI_LAYOUT_FILE);
		*len = strlen(OCI_LAYOUT_FILE);
		return *content ? 0 : -ENOMEM;
	}
	if (n->id == FS_ID_OCI_INDEX) {
		rc = store_txn_begin(&t, fs->store, 0);
		if (rc)
			return rc;
		rc = oci_layout_index_json(t, content, len);
		store_txn_abort(t);
		*direct_io = 1;
		return rc;
	}
	switch (n->kind) {
	case FS_K_IMG_BLOB:
		return 0;
	case FS_K_IMG_NODE:
		if (S_ISDIR(n->on.mode))
			return -EISDIR;
		return S_ISREG(n->on.mode) ? 0 : -EINVAL;
	case FS_K_IMG_LINK:
		return -ELOOP;
	default:
		return -EISDIR;
	}
}

static int img_read(struct fs *fs, const struct fs_node *np, uint64_t off, size_t size,
		    fuse_req_t req)
{
	const struct fs_node n = *np;
	struct store_txn *t;
	int rc;

	if (n.id == FS_ID_OCI_LAYOUT || n.id == FS_ID_OCI_INDEX)
		return fs_reply_text(fs, &n, off, size, req);
	if (n.kind == FS_K_FIXED)
		return -ENOENT;
	rc = store_txn_begin(&t, fs->store, 0);
	if (rc)
		return rc;
	if (n.kind == FS_K_IMG_NODE) {
		size_t max = STORE_BLOB_PIECES(size), count;
		struct store_piece *p = malloc(max * sizeof(*p));
		long got = p ? store_image_pieces(t, &n.on, off, size, p, max, &count) : -ENOMEM;
		if (got >= 0)
			fs_reply_pieces(req, t, p, count);
		rc = got < 0 ? (int)got : 0;
		free(p);
	} else if (n.kind == FS_K_IMG_BLOB) {
		char *buf = malloc(size ? size : 1);
		long got = buf ? oci_blob_read(t, &n.digest, off, buf, size) : -ENOMEM;
		if (got >= 0)
			fuse_reply_buf(req, buf, (size_t)got);
		rc = got < 0 ? (int)got : 0;
		free(buf);
	} else {
		rc = -EINVAL;
	}
	store_txn_abort(t);
	return rc;
}

static int img_readlink(struct fs *fs, const struct fs_node *n, fuse_req_t req)
{
	(void)fs;
	if (n->kind == FS_K_FIXED)
		return -ENOENT;
	if (n->kind == FS_K_IMG_LINK) {
		fuse_reply_readlink(req, n->key);
		return 0;
	}
	if (n->kind == FS_K_IMG_NODE && S_ISLNK(n->on.mode) && n->target) {
		fuse_reply_readlink(req, n->target);
		return 0;
	}
	return -EINVAL;
}

/* img_xattr - getxattr (NAME) or listxattr (NAME NULL) of node N */
static long img_xattr(struct fs *fs, const struct fs_node *n, const char *name, char *buf,
		      size_t size)
{
	struct store_txn *t;
	long got;

	if (n->kind != FS_K_IMG_NODE || !(n->on.flags & (OCI_NODE_XATTRS | OCI_NODE_OPAQUE)))
		return name ? fs_xattr_absent(fs, name, -ENODATA) : 0;
	got = store_txn_begin(&t, fs->store, 0);
	if (got)
		return got;
	got = name ? fs_xattr_absent(fs, name,
				     oci_xattr_get(t, n->image->img, &n->on, name, buf, size))
		   : oci_xattr_list(t, n->image->img, &n->on, buf, size);
	store_txn_abort(t);
	return got;
}

static long img_getxattr(struct fs *fs, const struct fs_node *n, const char *name, char *buf,
			 size_t size)
{
	return img_xattr(fs, n, name, buf, size);
}

static long img_listxattr(struct fs *fs, const struct fs_node *n, char *buf, size_t size)
{
	return img_xattr(fs, n, NULL, buf, size);
}

/* images/ and the nodes of every image tree and blob, wherever found */
const struct fs_view_ops fs_view_images = {
	.name = "images",
	.lookup = img_lookup,
	.getattr = img_getattr,
	.list = img_list,
	.dirent = img_dirent,
	.cacheable = img_cacheable,
	.open = img_open,
	.read = img_read,
	.readlink = img_readlink,
	.getxattr = img_getxattr,
	.listxattr = img_listxattr,
	.change_errno = EROFS,
};

/* layers/: its entries are roots of layer trees, nodes of images/ */
const struct fs_view_ops fs_view_layers = {
	.name = "layers",
	.lookup = img_lookup,
	.getattr = img_getattr,
	.list = img_list,
	.change_errno = EROFS,
};

/* oci/: its fixed entries; the blobs in blobs/sha256/ are nodes of images/ */
const struct fs_view_ops fs_view_oci = {
	.name = "oci",
	.lookup = img_lookup,
	.getattr = img_getattr,
	.list = img_list,
	.open = img_open,
	.read = img_read,
	.change_errno = EROFS,
};
