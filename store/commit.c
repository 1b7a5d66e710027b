/*
 * commit.c - turning a working tree's pending changes into a commit, tree
 * diffs, and the log.  See commit.h.
 *
 * Work per commit is proportional to what changed: only dirty directories
 * are visited (all of them once after a .gitignore changed), clean ones
 * contribute the tree id they already carry, and the diff for the message
 * skips subtrees whose ids are equal.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <git2.h>
#include <jansson.h>

#include "store/commit.h"
#include "store/extras.h"
#include "store/git.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/store_int.h"
#include "store/worktree.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/ignore.h"

#define GITIGNORE_MAX (64 * 1024)
#define MESSAGE_PATHS_MAX 1000
#define EVENT_PATHS_MAX 100
#define LOG_PATHS_MAX 20
#define PATH_BUF 4096

/* the most a commit message's and a log line's list of paths may take */
#define MESSAGE_MAX ((size_t)MESSAGE_PATHS_MAX * (QUOTED_MAX(PATH_BUF) + 4) + 4096)
#define LOG_LINE_MAX ((size_t)LOG_PATHS_MAX * (QUOTED_MAX(PATH_BUF) + 8) + 65536)

/*
 * The ignore rules in force below one directory of the walk, and what the
 * previous commit held there.  git keeps a tracked file whatever a
 * .gitignore says: a path in the previous commit's tree stays in the
 * commit even if ignored, and the walk goes into an ignored directory if
 * it was committed, taking only what was.  The previous tree of a
 * directory is read only when one of its children is ignored.
 */
struct ignore_scope {
	struct ignore_scope *up;	/* the parent directory's */
	struct util_ignore *list;	/* its .gitignore; NULL if none */
	const char *name;		/* its name in the parent; "" at the top */
	int excluded;			/* ignored but tracked: only tracked children */
	int loaded;			/* old and tracked are known */
	git_oid old;			/* its tree in the previous commit */
	int has_old;
	void *old_body;			/* our copy of that tree's body */
	struct util_array tracked;	/* struct store_tree_entry, by name */
};

struct change_list {
	struct util_buf body;
	json_t *paths;
	size_t count;
	char first[3][256];
};

int store_ignored_name(const char *name)
{
	size_t n = strlen(name);

	if (!strcmp(name, ".git"))
		return 1;
	if (n && name[n - 1] == '~')
		return 1;	/* backup files */
	if (!strncmp(name, ".#", 2) || (n > 1 && name[0] == '#' && name[n - 1] == '#'))
		return 1;	/* emacs lock and autosave files */
	if (n >= 5 && name[0] == '.' && name[n - 4] == '.' && name[n - 3] == 's' &&
	    name[n - 2] == 'w' && name[n - 1] >= 'a' && name[n - 1] <= 'z')
		return 1;	/* vim swap files: .name.swp, .swo, .swx, ... */
	if (n == 4 || n == 5) {	/* vim's "can I write here" probes 4913, 5036, ... */
		char *end;
		long v = strtol(name, &end, 10);
		if (!*end && v >= 4913 && v < 4913 + 123 * 16 && (v - 4913) % 123 == 0)
			return 1;
	}
	if (!strncmp(name, ".fuse_hidden", 12))
		return 1;
	return 0;
}

/* State of one commit's walk over the working tree. */
struct walk {
	struct store_txn *t;
	git_repository *repo;
	int rescan;
	git_oid old_root;	/* the previous commit's tree */
	int has_old_root;
	char path[PATH_BUF];
};

struct child {
	char *name;
	int excluded;		/* ignored, but tracked */
	struct store_inode ino;
	char target[STORE_SYMLINK_MAX + 1];
};

/* collect_child - store_wt_readdir's callback: push a copy of the child
 * onto ARG, a util_array of struct child */
static int collect_child(const char *name, const struct store_inode *ino, void *arg)
{
	struct util_array *l = arg;
	struct child *c = UTIL_ARRAY_PUSH(l, struct child);

	if (!c)
		return store_error(-ENOMEM, "out of memory");
	c->name = strdup(name);
	if (!c->name) {
		l->len--;
		return store_error(-ENOMEM, "out of memory");
	}
	c->ino = *ino;
	c->target[0] = '\0';
	if (S_ISLNK(ino->mode) && ino->target) {
		size_t n = ino->size < STORE_SYMLINK_MAX ? ino->size : STORE_SYMLINK_MAX;
		memcpy(c->target, ino->target, n);
		c->target[n] = '\0';
	}
	c->ino.target = NULL;
	return 0;
}

static void child_list_release(struct util_array *l)
{
	UTIL_ARRAY_FOREACH(l, struct child, c)
		free(c->name);
	util_array_release(l);
}

/* load_gitignore - if DIR (whose path is w->path) holds a .gitignore,
 * compile it into *OUT (else *OUT is NULL) */
static int load_gitignore(struct walk *w, uint64_t dir, struct util_ignore **out)
{
	struct store_inode gi;
	char *text;
	long got;
	int rc = store_wt_lookup(w->t, dir, ".gitignore", &gi);

	*out = NULL;
	if (rc == -ENOENT || (rc == 0 && !S_ISREG(gi.mode)))
		return 0;
	if (rc)
		return rc;
	text = malloc(GITIGNORE_MAX);
	if (!text)
		return store_error(-ENOMEM, "out of memory");
	got = store_wt_read(w->t, gi.ino, 0, text, GITIGNORE_MAX);
	rc = got < 0 ? (int)got : util_ignore_compile(out, text, (size_t)got, w->path, 0);
	free(text);
	if (rc == -ENOMEM)
		return store_error(rc, "out of memory");
	if (rc < 0)
		return store_error(rc, "cannot read '%s/.gitignore'", w->path);
	return 0;
}

static int build_tree(struct walk *w, uint64_t dir, struct ignore_scope *up, struct child *self,
		      git_oid *out);

