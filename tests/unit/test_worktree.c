/*
 * test_worktree.c - working trees and commits: file contents across chunk
 * boundaries, truncation, rename rules, orphans, commits that rewrite only
 * the changed trees, ignore rules, the log, hard links and special files
 * with the extras their commits record.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <cmocka.h>
#include <git2.h>

#include "store/commit.h"
#include "store/extras.h"
#include "store/fsck.h"
#include "store/gc.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/worktree.h"

static char dir[64];

struct ctx {
	struct store *s;
	uint64_t root;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct store_txn *t;

	snprintf(dir, sizeof(dir), "/tmp/govc-wt-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(&c->s, dir, STORE_CREATE), 0);
	assert_int_equal(store_txn_begin(&t, c->s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_repo_create(t, "r", "main"), 0);
	assert_int_equal(store_wt_root(t, "r", "main", &c->root), 0);
	assert_int_equal(store_txn_commit(t), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	store_free(c->s);
	free(c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct store_txn *wtx(struct ctx *c)
{
	struct store_txn *t;

	assert_int_equal(store_txn_begin(&t, c->s, STORE_TXN_WRITE), 0);
	return t;
}

static uint64_t mkfile(struct store_txn *t, uint64_t parent, const char *name, const char *text)
{
	struct store_inode n;

	assert_int_equal(store_wt_mknode(t, parent, name, S_IFREG | 0644, 0, 0, NULL, 0, &n), 0);
	if (text)
		assert_int_equal(store_wt_write(t, n.ino, 0, text, strlen(text), 1), (long)strlen(text));
	return n.ino;
}

static void test_chunks_and_truncate(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	size_t big = 3 * STORE_WT_CHUNK + 100;
	char *data = malloc(big), *back = malloc(big);
	struct store_attr a = { .mask = STORE_ATTR_SIZE };
	struct store_inode n;
	git_oid commit;
	uint64_t ino;

	for (size_t i = 0; i < big; i++)
		data[i] = (char)('a' + i % 23);
	ino = mkfile(t, c->root, "big", NULL);
	/* unaligned writes straddling chunk boundaries */
	assert_int_equal(store_wt_write(t, ino, 0, data, 1000, 1), 1000);
	assert_int_equal(store_wt_write(t, ino, 1000, data + 1000, big - 1000, 1), (long)(big - 1000));
	assert_int_equal(store_wt_read(t, ino, 0, back, big), (long)big);
	assert_memory_equal(back, data, big);
	assert_int_equal(store_txn_commit(t), 0);

	/* commit: content becomes a blob; then overwrite one byte mid-file */
	assert_int_equal(store_wt_commit(c->s, "r", "main", &commit), 0);
	assert_false(git_oid_is_zero(&commit));
	t = wtx(c);
	assert_int_equal(store_inode_get(t, ino, &n), 0);
	assert_false(n.flags & STORE_INO_CHUNKS);
	assert_int_equal(store_wt_write(t, ino, STORE_WT_CHUNK + 5, "Z", 1, 2), 1);
	data[STORE_WT_CHUNK + 5] = 'Z';
	assert_int_equal(store_wt_read(t, ino, 0, back, big), (long)big);
	assert_memory_equal(back, data, big);

	/* shrink, then grow: the bytes in between read as zeros */
	a.size = 10;
	assert_int_equal(store_wt_setattr(t, ino, &a, &n), 0);
	a.size = 2 * STORE_WT_CHUNK;
	assert_int_equal(store_wt_setattr(t, ino, &a, &n), 0);
	assert_int_equal(store_wt_read(t, ino, 0, back, big), 2 * STORE_WT_CHUNK);
	assert_memory_equal(back, data, 10);
	for (size_t i = 10; i < 2 * STORE_WT_CHUNK; i++)
		assert_int_equal(back[i], 0);
	assert_int_equal(store_txn_commit(t), 0);
	free(data);
	free(back);
}

/* a short first write of a new file goes straight into the blob the commit
 * takes; later writes overlay it like any base */
