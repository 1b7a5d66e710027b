/*
 * view.c - the table of views (fs_int.h, "Views") and what the views
 * share: which view a node belongs to, directory listings, attributes of
 * generated nodes, and the texts of generated files read without OPEN.
 *
 * The FUSE handlers call fs_view_of() once per request; it costs a look
 * at the node table (under fs->lock) for dynamic nodes and nothing else.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs_int.h"
#include "store/repo.h"

const struct fs_view_ops *const fs_views[FS_VIEWS] = {
	[FS_V_ROOT] = &fs_view_root,	 [FS_V_REPOS] = &fs_view_repos,
	[FS_V_COMMITS] = &fs_view_commits, [FS_V_LOG] = &fs_view_log,
	[FS_V_EVENTS] = &fs_view_events, [FS_V_IMAGES] = &fs_view_images,
	[FS_V_LAYERS] = &fs_view_layers, [FS_V_OCI] = &fs_view_oci,
	[FS_V_BUILDS] = &fs_view_builds,
};

/* the view of each fixed id; unlisted ids are unknown */
static const struct {
	fuse_ino_t id;
	enum fs_view view;
} fixed_views[] = {
	{ FS_ID_ROOT, FS_V_ROOT },	   { FS_ID_REPOS, FS_V_REPOS },
	{ FS_ID_COMMITS, FS_V_COMMITS },   { FS_ID_LOG, FS_V_LOG },
	{ FS_ID_EVENTS, FS_V_EVENTS },	   { FS_ID_IMAGES, FS_V_IMAGES },
	{ FS_ID_LAYERS, FS_V_LAYERS },	   { FS_ID_OCI, FS_V_OCI },
	{ FS_ID_OCI_LAYOUT, FS_V_OCI },	   { FS_ID_OCI_INDEX, FS_V_OCI },
	{ FS_ID_OCI_BLOBS, FS_V_OCI },	   { FS_ID_OCI_SHA256, FS_V_OCI },
	{ FS_ID_BUILDS, FS_V_BUILDS },
};

/* the view of each kind of dynamic node */
static const enum fs_view kind_views[] = {
	[FS_K_COMMITS_REPO] = FS_V_COMMITS, [FS_K_TREE] = FS_V_COMMITS,
	[FS_K_BLOB] = FS_V_COMMITS,	    [FS_K_LINK] = FS_V_COMMITS,
	[FS_K_SPECIAL] = FS_V_COMMITS,
	[FS_K_LOG] = FS_V_LOG,		    [FS_K_IMG_DIR] = FS_V_IMAGES,
	[FS_K_IMG_TAGS] = FS_V_IMAGES,	    [FS_K_IMG_TAG] = FS_V_IMAGES,
	[FS_K_IMG_LAYERS] = FS_V_IMAGES,    [FS_K_IMG_LINK] = FS_V_IMAGES,
	[FS_K_IMG_BLOB] = FS_V_IMAGES,	    [FS_K_IMG_NODE] = FS_V_IMAGES,
	[FS_K_BUILDS_REPO] = FS_V_BUILDS,   [FS_K_BUILD] = FS_V_BUILDS,
	[FS_K_BUILD_FILE] = FS_V_BUILDS,    [FS_K_BUILD_LATEST] = FS_V_BUILDS,
};

const struct fs_view_ops *fs_view_of(struct fs *fs, fuse_ino_t id, struct fs_node *n)
{
	if (id > FS_ID_FIXED_MAX && id < FS_ID_DYNAMIC) {
		memset(n, 0, sizeof(*n));
		n->id = id;
		n->kind = FS_K_WT;
		return fs_views[FS_V_REPOS];
	}
	if (id <= FS_ID_FIXED_MAX) {
		for (size_t i = 0; i < sizeof(fixed_views) / sizeof(fixed_views[0]); i++) {
			if (fixed_views[i].id != id)
				continue;
			memset(n, 0, sizeof(*n));
			n->id = id;
			n->kind = FS_K_FIXED;
			return fs_views[fixed_views[i].view];
		}
		return NULL;
	}
	if (fs_node_get(fs, id, n))
		return NULL;
	assert(n->kind > FS_K_WT && n->kind < sizeof(kind_views) / sizeof(kind_views[0]));
	return fs_views[kind_views[n->kind]];
}

int fs_dirlist_add(struct fs_dirlist *l, const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **nn = realloc(l->names, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		l->names = nn;
		l->cap = cap;
	}
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

void fs_dirlist_free(struct fs_dirlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->names[i]);
		if (l->nodes)
			free(l->nodes[i].target);
	}
	free(l->names);
	free(l->nodes);
	memset(l, 0, sizeof(*l));
}

void fs_fixed_attr(struct fs *fs, fuse_ino_t id, mode_t mode, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = id;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs->started;
}

