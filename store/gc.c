/*
 * gc.c - mark and sweep over the whole store (gc.h).
 *
 * Mark: sets of the git object ids and OCI digests reached from the roots;
 * git objects are walked with an explicit stack (histories are deep), and
 * blobs named by layer entries or working-tree files are marked without
 * being read.  Sweep: one pass over each table, deleting what is unmarked
 * (collected first, deleted after, so no cursor walks a table it edits).
 *
 * Memory: one set slot per reachable object and digest (~24 bytes each at
 * half load), plus the ids to delete.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <git2.h>
#include <jansson.h>

#include "store/gc.h"
#include "store/ingest.h"
#include "store/object.h"
#include "store/oci_int.h"
#include "store/repo.h"
#include "store/worktree.h"

#define GITLINK_MODE 0160000
#define TREE_MODE 040000

/* A set of fixed-size keys (20-byte ids, 32-byte digests); all-zero is "empty". */
struct keyset {
	unsigned char *slots;
	size_t ksize, cap, n;
};

static int key_zero(const unsigned char *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (k[i])
			return 0;
	return 1;
}

static size_t key_hash(const unsigned char *k)
{
	size_t v;

	memcpy(&v, k, sizeof(v));	/* hash output: uniform already */
	return v;
}

static int keyset_has(const struct keyset *s, const void *key)
{
	if (!s->cap)
		return 0;
	for (size_t i = key_hash(key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		unsigned char *slot = s->slots + i * s->ksize;
		if (!memcmp(slot, key, s->ksize))
			return 1;
		if (key_zero(slot, s->ksize))
			return 0;
	}
}

/* keyset_add - 1 if added, 0 if present (or all-zero), -ENOMEM */
static int keyset_add(struct keyset *s, const void *key)
{
	size_t i;

	if (key_zero(key, s->ksize))
		return 0;
	if (2 * (s->n + 1) > s->cap) {
		struct keyset g = { NULL, s->ksize, s->cap ? s->cap * 2 : 1024, 0 };
		g.slots = calloc(g.cap, g.ksize);
		if (!g.slots)
			return store_error(-ENOMEM, "out of memory");
		for (size_t j = 0; j < s->cap; j++)
			if (!key_zero(s->slots + j * s->ksize, s->ksize))
				keyset_add(&g, s->slots + j * s->ksize);
		free(s->slots);
		*s = g;
	}
	for (i = key_hash(key) & (s->cap - 1); !key_zero(s->slots + i * s->ksize, s->ksize);
	     i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->slots + i * s->ksize, key, s->ksize))
			return 0;
	memcpy(s->slots + i * s->ksize, key, s->ksize);
	s->n++;
	return 1;
}

struct gc {
	struct store_txn *t;
	struct keyset objects;	/* git ids reached */
	struct keyset digests;	/* OCI digests reached */
	struct keyset lids;	/* be64 layer ids pinned by live sessions */
	struct keyset owners;	/* be64 chunk owners in use (ingest ones) */
	int ingest_chunks;	/* the chunks table holds ingest owners */
	git_oid *stack;		/* git objects to visit */
	size_t nstack, capstack;
};

/* ---- git objects -------------------------------------------------------- */

static int push(struct gc *g, const git_oid *id)
{
	int rc = keyset_add(&g->objects, id->id);

	if (rc <= 0)
		return rc;
	if (g->nstack == g->capstack) {
		size_t nc = g->capstack ? g->capstack * 2 : 256;
		git_oid *ns = realloc(g->stack, nc * sizeof(*ns));
		if (!ns)
			return store_error(-ENOMEM, "out of memory");
		g->stack = ns;
		g->capstack = nc;
	}
	g->stack[g->nstack++] = *id;
	return 0;
}

/* push_hex - push the object named by the 40 hex digits at P */
static int push_hex(struct gc *g, const char *p, size_t len)
{
	git_oid id;

	if (len < GIT_OID_HEXSZ || git_oid_fromstrn(&id, p, GIT_OID_HEXSZ))
		return 0;	/* not an id: nothing to keep */
	return push(g, &id);
}