static void test_whole_write_is_the_blob(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	struct store_inode n, m;
	struct store_gc_stats st;
	git_oid want, commit;
	uint64_t ino = mkfile(t, c->root, "w", NULL), twin = mkfile(t, c->root, "twin", NULL);
	char buf[32];

	assert_int_equal(store_wt_write_whole(t, ino, "hello", 5, 7), 5);
	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, "hello", 5), 0);
	assert_int_equal(store_inode_get(t, ino, &n), 0);
	assert_true(git_oid_equal(&n.id, &want));
	assert_int_equal(n.size, 5);
	assert_int_equal(n.mtime_ns, 7);
	assert_false(store_wt_needs_blob(&n));
	assert_int_equal(store_object_exists(t, &want), 1);
	/* the same bytes in another file share the blob */
	assert_int_equal(store_wt_write_whole(t, twin, "hello", 5, 7), 5);
	assert_int_equal(store_inode_get(t, twin, &m), 0);
	assert_true(git_oid_equal(&m.id, &want));

	/* a write that follows overlays the blob */
	assert_int_equal(store_wt_write(t, ino, 5, " world", 6, 8), 6);
	assert_int_equal(store_wt_read(t, ino, 0, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_equal(store_inode_get(t, ino, &n), 0);
	assert_true(store_wt_needs_blob(&n));
	/* on a file that is not empty it is an ordinary write at 0 */
	assert_int_equal(store_wt_write_whole(t, ino, "HE", 2, 9), 2);
	assert_int_equal(store_wt_read(t, ino, 0, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "HEllo world", 11);
	assert_int_equal(store_txn_commit(t), 0);

	assert_int_equal(store_wt_commit(c->s, "r", "main", &commit), 0);
	t = wtx(c);
	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, "HEllo world", 11), 0);
	assert_int_equal(store_inode_get(t, ino, &n), 0);
	assert_true(git_oid_equal(&n.id, &want));
	assert_int_equal(store_inode_get(t, twin, &m), 0);
	assert_int_equal(store_wt_read(t, twin, 0, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);

	/* a blob only one uncommitted file holds goes as soon as the file
	 * moves on: when it grows, is truncated or is removed */
	ino = mkfile(t, c->root, "grown", NULL);
	assert_int_equal(store_wt_write_whole(t, ino, "first", 5, 10), 5);
	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, "first", 5), 0);
	assert_int_equal(store_object_exists(t, &want), 1);
	assert_int_equal(store_wt_write(t, ino, 5, "+more", 5, 11), 5);
	assert_int_equal(store_object_exists(t, &want), 0);
	assert_int_equal(store_wt_read(t, ino, 0, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "first+more", 10);

	ino = mkfile(t, c->root, "trunc", NULL);
	assert_int_equal(store_wt_write_whole(t, ino, "second", 6, 10), 6);
	assert_int_equal(store_wt_setattr(t, ino, &(struct store_attr){ .mask = STORE_ATTR_SIZE },
					  &n), 0);
	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, "second", 6), 0);
	assert_int_equal(store_object_exists(t, &want), 0);

	ino = mkfile(t, c->root, "gone", NULL);
	assert_int_equal(store_wt_write_whole(t, ino, "third", 5, 10), 5);
	assert_int_equal(store_wt_unlink(t, c->root, "gone", 0, &ino), 0);
	assert_int_equal(store_wt_forget(t, ino), 0);
	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, "third", 5), 0);
	assert_int_equal(store_object_exists(t, &want), 0);

	/* a blob something else came to hold stays: another writer of the
	 * same object (an import, a layer) ... */
	ino = mkfile(t, c->root, "shared", NULL);
	assert_int_equal(store_wt_write_whole(t, ino, "fourth", 6, 10), 6);
	assert_int_equal(store_object_write(t, GIT_OBJECT_BLOB, "fourth", 6, &want), 0);
	assert_int_equal(store_wt_write(t, ino, 0, "F", 1, 11), 1);
	assert_int_equal(store_object_exists(t, &want), 1);
	/* ... or a commit */
	ino = mkfile(t, c->root, "committed", NULL);
	assert_int_equal(store_wt_write_whole(t, ino, "fifth", 5, 10), 5);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &commit), 0);
	t = wtx(c);
	assert_int_equal(store_wt_write(t, ino, 0, "F", 1, 11), 1);
	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, "fifth", 5), 0);
	assert_int_equal(store_object_exists(t, &want), 1);
	assert_int_equal(store_txn_commit(t), 0);
	/* no garbage but "fourth", which the stand-in importer left unused */
	assert_int_equal(store_gc(c->s, 0, &st), 0);
	assert_int_equal(st.objects, 1);
	t = wtx(c);
	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, "fourth", 6), 0);
	assert_int_equal(store_object_exists(t, &want), 0);
	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, "fifth", 5), 0);
	assert_int_equal(store_object_exists(t, &want), 1);
	assert_int_equal(store_wt_read(t, ino, 0, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "Fifth", 5);
	store_txn_abort(t);
}

