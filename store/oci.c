/*
 * oci.c - OCI blobs by digest, tags, image records and pins.
 *
 * Blobs are kept byte-exact, cut into chunks of OCI_BLOB_CHUNK bytes so
 * that a blob streams in (verified as it comes) without holding it in
 * memory, and reads at an offset touch one or two chunks.  A blob's header
 * record is written last: a blob with a header is complete and verified.
 *
 * Invariants: every tag names a manifest with an image record; every
 * image record's layers are indexed (oci_layers + oci_files).  Nothing here
 * deletes a blob: store_gc() does (gc.c).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "store/gc.h"
#include "store/ingest.h"
#include "store/oci_int.h"
#include "util/file.h"

#define PIN_OWNER_MAX 200

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- digests ------------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int oci_digest_parse(struct oci_digest *out, const char *s)
{
	const char *colon = strchr(s, ':');

	if (!colon)
		return store_error(-EINVAL, "'%.80s' is not a digest (sha256:<64 hex digits>)", s);
	if ((size_t)(colon - s) != 6 || strncmp(s, "sha256", 6))
		return store_error(-ENOTSUP, "digest '%.80s' uses an algorithm govc does not support (only sha256)",
				   s);
	s = colon + 1;
	if (strlen(s) != 64)
		return store_error(-EINVAL, "'sha256:%.80s' is not a digest (64 lowercase hex digits expected)",
				   s);
	for (int i = 0; i < 32; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return store_error(-EINVAL, "'sha256:%.80s' is not a digest (64 lowercase hex digits expected)",
					   s);
		out->sha256[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

char *oci_digest_hex(char *buf, const struct oci_digest *d)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		buf[2 * i] = digits[d->sha256[i] >> 4];
		buf[2 * i + 1] = digits[d->sha256[i] & 15];
	}
	buf[64] = '\0';
	return buf;
}

char *oci_digest_fmt(char *buf, const struct oci_digest *d)
{
	memcpy(buf, "sha256:", 7);
	oci_digest_hex(buf + 7, d);
	return buf;
}

int oci_digest_is_zero(const struct oci_digest *d)
{
	for (int i = 0; i < 32; i++)
		if (d->sha256[i])
			return 0;
	return 1;
}

void oci_digest_of(struct oci_digest *out, const void *data, size_t len)
{
	unsigned int n = 0;

	EVP_Digest(data, len, out->sha256, &n, EVP_sha256(), NULL);
	assert(n == 32);
}

void oci_dirhash(unsigned char *out, const unsigned char *parent, const char *name,
		 size_t nlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	/* allocation failure here would be a programming environment error */
	assert(ctx);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, parent, OCI_HASH_LEN);
	EVP_DigestUpdate(ctx, name, nlen);
	EVP_DigestFinal_ex(ctx, md, &n);
	EVP_MD_CTX_free(ctx);
	memcpy(out, md, OCI_HASH_LEN);
}

size_t oci_entry_key(unsigned char *key, uint64_t lid, const unsigned char *dirhash,
		     const char *name, size_t nlen)
{
	assert(nlen <= OCI_ENTRY_NAME_MAX);
	store_be64_put(key, lid);
	key[8] = OCI_K_ENTRY;
	memcpy(key + 9, dirhash, OCI_HASH_LEN);
	memcpy(key + 9 + OCI_HASH_LEN, name, nlen);
	return 9 + OCI_HASH_LEN + nlen;
}

size_t oci_node_key(unsigned char *key, uint64_t lid, uint32_t node)
{
	store_be64_put(key, lid);
	key[8] = OCI_K_NODE;
	key[9] = (unsigned char)(node >> 24);
	key[10] = (unsigned char)(node >> 16);
	key[11] = (unsigned char)(node >> 8);
	key[12] = (unsigned char)node;
	return 13;
}

/* ---- names -------------------------------------------------------------- */

static int name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int oci_name_check(const char *name)
{
	size_t len = strlen(name);
	const char *last_slash = strrchr(name, '/');
	const char *p = name;

	if (len == 0 || len > OCI_NAME_MAX)
		return store_error(-EINVAL, "image name '%.300s' must be 1 to %d bytes", name,
				   OCI_NAME_MAX);
	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && !strncmp(p, "..", 2)))
			return store_error(-EINVAL,
					   "image name '%s' has an empty, '.' or '..' component", name);
		for (size_t i = 0; i < n; i++) {
			/* ':' only in a registry host:port, never in the last component */
			if (p[i] == ':' && p == name && last_slash)
				continue;
			if (!name_char((unsigned char)p[i]))
				return store_error(-EINVAL,
						   "image name '%s' may hold only letters, digits, '.', '_', '-', '/' and a ':port' after the registry host",
						   name);
		}
		p += n;
		if (*p == '/') {
			p++;
			if (!*p)
				return store_error(-EINVAL, "image name '%s' ends with '/'", name);
		}
	}
	return 0;
}

int oci_tag_check(const char *tag)
{
	size_t len = strlen(tag);

	if (len == 0 || len > OCI_TAG_MAX)
		return store_error(-EINVAL, "tag '%.200s' must be 1 to %d characters", tag, OCI_TAG_MAX);
	if (tag[0] == '.' || tag[0] == '-')
		return store_error(-EINVAL, "tag '%s' must start with a letter, digit or '_'", tag);
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)tag[i]))
			return store_error(-EINVAL, "tag '%s' may hold only letters, digits, '.', '_' and '-'",
					   tag);
	return 0;
}


