/*
 * image_path.c - the image views' places (image_path.h): names and tags,
 * an image's files, its layer links, and the roots of its union and of a
 * layer's own tree, each lookup or listing one call from the daemon.
 *
 * Image names nest: images/<a>/<b>/ exists while some tag's name starts
 * with "a/b/"; a scan of the tags answers both "which next components are
 * there" and "is the prefix itself an image".  Tags come in name order,
 * so duplicates of a component are mostly adjacent.
 *
 * Opened images are kept in a struct store_images for as long as the
 * daemon runs (a handful per image in the store): a node of a rootfs
 * names its opened image, which must outlive it.  An image opened before
 * a gc and re-import of its layers is opened again (root_of).
 *
 * Threads: any; the set's list is under its mutex (a leaf lock, never
 * held across store reads); everything else is the caller's.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/image_path.h"
#include "store/ingest.h"
#include "util/array.h"
#include "store/object.h"

struct store_images {
	pthread_mutex_t lock;
	struct store_image *list;	/* protected by lock */
	uint32_t slots;			/* protected by lock */
};

static const char *const image_files[] = { "manifest.json", "config.json", "layers", "rootfs",
					    "tags" };
#define IMAGE_FILES (sizeof(image_files) / sizeof(image_files[0]))

/* ---- opened images ------------------------------------------------------ */

int store_images_new(struct store_images **out)
{
	struct store_images *set = calloc(1, sizeof(*set));

	*out = NULL;
	if (!set)
		return store_error(-ENOMEM, "out of memory");
	pthread_mutex_init(&set->lock, NULL);
	*out = set;
	return 0;
}

void store_images_free(struct store_images *set)
{
	struct store_image *im, *next;

	if (!set)
		return;
	for (im = set->list; im; im = next) {
		next = im->next;
		oci_image_free(im->img);
		free(im);
	}
	pthread_mutex_destroy(&set->lock);
	free(set);
}

void store_image_hold(struct store_image *im)
{
	__atomic_add_fetch(&im->holds, 1, __ATOMIC_RELAXED);
}

void store_image_unhold(struct store_image *im)
{
	__atomic_sub_fetch(&im->holds, 1, __ATOMIC_RELAXED);
}

int store_images_any_held(struct store_images *set)
{
	int any = 0;

	pthread_mutex_lock(&set->lock);
	for (struct store_image *im = set->list; im && !any; im = im->next)
		any = im->pinned || __atomic_load_n(&im->holds, __ATOMIC_RELAXED) > 0;
	pthread_mutex_unlock(&set->lock);
	return any;
}

/* a change of pin to make: outside the mutex */
struct pin_change {
	struct oci_digest digest;
	struct store_image *im;
	int pin;
};

/* in_use - is one of IM's paths in use, as USED says? */
static int in_use(const struct store_image *im, int (*used)(const char *path, void *arg), void *arg)
{
	for (unsigned i = 0; i < im->npaths; i++)
		if (used(im->paths[i], arg))
			return 1;
	return 0;
}

/* held - does the kernel hold a node of an opened image of digest D (after
 * a gc and a re-import one digest may have several entries) through a path
 * something uses? */
static int held(const struct store_images *set, const struct oci_digest *d,
		int (*used)(const char *path, void *arg), void *arg)
{
	for (const struct store_image *im = set->list; im; im = im->next)
		if (!memcmp(&im->digest, d, sizeof(*d)) &&
		    __atomic_load_n(&im->holds, __ATOMIC_RELAXED) > 0 &&
		    (!used || in_use(im, used, arg)))
			return 1;
	return 0;
}