/* the id of the empty tree, 4b825dc642cb6eb9a060e54bf8d69288fbee4904 */
static const git_oid empty_tree = { { 0x4b, 0x82, 0x5d, 0xc6, 0x42, 0xcb, 0x6e, 0xb9, 0xa0, 0x60,
				      0xe5, 0x4b, 0xf8, 0xd6, 0x92, 0x88, 0xfb, 0xee, 0x49, 0x04 } };

static int tree_body(struct store_txn *t, const git_oid *id, const void **body, size_t *len);

static int entry_name_cmp(const void *a, const void *b)
{
	const struct store_tree_entry *x = a, *y = b;
	size_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
	int c = memcmp(x->name, y->name, n);

	return c ? c : (x->namelen > y->namelen) - (x->namelen < y->namelen);
}

/* tracked_find - the entry NAME had in SCOPE's directory in the previous
 * commit: 1 with *E (valid while SCOPE lives), 0 if it had none */
static int tracked_find(struct walk *w, struct ignore_scope *scope, const char *name,
			struct store_tree_entry *e);

/* scope_load - read what SCOPE's directory held in the previous commit */
static int scope_load(struct walk *w, struct ignore_scope *scope)
{
	struct store_tree_entry e;
	const void *body;
	size_t len, pos = 0;
	int rc;

	if (scope->loaded)
		return 0;
	if (!scope->up) {
		scope->has_old = w->has_old_root;
		git_oid_cpy(&scope->old, &w->old_root);
	} else {
		rc = tracked_find(w, scope->up, scope->name, &e);
		if (rc < 0)
			return rc;
		scope->has_old = rc == 1 && e.mode == 040000;
		if (scope->has_old)
			git_oid_cpy(&scope->old, e.id);
	}
	scope->loaded = 1;
	if (!scope->has_old)
		return 0;
	rc = tree_body(w->t, &scope->old, &body, &len);
	if (rc)
		return rc;
	/* our own copy: the entries must outlive writes to the store */
	scope->old_body = malloc(len ? len : 1);
	if (!scope->old_body)
		return store_error(-ENOMEM, "out of memory");
	memcpy(scope->old_body, body, len);
	while ((rc = store_tree_next(scope->old_body, len, &pos, &e)) == 1) {
		struct store_tree_entry *t = UTIL_ARRAY_PUSH(&scope->tracked, struct store_tree_entry);
		if (!t)
			return store_error(-ENOMEM, "out of memory");
		*t = e;
	}
	if (rc < 0)
		return rc;
	util_array_sort(&scope->tracked, entry_name_cmp);
	return 0;
}

static int tracked_find(struct walk *w, struct ignore_scope *scope, const char *name,
			struct store_tree_entry *e)
{
	struct store_tree_entry key = { .name = name, .namelen = strlen(name) };
	const struct store_tree_entry *found;
	int rc = scope_load(w, scope);

	if (rc)
		return rc;
	found = util_array_bsearch(&scope->tracked, &key, entry_name_cmp);
	if (!found)
		return 0;
	*e = *found;
	return 1;
}

static void scope_release(struct ignore_scope *scope)
{
	util_ignore_free(scope->list);
	util_array_release(&scope->tracked);
	free(scope->old_body);
}

/* is_ignored - do the .gitignore files in SCOPE ignore w->path?  A
 * directory's own list speaks first, then those above; the first that
 * has an opinion decides (in each, the last matching pattern). */
static int is_ignored(const struct walk *w, const struct ignore_scope *scope, int is_dir)
{
	for (; scope; scope = scope->up) {
		enum util_ignore_verdict v;
		if (!scope->list)
			continue;
		v = util_ignore_match(scope->list, w->path, is_dir);
		if (v != UTIL_IGNORE_NONE)
			return v == UTIL_IGNORE_EXCLUDED;
	}
	return 0;
}

/*
 * walk_children - call CB for each child of directory DIR (whose path is
 * w->path) that a commit takes: not an editor scratch name, and either
 * not ignored by a .gitignore or tracked (in the previous commit).  SELF
 * is DIR's entry in its parent's walk (NULL at the top).  While CB runs,
 * w->path is the child's path and SCOPE holds the rules in force below
 * DIR; C->excluded says the child is ignored but tracked.
 */
typedef int (*child_fn)(struct walk *w, struct child *c, struct ignore_scope *scope, void *arg);

static int walk_children(struct walk *w, uint64_t dir, struct ignore_scope *up,
			 const struct child *self, child_fn cb, void *arg)
{
	struct ignore_scope scope = {
		.up = up,
		.name = self ? self->name : "",
		.excluded = self ? self->excluded : 0,
		.tracked = UTIL_ARRAY_INIT(struct store_tree_entry),
	};
	struct util_array kids = UTIL_ARRAY_INIT(struct child);
	size_t plen = strlen(w->path);
	int rc = load_gitignore(w, dir, &scope.list);

	if (rc == 0)
		rc = store_wt_readdir(w->t, dir, NULL, collect_child, &kids);
	for (size_t i = 0; rc == 0 && i < util_array_len(&kids); i++) {
		struct child *c = UTIL_ARRAY_AT(&kids, struct child, i);
		struct store_tree_entry e;
		int n;
		if (store_ignored_name(c->name))
			continue;
		n = snprintf(w->path + plen, sizeof(w->path) - plen, "%s%s", plen ? "/" : "",
			     c->name);
		if (n >= (int)(sizeof(w->path) - plen)) {
			rc = store_error(-ENAMETOOLONG, "path '%s' is too long", w->path);
			break;
		}
		c->excluded = scope.excluded || is_ignored(w, &scope, S_ISDIR(c->ino.mode));
		/* an ignored child is taken only if it is tracked */
		rc = c->excluded ? tracked_find(w, &scope, c->name, &e) : 1;
		if (rc == 1)
			rc = cb(w, c, &scope, arg);
		w->path[plen] = '\0';
	}
	w->path[plen] = '\0';
	child_list_release(&kids);
	scope_release(&scope);
	return rc;
}

/* add_child - put child C into the tree being built (ARG, a treebuilder),
 * writing its blob, or its tree when it is a dirty directory */
