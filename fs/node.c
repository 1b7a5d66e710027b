/*
 * node.c - the daemon's table of nodes the kernel holds: lookup counts of
 * working-tree inodes (so an unlinked file lives until its last holder lets
 * go) and the payload of dynamic nodes.  A chained hash table that doubles
 * when it fills; every access under fs->lock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs_int.h"

#define TABLE_INITIAL (1u << 14)

static size_t slot(const struct fs *fs, uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)(id & (fs->table_size - 1));
}

int fs_nodes_init(struct fs *fs)
{
	fs->table_size = TABLE_INITIAL;
	fs->table = calloc(fs->table_size, sizeof(*fs->table));
	fs->next_dynamic = FS_ID_DYNAMIC;
	return fs->table ? 0 : -ENOMEM;
}

void fs_nodes_free(struct fs *fs)
{
	for (size_t i = 0; fs->table && i < fs->table_size; i++) {
		struct fs_node *n = fs->table[i], *next;
		for (; n; n = next) {
			next = n->next;
			free(n->key);
			free(n->target);
			free(n);
		}
	}
	free(fs->table);
	free(fs->keyed);
	fs->table = NULL;
	fs->keyed = NULL;
}

static void grow(struct fs *fs)
{
	size_t old_size = fs->table_size;
	struct fs_node **old = fs->table, **nt = calloc(old_size * 2, sizeof(*nt));

	if (!nt)
		return;		/* keep the longer chains */
	fs->table = nt;
	fs->table_size = old_size * 2;
	for (size_t i = 0; i < old_size; i++) {
		struct fs_node *n = old[i], *next;
		for (; n; n = next) {
			size_t s = slot(fs, n->id);
			next = n->next;
			n->next = nt[s];
			nt[s] = n;
		}
	}
	free(old);
}

static struct fs_node *find(struct fs *fs, uint64_t id)
{
	struct fs_node *n = fs->table[slot(fs, id)];

	while (n && n->id != id)
		n = n->next;
	return n;
}

static void insert(struct fs *fs, struct fs_node *n)
{
	size_t s;

	if (fs->nodes >= fs->table_size)
		grow(fs);
	s = slot(fs, n->id);
	n->next = fs->table[s];
	fs->table[s] = n;
	fs->nodes++;
	if (n->kind == FS_K_IMG_NODE && n->image)
		store_image_hold(n->image);	/* pinned against gc meanwhile */
}

/* ---- interned nodes: a second table, by key ------------------------------ */

