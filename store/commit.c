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
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <git2.h>
#include <jansson.h>

#include "store/commit.h"
#include "store/git.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/store_int.h"
#include "store/worktree.h"

#define GITIGNORE_MAX (64 * 1024)
#define MESSAGE_PATHS_MAX 1000
#define EVENT_PATHS_MAX 100
#define LOG_PATHS_MAX 20
#define PATH_BUF 4096

/* One .gitignore pattern; PATTERNS of a directory apply below it. */
struct ignore_rule {
	char *pattern;
	int negate, dir_only, anchored;
};

struct ignore_set {
	struct ignore_rule *rules;
	size_t n;
	size_t base_len;	/* length of the dir path the file lives in */
	struct ignore_set *up;
};

struct change_list {
	struct strbuf_lite {
		char *buf;
		size_t len, cap;
	} body;
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

static void ignore_set_free(struct ignore_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->rules[i].pattern);
	free(set->rules);
}

/* parse_gitignore - rules of one .gitignore body. */
static int parse_gitignore(struct ignore_set *set, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct ignore_rule r = { 0 };
		const char *s = p;

		p += l + (nl ? 1 : 0);
		while (l && (s[l - 1] == '\r' || s[l - 1] == ' '))
			l--;
		if (!l || s[0] == '#')
			continue;
		if (s[0] == '!') {
			r.negate = 1;
			s++;
			l--;
		}
		if (l && s[l - 1] == '/') {
			r.dir_only = 1;
			l--;
		}
		if (l && s[0] == '/') {
			r.anchored = 1;
			s++;
			l--;
		}
		if (!l)
			continue;
		if (memchr(s, '/', l))
			r.anchored = 1;
		r.pattern = strndup(s, l);
		if (!r.pattern)
			return store_error(-ENOMEM, "out of memory");
		struct ignore_rule *nr = realloc(set->rules, (set->n + 1) * sizeof(*nr));
		if (!nr) {
			free(r.pattern);
			return store_error(-ENOMEM, "out of memory");
		}
		set->rules = nr;
		set->rules[set->n++] = r;
	}
	return 0;
}

/* is_ignored - does any .gitignore in scope ignore PATH (NAME its last part)? */
static int is_ignored(const struct ignore_set *set, const char *path, const char *name, int is_dir)
{
	for (; set; set = set->up) {
		const char *rel = path + set->base_len;
		if (*rel == '/')
			rel++;
		for (size_t i = set->n; i-- > 0;) {
			const struct ignore_rule *r = &set->rules[i];
			int m;
			if (r->dir_only && !is_dir)
				continue;
			if (r->anchored)
				m = fnmatch(r->pattern, rel,
					    strstr(r->pattern, "**") ? 0 : FNM_PATHNAME) == 0;
			else
				m = fnmatch(r->pattern, name, 0) == 0;
			if (m)
				return !r->negate;
		}
	}
	return 0;
}

static int buf_add(struct strbuf_lite *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *nb = realloc(b->buf, cap);
		if (!nb)
			return store_error(-ENOMEM, "out of memory");
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

/* State of one commit's walk over the working tree. */
struct walk {
	struct store_txn *t;
	git_repository *repo;
	int rescan;
	char path[PATH_BUF];
};

struct child {
	char *name;
	struct store_inode ino;
	char target[STORE_SYMLINK_MAX + 1];
};

struct child_list {
	struct child *v;
	size_t n, cap;
};

static int collect_child(const char *name, const struct store_inode *ino, void *arg)
{
	struct child_list *l = arg;
	struct child *c;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct child *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return store_error(-ENOMEM, "out of memory");
		l->v = nv;
		l->cap = cap;
	}
	c = &l->v[l->n];
	c->name = strdup(name);
	if (!c->name)
		return store_error(-ENOMEM, "out of memory");
	c->ino = *ino;
	c->target[0] = '\0';
	if (S_ISLNK(ino->mode) && ino->target) {
		size_t n = ino->size < STORE_SYMLINK_MAX ? ino->size : STORE_SYMLINK_MAX;
		memcpy(c->target, ino->target, n);
		c->target[n] = '\0';
	}
	c->ino.target = NULL;
	l->n++;
	return 0;
}

