/*
 * gc.c - mark and sweep over the whole store (gc.h), beside a running
 * mount and running imports, never holding the writer lock for long.
 *
 * 1. Announce: one short write transaction sets "gc:running" in meta
 *    (from then on every new reference to something already stored is
 *    recorded, store_gc_touch) and drops the pins of dead ingest sessions.
 * 2. Mark, in a read transaction (a snapshot): the git object ids and OCI
 *    digests reached from the roots; git objects are walked with an
 *    explicit stack (histories are deep), and blobs named by layer entries
 *    or working-tree files are marked without being read.  Then the
 *    candidates: everything the snapshot holds and did not reach.
 * 3. Sweep, in short write transactions: each first marks what was
 *    touched since the snapshot (and all it reaches), then deletes the
 *    next candidates still unmarked: their records first (an object, a
 *    blob's header, a layer or image record), so nothing can find them any
 *    more, and the bulk after (chunks, layer index records), a budget per
 *    transaction.  Layer ids and chunk owners are never reused, so those
 *    tails can go piece by piece; a blob's chunks are keyed by its digest,
 *    so their deletion stops if the digest is touched again (a new import
 *    of the same blob is writing them).
 * 4. The gc event, and "gc:running" and the touch records cleared.
 *
 * Memory: one set slot per reachable object and digest, plus the
 * candidates.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <git2.h>
#include <jansson.h>

#include "store/gc.h"
#include "store/extras.h"
#include "store/ingest.h"
#include "store/object.h"
#include "store/oci_int.h"
#include "store/repo.h"
#include "store/worktree.h"
#include "util/array.h"
#include "util/hashset.h"

#define GITLINK_MODE 0160000
#define TREE_MODE 040000
#define SWEEP_BUDGET 512	/* key deletions per transaction */
#define GC_RUNNING_KEY "gc:running"
#define TOUCH_PREFIX 'T'

struct gc {
	struct store_txn *t;
	struct util_hashset objects;	/* git ids reached */
	struct util_hashset digests;	/* OCI digests reached */
	struct util_hashset lids;	/* be64 layer ids pinned by live sessions */
	struct util_hashset owners;	/* be64 chunk owners in use (ingest ones) */
	int ingest_chunks;	/* the chunks table holds ingest owners */
	struct util_array stack;	/* git_oid: objects to visit */
};

/* set_add - 1 added, 0 present, or -ENOMEM with a message */
static int set_add(struct util_hashset *s, const void *key)
{
	int rc = util_hashset_add(s, key);

	return rc < 0 ? store_error(-ENOMEM, "gc: out of memory") : rc;
}

/* ---- git objects -------------------------------------------------------- */

static int push(struct gc *g, const git_oid *id)
{
	git_oid *slot;
	int rc = set_add(&g->objects, id->id);

	if (rc <= 0)
		return rc;
	slot = UTIL_ARRAY_PUSH(&g->stack, git_oid);
	if (!slot)
		return store_error(-ENOMEM, "gc: out of memory");
	*slot = *id;
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
	while (util_array_len(&g->stack)) {
		git_oid id = *UTIL_ARRAY_AT(&g->stack, git_oid, --g->stack.len);
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
					rc = set_add(&g->objects, e.id->id);
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
			rc = set_add(&g->objects, ino.id.id);
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
		    set_add(&g->objects, rec.blob) < 0) {
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
	int rc = set_add(&g->digests, d->sha256);

	if (rc <= 0)
		return rc;
	rc = oci_image_rec_get(g->t, d, &img, &layers);
	if (rc == 0) {
		struct oci_digest cd;
		memcpy(cd.sha256, img.config, 32);
		rc = set_add(&g->digests, cd.sha256);
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
			rc = set_add(&g->lids, key);
			if (rc >= 0)
				rc = mark_layer_files(g, store_be64_get(key));
		}
		break;
	case STORE_PIN_CHUNKS:
		if (len == 8)
			rc = set_add(&g->owners, key);
		break;
	}
	return rc < 0 ? rc : 0;
}

/* ---- touches: references taken while a gc runs ------------------------- */

int store_gc_touch(struct store_txn *t, int kind, const void *key, size_t len)
{
	unsigned char k[1 + 1 + 32];
	MDB_val v;
	int rc;

	if (len > 32)
		return 0;
	rc = store_get(t, TBL_META, GC_RUNNING_KEY, sizeof(GC_RUNNING_KEY) - 1, &v);
	if (rc == -ENOENT)
		return 0;	/* no gc: nothing to tell */
	if (rc)
		return rc;
	k[0] = TOUCH_PREFIX;
	k[1] = (unsigned char)kind;
	memcpy(k + 2, key, len);
	return store_put(t, TBL_OCI_META, k, 2 + len, "", 0, 0);
}

