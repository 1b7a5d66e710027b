/*
 * oci_layer.c - indexing a layer once, when its blob enters the store.
 *
 * The stored blob (tar, tar+gzip or tar+zstd, told apart by its bytes) is
 * read through two libarchive readers: an outer one that only
 * decompresses (format "raw"), whose output is hashed into the diff_id,
 * and an inner tar reader fed from it.  So the layer is read once, the
 * diff_id is checked against the config, and a truncated or corrupt stream
 * is noticed wherever it breaks.
 *
 * Every entry becomes a record in oci_files (keys in oci_int.h): its
 * directory's dirhash and its name, its attributes, and for a regular file
 * its content as a git blob in the objects table (one content store).
 * Whiteouts (.wh.NAME) become whiteout records named NAME; an opaque marker
 * (.wh..wh..opq) sets a flag on its directory; directories the tar never
 * names are made up (flagged implicit, 0755 root) so every record's parent
 * exists.  Within one layer an entry wins over a whiteout of the same name
 * (OCI: whiteouts apply to lower layers only); a directory meeting a
 * whiteout of itself becomes opaque, which is what extracting such a layer
 * would leave.
 *
 * Untrusted input: paths with "..", absolute paths, relative symlinks that
 * climb above the root and hard links to anything not earlier in the same
 * layer are refused with -EPERM naming the layer and the entry; sizes,
 * names, xattrs and the entry count are capped (oci.h).  A tar may end
 * right after its last entry's data (umoci insert writes such layers),
 * but one cut anywhere else (in a header, say) is -EBADMSG.
 *
 * Workload: one pass; O(depth) lookups per entry, usually O(1) thanks to a
 * one-directory cache (tars list a directory's entries together).  Files
 * under STORE_BLOB_CHUNKED_MIN are hashed in memory and stored as one
 * value; larger ones stream into chunks of a fresh owner as they are read
 * (hashed on the way; a chunk of zeros is stored empty) and become a
 * chunked blob once their id is known, so memory stays bounded whatever
 * the file's size (object.h).
 *
 * Transactions: everything is written through the caller's ingest session
 * (ingest.h), in short transactions, so the mount's writers never wait
 * long: file contents as they come (each pinned by the session), the
 * layer's records at the end (pinned by the layer id while they go in),
 * and last the layer record itself, in one transaction that first checks
 * whether another session indexed the same layer meanwhile.
 *
 * Locality: the layer's records are kept in memory (the stage, a hash
 * table) while the tar is read, and written at the end, sorted, with
 * MDB_APPEND.  Written as they came they would sit on pages scattered
 * among the file contents written meanwhile, and a cold listing of the
 * rootfs would read them from all over the store; sorted and appended they
 * fill whole pages one after another (about 150 bytes of memory per entry
 * until the layer is written).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "store/ingest.h"
#include "store/object.h"
#include "store/oci_int.h"

#define UBUF_SIZE (128u << 10)
#define CHUNK_BATCH 16		/* chunks of a large file read, then written, at once */
#define PATH_COMPS_MAX (OCI_PATH_MAX / 2 + 1)
/* more than a tar holds after its last entry's data, short of a header:
 * up to 511 bytes of padding and one zero block */
#define TAIL_SIZE 1024

static const unsigned char root_hash[OCI_HASH_LEN];

/* A normalised entry path: "a/b/c" and where each component starts. */
struct npath {
	char buf[OCI_PATH_MAX + 1];
	size_t len;
	unsigned n;
	unsigned short off[PATH_COMPS_MAX];
	unsigned short clen[PATH_COMPS_MAX];
};

/* A record of the stage: key then value; the value may be edited in place. */
struct srec {
	uint32_t vlen;
	uint16_t klen;
	unsigned char data[];
};

struct stage {
	struct srec **slot;	/* open addressing; TOMB marks a deleted one */
	size_t cap, live, used;
};

/* the per-node list of xattr names (NUL-terminated), kept in the stage only */
#define K_XATTR_NAMES 'y'

struct ix {
	struct stage stage;
	struct store_ingest *in;
	const struct oci_digest *layer;
	char lname[OCI_DIGEST_STRLEN + 1];
	uint64_t lid;
	unsigned char lidkey[8];	/* be64 lid: its pin */
	uint32_t next_node;
	uint64_t entries;
	struct oci_blob_stream bs;	/* the compressed blob */
	struct archive *outer, *inner;
	EVP_MD_CTX *diff;
	uint64_t usize;
	char *ubuf;
	uint64_t data_end;		/* where the last entry's data ends */
	unsigned char tail[TAIL_SIZE];	/* the last bytes of the tar */
	size_t tail_len;
	int outer_failed;
	int over_limit;			/* the uncompressed bytes ran over */
	uint64_t max_bytes, max_entries;	/* util/limits.h */
	char outer_err[256];
	const char *cur;		/* raw path of the current entry */
	struct npath path, link;
	/* the last directory ensured: its path, dirhash, parent's, node */
	int cache_ok;
	size_t cache_len;
	char cache_path[OCI_PATH_MAX + 1];
	unsigned char cache_hash[OCI_HASH_LEN], cache_phash[OCI_HASH_LEN];
	uint32_t cache_node;
	char *fbuf;
	size_t fcap;
	/* the current entry's content, block by block (read_exact) */
	const char *blk;
	size_t blk_n;
	uint64_t blk_off, pos;
	int blk_eof, sparse;
};

/* ---- paths -------------------------------------------------------------- */

/*
 * norm_path - normalise RAW into P: drop empty and "." components, refuse
 * an absolute path or a ".." (WHAT says which kind of path it is).
 */
static int norm_path(struct ix *ix, const char *raw, struct npath *p, const char *what)
{
	const char *s = raw;

	p->len = 0;
	p->n = 0;
	/* "/" alone is the root (umoci writes it so); any other absolute
	 * path is refused: extracting it would write outside the rootfs */
	if (raw[0] == '/' && raw[strspn(raw, "/.")] != '\0')
		return store_error(-EPERM,
				   "layer %s: %s '%.300s' is an absolute path; layers hold relative paths only",
				   ix->lname, what, raw);
	while (*s) {
		const char *end = strchr(s, '/');
		size_t n = end ? (size_t)(end - s) : strlen(s);

		if (n == 2 && s[0] == '.' && s[1] == '.')
			return store_error(-EPERM, "layer %s: %s '%.300s' climbs out of the layer with '..'",
					   ix->lname, what, raw);
		if (n > OCI_ENTRY_NAME_MAX)
			return store_error(-ENAMETOOLONG, "layer %s: %s '%.300s' has a name longer than %d bytes",
					   ix->lname, what, raw, OCI_ENTRY_NAME_MAX);
		if (n > 0 && !(n == 1 && s[0] == '.')) {
			if (p->len + n + 1 > OCI_PATH_MAX)
				return store_error(-ENAMETOOLONG, "layer %s: %s '%.300s...' is longer than %d bytes",
						   ix->lname, what, raw, OCI_PATH_MAX);
			if (p->len)
				p->buf[p->len++] = '/';
			p->off[p->n] = (unsigned short)p->len;
			p->clen[p->n] = (unsigned short)n;
			p->n++;
			memcpy(p->buf + p->len, s, n);
			p->len += n;
		}
		s += n;
		while (*s == '/')
			s++;
	}
	p->buf[p->len] = '\0';
	return 0;
}

