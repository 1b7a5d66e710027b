/*
 * view_builds.c - builds/: the build records of STORE/builds/ (build.h,
 * builder/record.h) as they are on disk, read-only.
 *
 *   builds/                    the repositories that have records
 *   builds/<repo>/             the records' numbers, in numeric order, and
 *                              `latest`, a symlink to the highest
 *   builds/<repo>/<n>/         the record's files (status, commit, govcfile,
 *                              log, image, error): reads go to the files
 *
 * Records change under the daemon (a build process writes them), so
 * nothing here is cached by the kernel beyond a request: attributes have
 * no timeout (the kernel asks at every stat and read, and a changed size
 * or mtime drops the pages it cached, as for `events`: `tail -f log`
 * follows a growing log, and a status replaced by rename shows at once);
 * directories report the mtime of theirs on disk, which moves when an
 * entry is added, so the kernel's cached listings are dropped then
 * (FUSE_CAP_AUTO_INVAL_DATA); misses are not cached; `latest` is a new
 * node whenever its target moves (its entry is never cached either), so a
 * cached link target never outlives it.  Names are checked before they
 * reach the disk: repository names as the store allows them, numbers
 * without leading zeros, files not starting with ".".
 *
 * Nodes are interned by their path below STORE/builds, so a path keeps
 * its inode number while the kernel holds it.  Threads: no state of its
 * own; each operation reads the disk.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/record.h"
#include "fs/fs_int.h"
#include "store/repo.h"

/* the largest read answered at once (the kernel asks for less) */
#define BUILDS_READ_MAX (1u << 20)
/* how long a positive entry below builds/ may be cached */
#define BUILDS_ENTRY_TIMEOUT 1.0

/* disk_path - STORE/builds[/KEY] into BUF */
static int disk_path(struct fs *fs, const char *key, char *buf, size_t len)
{
	int rc = bld_record_path(fs->store, NULL, 0, NULL, buf, len);
	size_t at = strlen(buf);

	if (rc == 0 && key && snprintf(buf + at, len - at, "/%s", key) >= (int)(len - at))
		rc = -ENAMETOOLONG;
	return rc;
}

/* fill - the attributes of node ID from ST (the disk's), read-only */
static void fill(struct fs *fs, fuse_ino_t id, const struct stat *disk, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = id;
	st->st_mode = S_ISDIR(disk->st_mode) ? (S_IFDIR | 0555) : (S_IFREG | 0444);
	st->st_nlink = S_ISDIR(disk->st_mode) ? 2 : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = S_ISDIR(disk->st_mode) ? 0 : disk->st_size;
	st->st_blocks = disk->st_blocks;
	st->st_blksize = 4096;
	st->st_atim = disk->st_atim;
	st->st_mtim = disk->st_mtim;
	st->st_ctim = disk->st_ctim;
}

/* latest_attr - the attributes of link LATEST, from its directory's */
static void latest_attr(struct fs *fs, const struct fs_node *n, const struct stat *dir,
			struct stat *st)
{
	fill(fs, n->id, dir, st);
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_size = (off_t)strlen(n->target);
	st->st_blocks = 0;
}

/* top - the highest record number in directory KEY (0: none) */
static unsigned top(struct fs *fs, const char *key)
{
	char path[4200];
	struct dirent *e;
	unsigned best = 0;
	DIR *d;

	if (disk_path(fs, key, path, sizeof(path)) || !(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		unsigned n = bld_record_number(e->d_name);
		if (n > best)
			best = n;
	}
	closedir(d);
	return best;
}

/* entry - intern the node of KIND for KEY (below STORE/builds), whose disk
 * attributes are DISK, into E; TARGET (a link's, copied) may be NULL */
static int entry(struct fs *fs, enum fs_kind kind, const char *repo, const char *key,
		 const char *target, const struct stat *disk, struct fuse_entry_param *e)
{
	struct fs_node n = { .kind = kind };
	int rc;

	snprintf(n.repo, sizeof(n.repo), "%s", repo);
	n.key = strdup(key);
	n.key_len = strlen(key);
	n.target = target ? strdup(target) : NULL;
	if (!n.key || (target && !n.target)) {
		free(n.key);
		free(n.target);
		return -ENOMEM;
	}
	n.mode = kind == FS_K_BUILD_LATEST ? (S_IFLNK | 0777)
		 : S_ISDIR(disk->st_mode) ? (S_IFDIR | 0555)
					  : (S_IFREG | 0444);
	rc = fs_intern_entry(fs, &n, BUILDS_ENTRY_TIMEOUT, e);
	if (rc)
		return rc;
	if (kind == FS_K_BUILD_LATEST) {
		struct fs_node l = { .id = e->ino, .target = (char *)target };
		latest_attr(fs, &l, disk, &e->attr);
		e->entry_timeout = 0;
	} else {
		fill(fs, e->ino, disk, &e->attr);
	}
	e->attr_timeout = 0;
	return 0;
}

static int builds_lookup(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
			 const char *name, struct fuse_entry_param *e)
{
	char key[600], path[4800];
	enum fs_kind kind;
	struct stat st;
	int rc;

	(void)t;
	memset(e, 0, sizeof(*e));
	if (dir->kind == FS_K_FIXED) {
		if (store_repo_name_check(name))
			return -ENOENT;
		kind = FS_K_BUILDS_REPO;
		snprintf(key, sizeof(key), "%s", name);
	} else if (dir->kind == FS_K_BUILDS_REPO && !strcmp(name, "latest")) {
		unsigned n = top(fs, dir->key);
		char target[16];

		if (!n || disk_path(fs, dir->key, path, sizeof(path)) || stat(path, &st))
			return -ENOENT;
		snprintf(target, sizeof(target), "%u", n);
		snprintf(key, sizeof(key), "%s/%u", dir->key, n);
		return entry(fs, FS_K_BUILD_LATEST, dir->repo, key, target, &st, e);
	} else if (dir->kind == FS_K_BUILDS_REPO) {
		if (!bld_record_number(name))
			return -ENOENT;
		kind = FS_K_BUILD;
		snprintf(key, sizeof(key), "%s/%s", dir->key, name);
	} else if (dir->kind == FS_K_BUILD) {
		if (name[0] == '.' || strlen(name) > 255)
			return -ENOENT;
		kind = FS_K_BUILD_FILE;
		snprintf(key, sizeof(key), "%s/%s", dir->key, name);
	} else {
		return -ENOTDIR;
	}
	rc = disk_path(fs, key, path, sizeof(path));
	if (rc)
		return rc;
	if (lstat(path, &st))
		return -ENOENT;
	if (kind == FS_K_BUILD_FILE ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode))
		return -ENOENT;
	return entry(fs, kind, kind == FS_K_BUILDS_REPO ? name : dir->repo, key, NULL, &st, e);
}