/* ---- blobs -------------------------------------------------------------- */

static void chunk_key(unsigned char *key, const struct oci_digest *d, uint32_t idx)
{
	memcpy(key, d->sha256, 32);
	key[32] = (unsigned char)(idx >> 24);
	key[33] = (unsigned char)(idx >> 16);
	key[34] = (unsigned char)(idx >> 8);
	key[35] = (unsigned char)idx;
}

int oci_blob_size(struct store_txn *t, const struct oci_digest *d, uint64_t *size)
{
	struct oci_blob_rec rec;
	MDB_val v;
	int rc = store_get(t, TBL_OCI_BLOBS, d->sha256, 32, &v);

	if (rc)
		return rc;
	if (v.mv_size != sizeof(rec)) {
		char hex[OCI_DIGEST_STRLEN + 1];
		return store_error(-EIO, "blob %s: corrupt record", oci_digest_fmt(hex, d));
	}
	memcpy(&rec, v.mv_data, sizeof(rec));
	*size = rec.size;
	return 0;
}

static int mismatch(const struct oci_digest *want, const struct oci_digest *got,
		    const char *what)
{
	char w[OCI_DIGEST_STRLEN + 1], g[OCI_DIGEST_STRLEN + 1];

	return store_error(-EBADMSG,
			   "%s: content does not match its digest %s (it hashes to %s); the source is corrupt or was altered",
			   what, oci_digest_fmt(w, want), oci_digest_fmt(g, got));
}

/* ---- the streaming blob writer ------------------------------------------ */

struct oci_blob_writer {
	struct store_ingest *in;
	struct oci_digest expect;
	int known;		/* EXPECT given: chunks go under it at once */
	uint64_t size, total;	/* promised (UINT64_MAX: unknown); so far */
	uint32_t idx;		/* next chunk */
	EVP_MD_CTX *ctx;
	char *buf;		/* one chunk, filling */
	size_t fill;
	int spill;		/* digest unknown: the bytes wait in this file */
	char what[300];
};

/* chunk_put - store chunk IDX of blob D in the session's transaction */
static int chunk_put(struct store_ingest *in, const struct oci_digest *d, uint32_t idx,
		     const void *p, size_t n)
{
	unsigned char key[36];
	struct store_txn *t;
	int rc = store_ingest_txn(in, &t);

	chunk_key(key, d, idx);
	if (rc == 0)
		rc = store_put(t, TBL_OCI_BLOBS, key, sizeof(key), p, n, 0);
	return rc ? rc : store_ingest_step(in, n);
}

static int pin_blob(struct store_ingest *in, const struct oci_digest *d)
{
	return store_ingest_pin(in, STORE_PIN_BLOB, d->sha256, 32);
}

/* present - is blob D complete in the store already (pinned if so)? */
static int present(struct store_ingest *in, const struct oci_digest *d, uint64_t size,
		   const char *what)
{
	struct store_txn *t;
	uint64_t have;
	int rc = store_ingest_txn(in, &t);

	if (rc == 0)
		rc = oci_blob_size(t, d, &have);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (size != UINT64_MAX && have != size)
		return store_error(-EBADMSG,
				   "%s: the descriptor says %llu bytes, but the blob with that digest has %llu",
				   what, (unsigned long long)size, (unsigned long long)have);
	rc = pin_blob(in, d);
	return rc ? rc : 1;
}

