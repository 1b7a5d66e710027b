/*
 * git.c - libgit2 over the store: an ODB backend on the objects table and
 * a refdb backend on the refs table (see git.h).
 *
 * Every callback runs in the calling thread's open write transaction when
 * there is one (so a commit's blobs, trees, commit object and ref update
 * are one LMDB transaction), else in a short transaction of its own.
 * Data handed to libgit2 is copied out of the map: LMDB pointers die with
 * their transaction.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/refdb_backend.h>
#include <git2/sys/refs.h>
#include <git2/sys/repository.h>

#include "store/git.h"
#include "store/object.h"
#include "store/repo.h"

struct odb_backend {
	git_odb_backend parent;
	struct store *s;
};

struct refdb_backend {
	git_refdb_backend parent;
	struct store *s;
	char repo[STORE_REPO_NAME_MAX + 1];
};

int store_git_error(int rc, const char *what)
{
	const git_error *e;

	if (rc >= 0)
		return 0;
	e = git_error_last();
	switch (rc) {
	case GIT_ENOTFOUND:
		return store_error(-ENOENT, "%s: %s", what, e ? e->message : "not found");
	case GIT_EEXISTS:
		return store_error(-EEXIST, "%s: %s", what, e ? e->message : "exists");
	case GIT_EMODIFIED:
	case GIT_ELOCKED:
		return store_error(-EAGAIN, "%s: %s", what, e ? e->message : "changed concurrently");
	default:
		/* a store error passed up through libgit2 keeps its message */
		return store_error(-EIO, "%s: %s", what, e ? e->message : "git error");
	}
}

/* to_git - a store error as a libgit2 code, with libgit2's message set. */
static int to_git(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == -ENOENT)
		return GIT_ENOTFOUND;
	git_error_set_str(GIT_ERROR_ODB, store_errmsg());
	if (rc == -EAGAIN)
		return GIT_EMODIFIED;
	if (rc == -EEXIST)
		return GIT_EEXISTS;
	return GIT_ERROR;
}

/* with_txn - begin a transaction (joining the thread's write txn). */
static int with_txn(struct store *s, int write, struct store_txn **t, int *own)
{
	if (write && store_txn_current(s)) {
		*own = 0;
		*t = store_txn_current(s);
		return 0;
	}
	*own = 1;
	return store_txn_begin(t, s, write ? STORE_TXN_WRITE : 0);
}

static int end_txn(struct store_txn *t, int own, int write, int rc)
{
	if (!own)
		return rc;
	if (rc || !write) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t);
}

/* read_object - type and size of OID, and (if OUT) a copy of its body. */
static int read_object(git_odb_backend *b, const git_oid *oid, git_object_t *type,
		       size_t *len, void **out)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	const void *data;
	int own, rc = with_txn(ob->s, 0, &t, &own);

	if (rc)
		return to_git(rc);
	rc = store_object_read(t, oid, type, &data, len);
	if (rc == 0 && out) {
		*out = git_odb_backend_data_alloc(b, *len ? *len : 1);
		if (*out)
			memcpy(*out, data, *len);
		else
			rc = store_error(-ENOMEM, "out of memory");
	}
	end_txn(t, own, 0, 0);
	return to_git(rc);
}

static int odb_read(void **out, size_t *len, git_object_t *type, git_odb_backend *b,
		    const git_oid *oid)
{
	return read_object(b, oid, type, len, out);
}

static int odb_read_header(size_t *len, git_object_t *type, git_odb_backend *b,
			   const git_oid *oid)
{
	return read_object(b, oid, type, len, NULL);
}

static int resolve_prefix(struct odb_backend *ob, git_oid *out, const git_oid *short_id,
			  size_t hexlen)
{
	char hex[GIT_OID_HEXSZ + 1];
	struct store_txn *t;
	int own, rc = with_txn(ob->s, 0, &t, &own);

	if (rc)
		return rc;
	git_oid_tostr(hex, sizeof(hex), short_id);
	if (hexlen >= GIT_OID_HEXSZ) {
		git_oid_cpy(out, short_id);
		rc = store_object_exists(t, short_id);
		rc = rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
	} else {
		rc = hexlen < 4 ? -ENOENT : store_object_prefix(t, hex, hexlen, out);
	}
	end_txn(t, own, 0, 0);
	return rc;
}

