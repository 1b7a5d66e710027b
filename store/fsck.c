/*
 * fsck.c - checking a store (fsck.h).  One pass over every object checks
 * its id and that what it references exists, so every ref whose commit
 * exists has a complete history; then refs and working trees.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/fsck.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/worktree.h"

struct fsck {
	struct store_txn *t;
	FILE *out;
	unsigned long objects, problems;
};

static void problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(f->out, fmt, ap);
	va_end(ap);
	fputc('\n', f->out);
	f->problems++;
}

static void need(struct fsck *f, const git_oid *from, const char *what, const git_oid *id)
{
	char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];

	if (store_object_exists(f->t, id) != 1)
		problem(f, "object %s: %s %s is missing", git_oid_tostr(a, sizeof(a), from), what,
			git_oid_tostr(b, sizeof(b), id));
}

/* check_commit - the tree and parents a commit names must exist. */
static void check_commit(struct fsck *f, const git_oid *id, const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	int saw_tree = 0;

	while (p < end && *p != '\n') {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		git_oid ref;
		if (!nl)
			break;
		if ((size_t)(nl - p) == 45 && !strncmp(p, "tree ", 5) &&
		    git_oid_fromstrn(&ref, p + 5, GIT_OID_HEXSZ) == 0) {
			need(f, id, "tree", &ref);
			saw_tree = 1;
		} else if ((size_t)(nl - p) == 47 && !strncmp(p, "parent ", 7) &&
			   git_oid_fromstrn(&ref, p + 7, GIT_OID_HEXSZ) == 0) {
			need(f, id, "parent", &ref);
		}
		p = nl + 1;
	}
	if (!saw_tree) {
		char hex[GIT_OID_HEXSZ + 1];
		problem(f, "commit %s: no tree header", git_oid_tostr(hex, sizeof(hex), id));
	}
}

static int check_object(const git_oid *id, void *arg)
{
	struct fsck *f = arg;
	char hex[GIT_OID_HEXSZ + 1];
	git_object_t type;
	const void *body;
	size_t len, pos = 0;
	git_oid actual;
	struct store_tree_entry e;
	int rc = store_object_read(f->t, id, &type, &body, &len);

	f->objects++;
	git_oid_tostr(hex, sizeof(hex), id);
	if (rc) {
		problem(f, "object %s: unreadable (%s)", hex, store_errmsg());
		return 0;
	}
	if (store_object_hash(&actual, type, body, len)) {
		problem(f, "object %s: unknown type %d", hex, (int)type);
		return 0;
	}
	if (!git_oid_equal(&actual, id)) {
		problem(f, "object %s: id does not match content (damaged)", hex);
		return 0;
	}
	if (type == GIT_OBJECT_TREE) {
		while ((rc = store_tree_next(body, len, &pos, &e)) == 1) {
			git_oid child;
			if (e.mode == 0160000)
				continue;
			git_oid_cpy(&child, e.id);
			need(f, id, e.mode == 040000 ? "subtree" : "blob", &child);
		}
		if (rc < 0)
			problem(f, "tree %s: malformed", hex);
	} else if (type == GIT_OBJECT_COMMIT) {
		check_commit(f, id, body, len);
	}
	return 0;
}

struct repo_walk {
	struct fsck *f;
	const char *repo;
};

static int check_ref(const char *name, const char *value, void *arg)
{
	struct repo_walk *w = arg;
	git_object_t type;
	const void *body;
	size_t len;
	git_oid id;

	if (!strncmp(value, "ref: ", 5))
		return 0;	/* symbolic: may name an unborn branch */
	if (strlen(value) != GIT_OID_HEXSZ || git_oid_fromstr(&id, value)) {
		problem(w->f, "ref %s of '%s': not an object id", name, w->repo);
		return 0;
	}
	if (store_object_read(w->f->t, &id, &type, &body, &len))
		problem(w->f, "ref %s of '%s': commit %s is missing", name, w->repo, value);
	else if (type != GIT_OBJECT_COMMIT && type != GIT_OBJECT_TAG)
		problem(w->f, "ref %s of '%s': %s is not a commit", name, w->repo, value);
	return 0;
}

static int check_repo(const char *repo, void *arg)
{
	struct repo_walk w = { arg, repo };
	char branch[STORE_REF_NAME_MAX + 1];

	if (store_repo_head_branch(w.f->t, repo, branch, sizeof(branch)))
		problem(w.f, "repository '%s': HEAD is missing or detached", repo);
	return store_ref_foreach(w.f->t, repo, NULL, check_ref, &w);
}

struct dir_walk {
	struct fsck *f;
	uint64_t dir;
	const char *repo;
	int depth;
};

static int check_dir(struct fsck *f, const char *repo, uint64_t dir, int depth);

static int check_entry(const char *name, const struct store_inode *n, void *arg)
{
	struct dir_walk *w = arg;
	char hex[GIT_OID_HEXSZ + 1];

	if (n->parent != w->dir)
		problem(w->f, "working tree of '%s': '%s' (inode %llu) names another parent", w->repo,
			name, (unsigned long long)n->ino);
	if (S_ISREG(n->mode) && n->base_len && store_object_exists(w->f->t, &n->id) != 1)
		problem(w->f, "working tree of '%s': content %s of '%s' is missing", w->repo,
			git_oid_tostr(hex, sizeof(hex), &n->id), name);
	if (S_ISDIR(n->mode))
		return check_dir(w->f, w->repo, n->ino, w->depth + 1);
	return 0;
}

static int check_dir(struct fsck *f, const char *repo, uint64_t dir, int depth)
{
	struct dir_walk w = { f, dir, repo, depth };
	int rc;

	if (depth > 4096) {
		problem(f, "working tree of '%s': directories nest too deeply", repo);
		return 0;
	}
	rc = store_wt_readdir(f->t, dir, NULL, check_entry, &w);
	if (rc == -ENOENT || rc == -EIO) {
		problem(f, "working tree of '%s': directory %llu has a dangling entry (%s)", repo,
			(unsigned long long)dir, store_errmsg());
		return 0;
	}
	return rc;
}

static int check_worktree(const char *repo, const char *branch, uint64_t root, void *arg)
{
	struct fsck *f = arg;
	struct store_inode n;

	if (store_inode_get(f->t, root, &n)) {
		problem(f, "working tree of '%s' (%s): root inode is missing", repo, branch);
		return 0;
	}
	return check_dir(f, repo, root, 0);
}

int store_fsck(struct store *s, FILE *out, unsigned long *nobjects)
{
	struct fsck f = { .out = out };
	int rc = store_txn_begin(&f.t, s, 0);

	if (rc)
		return rc;
	rc = store_object_foreach(f.t, check_object, &f);
	if (rc == 0)
		rc = store_repo_foreach(f.t, check_repo, &f);
	if (rc == 0)
		rc = store_wt_foreach(f.t, 0, check_worktree, &f);
	store_txn_abort(f.t);
	if (nobjects)
		*nobjects = f.objects;
	if (rc)
		return rc;
	return f.problems ? store_error(-EIO, "%lu problems found", f.problems) : 0;
}
