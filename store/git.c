/*
 * git.c - libgit2 over the store: an ODB backend on the objects table and
 * a refdb backend on the refs table (see git.h), so that libgit2 itself
 * builds trees, creates commits, walks history and fetches packs.
 *
 * Transactions: every callback runs in the calling thread's open write
 * transaction when there is one (store_txn_begin without flags hands out a
 * borrowed handle on it), so a commit's trees, commit object and branch
 * update are one LMDB transaction; else in a short transaction of its own.
 * Data handed to libgit2 is copied out of the map: LMDB pointers die with
 * their transaction.
 *
 * Errors: a store error passed to libgit2 becomes a libgit2 code with the
 * store's message as libgit2's; the errno is remembered per thread so that
 * store_git_error() hands the same errno back (an -ENOSPC from a commit
 * stays -ENOSPC, it does not turn into -EIO on its way through libgit2).
 *
 * Packs: a fetch into the store hands libgit2's indexer a scratch
 * directory in the store directory; when the pack is complete its objects
 * are copied into the objects table in one write transaction, and the
 * scratch directory is removed.
 *
 * Threads: backends hold no mutable state, only the store pointer (and
 * the repository name), so the libgit2 rule "one git_repository per
 * thread at a time" is the only rule.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/refdb_backend.h>
#include <git2/sys/refs.h>
#include <git2/sys/repository.h>

#include "store/git.h"
#include "store/object.h"
#include "store/repo.h"
#include "util/array.h"

#define GIT_IDENT_NAME "govc"
#define GIT_IDENT_EMAIL "govc@localhost"
#define PACK_DIR_TEMPLATE "%s/.govc-pack-XXXXXX"

struct odb_backend {
	git_odb_backend parent;
	struct store *s;
};

struct refdb_backend {
	git_refdb_backend parent;
	struct store *s;
	char repo[STORE_REPO_NAME_MAX + 1];
};

/* the store errno last handed to libgit2 by a backend on this thread */
static __thread int backend_errno;

int store_git_error(int rc, const char *what)
{
	const git_error *e;
	const char *msg;
	int err;

	if (rc >= 0)
		return 0;
	e = git_error_last();
	msg = e && e->message ? e->message : "unknown libgit2 error";
	if (backend_errno && e && e->message && !strcmp(e->message, store_errmsg())) {
		err = backend_errno;	/* our own error, back from libgit2 */
	} else {
		switch (rc) {
		case GIT_ENOTFOUND:
		case GIT_EUNBORNBRANCH:
			err = -ENOENT;
			break;
		case GIT_EEXISTS:
			err = -EEXIST;
			break;
		case GIT_EMODIFIED:
		case GIT_ELOCKED:
			err = -EAGAIN;
			break;
		case GIT_EAMBIGUOUS:
		case GIT_EINVALIDSPEC:
			err = -EINVAL;
			break;
		default:
			err = -EIO;
			break;
		}
	}
	backend_errno = 0;
	return store_error(err, "%s: %s", what, msg);
}

/*
 * to_git - a store error as a libgit2 code, with the store's message set
 * as libgit2's (CLASS says which part of libgit2 it belongs to).
 * -ENOENT carries no message: libgit2 words "not found" itself.
 */
static int to_git(int rc, int klass)
{
	if (rc == 0)
		return 0;
	if (rc == -ENOENT)
		return GIT_ENOTFOUND;
	backend_errno = rc;
	git_error_set_str(klass, store_errmsg());
	switch (rc) {
	case -EAGAIN:
		return GIT_EMODIFIED;
	case -EEXIST:
		return GIT_EEXISTS;
	default:
		return GIT_ERROR;
	}
}

/*
 * txn_open - the transaction for one callback: a handle on the thread's
 * write transaction if it holds one, else a fresh read (or, for WRITE,
 * write) transaction.  txn_close commits (RC == 0) or aborts it; on a
 * borrowed handle either only releases the handle.
 */
static int txn_open(struct store *s, int write, struct store_txn **out)
{
	unsigned flags = write && !store_txn_current(s) ? STORE_TXN_WRITE : 0;

	return store_txn_begin(out, s, flags);
}

static int txn_close(struct store_txn *t, int rc)
{
	if (rc) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t);
}

/* ---- ODB backend ---------------------------------------------------------- */

/* copy_out - a copy of object ID (however it is stored) for libgit2,
 * NUL-terminated as libgit2's own backends leave them. */