/* prefix_len - bytes of P's first K components ("a/b" for K = 2) */
static size_t prefix_len(const struct npath *p, unsigned k)
{
	return k == 0 ? 0 : (size_t)p->off[k - 1] + p->clen[k - 1];
}

/* ---- the stage ------------------------------------------------------------ */

static struct srec tomb_rec;
#define TOMB (&tomb_rec)

static size_t stage_hash(const unsigned char *key, size_t klen)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < klen; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 32));
}

/* stage_find - the slot holding KEY, or the first free one on its path */
static size_t stage_find(const struct stage *st, const unsigned char *key, size_t klen, int *found)
{
	size_t i = stage_hash(key, klen) & (st->cap - 1), free_at = SIZE_MAX;

	for (;; i = (i + 1) & (st->cap - 1)) {
		struct srec *r = st->slot[i];
		if (!r) {
			*found = 0;
			return free_at != SIZE_MAX ? free_at : i;
		}
		if (r == TOMB) {
			if (free_at == SIZE_MAX)
				free_at = i;
		} else if (r->klen == klen && !memcmp(r->data, key, klen)) {
			*found = 1;
			return i;
		}
	}
}

static int stage_grow(struct stage *st)
{
	struct stage g = { .cap = st->cap ? st->cap * 2 : 4096 };
	int found;

	while (st->live * 2 >= g.cap)
		g.cap *= 2;
	g.slot = calloc(g.cap, sizeof(*g.slot));
	if (!g.slot)
		return store_error(-ENOMEM, "out of memory");
	for (size_t i = 0; i < st->cap; i++) {
		struct srec *r = st->slot[i];
		if (r && r != TOMB)
			g.slot[stage_find(&g, r->data, r->klen, &found)] = r;
	}
	g.live = g.used = st->live;
	free(st->slot);
	*st = g;
	return 0;
}

/* stage_get - the value of KEY (editable in place); -ENOENT if none */
static int stage_get(struct stage *st, const unsigned char *key, size_t klen, unsigned char **val,
		     size_t *vlen)
{
	int found;
	size_t i;

	if (!st->cap)
		return -ENOENT;
	i = stage_find(st, key, klen, &found);
	if (!found)
		return -ENOENT;
	*val = st->slot[i]->data + klen;
	*vlen = st->slot[i]->vlen;
	return 0;
}

/* stage_put - set KEY to VLEN bytes, returned in *VAL to be filled */
static int stage_put(struct stage *st, const unsigned char *key, size_t klen, size_t vlen,
		     unsigned char **val)
{
	struct srec *r;
	int found, rc;
	size_t i;

	if ((st->used + 1) * 2 > st->cap && (rc = stage_grow(st)))
		return rc;
	r = malloc(sizeof(*r) + klen + vlen);
	if (!r)
		return store_error(-ENOMEM, "out of memory");
	r->klen = (uint16_t)klen;
	r->vlen = (uint32_t)vlen;
	memcpy(r->data, key, klen);
	i = stage_find(st, key, klen, &found);
	if (found) {
		free(st->slot[i]);
	} else {
		if (!st->slot[i])
			st->used++;
		st->live++;
	}
	st->slot[i] = r;
	*val = r->data + klen;
	return 0;
}

static void stage_del(struct stage *st, const unsigned char *key, size_t klen)
{
	int found;
	size_t i;

	if (!st->cap)
		return;
	i = stage_find(st, key, klen, &found);
	if (found) {
		free(st->slot[i]);
		st->slot[i] = TOMB;
		st->live--;
	}
}

static void stage_free(struct stage *st)
{
	for (size_t i = 0; i < st->cap; i++)
		if (st->slot[i] != TOMB)
			free(st->slot[i]);
	free(st->slot);
	memset(st, 0, sizeof(*st));
}

static int rec_cmp(const void *a, const void *b)
{
	const struct srec *x = *(struct srec *const *)a, *y = *(struct srec *const *)b;
	int c = memcmp(x->data, y->data, x->klen < y->klen ? x->klen : y->klen);

	return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/*
 * stage_write - write the staged records in key order.  The layer's id is
 * the newest, so its keys follow every key in the table: MDB_APPEND fills
 * pages one after another.  (If that ever fails, plain puts are used.)
 */
static int stage_write(struct ix *ix)
{
	struct stage *st = &ix->stage;
	struct srec **v = malloc((st->live ? st->live : 1) * sizeof(*v));
	unsigned flags = MDB_APPEND;
	size_t n = 0;
	int rc;

	if (!v)
		return store_error(-ENOMEM, "out of memory");
	for (size_t i = 0; i < st->cap; i++) {
		struct srec *r = st->slot[i];
		if (r && r != TOMB && r->data[8] != K_XATTR_NAMES)
			v[n++] = r;
	}
	qsort(v, n, sizeof(*v), rec_cmp);
	rc = store_ingest_pin(ix->in, STORE_PIN_LAYER, ix->lidkey, 8);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct store_txn *t;

		rc = store_ingest_txn(ix->in, &t);
		if (rc == 0)
			rc = store_put(t, TBL_OCI_FILES, v[i]->data, v[i]->klen,
				       v[i]->data + v[i]->klen, v[i]->vlen, flags);
		if (rc == -EEXIST && flags) {
			flags = 0;	/* not the newest id after all */
			rc = store_put(t, TBL_OCI_FILES, v[i]->data, v[i]->klen,
				       v[i]->data + v[i]->klen, v[i]->vlen, 0);
		}
		if (rc == 0)
			rc = store_ingest_step(ix->in, v[i]->klen + v[i]->vlen);
	}
	free(v);
	return rc;
}

/* ---- records ------------------------------------------------------------ */

static int entry_get(struct ix *ix, const unsigned char *dirhash, const char *name, size_t nlen,
		     struct oci_entry_rec *rec)
{
	unsigned char key[OCI_FILES_KEY_MAX], *val;
	size_t klen = oci_entry_key(key, ix->lid, dirhash, name, nlen), vlen;
	int rc = stage_get(&ix->stage, key, klen, &val, &vlen);

