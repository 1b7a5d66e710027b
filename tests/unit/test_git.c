/*
 * test_git.c - libgit2 over the store (store/git.c), git interchange
 * (store/gitio.c) and fsck (store/fsck.c).
 *
 * Each test gets a scratch directory T with a fresh store in T/store; git
 * repositories made with the git CLI live beside it.  The git CLI runs
 * with no user or system configuration, so results do not depend on the
 * machine.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <git2.h>

#include "store/commit.h"
#include "store/fsck.h"
#include "store/gc.h"
#include "store/git.h"
#include "store/gitio.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/store_int.h"
#include "store/worktree.h"

#define GIT "git -c init.defaultBranch=main -c protocol.file.allow=always"

struct ctx {
	char dir[64];		/* the scratch directory T */
	char path[128];		/* scratch for paths under T */
	struct store *s;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char store[96];

	assert_non_null(c);
	snprintf(c->dir, sizeof(c->dir), "/tmp/govc-git-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(store, sizeof(store), "%s/store", c->dir);
	assert_int_equal(store_open(&c->s, store, STORE_CREATE), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	store_free(c->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	assert_int_equal(system(cmd), 0);
	free(c);
	return 0;
}

/* in - the path T/NAME (in a buffer reused by the next call). */
static const char *in(struct ctx *c, const char *name)
{
	snprintf(c->path, sizeof(c->path), "%s/%s", c->dir, name);
	return c->path;
}

/* sh - run a shell command, formatted; returns its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* sh_out - the first line a shell command prints, without the newline. */
static void sh_out(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void sh_out(char *buf, size_t len, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	buf[0] = '\0';
	if (fgets(buf, (int)len, p))
		buf[strcspn(buf, "\n")] = '\0';
	pclose(p);
}

static void create_repo(struct store *s, const char *name)
{
	struct store_txn *t;

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_repo_create(t, name, "main"), 0);
	assert_int_equal(store_txn_commit(t), 0);
}

static unsigned long count_objects(struct store *s)
{
	unsigned long n = 0;
	struct store_txn *t;
	MDB_cursor *cur;
	MDB_val k, v;

	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_OBJECTS), &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0)
		n++;
	mdb_cursor_close(cur);
	store_txn_abort(t);
	return n;
}

/* commit_file - through libgit2 alone: a commit of one file NAME with
 * CONTENT on PARENT (or none), moving UPDATE_REF. */
static int commit_file(git_repository *g, const char *update_ref, const git_commit *parent,
		       const char *name, const char *content, git_oid *out)
{
	git_treebuilder *tb;
	git_signature *sig;
	git_tree *tree;
	git_oid blob, tree_id;
	int rc;

	assert_int_equal(git_blob_create_from_buffer(&blob, g, content, strlen(content)), 0);
	assert_int_equal(git_treebuilder_new(&tb, g, NULL), 0);
	assert_int_equal(git_treebuilder_insert(NULL, tb, name, &blob, GIT_FILEMODE_BLOB), 0);
	assert_int_equal(git_treebuilder_write(&tree_id, tb), 0);
	git_treebuilder_free(tb);
	assert_int_equal(git_tree_lookup(&tree, g, &tree_id), 0);
	assert_int_equal(git_signature_new(&sig, "T", "t@example.com", 1700000000, 0), 0);
	rc = git_commit_create(out, g, update_ref, sig, sig, NULL, content, tree, parent ? 1 : 0,
			       &parent);
	git_signature_free(sig);
	git_tree_free(tree);
	return rc;
}

/* ---- store/git.c ---------------------------------------------------------- */