static void test_rename_rules(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	struct store_inode d, sub, n;
	uint64_t replaced, gone;
	char buf[16];

	assert_int_equal(store_wt_mknode(t, c->root, "d", S_IFDIR | 0755, 0, 0, NULL, 0, &d), 0);
	assert_int_equal(store_wt_mknode(t, d.ino, "sub", S_IFDIR | 0755, 0, 0, NULL, 0, &sub), 0);
	mkfile(t, c->root, "a", "A");
	mkfile(t, c->root, "b", "B");
	/* a directory cannot move below itself */
	assert_int_equal(store_wt_rename(t, c->root, "d", sub.ino, "x", 0, &replaced), -EINVAL);
	/* over an existing file: the old target becomes an orphan */
	assert_int_equal(store_wt_rename(t, c->root, "a", c->root, "b", RENAME_NOREPLACE, &replaced), -EEXIST);
	assert_int_equal(store_wt_rename(t, c->root, "a", c->root, "b", 0, &replaced), 0);
	assert_true(replaced != 0);
	assert_int_equal(store_inode_get(t, replaced, &n), 0);
	assert_true(n.flags & STORE_INO_ORPHAN);
	assert_int_equal(store_wt_forget(t, replaced), 0);
	assert_int_equal(store_inode_get(t, replaced, &n), -ENOENT);
	assert_int_equal(store_wt_lookup(t, c->root, "b", &n), 0);
	assert_int_equal(store_wt_read(t, n.ino, 0, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'A');
	/* file over directory, non-empty directory */
	assert_int_equal(store_wt_rename(t, c->root, "b", c->root, "d", 0, &replaced), -EISDIR);
	assert_int_equal(store_wt_unlink(t, c->root, "d", 1, &gone), -ENOTEMPTY);
	assert_int_equal(store_wt_unlink(t, c->root, "b", 1, &gone), -ENOTDIR);
	assert_int_equal(store_wt_unlink(t, d.ino, "sub", 1, &gone), 0);
	assert_int_equal(store_wt_unlink(t, c->root, "d", 1, &gone), 0);
	/* every file type, and nothing that is none */
	assert_int_equal(store_wt_mknode(t, c->root, "fifo", S_IFIFO | 0644, 0, 0, NULL, 0, &n), 0);
	assert_int_equal(store_wt_mknode(t, c->root, "what", 0170000 | 0644, 0, 0, NULL, 0, &n),
			 -EINVAL);
	assert_int_equal(store_wt_mknode(t, c->root, "b", S_IFREG | 0644, 0, 0, NULL, 0, &n), -EEXIST);
	store_txn_abort(t);
}

struct seen {
	char text[4096];
};

static int log_cb(const char *line, void *arg)
{
	struct seen *s = arg;
	strncat(s->text, line, sizeof(s->text) - strlen(s->text) - 2);
	strcat(s->text, "\n");
	return 0;
}

static void test_commit_only_changed_trees(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	struct store_inode a, b, n;
	git_oid c1, c2, c3, a_tree;
	struct seen log = { { 0 } };

	assert_int_equal(store_wt_mknode(t, c->root, "a", S_IFDIR | 0755, 0, 0, NULL, 0, &a), 0);
	assert_int_equal(store_wt_mknode(t, c->root, "b", S_IFDIR | 0755, 0, 0, NULL, 0, &b), 0);
	mkfile(t, a.ino, "x", "x1");
	mkfile(t, b.ino, "y", "y1");
	mkfile(t, c->root, ".f.swp", "swap");
	mkfile(t, c->root, "notes~", "backup");
	mkfile(t, c->root, ".gitignore", "*.o\n/build/\n");
	mkfile(t, a.ino, "m.o", "object");
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &c1), 0);
	assert_false(git_oid_is_zero(&c1));

	t = wtx(c);
	assert_int_equal(store_inode_get(t, a.ino, &n), 0);
	git_oid_cpy(&a_tree, &n.id);
	assert_false(n.flags & STORE_INO_DIRTY);
	/* change only b/y: a stays clean and keeps its tree */
	assert_int_equal(store_wt_lookup(t, b.ino, "y", &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, "y2", 2, 5), 2);
	assert_int_equal(store_inode_get(t, a.ino, &n), 0);
	assert_false(n.flags & STORE_INO_DIRTY);
	assert_int_equal(store_inode_get(t, b.ino, &n), 0);
	assert_true(n.flags & STORE_INO_DIRTY);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &c2), 0);
	assert_false(git_oid_is_zero(&c2));
	t = wtx(c);
	assert_int_equal(store_inode_get(t, a.ino, &n), 0);
	assert_true(git_oid_equal(&n.id, &a_tree));
	/* a change to an ignored file commits nothing */
	assert_int_equal(store_wt_lookup(t, c->root, ".f.swp", &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, "more", 4, 6), 4);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &c3), 0);
	assert_true(git_oid_is_zero(&c3));

	assert_int_equal(store_log(c->s, "r", "HEAD", log_cb, &log), 0);
	/* newest first; the second commit names only b/y */
	assert_non_null(strstr(log.text, "M b/y"));
	assert_true(strstr(log.text, "M b/y") < strstr(log.text, "A a/x"));
	assert_null(strstr(log.text, ".swp"));
	assert_null(strstr(log.text, "notes~"));
	assert_null(strstr(log.text, "m.o"));
	assert_non_null(strstr(log.text, "A .gitignore"));
}

