/*
 * copy.c - COPY and ADD into a step's overlay.
 *
 * Sources come from the build context, which is a commit's tree in the
 * store (blobs are copied out of the store: nothing is read from a
 * working tree), or from the root of another stage or image (an overlay
 * mounted read-only).  Docker's rules: a source directory's contents are
 * copied, not the directory; wildcards (fnmatch, per path component) may
 * match several sources; the destination is a directory if it ends in
 * "/", if there are several sources, or if it exists as one; relative
 * destinations are relative to WORKDIR; missing parents are made 0755.
 * Files from the context are owned by 0:0 (or --chown) with the mode git
 * recorded (0644 or 0755; --chmod overrides) and the build's epoch as
 * mtime; files from a stage keep their modes, owners (unless --chown),
 * times and hard links.  Every destination path is resolved inside the
 * root (openat2 RESOLVE_IN_ROOT), so a symlink in the image can never
 * lead a write outside it.  ADD of a local tar (plain, gzip, bzip2, xz,
 * zstd) unpacks it, owners kept.
 *
 * Threads: the build's thread only (exec.h).
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "builder/copy.h"
#include "store/object.h"
#include "store/store.h"

/* ---- sources in the context (a git tree) --------------------------------- */

static int has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* clean - SRC as a relative, "/"-joined path without "." components;
 * -EPERM if it climbs out */
static int clean(const char *src, char *out, size_t len)
{
	char joined[8192], abs[8192];
	long depth = 0;

	for (const char *p = src; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return -EPERM;
		} else if (n && !(n == 1 && p[0] == '.'))
			depth++;
		p += n;
		while (*p == '/')
			p++;
	}
	if (snprintf(joined, sizeof(joined), "/%s", src) >= (int)sizeof(joined) ||
	    strlen(src) + 2 > len)
		return -ENAMETOOLONG;
	bx_path_clean(abs, sizeof(abs), joined);
	if (strlen(abs + 1) >= len)
		return -ENAMETOOLONG;
	memcpy(out, abs + 1, strlen(abs + 1) + 1);
	return 0;
}

static int src_push(struct bx_srcs *v, const char *path, unsigned mode, const git_oid *id)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 8;
		struct bx_src *nv = realloc(v->v, cap * sizeof(*nv));
		if (!nv)
			return store_error(-ENOMEM, "out of memory");
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n].path = strdup(path);
	if (!v->v[v->n].path)
		return store_error(-ENOMEM, "out of memory");
	v->v[v->n].mode = mode;
	v->v[v->n].id = *id;
	v->n++;
	return 0;
}

void bx_srcs_release(struct bx_srcs *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i].path);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

/* glob_tree - match the components of PAT (from PAT) under tree TREE at
 * PREFIX, appending matches to OUT */
static int glob_tree(struct store_txn *t, const git_oid *tree, const char *prefix,
		     const char *pat, const struct bld_ignore *ig, struct bx_srcs *out)
{
	char comp[4096], path[8192];
	const void *data;
	size_t len, pos = 0, n = strcspn(pat, "/");
	const char *rest = pat + n + (pat[n] == '/');
	git_object_t type;
	struct store_tree_entry e;
	int rc = store_object_read(t, tree, &type, &data, &len);

	if (rc)
		return rc;
	if (type != GIT_OBJECT_TREE)
		return 0;
	snprintf(comp, sizeof(comp), "%.*s", (int)n, pat);
	while ((rc = store_tree_next(data, len, &pos, &e)) == 1) {
		char name[4096];
		snprintf(name, sizeof(name), "%.*s", (int)e.namelen, e.name);
		if (has_glob(comp) ? fnmatch(comp, name, FNM_PERIOD & 0) != 0 : strcmp(comp, name) != 0)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "", name);
		if (ig && bld_ignore_excluded(ig, path))
			continue;
		if (*rest) {
			if (e.mode == 040000) {
				git_oid sub = *e.id;
				rc = glob_tree(t, &sub, path, rest, ig, out);
				/* the tree body is borrowed: re-read it */
				if (rc == 0)
					rc = store_object_read(t, tree, &type, &data, &len);
				if (rc)
					return rc;
			}
			continue;
		}
		if (e.mode == 0160000)
			continue;
		rc = src_push(out, path, e.mode, e.id);
		if (rc)
			return rc;
	}
	return rc < 0 ? rc : 0;
}

