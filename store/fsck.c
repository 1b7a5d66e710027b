/*
 * fsck.c - checking a store (fsck.h).
 *
 * Objects: one pass over the objects table re-hashes every object, parses
 * trees, commits and tags, and looks up every object they name (it must
 * exist, with the right type).  So the closure holds: everything
 * reachable from an object that is present is present.  A ref whose
 * target exists therefore has its whole history, every tree and every
 * blob of it - what walking each ref's history would prove, at one lookup
 * per reference instead of one walk per ref.  Only when objects are
 * damaged or missing are the histories walked, to say which repositories
 * the damage reaches.
 *
 * Refs: every repository's HEAD names a branch with a working tree;
 * every ref is an object id (or a symbolic ref); branches are commits.
 *
 * Working trees: flat passes over the worktrees, dirents, inodes, chunks
 * and xattrs tables: each entry names an existing inode whose parent is
 * that directory and which no other entry names; each inode is linked
 * (or a root, or an orphan waiting for close) and reaches a root; file
 * bases and clean directories' trees exist; chunks and xattrs belong to
 * existing inodes.  Each working tree is walked once with the commit's
 * rules: a dirty directory that a commit takes must have a dirty parent
 * (a commit enters dirty directories only).  Ignored ones need not: no
 * commit visits them, so a .git written in twice keeps its flags.
 *
 * Images: every OCI blob is re-hashed (sha256) chunk by chunk; every tag
 * names an imported image whose manifest, config, index and layer blobs
 * are present and whose layers are indexed; every file of a layer index
 * names a git blob of its size.
 *
 * Workload: ~100k objects and inodes take seconds: per object one SHA-1
 * and one lookup per reference; per inode a lookup or two; memory is one
 * set entry per linked inode.  Everything is read in one read
 * transaction - a consistent snapshot that holds up no writer, so a
 * mounted store goes on working.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <git2.h>
#include <openssl/evp.h>

#include "store/commit.h"
#include "store/fsck.h"
#include "store/oci_int.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/store_int.h"
#include "store/worktree.h"
#include "util/array.h"
#include "util/hashset.h"

#define FSCK_PRINT_MAX 1000	/* problems printed; the rest are counted */
#define FSCK_DEPTH_MAX 4096	/* directory depth before a loop is assumed */
#define TREE_MODE 040000
#define GITLINK_MODE 0160000

/* ---- the check ------------------------------------------------------------ */

struct fsck {
	struct store_txn *t;
	FILE *out;
	unsigned long objects, problems;
	/* sets of raw object ids (GIT_OID_RAWSZ) and of inode numbers */
	struct util_hashset bad;	/* damaged objects, and ids named but missing */
	struct util_hashset roots;	/* working tree roots */
	struct util_hashset linked;	/* inodes named by a directory entry */
	struct util_hashset reached;	/* directories known to reach a root */
	uint64_t owner;		/* chunks/xattrs pass: the inode last looked up */
	uint64_t garbage_chunks;	/* chunks an interrupted import left */
	struct util_hashset chunked;	/* numbers chunks may be keyed by: those of
				 * files with pending writes, chunked blobs */
	int err;		/* the check itself failed (out of memory) */
};

/* mark_bad - remember a damaged or missing object, for the damage walk. */
static void mark_bad(struct fsck *f, const git_oid *id)
{
	if (util_hashset_add(&f->bad, id->id) < 0)
		f->err = -ENOMEM;
}

static void problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	if (f->problems++ >= FSCK_PRINT_MAX)
		return;
	va_start(ap, fmt);
	vfprintf(f->out, fmt, ap);
	va_end(ap);
	fputc('\n', f->out);
}

static const char *hex(char *buf, const git_oid *id)
{
	return git_oid_tostr(buf, GIT_OID_HEXSZ + 1, id);
}

/*
 * need - object FROM names ID (as WHAT) and ID must be of type WANT.
 * Returns 0, or 1 after reporting a problem (FROM is marked bad).
 */
static int need(struct fsck *f, const git_oid *from, const char *what, const git_oid *id,
		git_object_t want)
{
	char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
	git_object_t type;
	int rc = store_object_info(f->t, id, &type, NULL);

	if (rc == 0 && type == want)
		return 0;
	if (rc == -ENOENT) {
		problem(f, "object %s: %s %s is missing", hex(a, from), what, hex(b, id));
		mark_bad(f, id);
	} else if (rc) {
		problem(f, "object %s: %s %s is unreadable (%s)", hex(a, from), what, hex(b, id),
			store_errmsg());
	} else {
		problem(f, "object %s: %s %s is a %s, not a %s", hex(a, from), what, hex(b, id),
			git_object_type2string(type), git_object_type2string(want));
	}
	mark_bad(f, from);
	return 1;
}