static void test_empty_dirs_and_symlinks_commit(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	struct store_inode d, l;
	git_oid c1;
	struct seen log = { { 0 } };

	assert_int_equal(store_wt_mknode(t, c->root, "empty", S_IFDIR | 0755, 0, 0, NULL, 0, &d), 0);
	assert_int_equal(store_wt_mknode(t, c->root, "link", S_IFLNK | 0777, 0, 0, "target/x", 0, &l), 0);
	assert_int_equal(l.size, 8);
	assert_memory_equal(l.target, "target/x", 8);
	mkfile(t, c->root, "run.sh", "#!/bin/sh\n");
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &c1), 0);
	assert_int_equal(store_log(c->s, "r", "HEAD", log_cb, &log), 0);
	assert_non_null(strstr(log.text, "A link"));
	assert_non_null(strstr(log.text, "A run.sh"));
}

/* largest_free_record - the most page numbers one LMDB free-list record holds */
static size_t largest_free_record(struct ctx *c)
{
	struct store_txn *t;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t max = 0;

	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(mdb_cursor_open(store_mdb_txn(t), 0, &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		size_t n;
		assert_true(v.mv_size >= sizeof(n));
		memcpy(&n, v.mv_data, sizeof(n));	/* an IDL: its count first */
		if (n > max)
			max = n;
	}
	mdb_cursor_close(cur);
	store_txn_abort(t);
	return max;
}

/*
 * A commit that drops the chunks of many files in its own transaction
 * leaves one huge free-list record, which every later small transaction
 * reads and rewrites whole: the daemon's creates and writes got 2-3x
 * slower after committing 10,000 files.  The commit frees them in small
 * records instead.
 */
static void test_commit_frees_in_small_records(void **state)
{
	struct ctx *c = *state;
	char name[32], body[4096];
	git_oid id;

	for (int i = 0; i < 3000; i++) {
		struct store_txn *t = wtx(c);
		struct store_inode n;
		snprintf(name, sizeof(name), "f%d", i);
		memset(body, 'a' + i % 26, sizeof(body));
		assert_int_equal(store_wt_mknode(t, c->root, name, S_IFREG | 0644, 0, 0, NULL, 0, &n),
				 0);
		assert_int_equal(store_wt_write(t, n.ino, 0, body, sizeof(body), 1),
				 (long)sizeof(body));
		assert_int_equal(store_txn_commit(t), 0);
	}
	assert_int_equal(store_wt_commit(c->s, "r", "main", &id), 0);
	/* 3000 files held 6000 chunk pages; no record may hold most of them */
	assert_true(largest_free_record(c) < 1000);
}

/* Files the commit leaves out (.gitignore, scratch names) are not hashed
 * into blobs on the way, however much they hold. */
static void test_commit_skips_ignored_content(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	struct store_inode d;
	const char *kept = "int main(void) { return 0; }\n";
	const char *obj = "an object file nobody commits\n";
	const char *out = "a build output nobody commits\n";
	const char *swp = "vim swap\n";
	git_oid id, blob;

	mkfile(t, c->root, ".gitignore", "*.o\nbuild/\n");
	mkfile(t, c->root, "main.c", kept);
	mkfile(t, c->root, "main.o", obj);
	mkfile(t, c->root, ".main.c.swp", swp);
	assert_int_equal(store_wt_mknode(t, c->root, "build", S_IFDIR | 0755, 0, 0, NULL, 0, &d), 0);
	mkfile(t, d.ino, "out", out);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &id), 0);
	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(store_object_hash(&blob, GIT_OBJECT_BLOB, kept, strlen(kept)), 0);
	assert_int_equal(store_object_exists(t, &blob), 1);
	assert_int_equal(store_object_hash(&blob, GIT_OBJECT_BLOB, obj, strlen(obj)), 0);
	assert_int_equal(store_object_exists(t, &blob), 0);
	assert_int_equal(store_object_hash(&blob, GIT_OBJECT_BLOB, out, strlen(out)), 0);
	assert_int_equal(store_object_exists(t, &blob), 0);
	assert_int_equal(store_object_hash(&blob, GIT_OBJECT_BLOB, swp, strlen(swp)), 0);
	assert_int_equal(store_object_exists(t, &blob), 0);
	store_txn_abort(t);
}