int bx_ctx_lookup(struct store_txn *t, const git_oid *tree, const char *path,
		       unsigned *mode, git_oid *id)
{
	git_oid cur = *tree;
	const char *p = path;

	*mode = 040000;
	*id = cur;
	while (*p) {
		const void *data;
		size_t len, n;
		git_object_t type;
		struct store_tree_entry e;
		char name[4096];
		int rc;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "/");
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		p += n;
		if (*mode != 040000)
			return -ENOENT;
		rc = store_object_read(t, &cur, &type, &data, &len);
		if (rc)
			return rc;
		rc = store_tree_find(data, len, name, &e);
		if (rc)
			return rc;
		*mode = e.mode;
		cur = *e.id;
		*id = cur;
	}
	return 0;
}

void bx_path_clean(char *out, size_t len, const char *path)
{
	size_t o = 0;
	const char *p = path;

	if (len < 2) {
		if (len)
			out[0] = '\0';
		return;
	}
	out[o++] = '/';
	out[o] = '\0';
	while (*p) {
		size_t n;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;	/* the slash */
			out[o] = '\0';
		} else if (!(n == 1 && p[0] == '.') && o + n + 2 <= len) {
			if (o > 1)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
			out[o] = '\0';
		}
		p += n;
	}
}

/* ctx_follow - source S, a symlink, followed inside the context (its root
 * is "/"), as BuildKit follows a path COPY names; S keeps its name */
static int ctx_follow(struct store_txn *t, const git_oid *root, struct bx_src *s)
{
	char path[4096], target[4097], joined[8300];
	int hops = 0;

	snprintf(path, sizeof(path), "/%s", s->path);
	while (s->mode == 0120000) {
		long n = store_object_copy(t, &s->id, 0, target, sizeof(target) - 1);
		char *slash;
		int rc;

		if (n < 0)
			return store_error((int)n, "%s: reading the link", s->path);
		if (++hops > 40)
			return store_error(-ELOOP, "'%s': too many levels of symbolic links", s->path);
		target[n] = '\0';
		slash = strrchr(path, '/');
		if (target[0] == '/')
			snprintf(joined, sizeof(joined), "%s", target);
		else
			snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - path), path, target);
		bx_path_clean(path, sizeof(path), joined);
		rc = bx_ctx_lookup(t, root, path, &s->mode, &s->id);
		if (rc == -ENOENT)
			return store_error(rc, "'%s' is a symlink to '%s', which is not in the build"
					       " context", s->path, target);
		if (rc)
			return rc;
	}
	return 0;
}

int bx_ctx_resolve(struct store_txn *t, const git_oid *root, const char *src,
		   const struct bld_ignore *ig, struct bx_srcs *out)
{
	char path[4096];
	size_t before = out->n;
	int rc = clean(src, path, sizeof(path));

	if (rc == -EPERM)
		return store_error(rc, "'%s' is outside the build context", src);
	if (rc)
		return store_error(rc, "'%s': path too long", src);
	if (!*path)		/* the context's root */
		return src_push(out, "", 040000, root);
	rc = glob_tree(t, root, "", path, ig, out);
	if (rc)
		return rc;
	if (out->n == before)
		return store_error(-ENOENT, "'%s' is not in the build context%s", src,
				   ig ? " (or .dockerignore excludes it)" : "");
	for (size_t i = before; rc == 0 && i < out->n; i++)
		rc = ctx_follow(t, root, &out->v[i]);
	return rc;
}

/* ---- writing into the destination root ------------------------------------ */

struct cp {
	const struct bx_copy *c;
	int rootfd;
	char dirpath[8192];	/* the directory DIRFD is open on */
	int dirfd;
	char buf[1 << 16];
	struct { dev_t dev; ino_t ino; char *path; } *links;
	size_t nlinks, caplinks;
};

/* parent_fd - an fd on the parent directory of PATH (absolute in the
 * root), made if missing; *BASE points at the last component */