	if (rc)
		return rc;
	memcpy(rec, val, sizeof(*rec));
	return 0;
}

static int entry_put(struct ix *ix, const unsigned char *dirhash, const char *name, size_t nlen,
		     const struct oci_entry_rec *rec, const char *target)
{
	unsigned char key[OCI_FILES_KEY_MAX];
	size_t klen = oci_entry_key(key, ix->lid, dirhash, name, nlen);
	size_t tlen = target ? strlen(target) + 1 : 0;
	unsigned char *p;
	int rc = stage_put(&ix->stage, key, klen, sizeof(*rec) + tlen, &p);

	if (rc)
		return rc;
	memcpy(p, rec, sizeof(*rec));
	if (tlen)
		memcpy((char *)p + sizeof(*rec), target, tlen);
	return 0;
}

static int node_put(struct ix *ix, uint32_t node, uint32_t parent, uint32_t nlink,
		    const char *name, size_t nlen)
{
	unsigned char key[16], *val;
	struct oci_node_rec nr = { .parent = parent, .nlink = nlink };
	size_t klen = oci_node_key(key, ix->lid, node);
	int rc = stage_put(&ix->stage, key, klen, sizeof(nr) + nlen, &val);

	if (rc)
		return rc;
	memcpy(val, &nr, sizeof(nr));
	memcpy(val + sizeof(nr), name, nlen);
	return 0;
}

/* node_nlink_add - change the link count of hard-linked NODE by DELTA */
static int node_nlink_add(struct ix *ix, uint32_t node, int delta)
{
	unsigned char key[16], *val;
	struct oci_node_rec nr;
	size_t klen = oci_node_key(key, ix->lid, node), vlen;
	int rc = stage_get(&ix->stage, key, klen, &val, &vlen);

	if (rc || vlen < sizeof(nr))
		return rc ? store_error(-EIO, "layer %s: missing node record", ix->lname)
			  : store_error(-EIO, "layer %s: corrupt node record", ix->lname);
	memcpy(&nr, val, sizeof(nr));
	nr.nlink = (uint32_t)((int64_t)nr.nlink + delta);
	memcpy(val, &nr, sizeof(nr));
	return 0;
}

static int node_new(struct ix *ix, uint32_t parent, const char *name, size_t nlen, uint32_t *out)
{
	if (ix->next_node == UINT32_MAX)
		return store_error(-EFBIG, "layer %s: too many entries", ix->lname);
	*out = ix->next_node++;
	return node_put(ix, *out, parent, 1, name, nlen);
}

/* xattrs_check - validate the xattrs of E before anything is written */
static int xattrs_check(struct ix *ix, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	int n = archive_entry_xattr_reset(e);

	if (n > OCI_XATTRS_MAX)
		return store_error(-EFBIG, "layer %s: entry '%.300s' has %d xattrs, more than %d",
				   ix->lname, ix->cur, n, OCI_XATTRS_MAX);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		size_t nl = name ? strlen(name) : 0;
		if (nl == 0 || nl > OCI_XATTR_NAME_MAX || size > OCI_XATTR_VALUE_MAX)
			return store_error(-EFBIG,
					   "layer %s: entry '%.300s' has an xattr '%.60s' whose name or value (%zu bytes) is over the limit",
					   ix->lname, ix->cur, name ? name : "", size);
	}
	return n;
}

static int xattrs_put(struct ix *ix, struct archive_entry *e, uint32_t node)
{
	unsigned char key[13 + OCI_XATTR_NAME_MAX], *val;
	const char *name;
	const void *value;
	size_t size, names = 0;
	int rc;

	/* the values, and the list of their names (for xattrs_del) */
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		size_t nl = strlen(name);
		oci_node_key(key, ix->lid, node);
		key[8] = OCI_K_XATTR;
		memcpy(key + 13, name, nl);
		rc = stage_put(&ix->stage, key, 13 + nl, size, &val);
		if (rc)
			return rc;
		if (size)
			memcpy(val, value, size);
		names += nl + 1;
	}
	oci_node_key(key, ix->lid, node);
	key[8] = K_XATTR_NAMES;
	rc = stage_put(&ix->stage, key, 13, names, &val);
	archive_entry_xattr_reset(e);
	while (rc == 0 && archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		size_t nl = strlen(name) + 1;
		memcpy(val, name, nl);
		val += nl;
	}
	return rc;
}

static int xattrs_del(struct ix *ix, uint32_t node)
{
	unsigned char key[13 + OCI_XATTR_NAME_MAX], list[13], *names;
	size_t len;

	oci_node_key(list, ix->lid, node);
	list[8] = K_XATTR_NAMES;
	if (stage_get(&ix->stage, list, sizeof(list), &names, &len))
		return 0;
	memcpy(key, list, 13);
	key[8] = OCI_K_XATTR;
	for (size_t off = 0; off < len;) {
		size_t nl = strnlen((const char *)names + off, len - off);
		if (nl > OCI_XATTR_NAME_MAX)
			break;
		memcpy(key + 13, names + off, nl);
		stage_del(&ix->stage, key, 13 + nl);
		off += nl + 1;
	}
	stage_del(&ix->stage, list, sizeof(list));
	return 0;
}

static int type_clash(struct ix *ix)
{
	return store_error(-EBADMSG,
			   "layer %s: entry '%.300s' is a directory and a non-directory in the same layer",
			   ix->lname, ix->cur);
}

/*
 * put_entry - add NAME to the directory (DIRHASH, PARENT) with REC, merged
 * with what the layer already holds there (see the file comment).  REC's
 * node is 0 for a new node, or the node of a hard link's target.  E, if
 * not NULL, supplies xattrs.
 */
static int put_entry(struct ix *ix, const unsigned char *dirhash, uint32_t parent,
		     const char *name, size_t nlen, struct oci_entry_rec *rec, const char *target,
		     struct archive_entry *e)
{
	struct oci_entry_rec ex;
	int is_dir = S_ISDIR(rec->mode) && !(rec->flags & OCI_EF_WHITEOUT);
	int nx = e ? xattrs_check(ix, e) : 0;
	int rc;

