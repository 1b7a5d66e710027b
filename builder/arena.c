/*
 * arena.c - the builder's arena and error helper.  See bld_int.h.
 *
 * A parsed Govcfile is many small strings with one lifetime; an arena
 * makes freeing them (and unwinding on every error path of a parser of
 * untrusted text) one call.  Chunks are 64 KiB, or one chunk for a
 * larger request; the cap counts what is handed out.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/bld_int.h"
#include "util/limits.h"

#define CHUNK_BYTES (64u << 10)

struct bld_chunk {
	struct bld_chunk *next;
	size_t size, used;
	_Alignas(max_align_t) unsigned char mem[];
};

struct bld_arena *bld_arena_new(size_t max)
{
	struct bld_arena *a = calloc(1, sizeof(*a));

	if (a) {
		a->max = max;
		a->budget = LIMIT_GOVCFILE_PATTERN_WORK;
	}
	return a;
}

void bld_arena_free(struct bld_arena *a)
{
	struct bld_chunk *c, *next;

	if (!a)
		return;
	for (c = a->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *bld_alloc(struct bld_arena *a, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	struct bld_chunk *c = a->chunks;
	void *p;

	n = (n + align - 1) & ~(align - 1);
	if (n == 0)
		n = align;
	if (n > a->max || a->used > a->max - n) {
		a->err = -EFBIG;
		return NULL;
	}
	if (!c || c->size - c->used < n) {
		size_t size = n > CHUNK_BYTES ? n : CHUNK_BYTES;

		c = malloc(sizeof(*c) + size);
		if (!c) {
			a->err = -ENOMEM;
			return NULL;
		}
		c->size = size;
		c->used = 0;
		/* a big one-off chunk goes behind the current one, which keeps
		 * its free space for the small strings that follow */
		if (size > CHUNK_BYTES && a->chunks) {
			c->next = a->chunks->next;
			a->chunks->next = c;
		} else {
			c->next = a->chunks;
			a->chunks = c;
		}
	}
	p = c->mem + c->used;
	c->used += n;
	a->used += n;
	memset(p, 0, n);
	return p;
}

char *bld_strndup(struct bld_arena *a, const char *s, size_t len)
{
	char *p;

	if (len == (size_t)-1) {
		a->err = -EFBIG;
		return NULL;
	}
	p = bld_alloc(a, len + 1);
	if (p && len)
		memcpy(p, s, len);
	return p;
}

char *bld_strdup(struct bld_arena *a, const char *s)
{
	return bld_strndup(a, s, strlen(s));
}

int bld_strv_push(struct bld_arena *a, struct bld_strv *v, char *s)
{
	/* capacity is the next power of two at or above n */
	if ((v->n & (v->n - 1)) == 0) {
		size_t cap = v->n ? v->n * 2 : 4;
		char **nv;

		if (v->n < 4 && v->v)
			cap = 0;
		if (cap) {
			nv = bld_alloc(a, cap * sizeof(*nv));
			if (!nv)
				return a->err;
			if (v->n)
				memcpy(nv, v->v, v->n * sizeof(*nv));
			v->v = nv;
		}
	}
	v->v[v->n++] = s;
	return 0;
}

int bld_fail(struct bld_diag *diag, int rc, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!diag)
		return rc;
	diag->line = line;
	if (line)
		n = snprintf(diag->msg, sizeof(diag->msg), "line %u: ", line);
	va_start(ap, fmt);
	vsnprintf(diag->msg + n, sizeof(diag->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}
