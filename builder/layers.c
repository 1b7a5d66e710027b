/*
 * layers.c - a stage's filesystem as a kernel overlay, and a step's
 * change as a layer.
 *
 * Lower layers: each layer a build stands on is unpacked once into
 * STORE/build-cache/layers/<32 hex of its diff_id>/, with its whiteouts
 * turned into overlayfs's own (a character device 0/0 for ".wh.NAME", the
 * trusted.overlay.opaque xattr for ".wh..wh..opq"), so that a stack of
 * them mounted as lowerdirs is the image's root.  Unpacking goes to a
 * temporary name and is renamed into place, so concurrent builds share
 * the result.  The overlay is mounted with relative lowerdir names (from
 * inside layers/), which keeps a stack of a hundred layers within the
 * mount option's page.
 *
 * The change: a step writes through the overlay; its upper directory then
 * holds exactly what changed (metacopy is off, so a changed file is copied
 * up whole).  bx_upper_to_layer walks the upper directory in name order
 * and writes a tar (PAX where needed, numeric owners, times clamped to the
 * build's epoch, xattrs but overlayfs's own, hard links within the layer
 * kept) through zlib into an OCI blob writer, hashing the tar for the
 * diff_id on the way, then indexes the layer in the store.
 *
 * Threads: one build thread per process (exec.h); the process is in a
 * mount namespace of its own (build.c), so its mounts are private and go
 * with it.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "builder/exec.h"
#include "store/ingest.h"
#include "store/store.h"

#define OPAQUE_XATTR "trusted.overlay.opaque"
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define LOWER_NAME_HEX 32

int bx_cache_dir(struct store *s, const char *sub, char *buf, size_t len)
{
	char *dir = realpath(store_dir(s), NULL);	/* steps change directory */
	int n;

	if (!dir)
		return store_error(-errno, "%s: %s", store_dir(s), strerror(errno));
	n = snprintf(buf, len, "%s/build-cache", dir);

	if (n < 0 || (size_t)n >= len || (mkdir(buf, 0700) && errno != EEXIST)) {
		free(dir);
		return n < 0 || (size_t)n >= len ? store_error(-ENAMETOOLONG, "store path too long")
						 : store_error(-errno, "%s: %s", buf, strerror(errno));
	}
	if (!sub || !*sub) {
		free(dir);
		return 0;
	}
	n = snprintf(buf, len, "%s/build-cache/%s", dir, sub);
	free(dir);
	if (n < 0 || (size_t)n >= len)
		return store_error(-ENAMETOOLONG, "store path too long");
	if (mkdir(buf, 0700) && errno != EEXIST)
		return store_error(-errno, "%s: %s", buf, strerror(errno));
	return 0;
}

int bx_fs_push(struct bx_fs *fs, const struct bx_layer *l)
{
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? 2 * fs->cap : 8;
		struct bx_layer *v = realloc(fs->v, cap * sizeof(*v));
		if (!v)
			return store_error(-ENOMEM, "out of memory");
		fs->v = v;
		fs->cap = cap;
	}
	fs->v[fs->n++] = *l;
	return 0;
}

void bx_fs_release(struct bx_fs *fs)
{
	free(fs->v);
	memset(fs, 0, sizeof(*fs));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void bx_rm_rf(const char *path)
{
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	rmdir(path);
}

int bx_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	do
		fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : (int)fd;
}

int bx_mkdir_p(int rootfd, const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char comp[4096];
	int fd = dup(rootfd);
	const char *p = path;

	if (fd < 0)
		return -errno;
	while (*p) {
		size_t n;
		int next;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "/");
		if (n >= sizeof(comp)) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		/* resolve through the root each time: COMP may be a symlink */
		next = bx_open_in_root(fd, comp, O_RDONLY | O_DIRECTORY, 0);
		if (next == -ENOENT) {
			if (mkdirat(fd, comp, mode) && errno != EEXIST) {
				int e = -errno;
				close(fd);
				return e;
			}
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next < 0)
				next = -errno;
			else if (fchown(next, uid, gid) || fchmod(next, mode)) {
				int e = -errno;
				close(next);
				close(fd);
				return e;
			}
		}
		close(fd);
		if (next < 0)
			return next;
		fd = next;
	}
	return fd;
}

