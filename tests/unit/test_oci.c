/*
 * test_oci.c - OCI images in the store: layers built here with
 * libarchive's writer (adds, changes, whiteouts, opaque directories, hard
 * links, symlinks, xattrs, devices, implicit directories), written as an
 * OCI layout, imported, and checked through the union API; every kind of
 * bad input fails with the store unchanged; gc keeps what is reachable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <git2.h>

#include "store/fsck.h"
#include "store/gc.h"
#include "store/object.h"
#include "oci/oci.h"
#include "store/store.h"
#include "store/store_int.h"

static char dir[64];	/* the test's scratch directory */

/* ---- building tars -------------------------------------------------------- */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static la_ssize_t buf_write(struct archive *a, void *arg, const void *data, size_t n)
{
	struct buf *b = arg;

	(void)a;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return (la_ssize_t)n;
}

enum comp { NONE, GZIP, ZSTD };

struct ent {
	char type;		/* f d l h c b p */
	const char *path;
	unsigned mode;
	const char *data;	/* f: content; l, h: target */
	unsigned uid, gid;
	unsigned major, minor;
	const char *xname;	/* one xattr */
	const char *xval;
	size_t xlen;
};

static void make_tar(struct buf *out, enum comp comp, const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();

	memset(out, 0, sizeof(*out));
	archive_write_set_format_pax_restricted(a);
	if (comp == GZIP)
		archive_write_add_filter_gzip(a);
	if (comp == ZSTD)
		archive_write_add_filter_zstd(a);
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open(a, out, NULL, buf_write, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		size_t size = e[i].type == 'f' ? strlen(e[i].data) : 0;

		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_perm(ae, e[i].mode ? e[i].mode : (e[i].type == 'd' ? 0755 : 0644));
		archive_entry_set_uid(ae, e[i].uid);
		archive_entry_set_gid(ae, e[i].gid);
		archive_entry_set_mtime(ae, 1700000000, 5);
		switch (e[i].type) {
		case 'f': archive_entry_set_filetype(ae, AE_IFREG); break;
		case 'd': archive_entry_set_filetype(ae, AE_IFDIR); break;
		case 'l':
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, e[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].data);
			break;
		case 'c':
		case 'b':
			archive_entry_set_filetype(ae, e[i].type == 'c' ? AE_IFCHR : AE_IFBLK);
			archive_entry_set_rdev(ae, makedev(e[i].major, e[i].minor));
			break;
		case 'p': archive_entry_set_filetype(ae, AE_IFIFO); break;
		}
		archive_entry_set_size(ae, (la_int64_t)size);
		if (e[i].xname)
			archive_entry_xattr_add_entry(ae, e[i].xname, e[i].xval, e[i].xlen);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (size)
			assert_int_equal(archive_write_data(a, e[i].data, size), (la_ssize_t)size);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* ---- writing OCI layouts -------------------------------------------------- */

static void put_blob(const char *layout, const void *p, size_t n, struct oci_digest *d)
{
	char path[512], hex[65];
	int fd;

	oci_digest_of(d, p, n);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, oci_digest_hex(hex, d));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void put_file(const char *layout, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", layout, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

struct layer {
	struct buf tar;
	struct oci_digest digest, diff_id;
	const char *media_type;
};

/* layer_make - build a layer, compute its digests (not yet written) */
static void layer_make(struct layer *l, enum comp comp, const struct ent *e, size_t n)
{
	struct buf raw;

	make_tar(&l->tar, comp, e, n);
	make_tar(&raw, NONE, e, n);
	oci_digest_of(&l->diff_id, raw.p, raw.len);
	free(raw.p);
	oci_digest_of(&l->digest, l->tar.p, l->tar.len);
	l->media_type = comp == GZIP ? OCI_MT_LAYER_GZIP : comp == ZSTD ? OCI_MT_LAYER_ZSTD : OCI_MT_LAYER;
}

/*
 * layout_write - an OCI layout at LAYOUT holding an image of the layers,
 * tagged TAG.  Returns the manifest digest.  CONFIG_EXTRA is spliced into
 * the config (for the oversized case).
 */
static struct oci_digest layout_write(const char *layout, const char *tag, struct layer *ls,
				      size_t n, const char *config_extra)
{
	char hex[OCI_DIGEST_STRLEN + 1], path[512];
	struct oci_digest cd, md;
	size_t cap = 4096 + (config_extra ? strlen(config_extra) : 0);
	char *config = malloc(cap), *man = malloc(8192), index[1024];
	size_t off;

	snprintf(path, sizeof(path), "mkdir -p %s/blobs/sha256", layout);
	assert_int_equal(system(path), 0);
	put_file(layout, "oci-layout", OCI_LAYOUT_FILE);
	off = (size_t)snprintf(config, cap,
			       "{\"created\":\"2024-01-02T03:04:05Z\",\"architecture\":\"amd64\",\"os\":\"linux\",%s\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[",
			       config_extra ? config_extra : "");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(config + off, cap - off, "%s\"%s\"", i ? "," : "",
					oci_digest_fmt(hex, &ls[i].diff_id));
	snprintf(config + off, cap - off, "]}}");
	put_blob(layout, config, strlen(config), &cd);
	off = (size_t)snprintf(man, 8192,
			       "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
			       OCI_MT_MANIFEST, OCI_MT_CONFIG, oci_digest_fmt(hex, &cd), strlen(config));
	for (size_t i = 0; i < n; i++) {
		struct oci_digest d;
		put_blob(layout, ls[i].tar.p, ls[i].tar.len, &d);
		off += (size_t)snprintf(man + off, 8192 - off,
					"%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}",
					i ? "," : "", ls[i].media_type, oci_digest_fmt(hex, &ls[i].digest),
					ls[i].tar.len);
	}
	snprintf(man + off, 8192 - off, "]}");
	put_blob(layout, man, strlen(man), &md);
	snprintf(index, sizeof(index),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"%s\":\"%s\"}}]}",
		 OCI_MT_MANIFEST, oci_digest_fmt(hex, &md), strlen(man), OCI_REF_ANNOTATION, tag);
	put_file(layout, "index.json", index);
	free(config);
	free(man);
	return md;
}

/* ---- the store under test -------------------------------------------------- */

static int setup(void **state)
{
	struct store *s;
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/govc-oci-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/store", dir);
	assert_int_equal(store_open(&s, path, STORE_CREATE), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	store_free(*state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int count_cb(const struct oci_tag *tg, void *arg)
{
	(void)tg;
	++*(int *)arg;
	return 0;
}

static int count_blob(const struct oci_digest *d, uint64_t size, void *arg)
{
	(void)d;
	(void)size;
	++*(int *)arg;
	return 0;
}

static int count_obj(const git_oid *id, void *arg)
{
	(void)id;
	++*(int *)arg;
	return 0;
}

struct snap {
	uint64_t gen;
	int tags, blobs, objects;
};

static struct snap snapshot(struct store *s)
{
	struct snap sn = { store_generation(s), 0, 0, 0 };
	struct store_txn *t;

	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_tag_foreach(t, NULL, count_cb, &sn.tags), 0);
	assert_int_equal(oci_blob_foreach(t, count_blob, &sn.blobs), 0);
	assert_int_equal(store_object_foreach(t, count_obj, &sn.objects), 0);
	store_txn_abort(t);
	return sn;
}

/*
 * assert_unchanged - a failed import published nothing (no tag), and what
 * it wrote on the way is garbage that gc takes whole.
 */
static void assert_unchanged(struct store *s, const struct snap *before)
{
	struct store_gc_stats st;
	struct snap now = snapshot(s);

	assert_int_equal(now.tags, before->tags);
	assert_int_equal(store_gc(s, 0, &st), 0);
	now = snapshot(s);
	assert_int_equal(now.tags, before->tags);
	assert_int_equal(now.blobs, before->blobs);
	assert_int_equal(now.objects, before->objects);
}

/* import_layers - write LS as a layout and import it as NAME:latest */
static int import_layers(struct store *s, const char *sub, const char *name, struct layer *ls,
			 size_t n, struct oci_digest *m)
{
	char layout[128];

	snprintf(layout, sizeof(layout), "%s/%s", dir, sub);
	layout_write(layout, "latest", ls, n, NULL);
	return oci_layout_import(s, layout, "latest", name, "latest", NULL, m);
}

/* ---- the union ------------------------------------------------------------- */

static const char cap_value[] = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

static const struct ent layer1[] = {
	{ .type = 'd', .path = "./", .mode = 0755 },
	{ .type = 'd', .path = "etc", .mode = 0755 },
	{ .type = 'f', .path = "etc/passwd", .mode = 0644, .data = "root:x:0:0\n" },
	{ .type = 'f', .path = "etc/hostname", .mode = 0644, .data = "one\n" },
	{ .type = 'd', .path = "bin", .mode = 0755 },
	{ .type = 'f', .path = "bin/tool", .mode = 0755, .data = "TOOL CONTENT", .uid = 0, .gid = 0, .major = 0, .minor = 0, .xname = "security.capability", .xval = cap_value, .xlen = sizeof(cap_value) - 1 },
	{ .type = 'h', .path = "bin/link", .mode = 0755, .data = "bin/tool" },
	{ .type = 'l', .path = "bin/sh", .mode = 0777, .data = "tool" },
	{ .type = 'l', .path = "bin/abs", .mode = 0777, .data = "/etc/passwd" },
	{ .type = 'd', .path = "dev", .mode = 0755 },
	{ .type = 'c', .path = "dev/null", .mode = 0666, .data = NULL, .uid = 0, .gid = 0, .major = 1, .minor = 3 },
	{ .type = 'b', .path = "dev/sda", .mode = 0660, .data = NULL, .uid = 0, .gid = 6, .major = 8, .minor = 0 },
	{ .type = 'p', .path = "dev/fifo", .mode = 0600 },
	{ .type = 'd', .path = "opq", .mode = 0700 },
	{ .type = 'f', .path = "opq/old", .mode = 0644, .data = "old" },
	{ .type = 'd', .path = "opq/sub", .mode = 0755 },
	{ .type = 'f', .path = "opq/sub/deep", .mode = 0644, .data = "again\n" },
	{ .type = 'd', .path = "gone", .mode = 0755 },
	{ .type = 'f', .path = "gone/file", .mode = 0644, .data = "x" },
	{ .type = 'd', .path = "replaced", .mode = 0755 },
	{ .type = 'f', .path = "replaced/inner", .mode = 0644, .data = "inner" },
	{ .type = 'f', .path = "setuid", .mode = 04755, .data = "suid", .uid = 1000, .gid = 1000 },
	{ .type = 'f', .path = "a/b/c/file", .mode = 0600, .data = "implicit parents" },
};

static const struct ent layer2[] = {
	{ .type = 'f', .path = "etc/hostname", .mode = 0644, .data = "two\n" },
	{ .type = 'f', .path = "etc/.wh.passwd", .mode = 0644, .data = "" },
	{ .type = 'd', .path = "opq", .mode = 0750 },
	{ .type = 'f', .path = "opq/.wh..wh..opq", .mode = 0644, .data = "" },
	{ .type = 'f', .path = "opq/new", .mode = 0644, .data = "new" },
	{ .type = 'f', .path = ".wh.gone", .mode = 0644, .data = "" },
	{ .type = 'f', .path = "replaced", .mode = 0644, .data = "now a file" },
	{ .type = 'f', .path = "newdir/x", .mode = 0644, .data = "x" },
	{ .type = 'f', .path = ".wh..wh.plnk", .mode = 0644, .data = "" },
};

static const struct ent layer3[] = {
	{ .type = 'f', .path = "etc/passwd", .mode = 0640, .data = "again\n" },
	{ .type = 'f', .path = "bin/.wh.link", .mode = 0644, .data = "" },
	{ .type = 'd', .path = "a", .mode = 0700, .data = NULL, .uid = 5, .gid = 5 },
};

struct names {
	char list[64][64];
	struct oci_node nodes[64];
	int n;
};

static int collect(const char *name, const struct oci_node *node, void *arg)
{
	struct names *ns = arg;

	assert_true(ns->n < 64);
	snprintf(ns->list[ns->n], sizeof(ns->list[0]), "%s", name);
	ns->nodes[ns->n] = *node;
	ns->n++;
	return 0;
}

static void assert_names(struct store_txn *t, const struct oci_image *img, const char *path,
			 const char *expect)
{
	struct oci_node d;
	struct names ns = { .n = 0 };
	char got[1024] = "";

	assert_int_equal(oci_resolve(t, img, path, &d), 0);
	assert_int_equal(oci_readdir(t, img, &d, NULL, collect, &ns), 0);
	for (int i = 0; i < ns.n; i++) {
		strcat(got, i ? " " : "");
		strcat(got, ns.list[i]);
	}
	assert_string_equal(got, expect);
}

static void assert_content(struct store_txn *t, const struct oci_image *img, const char *path,
			   const char *expect)
{
	struct oci_node n;
	size_t len = strlen(expect);
	char *data = malloc(len + 1);

	assert_int_equal(oci_resolve(t, img, path, &n), 0);
	assert_true(S_ISREG(n.mode));
	assert_int_equal(n.size, len);
	assert_int_equal(oci_data(t, &n), 0);
	assert_int_equal(oci_read(t, &n, 0, data, len + 1), (long)len);
	assert_memory_equal(data, expect, len);
	free(data);
}

static void build_three(struct layer *ls)
{
	layer_make(&ls[0], GZIP, layer1, sizeof(layer1) / sizeof(layer1[0]));
	layer_make(&ls[1], ZSTD, layer2, sizeof(layer2) / sizeof(layer2[0]));
	layer_make(&ls[2], NONE, layer3, sizeof(layer3) / sizeof(layer3[0]));
}

static void free_layers(struct layer *ls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ls[i].tar.p);
}

static void test_union(void **state)
{
	struct store *s = *state;
	struct layer ls[3];
	struct oci_digest m, m1;
	struct store_txn *t;
	struct oci_image *img, *base;
	struct oci_node n, n2, root;
	struct names ns = { .n = 0 };
	char buf[64];
	unsigned char cap[64];

	build_three(ls);
	assert_int_equal(import_layers(s, "base", "base", ls, 1, &m1), 0);
	assert_int_equal(import_layers(s, "img", "localhost:5000/team/app", ls, 3, &m), 0);

	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_image_open(&img, t, &m), 0);
	assert_int_equal(oci_image_open(&base, t, &m1), 0);

	assert_names(t, img, "/", "a bin dev etc newdir opq replaced setuid");
	assert_names(t, base, "/", "a bin dev etc gone opq replaced setuid");
	assert_names(t, img, "etc", "hostname passwd");
	assert_content(t, img, "etc/hostname", "two\n");
	assert_content(t, base, "etc/hostname", "one\n");
	assert_content(t, img, "etc/passwd", "again\n");	/* whited out, added back */
	assert_int_equal(oci_resolve(t, img, "etc/passwd", &n), 0);
	assert_int_equal(n.mode, S_IFREG | 0640);

	/* opaque: only layer 2's children */
	assert_names(t, img, "opq", "new");
	assert_names(t, base, "opq", "old sub");
	assert_int_equal(oci_resolve(t, img, "opq", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0750);
	assert_int_equal(oci_resolve(t, img, "opq/old", &n), -ENOENT);
	assert_int_equal(oci_resolve(t, img, "gone", &n), -ENOENT);
	assert_int_equal(oci_resolve(t, img, "gone/file", &n), -ENOENT);

	/* a file over a directory hides it */
	assert_content(t, img, "replaced", "now a file");
	assert_int_equal(oci_resolve(t, img, "replaced/inner", &n), -ENOTDIR);

	/* hard links: one node, nlink 2; layer 3 removed one name */
	assert_int_equal(oci_resolve(t, base, "bin/tool", &n), 0);
	assert_int_equal(oci_resolve(t, base, "bin/link", &n2), 0);
	assert_int_equal(n.id, n2.id);
	assert_int_equal(n.nlink, 2);
	assert_true(git_oid_equal(&n.blob, &n2.blob));
	assert_names(t, img, "bin", "abs sh tool");

	/* xattrs, security.capability included */
	assert_int_equal(oci_resolve(t, img, "bin/tool", &n), 0);
	assert_true(n.flags & OCI_NODE_XATTRS);
	assert_int_equal(oci_xattr_get(t, img, &n, "security.capability", NULL, 0),
			 (long)sizeof(cap_value) - 1);
	assert_int_equal(oci_xattr_get(t, img, &n, "security.capability", cap, sizeof(cap)),
			 (long)sizeof(cap_value) - 1);
	assert_memory_equal(cap, cap_value, sizeof(cap_value) - 1);
	assert_int_equal(oci_xattr_get(t, img, &n, "user.none", cap, sizeof(cap)), -ENODATA);
	assert_int_equal(oci_xattr_get(t, img, &n, "security.capability", cap, 3), -ERANGE);
	assert_int_equal(oci_xattr_list(t, img, &n, (char *)cap, sizeof(cap)),
			 (long)sizeof("security.capability"));
	assert_string_equal((char *)cap, "security.capability");

	/* symlinks */
	assert_int_equal(oci_resolve(t, img, "bin/sh", &n), 0);
	assert_true(S_ISLNK(n.mode));
	assert_string_equal(n.target, "tool");
	assert_int_equal(n.size, 4);
	assert_int_equal(oci_resolve(t, img, "bin/abs", &n), 0);
	assert_string_equal(n.target, "/etc/passwd");

	/* devices, fifo, setuid, owners */
	assert_int_equal(oci_resolve(t, img, "dev/null", &n), 0);
	assert_true(S_ISCHR(n.mode));
	assert_int_equal(n.rdev, makedev(1, 3));
	assert_int_equal(n.mode & 07777, 0666);
	assert_int_equal(oci_resolve(t, img, "dev/sda", &n), 0);
	assert_true(S_ISBLK(n.mode));
	assert_int_equal(n.rdev, makedev(8, 0));
	assert_int_equal(n.gid, 6);
	assert_int_equal(oci_resolve(t, img, "dev/fifo", &n), 0);
	assert_true(S_ISFIFO(n.mode));
	assert_int_equal(oci_resolve(t, img, "setuid", &n), 0);
	assert_int_equal(n.mode, S_IFREG | 04755);
	assert_int_equal(n.uid, 1000);
	assert_int_equal(n.mtime_ns / 1000000000, 1700000000LL);

	/* implicit parents; layer 3 names "a" explicitly: its attributes win */
	assert_content(t, img, "a/b/c/file", "implicit parents");
	assert_int_equal(oci_resolve(t, base, "a/b", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0755);
	assert_int_equal(oci_resolve(t, img, "a", &n), 0);
	assert_int_equal(n.mode, S_IFDIR | 0700);
	assert_int_equal(n.uid, 5);
	assert_names(t, img, "a", "b");
	assert_names(t, img, "newdir", "x");

	/* reads at an offset; identical content is one blob */
	assert_int_equal(oci_resolve(t, img, "bin/tool", &n), 0);
	assert_int_equal(oci_read(t, &n, 5, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "CONTENT", 7);
	assert_int_equal(oci_read(t, &n, 100, buf, sizeof(buf)), 0);
	assert_int_equal(oci_resolve(t, img, "etc/passwd", &n), 0);
	assert_int_equal(oci_resolve(t, base, "opq/sub/deep", &n2), 0);
	assert_true(git_oid_equal(&n.blob, &n2.blob));

	/* lookups from a kept directory node, ids back to nodes */
	assert_int_equal(oci_root(t, img, &root), 0);
	assert_int_equal(oci_lookup(t, img, &root, "etc", &n), 0);
	assert_int_equal(oci_lookup(t, img, &n, "hostname", &n2), 0);
	assert_int_equal(oci_lookup(t, img, &n2, "x", &n), -ENOTDIR);
	assert_int_equal(oci_node_get(t, img, n2.id, &n), 0);
	assert_int_equal(n.id, n2.id);
	assert_int_equal(oci_resolve(t, img, "opq", &n2), 0);
	assert_int_equal(oci_node_get(t, img, n2.id, &n), 0);
	assert_int_equal(n.bottom, n2.bottom);
	assert_true(n.id < (1ULL << OCI_NODE_ID_BITS));

	/* readdir resumes after a name */
	assert_int_equal(oci_readdir(t, img, &root, "dev", collect, &ns), 0);
	assert_int_equal(ns.n, 5);
	assert_string_equal(ns.list[0], "etc");

	oci_image_free(img);
	oci_image_free(base);
	store_txn_abort(t);
	free_layers(ls, 3);
}

/* an entry given twice in one layer: the later one wins whole, xattrs too,
 * and a hard link to the first keeps its count right; the records reach
 * the store sorted (they are staged in memory while the layer is read) */
static void test_replaced_entries(void **state)
{
	static const struct ent twice[] = {
		{ .type = 'd', .path = "d", .mode = 0755 },
		{ .type = 'f', .path = "d/f", .mode = 0644, .data = "first", .xname = "user.old", .xval = "1", .xlen = 1 },
		{ .type = 'h', .path = "d/g", .mode = 0644, .data = "d/f" },
		{ .type = 'f', .path = "d/f", .mode = 0600, .data = "second", .xname = "user.new", .xval = "22", .xlen = 2 },
		{ .type = 'f', .path = "d/a", .mode = 0644, .data = "a" },
	};
	struct store *s = *state;
	struct layer l;
	struct oci_digest m;
	struct store_txn *t;
	struct oci_image *img;
	struct oci_node n;
	char buf[64];

	layer_make(&l, GZIP, twice, sizeof(twice) / sizeof(twice[0]));
	assert_int_equal(import_layers(s, "twice", "twice", &l, 1, &m), 0);
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_image_open(&img, t, &m), 0);
	assert_names(t, img, "d", "a f g");
	assert_content(t, img, "d/f", "second");
	assert_int_equal(oci_resolve(t, img, "d/f", &n), 0);
	assert_int_equal(n.mode & 07777, 0600);
	assert_int_equal(oci_xattr_get(t, img, &n, "user.old", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(oci_xattr_get(t, img, &n, "user.new", buf, sizeof(buf)), 2);
	assert_int_equal(oci_xattr_list(t, img, &n, buf, sizeof(buf)), (long)sizeof("user.new"));
	/* g still names the first content, and the pair's count fell back */
	assert_content(t, img, "d/g", "first");
	assert_int_equal(oci_resolve(t, img, "d/g", &n), 0);
	assert_int_equal(n.nlink, 1);
	oci_image_free(img);
	store_txn_abort(t);
	free_layers(&l, 1);
}

static void test_layer_view(void **state)
{
	struct store *s = *state;
	struct layer ls[3];
	struct oci_digest m;
	struct store_txn *t;
	struct oci_image *l2;
	struct oci_node n;
	char val[8];

	build_three(ls);
	assert_int_equal(import_layers(s, "img", "app", ls, 3, &m), 0);
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_layer_open(&l2, t, &ls[1].digest), 0);
	assert_names(t, l2, "/", "etc gone newdir opq replaced");
	assert_int_equal(oci_resolve(t, l2, "gone", &n), 0);
	assert_int_equal(n.mode, S_IFCHR);	/* overlayfs whiteout */
	assert_int_equal(n.rdev, 0);
	assert_int_equal(oci_resolve(t, l2, "opq", &n), 0);
	assert_int_equal(oci_xattr_get(t, l2, &n, "trusted.overlay.opaque", val, sizeof(val)), 1);
	assert_int_equal(val[0], 'y');
	assert_names(t, l2, "etc", "hostname passwd");
	oci_image_free(l2);
	store_txn_abort(t);
	free_layers(ls, 3);
}

/* ---- bad input ------------------------------------------------------------ */

static void expect_bad(struct store *s, const char *sub, struct layer *ls, size_t n, int err,
		       const char *msg)
{
	struct snap before = snapshot(s);
	struct oci_digest m;
	int rc = import_layers(s, sub, "bad", ls, n, &m);

	if (rc != err || !strstr(store_errmsg(), msg))
		fail_msg("import of %s: got %d '%s', want %d '%s'", sub, rc, store_errmsg(), err, msg);
	assert_unchanged(s, &before);
}

static void test_bad_entries(void **state)
{
	struct store *s = *state;
	struct layer good[1], l[2];
	struct oci_digest m;
	static const struct ent dotdot[] = { { .type = 'f', .path = "a", .mode = 0644, .data = "a" }, { .type = 'f', .path = "x/../../evil", .mode = 0644, .data = "e" } };
	static const struct ent absolute[] = { { .type = 'f', .path = "/etc/shadow", .mode = 0644, .data = "e" } };
	static const struct ent symlink_out[] = { { .type = 'd', .path = "d" }, { .type = 'l', .path = "d/up", .mode = 0777, .data = "../../etc/shadow" } };
	static const struct ent hardlink_out[] = { { .type = 'h', .path = "x", .mode = 0644, .data = "../outside" } };
	static const struct ent hardlink_missing[] = { { .type = 'h', .path = "x", .mode = 0644, .data = "not/there" } };
	static const struct ent hardlink_dir[] = { { .type = 'd', .path = "d" }, { .type = 'h', .path = "x", .mode = 0644, .data = "d" } };

	/* a good image first: failures must leave it as it is */
	layer_make(&good[0], GZIP, layer1, 4);
	assert_int_equal(import_layers(s, "good", "good", good, 1, &m), 0);

	layer_make(&l[0], GZIP, layer1, 4);	/* shared with "good": already there */
	layer_make(&l[1], GZIP, dotdot, 2);
	expect_bad(s, "dotdot", l, 2, -EPERM, "climbs out of the layer");
	free(l[1].tar.p);
	layer_make(&l[1], NONE, absolute, 1);
	expect_bad(s, "abs", l, 2, -EPERM, "'/etc/shadow' is an absolute path");
	free(l[1].tar.p);
	layer_make(&l[1], ZSTD, symlink_out, 2);
	expect_bad(s, "symlink", l, 2, -EPERM, "points outside the layer's root");
	free(l[1].tar.p);
	layer_make(&l[1], NONE, hardlink_out, 1);
	expect_bad(s, "hardlink", l, 2, -EPERM, "climbs out of the layer");
	free(l[1].tar.p);
	layer_make(&l[1], NONE, hardlink_missing, 1);
	expect_bad(s, "hardlink2", l, 2, -EPERM, "not a file earlier in the same layer");
	free(l[1].tar.p);
	layer_make(&l[1], NONE, hardlink_dir, 2);
	expect_bad(s, "hardlink3", l, 2, -EPERM, "not a file earlier in the same layer");

	/* truncated gzip: its digest matches the truncated bytes */
	free(l[1].tar.p);
	layer_make(&l[1], GZIP, layer2, 8);
	l[1].tar.len = l[1].tar.len * 2 / 3;
	oci_digest_of(&l[1].digest, l[1].tar.p, l[1].tar.len);
	expect_bad(s, "truncated", l, 2, -EBADMSG, "truncated or corrupt");

	/* not a tar at all */
	memcpy(l[1].tar.p, "garbage garbage garbage", 23);
	l[1].media_type = OCI_MT_LAYER;
	oci_digest_of(&l[1].digest, l[1].tar.p, l[1].tar.len);
	expect_bad(s, "garbage", l, 2, -EBADMSG, "");

	/* diff_id mismatch */
	free(l[1].tar.p);
	layer_make(&l[1], GZIP, layer2, 3);
	memset(&l[1].diff_id, 0x42, sizeof(l[1].diff_id));
	expect_bad(s, "diffid", l, 2, -EBADMSG, "diff_id");

	/* the good image is intact */
	{
		struct store_txn *t;
		struct oci_image *img;
		assert_int_equal(store_txn_begin(&t, s, 0), 0);
		assert_int_equal(oci_tag_get(t, "good", "latest", &m, NULL), 0);
		assert_int_equal(oci_image_open(&img, t, &m), 0);
		assert_content(t, img, "etc/passwd", "root:x:0:0\n");
		oci_image_free(img);
		store_txn_abort(t);
	}
	free_layers(l, 2);
	free_layers(good, 1);
}

/* header_of - the offset of the ustar header block of entry NAME in TAR */
static size_t header_of(const struct buf *tar, const char *name)
{
	for (size_t off = 0; off + 512 <= tar->len; off += 512) {
		const char *block = (const char *)tar->p + off;
		if (!strncmp(block, name, 100) && !memcmp(block + 257, "ustar", 5))
			return off;
	}
	fail_msg("no header for '%s'", name);
	return 0;
}

/* cut_layer - keep the first LEN bytes of uncompressed layer L (and ADD) */
static void cut_layer(struct layer *l, size_t len, const char *add)
{
	size_t alen = add ? strlen(add) : 0;

	l->tar.len = len;
	if (alen)
		buf_write(NULL, &l->tar, add, alen);
	oci_digest_of(&l->digest, l->tar.p, l->tar.len);
	l->diff_id = l->digest;
}

/*
 * A tar cut short: right after the last file's data (what umoci insert
 * writes) is a layer; anything more, up to a whole header, is not.
 */
/*
 * An empty layer blob (zero bytes: no tar at all) is an empty layer.  It
 * crashed the indexer (found by tests/fuzz/fuzz_layer.c): nothing had read
 * it, and the layer record asked the absent reader for its compression.
 */
static void test_empty_blob_layer(void **state)
{
	struct store *s = *state;
	struct layer l[1];
	struct oci_digest m;
	struct store_txn *t;
	struct oci_image *img;
	struct oci_node root;

	memset(l, 0, sizeof(l));
	l[0].tar.p = calloc(1, 1);
	oci_digest_of(&l[0].digest, "", 0);
	l[0].diff_id = l[0].digest;
	l[0].media_type = OCI_MT_LAYER;
	assert_int_equal(import_layers(s, "empty", "empty", l, 1, &m), 0);
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_image_open(&img, t, &m), 0);
	assert_int_equal(oci_root(t, img, &root), 0);
	assert_names(t, img, "/", "");
	oci_image_free(img);
	store_txn_abort(t);
	free_layers(l, 1);
}

static void test_truncated_tar(void **state)
{
	static const struct ent three[] = {
		{ .type = 'f', .path = "a", .mode = 0644, .data = "first file\n" },
		{ .type = 'f', .path = "b", .mode = 0644, .data = "second file\n" },
		{ .type = 'f', .path = "c", .mode = 0644, .data = "third file\n" },
	};
	struct store *s = *state;
	struct layer l[1];
	struct oci_digest m;
	struct store_txn *t;
	struct oci_image *img;
	size_t c;

	/* ends right after c's data: accepted, c complete */
	layer_make(&l[0], NONE, three, 3);
	c = header_of(&l[0].tar, "c");
	cut_layer(&l[0], c + 512 + strlen(three[2].data), NULL);
	assert_int_equal(import_layers(s, "unpadded", "unpadded", l, 1, &m), 0);
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_image_open(&img, t, &m), 0);
	assert_content(t, img, "c", "third file\n");
	oci_image_free(img);
	store_txn_abort(t);
	free_layers(l, 1);

	/* ends 100 bytes into c's header: c would be lost silently */
	layer_make(&l[0], NONE, three, 3);
	cut_layer(&l[0], header_of(&l[0].tar, "c") + 100, NULL);
	expect_bad(s, "inheader", l, 1, -EBADMSG, "truncated");
	free_layers(l, 1);

	/* the same, compressed */
	layer_make(&l[0], NONE, three, 3);
	{
		struct buf raw = l[0].tar;
		struct archive *a = archive_write_new();
		size_t cut = header_of(&raw, "c") + 100;

		archive_write_add_filter_gzip(a);
		archive_write_set_format_raw(a);
		memset(&l[0].tar, 0, sizeof(l[0].tar));
		assert_int_equal(archive_write_open(a, &l[0].tar, NULL, buf_write, NULL), ARCHIVE_OK);
		{
			struct archive_entry *ae = archive_entry_new();
			archive_entry_set_filetype(ae, AE_IFREG);
			assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
			archive_entry_free(ae);
		}
		assert_int_equal(archive_write_data(a, raw.p, cut), (la_ssize_t)cut);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		oci_digest_of(&l[0].diff_id, raw.p, cut);
		oci_digest_of(&l[0].digest, l[0].tar.p, l[0].tar.len);
		l[0].media_type = OCI_MT_LAYER_GZIP;
		free(raw.p);
	}
	expect_bad(s, "inheadergz", l, 1, -EBADMSG, "truncated");
	free_layers(l, 1);

	/* c's data, then bytes that are neither padding nor a header */
	layer_make(&l[0], NONE, three, 3);
	c = header_of(&l[0].tar, "c");
	cut_layer(&l[0], c + 512 + strlen(three[2].data), "not padding");
	expect_bad(s, "garbage", l, 1, -EBADMSG, "after entry 'c'");
	free_layers(l, 1);
}

/* rewrite - replace a file of layout SUB with TEXT (or LEN bytes of 'x') */
static void rewrite_blob(const char *sub, const struct oci_digest *d, const char *text)
{
	char path[512], hex[65], layout[128];

	snprintf(layout, sizeof(layout), "%s/%s", dir, sub);
	snprintf(path, sizeof(path), "blobs/sha256/%s", oci_digest_hex(hex, d));
	put_file(layout, path, text);
}

static void test_bad_documents(void **state)
{
	struct store *s = *state;
	struct layer l[1];
	struct oci_digest m;
	struct snap before;
	char layout[128], path[512], hex[65];
	char *big;

	layer_make(&l[0], GZIP, layer1, 6);
	before = snapshot(s);

	/* a blob whose content does not match its digest */
	snprintf(layout, sizeof(layout), "%s/mismatch", dir);
	layout_write(layout, "latest", l, 1, NULL);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, oci_digest_hex(hex, &l[0].digest));
	{
		int fd = open(path, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, "X", 1, 100), 1);	/* same size, one byte off */
		close(fd);
	}
	assert_int_equal(oci_layout_import(s, layout, "latest", "bad", "latest", NULL, &m), -EBADMSG);
	assert_non_null(strstr(store_errmsg(), "does not match its digest"));
	assert_unchanged(s, &before);

	/* a manifest that is not JSON */
	snprintf(layout, sizeof(layout), "%s/notjson", dir);
	m = layout_write(layout, "latest", l, 1, NULL);
	rewrite_blob("notjson", &m, "this is { not json");
	assert_int_equal(oci_layout_import(s, layout, "latest", "bad", "latest", NULL, &m), -EBADMSG);
	assert_unchanged(s, &before);

	/* a manifest naming a missing blob */
	snprintf(layout, sizeof(layout), "%s/missing", dir);
	layout_write(layout, "latest", l, 1, NULL);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, oci_digest_hex(hex, &l[0].digest));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(oci_layout_import(s, layout, "latest", "bad", "latest", NULL, &m), -ENOENT);
	assert_non_null(strstr(store_errmsg(), "missing from oci:"));
	assert_unchanged(s, &before);

	/* a config over the JSON limit */
	big = malloc(OCI_JSON_MAX + 64);
	memset(big, ' ', OCI_JSON_MAX + 63);
	memcpy(big, "\"pad\":\"", 7);
	memcpy(big + OCI_JSON_MAX + 61, "\",", 2);
	big[OCI_JSON_MAX + 63] = '\0';
	snprintf(layout, sizeof(layout), "%s/big", dir);
	layout_write(layout, "latest", l, 1, big);
	free(big);
	assert_int_equal(oci_layout_import(s, layout, "latest", "bad", "latest", NULL, &m), -EFBIG);
	assert_non_null(strstr(store_errmsg(), "limit"));
	assert_unchanged(s, &before);

	/* no such tag, not a layout */
	assert_int_equal(oci_layout_import(s, layout, "nope", "bad", "latest", NULL, &m), -ENOENT);
	assert_non_null(strstr(store_errmsg(), "no image tagged 'nope'"));
	assert_int_equal(oci_layout_import(s, dir, NULL, "bad", "latest", NULL, &m), -ENOENT);
	assert_non_null(strstr(store_errmsg(), "not an OCI image layout"));
	assert_unchanged(s, &before);
	free_layers(l, 1);
}