int oci_blob_writer_begin(struct oci_blob_writer **out, struct store_ingest *in,
			  const struct oci_digest *expect, uint64_t size, const char *what)
{
	struct oci_blob_writer *w;
	int rc;

	*out = NULL;
	if (expect) {
		rc = present(in, expect, size, what);
		if (rc)
			return rc < 0 ? rc : -EEXIST;
		rc = pin_blob(in, expect);
		if (rc)
			return rc;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return store_error(-ENOMEM, "out of memory");
	w->in = in;
	w->size = size;
	w->spill = -1;
	snprintf(w->what, sizeof(w->what), "%s", what);
	if (expect) {
		w->expect = *expect;
		w->known = 1;
	}
	w->buf = malloc(OCI_BLOB_CHUNK);
	w->ctx = EVP_MD_CTX_new();
	if (!w->buf || !w->ctx || !EVP_DigestInit_ex(w->ctx, EVP_sha256(), NULL)) {
		oci_blob_writer_abort(w);
		return store_error(-ENOMEM, "out of memory");
	}
	if (!expect && (w->spill = util_tmpfile(NULL, "govc-blob")) < 0) {
		rc = store_error(w->spill, "%s: cannot create a temporary file: %s (set TMPDIR)",
				 what, strerror(-w->spill));
		w->spill = -1;
		oci_blob_writer_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int writer_emit(struct oci_blob_writer *w)
{
	int rc = 0;

	if (!w->fill)
		return 0;
	if (w->known) {
		rc = chunk_put(w->in, &w->expect, w->idx, w->buf, w->fill);
	} else {
		for (size_t done = 0; done < w->fill && rc == 0;) {
			ssize_t n = write(w->spill, w->buf + done, w->fill - done);
			if (n < 0 && errno != EINTR)
				rc = store_error(-errno, "%s: cannot write a temporary file: %s",
						 w->what, strerror(errno));
			done += n > 0 ? (size_t)n : 0;
		}
	}
	w->idx++;
	w->fill = 0;
	return rc;
}

int oci_blob_writer_write(struct oci_blob_writer *w, const void *p, size_t n)
{
	if (w->size != UINT64_MAX && n > w->size - w->total)
		return store_error(-EBADMSG, "%s: longer than the %llu bytes its descriptor says",
				   w->what, (unsigned long long)w->size);
	EVP_DigestUpdate(w->ctx, p, n);
	w->total += n;
	while (n) {
		size_t take = OCI_BLOB_CHUNK - w->fill < n ? OCI_BLOB_CHUNK - w->fill : n;
		int rc;

		memcpy(w->buf + w->fill, p, take);
		w->fill += take;
		p = (const char *)p + take;
		n -= take;
		if (w->fill == OCI_BLOB_CHUNK && (rc = writer_emit(w)))
			return rc;
	}
	return 0;
}

/* replay - the spilled bytes into chunks of blob D */
static int replay(struct oci_blob_writer *w, const struct oci_digest *d)
{
	uint64_t off = 0;
	uint32_t idx = 0;

	while (off < w->total) {
		size_t want = w->total - off < OCI_BLOB_CHUNK ? (size_t)(w->total - off) : OCI_BLOB_CHUNK;
		ssize_t n = pread(w->spill, w->buf, want, (off_t)off);
		int rc;

		if (n <= 0)
			return store_error(-EIO, "%s: cannot read back a temporary file", w->what);
		rc = chunk_put(w->in, d, idx++, w->buf, (size_t)n);
		if (rc)
			return rc;
		off += (uint64_t)n;
	}
	return 0;
}

int oci_blob_writer_finish(struct oci_blob_writer *w, struct oci_digest *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct oci_blob_rec rec = { .chunk = OCI_BLOB_CHUNK };
	struct oci_digest got;
	struct store_txn *t;
	int rc = writer_emit(w);

	if (rc)
		goto out;
	if (w->size != UINT64_MAX && w->total != w->size) {
		rc = store_error(-EBADMSG, "%s: %llu bytes, but its descriptor says %llu (truncated?)",
				 w->what, (unsigned long long)w->total, (unsigned long long)w->size);
		goto out;
	}
	EVP_DigestFinal_ex(w->ctx, md, &mdlen);
	memcpy(got.sha256, md, 32);
	if (w->known && memcmp(&got, &w->expect, sizeof(got))) {
		rc = mismatch(&w->expect, &got, w->what);
		goto out;
	}
	if (out)
		*out = got;
	if (!w->known) {
		rc = present(w->in, &got, w->total, w->what);
		if (rc)
			goto out;	/* stored already (1), or an error */
		rc = pin_blob(w->in, &got);
		if (rc == 0)
			rc = replay(w, &got);
		if (rc)
			goto out;
	}
	rec.size = w->total;
	rc = store_ingest_txn(w->in, &t);
	if (rc == 0)
		rc = store_put(t, TBL_OCI_BLOBS, got.sha256, 32, &rec, sizeof(rec), 0);
	if (rc == 0)
		rc = store_ingest_step(w->in, sizeof(rec));
out:
	oci_blob_writer_abort(w);
	return rc < 0 ? rc : 0;
}

void oci_blob_writer_abort(struct oci_blob_writer *w)
{
	if (!w)
		return;
	/* chunks written stay pinned until the session ends; gc takes them */
	if (w->spill >= 0)
		close(w->spill);
	EVP_MD_CTX_free(w->ctx);
	free(w->buf);
	free(w);
}

int oci_blob_put(struct store_ingest *in, const void *data, size_t len,
		 const struct oci_digest *expect, const char *what, struct oci_digest *out)
{
	struct oci_blob_writer *w;
	struct oci_digest d;
	int rc;

	oci_digest_of(&d, data, len);
	if (expect && memcmp(expect, &d, sizeof(d)))
		return mismatch(expect, &d, what);
	if (out)
		*out = d;
	rc = oci_blob_writer_begin(&w, in, &d, len, what);
	if (rc == -EEXIST)
		return 0;
	if (rc)
		return rc;
	rc = oci_blob_writer_write(w, data, len);
	if (rc) {
		oci_blob_writer_abort(w);
		return rc;
	}
	return oci_blob_writer_finish(w, NULL);
}

/* read_full - read up to LEN bytes, retrying short reads; bytes or -errno */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int oci_blob_put_fd(struct store_ingest *in, int fd, const struct oci_digest *expect,
		    uint64_t size, const char *what)
{
	struct oci_blob_writer *w;
	char *buf = NULL;
	int rc = oci_blob_writer_begin(&w, in, expect, size, what);

	if (rc == -EEXIST)
		return 0;
	if (rc)
		return rc;
	buf = malloc(OCI_BLOB_CHUNK);
	if (!buf)
		rc = store_error(-ENOMEM, "out of memory");
	while (rc == 0) {
		ssize_t n = read_full(fd, buf, OCI_BLOB_CHUNK);

		if (n < 0) {
			rc = store_error((int)n, "%s: cannot read: %s", what, strerror((int)-n));
			break;
		}
		if (n == 0)
			break;
		rc = oci_blob_writer_write(w, buf, (size_t)n);
	}
	free(buf);
	if (rc) {
		oci_blob_writer_abort(w);
		return rc;
	}
	return oci_blob_writer_finish(w, NULL);
}

/*
 * copy_out - N bytes at P (in the map) into BUF, read with pread from the
 * data file where they lie, so that streaming a large blob does not fault
 * its pages into this process (they would count in its RSS; the page cache
 * holds them either way).  A write transaction's own pages are copied.
 */
static int copy_out(void *buf, struct store_txn *t, const void *p, size_t n)
{
	uint64_t off;
	int fd;

	if (store_locate(t, p, n, &fd, &off) == 0) {
		int rc = util_pread_all(fd, buf, n, (off_t)off);

		return rc ? store_error(rc, "cannot read the store's data file: %s", strerror(-rc))
			  : 0;
	}
	memcpy(buf, p, n);
	return 0;
}

long oci_blob_read(struct store_txn *t, const struct oci_digest *d, uint64_t off, void *buf,
		   size_t len)
{
	unsigned char key[36];
	uint64_t size;
	size_t done = 0;
	int rc = oci_blob_size(t, d, &size);

	if (rc)
		return rc;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	if (len > (size_t)LONG_MAX)
		len = (size_t)LONG_MAX;
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t idx = (uint32_t)(pos / OCI_BLOB_CHUNK);
		size_t in = (size_t)(pos % OCI_BLOB_CHUNK), n;
		MDB_val v;

		chunk_key(key, d, idx);
		rc = store_get(t, TBL_OCI_BLOBS, key, sizeof(key), &v);
		if (rc || v.mv_size <= in) {
			char hex[OCI_DIGEST_STRLEN + 1];
			return store_error(-EIO, "blob %s: chunk %u is missing or short; run govc fsck",
					   oci_digest_fmt(hex, d), idx);
		}
		n = v.mv_size - in;
		if (n > len - done)
			n = len - done;
		rc = copy_out((char *)buf + done, t, (const char *)v.mv_data + in, n);
		if (rc)
			return rc;
		done += n;
	}
	return (long)done;
}

int oci_blob_load(struct store_txn *t, const struct oci_digest *d, size_t max,
		  const char *what, char **out, size_t *len)
{
	uint64_t size;
	char *buf;
	long n;
	int rc = oci_blob_size(t, d, &size);

	*out = NULL;
	if (rc == -ENOENT) {
		char hex[OCI_DIGEST_STRLEN + 1];
		return store_error(-ENOENT, "%s: blob %s is not in the store", what,
				   oci_digest_fmt(hex, d));
	}
	if (rc)
		return rc;
	if (size > max)
		return store_error(-EFBIG, "%s is %llu bytes, more than the limit of %zu", what,
				   (unsigned long long)size, max);
	buf = malloc((size_t)size + 1);
	if (!buf)
		return store_error(-ENOMEM, "out of memory");
	n = oci_blob_read(t, d, 0, buf, (size_t)size);
	if (n < 0 || (uint64_t)n != size) {
		free(buf);
		return n < 0 ? (int)n : store_error(-EIO, "%s: short blob", what);
	}
	buf[size] = '\0';
	*out = buf;
	*len = (size_t)size;
	return 0;
}

int oci_json_load(struct store_txn *t, const struct oci_digest *d, const char *what,
		  json_t **out)
{
	char *buf;
	size_t len;
	int rc = oci_blob_load(t, d, OCI_JSON_MAX, what, &buf, &len);

	if (rc)
		return rc;
	rc = oci_json_parse(buf, len, what, out);
	free(buf);
	return rc;
}

int oci_blob_foreach(struct store_txn *t,
		     int (*cb)(const struct oci_digest *d, uint64_t size, void *arg), void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_BLOBS), &c);

	if (rc)
		return store_mdb_error(rc, "oci_blobs");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		struct oci_blob_rec rec;
		struct oci_digest d;

		if (k.mv_size != 32 || v.mv_size != sizeof(rec))
			continue;	/* a chunk */
		memcpy(&rec, v.mv_data, sizeof(rec));
		memcpy(d.sha256, k.mv_data, 32);
		rc = cb(&d, rec.size, arg);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "oci");
}

