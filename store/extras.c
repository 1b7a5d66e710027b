/*
 * extras.c - the extras records of commits (see extras.h).
 *
 * A record is a run of entries, each: be32 mode, be32 uid, be32 gid,
 * be64 rdev, be64 group, be16 path length, the path (no NUL), sorted by
 * path.  Big-endian, so a record means the same on any host (it travels
 * with the store).  Records are small (a handful of devices, the hard
 * links of a root filesystem) and read whole: a lookup is one pass.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "store/extras.h"
#include "store/repo.h"
#include "store/store_int.h"

#define ENTRY_HEAD 34
#define PATH_MAX_LEN 4096

static uint32_t be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void be32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

int store_extras_add(struct util_buf *b, const struct store_extra *e)
{
	unsigned char head[ENTRY_HEAD];
	size_t plen = strlen(e->path);
	int rc;

	if (plen == 0 || plen > PATH_MAX_LEN)
		return store_error(-E2BIG, "path '%.64s' cannot be recorded", e->path);
	be32_put(head, e->mode);
	be32_put(head + 4, e->uid);
	be32_put(head + 8, e->gid);
	store_be64_put(head + 12, e->rdev);
	store_be64_put(head + 20, e->group);
	head[28] = (unsigned char)(plen >> 8);
	head[29] = (unsigned char)plen;
	/* two bytes spare, zero: room for flags without a new format */
	head[30] = head[31] = head[32] = head[33] = 0;
	rc = util_buf_add(b, head, sizeof(head));
	if (rc == 0)
		rc = util_buf_add(b, e->path, plen);
	return rc ? store_error(rc, "extras of '%.64s' do not fit", e->path) : 0;
}

int store_extras_put(struct store_txn *t, const git_oid *id, const void *body, size_t len)
{
	if (!len)
		return 0;
	return store_put(t, TBL_EXTRAS, id->id, GIT_OID_RAWSZ, body, len, 0);
}

int store_extras_get(struct store_txn *t, const git_oid *id, const void **body, size_t *len)
{
	MDB_val v;
	int rc = store_get(t, TBL_EXTRAS, id->id, GIT_OID_RAWSZ, &v);

	*body = NULL;
	*len = 0;
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	*body = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int store_extras_delete(struct store_txn *t, const git_oid *id)
{
	int rc = store_del(t, TBL_EXTRAS, id->id, GIT_OID_RAWSZ);

	return rc == -ENOENT ? 0 : rc;
}

/* next - decode the entry at *POS of BODY into E (its path into PATH);
 * 1, 0 at the end, -EIO if corrupt */
static int next(const unsigned char *body, size_t len, size_t *pos, struct store_extra *e,
		char *path)
{
	const unsigned char *p = body + *pos;
	size_t plen;

	if (*pos == len)
		return 0;
	if (len - *pos < ENTRY_HEAD)
		return store_error(-EIO, "an extras record is corrupt (short entry)");
	plen = (size_t)p[28] << 8 | p[29];
	if (plen == 0 || plen > PATH_MAX_LEN || len - *pos - ENTRY_HEAD < plen)
		return store_error(-EIO, "an extras record is corrupt (bad path length)");
	e->mode = be32_get(p);
	e->uid = be32_get(p + 4);
	e->gid = be32_get(p + 8);
	e->rdev = store_be64_get(p + 12);
	e->group = store_be64_get(p + 20);
	memcpy(path, p + ENTRY_HEAD, plen);
	path[plen] = '\0';
	e->path = path;
	e->nlink = 1;
	*pos += ENTRY_HEAD + plen;
	return 1;
}

/* count_group - how many entries of BODY have GROUP */
static int count_group(const void *body, size_t len, uint64_t group, uint32_t *out)
{
	char path[PATH_MAX_LEN + 1];
	struct store_extra e;
	size_t pos = 0;
	int rc;

	*out = 0;
	while ((rc = next(body, len, &pos, &e, path)) == 1)
		*out += e.group == group;
	return rc;
}

/* walk - store_extras_foreach, counting nlink only if COUNT */
static int walk(const void *body, size_t len, int count,
		int (*cb)(const struct store_extra *e, void *arg), void *arg)
{
	char path[PATH_MAX_LEN + 1];
	struct store_extra e;
	size_t pos = 0;
	int rc;

	if (len > STORE_EXTRAS_MAX)
		return store_error(-EIO, "an extras record is corrupt (too long)");
	while ((rc = next(body, len, &pos, &e, path)) == 1) {
		if (count && e.group && (rc = count_group(body, len, e.group, &e.nlink)))
			return rc;
		rc = cb(&e, arg);
		if (rc)
			return rc;
	}
	return rc;
}

int store_extras_foreach(const void *body, size_t len,
			 int (*cb)(const struct store_extra *e, void *arg), void *arg)
{
	return walk(body, len, 1, cb, arg);
}

struct find {
	const char *path;
	struct store_extra *out;
};

static int find_one(const struct store_extra *e, void *arg)
{
	struct find *f = arg;

	if (strcmp(e->path, f->path))
		return 0;
	*f->out = *e;
	return 1;
}

int store_extras_lookup(const void *body, size_t len, const char *path, struct store_extra *out)
{
	struct find f = { .path = path, .out = out };
	int rc = walk(body, len, 0, find_one, &f);

	if (rc != 1)
		return rc;
	out->path = path;	/* the caller's, which outlives ours */
	rc = out->group ? count_group(body, len, out->group, &out->nlink) : 0;
	return rc ? rc : 1;
}

int store_extras_find(struct store_txn *t, const git_oid *id, const char *path,
		      struct store_extra *out)
{
	const void *body;
	size_t len;
	int rc = store_extras_get(t, id, &body, &len);

	if (rc == 0)
		rc = store_extras_lookup(body, len, path, out);
	return rc == 1 ? 0 : rc ? rc : -ENOENT;
}

int store_extras_is_special(const struct store_extra *e)
{
	return !S_ISREG(e->mode) && !S_ISDIR(e->mode) && !S_ISLNK(e->mode);
}

int store_extras_head(struct store *s, const char *repo,
		      int (*cb)(const struct store_extra *e, void *arg), void *arg)
{
	struct store_txn *t;
	const void *body;
	size_t len = 0;
	git_oid id;
	int rc = store_txn_begin(&t, s, 0);

	if (rc)
		return rc;
	rc = store_ref_resolve(t, repo, "HEAD", &id);
	if (rc == -ENOENT)
		rc = 0;		/* no commit yet: nothing */
	else if (rc == 0)
		rc = store_extras_get(t, &id, &body, &len);
	if (rc == 0 && len)
		rc = store_extras_foreach(body, len, cb, arg);
	store_txn_abort(t);
	return rc;
}
