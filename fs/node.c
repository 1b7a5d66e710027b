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
			free(n);
		}
	}
	free(fs->table);
	fs->table = NULL;
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
}

static void drop(struct fs *fs, struct fs_node *gone)
{
	struct fs_node **p = &fs->table[slot(fs, gone->id)];

	while (*p != gone)
		p = &(*p)->next;
	*p = gone->next;
	fs->nodes--;
	free(gone);
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