/* ---- names, multi-platform, export, gc -------------------------------------- */

static void test_names(void **state)
{
	char name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1];

	(void)state;
	assert_int_equal(oci_ref_parse("localhost:5000/team/app:1.0", "latest", name, tag), 0);
	assert_string_equal(name, "localhost:5000/team/app");
	assert_string_equal(tag, "1.0");
	assert_int_equal(oci_ref_parse("localhost:5000/team/app", "latest", name, tag), 0);
	assert_string_equal(name, "localhost:5000/team/app");
	assert_string_equal(tag, "latest");
	assert_int_equal(oci_ref_parse("busybox", "latest", name, tag), 0);
	assert_string_equal(tag, "latest");
	assert_int_equal(oci_ref_parse("a/../b:1", "latest", name, tag), -EINVAL);
	assert_int_equal(oci_ref_parse("a//b", "latest", name, tag), -EINVAL);
	assert_int_equal(oci_ref_parse("a/b:c/d", "latest", name, tag), -EINVAL);
	assert_int_equal(oci_ref_parse("app:.bad", "latest", name, tag), -EINVAL);
	assert_int_equal(oci_tag_check("v1.2-rc_3"), 0);
}

static void test_index(void **state)
{
	struct store *s = *state;
	struct layer a[1], b[1];
	struct oci_digest ma, mb, m, idx, got, gotidx;
	struct oci_import_opts opts = { .platform = "linux/arm64" };
	char layout[128], hex1[OCI_DIGEST_STRLEN + 1], hex2[OCI_DIGEST_STRLEN + 1], text[2048];
	char ihex[OCI_DIGEST_STRLEN + 1];
	struct store_txn *t;
	uint64_t size;
	size_t mlen;

	layer_make(&a[0], GZIP, layer1, 3);
	layer_make(&b[0], GZIP, layer3, 1);
	snprintf(layout, sizeof(layout), "%s/multi", dir);
	ma = layout_write(layout, "a", a, 1, NULL);
	mb = layout_write(layout, "b", b, 1, NULL);
	/* both manifests are the same length: the generator's output is fixed-size */
	snprintf(text, sizeof(text), "%s/blobs/sha256/%s", layout, oci_digest_hex(hex1, &ma));
	{
		struct stat st;
		assert_int_equal(stat(text, &st), 0);
		mlen = (size_t)st.st_size;
	}
	snprintf(text, sizeof(text),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
		 OCI_MT_INDEX, OCI_MT_MANIFEST, oci_digest_fmt(hex1, &ma), mlen, OCI_MT_MANIFEST,
		 oci_digest_fmt(hex2, &mb), mlen);
	put_blob(layout, text, strlen(text), &idx);
	/* index.json names the image index */
	{
		char p[512];
		struct stat st;
		oci_digest_fmt(ihex, &idx);
		snprintf(p, sizeof(p), "%s/blobs/sha256/%s", layout, ihex + 7);
		assert_int_equal(stat(p, &st), 0);
		snprintf(text, sizeof(text),
			 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,\"annotations\":{\"%s\":\"multi\"}}]}",
			 OCI_MT_INDEX, ihex, (long long)st.st_size, OCI_REF_ANNOTATION);
	}
	put_file(layout, "index.json", text);

	assert_int_equal(oci_layout_import(s, layout, "multi", "multi", "arm", &opts, &m), 0);
	assert_memory_equal(&m, &mb, sizeof(m));
	assert_int_equal(oci_layout_import(s, layout, "multi", "multi", "host", NULL, &m), 0);
#if defined(__x86_64__)
	assert_memory_equal(&m, &ma, sizeof(m));
#endif
	opts.platform = "linux/s390x";
	assert_int_equal(oci_layout_import(s, layout, "multi", "multi", "none", &opts, &m), -ENOENT);
	assert_non_null(strstr(store_errmsg(), "linux/amd64, linux/arm64"));

	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_tag_get(t, "multi", "arm", &got, &gotidx), 0);
	assert_memory_equal(&got, &mb, sizeof(got));
	assert_memory_equal(&gotidx, &idx, sizeof(idx));
	/* the index and the other platform's manifest are kept as blobs */
	assert_int_equal(oci_blob_size(t, &idx, &size), 0);
	assert_int_equal(oci_blob_size(t, &ma, &size), 0);
	store_txn_abort(t);
	free_layers(a, 1);
	free_layers(b, 1);
}