/* the log's newest commit line (the first), into OUT */
static void newest_commit(struct ctx *c, struct seen *out)
{
	char *nl;

	memset(out, 0, sizeof(*out));
	assert_int_equal(store_log(c->s, "r", "HEAD", log_cb, out), 0);
	nl = strchr(out->text, '\n');
	if (nl)
		*nl = '\0';
}

/* commit_t - commit T, then the working tree; OUT gets the newest log line */
static void commit_t(struct ctx *c, struct store_txn *t, struct seen *out)
{
	git_oid id;

	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &id), 0);
	newest_commit(c, out);
}

/*
 * Issue 19 item 7: git keeps tracked files whatever .gitignore says.
 * Adding a committed path to .gitignore must not delete it in the next
 * commit ("D build/o"); its changes and its removal are still committed,
 * while new files in the ignored places stay out.
 */
static void test_ignore_keeps_tracked_paths(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	struct store_inode build, n;
	uint64_t gone;
	struct seen log;
	git_oid id;

	assert_int_equal(store_wt_mknode(t, c->root, "build", S_IFDIR | 0755, 0, 0, NULL, 0, &build),
			 0);
	mkfile(t, build.ino, "o", "output 1");
	mkfile(t, c->root, "x.o", "object 1");
	mkfile(t, c->root, "main.c", "int main;");
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &id), 0);
	assert_false(git_oid_is_zero(&id));

	/* ignore both: nothing tracked leaves the commit */
	t = wtx(c);
	mkfile(t, c->root, ".gitignore", "build/\n*.o\n");
	commit_t(c, t, &log);
	assert_non_null(strstr(log.text, "A .gitignore"));
	assert_null(strstr(log.text, "D build/o"));
	assert_null(strstr(log.text, "D x.o"));

	/* changes to tracked ignored files are committed; new ones are not */
	t = wtx(c);
	assert_int_equal(store_wt_lookup(t, build.ino, "o", &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, "output 2", 8, 2), 8);
	assert_int_equal(store_wt_lookup(t, c->root, "x.o", &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, "object 2", 8, 2), 8);
	mkfile(t, build.ino, "p", "untracked");
	mkfile(t, c->root, "y.o", "untracked");
	commit_t(c, t, &log);
	assert_non_null(strstr(log.text, "M build/o"));
	assert_non_null(strstr(log.text, "M x.o"));
	assert_null(strstr(log.text, "build/p"));
	assert_null(strstr(log.text, "y.o"));

	/* their removal is committed too */
	t = wtx(c);
	assert_int_equal(store_wt_unlink(t, build.ino, "o", 0, &gone), 0);
	assert_int_equal(store_wt_unlink(t, c->root, "x.o", 0, &gone), 0);
	commit_t(c, t, &log);
	assert_non_null(strstr(log.text, "D build/o"));
	assert_non_null(strstr(log.text, "D x.o"));
	assert_null(strstr(log.text, "build/p"));

	/* once untracked, the ignored files are left out like any other */
	t = wtx(c);
	mkfile(t, build.ino, "o", "output 3");
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &id), 0);
	assert_true(git_oid_is_zero(&id));
}

/* chunks - how many records the chunks table holds */
static size_t chunks(struct ctx *c)
{
	struct store_txn *t;
	MDB_stat st;

	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(mdb_stat(store_mdb_txn(t), store_dbi(t, TBL_CHUNKS), &st), 0);
	store_txn_abort(t);
	return st.ms_entries;
}

/* the content of file INO equals DATA of LEN bytes */
static void same_content(struct ctx *c, uint64_t ino, const char *data, size_t len)
{
	struct store_txn *t;
	char *back = malloc(len + 1);

	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(store_wt_read(t, ino, 0, back, len + 1), (long)len);
	assert_memory_equal(back, data, len);
	store_txn_abort(t);
	free(back);
}

/*
 * A large file's commit hands the chunks it was written in to a chunked
 * blob instead of copying them into one value: the chunks table keeps the
 * same records, the id is git's, the old blob stays readable after an
 * edit, the same content committed again is stored once, a hole reads as
 * zeros, fsck checks the chunks, and deleting the blob deletes them.
 */