static int parent_fd(struct cp *cp, const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	char dir[8192];

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);
	*base = slash ? slash + 1 : path;
	if (cp->dirfd >= 0 && strcmp(dir, cp->dirpath) == 0)
		return cp->dirfd;
	if (cp->dirfd >= 0)
		close(cp->dirfd);
	cp->dirfd = bx_mkdir_p(cp->rootfd, *dir ? dir : "/", 0755, cp->c->uid, cp->c->gid);
	if (cp->dirfd < 0) {
		int rc = cp->dirfd;
		cp->dirfd = -1;
		return store_error(rc, "%s: %s", *dir ? dir : "/", strerror(-rc));
	}
	snprintf(cp->dirpath, sizeof(cp->dirpath), "%s", dir);
	return cp->dirfd;
}

/* make_room - remove what is at BASE in DFD unless it is a directory and
 * DIR is wanted */
static int make_room(int dfd, const char *base, int dir, const char *path)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : store_error(-errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if (dir)
			return 1;
		return store_error(-EISDIR, "cannot replace directory %s with a file", path);
	}
	if (unlinkat(dfd, base, 0))
		return store_error(-errno, "%s: %s", path, strerror(errno));
	return 0;
}

static int set_meta(int dfd, const char *base, int fd, mode_t mode, uid_t uid, gid_t gid,
		    int64_t mtime, const char *path)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = mtime } };
	int rc;

	if (fd >= 0)
		rc = fchown(fd, uid, gid) || fchmod(fd, mode) || futimens(fd, ts);
	else
		rc = fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) ||
		     utimensat(dfd, base, ts, AT_SYMLINK_NOFOLLOW);
	return rc ? store_error(-errno, "%s: %s", path, strerror(errno)) : 0;
}

static mode_t file_mode(const struct cp *cp, mode_t mode)
{
	return cp->c->has_chmod ? cp->c->chmod : mode;
}

/* put_dir - directory PATH with MODE (an existing one is kept, its
 * metadata set) */
static int put_dir(struct cp *cp, const char *path, mode_t mode, uid_t uid, gid_t gid,
		   int64_t mtime)
{
	const char *base;
	int dfd = parent_fd(cp, path, &base), fd, rc;

	if (dfd < 0)
		return dfd;
	rc = make_room(dfd, base, 1, path);
	if (rc < 0)
		return rc;
	if (rc == 0 && mkdirat(dfd, base, 0700))
		return store_error(-errno, "%s: %s", path, strerror(errno));
	fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return store_error(-errno, "%s: %s", path, strerror(errno));
	rc = set_meta(dfd, base, fd, mode, uid, gid, mtime, path);
	close(fd);
	return rc;
}

/* ---- from the context ------------------------------------------------------- */

static int ctx_file(struct cp *cp, struct store_txn *t, const char *path, unsigned gmode,
		    const git_oid *id)
{
	const char *base;
	int dfd = parent_fd(cp, path, &base), fd, rc;
	uint64_t off = 0;

	if (dfd < 0)
		return dfd;
	rc = make_room(dfd, base, 0, path);
	if (rc)
		return rc;
	if (gmode == 0120000) {
		char target[4097];
		long n = store_object_copy(t, id, 0, target, sizeof(target) - 1);
		if (n < 0)
			return store_error((int)n, "%s: reading the link from the store", path);
		target[n] = '\0';
		if (symlinkat(target, dfd, base))
			return store_error(-errno, "%s: %s", path, strerror(errno));
		return set_meta(dfd, base, -1, 0, cp->c->uid, cp->c->gid, cp->c->epoch, path);
	}
	fd = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_error(-errno, "%s: %s", path, strerror(errno));
	for (;;) {
		long n = store_object_copy(t, id, off, cp->buf, sizeof(cp->buf));
		if (n < 0) {
			rc = store_error((int)n, "%s: reading from the store", path);
			break;
		}
		if (n == 0)
			break;
		if (util_write_all(fd, cp->buf, (size_t)n)) {
			rc = store_error(-errno, "%s: %s", path, strerror(errno));
			break;
		}
		off += (uint64_t)n;
	}
	if (rc == 0)
		rc = set_meta(dfd, base, fd, file_mode(cp, gmode == 0100755 ? 0755 : 0644),
			      cp->c->uid, cp->c->gid, cp->c->epoch, path);
	close(fd);
	return rc;
}