static void test_export_roundtrip(void **state)
{
	struct store *s = *state;
	struct layer ls[3];
	struct oci_digest m, m2;
	char out[128], path[512], hex[65];
	struct stat st;

	build_three(ls);
	assert_int_equal(import_layers(s, "img", "app", ls, 3, &m), 0);
	snprintf(out, sizeof(out), "%s/out", dir);
	assert_int_equal(oci_layout_export(s, "app", "latest", out, "v1"), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/blobs/sha256/%s", out, oci_digest_hex(hex, &ls[i].digest));
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal((size_t)st.st_size, ls[i].tar.len);
	}
	/* the export imports back to the same manifest */
	assert_int_equal(oci_layout_import(s, out, "v1", "again", "latest", NULL, &m2), 0);
	assert_memory_equal(&m, &m2, sizeof(m));
	/* a second export into the same layout replaces the ref */
	assert_int_equal(oci_layout_export(s, "again", "latest", out, "v1"), 0);
	assert_int_equal(oci_layout_export(s, "app", "latest", out, "v2"), 0);
	/* a docker archive round trip keeps the config and the files */
	snprintf(path, sizeof(path), "%s/img.tar", dir);
	assert_int_equal(oci_archive_export(s, "app", "latest", path), 0);
	assert_int_equal(oci_archive_import(s, path, NULL, "fromarchive", "1", NULL, &m2), 0);
	/* its image by reference, spelt as docker or skopeo would, or by index */
	assert_int_equal(oci_archive_import(s, path, "docker.io/library/app", "fromarchive", "2", NULL, &m), 0);
	assert_memory_equal(&m, &m2, sizeof(m));
	assert_int_equal(oci_archive_import(s, path, "app:latest", "fromarchive", "3", NULL, &m), 0);
	assert_int_equal(oci_archive_import(s, path, "@0", "fromarchive", "4", NULL, &m), 0);
	assert_memory_equal(&m, &m2, sizeof(m));
	assert_int_equal(oci_archive_import(s, path, "@1", "fromarchive", "5", NULL, &m), -ENOENT);
	assert_int_equal(oci_archive_import(s, path, "app:other", "fromarchive", "5", NULL, &m), -ENOENT);
	assert_non_null(strstr(store_errmsg(), "it has: app:latest"));
	{
		struct store_txn *t;
		struct oci_image *img;
		struct oci_image_info a, b;
		assert_int_equal(store_txn_begin(&t, s, 0), 0);
		assert_int_equal(oci_image_info(t, &m, &a), 0);
		assert_int_equal(oci_image_info(t, &m2, &b), 0);
		assert_memory_equal(&a.config, &b.config, sizeof(a.config));
		assert_int_equal(oci_image_open(&img, t, &m2), 0);
		assert_content(t, img, "etc/hostname", "two\n");
		assert_names(t, img, "opq", "new");
		oci_image_free(img);
		store_txn_abort(t);
	}
	free_layers(ls, 3);
}