static int copy_out(git_odb_backend *b, struct store_txn *t, const git_oid *id,
		    git_object_t *type, size_t *len, void **out)
{
	uint64_t size;
	long got;
	char *p;
	int rc = store_object_info(t, id, type, &size);

	if (rc)
		return rc;
	if (size >= SIZE_MAX)
		return store_error(-EFBIG, "object of %llu bytes is too large",
				   (unsigned long long)size);
	p = git_odb_backend_data_alloc(b, (size_t)size + 1);
	if (!p)
		return store_error(-ENOMEM, "out of memory for an object of %llu bytes",
				   (unsigned long long)size);
	got = store_object_copy(t, id, 0, p, (size_t)size);
	if (got >= 0 && (uint64_t)got != size)
		got = store_error(-EIO, "object is shorter than its record says");
	if (got < 0) {
		git_odb_backend_data_free(b, p);
		return (int)got;
	}
	p[size] = '\0';
	*len = (size_t)size;
	*out = p;
	return 0;
}

static int odb_read(void **out, size_t *len, git_object_t *type, git_odb_backend *b,
		    const git_oid *id)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	int rc = store_txn_begin(&t, ob->s, 0);

	if (rc)
		return to_git(rc, GIT_ERROR_ODB);
	rc = copy_out(b, t, id, type, len, out);
	store_txn_abort(t);
	return to_git(rc, GIT_ERROR_ODB);
}

static int odb_read_header(size_t *len, git_object_t *type, git_odb_backend *b,
			   const git_oid *id)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	uint64_t size;
	int rc = store_txn_begin(&t, ob->s, 0);

	if (rc)
		return to_git(rc, GIT_ERROR_ODB);
	rc = store_object_info(t, id, type, &size);
	store_txn_abort(t);
	if (rc == 0)
		*len = (size_t)size;
	return to_git(rc, GIT_ERROR_ODB);
}

/*
 * resolve_prefix - the one object whose id starts with the first HEXLEN
 * hex digits of SHORT_ID.  -ENOENT if none, -EINVAL if several.
 */
static int resolve_prefix(struct store_txn *t, git_oid *out, const git_oid *short_id,
			  size_t hexlen)
{
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	if (hexlen >= GIT_OID_HEXSZ) {
		rc = store_object_exists(t, short_id);
		if (rc == 1)
			git_oid_cpy(out, short_id);
		return rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
	}
	git_oid_tostr(hex, hexlen + 1, short_id);
	return store_object_prefix(t, hex, hexlen, out);
}

/* prefix_to_git - as to_git, but several matches are GIT_EAMBIGUOUS */
static int prefix_to_git(int rc)
{
	if (rc != -EINVAL)
		return to_git(rc, GIT_ERROR_ODB);
	git_error_set_str(GIT_ERROR_ODB, store_errmsg());
	return GIT_EAMBIGUOUS;
}

static int odb_read_prefix(git_oid *out_id, void **out, size_t *len, git_object_t *type,
			   git_odb_backend *b, const git_oid *short_id, size_t hexlen)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	int rc = store_txn_begin(&t, ob->s, 0);

	if (rc)
		return to_git(rc, GIT_ERROR_ODB);
	rc = resolve_prefix(t, out_id, short_id, hexlen);
	if (rc == 0)
		rc = copy_out(b, t, out_id, type, len, out);
	store_txn_abort(t);
	return prefix_to_git(rc);
}

static int odb_exists_prefix(git_oid *out, git_odb_backend *b, const git_oid *short_id,
			     size_t hexlen)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	int rc = store_txn_begin(&t, ob->s, 0);

	if (rc)
		return to_git(rc, GIT_ERROR_ODB);
	rc = resolve_prefix(t, out, short_id, hexlen);
	store_txn_abort(t);
	return prefix_to_git(rc);
}

/* odb_write - libgit2 computed ID from these very bytes: store them under
 * it without hashing them a second time. */
static int odb_write(git_odb_backend *b, const git_oid *id, const void *data, size_t len,
		     git_object_t type)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	void *dst;
	int rc;

	if (type < GIT_OBJECT_COMMIT || type > GIT_OBJECT_TAG) {
		git_error_set(GIT_ERROR_ODB, "cannot store an object of type %d", (int)type);
		return GIT_ERROR;
	}
	rc = txn_open(ob->s, 1, &t);
	if (rc)
		return to_git(rc, GIT_ERROR_ODB);
	rc = store_object_reserve(t, id, type, len, &dst);
	if (rc == 0 && len)
		memcpy(dst, data, len);
	if (rc == -EEXIST)
		rc = 0;
	return to_git(txn_close(t, rc), GIT_ERROR_ODB);
}