static void test_odb_and_refdb(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t;
	git_repository *g;
	git_commit *c1;
	git_object *o;
	git_oid id1, id2, found, short_id;
	git_object_t type;
	const void *body;
	size_t len;
	char hex[GIT_OID_HEXSZ + 1], val[STORE_REF_VALUE_MAX];

	create_repo(c->s, "r");
	assert_int_equal(store_git_open(&g, c->s, "r"), 0);
	assert_int_equal(commit_file(g, "HEAD", NULL, "hello.txt", "hello\n", &id1), 0);

	/* the objects and the branch are in the store */
	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(store_object_read(t, &id1, &type, &body, &len), 0);
	assert_int_equal(type, GIT_OBJECT_COMMIT);
	assert_int_equal(store_ref_read(t, "r", "refs/heads/main", val, sizeof(val)), 0);
	assert_string_equal(val, git_oid_tostr(hex, sizeof(hex), &id1));
	store_txn_abort(t);

	/* read back through libgit2, by full and by short id */
	assert_int_equal(git_commit_lookup(&c1, g, &id1), 0);
	assert_string_equal(git_commit_message(c1), "hello\n");
	git_oid_tostr(hex, sizeof(hex), &id1);
	assert_int_equal(git_oid_fromstrn(&short_id, hex, 7), 0);
	assert_int_equal(git_object_lookup_prefix(&o, g, &short_id, 7, GIT_OBJECT_ANY), 0);
	assert_true(git_oid_equal(git_object_id(o), &id1));
	git_object_free(o);
	assert_int_equal(git_oid_fromstrn(&short_id, "0000000", 7), 0);
	assert_int_equal(git_object_lookup_prefix(&o, g, &short_id, 7, GIT_OBJECT_ANY),
			 GIT_ENOTFOUND);
	assert_int_equal(git_revparse_single(&o, g, "HEAD:hello.txt"), 0);
	assert_int_equal(git_object_type(o), GIT_OBJECT_BLOB);
	git_object_free(o);

	/* a second commit on top; HEAD follows the branch */
	assert_int_equal(commit_file(g, "HEAD", c1, "hello.txt", "hello again\n", &id2), 0);
	assert_int_equal(git_reference_name_to_id(&found, g, "HEAD"), 0);
	assert_true(git_oid_equal(&found, &id2));
	assert_int_equal(git_graph_descendant_of(g, &id2, &id1), 1);
	git_commit_free(c1);
	git_repository_free(g);
	assert_int_equal(store_fsck(c->s, stderr, NULL), 0);
}

/* Inside the thread's write transaction libgit2 joins it: aborting the
 * transaction takes the commit and the branch update back. */
static void test_commit_joins_write_txn(void **state)
{
	struct ctx *c = *state;
	unsigned long before;
	struct store_txn *t;
	git_repository *g;
	git_oid id, found;

	create_repo(c->s, "r");
	before = count_objects(c->s);
	assert_int_equal(store_git_open(&g, c->s, "r"), 0);
	assert_int_equal(store_txn_begin(&t, c->s, STORE_TXN_WRITE), 0);
	assert_int_equal(commit_file(g, "HEAD", NULL, "f", "in a transaction\n", &id), 0);
	assert_int_equal(store_object_exists(t, &id), 1);
	store_txn_abort(t);
	assert_int_equal(count_objects(c->s), before);
	assert_int_equal(git_reference_name_to_id(&found, g, "HEAD"), GIT_ENOTFOUND);
	git_repository_free(g);
}

/* A store error keeps its errno on its way through libgit2. */
static void test_errno_through_libgit2(void **state)
{
	struct ctx *c = *state;
	char dir[96];
	git_repository *g;
	git_oid id;
	int rc;

	create_repo(c->s, "r");
	snprintf(dir, sizeof(dir), "%s", store_dir(c->s));
	store_free(c->s);
	assert_int_equal(store_open(&c->s, dir, STORE_RDONLY), 0);
	assert_int_equal(store_git_open(&g, c->s, "r"), 0);
	rc = git_blob_create_from_buffer(&id, g, "x", 1);
	assert_int_not_equal(rc, 0);
	assert_int_equal(store_git_error(rc, "writing a blob"), -EROFS);
	assert_non_null(strstr(store_errmsg(), "read-only"));
	/* reads work, and a libgit2 error of its own maps by its code */
	assert_int_equal(git_oid_fromstr(&id, "ce013625030ba8dba906f756967f9e9ca394464a"), 0);
	{
		git_blob *b;
		rc = git_blob_lookup(&b, g, &id);
		assert_int_equal(rc, GIT_ENOTFOUND);
		assert_int_equal(store_git_error(rc, "reading a blob"), -ENOENT);
	}
	git_repository_free(g);
}