/* ---- known locations of blobs ------------------------------------------- */

/* location_key - 'r' digest[32] host \0 repo into KEY; its length, or 0
 * if it would pass LMDB's key limit */
static size_t location_key(unsigned char *key, const struct oci_digest *d, const char *host,
			   const char *repo)
{
	size_t h = strlen(host), r = strlen(repo);

	if (1 + 32 + h + 1 + r > OCI_LOCATION_KEY_MAX)
		return 0;
	key[0] = OCI_K_LOCATION;
	memcpy(key + 1, d->sha256, 32);
	memcpy(key + 33, host, h);
	key[33 + h] = '\0';
	memcpy(key + 34 + h, repo, r);
	return 34 + h + r;
}

/* location_walk - CB for each location record of D (cursor C); a non-zero
 * return from CB stops the walk and is returned */
static int location_walk(struct store_txn *t, const struct oci_digest *d,
			 int (*cb)(const MDB_val *k, int64_t time_ns, void *arg), void *arg)
{
	unsigned char prefix[33];
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_META), &c);

	if (rc)
		return store_mdb_error(rc, "oci_meta");
	prefix[0] = OCI_K_LOCATION;
	memcpy(prefix + 1, d->sha256, 32);
	k.mv_size = sizeof(prefix);
	k.mv_data = prefix;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > sizeof(prefix) && !memcmp(k.mv_data, prefix, sizeof(prefix))) {
		int64_t time_ns = 0;

		if (v.mv_size == sizeof(time_ns))
			memcpy(&time_ns, v.mv_data, sizeof(time_ns));
		rc = cb(&k, time_ns, arg);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "oci_meta");
}