/* absorb_touched - mark what was touched since the snapshot, and all it
 * reaches, in the sweep's transaction */
static int absorb_touched(struct gc *g)
{
	unsigned char prefix = TOUCH_PREFIX;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_META), &c);

	if (rc)
		return store_mdb_error(rc, "gc touches");
	k.mv_size = 1;
	k.mv_data = &prefix;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 2 && ((const unsigned char *)k.mv_data)[0] == TOUCH_PREFIX) {
		const unsigned char *key = k.mv_data;
		unsigned char copy[32];
		size_t len = k.mv_size - 2;

		memcpy(copy, key + 2, len < 32 ? len : 32);
		/* marking reads the store: no cursor kept across it */
		rc = mark_session_pin(key[1], copy, len, g);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return rc < -4095 ? store_mdb_error(rc, "gc touches") : rc;
	return walk(g);
}

/* gc_flag - set (ON) or clear "gc:running", clearing the touch records */
static int gc_flag(struct store *s, int on)
{
	unsigned char prefix = TOUCH_PREFIX;
	struct store_txn *t;
	int rc = store_txn_begin(&t, s, STORE_TXN_WRITE);

	if (rc)
		return rc;
	rc = store_del_prefix(t, TBL_OCI_META, &prefix, 1);
	if (rc == 0 && on)
		rc = store_put(t, TBL_META, GC_RUNNING_KEY, sizeof(GC_RUNNING_KEY) - 1, "", 0, 0);
	else if (rc == 0 && (rc = store_del(t, TBL_META, GC_RUNNING_KEY,
					    sizeof(GC_RUNNING_KEY) - 1)) == -ENOENT)
		rc = 0;
	if (rc == 0 && on)	/* the pins of dead sessions go (and their locks) */
		rc = store_ingest_foreach_pin(t, NULL, NULL);
	if (rc) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t);
}

/* ---- candidates ----------------------------------------------------------- */

enum cand_kind {
	C_OBJECT,	/* git object: key = id */
	C_BLOB,		/* OCI blob (header and chunks, or chunks alone) */
	C_LAYER,	/* layer record: key = digest, n = its lid */
	C_IMAGE,	/* image record: key = manifest digest */
	C_LID,		/* the index records of a layer id: n */
	C_OWNER,	/* the chunks of an owner: n */
};

struct cand {
	unsigned char kind;
	unsigned char key[32];
	uint64_t n;
	uint64_t bytes;		/* for the statistics */
};

static int cand_add(struct util_array *a, int kind, const void *key, size_t klen, uint64_t n,
		    uint64_t bytes)
{
	struct cand *c = UTIL_ARRAY_PUSH(a, struct cand);

	if (!c)
		return store_error(-ENOMEM, "gc: out of memory");
	c->kind = (unsigned char)kind;
	if (key)
		memcpy(c->key, key, klen);
	c->n = n;
	c->bytes = bytes;
	return 0;
}

struct scan {
	struct gc *g;
	struct util_array *list;
	struct store_gc_stats *st;
};

static int scan_object(const git_oid *id, void *arg)
{
	struct scan *sc = arg;
	uint64_t len = 0, owner;
	unsigned char key[8];

	if (util_hashset_has(&sc->g->objects, id->id)) {
		sc->st->kept_objects++;
		if (sc->g->ingest_chunks && store_object_owner(sc->g->t, id, &owner) == 0 &&
		    owner >= STORE_OWNER_INGEST) {
			store_be64_put(key, owner);
			return set_add(&sc->g->owners, key) < 0 ? -ENOMEM : 0;
		}
		return 0;
	}
	store_object_info(sc->g->t, id, NULL, &len);
	return cand_add(sc->list, C_OBJECT, id->id, GIT_OID_RAWSZ, 0, len);
}

static int scan_blob(const struct oci_digest *d, uint64_t size, void *arg)
{
	struct scan *sc = arg;

	if (util_hashset_has(&sc->g->digests, d->sha256)) {
		sc->st->kept_blobs++;
		return 0;
	}
	return cand_add(sc->list, C_BLOB, d->sha256, 32, 1, size);
}

/* scan_headerless - digests whose chunks lie without a header (an
 * interrupted writer's) and that nothing reaches */
