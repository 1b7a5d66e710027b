/*
 * oci_rootfs.c - the lazy union of an image's layers, and one layer's own
 * tree, answered from the layer indexes: nothing is unpacked, and listing
 * a directory reads index records only, never file contents.
 *
 * The rule (OCI image spec, "Applying changesets"), layer 0 at the bottom:
 * looking NAME up in a merged directory D visits D's layers from the top
 * down; the first layer holding NAME decides:
 *   - a whiteout: NAME does not exist;
 *   - a non-directory: that is NAME, whatever lies below;
 *   - a directory: NAME is a merged directory whose layers run from there
 *     down to (and including) the first layer where it is opaque, stopping
 *     above a layer that whites it out or holds a non-directory there.
 * A merged directory carries that layer range [bottom, top] and its
 * dirhash, so looking up or listing its children needs no walk from the
 * root.  Its attributes come from the topmost layer that names it
 * explicitly (a directory a tar only implies has made-up attributes).
 *
 * A listing merges the sorted children of D in each of its layers (one
 * cursor per layer, keys are dirhash + name) and applies the same rule to
 * each name.
 *
 * Threads: any; all state is in the caller's transaction and nodes.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/object.h"
#include "store/oci_int.h"

static const unsigned char root_hash[OCI_HASH_LEN];

/* ---- opening ------------------------------------------------------------ */

int oci_image_open(struct oci_image **out, struct store_txn *t, const struct oci_digest *m)
{
	struct oci_image_rec rec;
	const unsigned char *layers;
	struct oci_image *img;
	int rc = oci_image_rec_get(t, m, &rec, &layers);

	*out = NULL;
	if (rc == -ENOENT) {
		char hex[OCI_DIGEST_STRLEN + 1];
		return store_error(-ENOENT, "image %s is not in the store", oci_digest_fmt(hex, m));
	}
	if (rc)
		return rc;
	img = calloc(1, sizeof(*img) + rec.nlayers * sizeof(uint64_t));
	if (!img)
		return store_error(-ENOMEM, "out of memory");
	img->manifest = *m;
	img->nlayers = rec.nlayers;
	for (unsigned i = 0; i < rec.nlayers; i++) {
		struct oci_image_layer_rec l;
		memcpy(&l, layers + i * sizeof(l), sizeof(l));
		img->lids[i] = l.lid;
	}
	*out = img;
	return 0;
}

int oci_layer_open(struct oci_image **out, struct store_txn *t, const struct oci_digest *layer)
{
	struct oci_layer_rec rec;
	struct oci_image *img;
	int rc = oci_layer_rec_get(t, layer, &rec);

	*out = NULL;
	if (rc == -ENOENT) {
		char hex[OCI_DIGEST_STRLEN + 1];
		return store_error(-ENOENT, "layer %s is not in the store", oci_digest_fmt(hex, layer));
	}
	if (rc)
		return rc;
	img = calloc(1, sizeof(*img) + sizeof(uint64_t));
	if (!img)
		return store_error(-ENOMEM, "out of memory");
	img->raw = 1;
	img->nlayers = 1;
	img->lids[0] = rec.lid;
	*out = img;
	return 0;
}

void oci_image_free(struct oci_image *img)
{
	free(img);
}

/* ---- records to nodes --------------------------------------------------- */

/* parse_entry - decode an entry record V into REC and its target */
static int parse_entry(const MDB_val *v, struct oci_entry_rec *rec, const char **target)
{
	memcpy(rec, v->mv_data, sizeof(*rec));
	*target = NULL;
	if (S_ISLNK(rec->mode) && !(rec->flags & OCI_EF_WHITEOUT)) {
		const char *t = (const char *)v->mv_data + sizeof(*rec);
		size_t tl = v->mv_size - sizeof(*rec);
		if (tl == 0 || t[tl - 1] != '\0')
			return store_error(-EIO, "layer index: corrupt symlink record; run govc fsck");
		*target = t;
	}
	return 0;
}

static int entry_get(struct store_txn *t, uint64_t lid, const unsigned char *dirhash,
		     const char *name, size_t nlen, struct oci_entry_rec *rec, const char **target)
{
	unsigned char key[OCI_FILES_KEY_MAX];
	size_t klen = oci_entry_key(key, lid, dirhash, name, nlen);
	MDB_val v;
	int rc = store_get(t, TBL_OCI_FILES, key, klen, &v);

	if (rc)
		return rc;
	if (v.mv_size < sizeof(*rec))
		return store_error(-EIO, "layer index: corrupt entry record; run govc fsck");
	return parse_entry(&v, rec, target);
}

