/*
 * gitio.c - repositories to and from ordinary git repositories (gitio.h).
 *
 * Order: objects are copied children before parents - blobs and subtrees
 * before their tree, a commit's tree and parents before the commit, a
 * tag's target before the tag - on both sides.  So an object already at
 * the destination means its whole graph is there, and the copy prunes at
 * it: exporting again after new commits copies only what is new, and
 * importing a repository whose history the store already holds (under
 * another name) copies next to nothing.  Submodule entries (gitlinks)
 * name commits of other repositories and are not followed.
 *
 * Export reads the store in one read transaction (a consistent snapshot;
 * it blocks no writer, a running daemon goes on committing) and writes
 * loose objects with libgit2.  Branches move only forward: a branch of
 * the destination holding commits the store does not have is refused,
 * as `git push` would, before anything there changes.
 *
 * Import is all or nothing: the repository, its objects, refs and working
 * tree are one write transaction.  Everything that can be decided before
 * it (names, HEAD, the list of commits) is, so the writer lock - which a
 * running daemon's commits wait for - is held only for the copy itself.
 * Objects are read from git one at a time; blobs above BIG_BLOB stream
 * from loose objects straight into the store's reserved space.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <git2.h>

#include "store/git.h"
#include "store/gitio.h"
#include "store/ingest.h"
#include "store/store_int.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/worktree.h"
#include "util/array.h"

#define TREE_DEPTH_MAX 256	/* as store_wt_checkout accepts */
#define TAG_DEPTH_MAX 16	/* tags of tags of ... */
#define BIG_BLOB (16u << 20)	/* stream blobs larger than this */
#define STREAM_CHUNK (1u << 20)
#define GITLINK_MODE 0160000
#define TREE_MODE 040000

/* ---- shared helpers ------------------------------------------------------- */

/* header_oid - the id after "KEY " on the first line of an object body: a
 * commit's tree, a tag's object. */
static int header_oid(const void *body, size_t len, const char *key, git_oid *out)
{
	size_t klen = strlen(key);

	if (len < klen + 1 + GIT_OID_HEXSZ + 1 || memcmp(body, key, klen) != 0 ||
	    ((const char *)body)[klen] != ' ' ||
	    ((const char *)body)[klen + 1 + GIT_OID_HEXSZ] != '\n' ||
	    git_oid_fromstrn(out, (const char *)body + klen + 1, GIT_OID_HEXSZ) != 0)
		return -EIO;
	return 0;
}

static const char *hex_of(char *buf, size_t len, const git_oid *id)
{
	return git_oid_tostr(buf, len, id);
}

/* oid_list_add - append ID to L, a util_array of git_oid */
static int oid_list_add(struct util_array *l, const git_oid *id)
{
	git_oid *slot = UTIL_ARRAY_PUSH(l, git_oid);

	if (!slot)
		return store_error(-ENOMEM, "out of memory");
	git_oid_cpy(slot, id);
	return 0;
}

/* a ref to export or import; lists of them are util_arrays */
struct ref {
	char *name;
	git_oid id;
};

static int ref_list_add(struct util_array *l, const char *name, const git_oid *id)
{
	struct ref *r = UTIL_ARRAY_PUSH(l, struct ref);

	if (!r)
		return store_error(-ENOMEM, "out of memory");
	r->name = strdup(name);
	if (!r->name) {
		l->len--;
		return store_error(-ENOMEM, "out of memory");
	}
	git_oid_cpy(&r->id, id);
	return 0;
}

static void ref_list_free(struct util_array *l)
{
	UTIL_ARRAY_FOREACH(l, struct ref, r)
		free(r->name);
	util_array_release(l);
}

/* ---- export: store -> git ------------------------------------------------- */

struct export {
	struct store_txn *t;	/* the store snapshot, read-only */
	git_repository *src;	/* the store repository, for revwalks */
	git_odb *dst;		/* the destination's objects */
	const char *dir;
	const char *repo;
	struct util_array hide;	/* git_oid: destination tips the store also has */
};

/* export_read - object ID from the store snapshot; of type WANT unless
 * WANT is GIT_OBJECT_ANY (*TYPE, if not NULL, receives the type). */
static int export_read(struct export *x, const git_oid *id, git_object_t want,
		       git_object_t *type, const void **body, size_t *len)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_object_t t;
	int rc = store_object_read(x->t, id, &t, body, len);

	if (rc == -ENOENT)
		return store_error(-EIO, "object %s of '%s' is missing from the store (run govc fsck)",
				   hex_of(hex, sizeof(hex), id), x->repo);
	if (rc)
		return rc;
	if (want != GIT_OBJECT_ANY && t != want)
		return store_error(-EIO, "object %s of '%s' is a %s, not a %s (run govc fsck)",
				   hex_of(hex, sizeof(hex), id), x->repo, git_object_type2string(t),
				   git_object_type2string(want));
	if (type)
		*type = t;
	return 0;
}

