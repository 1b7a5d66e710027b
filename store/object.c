/*
 * object.c - git objects in the objects table: hashing with OpenSSL EVP
 * (SHA-1, as git), zero-copy reads, chunked blobs, short-id resolution,
 * tree parsing.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <git2/oid.h>

#include "store/gc.h"
#include "store/object.h"
#include "store/store_int.h"

struct store_hasher {
	EVP_MD_CTX *ctx;
};

static const char *type_name(git_object_t type)
{
	switch (type) {
	case GIT_OBJECT_BLOB: return "blob";
	case GIT_OBJECT_TREE: return "tree";
	case GIT_OBJECT_COMMIT: return "commit";
	case GIT_OBJECT_TAG: return "tag";
	default: return NULL;
	}
}

int store_hasher_new(struct store_hasher **out, git_object_t type, uint64_t len)
{
	struct store_hasher *h;
	char hdr[64];
	const char *name = type_name(type);
	int n;

	if (!name)
		return store_error(-EINVAL, "unknown object type %d", (int)type);
	h = malloc(sizeof(*h));
	if (!h)
		return store_error(-ENOMEM, "out of memory");
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha1(), NULL)) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return store_error(-ENOMEM, "cannot start SHA-1");
	}
	n = snprintf(hdr, sizeof(hdr), "%s %llu", name, (unsigned long long)len);
	EVP_DigestUpdate(h->ctx, hdr, (size_t)n + 1);	/* with the NUL */
	*out = h;
	return 0;
}