static int valid_tree_mode(unsigned mode)
{
	return mode == TREE_MODE || mode == 0100644 || mode == 0100755 || mode == 0120000 ||
	       mode == GITLINK_MODE || mode == 0100664;	/* old git wrote 664 */
}

static void check_tree(struct fsck *f, const git_oid *id, const void *body, size_t len)
{
	char h[GIT_OID_HEXSZ + 1], what[STORE_NAME_MAX + 32];
	struct store_tree_entry e;
	size_t pos = 0;
	int rc;

	while ((rc = store_tree_next(body, len, &pos, &e)) == 1) {
		if (!valid_tree_mode(e.mode) || memchr(e.name, '/', e.namelen) ||
		    (e.namelen == 1 && e.name[0] == '.') ||
		    (e.namelen == 2 && !memcmp(e.name, "..", 2))) {
			problem(f, "tree %s: entry '%.*s' has a bad name or mode %o", hex(h, id),
				(int)e.namelen, e.name, e.mode);
			mark_bad(f, id);
			continue;
		}
		if (e.mode == GITLINK_MODE)
			continue;	/* a commit of another repository */
		snprintf(what, sizeof(what), "entry '%.*s'", (int)e.namelen, e.name);
		need(f, id, what, e.id, e.mode == TREE_MODE ? GIT_OBJECT_TREE : GIT_OBJECT_BLOB);
	}
	if (rc < 0) {
		problem(f, "tree %s: malformed", hex(h, id));
		mark_bad(f, id);
	}
}

/* check_commit - tree first, then parents, author and committer. */
static void check_commit(struct fsck *f, const git_oid *id, const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	int line = 0, author = 0, committer = 0, tree = 0;
	char h[GIT_OID_HEXSZ + 1];
	git_oid ref;

	while (p < end && *p != '\n') {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;
		if (!nl)
			break;
		n = (size_t)(nl - p);
		if (line == 0 && n == 45 && !strncmp(p, "tree ", 5) &&
		    !git_oid_fromstrn(&ref, p + 5, GIT_OID_HEXSZ)) {
			need(f, id, "tree", &ref, GIT_OBJECT_TREE);
			tree = 1;
		} else if (tree && !author && n == 47 && !strncmp(p, "parent ", 7) &&
			   !git_oid_fromstrn(&ref, p + 7, GIT_OID_HEXSZ)) {
			need(f, id, "parent", &ref, GIT_OBJECT_COMMIT);
		} else if (n > 7 && !strncmp(p, "author ", 7)) {
			author = 1;
		} else if (n > 10 && !strncmp(p, "committer ", 10)) {
			committer = 1;
		}
		p = nl + 1;
		line++;
	}
	if (!tree || !author || !committer) {
		problem(f, "commit %s: malformed (no %s line)", hex(h, id),
			!tree ? "tree" : !author ? "author" : "committer");
		mark_bad(f, id);
	}
}

/* check_tag - "object X" then "type T": X must exist and be a T. */
static void check_tag(struct fsck *f, const git_oid *id, const char *body, size_t len)
{
	git_object_t want = GIT_OBJECT_INVALID;
	char h[GIT_OID_HEXSZ + 1], name[16];
	git_oid ref;

	/* "object " 40 hex "\n" is 48 bytes, then "type " */
	if (len > 53 && !strncmp(body, "object ", 7) && body[47] == '\n' &&
	    !git_oid_fromstrn(&ref, body + 7, GIT_OID_HEXSZ) && !strncmp(body + 48, "type ", 5)) {
		const char *type = body + 53;
		const char *nl = memchr(type, '\n', len - 53);
		if (nl && (size_t)(nl - type) < sizeof(name)) {
			memcpy(name, type, (size_t)(nl - type));
			name[nl - type] = '\0';
			want = git_object_string2type(name);
		}
	}
	if (want == GIT_OBJECT_INVALID) {
		problem(f, "tag %s: malformed", hex(h, id));
		mark_bad(f, id);
		return;
	}
	need(f, id, "tagged object", &ref, want);
}