static int export_write(struct export *x, const git_oid *id, git_object_t type,
			const void *body, size_t len)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid written;
	int rc = store_git_error(git_odb_write(&written, x->dst, body, len, type), x->dir);

	if (rc == 0 && !git_oid_equal(&written, id))
		return store_error(-EIO, "object %s of '%s' does not match its id (run govc fsck)",
				   hex_of(hex, sizeof(hex), id), x->repo);
	return rc;
}

/* export_chunked - a chunked blob, streamed into DIR piece by piece */
static int export_chunked(struct export *x, const git_oid *id)
{
	struct store_piece p[STORE_BLOB_PIECES(STORE_WT_CHUNK)];
	char hex[GIT_OID_HEXSZ + 1];
	git_odb_stream *st = NULL;
	git_oid written;
	uint64_t len, off = 0;
	int rc = store_object_info(x->t, id, NULL, &len);

	if (rc == 0)
		rc = store_git_error(git_odb_open_wstream(&st, x->dst, len, GIT_OBJECT_BLOB),
				     x->dir);
	while (rc == 0 && off < len) {
		size_t n;
		long got = store_blob_pieces(x->t, id, off, STORE_WT_CHUNK, p, 3, &n);
		if (got <= 0)
			rc = got < 0 ? (int)got : -EIO;
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = store_git_error(git_odb_stream_write(st, p[i].data, p[i].len), x->dir);
		off += got > 0 ? (uint64_t)got : 0;
	}
	if (rc == 0)
		rc = store_git_error(git_odb_stream_finalize_write(&written, st), x->dir);
	git_odb_stream_free(st);
	if (rc == 0 && !git_oid_equal(&written, id))
		return store_error(-EIO, "object %s of '%s' does not match its id (run govc fsck)",
				   hex_of(hex, sizeof(hex), id), x->repo);
	return rc;
}

static int export_blob(struct export *x, const git_oid *id)
{
	const void *body;
	size_t len;
	int rc;

	if (git_odb_exists(x->dst, id))
		return 0;
	rc = export_read(x, id, GIT_OBJECT_BLOB, NULL, &body, &len);
	if (rc == -E2BIG)
		return export_chunked(x, id);
	return rc ? rc : export_write(x, id, GIT_OBJECT_BLOB, body, len);
}

/* export_tree - tree ID and everything below it that DIR lacks.  Bodies
 * stay valid while the read transaction lives: no copy is needed. */
static int export_tree(struct export *x, const git_oid *id, int depth)
{
	struct store_tree_entry e;
	const void *body;
	size_t len, pos = 0;
	int rc;

	if (git_odb_exists(x->dst, id))
		return 0;
	if (depth > TREE_DEPTH_MAX)
		return store_error(-ELOOP, "trees of '%s' nest deeper than %d", x->repo,
				   TREE_DEPTH_MAX);
	rc = export_read(x, id, GIT_OBJECT_TREE, NULL, &body, &len);
	if (rc)
		return rc;
	while ((rc = store_tree_next(body, len, &pos, &e)) == 1) {
		if (e.mode == GITLINK_MODE)
			continue;
		rc = e.mode == TREE_MODE ? export_tree(x, e.id, depth + 1) : export_blob(x, e.id);
		if (rc)
			return rc;
	}
	return rc ? rc : export_write(x, id, GIT_OBJECT_TREE, body, len);
}


/* walk_next - the next commit of WALK: 1, 0 at the end, or an error. */
static int walk_next(git_revwalk *walk, git_oid *id, const char *repo)
{
	char what[STORE_REPO_NAME_MAX + 64];
	int rc = git_revwalk_next(id, walk);

	if (rc == GIT_ITEROVER)
		return 0;
	snprintf(what, sizeof(what), "walking the history of '%s'", repo);
	return rc ? store_git_error(rc, what) : 1;
}

/* export_commits - the history of commit TIP, oldest first, stopping at
 * what the destination's branches already hold. */
static int export_commits(struct export *x, const git_oid *tip)
{
	git_revwalk *walk = NULL;
	git_oid id, tree;
	int rc = store_git_error(git_revwalk_new(&walk, x->src), "walking the history");

	if (rc == 0) {
		git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
		rc = store_git_error(git_revwalk_push(walk, tip), "walking the history");
	}
	for (size_t i = 0; rc == 0 && i < util_array_len(&x->hide); i++)
		rc = store_git_error(git_revwalk_hide(walk, UTIL_ARRAY_AT(&x->hide, git_oid, i)),
				     "walking the history");
	while (rc == 0 && (rc = walk_next(walk, &id, x->repo)) == 1) {
		const void *body;
		size_t len;

		rc = 0;
		if (git_odb_exists(x->dst, &id))
			continue;
		rc = export_read(x, &id, GIT_OBJECT_COMMIT, NULL, &body, &len);
		if (rc == 0 && header_oid(body, len, "tree", &tree))
			rc = store_error(-EIO, "commit %s of '%s' is malformed (run govc fsck)",
					 git_oid_tostr_s(&id), x->repo);
		if (rc == 0)
			rc = export_tree(x, &tree, 0);
		if (rc == 0)
			rc = export_write(x, &id, GIT_OBJECT_COMMIT, body, len);
	}
	git_revwalk_free(walk);
	return rc;
}