/* odb_exists - 1 or 0: libgit2 reads any non-zero as "exists", so an
 * error must read as "absent". */
static int odb_exists(git_odb_backend *b, const git_oid *id)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	int rc = store_txn_begin(&t, ob->s, 0);

	if (rc)
		return 0;
	rc = store_object_exists(t, id);
	store_txn_abort(t);
	return rc == 1;
}

struct foreach_ctx {
	git_odb_foreach_cb cb;
	void *payload;
	int stopped;		/* the callback asked to stop */
};

static int foreach_one(const git_oid *id, void *arg)
{
	struct foreach_ctx *c = arg;
	int rc = c->cb(id, c->payload);

	if (rc)
		c->stopped = 1;
	return rc;
}

static int odb_foreach(git_odb_backend *b, git_odb_foreach_cb cb, void *payload)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct foreach_ctx c = { cb, payload, 0 };
	struct store_txn *t;
	int rc = store_txn_begin(&t, ob->s, 0);

	if (rc)
		return to_git(rc, GIT_ERROR_ODB);
	rc = store_object_foreach(t, foreach_one, &c);
	store_txn_abort(t);
	if (c.stopped)
		return rc;	/* the callback's own code, passed through */
	return to_git(rc, GIT_ERROR_ODB);
}

/* ---- packs ---------------------------------------------------------------- */

struct writepack {
	git_odb_writepack parent;
	struct store *s;
	git_indexer *idx;
	char dir[PATH_MAX];	/* scratch directory, "" once removed */
};

/* collect_id - git_odb_foreach's callback: push ID onto ARG, a util_array
 * of git_oid */
static int collect_id(const git_oid *id, void *arg)
{
	git_oid *slot = UTIL_ARRAY_PUSH(arg, git_oid);

	if (!slot) {
		git_error_set_oom();
		return GIT_ERROR;
	}
	git_oid_cpy(slot, id);
	return 0;
}

/* copy_objects - copy the objects IDS of ODB into the store, in one write
 * transaction (the thread's, if it holds one). */
static int copy_objects(struct store *s, git_odb *odb, const struct util_array *ids)
{
	struct store_txn *t;
	int rc = txn_open(s, 1, &t);

	for (size_t i = 0; rc == 0 && i < util_array_len(ids); i++) {
		const git_oid *id = UTIL_ARRAY_AT(ids, git_oid, i);
		git_odb_object *o;
		void *dst;
		size_t len;

		/* git_odb_read checks the id against the content */
		rc = store_git_error(git_odb_read(&o, odb, id), "reading a fetched pack");
		if (rc)
			break;
		len = git_odb_object_size(o);
		rc = store_object_reserve(t, id, git_odb_object_type(o), len, &dst);
		if (rc == 0 && len)
			memcpy(dst, git_odb_object_data(o), len);
		if (rc == -EEXIST)
			rc = 0;
		git_odb_object_free(o);
	}
	return t ? txn_close(t, rc) : rc;
}

/* import_pack - copy every object of the pack indexed by IDX_PATH. */
static int import_pack(struct store *s, const char *idx_path)
{
	struct util_array ids = UTIL_ARRAY_INIT(git_oid);
	git_odb_backend *pack = NULL;
	git_odb *odb = NULL;
	int rc = store_git_error(git_odb_new(&odb), "fetched pack");

	if (rc == 0)
		rc = store_git_error(git_odb_backend_one_pack(&pack, idx_path), idx_path);
	if (rc == 0) {
		rc = store_git_error(git_odb_add_backend(odb, pack, 1), idx_path);
		if (rc)
			pack->free(pack);
	}
	if (rc == 0)
		rc = store_git_error(git_odb_foreach(odb, collect_id, &ids), idx_path);
	if (rc == 0)
		rc = copy_objects(s, odb, &ids);
	util_array_release(&ids);
	git_odb_free(odb);
	return rc;
}

/* remove_scratch - remove the scratch directory DIR and the files in it. */
static void remove_scratch(char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *e;
	DIR *d;

	if (!dir[0])
		return;
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	dir[0] = '\0';
}

static int wp_append(git_odb_writepack *w, const void *data, size_t len,
		     git_indexer_progress *stats)
{
	struct writepack *wp = (struct writepack *)w;

	return git_indexer_append(wp->idx, data, len, stats);
}