static int add_child(struct walk *w, struct child *c, struct ignore_scope *scope, void *arg)
{
	git_treebuilder *tb = arg;
	git_filemode_t mode;
	git_oid id;
	int rc;

	if (S_ISDIR(c->ino.mode)) {
		if ((c->ino.flags & STORE_INO_DIRTY) || w->rescan || git_oid_is_zero(&c->ino.id))
			rc = build_tree(w, c->ino.ino, scope, c, &id);
		else
			rc = (git_oid_cpy(&id, &c->ino.id), 0);
		mode = GIT_FILEMODE_TREE;
	} else if (S_ISLNK(c->ino.mode)) {
		rc = store_object_write(w->t, GIT_OBJECT_BLOB, c->target, strlen(c->target), &id);
		mode = GIT_FILEMODE_LINK;
	} else if (S_ISREG(c->ino.mode)) {
		rc = store_wt_blob(w->t, &c->ino);
		if (rc == 0 && (c->ino.flags & STORE_INO_YOUNG))
			rc = store_object_adopt(w->t, &c->ino.id);	/* the commit holds it */
		git_oid_cpy(&id, &c->ino.id);
		mode = (c->ino.mode & 0100) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
	} else {
		return 0;
	}
	if (rc)
		return rc;
	rc = git_treebuilder_insert(NULL, tb, c->name, &id, mode);
	return store_git_error(rc, c->name);
}

/*
 * build_tree - write the tree of directory DIR (whose path is w->path),
 * recursing into dirty subdirectories, and mark DIR clean at it.
 */
static int build_tree(struct walk *w, uint64_t dir, struct ignore_scope *up, struct child *self,
		      git_oid *out)
{
	git_treebuilder *tb = NULL;
	struct store_inode d;
	int rc = store_git_error(git_treebuilder_new(&tb, w->repo, NULL), "treebuilder");

	if (rc == 0)
		rc = walk_children(w, dir, up, self, add_child, tb);
	if (rc == 0)
		rc = store_git_error(git_treebuilder_write(out, tb), "writing a tree");
	if (rc == 0)
		rc = store_inode_get(w->t, dir, &d);
	if (rc == 0) {
		git_oid_cpy(&d.id, out);
		d.flags &= ~(uint32_t)(STORE_INO_DIRTY | STORE_INO_RESCAN);
		rc = store_inode_put(w->t, &d);
	}
	git_treebuilder_free(tb);
	return rc;
}

/* ---- extras: what the tree cannot hold (extras.h) ------------------------- */

struct extras_walk {
	struct util_buf *body;
	size_t found;
};

/* collect_extra - record child C if a git tree cannot hold it (ARG, a
 * struct extras_walk); enter directories flagged STORE_INO_EXTRAS and
 * clear the flag of those with nothing below any more */
static int collect_extra(struct walk *w, struct child *c, struct ignore_scope *scope, void *arg)
{
	struct extras_walk *x = arg;
	struct store_extra e = {
		.path = w->path, .mode = c->ino.mode, .uid = c->ino.uid, .gid = c->ino.gid,
		.rdev = c->ino.rdev,
		.group = (c->ino.flags & STORE_INO_LINKS) ? c->ino.ino : 0,
	};

	if (S_ISDIR(c->ino.mode)) {
		size_t before = x->found;
		struct store_inode d;
		int rc;

		if (!(c->ino.flags & STORE_INO_EXTRAS))
			return 0;
		rc = walk_children(w, c->ino.ino, scope, c, collect_extra, x);
		if (rc || x->found != before)
			return rc;
		rc = store_inode_get(w->t, c->ino.ino, &d);
		if (rc == 0) {
			d.flags &= ~(uint32_t)STORE_INO_EXTRAS;
			rc = store_inode_put(w->t, &d);
		}
		return rc;
	}
	if (!store_wt_is_extra(&c->ino))
		return 0;
	x->found++;
	return store_extras_add(x->body, &e);
}

/*
 * collect_extras - the extras record of the working tree at ROOT into
 * BODY: a walk of the directories flagged STORE_INO_EXTRAS only, with the
 * commit's rules (an ignored special file is not committed either).
 */
static int collect_extras(struct walk *w, uint64_t root, struct util_buf *body)
{
	struct extras_walk x = { .body = body };
	struct child self = { .name = "" };
	int rc = store_inode_get(w->t, root, &self.ino);

	if (rc || !(self.ino.flags & STORE_INO_EXTRAS))
		return rc;
	rc = walk_children(w, root, NULL, NULL, collect_extra, &x);
	if (rc == 0 && x.found == 0) {
		rc = store_inode_get(w->t, root, &self.ino);
		self.ino.flags &= ~(uint32_t)STORE_INO_EXTRAS;
		if (rc == 0)
			rc = store_inode_put(w->t, &self.ino);
	}
	return rc;
}

/* The changes between two extras records, for the commit message. */
struct extras_diff {
	const void *other;	/* the record compared with */
	size_t other_len;
	int old_side;		/* walking the old record */
	int links;		/* report hard-link changes too */
	int (*cb)(enum store_change c, const char *path, void *arg);
	void *arg;
};

static int extras_differ(const struct store_extra *a, const struct store_extra *b)
{
	return a->mode != b->mode || a->uid != b->uid || a->gid != b->gid || a->rdev != b->rdev ||
	       !a->group != !b->group || a->nlink != b->nlink;
}

static int diff_extra(const struct store_extra *e, void *arg)
{
	struct extras_diff *d = arg;
	struct store_extra o;
	int found, special = store_extras_is_special(e);

	found = store_extras_lookup(d->other, d->other_len, e->path, &o);
	if (found < 0)
		return found;
	if (found && d->old_side)
		return 0;	/* compared from the new side */
	if (found && !extras_differ(e, &o))
		return 0;
	special |= found && store_extras_is_special(&o);
	if (!special && !d->links)
		return 0;	/* the tree diff shows what moved; else see links */
	return d->cb(!special || found ? STORE_MODIFIED : d->old_side ? STORE_DELETED : STORE_ADDED,
		     e->path, d->arg);
}