int store_images_sync_pins(struct store_images *set, struct store_ingest *in,
			   int (*used)(const char *path, void *arg), void *arg)
{
	struct util_array changes = UTIL_ARRAY_INIT(struct pin_change);
	struct store_image *im;
	int rc = 0;

	pthread_mutex_lock(&set->lock);
	for (im = set->list; im && rc == 0; im = im->next) {
		int want = held(set, &im->digest, used, arg);
		struct pin_change *c;

		if (want == im->pinned)
			continue;
		c = UTIL_ARRAY_PUSH(&changes, struct pin_change);
		if (!c)
			rc = store_error(-ENOMEM, "out of memory");
		else
			*c = (struct pin_change){ im->digest, im, want };
	}
	pthread_mutex_unlock(&set->lock);
	/* images are never freed before the set: IM stays valid */
	for (size_t i = 0; rc == 0 && i < util_array_len(&changes); i++) {
		struct pin_change *c = UTIL_ARRAY_AT(&changes, struct pin_change, i);

		rc = c->pin ? store_ingest_pin(in, STORE_PIN_BLOB, c->digest.sha256, 32)
			    : store_ingest_unpin_key(in, STORE_PIN_BLOB, c->digest.sha256, 32);
		if (rc == 0)
			c->im->pinned = c->pin;
	}
	if (util_array_len(&changes) && rc == 0)
		rc = store_ingest_flush(in);
	util_array_release(&changes);
	return rc;
}

/* image_find - the newest opened image (or layer) with digest D */
static struct store_image *image_find(struct store_images *set, const struct oci_digest *d,
				      int layer)
{
	struct store_image *im;

	for (im = set->list; im; im = im->next)
		if (im->layer == layer && !memcmp(&im->digest, d, sizeof(*d)))
			break;
	return im;
}

/*
 * root_of - OUT is the root of the opened image (or layer, LAYER 1) D.
 *
 * An opened image reads the layer indexes its record named when it was
 * opened.  A gc removes the index of a layer no tag reaches, and a later
 * import of the same layer indexes it again under a new id, so an image
 * opened before then finds its indexes gone (-ENOENT) although its digest
 * is in the store again.  Then the image is opened anew, as a new entry
 * (new slot, new inode numbers); the old entry stays for the nodes the
 * kernel may still hold of it, which answer ENOENT or EIO from then on.
 * A fresh image whose root cannot be read is not kept.
 */
/* note_path - remember that IM's tree shows at PATH (for store_images_sync_pins) */
static void note_path(struct store_images *set, struct store_image *im, const char *path)
{
	pthread_mutex_lock(&set->lock);
	for (unsigned i = 0; i < im->npaths; i++)
		if (!strcmp(im->paths[i], path))
			goto out;
	if (im->npaths < STORE_IMG_PATHS)
		snprintf(im->paths[im->npaths++], sizeof(im->paths[0]), "%s", path);
	else	/* the oldest goes */
		snprintf(im->paths[0], sizeof(im->paths[0]), "%s", path);
out:
	pthread_mutex_unlock(&set->lock);
}

static int root_of(struct store_images *set, struct store_txn *t, const struct oci_digest *d,
		   int layer, const char *path, struct store_image_path *out)
{
	struct store_image *im, *seen, *now;
	struct oci_image *img;
	int rc;

	pthread_mutex_lock(&set->lock);
	seen = image_find(set, d, layer);
	pthread_mutex_unlock(&set->lock);
	im = seen;
	rc = im ? oci_root(t, im->img, &out->node) : -ENOENT;
	if (rc == -ENOENT) {
		rc = layer ? oci_layer_open(&img, t, d) : oci_image_open(&img, t, d);
		if (rc == 0)
			rc = oci_root(t, img, &out->node);
		if (rc == 0 && !(im = calloc(1, sizeof(*im))))
			rc = store_error(-ENOMEM, "out of memory");
		if (rc) {
			oci_image_free(img);
			return rc;
		}
		im->digest = *d;
		im->layer = layer;
		im->img = img;
		pthread_mutex_lock(&set->lock);
		now = image_find(set, d, layer);
		if (now == seen) {
			im->slot = ++set->slots;
			im->next = set->list;
			set->list = im;
		}
		pthread_mutex_unlock(&set->lock);
		if (now != seen) {	/* another thread was quicker */
			oci_image_free(img);
			free(im);
			im = now;
			rc = oci_root(t, im->img, &out->node);
		}
	}
	if (rc)
		return rc;
	note_path(set, im, path);
	out->kind = STORE_IMG_NODE;
	out->image = im;
	out->node.target = NULL;
	return 0;
}

