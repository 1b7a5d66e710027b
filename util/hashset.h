/*
 * hashset.h - an open-addressing hash set of fixed-size keys.
 *
 * For sets of ids met during a walk (20-byte git object ids, 32-byte
 * digests, 8-byte inode numbers): add, ask, count.  Keys are any bytes,
 * all-zero keys included; occupancy is kept apart from the keys.  Keys
 * are copied in; nothing points into the caller's memory.  There is no
 * removal: sets live for one walk and are released whole.
 *
 * Threads: one thread at a time; no locking.
 */
#ifndef GOVC_UTIL_HASHSET_H
#define GOVC_UTIL_HASHSET_H

#include <stddef.h>
#include <stdint.h>

struct util_hashset {
	unsigned char *keys;	/* cap slots of key_size bytes */
	uint8_t *used;		/* cap flags: slot holds a key */
	size_t key_size;
	size_t count;		/* keys held */
	size_t cap;		/* slots, 0 or a power of two */
};

/* an empty set of KEY_SIZE-byte keys, ready without util_hashset_init */
#define UTIL_HASHSET_INIT(key_size) { NULL, NULL, (key_size), 0, 0 }

/* util_hashset_init - make S an empty set of KEY_SIZE-byte keys
 * (KEY_SIZE > 0).  Allocates nothing; cannot fail. */
void util_hashset_init(struct util_hashset *s, size_t key_size);

/* util_hashset_release - free S's memory; S is left empty, same key size. */
void util_hashset_release(struct util_hashset *s);

/*
 * util_hashset_add - put the key_size bytes at KEY into S.
 *
 * Returns 1 if added, 0 if S held it already, -ENOMEM (S unchanged).
 */
int util_hashset_add(struct util_hashset *s, const void *key);

/* util_hashset_has - 1 if S holds the key_size bytes at KEY, else 0. */
int util_hashset_has(const struct util_hashset *s, const void *key);

/* util_hashset_count - how many keys S holds. */
static inline size_t util_hashset_count(const struct util_hashset *s)
{
	return s->count;
}

#endif