static int wp_commit(git_odb_writepack *w, git_indexer_progress *stats)
{
	struct writepack *wp = (struct writepack *)w;
	char path[PATH_MAX + 64];
	int rc = git_indexer_commit(wp->idx, stats);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/pack-%s.idx", wp->dir, git_indexer_name(wp->idx));
	rc = import_pack(wp->s, path);
	remove_scratch(wp->dir);
	return to_git(rc, GIT_ERROR_ODB);
}

static void wp_free(git_odb_writepack *w)
{
	struct writepack *wp = (struct writepack *)w;

	git_indexer_free(wp->idx);
	remove_scratch(wp->dir);
	free(wp);
}

/*
 * odb_writepack - receive a pack (a fetch): libgit2's indexer writes and
 * indexes it in a scratch directory beside the store (the store's disk
 * is where its objects are headed anyway), resolving thin-pack bases
 * from ODB; wp_commit copies its objects into the store.
 */
static int odb_writepack(git_odb_writepack **out, git_odb_backend *b, git_odb *odb,
			 git_indexer_progress_cb progress_cb, void *progress_payload)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	git_indexer_options opts;
	struct writepack *wp = calloc(1, sizeof(*wp));
	int rc;

	if (!wp) {
		git_error_set_oom();
		return GIT_ERROR;
	}
	wp->s = ob->s;
	snprintf(wp->dir, sizeof(wp->dir), PACK_DIR_TEMPLATE, store_dir(ob->s));
	if (!mkdtemp(wp->dir)) {
		git_error_set(GIT_ERROR_OS, "cannot create a scratch directory for a pack in '%s': %s",
			      store_dir(ob->s), strerror(errno));
		free(wp);
		return GIT_ERROR;
	}
	git_indexer_options_init(&opts, GIT_INDEXER_OPTIONS_VERSION);
	opts.progress_cb = progress_cb;
	opts.progress_cb_payload = progress_payload;
	rc = git_indexer_new(&wp->idx, wp->dir, 0, odb, &opts);
	if (rc) {
		remove_scratch(wp->dir);
		free(wp);
		return rc;
	}
	wp->parent.backend = b;
	wp->parent.append = wp_append;
	wp->parent.commit = wp_commit;
	wp->parent.free = wp_free;
	*out = &wp->parent;
	return 0;
}

static void odb_free(git_odb_backend *b)
{
	free(b);
}

/* ---- refdb backend -------------------------------------------------------- */

static git_reference *ref_from_value(const char *name, const char *value)
{
	git_oid id;

	if (!strncmp(value, "ref: ", 5))
		return git_reference__alloc_symbolic(name, value + 5);
	if (strlen(value) != GIT_OID_HEXSZ || git_oid_fromstr(&id, value))
		return NULL;
	return git_reference__alloc(name, &id, NULL);
}

/* read_ref - ref NAME's value into VAL; -ENOENT if absent. */
static int read_ref(struct refdb_backend *rb, const char *name, char *val, size_t len)
{
	struct store_txn *t;
	int rc = store_txn_begin(&t, rb->s, 0);

	if (rc)
		return rc;
	rc = store_ref_read(t, rb->repo, name, val, len);
	store_txn_abort(t);
	return rc;
}

static int ref_exists(int *exists, git_refdb_backend *b, const char *name)
{
	char val[STORE_REF_VALUE_MAX];
	int rc = read_ref((struct refdb_backend *)b, name, val, sizeof(val));

	*exists = rc == 0;
	return rc == 0 || rc == -ENOENT ? 0 : to_git(rc, GIT_ERROR_REFERENCE);
}

static int ref_lookup(git_reference **out, git_refdb_backend *b, const char *name)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	char val[STORE_REF_VALUE_MAX];
	int rc = read_ref(rb, name, val, sizeof(val));

	*out = NULL;
	if (rc == -ENOENT) {
		git_error_set(GIT_ERROR_REFERENCE, "reference '%s' not found in '%s'", name,
			      rb->repo);
		return GIT_ENOTFOUND;
	}
	if (rc)
		return to_git(rc, GIT_ERROR_REFERENCE);
	*out = ref_from_value(name, val);
	if (!*out) {
		git_error_set(GIT_ERROR_REFERENCE, "reference '%s' of '%s' is corrupt: '%s'", name,
			      rb->repo, val);
		return GIT_ERROR;
	}
	return 0;
}

struct ref_item {
	char *name, *value;
};

struct ref_iter {
	git_reference_iterator parent;
	struct util_array items;	/* struct ref_item */
	size_t pos;
	const char *glob;	/* only while collecting */
};