static int scan_headerless(struct scan *sc)
{
	struct gc *g = sc->g;
	unsigned char last[32], next[33];
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_BLOBS), &c);

	if (rc)
		return store_mdb_error(rc, "oci_blobs");
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0 && k.mv_size >= 32) {
		memcpy(last, k.mv_data, 32);
		if (k.mv_size > 32 && !util_hashset_has(&g->digests, last)) {
			MDB_val h;
			if (mdb_get(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_BLOBS),
				    &(MDB_val){ 32, last }, &h) == MDB_NOTFOUND &&
			    (rc = cand_add(sc->list, C_BLOB, last, 32, 0, 0)) != 0)
				break;
		}
		/* on to the next digest */
		memcpy(next, last, 32);
		next[32] = 0xff;
		k.mv_size = 33;
		k.mv_data = next;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		while (rc == 0 && k.mv_size >= 32 && !memcmp(k.mv_data, last, 32))
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc < -4095 ? store_mdb_error(rc, "gc") : rc;
}

/* scan_layers - layer records nothing reaches, image records likewise */
static int scan_records(struct scan *sc)
{
	struct gc *g = sc->g;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_LAYERS), &c);

	if (rc)
		return store_mdb_error(rc, "oci_layers");
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		struct oci_layer_rec lr;

		if (k.mv_size == 32 && v.mv_size == sizeof(lr) &&
		    !util_hashset_has(&g->digests, k.mv_data)) {
			memcpy(&lr, v.mv_data, sizeof(lr));
			rc = cand_add(sc->list, C_LAYER, k.mv_data, 32, lr.lid, 0);
			if (rc)
				break;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return rc < -4095 ? store_mdb_error(rc, "gc") : rc;
	rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_META), &c);
	if (rc)
		return store_mdb_error(rc, "oci_meta");
	k.mv_size = 1;
	k.mv_data = "i";
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 33 && ((const char *)k.mv_data)[0] == 'i') {
		if (!util_hashset_has(&g->digests, (const unsigned char *)k.mv_data + 1)) {
			rc = cand_add(sc->list, C_IMAGE, (const unsigned char *)k.mv_data + 1, 32, 0, 0);
			if (rc)
				break;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc < -4095 ? store_mdb_error(rc, "gc") : rc;
}

/*
 * scan_orphans - what interrupted ingest sessions left and no live one
 * pins: layer index records of a layer id with no layer record, and
 * chunks of ingest owners no kept blob owns.
 */
static int scan_orphans(struct scan *sc)
{
	struct gc *g = sc->g;
	unsigned char key[9];
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
		if (!util_hashset_has(&g->lids, key + 1) &&
		    mdb_get(store_mdb_txn(g->t), store_dbi(g->t, TBL_OCI_META), &(MDB_val){ 9, key },
			    &lv) == MDB_NOTFOUND &&
		    (rc = cand_add(sc->list, C_LID, NULL, 0, lid, 0)) != 0)
			break;
		store_be64_put(key, lid + 1);
		k.mv_size = 8;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return rc < -4095 ? store_mdb_error(rc, "gc") : rc;
	rc = mdb_cursor_open(store_mdb_txn(g->t), store_dbi(g->t, TBL_CHUNKS), &c);
	if (rc)
		return store_mdb_error(rc, "chunks");
	store_be64_put(key, STORE_OWNER_INGEST);
	k.mv_size = 8;
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 16) {
		uint64_t owner = store_be64_get(k.mv_data);

		if (!util_hashset_has(&g->owners, k.mv_data) &&
		    (rc = cand_add(sc->list, C_OWNER, NULL, 0, owner, 0)) != 0)
			break;
		store_be64_put(key, owner + 1);
		k.mv_size = 8;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc < -4095 ? store_mdb_error(rc, "gc") : rc;
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

/* mark_all - the marks from every root, in G's transaction */
static int mark_all(struct gc *g)
{
	int rc = oci_tag_foreach(g->t, NULL, mark_tag, g);

	if (rc == 0)
		rc = mark_pins(g);
	if (rc == 0)
		rc = store_ingest_foreach_pin(g->t, mark_session_pin, g);
	if (rc == 0)
		rc = store_repo_foreach(g->t, mark_repo, g);
	if (rc == 0)
		rc = mark_inodes(g);
	if (rc == 0)
		rc = walk(g);
	return rc;
}

/* ---- sweep -------------------------------------------------------------- */

/* del_some - delete up to *BUDGET keys of TBL starting with PREFIX;
 * 1 when none is left, 0 if the budget ran out first */
static int del_some(struct store_txn *t, enum store_table tbl, const void *prefix, size_t plen,
		    unsigned *budget)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, tbl), &c);

	if (rc)
		return store_mdb_error(rc, "gc");
	for (;;) {
		k.mv_size = plen;
		k.mv_data = (void *)prefix;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc || k.mv_size < plen || memcmp(k.mv_data, prefix, plen)) {
			rc = rc == MDB_NOTFOUND || rc == 0 ? 1 : rc;
			break;
		}
		if (!*budget) {
			rc = 0;
			break;
		}
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
		--*budget;
	}
	mdb_cursor_close(c);
	return rc < -4095 ? store_mdb_error(rc, "gc") : rc;
}

