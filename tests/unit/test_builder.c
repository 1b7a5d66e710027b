/*
 * test_builder.c - the Govcfile parser, expansion, plan and .dockerignore
 * rules (builder/govcfile.h).
 *
 * The expected values of the expansion tables are what Docker documents
 * (docs.docker.com "Dockerfile reference", "Environment replacement") and
 * what BuildKit's shell lexer gives for them (its tests' cases, checked by
 * hand against the rules: "..." escapes only ", $ and the escape char;
 * '...' is literal; an unset variable is empty).  The error tables check
 * every message's line number and wording.  Also: which paths of the
 * context a Govcfile reads (builder/context.h), and build records on disk
 * (builder/record.h).
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
#include <unistd.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "builder/bld_int.h"
#include "builder/build.h"
#include "builder/context.h"
#include "builder/govcfile.h"
#include "builder/record.h"
#include "store/store.h"
#include "util/ignore.h"
#include "util/limits.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct bld_file *parse_ok(const char *text)
{
	struct bld_file *f = NULL;
	struct bld_diag d;
	int rc = bld_parse(&f, text, strlen(text), &d);

	if (rc)
		print_error("parse of <<%s>> failed: %s\n", text, d.msg);
	assert_int_equal(rc, 0);
	return f;
}

static struct bld_plan *plan_ok(const char *text, const char *const *args, size_t nargs,
				const char *target)
{
	struct bld_file *f = parse_ok(text);
	struct bld_plan_opts o = { .target = target, .build_args = args, .nbuild_args = nargs };
	struct bld_plan *p = NULL;
	struct bld_diag d;
	int rc = bld_plan(&p, f, &o, &d);

	if (rc)
		print_error("plan of <<%s>> failed: %s\n", text, d.msg);
	assert_int_equal(rc, 0);
	bld_file_free(f);
	return p;
}

/* ---- expansion ---------------------------------------------------------- */

static void env_fixture(struct bld_env *env)
{
	memset(env, 0, sizeof(*env));
	assert_int_equal(bld_env_set(env, "PWD", "/home", 0), 0);
	assert_int_equal(bld_env_set(env, "SHELL", "bash", 0), 0);
	assert_int_equal(bld_env_set(env, "KOREAN", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", 0), 0);
	assert_int_equal(bld_env_set(env, "NULL", "", 0), 0);
	assert_int_equal(bld_env_set(env, "FILE", "dir/sub/name.tar.gz", 0), 0);
	assert_int_equal(bld_env_set(env, "SPACE", "abc  def", 0), 0);
	assert_int_equal(bld_env_set(env, "STAR", "*x*", 0), 0);
}

static void test_expand_table(void **state)
{
	static const struct {
		const char *in;
		const char *out;	/* NULL: an error */
	} cases[] = {
		{ "hello", "hello" },
		{ "he'll'o", "hello" },
		{ "he'llo", NULL },
		{ "he\\'llo", "he'llo" },
		{ "he\\\\'llo", NULL },
		{ "abc\\tdef", "abctdef" },
		{ "\"abc\\tdef\"", "abc\\tdef" },
		{ "\"abc\\\\tdef\"", "abc\\tdef" },
		{ "'abc\\tdef'", "abc\\tdef" },
		{ "hello\\", "hello" },
		{ "hello\\\\", "hello\\" },
		{ "\"hello", NULL },
		{ "\"hello\\\"", NULL },
		{ "\"hel'lo\"", "hel'lo" },
		{ "'hello", NULL },
		{ "'hello\\'", "hello\\" },
		{ "'hello\\there'", "hello\\there" },
		{ "\"''\"", "''" },
		{ "$.", "$." },
		{ "$", "$" },
		{ "he$1x", "hex" },
		{ "he$.x", "he$.x" },
		{ "he$pwd.", "he." },
		{ "he$PWD", "he/home" },
		{ "he\\$PWD", "he$PWD" },
		{ "he\\\\$PWD", "he\\/home" },
		{ "\"he\\$PWD\"", "he$PWD" },
		{ "\"he\\\\$PWD\"", "he\\/home" },
		{ "\\${}", "${}" },
		{ "he\\${}xx", "he${}xx" },
		{ "${}", NULL },
		{ "he${}xx", NULL },
		{ "he${hi}xx", "hexx" },
		{ "he${PWD}", "he/home" },
		{ "he${.}", NULL },
		{ "he${XXX:-000}xx", "he000xx" },
		{ "he${PWD:-000}xx", "he/homexx" },
		{ "he${XXX:-$PWD}xx", "he/homexx" },
		{ "he${XXX:-${PWD:-yyy}}xx", "he/homexx" },
		{ "he${XXX:-${YYY:-yyy}}xx", "heyyyxx" },
		{ "he${XXX:YYY}", NULL },
		{ "he${XXX?}", NULL },
		{ "he${XXX:?}", NULL },
		{ "he${PWD?}", "he/home" },
		{ "he${NULL?}", "he" },
		{ "he${NULL:?}", NULL },
		{ "he${XXX:+${PWD}}xx", "hexx" },
		{ "he${PWD:+${SHELL}}xx", "hebashxx" },
		{ "he${PWD:+000}xx", "he000xx" },
		/* without the colon, set-but-empty counts as set */
		{ "${NULL-dflt}", "" },
		{ "${NULL:-dflt}", "dflt" },
		{ "${XXX-dflt}", "dflt" },
		{ "${NULL+alt}", "alt" },
		{ "${NULL:+alt}", "" },
		{ "${XXX+alt}", "" },
		{ "'he${XX}'", "he${XX}" },
		{ "\"he${PWD}\"", "he/home" },
		{ "\"he'$PWD'\"", "he'/home'" },
		{ "'$PWD'", "$PWD" },
		{ "'\"hello\"'", "\"hello\"" },
		{ "he${PWD", NULL },
		{ "he${PWD:=000}xx", NULL },
		{ "he${PWD:+${PWD}:}xx", "he/home:xx" },
		{ "he${XXX:-\\$PWD:}xx", "he$PWD:xx" },
		{ "he${XXX:-\\${PWD}z}xx", "he${PWDz}xx" },
		{ "$KOREAN", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4" },
		{ "${{aaa}", NULL },
		{ "${aaa}}", "}" },
		{ "${aaa:-bbb}}", "bbb}" },
		{ "${aaa:-bbb", NULL },
		{ "${aaa:-bbb ${foo}", NULL },
		{ "${aaa:-bbb {foo}", "bbb {foo" },
		{ "${:}", NULL },
		{ "${:-bbb}", NULL },
		/* positional and special parameters are never set */
		{ "$1", "" }, { "${1:-bbb}", "bbb" }, { "$999aaa", "aaa" },
		{ "$@aaa", "aaa" }, { "${#:-bbb}", "bbb" }, { "$$", "" }, { "${0:+x}", "" },
		/* pattern removal */
		{ "${FILE#*/}", "sub/name.tar.gz" },
		{ "${FILE##*/}", "name.tar.gz" },
		{ "${FILE%.*}", "dir/sub/name.tar" },
		{ "${FILE%%.*}", "dir/sub/name" },
		{ "${FILE#nomatch}", "dir/sub/name.tar.gz" },
		{ "${FILE#d?r}", "/sub/name.tar.gz" },
		{ "${FILE%%/*}", "dir" },
		{ "${FILE##*}", "" },
		{ "${FILE%}", "dir/sub/name.tar.gz" },
		{ "${STAR#\\*}", "x*" },
		{ "${STAR#*}", "*x*" },
		{ "${STAR##*\\*}", "" },
		{ "${STAR%\\*}", "*x" },
		{ "${FILE:#x}", NULL },
		{ "${FILE/a/b}", NULL },
		/* quotes keep spaces; the word is one string either way */
		{ "hello\\ there", "hello there" },
		{ "\"${SPACE}\"", "abc  def" },
		{ "$SPACE", "abc  def" },
		{ "a<<  b", "a<<  b" },
	};
	struct bld_arena *a = bld_arena_new(1 << 20);
	struct bld_env env;
	char err[256];

	(void)state;
	env_fixture(&env);
	for (size_t i = 0; i < N(cases); i++) {
		char *out = NULL;
		int rc = bld_lex(a, cases[i].in, '\\', 0, &env, &out, NULL, err, sizeof(err));

		if ((rc == 0) != (cases[i].out != NULL) ||
		    (rc == 0 && strcmp(out, cases[i].out)))
			print_error("case %zu <%s>: rc %d out <%s> err <%s>\n", i, cases[i].in, rc,
				    rc ? "" : out, rc ? err : "");
		if (cases[i].out) {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].out);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_true(err[0] != '\0');
		}
	}
	/* the public entry: a malloc'd copy, or NULL and a message */
	{
		char *out = (char *)1;

		assert_int_equal(bld_expand(&out, "${PWD}/x", '\\', &env, err, sizeof(err)), 0);
		assert_string_equal(out, "/home/x");
		free(out);
		assert_int_equal(bld_expand(&out, "'a", '\\', &env, err, sizeof(err)), -EINVAL);
		assert_null(out);
		assert_string_equal(err, "unterminated quote: no matching single quote");
		assert_int_equal(bld_expand(&out, "$PWD", '\\', NULL, NULL, 0), 0);
		assert_string_equal(out, "");
		free(out);
	}
	bld_env_release(&env);
	bld_arena_free(a);
}

static void test_expand_backtick_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "c:\\dir\\$PWD", "c:\\dir\\/home" },
		{ "a`$PWD", "a$PWD" },
		{ "\"a`\"b\"", "a\"b" },
		{ "a``b", "a`b" },
	};
	struct bld_arena *a = bld_arena_new(1 << 20);
	struct bld_env env;

	(void)state;
	env_fixture(&env);
	for (size_t i = 0; i < N(cases); i++) {
		char *out;

		assert_int_equal(bld_lex(a, cases[i].in, '`', 0, &env, &out, NULL, NULL, 0), 0);
		assert_string_equal(out, cases[i].out);
	}
	bld_env_release(&env);
	bld_arena_free(a);
}