static int node_nlink(struct store_txn *t, uint64_t lid, uint32_t node, uint32_t *nlink)
{
	unsigned char key[16];
	struct oci_node_rec nr;
	MDB_val v;
	int rc = store_get(t, TBL_OCI_FILES, key, oci_node_key(key, lid, node), &v);

	if (rc)
		return rc == -ENOENT ? store_error(-EIO, "layer index: missing node record") : rc;
	if (v.mv_size < sizeof(nr))
		return store_error(-EIO, "layer index: corrupt node record");
	memcpy(&nr, v.mv_data, sizeof(nr));
	*nlink = nr.nlink ? nr.nlink : 1;
	return 0;
}

/* set_attrs - the attributes of OUT from REC of layer LID */
static int set_attrs(struct store_txn *t, const struct oci_image *img, uint64_t lid,
		     const struct oci_entry_rec *rec, const char *target, struct oci_node *out)
{
	out->id = lid << 32 | rec->node;
	out->mode = rec->mode;
	out->uid = rec->uid;
	out->gid = rec->gid;
	out->size = rec->size;
	out->rdev = rec->rdev;
	out->mtime_ns = rec->mtime_ns;
	out->nlink = 1;
	out->flags = 0;
	out->target = target;
	memset(&out->blob, 0, sizeof(out->blob));
	if (S_ISREG(rec->mode))
		git_oid_fromraw(&out->blob, rec->blob);
	if (rec->flags & OCI_EF_XATTRS)
		out->flags |= OCI_NODE_XATTRS;
	if (rec->flags & OCI_EF_WHITEOUT) {
		/* only a layer view shows whiteouts: overlayfs' char 0:0 */
		out->mode = S_IFCHR;
		out->size = 0;
		out->rdev = 0;
	}
	if (img->raw && S_ISDIR(out->mode) && (rec->flags & OCI_EF_OPAQUE))
		out->flags |= OCI_NODE_OPAQUE;
	if ((rec->flags & OCI_EF_HARDLINK) && !S_ISDIR(rec->mode))
		return node_nlink(t, lid, rec->node, &out->nlink);
	return 0;
}

/*
 * The per-name merge, shared by lookup and readdir: feed it the records of
 * one name from the top layer down; it says when to stop.
 */
struct merge {
	int found;		/* OUT holds a node */
	int implicit;		/* OUT's attributes are made up so far */
	int done;
};

static int merge_step(struct store_txn *t, const struct oci_image *img, unsigned i,
		      const struct oci_entry_rec *rec, const char *target, struct merge *m,
		      struct oci_node *out)
{
	uint64_t lid = img->lids[i];
	int rc;

	if (img->raw) {		/* one layer: the record as it is */
		m->done = 1;
		m->found = 1;
		rc = set_attrs(t, img, lid, rec, target, out);
		out->top = out->bottom = (uint16_t)i;
		return rc;
	}
	if (rec->flags & OCI_EF_WHITEOUT) {
		m->done = 1;
		return 0;
	}
	if (!m->found) {
		m->found = 1;
		rc = set_attrs(t, img, lid, rec, target, out);
		if (rc)
			return rc;
		out->top = out->bottom = (uint16_t)i;
		if (!S_ISDIR(rec->mode)) {
			m->done = 1;
			return 0;
		}
		m->implicit = !!(rec->flags & OCI_EF_IMPLICIT);
		m->done = !!(rec->flags & OCI_EF_OPAQUE);
		return 0;
	}
	/* OUT is a directory; REC is the same name in a lower layer */
	if (!S_ISDIR(rec->mode)) {
		m->done = 1;
		return 0;
	}
	out->bottom = (uint16_t)i;
	if (m->implicit && !(rec->flags & OCI_EF_IMPLICIT)) {
		uint16_t top = out->top;
		rc = set_attrs(t, img, lid, rec, target, out);
		if (rc)
			return rc;
		out->top = top;
		out->bottom = (uint16_t)i;
		m->implicit = 0;
	}
	if (rec->flags & OCI_EF_OPAQUE)
		m->done = 1;
	return 0;
}

/* ---- lookups ------------------------------------------------------------ */