/* check_chunked - chunked blob ID: whole chunks that hash to ID */
static void check_chunked(struct fsck *f, const git_oid *id)
{
	struct store_piece p[STORE_BLOB_PIECES(STORE_WT_CHUNK)];
	char h[GIT_OID_HEXSZ + 1];
	struct store_hasher *hs;
	uint64_t len, off = 0, owner;
	git_oid actual;
	int rc = store_object_info(f->t, id, NULL, &len);

	if (rc == 0)
		rc = store_object_owner(f->t, id, &owner);
	if (rc == 0 && util_hashset_add(&f->chunked, &owner) < 0)
		f->err = -ENOMEM;
	if (rc == 0)
		rc = store_hasher_new(&hs, GIT_OBJECT_BLOB, len);
	if (rc) {
		problem(f, "object %s: %s", hex(h, id), store_errmsg());
		mark_bad(f, id);
		return;
	}
	while (rc == 0 && off < len) {
		size_t n;
		long got = store_blob_pieces(f->t, id, off, STORE_WT_CHUNK, p, 3, &n);
		rc = got <= 0 ? (got < 0 ? (int)got : -EIO) : 0;
		for (size_t i = 0; rc == 0 && i < n; i++)
			store_hasher_update(hs, p[i].data, p[i].len);
		off += got > 0 ? (uint64_t)got : 0;
	}
	store_hasher_final(hs, &actual);
	if (rc) {
		problem(f, "object %s: %s", hex(h, id), store_errmsg());
		mark_bad(f, id);
	} else if (!git_oid_equal(&actual, id)) {
		problem(f, "object %s: content does not match its id (damaged)", hex(h, id));
		mark_bad(f, id);
	}
}

static void check_object(struct fsck *f, const git_oid *id, const unsigned char *rec,
			 size_t reclen)
{
	char h[GIT_OID_HEXSZ + 1];
	git_object_t type;
	const char *body;
	size_t len;
	git_oid actual;

	f->objects++;
	if (reclen < 1) {
		problem(f, "object %s: empty record", hex(h, id));
		mark_bad(f, id);
		return;
	}
	if (rec[0] & 0x80) {
		check_chunked(f, id);
		return;
	}
	type = (git_object_t)rec[0];
	body = (const char *)rec + 1;
	len = reclen - 1;
	if (type < GIT_OBJECT_COMMIT || type > GIT_OBJECT_TAG) {
		problem(f, "object %s: unknown type %d", hex(h, id), (int)type);
		mark_bad(f, id);
		return;
	}
	if (store_object_hash(&actual, type, body, len) || !git_oid_equal(&actual, id)) {
		problem(f, "object %s: content does not match its id (damaged)", hex(h, id));
		mark_bad(f, id);
		return;
	}
	if (type == GIT_OBJECT_TREE)
		check_tree(f, id, body, len);
	else if (type == GIT_OBJECT_COMMIT)
		check_commit(f, id, body, len);
	else if (type == GIT_OBJECT_TAG)
		check_tag(f, id, body, len);
}

/* scan - call CB for every record of table TBL (a cursor: no copies). */
static int scan(struct fsck *f, enum store_table tbl,
		int (*cb)(struct fsck *f, const MDB_val *k, const MDB_val *v))
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(store_mdb_txn(f->t), store_dbi(f->t, tbl), &c);

	if (rc)
		return store_mdb_error(rc, "opening a cursor");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		rc = cb(f, &k, &v);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "reading the store");
}

static int object_record(struct fsck *f, const MDB_val *k, const MDB_val *v)
{
	git_oid id;

	if (k->mv_size != GIT_OID_RAWSZ) {
		problem(f, "objects table: a key of %zu bytes is not an object id", k->mv_size);
		return 0;
	}
	git_oid_fromraw(&id, k->mv_data);
	check_object(f, &id, v->mv_data, v->mv_size);
	return 0;
}

/* ---- refs ----------------------------------------------------------------- */

struct repo_check {
	struct fsck *f;
	const char *repo;
	struct util_hashset seen;	/* raw ids of the objects the damage walk visited */
	unsigned long reached;	/* bad objects it reached */
	git_oid first;
};

static int check_ref(const char *name, const char *value, void *arg)
{
	struct repo_check *r = arg;
	git_object_t type;
	git_oid id;
	int rc;

	if (!strncmp(value, "ref: ", 5)) {
		if (strncmp(value + 5, "refs/", 5) != 0)
			problem(r->f, "repository '%s': ref %s names '%s', which is not a ref",
				r->repo, name, value + 5);
		return 0;	/* may name an unborn branch */
	}
	if (strlen(value) != GIT_OID_HEXSZ || git_oid_fromstr(&id, value)) {
		problem(r->f, "repository '%s': ref %s is not an object id ('%.50s')", r->repo,
			name, value);
		return 0;
	}
	rc = store_object_info(r->f->t, &id, &type, NULL);
	if (rc)
		problem(r->f, "repository '%s': ref %s points at missing object %s", r->repo, name,
			value);
	else if (!strncmp(name, "refs/heads/", 11) && type != GIT_OBJECT_COMMIT)
		problem(r->f, "repository '%s': branch %s points at a %s, not a commit", r->repo,
			name + 11, git_object_type2string(type));
	return 0;
}