static void test_expand_words(void **state)
{
	static const struct {
		const char *in;
		const char *words;	/* joined with ',' */
	} cases[] = {
		{ "hello", "hello" },
		{ "hello${hi}bye", "hellobye" },
		{ "hello${SPACE}bye", "helloabc,defbye" },
		{ "hello\"${SPACE}\"bye", "helloabc  defbye" },
		{ "hello \"${SPACE}\"bye", "hello,abc  defbye" },
		{ "hello there", "hello,there" },
		{ "hello\\ there", "hello there" },
		{ "hello\\\" there", "hello\",there" },
		{ "hello'$there'", "hello$there" },
		{ "\"\" a", "a" },
		{ "80/tcp 443", "80/tcp,443" },
	};
	struct bld_arena *a = bld_arena_new(1 << 20);
	struct bld_env env;
	char joined[256];

	(void)state;
	env_fixture(&env);
	for (size_t i = 0; i < N(cases); i++) {
		struct bld_strv w = { 0 };
		char *out;

		assert_int_equal(bld_lex(a, cases[i].in, '\\', 0, &env, &out, &w, NULL, 0), 0);
		joined[0] = '\0';
		for (size_t k = 0; k < w.n; k++) {
			if (k)
				strcat(joined, ",");
			strcat(joined, w.v[k]);
		}
		assert_string_equal(joined, cases[i].words);
	}
	bld_env_release(&env);
	bld_arena_free(a);
}

static void test_expand_limits(void **state)
{
	struct bld_arena *a = bld_arena_new(64u << 20);
	struct bld_env env = { 0 };
	char *big = malloc(LIMIT_GOVCFILE_WORD_BYTES / 2 + 1), *out, err[256];
	char nest[1024] = "";

	(void)state;
	memset(big, 'x', LIMIT_GOVCFILE_WORD_BYTES / 2);
	big[LIMIT_GOVCFILE_WORD_BYTES / 2] = '\0';
	assert_int_equal(bld_env_set(&env, "B", big, 0), 0);
	assert_int_equal(bld_lex(a, "$B", '\\', 0, &env, &out, NULL, err, sizeof(err)), 0);
	assert_int_equal(bld_lex(a, "$B$B$B", '\\', 0, &env, &out, NULL, err, sizeof(err)),
			 -EFBIG);
	assert_non_null(strstr(err, "longer than"));
	/* nesting deeper than the limit */
	for (int i = 0; i < LIMIT_GOVCFILE_NESTING + 2; i++)
		strcat(nest, "${a:-");
	for (int i = 0; i < LIMIT_GOVCFILE_NESTING + 2; i++)
		strcat(nest, "}");
	assert_int_equal(bld_lex(a, nest, '\\', 0, &env, &out, NULL, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "nested"));
	/* pattern removal spends the arena's budget: a long value and a long
	 * pattern, once, are refused; short ones go on working */
	{
		char *pat = malloc(LIMIT_GOVCFILE_PATTERN_WORK / (LIMIT_GOVCFILE_WORD_BYTES / 2) +
				   16);
		size_t plen = LIMIT_GOVCFILE_PATTERN_WORK / (LIMIT_GOVCFILE_WORD_BYTES / 2) + 4;

		strcpy(pat, "${B##");
		memset(pat + 5, '*', plen);
		strcpy(pat + 5 + plen, "}");
		assert_int_equal(bld_lex(a, pat, '\\', 0, &env, &out, NULL, err, sizeof(err)),
				 -EFBIG);
		assert_non_null(strstr(err, "would take too long"));
		assert_int_equal(bld_lex(a, "${B%%y*}", '\\', 0, &env, &out, NULL, err,
					    sizeof(err)), 0);
		assert_int_equal(strlen(out), LIMIT_GOVCFILE_WORD_BYTES / 2);
		free(pat);
	}
	free(big);
	bld_env_release(&env);
	bld_arena_free(a);
}

/* ---- parsing ------------------------------------------------------------ */

static void test_parse_basics(void **state)
{
	const char *text =
		"# syntax=docker/dockerfile:1\n"
		"# a comment\n"
		"\n"
		"from alpine:3.19 AS Build\n"
		"RUN apk add \\\n"
		"    gcc \\\n"
		"# a comment inside\n"
		"    make\n"
		"run [\"/bin/sh\", \"-c\", \"echo hi\"]\n"
		"CMD [\"a\", 1]x\n"
		"ENTRYPOINT [\"/entry\"]\n"
		"  WORKDIR   /src  \n"
		"USER 1000:1000\n"
		"EXPOSE 80/tcp 443\n"
		"VOLUME [\"/data\", \"/logs\"]\n"
		"VOLUME /a /b\n"
		"STOPSIGNAL SIGTERM\n"
		"SHELL [\"/bin/bash\", \"-c\"]\n"
		"MAINTAINER someone <a@b>\n"
		"LABEL a=b \"c d\"=e\n"
		"ENV K V W\n"
		"ENV A=1 B=\"two words\"\n"
		"ARG X Y=2\n";
	struct bld_file *f = parse_ok(text);
	const struct bld_insn *in = f->insns;

	(void)state;
	assert_non_null(f->syntax);
	assert_string_equal(f->syntax, "docker/dockerfile:1");
	assert_int_equal(f->ninsns, 17);
	assert_int_equal(in[0].op, BLD_FROM);
	assert_int_equal(in[0].line, 4);
	assert_string_equal(in[0].from.image, "alpine:3.19");
	assert_string_equal(in[0].from.name, "build");
	assert_int_equal(in[1].op, BLD_RUN);
	assert_int_equal(in[1].line, 5);
	assert_int_equal(in[1].end_line, 8);
	assert_int_equal(in[1].exec_form, 0);
	assert_string_equal(in[1].args.v[0], "apk add     gcc     make");
	assert_int_equal(in[2].exec_form, 1);
	assert_int_equal(in[2].args.n, 3);
	assert_string_equal(in[2].args.v[2], "echo hi");
	/* not an array of strings: shell form, as Docker does for bad JSON */
	assert_int_equal(in[3].exec_form, 0);
	assert_string_equal(in[3].args.v[0], "[\"a\", 1]x");
	assert_int_equal(in[4].op, BLD_ENTRYPOINT);
	assert_int_equal(in[4].exec_form, 1);
	assert_int_equal(in[5].op, BLD_WORKDIR);
	assert_string_equal(in[5].args.v[0], "/src");
	assert_string_equal(in[6].args.v[0], "1000:1000");
	assert_int_equal(in[7].args.n, 2);
	assert_int_equal(in[8].exec_form, 1);
	assert_string_equal(in[8].args.v[1], "/logs");
	assert_int_equal(in[9].args.n, 2);
	assert_int_equal(in[11].op, BLD_SHELL);
	assert_int_equal(in[12].op, BLD_MAINTAINER);
	assert_string_equal(in[12].args.v[0], "someone <a@b>");
	assert_int_equal(in[13].nkv, 2);
	assert_string_equal(in[13].kv[1].key, "\"c d\"");
	assert_int_equal(in[14].nkv, 1);
	assert_string_equal(in[14].kv[0].key, "K");
	assert_string_equal(in[14].kv[0].value, "V W");
	assert_int_equal(in[15].nkv, 2);
	assert_string_equal(in[15].kv[1].value, "\"two words\"");
	assert_int_equal(in[16].op, BLD_ARG);
	assert_null(in[16].kv[0].value);
	assert_string_equal(in[16].kv[1].value, "2");
	bld_file_free(f);
}