static int count_ref(const char *name, void *payload)
{
	(*(int *)payload)++;
	return 0;
}

static void test_ref_cas(void **state)
{
	struct ctx *c = *state;
	git_repository *g;
	git_reference *ref = NULL, *renamed = NULL;
	git_commit *c1;
	git_transaction *tx;
	git_oid id1, id2, id3, stale;
	int n = 0;

	create_repo(c->s, "r");
	assert_int_equal(store_git_open(&g, c->s, "r"), 0);
	assert_int_equal(commit_file(g, "HEAD", NULL, "f", "one\n", &id1), 0);
	assert_int_equal(git_commit_lookup(&c1, g, &id1), 0);
	assert_int_equal(commit_file(g, "HEAD", c1, "f", "two\n", &id2), 0);

	/* a commit whose parent is no longer the tip is refused */
	assert_int_equal(commit_file(g, "HEAD", c1, "f", "three\n", &id3), GIT_EMODIFIED);
	assert_int_equal(store_git_error(GIT_EMODIFIED, "commit"), -EAGAIN);

	/* a stale expected value is refused, with -EAGAIN for the store */
	git_oid_cpy(&stale, &id1);
	assert_int_equal(git_reference_create_matching(&ref, g, "refs/heads/main", &id1, 1,
							&stale, "stale"),
			 GIT_EMODIFIED);
	assert_int_equal(store_git_error(GIT_EMODIFIED, "ref"), -EAGAIN);
	assert_int_equal(git_reference_create_matching(&ref, g, "refs/heads/main", &id1, 1, &id2,
							"rewind"),
			 0);
	git_reference_free(ref);

	/* creating an existing ref without force is refused */
	assert_int_equal(git_reference_create(&ref, g, "refs/heads/main", &id2, 0, "dup"),
			 GIT_EEXISTS);
	assert_int_equal(store_git_error(GIT_EEXISTS, "ref"), -EEXIST);
	assert_int_equal(git_reference_create(&ref, g, "refs/heads/topic", &id2, 0, "new"), 0);
	git_reference_free(ref);
	assert_int_equal(git_reference_create(&ref, g, "refs/tags/v1", &id1, 0, "tag"), 0);
	git_reference_free(ref);

	/* listing with a glob; HEAD is not listed */
	assert_int_equal(git_reference_foreach_glob(g, "refs/heads/*", count_ref, &n), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(git_reference_foreach_name(g, count_ref, &n), 0);
	assert_int_equal(n, 3);

	/* rename and delete */
	assert_int_equal(git_reference_lookup(&ref, g, "refs/heads/topic"), 0);
	assert_int_equal(git_reference_rename(&renamed, ref, "refs/heads/main", 0, "clash"),
			 GIT_EEXISTS);
	assert_int_equal(git_reference_rename(&renamed, ref, "refs/heads/other", 0, "mv"), 0);
	git_reference_free(ref);
	assert_int_equal(git_reference_delete(renamed), 0);
	git_reference_free(renamed);
	assert_int_equal(git_reference_lookup(&ref, g, "refs/heads/other"), GIT_ENOTFOUND);

	/* git_transaction: locked refs move by compare-and-swap */
	assert_int_equal(git_transaction_new(&tx, g), 0);
	assert_int_equal(git_transaction_lock_ref(tx, "refs/heads/main"), 0);
	assert_int_equal(git_transaction_set_target(tx, "refs/heads/main", &id2, NULL, "tx"), 0);
	assert_int_equal(git_transaction_commit(tx), 0);
	git_transaction_free(tx);
	assert_int_equal(git_reference_name_to_id(&stale, g, "refs/heads/main"), 0);
	assert_true(git_oid_equal(&stale, &id2));
	assert_int_equal(git_transaction_new(&tx, g), 0);
	assert_int_equal(git_transaction_lock_ref(tx, "refs/heads/main"), 0);
	assert_int_equal(git_transaction_set_target(tx, "refs/heads/main", &id1, NULL, "tx"), 0);
	assert_int_equal(git_reference_create(&ref, g, "refs/heads/main", &id1, 1, "meanwhile"), 0);
	git_reference_free(ref);
	/* main moved after it was locked: the transaction's write is refused */
	assert_int_equal(git_transaction_commit(tx), GIT_EMODIFIED);
	git_transaction_free(tx);

	/* the reflog is the store's */
	assert_int_equal(git_reference_has_log(g, "refs/heads/main"), 0);
	git_commit_free(c1);
	git_repository_free(g);
}

/* A fetch hands libgit2's indexer a pack; its objects land in the store
 * and the scratch directory goes away. */
static void test_fetch_into_store(void **state)
{
	struct ctx *c = *state;
	char *refspec = "+refs/heads/*:refs/heads/*", head[64], *dot;
	git_strarray specs = { &refspec, 1 };
	git_fetch_options fo;
	git_repository *g;
	git_remote *remote;
	git_oid id;
	struct dirent *e;
	DIR *d;
	const char *src = in(c, "fetchsrc");

	assert_int_equal(sh(GIT " init -q %s && cd %s && echo a > a && mkdir d && echo b > d/b && "
			       "git add -A && git commit -q -m one && echo c >> a && "
			       "git commit -q -am two && git gc -q",
			    src, src),
			 0);
	sh_out(head, sizeof(head), "git -C %s rev-parse HEAD", src);
	create_repo(c->s, "f");
	assert_int_equal(store_git_open(&g, c->s, "f"), 0);
	assert_int_equal(git_remote_create_anonymous(&remote, g, src), 0);
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.update_fetchhead = 0;
	assert_int_equal(git_remote_fetch(remote, &specs, &fo, "fetch"), 0);
	git_remote_free(remote);
	assert_int_equal(git_reference_name_to_id(&id, g, "refs/heads/main"), 0);
	assert_string_equal(git_oid_tostr_s(&id), head);
	git_repository_free(g);
	assert_int_equal(store_fsck(c->s, stderr, NULL), 0);
	d = opendir(store_dir(c->s));
	assert_non_null(d);
	while ((e = readdir(d))) {
		dot = strstr(e->d_name, ".govc-pack");
		assert_null(dot);
	}
	closedir(d);
}

/* ---- store/gitio.c -------------------------------------------------------- */

/* make_history - two commits made in a working tree: an executable, a
 * symlink, a subdirectory. */
static void make_history(struct store *s, git_oid *c2)
{
	struct store_txn *t;
	struct store_inode n, d;
	uint64_t root;
	git_oid c1;

	create_repo(s, "r");
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_wt_root(t, "r", "main", &root), 0);
	assert_int_equal(store_wt_mknode(t, root, "run.sh", S_IFREG | 0755, 0, 0, NULL, 0, &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, "#!/bin/sh\n", 10, 1), 10);
	assert_int_equal(store_wt_mknode(t, root, "sub", S_IFDIR | 0755, 0, 0, NULL, 0, &d), 0);
	assert_int_equal(store_wt_mknode(t, d.ino, "link", S_IFLNK | 0777, 0, 0, "../run.sh", 0, &n),
			 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(s, "r", "main", &c1), 0);
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_wt_mknode(t, d.ino, "more", S_IFREG | 0644, 0, 0, NULL, 0, &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, "x", 1, 1), 1);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(s, "r", "main", c2), 0);
	assert_false(git_oid_is_zero(c2));
}

