/*
 * test_util.c - the util/ library: capped buffers, arrays, hash sets,
 * path walking and gitignore matching.
 *
 * The gitignore table's expected verdicts were taken from git 2.39's
 * `git check-ignore -v -n --no-index` run on each case (the .gitignore in
 * BASE, the path created as a file or a directory); the test itself never
 * runs git.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/array.h"
#include "util/buf.h"
#include "util/hashset.h"
#include "util/ignore.h"
#include "util/path.h"

/* ---- buf ---------------------------------------------------------------- */

static void test_buf_append_and_cap(void **state)
{
	struct util_buf b = UTIL_BUF_INIT(10);
	char *s;
	size_t len;

	(void)state;
	assert_string_equal(util_buf_str(&b), "");
	assert_int_equal(util_buf_add(&b, NULL, 0), 0);
	assert_int_equal(util_buf_adds(&b, "abc"), 0);
	assert_int_equal(util_buf_addf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(util_buf_str(&b), "abc42-x");
	assert_int_equal(util_buf_len(&b), 7);
	/* past the cap: refused, content unchanged */
	assert_int_equal(util_buf_adds(&b, "defg"), -EFBIG);
	assert_int_equal(util_buf_addf(&b, "%s", "1234"), -EFBIG);
	assert_string_equal(util_buf_str(&b), "abc42-x");
	/* exactly to the cap */
	assert_int_equal(util_buf_add(&b, "\0yz", 3), 0);
	assert_int_equal(util_buf_len(&b), 10);
	assert_int_equal(b.ptr[10], '\0');
	assert_int_equal(util_buf_add(&b, "!", 1), -EFBIG);
	assert_int_equal(util_buf_add(&b, NULL, 0), 0);
	s = util_buf_detach(&b, &len);
	assert_int_equal(len, 10);
	assert_memory_equal(s, "abc42-x\0yz", 11);
	free(s);
	assert_int_equal(util_buf_len(&b), 0);
	assert_null(util_buf_detach(&b, NULL));
	/* reset keeps memory; release frees it; both leave it usable */
	assert_int_equal(util_buf_adds(&b, "again"), 0);
	util_buf_reset(&b);
	assert_string_equal(util_buf_str(&b), "");
	assert_int_equal(util_buf_adds(&b, "more"), 0);
	util_buf_release(&b);
	assert_int_equal(util_buf_adds(&b, "after"), 0);
	assert_string_equal(util_buf_str(&b), "after");
	util_buf_release(&b);
}

static void test_buf_grows(void **state)
{
	struct util_buf b;

	(void)state;
	util_buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(util_buf_addf(&b, "%04d,", i % 10000), 0);
	assert_int_equal(util_buf_len(&b), 50000);
	assert_memory_equal(util_buf_str(&b) + 5 * 9999, "9999,", 6);
	util_buf_release(&b);
	/* a cap of SIZE_MAX is no cap, and must not overflow */
	util_buf_init(&b, SIZE_MAX - 1);
	assert_int_equal(util_buf_adds(&b, "x"), 0);
	assert_int_equal(util_buf_add(&b, "y", SIZE_MAX - 1), -EFBIG);
	util_buf_release(&b);
}

/* ---- array -------------------------------------------------------------- */

struct pair {
	int key;
	char name[8];
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	return (x->key > y->key) - (x->key < y->key);
}

static void test_array(void **state)
{
	struct util_array a = UTIL_ARRAY_INIT(struct pair);
	struct pair key = { .key = 1234 }, *found;
	int sum = 0, n = 0;

	(void)state;
	assert_int_equal(util_array_len(&a), 0);
	UTIL_ARRAY_FOREACH(&a, struct pair, p)
		n++;	/* none on an empty array */
	assert_int_equal(n, 0);
	assert_null(util_array_bsearch(&a, &key, pair_cmp));
	assert_int_equal(util_array_reserve(&a, 3), 0);
	assert_true(a.cap >= 3);
	for (int i = 0; i < 5000; i++) {
		struct pair *p = UTIL_ARRAY_PUSH(&a, struct pair);
		assert_non_null(p);
		assert_int_equal(p->key, 0);	/* zero-filled */
		p->key = (i * 7919) % 5000;
		snprintf(p->name, sizeof(p->name), "%d", i);
	}
	assert_int_equal(util_array_len(&a), 5000);
	assert_int_equal(UTIL_ARRAY_AT(&a, struct pair, 1)->key, 7919 % 5000);
	util_array_sort(&a, pair_cmp);
	UTIL_ARRAY_FOREACH(&a, struct pair, p) {
		assert_int_equal(p->key, n++);
		sum += p->key;
	}
	assert_int_equal(sum, 5000 * 4999 / 2);
	found = util_array_bsearch(&a, &key, pair_cmp);
	assert_non_null(found);
	assert_int_equal(found->key, 1234);
	key.key = 5000;
	assert_null(util_array_bsearch(&a, &key, pair_cmp));
	assert_int_equal(util_array_reserve(&a, SIZE_MAX / 2), -ENOMEM);
	util_array_release(&a);
	assert_int_equal(util_array_len(&a), 0);
	assert_non_null(UTIL_ARRAY_PUSH(&a, struct pair));
	util_array_release(&a);
}

/* ---- hashset ------------------------------------------------------------ */

static void test_hashset(void **state)
{
	struct util_hashset s = UTIL_HASHSET_INIT(20);
	unsigned char zero[20] = { 0 }, id[20];

	(void)state;
	assert_int_equal(util_hashset_has(&s, zero), 0);
	/* the all-zero key is a key like any other */
	assert_int_equal(util_hashset_add(&s, zero), 1);
	assert_int_equal(util_hashset_has(&s, zero), 1);
	assert_int_equal(util_hashset_add(&s, zero), 0);
	for (uint32_t i = 1; i <= 20000; i++) {
		memset(id, 0, sizeof(id));
		memcpy(id + 16, &i, sizeof(i));	/* structured keys, mostly zeros */
		assert_int_equal(util_hashset_add(&s, id), 1);
	}
	assert_int_equal(util_hashset_count(&s), 20001);
	for (uint32_t i = 1; i <= 20000; i++) {
		memset(id, 0, sizeof(id));
		memcpy(id + 16, &i, sizeof(i));
		assert_int_equal(util_hashset_has(&s, id), 1);
		assert_int_equal(util_hashset_add(&s, id), 0);
		id[0] = 1;
		assert_int_equal(util_hashset_has(&s, id), 0);
	}
	assert_int_equal(util_hashset_has(&s, zero), 1);
	assert_int_equal(util_hashset_count(&s), 20001);
	util_hashset_release(&s);
	assert_int_equal(util_hashset_count(&s), 0);
	assert_int_equal(util_hashset_has(&s, zero), 0);

	/* 8-byte keys: inode numbers */
	util_hashset_init(&s, sizeof(uint64_t));
	for (uint64_t ino = 0; ino < 100; ino++)
		assert_int_equal(util_hashset_add(&s, &ino), 1);
	assert_int_equal(util_hashset_count(&s), 100);
	util_hashset_release(&s);
}

/* ---- path --------------------------------------------------------------- */

static void test_path_split(void **state)
{
	struct util_path_part parts[8];
	struct util_path_limits lim = { .max_len = 20, .max_name = 5, .max_depth = 3 };
	size_t n;

	(void)state;
	assert_int_equal(util_path_split(parts, 8, &n, "a/bc/def", 0, NULL), 0);
	assert_int_equal(n, 3);
	assert_int_equal(parts[1].len, 2);
	assert_memory_equal(parts[1].name, "bc", 2);
	assert_int_equal(util_path_split(parts, 8, &n, "", 0, NULL), 0);
	assert_int_equal(n, 0);
	/* refused unless asked for */
	assert_int_equal(util_path_split(parts, 8, &n, "a//b", 0, NULL), -EINVAL);
	assert_int_equal(util_path_split(parts, 8, &n, "a/", 0, NULL), -EINVAL);
	assert_int_equal(util_path_split(parts, 8, &n, "./a", 0, NULL), -EINVAL);
	assert_int_equal(util_path_split(parts, 8, &n, "a/../b", 0, NULL), -EINVAL);
	assert_int_equal(util_path_split(parts, 8, &n, "..", 0, NULL), -EINVAL);
	assert_int_equal(util_path_split(parts, 8, &n, "/a", 0, NULL), -EINVAL);
	assert_int_equal(util_path_split(parts, 8, &n, "a//./b/", UTIL_PATH_SKIP_EMPTY, NULL), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(parts[1].name, "b", 1);
	assert_int_equal(util_path_split(parts, 8, &n, "/a/b", UTIL_PATH_ALLOW_ABSOLUTE, NULL), 0);
	assert_int_equal(n, 2);
	assert_int_equal(util_path_split(parts, 8, &n, "a/../b", UTIL_PATH_ALLOW_DOTDOT, NULL), 0);
	assert_int_equal(n, 3);
	assert_int_equal(parts[1].len, 2);
	/* "..." and ".x" are names */
	assert_int_equal(util_path_split(parts, 8, &n, ".../.x", 0, NULL), 0);
	assert_int_equal(n, 2);
	/* limits */
	assert_int_equal(util_path_split(parts, 8, &n, "a/b/c", 0, &lim), 0);
	assert_int_equal(util_path_split(parts, 8, &n, "a/b/c/d", 0, &lim), -ENAMETOOLONG);
	assert_int_equal(util_path_split(parts, 8, &n, "abcdef", 0, &lim), -ENAMETOOLONG);
	assert_int_equal(util_path_split(parts, 8, &n, "abcd/abcd/abcd/abcd", 0, &lim),
			 -ENAMETOOLONG);
	assert_int_equal(util_path_split(parts, 8, &n, "a/b/c/d/e/f/g/h/i", 0, NULL),
			 -ENAMETOOLONG);
}

static void test_path_join_normalize(void **state)
{
	struct util_buf b = UTIL_BUF_INIT(16);
	struct util_path_limits lim = { .max_depth = 2 };

	(void)state;
	assert_int_equal(util_path_join(&b, "a", 1), 0);
	assert_int_equal(util_path_join(&b, "bc", 2), 0);
	assert_string_equal(util_buf_str(&b), "a/bc");
	assert_int_equal(util_path_join(&b, "0123456789ab", 12), -EFBIG);
	assert_string_equal(util_buf_str(&b), "a/bc");
	util_buf_release(&b);

	assert_int_equal(util_path_normalize(&b, "a//./b/../c/", UTIL_PATH_SKIP_EMPTY |
					     UTIL_PATH_ALLOW_DOTDOT, NULL), 0);
	assert_string_equal(util_buf_str(&b), "a/c");
	util_buf_reset(&b);
	assert_int_equal(util_path_normalize(&b, "/x/y/../../z", UTIL_PATH_ALLOW_ABSOLUTE |
					     UTIL_PATH_ALLOW_DOTDOT, NULL), 0);
	assert_string_equal(util_buf_str(&b), "z");
	util_buf_reset(&b);
	assert_int_equal(util_path_normalize(&b, "a/..", UTIL_PATH_ALLOW_DOTDOT, NULL), 0);
	assert_string_equal(util_buf_str(&b), "");
	/* above the top, or refused components: OUT is left as it was */
	assert_int_equal(util_buf_adds(&b, "keep"), 0);
	assert_int_equal(util_path_normalize(&b, "a/../..", UTIL_PATH_ALLOW_DOTDOT, NULL),
			 -EINVAL);
	assert_int_equal(util_path_normalize(&b, "a/../b", 0, NULL), -EINVAL);
	assert_int_equal(util_path_normalize(&b, "a/b/c", 0, &lim), -ENAMETOOLONG);
	assert_string_equal(util_buf_str(&b), "keep");
	assert_int_equal(util_path_normalize(&b, "0123456789abcdef", 0, NULL), -EFBIG);
	assert_string_equal(util_buf_str(&b), "keep");
	util_buf_release(&b);
}

/* ---- ignore ------------------------------------------------------------- */

struct ignore_case {
	const char *text;	/* the .gitignore */
	const char *base;	/* where it lives */
	const char *path;
	int is_dir;
	enum util_ignore_verdict expect;	/* git check-ignore's */
};

/* verified with git 2.39.5 check-ignore; see the head of this file */
static const struct ignore_case gitignore_cases[] = {
	{ "*.o\n", "", "a.o", 0, UTIL_IGNORE_EXCLUDED },
	{ "*.o\n", "", "src/deep/a.o", 0, UTIL_IGNORE_EXCLUDED },
	{ "*.o\n", "", "a.c", 0, UTIL_IGNORE_NONE },
	{ "*.o\n", "", "a.o", 1, UTIL_IGNORE_EXCLUDED },
	{ "# comment\n\n*.o\n", "", "# comment", 0, UTIL_IGNORE_NONE },
	{ "\\#hash\n", "", "#hash", 0, UTIL_IGNORE_EXCLUDED },
	{ "\\!bang\n", "", "!bang", 0, UTIL_IGNORE_EXCLUDED },
	{ "foo   \n", "", "foo", 0, UTIL_IGNORE_EXCLUDED },
	{ "foo\\ \n", "", "foo ", 0, UTIL_IGNORE_EXCLUDED },
	{ "foo\\ \n", "", "foo", 0, UTIL_IGNORE_NONE },
	{ "foo \\ \n", "", "foo  ", 0, UTIL_IGNORE_EXCLUDED },
	{ "foo\r\n", "", "foo", 0, UTIL_IGNORE_EXCLUDED },
	{ "*.log\n!keep.log\n", "", "a.log", 0, UTIL_IGNORE_EXCLUDED },
	{ "*.log\n!keep.log\n", "", "keep.log", 0, UTIL_IGNORE_INCLUDED },
	{ "!keep.log\n*.log\n", "", "keep.log", 0, UTIL_IGNORE_EXCLUDED },
	{ "build/\n!build/keep\n", "", "build/keep", 0, UTIL_IGNORE_EXCLUDED },
	{ "build/\n!build/keep\n", "", "build", 1, UTIL_IGNORE_EXCLUDED },
	{ "build/*\n!build/keep\n", "", "build/keep", 0, UTIL_IGNORE_INCLUDED },
	{ "build/*\n!build/keep\n", "", "build/other", 0, UTIL_IGNORE_EXCLUDED },
	{ "/top\n", "", "top", 0, UTIL_IGNORE_EXCLUDED },
	{ "/top\n", "", "sub/top", 0, UTIL_IGNORE_NONE },
	{ "doc/frotz\n", "", "doc/frotz", 0, UTIL_IGNORE_EXCLUDED },
	{ "doc/frotz\n", "", "a/doc/frotz", 0, UTIL_IGNORE_NONE },
	{ "frotz/\n", "", "frotz", 1, UTIL_IGNORE_EXCLUDED },
	{ "frotz/\n", "", "frotz", 0, UTIL_IGNORE_NONE },
	{ "frotz/\n", "", "a/frotz", 1, UTIL_IGNORE_EXCLUDED },
	{ "frotz/\n", "", "frotz/x", 0, UTIL_IGNORE_EXCLUDED },
	{ "doc/\n", "", "a/doc/x", 0, UTIL_IGNORE_EXCLUDED },
	{ "a/*.c\n", "", "a/x.c", 0, UTIL_IGNORE_EXCLUDED },
	{ "a/*.c\n", "", "a/b/x.c", 0, UTIL_IGNORE_NONE },
	{ "a?c\n", "", "abc", 0, UTIL_IGNORE_EXCLUDED },
	{ "a?c\n", "", "a/c", 0, UTIL_IGNORE_NONE },
	{ "a?c\n", "", "ac", 0, UTIL_IGNORE_NONE },
	{ "[abc].txt\n", "", "b.txt", 0, UTIL_IGNORE_EXCLUDED },
	{ "[abc].txt\n", "", "d.txt", 0, UTIL_IGNORE_NONE },
	{ "[!abc].txt\n", "", "d.txt", 0, UTIL_IGNORE_EXCLUDED },
	{ "[^abc].txt\n", "", "a.txt", 0, UTIL_IGNORE_NONE },
	{ "[a-c]x\n", "", "bx", 0, UTIL_IGNORE_EXCLUDED },
	{ "[a-c]x\n", "", "dx", 0, UTIL_IGNORE_NONE },
	{ "[[:digit:]]*\n", "", "7up", 0, UTIL_IGNORE_EXCLUDED },
	{ "[[:digit:]]*\n", "", "up7", 0, UTIL_IGNORE_NONE },
	{ "[]]x\n", "", "]x", 0, UTIL_IGNORE_EXCLUDED },
	{ "x[\\]]\n", "", "x]", 0, UTIL_IGNORE_EXCLUDED },
	{ "**/foo\n", "", "foo", 0, UTIL_IGNORE_EXCLUDED },
	{ "**/foo\n", "", "a/b/foo", 0, UTIL_IGNORE_EXCLUDED },
	{ "**/foo/bar\n", "", "x/foo/bar", 0, UTIL_IGNORE_EXCLUDED },
	{ "**/foo/bar\n", "", "foo/bar", 0, UTIL_IGNORE_EXCLUDED },
	{ "foo/**\n", "", "foo/a/b", 0, UTIL_IGNORE_EXCLUDED },
	{ "foo/**\n", "", "foo", 1, UTIL_IGNORE_NONE },
	{ "foo/**\n", "", "foo/a", 1, UTIL_IGNORE_EXCLUDED },
	{ "a/**/b\n", "", "a/b", 0, UTIL_IGNORE_EXCLUDED },
	{ "a/**/b\n", "", "a/x/b", 0, UTIL_IGNORE_EXCLUDED },
	{ "a/**/b\n", "", "a/x/y/b", 0, UTIL_IGNORE_EXCLUDED },
	{ "a/**/b\n", "", "a/x/y/c", 0, UTIL_IGNORE_NONE },
	{ "a**b\n", "", "axxb", 0, UTIL_IGNORE_EXCLUDED },
	{ "a/**b\n", "", "a/x/b", 0, UTIL_IGNORE_NONE },
	{ "a/**b\n", "", "a/xb", 0, UTIL_IGNORE_EXCLUDED },
	{ "**\n", "", "anything/at/all", 0, UTIL_IGNORE_EXCLUDED },
	{ "*\n!*/\n!*.c\n", "", "dir/x.c", 0, UTIL_IGNORE_INCLUDED },
	{ "*\n!*/\n!*.c\n", "", "dir/x.h", 0, UTIL_IGNORE_EXCLUDED },
	{ "*\n!*/\n!*.c\n", "", "dir", 1, UTIL_IGNORE_INCLUDED },
	{ "foo\n", "sub", "sub/foo", 0, UTIL_IGNORE_EXCLUDED },
	{ "foo\n", "sub", "foo", 0, UTIL_IGNORE_NONE },
	{ "foo\n", "sub", "sub/x/foo", 0, UTIL_IGNORE_EXCLUDED },
	{ "/foo\n", "sub", "sub/foo", 0, UTIL_IGNORE_EXCLUDED },
	{ "/foo\n", "sub", "sub/x/foo", 0, UTIL_IGNORE_NONE },
	{ "x/foo\n", "sub", "sub/x/foo", 0, UTIL_IGNORE_EXCLUDED },
	{ "x/foo\n", "sub", "x/foo", 0, UTIL_IGNORE_NONE },
	{ "*.o\n!/a.o\n", "sub", "sub/a.o", 0, UTIL_IGNORE_INCLUDED },
	{ "*.o\n!/a.o\n", "sub", "sub/b/a.o", 0, UTIL_IGNORE_EXCLUDED },
	{ "\\*star\n", "", "*star", 0, UTIL_IGNORE_EXCLUDED },
	{ "\\*star\n", "", "xstar", 0, UTIL_IGNORE_NONE },
	{ "*.[oa]\n", "", "lib.a", 0, UTIL_IGNORE_EXCLUDED },
	{ "*.[oa]\n", "", "lib.so", 0, UTIL_IGNORE_NONE },
	{ "/*.c\n", "", "cat-file.c", 0, UTIL_IGNORE_EXCLUDED },
	{ "/*.c\n", "", "mozilla-sha1/sha1.c", 0, UTIL_IGNORE_NONE },
	{ "!\n", "", "!", 0, UTIL_IGNORE_NONE },
	{ "/\n", "", "x", 0, UTIL_IGNORE_NONE },
};

static void test_gitignore_like_git(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(gitignore_cases) / sizeof(gitignore_cases[0]); i++) {
		const struct ignore_case *c = &gitignore_cases[i];
		struct util_ignore *ig;
		enum util_ignore_verdict v;

		assert_int_equal(util_ignore_compile(&ig, c->text, strlen(c->text), c->base, 0), 0);
		v = util_ignore_check(ig, c->path, c->is_dir);
		if (v != c->expect)
			print_error("case %zu: '%s' in '%s' for '%s': got %d, git says %d\n", i,
				    c->text, c->base, c->path, (int)v, (int)c->expect);
		assert_int_equal(v, c->expect);
		util_ignore_free(ig);
	}
}

static void test_ignore_match_alone(void **state)
{
	const char *text = "build/\n!build/keep\n# c\n\n*.o\n";
	struct util_ignore *ig;

	(void)state;
	assert_int_equal(util_ignore_compile(&ig, text, strlen(text), NULL, 0), 0);
	assert_int_equal(util_ignore_count(ig), 3);
	/* the path alone: the walker never gets here, git check-ignore would
	 * say excluded because of build/ */
	assert_int_equal(util_ignore_match(ig, "build/keep", 0), UTIL_IGNORE_INCLUDED);
	assert_int_equal(util_ignore_check(ig, "build/keep", 0), UTIL_IGNORE_EXCLUDED);
	assert_int_equal(util_ignore_match(ig, "build", 1), UTIL_IGNORE_EXCLUDED);
	assert_int_equal(util_ignore_match(ig, "build", 0), UTIL_IGNORE_NONE);
	assert_int_equal(util_ignore_match(ig, "x/y.o", 0), UTIL_IGNORE_EXCLUDED);
	util_ignore_free(ig);
	util_ignore_free(NULL);

	/* no trailing newline, a byte-order mark, CRLF */
	text = "\xef\xbb\xbf*.tmp\r\n/only";
	assert_int_equal(util_ignore_compile(&ig, text, strlen(text), "", 0), 0);
	assert_int_equal(util_ignore_count(ig), 2);
	assert_int_equal(util_ignore_match(ig, "a.tmp", 0), UTIL_IGNORE_EXCLUDED);
	assert_int_equal(util_ignore_match(ig, "only", 0), UTIL_IGNORE_EXCLUDED);
	assert_int_equal(util_ignore_match(ig, "d/only", 0), UTIL_IGNORE_NONE);
	util_ignore_free(ig);

	/* a list whose base is a prefix of another name says nothing there */
	assert_int_equal(util_ignore_compile(&ig, "x\n", 2, "sub", 0), 0);
	assert_int_equal(util_ignore_match(ig, "subway/x", 0), UTIL_IGNORE_NONE);
	assert_int_equal(util_ignore_match(ig, "sub", 1), UTIL_IGNORE_NONE);
	assert_int_equal(util_ignore_match(ig, "sub/x", 0), UTIL_IGNORE_EXCLUDED);
	util_ignore_free(ig);
}

static void test_dockerignore_anchored(void **state)
{
	const char *text = "node_modules\n*.md\n!README.md\n/tmp/\n";
	struct util_ignore *ig;

	(void)state;
	assert_int_equal(util_ignore_compile(&ig, text, strlen(text), "", UTIL_IGNORE_ANCHORED),
			 0);
	assert_int_equal(util_ignore_check(ig, "node_modules", 1), UTIL_IGNORE_EXCLUDED);
	assert_int_equal(util_ignore_check(ig, "node_modules/x/y", 0), UTIL_IGNORE_EXCLUDED);
	assert_int_equal(util_ignore_check(ig, "app/node_modules", 1), UTIL_IGNORE_NONE);
	assert_int_equal(util_ignore_check(ig, "CHANGES.md", 0), UTIL_IGNORE_EXCLUDED);
	assert_int_equal(util_ignore_check(ig, "docs/CHANGES.md", 0), UTIL_IGNORE_NONE);
	assert_int_equal(util_ignore_check(ig, "README.md", 0), UTIL_IGNORE_INCLUDED);
	assert_int_equal(util_ignore_check(ig, "tmp", 1), UTIL_IGNORE_EXCLUDED);
	util_ignore_free(ig);
}

static void test_ignore_limits(void **state)
{
	struct util_ignore *ig = (struct util_ignore *)1;
	size_t big = UTIL_IGNORE_TEXT_MAX + 1;
	char *text = malloc(big);

	(void)state;
	memset(text, '\n', big);
	assert_int_equal(util_ignore_compile(&ig, text, big, "", 0), -EFBIG);
	assert_null(ig);
	/* more patterns than allowed */
	for (size_t i = 0; i + 1 < UTIL_IGNORE_TEXT_MAX; i += 2) {
		text[i] = 'x';
		text[i + 1] = '\n';
	}
	assert_int_equal(util_ignore_compile(&ig, text, UTIL_IGNORE_TEXT_MAX, "", 0), -EFBIG);
	assert_null(ig);
	free(text);
}

static void test_wildmatch(void **state)
{
	static const struct {
		const char *pattern, *text;
		int match;
	} cases[] = {
		{ "foo", "foo", 1 },		{ "foo", "fo", 0 },
		{ "*", "", 1 },			{ "*", "a/b", 0 },
		{ "**", "a/b", 1 },		{ "a*", "a", 1 },
		{ "*/b", "a/b", 1 },		{ "*/b", "a/c/b", 0 },
		{ "a/**/b", "a/b", 1 },		{ "a/**/b", "a/x/y/b", 1 },
		{ "**/b", "b", 1 },		{ "a/**", "a/", 1 },
		{ "[a-", "a", 0 },		{ "[[:nope:]]", "a", 0 },
		{ "[[:alpha:]-9]", "-", 1 },	{ "[a-c-e]", "-", 1 },
		{ "[a-c-e]", "d", 0 },		{ "x\\", "x", 0 },
		{ "\\[a]", "[a]", 1 },		{ "[!/]", "/", 0 },
		{ "[[:x]", "[", 1 },		{ "a?", "a/", 0 },
		{ "*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
		{ "**a**a**a**a**a**a**b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/a", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int m = util_wildmatch(cases[i].pattern, cases[i].text);
		if (m != cases[i].match)
			print_error("'%s' ~ '%s': got %d\n", cases[i].pattern, cases[i].text, m);
		assert_int_equal(m, cases[i].match);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_and_cap),
		cmocka_unit_test(test_buf_grows),
		cmocka_unit_test(test_array),
		cmocka_unit_test(test_hashset),
		cmocka_unit_test(test_path_split),
		cmocka_unit_test(test_path_join_normalize),
		cmocka_unit_test(test_gitignore_like_git),
		cmocka_unit_test(test_ignore_match_alone),
		cmocka_unit_test(test_dockerignore_anchored),
		cmocka_unit_test(test_ignore_limits),
		cmocka_unit_test(test_wildmatch),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