/*
 * sweep_one - go on deleting candidate C in G's transaction within
 * *BUDGET.  C->n counts its stage: 0 the record, then the bulk.  1 when C
 * is done (or kept after all), 0 if the budget ran out.
 */
static int sweep_one(struct gc *g, struct cand *c, struct store_gc_stats *st, unsigned *budget)
{
	unsigned char key[33];
	git_oid id;
	uint64_t owner = 0;
	int rc;

	switch (c->kind) {
	case C_OBJECT:
		if (util_hashset_has(&g->objects, c->key))
			return 1;	/* touched since the snapshot */
		git_oid_fromraw(&id, c->key);
		if (store_object_owner(g->t, &id, &owner) != 0)
			owner = 0;
		rc = store_del(g->t, TBL_OBJECTS, c->key, GIT_OID_RAWSZ);
		if (rc == -ENOENT)
			return 1;
		/* a commit's extras go with it (extras.h) */
		if (rc == 0)
			rc = store_extras_delete(g->t, &id);
		if (rc)
			return rc;
		st->objects++;
		st->object_bytes += c->bytes;
		--*budget;
		if (!owner)
			return 1;
		/* its chunks: no record names them now, and owners are never
		 * reused: they go piece by piece */
		c->kind = C_OWNER;
		c->n = owner;
		return 0;
	case C_OWNER:
		store_be64_put(key, c->n);
		if (c->n >= STORE_OWNER_INGEST && util_hashset_has(&g->owners, key))
			return 1;
		return del_some(g->t, TBL_CHUNKS, key, 8, budget);
	case C_BLOB:
		if (util_hashset_has(&g->digests, c->key))
			return 1;	/* touched: a writer may be at its chunks */
		if (c->n == 1) {	/* a header: it goes first */
			rc = store_del(g->t, TBL_OCI_BLOBS, c->key, 32);
			if (rc && rc != -ENOENT)
				return rc;
			if (rc == 0) {
				st->blobs++;
				st->blob_bytes += c->bytes;
			}
			/* its known locations, in the same transaction
			 * (oci_blob_location_add finds the header first) */
			key[0] = OCI_K_LOCATION;
			memcpy(key + 1, c->key, 32);
			rc = store_del_prefix(g->t, TBL_OCI_META, key, 33);
			if (rc && rc != -ENOENT)
				return rc;
			c->n = 0;
			--*budget;
		}
		return del_some(g->t, TBL_OCI_BLOBS, c->key, 32, budget);
	case C_LAYER:
		if (util_hashset_has(&g->digests, c->key))
			return 1;
		key[0] = 'L';
		store_be64_put(key + 1, c->n);
		if ((rc = store_del(g->t, TBL_OCI_META, key, 9)) != 0 && rc != -ENOENT)
			return rc;
		rc = store_del(g->t, TBL_OCI_LAYERS, c->key, 32);
		if (rc && rc != -ENOENT)
			return rc;
		st->layers++;
		--*budget;
		c->kind = C_LID;
		return 0;
	case C_LID:
		store_be64_put(key, c->n);
		if (util_hashset_has(&g->lids, key))
			return 1;
		return del_some(g->t, TBL_OCI_FILES, key, 8, budget);
	case C_IMAGE:
		if (util_hashset_has(&g->digests, c->key))
			return 1;
		key[0] = 'i';
		memcpy(key + 1, c->key, 32);
		rc = store_del(g->t, TBL_OCI_META, key, 33);
		if (rc && rc != -ENOENT)
			return rc;
		st->images += rc == 0;
		--*budget;
		return 1;
	}
	return 1;
}

/* sweep - the candidates, in short transactions */
static int sweep(struct store *s, struct gc *g, struct util_array *list,
		 struct store_gc_stats *st)
{
	size_t i = 0, n = util_array_len(list);
	int rc = 0;