/* add_commit - one more commit in repository R's working tree. */
static void add_commit(struct store *s, const char *r, const char *name, git_oid *out)
{
	struct store_txn *t;
	struct store_inode n;
	uint64_t root;

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_wt_root(t, r, "main", &root), 0);
	assert_int_equal(store_wt_mknode(t, root, name, S_IFREG | 0644, 0, 0, NULL, 0, &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, name, strlen(name), 1), (long)strlen(name));
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(s, r, "main", out), 0);
}

struct ids {
	char lines[16][GIT_OID_HEXSZ + 1];
	int n;
};

static int collect_log(const char *line, void *arg)
{
	struct ids *ids = arg;

	assert_true(ids->n < 16);
	snprintf(ids->lines[ids->n++], GIT_OID_HEXSZ + 1, "%s", line);
	return 0;
}

/* same_log - git log of DIR lists the ids store_log gives for REPO. */
static void same_log(struct store *s, const char *repo, const char *dir)
{
	struct ids ids = { 0 };
	char line[64];
	FILE *p;
	int i = 0;

	assert_int_equal(store_log(s, repo, "HEAD", collect_log, &ids), 0);
	snprintf(line, sizeof(line), "git -C %.40s log --format=%%H", dir);
	p = popen(line, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		assert_true(i < ids.n);
		assert_string_equal(line, ids.lines[i]);
		i++;
	}
	pclose(p);
	assert_int_equal(i, ids.n);
}