static void test_parse_flags(void **state)
{
	const char *text =
		"FROM --platform=linux/arm64 base\n"
		"RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1,gid=2 \\\n"
		"    --mount=type=bind,from=base,source=/x,target=/y,rw \\\n"
		"    --mount=type=tmpfs,target=/tmp,size=64m \\\n"
		"    --mount=\"type=secret,id=tok,target=/run/secrets/tok,required\" \\\n"
		"    --mount=type=secret,id=aws,env=AWS_KEY \\\n"
		"    --mount=type=ssh \\\n"
		"    --network=none --security=insecure pip install x\n"
		"COPY --from=base --chown=1:2 --chmod=0644 --link --parents --exclude=*.md a b /dst/\n"
		"ADD --checksum=sha256:abc --keep-git-dir=false --link=false http://x/y /z\n"
		"HEALTHCHECK --interval=1m30s --timeout=5s --start-period=1.5s --start-interval=100ms --retries=3 CMD curl -f http://x/\n"
		"HEALTHCHECK NONE\n"
		"ONBUILD RUN echo hi\n"
		"COPY -- --weird /dst\n";
	struct bld_file *f = parse_ok(text);
	const struct bld_insn *in = f->insns;
	const struct bld_mount *m = in[1].run.mounts;

	(void)state;
	assert_string_equal(in[0].from.platform, "linux/arm64");
	assert_int_equal(in[1].run.nmounts, 6);
	assert_int_equal(m[0].type, BLD_MOUNT_CACHE);
	assert_string_equal(m[0].target, "/root/.cache");
	assert_string_equal(m[0].id, "pip");
	assert_int_equal(m[0].sharing, BLD_SHARE_LOCKED);
	assert_int_equal(m[0].mode, 0755);
	assert_int_equal(m[0].uid, 1);
	assert_int_equal(m[0].gid, 2);
	assert_int_equal(m[0].readonly, 0);
	assert_int_equal(m[1].type, BLD_MOUNT_BIND);
	assert_string_equal(m[1].from, "base");
	assert_string_equal(m[1].source, "/x");
	assert_int_equal(m[1].readonly, 0);
	assert_int_equal(m[2].type, BLD_MOUNT_TMPFS);
	assert_int_equal(m[2].size, 64u << 20);
	assert_int_equal(m[3].type, BLD_MOUNT_SECRET);
	assert_int_equal(m[3].required, 1);
	assert_int_equal(m[3].readonly, 1);
	assert_string_equal(m[4].env, "AWS_KEY");
	assert_int_equal(m[5].type, BLD_MOUNT_SSH);
	assert_int_equal(in[1].run.network, BLD_NET_NONE);
	assert_int_equal(in[1].run.security, BLD_SEC_INSECURE);
	assert_string_equal(in[1].args.v[0], "pip install x");
	assert_string_equal(in[2].copy.from, "base");
	assert_string_equal(in[2].copy.chown, "1:2");
	assert_string_equal(in[2].copy.chmod, "0644");
	assert_int_equal(in[2].copy.link, 1);
	assert_int_equal(in[2].copy.parents, 1);
	assert_int_equal(in[2].copy.exclude.n, 1);
	assert_int_equal(in[2].args.n, 3);
	assert_string_equal(in[3].copy.checksum, "sha256:abc");
	assert_int_equal(in[3].copy.link, 0);
	assert_int_equal(in[4].health.interval, 90000000000LL);
	assert_int_equal(in[4].health.timeout, 5000000000LL);
	assert_int_equal(in[4].health.start_period, 1500000000LL);
	assert_int_equal(in[4].health.start_interval, 100000000LL);
	assert_int_equal(in[4].health.retries, 3);
	assert_string_equal(in[4].args.v[0], "curl -f http://x/");
	assert_int_equal(in[5].health.none, 1);
	assert_int_equal(in[6].op, BLD_ONBUILD);
	assert_int_equal(in[6].trigger->op, BLD_RUN);
	assert_string_equal(in[6].trigger->args.v[0], "echo hi");
	assert_string_equal(in[7].args.v[0], "--weird");
	bld_file_free(f);
}