/* fsck_report - run fsck; its return code, with its report in OUT */
static int fsck_report(struct store *s, char *out, size_t len)
{
	FILE *f = fmemopen(out, len, "w");
	int rc;

	assert_non_null(f);
	rc = store_fsck(s, f, NULL);
	fclose(f);
	return rc;
}

static void test_fsck(void **state)
{
	struct store *s = *state;
	struct layer ls[3];
	struct oci_digest m;
	struct store_txn *t;
	unsigned char key[36];
	char report[4096], name[OCI_DIGEST_STRLEN + 1];
	git_oid tool;

	build_three(ls);
	assert_int_equal(import_layers(s, "img", "app", ls, 3, &m), 0);
	assert_int_equal(fsck_report(s, report, sizeof(report)), 0);

	/* a flipped byte in a layer blob: its digest no longer matches */
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	memcpy(key, ls[2].digest.sha256, 32);
	memset(key + 32, 0, 4);
	{
		MDB_val v;
		char *copy;
		assert_int_equal(store_get(t, TBL_OCI_BLOBS, key, sizeof(key), &v), 0);
		copy = malloc(v.mv_size);
		assert_non_null(copy);
		memcpy(copy, v.mv_data, v.mv_size);
		copy[v.mv_size / 2] ^= 1;
		assert_int_equal(store_put(t, TBL_OCI_BLOBS, key, sizeof(key), copy, v.mv_size, 0), 0);
		free(copy);
	}
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(fsck_report(s, report, sizeof(report)), -EIO);
	assert_non_null(strstr(report, oci_digest_fmt(name, &ls[2].digest)));
	assert_non_null(strstr(report, "hashes to"));

	/* a file's content gone from the object table: its layer is named */
	assert_int_equal(git_odb_hash(&tool, "TOOL CONTENT", 12, GIT_OBJECT_BLOB), 0);
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_del(t, TBL_OBJECTS, tool.id, GIT_OID_RAWSZ), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(fsck_report(s, report, sizeof(report)), -EIO);
	assert_non_null(strstr(report, "file content"));
	assert_non_null(strstr(report, "is missing"));
	free_layers(ls, 3);
}