static int odb_read_prefix(git_oid *out_oid, void **out, size_t *len, git_object_t *type,
			   git_odb_backend *b, const git_oid *short_id, size_t hexlen)
{
	int rc = resolve_prefix((struct odb_backend *)b, out_oid, short_id, hexlen);

	if (rc == -EINVAL)
		return GIT_EAMBIGUOUS;
	if (rc)
		return to_git(rc);
	return odb_read(out, len, type, b, out_oid);
}

static int odb_exists_prefix(git_oid *out, git_odb_backend *b, const git_oid *short_id,
			     size_t hexlen)
{
	int rc = resolve_prefix((struct odb_backend *)b, out, short_id, hexlen);

	return rc == -EINVAL ? GIT_EAMBIGUOUS : to_git(rc);
}

static int odb_write(git_odb_backend *b, const git_oid *oid, const void *data, size_t len,
		     git_object_t type)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	git_oid written;
	int own, rc = with_txn(ob->s, 1, &t, &own);

	if (rc)
		return to_git(rc);
	rc = store_object_write(t, type, data, len, &written);
	if (rc == 0 && !git_oid_equal(&written, oid))
		rc = store_error(-EIO, "object id mismatch while writing");
	return to_git(end_txn(t, own, 1, rc));
}

static int odb_exists(git_odb_backend *b, const git_oid *oid)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct store_txn *t;
	int own, rc = with_txn(ob->s, 0, &t, &own);

	if (rc)
		return 0;
	rc = store_object_exists(t, oid);
	end_txn(t, own, 0, 0);
	return rc == 1;
}

struct foreach_ctx {
	git_odb_foreach_cb cb;
	void *payload;
};

static int foreach_one(const git_oid *id, void *arg)
{
	struct foreach_ctx *c = arg;

	return c->cb(id, c->payload);
}

static int odb_foreach(git_odb_backend *b, git_odb_foreach_cb cb, void *payload)
{
	struct odb_backend *ob = (struct odb_backend *)b;
	struct foreach_ctx c = { cb, payload };
	struct store_txn *t;
	int own, rc = with_txn(ob->s, 0, &t, &own);

	if (rc)
		return to_git(rc);
	rc = store_object_foreach(t, foreach_one, &c);
	end_txn(t, own, 0, 0);
	return rc;
}

static void odb_free(git_odb_backend *b)
{
	free(b);
}

/* ---- refdb --------------------------------------------------------------- */

static git_reference *ref_from_value(const char *name, const char *value)
{
	git_oid id;

	if (!strncmp(value, "ref: ", 5))
		return git_reference__alloc_symbolic(name, value + 5);
	if (strlen(value) != GIT_OID_HEXSZ || git_oid_fromstr(&id, value))
		return NULL;
	return git_reference__alloc(name, &id, NULL);
}

static int ref_exists(int *exists, git_refdb_backend *b, const char *name)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	char val[STORE_REF_VALUE_MAX];
	struct store_txn *t;
	int own, rc = with_txn(rb->s, 0, &t, &own);

	if (rc)
		return to_git(rc);
	rc = store_ref_read(t, rb->repo, name, val, sizeof(val));
	end_txn(t, own, 0, 0);
	*exists = rc == 0;
	return rc == 0 || rc == -ENOENT ? 0 : to_git(rc);
}

static int ref_lookup(git_reference **out, git_refdb_backend *b, const char *name)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	char val[STORE_REF_VALUE_MAX];
	struct store_txn *t;
	int own, rc = with_txn(rb->s, 0, &t, &own);

	if (rc)
		return to_git(rc);
	rc = store_ref_read(t, rb->repo, name, val, sizeof(val));
	end_txn(t, own, 0, 0);
	if (rc) {
		if (rc == -ENOENT)
			git_error_set(GIT_ERROR_REFERENCE, "reference '%s' not found", name);
		return to_git(rc);
	}
	*out = ref_from_value(name, val);
	if (!*out) {
		git_error_set(GIT_ERROR_REFERENCE, "reference '%s' is corrupt", name);
		return GIT_ERROR;
	}
	return 0;
}

struct ref_iter {
	git_reference_iterator parent;
	char **names, **values;
	size_t n, pos;
};

