/*
 * fuzz_govcfile.c - libFuzzer target for the Govcfile parser, the plan
 * (expansion, scoping, stages) and the .dockerignore rules: untrusted text
 * must never crash, leak, hang or pass a LIMIT_GOVCFILE_* limit.
 *
 * Built and run by tests/fuzz/run.sh (`make fuzz`, t0900) with clang's
 * fuzzer, address and undefined sanitizers, from the seeds and dictionary
 * in tests/fuzz/seeds/govcfile{,.dict}.
 * Each input is parsed; a file that parses is planned three ways (no
 * options, a --build-arg and the first stage as target, every stage
 * name as a target); the same bytes are also expanded as one word and
 * compiled as a .dockerignore that judges a few paths.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "builder/bld_int.h"
#include "builder/govcfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const *image_env(void *ctx, const char *ref, size_t *n)
{
	static const char *const env[] = { "PATH=/usr/bin", "HOME=/root", "EMPTY=" };

	(void)ctx;
	(void)ref;
	*n = 3;
	return env;
}

static void plan(const struct bld_file *f, const char *target, int args)
{
	static const char *const build_args[] = { "A=1", "B=${A}", "HOME=x y" };
	struct bld_plan_opts o = { .target = target, .image_env = image_env };
	struct bld_plan *p = NULL;
	struct bld_diag d;

	if (args) {
		o.build_args = build_args;
		o.nbuild_args = 3;
	}
	if (bld_plan(&p, f, &o, &d) == 0) {
		/* touch what a planner's consumer would read */
		for (size_t i = 0; i < p->norder; i++) {
			const struct bld_stage *st = &p->stages[p->order[i]];

			for (size_t k = 0; k < st->ninsns; k++)
				for (size_t a = 0; a < st->insns[k].args.n; a++)
					(void)strlen(st->insns[k].args.v[a]);
		}
		bld_plan_free(p);
	} else if (d.msg[0] == '\0') {
		abort();	/* every error says why */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bld_file *f = NULL;
	struct bld_ignore *ig = NULL;
	struct bld_diag d;
	char *word;

	if (bld_parse(&f, (const char *)data, size, &d) == 0) {
		plan(f, NULL, 0);
		plan(f, NULL, 1);
		for (size_t i = 0; i < f->ninsns; i++)
			if (f->insns[i].op == BLD_FROM && f->insns[i].from.name)
				plan(f, f->insns[i].from.name, 1);
		bld_file_free(f);
	} else if (d.msg[0] == '\0') {
		abort();
	}

	word = malloc(size + 1);
	if (word) {
		struct bld_arena *a = bld_arena_new(64u << 20);
		struct bld_env env = { 0 };
		struct bld_strv words = { 0 };
		char *out, err[128];

		memcpy(word, data, size);
		word[size] = '\0';
		if (a && bld_env_set(&env, "A", "a b", 0) == 0) {
			(void)bld_lex(a, word, '\\', 0, &env, &out, &words, err, sizeof(err));
			(void)bld_lex(a, word, '`', 0, &env, &out, NULL, err, sizeof(err));
			if (bld_expand(&out, word, '\\', &env, err, sizeof(err)) == 0)
				free(out);
		}
		bld_env_release(&env);
		bld_arena_free(a);
		free(word);
	}

	if (bld_ignore_compile(&ig, (const char *)data, size) == 0) {
		(void)bld_ignore_excluded(ig, "a/b/c.txt");
		(void)bld_ignore_excluded(ig, "Govcfile");
		(void)bld_ignore_excluded(ig, "node_modules/x");
		bld_ignore_free(ig);
	}
	return 0;
}