/* export_tip - what ref target ID reaches: a commit's history, a tree, a
 * blob, or a tag and (first) what it tags. */
static int export_tip(struct export *x, const git_oid *id, int depth)
{
	const void *body;
	size_t len;
	git_object_t type;
	git_oid target;
	int rc;

	if (git_odb_exists(x->dst, id))
		return 0;
	rc = export_read(x, id, GIT_OBJECT_ANY, &type, &body, &len);
	if (rc == -E2BIG)
		return export_chunked(x, id);	/* a ref to a large blob */
	if (rc)
		return rc;
	switch (type) {
	case GIT_OBJECT_COMMIT:
		return export_commits(x, id);
	case GIT_OBJECT_TREE:
		return export_tree(x, id, 0);
	case GIT_OBJECT_BLOB:
		return export_blob(x, id);
	case GIT_OBJECT_TAG:
		if (depth > TAG_DEPTH_MAX)
			return store_error(-ELOOP, "tags of '%s' nest deeper than %d", x->repo,
					   TAG_DEPTH_MAX);
		if (header_oid(body, len, "object", &target))
			return store_error(-EIO, "tag %s of '%s' is malformed (run govc fsck)",
					   git_oid_tostr_s(id), x->repo);
		rc = export_tip(x, &target, depth + 1);
		return rc ? rc : export_write(x, id, GIT_OBJECT_TAG, body, len);
	default:
		return store_error(-EIO, "object %s of '%s' has an unknown type (run govc fsck)",
				   git_oid_tostr_s(id), x->repo);
	}
}

static int collect_store_ref(const char *name, const char *value, void *arg)
{
	git_oid id;

	if (!strncmp(value, "ref: ", 5))
		return 0;	/* symbolic refs below refs/ are not exported */
	if (strlen(value) != GIT_OID_HEXSZ || git_oid_fromstr(&id, value))
		return store_error(-EIO, "ref '%s' is corrupt (run govc fsck)", name);
	return ref_list_add(arg, name, &id);
}

/*
 * open_destination - open the git repository at DIR, or create it (HEAD
 * on BRANCH) when DIR is absent or an empty directory.  *created says
 * which.  Anything else at DIR is refused rather than overwritten.
 */
static int open_destination(git_repository **out, const char *dir, const char *branch,
			    int *created)
{
	git_repository_init_options io;
	struct stat st;
	char head[STORE_REF_NAME_MAX + 16];
	int rc;

	*created = 0;
	if (git_repository_open_ext(out, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0)
		return 0;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return store_error(-ENOTDIR, "'%s' is not a directory", dir);
		rc = store_dir_is_empty(dir);
		if (rc < 0)
			return store_error(rc, "cannot read directory '%s': %s", dir, strerror(-rc));
		if (rc == 0)
			return store_error(-EEXIST,
					   "'%s' exists and is not a git repository (%s); export to a new or empty directory",
					   dir, git_error_last() ? git_error_last()->message : "no .git");
	}
	git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	io.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
	snprintf(head, sizeof(head), "refs/heads/%s", branch);
	io.initial_head = head;
	rc = store_git_error(git_repository_init_ext(out, dir, &io), dir);
	if (rc == 0)
		*created = 1;
	return rc;
}

/* collect_hidden - the commits DST's refs point at that the store also
 * has: the history below them is in DST already. */
static int collect_hidden(struct export *x, git_repository *dst)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	int rc = store_git_error(git_reference_iterator_new(&it, dst), x->dir);

	while (rc == 0 && git_reference_next(&ref, it) == 0) {
		git_object *c = NULL;
		if (git_reference_peel(&c, ref, GIT_OBJECT_COMMIT) == 0 &&
		    store_object_exists(x->t, git_object_id(c)) == 1)
			rc = oid_list_add(&x->hide, git_object_id(c));
		git_object_free(c);
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	git_error_clear();
	return rc;
}

/*
 * check_forward - refuse, before any ref of DST changes, to move a
 * branch or tag of DST anywhere but forward (a branch) or nowhere (a
 * tag): what DST holds that the store does not would be lost.
 */