static void test_large_file_keeps_its_chunks(void **state)
{
	struct ctx *c = *state;
	size_t len = 3 * STORE_BLOB_CHUNKED_MIN + 7, nchunks = (len + STORE_WT_CHUNK - 1) / STORE_WT_CHUNK;
	char *data = malloc(len), *back = malloc(len);
	struct store_txn *t = wtx(c);
	struct store_inode n;
	git_oid commit, want, first;
	const void *body;
	size_t blen, before;
	uint64_t ino, twin, hole, size, gone;
	FILE *devnull = fopen("/dev/null", "w");

	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 7 + i / 4096);
	ino = mkfile(t, c->root, "big", NULL);
	for (size_t off = 0; off < len; off += 100000) {
		size_t n_here = len - off < 100000 ? len - off : 100000;
		assert_int_equal(store_wt_write(t, ino, off, data + off, n_here, 1), (long)n_here);
	}
	assert_int_equal(store_txn_commit(t), 0);
	before = chunks(c);
	assert_int_equal(before, nchunks);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &commit), 0);
	assert_int_equal(chunks(c), before);	/* nothing copied, nothing freed */

	assert_int_equal(store_object_hash(&want, GIT_OBJECT_BLOB, data, len), 0);
	t = wtx(c);
	assert_int_equal(store_inode_get(t, ino, &n), 0);
	assert_true(git_oid_equal(&n.id, &want));
	assert_false(n.flags & STORE_INO_CHUNKS);
	assert_true(n.owner != ino);
	assert_int_equal(store_object_read(t, &want, NULL, &body, &blen), -E2BIG);
	assert_int_equal(store_object_info(t, &want, NULL, &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(store_object_copy(t, &want, 0, back, len), (long)len);
	assert_memory_equal(back, data, len);
	assert_int_equal(store_object_copy(t, &want, len - 3, back, 100), 3);
	assert_memory_equal(back, data + len - 3, 3);

	/* an edit over the chunked base, then a second commit */
	assert_int_equal(store_wt_write(t, ino, STORE_WT_CHUNK - 2, "EDIT", 4, 2), 4);
	assert_int_equal(store_txn_commit(t), 0);
	memcpy(back, data, len);
	memcpy(back + STORE_WT_CHUNK - 2, "EDIT", 4);
	same_content(c, ino, back, len);
	git_oid_cpy(&first, &want);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &commit), 0);
	same_content(c, ino, back, len);
	t = wtx(c);
	assert_int_equal(store_object_copy(t, &first, 0, back, len), (long)len);
	assert_memory_equal(back, data, len);	/* the old one is intact */
	assert_int_equal(chunks(c), 2 * nchunks);

	/* the same content again: stored once, the new file's chunks go */
	twin = mkfile(t, c->root, "twin", NULL);
	assert_int_equal(store_wt_write(t, twin, 0, data, len, 3), (long)len);
	/* a sparse file: its first and last byte */
	hole = mkfile(t, c->root, "hole", NULL);
	assert_int_equal(store_wt_write(t, hole, 0, "a", 1, 3), 1);
	assert_int_equal(store_wt_write(t, hole, 2 * STORE_BLOB_CHUNKED_MIN - 1, "z", 1, 3), 1);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &commit), 0);
	assert_int_equal(chunks(c), 2 * nchunks + 2 * STORE_BLOB_CHUNKED_MIN / STORE_WT_CHUNK);
	same_content(c, twin, data, len);
	memset(back, 0, 2 * STORE_BLOB_CHUNKED_MIN);
	back[0] = 'a';
	back[2 * STORE_BLOB_CHUNKED_MIN - 1] = 'z';
	same_content(c, hole, back, 2 * STORE_BLOB_CHUNKED_MIN);
	assert_int_equal(store_fsck(c->s, devnull, NULL), 0);

	/* a lost chunk is damage fsck names; deleting the blob drops them all */
	t = wtx(c);
	assert_int_equal(store_inode_get(t, twin, &n), 0);
	assert_true(git_oid_equal(&n.id, &first));
	assert_int_equal(store_object_owner(t, &first, &gone), 0);
	{
		unsigned char key[16];
		store_be64_put(key, gone);
		store_be64_put(key + 8, 5);
		assert_int_equal(store_del(t, TBL_CHUNKS, key, 16), 0);
	}
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_fsck(c->s, devnull, NULL), -EIO);
	t = wtx(c);
	assert_true(store_object_copy(t, &first, 0, back, len) < 0);
	assert_int_equal(store_object_delete(t, &first), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(chunks(c), nchunks + 2 * STORE_BLOB_CHUNKED_MIN / STORE_WT_CHUNK);
	fclose(devnull);
	free(data);
	free(back);
}

/*
 * A commit never visits ignored directories, so their dirty flags stay
 * set below a parent the commit cleaned: .git of a clone written in twice
 * (issue 16), an untracked build/ directory.  fsck must not call that
 * damage, but still must when a directory a commit takes is dirty below a
 * clean parent; and such an ignored directory taken into a commit later
 * (renamed to a name nothing ignores) is committed whole.
 */
