/*
 * array.h - a growable array of fixed-size elements.
 *
 * One struct for every element type: the element size is fixed when the
 * array is initialised, and the UTIL_ARRAY_* macros give typed access so
 * callers rarely cast:
 *
 *	struct util_array kids = UTIL_ARRAY_INIT(struct child);
 *	struct child *c = UTIL_ARRAY_PUSH(&kids, struct child);
 *	if (!c)
 *		return -ENOMEM;
 *	...
 *	UTIL_ARRAY_FOREACH(&kids, struct child, c)
 *		use(c);
 *	util_array_release(&kids);
 *
 * Pointers to elements stay valid until the next push or reserve (which
 * may move the storage).  Threads: one thread at a time; no locking.
 */
#ifndef GOVC_UTIL_ARRAY_H
#define GOVC_UTIL_ARRAY_H

#include <stddef.h>

struct util_array {
	void *v;	/* the elements; NULL until the first push or reserve */
	size_t len;	/* elements held */
	size_t cap;	/* elements allocated */
	size_t size;	/* bytes per element */
};

/* an empty array of elements of TYPE, ready without util_array_init */
#define UTIL_ARRAY_INIT(type) { NULL, 0, 0, sizeof(type) }

/* util_array_init - make A an empty array of SIZE-byte elements (SIZE > 0).
 * Allocates nothing; cannot fail. */
void util_array_init(struct util_array *a, size_t size);

/* util_array_release - free A's elements' storage and leave it empty (same
 * element size), ready for reuse.  What elements point to is the caller's
 * to free first. */
void util_array_release(struct util_array *a);

/*
 * util_array_reserve - make room for N more elements without moving the
 * storage again.  Returns 0, or -ENOMEM (A unchanged).
 */
int util_array_reserve(struct util_array *a, size_t n);

/*
 * util_array_push - append one element and return it, zero-filled, for the
 * caller to fill in; NULL if memory runs out (A unchanged).  Borrowed:
 * valid until the next push or reserve.
 */
void *util_array_push(struct util_array *a);

/* util_array_at - element I (I < len), borrowed like util_array_push's. */
static inline void *util_array_at(const struct util_array *a, size_t i)
{
	return (char *)a->v + i * a->size;
}

/* util_array_len - how many elements A holds. */
static inline size_t util_array_len(const struct util_array *a)
{
	return a->len;
}

/* util_array_sort - sort the elements with qsort and CMP. */
void util_array_sort(struct util_array *a, int (*cmp)(const void *, const void *));

/*
 * util_array_bsearch - the element equal to KEY by CMP (called as
 * CMP(KEY, element)) in an array sorted by CMP, or NULL.
 */
void *util_array_bsearch(const struct util_array *a, const void *key,
			 int (*cmp)(const void *, const void *));

/* typed access: TYPE must be the type the array was initialised with */
#define UTIL_ARRAY_PUSH(a, type) ((type *)util_array_push(a))
#define UTIL_ARRAY_AT(a, type, i) ((type *)util_array_at((a), (i)))
#define UTIL_ARRAY_FOREACH(a, type, it)                                        \
	for (type *it = (type *)(a)->v; it && it < (type *)(a)->v + (a)->len; it++)

#endif