/* ---- names and tags ------------------------------------------------------ */

/* What an image name scan looks for: the names below PREFIX. */
struct name_scan {
	const char *prefix;	/* "" for images/ itself */
	size_t plen;
	const char *child;	/* lookup: this next component; NULL: list */
	int exact;		/* PREFIX itself is an image name */
	int found;		/* lookup: CHILD leads to some name */
	/* list: the distinct next components, in a growing array */
	char **names;
	size_t n, cap;
};

static int scan_add(struct name_scan *s, const char *c, size_t len)
{
	char *name;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **nn = realloc(s->names, cap * sizeof(*nn));
		if (!nn)
			return store_error(-ENOMEM, "out of memory");
		s->names = nn;
		s->cap = cap;
	}
	name = strndup(c, len);
	if (!name)
		return store_error(-ENOMEM, "out of memory");
	s->names[s->n++] = name;
	return 0;
}

static void scan_release(struct name_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
}

static int scan_has(const struct name_scan *s, const char *c, size_t len)
{
	/* tags come in name order: duplicates are mostly adjacent, but
	 * "a/b" sorts after "a-c" */
	for (size_t i = s->n; i-- > 0;)
		if (strlen(s->names[i]) == len && !strncmp(s->names[i], c, len))
			return 1;
	return 0;
}

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
	return scan_has(s, c, len) ? 0 : scan_add(s, c, len);
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

/* resolve_tag - the manifest NAME:TAG (TAG "": the default tag) shows */
static int resolve_tag(struct store_txn *t, const char *name, const char *tag,
		       struct oci_digest *m)
{
	struct pick p = { .tag = "" };
	int rc;