/* push_id - put ID on ST, a util_array of git_oid used as a stack */
static int push_id(struct util_array *st, const git_oid *id)
{
	git_oid *top = UTIL_ARRAY_PUSH(st, git_oid);

	if (!top)
		return store_error(-ENOMEM, "out of memory");
	git_oid_cpy(top, id);
	return 0;
}

/* push_named - push what a commit ("tree X", "parent X"...) or a tag
 * ("object X") names in its header. */
static int push_named(struct repo_check *r, struct util_array *st, const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	git_oid id;
	int rc = 0;

	while (rc == 0 && p < end && *p != '\n') {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp = nl ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
		if (!nl)
			break;
		if (sp && nl - sp - 1 == GIT_OID_HEXSZ &&
		    (!strncmp(p, "tree ", 5) || !strncmp(p, "parent ", 7) ||
		     !strncmp(p, "object ", 7)) &&
		    !git_oid_fromstrn(&id, sp + 1, GIT_OID_HEXSZ) && !util_hashset_has(&r->seen, id.id))
			rc = push_id(st, &id);
		p = nl + 1;
	}
	return rc;
}

/* walk_from - visit everything reachable from TIP not seen yet
 * (iteratively: histories are long), counting the bad objects met. */
static int walk_from(struct repo_check *r, const git_oid *tip)
{
	struct util_array st = UTIL_ARRAY_INIT(git_oid);
	int rc = push_id(&st, tip);

	while (rc == 0 && util_array_len(&st) > 0) {
		git_oid id = *UTIL_ARRAY_AT(&st, git_oid, --st.len);
		struct store_tree_entry e;
		git_object_t type;
		const void *body;
		size_t len, pos = 0;

		rc = util_hashset_add(&r->seen, id.id);
		if (rc == -ENOMEM)
			rc = store_error(rc, "out of memory");
		if (rc <= 0)
			continue;	/* seen already, or out of memory */
		rc = 0;
		if (util_hashset_has(&r->f->bad, id.id) && r->reached++ == 0)
			git_oid_cpy(&r->first, &id);
		if (store_object_read(r->f->t, &id, &type, &body, &len))
			continue;	/* missing: counted above, nothing below */
		if (type == GIT_OBJECT_TREE) {
			while (rc == 0 && store_tree_next(body, len, &pos, &e) == 1)
				if (e.mode != GITLINK_MODE && !util_hashset_has(&r->seen, e.id->id))
					rc = push_id(&st, e.id);
		} else if (type == GIT_OBJECT_COMMIT || type == GIT_OBJECT_TAG) {
			rc = push_named(r, &st, body, len);
		}
	}
	util_array_release(&st);
	return rc;
}

static int walk_ref(const char *name, const char *value, void *arg)
{
	git_oid id;

	if (strlen(value) != GIT_OID_HEXSZ || git_oid_fromstr(&id, value))
		return 0;
	return walk_from(arg, &id);
}

static int check_repo(const char *repo, void *arg)
{
	struct repo_check r = { .f = arg, .repo = repo, .seen = UTIL_HASHSET_INIT(GIT_OID_RAWSZ) };
	char branch[STORE_REF_NAME_MAX + 1], h[GIT_OID_HEXSZ + 1];
	uint64_t root;
	int rc;

	if (store_repo_head_branch(r.f->t, repo, branch, sizeof(branch)))
		problem(r.f, "repository '%s': %s", repo, store_errmsg());
	else if (store_wt_root(r.f->t, repo, branch, &root))
		problem(r.f, "repository '%s': branch '%s' of HEAD has no working tree", repo,
			branch);
	rc = store_ref_foreach(r.f->t, repo, NULL, check_ref, &r);
	if (rc == 0 && util_hashset_count(&r.f->bad)) {
		rc = store_ref_foreach(r.f->t, repo, "refs/", walk_ref, &r);
		if (rc == 0 && r.reached)
			problem(r.f, "repository '%s': its history reaches %lu damaged or missing "
				     "objects (%s first)",
				repo, r.reached, hex(h, &r.first));
	}
	util_hashset_release(&r.seen);
	return rc;
}

