/*
 * images.c - the image views of the tree (docs/tree.md):
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
 * Threads: handlers run on any thread.  fs->images (the opened images) and
 * the node tables are under fs->lock; an opened image is immutable and
 * shared.  Each handler reads the store in its own read transaction.
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
#include "store/oci.h"

#define LIST_TIMEOUT 1.0
#define IMMUTABLE_TIMEOUT 86400.0
#define DIGEST_NAME_MAX OCI_DIGEST_STRLEN

static const char *const image_files[] = { "manifest.json", "config.json", "layers", "rootfs",
					    "tags" };

/* ---- opened images ------------------------------------------------------ */

static struct fs_image *image_find(struct fs *fs, const struct oci_digest *d, int layer)
{
	struct fs_image *im;

	for (im = fs->images; im; im = im->next)
		if (im->layer == layer && !memcmp(&im->digest, d, sizeof(*d)))
			break;
	return im;
}

/* image_get - the opened image (or layer, LAYER 1) with digest D. */
static int image_get(struct fs *fs, struct store_txn *t, const struct oci_digest *d, int layer,
		     struct fs_image **out)
{
	struct fs_image *im, *dup;
	struct oci_image *img;
	int rc;

	pthread_mutex_lock(&fs->lock);
	im = image_find(fs, d, layer);
	pthread_mutex_unlock(&fs->lock);
	if (im) {
		*out = im;
		return 0;
	}
	rc = layer ? oci_layer_open(&img, t, d) : oci_image_open(&img, t, d);
	if (rc)
		return rc;
	im = calloc(1, sizeof(*im));
	if (!im) {
		oci_image_free(img);
		return -ENOMEM;
	}
	im->digest = *d;
	im->layer = layer;
	im->img = img;
	pthread_mutex_lock(&fs->lock);
	dup = image_find(fs, d, layer);	/* another thread was quicker */
	if (!dup) {
		im->slot = ++fs->image_slots;
		im->next = fs->images;
		fs->images = im;
	}
	pthread_mutex_unlock(&fs->lock);
	if (dup) {
		oci_image_free(img);
		free(im);
		im = dup;
	}
	*out = im;
	return 0;
}

void fs_images_free(struct fs *fs)
{
	struct fs_image *im, *next;

	for (im = fs->images; im; im = next) {
		next = im->next;
		oci_image_free(im->img);
		free(im);
	}
	fs->images = NULL;
}

/* ---- attributes ---------------------------------------------------------- */