/* ctx_tree - the contents of tree ID (at context path CPATH) into DEST */
static int ctx_tree(struct cp *cp, struct store_txn *t, const git_oid *id, const char *cpath,
		    const char *dest)
{
	const void *data;
	size_t len, pos = 0;
	git_object_t type;
	struct store_tree_entry e;
	int rc = store_object_read(t, id, &type, &data, &len);

	while (rc == 0 && (rc = store_tree_next(data, len, &pos, &e)) == 1) {
		char cp2[8192], dst[8192];
		git_oid sub = *e.id;
		unsigned mode = e.mode;

		rc = 0;		/* an entry skipped below must not end the walk */

		snprintf(cp2, sizeof(cp2), "%s%s%.*s", cpath, *cpath ? "/" : "", (int)e.namelen,
			 e.name);
		snprintf(dst, sizeof(dst), "%s/%.*s", strcmp(dest, "/") ? dest : "",
			 (int)e.namelen, e.name);
		if (mode == 0160000)
			continue;
		if (cp->c->ignore && bld_ignore_excluded(cp->c->ignore, cp2)) {
			/* an exception may include something below it again: walk
			 * it, its directories made only for what is copied */
			if (mode == 040000 && bld_ignore_has_exceptions(cp->c->ignore))
				rc = ctx_tree(cp, t, &sub, cp2, dst);
			if (rc == 0)
				rc = store_object_read(t, id, &type, &data, &len);
			continue;
		}
		if (mode == 040000) {
			rc = put_dir(cp, dst, file_mode(cp, 0755), cp->c->uid, cp->c->gid,
				     cp->c->epoch);
			if (rc == 0)
				rc = ctx_tree(cp, t, &sub, cp2, dst);
		} else
			rc = ctx_file(cp, t, dst, mode, &sub);
		if (rc == 0)	/* borrowed: re-read after nested reads */
			rc = store_object_read(t, id, &type, &data, &len);
	}
	return rc < 0 ? rc : 0;
}

/* ---- from a stage's root ---------------------------------------------------- */

static int fs_entry(struct cp *cp, int sdfd, const char *name, const char *dest);

