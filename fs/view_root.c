/*
 * view_root.c - the root directory, whose entries are fixed, and the
 * events file: the store's event log as it grows (JSON lines, raised by
 * the store alone: store_event_append), read live so `tail -f` follows it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs_int.h"

static const struct {
	const char *name;
	fuse_ino_t id;
	mode_t mode;
} root_entries[] = {
	{ "repos", FS_ID_REPOS, S_IFDIR | 0755 },
	{ "commits", FS_ID_COMMITS, S_IFDIR | 0555 },
	{ "log", FS_ID_LOG, S_IFDIR | 0555 },
	{ "builds", FS_ID_BUILDS, S_IFDIR | 0555 },
	{ "events", FS_ID_EVENTS, S_IFREG | 0444 },
	{ "images", FS_ID_IMAGES, S_IFDIR | 0555 },
	{ "layers", FS_ID_LAYERS, S_IFDIR | 0555 },
	{ "oci", FS_ID_OCI, S_IFDIR | 0555 },
};
#define ROOT_ENTRIES (sizeof(root_entries) / sizeof(root_entries[0]))

static int root_lookup(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		       const char *name, struct fuse_entry_param *e)
{
	(void)t;
	(void)dir;
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < ROOT_ENTRIES; i++) {
		if (strcmp(name, root_entries[i].name))
			continue;
		e->ino = root_entries[i].id;
		e->attr_timeout = root_entries[i].id == FS_ID_EVENTS ? 0 : FS_FOREVER;
		e->entry_timeout = FS_FOREVER;
		fs_fixed_attr(fs, e->ino, root_entries[i].mode, &e->attr);
		if (root_entries[i].id == FS_ID_BUILDS) {
			/* its attributes (the mtime that keeps the kernel's
			 * cached listing true) are the disk's: view_builds.c */
			double timeout;
			struct fs_node n = { .id = FS_ID_BUILDS, .kind = FS_K_FIXED };
			e->attr_timeout = 0;
			return fs_view_builds.getattr(fs, t, &n, &e->attr, &timeout);
		}
		return 0;
	}
	return -ENOENT;
}

static int root_getattr(struct fs *fs, struct store_txn *t, const struct fs_node *n,
			struct stat *st, double *timeout)
{
	(void)t;
	(void)timeout;
	fs_fixed_attr(fs, n->id, S_IFDIR | 0755, st);
	return 0;
}

static int root_list(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		     struct fs_dirlist *out)
{
	int rc = 0;

	(void)fs;
	(void)t;
	(void)dir;
	for (size_t i = 0; rc == 0 && i < ROOT_ENTRIES; i++)
		rc = fs_dirlist_add(out, root_entries[i].name);
	return rc;
}

const struct fs_view_ops fs_view_root = {
	.name = "root",
	.lookup = root_lookup,
	.getattr = root_getattr,
	.list = root_list,
	.change_errno = EROFS,
};

/* ---- events ---------------------------------------------------------------- */

static int events_lookup(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
			 const char *name, struct fuse_entry_param *e)
{
	(void)fs;
	(void)t;
	(void)dir;
	(void)name;
	memset(e, 0, sizeof(*e));
	return -ENOENT;
}

static int events_getattr(struct fs *fs, struct store_txn *t, const struct fs_node *n,
			  struct stat *st, double *timeout)
{
	uint64_t size = 0;

	fs_fixed_attr(fs, n->id, S_IFREG | 0444, st);
	store_events_size(t, &size);
	st->st_size = (off_t)size;
	*timeout = 0;	/* the kernel asks for the size at every read */
	return 0;
}

static int events_open(struct fs *fs, const struct fs_node *n, char **content, size_t *len,
		       int *direct_io)
{
	(void)fs;
	(void)n;
	*content = NULL;
	*len = 0;
	*direct_io = 1;
	return 0;
}

static int events_read(struct fs *fs, const struct fs_node *n, uint64_t off, size_t size,
		       fuse_req_t req)
{
	struct store_txn *t;
	char *buf;
	long got;
	int rc = store_txn_begin(&t, fs->store, 0);

	(void)n;
	if (rc)
		return rc;
	buf = malloc(size ? size : 1);
	got = buf ? store_events_read(t, off, buf, size) : -ENOMEM;
	store_txn_abort(t);
	if (got >= 0)
		fuse_reply_buf(req, buf, (size_t)got);
	free(buf);
	return got < 0 ? (int)got : 0;
}

const struct fs_view_ops fs_view_events = {
	.name = "events",
	.lookup = events_lookup,
	.getattr = events_getattr,
	.open = events_open,
	.read = events_read,
	.change_errno = EROFS,
};