static int builds_getattr(struct fs *fs, struct store_txn *t, const struct fs_node *n,
			  struct stat *st, double *timeout)
{
	char path[4800];
	struct stat disk;
	const char *key = n->kind == FS_K_FIXED ? NULL : n->key;

	(void)t;
	*timeout = 0;
	if (n->kind == FS_K_BUILD_LATEST) {
		/* the link's times are its repository directory's */
		if (disk_path(fs, n->repo, path, sizeof(path)) || stat(path, &disk))
			return -ENOENT;
		latest_attr(fs, n, &disk, st);
		return 0;
	}
	if (disk_path(fs, key, path, sizeof(path)))
		return -ENOENT;
	if (lstat(path, &disk)) {
		if (n->kind != FS_K_FIXED)
			return -ENOENT;
		fs_fixed_attr(fs, n->id, S_IFDIR | 0555, st);	/* no build yet */
		return 0;
	}
	fill(fs, n->id, &disk, st);
	return 0;
}

/* a name of a listing, and its number when the listing is numeric */
struct listed {
	char *name;
	unsigned n;
};

static int by_number_then_name(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* wanted - does directory DIR list NAME, of type TYPE on disk? */
static int wanted(const struct fs_node *dir, const char *name, unsigned char type)
{
	switch (dir->kind) {
	case FS_K_FIXED:
		return type == DT_DIR && store_repo_name_check(name) == 0;
	case FS_K_BUILDS_REPO:
		return type == DT_DIR && bld_record_number(name);
	default:
		return type == DT_REG && name[0] != '.';
	}
}

static int builds_list(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		       struct fs_dirlist *out)
{
	struct listed *v = NULL;
	size_t n = 0, cap = 0;
	char path[4800];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	(void)t;
	if (dir->kind != FS_K_FIXED && dir->kind != FS_K_BUILDS_REPO && dir->kind != FS_K_BUILD)
		return -ENOTDIR;
	if (disk_path(fs, dir->kind == FS_K_FIXED ? NULL : dir->key, path, sizeof(path)))
		return -ENOENT;
	d = opendir(path);
	if (!d)
		return dir->kind == FS_K_FIXED && errno == ENOENT ? 0 : -ENOENT;
	while (rc == 0 && (e = readdir(d))) {
		unsigned char type = e->d_type;

		if (type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : 0;
		}
		if (!wanted(dir, e->d_name, type))
			continue;
		if (n == cap) {
			struct listed *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[n].n = dir->kind == FS_K_BUILDS_REPO ? bld_record_number(e->d_name) : 0;
		v[n].name = strdup(e->d_name);
		rc = v[n].name ? 0 : -ENOMEM;
		n += v[n].name != NULL;
	}
	closedir(d);
	if (v)
		qsort(v, n, sizeof(*v), by_number_then_name);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = fs_dirlist_add(out, v[i].name);
		free(v[i].name);
	}
	free(v);
	if (rc == 0 && n && dir->kind == FS_K_BUILDS_REPO)
		rc = fs_dirlist_add(out, "latest");
	return rc;
}

static int builds_open(struct fs *fs, const struct fs_node *n, char **content, size_t *len,
		       int *direct_io)
{
	(void)fs;
	*content = NULL;
	*len = 0;
	*direct_io = 1;	/* read live: the log grows */
	return n->kind == FS_K_BUILD_FILE ? 0 : -EISDIR;
}

static int builds_read(struct fs *fs, const struct fs_node *n, uint64_t off, size_t size,
		       fuse_req_t req)
{
	char path[4800], *buf;
	ssize_t got;
	int fd;

	if (n->kind != FS_K_BUILD_FILE)
		return -EISDIR;
	if (disk_path(fs, n->key, path, sizeof(path)))
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (size > BUILDS_READ_MAX)
		size = BUILDS_READ_MAX;
	buf = malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	do
		got = pread(fd, buf, size, (off_t)off);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		got = -errno;
	close(fd);
	if (got >= 0)
		fuse_reply_buf(req, buf, (size_t)got);
	free(buf);
	return got < 0 ? (int)got : 0;
}

static int builds_readlink(struct fs *fs, const struct fs_node *n, fuse_req_t req)
{
	(void)fs;
	if (n->kind != FS_K_BUILD_LATEST)
		return -EINVAL;
	fuse_reply_readlink(req, n->target);
	return 0;
}

const struct fs_view_ops fs_view_builds = {
	.name = "builds",
	.lookup = builds_lookup,
	.getattr = builds_getattr,
	.list = builds_list,
	.open = builds_open,
	.read = builds_read,
	.readlink = builds_readlink,
	.change_errno = EROFS,
};