void store_hasher_update(struct store_hasher *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void store_hasher_final(struct store_hasher *h, git_oid *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_DigestFinal_ex(h->ctx, md, &mdlen);
	assert(mdlen == GIT_OID_RAWSZ);
	git_oid_fromraw(out, md);
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int store_object_hash(git_oid *out, git_object_t type, const void *data, size_t len)
{
	struct store_hasher *h;
	int rc = store_hasher_new(&h, type, len);

	if (rc)
		return rc;
	store_hasher_update(h, data, len);
	store_hasher_final(h, out);
	return 0;
}

/* A chunked blob's record: the type byte with this flag, owner, length. */
#define CHUNKED_FLAG 0x80
#define CHUNKED_RECORD (1 + 8 + 8)

struct record {
	git_object_t type;
	const char *body;	/* a plain object's body, else NULL */
	uint64_t len;
	uint64_t owner;		/* a chunked blob's chunks, else 0 */
};

static int corrupt(const git_oid *id, const char *why)
{
	char hex[GIT_OID_HEXSZ + 1];

	return store_error(-EIO, "object %s is corrupt (%s)", git_oid_tostr(hex, sizeof(hex), id),
			   why);
}

/* get_record - object ID's record; -ENOENT (no message) if absent */
static int get_record(struct store_txn *t, const git_oid *id, struct record *r)
{
	const unsigned char *p;
	MDB_val v;
	int rc = store_get(t, TBL_OBJECTS, id->id, GIT_OID_RAWSZ, &v);

	if (rc)
		return rc;
	if (v.mv_size < 1)
		return corrupt(id, "empty record");
	p = v.mv_data;
	if (p[0] & CHUNKED_FLAG) {
		if (v.mv_size != CHUNKED_RECORD || (p[0] & ~CHUNKED_FLAG) != GIT_OBJECT_BLOB)
			return corrupt(id, "bad chunked record");
		*r = (struct record){ GIT_OBJECT_BLOB, NULL, store_be64_get(p + 9),
				      store_be64_get(p + 1) };
		return 0;
	}
	*r = (struct record){ (git_object_t)p[0], (const char *)p + 1, v.mv_size - 1, 0 };
	return 0;
}

int store_object_read(struct store_txn *t, const git_oid *id, git_object_t *type,
		      const void **data, size_t *len)
{
	struct record r;
	int rc = get_record(t, id, &r);

	if (rc)
		return rc;
	if (!r.body) {
		char hex[GIT_OID_HEXSZ + 1];
		return store_error(-E2BIG, "blob %s is stored in chunks",
				   git_oid_tostr(hex, sizeof(hex), id));
	}
	if (type)
		*type = r.type;
	*data = r.body;
	*len = (size_t)r.len;
	return 0;
}

int store_object_info(struct store_txn *t, const git_oid *id, git_object_t *type,
		      uint64_t *len)
{
	struct record r;
	int rc = get_record(t, id, &r);

	if (rc)
		return rc;
	if (type)
		*type = r.type;
	if (len)
		*len = r.len;
	return 0;
}

int store_object_owner(struct store_txn *t, const git_oid *id, uint64_t *owner)
{
	struct record r;
	int rc = get_record(t, id, &r);

	if (rc == 0 && !r.owner)
		rc = -EINVAL;
	if (rc == 0)
		*owner = r.owner;
	return rc;
}

/* what an empty chunk of a chunked blob stands for */
static const char zero_chunk[STORE_WT_CHUNK];

long store_blob_pieces(struct store_txn *t, const git_oid *id, uint64_t off, size_t len,
		       struct store_piece *out, size_t max, size_t *count)
{
	struct record r;
	size_t done = 0;
	int rc = get_record(t, id, &r);

	*count = 0;
	if (rc)
		return rc;
	if (off >= r.len)
		return 0;
	if (len > r.len - off)
		len = (size_t)(r.len - off);
	if (r.body) {
		if (!max)
			return -ENOBUFS;
		out[(*count)++] = (struct store_piece){ r.body + off, len };
		return (long)len;
	}
	while (done < len) {
		uint64_t pos = off + done, idx = pos / STORE_WT_CHUNK;
		size_t within = (size_t)(pos % STORE_WT_CHUNK);
		uint64_t want = r.len - idx * STORE_WT_CHUNK;
		size_t n = STORE_WT_CHUNK - within;
		unsigned char key[16];
		MDB_val v;

		if (want > STORE_WT_CHUNK)
			want = STORE_WT_CHUNK;
		if (n > len - done)
			n = len - done;
		store_be64_put(key, r.owner);
		store_be64_put(key + 8, idx);
		rc = store_get(t, TBL_CHUNKS, key, 16, &v);
		if (rc == 0 && v.mv_size == 0 && want) {	/* a chunk of zeros */
			v.mv_data = (void *)zero_chunk;
			v.mv_size = want;
		}
		if (rc == 0 && v.mv_size != want)
			rc = -EIO;
		if (rc) {
			char hex[GIT_OID_HEXSZ + 1];
			return store_error(rc == -ENOENT || rc == -EIO ? -EIO : rc,
					   "chunk %llu of blob %s is %s", (unsigned long long)idx,
					   git_oid_tostr(hex, sizeof(hex), id),
					   rc == -ENOENT ? "missing" : "damaged");
		}
		if (*count == max)
			return -ENOBUFS;
		out[(*count)++] = (struct store_piece){ (const char *)v.mv_data + within, n };
		done += n;
	}
	return (long)done;
}

long store_object_copy(struct store_txn *t, const git_oid *id, uint64_t off, void *buf,
		       size_t len)
{
	struct store_piece pieces[STORE_BLOB_PIECES(STORE_WT_CHUNK)];
	size_t done = 0;

	while (done < len) {
		size_t step = len - done < STORE_WT_CHUNK ? len - done : STORE_WT_CHUNK, count;
		long got = store_blob_pieces(t, id, off + done, step, pieces,
					     sizeof(pieces) / sizeof(pieces[0]), &count);
		if (got < 0)
			return got;
		for (size_t i = 0; i < count; i++) {
			memcpy((char *)buf + done, pieces[i].data, pieces[i].len);
			done += pieces[i].len;
		}
		if ((size_t)got < step)
			break;
	}
	return (long)done;
}

int store_object_put_chunked(struct store_txn *t, const git_oid *id, uint64_t owner,
			     uint64_t len)
{
	unsigned char rec[CHUNKED_RECORD];
	int rc = store_object_exists(t, id);

	if (rc)
		return rc < 0 ? rc : -EEXIST;
	rec[0] = CHUNKED_FLAG | GIT_OBJECT_BLOB;
	store_be64_put(rec + 1, owner);
	store_be64_put(rec + 9, len);
	return store_put(t, TBL_OBJECTS, id->id, GIT_OID_RAWSZ, rec, sizeof(rec), 0);
}

int store_object_exists(struct store_txn *t, const git_oid *id)
{
	MDB_val v;
	int rc = store_get(t, TBL_OBJECTS, id->id, GIT_OID_RAWSZ, &v);

	if (rc == -ENOENT)
		return 0;
	return rc ? rc : 1;
}

int store_object_reserve(struct store_txn *t, const git_oid *id, git_object_t type,
			 size_t len, void **out)
{
	void *p;
	int rc = store_object_exists(t, id);

	if (rc < 0)
		return rc;
	if (rc == 1) {
		rc = store_object_adopt(t, id);
		return rc ? rc : -EEXIST;
	}
	if (len >= STORE_OBJECT_MAX)
		return store_error(-EFBIG, "object of %zu bytes is too large", len);
	rc = store_reserve(t, TBL_OBJECTS, id->id, GIT_OID_RAWSZ, len + 1, &p);
	if (rc)
		return rc;
	((unsigned char *)p)[0] = (unsigned char)type;
	*out = (unsigned char *)p + 1;
	return 0;
}

int store_object_write(struct store_txn *t, git_object_t type, const void *data,
		       size_t len, git_oid *out)
{
	git_oid id;
	void *p;
	int rc = store_object_hash(&id, type, data, len);

	if (rc)
		return rc;
	rc = store_object_reserve(t, &id, type, len, &p);
	if (rc == 0 && len)
		memcpy(p, data, len);
	if (rc == -EEXIST)
		rc = 0;
	if (rc == 0 && out)
		git_oid_cpy(out, &id);
	return rc;
}

int store_object_adopt(struct store_txn *t, const git_oid *id)
{
	int rc = store_del(t, TBL_YOUNG, id->id, GIT_OID_RAWSZ);

	if (rc == -ENOENT)
		rc = 0;
	/* found stored and held from now on: a running gc must keep it */
	return rc ? rc : store_gc_touch(t, 'g', id->id, GIT_OID_RAWSZ);
}

int store_object_delete(struct store_txn *t, const git_oid *id)
{
	struct record r;
	int rc = get_record(t, id, &r);

	if (rc == 0 && r.owner) {
		unsigned char prefix[8];
		store_be64_put(prefix, r.owner);
		rc = store_del_prefix(t, TBL_CHUNKS, prefix, 8);
	}
	if (rc && rc != -EIO)
		return rc;
	return store_del(t, TBL_OBJECTS, id->id, GIT_OID_RAWSZ);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int store_object_prefix(struct store_txn *t, const char *hex, size_t hexlen,
			git_oid *out)
{
	unsigned char key[GIT_OID_RAWSZ] = { 0 };
	MDB_cursor *c;
	MDB_val k, v;
	int rc, found = 0;

	if (hexlen < 4 || hexlen > GIT_OID_HEXSZ)
		return store_error(-EINVAL, "'%.*s' is not an object id (4 to 40 hex digits)",
				   (int)hexlen, hex);
	for (size_t i = 0; i < hexlen; i++) {
		int d = hexval(hex[i]);
		if (d < 0)
			return store_error(-EINVAL, "'%.*s' is not an object id", (int)hexlen, hex);
		key[i / 2] |= (unsigned char)(i % 2 ? d : d << 4);
	}
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OBJECTS), &c);
	if (rc)
		return store_mdb_error(rc, "objects");
	k.mv_size = GIT_OID_RAWSZ;
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		char khex[GIT_OID_HEXSZ + 1];
		git_oid id;
		git_oid_fromraw(&id, k.mv_data);
		git_oid_tostr(khex, sizeof(khex), &id);
		if (strncasecmp(khex, hex, hexlen) != 0)
			break;
		if (found++) {
			mdb_cursor_close(c);
			return store_error(-EINVAL, "short id '%.*s' is ambiguous; give more digits",
					   (int)hexlen, hex);
		}
		git_oid_cpy(out, &id);
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_error(rc, "objects");
	return found ? 0 : -ENOENT;
}

int store_object_foreach(struct store_txn *t, int (*cb)(const git_oid *, void *),
			 void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OBJECTS), &c);

	if (rc)
		return store_mdb_error(rc, "objects");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		git_oid id;
		if (k.mv_size != GIT_OID_RAWSZ)
			continue;
		git_oid_fromraw(&id, k.mv_data);
		rc = cb(&id, arg);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "objects");
}