/* the oldest location record of a blob, and how many it has */
struct oldest {
	unsigned n;
	int64_t time_ns;
	unsigned char key[OCI_LOCATION_KEY_MAX];
	size_t klen;
};

static int oldest_cb(const MDB_val *k, int64_t time_ns, void *arg)
{
	struct oldest *o = arg;

	if (!o->n++ || time_ns < o->time_ns) {
		o->time_ns = time_ns;
		o->klen = k->mv_size <= sizeof(o->key) ? k->mv_size : 0;
		memcpy(o->key, k->mv_data, o->klen);
	}
	return 0;
}

int oci_blob_location_add(struct store_txn *t, const struct oci_digest *d, const char *host,
			  const char *repo)
{
	unsigned char key[OCI_LOCATION_KEY_MAX];
	size_t klen = location_key(key, d, host, repo);
	int64_t now = now_ns();
	struct oldest o = { 0 };
	uint64_t size;
	MDB_val v;
	int rc;

	if (!klen || !host[0] || !repo[0])
		return store_error(-ENAMETOOLONG, "cannot record where a blob is: '%.80s/%.80s' is empty or too long",
				   host, repo);
	/* in the transaction that finds the blob: gc drops a blob's
	 * locations in the one that deletes its header */
	rc = oci_blob_size(t, d, &size);
	if (rc)
		return rc;
	rc = store_get(t, TBL_OCI_META, key, klen, &v);
	if (rc == -ENOENT) {
		rc = location_walk(t, d, oldest_cb, &o);
		if (rc == 0 && o.n >= OCI_LOCATIONS_MAX && o.klen)
			rc = store_del(t, TBL_OCI_META, o.key, o.klen);
	}
	if (rc)
		return rc;
	return store_put(t, TBL_OCI_META, key, klen, &now, sizeof(now), 0);
}

struct location_call {
	int (*cb)(const char *host, const char *repo, int64_t time_ns, void *arg);
	void *arg;
};

static int location_call(const MDB_val *k, int64_t time_ns, void *arg)
{
	struct location_call *lc = arg;
	char buf[OCI_LOCATION_KEY_MAX];
	size_t n = k->mv_size - 33;
	const char *nul;

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, (const char *)k->mv_data + 33, n);
	buf[n] = '\0';
	nul = memchr(buf, '\0', n);
	if (!nul || nul == buf || !nul[1])
		return 0;	/* not a location: nothing to say */
	return lc->cb(buf, nul + 1, time_ns, lc->arg);
}

int oci_blob_location_foreach(struct store_txn *t, const struct oci_digest *d,
			      int (*cb)(const char *host, const char *repo, int64_t time_ns,
					void *arg),
			      void *arg)
{
	struct location_call lc = { cb, arg };

	return location_walk(t, d, location_call, &lc);
}

/* ---- image records ------------------------------------------------------ */

int oci_image_rec_get(struct store_txn *t, const struct oci_digest *m,
		      struct oci_image_rec *hdr, const unsigned char **layers)
{
	unsigned char key[33];
	MDB_val v;
	int rc;

	key[0] = 'i';
	memcpy(key + 1, m->sha256, 32);
	rc = store_get(t, TBL_OCI_META, key, sizeof(key), &v);
	if (rc)
		return rc;
	if (v.mv_size < sizeof(*hdr))
		goto corrupt;
	memcpy(hdr, v.mv_data, sizeof(*hdr));
	if (hdr->version != 1 || hdr->nlayers > OCI_LAYERS_MAX ||
	    v.mv_size != sizeof(*hdr) + hdr->nlayers * sizeof(struct oci_image_layer_rec))
		goto corrupt;
	hdr->media_type[OCI_MEDIA_TYPE_MAX] = '\0';
	if (layers)
		*layers = (const unsigned char *)v.mv_data + sizeof(*hdr);
	return 0;
corrupt: {
	char hex[OCI_DIGEST_STRLEN + 1];
	return store_error(-EIO, "image %s: corrupt record; run govc fsck", oci_digest_fmt(hex, m));
}
}

int oci_layer_rec_get(struct store_txn *t, const struct oci_digest *d, struct oci_layer_rec *out)
{
	MDB_val v;
	int rc = store_get(t, TBL_OCI_LAYERS, d->sha256, 32, &v);

	if (rc)
		return rc;
	if (v.mv_size != sizeof(*out)) {
		char hex[OCI_DIGEST_STRLEN + 1];
		return store_error(-EIO, "layer %s: corrupt record", oci_digest_fmt(hex, d));
	}
	memcpy(out, v.mv_data, sizeof(*out));
	return 0;
}

int oci_layer_info(struct store_txn *t, const struct oci_digest *layer,
		   struct oci_layer_info *out)
{
	struct oci_layer_rec rec;
	int rc = oci_layer_rec_get(t, layer, &rec);