static int collect_ref(const char *name, const char *value, void *arg)
{
	struct ref_iter *it = arg;
	struct ref_item *item;

	/* as git's own refdb: only refs/..., never HEAD */
	if (strncmp(name, "refs/", 5) != 0)
		return 0;
	if (it->glob && fnmatch(it->glob, name, 0) != 0)
		return 0;
	item = UTIL_ARRAY_PUSH(&it->items, struct ref_item);
	if (!item)
		return store_error(-ENOMEM, "out of memory listing refs");
	item->name = strdup(name);
	item->value = strdup(value);
	if (!item->name || !item->value) {
		free(item->name);
		free(item->value);
		it->items.len--;
		return store_error(-ENOMEM, "out of memory listing refs");
	}
	return 0;
}

static int iter_next(git_reference **ref, git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	while (it->pos < util_array_len(&it->items)) {
		struct ref_item *item = UTIL_ARRAY_AT(&it->items, struct ref_item, it->pos++);
		*ref = ref_from_value(item->name, item->value);
		if (*ref)
			return 0;
		/* a corrupt ref is skipped here; govc fsck reports it */
	}
	return GIT_ITEROVER;
}

static int iter_next_name(const char **name, git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	if (it->pos >= util_array_len(&it->items))
		return GIT_ITEROVER;
	*name = UTIL_ARRAY_AT(&it->items, struct ref_item, it->pos++)->name;
	return 0;
}

static void iter_free(git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	UTIL_ARRAY_FOREACH(&it->items, struct ref_item, item) {
		free(item->name);
		free(item->value);
	}
	util_array_release(&it->items);
	free(it);
}

/* ref_iterator - a snapshot of the repository's refs, taken now: the
 * transaction ends before libgit2 walks it. */
static int ref_iterator(git_reference_iterator **out, git_refdb_backend *b, const char *glob)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	struct ref_iter *it = calloc(1, sizeof(*it));
	struct store_txn *t;
	int rc;

	if (!it) {
		git_error_set_oom();
		return GIT_ERROR;
	}
	util_array_init(&it->items, sizeof(struct ref_item));
	it->parent.next = iter_next;
	it->parent.next_name = iter_next_name;
	it->parent.free = iter_free;
	it->glob = glob;
	rc = store_txn_begin(&t, rb->s, 0);
	if (rc == 0) {
		rc = store_ref_foreach(t, rb->repo, "refs/", collect_ref, it);
		store_txn_abort(t);
	}
	it->glob = NULL;
	if (rc) {
		iter_free(&it->parent);
		return to_git(rc, GIT_ERROR_REFERENCE);
	}
	*out = &it->parent;
	return 0;
}

static void ref_value(char *buf, size_t len, const git_reference *ref)
{
	if (git_reference_type(ref) == GIT_REFERENCE_SYMBOLIC)
		snprintf(buf, len, "ref: %s", git_reference_symbolic_target(ref));
	else
		git_oid_tostr(buf, len, git_reference_target(ref));
}

/*
 * expected - the value store_ref_write must find (its OLD argument) for
 * libgit2's conditions: OLD or OLD_TARGET when given, else "absent"
 * unless FORCE, else no condition (NULL).  As git's own refdb does, the
 * old value is checked even when forced.
 */
static const char *expected(char *buf, size_t len, int force, const git_oid *old,
			    const char *old_target)
{
	if (old)
		return git_oid_tostr(buf, len, old);
	if (old_target) {
		snprintf(buf, len, "ref: %s", old_target);
		return buf;
	}
	return force ? NULL : "";
}

static int ref_write(git_refdb_backend *b, const git_reference *ref, int force,
		     const git_signature *who, const char *message, const git_oid *old,
		     const char *old_target)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	char val[STORE_REF_VALUE_MAX], exp[STORE_REF_VALUE_MAX];
	const char *want = expected(exp, sizeof(exp), force, old, old_target);
	const char *name = git_reference_name(ref);
	struct store_txn *t;
	int rc;

	ref_value(val, sizeof(val), ref);
	rc = txn_open(rb->s, 1, &t);
	if (rc)
		return to_git(rc, GIT_ERROR_REFERENCE);
	rc = store_ref_write(t, rb->repo, name, val, want, message);
	rc = txn_close(t, rc);
	if (rc == -EAGAIN && want && !*want) {
		git_error_set(GIT_ERROR_REFERENCE, "reference '%s' of '%s' already exists", name,
			      rb->repo);
		return GIT_EEXISTS;
	}
	return to_git(rc, GIT_ERROR_REFERENCE);
}