int oci_root(struct store_txn *t, const struct oci_image *img, struct oci_node *out)
{
	struct merge m = { 0 };
	int rc;

	if (img->nlayers == 0) {	/* an image without layers: an empty root */
		memset(out, 0, sizeof(*out));
		out->mode = S_IFDIR | 0755;
		out->nlink = 1;
		out->id = 1;
		return 0;
	}
	for (int i = (int)img->nlayers - 1; i >= 0 && !m.done; i--) {
		struct oci_entry_rec rec;
		const char *target;

		rc = entry_get(t, img->lids[i], root_hash, "", 0, &rec, &target);
		if (rc == -ENOENT)
			return store_error(-ENOENT, "layer index of layer %d is missing (removed by gc?)",
					   i + 1);
		if (rc)
			return rc;
		rc = merge_step(t, img, (unsigned)i, &rec, target, &m, out);
		if (rc)
			return rc;
	}
	out->nlink = 1;
	memcpy(out->dirhash, root_hash, OCI_HASH_LEN);
	return 0;
}

static int lookup_n(struct store_txn *t, const struct oci_image *img, const struct oci_node *dir,
		    const char *name, size_t nlen, struct oci_node *out)
{
	struct merge m = { 0 };
	int rc;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (nlen == 0 || nlen > OCI_ENTRY_NAME_MAX)
		return nlen ? -ENAMETOOLONG : -ENOENT;
	if (dir->top >= img->nlayers || dir->bottom > dir->top)
		return -ENOENT;		/* a node from another image */
	for (int i = dir->top; i >= (int)dir->bottom && !m.done; i--) {
		struct oci_entry_rec rec;
		const char *target;

		rc = entry_get(t, img->lids[i], dir->dirhash, name, nlen, &rec, &target);
		if (rc == -ENOENT)
			continue;
		if (rc)
			return rc;
		rc = merge_step(t, img, (unsigned)i, &rec, target, &m, out);
		if (rc)
			return rc;
	}
	if (!m.found)
		return -ENOENT;
	if (S_ISDIR(out->mode)) {
		out->nlink = 1;
		oci_dirhash(out->dirhash, dir->dirhash, name, nlen);
	}
	return 0;
}

int oci_lookup(struct store_txn *t, const struct oci_image *img, const struct oci_node *dir,
	       const char *name, struct oci_node *out)
{
	return lookup_n(t, img, dir, name, strlen(name), out);
}

int oci_resolve(struct store_txn *t, const struct oci_image *img, const char *path,
		struct oci_node *out)
{
	struct oci_node cur;
	int rc = oci_root(t, img, &cur);

	while (rc == 0 && *path) {
		const char *end = strchr(path, '/');
		size_t n = end ? (size_t)(end - path) : strlen(path);

		if (n == 2 && !strncmp(path, "..", 2))
			return store_error(-EINVAL, "path '%s': '..' is not resolved here", path);
		if (n > 0 && !(n == 1 && path[0] == '.')) {
			struct oci_node next;
			rc = lookup_n(t, img, &cur, path, n, &next);
			cur = next;
		}
		path += n;
		while (*path == '/')
			path++;
	}
	if (rc == 0)
		*out = cur;
	return rc;
}

int oci_node_get(struct store_txn *t, const struct oci_image *img, uint64_t id,
		 struct oci_node *out)
{
	uint64_t lid = id >> 32;
	uint32_t node = (uint32_t)id;
	char *path = NULL;
	size_t len = 0;
	unsigned depth = 0;
	int found = 0, rc;

	for (unsigned i = 0; i < img->nlayers; i++)
		found |= img->lids[i] == lid;
	if (!found)
		return -ENOENT;
	if (node == OCI_ROOT_NODE)
		return oci_root(t, img, out);
	/* build the path from the node records, leaf first */
	path = malloc(OCI_PATH_MAX + 1);
	if (!path)
		return store_error(-ENOMEM, "out of memory");
	len = OCI_PATH_MAX;
	path[len] = '\0';
	while (node != OCI_ROOT_NODE) {
		unsigned char key[16];
		struct oci_node_rec nr;
		size_t nlen;
		MDB_val v;

		rc = store_get(t, TBL_OCI_FILES, key, oci_node_key(key, lid, node), &v);
		if (rc)
			goto out;
		nlen = v.mv_size - sizeof(nr);
		if (v.mv_size < sizeof(nr) || nlen + 1 > len || ++depth > OCI_PATH_MAX / 2) {
			rc = store_error(-EIO, "layer index: corrupt node record");
			goto out;
		}
		memcpy(&nr, v.mv_data, sizeof(nr));
		len -= nlen;
		memcpy(path + len, (const char *)v.mv_data + sizeof(nr), nlen);
		path[--len] = '/';
		node = nr.parent;
	}
	rc = oci_resolve(t, img, path + len, out);
	if (rc == 0 && out->id != id)
		rc = -ENOENT;
out:
	free(path);
	return rc;
}