static void test_ignored_dirty_dirs(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	struct store_inode g, dotgit, objs, ab, build, out, n;
	uint64_t replaced;
	struct seen log = { { 0 } };
	git_oid id;

	assert_int_equal(store_wt_mknode(t, c->root, "g", S_IFDIR | 0755, 0, 0, NULL, 0, &g), 0);
	assert_int_equal(store_wt_mknode(t, g.ino, ".git", S_IFDIR | 0755, 0, 0, NULL, 0, &dotgit), 0);
	assert_int_equal(store_wt_mknode(t, dotgit.ino, "objects", S_IFDIR | 0755, 0, 0, NULL, 0, &objs), 0);
	assert_int_equal(store_wt_mknode(t, objs.ino, "ab", S_IFDIR | 0755, 0, 0, NULL, 0, &ab), 0);
	mkfile(t, ab.ino, "one", "1");
	mkfile(t, g.ino, ".gitignore", "/build/\n");
	assert_int_equal(store_wt_mknode(t, g.ino, "build", S_IFDIR | 0755, 0, 0, NULL, 0, &build), 0);
	assert_int_equal(store_wt_mknode(t, build.ino, "out", S_IFDIR | 0755, 0, 0, NULL, 0, &out), 0);
	mkfile(t, out.ino, "a.o", "o");
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &id), 0);
	assert_false(git_oid_is_zero(&id));
	/* a second write into each: nothing to commit, nothing damaged */
	t = wtx(c);
	mkfile(t, ab.ino, "two", "2");
	mkfile(t, out.ino, "b.o", "o");
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &id), 0);
	assert_true(git_oid_is_zero(&id));
	assert_int_equal(store_fsck(c->s, stderr, NULL), 0);

	/* renamed to a name nothing ignores, the whole directory is committed */
	t = wtx(c);
	assert_int_equal(store_wt_rename(t, g.ino, ".git", g.ino, "git2", 0, &replaced), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &id), 0);
	assert_false(git_oid_is_zero(&id));
	assert_int_equal(store_log(c->s, "r", "HEAD", log_cb, &log), 0);
	assert_non_null(strstr(log.text, "A g/git2/objects/ab/one"));
	assert_non_null(strstr(log.text, "A g/git2/objects/ab/two"));
	assert_int_equal(store_fsck(c->s, stderr, NULL), 0);

	/* a directory a commit takes, dirty below a clean parent, is damage */
	t = wtx(c);
	assert_int_equal(store_inode_get(t, objs.ino, &n), 0);
	assert_false(n.flags & STORE_INO_DIRTY);
	n.flags |= STORE_INO_DIRTY;
	assert_int_equal(store_inode_put(t, &n), 0);
	assert_int_equal(store_txn_commit(t), 0);
	fprintf(stderr, "# a problem expected:\n");
	assert_int_equal(store_fsck(c->s, stderr, NULL), -EIO);
}

/* times an inode record holds exactly, and the ones it refuses */
static uint32_t nlink_of(struct store_txn *t, uint64_t ino)
{
	struct store_inode n;
	uint32_t nlink;

	assert_int_equal(store_inode_get(t, ino, &n), 0);
	assert_int_equal(store_wt_nlink(t, &n, &nlink), 0);
	return nlink;
}

/* hard links: names counted, the record's own name removed and renamed,
 * a rename onto another name of the file, and what the commit records */