static int fs_tree(struct cp *cp, int sfd, const char *dest)
{
	int dfd = dup(sfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int rc = 0;

	if (!d)
		return store_error(-errno, "reading a source directory: %s", strerror(errno));
	rewinddir(d);
	while (rc == 0 && (de = readdir(d))) {
		char dst[8192];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(dst, sizeof(dst), "%s/%s", strcmp(dest, "/") ? dest : "", de->d_name);
		rc = fs_entry(cp, sfd, de->d_name, dst);
	}
	closedir(d);
	return rc;
}

/* fs_entry - entry NAME of source directory SDFD to DEST, recursively */
static int fs_entry(struct cp *cp, int sdfd, const char *name, const char *dest)
{
	struct stat st;
	const char *base;
	uid_t uid;
	gid_t gid;
	int dfd, fd, rc;

	if (fstatat(sdfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return store_error(-errno, "source %s: %s", name, strerror(errno));
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
		return 0;	/* a whiteout of a single unpacked layer */
	uid = cp->c->has_chown ? cp->c->uid : st.st_uid;
	gid = cp->c->has_chown ? cp->c->gid : st.st_gid;
	if (S_ISDIR(st.st_mode)) {
		int sfd = openat(sdfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0)
			return store_error(-errno, "source %s: %s", name, strerror(errno));
		rc = put_dir(cp, dest, file_mode(cp, st.st_mode & 07777), uid, gid, st.st_mtime);
		if (rc == 0)
			rc = fs_tree(cp, sfd, dest);
		close(sfd);
		return rc;
	}
	dfd = parent_fd(cp, dest, &base);
	if (dfd < 0)
		return dfd;
	rc = make_room(dfd, base, 0, dest);
	if (rc)
		return rc;
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < cp->nlinks; i++)
			if (cp->links[i].dev == st.st_dev && cp->links[i].ino == st.st_ino) {
				int pfd = bx_open_in_root(cp->rootfd, "/", O_PATH | O_DIRECTORY, 0);
				rc = pfd < 0 ? pfd
					     : linkat(pfd, cp->links[i].path + 1, dfd, base, 0)
						       ? -errno : 0;
				if (pfd >= 0)
					close(pfd);
				return rc ? store_error(rc, "%s: %s", dest, strerror(-rc)) : 0;
			}
		if (cp->nlinks == cp->caplinks) {
			size_t cap = cp->caplinks ? 2 * cp->caplinks : 16;
			void *nl = realloc(cp->links, cap * sizeof(*cp->links));
			if (!nl)
				return store_error(-ENOMEM, "out of memory");
			cp->links = nl;
			cp->caplinks = cap;
		}
		cp->links[cp->nlinks].dev = st.st_dev;
		cp->links[cp->nlinks].ino = st.st_ino;
		cp->links[cp->nlinks].path = strdup(dest);
		if (!cp->links[cp->nlinks].path)
			return store_error(-ENOMEM, "out of memory");
		cp->nlinks++;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[4097];
		ssize_t n = readlinkat(sdfd, name, target, sizeof(target) - 1);
		if (n < 0)
			return store_error(-errno, "source %s: %s", name, strerror(errno));
		target[n] = '\0';
		if (symlinkat(target, dfd, base))
			return store_error(-errno, "%s: %s", dest, strerror(errno));
		return set_meta(dfd, base, -1, 0, uid, gid, st.st_mtime, dest);
	}
	if (!S_ISREG(st.st_mode)) {
		if (mknodat(dfd, base, st.st_mode & (S_IFMT | 0777), st.st_rdev))
			return store_error(-errno, "%s: %s", dest, strerror(errno));
		return fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) ||
			       fchmodat(dfd, base, file_mode(cp, st.st_mode & 07777), 0)
			       ? store_error(-errno, "%s: %s", dest, strerror(errno)) : 0;
	}
	{
		int sfd = openat(sdfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		ssize_t n;
		if (sfd < 0)
			return store_error(-errno, "source %s: %s", name, strerror(errno));
		fd = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			close(sfd);
			return store_error(-errno, "%s: %s", dest, strerror(errno));
		}
		rc = 0;
		while ((n = read(sfd, cp->buf, sizeof(cp->buf))) > 0)
			if (util_write_all(fd, cp->buf, (size_t)n)) {
				n = -1;
				break;
			}
		if (n < 0)
			rc = store_error(-errno, "%s: %s", dest, strerror(errno));
		if (rc == 0)
			rc = set_meta(dfd, base, fd, file_mode(cp, st.st_mode & 07777), uid, gid,
				      st.st_mtime, dest);
		close(sfd);
		close(fd);
		return rc;
	}
}

/* ---- ADD of a tar ----------------------------------------------------------- */

/* is_archive - 1 if the blob ID is a tar (any compression libarchive
 * knows), by its content */
static int ctx_is_archive(struct store_txn *t, const git_oid *id, char *buf, size_t len)
{
	long n = store_object_copy(t, id, 0, buf, len);
	struct archive *a;
	struct archive_entry *e;
	int r;

	if (n <= 0)
		return 0;
	a = archive_read_new();
	if (!a)
		return 0;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	r = archive_read_open_memory(a, buf, (size_t)n) == ARCHIVE_OK &&
	    archive_read_next_header(a, &e) == ARCHIVE_OK;
	archive_read_free(a);
	return r;
}

struct blobread {
	struct store_txn *t;
	const git_oid *id;
	uint64_t off;
	char buf[1 << 16];
};

static la_ssize_t blob_read(struct archive *a, void *arg, const void **out)
{
	struct blobread *b = arg;
	long n = store_object_copy(b->t, b->id, b->off, b->buf, sizeof(b->buf));

	if (n < 0) {
		archive_set_error(a, EIO, "reading from the store");
		return -1;
	}
	b->off += (uint64_t)n;
	*out = b->buf;
	return n;
}