/* ---- listing ------------------------------------------------------------ */

struct layer_cursor {
	MDB_cursor *c;
	MDB_val k, v;
	int live;
	unsigned char prefix[9 + OCI_HASH_LEN];	/* lid 'e' dirhash */
};

static int cursor_next(struct layer_cursor *lc, size_t plen, MDB_cursor_op op)
{
	const unsigned char *prefix = lc->prefix;
	int rc = mdb_cursor_get(lc->c, &lc->k, &lc->v, op);

	lc->live = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_mdb_error(rc, "oci_files");
	if (lc->k.mv_size < plen || memcmp(lc->k.mv_data, prefix, plen))
		return 0;
	if (lc->v.mv_size < sizeof(struct oci_entry_rec))
		return store_error(-EIO, "layer index: corrupt entry record; run govc fsck");
	lc->live = 1;
	return 0;
}

static int name_cmp(const MDB_val *a, const MDB_val *b, size_t plen)
{
	size_t la = a->mv_size - plen, lb = b->mv_size - plen;
	int c = memcmp((const char *)a->mv_data + plen, (const char *)b->mv_data + plen,
		       la < lb ? la : lb);

	return c ? c : (la > lb) - (la < lb);
}

int oci_readdir(struct store_txn *t, const struct oci_image *img, const struct oci_node *dir,
		const char *after,
		int (*cb)(const char *name, const struct oci_node *node, void *arg), void *arg)
{
	unsigned nl = dir->top >= dir->bottom ? dir->top - dir->bottom + 1u : 0;
	struct layer_cursor *lc;
	char name[OCI_ENTRY_NAME_MAX + 1];
	size_t plen = 9 + OCI_HASH_LEN;
	int rc = 0;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (img->nlayers == 0)
		return 0;
	if (dir->top >= img->nlayers || dir->bottom > dir->top)
		return -ENOENT;
	if (after && strlen(after) > OCI_ENTRY_NAME_MAX)
		return -EINVAL;
	lc = calloc(nl, sizeof(*lc));
	if (!lc)
		return store_error(-ENOMEM, "out of memory");
	/* lc[0] is the top layer */
	for (unsigned j = 0; j < nl && rc == 0; j++) {
		unsigned i = dir->top - j;
		unsigned char key[OCI_FILES_KEY_MAX];
		size_t klen;
		int mrc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_FILES), &lc[j].c);

		if (mrc) {
			rc = store_mdb_error(mrc, "oci_files");
			break;
		}
		oci_entry_key(lc[j].prefix, img->lids[i], dir->dirhash, "", 0);
		klen = oci_entry_key(key, img->lids[i], dir->dirhash, after ? after : "",
				     after ? strlen(after) : 0);
		lc[j].k.mv_size = klen;
		lc[j].k.mv_data = key;
		rc = cursor_next(&lc[j], plen, MDB_SET_RANGE);
		/* skip AFTER itself, and the root's own record (empty name) */
		while (rc == 0 && lc[j].live && lc[j].k.mv_size == klen &&
		       !memcmp(lc[j].k.mv_data, key, klen))
			rc = cursor_next(&lc[j], plen, MDB_NEXT);
	}
	while (rc == 0) {
		const MDB_val *min = NULL;
		struct merge m = { 0 };
		struct oci_node node;
		size_t nlen;

		for (unsigned j = 0; j < nl; j++)
			if (lc[j].live && (!min || name_cmp(&lc[j].k, min, plen) < 0))
				min = &lc[j].k;
		if (!min)
			break;
		nlen = min->mv_size - plen;
		memcpy(name, (const char *)min->mv_data + plen, nlen);
		name[nlen] = '\0';
		memset(&node, 0, sizeof(node));
		/* records of this name, top down; advance past it in each */
		for (unsigned j = 0; j < nl && rc == 0; j++) {
			struct oci_entry_rec rec;
			const char *target;

			if (!lc[j].live || lc[j].k.mv_size != plen + nlen ||
			    memcmp((const char *)lc[j].k.mv_data + plen, name, nlen))
				continue;
			if (!m.done) {
				rc = parse_entry(&lc[j].v, &rec, &target);
				if (rc == 0)
					rc = merge_step(t, img, dir->top - j, &rec, target, &m, &node);
			}
			if (rc == 0)
				rc = cursor_next(&lc[j], plen, MDB_NEXT);
		}
		if (rc || nlen == 0 || !m.found)
			continue;
		if (S_ISDIR(node.mode)) {
			node.nlink = 1;
			oci_dirhash(node.dirhash, dir->dirhash, name, nlen);
		}
		rc = cb(name, &node, arg);
	}
	for (unsigned j = 0; j < nl; j++)
		if (lc[j].c)
			mdb_cursor_close(lc[j].c);
	free(lc);
	return rc;
}