/* header_ids - push the ids on "tree ", "parent ", "object " header lines */
static int header_ids(struct gc *g, const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	int rc = 0;

	while (p < end && *p != '\n' && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (l > 5 && !memcmp(p, "tree ", 5))
			rc = push_hex(g, p + 5, l - 5);
		else if (l > 7 && !memcmp(p, "parent ", 7))
			rc = push_hex(g, p + 7, l - 7);
		else if (l > 7 && !memcmp(p, "object ", 7))
			rc = push_hex(g, p + 7, l - 7);
		p += l + 1;
	}
	return rc;
}

static int walk(struct gc *g)
{
	while (g->nstack) {
		git_oid id = g->stack[--g->nstack];
		git_object_t type;
		const void *body;
		size_t len, pos = 0;
		struct store_tree_entry e;
		int rc = store_object_read(g->t, &id, &type, &body, &len);

		if (rc == -ENOENT)
			continue;	/* missing: fsck's business */
		if (rc == -E2BIG)
			continue;	/* a chunked blob: it names nothing */
		if (rc)
			return rc;
		switch (type) {
		case GIT_OBJECT_COMMIT:
		case GIT_OBJECT_TAG:
			rc = header_ids(g, body, len);
			break;
		case GIT_OBJECT_TREE:
			while ((rc = store_tree_next(body, len, &pos, &e)) == 1) {
				if (e.mode == GITLINK_MODE)
					continue;	/* a commit of another repository */
				if (e.mode == TREE_MODE)
					rc = push(g, e.id);
				else
					rc = keyset_add(&g->objects, e.id->id);
				if (rc < 0)
					break;
			}
			break;
		default:
			break;
		}
		if (rc < 0) {
			char hex[GIT_OID_HEXSZ + 1];
			return store_error(rc, "gc: object %s: %s; run govc fsck, nothing was removed",
					   git_oid_tostr(hex, sizeof(hex), &id), store_errmsg());
		}
	}
	return 0;
}

struct repo_walk {
	struct gc *g;
	const char *repo;
};

static int reflog_line(const char *line, size_t len, void *arg)
{
	struct gc *g = arg;
	int rc = push_hex(g, line, len);

	if (rc == 0 && len > GIT_OID_HEXSZ + 1)
		rc = push_hex(g, line + GIT_OID_HEXSZ + 1, len - GIT_OID_HEXSZ - 1);
	return rc;
}

static int mark_ref(const char *name, const char *value, void *arg)
{
	struct repo_walk *w = arg;
	int rc = push_hex(w->g, value, strlen(value));

	if (rc == 0)
		rc = store_reflog_foreach(w->g->t, w->repo, name, reflog_line, w->g);
	return rc == -ENOENT ? 0 : rc;
}

static int mark_repo(const char *repo, void *arg)
{
	struct repo_walk w = { arg, repo };

	return store_ref_foreach(w.g->t, repo, NULL, mark_ref, &w);
}

/* mark_inodes - every working-tree inode, orphans included */
static int mark_inodes(struct gc *g)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_INODES), &c);

	if (rc)
		return store_mdb_error(rc, "inodes");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		struct store_inode ino;

		if (k.mv_size != 8)
			continue;
		rc = store_inode_get(g->t, store_be64_get(k.mv_data), &ino);
		if (rc)
			break;
		if (S_ISDIR(ino.mode))
			rc = push(g, &ino.id);
		else if (S_ISREG(ino.mode))
			rc = keyset_add(&g->objects, ino.id.id);
		if (rc < 0)
			break;
		rc = 0;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- OCI ---------------------------------------------------------------- */

static int mark_digest(struct gc *g, const struct oci_digest *d);