static void test_hard_links(void **state)
{
	struct ctx *c = *state;
	struct store_txn *t = wtx(c);
	struct store_inode d, n, f;
	struct store_extra x;
	uint64_t gone, replaced;
	git_oid commit, second;
	FILE *devnull = fopen("/dev/null", "w");
	uint64_t a = mkfile(t, c->root, "a", "shared");

	assert_int_equal(store_wt_mknode(t, c->root, "d", S_IFDIR | 0755, 0, 0, NULL, 0, &d), 0);
	assert_int_equal(store_wt_link(t, a, c->root, "b", &n), 0);
	assert_int_equal(store_wt_link(t, a, d.ino, "c", &n), 0);
	assert_int_equal(nlink_of(t, a), 3);
	assert_int_equal(store_wt_link(t, a, c->root, "b", &n), -EEXIST);
	assert_int_equal(store_wt_link(t, d.ino, c->root, "d2", &n), -EPERM);
	/* the record's own name goes: another takes its place */
	assert_int_equal(store_wt_unlink(t, c->root, "a", 0, &gone), 0);
	assert_int_equal(gone, 0);
	assert_int_equal(nlink_of(t, a), 2);
	assert_int_equal(store_wt_rename(t, d.ino, "c", c->root, "c", 0, &replaced), 0);
	/* b and c are one file: the rename does nothing */
	assert_int_equal(store_wt_rename(t, c->root, "b", c->root, "c", 0, &replaced), 0);
	assert_int_equal(replaced, 0);
	assert_int_equal(store_wt_lookup(t, c->root, "b", &n), 0);
	assert_int_equal(n.ino, a);
	assert_int_equal(store_wt_mknode(t, d.ino, "fifo", S_IFIFO | 0640, 5, 6, NULL, 0, &f), 0);
	assert_int_equal(store_wt_mknode(t, c->root, "null", S_IFCHR | 0600, 0, 0, NULL, 0x103, &f),
			 0);
	assert_int_equal(store_inode_get(t, f.ino, &f), 0);
	assert_int_equal(f.rdev, 0x103);
	assert_int_equal(store_txn_commit(t), 0);

	assert_int_equal(store_wt_commit(c->s, "r", "main", &commit), 0);
	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(store_extras_find(t, &commit, "b", &x), 0);
	assert_int_equal(x.group, a);
	assert_int_equal(x.nlink, 2);
	assert_int_equal(store_extras_find(t, &commit, "d/fifo", &x), 0);
	assert_int_equal(x.mode, S_IFIFO | 0640);
	assert_int_equal(x.uid, 5);
	assert_int_equal(store_extras_find(t, &commit, "null", &x), 0);
	assert_int_equal(x.rdev, 0x103);
	assert_int_equal(store_extras_find(t, &commit, "a", &x), -ENOENT);
	store_txn_abort(t);

	/* the last link goes: a plain file again, and a commit of that alone */
	t = wtx(c);
	assert_int_equal(store_wt_unlink(t, c->root, "c", 0, &gone), 0);
	assert_int_equal(nlink_of(t, a), 1);
	assert_int_equal(store_inode_get(t, a, &n), 0);
	assert_false(n.flags & STORE_INO_LINKS);
	assert_int_equal(store_wt_unlink(t, d.ino, "fifo", 0, &gone), 0);
	assert_int_equal(gone, f.ino - 1);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(c->s, "r", "main", &second), 0);
	assert_false(git_oid_is_zero(&second));
	assert_int_equal(store_txn_begin(&t, c->s, 0), 0);
	assert_int_equal(store_extras_find(t, &second, "b", &x), -ENOENT);
	assert_int_equal(store_extras_find(t, &second, "d/fifo", &x), -ENOENT);
	assert_int_equal(store_extras_find(t, &second, "null", &x), 0);
	/* d holds nothing of the kind any more: the next commit skips it */
	assert_int_equal(store_inode_get(t, d.ino, &d), 0);
	assert_false(d.flags & STORE_INO_EXTRAS);
	store_txn_abort(t);
	assert_int_equal(store_fsck(c->s, devnull, NULL), 0);
	fclose(devnull);
}

static void test_time_range(void **state)
{
	int64_t ns = 0;

	(void)state;
	assert_int_equal(store_time_ns(&ns, -1, 500000000), 0);
	assert_int_equal(ns, -500000000);
	assert_int_equal(store_time_ns(&ns, 7258118400, 5), 0);	/* 2200 */
	assert_int_equal(ns, 7258118400000000005);
	assert_int_equal(store_time_ns(&ns, INT64_MAX / 1000000000, 854775807), 0);
	assert_int_equal(ns, INT64_MAX);
	assert_int_equal(store_time_ns(&ns, INT64_MIN / 1000000000 - 1, 145224192), 0);
	assert_int_equal(ns, INT64_MIN);
	ns = 42;
	assert_int_equal(store_time_ns(&ns, INT64_MAX / 1000000000, 854775808), -EOVERFLOW);
	assert_int_equal(store_time_ns(&ns, 100000000000, 0), -EOVERFLOW);	/* 5138 */
	assert_int_equal(store_time_ns(&ns, -10000000000, 0), -EOVERFLOW);	/* 1653 */
	assert_int_equal(store_time_ns(&ns, INT64_MIN / 1000000000 - 1, 145224191), -EOVERFLOW);
	assert_int_equal(store_time_ns(&ns, 0, 1000000000), -EINVAL);
	assert_int_equal(store_time_ns(&ns, 0, -1), -EINVAL);
	assert_int_equal(ns, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chunks_and_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_write_is_the_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_only_changed_trees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_dirs_and_symlinks_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_frees_in_small_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_skips_ignored_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ignore_keeps_tracked_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_file_keeps_its_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ignored_dirty_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hard_links, setup, teardown),
		cmocka_unit_test(test_time_range),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	git_libgit2_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