/* add_tar - unpack blob ID (a tar) into directory DEST of the root */
static int add_tar(struct cp *cp, struct store_txn *t, const git_oid *id, const char *src,
		   const char *dest)
{
	struct blobread *b = malloc(sizeof(*b));
	struct archive *a = archive_read_new(), *disk = bx_disk_new();
	struct archive_entry *e;
	int dfd = bx_mkdir_p(cp->rootfd, dest, 0755, cp->c->uid, cp->c->gid);
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r, rc = 0;

	if (!b || !a || !disk || dfd < 0 || cwd < 0) {
		rc = store_error(dfd < 0 ? dfd : -ENOMEM, "ADD %s: cannot unpack into %s", src, dest);
		goto out;
	}
	b->t = t;
	b->id = id;
	b->off = 0;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (fchdir(dfd) || archive_read_open(a, b, NULL, blob_read, NULL) != ARCHIVE_OK) {
		rc = store_error(-EBADMSG, "ADD %s: %s", src, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		r = bx_extract_entry(a, disk, e);
		if (r < ARCHIVE_WARN) {
			rc = store_error(-EBADMSG, "ADD %s: %s: %s", src, archive_entry_pathname(e),
					 archive_error_string(disk) ? archive_error_string(disk)
								    : archive_error_string(a));
			goto out;
		}
	}
	if (r != ARCHIVE_EOF)
		rc = store_error(-EBADMSG, "ADD %s: %s", src, archive_error_string(a));
	else if (archive_write_close(disk) != ARCHIVE_OK)
		rc = store_error(-EIO, "ADD %s: %s", src, archive_error_string(disk));
out:
	if (cwd >= 0) {
		if (fchdir(cwd) && rc == 0)
			rc = store_error(-errno, "cwd: %s", strerror(errno));
		close(cwd);
	}
	if (dfd >= 0)
		close(dfd);
	if (disk)
		archive_write_free(disk);
	if (a)
		archive_read_free(a);
	free(b);
	return rc;
}

/* ---- the instruction -------------------------------------------------------- */

/* dest_of - where source I (named NAME) goes */
static void dest_of(const struct bx_copy *c, int into_dir, const char *name, char *out,
		    size_t len)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (into_dir)
		snprintf(out, len, "%s/%s", strcmp(c->dest, "/") ? c->dest : "", base);
	else
		snprintf(out, len, "%s", c->dest);
}