static void test_parse_continuations(void **state)
{
	static const struct {
		const char *text;
		const char *arg;	/* the RUN's (only) argument */
		unsigned line, end_line, warnings;
	} cases[] = {
		{ "RUN a \\\n  b\n", "a   b", 1, 2, 0 },
		/* a blank line inside: skipped, counted as a warning */
		{ "RUN a \\\n\n  b\n", "a   b", 1, 3, 1 },
		/* a comment inside: skipped */
		{ "RUN a \\\n  # c\n  b\n", "a   b", 1, 3, 0 },
		/* an escaped escape character does not continue */
		{ "RUN a \\\\\n", "a \\\\", 1, 1, 0 },
		/* trailing blanks after the escape character */
		{ "RUN a \\  \t\nb\n", "a b", 1, 2, 0 },
		/* at the end of the file */
		{ "RUN a \\", "a", 1, 1, 0 },
		{ "RUN a \\\n", "a", 1, 1, 0 },
		/* CRLF */
		{ "RUN a \\\r\n b\r\n", "a  b", 1, 2, 0 },
		/* a byte order mark */
		{ "\xef\xbb\xbfRUN x\n", "x", 1, 1, 0 },
		/* comments and blank lines before */
		{ "\n# x\n\n  RUN x\n", "x", 4, 4, 0 },
		/* backtick escape */
		{ "# escape=`\nRUN a `\n b\\\n", "a  b\\", 2, 3, 0 },
		{ "#escape = `\n\nRUN a \\\n", "a \\", 3, 3, 0 },
		/* a directive after a comment is a comment */
		{ "# hello\n# escape=`\nRUN a \\\n b\n", "a  b", 3, 4, 0 },
		/* a directive after an instruction is a comment */
		{ "RUN a\n# escape=`\n", "a", 1, 1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct bld_file *f = parse_ok(cases[i].text);

		if (strcmp(f->insns[0].args.v[0], cases[i].arg))
			print_error("case %zu: <%s>\n", i, f->insns[0].args.v[0]);
		assert_string_equal(f->insns[0].args.v[0], cases[i].arg);
		assert_int_equal(f->insns[0].line, cases[i].line);
		assert_int_equal(f->insns[0].end_line, cases[i].end_line);
		assert_int_equal(f->nwarnings, cases[i].warnings);
		bld_file_free(f);
	}
}

static void test_parse_heredocs(void **state)
{
	const char *text =
		"FROM x\n"
		"RUN <<EOF\n"
		"echo $HOME\n"
		"EOF\n"
		"RUN <<-'EOT' bash\n"
		"\t\techo one\n"
		"\techo two\n"
		"\tEOT\n"
		"RUN cat <<A 3<<\"B\" > out\n"
		"a $x\n"
		"A\n"
		"b\n"
		"B\n"
		"COPY <<conf /etc/app.conf\n"
		"key=$V\n"
		"conf\n"
		"COPY <<E\"O\"F <<two /dst/\n"
		"1\n"
		"EOF\n"
		"2\n"
		"two\n"
		"RUN [\"echo\", \"<<EOF\"]\n"
		"RUN echo \"<<EOF\"\n"
		"ONBUILD RUN <<X\n"
		"later\n"
		"X\n";
	struct bld_file *f = parse_ok(text);
	const struct bld_insn *in = f->insns;

	(void)state;
	assert_int_equal(f->ninsns, 9);
	assert_int_equal(in[1].nheredocs, 1);
	assert_string_equal(in[1].heredocs[0].name, "EOF");
	assert_string_equal(in[1].heredocs[0].content, "echo $HOME\n");
	assert_int_equal(in[1].heredocs[0].expand, 1);
	assert_int_equal(in[1].line, 2);
	assert_int_equal(in[1].end_line, 4);
	assert_string_equal(in[2].heredocs[0].name, "EOT");
	assert_int_equal(in[2].heredocs[0].chomp, 1);
	assert_int_equal(in[2].heredocs[0].expand, 0);
	assert_string_equal(in[2].heredocs[0].content, "echo one\necho two\n");
	assert_int_equal(in[3].nheredocs, 2);
	assert_string_equal(in[3].heredocs[0].content, "a $x\n");
	assert_int_equal(in[3].heredocs[1].fd, 3);
	assert_int_equal(in[3].heredocs[1].expand, 0);
	assert_string_equal(in[3].heredocs[1].content, "b\n");
	assert_int_equal(in[4].op, BLD_COPY);
	assert_string_equal(in[4].args.v[0], "<<conf");
	assert_string_equal(in[4].heredocs[0].content, "key=$V\n");
	assert_int_equal(in[5].nheredocs, 2);
	assert_string_equal(in[5].heredocs[0].name, "EOF");
	assert_int_equal(in[5].heredocs[0].expand, 0);
	assert_int_equal(in[5].heredocs[1].expand, 1);
	assert_int_equal(in[6].nheredocs, 0);
	assert_int_equal(in[7].nheredocs, 0);
	assert_int_equal(in[8].trigger->nheredocs, 1);
	assert_string_equal(in[8].trigger->heredocs[0].content, "later\n");
	assert_int_equal(in[8].end_line, 26);
	bld_file_free(f);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text;
		int rc;
		const char *msg;
	} cases[] = {
		{ "FROM x\n\n\n\n\n\nRUNN make\n", -EINVAL, "line 7: unknown instruction 'RUNN'" },
		{ "FROM x\nRUN a\nRUN <<EOF\n", -EINVAL,
		  "line 3: unterminated heredoc 'EOF' (started at line 3)" },
		{ "FROM x\nRUN <<EOF\necho\n  EOF\n\n", -EINVAL,
		  "line 5: unterminated heredoc 'EOF' (started at line 2)" },
		{ "FROM x\nRUN <<A <<B\na\nA\nb\n", -EINVAL,
		  "line 5: unterminated heredoc 'B' (started at line 2)" },
		{ "", -EINVAL, "the Govcfile has no instructions" },
		{ "# only\n\n# comments\n", -EINVAL, "line 3: the Govcfile has no instructions" },
		{ "# escape=x\nFROM a\n", -EINVAL,
		  "line 1: invalid escape token 'x' does not match ` or \\" },
		{ "# escape=`\n# escape=\\\nFROM a\n", -EINVAL,
		  "line 2: only one 'escape' parser directive can be used" },
		{ "FROM\n", -EINVAL, "line 1: FROM requires either one or three arguments "
		  "(image [AS name])" },
		{ "FROM a b\n", -EINVAL, "line 1: FROM requires either one or three arguments "
		  "(image [AS name])" },
		{ "FROM a AS 1x\n", -EINVAL, "line 1: invalid name for build stage: '1x', name "
		  "can't start with a number or contain symbols" },
		{ "FROM a\nRUN --foo=bar x\n", -EINVAL, "line 2: unknown flag '--foo' for RUN" },
		{ "FROM a\nCMD --help\n", -EINVAL, "line 2: unknown flag '--help' for CMD" },
		{ "FROM a\nRUN --network x\n", -EINVAL,
		  "line 2: missing a value on flag '--network'" },
		{ "FROM a\nRUN --network=bridge x\n", -EINVAL,
		  "line 2: unsupported network mode 'bridge' (none, host or default)" },
		{ "FROM a\nRUN --security=x x\n", -EINVAL,
		  "line 2: unsupported security mode 'x' (sandbox or insecure)" },
		{ "FROM a\nCOPY --from=a --from=b x y\n", -EINVAL,
		  "line 2: duplicate flag '--from'" },
		{ "FROM a\nCOPY --link=maybe x y\n", -EINVAL,
		  "line 2: expecting boolean value for flag '--link', not 'maybe'" },
		{ "FROM a\nRUN\n", -EINVAL, "line 2: RUN requires at least one argument" },
		{ "FROM a\nRUN --mount=type=nfs,target=/x x\n", -EINVAL,
		  "line 2: --mount=type=nfs,target=/x: unsupported mount type 'nfs'" },
		{ "FROM a\nRUN --mount=type=cache,target=/x,bogus=1 x\n", -EINVAL,
		  "line 2: --mount=type=cache,target=/x,bogus=1: unexpected key 'bogus' in "
		  "'type=cache,target=/x,bogus=1'" },
		{ "FROM a\nRUN --mount=type=bind,target=/x,mode=0700 x\n", -EINVAL,
		  "line 2: --mount=type=bind,target=/x,mode=0700: mode not allowed for 'bind' "
		  "mounts" },
		{ "FROM a\nRUN --mount=type=cache,target=/x,uid=-1 x\n", -EINVAL,
		  "line 2: --mount=type=cache,target=/x,uid=-1: invalid value '-1' for uid" },
		{ "FROM a\nRUN --mount=type=tmpfs,target=/x,size=lots x\n", -EINVAL,
		  "line 2: --mount=type=tmpfs,target=/x,size=lots: invalid value for size: "
		  "'lots'" },
		{ "FROM a\nRUN --mount=type=cache,size=1 x\n", -EINVAL,
		  "line 2: --mount=type=cache,size=1: unexpected key 'size' for mount type "
		  "'cache'" },
		{ "FROM a\nRUN --mount=type=bind,target=/x,sharing=shared x\n", -EINVAL,
		  "line 2: --mount=type=bind,target=/x,sharing=shared: invalid cache sharing set "
		  "for a mount that is not a cache" },
		{ "FROM a\nRUN --mount=type=secret,from=x,id=a x\n", -EINVAL,
		  "line 2: --mount=type=secret,from=x,id=a: secret mount should not have a from" },
		{ "FROM a\nRUN --mount=type=secret,id=a,src=b x\n", -EINVAL,
		  "line 2: --mount=type=secret,id=a,src=b: both source and id can't be set" },
		{ "FROM a\nRUN --mount=type=bind,target=/x,required x\n", -EINVAL,
		  "line 2: --mount=type=bind,target=/x,required: unexpected key 'required' for a "
		  "mount that is not secret or ssh" },
		{ "FROM a\nRUN --mount=target x\n", -EINVAL,
		  "line 2: --mount=target: invalid field 'target' must be a key=value pair" },
		{ "FROM a\nRUN --mount=type=bind,from=$X,target=/x x\n", -EINVAL,
		  "line 2: --mount=type=bind,from=$X,target=/x: 'from' doesn't support variable "
		  "expansion, define an alias stage instead" },
		{ "FROM a\nCOPY x\n", -EINVAL, "line 2: COPY requires at least two arguments, but "
		  "only one was provided: the destination could not be determined" },
		{ "FROM a\nADD\n", -EINVAL, "line 2: ADD requires at least two arguments" },
		{ "FROM a\nCOPY x <<EOF\nhi\nEOF\n", -EINVAL,
		  "line 2: COPY cannot accept a heredoc as a destination" },
		{ "FROM a\nCOPY [\"a\", 2]\n", -EINVAL, "line 2: when using JSON array syntax, "
		  "arrays must be comprised of strings only" },
		{ "FROM a\nENV\n", -EINVAL, "line 2: ENV requires at least one argument" },
		{ "FROM a\nENV k\n", -EINVAL, "line 2: ENV must have two arguments" },
		{ "FROM a\nENV a=b c\n", -EINVAL, "line 2: syntax error - can't find = in 'c'. "
		  "Must be of the form: name=value" },
		{ "FROM a\nLABEL =x\n", -EINVAL, "line 2: LABEL names can not be blank" },
		{ "FROM a\nARG =x\n", -EINVAL, "line 2: ARG names can not be blank" },
		{ "FROM a\nWORKDIR\n", -EINVAL, "line 2: WORKDIR requires exactly one argument" },
		{ "FROM a\nUSER\n", -EINVAL, "line 2: USER requires exactly one argument" },
		{ "FROM a\nEXPOSE\n", -EINVAL, "line 2: EXPOSE requires at least one argument" },
		{ "FROM a\nVOLUME\n", -EINVAL, "line 2: VOLUME requires at least one argument" },
		{ "FROM a\nSHELL /bin/sh -c\n", -EINVAL,
		  "line 2: SHELL requires the arguments to be in JSON form" },
		{ "FROM a\nSHELL []\n", -EINVAL, "line 2: SHELL requires at least one argument" },
		{ "FROM a\nHEALTHCHECK\n", -EINVAL, "line 2: HEALTHCHECK requires at least one "
		  "argument" },
		{ "FROM a\nHEALTHCHECK NONE x\n", -EINVAL, "line 2: HEALTHCHECK NONE takes no "
		  "arguments" },
		{ "FROM a\nHEALTHCHECK RUN x\n", -EINVAL, "line 2: unknown type 'RUN' in "
		  "HEALTHCHECK (try CMD)" },
		{ "FROM a\nHEALTHCHECK CMD\n", -EINVAL, "line 2: missing command after "
		  "HEALTHCHECK CMD" },
		{ "FROM a\nHEALTHCHECK --interval=5 CMD x\n", -EINVAL, "line 2: invalid duration "
		  "'5' for --interval" },
		{ "FROM a\nHEALTHCHECK --timeout=1us CMD x\n", -EINVAL, "line 2: --timeout cannot "
		  "be less than 1ms" },
		{ "FROM a\nHEALTHCHECK --retries=-1 CMD x\n", -EINVAL, "line 2: --retries cannot "
		  "be negative (-1)" },
		{ "FROM a\nONBUILD\n", -EINVAL, "line 2: ONBUILD requires at least one argument" },
		{ "FROM a\nONBUILD FROM b\n", -EINVAL, "line 2: FROM isn't allowed as an ONBUILD "
		  "trigger" },
		{ "FROM a\nONBUILD ONBUILD RUN x\n", -EINVAL, "line 2: ONBUILD isn't allowed as an "
		  "ONBUILD trigger" },
		{ "FROM a\nONBUILD MAINTAINER me\n", -EINVAL, "line 2: MAINTAINER isn't allowed as "
		  "an ONBUILD trigger" },
		{ "FROM a\nONBUILD RUNX\n", -EINVAL, "line 2: unknown instruction 'RUNX'" },
		{ "FROM a\nRUN x\0y\n", -EINVAL, "line 2: NUL byte in the Govcfile" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct bld_file *f = (struct bld_file *)1;
		struct bld_diag d;
		size_t len = strlen(cases[i].text);
		int rc;

		if (strstr(cases[i].msg, "NUL"))
			len += 3;
		rc = bld_parse(&f, cases[i].text, len, &d);
		if (rc != cases[i].rc || strcmp(d.msg, cases[i].msg))
			print_error("case %zu: rc %d <%s>\n", i, rc, d.msg);
		assert_int_equal(rc, cases[i].rc);
		assert_string_equal(d.msg, cases[i].msg);
		assert_null(f);
	}
}

static void test_parse_limits(void **state)
{
	size_t big = LIMIT_GOVCFILE_BYTES + 1;
	char *text = malloc(big + 1);
	struct bld_file *f;
	struct bld_diag d;
	size_t n;

	(void)state;
	memset(text, '\n', big);
	assert_int_equal(bld_parse(&f, text, big, &d), -EFBIG);
	assert_null(f);
	/* a line too long */
	memcpy(text, "FROM a\nRUN ", 11);
	memset(text + 11, 'x', LIMIT_GOVCFILE_LINE + 1);
	text[11 + LIMIT_GOVCFILE_LINE + 1] = '\n';
	assert_int_equal(bld_parse(&f, text, 12 + LIMIT_GOVCFILE_LINE + 1, &d), -EFBIG);
	assert_string_equal(d.msg, "line 2: line longer than 65535 bytes");
	/* too many instructions */
	n = 0;
	for (unsigned i = 0; i <= LIMIT_GOVCFILE_INSNS; i++) {
		memcpy(text + n, "RUN x\n", 6);
		n += 6;
	}
	assert_int_equal(bld_parse(&f, text, n, &d), -EFBIG);
	assert_string_equal(d.msg, "line 10001: more than 10000 instructions");
	/* a heredoc too long */
	n = (size_t)sprintf(text, "FROM a\nRUN <<EOF\n");
	for (unsigned i = 0; n < LIMIT_GOVCFILE_HEREDOC + 100; i++) {
		memcpy(text + n, "0123456789abcde\n", 16);
		n += 16;
	}
	memcpy(text + n, "EOF\n", 4);
	assert_int_equal(bld_parse(&f, text, n + 4, &d), -EFBIG);
	assert_string_equal(d.msg, "line 2: heredoc 'EOF' is longer than 1048576 bytes");
	/* an instruction too long, made of continued lines */
	n = (size_t)sprintf(text, "FROM a\nRUN ");
	while (n < LIMIT_GOVCFILE_INSN_BYTES / 14 * 16 + 100) {
		memcpy(text + n, "0123456789abcd\\\n", 16);
		n += 16;
	}
	assert_int_equal(bld_parse(&f, text, n, &d), -EFBIG);
	assert_non_null(strstr(d.msg, "instruction longer than 1048576 bytes"));
	free(text);
}

/* ---- plans -------------------------------------------------------------- */

/* the value of the last LABEL's first key, once planned */
static const char *last_label(const struct bld_plan *p)
{
	const struct bld_stage *st = &p->stages[p->target];

	for (size_t i = st->ninsns; i-- > 0;)
		if (st->insns[i].op == BLD_LABEL)
			return st->insns[i].kv[0].value;
	return NULL;
}

static void test_plan_scoping(void **state)
{
	static const struct {
		const char *text;
		const char *args[2];
		const char *label;	/* the last LABEL's value */
	} cases[] = {
		/* ARG before FROM: visible in FROM only */
		{ "ARG V=1\nFROM a\nLABEL l=[$V]\n", { NULL }, "[]" },
		/* ... unless declared again in the stage */
		{ "ARG V=1\nFROM a\nARG V\nLABEL l=[$V]\n", { NULL }, "[1]" },
		{ "ARG V=1\nFROM a\nARG V\nLABEL l=[$V]\n", { "V=2" }, "[2]" },
		{ "ARG V=1\nFROM a\nARG V=3\nLABEL l=[$V]\n", { NULL }, "[3]" },
		{ "ARG V=1\nFROM a\nARG V=3\nLABEL l=[$V]\n", { "V=4" }, "[4]" },
		/* a --build-arg for an ARG nobody declares is not seen */
		{ "FROM a\nLABEL l=[$V]\n", { "V=2" }, "[]" },
		/* ARG without a value and no --build-arg: unset */
		{ "FROM a\nARG V\nLABEL l=[${V:-unset}]\n", { NULL }, "[unset]" },
		{ "FROM a\nARG V\nLABEL l=[${V-unset}]\n", { "V=" }, "[]" },
		/* ENV beats ARG, whichever comes first */
		{ "FROM a\nARG V\nENV V=env\nLABEL l=$V\n", { "V=arg" }, "env" },
		{ "FROM a\nENV V=env\nARG V=dflt\nLABEL l=$V\n", { "V=arg" }, "env" },
		/* defaults expand in scope */
		{ "FROM a\nENV E=e\nARG V=${E}x\nLABEL l=$V\n", { NULL }, "ex" },
		{ "ARG G=g\nARG H=${G}h\nFROM a\nARG H\nLABEL l=$H\n", { NULL }, "gh" },
		{ "ARG G=g\nARG H=${G}h\nFROM a\nARG H\nLABEL l=$H\n", { "G=x" }, "xh" },
		/* ENV forms; the pairs of one ENV expand in the scope before it */
		{ "FROM a\nENV A=1 B=$A\nLABEL l=$B\n", { NULL }, "" },
		{ "FROM a\nENV A=1\nENV A=2 B=$A\nLABEL l=$B\n", { NULL }, "1" },
		{ "FROM a\nENV A x y\nLABEL l=\"$A\"\n", { NULL }, "x y" },
		{ "FROM a\nENV A=\"x  y\"\nLABEL l=\"$A\"\n", { NULL }, "x  y" },
		{ "FROM a\nENV A='$B'\nLABEL l=$A\n", { NULL }, "$B" },
		/* LABEL keys expand too */
		{ "FROM a\nENV K=key\nLABEL $K=v\n", { NULL }, "v" },
		/* stage from stage: ENV carries over, ARG does not */
		{ "FROM a AS one\nENV E=1\nARG A=2\nFROM one\nLABEL l=[$E$A]\n", { NULL }, "[1]" },
		/* the escape directive applies to expansion */
		{ "# escape=`\nFROM a\nENV P=c:\\dir\nLABEL l=$P`$x\n", { NULL }, "c:\\dir$x" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		size_t nargs = cases[i].args[0] ? 1 : 0;
		struct bld_plan *p = plan_ok(cases[i].text, cases[i].args, nargs, NULL);
		const char *got = last_label(p);

		if (!got || strcmp(got, cases[i].label))
			print_error("case %zu: <%s>\n", i, got ? got : "(none)");
		assert_non_null(got);
		assert_string_equal(got, cases[i].label);
		bld_plan_free(p);
	}
}

static void test_plan_expansion(void **state)
{
	const char *text =
		"ARG BASE=alpine\nARG TAG=3.19\nARG PLAT\n"
		"FROM --platform=${PLAT:-linux/amd64} ${BASE}:${TAG} AS base\n"
		"ENV DIR=/srv USER=app PORT=8080 SIG=TERM NAME=\"my app\"\n"
		"ARG CACHE=/root/.cache UID=1000\n"
		"WORKDIR $DIR/src\n"
		"USER ${USER}:${USER}\n"
		"EXPOSE $PORT ${PORT}/udp\n"
		"VOLUME [\"$DIR/data\"]\n"
		"STOPSIGNAL SIG$SIG\n"
		"COPY --chown=${UID}:${UID} --chmod=0755 src/$NAME* ${DIR}/\n"
		"COPY <<EOF <<'RAW' $DIR/conf/\n"
		"dir=$DIR \"q\"\n"
		"EOF\n"
		"raw=$DIR\n"
		"RAW\n"
		"RUN --mount=type=cache,target=$CACHE,id=c-$UID echo $DIR\n"
		"CMD echo $DIR\n"
		"ONBUILD RUN echo $DIR\n";
	struct bld_plan *p = plan_ok(text, NULL, 0, NULL);
	const struct bld_stage *st = &p->stages[0];
	const struct bld_insn *in = st->insns;

	(void)state;
	assert_int_equal(p->nstages, 1);
	assert_int_equal(p->nglobal_args, 3);
	assert_null(p->global_args[2].value);
	assert_int_equal(st->base, BLD_BASE_IMAGE);
	assert_string_equal(st->image, "alpine:3.19");
	assert_string_equal(st->platform, "linux/amd64");
	assert_string_equal(st->name, "base");
	assert_string_equal(in[2].args.v[0], "/srv/src");
	assert_string_equal(in[3].args.v[0], "app:app");
	assert_int_equal(in[4].args.n, 2);
	assert_string_equal(in[4].args.v[1], "8080/udp");
	assert_string_equal(in[5].args.v[0], "/srv/data");
	assert_string_equal(in[6].args.v[0], "SIGTERM");
	assert_string_equal(in[7].copy.chown, "1000:1000");
	assert_string_equal(in[7].args.v[0], "src/my app*");
	assert_string_equal(in[7].args.v[1], "/srv/");
	assert_string_equal(in[8].args.v[0], "<<EOF");
	assert_string_equal(in[8].args.v[2], "/srv/conf/");
	/* a heredoc body expands, keeping quotes; a quoted delimiter: verbatim */
	assert_string_equal(in[8].heredocs[0].content, "dir=/srv \"q\"\n");
	assert_string_equal(in[8].heredocs[1].content, "raw=$DIR\n");
	assert_string_equal(in[9].run.mounts[0].target, "/root/.cache");
	assert_string_equal(in[9].run.mounts[0].id, "c-1000");
	/* RUN keeps its command for the shell, and knows the ARGs in scope */
	assert_string_equal(in[9].args.v[0], "echo $DIR");
	assert_int_equal(in[9].run.nbuild_args, 2);
	assert_string_equal(in[9].run.build_args[1].key, "UID");
	assert_string_equal(in[10].args.v[0], "echo $DIR");
	assert_string_equal(in[11].trigger->args.v[0], "echo $DIR");
	/* the stage's ENV, in order, for the image config */
	assert_int_equal(st->nenv, 5);
	assert_string_equal(st->env[4].key, "NAME");
	assert_string_equal(st->env[4].value, "my app");
	bld_plan_free(p);
}

/* the examples of Docker's Dockerfile reference, with the results it gives */
static void test_plan_docker_examples(void **state)
{
	struct bld_plan *p;
	const struct bld_insn *in;
	const char *user_arg[] = { "username=what_user" };
	const char *ver_arg[] = { "CONT_IMG_VER=v2.0.1" };

	(void)state;
	/* "Environment replacement" */
	p = plan_ok("FROM busybox\nENV FOO=/bar\nWORKDIR ${FOO}\nADD . $FOO\n"
		    "COPY \\$FOO /quux\n", NULL, 0, NULL);
	in = p->stages[0].insns;
	assert_string_equal(in[1].args.v[0], "/bar");
	assert_string_equal(in[2].args.v[1], "/bar");
	assert_string_equal(in[3].args.v[0], "$FOO");
	bld_plan_free(p);
	p = plan_ok("FROM busybox\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n",
		    NULL, 0, NULL);
	assert_int_equal(p->stages[0].nenv, 3);
	assert_string_equal(p->stages[0].env[0].value, "bye");
	assert_string_equal(p->stages[0].env[1].value, "hello");
	assert_string_equal(p->stages[0].env[2].value, "bye");
	bld_plan_free(p);
	/* "ARG": scope starts at the line that declares it */
	p = plan_ok("FROM busybox\nUSER ${username:-some_user}\nARG username\nUSER $username\n",
		    user_arg, 1, NULL);
	in = p->stages[0].insns;
	assert_string_equal(in[0].args.v[0], "some_user");
	assert_string_equal(in[2].args.v[0], "what_user");
	bld_plan_free(p);
	/* "Using ARG variables": ENV with an ARG's default */
	static const char ver[] = "FROM ubuntu\nARG CONT_IMG_VER\n"
				  "ENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nRUN echo $CONT_IMG_VER\n";
	p = plan_ok(ver, NULL, 0, NULL);
	assert_string_equal(p->stages[0].env[0].value, "v1.0.0");
	bld_plan_free(p);
	p = plan_ok(ver, ver_arg, 1, NULL);
	assert_string_equal(p->stages[0].env[0].value, "v2.0.1");
	bld_plan_free(p);
	/* "Understand how ARG and FROM interact" */
	p = plan_ok("ARG  CODE_VERSION=latest\nFROM base:${CODE_VERSION}\nCMD  /code/run-app\n"
		    "FROM extras:${CODE_VERSION}\nCMD  /code/run-extras\n", NULL, 0, NULL);
	assert_string_equal(p->stages[0].image, "base:latest");
	assert_string_equal(p->stages[1].image, "extras:latest");
	assert_string_equal(p->stages[1].insns[0].args.v[0], "/code/run-extras");
	bld_plan_free(p);
	p = plan_ok("ARG VERSION=latest\nFROM busybox:$VERSION\nARG VERSION\n"
		    "RUN echo $VERSION > image_version\n", NULL, 0, NULL);
	in = p->stages[0].insns;
	assert_int_equal(in[1].run.nbuild_args, 1);
	assert_string_equal(in[1].run.build_args[0].key, "VERSION");
	assert_string_equal(in[1].run.build_args[0].value, "latest");
	bld_plan_free(p);
	/* EXPOSE splits an expanded variable into ports */
	p = plan_ok("FROM a\nENV PORTS=\"80 443/udp\"\nEXPOSE $PORTS 8080\n", NULL, 0, NULL);
	in = p->stages[0].insns;
	assert_int_equal(in[1].args.n, 3);
	assert_string_equal(in[1].args.v[1], "443/udp");
	bld_plan_free(p);
	/* ONBUILD keeps its trigger as written, flags and all */
	p = plan_ok("FROM a\nONBUILD COPY --from=b --chown=$U . /app\n", NULL, 0, NULL);
	in = p->stages[0].insns;
	assert_string_equal(in[0].trigger->copy.from, "b");
	assert_string_equal(in[0].trigger->copy.chown, "$U");
	bld_plan_free(p);
}

static const char *const *fake_image_env(void *ctx, const char *ref, size_t *n)
{
	static const char *const env[] = { "PATH=/usr/bin", "GOPATH=/go" };

	(void)ctx;
	if (strcmp(ref, "golang:1.22")) {
		*n = 0;
		return NULL;
	}
	*n = 2;
	return env;
}

static void test_plan_image_env(void **state)
{
	const char *text = "FROM golang:1.22\nWORKDIR $GOPATH/src\nENV PATH=$PATH:/x\n";
	struct bld_file *f = parse_ok(text);
	struct bld_plan_opts o = { .image_env = fake_image_env };
	struct bld_plan *p;

	(void)state;
	assert_int_equal(bld_plan(&p, f, &o, NULL), 0);
	assert_string_equal(p->stages[0].insns[0].args.v[0], "/go/src");
	assert_int_equal(p->stages[0].nenv, 2);
	assert_string_equal(p->stages[0].env[0].value, "/usr/bin:/x");
	bld_plan_free(p);
	bld_file_free(f);
}

static void test_plan_targets(void **state)
{
	const char *text =
		"FROM scratch AS tools\n"				/* 0 */
		"FROM alpine AS deps\n"					/* 1 */
		"RUN --mount=type=bind,from=tools,target=/t x\n"
		"FROM deps AS build\n"					/* 2 */
		"COPY --from=0 /a /b\n"
		"FROM alpine AS docs\n"					/* 3 */
		"RUN make docs\n"
		"FROM alpine AS unused\n"				/* 4 */
		"RUN ${broken\n"
		"FROM build AS final\n"					/* 5 */
		"COPY --from=docs /d /d\n"
		"COPY --from=nginx:latest /etc/nginx /etc/nginx\n";
	static const struct {
		const char *target;
		const char *order;
	} cases[] = {
		{ NULL, "0,1,2,3,5" },
		{ "final", "0,1,2,3,5" },
		{ "FINAL", "0,1,2,3,5" },
		{ "build", "0,1,2" },
		{ "deps", "0,1" },
		{ "docs", "3" },
		{ "tools", "0" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct bld_plan *p = plan_ok(text, NULL, 0, cases[i].target);
		char got[64] = "";

		for (size_t k = 0; k < p->norder; k++)
			sprintf(got + strlen(got), "%s%zu", k ? "," : "", p->order[k]);
		assert_string_equal(got, cases[i].order);
		for (size_t k = 0; k < p->nstages; k++)
			assert_int_equal(p->stages[k].needed, strstr(cases[i].order,
				(char[]){ (char)('0' + k), 0 }) != NULL);
		if (!cases[i].target) {
			const struct bld_stage *fin = &p->stages[5];

			assert_int_equal(p->target, 5);
			assert_int_equal(fin->base, BLD_BASE_STAGE);
			assert_int_equal(fin->base_stage, 2);
			assert_int_equal(fin->insns[0].copy.from_stage, 3);
			assert_int_equal(fin->insns[1].copy.from_stage, -1);
			assert_int_equal(p->stages[1].insns[0].run.mounts[0].from_stage, 0);
			assert_int_equal(p->stages[2].insns[0].copy.from_stage, 0);
			assert_int_equal(p->stages[0].base, BLD_BASE_SCRATCH);
			assert_null(p->stages[4].insns);
		}
		bld_plan_free(p);
	}
}

static void test_plan_errors(void **state)
{
	static const struct {
		const char *text;
		const char *target;
		const char *msg;
	} cases[] = {
		{ "ARG A\nRUN x\nFROM a\n", NULL,
		  "line 2: RUN before the first FROM (only ARG may come before it)" },
		{ "ARG A\n", NULL, "line 1: no FROM: a Govcfile needs at least one stage" },
		{ "FROM a AS x\nFROM b AS X\n", NULL,
		  "line 2: duplicate stage name 'x' (first at line 1)" },
		{ "FROM a\n", "nope", "target stage 'nope' could not be found" },
		{ "ARG I\nFROM $I\n", NULL, "line 2: FROM '$I' names no image once expanded" },
		{ "FROM a AS x\nCOPY --from=1 /a /b\nFROM b\n", "x",
		  "line 2: --from=1: stage 1 is not defined before the current stage" },
		{ "FROM a AS x\nCOPY --from=later /a /b\nFROM b AS later\n", "x",
		  "line 2: --from=later: stage 'later' needs to be defined before the current "
		  "stage" },
		{ "FROM a\nCOPY --from=$X /a /b\n", NULL,
		  "line 2: variable expansion is not supported for --from, define a new stage "
		  "with FROM using ARG from global scope as a workaround" },
		{ "FROM a\nWORKDIR ${X\n", NULL, "line 2: syntax error: missing '}'" },
		{ "FROM a\n\n\n\nCOPY \"a b\" /x\n", NULL,
		  "line 5: unterminated quote: no matching double quote" },
		{ "FROM a\nUSER 'x\n", NULL, "line 2: unterminated quote: no matching single "
		  "quote" },
		{ "FROM a\nENV A=\"${X:?must be set}\"\n", NULL, "line 2: X: must be set" },
		{ "FROM a\nENV A=${X?}\n", NULL, "line 2: X: is not allowed to be unset" },
		{ "FROM a\nENV ${X}=1\n", NULL, "line 2: ENV names can not be blank" },
		{ "FROM a\nEXPOSE http\n", NULL,
		  "line 2: invalid port 'http' (PORT[-PORT][/tcp|udp|sctp])" },
		{ "FROM a\nVOLUME $NONE\n", NULL, "line 2: VOLUME specified can not be an empty "
		  "string" },
		{ "FROM a\nRUN --mount=type=$T,target=/x x\n", NULL,
		  "line 2: --mount=type=$T,target=/x: unsupported mount type ''" },
		{ "FROM a\nRUN --mount=type=cache x\n", NULL,
		  "line 2: --mount=type=cache: mount has no target" },
		{ "FROM a\nRUN --mount=type=secret x\n", NULL,
		  "line 2: --mount=type=secret: invalid secret mount: one of source, target or "
		  "id required" },
		{ "FROM a AS x\nRUN --mount=type=bind,from=b,target=/x x\nFROM a AS b\n", "x",
		  "line 2: from=b: stage 'b' needs to be defined before the current stage" },
		{ "FROM a\nCOPY <<EOF /x\n${}\nEOF\n", NULL, "line 2: heredoc 'EOF': syntax error: "
		  "bad substitution" },
		{ "FROM a\nCOPY <<EOF /x\n${\nEOF\n", NULL, "line 2: heredoc 'EOF': unsupported "
		  "modifier (?) in substitution" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct bld_file *f = parse_ok(cases[i].text);
		struct bld_plan_opts o = { .target = cases[i].target };
		struct bld_plan *p = (struct bld_plan *)1;
		struct bld_diag d;
		int rc = bld_plan(&p, f, &o, &d);

		if (rc != -EINVAL || strcmp(d.msg, cases[i].msg))
			print_error("case %zu: rc %d <%s>\n", i, rc, d.msg);
		assert_int_equal(rc, -EINVAL);
		assert_string_equal(d.msg, cases[i].msg);
		assert_null(p);
		bld_file_free(f);
	}
}

static void test_plan_limits(void **state)
{
	/* ENV doubling: each line doubles the value until a limit stops it */
	char text[4096];
	size_t n = (size_t)sprintf(text, "FROM a\nENV A=0123456789abcdef\n");
	struct bld_file *f;
	struct bld_plan *p;
	struct bld_diag d;

	(void)state;
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(text + n, "ENV A=$A$A\n");
	f = parse_ok(text);
	assert_int_equal(bld_plan(&p, f, NULL, &d), -EFBIG);
	assert_non_null(strstr(d.msg, "longer than 1048576 bytes after expansion"));
	bld_file_free(f);
	/* too many stages */
	char *many = malloc(8 * (LIMIT_GOVCFILE_STAGES + 1) + 1);

	n = 0;
	for (unsigned i = 0; i <= LIMIT_GOVCFILE_STAGES; i++)
		n += (size_t)sprintf(many + n, "FROM a\n");
	f = parse_ok(many);
	assert_int_equal(bld_plan(&p, f, NULL, &d), -EFBIG);
	assert_string_equal(d.msg, "more than 256 stages");
	bld_file_free(f);
	free(many);
}

/* ---- .dockerignore ------------------------------------------------------ */

static void test_dockerignore(void **state)
{
	const char *text =
		"# comment\n"
		"  \n"
		"node_modules\n"
		"/tmp/\n"
		"./build\n"
		"*.md\n"
		"!README.md\n"
		"**/*.pyc\n"
		"docs/**/draft*\n"
		"secret/\n"
		"!secret/public\n"
		"a/../b\n"
		"  spaced  \n"
		"Govcfile\n";
	static const struct {
		const char *path;
		int excluded;
	} cases[] = {
		{ "node_modules", 1 }, { "node_modules/x/y.js", 1 },
		{ "app/node_modules", 0 },
		{ "tmp", 1 }, { "tmp/x", 1 }, { "build/out.o", 1 }, { "./build", 1 },
		{ "CHANGES.md", 1 }, { "docs/CHANGES.md", 0 }, { "README.md", 0 },
		{ "x.pyc", 1 }, { "a/b/c.pyc", 1 },
		{ "docs/draft1", 1 }, { "docs/a/b/draft2.txt", 1 }, { "docs/final", 0 },
		{ "secret/key", 1 }, { "secret/public", 0 }, { "secret/public/x", 0 },
		{ "b", 1 }, { "a", 0 }, { "spaced", 1 },
		{ "Govcfile", 1 }, { "src/main.c", 0 }, { "/node_modules", 1 },
	};
	struct bld_ignore *ig;

	(void)state;
	assert_int_equal(bld_ignore_compile(&ig, text, strlen(text)), 0);
	for (size_t i = 0; i < N(cases); i++) {
		int got = bld_ignore_excluded(ig, cases[i].path);

		if (got != cases[i].excluded)
			print_error("case %zu <%s>: %d\n", i, cases[i].path, got);
		assert_int_equal(got, cases[i].excluded);
	}
	bld_ignore_free(ig);
	/* the last match wins: excluded again after an exception */
	text = "dir\n!dir/keep\ndir/keep/no\n";
	assert_int_equal(bld_ignore_compile(&ig, text, strlen(text)), 0);
	assert_int_equal(bld_ignore_excluded(ig, "dir/keep/yes"), 0);
	assert_int_equal(bld_ignore_excluded(ig, "dir/keep/no"), 1);
	assert_int_equal(bld_ignore_excluded(ig, "dir/other"), 1);
	bld_ignore_free(ig);
	/* limits */
	{
		size_t big = UTIL_IGNORE_TEXT_MAX + 1;
		char *t = malloc(big);

		memset(t, 'x', big);
		assert_int_equal(bld_ignore_compile(&ig, t, big), -EFBIG);
		assert_null(ig);
		free(t);
	}
}

/* ---- context: what a Govcfile reads (builder/context.h) ------------------ */

static void test_context_reads(void **state)
{
	static const char text[] =
		"FROM scratch AS build\n"
		"COPY a /a\n"
		"COPY src/ /src\n"
		"COPY --from=build /out /out\n"
		"COPY *.txt docs/*.md /d/\n"
		"ADD https://example.com/x.tgz git@example.com:o/r.git /x\n"
		"ADD pkg.tar /\n"
		"RUN --mount=type=bind,source=cfg,target=/cfg true\n"
		"RUN --mount=type=bind,from=build,source=y,target=/y true\n"
		"RUN --mount=type=cache,target=/root/.cache true\n"
		"COPY [\"quoted name\", \"/q\"]\n"
		"COPY ./b/../c /c\n"
		"COPY /abs//dir/ /abs\n"
		"COPY <<EOF /h\n"
		"hi\n"
		"EOF\n"
		"ONBUILD COPY later /later\n";
	static const struct {
		const char *path;
		int reads;
	} cases[] = {
		{ "a", 1 },	     { "a/x", 1 },	   { "ab", 0 },
		{ "src", 1 },	     { "src/x/y", 1 },	   { "srcx", 0 },
		{ "src/new/", 1 },   { "out", 0 },	   { "out/f", 0 },
		{ "x.txt", 1 },	     { "d/x.txt", 0 },	   { "docs/a.md", 1 },
		{ "docs/sub/a.md", 0 }, { "docs/a.txt", 0 }, { "pkg.tar", 1 },
		{ "x.tgz", 0 },	     { "r.git", 0 },	   { "cfg", 1 },
		{ "cfg/f", 1 },	     { "y", 0 },	   { "root/.cache", 0 },
		{ "quoted name", 1 }, { "\"quoted", 0 },   { "c", 1 },
		{ "b", 0 },	     { "abs/dir/f", 1 },   { "abs/d", 0 },
		{ "EOF", 0 },	     { "h", 0 },	   { "later", 0 },
		{ "Govcfile", 0 },   { "/a", 1 },	   { "./src//x", 1 },
	};
	struct bld_file *f = parse_ok(text);

	for (size_t i = 0; i < N(cases); i++) {
		int got = bld_context_reads(f, cases[i].path);
		if (got != cases[i].reads)
			print_error("path '%s': %d, want %d\n", cases[i].path, got,
				    cases[i].reads);
		assert_int_equal(got, cases[i].reads);
	}
	bld_file_free(f);

	/* one-line Govcfiles: the whole context, sources the trigger cannot
	 * resolve (they read everything), globs that match a directory (what
	 * is below it is read), shell-form words split at blanks whatever
	 * the quotes, as in Docker (a lone '"a' is refused by the lexer, so
	 * it reads everything), and no context at all */
	static const struct {
		const char *insn, *path;
		int reads;
	} one[] = {
		{ "COPY . /app", "any/where", 1 },
		{ "COPY / /app", "x", 1 },
		{ "ARG SRC=a\nCOPY $SRC /app", "zzz", 1 },
		{ "COPY ../up /app", "zzz", 1 },
		{ "RUN --mount=type=bind,target=/ctx true", "zzz", 1 },
		{ "COPY [\"conf.d*\", \"/etc/\"]", "conf.d/a/b", 1 },
		{ "COPY [\"conf.d*\", \"/etc/\"]", "conf/a", 0 },
		{ "COPY \"a b\" /x", "zzz", 1 },
		{ "RUN true", "a", 0 },
	};
	for (size_t i = 0; i < N(one); i++) {
		char line[256];

		snprintf(line, sizeof(line), "FROM scratch\n%s\n", one[i].insn);
		f = parse_ok(line);
		if (bld_context_reads(f, one[i].path) != one[i].reads)
			print_error("<<%s>> path '%s': want %d\n", one[i].insn, one[i].path,
				    one[i].reads);
		assert_int_equal(bld_context_reads(f, one[i].path), one[i].reads);
		bld_file_free(f);
	}
}

static void test_context_affects(void **state)
{
	static const char ignore[] = "docs\n*.log\n!keep.log\n";
	enum { ALL, ONE, BAD };	/* COPY . /app; COPY a /a; does not parse */
	static const struct {
		int govcfile, ignored;	/* which file; with the ignore rules */
		const char *file, *path;
		int affects;
	} cases[] = {
		/* the Govcfile and the ignore files, whatever they say */
		{ ALL, 1, "Govcfile", "Govcfile", 1 },
		{ ALL, 1, "Dockerfile", "Dockerfile", 1 },
		{ ALL, 1, "Govcfile", ".dockerignore", 1 },
		{ ALL, 1, "Govcfile", ".govcignore", 1 },
		{ ONE, 0, "Govcfile", "Govcfile.dockerignore", 1 },
		{ ONE, 0, "Govcfile", "Dockerfile.dockerignore", 0 },
		{ ONE, 0, "Govcfile", "Govcfile.dockerignorex", 0 },
		{ ONE, 0, "Dockerfile", "Govcfile", 0 },
		/* what the context holds, unless the ignore file keeps it out */
		{ ALL, 1, "Govcfile", "src/main.c", 1 },
		{ ALL, 1, "Govcfile", "keep.log", 1 },
		{ ALL, 1, "Govcfile", "docs/a.md", 0 },
		{ ALL, 1, "Govcfile", "docs/", 0 },
		{ ALL, 1, "Govcfile", "x.log", 0 },
		{ ALL, 0, "Govcfile", "docs/a.md", 1 },
		/* COPY of one file: other files do not count */
		{ ONE, 0, "Govcfile", "a", 1 },
		{ ONE, 0, "Govcfile", "b", 0 },
		/* a Govcfile that does not parse: only its own change counts */
		{ BAD, 0, "Govcfile", "Govcfile", 1 },
		{ BAD, 0, "Govcfile", "a", 0 },
	};
	struct bld_file *f[3] = { parse_ok("FROM scratch\nCOPY . /app\n"),
				  parse_ok("FROM scratch\nCOPY a /a\n"), NULL };
	struct bld_ignore *ig = NULL;

	assert_int_equal(bld_ignore_compile(&ig, ignore, strlen(ignore)), 0);
	for (size_t i = 0; i < N(cases); i++) {
		int got = bld_context_affects(f[cases[i].govcfile], cases[i].ignored ? ig : NULL,
					      cases[i].file, cases[i].path);
		if (got != cases[i].affects)
			print_error("case %zu, path '%s': %d, want %d\n", i, cases[i].path, got,
				    cases[i].affects);
		assert_int_equal(got, cases[i].affects);
	}
	bld_file_free(f[ALL]);
	bld_file_free(f[ONE]);
	bld_ignore_free(ig);
}

/* ---- records (builder/record.h) ------------------------------------------- */

static void test_records(void **state)
{
	char dir[] = "/tmp/govc-test-records.XXXXXX", path[4200], buf[64];
	const char *commit = "0123456789012345678901234567890123456789";
	struct store *s = NULL;
	unsigned n = 0;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/store", dir);
	assert_int_equal(store_open(&s, path, STORE_CREATE), 0);

	assert_int_equal(bld_record_create(s, "app", commit, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(bld_record_get(s, "app", 1, BLD_RECORD_STATUS, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "queued");
	assert_int_equal(bld_record_get(s, "app", 1, BLD_RECORD_COMMIT, buf, sizeof(buf)), 0);
	assert_string_equal(buf, commit);
	assert_int_equal(bld_record_get(s, "app", 1, BLD_RECORD_IMAGE, buf, sizeof(buf)), -ENOENT);

	/* one more than the highest present, gaps and strangers ignored */
	snprintf(path, sizeof(path), "%s/store/builds/app/7", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/store/builds/app/007x", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(bld_record_create(s, "app", commit, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(bld_record_create(s, "other", commit, &n), 0);
	assert_int_equal(n, 1);

	/* files replaced whole, one line each */
	assert_int_equal(bld_record_put(s, "app", 8, BLD_RECORD_STATUS, "running", 7), 0);
	assert_int_equal(bld_record_get(s, "app", 8, BLD_RECORD_STATUS, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "running");
	assert_int_equal(bld_record_put(s, "app", 8, BLD_RECORD_STATUS, "failed\n", 7), 0);
	snprintf(path, sizeof(path), "%s/store/builds/app/8/status", dir);
	{
		FILE *fp = fopen(path, "r");
		size_t got;

		assert_non_null(fp);
		got = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		assert_int_equal(got, 7);
		assert_memory_equal(buf, "failed\n", 7);
	}

	/* paths, and what cannot name a repository, a number or a file */
	assert_int_equal(bld_record_dir(s, "app", 8, path, sizeof(path)), 0);
	snprintf(buf, sizeof(buf), "/store/builds/app/8");
	assert_string_equal(path + strlen(dir), buf);
	assert_int_equal(bld_record_path(s, "../x", 1, NULL, path, sizeof(path)), -EINVAL);
	assert_int_equal(bld_record_put(s, "app", 8, "../status", "x", 1), -EINVAL);
	assert_int_equal(bld_record_put(s, "app", 8, ".hidden", "x", 1), -EINVAL);
	assert_int_equal(bld_record_dir(s, "app", 8, path, 10), -ENAMETOOLONG);
	assert_int_equal(bld_record_create(s, "app", "a\nb", &n), -EINVAL);
	assert_int_equal(bld_record_number("1"), 1);
	assert_int_equal(bld_record_number("42"), 42);
	assert_int_equal(bld_record_number("0"), 0);
	assert_int_equal(bld_record_number("07"), 0);
	assert_int_equal(bld_record_number("7x"), 0);
	assert_int_equal(bld_record_number(""), 0);
	assert_int_equal(bld_record_number("9999999999"), 0);
	assert_int_equal(bld_record_number("latest"), 0);

	/* pruning: the newest KEEP stay, and any record not finished */
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(bld_record_create(s, "prune", commit, &n), 0);
		const char *st = i == 1 ? "running" : i % 2 ? "failed" : "succeeded";

		assert_int_equal(bld_record_put(s, "prune", n, BLD_RECORD_STATUS, st, strlen(st)), 0);
	}
	assert_int_equal(bld_record_prune(s, "prune", 2), 0);
	for (unsigned i = 1; i <= 5; i++) {
		snprintf(path, sizeof(path), "%s/store/builds/prune/%u", dir, i);
		assert_int_equal(access(path, F_OK) == 0, i == 2 || i >= 4);
	}
	assert_int_equal(bld_record_prune(s, "none-yet", 2), 0);

	store_free(s);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_table),
		cmocka_unit_test(test_expand_backtick_escape),
		cmocka_unit_test(test_expand_words),
		cmocka_unit_test(test_expand_limits),
		cmocka_unit_test(test_parse_basics),
		cmocka_unit_test(test_parse_flags),
		cmocka_unit_test(test_parse_continuations),
		cmocka_unit_test(test_parse_heredocs),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_plan_scoping),
		cmocka_unit_test(test_plan_expansion),
		cmocka_unit_test(test_plan_docker_examples),
		cmocka_unit_test(test_plan_image_env),
		cmocka_unit_test(test_plan_targets),
		cmocka_unit_test(test_plan_errors),
		cmocka_unit_test(test_plan_limits),
		cmocka_unit_test(test_dockerignore),
		cmocka_unit_test(test_context_reads),
		cmocka_unit_test(test_context_affects),
		cmocka_unit_test(test_records),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