static void test_gc(void **state)
{
	struct store *s = *state;
	struct layer ls[3];
	struct oci_digest m1, m3;
	struct store_gc_stats st;
	struct store_txn *t;
	struct oci_image *img;
	struct snap before, after;

	build_three(ls);
	assert_int_equal(import_layers(s, "base", "base", ls, 1, &m1), 0);
	assert_int_equal(import_layers(s, "img", "app", ls, 3, &m3), 0);
	assert_int_equal(store_gc(s, 0, &st), 0);
	assert_int_equal(st.objects + st.blobs + st.layers + st.images, 0);

	before = snapshot(s);
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(oci_tag_delete(t, "app", "latest"), 0);
	assert_int_equal(oci_tag_delete(t, "app", "latest"), -ENOENT);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_gc(s, STORE_GC_DRY_RUN, &st), 0);
	assert_int_equal(st.layers, 2);
	after = snapshot(s);
	assert_int_equal(after.blobs, before.blobs);
	assert_int_equal(store_gc(s, 0, &st), 0);
	assert_int_equal(st.layers, 2);
	assert_int_equal(st.images, 1);
	assert_int_equal(st.blobs, 4);	/* 2 layers, manifest, config */
	assert_int_equal(st.objects, 3);	/* "two", "new", "now a file" */
	after = snapshot(s);
	assert_int_equal(after.blobs, before.blobs - 4);

	/* the kept image reads as before; the removed one is gone */
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_image_open(&img, t, &m1), 0);
	assert_content(t, img, "bin/tool", "TOOL CONTENT");
	assert_content(t, img, "opq/sub/deep", "again\n");
	oci_image_free(img);
	assert_int_equal(oci_image_open(&img, t, &m3), -ENOENT);
	store_txn_abort(t);

	/* a pinned layer survives without a tag */
	assert_int_equal(import_layers(s, "img2", "app", ls, 3, &m3), 0);
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(oci_tag_delete(t, "app", "latest"), 0);
	assert_int_equal(oci_pin(t, "build 1", &ls[2].digest), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_gc(s, 0, &st), 0);
	assert_int_equal(st.layers, 1);
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_layer_open(&img, t, &ls[2].digest), 0);
	assert_content(t, img, "etc/passwd", "again\n");
	oci_image_free(img);
	store_txn_abort(t);
	free_layers(ls, 3);
}

