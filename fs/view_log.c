/*
 * view_log.c - log/: log/<repo> is the repository's history, newest first,
 * one line a commit (store_log: id, time, subject, paths changed).  Its
 * text is made when it is read and kept per store generation (fs_text),
 * and it has no attribute caching: the kernel asks for its size at every
 * read, so a new commit shows at once.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs_int.h"
#include "util/buf.h"
#include "store/commit.h"
#include "store/repo.h"

static int log_lookup(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		      const char *name, struct fuse_entry_param *e)
{
	struct fs_node n = { .kind = FS_K_LOG, .mode = S_IFREG | 0444 };
	int rc;

	memset(e, 0, sizeof(*e));
	if (dir->kind != FS_K_FIXED)
		return -ENOTDIR;
	if (store_repo_exists(t, name) != 1)
		return -ENOENT;
	snprintf(n.repo, sizeof(n.repo), "%s", name);
	rc = fs_new_entry(fs, &n, FS_LIST_TIMEOUT, e);
	e->attr_timeout = 0;
	return rc;
}

static int log_getattr(struct fs *fs, struct store_txn *t, const struct fs_node *n,
		       struct stat *st, double *timeout)
{
	uint64_t len;
	int64_t changed;
	size_t none;
	int rc;

	(void)t;
	if (n->kind == FS_K_FIXED) {
		fs_fixed_attr(fs, n->id, S_IFDIR | 0555, st);
		return 0;
	}
	fs_dynamic_attr(fs, n, st);
	*timeout = 0;
	rc = fs_text(fs, n->id, 0, 0, NULL, &none, &len, &changed);
	if (rc)
		return rc;
	st->st_size = (off_t)len;
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
	st->st_mtim.tv_sec = st->st_ctim.tv_sec = (time_t)(changed / 1000000000);
	st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = (long)(changed % 1000000000);
	return 0;
}

static int log_list(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		    struct fs_dirlist *out)
{
	(void)fs;
	return dir->kind == FS_K_FIXED ? fs_list_repos(t, out) : -ENOTDIR;
}

/* the log as MNT/log/<repo> shows it: one line per commit; capped so a
 * history of millions of commits cannot take the daemon's memory */
#define LOG_TEXT_MAX (256u << 20)

static int add_log_line(const char *line, void *arg)
{
	struct util_buf *b = arg;
	int rc = util_buf_adds(b, line);

	return rc ? rc : util_buf_add(b, "\n", 1);
}

static int log_open(struct fs *fs, const struct fs_node *n, char **content, size_t *len,
		    int *direct_io)
{
	struct util_buf b = UTIL_BUF_INIT(LOG_TEXT_MAX);
	int rc;

	*content = NULL;
	*len = 0;
	*direct_io = 0;
	if (n->kind == FS_K_FIXED)
		return -EISDIR;
	rc = store_log(fs->store, n->repo, "HEAD", add_log_line, &b);
	if (rc) {
		util_buf_release(&b);
		return rc;
	}
	*content = util_buf_detach(&b, len);
	*direct_io = 1;
	return *content ? 0 : -ENOMEM;
}

static int log_read(struct fs *fs, const struct fs_node *n, uint64_t off, size_t size,
		    fuse_req_t req)
{
	return n->kind == FS_K_LOG ? fs_reply_text(fs, n, off, size, req) : -ENOENT;
}

const struct fs_view_ops fs_view_log = {
	.name = "log",
	.lookup = log_lookup,
	.getattr = log_getattr,
	.list = log_list,
	.open = log_open,
	.read = log_read,
	.change_errno = EROFS,
};
