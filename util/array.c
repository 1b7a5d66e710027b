/*
 * array.c - growable arrays of fixed-size elements.  See array.h.
 *
 * Invariants: len <= cap; v is NULL exactly when cap is 0; size never
 * changes after init.  Capacity doubles, starting at 8 elements, and
 * overflowing sizes fail as -ENOMEM.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/array.h"

#define ARRAY_MIN_CAP 8

void util_array_init(struct util_array *a, size_t size)
{
	assert(size > 0);
	a->v = NULL;
	a->len = 0;
	a->cap = 0;
	a->size = size;
}

void util_array_release(struct util_array *a)
{
	free(a->v);
	a->v = NULL;
	a->len = 0;
	a->cap = 0;
}

int util_array_reserve(struct util_array *a, size_t n)
{
	size_t cap;
	void *v;

	assert(a->size > 0);
	if (n <= a->cap - a->len)
		return 0;
	if (n > SIZE_MAX / a->size - a->len)
		return -ENOMEM;
	cap = a->cap ? a->cap : ARRAY_MIN_CAP;
	while (cap < a->len + n)
		cap = cap > SIZE_MAX / 2 ? a->len + n : cap * 2;
	if (cap > SIZE_MAX / a->size)
		cap = a->len + n;
	v = realloc(a->v, cap * a->size);
	if (!v)
		return -ENOMEM;
	a->v = v;
	a->cap = cap;
	return 0;
}

void *util_array_push(struct util_array *a)
{
	void *e;

	if (util_array_reserve(a, 1))
		return NULL;
	e = util_array_at(a, a->len++);
	memset(e, 0, a->size);
	return e;
}

void util_array_sort(struct util_array *a, int (*cmp)(const void *, const void *))
{
	if (a->len > 1)
		qsort(a->v, a->len, a->size, cmp);
}

void *util_array_bsearch(const struct util_array *a, const void *key,
			 int (*cmp)(const void *, const void *))
{
	return a->len ? bsearch(key, a->v, a->len, a->size, cmp) : NULL;
}