/* ---- known locations ------------------------------------------------------ */

struct seen {
	int n;
	char first[128];	/* "host/repo" of the first reported */
	int has_repo0;
};

static int seen_cb(const char *host, const char *repo, int64_t time_ns, void *arg)
{
	struct seen *sn = arg;

	assert_true(time_ns > 0);
	if (!sn->n++)
		snprintf(sn->first, sizeof(sn->first), "%s/%s", host, repo);
	sn->has_repo0 |= !strcmp(repo, "team/r00");
	return 0;
}

static struct seen seen_of(struct store *s, const struct oci_digest *d)
{
	struct seen sn = { 0 };
	struct store_txn *t;

	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_blob_location_foreach(t, d, seen_cb, &sn), 0);
	store_txn_abort(t);
	return sn;
}

/*
 * Where blobs were seen: recorded only for blobs the store holds, a known
 * one refreshed rather than repeated, at most OCI_LOCATIONS_MAX per blob
 * (the oldest goes), and dropped by gc with the blob (kept with a blob
 * that stays).
 */
static void test_locations(void **state)
{
	struct store *s = *state;
	struct layer ls[3];
	struct oci_digest m1, m3, absent;
	struct store_gc_stats st;
	struct store_txn *t;
	char repo[64];
	struct seen sn;

	build_three(ls);
	assert_int_equal(import_layers(s, "base", "base", ls, 1, &m1), 0);
	assert_int_equal(import_layers(s, "img", "app", ls, 3, &m3), 0);
	memset(&absent, 7, sizeof(absent));

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(oci_blob_location_add(t, &absent, "reg.io", "team/app"), -ENOENT);
	for (int i = 0; i < OCI_LOCATIONS_MAX + 4; i++) {
		snprintf(repo, sizeof(repo), "team/r%02d", i);
		assert_int_equal(oci_blob_location_add(t, &ls[0].digest, "reg.io:5000", repo), 0);
	}
	assert_int_equal(oci_blob_location_add(t, &ls[2].digest, "reg.io:5000", "team/app"), 0);
	assert_int_equal(oci_blob_location_add(t, &ls[2].digest, "reg.io:5000", "team/app"), 0);
	assert_int_equal(oci_blob_location_add(t, &ls[2].digest, "other.io", "x"), 0);
	assert_int_equal(store_txn_commit(t), 0);

	sn = seen_of(s, &absent);
	assert_int_equal(sn.n, 0);
	sn = seen_of(s, &ls[0].digest);
	assert_int_equal(sn.n, OCI_LOCATIONS_MAX);
	assert_false(sn.has_repo0);	/* the oldest went */
	sn = seen_of(s, &ls[2].digest);
	assert_int_equal(sn.n, 2);	/* once each, in host order */
	assert_string_equal(sn.first, "other.io/x");

	/* gc: the blob only "app" holds goes, and its locations with it */
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(oci_tag_delete(t, "app", "latest"), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_gc(s, 0, &st), 0);
	assert_int_equal(st.layers, 2);
	sn = seen_of(s, &ls[2].digest);
	assert_int_equal(sn.n, 0);
	sn = seen_of(s, &ls[0].digest);
	assert_int_equal(sn.n, OCI_LOCATIONS_MAX);
	assert_int_equal(store_fsck(s, NULL, NULL), 0);
	free_layers(ls, 3);
}