	if (nx < 0)
		return nx;
	if (nx > 0)
		rec->flags |= OCI_EF_XATTRS;
	rc = entry_get(ix, dirhash, name, nlen, &ex);
	if (rc == -ENOENT) {
		if (rec->node == 0 && (rc = node_new(ix, parent, name, nlen, &rec->node)))
			return rc;
		goto write;
	}
	if (rc)
		return rc;
	if (rec->flags & OCI_EF_WHITEOUT) {
		if (!S_ISDIR(ex.mode) || (ex.flags & OCI_EF_WHITEOUT))
			return 0;	/* an entry of this layer beats its whiteout */
		ex.flags |= OCI_EF_OPAQUE;
		return entry_put(ix, dirhash, name, nlen, &ex, NULL);
	}
	if (ex.flags & OCI_EF_WHITEOUT) {
		if (rec->node == 0)
			rec->node = ex.node;
		if (is_dir)
			rec->flags |= OCI_EF_OPAQUE;
		goto write;
	}
	if (S_ISDIR(ex.mode) != is_dir)
		return type_clash(ix);
	if (is_dir) {
		rec->node = ex.node;
		rec->flags |= ex.flags & OCI_EF_OPAQUE;
		if ((ex.flags & OCI_EF_XATTRS) && (rc = xattrs_del(ix, ex.node)))
			return rc;
		goto write;
	}
	/* a non-directory listed again: the later one wins */
	if (rec->node == ex.node)
		return 0;
	if ((ex.flags & OCI_EF_HARDLINK) && (rc = node_nlink_add(ix, ex.node, -1)))
		return rc;
	if (rec->node == 0 && (rc = node_new(ix, parent, name, nlen, &rec->node)))
		return rc;
write:
	rc = entry_put(ix, dirhash, name, nlen, rec, target);
	if (rc == 0 && nx > 0)
		rc = xattrs_put(ix, e, rec->node);
	return rc;
}

static void implicit_dir(struct oci_entry_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->mode = S_IFDIR | 0755;
	rec->flags = OCI_EF_IMPLICIT;
}

/*
 * ensure_dir - make sure the directory of P's first K components exists in
 * the layer (made up if the tar has not named it yet).  Returns its
 * dirhash, its parent's dirhash and its node.
 */
static int ensure_dir(struct ix *ix, const struct npath *p, unsigned k, unsigned char *hash,
		      unsigned char *phash, uint32_t *node)
{
	size_t plen = prefix_len(p, k);
	unsigned char h[OCI_HASH_LEN], ph[OCI_HASH_LEN];
	uint32_t n = OCI_ROOT_NODE;
	int rc;

	if (ix->cache_ok && ix->cache_len == plen && !memcmp(ix->cache_path, p->buf, plen)) {
		memcpy(hash, ix->cache_hash, OCI_HASH_LEN);
		memcpy(phash, ix->cache_phash, OCI_HASH_LEN);
		*node = ix->cache_node;
		return 0;
	}
	memcpy(h, root_hash, OCI_HASH_LEN);
	memcpy(ph, root_hash, OCI_HASH_LEN);
	for (unsigned j = 0; j < k; j++) {
		const char *name = p->buf + p->off[j];
		size_t nlen = p->clen[j];
		struct oci_entry_rec rec;

		rc = entry_get(ix, h, name, nlen, &rec);
		if (rc && rc != -ENOENT)
			return rc;
		if (rc == -ENOENT || (rec.flags & OCI_EF_WHITEOUT)) {
			uint32_t wnode = rc == -ENOENT ? 0 : rec.node;
			int was_whiteout = rc == 0;

			implicit_dir(&rec);
			if (was_whiteout)
				rec.flags |= OCI_EF_OPAQUE;
			rec.node = wnode;
			if (!wnode && (rc = node_new(ix, n, name, nlen, &rec.node)))
				return rc;
			rc = entry_put(ix, h, name, nlen, &rec, NULL);
			if (rc)
				return rc;
		} else if (!S_ISDIR(rec.mode)) {
			return store_error(-EBADMSG,
					   "layer %s: entry '%.300s' is below '%.*s', which is not a directory in this layer",
					   ix->lname, ix->cur, (int)prefix_len(p, j + 1), p->buf);
		}
		memcpy(ph, h, OCI_HASH_LEN);
		oci_dirhash(h, ph, name, nlen);
		n = rec.node;
	}
	memcpy(hash, h, OCI_HASH_LEN);
	memcpy(phash, ph, OCI_HASH_LEN);
	*node = n;
	ix->cache_ok = 1;
	ix->cache_len = plen;
	memcpy(ix->cache_path, p->buf, plen);
	memcpy(ix->cache_hash, h, OCI_HASH_LEN);
	memcpy(ix->cache_phash, ph, OCI_HASH_LEN);
	ix->cache_node = n;
	return 0;
}

/* ---- file contents ------------------------------------------------------ */

static int data_error(struct ix *ix)
{
	if (ix->outer_failed)
		return store_error(-EBADMSG,
				   "layer %s: the compressed stream is truncated or corrupt at entry '%.300s' (%s)",
				   ix->lname, ix->cur, ix->outer_err);
	return store_error(-EBADMSG, "layer %s: cannot read entry '%.300s': %s", ix->lname, ix->cur,
			   archive_error_string(ix->inner) ? archive_error_string(ix->inner)
							   : "truncated tar");
}

/*
 * read_exact - the next LEN bytes of the current entry's content.  Read by
 * blocks (archive_read_data_block), so a sparse entry (GNU or PAX) comes
 * with its holes, which are given as zeros (and so stored as empty
 * chunks: the holes stay holes); its trailing hole too, which libarchive's
 * archive_read_data would cut short.  A plain entry that ends early is a
 * truncated tar.
 */
static int read_exact(struct ix *ix, char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t n;

		if (!ix->blk_n && !ix->blk_eof) {
			const void *b;
			la_int64_t off;
			int r = archive_read_data_block(ix->inner, &b, &n, &off);

			if (r == ARCHIVE_EOF && ix->sparse) {
				ix->blk_eof = 1;
				continue;
			}
			if ((r != ARCHIVE_OK && r != ARCHIVE_WARN) || off < 0 ||
			    (uint64_t)off < ix->pos)
				return data_error(ix);
			ix->blk = b;
			ix->blk_n = n;
			ix->blk_off = (uint64_t)off;
			continue;
		}
		if (ix->blk_eof || ix->pos < ix->blk_off) {	/* a hole */
			n = len - done;
			if (!ix->blk_eof && ix->blk_off - ix->pos < n)
				n = (size_t)(ix->blk_off - ix->pos);
			memset(buf + done, 0, n);
		} else {
			n = len - done < ix->blk_n ? len - done : ix->blk_n;
			memcpy(buf + done, ix->blk, n);
			ix->blk += n;
			ix->blk_n -= n;
			ix->blk_off += n;
		}
		done += n;
		ix->pos += n;
	}
	return 0;
}