static uint64_t key_hash(const struct fs_node *n)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)n->kind;

	h = (h ^ n->key_a) * 1099511628211ULL;
	h = (h ^ n->key_b) * 1099511628211ULL;
	for (size_t i = 0; i < n->key_len; i++)
		h = (h ^ (unsigned char)n->key[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static int key_equal(const struct fs_node *a, const struct fs_node *b)
{
	return a->kind == b->kind && a->key_a == b->key_a && a->key_b == b->key_b &&
	       a->key_len == b->key_len && (!a->key_len || !memcmp(a->key, b->key, a->key_len));
}

static struct fs_node **key_slot(struct fs *fs, const struct fs_node *n)
{
	return &fs->keyed[key_hash(n) & (fs->keyed_size - 1)];
}

static void key_grow(struct fs *fs)
{
	size_t old_size = fs->keyed_size;
	struct fs_node **old = fs->keyed, **nt = calloc(old_size * 2, sizeof(*nt));

	if (!nt)
		return;
	fs->keyed = nt;
	fs->keyed_size = old_size * 2;
	for (size_t i = 0; i < old_size; i++) {
		struct fs_node *n = old[i], *next;
		for (; n; n = next) {
			struct fs_node **s = key_slot(fs, n);
			next = n->knext;
			n->knext = *s;
			*s = n;
		}
	}
	free(old);
}

static void drop(struct fs *fs, struct fs_node *gone)
{
	struct fs_node **p = &fs->table[slot(fs, gone->id)];

	while (*p != gone)
		p = &(*p)->next;
	*p = gone->next;
	if (gone->interned) {
		p = key_slot(fs, gone);
		while (*p != gone)
			p = &(*p)->knext;
		*p = gone->knext;
	}
	fs->nodes--;
	if (gone->kind == FS_K_IMG_NODE && gone->image)
		store_image_unhold(gone->image);
	free(gone->key);
	free(gone->target);
	free(gone);
}

uint64_t fs_node_find(struct fs *fs, int kind, const char *key, size_t key_len)
{
	struct fs_node probe = { .kind = (enum fs_kind)kind, .key = (char *)key, .key_len = key_len };
	struct fs_node *n = NULL;
	uint64_t id;

	pthread_mutex_lock(&fs->lock);
	if (fs->keyed)
		for (n = *key_slot(fs, &probe); n && !key_equal(n, &probe); n = n->knext)
			;
	id = n ? n->id : 0;
	pthread_mutex_unlock(&fs->lock);
	return id;
}

uint64_t fs_node_intern(struct fs *fs, struct fs_node *tmpl)
{
	struct fs_node *n, **s;
	uint64_t id;

	pthread_mutex_lock(&fs->lock);
	if (!fs->keyed) {
		fs->keyed_size = TABLE_INITIAL;
		fs->keyed = calloc(fs->keyed_size, sizeof(*fs->keyed));
		if (!fs->keyed) {
			pthread_mutex_unlock(&fs->lock);
			goto fail;
		}
	}
	for (n = *key_slot(fs, tmpl); n && !key_equal(n, tmpl); n = n->knext)
		;
	if (n) {
		n->nlookup++;
		id = n->id;
		pthread_mutex_unlock(&fs->lock);
		free(tmpl->key);
		free(tmpl->target);
		tmpl->key = tmpl->target = NULL;
		return id;
	}
	n = malloc(sizeof(*n));
	if (!n) {
		pthread_mutex_unlock(&fs->lock);
		goto fail;
	}
	*n = *tmpl;
	n->nlookup = 1;
	n->nopen = 0;
	n->orphan = 0;
	n->interned = 1;
	id = n->id = fs->next_dynamic++;
	insert(fs, n);
	if (fs->nodes >= fs->keyed_size)
		key_grow(fs);
	s = key_slot(fs, n);
	n->knext = *s;
	*s = n;
	pthread_mutex_unlock(&fs->lock);
	tmpl->key = tmpl->target = NULL;
	return id;
fail:
	free(tmpl->key);
	free(tmpl->target);
	tmpl->key = tmpl->target = NULL;
	return 0;
}

int fs_node_ref(struct fs *fs, uint64_t id, uint64_t nlookup)
{
	struct fs_node *n;

	pthread_mutex_lock(&fs->lock);
	n = find(fs, id);
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&fs->lock);
			return -ENOMEM;
		}
		n->id = id;
		insert(fs, n);
	}
	n->nlookup += nlookup;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

uint64_t fs_node_new(struct fs *fs, const struct fs_node *tmpl)
{
	struct fs_node *n = malloc(sizeof(*n));
	uint64_t id;

	if (!n)
		return 0;
	*n = *tmpl;
	n->nlookup = 1;
	n->nopen = 0;
	n->orphan = 0;
	pthread_mutex_lock(&fs->lock);
	id = n->id = fs->next_dynamic++;
	insert(fs, n);
	pthread_mutex_unlock(&fs->lock);
	return id;
}

int fs_node_get(struct fs *fs, uint64_t id, struct fs_node *out)
{
	struct fs_node *n;

	pthread_mutex_lock(&fs->lock);
	n = find(fs, id);
	if (n)
		*out = *n;
	pthread_mutex_unlock(&fs->lock);
	return n ? 0 : -ENOENT;
}

/* unused - drop N if nothing holds it; 1 if it was an orphan to free. */
static int unused(struct fs *fs, struct fs_node *n)
{
	int orphan = n->orphan;

	if (n->nlookup || n->nopen)
		return 0;
	drop(fs, n);
	return orphan;
}

int fs_node_forget(struct fs *fs, uint64_t id, uint64_t nlookup)
{
	struct fs_node *n;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	n = find(fs, id);
	if (n) {
		n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
		rc = unused(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void fs_node_open(struct fs *fs, uint64_t id)
{
	struct fs_node *n;

	pthread_mutex_lock(&fs->lock);
	n = find(fs, id);
	if (!n && (n = calloc(1, sizeof(*n)))) {
		n->id = id;
		insert(fs, n);
	}
	if (n)
		n->nopen++;
	pthread_mutex_unlock(&fs->lock);
}

int fs_node_release(struct fs *fs, uint64_t id)
{
	struct fs_node *n;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	n = find(fs, id);
	if (n) {
		if (n->nopen)
			n->nopen--;
		rc = unused(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int fs_node_orphaned(struct fs *fs, uint64_t id)
{
	struct fs_node *n;
	int free_now;

	pthread_mutex_lock(&fs->lock);
	n = find(fs, id);
	free_now = !n || (!n->nlookup && !n->nopen);
	if (n)
		n->orphan = 1;
	pthread_mutex_unlock(&fs->lock);
	return free_now;
}