static int ref_del(git_refdb_backend *b, const char *name, const git_oid *old,
		   const char *old_target)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	char exp[STORE_REF_VALUE_MAX];
	const char *want = expected(exp, sizeof(exp), 1, old, old_target);
	struct store_txn *t;
	int rc = txn_open(rb->s, 1, &t);

	if (rc)
		return to_git(rc, GIT_ERROR_REFERENCE);
	rc = store_ref_delete(t, rb->repo, name, want);
	return to_git(txn_close(t, rc), GIT_ERROR_REFERENCE);
}

static int ref_rename(git_reference **out, git_refdb_backend *b, const char *old_name,
		      const char *new_name, int force, const git_signature *who,
		      const char *message)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	char val[STORE_REF_VALUE_MAX];
	struct store_txn *t;
	int rc = txn_open(rb->s, 1, &t);

	*out = NULL;
	if (rc)
		return to_git(rc, GIT_ERROR_REFERENCE);
	rc = store_ref_read(t, rb->repo, old_name, val, sizeof(val));
	if (rc == 0)
		rc = store_ref_write(t, rb->repo, new_name, val, force ? NULL : "", message);
	if (rc == 0)
		rc = store_ref_delete(t, rb->repo, old_name, val);
	rc = txn_close(t, rc);
	if (rc == -EAGAIN && !force) {
		git_error_set(GIT_ERROR_REFERENCE, "reference '%s' of '%s' already exists",
			      new_name, rb->repo);
		return GIT_EEXISTS;
	}
	if (rc)
		return to_git(rc, GIT_ERROR_REFERENCE);
	*out = ref_from_value(new_name, val);
	if (!*out) {
		git_error_set(GIT_ERROR_REFERENCE, "reference '%s' of '%s' is corrupt", new_name,
			      rb->repo);
		return GIT_ERROR;
	}
	return 0;
}

/*
 * The reflog: store_ref_write appends to the store's reflog table with
 * every update (store_reflog_foreach reads it).  libgit2 1.5 has no
 * public way to build a git_reflog, so to libgit2 the reflog is absent:
 * has_log says 0 and reading one is GIT_ENOTFOUND; nothing can then ask
 * to write one.
 */
static int ref_has_log(git_refdb_backend *b, const char *name)
{
	return 0;
}

static int ref_ensure_log(git_refdb_backend *b, const char *name)
{
	return 0;	/* every ref has one already, in the store */
}

static int ref_reflog_read(git_reflog **out, git_refdb_backend *b, const char *name)
{
	git_error_set(GIT_ERROR_REFERENCE,
		      "the reflog of '%s' is kept by govc, not readable through libgit2", name);
	return GIT_ENOTFOUND;
}

static int ref_reflog_write(git_refdb_backend *b, git_reflog *reflog)
{
	git_error_set(GIT_ERROR_REFERENCE, "govc keeps reflogs itself; libgit2 cannot write them");
	return GIT_ERROR;
}

static int ref_reflog_rename(git_refdb_backend *b, const char *old_name, const char *new_name)
{
	return 0;	/* the old name's history stays where it is */
}

static int ref_reflog_delete(git_refdb_backend *b, const char *name)
{
	return 0;	/* history is kept: the delete itself was logged */
}

/*
 * Locks for git_transaction: lock remembers the ref's value; unlock
 * writes with compare-and-swap against it, so a ref changed in between
 * (by this or another process) fails with GIT_EMODIFIED.
 */
struct ref_lock {
	char name[STORE_REF_NAME_MAX + 1];
	char value[STORE_REF_VALUE_MAX];	/* "" if absent */
};

static int ref_lock(void **payload, git_refdb_backend *b, const char *name)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	struct ref_lock *l;
	int rc;

	if (strlen(name) > STORE_REF_NAME_MAX) {
		git_error_set(GIT_ERROR_REFERENCE, "reference name '%.40s...' is too long", name);
		return GIT_EINVALIDSPEC;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		git_error_set_oom();
		return GIT_ERROR;
	}
	snprintf(l->name, sizeof(l->name), "%s", name);
	rc = read_ref(rb, name, l->value, sizeof(l->value));
	if (rc == -ENOENT) {
		l->value[0] = '\0';
		rc = 0;
	}
	if (rc) {
		free(l);
		return to_git(rc, GIT_ERROR_REFERENCE);
	}
	*payload = l;
	return 0;
}