/* is_zero - are all N bytes at P zero? */
static int is_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* drop_chunks - delete the chunks of OWNER, a few per transaction */
static int drop_chunks(struct ix *ix, uint64_t owner)
{
	unsigned char key[16];
	int rc = 0;

	for (uint64_t idx = 0;; idx++) {
		struct store_txn *t;

		store_be64_put(key, owner);
		store_be64_put(key + 8, idx);
		rc = store_ingest_txn(ix->in, &t);
		if (rc == 0)
			rc = store_del(t, TBL_CHUNKS, key, sizeof(key));
		if (rc == -ENOENT)
			return 0;
		if (rc == 0 && idx % 64 == 63)
			rc = store_ingest_flush(ix->in);
		if (rc)
			return rc;
	}
}

/*
 * chunked_file - stream a large entry into chunks of a fresh owner,
 * hashing it on the way, then record them as the blob it hashes to (or
 * drop them if that blob is stored already).  Memory: CHUNK_BATCH chunks
 * (1 MiB), read and hashed with no transaction open when another session
 * of the process waits to write (store_ingest_pause), then written
 * together: a pull's threads decompress and hash side by side instead of
 * one waiting for the other's transaction.
 */
static int chunked_file(struct ix *ix, uint64_t size, git_oid *id)
{
	struct store_hasher *h = NULL;
	unsigned char key[16];
	struct store_txn *t;
	uint64_t owner, done = 0;
	int rc = store_ingest_txn(ix->in, &t);

	if (rc == 0)
		rc = store_next_id(t, "ingest_owner", &owner);
	if (rc)
		return rc;
	owner |= STORE_OWNER_INGEST;
	store_be64_put(key, owner);
	rc = store_ingest_pin(ix->in, STORE_PIN_CHUNKS, key, 8);
	if (rc == 0 && ix->fcap < CHUNK_BATCH * STORE_WT_CHUNK) {
		char *nb = realloc(ix->fbuf, CHUNK_BATCH * STORE_WT_CHUNK);
		if (nb) {
			ix->fbuf = nb;
			ix->fcap = CHUNK_BATCH * STORE_WT_CHUNK;
		} else {
			rc = store_error(-ENOMEM, "out of memory");
		}
	}
	if (rc == 0)
		rc = store_hasher_new(&h, GIT_OBJECT_BLOB, size);
	for (uint64_t idx = 0; rc == 0 && done < size;) {
		size_t fill = 0;

		rc = store_ingest_pause(ix->in);
		while (rc == 0 && fill < CHUNK_BATCH * STORE_WT_CHUNK && done + fill < size) {
			size_t n = size - done - fill < STORE_WT_CHUNK ? (size_t)(size - done - fill)
								    : STORE_WT_CHUNK;
			rc = read_exact(ix, ix->fbuf + fill, n);
			if (rc == 0)
				store_hasher_update(h, ix->fbuf + fill, n);
			fill += n;
		}
		for (size_t off = 0; rc == 0 && off < fill; idx++) {
			size_t n = fill - off < STORE_WT_CHUNK ? fill - off : STORE_WT_CHUNK;
			int zero = is_zero(ix->fbuf + off, n);

			store_be64_put(key + 8, idx);
			rc = store_ingest_txn(ix->in, &t);
			if (rc == 0)
				rc = store_put(t, TBL_CHUNKS, key, sizeof(key), ix->fbuf + off,
					       zero ? 0 : n, 0);
			if (rc == 0)
				rc = store_ingest_step(ix->in, zero ? 16 : n);
			off += n;
		}
		done += fill;
	}
	if (h)
		store_hasher_final(h, id);	/* frees h, even after an error */
	if (rc)
		return rc;
	rc = store_ingest_txn(ix->in, &t);
	if (rc == 0)
		rc = store_object_put_chunked(t, id, owner, size);
	if (rc == -EEXIST) {
		/* stored already: keep that one, drop these */
		rc = store_object_adopt(t, id);
		if (rc == 0)
			rc = store_ingest_pin_object(ix->in, id);
		return rc ? rc : drop_chunks(ix, owner);
	}
	return rc ? rc : store_ingest_pin_object(ix->in, id);
}

static int file_content(struct ix *ix, uint64_t size, git_oid *id)
{
	struct store_txn *t;
	int rc;

	if (size > STORE_OBJECT_MAX)
		return store_error(-EFBIG, "layer %s: file '%.300s' is larger than the store allows",
				   ix->lname, ix->cur);
	if (size >= STORE_BLOB_CHUNKED_MIN)
		return chunked_file(ix, size, id);
	if (size > ix->fcap) {
		char *nb = realloc(ix->fbuf, (size_t)size);
		if (!nb)
			return store_error(-ENOMEM, "out of memory");
		ix->fbuf = nb;
		ix->fcap = (size_t)size;
	}
	/* read and hashed outside the transaction when another session
	 * waits to write (store_ingest_pause) */
	rc = store_ingest_pause(ix->in);
	if (rc == 0)
		rc = read_exact(ix, ix->fbuf, (size_t)size);
	if (rc == 0)
		rc = store_object_hash(id, GIT_OBJECT_BLOB, ix->fbuf, (size_t)size);
	if (rc == 0)
		rc = store_ingest_txn(ix->in, &t);
	if (rc == 0) {
		void *p;

		rc = store_object_reserve(t, id, GIT_OBJECT_BLOB, (size_t)size, &p);
		if (rc == 0 && size)
			memcpy(p, ix->fbuf, (size_t)size);
		if (rc == -EEXIST)
			rc = 0;
	}
	if (rc == 0)
		rc = store_ingest_pin_object(ix->in, id);
	return rc ? rc : store_ingest_step(ix->in, (size_t)size);
}

/* ---- entries ------------------------------------------------------------ */

/* symlink_escapes - does TARGET, relative to a directory DEPTH deep, climb out? */
static int symlink_escapes(const char *target, unsigned depth)
{
	long d = depth;
	const char *s = target;

	if (target[0] == '/')
		return 0;	/* absolute: resolved inside the container's root */
	while (*s) {
		const char *end = strchr(s, '/');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (--d < 0)
				return 1;
		} else if (n > 0 && !(n == 1 && s[0] == '.')) {
			d++;
		}
		s += n;
		while (*s == '/')
			s++;
	}
	return 0;
}