void fs_dynamic_attr(struct fs *fs, const struct fs_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->id;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink ? n->nlink : 1;
	st->st_uid = n->owned ? n->uid : fs->uid;
	st->st_gid = n->owned ? n->gid : fs->gid;
	st->st_rdev = (dev_t)n->rdev;
	st->st_size = (off_t)n->size;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_blksize = 4096;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = (time_t)n->time;
}

int fs_new_entry(struct fs *fs, const struct fs_node *tmpl, double timeout,
		 struct fuse_entry_param *e)
{
	uint64_t id = fs_node_new(fs, tmpl);
	struct fs_node n = *tmpl;

	if (!id)
		return -ENOMEM;
	n.id = id;
	memset(e, 0, sizeof(*e));
	e->ino = id;
	e->attr_timeout = e->entry_timeout = timeout;
	fs_dynamic_attr(fs, &n, &e->attr);
	return 0;
}

int fs_intern_entry(struct fs *fs, struct fs_node *tmpl, double timeout,
		    struct fuse_entry_param *e)
{
	uint64_t id = fs_node_intern(fs, tmpl);

	if (!id)
		return -ENOMEM;
	tmpl->id = id;
	memset(e, 0, sizeof(*e));
	e->ino = id;
	e->attr_timeout = e->entry_timeout = timeout;
	fs_dynamic_attr(fs, tmpl, &e->attr);
	return 0;
}

/*
 * Generated files read without OPEN (fs->no_open): the text of log/<repo>,
 * oci/index.json and oci/oci-layout is made when first asked for and kept,
 * for the FS_TEXTS nodes asked for last, until the store's generation
 * moves.  GETATTR gives its length and the time it last changed, so the
 * kernel's cached pages follow it: a changed size or mtime drops them.
 */
static struct fs_text *text_find(struct fs *fs, fuse_ino_t id)
{
	for (size_t i = 0; i < FS_TEXTS; i++)
		if (fs->texts[i].id == id)
			return &fs->texts[i];
	return NULL;
}

static struct fs_text *text_slot(struct fs *fs, fuse_ino_t id)
{
	struct fs_text *e = &fs->texts[0];

	for (size_t i = 1; i < FS_TEXTS; i++)
		if (fs->texts[i].used < e->used)
			e = &fs->texts[i];
	free(e->buf);
	memset(e, 0, sizeof(*e));
	e->id = id;
	return e;
}

/* make_text - the text of generated file ID, from its view's open */
static int make_text(struct fs *fs, fuse_ino_t id, char **buf, size_t *len)
{
	struct fs_node n;
	const struct fs_view_ops *v = fs_view_of(fs, id, &n);
	int direct, rc;

	*buf = NULL;
	if (!v)
		return -ENOENT;
	rc = v->open ? v->open(fs, &n, buf, len, &direct) : -EISDIR;
	if (rc == 0 && !*buf)
		rc = -EINVAL;	/* not a generated file */
	return rc;
}

int fs_text(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size, char **out, size_t *n,
	    uint64_t *total, int64_t *changed_ns)
{
	uint64_t gen = store_generation(fs->store);
	struct fs_text *e;
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	if (out)
		*out = NULL;
	*n = 0;
	pthread_mutex_lock(&fs->lock);
	e = text_find(fs, id);
	if (!e || e->gen != gen) {
		pthread_mutex_unlock(&fs->lock);
		rc = make_text(fs, id, &buf, &len);
		if (rc)
			return rc;
		pthread_mutex_lock(&fs->lock);
		e = text_find(fs, id);
		if (!e)
			e = text_slot(fs, id);
		if (!e->buf || e->len != len || memcmp(e->buf, buf, len) != 0) {
			free(e->buf);
			e->buf = buf;
			e->len = len;
			e->changed_ns = store_now_ns();
		} else {
			free(buf);
		}
		e->gen = gen;
	}
	e->used = ++fs->text_clock;
	*total = e->len;
	*changed_ns = e->changed_ns;
	if (out && off < e->len) {
		*n = size < e->len - off ? size : (size_t)(e->len - off);
		*out = malloc(*n ? *n : 1);
		if (*out)
			memcpy(*out, e->buf + off, *n);
		else
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void fs_texts_free(struct fs *fs)
{
	for (size_t i = 0; i < FS_TEXTS; i++) {
		free(fs->texts[i].buf);
		memset(&fs->texts[i], 0, sizeof(fs->texts[i]));
	}
}

int fs_reply_text(struct fs *fs, const struct fs_node *n, uint64_t off, size_t size,
		  fuse_req_t req)
{
	char *copy;
	size_t len;
	uint64_t total;
	int64_t changed;
	int rc = fs_text(fs, n->id, off, size, &copy, &len, &total, &changed);

	if (rc == 0)
		fuse_reply_buf(req, copy, len);
	free(copy);
	return rc;
}

static int add_name(const char *name, void *arg)
{
	return fs_dirlist_add(arg, name);
}

int fs_list_repos(struct store_txn *t, struct fs_dirlist *out)
{
	return store_repo_foreach(t, add_name, out);
}