/* mark_layer_files - the git blobs of every file of layer LID */
static int mark_layer_files(struct gc *g, uint64_t lid)
{
	unsigned char prefix[9];
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_FILES), &c);

	if (rc)
		return store_mdb_error(rc, "oci_files");
	store_be64_put(prefix, lid);
	prefix[8] = OCI_K_ENTRY;
	k.mv_size = sizeof(prefix);
	k.mv_data = prefix;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= sizeof(prefix) && !memcmp(k.mv_data, prefix, sizeof(prefix))) {
		struct oci_entry_rec rec;

		if (v.mv_size < sizeof(rec)) {
			rc = store_error(-EIO, "gc: corrupt layer index; run govc fsck, nothing was removed");
			break;
		}
		memcpy(&rec, v.mv_data, sizeof(rec));
		if (S_ISREG(rec.mode) && !(rec.flags & OCI_EF_WHITEOUT) &&
		    keyset_add(&g->objects, rec.blob) < 0) {
			rc = -ENOMEM;
			break;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* mark_index_json - the manifests an image index blob D names */
static int mark_index_json(struct gc *g, const struct oci_digest *d, uint64_t size)
{
	json_t *doc, *manifests, *e;
	size_t i;
	int rc;

	if (size > OCI_JSON_MAX || size < 2)
		return 0;
	if (oci_json_load(g->t, d, "blob", &doc) != 0)
		return 0;	/* not JSON: a plain blob */
	manifests = json_object_get(doc, "manifests");
	rc = 0;
	json_array_foreach(manifests, i, e) {
		struct oci_descriptor desc;
		if (oci_descriptor_parse(e, "index", &desc) == 0) {
			rc = mark_digest(g, &desc.digest);
			if (rc)
				break;
		}
	}
	json_decref(doc);
	return rc;
}

/* mark_digest - D and whatever it reaches (manifest, layer or index) */
static int mark_digest(struct gc *g, const struct oci_digest *d)
{
	struct oci_image_rec img;
	struct oci_layer_rec layer;
	const unsigned char *layers;
	uint64_t size;
	int rc = keyset_add(&g->digests, d->sha256);

	if (rc <= 0)
		return rc;
	rc = oci_image_rec_get(g->t, d, &img, &layers);
	if (rc == 0) {
		struct oci_digest cd;
		memcpy(cd.sha256, img.config, 32);
		rc = keyset_add(&g->digests, cd.sha256);
		for (unsigned i = 0; i < img.nlayers && rc >= 0; i++) {
			struct oci_image_layer_rec l;
			struct oci_digest ld;

			/* LAYERS is borrowed: re-read after nested lookups */
			oci_image_rec_get(g->t, d, &img, &layers);
			memcpy(&l, layers + i * sizeof(l), sizeof(l));
			memcpy(ld.sha256, l.digest, 32);
			rc = mark_digest(g, &ld);
		}
		return rc < 0 ? rc : 0;
	}
	if (rc != -ENOENT)
		return rc;
	rc = oci_layer_rec_get(g->t, d, &layer);
	if (rc == 0)
		return mark_layer_files(g, layer.lid);
	if (rc != -ENOENT)
		return rc;
	if (oci_blob_size(g->t, d, &size) == 0)
		return mark_index_json(g, d, size);
	return 0;
}

static int mark_tag(const struct oci_tag *tg, void *arg)
{
	struct gc *g = arg;
	int rc = mark_digest(g, &tg->manifest);

	if (rc == 0 && !oci_digest_is_zero(&tg->index))
		rc = mark_digest(g, &tg->index);
	return rc;
}

static int mark_pins(struct gc *g)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_META), &c);

	if (rc)
		return store_mdb_error(rc, "oci_meta");
	k.mv_size = 1;
	k.mv_data = "p";
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > 33 && ((const char *)k.mv_data)[0] == 'p') {
		struct oci_digest d;
		memcpy(d.sha256, (const char *)k.mv_data + k.mv_size - 32, 32);
		rc = mark_digest(g, &d);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* mark_session_pin - what a live ingest session pinned (ingest.h) */
static int mark_session_pin(int kind, const unsigned char *key, size_t len, void *arg)
{
	struct gc *g = arg;
	struct oci_digest d;
	int rc = 0;

	switch (kind) {
	case STORE_PIN_OBJECT:
		if (len == GIT_OID_RAWSZ) {
			git_oid id;
			/* a commit or tree pinned keeps all it names (a git
			 * import found it stored and took it whole) */
			git_oid_fromraw(&id, key);
			rc = push(g, &id);
		}
		break;
	case STORE_PIN_BLOB:
		if (len == 32) {
			memcpy(d.sha256, key, 32);
			rc = mark_digest(g, &d);
		}
		break;
	case STORE_PIN_LAYER:
		if (len == 8) {
			rc = keyset_add(&g->lids, key);
			if (rc >= 0)
				rc = mark_layer_files(g, store_be64_get(key));
		}
		break;
	case STORE_PIN_CHUNKS:
		if (len == 8)
			rc = keyset_add(&g->owners, key);
		break;
	}
	return rc < 0 ? rc : 0;
}

/* ---- sweep -------------------------------------------------------------- */

/* A list of keys to delete after a scan. */
struct doomed {
	unsigned char *keys;
	size_t ksize, n, cap;
};

static int doomed_add(struct doomed *d, const void *key)
{
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 256;
		unsigned char *nk = realloc(d->keys, nc * d->ksize);
		if (!nk)
			return store_error(-ENOMEM, "out of memory");
		d->keys = nk;
		d->cap = nc;
	}
	memcpy(d->keys + d->n++ * d->ksize, key, d->ksize);
	return 0;
}