static int add_hardlink(struct ix *ix, const unsigned char *dirhash, uint32_t parent,
			const char *name, size_t nlen, const char *linkname)
{
	struct oci_entry_rec tr, rec;
	unsigned char th[OCI_HASH_LEN], tph[OCI_HASH_LEN];
	const char *tname;
	size_t tnlen;
	unsigned char key[OCI_FILES_KEY_MAX];
	const char *target = NULL;
	int rc = norm_path(ix, linkname, &ix->link, "the target of hard link");

	if (rc)
		return -EPERM;	/* norm_path named the link target */
	if (ix->link.n == 0)
		goto missing;
	if (ix->link.len == ix->path.len && !memcmp(ix->link.buf, ix->path.buf, ix->path.len))
		return 0;	/* a link to itself: nothing to add */
	/* the target's directory must exist already: never create it */
	memcpy(th, root_hash, OCI_HASH_LEN);
	for (unsigned j = 0; j + 1 < ix->link.n; j++) {
		rc = entry_get(ix, th, ix->link.buf + ix->link.off[j], ix->link.clen[j], &tr);
		if (rc == -ENOENT || (rc == 0 && (!S_ISDIR(tr.mode) || (tr.flags & OCI_EF_WHITEOUT))))
			goto missing;
		if (rc)
			return rc;
		memcpy(tph, th, OCI_HASH_LEN);
		oci_dirhash(th, tph, ix->link.buf + ix->link.off[j], ix->link.clen[j]);
	}
	tname = ix->link.buf + ix->link.off[ix->link.n - 1];
	tnlen = ix->link.clen[ix->link.n - 1];
	rc = entry_get(ix, th, tname, tnlen, &tr);
	if (rc == -ENOENT || (rc == 0 && (S_ISDIR(tr.mode) || (tr.flags & OCI_EF_WHITEOUT))))
		goto missing;
	if (rc)
		return rc;
	if (S_ISLNK(tr.mode)) {
		size_t klen = oci_entry_key(key, ix->lid, th, tname, tnlen), vlen;
		unsigned char *val;
		if ((rc = stage_get(&ix->stage, key, klen, &val, &vlen)))
			return rc;
		target = strndup((const char *)val + sizeof(tr), vlen - sizeof(tr));
		if (!target)
			return store_error(-ENOMEM, "out of memory");
	}
	if (!(tr.flags & OCI_EF_HARDLINK)) {
		tr.flags |= OCI_EF_HARDLINK;
		rc = entry_put(ix, th, tname, tnlen, &tr, target);
		if (rc)
			goto out;
	}
	rec = tr;
	rc = node_nlink_add(ix, tr.node, 1);
	if (rc == 0)
		rc = put_entry(ix, dirhash, parent, name, nlen, &rec, target, NULL);
out:
	free((char *)target);
	return rc;
missing:
	return store_error(-EPERM,
			   "layer %s: hard link '%.300s' points to '%.300s', which is not a file earlier in the same layer",
			   ix->lname, ix->cur, linkname);
}

static int add_entry(struct ix *ix, struct archive_entry *e)
{
	struct npath *p = &ix->path;
	unsigned char h[OCI_HASH_LEN], ph[OCI_HASH_LEN];
	struct oci_entry_rec rec;
	const char *name, *target = NULL, *hl;
	size_t nlen;
	uint32_t parent = 0;
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	mode_t type = archive_entry_filetype(e);
	int rc;

	if (++ix->entries > ix->max_entries)
		return store_error(-EFBIG,
				   "layer %s: more than %llu entries, the limit (" LIMIT_LAYER_ENTRIES_ENV
				   ", --max-layer-entries); refused as a possible decompression bomb",
				   ix->lname, (unsigned long long)ix->max_entries);
	rc = norm_path(ix, ix->cur, p, "entry");
	if (rc)
		return rc;
	if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
		return store_error(-EBADMSG, "layer %s: entry '%.300s' has an invalid owner", ix->lname,
				   ix->cur);
	memset(&rec, 0, sizeof(rec));
	rec.uid = (uint32_t)uid;
	rec.gid = (uint32_t)gid;
	if (store_time_ns(&rec.mtime_ns, (int64_t)archive_entry_mtime(e),
			  archive_entry_mtime_nsec(e)))
		return store_error(-EOVERFLOW,
				   "layer %s: entry '%.300s' has a time outside the years 1677 to 2262",
				   ix->lname, ix->cur);
	rec.mode = (uint32_t)(archive_entry_perm(e) & 07777);

	if (p->n == 0) {		/* "." or "./": the root's attributes */
		if (type != AE_IFDIR || archive_entry_hardlink(e))
			return store_error(-EBADMSG, "layer %s: the root '%.300s' is not a directory",
					   ix->lname, ix->cur);
		rec.mode |= S_IFDIR;
		return put_entry(ix, root_hash, 0, "", 0, &rec, NULL, e);
	}
	name = p->buf + p->off[p->n - 1];
	nlen = p->clen[p->n - 1];
	rc = ensure_dir(ix, p, p->n - 1, h, ph, &parent);
	if (rc)
		return rc;

	if (nlen >= 4 && !memcmp(name, ".wh.", 4)) {
		if (nlen == 12 && !memcmp(name, ".wh..wh..opq", 12)) {
			/* the directory holding the marker is opaque */
			const char *dname = p->n >= 2 ? p->buf + p->off[p->n - 2] : "";
			size_t dlen = p->n >= 2 ? p->clen[p->n - 2] : 0;
			if ((rc = entry_get(ix, ph, dname, dlen, &rec)))
				return rc;
			rec.flags |= OCI_EF_OPAQUE;
			return entry_put(ix, ph, dname, dlen, &rec, NULL);
		}
		if (nlen >= 8 && !memcmp(name, ".wh..wh.", 8))
			return 0;	/* aufs bookkeeping: not part of the tree */
		name += 4;
		nlen -= 4;
		if ((nlen == 1 && name[0] == '.') || (nlen == 2 && !memcmp(name, "..", 2)))
			return store_error(-EPERM, "layer %s: whiteout '%.300s' names '.' or '..'",
					   ix->lname, ix->cur);
		memset(&rec, 0, sizeof(rec));
		rec.flags = OCI_EF_WHITEOUT;
		return put_entry(ix, h, parent, name, nlen, &rec, NULL, NULL);
	}

	hl = archive_entry_hardlink(e);
	if (hl)
		return add_hardlink(ix, h, parent, name, nlen, hl);

	switch (type) {
	case AE_IFREG: {
		git_oid id;
		la_int64_t size = archive_entry_size(e);
		if (size < 0)
			return store_error(-EBADMSG, "layer %s: file '%.300s' has a negative size",
					   ix->lname, ix->cur);
		ix->blk_n = 0;
		ix->blk_eof = 0;
		ix->pos = 0;
		ix->sparse = archive_entry_sparse_count(e) > 0;
		rc = file_content(ix, (uint64_t)size, &id);
		if (rc)
			return rc;
		memcpy(rec.blob, id.id, 20);
		rec.size = (uint64_t)size;
		rec.mode |= S_IFREG;
		break;
	}
	case AE_IFDIR:
		rec.mode |= S_IFDIR;
		break;
	case AE_IFLNK:
		target = archive_entry_symlink(e);
		if (!target || !*target || strlen(target) > OCI_SYMLINK_MAX)
			return store_error(-EBADMSG, "layer %s: symlink '%.300s' has an empty or too long target",
					   ix->lname, ix->cur);
		if (symlink_escapes(target, p->n - 1))
			return store_error(-EPERM,
					   "layer %s: symlink '%.300s' -> '%.300s' points outside the layer's root",
					   ix->lname, ix->cur, target);
		rec.size = strlen(target);
		rec.mode |= S_IFLNK;
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		rec.rdev = (uint64_t)archive_entry_rdev(e);
		rec.mode |= type == AE_IFCHR ? S_IFCHR : S_IFBLK;
		break;
	case AE_IFIFO:
		rec.mode |= S_IFIFO;
		break;
	default:
		return store_error(-EBADMSG, "layer %s: entry '%.300s' has a file type (0%o) layers cannot hold",
				   ix->lname, ix->cur, (unsigned)type);
	}
	return put_entry(ix, h, parent, name, nlen, &rec, target, e);
}