/* ---- gc beside other writers ---------------------------------------------- */

struct reimport {
	struct layer *ls;
	int done;
};

/* between gc's mark and its sweep: the removed image comes back */
static void reimport_hook(struct store *s, void *arg)
{
	struct reimport *r = arg;
	struct oci_digest m;

	r->done = import_layers(s, "again", "app", r->ls, 3, &m) == 0;
}

/*
 * gc marks in a snapshot and sweeps in short transactions: an image that
 * the snapshot found unreachable and that is imported again before the
 * sweep (its blobs and layers found stored, not written) must survive
 * whole.  Without the touch records its blobs and layers would be swept
 * from under the new tag.
 */
static void test_gc_beside_import(void **state)
{
	struct store *s = *state;
	struct reimport r;
	struct layer ls[3];
	struct oci_digest m3;
	struct store_gc_stats st;
	struct store_txn *t;
	struct oci_image *img;

	build_three(ls);
	assert_int_equal(import_layers(s, "img", "app", ls, 3, &m3), 0);
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(oci_tag_delete(t, "app", "latest"), 0);
	assert_int_equal(store_txn_commit(t), 0);

	r.ls = ls;
	r.done = 0;
	store_gc_set_hook(reimport_hook, &r);
	assert_int_equal(store_gc(s, 0, &st), 0);
	store_gc_set_hook(NULL, NULL);
	assert_true(r.done);
	assert_int_equal(st.layers + st.images + st.blobs + st.objects, 0);

	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(oci_image_open(&img, t, &m3), 0);
	assert_content(t, img, "bin/tool", "TOOL CONTENT");
	assert_content(t, img, "etc/passwd", "again\n");
	oci_image_free(img);
	store_txn_abort(t);
	assert_int_equal(store_fsck(s, NULL, NULL), 0);
	free_layers(ls, 3);
}

