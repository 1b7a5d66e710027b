/*
 * gitio.c - repositories to and from ordinary git repositories (gitio.h).
 *
 * Objects are copied one at a time, children before parents, so that an
 * object already present at the destination means its whole graph is
 * there: re-exporting after new commits copies only what is new.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <git2.h>

#include "store/git.h"
#include "store/gitio.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/worktree.h"

#define TREE_DEPTH_MAX 256

/* ---- export: store -> git ------------------------------------------------ */

struct export_ctx {
	struct store_txn *t;
	git_odb *dst;
};

static int export_object(struct export_ctx *x, const git_oid *id, int depth);

static int export_tree_entries(struct export_ctx *x, const void *body, size_t len, int depth)
{
	struct store_tree_entry e;
	size_t pos = 0;
	int rc;

	while ((rc = store_tree_next(body, len, &pos, &e)) == 1) {
		git_oid id;
		if (e.mode == 0160000)
			continue;	/* submodule commits live elsewhere */
		git_oid_cpy(&id, e.id);
		rc = export_object(x, &id, depth + 1);
		if (rc)
			return rc;
	}
	return rc;
}

static int export_object(struct export_ctx *x, const git_oid *id, int depth)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_object_t type;
	const void *body;
	size_t len;
	git_oid written;
	int rc;

	if (git_odb_exists(x->dst, id))
		return 0;
	if (depth > TREE_DEPTH_MAX)
		return store_error(-ELOOP, "trees nest too deeply");
	rc = store_object_read(x->t, id, &type, &body, &len);
	if (rc == -ENOENT)
		return store_error(-EIO, "object %s is missing from the store (run govc fsck)",
				   git_oid_tostr(hex, sizeof(hex), id));
	if (rc)
		return rc;
	if (type == GIT_OBJECT_TREE) {
		rc = export_tree_entries(x, body, len, depth);
		if (rc)
			return rc;
		/* the walk may not move the map in a read txn, but re-read
		 * anyway: the body pointer is only valid for this txn */
		rc = store_object_read(x->t, id, &type, &body, &len);
		if (rc)
			return rc;
	}
	return store_git_error(git_odb_write(&written, x->dst, body, len, type), "writing an object");
}

struct ref_list {
	char **names;
	git_oid *ids;
	size_t n, cap;
};

static int collect_branch(const char *name, const char *value, void *arg)
{
	struct ref_list *l = arg;

	if (strncmp(value, "ref: ", 5) == 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **nn = realloc(l->names, cap * sizeof(*nn));
		git_oid *ni = nn ? realloc(l->ids, cap * sizeof(*ni)) : NULL;
		if (nn)
			l->names = nn;
		if (!ni)
			return store_error(-ENOMEM, "out of memory");
		l->ids = ni;
		l->cap = cap;
	}
	if (git_oid_fromstr(&l->ids[l->n], value))
		return store_error(-EIO, "ref '%s' is corrupt", name);
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return store_error(-ENOMEM, "out of memory");
	l->n++;
	return 0;
}

static void ref_list_free(struct ref_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->ids);
}

static int export_history(struct export_ctx *x, git_repository *src, const git_oid *tip)
{
	git_revwalk *walk = NULL;
	git_oid id;
	int rc = store_git_error(git_revwalk_new(&walk, src), "revwalk");

	if (rc == 0) {
		/* oldest first: parents reach the destination before children */
		git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
		rc = store_git_error(git_revwalk_push(walk, tip), "revwalk");
	}
	while (rc == 0 && git_revwalk_next(&id, walk) == 0) {
		git_commit *c;
		if (git_odb_exists(x->dst, &id))
			continue;
		rc = store_git_error(git_commit_lookup(&c, src, &id), "reading a commit");
		if (rc)
			break;
		rc = export_object(x, git_commit_tree_id(c), 0);
		git_commit_free(c);
		if (rc == 0)
			rc = export_object(x, &id, 0);
	}
	git_revwalk_free(walk);
	return rc;
}