/* ---- the two readers ---------------------------------------------------- */

/* tail_keep - remember the last TAIL_SIZE bytes of the tar stream */
static void tail_keep(struct ix *ix, const char *p, size_t n)
{
	if (n >= TAIL_SIZE) {
		memcpy(ix->tail, p + n - TAIL_SIZE, TAIL_SIZE);
		ix->tail_len = TAIL_SIZE;
		return;
	}
	if (ix->tail_len + n > TAIL_SIZE) {
		size_t drop = ix->tail_len + n - TAIL_SIZE;

		memmove(ix->tail, ix->tail + drop, ix->tail_len - drop);
		ix->tail_len -= drop;
	}
	memcpy(ix->tail + ix->tail_len, p, n);
	ix->tail_len += n;
}

static la_ssize_t inner_read(struct archive *a, void *arg, const void **buf)
{
	struct ix *ix = arg;
	la_ssize_t n = archive_read_data(ix->outer, ix->ubuf, UBUF_SIZE);

	if (n < 0) {
		ix->outer_failed = 1;
		snprintf(ix->outer_err, sizeof(ix->outer_err), "%s",
			 archive_error_string(ix->outer) ? archive_error_string(ix->outer)
							 : "read error");
		archive_set_error(a, EIO, "%s", ix->outer_err);
		return -1;
	}
	EVP_DigestUpdate(ix->diff, ix->ubuf, (size_t)n);
	ix->usize += (uint64_t)n;
	if (ix->usize > ix->max_bytes) {
		ix->over_limit = ix->outer_failed = 1;
		snprintf(ix->outer_err, sizeof(ix->outer_err), "over the size limit");
		archive_set_error(a, EFBIG, "%s", ix->outer_err);
		return -1;
	}
	tail_keep(ix, ix->ubuf, (size_t)n);
	*buf = ix->ubuf;
	return n;
}

/* drain - hash whatever follows the tar's end marker */
static int drain(struct ix *ix)
{
	const void *buf;

	for (;;) {
		la_ssize_t n = inner_read(ix->inner, ix, &buf);
		if (n < 0)
			return store_error(-EBADMSG, "layer %s: the compressed stream is truncated or corrupt (%s)",
					   ix->lname, ix->outer_err);
		if (n == 0)
			return 0;
	}
}

/*
 * cut_after_data - does the tar merely end early, after its last entry's
 * data?  umoci insert (0.4.7) ends a layer right after the last file's
 * data, without padding or end-of-archive blocks; Go's tar reader, and so
 * the runtimes, accept that, and so do we.  But only if every byte after
 * that data is zero (padding, a zero block): a partial header there is a
 * truncated layer, and accepting it would lose the entry silently.
 */
static int cut_after_data(struct ix *ix)
{
	uint64_t left;

	if (ix->outer_failed || drain(ix) || ix->usize < ix->data_end)
		return 0;
	left = ix->usize - ix->data_end;
	if (left >= TAIL_SIZE || left > ix->tail_len)
		return 0;
	for (size_t i = ix->tail_len - (size_t)left; i < ix->tail_len; i++)
		if (ix->tail[i])
			return 0;
	return 1;
}

static int read_entries(struct ix *ix)
{
	struct archive_entry *e;
	char prev[320] = "";
	la_int64_t start;
	int rc;

	for (;;) {
		rc = archive_read_next_header(ix->inner, &e);
		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
			if (prev[0] && cut_after_data(ix))
				return 0;
			if (ix->outer_failed)
				return store_error(-EBADMSG,
						   "layer %s: the compressed stream is truncated or corrupt after entry '%s' (%s)",
						   ix->lname, prev, ix->outer_err);
			return store_error(-EBADMSG,
					   "layer %s: the tar archive is truncated or damaged %s%s%s (%s)",
					   ix->lname, prev[0] ? "after entry '" : "at its start", prev,
					   prev[0] ? "'" : "",
					   archive_error_string(ix->inner) ? archive_error_string(ix->inner)
									   : "unknown error");
		}
		ix->cur = archive_entry_pathname(e);
		if (!ix->cur)
			return store_error(-EBADMSG, "layer %s: an entry after '%s' has no readable path",
					   ix->lname, prev);
		/* the header is consumed: the entry's data starts here */
		start = archive_filter_bytes(ix->inner, 0);
		rc = add_entry(ix, e);
		if (rc)
			return rc;
		snprintf(prev, sizeof(prev), "%.300s", ix->cur);
		ix->data_end = (uint64_t)start;
		if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) &&
		    archive_entry_size(e) > 0)
			ix->data_end += (uint64_t)archive_entry_size(e);
	}
}

/*
 * write_layer - the layer's records, then its layer record, unless another
 * session indexed the same layer meanwhile: then that index stays and
 * ours is garbage for gc (unpinned with the session).
 */
static int write_layer(struct ix *ix, const struct oci_digest *diff)
{
	struct oci_layer_rec rec, have;
	struct store_txn *t;
	unsigned char key[9];
	/* an empty blob is an empty layer, read by no libarchive reader */
	int code = ix->outer ? archive_filter_code(ix->outer, 0) : ARCHIVE_FILTER_NONE;
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.lid = ix->lid;
	memcpy(rec.diff_id, diff->sha256, 32);
	rec.size = ix->bs.size;
	rec.usize = ix->usize;
	rec.entries = ix->entries;
	rec.nodes = ix->next_node - 1;
	rec.compression = code == ARCHIVE_FILTER_GZIP   ? OCI_COMP_GZIP
			  : code == ARCHIVE_FILTER_ZSTD ? OCI_COMP_ZSTD
							: OCI_COMP_NONE;
	rc = stage_write(ix);
	if (rc == 0)
		rc = store_ingest_txn(ix->in, &t);
	if (rc)
		return rc;
	rc = oci_layer_rec_get(t, ix->layer, &have);
	if (rc == 0)
		return 0;
	if (rc != -ENOENT)
		return rc;
	rc = store_put(t, TBL_OCI_LAYERS, ix->layer->sha256, 32, &rec, sizeof(rec), 0);
	if (rc)
		return rc;
	key[0] = 'L';
	store_be64_put(key + 1, ix->lid);
	rc = store_put(t, TBL_OCI_META, key, sizeof(key), ix->layer->sha256, 32, 0);
	return rc ? rc : store_ingest_flush(ix->in);
}