/* ---- contents and xattrs ------------------------------------------------ */

int oci_data(struct store_txn *t, const struct oci_node *node)
{
	git_object_t type;
	uint64_t len;
	int rc;

	if (!S_ISREG(node->mode))
		return S_ISDIR(node->mode) ? -EISDIR : -EINVAL;
	rc = store_object_info(t, &node->blob, &type, &len);
	if (rc == -ENOENT) {
		char hex[GIT_OID_HEXSZ + 1];
		return store_error(-EIO, "file content %s is missing from the store; run govc fsck",
				   git_oid_tostr(hex, sizeof(hex), &node->blob));
	}
	if (rc == 0 && (type != GIT_OBJECT_BLOB || len != node->size))
		return store_error(-EIO, "file content of node %llu does not match its index",
				   (unsigned long long)node->id);
	return rc;
}

long oci_read(struct store_txn *t, const struct oci_node *node, uint64_t off, void *buf,
	      size_t len)
{
	int rc = oci_data(t, node);

	if (rc)
		return rc;
	if (len > (size_t)LONG_MAX)
		len = (size_t)LONG_MAX;
	return store_object_copy(t, &node->blob, off, buf, len);
}

#define OPAQUE_XATTR "trusted.overlay.opaque"

static size_t xattr_prefix(unsigned char *key, uint64_t id)
{
	oci_node_key(key, id >> 32, (uint32_t)id);
	key[8] = OCI_K_XATTR;
	return 13;
}

long oci_xattr_get(struct store_txn *t, const struct oci_image *img, const struct oci_node *node,
		   const char *name, void *buf, size_t len)
{
	unsigned char key[13 + OCI_XATTR_NAME_MAX];
	size_t nl = strlen(name), klen;
	MDB_val v;
	int rc;

	if ((node->flags & OCI_NODE_OPAQUE) && !strcmp(name, OPAQUE_XATTR)) {
		v.mv_size = 1;
		v.mv_data = "y";
		goto found;
	}
	if (!(node->flags & OCI_NODE_XATTRS) || nl == 0 || nl > OCI_XATTR_NAME_MAX)
		return -ENODATA;
	klen = xattr_prefix(key, node->id);
	memcpy(key + klen, name, nl);
	rc = store_get(t, TBL_OCI_FILES, key, klen + nl, &v);
	if (rc)
		return rc == -ENOENT ? -ENODATA : rc;
found:
	if (len == 0)
		return (long)v.mv_size;
	if (len < v.mv_size)
		return -ERANGE;
	memcpy(buf, v.mv_data, v.mv_size);
	return (long)v.mv_size;
}

long oci_xattr_list(struct store_txn *t, const struct oci_image *img, const struct oci_node *node,
		    char *buf, size_t len)
{
	unsigned char prefix[13];
	size_t plen, need = 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	(void)img;
	if (node->flags & OCI_NODE_OPAQUE) {
		need = sizeof(OPAQUE_XATTR);
		if (len && len < need)
			return -ERANGE;
		if (len)
			memcpy(buf, OPAQUE_XATTR, need);
	}
	if (!(node->flags & OCI_NODE_XATTRS))
		return (long)need;
	plen = xattr_prefix(prefix, node->id);
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_FILES), &c);
	if (rc)
		return store_mdb_error(rc, "oci_files");
	k.mv_size = plen;
	k.mv_data = prefix;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > plen && !memcmp(k.mv_data, prefix, plen)) {
		size_t nl = k.mv_size - plen;
		if (len) {
			if (need + nl + 1 > len) {
				mdb_cursor_close(c);
				return -ERANGE;
			}
			memcpy(buf + need, (const char *)k.mv_data + plen, nl);
			buf[need + nl] = '\0';
		}
		need += nl + 1;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_error(rc, "oci_files");
	return (long)need;
}