static void child_list_free(struct child_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* load_gitignore - if DIR holds a .gitignore, parse it into SET. */
static int load_gitignore(struct walk *w, uint64_t dir, struct ignore_set *set)
{
	struct store_inode gi;
	char *text;
	long got;
	int rc = store_wt_lookup(w->t, dir, ".gitignore", &gi);

	if (rc == -ENOENT || (rc == 0 && !S_ISREG(gi.mode)))
		return 0;
	if (rc)
		return rc;
	text = malloc(GITIGNORE_MAX);
	if (!text)
		return store_error(-ENOMEM, "out of memory");
	got = store_wt_read(w->t, gi.ino, 0, text, GITIGNORE_MAX);
	rc = got < 0 ? (int)got : parse_gitignore(set, text, (size_t)got);
	free(text);
	return rc;
}

static int build_tree(struct walk *w, uint64_t dir, struct ignore_set *up, git_oid *out);

/* the id of the empty tree, 4b825dc642cb6eb9a060e54bf8d69288fbee4904 */
static const git_oid empty_tree = { { 0x4b, 0x82, 0x5d, 0xc6, 0x42, 0xcb, 0x6e, 0xb9, 0xa0, 0x60,
				      0xe5, 0x4b, 0xf8, 0xd6, 0x92, 0x88, 0xfb, 0xee, 0x49, 0x04 } };

/*
 * walk_children - call CB for each child of directory DIR (whose path is
 * w->path) that a commit takes: not an editor scratch name, not ignored by
 * a .gitignore.  While CB runs, w->path is the child's path and SET holds
 * the ignore rules in force below DIR.
 */
typedef int (*child_fn)(struct walk *w, struct child *c, struct ignore_set *set, void *arg);

static int walk_children(struct walk *w, uint64_t dir, struct ignore_set *up, child_fn cb,
			 void *arg)
{
	struct ignore_set set = { .up = up, .base_len = strlen(w->path) };
	struct child_list kids = { 0 };
	size_t plen = strlen(w->path);
	int rc = load_gitignore(w, dir, &set);

	if (rc == 0)
		rc = store_wt_readdir(w->t, dir, NULL, collect_child, &kids);
	for (size_t i = 0; rc == 0 && i < kids.n; i++) {
		struct child *c = &kids.v[i];
		int n;
		if (store_ignored_name(c->name))
			continue;
		n = snprintf(w->path + plen, sizeof(w->path) - plen, "%s%s", plen ? "/" : "",
			     c->name);
		if (n >= (int)(sizeof(w->path) - plen)) {
			rc = store_error(-ENAMETOOLONG, "path '%s' is too long", w->path);
			break;
		}
		if (!is_ignored(&set, w->path, c->name, S_ISDIR(c->ino.mode)))
			rc = cb(w, c, &set, arg);
		w->path[plen] = '\0';
	}
	w->path[plen] = '\0';
	child_list_free(&kids);
	ignore_set_free(&set);
	return rc;
}

/* add_child - put child C into the tree being built (ARG, a treebuilder),
 * writing its blob, or its tree when it is a dirty directory */
static int add_child(struct walk *w, struct child *c, struct ignore_set *set, void *arg)
{
	git_treebuilder *tb = arg;
	git_filemode_t mode;
	git_oid id;
	int rc;

	if (S_ISDIR(c->ino.mode)) {
		if ((c->ino.flags & STORE_INO_DIRTY) || w->rescan || git_oid_is_zero(&c->ino.id))
			rc = build_tree(w, c->ino.ino, set, &id);
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
static int build_tree(struct walk *w, uint64_t dir, struct ignore_set *up, git_oid *out)
{
	git_treebuilder *tb = NULL;
	struct store_inode d;
	int rc = store_git_error(git_treebuilder_new(&tb, w->repo, NULL), "treebuilder");

	if (rc == 0)
		rc = walk_children(w, dir, up, add_child, tb);
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
		n = snprintf(line, sizeof(line), "%c %s\n", (char)c, shown);
		if (buf_add(&l->body, line, (size_t)n))
			return -ENOMEM;
	}
	if (l->count <= EVENT_PATHS_MAX) {
		n = snprintf(line, sizeof(line), "%c %s", (char)c, path);
		json_array_append_new(l->paths, json_stringn(line, (size_t)n));
	}
	return 0;
}

static char *commit_message(struct change_list *l)
{
	struct strbuf_lite m = { 0 };
	char subject[1024], more[64];

	if (l->count == 1)
		snprintf(subject, sizeof(subject), "Update %s\n\n", l->first[0]);
	else if (l->count <= 3)
		snprintf(subject, sizeof(subject), "Update %zu paths: %s, %s%s%s\n\n", l->count,
			 l->first[0], l->first[1], l->count == 3 ? ", " : "",
			 l->count == 3 ? l->first[2] : "");
	else
		snprintf(subject, sizeof(subject), "Update %zu paths: %s, %s, ...\n\n", l->count,
			 l->first[0], l->first[1]);
	if (buf_add(&m, subject, strlen(subject)) || buf_add(&m, l->body.buf, l->body.len))
		goto fail;
	if (l->count > MESSAGE_PATHS_MAX) {
		snprintf(more, sizeof(more), "... and %zu more\n", l->count - MESSAGE_PATHS_MAX);
		if (buf_add(&m, more, strlen(more)))
			goto fail;
	}
	return m.buf;
fail:
	free(m.buf);
	return NULL;
}

static int raise_commit_event(struct store_txn *t, const char *repo, const char *branch,
			      const git_oid *id, struct change_list *l)
{
	char hex[GIT_OID_HEXSZ + 1];
	json_t *ev;
	char *line;
	int rc;

	ev = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:O}", "type", "commit", "repo", repo,
		       "branch", branch, "id", git_oid_tostr(hex, sizeof(hex), id), "time",
		       (json_int_t)(store_now_ns() / 1000000000), "changes", (json_int_t)l->count,
		       "paths", l->paths);
	line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!line)
		return store_error(-ENOMEM, "out of memory");
	rc = store_event_append(t, line);
	free(line);
	return rc;
}