struct collect_ctx {
	struct ref_iter *it;
	const char *glob;
	size_t cap;
};

static int collect_ref(const char *name, const char *value, void *arg)
{
	struct collect_ctx *c = arg;
	struct ref_iter *it = c->it;

	if (!strcmp(name, "HEAD"))
		return 0;	/* HEAD is not listed by iterators */
	if (c->glob && fnmatch(c->glob, name, 0))
		return 0;
	if (it->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		char **nn = realloc(it->names, cap * sizeof(char *));
		char **nv = nn ? realloc(it->values, cap * sizeof(char *)) : NULL;
		if (nn)
			it->names = nn;
		if (!nv)
			return -ENOMEM;
		it->values = nv;
		c->cap = cap;
	}
	it->names[it->n] = strdup(name);
	it->values[it->n] = strdup(value);
	it->n++;
	return 0;
}

static int iter_next(git_reference **ref, git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	while (it->pos < it->n) {
		size_t i = it->pos++;
		if (!it->names[i] || !it->values[i])
			continue;
		*ref = ref_from_value(it->names[i], it->values[i]);
		if (*ref)
			return 0;
	}
	return GIT_ITEROVER;
}

static int iter_next_name(const char **name, git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	while (it->pos < it->n) {
		size_t i = it->pos++;
		if (it->names[i]) {
			*name = it->names[i];
			return 0;
		}
	}
	return GIT_ITEROVER;
}

static void iter_free(git_reference_iterator *iter)
{
	struct ref_iter *it = (struct ref_iter *)iter;

	for (size_t i = 0; i < it->n; i++) {
		free(it->names[i]);
		free(it->values[i]);
	}
	free(it->names);
	free(it->values);
	free(it);
}

static int ref_iterator(git_reference_iterator **out, git_refdb_backend *b, const char *glob)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	struct ref_iter *it = calloc(1, sizeof(*it));
	struct collect_ctx c = { .it = it, .glob = glob };
	struct store_txn *t;
	int own, rc;

	if (!it)
		return GIT_ERROR;
	rc = with_txn(rb->s, 0, &t, &own);
	if (rc == 0) {
		rc = store_ref_foreach(t, rb->repo, NULL, collect_ref, &c);
		end_txn(t, own, 0, 0);
	}
	it->parent.next = iter_next;
	it->parent.next_name = iter_next_name;
	it->parent.free = iter_free;
	if (rc) {
		iter_free(&it->parent);
		return to_git(rc);
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

/* expected - the CAS value libgit2 asks for, or NULL for none. */
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
	struct store_txn *t;
	int own, rc;

	ref_value(val, sizeof(val), ref);
	rc = with_txn(rb->s, 1, &t, &own);
	if (rc)
		return to_git(rc);
	rc = store_ref_write(t, rb->repo, git_reference_name(ref), val, want, message);
	rc = end_txn(t, own, 1, rc);
	if (rc == -EAGAIN && want && !*want)
		return GIT_EEXISTS;
	return to_git(rc);
}

static int ref_del(git_refdb_backend *b, const char *name, const git_oid *old,
		   const char *old_target)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	char exp[STORE_REF_VALUE_MAX];
	const char *want = expected(exp, sizeof(exp), 1, old, old_target);
	struct store_txn *t;
	int own, rc = with_txn(rb->s, 1, &t, &own);

	if (rc)
		return to_git(rc);
	rc = store_ref_delete(t, rb->repo, name, want);
	return to_git(end_txn(t, own, 1, rc));
}

static int ref_rename(git_reference **out, git_refdb_backend *b, const char *old_name,
		      const char *new_name, int force, const git_signature *who,
		      const char *message)
{
	struct refdb_backend *rb = (struct refdb_backend *)b;
	char val[STORE_REF_VALUE_MAX];
	struct store_txn *t;
	int own, rc = with_txn(rb->s, 1, &t, &own);

	if (rc)
		return to_git(rc);
	rc = store_ref_read(t, rb->repo, old_name, val, sizeof(val));
	if (rc == 0)
		rc = store_ref_write(t, rb->repo, new_name, val, force ? NULL : "", message);
	if (rc == 0)
		rc = store_ref_delete(t, rb->repo, old_name, NULL);
	rc = end_txn(t, own, 1, rc);
	if (rc)
		return rc == -EAGAIN ? GIT_EEXISTS : to_git(rc);
	*out = ref_from_value(new_name, val);
	return *out ? 0 : GIT_ERROR;
}

