/*
 * buf.c - size-capped growable byte buffers.  See buf.h.
 *
 * Invariants: ptr is NULL or holds len + 1 bytes ending in a NUL; len <=
 * max; cap > len whenever ptr is set.  Growth doubles (capped at max + 1),
 * so appending N bytes one at a time costs O(N) copies.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define BUF_MIN_ALLOC 32

void util_buf_init(struct util_buf *b, size_t max)
{
	assert(max > 0);
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void util_buf_release(struct util_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
}

void util_buf_reset(struct util_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

/* grow - make room for LEN more bytes and the NUL */
static int grow(struct util_buf *b, size_t len)
{
	size_t need, cap;
	char *p;

	assert(b->max > 0 && b->len <= b->max);
	if (len > b->max - b->len)
		return -EFBIG;
	need = b->len + len + 1;
	if (b->ptr && need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN_ALLOC;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->ptr, cap);
	if (!p)
		return -ENOMEM;
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int util_buf_add(struct util_buf *b, const void *data, size_t len)
{
	int rc = grow(b, len);

	if (rc)
		return rc;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int util_buf_adds(struct util_buf *b, const char *s)
{
	return util_buf_add(b, s, strlen(s));
}

int util_buf_vaddf(struct util_buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n, rc;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	if (n < 0)
		return -EINVAL;
	rc = grow(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int util_buf_addf(struct util_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = util_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

const char *util_buf_str(const struct util_buf *b)
{
	return b->ptr ? b->ptr : "";
}

char *util_buf_detach(struct util_buf *b, size_t *len)
{
	char *p = b->ptr;

	if (len)
		*len = b->len;
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