static int make_commit(struct walk *w, const char *repo, const char *branch, const git_oid *tree_id,
		       git_oid *out)
{
	char refname[STORE_REF_NAME_MAX + 1];
	struct change_list changes = { .paths = json_array() };
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_oid parent_id, old_tree;
	char *msg = NULL;
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
		if (git_oid_equal(&old_tree, tree_id))
			goto out;	/* nothing to commit */
	}
	rc = store_tree_diff(w->t, have_parent ? &old_tree : NULL, tree_id, note_change, &changes);
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
		rc = raise_commit_event(w->t, repo, branch, out, &changes);
out:
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(parent);
	json_decref(changes.paths);
	free(changes.body.buf);
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

/* the inode numbers of the files to materialize */
struct pending {
	uint64_t *files;
	size_t n, cap;
};

static int pending_add(struct pending *p, uint64_t ino)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		uint64_t *nv = realloc(p->files, cap * sizeof(*nv));
		if (!nv)
			return store_error(-ENOMEM, "out of memory");
		p->files = nv;
		p->cap = cap;
	}
	p->files[p->n++] = ino;
	return 0;
}

/* collect_pending - the files below dirty directory DIR that a commit
 * would hash and that have no blob yet (ARG: struct pending); what the
 * commit leaves out is left alone. */