/* count_change - a diff callback that counts (ARG: a size_t) */
static int count_change(enum store_change c, const char *path, void *arg)
{
	(void)c;
	(void)path;
	++*(size_t *)arg;
	return 0;
}

/* diff_one_side - diff_extras' walk of one of the two records */
static int diff_one_side(struct extras_diff *d, const void *old, size_t olen, const void *new,
			 size_t nlen)
{
	int rc;

	d->other = new;
	d->other_len = nlen;
	d->old_side = 1;
	rc = store_extras_foreach(old, olen, diff_extra, d);
	d->other = old;
	d->other_len = olen;
	d->old_side = 0;
	return rc ? rc : store_extras_foreach(new, nlen, diff_extra, d);
}

/*
 * diff_extras - report the special files added, removed or changed
 * between records OLD and NEW.  Names whose hard links alone changed are
 * reported (as modified) only when nothing else is, TREE_QUIET saying the
 * tree diff reported nothing: a link made or removed shows there.
 */
static int diff_extras(const void *old, size_t olen, const void *new, size_t nlen,
		       int tree_quiet,
		       int (*cb)(enum store_change c, const char *path, void *arg), void *arg)
{
	struct extras_diff d = { .cb = cb, .arg = arg };
	size_t specials = 0;
	int rc;

	if (olen == nlen && (!olen || !memcmp(old, new, olen)))
		return 0;
	if (tree_quiet) {	/* first count what would be reported */
		struct extras_diff c = { .cb = count_change, .arg = &specials };
		rc = diff_one_side(&c, old, olen, new, nlen);
		if (rc)
			return rc;
	}
	d.links = tree_quiet && specials == 0;
	return diff_one_side(&d, old, olen, new, nlen);
}

/* ---- tree diff ---------------------------------------------------------- */

/* Git orders tree entries by name, comparing a directory as "name/". */
static int entry_cmp(const struct store_tree_entry *a, const struct store_tree_entry *b)
{
	size_t n = a->namelen < b->namelen ? a->namelen : b->namelen;
	int c = memcmp(a->name, b->name, n);
	unsigned char ca, cb;

	if (c)
		return c;
	ca = a->namelen > n ? (unsigned char)a->name[n] : (a->mode == 040000 ? '/' : 0);
	cb = b->namelen > n ? (unsigned char)b->name[n] : (b->mode == 040000 ? '/' : 0);
	return (int)ca - (int)cb;
}

struct diff_walk {
	struct store_txn *t;
	int (*cb)(enum store_change, const char *, void *);
	void *arg;
	char path[PATH_BUF];
};

static int tree_body(struct store_txn *t, const git_oid *id, const void **body, size_t *len)
{
	git_object_t type;
	int rc;

	*body = NULL;
	*len = 0;
	if (!id)
		return 0;
	rc = store_object_read(t, id, &type, body, len);
	if (rc == -ENOENT) {
		char hex[GIT_OID_HEXSZ + 1];
		return store_error(-EIO, "tree %s is missing", git_oid_tostr(hex, sizeof(hex), id));
	}
	if (rc == 0 && type != GIT_OBJECT_TREE)
		return store_error(-EIO, "object is not a tree");
	return rc;
}

static int diff_trees(struct diff_walk *d, const git_oid *a, const git_oid *b);

static int diff_entry(struct diff_walk *d, const struct store_tree_entry *old,
		      const struct store_tree_entry *new)
{
	const struct store_tree_entry *e = new ? new : old;
	size_t plen = strlen(d->path);
	int rc, n;

	n = snprintf(d->path + plen, sizeof(d->path) - plen, "%s%.*s", plen ? "/" : "",
		     (int)e->namelen, e->name);
	if (n >= (int)(sizeof(d->path) - plen))
		return store_error(-ENAMETOOLONG, "path too long in tree");
	if (e->mode == 040000 && (!old || !new) && git_oid_equal(e->id, &empty_tree)) {
		/* an empty directory is a change of its own, shown as "dir/" */
		if (plen + n + 1 >= sizeof(d->path))
			return store_error(-ENAMETOOLONG, "path too long in tree");
		strcat(d->path, "/");
		rc = d->cb(old ? STORE_DELETED : STORE_ADDED, d->path, d->arg);
	} else if (e->mode == 040000 && (!old || !new || old->mode == new->mode))
		rc = diff_trees(d, old ? old->id : NULL, new ? new->id : NULL);
	else if (!old)
		rc = d->cb(STORE_ADDED, d->path, d->arg);
	else if (!new)
		rc = d->cb(STORE_DELETED, d->path, d->arg);
	else if (old->mode == 040000 || new->mode == 040000) {
		rc = diff_trees(d, old->mode == 040000 ? old->id : NULL,
				new->mode == 040000 ? new->id : NULL);
		if (rc == 0)
			rc = d->cb(old->mode == 040000 ? STORE_ADDED : STORE_DELETED, d->path,
				   d->arg);
	} else
		rc = d->cb(STORE_MODIFIED, d->path, d->arg);
	d->path[plen] = '\0';
	return rc;
}

static int diff_trees(struct diff_walk *d, const git_oid *a, const git_oid *b)
{
	const void *ab, *bb;
	size_t al, bl, ap = 0, bp = 0;
	struct store_tree_entry ae, be;
	int ra, rb, rc;

	if (a && b && git_oid_equal(a, b))
		return 0;
	rc = tree_body(d->t, a, &ab, &al);
	if (rc == 0)
		rc = tree_body(d->t, b, &bb, &bl);
	if (rc)
		return rc;
	ra = store_tree_next(ab, al, &ap, &ae);
	rb = store_tree_next(bb, bl, &bp, &be);
	while (ra == 1 || rb == 1) {
		int c = ra != 1 ? 1 : rb != 1 ? -1 : entry_cmp(&ae, &be);
		if (c < 0) {
			rc = diff_entry(d, &ae, NULL);
			ra = rc ? 0 : store_tree_next(ab, al, &ap, &ae);
		} else if (c > 0) {
			rc = diff_entry(d, NULL, &be);
			rb = rc ? 0 : store_tree_next(bb, bl, &bp, &be);
		} else {
			if (!git_oid_equal(ae.id, be.id) || ae.mode != be.mode)
				rc = diff_entry(d, &ae, &be);
			ra = rc ? 0 : store_tree_next(ab, al, &ap, &ae);
			rb = rc ? 0 : store_tree_next(bb, bl, &bp, &be);
		}
		if (rc)
			return rc;
		/* the bodies may have moved if the callback wrote: re-read */
		if (ra < 0 || rb < 0)
			return ra < 0 ? ra : rb;
	}
	return ra < 0 ? ra : rb < 0 ? rb : 0;
}

