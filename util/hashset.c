/*
 * hashset.c - open-addressing hash sets of fixed-size keys.  See hashset.h.
 *
 * Linear probing over a power-of-two table kept at most 70% full, so a
 * probe sequence ends at an unused slot.  Occupancy lives in its own byte
 * array, which lets the all-zero key be a key like any other.  The hash is
 * FNV-1a over the key's bytes with a final mix: git ids are random already,
 * but callers may use structured keys (inode numbers).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/hashset.h"

#define HASHSET_MIN_CAP 16

void util_hashset_init(struct util_hashset *s, size_t key_size)
{
	assert(key_size > 0);
	memset(s, 0, sizeof(*s));
	s->key_size = key_size;
}

void util_hashset_release(struct util_hashset *s)
{
	free(s->keys);
	free(s->used);
	s->keys = NULL;
	s->used = NULL;
	s->count = 0;
	s->cap = 0;
}

static uint64_t hash(const void *key, size_t n)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* find - the slot holding KEY, or the unused slot where it would go */
static size_t find(const struct util_hashset *s, const void *key)
{
	size_t mask = s->cap - 1, i = (size_t)hash(key, s->key_size) & mask;

	while (s->used[i] && memcmp(s->keys + i * s->key_size, key, s->key_size))
		i = (i + 1) & mask;
	return i;
}

static int grow(struct util_hashset *s)
{
	struct util_hashset n = { .key_size = s->key_size, .count = s->count };

	n.cap = s->cap ? s->cap * 2 : HASHSET_MIN_CAP;
	if (n.cap > SIZE_MAX / s->key_size / 2)
		return -ENOMEM;
	n.keys = malloc(n.cap * s->key_size);
	n.used = calloc(n.cap, 1);
	if (!n.keys || !n.used) {
		free(n.keys);
		free(n.used);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++) {
		const unsigned char *k = s->keys + i * s->key_size;
		size_t j;
		if (!s->used[i])
			continue;
		j = find(&n, k);
		memcpy(n.keys + j * n.key_size, k, n.key_size);
		n.used[j] = 1;
	}
	free(s->keys);
	free(s->used);
	*s = n;
	return 0;
}

int util_hashset_add(struct util_hashset *s, const void *key)
{
	size_t i;

	if (s->cap && util_hashset_has(s, key))
		return 0;
	if ((s->count + 1) * 10 > s->cap * 7) {
		int rc = grow(s);
		if (rc)
			return rc;
	}
	i = find(s, key);
	assert(!s->used[i]);
	memcpy(s->keys + i * s->key_size, key, s->key_size);
	s->used[i] = 1;
	s->count++;
	return 1;
}

int util_hashset_has(const struct util_hashset *s, const void *key)
{
	return s->cap ? s->used[find(s, key)] : 0;
}