	if (rc)
		return rc;
	out->id = rec.lid;
	memcpy(out->diff_id.sha256, rec.diff_id, 32);
	out->size = rec.size;
	out->usize = rec.usize;
	out->entries = rec.entries;
	out->compression = rec.compression;
	return 0;
}

int oci_image_info(struct store_txn *t, const struct oci_digest *m, struct oci_image_info *out)
{
	struct oci_image_rec rec;
	int rc = oci_image_rec_get(t, m, &rec, NULL);

	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	out->manifest = *m;
	out->manifest_size = rec.manifest_size;
	memcpy(out->media_type, rec.media_type, sizeof(out->media_type));
	memcpy(out->config.sha256, rec.config, 32);
	out->config_size = rec.config_size;
	out->created = rec.created;
	out->size = rec.size;
	out->nlayers = rec.nlayers;
	return 0;
}

int oci_image_layer(struct store_txn *t, const struct oci_digest *m, unsigned i,
		    struct oci_digest *digest, uint64_t *size)
{
	struct oci_image_rec rec;
	struct oci_image_layer_rec l;
	const unsigned char *layers;
	int rc = oci_image_rec_get(t, m, &rec, &layers);

	if (rc)
		return rc;
	if (i >= rec.nlayers)
		return -ENOENT;
	memcpy(&l, layers + i * sizeof(l), sizeof(l));
	if (digest)
		memcpy(digest->sha256, l.digest, 32);
	if (size)
		*size = l.size;
	return 0;
}

/* ---- tags --------------------------------------------------------------- */

static int tag_key(char *key, const char *name, const char *tag, size_t *klen)
{
	size_t n = strlen(name), m = strlen(tag);

	if (n > OCI_NAME_MAX || m > OCI_TAG_MAX)
		return store_error(-EINVAL, "image name or tag too long");
	memcpy(key, name, n);
	key[n] = '\0';
	memcpy(key + n + 1, tag, m);
	*klen = n + 1 + m;
	return 0;
}

/* image_event - append {"type":"image","action":...} to the event log */
static int image_event(struct store_txn *t, const char *action, const char *name,
		       const char *tag, const struct oci_digest *m)
{
	char hex[OCI_DIGEST_STRLEN + 1];
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:I}", "type", "image", "action", action,
			       "name", name, "tag", tag, "digest",
			       m ? oci_digest_fmt(hex, m) : NULL, "time",
			       (json_int_t)time(NULL));

	return store_event_raise(t, ev);
}

int oci_tag_get(struct store_txn *t, const char *name, const char *tag,
		struct oci_digest *manifest, struct oci_digest *index)
{
	char key[OCI_NAME_MAX + OCI_TAG_MAX + 2];
	struct oci_tag_rec rec;
	size_t klen;
	MDB_val v;
	int rc = tag_key(key, name, tag, &klen);

	if (rc)
		return rc;
	rc = store_get(t, TBL_OCI_TAGS, key, klen, &v);
	if (rc == -ENOENT)
		return store_error(-ENOENT, "no image '%s:%s' in the store (see govc images)", name,
				   tag);
	if (rc)
		return rc;
	if (v.mv_size != sizeof(rec))
		return store_error(-EIO, "image '%s:%s': corrupt tag record", name, tag);
	memcpy(&rec, v.mv_data, sizeof(rec));
	if (manifest)
		memcpy(manifest->sha256, rec.manifest, 32);
	if (index)
		memcpy(index->sha256, rec.index, 32);
	return 0;
}

int oci_tag_set(struct store_txn *t, const char *name, const char *tag,
		const struct oci_digest *m, const struct oci_digest *index)
{
	char key[OCI_NAME_MAX + OCI_TAG_MAX + 2];
	struct oci_tag_rec rec;
	struct oci_image_rec img;
	size_t klen;
	int rc = oci_name_check(name);

	if (rc == 0)
		rc = oci_tag_check(tag);
	if (rc == 0)
		rc = tag_key(key, name, tag, &klen);
	if (rc)
		return rc;
	rc = oci_image_rec_get(t, m, &img, NULL);
	if (rc == -ENOENT) {
		char hex[OCI_DIGEST_STRLEN + 1];
		return store_error(-ENOENT, "cannot tag '%s:%s': image %s was never imported", name,
				   tag, oci_digest_fmt(hex, m));
	}
	if (rc)
		return rc;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.manifest, m->sha256, 32);
	if (index)
		memcpy(rec.index, index->sha256, 32);
	rec.time_ns = now_ns();
	rc = store_put(t, TBL_OCI_TAGS, key, klen, &rec, sizeof(rec), 0);
	/* a gc running now must keep what the tag reaches */
	if (rc == 0)
		rc = store_gc_touch(t, 'b', m->sha256, 32);
	if (rc == 0 && index)
		rc = store_gc_touch(t, 'b', index->sha256, 32);
	if (rc)
		return rc;
	return image_event(t, "tag", name, tag, m);
}

int oci_tag_delete(struct store_txn *t, const char *name, const char *tag)
{
	char key[OCI_NAME_MAX + OCI_TAG_MAX + 2];
	size_t klen;
	int rc = tag_key(key, name, tag, &klen);

	if (rc)
		return rc;
	rc = store_del(t, TBL_OCI_TAGS, key, klen);
	if (rc == -ENOENT)
		return store_error(-ENOENT, "no image '%s:%s' in the store (see govc images)", name,
				   tag);
	if (rc)
		return rc;
	return image_event(t, "untag", name, tag, NULL);
}