	if (!tag[0]) {
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

static int is_image_file(const char *name)
{
	for (size_t i = 0; i < IMAGE_FILES; i++)
		if (!strcmp(name, image_files[i]))
			return 1;
	return 0;
}

/*
 * image_child - CHILD (one of image_files) of the image directory of
 * NAME:TAG (TAG "": images/<name>/ itself, showing the default tag).
 */
static int image_child(struct store_images *set, struct store_txn *t, const char *name,
		       const char *tag, const char *child, struct store_image_path *out)
{
	struct oci_image_info info;
	struct oci_digest m;
	int rc;

	if (!strcmp(child, "tags")) {
		if (tag[0])
			return -ENOENT;
		out->kind = STORE_IMG_TAGS;
		snprintf(out->name, sizeof(out->name), "%s", name);
		return 0;
	}
	rc = resolve_tag(t, name, tag, &m);
	if (rc == 0)
		rc = oci_image_info(t, &m, &info);
	if (rc)
		return rc;
	if (!strcmp(child, "manifest.json") || !strcmp(child, "config.json")) {
		int config = child[0] == 'c';
		out->kind = STORE_IMG_BLOB;
		out->digest = config ? info.config : m;
		out->size = config ? info.config_size : info.manifest_size;
		return 0;
	}
	if (!strcmp(child, "layers")) {
		out->kind = STORE_IMG_LAYERS;
		out->digest = m;
		/* from <dir>/layers up to the mount's root */
		out->depth = name_depth(name) + 2 + (tag[0] ? 2 : 0);
		return 0;
	}
	if (!strcmp(child, "rootfs")) {
		char path[STORE_IMG_PATH_MAX];

		if (tag[0])
			snprintf(path, sizeof(path), "/images/%s/tags/%s/rootfs", name, tag);
		else
			snprintf(path, sizeof(path), "/images/%s/rootfs", name);
		return root_of(set, t, &m, 0, path, out);
	}
	return -ENOENT;
}

/* lookup_name - NAME in images/ (PREFIX "") or in images/<PREFIX>/ */
static int lookup_name(struct store_images *set, struct store_txn *t, const char *prefix,
		       const char *name, struct store_image_path *out)
{
	struct name_scan s = { .prefix = prefix, .plen = strlen(prefix), .child = name };
	int rc, len;

	rc = oci_tag_foreach(t, NULL, scan_tag, &s);
	if (rc)
		return rc;
	if (s.exact && is_image_file(name))
		return image_child(set, t, prefix, "", name, out);
	if (!s.found)
		return -ENOENT;
	len = snprintf(out->name, sizeof(out->name), "%s%s%s", prefix, s.plen ? "/" : "", name);
	if (len >= (int)sizeof(out->name))
		return -ENOENT;
	out->kind = STORE_IMG_NAMES;
	return 0;
}

static int list_name(struct store_txn *t, const char *prefix,
		     int (*cb)(const char *, const struct oci_node *, void *), void *arg)
{
	struct name_scan s = { .prefix = prefix, .plen = strlen(prefix) };
	int rc = oci_tag_foreach(t, NULL, scan_tag, &s);

	/* the next components of longer names, then, in an image directory,
	 * its own entries, which hide a component spelled like one of them */
	for (size_t i = 0; rc == 0 && i < s.n; i++)
		if (!s.exact || !is_image_file(s.names[i]))
			rc = cb(s.names[i], NULL, arg);
	for (size_t i = 0; rc == 0 && s.exact && i < IMAGE_FILES; i++)
		rc = cb(image_files[i], NULL, arg);
	scan_release(&s);
	return rc;
}

/* ---- layers and blobs ------------------------------------------------------ */

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

static int layer_link(struct store_txn *t, const struct store_image_path *dir, const char *name,
		      struct store_image_path *out)
{
	struct oci_digest layer;
	size_t len = 0;
	int rc = layer_of_image(t, &dir->digest, name, &layer);

	if (rc)
		return rc;
	for (uint32_t i = 0; i < dir->depth && len + 3 < STORE_IMG_LINK_MAX; i++) {
		memcpy(out->target + len, "../", 3);
		len += 3;
	}
	len += (size_t)snprintf(out->target + len, sizeof(out->target) - len, "layers/");
	oci_digest_fmt(out->target + len, &layer);
	out->kind = STORE_IMG_LINK;
	return 0;
}

struct list_cb {
	struct store_txn *t;
	int (*cb)(const char *name, const struct oci_node *node, void *arg);
	void *arg;
};

static int list_layers(struct store_txn *t, const struct oci_digest *m, const struct list_cb *l)
{
	struct oci_image_info info;
	int rc = oci_image_info(t, m, &info);

	for (unsigned i = 0; rc == 0 && i < info.nlayers; i++) {
		char name[OCI_DIGEST_STRLEN + 1];
		struct oci_digest d;
		uint64_t size;
		rc = oci_image_layer(t, m, i, &d, &size);
		if (rc == 0)
			rc = l->cb(oci_digest_fmt(name, &d), NULL, l->arg);
	}
	return rc;
}

static int add_indexed_layer(const struct oci_digest *d, uint64_t size, void *arg)
{
	const struct list_cb *l = arg;
	struct oci_layer_info info;
	char name[OCI_DIGEST_STRLEN + 1];

	(void)size;
	if (oci_layer_info(l->t, d, &info))
		return 0;	/* a blob that is no layer */
	return l->cb(oci_digest_fmt(name, d), NULL, l->arg);
}

static int add_blob_name(const struct oci_digest *d, uint64_t size, void *arg)
{
	const struct list_cb *l = arg;
	char hex[65];

	(void)size;
	return l->cb(oci_digest_hex(hex, d), NULL, l->arg);
}

static int add_tag_name(const struct oci_tag *tag, void *arg)
{
	const struct list_cb *l = arg;

	return l->cb(tag->tag, NULL, l->arg);
}

static int blob_entry(struct store_txn *t, const char *hex, struct store_image_path *out)
{
	char digest[OCI_DIGEST_STRLEN + 8];
	int rc;

	if (strlen(hex) != 64)
		return -ENOENT;
	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	if (oci_digest_parse(&out->digest, digest))
		return -ENOENT;
	rc = oci_blob_size(t, &out->digest, &out->size);
	if (rc)
		return rc;
	out->kind = STORE_IMG_BLOB;
	return 0;
}

/* ---- the calls ------------------------------------------------------------- */

int store_image_lookup(struct store_images *set, struct store_txn *t,
		       const struct store_image_path *dir, const char *name,
		       struct store_image_path *out)
{
	struct oci_digest d;
	int rc;

	out->kind = 0;
	out->name[0] = out->tag[0] = out->target[0] = '\0';
	out->image = NULL;
	switch (dir->kind) {
	case STORE_IMG_NAMES:
		return lookup_name(set, t, dir->name, name, out);
	case STORE_IMG_TAGS:
		if (oci_tag_check(name))
			return -ENOENT;
		rc = oci_tag_get(t, dir->name, name, &d, NULL);
		if (rc)
			return rc == -EINVAL ? -ENOENT : rc;
		out->kind = STORE_IMG_TAG;
		snprintf(out->name, sizeof(out->name), "%s", dir->name);
		snprintf(out->tag, sizeof(out->tag), "%s", name);
		return 0;
	case STORE_IMG_TAG:
		if (!is_image_file(name))
			return -ENOENT;
		return image_child(set, t, dir->name, dir->tag, name, out);
	case STORE_IMG_LAYERS:
		return layer_link(t, dir, name, out);
	case STORE_IMG_NODE:
		rc = oci_lookup(t, dir->image->img, &dir->node, name, &out->node);
		if (rc)
			return rc;
		out->kind = STORE_IMG_NODE;
		out->image = dir->image;
		if (S_ISLNK(out->node.mode) && out->node.target)
			snprintf(out->target, sizeof(out->target), "%s", out->node.target);
		out->node.target = NULL;
		return 0;
	case STORE_IMG_LAYER_ROOT:
		if (oci_digest_parse(&d, name))
			return -ENOENT;
		{
			char path[STORE_IMG_PATH_MAX];
			snprintf(path, sizeof(path), "/layers/%s", name);
			return root_of(set, t, &d, 1, path, out);
		}
	case STORE_IMG_BLOB_ROOT:
		return blob_entry(t, name, out);
	default:
		return -ENOTDIR;
	}
}

int store_image_list(struct store_images *set, struct store_txn *t,
		     const struct store_image_path *dir,
		     int (*cb)(const char *name, const struct oci_node *node, void *arg), void *arg)
{
	struct list_cb l = { t, cb, arg };
	int rc = 0;

	(void)set;
	switch (dir->kind) {
	case STORE_IMG_NAMES:
		return list_name(t, dir->name, cb, arg);
	case STORE_IMG_TAGS:
		return oci_tag_foreach(t, dir->name, add_tag_name, &l);
	case STORE_IMG_TAG:
		for (size_t i = 0; rc == 0 && i < IMAGE_FILES - 1; i++)	/* no tags/ */
			rc = cb(image_files[i], NULL, arg);
		return rc;
	case STORE_IMG_LAYERS:
		return list_layers(t, &dir->digest, &l);
	case STORE_IMG_NODE:
		return oci_readdir(t, dir->image->img, &dir->node, NULL, cb, arg);
	case STORE_IMG_LAYER_ROOT:
		return oci_blob_foreach(t, add_indexed_layer, &l);
	case STORE_IMG_BLOB_ROOT:
		return oci_blob_foreach(t, add_blob_name, &l);
	default:
		return -ENOTDIR;
	}
}

long store_image_pieces(struct store_txn *t, const struct oci_node *node, uint64_t off,
			size_t len, struct store_piece *out, size_t max, size_t *count)
{
	int rc = oci_data(t, node);

	if (rc)
		return rc;
	return store_blob_pieces(t, &node->blob, off, len, out, max, count);
}