	while (rc == 0 && i < n) {
		unsigned budget = SWEEP_BUDGET;

		rc = store_txn_begin(&g->t, s, STORE_TXN_WRITE);
		if (rc)
			break;
		rc = absorb_touched(g);
		while (rc == 0 && i < n && budget) {
			rc = sweep_one(g, UTIL_ARRAY_AT(list, struct cand, i), st, &budget);
			if (rc == 1) {
				i++;
				rc = 0;
			}
		}
		if (rc) {
			store_txn_abort(g->t);
		} else {
			rc = store_txn_commit(g->t);
			sched_yield();	/* a waiting writer goes first */
		}
		g->t = NULL;
	}
	return rc;
}

/* gc_event - tell mounts that blobs and layers went (their lists change) */
static int gc_event(struct store *s, const struct store_gc_stats *st)
{
	json_t *ev = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "type", "gc", "objects",
			       (json_int_t)st->objects, "blobs", (json_int_t)st->blobs, "layers",
			       (json_int_t)st->layers, "images", (json_int_t)st->images, "time",
			       (json_int_t)time(NULL));
	struct store_txn *t;
	int rc = store_txn_begin(&t, s, STORE_TXN_WRITE);

	if (rc) {
		json_decref(ev);
		return rc;
	}
	rc = store_event_raise(t, ev);
	return rc ? (store_txn_abort(t), rc) : store_txn_commit(t);
}

static void (*gc_hook)(struct store *s, void *arg);
static void *gc_hook_arg;

void store_gc_set_hook(void (*hook)(struct store *s, void *arg), void *arg)
{
	gc_hook = hook;
	gc_hook_arg = arg;
}

/* gc_lock - one gc at a time per store: an flock on STORE/gc.lock */
static int gc_lock(struct store *s)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/gc.lock", store_dir(s));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_error(-errno, "cannot open '%s': %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return store_error(-EBUSY, "another gc is running on store '%s'", store_dir(s));
	}
	return fd;
}

int store_gc(struct store *s, unsigned flags, struct store_gc_stats *out)
{
	struct util_array list = UTIL_ARRAY_INIT(struct cand);
	struct scan sc;
	struct gc g;
	int dry = flags & STORE_GC_DRY_RUN;
	int lock, rc;

	memset(out, 0, sizeof(*out));
	memset(&g, 0, sizeof(g));
	util_hashset_init(&g.objects, GIT_OID_RAWSZ);
	util_hashset_init(&g.digests, 32);
	util_hashset_init(&g.lids, 8);
	util_hashset_init(&g.owners, 8);
	util_array_init(&g.stack, sizeof(git_oid));
	lock = gc_lock(s);
	if (lock < 0)
		return lock;
	rc = dry ? 0 : gc_flag(s, 1);
	if (rc == 0)
		rc = store_txn_begin(&g.t, s, 0);	/* the snapshot */
	if (rc)
		goto out;
	rc = mark_all(&g);
	if (rc == 0)
		g.ingest_chunks = has_ingest_chunks(g.t);
	sc = (struct scan){ &g, &list, out };
	if (rc == 0)
		rc = store_object_foreach(g.t, scan_object, &sc);
	if (rc == 0)
		rc = oci_blob_foreach(g.t, scan_blob, &sc);
	if (rc == 0)
		rc = scan_headerless(&sc);
	if (rc == 0)
		rc = scan_records(&sc);
	if (rc == 0)
		rc = scan_orphans(&sc);
	store_txn_abort(g.t);
	g.t = NULL;
	if (rc)
		goto out;
	if (dry) {
		for (size_t i = 0; i < util_array_len(&list); i++) {
			struct cand *c = UTIL_ARRAY_AT(&list, struct cand, i);
			out->objects += c->kind == C_OBJECT;
			out->object_bytes += c->kind == C_OBJECT ? c->bytes : 0;
			out->blobs += c->kind == C_BLOB && c->n == 1;
			out->blob_bytes += c->kind == C_BLOB ? c->bytes : 0;
			out->layers += c->kind == C_LAYER;
			out->images += c->kind == C_IMAGE;
		}
		goto out;
	}
	if (gc_hook)
		gc_hook(s, gc_hook_arg);
	rc = sweep(s, &g, &list, out);
	if (rc == 0 && (out->blobs || out->layers || out->images))
		rc = gc_event(s, out);
out:
	if (!dry) {
		int frc = gc_flag(s, 0);
		if (rc == 0)
			rc = frc;
	}
	close(lock);
	util_array_release(&list);
	util_hashset_release(&g.objects);
	util_hashset_release(&g.digests);
	util_hashset_release(&g.lids);
	util_hashset_release(&g.owners);
	util_array_release(&g.stack);
	return rc;
}