static int collect_pending(struct walk *w, struct child *c, struct ignore_set *set, void *arg)
{
	struct pending *p = arg;

	if (S_ISDIR(c->ino.mode) && (c->ino.flags & STORE_INO_DIRTY))
		return walk_children(w, c->ino.ino, set, collect_pending, p);
	if (S_ISREG(c->ino.mode) && store_wt_needs_blob(&c->ino))
		return pending_add(p, c->ino.ino);
	return 0;
}

/* materialize - the batches of the working tree of REPO's BRANCH (none if
 * it has no working tree: the commit says so) */
static int materialize(struct store *s, const char *repo, const char *branch)
{
	struct pending p = { 0 };
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
	if (rc == 0 && (r.flags & STORE_INO_DIRTY))
		rc = walk_children(&w, root, NULL, collect_pending, &p);
	store_txn_abort(w.t);
	if (rc == -ENOENT)
		rc = 0;
	while (rc == 0 && i < p.n) {
		uint64_t bytes = 0;
		size_t done = 0;
		rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
		for (; rc == 0 && i < p.n && done < MATERIALIZE_FILES &&
		       bytes < MATERIALIZE_BYTES; i++, done++) {
			struct store_inode n;
			rc = store_inode_get(t, p.files[i], &n);
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
	free(p.files);
	return rc;
}

int store_wt_commit(struct store *s, const char *repo, const char *branch, git_oid *out)
{
	struct walk w = { 0 };
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
	rc = store_git_open(&w.repo, s, repo);
	if (rc == 0)
		rc = build_tree(&w, root_ino, NULL, &tree_id);
	if (rc == 0)
		rc = make_commit(&w, repo, branch, &tree_id, out);
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
	struct strbuf_lite changes;
	size_t count;
};

static int log_change(enum store_change c, const char *path, void *arg)
{
	struct log_line *l = arg;
	char item[QUOTED_MAX(PATH_BUF) + 8], quoted[QUOTED_MAX(PATH_BUF)];
	int n;

	if (l->count++ >= LOG_PATHS_MAX)
		return 0;
	n = snprintf(item, sizeof(item), "%s%c %s", l->changes.len ? ", " : "", (char)c,
		     quote_path(path, quoted));
	return buf_add(&l->changes, item, (size_t)n);
}

static int log_one(struct store_txn *t, git_commit *c,
		   int (*cb)(const char *line, void *arg), void *arg)
{
	struct log_line l;
	char hex[GIT_OID_HEXSZ + 1], when[32], more[32] = "";
	const char *subject;
	const git_oid *parent_tree = NULL;
	git_commit *parent = NULL;
	time_t tt = (time_t)git_commit_time(c);
	struct tm tm;
	char *line;
	size_t len;
	int rc;

	memset(&l, 0, sizeof(l));
	if (git_commit_parentcount(c) > 0 && git_commit_parent(&parent, c, 0) == 0)
		parent_tree = git_commit_tree_id(parent);
	rc = store_tree_diff(t, parent_tree, git_commit_tree_id(c), log_change, &l);
	git_commit_free(parent);
	if (rc) {
		free(l.changes.buf);
		return rc;
	}
	if (l.count > LOG_PATHS_MAX)
		snprintf(more, sizeof(more), ", +%zu more", l.count - LOG_PATHS_MAX);
	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	subject = git_commit_summary(c) ?: "";
	len = strlen(hex) + strlen(when) + strlen(subject) + l.changes.len +
	      strlen(more) + 8;
	line = malloc(len);
	if (!line) {
		free(l.changes.buf);
		return store_error(-ENOMEM, "out of memory");
	}
	snprintf(line, len, "%s\t%s\t%s\t%s%s", hex, when, subject,
		 l.changes.buf ? l.changes.buf : "", more);
	/* the subject (imported commits may hold anything) stays one field */
	for (char *p = line + strlen(hex) + strlen(when) + 2, *end = p + strlen(subject); p < end; p++)
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	rc = cb(line, arg);
	free(line);
	free(l.changes.buf);
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