/* platforms (oci/platform.c): what --platform, an index entry and a
 * config say, and when one is another */
static void test_platforms(void **state)
{
	struct oci_platform want, have;
	char buf[100];
	json_t *cfg = json_pack("{s:s, s:s, s:s}", "os", "linux", "architecture", "arm",
				"variant", "v7");

	(void)state;
	assert_int_equal(oci_platform_parse(&want, "linux/arm64"), 0);
	assert_string_equal(want.os, "linux");
	assert_string_equal(want.arch, "arm64");
	assert_string_equal(want.variant, "");
	assert_int_equal(oci_platform_parse(&want, "linux/arm/v7"), 0);
	assert_string_equal(want.variant, "v7");
	assert_int_equal(oci_platform_parse(&want, "linux"), -EINVAL);
	assert_int_equal(oci_platform_parse(&want, "linux/"), -EINVAL);
	assert_int_equal(oci_platform_parse(&want, "/amd64"), -EINVAL);
	assert_int_equal(oci_platform_parse(&want, "linux/arm/"), -EINVAL);
	assert_non_null(strstr(store_errmsg(), "OS/ARCH[/VARIANT]"));

	assert_int_equal(oci_platform_from(cfg, &have), 1);
	oci_platform_fmt(&have, buf, sizeof(buf));
	assert_string_equal(buf, "linux/arm/v7");
	assert_int_equal(oci_platform_parse(&want, "linux/arm/v7"), 0);
	assert_true(oci_platform_match(&want, &have));
	assert_int_equal(oci_platform_parse(&want, "linux/arm"), 0);
	assert_true(oci_platform_match(&want, &have));	/* no variant asked */
	assert_int_equal(oci_platform_parse(&want, "linux/arm/v6"), 0);
	assert_false(oci_platform_match(&want, &have));
	assert_int_equal(oci_platform_parse(&want, "linux/arm64"), 0);
	assert_false(oci_platform_match(&want, &have));
	assert_int_equal(oci_platform_from(NULL, &have), 0);
	assert_int_equal(oci_platform_from(json_object_get(cfg, "nothing"), &have), 0);

	oci_platform_host(&have);
	assert_string_equal(have.os, "linux");
	assert_true(have.arch[0] != '\0');
	json_decref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_platforms),
		cmocka_unit_test_setup_teardown(test_union, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_tar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_blob_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_documents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_beside_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsck, setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	git_libgit2_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