static int check_forward(git_repository *dst, const char *dir, const char *repo,
			 const struct util_array *refs)
{
	UTIL_ARRAY_FOREACH(refs, struct ref, r) {
		git_oid cur;
		const char *name = r->name;

		if (git_reference_name_to_id(&cur, dst, name) != 0) {
			git_error_clear();
			continue;	/* absent (or symbolic): created */
		}
		if (git_oid_equal(&cur, &r->id))
			continue;
		if (!strncmp(name, "refs/heads/", 11) &&
		    git_graph_descendant_of(dst, &r->id, &cur) == 1)
			continue;
		git_error_clear();
		return store_error(-EEXIST,
				   "'%s' in '%s' has commits that repository '%s' does not; "
				   "export to a new directory, or rename or delete '%s' there",
				   name, dir, repo, name);
	}
	return 0;
}

/*
 * checkout - bring DST's working directory to its (new) HEAD.  A new
 * repository is checked out by force; an existing one safely against
 * OLD_HEAD (the tree checked out before; NULL: nothing was, so every
 * file there is the user's), so local changes are kept and a checkout
 * that would overwrite them stops.
 */
static int checkout(git_repository *dst, const char *dir, int created, git_tree *old_head)
{
	git_checkout_options co;
	git_index *nothing = NULL;
	char what[4096 + 64];
	int rc;

	snprintf(what, sizeof(what), "checking out HEAD in '%s'", dir);
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = created ? GIT_CHECKOUT_FORCE : GIT_CHECKOUT_SAFE;
	co.baseline = old_head;
	if (!created && !old_head) {
		rc = store_git_error(git_index_new(&nothing), what);
		if (rc)
			return rc;
		co.baseline_index = nothing;
	}
	rc = git_checkout_head(dst, &co);
	git_index_free(nothing);
	if (rc == GIT_ECONFLICT)
		return store_error(-EBUSY,
				   "%s: local changes there would be overwritten; the branches were exported "
				   "and the changes left alone: commit or stash them, then run 'git checkout -f'",
				   what);
	return store_git_error(rc, what);
}

/* old_head_tree - the tree DST's HEAD has checked out now, or NULL. */
static git_tree *old_head_tree(git_repository *dst)
{
	git_object *o = NULL;

	if (git_repository_is_bare(dst) || git_revparse_single(&o, dst, "HEAD^{tree}") != 0) {
		git_error_clear();
		return NULL;
	}
	return (git_tree *)o;
}

/* export_refs - set DST's refs to REFS and HEAD to BRANCH. */
static int export_refs(git_repository *dst, const char *dir, const struct util_array *refs,
		       const char *branch)
{
	char head[STORE_REF_NAME_MAX + 16];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < util_array_len(refs); i++) {
		const struct ref *ref = UTIL_ARRAY_AT(refs, struct ref, i);
		git_reference *r = NULL;
		char what[4096 + STORE_REF_NAME_MAX + 32];
		snprintf(what, sizeof(what), "setting '%s' in '%s'", ref->name, dir);
		rc = store_git_error(git_reference_create(&r, dst, ref->name, &ref->id, 1,
							  "govc export"),
				     what);
		git_reference_free(r);
	}
	snprintf(head, sizeof(head), "refs/heads/%s", branch);
	if (rc == 0)
		rc = store_git_error(git_repository_set_head(dst, head), "setting HEAD");
	return rc;
}

int store_git_export(struct store *s, const char *repo, const char *dir)
{
	struct export x = { .dir = dir, .repo = repo, .hide = UTIL_ARRAY_INIT(git_oid) };
	struct util_array refs = UTIL_ARRAY_INIT(struct ref);
	git_repository *dst = NULL;
	git_tree *old_head = NULL;
	char branch[STORE_REF_NAME_MAX + 1];
	int rc, created = 0;

	rc = store_txn_begin(&x.t, s, 0);
	if (rc)
		return rc;
	rc = store_repo_exists(x.t, repo);
	if (rc == 0)
		rc = store_error(-ENOENT, "no repository '%s' in the store", repo);
	if (rc < 0)
		goto cleanup;
	rc = store_repo_head_branch(x.t, repo, branch, sizeof(branch));
	if (rc == 0)
		rc = store_ref_foreach(x.t, repo, "refs/", collect_store_ref, &refs);
	if (rc == 0)
		rc = store_git_open(&x.src, s, repo);
	if (rc == 0)
		rc = open_destination(&dst, dir, branch, &created);
	if (rc == 0)
		rc = store_git_error(git_repository_odb(&x.dst, dst), dir);
	if (rc == 0 && !created)
		rc = collect_hidden(&x, dst);
	for (size_t i = 0; rc == 0 && i < util_array_len(&refs); i++)
		rc = export_tip(&x, &UTIL_ARRAY_AT(&refs, struct ref, i)->id, 0);
	/* every object is there: the store snapshot is no longer needed */
	store_txn_abort(x.t);
	x.t = NULL;
	if (rc == 0 && !created)
		rc = check_forward(dst, dir, repo, &refs);
	if (rc == 0 && !created)
		old_head = old_head_tree(dst);
	if (rc == 0)
		rc = export_refs(dst, dir, &refs, branch);
	if (rc == 0 && !git_repository_is_bare(dst) && !git_repository_head_unborn(dst))
		rc = checkout(dst, dir, created, old_head);
cleanup:
	store_txn_abort(x.t);
	git_tree_free(old_head);
	git_odb_free(x.dst);
	git_repository_free(dst);
	git_repository_free(x.src);
	ref_list_free(&refs);
	util_array_release(&x.hide);
	return rc;
}