static int ref_unlock(git_refdb_backend *b, void *payload, int success, int update_reflog,
		      const git_reference *ref, const git_signature *who, const char *message)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	struct ref_lock *l = payload;
	char val[STORE_REF_VALUE_MAX];
	struct store_txn *t;
	int rc = 0;

	if (success == 1 || success == 2) {
		rc = txn_open(rb->s, 1, &t);
		if (rc == 0) {
			if (success == 1) {
				ref_value(val, sizeof(val), ref);
				rc = store_ref_write(t, rb->repo, l->name, val, l->value, message);
			} else {
				rc = store_ref_delete(t, rb->repo, l->name, l->value);
			}
			rc = txn_close(t, rc);
		}
	}
	free(l);
	return to_git(rc, GIT_ERROR_REFERENCE);
}

static void ref_free(git_refdb_backend *b)
{
	free(b);
}

/* ---- the repository --------------------------------------------------- */

static struct odb_backend *odb_backend_new(struct store *s)
{
	struct odb_backend *ob = calloc(1, sizeof(*ob));

	if (!ob)
		return NULL;
	git_odb_init_backend(&ob->parent, GIT_ODB_BACKEND_VERSION);
	ob->s = s;
	ob->parent.read = odb_read;
	ob->parent.read_header = odb_read_header;
	ob->parent.read_prefix = odb_read_prefix;
	ob->parent.write = odb_write;
	ob->parent.exists = odb_exists;
	ob->parent.exists_prefix = odb_exists_prefix;
	ob->parent.foreach = odb_foreach;
	ob->parent.writepack = odb_writepack;
	ob->parent.free = odb_free;
	return ob;
}

static struct refdb_backend *refdb_backend_new(struct store *s, const char *repo)
{
	struct refdb_backend *rb = calloc(1, sizeof(*rb));

	if (!rb)
		return NULL;
	git_refdb_init_backend(&rb->parent, GIT_REFDB_BACKEND_VERSION);
	rb->s = s;
	snprintf(rb->repo, sizeof(rb->repo), "%s", repo);
	rb->parent.exists = ref_exists;
	rb->parent.lookup = ref_lookup;
	rb->parent.iterator = ref_iterator;
	rb->parent.write = ref_write;
	rb->parent.rename = ref_rename;
	rb->parent.del = ref_del;
	rb->parent.has_log = ref_has_log;
	rb->parent.ensure_log = ref_ensure_log;
	rb->parent.reflog_read = ref_reflog_read;
	rb->parent.reflog_write = ref_reflog_write;
	rb->parent.reflog_rename = ref_reflog_rename;
	rb->parent.reflog_delete = ref_reflog_delete;
	rb->parent.lock = ref_lock;
	rb->parent.unlock = ref_unlock;
	rb->parent.free = ref_free;
	return rb;
}