int store_tree_next(const void *tree, size_t len, size_t *pos,
		    struct store_tree_entry *e)
{
	const char *p = (const char *)tree + *pos, *end = (const char *)tree + len;
	const char *sp, *nul;
	unsigned mode = 0;

	if (*pos >= len)
		return 0;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp || sp == p || sp - p > 7)
		return store_error(-EIO, "malformed tree entry (mode)");
	for (const char *q = p; q < sp; q++) {
		if (*q < '0' || *q > '7')
			return store_error(-EIO, "malformed tree entry (mode)");
		mode = mode * 8 + (unsigned)(*q - '0');
	}
	nul = memchr(sp + 1, '\0', (size_t)(end - sp - 1));
	if (!nul || nul == sp + 1 || end - nul - 1 < GIT_OID_RAWSZ)
		return store_error(-EIO, "malformed tree entry (name)");
	e->mode = mode;
	e->name = sp + 1;
	e->namelen = (size_t)(nul - sp - 1);
	e->id = (const git_oid *)(const void *)(nul + 1);
	*pos = (size_t)(nul + 1 + GIT_OID_RAWSZ - (const char *)tree);
	return 1;
}

int store_tree_find(const void *tree, size_t len, const char *name,
		    struct store_tree_entry *e)
{
	size_t pos = 0, nlen = strlen(name);
	int rc;

	while ((rc = store_tree_next(tree, len, &pos, e)) == 1) {
		if (e->namelen == nlen && memcmp(e->name, name, nlen) == 0)
			return 0;
	}
	return rc < 0 ? rc : -ENOENT;
}