/* ---- import: git -> store ------------------------------------------------- */

struct import {
	struct store_ingest *in;	/* objects go in through it */
	struct store_txn *t;	/* its transaction, valid until the next step */
	git_odb *src;		/* the source's objects */
	const char *dir;
	/* publishing */
	const char *repo, *branch, *msg;
	struct util_array *refs;
	const git_oid *tip;
};

/*
 * import_keep - ID is in the store (written or found): pin it for the
 * session (gc keeps it and all it names), and after LEN bytes written let
 * the session commit; X->t is the session's transaction again after.
 */
static int import_keep(struct import *x, const git_oid *id, size_t len)
{
	int rc = store_ingest_pin_object(x->in, id);

	if (rc == 0)
		rc = store_ingest_step(x->in, len + 64);
	if (rc == 0)
		rc = store_ingest_txn(x->in, &x->t);
	return rc;
}

/* import_read - object ID of the source; of type WANT (or any). */
static int import_read(struct import *x, const git_oid *id, git_object_t want,
		       git_odb_object **out)
{
	char what[4096 + 128], hex[GIT_OID_HEXSZ + 1];
	int rc;

	hex_of(hex, sizeof(hex), id);
	snprintf(what, sizeof(what), "reading object %s of '%s'", hex, x->dir);
	rc = store_git_error(git_odb_read(out, x->src, id), what);
	if (rc == 0 && want != GIT_OBJECT_ANY && git_odb_object_type(*out) != want) {
		rc = store_error(-EIO, "'%s' is corrupt: object %s is a %s where a %s belongs",
				 x->dir, hex, git_object_type2string(git_odb_object_type(*out)),
				 git_object_type2string(want));
		git_odb_object_free(*out);
		*out = NULL;
	}
	return rc;
}

/* import_put - store object O under ID (libgit2 checked ID on reading). */
static int import_put(struct import *x, const git_oid *id, git_odb_object *o)
{
	size_t len = git_odb_object_size(o);
	void *dst;
	int rc = store_object_reserve(x->t, id, git_odb_object_type(o), len, &dst);

	if (rc == -EEXIST)
		return import_keep(x, id, 0);
	if (rc == 0 && len)
		memcpy(dst, git_odb_object_data(o), len);
	return rc ? rc : import_keep(x, id, len);
}

/*
 * import_blob_stream - copy a large blob of LEN bytes from a loose object
 * straight into the store, hashing as it goes (a stream is not checked
 * by libgit2).  Returns 1 when done, 0 when the source cannot stream it
 * (packed objects cannot), or a negative errno.
 */
static int import_blob_stream(struct import *x, const git_oid *id, size_t len)
{
	struct store_hasher *h = NULL;
	git_odb_stream *st = NULL;
	git_object_t type;
	git_oid actual;
	size_t slen, done = 0;
	char *dst;
	int rc;

	if (git_odb_open_rstream(&st, &slen, &type, x->src, id) != 0) {
		git_error_clear();
		return 0;
	}
	rc = type == GIT_OBJECT_BLOB && slen == len ? 0 : -EIO;
	if (rc == 0)
		rc = store_hasher_new(&h, GIT_OBJECT_BLOB, len);
	if (rc == 0)
		rc = store_object_reserve(x->t, id, GIT_OBJECT_BLOB, len, (void **)&dst);
	while (rc == 0 && done < len) {
		size_t want = len - done < STREAM_CHUNK ? len - done : STREAM_CHUNK;
		int n = git_odb_stream_read(st, dst + done, want);
		if (n <= 0) {
			rc = -EIO;
			break;
		}
		store_hasher_update(h, dst + done, (size_t)n);
		done += (size_t)n;
	}
	if (h)
		store_hasher_final(h, &actual);
	git_odb_stream_free(st);
	if (rc == -EEXIST)
		rc = 0;
	else if (rc == 0 && !git_oid_equal(&actual, id))
		rc = -EIO;
	if (rc == -EIO)
		return store_error(-EIO, "'%s' is corrupt: blob %s does not match its content",
				   x->dir, git_oid_tostr_s(id));
	if (rc == 0)
		rc = import_keep(x, id, len);
	return rc ? rc : 1;
}