struct sweep {
	struct gc *g;
	struct doomed list;
	struct store_gc_stats *st;
};

static int sweep_object(const git_oid *id, void *arg)
{
	struct sweep *sw = arg;
	uint64_t len;

	if (keyset_has(&sw->g->objects, id->id)) {
		uint64_t owner;
		unsigned char key[8];

		sw->st->kept_objects++;
		if (sw->g->ingest_chunks && store_object_owner(sw->g->t, id, &owner) == 0 &&
		    owner >= STORE_OWNER_INGEST) {
			store_be64_put(key, owner);
			return keyset_add(&sw->g->owners, key) < 0 ? -ENOMEM : 0;
		}
		return 0;
	}
	if (store_object_info(sw->g->t, id, NULL, &len) == 0)
		sw->st->object_bytes += len;
	sw->st->objects++;
	return doomed_add(&sw->list, id->id);
}

static int sweep_blob(const struct oci_digest *d, uint64_t size, void *arg)
{
	struct sweep *sw = arg;

	if (keyset_has(&sw->g->digests, d->sha256)) {
		sw->st->kept_blobs++;
		return 0;
	}
	sw->st->blobs++;
	sw->st->blob_bytes += size;
	return doomed_add(&sw->list, d->sha256);
}

/* scan_unmarked - keys of TBL (of KSIZE bytes after PREFIX) not in digests */
static int scan_unmarked(struct gc *g, enum store_table tbl, const char *prefix, size_t plen,
			 struct doomed *out)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, tbl), &c);

	if (rc)
		return store_mdb_error(rc, "gc");
	k.mv_size = plen;
	k.mv_data = (void *)prefix;
	rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && (!plen || (k.mv_size >= plen && !memcmp(k.mv_data, prefix, plen)))) {
		if (k.mv_size == plen + 32 &&
		    !keyset_has(&g->digests, (const unsigned char *)k.mv_data + plen)) {
			rc = doomed_add(out, (const unsigned char *)k.mv_data + plen);
			if (rc)
				break;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* headerless_chunks - digests whose chunks lie without a header (an
 * interrupted writer's) and that nothing reaches: onto LIST */
static int headerless_chunks(struct gc *g, struct doomed *list)
{
	unsigned char last[32], next[33];
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_BLOBS), &c);

	if (rc)
		return store_mdb_error(rc, "oci_blobs");
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size < 32)
			break;
		memcpy(last, k.mv_data, 32);
		if (k.mv_size > 32 && !keyset_has(&g->digests, last)) {
			MDB_val h;
			rc = mdb_get(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_BLOBS),
				     &(MDB_val){ 32, last }, &h);
			if (rc == MDB_NOTFOUND && (rc = doomed_add(list, last)) != 0)
				break;
		}
		/* on to the next digest: the first key after every LAST+... */
		memcpy(next, last, 32);
		next[32] = 0xff;
		k.mv_size = 33;
		k.mv_data = next;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		while (rc == 0 && k.mv_size >= 32 && !memcmp(k.mv_data, last, 32))
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * sweep_orphans - what interrupted ingest sessions left and no live one
 * pins: layer index records of a layer id with no layer record, and
 * chunks of ingest owners no kept blob owns.
 */
