/*
 * bld_int.h - what the builder's files share and nobody else sees: the
 * arena every parsed file and plan lives in, and the error helper.
 */
#ifndef GOVC_BUILDER_BLD_INT_H
#define GOVC_BUILDER_BLD_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "builder/govcfile.h"

/*
 * An arena: allocations that live and die together.  MAX caps the bytes
 * it hands out (untrusted input decides how much a parse or a plan
 * makes); past it, or when malloc fails, bld_alloc returns NULL and ERR
 * says which (-EFBIG or -ENOMEM).
 */
struct bld_arena {
	struct bld_chunk *chunks;
	size_t used;		/* bytes handed out, all chunks */
	size_t max;
	int err;		/* 0, or why the last allocation failed */
	size_t budget;		/* work pattern removals may still do */
};

struct bld_arena *bld_arena_new(size_t max);
void bld_arena_free(struct bld_arena *a);
/* N bytes, zero-filled, aligned for any type; NULL (A->err set) */
void *bld_alloc(struct bld_arena *a, size_t n);
/* copies of the LEN bytes at S, NUL-terminated; of a C string */
char *bld_strndup(struct bld_arena *a, const char *s, size_t len);
char *bld_strdup(struct bld_arena *a, const char *s);
/* append S to V (grows geometrically); 0 or A->err */
int bld_strv_push(struct bld_arena *a, struct bld_strv *v, char *s);

/*
 * bld_fail - fill DIAG (if not NULL) with "line LINE: " and the message,
 * and return RC; LINE 0 leaves the prefix out.
 */
int bld_fail(struct bld_diag *diag, int rc, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * The shell lexer's modes (BuildKit's Lex fields of the same names), for
 * the parser's own uses: finding heredoc words keeps quotes and escapes
 * and leaves unset variables as written; COPY heredoc bodies keep quotes.
 */
enum {
	BLD_LEX_RAW_QUOTES = 1 << 0,
	BLD_LEX_RAW_ESCAPES = 1 << 1,
	BLD_LEX_SKIP_UNSET = 1 << 2,
	BLD_LEX_SKIP_QUOTES = 1 << 3,
};

/*
 * bld_lex - bld_expand with FLAGS (BLD_LEX_*), the result allocated in A
 * (which also pays for pattern removals); with WORDS non-NULL the result
 * is also split into words as Docker's ProcessWords does (outside quotes,
 * on white space: EXPOSE, heredoc delimiters).
 */
int bld_lex(struct bld_arena *a, const char *in, char escape, unsigned flags,
	    const struct bld_env *env, char **out, struct bld_strv *words,
	    char *err, size_t errlen);

/*
 * bld_parse_duration - a Go duration ("1m30s", "500ms", "0") into *OUT
 * nanoseconds.  0, -EINVAL, or -ERANGE past 2^63 ns.
 */
int bld_parse_duration(const char *s, int64_t *out);

/*
 * bld_mount_parse - one RUN --mount value (CSV of key=value) into M.  ENV
 * NULL: at parse time, values are taken as written and those holding '$'
 * are checked later; else every value is expanded in ENV first.  Returns
 * 0, -EINVAL with a message in ERR, or the arena's error.
 */
int bld_mount_parse(struct bld_arena *a, const char *spec, const struct bld_env *env,
		    char escape, struct bld_mount *m, char *err, size_t errlen);


#endif