static int ref_compress(git_refdb_backend *b)
{
	return 0;
}

static int ref_has_log(git_refdb_backend *b, const char *name)
{
	return 1;	/* store_ref_write logs every update */
}

static int ref_ensure_log(git_refdb_backend *b, const char *name)
{
	return 0;
}

static int ref_reflog_read(git_reflog **out, git_refdb_backend *b, const char *name)
{
	git_error_set(GIT_ERROR_REFERENCE, "reflogs are kept by govc, not libgit2");
	return GIT_ENOTFOUND;
}

static int ref_reflog_write(git_refdb_backend *b, git_reflog *reflog)
{
	return 0;	/* the store wrote it with the ref */
}

static int ref_reflog_rename(git_refdb_backend *b, const char *old_name, const char *new_name)
{
	return 0;
}

static int ref_reflog_delete(git_refdb_backend *b, const char *name)
{
	return 0;
}

static void ref_free(git_refdb_backend *b)
{
	free(b);
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
		return store_error(-EINVAL, "repository name '%s' is too long", repo);
	rc = store_git_error(git_repository_new(&r), "libgit2 repository");
	if (rc)
		return rc;
	ob = calloc(1, sizeof(*ob));
	rb = calloc(1, sizeof(*rb));
	if (!ob || !rb) {
		rc = store_error(-ENOMEM, "out of memory");
		goto fail;
	}
	git_odb_init_backend(&ob->parent, GIT_ODB_BACKEND_VERSION);
	ob->s = s;
	ob->parent.read = odb_read;
	ob->parent.read_header = odb_read_header;
	ob->parent.read_prefix = odb_read_prefix;
	ob->parent.write = odb_write;
	ob->parent.exists = odb_exists;
	ob->parent.exists_prefix = odb_exists_prefix;
	ob->parent.foreach = odb_foreach;
	ob->parent.free = odb_free;

	git_refdb_init_backend(&rb->parent, GIT_REFDB_BACKEND_VERSION);
	rb->s = s;
	snprintf(rb->repo, sizeof(rb->repo), "%s", repo);
	rb->parent.exists = ref_exists;
	rb->parent.lookup = ref_lookup;
	rb->parent.iterator = ref_iterator;
	rb->parent.write = ref_write;
	rb->parent.rename = ref_rename;
	rb->parent.del = ref_del;
	rb->parent.compress = ref_compress;
	rb->parent.has_log = ref_has_log;
	rb->parent.ensure_log = ref_ensure_log;
	rb->parent.free = ref_free;
	rb->parent.reflog_read = ref_reflog_read;
	rb->parent.reflog_write = ref_reflog_write;
	rb->parent.reflog_rename = ref_reflog_rename;
	rb->parent.reflog_delete = ref_reflog_delete;

	rc = store_git_error(git_odb_new(&odb), "odb");
	if (rc == 0) {
		rc = store_git_error(git_odb_add_backend(odb, &ob->parent, 1), "odb backend");
		if (rc == 0)
			ob = NULL;	/* owned by the odb now */
	}
	if (rc == 0)
		rc = store_git_error(git_refdb_new(&refdb, r), "refdb");
	if (rc == 0) {
		rc = store_git_error(git_refdb_set_backend(refdb, &rb->parent), "refdb backend");
		if (rc == 0)
			rb = NULL;
	}
	if (rc == 0)
		rc = store_git_error(git_config_new(&cfg), "config");
	if (rc == 0)
		rc = store_git_error(git_repository_set_config(r, cfg), "config");
	if (rc == 0)
		rc = store_git_error(git_repository_set_odb(r, odb), "odb");
	if (rc == 0)
		rc = store_git_error(git_repository_set_refdb(r, refdb), "refdb");
	if (rc)
		goto fail;
	git_config_free(cfg);
	git_refdb_free(refdb);
	git_odb_free(odb);
	*out = r;
	return 0;
fail:
	git_config_free(cfg);
	git_refdb_free(refdb);
	git_odb_free(odb);
	git_repository_free(r);
	free(ob);
	free(rb);
	return rc;
}