static int sweep_orphans(struct gc *g, int dry)
{
	unsigned char key[9];
	struct doomed lids = { NULL, 8, 0, 0 }, owners = { NULL, 8, 0, 0 };
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_FILES), &c);

	if (rc)
		return store_mdb_error(rc, "oci_files");
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0 && k.mv_size >= 8) {
		uint64_t lid = store_be64_get(k.mv_data);
		MDB_val lv;

		key[0] = 'L';
		memcpy(key + 1, k.mv_data, 8);
		if (!keyset_has(&g->lids, key + 1) &&
		    mdb_get(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_META),
			    &(MDB_val){ 9, key }, &lv) == MDB_NOTFOUND &&
		    doomed_add(&lids, key + 1)) {
			rc = -ENOMEM;
			break;
		}
		store_be64_put(key, lid + 1);
		k.mv_size = 8;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_CHUNKS), &c);
	else
		goto out;
	if (rc)
		goto out;
	store_be64_put(key, STORE_OWNER_INGEST);
	k.mv_size = 8;
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 16) {
		uint64_t owner = store_be64_get(k.mv_data);

		memcpy(key, k.mv_data, 8);
		if (!keyset_has(&g->owners, key) && doomed_add(&owners, key)) {
			rc = -ENOMEM;
			break;
		}
		store_be64_put(key, owner + 1);
		k.mv_size = 8;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		goto out;
	rc = 0;
	for (size_t i = 0; rc == 0 && !dry && i < lids.n; i++)
		rc = store_del_prefix(g->t, TBL_OCI_FILES, lids.keys + i * 8, 8);
	for (size_t i = 0; rc == 0 && !dry && i < owners.n; i++)
		rc = store_del_prefix(g->t, TBL_CHUNKS, owners.keys + i * 8, 8);
out:
	free(lids.keys);
	free(owners.keys);
	return rc > 0 || rc < -4095 ? store_mdb_error(rc, "gc") : rc;
}