/* dest_is_dir - Docker's rule for the destination */
static int dest_is_dir(int rootfd, const struct bx_copy *c, size_t nsrcs)
{
	int fd;
	if (c->dest_slash || nsrcs > 1)
		return 1;
	fd = bx_open_in_root(rootfd, c->dest, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

int bx_copy_context(struct store_txn *t, const struct bx_srcs *srcs, const struct bx_copy *c,
		    int rootfd)
{
	struct cp *cp = calloc(1, sizeof(*cp));
	int into = dest_is_dir(rootfd, c, srcs->n), rc = 0;

	if (!cp)
		return store_error(-ENOMEM, "out of memory");
	cp->c = c;
	cp->rootfd = rootfd;
	cp->dirfd = -1;
	for (size_t i = 0; rc == 0 && i < srcs->n; i++) {
		const struct bx_src *s = &srcs->v[i];
		char dst[8192];
		if (s->mode == 040000) {
			int fd = bx_mkdir_p(rootfd, c->dest, 0755, c->uid, c->gid);
			if (fd < 0)
				rc = store_error(fd, "%s: %s", c->dest, strerror(-fd));
			else {
				close(fd);
				rc = ctx_tree(cp, t, &s->id, s->path, c->dest);
			}
			continue;
		}
		if (c->add && s->mode != 0120000 && ctx_is_archive(t, &s->id, cp->buf, sizeof(cp->buf))) {
			rc = add_tar(cp, t, &s->id, s->path, c->dest);
			continue;
		}
		dest_of(c, into, s->path, dst, sizeof(dst));
		rc = ctx_file(cp, t, dst, s->mode, &s->id);
	}
	if (cp->dirfd >= 0)
		close(cp->dirfd);
	free(cp);
	return rc;
}

int bx_copy_heredoc(const char *content, const char *name, size_t nsrcs,
		    const struct bx_copy *c, int rootfd)
{
	struct cp cp0 = { .c = c, .rootfd = rootfd, .dirfd = -1 };
	const char *base;
	char dest[8192];
	int dfd, fd, rc;

	dest_of(c, dest_is_dir(rootfd, c, nsrcs), name, dest, sizeof(dest));
	dfd = parent_fd(&cp0, dest, &base);
	if (dfd < 0)
		return dfd;
	rc = make_room(dfd, base, 0, dest);
	if (rc == 0) {
		fd = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			rc = store_error(-errno, "%s: %s", dest, strerror(errno));
		else {
			if (util_write_all(fd, content, strlen(content)))
				rc = store_error(-errno, "%s: %s", dest, strerror(errno));
			if (rc == 0)
				rc = set_meta(dfd, base, fd, file_mode(&cp0, 0644), c->uid, c->gid,
					      c->epoch, dest);
			close(fd);
		}
	}
	close(dfd);
	return rc;
}

/* fs_glob - the paths under SRCROOT matching PAT (cleaned) */
static int fs_glob(int srcroot, const char *prefix, const char *pat, struct bx_srcs *out)
{
	size_t n = strcspn(pat, "/");
	const char *rest = pat + n + (pat[n] == '/');
	char comp[4096], path[8192];
	git_oid zero = { { 0 } };
	int fd, rc = 0;
	DIR *d;
	struct dirent *de;

	snprintf(comp, sizeof(comp), "%.*s", (int)n, pat);
	if (!has_glob(comp)) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", prefix, comp);
		fd = bx_open_in_root(srcroot, path, O_PATH | O_NOFOLLOW, 0);
		if (fd < 0)
			return 0;
		fstat(fd, &st);
		close(fd);
		if (*rest)
			return S_ISDIR(st.st_mode) ? fs_glob(srcroot, path, rest, out) : 0;
		return src_push(out, path, S_ISDIR(st.st_mode) ? 040000 : 0100644, &zero);
	}
	fd = bx_open_in_root(srcroot, *prefix ? prefix : "/", O_RDONLY | O_DIRECTORY, 0);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fnmatch(comp, de->d_name, 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", prefix, de->d_name);
		if (*rest)
			rc = fs_glob(srcroot, path, rest, out);
		else
			rc = src_push(out, path, de->d_type == DT_DIR ? 040000 : 0100644, &zero);
	}
	closedir(d);
	return rc;
}

int bx_copy_fs(int srcroot, const char *const *srcs, size_t nsrcs, const struct bx_copy *c,
	       int rootfd)
{
	struct bx_srcs found = { 0 };
	struct cp *cp = calloc(1, sizeof(*cp));
	int rc = 0, into;

	if (!cp)
		return store_error(-ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < nsrcs; i++) {
		char path[4096];
		size_t before = found.n;
		git_oid zero = { { 0 } };
		rc = clean(srcs[i], path, sizeof(path));
		if (rc) {
			rc = store_error(rc, "'%s' is outside the source's root", srcs[i]);
			break;
		}
		rc = *path ? fs_glob(srcroot, "", path, &found) : src_push(&found, "", 040000, &zero);
		if (rc == 0 && found.n == before)
			rc = store_error(-ENOENT, "'%s' does not exist in the source", srcs[i]);
	}
	into = dest_is_dir(rootfd, c, found.n);
	cp->c = c;
	cp->rootfd = rootfd;
	cp->dirfd = -1;
	for (size_t i = 0; rc == 0 && i < found.n; i++) {
		char dst[8192];
		const char *path = found.v[i].path;
		int pfd;
		const char *slash = strrchr(path, '/');
		char parent[8192];

		snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - path) : 0, path);
		pfd = bx_open_in_root(srcroot, *parent ? parent : "/", O_RDONLY | O_DIRECTORY, 0);
		if (pfd < 0) {
			rc = store_error(pfd, "source %s: %s", path, strerror(-pfd));
			break;
		}
		if (found.v[i].mode == 040000) {
			int sfd = *path ? openat(pfd, slash ? slash + 1 : path,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
					: dup(pfd);
			int dfd = bx_mkdir_p(rootfd, c->dest, 0755, c->uid, c->gid);
			if (sfd < 0 || dfd < 0)
				rc = store_error(-EIO, "%s: cannot copy %s", c->dest, path);
			else
				rc = fs_tree(cp, sfd, c->dest);
			if (sfd >= 0)
				close(sfd);
			if (dfd >= 0)
				close(dfd);
		} else {
			dest_of(c, into, path, dst, sizeof(dst));
			rc = fs_entry(cp, pfd, slash ? slash + 1 : path, dst);
		}
		close(pfd);
	}
	for (size_t i = 0; i < cp->nlinks; i++)
		free(cp->links[i].path);
	free(cp->links);
	if (cp->dirfd >= 0)
		close(cp->dirfd);
	free(cp);
	bx_srcs_release(&found);
	return rc;
}