static int import_blob(struct import *x, const git_oid *id)
{
	git_odb_object *o;
	git_object_t type;
	size_t len;
	int rc = store_object_exists(x->t, id);

	if (rc > 0)	/* stored already: the imported history holds it now */
		rc = store_object_adopt(x->t, id) ?: 1;
	if (rc)
		return rc < 0 ? rc : import_keep(x, id, 0);
	if (git_odb_read_header(&len, &type, x->src, id) == 0 && type == GIT_OBJECT_BLOB &&
	    len > BIG_BLOB) {
		rc = import_blob_stream(x, id, len);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	git_error_clear();
	rc = import_read(x, id, GIT_OBJECT_BLOB, &o);
	if (rc == 0) {
		rc = import_put(x, id, o);
		git_odb_object_free(o);
	}
	return rc;
}

/* import_tree - tree ID and everything below it the store lacks. */
static int import_tree(struct import *x, const git_oid *id, int depth)
{
	struct store_tree_entry e;
	git_odb_object *o;
	const void *body;
	size_t len, pos = 0;
	int rc = store_object_exists(x->t, id);

	if (rc)		/* stored already, with all it names */
		return rc < 0 ? rc : import_keep(x, id, 0);
	if (depth > TREE_DEPTH_MAX)
		return store_error(-ELOOP, "trees of '%s' nest deeper than %d", x->dir,
				   TREE_DEPTH_MAX);
	rc = import_read(x, id, GIT_OBJECT_TREE, &o);
	if (rc)
		return rc;
	body = git_odb_object_data(o);
	len = git_odb_object_size(o);
	while ((rc = store_tree_next(body, len, &pos, &e)) == 1) {
		if (e.mode == GITLINK_MODE)
			continue;
		rc = e.mode == TREE_MODE ? import_tree(x, e.id, depth + 1) : import_blob(x, e.id);
		if (rc)
			break;
	}
	if (rc == 0)
		rc = import_put(x, id, o);
	git_odb_object_free(o);
	return rc;
}

/* import_commit - commit ID with its tree; its parents are in already
 * (oldest first), so the store's commit is complete once written. */
static int import_commit(struct import *x, const git_oid *id)
{
	git_odb_object *o;
	git_oid tree;
	int rc = store_object_exists(x->t, id);

	if (rc)		/* stored already, with all it names */
		return rc < 0 ? rc : import_keep(x, id, 0);
	rc = import_read(x, id, GIT_OBJECT_COMMIT, &o);
	if (rc)
		return rc;
	if (header_oid(git_odb_object_data(o), git_odb_object_size(o), "tree", &tree))
		rc = store_error(-EIO, "'%s' is corrupt: commit %s has no tree", x->dir,
				 git_oid_tostr_s(id));
	if (rc == 0)
		rc = import_tree(x, &tree, 0);
	if (rc == 0)
		rc = import_put(x, id, o);
	git_odb_object_free(o);
	return rc;
}

/* import_tip - what a ref names beyond the commits: tags (after what
 * they tag), and trees or blobs tagged directly. */
static int import_tip(struct import *x, const git_oid *id, int depth)
{
	git_odb_object *o;
	git_oid target;
	int rc = store_object_exists(x->t, id);

	if (rc)		/* stored already, with all it names */
		return rc < 0 ? rc : import_keep(x, id, 0);
	if (depth > TAG_DEPTH_MAX)
		return store_error(-ELOOP, "tags of '%s' nest deeper than %d", x->dir,
				   TAG_DEPTH_MAX);
	rc = import_read(x, id, GIT_OBJECT_ANY, &o);
	if (rc)
		return rc;
	switch (git_odb_object_type(o)) {
	case GIT_OBJECT_COMMIT:
		rc = import_commit(x, id);
		break;
	case GIT_OBJECT_TREE:
		rc = import_tree(x, id, 0);
		break;
	case GIT_OBJECT_BLOB:
		rc = import_put(x, id, o);
		break;
	case GIT_OBJECT_TAG:
		if (header_oid(git_odb_object_data(o), git_odb_object_size(o), "object", &target))
			rc = store_error(-EIO, "'%s' is corrupt: tag %s names no object", x->dir,
					 git_oid_tostr_s(id));
		if (rc == 0)
			rc = import_tip(x, &target, depth + 1);
		if (rc == 0)
			rc = import_put(x, id, o);
		break;
	default:
		rc = store_error(-EIO, "'%s' is corrupt: object %s has an unknown type", x->dir,
				 git_oid_tostr_s(id));
		break;
	}
	git_odb_object_free(o);
	return rc;
}

/*
 * source_head - the branch HEAD of SRC names (into BRANCH), or for a
 * detached HEAD the default branch and the commit (*detached = 1, *id).
 */
static int source_head(git_repository *src, const char *dir, char *branch, size_t blen,
		       int *detached, git_oid *id)
{
	git_reference *head = NULL;
	const char *target;
	int rc;

	*detached = 0;
	rc = git_reference_lookup(&head, src, "HEAD");
	if (rc) {
		char what[4096 + 32];
		snprintf(what, sizeof(what), "reading HEAD of '%s'", dir);
		return store_git_error(rc, what);
	}
	if (git_reference_type(head) == GIT_REFERENCE_DIRECT) {
		git_oid_cpy(id, git_reference_target(head));
		git_reference_free(head);
		*detached = 1;
		snprintf(branch, blen, "%s", STORE_DEFAULT_BRANCH);
		return 0;
	}
	target = git_reference_symbolic_target(head);
	if (strncmp(target, "refs/heads/", 11) != 0) {
		rc = store_error(-EINVAL, "HEAD of '%s' names '%s', not a branch; check out a branch there first",
				 dir, target);
	} else if (store_branch_name_check(target + 11) != 0) {
		rc = store_error(-EINVAL,
				 "HEAD of '%s' is on branch '%s', which cannot name a working tree: "
				 "use letters, digits, '.', '_' and '-' (git branch -m there, then import)",
				 dir, target + 11);
	} else {
		snprintf(branch, blen, "%s", target + 11);
		rc = 0;
	}
	git_reference_free(head);
	return rc;
}

/* source_refs - SRC's branches and tags (direct refs only). */
static int source_refs(git_repository *src, const char *dir, struct util_array *refs)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	int rc = store_git_error(git_reference_iterator_new(&it, src), dir);

	while (rc == 0 && git_reference_next(&ref, it) == 0) {
		const char *name = git_reference_name(ref);
		if (git_reference_type(ref) == GIT_REFERENCE_DIRECT &&
		    (!strncmp(name, "refs/heads/", 11) || !strncmp(name, "refs/tags/", 10))) {
			if (strlen(name) > STORE_REF_NAME_MAX)
				rc = store_error(-EINVAL, "ref '%.60s...' of '%s' is longer than %d characters",
						 name, dir, STORE_REF_NAME_MAX);
			else
				rc = ref_list_add(refs, name, git_reference_target(ref));
		}
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	return rc;
}

/* source_commits - every commit REFS reach, parents before children. */
static int source_commits(git_repository *src, const char *dir, const struct util_array *refs,
			  struct util_array *out)
{
	git_revwalk *walk = NULL;
	git_oid id;
	int rc = store_git_error(git_revwalk_new(&walk, src), dir);

	if (rc == 0)
		git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	for (size_t i = 0; rc == 0 && i < util_array_len(refs); i++) {
		const struct ref *r = UTIL_ARRAY_AT(refs, struct ref, i);
		git_object *o = NULL, *c = NULL;
		char what[4096 + STORE_REF_NAME_MAX + 32];
		snprintf(what, sizeof(what), "reading '%s' of '%s'", r->name, dir);
		rc = store_git_error(git_object_lookup(&o, src, &r->id, GIT_OBJECT_ANY), what);
		if (rc == 0 && git_object_peel(&c, o, GIT_OBJECT_COMMIT) == 0)
			rc = store_git_error(git_revwalk_push(walk, git_object_id(c)), what);
		git_error_clear();	/* a tag of a tree or blob: no history */
		git_object_free(c);
		git_object_free(o);
	}
	while (rc == 0 && (rc = walk_next(walk, &id, dir)) == 1)
		rc = oid_list_add(out, &id);
	git_revwalk_free(walk);
	return rc;
}

static const git_oid *ref_list_find(const struct util_array *l, const char *name)
{
	UTIL_ARRAY_FOREACH(l, struct ref, r)
		if (!strcmp(r->name, name))
			return &r->id;
	return NULL;
}

/*
 * import_worktree - check out commit TIP (NULL: an unborn branch, left
 * empty) in the working tree store_repo_create made for BRANCH.
 */
static int import_worktree(struct import *x, const char *repo, const char *branch,
			   const git_oid *tip)
{
	const void *body;
	size_t len;
	git_object_t type;
	git_oid tree;
	uint64_t root;
	int rc;

	if (!tip)
		return 0;
	rc = store_object_read(x->t, tip, &type, &body, &len);
	if (rc == 0 && (type != GIT_OBJECT_COMMIT || header_oid(body, len, "tree", &tree)))
		rc = store_error(-EINVAL, "branch '%s' of '%s' does not point at a commit", branch,
				 x->dir);
	if (rc == 0)
		rc = store_wt_root(x->t, repo, branch, &root);
	if (rc == 0)
		rc = store_wt_checkout(x->t, root, &tree);
	return rc;
}

/* import_publish - the repository, its refs and working tree, in T */
static int import_publish(struct store_txn *t, void *arg)
{
	struct import *x = arg;
	int rc;

	x->t = t;
	rc = store_repo_exists(t, x->repo);
	if (rc > 0)
		return store_error(-EEXIST, "repository '%s' already exists; import under another name",
				   x->repo);
	if (rc == 0)
		rc = store_repo_create(t, x->repo, x->branch);
	for (size_t i = 0; rc == 0 && i < util_array_len(x->refs); i++) {
		const struct ref *r = UTIL_ARRAY_AT(x->refs, struct ref, i);
		rc = store_ref_write(t, x->repo, r->name, git_oid_tostr_s(&r->id), NULL, x->msg);
	}
	if (rc == 0)
		rc = import_worktree(x, x->repo, x->branch, x->tip);
	return rc;
}

/* open_source - the git repository at DIR, bare or not, complete. */
static int open_source(git_repository **out, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return store_error(-ENOENT, "no git repository at '%s': %s", dir, strerror(errno));
	if (git_repository_open_ext(out, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0)
		return store_error(-ENOENT, "'%s' is not a git repository (%s)", dir,
				   git_error_last() ? git_error_last()->message : "cannot open it");
	if (git_repository_is_shallow(*out) == 1) {
		git_repository_free(*out);
		*out = NULL;
		return store_error(-EINVAL, "'%s' is a shallow clone; run 'git fetch --unshallow' there first",
				   dir);
	}
	return 0;
}

int store_git_import(struct store *s, const char *dir, const char *repo)
{
	struct import x = { .dir = dir };
	struct util_array refs = UTIL_ARRAY_INIT(struct ref);
	struct util_array commits = UTIL_ARRAY_INIT(git_oid);
	git_repository *src = NULL;
	char branch[STORE_REF_NAME_MAX + 1], head_ref[STORE_REF_NAME_MAX + 16];
	char msg[4096 + 32];
	const git_oid *tip;
	git_oid head_id;
	int rc, detached;

	rc = store_repo_name_check(repo);
	if (rc)
		return rc;
	/* fail fast, before the walk: the same check repeats in the txn */
	rc = store_txn_begin(&x.t, s, 0);
	if (rc)
		return rc;
	rc = store_repo_exists(x.t, repo);
	store_txn_abort(x.t);
	x.t = NULL;
	if (rc > 0)
		return store_error(-EEXIST, "repository '%s' already exists; import under another name",
				   repo);
	if (rc < 0)
		return rc;

	rc = open_source(&src, dir);
	if (rc == 0)
		rc = source_head(src, dir, branch, sizeof(branch), &detached, &head_id);
	if (rc == 0)
		rc = source_refs(src, dir, &refs);
	if (rc)
		goto cleanup;
	snprintf(head_ref, sizeof(head_ref), "refs/heads/%s", branch);
	tip = ref_list_find(&refs, head_ref);
	if (detached && !tip) {
		/* keep the detached commit on the default branch */
		rc = ref_list_add(&refs, head_ref, &head_id);
		tip = ref_list_find(&refs, head_ref);
	} else if (detached && !git_oid_equal(tip, &head_id)) {
		rc = store_error(-EINVAL, "HEAD of '%s' is detached (not on a branch); "
				 "check out a branch there first", dir);
	}
	if (rc == 0)
		rc = source_commits(src, dir, &refs, &commits);
	if (rc == 0)
		rc = store_git_error(git_repository_odb(&x.src, src), dir);
	if (rc)
		goto cleanup;

	/* objects in short transactions, pinned; then the repository, its
	 * refs and working tree in one: all of it, or nothing visible */
	snprintf(msg, sizeof(msg), "import from %s", dir);
	x.repo = repo;
	x.branch = branch;
	x.msg = msg;
	x.refs = &refs;
	x.tip = tip;
	rc = store_ingest_begin(&x.in, s, msg);
	if (rc)
		goto cleanup;
	rc = store_ingest_txn(x.in, &x.t);
	for (size_t i = 0; rc == 0 && i < util_array_len(&commits); i++)
		rc = import_commit(&x, UTIL_ARRAY_AT(&commits, git_oid, i));
	for (size_t i = 0; rc == 0 && i < util_array_len(&refs); i++)
		rc = import_tip(&x, &UTIL_ARRAY_AT(&refs, struct ref, i)->id, 0);
	x.t = NULL;
	if (rc == 0)
		rc = store_ingest_finish(x.in, import_publish, &x);
	else
		store_ingest_abort(x.in);
cleanup:
	git_odb_free(x.src);
	git_repository_free(src);
	ref_list_free(&refs);
	util_array_release(&commits);
	return rc;
}