static int sweep(struct gc *g, int dry, struct store_gc_stats *st)
{
	struct sweep sw = { g, { NULL, GIT_OID_RAWSZ, 0, 0 }, st };
	struct doomed layers = { NULL, 32, 0, 0 }, images = { NULL, 32, 0, 0 };
	int rc = store_object_foreach(g->t, sweep_object, &sw);

	for (size_t i = 0; rc == 0 && !dry && i < sw.list.n; i++) {
		git_oid id;
		git_oid_fromraw(&id, sw.list.keys + i * GIT_OID_RAWSZ);
		rc = store_object_delete(g->t, &id);
	}
	free(sw.list.keys);
	memset(&sw.list, 0, sizeof(sw.list));
	sw.list.ksize = 32;
	if (rc == 0)
		rc = oci_blob_foreach(g->t, sweep_blob, &sw);
	if (rc == 0)
		rc = headerless_chunks(g, &sw.list);
	for (size_t i = 0; rc == 0 && !dry && i < sw.list.n; i++)
		rc = store_del_prefix(g->t, TBL_OCI_BLOBS, sw.list.keys + i * 32, 32);
	free(sw.list.keys);
	if (rc == 0)
		rc = sweep_orphans(g, dry);

	if (rc == 0)
		rc = scan_unmarked(g, TBL_OCI_LAYERS, "", 0, &layers);
	for (size_t i = 0; rc == 0 && i < layers.n; i++) {
		struct oci_digest d;
		struct oci_layer_rec lr;
		unsigned char key[9];

		st->layers++;
		if (dry)
			continue;
		memcpy(d.sha256, layers.keys + i * 32, 32);
		rc = oci_layer_rec_get(g->t, &d, &lr);
		if (rc)
			break;
		store_be64_put(key, lr.lid);
		rc = store_del_prefix(g->t, TBL_OCI_FILES, key, 8);
		key[0] = 'L';
		store_be64_put(key + 1, lr.lid);
		if (rc == 0 && (rc = store_del(g->t, TBL_OCI_META, key, 9)) == -ENOENT)
			rc = 0;
		if (rc == 0)
			rc = store_del(g->t, TBL_OCI_LAYERS, d.sha256, 32);
	}
	free(layers.keys);

	if (rc == 0)
		rc = scan_unmarked(g, TBL_OCI_META, "i", 1, &images);
	for (size_t i = 0; rc == 0 && i < images.n; i++) {
		unsigned char key[33];

		st->images++;
		if (dry)
			continue;
		key[0] = 'i';
		memcpy(key + 1, images.keys + i * 32, 32);
		rc = store_del(g->t, TBL_OCI_META, key, sizeof(key));
	}
	free(images.keys);
	return rc;
}

/* gc_event - tell mounts that blobs and layers went (their lists change) */
static int gc_event(struct store_txn *t, const struct store_gc_stats *st)
{
	json_t *ev = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "type", "gc", "objects",
			       (json_int_t)st->objects, "blobs", (json_int_t)st->blobs, "layers",
			       (json_int_t)st->layers, "images", (json_int_t)st->images, "time",
			       (json_int_t)time(NULL));
	char *line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	int rc = line ? store_event_append(t, line) : store_error(-ENOMEM, "out of memory");

	json_decref(ev);
	free(line);
	return rc;
}

/* has_ingest_chunks - does any chunk belong to an ingest owner? */
static int has_ingest_chunks(struct store_txn *t)
{
	unsigned char key[8];
	MDB_cursor *c;
	MDB_val k = { 8, key }, v;
	int found;

	if (mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_CHUNKS), &c))
		return 1;
	store_be64_put(key, STORE_OWNER_INGEST);
	found = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) == 0;
	mdb_cursor_close(c);
	return found;
}

int store_gc(struct store *s, unsigned flags, struct store_gc_stats *out)
{
	struct gc g;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&g, 0, sizeof(g));
	g.objects.ksize = GIT_OID_RAWSZ;
	g.digests.ksize = 32;
	g.lids.ksize = 8;
	g.owners.ksize = 8;
	rc = store_txn_begin(&g.t, s, STORE_TXN_WRITE);
	if (rc)
		return rc;
	rc = oci_tag_foreach(g.t, NULL, mark_tag, &g);
	if (rc == 0)
		rc = mark_pins(&g);
	if (rc == 0)
		rc = store_ingest_foreach_pin(g.t, mark_session_pin, &g);
	if (rc == 0)
		g.ingest_chunks = has_ingest_chunks(g.t);
	if (rc == 0)
		rc = store_repo_foreach(g.t, mark_repo, &g);
	if (rc == 0)
		rc = mark_inodes(&g);
	if (rc == 0)
		rc = walk(&g);
	if (rc == 0)
		rc = sweep(&g, flags & STORE_GC_DRY_RUN, out);
	if (rc == 0 && !(flags & STORE_GC_DRY_RUN) && (out->blobs || out->layers || out->images))
		rc = gc_event(g.t, out);
	if (rc == 0 && !(flags & STORE_GC_DRY_RUN))
		rc = store_txn_commit(g.t);
	else
		store_txn_abort(g.t);
	free(g.objects.slots);
	free(g.digests.slots);
	free(g.lids.slots);
	free(g.owners.slots);
	free(g.stack);
	return rc;
}