/* ---- working trees -------------------------------------------------------- */

static int missed_dirty(uint64_t ino, uint64_t parent, const char *path, void *arg)
{
	problem(arg, "directory inode %llu ('%s'): dirty below a clean parent %llu (a commit would miss it)",
		(unsigned long long)ino, path, (unsigned long long)parent);
	return 0;
}

static int check_root(const char *repo, const char *branch, uint64_t root, void *arg)
{
	struct fsck *f = arg;
	struct store_inode n;
	int rc = store_repo_exists(f->t, repo);

	if (rc < 0)
		return rc;
	if (rc == 0)
		problem(f, "working tree of '%s' (branch '%s'): there is no such repository", repo,
			branch);
	rc = store_inode_get(f->t, root, &n);
	if (rc == -ENOENT || rc == -EIO) {
		problem(f, "working tree of '%s' (branch '%s'): root inode %llu is %s", repo, branch,
			(unsigned long long)root, rc == -EIO ? "corrupt" : "missing");
		return 0;
	}
	if (rc)
		return rc;
	if (!S_ISDIR(n.mode) || n.parent != 0 || (n.flags & STORE_INO_ORPHAN)) {
		problem(f, "working tree of '%s' (branch '%s'): root inode %llu is not a root directory",
			repo, branch, (unsigned long long)root);
	} else {
		/* the dirty flags, walked with the commit's ignore rules */
		rc = store_wt_check_dirty(f->t, repo, branch, missed_dirty, f);
		if (rc == -ENOMEM)
			return rc;
		if (rc)
			problem(f, "working tree of '%s' (branch '%s'): cannot walk it: %s", repo,
				branch, store_errmsg());
	}
	return util_hashset_add(&f->roots, &root) < 0 ? -ENOMEM : 0;
}

/* other_name - 1 if the links table holds NAME in PARENT as one of hard
 * linked file N's names (not its record's), 0 if not */