int store_git_export(struct store *s, const char *repo, const char *dir)
{
	struct export_ctx x = { 0 };
	struct ref_list refs = { 0 };
	git_repository *src = NULL, *dst = NULL;
	git_checkout_options co;
	char branch[STORE_REF_NAME_MAX + 1], head[STORE_REF_NAME_MAX + 16];
	int rc;

	rc = store_txn_begin(&x.t, s, 0);
	if (rc)
		return rc;
	rc = store_repo_exists(x.t, repo);
	if (rc == 0)
		rc = store_error(-ENOENT, "no repository '%s'", repo);
	if (rc < 0)
		goto out;
	rc = store_repo_head_branch(x.t, repo, branch, sizeof(branch));
	if (rc == 0)
		rc = store_ref_foreach(x.t, repo, "refs/", collect_branch, &refs);
	if (rc == 0)
		rc = store_git_open(&src, s, repo);
	if (rc)
		goto out;
	if (git_repository_open_ext(&dst, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0) {
		rc = store_git_error(git_repository_init(&dst, dir, 0), dir);
		if (rc)
			goto out;
	}
	rc = store_git_error(git_repository_odb(&x.dst, dst), dir);
	for (size_t i = 0; rc == 0 && i < refs.n; i++) {
		git_reference *r = NULL;
		rc = export_history(&x, src, &refs.ids[i]);
		if (rc == 0)
			rc = store_git_error(git_reference_create(&r, dst, refs.names[i], &refs.ids[i], 1,
								  "govc export"),
					     refs.names[i]);
		git_reference_free(r);
	}
	if (rc)
		goto out;
	snprintf(head, sizeof(head), "refs/heads/%s", branch);
	rc = store_git_error(git_repository_set_head(dst, head), "setting HEAD");
	if (rc == 0 && refs.n && !git_repository_is_bare(dst)) {
		git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
		co.checkout_strategy = GIT_CHECKOUT_FORCE;
		rc = store_git_error(git_checkout_head(dst, &co), "checking out HEAD");
	}
out:
	ref_list_free(&refs);
	git_odb_free(x.dst);
	git_repository_free(dst);
	git_repository_free(src);
	store_txn_abort(x.t);
	return rc;
}

/* ---- import: git -> store ------------------------------------------------ */

struct import_ctx {
	struct store_txn *t;
	git_odb *src;
};

static int import_object(struct import_ctx *x, const git_oid *id, int depth)
{
	git_odb_object *o = NULL;
	git_oid written;
	int rc = store_object_exists(x->t, id);

	if (rc)
		return rc < 0 ? rc : 0;
	if (depth > TREE_DEPTH_MAX)
		return store_error(-ELOOP, "trees nest too deeply");
	rc = store_git_error(git_odb_read(&o, x->src, id), "reading an object");
	if (rc)
		return rc;
	if (git_odb_object_type(o) == GIT_OBJECT_TREE) {
		struct store_tree_entry e;
		const void *body = git_odb_object_data(o);
		size_t len = git_odb_object_size(o), pos = 0;
		while (rc == 0 && (rc = store_tree_next(body, len, &pos, &e)) == 1) {
			git_oid child;
			rc = 0;
			if (e.mode == 0160000)
				continue;
			git_oid_cpy(&child, e.id);
			rc = import_object(x, &child, depth + 1);
		}
	} else if (git_odb_object_type(o) == GIT_OBJECT_TAG) {
		/* a tag's target: its "object <hex>" header */
		const char *body = git_odb_object_data(o);
		git_oid target;
		if (git_odb_object_size(o) > 47 && !strncmp(body, "object ", 7) &&
		    git_oid_fromstrn(&target, body + 7, GIT_OID_HEXSZ) == 0)
			rc = import_object(x, &target, depth + 1);
	}
	if (rc == 0)
		rc = store_object_write(x->t, git_odb_object_type(o), git_odb_object_data(o),
					git_odb_object_size(o), &written);
	git_odb_object_free(o);
	return rc;
}

static int import_history(struct import_ctx *x, git_repository *src, const git_oid *tip)
{
	git_revwalk *walk = NULL;
	git_object *obj = NULL;
	git_oid id;
	int rc = store_git_error(git_object_lookup(&obj, src, tip, GIT_OBJECT_ANY), "ref target");

	if (rc)
		return rc;
	if (git_object_type(obj) == GIT_OBJECT_TAG)
		rc = import_object(x, tip, 0);	/* the tag object itself */
	git_object_free(obj);
	if (rc == 0)
		rc = store_git_error(git_revwalk_new(&walk, src), "revwalk");
	if (rc == 0) {
		git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
		rc = store_git_error(git_revwalk_push(walk, tip), "revwalk");
		if (rc == -EIO)
			rc = 0;	/* a tag of a tree or blob: nothing to walk */
	}
	while (rc == 0 && walk && git_revwalk_next(&id, walk) == 0) {
		git_commit *c;
		if (store_object_exists(x->t, &id) == 1)
			continue;
		rc = store_git_error(git_commit_lookup(&c, src, &id), "reading a commit");
		if (rc)
			break;
		rc = import_object(x, git_commit_tree_id(c), 0);
		git_commit_free(c);
		if (rc == 0)
			rc = import_object(x, &id, 0);
	}
	git_revwalk_free(walk);
	return rc;
}

int store_git_import(struct store *s, const char *dir, const char *repo)
{
	struct import_ctx x = { 0 };
	git_repository *src = NULL;
	git_reference_iterator *it = NULL;
	git_reference *ref, *head = NULL;
	const char *branch = STORE_DEFAULT_BRANCH;
	git_oid head_id;
	int rc, have_head = 0;

	rc = store_repo_name_check(repo);
	if (rc)
		return rc;
	if (git_repository_open_ext(&src, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0)
		return store_error(-ENOENT, "'%s' is not a git repository: %s", dir,
				   git_error_last() ? git_error_last()->message : "cannot open");
	/* HEAD names the branch to work on, born or not */
	if (git_reference_lookup(&head, src, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	    !strncmp(git_reference_symbolic_target(head), "refs/heads/", 11))
		branch = git_reference_symbolic_target(head) + 11;
	rc = store_txn_begin(&x.t, s, STORE_TXN_WRITE);
	if (rc)
		goto out;
	rc = store_repo_create(x.t, repo, branch);
	if (rc == 0)
		rc = store_git_error(git_repository_odb(&x.src, src), dir);
	if (rc == 0)
		rc = store_git_error(git_reference_iterator_new(&it, src), dir);
	while (rc == 0 && git_reference_next(&ref, it) == 0) {
		const char *name = git_reference_name(ref);
		char hex[GIT_OID_HEXSZ + 1];
		if (git_reference_type(ref) == GIT_REFERENCE_DIRECT &&
		    (!strncmp(name, "refs/heads/", 11) || !strncmp(name, "refs/tags/", 10))) {
			rc = import_history(&x, src, git_reference_target(ref));
			if (rc == 0)
				rc = store_ref_write(x.t, repo, name,
						     git_oid_tostr(hex, sizeof(hex), git_reference_target(ref)),
						     NULL, "import");
		}
		git_reference_free(ref);
	}
	if (rc == 0 && git_reference_name_to_id(&head_id, src, "HEAD") == 0)
		have_head = 1;
	if (rc == 0 && have_head) {
		git_commit *c;
		uint64_t root;
		rc = store_git_error(git_commit_lookup(&c, src, &head_id), "HEAD commit");
		if (rc == 0) {
			rc = store_wt_root(x.t, repo, branch, &root);
			if (rc == 0)
				rc = store_wt_checkout(x.t, root, git_commit_tree_id(c));
			git_commit_free(c);
		}
	}
	if (rc == 0) {
		rc = store_txn_commit(x.t);
		x.t = NULL;
	}
out:
	store_txn_abort(x.t);
	git_reference_iterator_free(it);
	git_reference_free(head);
	git_odb_free(x.src);
	git_repository_free(src);
	return rc;
}