int store_tree_diff(struct store_txn *t, const git_oid *old_tree, const git_oid *new_tree,
		    int (*cb)(enum store_change, const char *, void *), void *arg)
{
	struct diff_walk d = { .t = t, .cb = cb, .arg = arg };

	return diff_trees(&d, old_tree, new_tree);
}

/* ---- commit ------------------------------------------------------------- */

/*
 * quote_path - PATH as the log and commit messages show it: as is, or, if
 * it holds a control character, a quote, a backslash or ", " (the log's
 * separator), in double quotes with C escapes as git quotes paths.
 * OUT has room for QUOTED_MAX(strlen(PATH)) bytes.
 */
#define QUOTED_MAX(n) (4 * (n) + 3)
static const char *quote_path(const char *path, char *out)
{
	const unsigned char *p = (const unsigned char *)path;
	char *o = out;

	if (!strpbrk(path, "\"\\") && !strstr(path, ", ")) {
		for (; *p >= 0x20 && *p != 0x7f; p++)
			;
		if (!*p)
			return path;
		p = (const unsigned char *)path;
	}
	*o++ = '"';
	for (; *p; p++) {
		if (*p == '"' || *p == '\\') {
			*o++ = '\\';
			*o++ = (char)*p;
		} else if (*p == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (*p == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (*p < 0x20 || *p == 0x7f) {
			o += sprintf(o, "\\%03o", *p);
		} else {
			*o++ = (char)*p;
		}
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

static int note_change(enum store_change c, const char *path, void *arg)
{
	struct change_list *l = arg;
	char line[QUOTED_MAX(PATH_BUF) + 4], quoted[QUOTED_MAX(PATH_BUF)];
	const char *shown = quote_path(path, quoted);
	int n;

	if (l->count < 3)
		snprintf(l->first[l->count], sizeof(l->first[0]), "%s", shown);
	l->count++;
	if (l->count <= MESSAGE_PATHS_MAX) {
		int rc = util_buf_addf(&l->body, "%c %s\n", (char)c, shown);
		if (rc)
			return store_error(rc, "cannot list '%s' in a commit message", shown);
	}
	if (l->count <= EVENT_PATHS_MAX) {
		n = snprintf(line, sizeof(line), "%c %s", (char)c, path);
		json_array_append_new(l->paths, json_stringn(line, (size_t)n));
	}
	return 0;
}

/* commit_message - the message of a commit of the changes in L; NULL when
 * memory runs out.  Returned and owned by the caller, freed with free(). */
static char *commit_message(struct change_list *l)
{
	struct util_buf m = UTIL_BUF_INIT(MESSAGE_MAX + 4096);
	int rc;

	if (l->count == 1)
		rc = util_buf_addf(&m, "Update %s\n\n", l->first[0]);
	else if (l->count <= 3)
		rc = util_buf_addf(&m, "Update %zu paths: %s, %s%s%s\n\n", l->count, l->first[0],
				   l->first[1], l->count == 3 ? ", " : "",
				   l->count == 3 ? l->first[2] : "");
	else
		rc = util_buf_addf(&m, "Update %zu paths: %s, %s, ...\n\n", l->count,
				   l->first[0], l->first[1]);
	if (rc == 0)
		rc = util_buf_add(&m, l->body.ptr, l->body.len);
	if (rc == 0 && l->count > MESSAGE_PATHS_MAX)
		rc = util_buf_addf(&m, "... and %zu more\n", l->count - MESSAGE_PATHS_MAX);
	if (rc) {
		util_buf_release(&m);
		return NULL;
	}
	return util_buf_detach(&m, NULL);
}

static int raise_commit_event(struct store_txn *t, const char *repo, const char *branch,
			      const git_oid *id, struct change_list *l)
{
	char hex[GIT_OID_HEXSZ + 1];
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:O}", "type", "commit", "repo", repo,
			       "branch", branch, "id", git_oid_tostr(hex, sizeof(hex), id), "time",
			       (json_int_t)(store_now_ns() / 1000000000), "changes",
			       (json_int_t)l->count, "paths", l->paths);

	return store_event_raise(t, ev);
}

/* make_commit - the commit of TREE_ID and the extras record EXTRAS on
 * REPO's BRANCH, unless both are its parent's */
static int make_commit(struct walk *w, const char *repo, const char *branch, const git_oid *tree_id,
		       const struct util_buf *extras, git_oid *out)
{
	char refname[STORE_REF_NAME_MAX + 1];
	struct change_list changes = { .body = UTIL_BUF_INIT(MESSAGE_MAX), .paths = json_array() };
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_oid parent_id, old_tree;
	char *msg = NULL, *old_extras = NULL;
	const void *body;
	size_t old_len = 0;
	int have_parent, rc;

	snprintf(refname, sizeof(refname), "refs/heads/%s", branch);
	rc = store_ref_resolve(w->t, repo, refname, &parent_id);
	have_parent = rc == 0;
	if (rc && rc != -ENOENT)
		goto out;
	rc = 0;
	if (have_parent) {
		rc = store_git_error(git_commit_lookup(&parent, w->repo, &parent_id), "parent commit");
		if (rc)
			goto out;
		git_oid_cpy(&old_tree, git_commit_tree_id(parent));
		rc = store_extras_get(w->t, &parent_id, &body, &old_len);
		if (rc == 0 && old_len && !(old_extras = malloc(old_len)))
			rc = store_error(-ENOMEM, "out of memory");
		if (rc)
			goto out;
		if (old_len)
			memcpy(old_extras, body, old_len);
		if (git_oid_equal(&old_tree, tree_id) && old_len == extras->len &&
		    (!old_len || !memcmp(old_extras, extras->ptr, old_len)))
			goto out;	/* nothing to commit */
	}
	rc = store_tree_diff(w->t, have_parent ? &old_tree : NULL, tree_id, note_change, &changes);
	if (rc == 0)
		rc = diff_extras(old_extras, old_len, extras->ptr, extras->len, changes.count == 0,
				 note_change, &changes);
	if (rc || (!have_parent && changes.count == 0))
		goto out;
	msg = commit_message(&changes);
	if (!msg) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	rc = store_git_error(git_tree_lookup(&tree, w->repo, tree_id), "new tree");
	if (rc == 0)
		rc = store_git_error(git_signature_now(&sig, "govc", "govc@localhost"), "signature");
	if (rc == 0)
		rc = store_git_error(git_commit_create(out, w->repo, refname, sig, sig, NULL, msg, tree,
						       have_parent ? 1 : 0,
						       (const git_commit **)&parent),
				     "creating a commit");
	if (rc == 0)
		rc = store_extras_put(w->t, out, extras->ptr, extras->len);
	if (rc == 0)
		rc = raise_commit_event(w->t, repo, branch, out, &changes);
out:
	free(old_extras);
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(parent);
	json_decref(changes.paths);
	util_buf_release(&changes.body);
	free(msg);
	return rc;
}

/* ---- materializing pending content ------------------------------------- */

/*
 * A transaction that frees many pages leaves LMDB one large free-list
 * record, and every later transaction that allocates a page reads that
 * record whole and writes back what it did not use.  A commit drops the
 * chunks of every file it hashes, so committing 10,000 new files in one
 * transaction made each later create and write of the daemon cost 17 us
 * instead of 6-8 us, until the record was used up.  So a commit first turns
 * pending chunks into blobs a few files per transaction (each frees a
 * small record), and its own transaction then finds those files done.
 * Content does not change, so the batches may interleave with writes: what
 * changes in between, the commit transaction hashes itself.
 */
#define MATERIALIZE_FILES 64
#define MATERIALIZE_BYTES (4u << 20)

/* collect_pending - the files below dirty directory DIR that a commit
 * would hash and that have no blob yet (ARG: a util_array of their inode
 * numbers); what the commit leaves out is left alone. */
static int collect_pending(struct walk *w, struct child *c, struct ignore_scope *scope, void *arg)
{
	struct util_array *files = arg;
	uint64_t *ino;

	if (S_ISDIR(c->ino.mode) && (c->ino.flags & STORE_INO_DIRTY))
		return walk_children(w, c->ino.ino, scope, c, collect_pending, files);
	if (!S_ISREG(c->ino.mode) || !store_wt_needs_blob(&c->ino))
		return 0;
	ino = UTIL_ARRAY_PUSH(files, uint64_t);
	if (!ino)
		return store_error(-ENOMEM, "out of memory");
	*ino = c->ino.ino;
	return 0;
}

/*
 * previous_tree - the tree of the commit REPO's BRANCH points at, into
 * w->old_root (w->has_old_root 0 if the branch has no commit yet): what
 * is tracked, which a .gitignore does not take out of a commit.
 */
static int previous_tree(struct walk *w, const char *repo, const char *branch)
{
	char refname[STORE_REF_NAME_MAX + 1];
	git_object_t type;
	const void *body;
	git_oid id;
	size_t len;
	int rc;

	w->has_old_root = 0;
	snprintf(refname, sizeof(refname), "refs/heads/%s", branch);
	rc = store_ref_resolve(w->t, repo, refname, &id);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0)
		rc = store_object_read(w->t, &id, &type, &body, &len);
	if (rc == -ENOENT)
		return store_error(-EIO, "commit of branch '%s' of '%s' is missing", branch, repo);
	if (rc)
		return rc;
	/* a commit's body starts "tree <hex id>\n" */
	if (type != GIT_OBJECT_COMMIT || len < 5 + GIT_OID_HEXSZ || memcmp(body, "tree ", 5) ||
	    git_oid_fromstrn(&w->old_root, (const char *)body + 5, GIT_OID_HEXSZ))
		return store_error(-EIO, "commit of branch '%s' of '%s' is malformed", branch,
				   repo);
	w->has_old_root = 1;
	return 0;
}

/* materialize - the batches of the working tree of REPO's BRANCH (none if
 * it has no working tree: the commit says so) */
static int materialize(struct store *s, const char *repo, const char *branch)
{
	struct util_array files = UTIL_ARRAY_INIT(uint64_t);
	struct walk w = { 0 };
	struct store_inode r;
	struct store_txn *t;
	uint64_t root;
	size_t i = 0;
	int rc = store_txn_begin(&w.t, s, 0);

	if (rc)
		return rc;
	rc = store_wt_root(w.t, repo, branch, &root);
	if (rc == 0)
		rc = store_inode_get(w.t, root, &r);
	if (rc == 0 && (r.flags & STORE_INO_DIRTY)) {
		rc = previous_tree(&w, repo, branch);
		if (rc == 0)
			rc = walk_children(&w, root, NULL, NULL, collect_pending, &files);
	}
	store_txn_abort(w.t);
	if (rc == -ENOENT)
		rc = 0;
	while (rc == 0 && i < util_array_len(&files)) {
		uint64_t bytes = 0;
		size_t done = 0;
		rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
		for (; rc == 0 && i < util_array_len(&files) && done < MATERIALIZE_FILES &&
		       bytes < MATERIALIZE_BYTES; i++, done++) {
			struct store_inode n;
			rc = store_inode_get(t, *UTIL_ARRAY_AT(&files, uint64_t, i), &n);
			if (rc == -ENOENT) {
				rc = 0;		/* removed since */
				continue;
			}
			if (rc == 0 && S_ISREG(n.mode) && store_wt_needs_blob(&n) &&
			    !(n.flags & STORE_INO_ORPHAN)) {
				bytes += n.size;
				rc = store_wt_blob(t, &n);
			}
		}
		if (rc == 0)
			rc = store_txn_commit(t);
		else if (t)
			store_txn_abort(t);
	}
	util_array_release(&files);
	return rc;
}

/* ---- dirty flags a commit would miss (fsck) ------------------------------ */

struct missed {
	int (*cb)(uint64_t ino, uint64_t parent, const char *path, void *arg);
	void *arg;
	uint64_t dir;		/* the directory whose children are walked */
	int dir_dirty;		/* its own flag */
	int visited;		/* a commit would build its tree */
};

/* check_missed - one child of M->dir in a walk with the commit's rules:
 * a directory a commit takes is visited when its parent is and it is dirty,
 * new or the root asks for a rescan (add_child) */
static int check_missed(struct walk *w, struct child *c, struct ignore_scope *scope, void *arg)
{
	const struct missed *up = arg;
	struct missed m = *up;
	int dirty = !!(c->ino.flags & STORE_INO_DIRTY);
	int rc;

	if (!S_ISDIR(c->ino.mode))
		return 0;
	if (dirty && !up->visited && !up->dir_dirty) {
		rc = up->cb(c->ino.ino, up->dir, w->path, up->arg);
		if (rc)
			return rc;
	}
	m.dir = c->ino.ino;
	m.dir_dirty = dirty;
	m.visited = up->visited && (dirty || w->rescan || git_oid_is_zero(&c->ino.id));
	return walk_children(w, c->ino.ino, scope, c, check_missed, &m);
}

int store_wt_check_dirty(struct store_txn *t, const char *repo, const char *branch,
			 int (*cb)(uint64_t ino, uint64_t parent, const char *path, void *arg),
			 void *arg)
{
	struct walk w = { .t = t };
	struct missed m = { .cb = cb, .arg = arg };
	struct store_inode root;
	int rc = store_wt_root(t, repo, branch, &m.dir);

	if (rc == 0)
		rc = store_inode_get(t, m.dir, &root);
	if (rc == 0)
		rc = previous_tree(&w, repo, branch);
	if (rc)
		return rc;
	w.rescan = !!(root.flags & STORE_INO_RESCAN);
	m.dir_dirty = m.visited = !!(root.flags & STORE_INO_DIRTY);
	return walk_children(&w, m.dir, NULL, NULL, check_missed, &m);
}

int store_wt_commit(struct store *s, const char *repo, const char *branch, git_oid *out)
{
	struct walk w = { 0 };
	struct util_buf extras = UTIL_BUF_INIT(STORE_EXTRAS_MAX);
	struct store_inode root;
	uint64_t root_ino;
	git_oid tree_id;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = materialize(s, repo, branch);
	if (rc)
		return rc;
	rc = store_txn_begin(&w.t, s, STORE_TXN_WRITE);
	if (rc)
		return rc;
	rc = store_wt_root(w.t, repo, branch, &root_ino);
	if (rc == -ENOENT)
		rc = store_error(-ENOENT, "no working tree for branch '%s' of '%s'", branch, repo);
	if (rc == 0)
		rc = store_inode_get(w.t, root_ino, &root);
	if (rc || !(root.flags & STORE_INO_DIRTY)) {
		store_txn_abort(w.t);
		return rc;
	}
	w.rescan = !!(root.flags & STORE_INO_RESCAN);
	rc = previous_tree(&w, repo, branch);
	if (rc == 0)
		rc = store_git_open(&w.repo, s, repo);
	if (rc == 0)
		rc = build_tree(&w, root_ino, NULL, NULL, &tree_id);
	if (rc == 0)
		rc = collect_extras(&w, root_ino, &extras);
	if (rc == 0)
		rc = make_commit(&w, repo, branch, &tree_id, &extras, out);
	util_buf_release(&extras);
	git_repository_free(w.repo);
	if (rc) {
		store_txn_abort(w.t);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return store_txn_commit(w.t);
}

/* ---- log ---------------------------------------------------------------- */

struct log_line {
	struct util_buf changes;
	size_t count;
};

static int log_change(enum store_change c, const char *path, void *arg)
{
	struct log_line *l = arg;
	char quoted[QUOTED_MAX(PATH_BUF)];
	int rc;

	if (l->count++ >= LOG_PATHS_MAX)
		return 0;
	rc = util_buf_addf(&l->changes, "%s%c %s", util_buf_len(&l->changes) ? ", " : "",
			   (char)c, quote_path(path, quoted));
	return rc ? store_error(rc, "cannot list '%s' in the log", path) : 0;
}

/* log_extras - the changes of commit ID's extras since PARENT's (NULL:
 * none) into the log line L */
static int log_extras(struct store_txn *t, const git_oid *parent, const git_oid *id,
		      struct log_line *l)
{
	const void *body, *pbody = NULL;
	size_t len, plen = 0;
	char *copy = NULL;
	int rc = parent ? store_extras_get(t, parent, &pbody, &plen) : 0;

	if (rc == 0 && plen && !(copy = malloc(plen)))	/* outlives the next read */
		rc = store_error(-ENOMEM, "out of memory");
	if (copy)
		memcpy(copy, pbody, plen);
	if (rc == 0)
		rc = store_extras_get(t, id, &body, &len);
	if (rc == 0)
		rc = diff_extras(copy, plen, body, len, l->count == 0, log_change, l);
	free(copy);
	return rc;
}

static int log_one(struct store_txn *t, git_commit *c,
		   int (*cb)(const char *line, void *arg), void *arg)
{
	struct log_line l = { .changes = UTIL_BUF_INIT(LOG_LINE_MAX) };
	struct util_buf line = UTIL_BUF_INIT(LOG_LINE_MAX + 4096);
	char hex[GIT_OID_HEXSZ + 1], when[32];
	const char *subject;
	const git_oid *parent_tree = NULL;
	git_commit *parent = NULL;
	time_t tt = (time_t)git_commit_time(c);
	struct tm tm;
	size_t subject_at;
	int rc;

	if (git_commit_parentcount(c) > 0 && git_commit_parent(&parent, c, 0) == 0)
		parent_tree = git_commit_tree_id(parent);
	rc = store_tree_diff(t, parent_tree, git_commit_tree_id(c), log_change, &l);
	if (rc == 0)
		rc = log_extras(t, parent ? git_commit_id(parent) : NULL, git_commit_id(c), &l);
	git_commit_free(parent);
	if (rc)
		goto out;
	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	subject = git_commit_summary(c) ?: "";
	rc = util_buf_addf(&line, "%s\t%s\t", hex, when);
	subject_at = util_buf_len(&line);
	if (rc == 0)
		rc = util_buf_addf(&line, "%s\t%s", subject, util_buf_str(&l.changes));
	if (rc == 0 && l.count > LOG_PATHS_MAX)
		rc = util_buf_addf(&line, ", +%zu more", l.count - LOG_PATHS_MAX);
	if (rc) {
		rc = store_error(rc, "cannot format the log line of %s", hex);
		goto out;
	}
	/* the subject (imported commits may hold anything) stays one field */
	for (size_t i = subject_at; i < subject_at + strlen(subject); i++)
		if (line.ptr[i] == '\n' || line.ptr[i] == '\t' || line.ptr[i] == '\r')
			line.ptr[i] = ' ';
	rc = cb(util_buf_str(&line), arg);
out:
	util_buf_release(&line);
	util_buf_release(&l.changes);
	return rc;
}

int store_log(struct store *s, const char *repo, const char *ref,
	      int (*cb)(const char *line, void *arg), void *arg)
{
	git_repository *g = NULL;
	git_revwalk *walk = NULL;
	struct store_txn *t = NULL;
	git_oid id;
	int rc;

	rc = store_txn_begin(&t, s, 0);
	if (rc)
		return rc;
	rc = store_repo_exists(t, repo);
	if (rc == 0)
		rc = store_error(-ENOENT, "no repository '%s'", repo);
	if (rc < 0)
		goto out;
	rc = store_ref_resolve(t, repo, ref, &id);
	if (rc == -ENOENT) {
		rc = 0;		/* unborn: no history yet */
		goto out;
	}
	if (rc)
		goto out;
	rc = store_git_open(&g, s, repo);
	if (rc)
		goto out;
	rc = store_git_error(git_revwalk_new(&walk, g), "revwalk");
	if (rc == 0) {
		git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
		rc = store_git_error(git_revwalk_push(walk, &id), "revwalk");
	}
	while (rc == 0) {
		git_commit *c;
		int wr = git_revwalk_next(&id, walk);
		if (wr == GIT_ITEROVER)
			break;
		rc = store_git_error(wr, "walking history");
		if (rc == 0)
			rc = store_git_error(git_commit_lookup(&c, g, &id), "commit");
		if (rc == 0) {
			rc = log_one(t, c, cb, arg);
			git_commit_free(c);
		}
	}
out:
	git_revwalk_free(walk);
	git_repository_free(g);
	store_txn_abort(t);
	return rc;
}

/* ---- commit failures ------------------------------------------------------ */

#define FAILED_PREFIX "commit_failed:"

static size_t failed_key(char *key, size_t len, const char *repo, const char *branch)
{
	int n = snprintf(key, len, FAILED_PREFIX "%s%c%s", repo, '\0', branch);

	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

int store_commit_failed(struct store *s, const char *repo, const char *branch, const char *why)
{
	char key[512];
	size_t klen = failed_key(key, sizeof(key), repo, branch);
	struct store_txn *t;
	int rc = !klen ? store_error(-ENAMETOOLONG, "repository '%.100s': name too long", repo)
		       : store_txn_begin(&t, s, STORE_TXN_WRITE);

	if (rc == 0) {
		rc = store_put(t, TBL_META, key, klen, why, strlen(why), 0);
		if (rc == 0)
			rc = store_event_raise(t, json_pack("{s:s, s:s, s:s, s:s, s:I}", "type",
							    "commit_failed", "repo", repo, "branch",
							    branch, "error", why, "time",
							    (json_int_t)time(NULL)));
		rc = rc ? (store_txn_abort(t), rc) : store_txn_commit(t);
	}
	return rc;
}

int store_commit_ok(struct store *s, const char *repo, const char *branch)
{
	char key[512];
	size_t klen = failed_key(key, sizeof(key), repo, branch);
	struct store_txn *t;
	MDB_val v;
	int rc = klen ? store_txn_begin(&t, s, 0) : 0;

	if (!klen || rc)
		return rc;
	rc = store_get(t, TBL_META, key, klen, &v);
	store_txn_abort(t);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
	if (rc)
		return rc;
	rc = store_del(t, TBL_META, key, klen);
	if (rc && rc != -ENOENT) {
		store_txn_abort(t);
		return rc;
	}
	rc = store_txn_commit(t);
	return rc ? rc : 1;
}

int store_commit_failures(struct store *s,
			  int (*cb)(const char *repo, const char *branch, const char *why, void *arg),
			  void *arg)
{
	const size_t plen = sizeof(FAILED_PREFIX) - 1;
	struct store_txn *t;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = store_txn_begin(&t, s, 0);

	if (rc)
		return rc;
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_META), &c);
	if (rc) {
		store_txn_abort(t);
		return store_mdb_error(rc, "meta");
	}
	k.mv_size = plen;
	k.mv_data = FAILED_PREFIX;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > plen && !memcmp(k.mv_data, FAILED_PREFIX, plen)) {
		char key[512], why[1024];
		size_t kl = k.mv_size - plen < sizeof(key) - 1 ? k.mv_size - plen : sizeof(key) - 1;
		size_t wl = v.mv_size < sizeof(why) - 1 ? v.mv_size : sizeof(why) - 1;

		memcpy(key, (const char *)k.mv_data + plen, kl);
		key[kl] = '\0';
		memcpy(why, v.mv_data, wl);
		why[wl] = '\0';
		/* KEY is repo \0 branch */
		rc = cb(key, memchr(key, '\0', kl) ? key + strlen(key) + 1 : "", why, arg);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	store_txn_abort(t);
	return store_cursor_end(rc, "meta");
}