static void plain_attr(struct fs *fs, uint64_t id, mode_t mode, uint64_t size, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = id;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_blksize = 4096;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs->started;
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
	*timeout = IMMUTABLE_TIMEOUT;
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
	uint64_t id = fs_node_intern(fs, tmpl);

	if (!id)
		return -ENOMEM;
	tmpl->id = id;
	memset(e, 0, sizeof(*e));
	e->ino = id;
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

/* node_entry - the entry of node ON of opened image IM. */
static int node_entry(struct fs *fs, struct fs_image *im, const struct oci_node *on,
		      struct fuse_entry_param *e)
{
	struct fs_node n = { .kind = FS_K_IMG_NODE, .image = im, .on = *on };

	n.on.target = NULL;
	n.key_a = im->slot;
	n.key_b = on->id;
	if (S_ISLNK(on->mode) && on->target && !(n.target = strdup(on->target)))
		return -ENOMEM;
	return intern(fs, &n, e);
}

/* ---- names and tags ------------------------------------------------------ */

/* What an image name scan looks for: the names below PREFIX. */
struct name_scan {
	const char *prefix;	/* "" for images/ itself */
	size_t plen;
	const char *child;	/* lookup: this next component; NULL: list */
	int exact;		/* PREFIX itself is an image name */
	int found;		/* lookup: CHILD leads to some name */
	struct fs_dirlist *out;	/* list: the distinct next components */
};

/* next_component - the component of NAME after the scan's prefix, or NULL */
static const char *next_component(const struct name_scan *s, const char *name, size_t *len)
{
	const char *rest, *slash;

	if (s->plen) {
		if (strncmp(name, s->prefix, s->plen) || name[s->plen] != '/')
			return NULL;
		rest = name + s->plen + 1;
	} else {
		rest = name;
	}
	slash = strchr(rest, '/');
	*len = slash ? (size_t)(slash - rest) : strlen(rest);
	return rest;
}

static int scan_tag(const struct oci_tag *tag, void *arg)
{
	struct name_scan *s = arg;
	const char *c;
	size_t len;

	if (s->plen && !strcmp(tag->name, s->prefix))
		s->exact = 1;
	c = next_component(s, tag->name, &len);
	if (!c)
		return 0;
	if (s->child) {
		if (strlen(s->child) == len && !strncmp(c, s->child, len))
			s->found = 1;
		return 0;
	}
	if (s->out->n && strlen(s->out->names[s->out->n - 1]) == len &&
	    !strncmp(s->out->names[s->out->n - 1], c, len))
		return 0;	/* tags come in name order: duplicates are adjacent */
	for (size_t i = 0; i < s->out->n; i++)	/* "a/b" sorts after "a-c" */
		if (strlen(s->out->names[i]) == len && !strncmp(s->out->names[i], c, len))
			return 0;
	{
		char comp[OCI_NAME_MAX + 1];
		snprintf(comp, sizeof(comp), "%.*s", (int)len, c);
		return fs_dirlist_add(s->out, comp);
	}
}

/* The default tag of an image: "latest", else the one set last. */
struct pick {
	char tag[OCI_TAG_MAX + 1];
	int64_t time_ns;
	int latest;
};

static int pick_tag(const struct oci_tag *tag, void *arg)
{
	struct pick *p = arg;

	if (p->latest)
		return 0;
	if (!strcmp(tag->tag, "latest") || !p->tag[0] || tag->time_ns > p->time_ns) {
		snprintf(p->tag, sizeof(p->tag), "%s", tag->tag);
		p->time_ns = tag->time_ns;
		p->latest = !strcmp(tag->tag, "latest");
	}
	return 0;
}

/* resolve_tag - the manifest NAME:TAG (TAG NULL: the default tag) shows */
static int resolve_tag(struct store_txn *t, const char *name, const char *tag,
		       struct oci_digest *m)
{
	struct pick p = { .tag = "" };
	int rc;

	if (!tag) {
		rc = oci_tag_foreach(t, name, pick_tag, &p);
		if (rc)
			return rc;
		if (!p.tag[0])
			return -ENOENT;
		tag = p.tag;
	}
	rc = oci_tag_get(t, name, tag, m, NULL);
	return rc == -ENOENT || rc == -EINVAL ? -ENOENT : rc;
}

/* name_depth - the number of components of image name NAME */
static unsigned name_depth(const char *name)
{
	unsigned n = 1;

	for (; *name; name++)
		n += *name == '/';
	return n;
}

/*
 * image_child - CHILD (one of image_files) of the image directory of
 * NAME:TAG (TAG NULL: images/<name>/ itself, showing the default tag).
 */
static int image_child(struct fs *fs, struct store_txn *t, const char *name, const char *tag,
		       const char *child, struct fuse_entry_param *e)
{
	struct fs_node n = { 0 };
	struct oci_image_info info;
	struct oci_digest m;
	int rc;

	if (!strcmp(child, "tags")) {
		if (tag)
			return -ENOENT;
		n.kind = FS_K_IMG_TAGS;
		if (set_key(&n, name, strlen(name)))
			return -ENOMEM;
		return intern(fs, &n, e);
	}
	rc = resolve_tag(t, name, tag, &m);
	if (rc == 0)
		rc = oci_image_info(t, &m, &info);
	if (rc)
		return rc;
	if (!strcmp(child, "manifest.json") || !strcmp(child, "config.json")) {
		int config = child[0] == 'c';
		n.kind = FS_K_IMG_BLOB;
		n.digest = config ? info.config : m;
		n.size = config ? info.config_size : info.manifest_size;
		n.key_a = 1;	/* a blob */
		if (set_key(&n, (const char *)n.digest.sha256, sizeof(n.digest.sha256)))
			return -ENOMEM;
		return intern(fs, &n, e);
	}
	if (!strcmp(child, "layers")) {
		n.kind = FS_K_IMG_LAYERS;
		n.digest = m;
		/* from <dir>/layers up to the mount's root */
		n.depth = name_depth(name) + 2 + (tag ? 2 : 0);
		n.key_b = n.depth;
		if (set_key(&n, (const char *)m.sha256, sizeof(m.sha256)))
			return -ENOMEM;
		return intern(fs, &n, e);
	}
	if (!strcmp(child, "rootfs")) {
		struct fs_image *im;
		struct oci_node root;
		rc = image_get(fs, t, &m, 0, &im);
		if (rc == 0)
			rc = oci_root(t, im->img, &root);
		if (rc)
			return rc;
		return node_entry(fs, im, &root, e);
	}
	return -ENOENT;
}

static int is_image_file(const char *name)
{
	for (size_t i = 0; i < sizeof(image_files) / sizeof(image_files[0]); i++)
		if (!strcmp(name, image_files[i]))
			return 1;
	return 0;
}

/* lookup_name - NAME in images/ (PREFIX "") or in images/<PREFIX>/ */
static int lookup_name(struct fs *fs, struct store_txn *t, const char *prefix, const char *name,
		       struct fuse_entry_param *e)
{
	struct name_scan s = { .prefix = prefix, .plen = strlen(prefix), .child = name };
	char path[OCI_NAME_MAX + 2];
	struct fs_node n = { .kind = FS_K_IMG_DIR };
	int rc, len;

	rc = oci_tag_foreach(t, NULL, scan_tag, &s);
	if (rc)
		return rc;
	if (s.exact && is_image_file(name))
		return image_child(fs, t, prefix, NULL, name, e);
	if (!s.found)
		return -ENOENT;
	len = snprintf(path, sizeof(path), "%s%s%s", prefix, s.plen ? "/" : "", name);
	if (len >= (int)sizeof(path))
		return -ENOENT;
	if (set_key(&n, path, (size_t)len))
		return -ENOMEM;
	return intern(fs, &n, e);
}

static int list_name(struct store_txn *t, const char *prefix, struct fs_dirlist *out)
{
	struct name_scan s = { .prefix = prefix, .plen = strlen(prefix), .out = out };
	size_t first = out->n;
	int rc = oci_tag_foreach(t, NULL, scan_tag, &s);

	if (rc || !s.exact)
		return rc;
	/* an image directory: its own entries first, then longer names */
	for (size_t i = 0; i < sizeof(image_files) / sizeof(image_files[0]); i++)
		if ((rc = fs_dirlist_add(out, image_files[i])))
			return rc;
	/* a longer name whose next component is also an image file is hidden */
	for (size_t i = first; i < out->n - 5; i++) {
		if (is_image_file(out->names[i])) {
			free(out->names[i]);
			memmove(out->names + i, out->names + i + 1, (out->n - i - 1) * sizeof(char *));
			out->n--;
			i--;
		}
	}
	return 0;
}

static int add_tag_name(const struct oci_tag *tag, void *arg)
{
	return fs_dirlist_add(arg, tag->tag);
}

/* ---- layers -------------------------------------------------------------- */

static int layer_of_image(struct store_txn *t, const struct oci_digest *m, const char *name,
			  struct oci_digest *layer)
{
	struct oci_image_info info;
	int rc;

	if (oci_digest_parse(layer, name))
		return -ENOENT;
	rc = oci_image_info(t, m, &info);
	for (unsigned i = 0; rc == 0 && i < info.nlayers; i++) {
		struct oci_digest d;
		uint64_t size;
		rc = oci_image_layer(t, m, i, &d, &size);
		if (rc == 0 && !memcmp(&d, layer, sizeof(d)))
			return 0;
	}
	return rc ? rc : -ENOENT;
}

static int layer_link(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		      const char *name, struct fuse_entry_param *e)
{
	char target[3 * (OCI_NAME_MAX + 8) + DIGEST_NAME_MAX + 16];
	struct fs_node n = { .kind = FS_K_IMG_LINK };
	struct oci_digest layer;
	size_t len = 0;
	int rc = layer_of_image(t, &dir->digest, name, &layer);

	if (rc)
		return rc;
	for (uint32_t i = 0; i < dir->depth && len + 3 < sizeof(target); i++) {
		memcpy(target + len, "../", 3);
		len += 3;
	}
	len += (size_t)snprintf(target + len, sizeof(target) - len, "layers/");
	oci_digest_fmt(target + len, &layer);
	len += OCI_DIGEST_STRLEN;
	if (set_key(&n, target, len))
		return -ENOMEM;
	return intern(fs, &n, e);
}

static int list_layers(struct store_txn *t, const struct oci_digest *m, struct fs_dirlist *out)
{
	struct oci_image_info info;
	int rc = oci_image_info(t, m, &info);

	for (unsigned i = 0; rc == 0 && i < info.nlayers; i++) {
		char name[DIGEST_NAME_MAX + 1];
		struct oci_digest d;
		uint64_t size;
		rc = oci_image_layer(t, m, i, &d, &size);
		if (rc == 0)
			rc = fs_dirlist_add(out, oci_digest_fmt(name, &d));
	}
	return rc;
}

struct layer_walk {
	struct store_txn *t;
	struct fs_dirlist *out;
};

static int add_indexed_layer(const struct oci_digest *d, uint64_t size, void *arg)
{
	struct layer_walk *w = arg;
	struct oci_layer_info info;
	char name[DIGEST_NAME_MAX + 1];

	(void)size;
	if (oci_layer_info(w->t, d, &info))
		return 0;	/* a blob that is no layer */
	return fs_dirlist_add(w->out, oci_digest_fmt(name, d));
}

static int add_blob_name(const struct oci_digest *d, uint64_t size, void *arg)
{
	char hex[65];

	(void)size;
	return fs_dirlist_add(arg, oci_digest_hex(hex, d));
}

static int blob_entry(struct fs *fs, struct store_txn *t, const char *digest,
		      struct fuse_entry_param *e)
{
	struct fs_node n = { .kind = FS_K_IMG_BLOB, .key_a = 1 };
	uint64_t size;
	int rc;

	if (oci_digest_parse(&n.digest, digest))
		return -ENOENT;
	rc = oci_blob_size(t, &n.digest, &size);
	if (rc)
		return rc;
	n.size = size;
	if (set_key(&n, (const char *)n.digest.sha256, sizeof(n.digest.sha256)))
		return -ENOMEM;
	return intern(fs, &n, e);
}

/* ---- the view's entry points (called from views.c) ------------------------ */

int fs_img_is_fixed(fuse_ino_t id)
{
	return id >= FS_ID_IMAGES && id <= FS_ID_OCI_SHA256;
}

int fs_img_is_kind(int kind)
{
	return kind >= FS_K_IMG_DIR && kind <= FS_K_IMG_NODE;
}

static mode_t fixed_mode(fuse_ino_t id)
{
	return id == FS_ID_OCI_LAYOUT || id == FS_ID_OCI_INDEX ? S_IFREG | 0444 : S_IFDIR | 0555;
}

static int index_json(struct store_txn *t, char **out, size_t *len)
{
	return oci_layout_index_json(t, out, len);
}

int fs_img_fixed_entry(struct fs *fs, struct store_txn *t, fuse_ino_t id,
		       struct fuse_entry_param *e)
{
	double timeout;

	memset(e, 0, sizeof(*e));
	e->ino = id;
	fs_img_getattr(fs, t, id, &e->attr, &timeout);
	e->entry_timeout = IMMUTABLE_TIMEOUT;
	e->attr_timeout = timeout;
	return 0;
}

int fs_img_getattr(struct fs *fs, struct store_txn *t, fuse_ino_t id, struct stat *st,
		   double *timeout)
{
	struct fs_node n;

	if (fs_img_is_fixed(id)) {
		uint64_t size = 0;
		*timeout = IMMUTABLE_TIMEOUT;
		if (id == FS_ID_OCI_LAYOUT) {
			size = strlen(OCI_LAYOUT_FILE);
		} else if (id == FS_ID_OCI_INDEX) {
			/* the text reads are served from (fs_text) */
			int64_t changed;
			size_t none;
			if (fs_text(fs, id, 0, 0, NULL, &none, &size, &changed) != 0)
				size = 0;
			*timeout = LIST_TIMEOUT;
		}
		plain_attr(fs, id, fixed_mode(id), size, st);
		return 0;
	}
	if (fs_node_get(fs, id, &n))
		return -ENOENT;
	view_attr(fs, &n, st, timeout);
	return 0;
}

int fs_img_lookup(struct fs *fs, struct store_txn *t, fuse_ino_t parent, const char *name,
		  struct fuse_entry_param *e)
{
	struct fs_node p;
	int rc;

	memset(e, 0, sizeof(*e));
	switch (parent) {
	case FS_ID_IMAGES:
		return lookup_name(fs, t, "", name, e);
	case FS_ID_LAYERS: {
		struct oci_digest d;
		struct fs_image *im;
		struct oci_node root;
		if (oci_digest_parse(&d, name))
			return -ENOENT;
		rc = image_get(fs, t, &d, 1, &im);
		if (rc == 0)
			rc = oci_root(t, im->img, &root);
		return rc ? rc : node_entry(fs, im, &root, e);
	}
	case FS_ID_OCI:
		if (!strcmp(name, "oci-layout"))
			return fs_img_fixed_entry(fs, t, FS_ID_OCI_LAYOUT, e);
		if (!strcmp(name, "index.json"))
			return fs_img_fixed_entry(fs, t, FS_ID_OCI_INDEX, e);
		if (!strcmp(name, "blobs"))
			return fs_img_fixed_entry(fs, t, FS_ID_OCI_BLOBS, e);
		return -ENOENT;
	case FS_ID_OCI_BLOBS:
		return strcmp(name, "sha256") ? -ENOENT : fs_img_fixed_entry(fs, t, FS_ID_OCI_SHA256, e);
	case FS_ID_OCI_SHA256: {
		char digest[DIGEST_NAME_MAX + 8];
		if (strlen(name) != 64)
			return -ENOENT;
		snprintf(digest, sizeof(digest), "sha256:%s", name);
		return blob_entry(fs, t, digest, e);
	}
	case FS_ID_OCI_LAYOUT:
	case FS_ID_OCI_INDEX:
		return -ENOTDIR;
	default:
		break;
	}
	if (fs_node_get(fs, parent, &p))
		return -ENOENT;
	switch (p.kind) {
	case FS_K_IMG_DIR:
		return lookup_name(fs, t, p.key, name, e);
	case FS_K_IMG_TAGS: {
		struct fs_node n = { .kind = FS_K_IMG_TAG };
		struct oci_digest m;
		size_t nl = strlen(p.key), tl = strlen(name);
		char *key;
		if (oci_tag_check(name))
			return -ENOENT;
		rc = oci_tag_get(t, p.key, name, &m, NULL);
		if (rc)
			return rc == -EINVAL ? -ENOENT : rc;
		key = malloc(nl + tl + 2);
		if (!key)
			return -ENOMEM;
		memcpy(key, p.key, nl + 1);
		memcpy(key + nl + 1, name, tl + 1);
		n.key = key;
		n.key_len = nl + 1 + tl;
		return intern(fs, &n, e);
	}
	case FS_K_IMG_TAG:
		if (!is_image_file(name))
			return -ENOENT;
		return image_child(fs, t, p.key, p.key + strlen(p.key) + 1, name, e);
	case FS_K_IMG_LAYERS:
		return layer_link(fs, t, &p, name, e);
	case FS_K_IMG_NODE: {
		struct oci_node child;
		rc = oci_lookup(t, p.image->img, &p.on, name, &child);
		if (rc == -ENOENT) {	/* immutable: cache the miss */
			e->ino = 0;
			e->entry_timeout = IMMUTABLE_TIMEOUT;
			return 0;
		}
		return rc ? rc : node_entry(fs, p.image, &child, e);
	}
	default:
		return -ENOTDIR;
	}
}

/* fs_dirlist_add_node - NAME with its image node, for readdirplus */
static int add_node(const char *name, const struct oci_node *on, void *arg)
{
	struct fs_dirlist *l = arg;
	size_t cap = l->cap;
	int rc = fs_dirlist_add(l, name);

	if (rc)
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

int fs_img_list(struct fs *fs, struct store_txn *t, fuse_ino_t id, struct fs_dirlist *out)
{
	struct fs_node n;

	switch (id) {
	case FS_ID_IMAGES:
		out->cache = 1;		/* the watcher invalidates it */
		return list_name(t, "", out);
	case FS_ID_LAYERS: {
		struct layer_walk w = { t, out };
		return oci_blob_foreach(t, add_indexed_layer, &w);
	}
	case FS_ID_OCI: {
		int rc = fs_dirlist_add(out, "oci-layout");
		if (rc == 0)
			rc = fs_dirlist_add(out, "index.json");
		return rc ? rc : fs_dirlist_add(out, "blobs");
	}
	case FS_ID_OCI_BLOBS:
		return fs_dirlist_add(out, "sha256");
	case FS_ID_OCI_SHA256:
		return oci_blob_foreach(t, add_blob_name, out);
	case FS_ID_OCI_LAYOUT:
	case FS_ID_OCI_INDEX:
		return -ENOTDIR;
	default:
		break;
	}
	if (fs_node_get(fs, id, &n))
		return -ENOENT;
	switch (n.kind) {
	case FS_K_IMG_DIR:
		out->cache = 1;
		return list_name(t, n.key, out);
	case FS_K_IMG_TAGS:
		out->cache = 1;
		return oci_tag_foreach(t, n.key, add_tag_name, out);
	case FS_K_IMG_TAG:
		out->cache = 1;
		for (size_t i = 0; i < 4; i++) {
			int rc = fs_dirlist_add(out, image_files[i]);
			if (rc)
				return rc;
		}
		return 0;
	case FS_K_IMG_LAYERS:
		out->cache = 1;
		return list_layers(t, &n.digest, out);
	case FS_K_IMG_NODE:
		out->cache = 1;
		out->image = n.image;
		return oci_readdir(t, n.image->img, &n.on, NULL, add_node, out);
	default:
		return -ENOTDIR;
	}
}

int fs_img_dirent(struct fs *fs, const struct fs_dirlist *l, size_t i, struct fuse_entry_param *e)
{
	struct oci_node on = l->nodes[i].on;
	int rc;

	on.target = l->nodes[i].target;
	rc = node_entry(fs, l->image, &on, e);
	return rc;
}

int fs_img_open(struct fs *fs, fuse_ino_t id, char **content, size_t *len, int *direct_io)
{
	struct store_txn *t;
	struct fs_node n;
	int rc;

	*content = NULL;
	*len = 0;
	*direct_io = 0;
	if (id == FS_ID_OCI_LAYOUT) {
		*content = strdup(OCI_LAYOUT_FILE);
		*len = strlen(OCI_LAYOUT_FILE);
		return *content ? 0 : -ENOMEM;
	}
	if (id == FS_ID_OCI_INDEX) {
		rc = store_txn_begin(&t, fs->store, 0);
		if (rc)
			return rc;
		rc = index_json(t, content, len);
		store_txn_abort(t);
		*direct_io = 1;
		return rc;
	}
	if (fs_img_is_fixed(id))
		return -EISDIR;
	if (fs_node_get(fs, id, &n))
		return -ENOENT;
	if (n.kind == FS_K_IMG_BLOB)
		return 0;
	if (n.kind == FS_K_IMG_NODE) {
		if (S_ISDIR(n.on.mode))
			return -EISDIR;
		return S_ISREG(n.on.mode) ? 0 : -EINVAL;
	}
	return n.kind == FS_K_IMG_LINK ? -ELOOP : -EISDIR;
}

int fs_img_read(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size, fuse_req_t req)
{
	struct store_txn *t;
	struct fs_node n;
	int rc = fs_node_get(fs, id, &n);

	if (rc)
		return rc;
	rc = store_txn_begin(&t, fs->store, 0);
	if (rc)
		return rc;
	if (n.kind == FS_K_IMG_NODE) {
		rc = oci_data(t, &n.on);
		if (rc == 0)
			rc = fs_reply_blob(req, t, &n.on.blob, off, size);
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

int fs_img_readlink(struct fs *fs, fuse_ino_t id, fuse_req_t req)
{
	struct fs_node n;

	if (fs_node_get(fs, id, &n))
		return -ENOENT;
	if (n.kind == FS_K_IMG_LINK) {
		fuse_reply_readlink(req, n.key);
		return 0;
	}
	if (n.kind == FS_K_IMG_NODE && S_ISLNK(n.on.mode) && n.target) {
		fuse_reply_readlink(req, n.target);
		return 0;
	}
	return -EINVAL;
}

long fs_img_xattr(struct fs *fs, fuse_ino_t id, const char *name, char *buf, size_t size)
{
	struct store_txn *t;
	struct fs_node n;
	long got;

	if (fs_img_is_fixed(id) || fs_node_get(fs, id, &n) || n.kind != FS_K_IMG_NODE ||
	    !(n.on.flags & (OCI_NODE_XATTRS | OCI_NODE_OPAQUE)))
		return name ? fs_xattr_absent(fs, name, -ENODATA) : 0;
	got = store_txn_begin(&t, fs->store, 0);
	if (got)
		return got;
	got = name ? fs_xattr_absent(fs, name, oci_xattr_get(t, n.image->img, &n.on, name, buf, size))
		   : oci_xattr_list(t, n.image->img, &n.on, buf, size);
	store_txn_abort(t);
	return got;
}