static void test_export(void **state)
{
	struct ctx *c = *state;
	char exp[128], head[64];
	git_oid c2, c3, c4;

	make_history(c->s, &c2);
	snprintf(exp, sizeof(exp), "%s", in(c, "exp"));
	assert_int_equal(store_git_export(c->s, "r", exp), 0);
	assert_int_equal(sh("git -C %s fsck --strict --no-dangling 2>&1", exp), 0);
	sh_out(head, sizeof(head), "git -C %s rev-parse HEAD", exp);
	assert_string_equal(head, git_oid_tostr_s(&c2));
	same_log(c->s, "r", exp);
	assert_int_equal(sh("test -x %s/run.sh && test -L %s/sub/link && "
			    "[ \"$(readlink %s/sub/link)\" = ../run.sh ] && "
			    "[ \"$(cat %s/sub/more)\" = x ] && git -C %s diff --quiet HEAD",
			    exp, exp, exp, exp, exp),
			 0);

	/* again after a new commit: only what is new, checked out safely */
	add_commit(c->s, "r", "new", &c3);
	assert_int_equal(store_git_export(c->s, "r", exp), 0);
	sh_out(head, sizeof(head), "git -C %s rev-parse main", exp);
	assert_string_equal(head, git_oid_tostr_s(&c3));
	assert_int_equal(sh("[ \"$(cat %s/new)\" = new ] && git -C %s diff --quiet HEAD && "
			    "git -C %s fsck --strict --no-dangling 2>&1",
			    exp, exp, exp),
			 0);
	same_log(c->s, "r", exp);

	/* a local change that the next checkout would overwrite is kept */
	add_commit(c->s, "r", "later", &c4);
	assert_int_equal(sh("echo mine > %s/later", exp), 0);
	assert_int_equal(store_git_export(c->s, "r", exp), -EBUSY);
	assert_int_equal(sh("[ \"$(cat %s/later)\" = mine ]", exp), 0);
	assert_int_equal(sh("rm %s/later && git -C %s checkout -q -f main", exp, exp), 0);

	/* commits made there that the store lacks: refused, nothing moves */
	assert_int_equal(sh("cd %s && echo theirs > theirs && git add theirs && "
			    "git -c user.name=t -c user.email=t@t commit -q -m theirs",
			    exp),
			 0);
	sh_out(head, sizeof(head), "git -C %s rev-parse main", exp);
	assert_int_equal(store_git_export(c->s, "r", exp), -EEXIST);
	{
		char after[64];
		sh_out(after, sizeof(after), "git -C %s rev-parse main", exp);
		assert_string_equal(after, head);
	}

	/* never into a directory that holds something else */
	assert_int_equal(sh("mkdir %s/busy && echo keep > %s/busy/file", c->dir, c->dir), 0);
	assert_int_equal(store_git_export(c->s, "r", in(c, "busy")), -EEXIST);
	assert_int_equal(sh("[ \"$(cat %s/busy/file)\" = keep ]", c->dir), 0);
	assert_int_equal(store_git_export(c->s, "nosuch", in(c, "x")), -ENOENT);

	/* an empty directory is fine, and so is a repository without commits */
	assert_int_equal(sh("mkdir %s/empty", c->dir), 0);
	assert_int_equal(store_git_export(c->s, "r", in(c, "empty")), 0);
	assert_int_equal(sh("test -x %s/empty/run.sh", c->dir), 0);
	/* a repository just made by git init: checked out, its own files kept */
	assert_int_equal(sh("git init -q %s/inited && echo u > %s/inited/untracked", c->dir,
			    c->dir),
			 0);
	assert_int_equal(store_git_export(c->s, "r", in(c, "inited")), 0);
	assert_int_equal(sh("test -x %s/inited/run.sh && [ \"$(cat %s/inited/untracked)\" = u ]",
			    c->dir, c->dir),
			 0);
	create_repo(c->s, "unborn");
	assert_int_equal(store_git_export(c->s, "unborn", in(c, "unborn")), 0);
	assert_int_equal(sh("[ \"$(git -C %s/unborn symbolic-ref HEAD)\" = refs/heads/main ]",
			    c->dir),
			 0);
}