int oci_tag_foreach(struct store_txn *t, const char *name,
		    int (*cb)(const struct oci_tag *tag, void *arg), void *arg)
{
	char prefix[OCI_NAME_MAX + 2];
	char kbuf[OCI_NAME_MAX + OCI_TAG_MAX + 2];
	size_t plen = 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (name) {
		plen = strlen(name) + 1;
		if (plen > sizeof(prefix))
			return -ENOENT;
		memcpy(prefix, name, plen);	/* with its NUL */
	}
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_TAGS), &c);
	if (rc)
		return store_mdb_error(rc, "oci_tags");
	k.mv_size = plen;
	k.mv_data = prefix;
	rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		struct oci_tag_rec rec;
		struct oci_tag tg;
		const char *nul;

		if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen)))
			break;
		nul = memchr(k.mv_data, '\0', k.mv_size);
		if (!nul || k.mv_size >= sizeof(kbuf) || v.mv_size != sizeof(rec)) {
			rc = store_error(-EIO, "oci_tags: corrupt record");
			break;
		}
		memcpy(kbuf, k.mv_data, k.mv_size);
		kbuf[k.mv_size] = '\0';
		memcpy(&rec, v.mv_data, sizeof(rec));
		tg.name = kbuf;
		tg.tag = kbuf + (nul - (const char *)k.mv_data) + 1;
		memcpy(tg.manifest.sha256, rec.manifest, 32);
		memcpy(tg.index.sha256, rec.index, 32);
		tg.time_ns = rec.time_ns;
		rc = cb(&tg, arg);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "oci");
}

/* ---- pins --------------------------------------------------------------- */

static int pin_key(unsigned char *key, const char *owner, const struct oci_digest *d,
		   size_t *klen)
{
	size_t n = strlen(owner);

	if (n == 0 || n > PIN_OWNER_MAX || memchr(owner, '\0', n))
		return store_error(-EINVAL, "pin owner '%.60s' must be 1 to %d bytes", owner,
				   PIN_OWNER_MAX);
	key[0] = 'p';
	memcpy(key + 1, owner, n);
	key[1 + n] = '\0';
	*klen = 2 + n;
	if (d) {
		memcpy(key + *klen, d->sha256, 32);
		*klen += 32;
	}
	return 0;
}

int oci_pin(struct store_txn *t, const char *owner, const struct oci_digest *d)
{
	unsigned char key[2 + PIN_OWNER_MAX + 32];
	size_t klen;
	int rc = pin_key(key, owner, d, &klen);

	if (rc == 0)
		rc = store_gc_touch(t, 'b', d->sha256, 32);
	return rc ? rc : store_put(t, TBL_OCI_META, key, klen, "", 0, 0);
}

int oci_unpin(struct store_txn *t, const char *owner, const struct oci_digest *d)
{
	unsigned char key[2 + PIN_OWNER_MAX + 32];
	size_t klen;
	int rc = pin_key(key, owner, d, &klen);

	if (rc)
		return rc;
	if (!d)
		return store_del_prefix(t, TBL_OCI_META, key, klen);
	rc = store_del(t, TBL_OCI_META, key, klen);
	return rc == -ENOENT ? 0 : rc;
}

int oci_unpin_prefix(struct store_txn *t, const char *prefix)
{
	unsigned char key[1 + PIN_OWNER_MAX];
	size_t n = strlen(prefix);

	if (n == 0 || n > PIN_OWNER_MAX)
		return store_error(-EINVAL, "pin owner prefix '%.60s' must be 1 to %d bytes", prefix,
				   PIN_OWNER_MAX);
	key[0] = 'p';
	memcpy(key + 1, prefix, n);
	return store_del_prefix(t, TBL_OCI_META, key, 1 + n);
}

int oci_pin_find(struct store_txn *t, const char *owner, struct oci_digest *d)
{
	unsigned char key[2 + PIN_OWNER_MAX + 32];
	size_t klen;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = pin_key(key, owner, NULL, &klen);

	if (rc)
		return rc;
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OCI_META), &c);
	if (rc)
		return store_mdb_error(rc, "oci_meta");
	k.mv_size = klen;
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == klen + 32 && memcmp(k.mv_data, key, klen) == 0)
		memcpy(d->sha256, (const char *)k.mv_data + klen, 32);
	else if (rc == 0 || rc == MDB_NOTFOUND)
		rc = -ENOENT;
	mdb_cursor_close(c);
	return rc > 0 ? store_mdb_error(rc, "oci_meta") : rc;
}

/* ---- blob streams for libarchive ----------------------------------------- */

int oci_blob_stream_init(struct oci_blob_stream *bs, struct store *s,
			 const struct oci_digest *d)
{
	struct store_txn *t;
	int rc;

	memset(bs, 0, sizeof(*bs));
	bs->s = s;
	bs->d = *d;
	rc = store_txn_begin(&t, s, 0);
	if (rc)
		return rc;
	rc = oci_blob_size(t, d, &bs->size);
	store_txn_abort(t);
	if (rc)
		return rc;
	bs->buf = malloc(OCI_BLOB_CHUNK);
	return bs->buf ? 0 : store_error(-ENOMEM, "out of memory");
}