static int other_name(struct fsck *f, const struct store_inode *n, uint64_t parent,
		      const char *name, size_t nlen)
{
	unsigned char key[16 + STORE_NAME_MAX];
	MDB_val v;
	int rc;

	if (!(n->flags & STORE_INO_LINKS) || S_ISDIR(n->mode))
		return 0;
	store_be64_put(key, n->ino);
	store_be64_put(key + 8, parent);
	memcpy(key + 16, name, nlen);
	rc = store_get(f->t, TBL_LINKS, key, 16 + nlen, &v);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

/* check_dirent - one directory entry: "be64 parent + name -> be64 ino". */
static int check_dirent(struct fsck *f, const MDB_val *k, const MDB_val *v)
{
	const char *name = (const char *)k->mv_data + 8;
	size_t nlen = k->mv_size - 8;
	struct store_inode n, p;
	uint64_t parent, ino;
	int rc;

	if (k->mv_size <= 8 || nlen > STORE_NAME_MAX || v->mv_size != 8) {
		problem(f, "directory entries: a corrupt record (%zu-byte key, %zu-byte value)",
			k->mv_size, v->mv_size);
		return 0;
	}
	parent = store_be64_get(k->mv_data);
	ino = store_be64_get(v->mv_data);
	if (memchr(name, '/', nlen) || memchr(name, '\0', nlen) ||
	    (nlen == 1 && name[0] == '.') || (nlen == 2 && !memcmp(name, "..", 2)))
		problem(f, "directory %llu: entry '%.*s' has an invalid name",
			(unsigned long long)parent, (int)nlen, name);
	rc = store_inode_get(f->t, parent, &p);
	if (rc == 0 && !S_ISDIR(p.mode))
		problem(f, "inode %llu: has entries ('%.*s') but is not a directory",
			(unsigned long long)parent, (int)nlen, name);
	else if (rc == -ENOENT || rc == -EIO)
		problem(f, "directory %llu of entry '%.*s' is %s", (unsigned long long)parent,
			(int)nlen, name, rc == -EIO ? "corrupt" : "missing");
	else if (rc)
		return rc;
	rc = store_inode_get(f->t, ino, &n);
	if (rc == -ENOENT || rc == -EIO) {
		problem(f, "directory %llu: entry '%.*s' names %s inode %llu",
			(unsigned long long)parent, (int)nlen, name,
			rc == -EIO ? "corrupt" : "missing", (unsigned long long)ino);
		return 0;
	}
	if (rc)
		return rc;
	rc = n.parent != parent ? other_name(f, &n, parent, name, nlen) : 1;
	if (rc < 0)
		return rc;
	if (!rc || (n.flags & STORE_INO_ORPHAN))
		problem(f, "directory %llu: entry '%.*s' names inode %llu, whose parent is %llu%s",
			(unsigned long long)parent, (int)nlen, name, (unsigned long long)ino,
			(unsigned long long)n.parent,
			(n.flags & STORE_INO_ORPHAN) ? " (an orphan)" : "");
	rc = util_hashset_add(&f->linked, &ino);
	if (rc == 0 && !(n.flags & STORE_INO_LINKS))
		problem(f, "inode %llu: named by more than one directory entry, but not a hard link",
			(unsigned long long)ino);
	return rc < 0 ? rc : 0;
}

/* reaches_root - does directory N's chain of parents end at a root? */
static int reaches_root(struct fsck *f, const struct store_inode *n)
{
	uint64_t path[64];
	size_t depth = 0, np = 0;
	struct store_inode cur = *n;

	while (!util_hashset_has(&f->roots, &cur.ino) && !util_hashset_has(&f->reached, &cur.ino)) {
		if (cur.parent == 0 || ++depth > FSCK_DEPTH_MAX ||
		    store_inode_get(f->t, cur.parent, &cur) != 0)
			return 0;
		if (np < sizeof(path) / sizeof(path[0]))
			path[np++] = cur.ino;
	}
	/* remember the way: later directories stop early */
	if (util_hashset_add(&f->reached, &n->ino) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < np; i++)
		if (util_hashset_add(&f->reached, &path[i]) < 0)
			return -ENOMEM;
	return 1;
}

static void check_file(struct fsck *f, const struct store_inode *n)
{
	char h[GIT_OID_HEXSZ + 1];
	git_object_t type;
	uint64_t len;


	if (n->base_len == 0)
		return;
	if (git_oid_is_zero(&n->id)) {
		problem(f, "file inode %llu: %llu bytes of a base blob, but no blob",
			(unsigned long long)n->ino, (unsigned long long)n->base_len);
		return;
	}
	if (store_object_info(f->t, &n->id, &type, &len) != 0)
		problem(f, "file inode %llu: content %s is missing", (unsigned long long)n->ino,
			hex(h, &n->id));
	else if (type != GIT_OBJECT_BLOB || len < n->base_len)
		problem(f, "file inode %llu: content %s is not a blob of %llu bytes or more",
			(unsigned long long)n->ino, hex(h, &n->id),
			(unsigned long long)n->base_len);
}

static int check_dir(struct fsck *f, const struct store_inode *n)
{
	char h[GIT_OID_HEXSZ + 1];
	git_object_t type;
	const void *body;
	size_t len;
	int rc;

	if (!(n->flags & STORE_INO_DIRTY) && !git_oid_is_zero(&n->id) &&
	    (store_object_read(f->t, &n->id, &type, &body, &len) != 0 || type != GIT_OBJECT_TREE))
		problem(f, "directory inode %llu: clean at tree %s, which is missing",
			(unsigned long long)n->ino, hex(h, &n->id));
	rc = reaches_root(f, n);
	if (rc == 0)
		problem(f, "directory inode %llu: does not reach a working tree root (a loop?)",
			(unsigned long long)n->ino);
	return rc < 0 ? rc : 0;
}

static int check_inode(struct fsck *f, const MDB_val *k, const MDB_val *v)
{
	struct store_inode n;
	uint64_t ino;
	int rc;

	if (k->mv_size != 8) {
		problem(f, "inodes: a corrupt key of %zu bytes", k->mv_size);
		return 0;
	}
	ino = store_be64_get(k->mv_data);
	rc = store_inode_get(f->t, ino, &n);
	if (rc == -EIO) {
		problem(f, "inode %llu: corrupt record", (unsigned long long)ino);
		return 0;
	}
	if (rc)
		return rc;
	if (S_ISREG(n.mode) && (n.flags & STORE_INO_CHUNKS) &&
	    util_hashset_add(&f->chunked, &n.owner) < 0)
		f->err = -ENOMEM;
	if (n.flags & STORE_INO_ORPHAN)
		return 0;	/* unlinked, open: freed on close or restart */
	if (n.parent == 0 && !util_hashset_has(&f->roots, &ino)) {
		problem(f, "inode %llu: neither linked nor a working tree root (leaked)",
			(unsigned long long)ino);
		return 0;
	}
	if (n.parent != 0 && !util_hashset_has(&f->linked, &ino))
		problem(f, "inode %llu: not named in its directory %llu (leaked)",
			(unsigned long long)ino, (unsigned long long)n.parent);
	if (S_ISREG(n.mode))
		check_file(f, &n);
	else if (S_ISDIR(n.mode))
		return check_dir(f, &n);
	else if (S_ISLNK(n.mode) && !n.target)
		problem(f, "symlink inode %llu: no target", (unsigned long long)ino);
	else if (!S_ISLNK(n.mode) && !S_ISFIFO(n.mode) && !S_ISSOCK(n.mode) &&
		 !S_ISCHR(n.mode) && !S_ISBLK(n.mode))
		problem(f, "inode %llu: unknown file type %o", (unsigned long long)ino, n.mode);
	return 0;
}

/* check_owned - chunks (be64 ino + be64 index) and xattrs (be64 ino +
 * name) must belong to an existing inode (a file with pending writes,
 * for chunks); keys come sorted by inode, so each is looked up once. */
static int check_owned(struct fsck *f, const MDB_val *k, const char *what, int chunk)
{
	struct store_inode n;
	uint64_t ino;

	if (k->mv_size < 9 || (chunk && k->mv_size != 16)) {
		problem(f, "%s: a corrupt key of %zu bytes", what, k->mv_size);
		return 0;
	}
	ino = store_be64_get(k->mv_data);
	if (ino == f->owner)
		return 0;
	f->owner = ino;
	if (chunk && ino >= STORE_OWNER_INGEST && !util_hashset_has(&f->chunked, &ino)) {
		/* an interrupted import's: garbage for gc, not damage */
		f->garbage_chunks++;
		return 0;
	}
	if (chunk) {
		if (!util_hashset_has(&f->chunked, &ino))
			problem(f, "%s of %llu: neither a file with pending writes nor a chunked blob (leaked)",
				what, (unsigned long long)ino);
		return 0;
	}
	if (store_inode_get(f->t, ino, &n) != 0)
		problem(f, "%s of inode %llu: no such inode (leaked)", what, (unsigned long long)ino);
	return 0;
}

static int check_chunk(struct fsck *f, const MDB_val *k, const MDB_val *v)
{
	return check_owned(f, k, "file chunks", 1);
}

static int check_xattr(struct fsck *f, const MDB_val *k, const MDB_val *v)
{
	return check_owned(f, k, "extended attributes", 0);
}

/* ---- images ---------------------------------------------------------------- */

/* check_blob - blob D hashes to D and has SIZE bytes in whole chunks */
static int check_blob(const struct oci_digest *d, uint64_t size, void *arg)
{
	struct fsck *f = arg;
	char name[OCI_DIGEST_STRLEN + 1], got[OCI_DIGEST_STRLEN + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct oci_digest sum;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(OCI_BLOB_CHUNK);
	uint64_t off = 0;
	int rc = 0;

	f->objects++;
	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	while (off < size) {
		long n = oci_blob_read(f->t, d, off, buf, OCI_BLOB_CHUNK);
		if (n <= 0) {
			problem(f, "blob %s: unreadable at byte %llu of %llu (%s)",
				oci_digest_fmt(name, d), (unsigned long long)off,
				(unsigned long long)size, n < 0 ? store_errmsg() : "short");
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	memcpy(sum.sha256, md, sizeof(sum.sha256));
	if (memcmp(&sum, d, sizeof(sum)))
		problem(f, "blob %s: its content hashes to %s", oci_digest_fmt(name, d),
			oci_digest_fmt(got, &sum));
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* need_blob - image WHO names blob D (as WHAT): it must be in the store */
static void need_blob(struct fsck *f, const char *who, const char *what,
		      const struct oci_digest *d)
{
	char name[OCI_DIGEST_STRLEN + 1];
	uint64_t size;

	if (oci_blob_size(f->t, d, &size))
		problem(f, "%s: %s %s is missing", who, what, oci_digest_fmt(name, d));
}

/* check_image_tag - a tag names an imported image whose blobs and layer
 * indexes are all there */
static int check_image_tag(const struct oci_tag *tag, void *arg)
{
	struct fsck *f = arg;
	char who[OCI_NAME_MAX + OCI_TAG_MAX + 16];
	struct oci_image_info info;
	int rc;

	snprintf(who, sizeof(who), "image %s:%s", tag->name, tag->tag);
	rc = oci_image_info(f->t, &tag->manifest, &info);
	if (rc) {
		problem(f, "%s: its manifest was never imported (no image record)", who);
		return 0;
	}
	need_blob(f, who, "manifest", &tag->manifest);
	if (!oci_digest_is_zero(&tag->index))
		need_blob(f, who, "image index", &tag->index);
	need_blob(f, who, "config", &info.config);
	for (unsigned i = 0; i < info.nlayers; i++) {
		struct oci_layer_info li;
		struct oci_digest d;
		char name[OCI_DIGEST_STRLEN + 1];
		uint64_t size;
		if (oci_image_layer(f->t, &tag->manifest, i, &d, &size)) {
			problem(f, "%s: layer %u is unreadable", who, i + 1);
			continue;
		}
		need_blob(f, who, "layer", &d);
		if (oci_layer_info(f->t, &d, &li))
			problem(f, "%s: layer %s has no index", who, oci_digest_fmt(name, &d));
	}
	return 0;
}

/* check_layer_entry - a file of a layer index names a blob that is there */
static int check_layer_entry(struct fsck *f, const MDB_val *k, const MDB_val *v)
{
	struct oci_entry_rec rec;
	char a[GIT_OID_HEXSZ + 1];
	git_object_t type;
	uint64_t len;
	git_oid id;

	if (k->mv_size < 9 || ((const unsigned char *)k->mv_data)[8] != OCI_K_ENTRY)
		return 0;
	if (v->mv_size < sizeof(rec)) {
		problem(f, "layer index: a record of %zu bytes is too short", v->mv_size);
		return 0;
	}
	memcpy(&rec, v->mv_data, sizeof(rec));
	if (!S_ISREG(rec.mode) || (rec.flags & OCI_EF_WHITEOUT))
		return 0;
	git_oid_fromraw(&id, rec.blob);
	if (store_object_info(f->t, &id, &type, &len) != 0) {
		problem(f, "layer index of layer %llu: file content %s is missing",
			(unsigned long long)store_be64_get(k->mv_data), hex(a, &id));
		mark_bad(f, &id);
	} else if (type != GIT_OBJECT_BLOB || len != rec.size) {
		problem(f, "layer index of layer %llu: file content %s is not a blob of %llu bytes",
			(unsigned long long)store_be64_get(k->mv_data), hex(a, &id),
			(unsigned long long)rec.size);
	}
	return 0;
}

int store_fsck(struct store *s, FILE *out, unsigned long *nobjects)
{
	struct fsck f = {
		.out = out,
		.bad = UTIL_HASHSET_INIT(GIT_OID_RAWSZ),
		.roots = UTIL_HASHSET_INIT(sizeof(uint64_t)),
		.linked = UTIL_HASHSET_INIT(sizeof(uint64_t)),
		.reached = UTIL_HASHSET_INIT(sizeof(uint64_t)),
		.chunked = UTIL_HASHSET_INIT(sizeof(uint64_t)),
	};
	int rc = store_txn_begin(&f.t, s, 0);

	if (nobjects)
		*nobjects = 0;
	if (rc)
		return rc;
	rc = scan(&f, TBL_OBJECTS, object_record);
	if (rc == 0)
		rc = store_repo_foreach(f.t, check_repo, &f);
	if (rc == 0)
		rc = store_wt_foreach(f.t, 0, check_root, &f);
	if (rc == 0)
		rc = scan(&f, TBL_DIRENTS, check_dirent);
	if (rc == 0)
		rc = scan(&f, TBL_INODES, check_inode);
	if (rc == 0)
		rc = scan(&f, TBL_CHUNKS, check_chunk);
	if (rc == 0) {
		f.owner = 0;
		rc = scan(&f, TBL_XATTRS, check_xattr);
	}
	if (rc == 0)
		rc = oci_blob_foreach(f.t, check_blob, &f);
	if (rc == 0)
		rc = oci_tag_foreach(f.t, NULL, check_image_tag, &f);
	if (rc == 0)
		rc = scan(&f, TBL_OCI_FILES, check_layer_entry);
	store_txn_abort(f.t);
	if (f.problems > FSCK_PRINT_MAX)
		fprintf(out, "... and %lu more problems\n", f.problems - FSCK_PRINT_MAX);
	util_hashset_release(&f.bad);
	util_hashset_release(&f.roots);
	util_hashset_release(&f.linked);
	util_hashset_release(&f.reached);
	util_hashset_release(&f.chunked);
	if (nobjects)
		*nobjects = f.objects;
	if (rc == 0 && f.err)
		rc = store_error(f.err, "out of memory checking the store");
	if (rc)
		return rc;
	return f.problems ? store_error(-EIO, "%lu problem%s found", f.problems,
					f.problems == 1 ? "" : "s")
			  : 0;
}