int store_git_open(git_repository **out, struct store *s, const char *repo)
{
	struct odb_backend *ob = NULL;
	struct refdb_backend *rb = NULL;
	git_repository *r = NULL;
	git_odb *odb = NULL;
	git_refdb *refdb = NULL;
	git_config *cfg = NULL;
	int rc;

	*out = NULL;
	if (strlen(repo) > STORE_REPO_NAME_MAX)
		return store_error(-EINVAL, "repository name '%.40s...' is too long", repo);
	ob = odb_backend_new(s);
	rb = refdb_backend_new(s, repo);
	if (!ob || !rb) {
		rc = store_error(-ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = store_git_error(git_repository_new(&r), "creating a libgit2 repository");
	if (rc == 0)
		rc = store_git_error(git_odb_new(&odb), "creating a libgit2 object database");
	if (rc == 0) {
		rc = store_git_error(git_odb_add_backend(odb, &ob->parent, 1), "adding the odb backend");
		if (rc == 0)
			ob = NULL;	/* the odb owns it now */
	}
	if (rc == 0)
		rc = store_git_error(git_refdb_new(&refdb, r), "creating a libgit2 refdb");
	if (rc == 0) {
		rc = store_git_error(git_refdb_set_backend(refdb, &rb->parent),
				     "setting the refdb backend");
		if (rc == 0)
			rb = NULL;	/* the refdb owns it now */
	}
	/* an empty configuration: the user's ~/.gitconfig is never read */
	if (rc == 0)
		rc = store_git_error(git_config_new(&cfg), "creating a libgit2 configuration");
	if (rc == 0)
		rc = store_git_error(git_repository_set_config(r, cfg), "setting the configuration");
	if (rc == 0)
		rc = store_git_error(git_repository_set_odb(r, odb), "setting the odb");
	if (rc == 0)
		rc = store_git_error(git_repository_set_refdb(r, refdb), "setting the refdb");
	/* who libgit2 names in ref updates it signs itself */
	if (rc == 0)
		rc = store_git_error(git_repository_set_ident(r, GIT_IDENT_NAME, GIT_IDENT_EMAIL),
				     "setting the identity");
	if (rc == 0) {
		*out = r;
		r = NULL;
	}
cleanup:
	git_config_free(cfg);
	git_refdb_free(refdb);
	git_odb_free(odb);
	git_repository_free(r);
	free(ob);
	free(rb);
	return rc;
}

/* ---- reading history ------------------------------------------------------ */

char *store_oid_fmt(char *buf, const git_oid *id)
{
	return git_oid_tostr(buf, STORE_OID_HEX + 1, id);
}

void store_oid_empty_tree(git_oid *out)
{
	git_oid_fromstr(out, "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
}

/*
 * commit_get - what store_commit_read and store_commit_parent want of
 * commit ID of REPO: its time and tree (TIME and TREE may be NULL), and
 * its first parent (PARENT may be NULL): 0, 1 if it has none (PARENT
 * untouched), -ENOENT, or a negative errno with a message.
 */
static int commit_get(struct store *s, const char *repo, const git_oid *id, int64_t *time,
		      git_oid *tree, git_oid *parent)
{
	git_repository *g;
	git_commit *c;
	int rc = store_git_open(&g, s, repo);

	if (rc)
		return rc;
	rc = git_commit_lookup(&c, g, id);
	if (rc == 0) {
		if (time)
			*time = git_commit_time(c);
		if (tree)
			git_oid_cpy(tree, git_commit_tree_id(c));
		if (git_commit_parentcount(c) && parent)
			git_oid_cpy(parent, git_commit_parent_id(c, 0));
		rc = git_commit_parentcount(c) ? 0 : 1;
		git_commit_free(c);
	} else {
		rc = rc == GIT_ENOTFOUND ? -ENOENT : store_git_error(rc, "reading a commit");
	}
	git_repository_free(g);
	return rc;
}

int store_commit_read(struct store *s, const char *repo, const git_oid *id, int64_t *time,
		      git_oid *tree)
{
	int rc = commit_get(s, repo, id, time, tree, NULL);

	return rc == 1 ? 0 : rc;
}

int store_commit_parent(struct store *s, const char *repo, const git_oid *id, git_oid *parent)
{
	return commit_get(s, repo, id, NULL, NULL, parent);
}

/*
 * head_of - the commit at the head of REPO's current branch: 0, 1 if the
 * branch has none yet, or a negative errno from reading HEAD.
 */
static int head_of(struct store_txn *t, const char *repo, git_oid *out)
{
	char ref[STORE_REF_NAME_MAX + 16], branch[STORE_REF_NAME_MAX + 1];
	int rc = store_repo_head_branch(t, repo, branch, sizeof(branch));

	if (rc)
		return rc;
	snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
	return store_ref_resolve(t, repo, ref, out) ? 1 : 0;
}

int store_commit_reachable(struct store *s, struct store_txn *t, const char *repo,
			   const git_oid *id)
{
	git_repository *g;
	git_oid head;
	int rc = head_of(t, repo, &head);

	if (rc)
		return 0;
	if (git_oid_equal(&head, id))
		return 1;
	rc = store_git_open(&g, s, repo);
	if (rc)
		return rc;
	rc = git_graph_descendant_of(g, &head, id) == 1;
	git_repository_free(g);
	return rc;
}

int store_history_foreach(struct store *s, struct store_txn *t, const char *repo,
			  int (*cb)(const git_oid *id, void *arg), void *arg)
{
	git_repository *g;
	git_revwalk *walk;
	git_oid id;
	int rc = head_of(t, repo, &id);

	if (rc)
		return rc > 0 ? 0 : rc;	/* 1: no commits yet */
	rc = store_git_open(&g, s, repo);
	if (rc)
		return rc;
	rc = store_git_error(git_revwalk_new(&walk, g), "revwalk");
	if (rc == 0) {
		rc = store_git_error(git_revwalk_push(walk, &id), "revwalk");
		while (rc == 0 && git_revwalk_next(&id, walk) == 0)
			rc = cb(&id, arg);
		git_revwalk_free(walk);
	}
	git_repository_free(g);
	return rc;
}