void oci_blob_stream_release(struct oci_blob_stream *bs)
{
	free(bs->buf);
	bs->buf = NULL;
}

static la_ssize_t blob_stream_read(struct archive *a, void *arg, const void **buf)
{
	struct oci_blob_stream *bs = arg;
	long n;

	if (bs->pos >= bs->size)
		return 0;
	struct store_txn *t;
	n = store_txn_begin(&t, bs->s, 0);
	if (n == 0) {
		/* a short read transaction of its own (or the thread's writer) */
		n = oci_blob_read(t, &bs->d, bs->pos, bs->buf, OCI_BLOB_CHUNK);
		store_txn_abort(t);
	}
	if (n <= 0) {
		archive_set_error(a, EIO, "%s", n < 0 ? store_errmsg() : "blob ends early");
		return -1;
	}
	bs->pos += (uint64_t)n;
	*buf = bs->buf;
	return n;
}

int oci_blob_stream_open(struct archive **out, struct oci_blob_stream *bs, const char *what)
{
	struct archive *a;
	struct archive_entry *e;

	*out = NULL;
	if (bs->size == 0)
		return -ENODATA;
	a = archive_read_new();
	if (!a)
		return store_error(-ENOMEM, "out of memory");
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, bs, NULL, blob_stream_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		int rc = store_error(-EBADMSG, "%s: the stream is truncated or corrupt (%s)", what,
				     archive_error_string(a) ? archive_error_string(a) : "unknown error");
		archive_read_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

/* ---- the store as a layout ---------------------------------------------- */

struct index_walk {
	struct store_txn *t;
	json_t *manifests;
};

static int index_add_tag(const struct oci_tag *tg, void *arg)
{
	struct index_walk *w = arg;
	struct oci_image_info info;
	char hex[OCI_DIGEST_STRLEN + 1], ref[OCI_NAME_MAX + OCI_TAG_MAX + 2];
	json_t *d;
	int rc = oci_image_info(w->t, &tg->manifest, &info);

	if (rc)
		return rc;
	snprintf(ref, sizeof(ref), "%s:%s", tg->name, tg->tag);
	d = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", info.media_type, "digest",
		      oci_digest_fmt(hex, &tg->manifest), "size", (json_int_t)info.manifest_size,
		      "annotations", OCI_REF_ANNOTATION, ref);
	if (!d || json_array_append_new(w->manifests, d))
		return store_error(-ENOMEM, "out of memory");
	return 0;
}

int oci_layout_index_json(struct store_txn *t, char **out, size_t *len)
{
	json_t *doc = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
				"manifests");
	struct index_walk w = { t, NULL };
	int rc;

	*out = NULL;
	if (!doc)
		return store_error(-ENOMEM, "out of memory");
	w.manifests = json_object_get(doc, "manifests");
	rc = oci_tag_foreach(t, NULL, index_add_tag, &w);
	if (rc == 0) {
		*out = json_dumps(doc, JSON_COMPACT);
		if (!*out)
			rc = store_error(-ENOMEM, "out of memory");
		else
			*len = strlen(*out);
	}
	json_decref(doc);
	return rc;
}

/* ---- image records ------------------------------------------------------ */

int oci_image_record_put(struct store_txn *t, const struct oci_descriptor *manifest,
			 const char *media_type, const struct oci_descriptor *config,
			 int64_t created, unsigned nlayers, const struct oci_descriptor *layers)
{
	size_t len = sizeof(struct oci_image_rec) + nlayers * sizeof(struct oci_image_layer_rec);
	unsigned char key[33], *val;
	struct oci_image_rec rec;
	int rc = 0;

	if (nlayers > OCI_LAYERS_MAX)
		return store_error(-EFBIG, "an image of %u layers, more than the limit of %d",
				   nlayers, OCI_LAYERS_MAX);
	val = malloc(len);
	if (!val)
		return store_error(-ENOMEM, "out of memory");
	memset(&rec, 0, sizeof(rec));
	rec.version = 1;
	rec.nlayers = nlayers;
	rec.created = created;
	rec.manifest_size = manifest->size;
	rec.config_size = config->size;
	memcpy(rec.config, config->digest.sha256, 32);
	snprintf(rec.media_type, sizeof(rec.media_type), "%s", media_type);
	rec.size = manifest->size + config->size;
	for (unsigned i = 0; i < nlayers && rc == 0; i++) {
		struct oci_image_layer_rec l;
		struct oci_layer_rec lr;
		char hex[OCI_DIGEST_STRLEN + 1];

		rc = oci_layer_rec_get(t, &layers[i].digest, &lr);
		if (rc == -ENOENT)
			rc = store_error(-ENOENT, "layer %s is not indexed",
					 oci_digest_fmt(hex, &layers[i].digest));
		memset(&l, 0, sizeof(l));
		l.lid = lr.lid;
		memcpy(l.digest, layers[i].digest.sha256, 32);
		l.size = layers[i].size;
		rec.size += l.size;
		memcpy(val + sizeof(rec) + i * sizeof(l), &l, sizeof(l));
	}
	memcpy(val, &rec, sizeof(rec));
	key[0] = 'i';
	memcpy(key + 1, manifest->digest.sha256, 32);
	if (rc == 0)
		rc = store_put(t, TBL_OCI_META, key, sizeof(key), val, len, 0);
	free(val);
	return rc;
}
