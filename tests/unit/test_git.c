/*
 * test_git.c - libgit2 over the store, git interchange and fsck: a commit
 * made in a working tree exports to a repository `git fsck --strict`
 * accepts with the same ids, imports back, and fsck finds a damaged object.
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
#include <cmocka.h>
#include <git2.h>

#include "store/commit.h"
#include "store/fsck.h"
#include "store/git.h"
#include "store/gitio.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/store_int.h"
#include "store/worktree.h"

static char dir[64];

static int setup(void **state)
{
	struct store *s;

	snprintf(dir, sizeof(dir), "/tmp/govc-git-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(&s, dir, STORE_CREATE), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	store_free(*state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s-git %s-git2", dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void make_history(struct store *s, git_oid *c2)
{
	struct store_txn *t;
	struct store_inode n, d;
	uint64_t root;
	git_oid c1;

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_repo_create(t, "r", "main"), 0);
	assert_int_equal(store_wt_root(t, "r", "main", &root), 0);
	assert_int_equal(store_wt_mknode(t, root, "run.sh", S_IFREG | 0755, 0, 0, NULL, &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, "#!/bin/sh\n", 10, 1), 10);
	assert_int_equal(store_wt_mknode(t, root, "sub", S_IFDIR | 0755, 0, 0, NULL, &d), 0);
	assert_int_equal(store_wt_mknode(t, d.ino, "link", S_IFLNK | 0777, 0, 0, "../run.sh", &n), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(s, "r", "main", &c1), 0);
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_wt_mknode(t, d.ino, "more", S_IFREG | 0644, 0, 0, NULL, &n), 0);
	assert_int_equal(store_wt_write(t, n.ino, 0, "x", 1, 1), 1);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_wt_commit(s, "r", "main", c2), 0);
	assert_false(git_oid_is_zero(c2));
}

static void test_refdb_cas(void **state)
{
	struct store *s = *state;
	git_repository *g;
	git_reference *ref = NULL;
	git_oid c2, other;

	make_history(s, &c2);
	assert_int_equal(store_git_open(&g, s, "r"), 0);
	assert_int_equal(git_reference_name_to_id(&other, g, "HEAD"), 0);
	assert_true(git_oid_equal(&other, &c2));
	/* a stale expected value is refused */
	git_oid_fromstr(&other, "ce013625030ba8dba906f756967f9e9ca394464a");
	assert_int_not_equal(git_reference_create_matching(&ref, g, "refs/heads/main", &c2, 1,
							   &other, "stale"), 0);
	/* creating an existing ref without force is refused */
	assert_int_equal(git_reference_create(&ref, g, "refs/heads/main", &c2, 0, "dup"), GIT_EEXISTS);
	assert_int_equal(git_reference_create(&ref, g, "refs/heads/topic", &c2, 0, "new"), 0);
	git_reference_free(ref);
	git_repository_free(g);
}

static void test_export_import_roundtrip(void **state)
{
	struct store *s = *state;
	char cmd[512], git[96], git2[96], head[64];
	git_oid c2;
	FILE *p;

	make_history(s, &c2);
	snprintf(git, sizeof(git), "%s-git", dir);
	assert_int_equal(store_git_export(s, "r", git), 0);
	snprintf(cmd, sizeof(cmd), "git -C %s fsck --strict >/dev/null 2>&1", git);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "git -C %s rev-parse HEAD", git);
	p = popen(cmd, "r");
	assert_non_null(fgets(head, sizeof(head), p));
	pclose(p);
	assert_int_equal(strncmp(head, git_oid_tostr_s(&c2), GIT_OID_HEXSZ), 0);
	snprintf(cmd, sizeof(cmd), "test -x %s/run.sh && test -L %s/sub/link", git, git);
	assert_int_equal(system(cmd), 0);

	/* and back, under another name: same ids, a checked-out working tree */
	assert_int_equal(store_git_import(s, git, "back"), 0);
	{
		struct store_txn *t;
		struct store_inode n;
		uint64_t root;
		git_oid id;
		assert_int_equal(store_txn_begin(&t, s, 0), 0);
		assert_int_equal(store_ref_resolve(t, "back", "HEAD", &id), 0);
		assert_true(git_oid_equal(&id, &c2));
		assert_int_equal(store_wt_root(t, "back", "main", &root), 0);
		assert_int_equal(store_wt_lookup(t, root, "run.sh", &n), 0);
		assert_int_equal(n.mode & 0777, 0755);
		store_txn_abort(t);
	}
	assert_int_equal(store_git_import(s, git, "back"), -EEXIST);
	assert_int_equal(store_git_import(s, git, "../evil"), -EINVAL);
	snprintf(git2, sizeof(git2), "%s-nope", dir);
	assert_int_equal(store_git_import(s, git2, "other"), -ENOENT);
	assert_int_equal(store_fsck(s, stderr, NULL), 0);
}

static void test_fsck_finds_damage(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	git_oid c2, blob;
	unsigned char body[16] = { GIT_OBJECT_BLOB, 'b', 'a', 'd' };

	make_history(s, &c2);
	assert_int_equal(store_fsck(s, stderr, NULL), 0);
	/* overwrite the content of "x" (sub/more) behind the store's back */
	assert_int_equal(store_object_hash(&blob, GIT_OBJECT_BLOB, "x", 1), 0);
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_put(t, TBL_OBJECTS, blob.id, GIT_OID_RAWSZ, body, 4, 0), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_fsck(s, stderr, NULL), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refdb_cas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_import_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsck_finds_damage, setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	git_libgit2_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