/* make_source - a git repository made with the git CLI: three commits,
 * an executable, a symlink, a subdirectory, a branch, tags. */
static void make_source(const char *src)
{
	assert_int_equal(
		sh(GIT " init -q %s && cd %s && echo 1 > f && mkdir -p sub/deeper && "
		       "echo s > sub/s && echo d > sub/deeper/d && printf '#!/bin/sh\\n' > run && "
		       "chmod +x run && ln -s sub/s link && git add -A && git commit -q -m first && "
		       "echo 2 >> f && git commit -q -am second && git branch topic && "
		       "git tag -a -m 'version 1' v1 && git tag light HEAD~1 && "
		       "git rm -q sub/deeper/d && echo 3 > g && git add g && git commit -q -m third",
		   src, src),
		0);
}

static void test_import(void **state)
{
	struct ctx *c = *state;
	char src[128], want[64], val[STORE_REF_VALUE_MAX], buf[16];
	struct store_txn *t;
	struct store_inode n, d;
	uint64_t root;
	git_oid id;

	snprintf(src, sizeof(src), "%s", in(c, "src"));
	make_source(src);
	assert_int_equal(store_git_import(c->s, src, "imp"), 0);

	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	/* refs: branches, tags (the annotated one is a tag object), HEAD */
	assert_int_equal(store_ref_read(t, "imp", "HEAD", val, sizeof(val)), 0);
	assert_string_equal(val, "ref: refs/heads/main");
	sh_out(want, sizeof(want), "git -C %s rev-parse main", src);
	assert_int_equal(store_ref_read(t, "imp", "refs/heads/main", val, sizeof(val)), 0);
	assert_string_equal(val, want);
	sh_out(want, sizeof(want), "git -C %s rev-parse topic", src);
	assert_int_equal(store_ref_read(t, "imp", "refs/heads/topic", val, sizeof(val)), 0);
	assert_string_equal(val, want);
	sh_out(want, sizeof(want), "git -C %s rev-parse v1", src);
	assert_int_equal(store_ref_read(t, "imp", "refs/tags/v1", val, sizeof(val)), 0);
	assert_string_equal(val, want);
	assert_int_equal(git_oid_fromstr(&id, want), 0);
	assert_int_equal(store_object_exists(t, &id), 1);
	sh_out(want, sizeof(want), "git -C %s rev-parse light", src);
	assert_int_equal(store_ref_read(t, "imp", "refs/tags/light", val, sizeof(val)), 0);
	assert_string_equal(val, want);
	/* objects: a removed file of an old commit came along */
	sh_out(want, sizeof(want), "git -C %s rev-parse main~1:sub/deeper/d", src);
	assert_int_equal(git_oid_fromstr(&id, want), 0);
	assert_int_equal(store_object_exists(t, &id), 1);
	/* the working tree is HEAD's */
	assert_int_equal(store_wt_root(t, "imp", "main", &root), 0);
	assert_int_equal(store_wt_lookup(t, root, "run", &n), 0);
	assert_int_equal(n.mode, S_IFREG | 0755);
	assert_int_equal(store_wt_lookup(t, root, "link", &n), 0);
	assert_true(S_ISLNK(n.mode));
	assert_int_equal(n.size, 5);
	assert_memory_equal(n.target, "sub/s", 5);
	assert_int_equal(store_wt_lookup(t, root, "sub", &d), 0);
	assert_true(S_ISDIR(d.mode));
	assert_int_equal(store_wt_lookup(t, d.ino, "deeper", &n), -ENOENT);
	assert_int_equal(store_wt_lookup(t, root, "f", &n), 0);
	assert_int_equal(store_wt_read(t, n.ino, 0, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "1\n2\n", 4);
	store_txn_abort(t);
	same_log(c->s, "imp", src);
	assert_int_equal(store_fsck(c->s, stderr, NULL), 0);

	/* the working tree is clean: nothing to commit */
	assert_int_equal(store_wt_commit(c->s, "imp", "main", &id), 0);
	assert_true(git_oid_is_zero(&id));

	/* refusals */
	assert_int_equal(store_git_import(c->s, src, "imp"), -EEXIST);
	assert_int_equal(store_git_import(c->s, src, "../evil"), -EINVAL);
	assert_int_equal(store_git_import(c->s, in(c, "nope"), "other"), -ENOENT);
	assert_int_equal(store_git_import(c->s, store_dir(c->s), "other"), -ENOENT);

	/* export of the import keeps every id */
	assert_int_equal(store_git_export(c->s, "imp", in(c, "rt")), 0);
	sh_out(want, sizeof(want), "git -C %s rev-parse v1 topic main", src);
	sh_out(val, sizeof(val), "git -C %s/rt rev-parse v1 topic main", c->dir);
	assert_string_equal(val, want);
	assert_int_equal(sh("git -C %s/rt fsck --strict --no-dangling 2>&1", c->dir), 0);
}

/* Packed objects, a blob large enough to stream (when loose), a bare
 * repository, and one the store already holds. */
static void test_import_packed_and_large(void **state)
{
	struct ctx *c = *state;
	char src[128], want[64];
	struct store_txn *t;
	git_object_t type;
	const void *body;
	size_t len;
	git_oid id;
	unsigned long objects;

	snprintf(src, sizeof(src), "%s", in(c, "big"));
	assert_int_equal(sh(GIT " init -q %s && cd %s && head -c 17000000 /dev/urandom > big && "
			       "git add big && git -c core.compression=0 commit -q -m big",
			    src, src),
			 0);
	assert_int_equal(store_git_import(c->s, src, "loose"), 0);
	sh_out(want, sizeof(want), "git -C %s rev-parse HEAD:big", src);
	assert_int_equal(git_oid_fromstr(&id, want), 0);
	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(store_object_read(t, &id, &type, &body, &len), 0);
	assert_int_equal(type, GIT_OBJECT_BLOB);
	assert_int_equal(len, 17000000);
	store_txn_abort(t);

	make_source(in(c, "src"));
	assert_int_equal(sh("git clone -q --bare %s/src %s/bare.git && git -C %s/bare.git gc -q",
			    c->dir, c->dir, c->dir),
			 0);
	assert_int_equal(store_git_import(c->s, in(c, "bare.git"), "packed"), 0);
	objects = count_objects(c->s);
	assert_int_equal(store_git_import(c->s, in(c, "src"), "again"), 0);
	assert_int_equal(count_objects(c->s), objects);	/* nothing new */
	same_log(c->s, "packed", in(c, "src"));
	assert_int_equal(store_fsck(c->s, stderr, NULL), 0);
}

/* All or nothing: a source missing an object leaves the store as it was. */
static void test_import_all_or_nothing(void **state)
{
	struct ctx *c = *state;
	char src[128], blob[64];
	unsigned long objects;
	struct store_gc_stats st;
	struct store_txn *t;

	snprintf(src, sizeof(src), "%s", in(c, "broken"));
	make_source(src);
	sh_out(blob, sizeof(blob), "git -C %s rev-parse HEAD:g", src);
	assert_int_equal(sh("rm -f %s/.git/objects/%.2s/%s", src, blob, blob + 2), 0);
	objects = count_objects(c->s);
	assert_int_not_equal(store_git_import(c->s, src, "broken"), 0);
	assert_non_null(strstr(store_errmsg(), blob));
	/* nothing published; what it wrote on the way is gc's */
	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(store_repo_exists(t, "broken"), 0);
	store_txn_abort(t);
	assert_int_equal(store_gc(c->s, 0, &st), 0);
	assert_int_equal(count_objects(c->s), objects);

	/* a detached HEAD away from main is refused; on main it is fine */
	make_source(in(c, "detached"));
	assert_int_equal(sh("git -C %s/detached checkout -q --detach HEAD~1", c->dir), 0);
	assert_int_equal(store_git_import(c->s, in(c, "detached"), "det"), -EINVAL);
	assert_int_equal(sh("git -C %s/detached checkout -q --detach main", c->dir), 0);
	assert_int_equal(store_git_import(c->s, in(c, "detached"), "det"), 0);
	/* a branch name that cannot name a working tree */
	assert_int_equal(sh("git -C %s/detached checkout -q -b feature/x", c->dir), 0);
	assert_int_equal(store_git_import(c->s, in(c, "detached"), "slash"), -EINVAL);
	assert_int_equal(store_fsck(c->s, stderr, NULL), 0);
}

/* ---- store/fsck.c --------------------------------------------------------- */

/* run_fsck - store_fsck with its report in BUF. */
static int run_fsck(struct store *s, char *buf, size_t len, unsigned long *n)
{
	FILE *out;
	int rc;

	memset(buf, 0, len);
	out = fmemopen(buf, len - 1, "w");
	assert_non_null(out);
	rc = store_fsck(s, out, n);
	fclose(out);
	return rc;
}

static void test_fsck(void **state)
{
	struct ctx *c = *state;
	unsigned char body[16] = { GIT_OBJECT_BLOB, 'b', 'a', 'd' };
	char report[8192], hex[GIT_OID_HEXSZ + 1];
	struct store_txn *t;
	struct store_inode n;
	uint64_t root;
	unsigned long objects;
	unsigned char key[8];
	git_oid c2, blob;

	make_history(c->s, &c2);
	assert_int_equal(run_fsck(c->s, report, sizeof(report), &objects), 0);
	assert_int_equal(objects, count_objects(c->s));
	assert_string_equal(report, "");

	/* overwrite the content of sub/more behind the store's back */
	assert_int_equal(store_object_hash(&blob, GIT_OBJECT_BLOB, "x", 1), 0);
	assert_int_equal(store_txn_begin(&t, c->s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_put(t, TBL_OBJECTS, blob.id, GIT_OID_RAWSZ, body, 4, 0), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(run_fsck(c->s, report, sizeof(report), NULL), -EIO);
	git_oid_tostr(hex, sizeof(hex), &blob);
	assert_non_null(strstr(report, hex));
	assert_non_null(strstr(report, "does not match"));
	assert_non_null(strstr(report, "repository 'r'"));

	/* remove it: now it is missing */
	assert_int_equal(store_txn_begin(&t, c->s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_object_delete(t, &blob), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(run_fsck(c->s, report, sizeof(report), NULL), -EIO);
	assert_non_null(strstr(report, "missing"));
	assert_non_null(strstr(report, hex));

	/* put it back: sound again */
	assert_int_equal(store_txn_begin(&t, c->s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_object_write(t, GIT_OBJECT_BLOB, "x", 1, NULL), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(run_fsck(c->s, report, sizeof(report), NULL), 0);

	/* a working tree whose entry names a vanished inode */
	assert_int_equal(store_txn_begin(&t, c->s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_wt_root(t, "r", "main", &root), 0);
	assert_int_equal(store_wt_lookup(t, root, "run.sh", &n), 0);
	store_be64_put(key, n.ino);
	assert_int_equal(store_del(t, TBL_INODES, key, 8), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(run_fsck(c->s, report, sizeof(report), NULL), -EIO);
	assert_non_null(strstr(report, "'run.sh'"));
	assert_non_null(strstr(report, "missing inode"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_odb_and_refdb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_joins_write_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_through_libgit2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_cas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_into_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_packed_and_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsck, setup, teardown),
	};

	/* the git CLI: no user or system configuration, a fixed identity */
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "T", 1);
	setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "T", 1);
	setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	git_libgit2_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