static int index_layer(struct ix *ix, const struct oci_digest *diff_id)
{
	struct oci_entry_rec root;
	struct oci_digest diff;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc;

	{
		struct store_txn *t;

		rc = store_ingest_txn(ix->in, &t);
		if (rc == 0)
			rc = store_next_id(t, "oci_layer", &ix->lid);
		if (rc)
			return rc;
		store_be64_put(ix->lidkey, ix->lid);
	}
	if (ix->lid > OCI_LID_MAX)
		return store_error(-EOVERFLOW, "the store has used up its layer ids");
	ix->next_node = OCI_ROOT_NODE;
	implicit_dir(&root);
	root.node = OCI_ROOT_NODE;
	ix->next_node++;
	rc = node_put(ix, OCI_ROOT_NODE, 0, 1, "", 0);
	if (rc == 0)
		rc = entry_put(ix, root_hash, "", 0, &root, NULL);
	if (rc)
		return rc;

	{
		char what[OCI_DIGEST_STRLEN + 8];
		snprintf(what, sizeof(what), "layer %s", ix->lname);
		rc = oci_blob_stream_open(&ix->outer, &ix->bs, what);
	}
	if (rc == -ENODATA) {		/* an empty blob: an empty layer */
		rc = 0;
		goto done;
	}
	if (rc)
		return rc;
	ix->inner = archive_read_new();
	if (!ix->inner)
		return store_error(-ENOMEM, "out of memory");
	archive_read_support_format_tar(ix->inner);
	archive_read_support_format_empty(ix->inner);
	if (archive_read_open(ix->inner, ix, NULL, inner_read, NULL) != ARCHIVE_OK) {
		if (ix->outer_failed)
			return store_error(-EBADMSG, "layer %s: the compressed stream is corrupt (%s)",
					   ix->lname, ix->outer_err);
		return store_error(-EBADMSG, "layer %s is not a tar archive (%s)", ix->lname,
				   archive_error_string(ix->inner) ? archive_error_string(ix->inner)
								   : "unknown format");
	}
	rc = read_entries(ix);
	if (rc == 0)
		rc = drain(ix);
	if (rc && ix->over_limit)
		return store_error(-EFBIG,
				   "layer %s: its uncompressed content is larger than the limit of %llu bytes ("
				   LIMIT_LAYER_BYTES_ENV ", --max-layer-bytes); refused as a possible decompression bomb",
				   ix->lname, (unsigned long long)ix->max_bytes);
	if (rc)
		return rc;
done:
	EVP_DigestFinal_ex(ix->diff, md, &mdlen);
	memcpy(diff.sha256, md, 32);
	if (diff_id && memcmp(diff_id, &diff, sizeof(diff))) {
		char w[OCI_DIGEST_STRLEN + 1], g[OCI_DIGEST_STRLEN + 1];
		return store_error(-EBADMSG,
				   "layer %s: its uncompressed content hashes to %s, but the image config says diff_id %s",
				   ix->lname, oci_digest_fmt(g, &diff), oci_digest_fmt(w, diff_id));
	}
	return write_layer(ix, &diff);
}

int oci_layer_index(struct store_ingest *in, const struct oci_digest *layer,
		    const struct oci_digest *diff_id)
{
	struct oci_layer_rec have;
	struct store_txn *t;
	struct ix *ix;
	int rc = store_ingest_txn(in, &t);

	if (rc == 0)
		rc = oci_layer_rec_get(t, layer, &have);
	if (rc == 0) {
		if (diff_id && memcmp(have.diff_id, diff_id->sha256, 32)) {
			char w[OCI_DIGEST_STRLEN + 1], l[OCI_DIGEST_STRLEN + 1];
			return store_error(-EBADMSG,
					   "layer %s: the image config says diff_id %s, which is not this layer's",
					   oci_digest_fmt(l, layer), oci_digest_fmt(w, diff_id));
		}
		/* indexed already: the session's pin of its blob keeps it */
		return store_ingest_pin(in, STORE_PIN_BLOB, layer->sha256, 32);
	}
	if (rc != -ENOENT)
		return rc;
	rc = store_ingest_pin(in, STORE_PIN_BLOB, layer->sha256, 32);
	if (rc)
		return rc;
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return store_error(-ENOMEM, "out of memory");
	ix->in = in;
	ix->layer = layer;
	ix->max_bytes = util_limit(LIMIT_LAYER_BYTES_ENV, LIMIT_LAYER_BYTES);
	ix->max_entries = util_limit(LIMIT_LAYER_ENTRIES_ENV, LIMIT_LAYER_ENTRIES);
	if (ix->max_entries > OCI_LAYER_ENTRIES_MAX)
		ix->max_entries = OCI_LAYER_ENTRIES_MAX;
	oci_digest_fmt(ix->lname, layer);
	ix->cur = "";
	ix->ubuf = malloc(UBUF_SIZE);
	ix->fbuf = malloc(UBUF_SIZE);
	ix->fcap = UBUF_SIZE;
	ix->diff = EVP_MD_CTX_new();
	if (!ix->ubuf || !ix->fbuf || !ix->diff || !EVP_DigestInit_ex(ix->diff, EVP_sha256(), NULL)) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	rc = store_ingest_flush(in);	/* the layer is read outside it */
	if (rc == 0)
		rc = oci_blob_stream_init(&ix->bs, store_ingest_store(in), layer);
	if (rc == -ENOENT) {
		rc = store_error(-ENOENT, "layer %s: its blob is not in the store", ix->lname);
		goto out;
	}
	if (rc == 0)
		rc = index_layer(ix, diff_id);
out:
	if (ix->inner)
		archive_read_free(ix->inner);
	if (ix->outer)
		archive_read_free(ix->outer);
	oci_blob_stream_release(&ix->bs);
	stage_free(&ix->stage);
	EVP_MD_CTX_free(ix->diff);
	free(ix->ubuf);
	free(ix->fbuf);
	free(ix);
	return rc;
}