/* ---- users --------------------------------------------------------------- */

/* read_root_file - the whole of file PATH in the root (at most 4 MiB) */
static char *read_root_file(int rootfd, const char *path)
{
	int fd = bx_open_in_root(rootfd, path, O_RDONLY, 0);
	size_t len = 0, cap = 8192;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	while (buf) {
		ssize_t n;
		if (len == cap) {
			char *nb = cap < (4u << 20) ? realloc(buf, 2 * cap + 1) : NULL;
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* field - the Nth ':' field of LINE (up to its end of line) into OUT */
static int field(const char *line, int n, char *out, size_t len)
{
	const char *p = line;
	size_t k;

	while (n-- > 0) {
		p = strpbrk(p, ":\n");
		if (!p || *p == '\n')
			return -1;
		p++;
	}
	k = strcspn(p, ":\n");
	if (k >= len)
		return -1;
	memcpy(out, p, k);
	out[k] = '\0';
	return 0;
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* find_entry - in /etc/passwd or /etc/group text DB, the line whose name
 * (field 0) or, for a number, id (field 2) is KEY */
static const char *find_entry(const char *db, const char *key)
{
	int num = is_number(key);

	for (const char *line = db; line && *line;) {
		char f[256];
		if (field(line, num ? 2 : 0, f, sizeof(f)) == 0 && strcmp(f, key) == 0)
			return line;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return NULL;
}

int bx_user_lookup(int rootfd, const char *user, uid_t *uid, gid_t *gid,
		   gid_t *groups, size_t *ngroups)
{
	char u[256], g[256] = "", f[256];
	const char *colon = strchr(user, ':');
	char *passwd = read_root_file(rootfd, "/etc/passwd");
	char *group = read_root_file(rootfd, "/etc/group");
	const char *line;
	int rc = 0;

	if (ngroups)
		*ngroups = 0;
	snprintf(u, sizeof(u), "%.*s", colon ? (int)(colon - user) : (int)strlen(user), user);
	if (colon)
		snprintf(g, sizeof(g), "%s", colon + 1);
	if (!*u)
		snprintf(u, sizeof(u), "0");
	line = passwd ? find_entry(passwd, u) : NULL;
	if (line && field(line, 2, f, sizeof(f)) == 0 && is_number(f)) {
		*uid = (uid_t)strtoul(f, NULL, 10);
		*gid = field(line, 3, f, sizeof(f)) == 0 && is_number(f)
			       ? (gid_t)strtoul(f, NULL, 10) : 0;
		field(line, 0, u, sizeof(u));
	} else if (is_number(u)) {
		*uid = (uid_t)strtoul(u, NULL, 10);
		*gid = 0;
	} else {
		rc = store_error(-ENOENT, "user '%s' is not in the image's /etc/passwd", u);
		goto out;
	}
	if (*g) {
		line = group ? find_entry(group, g) : NULL;
		if (line && field(line, 2, f, sizeof(f)) == 0 && is_number(f))
			*gid = (gid_t)strtoul(f, NULL, 10);
		else if (is_number(g))
			*gid = (gid_t)strtoul(g, NULL, 10);
		else {
			rc = store_error(-ENOENT, "group '%s' is not in the image's /etc/group", g);
			goto out;
		}
	} else if (groups && ngroups && group && !is_number(u)) {
		/* supplementary groups: every group listing the user */
		for (line = group; *line && *ngroups < 64;) {
			char members[4096];
			if (field(line, 3, members, sizeof(members)) == 0 &&
			    field(line, 2, f, sizeof(f)) == 0 && is_number(f)) {
				for (char *m = strtok(members, ","); m; m = strtok(NULL, ","))
					if (strcmp(m, u) == 0) {
						groups[(*ngroups)++] = (gid_t)strtoul(f, NULL, 10);
						break;
					}
			}
			line = strchr(line, '\n');
			if (!line)
				break;
			line++;
		}
	}
out:
	free(passwd);
	free(group);
	return rc;
}

/* ---- unpacking a lower layer ---------------------------------------------- */

struct unpack {
	struct archive *outer;
	char *buf;
};

static la_ssize_t unpack_read(struct archive *a, void *arg, const void **buf)
{
	struct unpack *u = arg;
	la_ssize_t n = archive_read_data(u->outer, u->buf, 1 << 16);

	if (n < 0)
		archive_set_error(a, EIO, "%s", archive_error_string(u->outer));
	*buf = u->buf;
	return n;
}

/* a tar reader on a stored layer: the blob, decompressed (oci_blob_stream),
 * read again as a tar */
struct layer_reader {
	struct oci_blob_stream bs;
	struct unpack u;
	struct archive *a;	/* NULL: the blob is empty (an empty layer) */
};

/* layer_open - LR reading stored layer D (WHAT names it in messages) */
static int layer_open(struct layer_reader *lr, struct store *s, const struct oci_digest *d,
		      const char *what)
{
	int rc;

	memset(lr, 0, sizeof(*lr));
	rc = oci_blob_stream_init(&lr->bs, s, d);
	if (rc)
		return rc == -ENOENT ? store_error(rc, "%s is not in the store", what) : rc;
	rc = oci_blob_stream_open(&lr->u.outer, &lr->bs, what);
	if (rc == -ENODATA)
		return 0;
	if (rc)
		return rc;
	lr->u.buf = malloc(1 << 16);
	lr->a = archive_read_new();
	if (!lr->u.buf || !lr->a)
		return store_error(-ENOMEM, "out of memory");
	archive_read_support_format_tar(lr->a);
	archive_read_support_format_empty(lr->a);
	if (archive_read_open(lr->a, &lr->u, NULL, unpack_read, NULL) != ARCHIVE_OK)
		return store_error(-EBADMSG, "%s: %s", what, archive_error_string(lr->a));
	return 0;
}

/* layer_close - free what layer_open made (after a failed open too) */
static void layer_close(struct layer_reader *lr)
{
	if (lr->a)
		archive_read_free(lr->a);
	if (lr->u.outer)
		archive_read_free(lr->u.outer);
	free(lr->u.buf);
	oci_blob_stream_release(&lr->bs);
}

/* clean_path - an entry's name without "./" and leading "/"; NULL if it
 * has a ".." component */
static const char *clean_path(const char *p)
{
	while (*p == '/' || (p[0] == '.' && p[1] == '/'))
		p += (*p == '/') ? 1 : 2;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return NULL;
		c += n;
		while (*c == '/')
			c++;
	}
	return p;
}

int bx_extract_entry(struct archive *a, struct archive *disk, struct archive_entry *e)
{
	int r = archive_write_header(disk, e);

	if (r >= ARCHIVE_WARN && archive_entry_size(e) > 0) {
		const void *buf;
		size_t len;
		la_int64_t off;
		while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
			if (archive_write_data_block(disk, buf, len, off) < 0) {
				r = ARCHIVE_FATAL;
				break;
			}
		if (r == ARCHIVE_EOF)
			r = ARCHIVE_OK;
	}
	return r >= ARCHIVE_WARN ? archive_write_finish_entry(disk) : r;
}

struct archive *bx_disk_new(void)
{
	struct archive *disk = archive_write_disk_new();

	if (disk)
		archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
							     ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
							     ARCHIVE_EXTRACT_SECURE_NODOTDOT |
							     ARCHIVE_EXTRACT_SECURE_SYMLINKS |
							     ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
							     ARCHIVE_EXTRACT_UNLINK |
							     ARCHIVE_EXTRACT_SPARSE);
	return disk;
}

/* unpack_entries - write the tar of A under the current directory */
static int unpack_entries(struct archive *a, struct archive *disk, const char *lname)
{
	struct archive_entry *e;
	int r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *path = clean_path(archive_entry_pathname(e));
		const char *base, *link = archive_entry_hardlink(e);
		char dir[4096];

		if (!path)
			return store_error(-EPERM, "layer %s: entry '%s' escapes the root", lname,
					   archive_entry_pathname(e));
		if (!*path || strcmp(path, ".") == 0)
			continue;
		base = strrchr(path, '/');
		base = base ? base + 1 : path;
		snprintf(dir, sizeof(dir), "%.*s", (int)(base - path), path);
		if (strcmp(base, WH_OPAQUE) == 0) {
			if (setxattr(*dir ? dir : ".", OPAQUE_XATTR, "y", 1, 0))
				return store_error(-errno, "layer %s: opaque %s: %s", lname, path,
						   strerror(errno));
			continue;
		}
		if (strncmp(base, WH_PREFIX, 4) == 0) {
			char target[4200];
			snprintf(target, sizeof(target), "%s%s", dir, base + 4);
			if (mknod(target, S_IFCHR, makedev(0, 0)) && errno != EEXIST)
				return store_error(-errno, "layer %s: whiteout %s: %s", lname, path,
						   strerror(errno));
			continue;
		}
		archive_entry_set_pathname(e, path);
		if (link) {
			link = clean_path(link);
			if (!link)
				return store_error(-EPERM, "layer %s: link '%s' escapes the root",
						   lname, archive_entry_hardlink(e));
			archive_entry_set_hardlink(e, link);
		}
		r = bx_extract_entry(a, disk, e);
		if (r < ARCHIVE_WARN)
			return store_error(-EIO, "layer %s: unpacking %s: %s", lname, path,
					   archive_error_string(disk) ? archive_error_string(disk)
								      : archive_error_string(a));
	}
	if (r != ARCHIVE_EOF)
		return store_error(-EBADMSG, "layer %s: %s", lname, archive_error_string(a));
	return 0;
}

/* unpack_layer - layer L into DIR (the current directory is changed and
 * restored) */
static int unpack_layer(struct store *s, const struct bx_layer *l, const char *dir)
{
	struct layer_reader lr;
	struct archive *disk = NULL;
	char lname[OCI_DIGEST_STRLEN + 8];
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	snprintf(lname, sizeof(lname), "layer ");
	oci_digest_fmt(lname + 6, &l->desc.digest);
	if (cwd < 0)
		return store_error(-errno, "cwd: %s", strerror(errno));
	rc = layer_open(&lr, s, &l->desc.digest, lname);
	if (rc || !lr.a)
		goto out;
	disk = bx_disk_new();
	if (!disk) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	archive_write_disk_set_standard_lookup(disk);
	if (chdir(dir)) {
		rc = store_error(-errno, "%s: %s", dir, strerror(errno));
		goto out;
	}
	rc = unpack_entries(lr.a, disk, lname + 6);
	if (rc == 0 && archive_write_close(disk) != ARCHIVE_OK)
		rc = store_error(-EIO, "%s: %s", lname, archive_error_string(disk));
	if (fchdir(cwd) && rc == 0)
		rc = store_error(-errno, "cwd: %s", strerror(errno));
out:
	if (disk)
		archive_write_free(disk);
	layer_close(&lr);
	close(cwd);
	return rc;
}

/* lower_name - the directory name of layer L in layers/ */
static void lower_name(char *buf, const struct bx_layer *l)
{
	char hex[65];
	oci_digest_hex(hex, &l->diff_id);
	memcpy(buf, hex, LOWER_NAME_HEX);
	buf[LOWER_NAME_HEX] = '\0';
}

/* ensure_lower - layers/<name> of L, unpacked if it is not yet */
static int ensure_lower(struct store *s, const char *layers, const struct bx_layer *l)
{
	char name[LOWER_NAME_HEX + 1], path[4200], tmp[4200];
	struct stat st;
	int rc;

	lower_name(name, l);
	snprintf(path, sizeof(path), "%s/%s", layers, name);
	if (stat(path, &st) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%ld-%s", layers, (long)getpid(), name);
	bx_rm_rf(tmp);
	if (mkdir(tmp, 0755))
		return store_error(-errno, "%s: %s", tmp, strerror(errno));
	rc = unpack_layer(s, l, tmp);
	if (rc == 0 && rename(tmp, path) && errno != EEXIST && errno != ENOTEMPTY)
		rc = store_error(-errno, "%s: %s", path, strerror(errno));
	bx_rm_rf(tmp);		/* a no-op once renamed */
	return rc;
}

static unsigned overlay_seq;

int bx_overlay_mount(struct store *s, const struct bx_fs *fs, int readonly,
		     struct bx_overlay *o)
{
	char layers[4096], work[4300], opts[8192];
	size_t len = 0;
	int rc, n, cwd = -1;

	memset(o, 0, sizeof(*o));
	o->rootfd = -1;
	rc = bx_cache_dir(s, "layers", layers, sizeof(layers));
	if (rc == 0)
		rc = bx_cache_dir(s, "run", o->dir, sizeof(o->dir));
	for (size_t i = 0; rc == 0 && i < fs->n; i++)
		rc = ensure_lower(s, layers, &fs->v[i]);
	if (rc)
		return rc;
	n = snprintf(o->dir + strlen(o->dir), sizeof(o->dir) - strlen(o->dir), "/%ld.%u",
		     (long)getpid(), overlay_seq++);
	if (n < 0)
		return store_error(-ENAMETOOLONG, "path too long");
	bx_rm_rf(o->dir);
	snprintf(o->merged, sizeof(o->merged), "%s/merged", o->dir);
	snprintf(o->upper, sizeof(o->upper), "%s/upper", o->dir);
	snprintf(work, sizeof(work), "%s/work", o->dir);
	if (mkdir(o->dir, 0700) || mkdir(o->merged, 0755) ||
	    (!readonly && (mkdir(o->upper, 0755) || mkdir(work, 0700)))) {
		rc = store_error(-errno, "%s: %s", o->dir, strerror(errno));
		goto fail;
	}
	if (readonly && fs->n == 0) {
		/* nothing to stack: the root is an empty directory */
		o->rootfd = open(o->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return o->rootfd < 0 ? store_error(-errno, "%s: %s", o->merged, strerror(errno)) : 0;
	}
	if (fs->n == 0 || (readonly && fs->n == 1)) {
		/* overlayfs wants a lowerdir; an empty one (or a second one) */
		char empty[4300];
		snprintf(empty, sizeof(empty), "%s/empty", o->dir);
		if (mkdir(empty, 0755)) {
			rc = store_error(-errno, "%s: %s", empty, strerror(errno));
			goto fail;
		}
		len = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
		if (fs->n == 1) {
			char name[LOWER_NAME_HEX + 1];
			lower_name(name, &fs->v[0]);
			len += (size_t)snprintf(opts + len, sizeof(opts) - len, "%s/%s:", layers, name);
		}
		len += (size_t)snprintf(opts + len, sizeof(opts) - len, "%s", empty);
	} else {
		/* relative names from inside layers/: the top layer first.  A
		 * layer that comes again higher up is left out below: its
		 * upper copy gives the same tree, and overlayfs refuses a
		 * directory twice */
		len = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
		for (size_t i = fs->n; i-- > 0;) {
			char name[LOWER_NAME_HEX + 1];
			int again = 0;
			for (size_t j = i + 1; j < fs->n && !again; j++)
				again = !memcmp(&fs->v[j].diff_id, &fs->v[i].diff_id,
						sizeof(fs->v[i].diff_id));
			if (again)
				continue;
			lower_name(name, &fs->v[i]);
			len += (size_t)snprintf(opts + len, sizeof(opts) - len, "%s%s",
						opts[len - 1] == '=' ? "" : ":", name);
		}
	}
	if (!readonly)
		len += (size_t)snprintf(opts + len, sizeof(opts) - len, ",upperdir=%s,workdir=%s",
					o->upper, work);
	if (len >= 4000) {
		rc = store_error(-E2BIG, "an image of %zu layers is too deep to build on", fs->n);
		goto fail;
	}
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0 || chdir(layers)) {
		rc = store_error(-errno, "%s: %s", layers, strerror(errno));
		goto fail;
	}
	if (mount("overlay", o->merged, "overlay", 0, opts))
		rc = store_error(-errno, "mounting the overlay of %zu layers on %s: %s", fs->n,
				 o->merged, strerror(errno));
	if (fchdir(cwd) && rc == 0)
		rc = store_error(-errno, "cwd: %s", strerror(errno));
	close(cwd);
	if (rc)
		goto fail;
	o->mounted = 1;
	o->rootfd = open(o->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->rootfd < 0) {
		rc = store_error(-errno, "%s: %s", o->merged, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	bx_overlay_umount(o);
	return rc;
}

void bx_overlay_umount(struct bx_overlay *o)
{
	if (o->rootfd >= 0)
		close(o->rootfd);
	o->rootfd = -1;
	if (o->mounted)
		umount2(o->merged, MNT_DETACH);
	o->mounted = 0;
	if (*o->dir)
		bx_rm_rf(o->dir);
}

/* ---- upper directory -> layer ----------------------------------------------- */

struct lw {
	struct archive *a;
	struct oci_blob_writer *w;
	EVP_MD_CTX *diff;
	z_stream z;
	unsigned char zout[1 << 16];
	int err;
	int64_t epoch;		/* times past it are clamped to it */
	int64_t since;		/* times from it on become BX_STEP_TIME */
	uint64_t entries;
	struct hl { dev_t dev; ino_t ino; char *path; } *links;
	size_t nlinks, caplinks;
	char buf[1 << 16];
};

static int lw_deflate(struct lw *w, const void *p, size_t n, int flush)
{
	w->z.next_in = (unsigned char *)p;
	w->z.avail_in = (uInt)n;
	do {
		int zr;
		w->z.next_out = w->zout;
		w->z.avail_out = sizeof(w->zout);
		zr = deflate(&w->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		if (sizeof(w->zout) - w->z.avail_out) {
			int rc = oci_blob_writer_write(w->w, w->zout,
						       sizeof(w->zout) - w->z.avail_out);
			if (rc)
				return rc;
		}
	} while (w->z.avail_out == 0 || (flush == Z_FINISH && w->z.avail_in));
	return 0;
}

static la_ssize_t lw_write(struct archive *a, void *arg, const void *p, size_t n)
{
	struct lw *w = arg;
	int rc;

	if (!w->w || w->err)
		return -1;
	EVP_DigestUpdate(w->diff, p, n);
	rc = lw_deflate(w, p, n, Z_NO_FLUSH);
	if (rc) {
		w->err = rc;
		archive_set_error(a, EIO, "writing the layer failed");
		return -1;
	}
	return (la_ssize_t)n;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sorted_names - the names in directory FD, sorted bytewise */
static int sorted_names(int fd, char ***out, size_t *n)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -errno;
	}
	rewinddir(d);		/* a dup shares the offset of an earlier walk */
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cap) {
			char **nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		if (!(v[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (de) {
		while (*n)
			free(v[--*n]);
		free(v);
		return -ENOMEM;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), by_name);
	*out = v;
	return 0;
}

static void free_names(char **v, size_t n)
{
	while (n)
		free(v[--n]);
	free(v);
}

/* add_xattrs - the xattrs of the file open at FD but overlayfs's own */
static void add_xattrs(struct archive_entry *e, int fd)
{
	char names[8192], val[65536];
	ssize_t len = flistxattr(fd, names, sizeof(names));

	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t vl;
		if (strncmp(names + i, "trusted.overlay.", 16) == 0)
			continue;
		vl = fgetxattr(fd, names + i, val, sizeof(val));
		if (vl >= 0)
			archive_entry_xattr_add_entry(e, names + i, val, (size_t)vl);
	}
}

static int lw_header(struct lw *w, struct archive_entry *e, const char *what)
{
	w->entries++;
	if (archive_write_header(w->a, e) != ARCHIVE_OK)
		return store_error(w->err ? w->err : -EIO, "%s: writing the layer: %s", what,
				   archive_error_string(w->a));
	return 0;
}

/* emit_whiteout - PATH/.wh.NAME, or PATH/.wh..wh..opq */
static int emit_marker(struct lw *w, const char *dir, const char *name, const char *what)
{
	struct archive_entry *e = archive_entry_new();
	char path[8300];
	int rc;

	if (!e)
		return store_error(-ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "", name);
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 0);
	archive_entry_set_mtime(e, w->epoch < BX_STEP_TIME ? w->epoch : BX_STEP_TIME, 0);
	rc = lw_header(w, e, what);
	archive_entry_free(e);
	return rc;
}

static int walk_upper(struct lw *w, int dirfd, const char *rel, const char *what);

/* emit - the upper entry NAME in DIRFD, at REL/NAME in the layer */
static int emit(struct lw *w, int dirfd, const char *rel, const char *name, const char *what)
{
	char path[8300], target[4097];
	struct archive_entry *e;
	struct stat st;
	int fd = -1, rc = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return store_error(-errno, "%s: %s: %s", what, name, strerror(errno));
	snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name);
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		char wh[4200];
		snprintf(wh, sizeof(wh), WH_PREFIX "%s", name);
		return emit_marker(w, rel, wh, what);
	}
	if (S_ISSOCK(st.st_mode))
		return 0;		/* as Docker: sockets are not kept */
	e = archive_entry_new();
	if (!e)
		return store_error(-ENOMEM, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_copy_stat(e, &st);
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	{
		int64_t t = st.st_mtime >= w->since ? BX_STEP_TIME : st.st_mtime;
		archive_entry_set_mtime(e, t < w->epoch ? t : w->epoch, 0);
	}
	archive_entry_set_ino(e, 0);
	archive_entry_set_dev(e, 0);
	if (!S_ISDIR(st.st_mode))
		archive_entry_set_nlink(e, 1);
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
						 (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0) {
			rc = store_error(-errno, "%s: %s: %s", what, path, strerror(errno));
			goto out;
		}
		add_xattrs(e, fd);
	}
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n < 0) {
			rc = store_error(-errno, "%s: %s: %s", what, path, strerror(errno));
			goto out;
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < w->nlinks; i++)
			if (w->links[i].dev == st.st_dev && w->links[i].ino == st.st_ino) {
				archive_entry_set_hardlink(e, w->links[i].path);
				archive_entry_set_size(e, 0);
				rc = lw_header(w, e, what);
				goto out;
			}
		if (w->nlinks == w->caplinks) {
			size_t cap = w->caplinks ? 2 * w->caplinks : 16;
			struct hl *nl = realloc(w->links, cap * sizeof(*nl));
			if (!nl) {
				rc = store_error(-ENOMEM, "out of memory");
				goto out;
			}
			w->links = nl;
			w->caplinks = cap;
		}
		w->links[w->nlinks].dev = st.st_dev;
		w->links[w->nlinks].ino = st.st_ino;
		if (!(w->links[w->nlinks].path = strdup(path))) {
			rc = store_error(-ENOMEM, "out of memory");
			goto out;
		}
		w->nlinks++;
	}
	rc = lw_header(w, e, what);
	if (rc == 0 && S_ISREG(st.st_mode)) {
		ssize_t n;
		while ((n = read(fd, w->buf, sizeof(w->buf))) > 0)
			if (archive_write_data(w->a, w->buf, (size_t)n) != n) {
				rc = store_error(w->err ? w->err : -EIO, "%s: writing the layer: %s",
						 what, archive_error_string(w->a));
				break;
			}
		if (n < 0)
			rc = store_error(-errno, "%s: %s: %s", what, path, strerror(errno));
	}
	if (rc == 0 && S_ISDIR(st.st_mode)) {
		char v[2];
		if (fgetxattr(fd, OPAQUE_XATTR, v, sizeof(v)) == 1 && v[0] == 'y')
			rc = emit_marker(w, path, WH_OPAQUE, what);
		if (rc == 0)
			rc = walk_upper(w, fd, path, what);
	}
out:
	if (fd >= 0)
		close(fd);
	archive_entry_free(e);
	return rc;
}

static int walk_upper(struct lw *w, int dirfd, const char *rel, const char *what)
{
	char **names;
	size_t n;
	int rc = sorted_names(dirfd, &names, &n);

	if (rc)
		return store_error(rc, "%s: reading %s: %s", what, *rel ? rel : "/", strerror(-rc));
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = emit(w, dirfd, rel, names[i], what);
	free_names(names, n);
	return rc;
}

/* write_layer - a tar+gzip layer whose entries BODY(W, ARG) writes,
 * stored and indexed through IN into *OUT */
static int write_layer(struct store_ingest *in, int64_t epoch, int64_t since, const char *what,
		       int (*body)(struct lw *w, void *arg), void *arg, struct bx_layer *out)
{
	struct lw *w = calloc(1, sizeof(*w));
	unsigned char md[32];
	unsigned mdlen = 0;
	int rc;

	if (!w)
		return store_error(-ENOMEM, "out of memory");
	w->epoch = epoch;
	w->since = since;
	w->diff = EVP_MD_CTX_new();
	w->a = archive_write_new();
	if (!w->diff || !w->a || EVP_DigestInit_ex(w->diff, EVP_sha256(), NULL) != 1 ||
	    deflateInit2(&w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	rc = oci_blob_writer_begin(&w->w, in, NULL, UINT64_MAX, what);
	if (rc)
		goto out;
	archive_write_set_format_pax_restricted(w->a);
	archive_write_set_bytes_per_block(w->a, 10240);
	archive_write_set_bytes_in_last_block(w->a, 1);
	if (archive_write_open(w->a, w, NULL, lw_write, NULL) != ARCHIVE_OK) {
		rc = store_error(-EIO, "%s: %s", what, archive_error_string(w->a));
		goto out;
	}
	rc = body(w, arg);
	if (rc == 0 && archive_write_close(w->a) != ARCHIVE_OK)
		rc = store_error(w->err ? w->err : -EIO, "%s: %s", what, archive_error_string(w->a));
	if (rc == 0)
		rc = lw_deflate(w, NULL, 0, Z_FINISH);
	if (rc == 0) {
		EVP_DigestFinal_ex(w->diff, md, &mdlen);
		memcpy(out->diff_id.sha256, md, 32);
		rc = oci_blob_writer_finish(w->w, &out->desc.digest);
		w->w = NULL;
	}
	if (rc == 0)
		rc = oci_layer_index(in, &out->desc.digest, &out->diff_id);
	if (rc == 0) {
		struct store_txn *t;
		rc = store_ingest_txn(in, &t);
		if (rc == 0)
			rc = oci_blob_size(t, &out->desc.digest, &out->desc.size);
		snprintf(out->desc.media_type, sizeof(out->desc.media_type), "%s",
			 OCI_MT_LAYER_GZIP);
	}
out:
	if (w->a)
		archive_write_free(w->a);	/* may still write: before the abort */
	if (w->w)
		oci_blob_writer_abort(w->w);
	deflateEnd(&w->z);
	EVP_MD_CTX_free(w->diff);
	for (size_t i = 0; i < w->nlinks; i++)
		free(w->links[i].path);
	free(w->links);
	free(w);
	return rc;
}

struct upper_arg {
	int fd;
	const char *what;
};

static int upper_body(struct lw *w, void *arg)
{
	struct upper_arg *u = arg;
	return walk_upper(w, u->fd, "", u->what);
}

int bx_upper_to_layer(struct store_ingest *in, struct bx_overlay *o, int64_t since,
		      const char *what, struct bx_layer *out, int *empty)
{
	struct upper_arg u = { .what = what };
	char **names;
	size_t n;
	int rc;

	*empty = 0;
	u.fd = open(o->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u.fd < 0)
		return store_error(-errno, "%s: %s", o->upper, strerror(errno));
	rc = sorted_names(u.fd, &names, &n);
	free_names(names, n);
	if (rc == 0 && n == 0)
		*empty = 1;
	else
		rc = write_layer(in, INT64_MAX, since, what, upper_body, &u, out);
	close(u.fd);
	return rc;
}

/* ---- re-timing a layer ------------------------------------------------------ */

struct retime_arg {
	struct store *s;
	const struct bx_layer *raw;
	const char *what;
};

static int retime_body(struct lw *w, void *arg)
{
	struct retime_arg *ra = arg;
	struct layer_reader lr;
	struct archive_entry *e;
	int rc = layer_open(&lr, ra->s, &ra->raw->desc.digest, ra->what), r = ARCHIVE_EOF;

	while (rc == 0 && lr.a && (r = archive_read_next_header(lr.a, &e)) == ARCHIVE_OK) {
		la_ssize_t n;
		if (archive_entry_mtime(e) > w->epoch)
			archive_entry_set_mtime(e, w->epoch, 0);
		rc = lw_header(w, e, ra->what);
		while (rc == 0 && (n = archive_read_data(lr.a, w->buf, sizeof(w->buf))) > 0)
			if (archive_write_data(w->a, w->buf, (size_t)n) != n)
				rc = store_error(w->err ? w->err : -EIO, "%s: %s", ra->what,
						 archive_error_string(w->a));
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = store_error(-EBADMSG, "%s: %s", ra->what, archive_error_string(lr.a));
	layer_close(&lr);
	return rc;
}

int bx_layer_retime(struct store_ingest *in, const struct bx_layer *raw, int64_t epoch,
		    const char *what, struct bx_layer *out)
{
	struct retime_arg ra = { store_ingest_store(in), raw, what };
	return write_layer(in, epoch, INT64_MAX, what, retime_body, &ra, out);
}
