/*
 * archive.c - docker archives (`docker save`, `podman save`, skopeo's
 * docker-archive:), the way an image travels as one tarball:
 *
 *   import docker-archive:FILE  manifest.json, a config and layer tars;
 *                               spooled to unnamed temporary files
 *                               (manifest.json often comes last), then
 *                               converted to an OCI manifest whose layers
 *                               are the bytes as given
 *   export docker-archive:FILE  manifest.json + config + uncompressed layers
 *
 * Files from outside are untrusted: manifest.json is read with a size cap;
 * member names are never used as paths on disk.
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
#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "oci/oci_int.h"
#include "util/array.h"
#include "util/file.h"

#define ARCHIVE_MEMBERS_MAX 100000	/* members of a docker archive */
#define ARCHIVE_LINK_DEPTH 8

/* ---- docker archive import ---------------------------------------------- */

struct member {
	char *path;		/* member name, "./" stripped */
	char *link;		/* symlink or hard link: the member it names */
	int spooled;
	int fd;			/* spooled: an unnamed temporary file */
	struct oci_digest digest;
	uint64_t size;
	unsigned char magic[4];
};

struct spool {
	char dir[4096];
	struct util_array members;	/* struct member */
	char location[4200];
};

static struct member *member_at(const struct spool *sp, size_t i)
{
	return UTIL_ARRAY_AT(&sp->members, struct member, i);
}

static size_t members(const struct spool *sp)
{
	return util_array_len(&sp->members);
}

/* member_add - a new member named PATH (a copy is kept), zeroed */
static struct member *member_add(struct spool *sp, const char *path)
{
	struct member *m;
	char *copy = strdup(path);

	if (!copy || !(m = UTIL_ARRAY_PUSH(&sp->members, struct member))) {
		free(copy);
		store_error(-ENOMEM, "out of memory");
		return NULL;
	}
	m->path = copy;
	m->fd = -1;
	return m;
}

static const char *strip_dot(const char *p)
{
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	while (*p == '/')
		p++;
	return p;
}

/*
 * Members are spooled into unnamed temporary files (O_TMPFILE in $TMPDIR,
 * else /var/tmp): however the import ends, SIGINT, SIGTERM or kill -9,
 * nothing is left behind.  Each is read through /proc/self/fd, which opens
 * it again with an offset of its own.
 */
static void spool_path(const struct spool *sp, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", member_at(sp, i)->fd);
}

/* spool_new - an unnamed file for member I; *wfd: a descriptor to write it */
static int spool_new(struct spool *sp, size_t i, int *wfd)
{
	int fd = util_tmpfile(sp->dir, "govc-import");

	if (fd < 0)
		return store_error(fd, "cannot create a temporary file in %s: %s (set TMPDIR)",
				   sp->dir, strerror(-fd));
	member_at(sp, i)->fd = fd;
	member_at(sp, i)->spooled = 1;
	*wfd = dup(fd);
	return *wfd >= 0 ? 0 : store_error(-errno, "dup: %s", strerror(errno));
}

static void spool_release(struct spool *sp)
{
	for (size_t i = 0; i < members(sp); i++) {
		struct member *m = member_at(sp, i);

		if (m->spooled)
			close(m->fd);
		free(m->path);
		free(m->link);
	}
	util_array_release(&sp->members);
}

/* join - resolve link TARGET found in member PATH to a member name */
static char *join(const char *path, const char *target, int symlink)
{
	const char *slash = strrchr(path, '/');
	size_t dl = symlink && slash ? (size_t)(slash - path) : 0;
	char *out = malloc(dl + strlen(target) + 2);
	char *w;

	if (!out)
		return NULL;
	if (target[0] == '/' || !symlink) {
		strcpy(out, strip_dot(target));
		return out;
	}
	memcpy(out, path, dl);
	w = out + dl;
	for (const char *s = target; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 2 && !strncmp(s, "..", 2)) {
			while (w > out && *--w != '/')
				;
		} else if (n && !(n == 1 && *s == '.')) {
			if (w > out)
				*w++ = '/';
			memcpy(w, s, n);
			w += n;
		}
		s += n;
		while (*s == '/')
			s++;
	}
	*w = '\0';
	return out;
}

static int spool_entry(struct spool *sp, struct archive *a, struct archive_entry *e, char *buf)
{
	const char *p = archive_entry_pathname(e);
	struct member *m;
	char path[4500];
	EVP_MD_CTX *ctx;
	unsigned int mdlen;
	int fd, rc = 0;

	if (!p || strlen(p) > 4096)
		return store_error(-EBADMSG, "%s: a member has no name or a name too long",
				   sp->location);
	if (archive_entry_filetype(e) != AE_IFREG && archive_entry_filetype(e) != AE_IFLNK &&
	    !archive_entry_hardlink(e))
		return 0;
	if (members(sp) == ARCHIVE_MEMBERS_MAX)
		return store_error(-EFBIG, "%s has more than %d members", sp->location,
				   ARCHIVE_MEMBERS_MAX);
	m = member_add(sp, strip_dot(p));
	if (!m)
		return -ENOMEM;
	if (archive_entry_hardlink(e) || archive_entry_filetype(e) == AE_IFLNK) {
		int sym = !archive_entry_hardlink(e);
		const char *target = sym ? archive_entry_symlink(e) : archive_entry_hardlink(e);
		m->link = target ? join(m->path, target, sym) : NULL;
		return m->link ? 0 : store_error(-ENOMEM, "out of memory");
	}
	rc = spool_new(sp, members(sp) - 1, &fd);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/(spool of '%.300s')", sp->dir, m->path);
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		rc = store_error(-ENOMEM, "out of memory");
	while (rc == 0) {
		la_ssize_t n = archive_read_data(a, buf, COPY_BUF);
		if (n < 0) {
			rc = store_error(-EBADMSG, "%s: member '%.300s' is truncated or corrupt (%s)",
					 sp->location, m->path, archive_error_string(a));
			break;
		}
		if (n == 0)
			break;
		if (m->size < sizeof(m->magic))
			memcpy(m->magic + m->size, buf,
			       (size_t)n < sizeof(m->magic) - m->size ? (size_t)n
								      : sizeof(m->magic) - m->size);
		m->size += (uint64_t)n;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		rc = oci_write_all(fd, buf, (size_t)n);
		if (rc)
			rc = store_error(rc, "cannot write temporary file %s: %s (set TMPDIR)", path,
					 strerror(-rc));
	}
	if (rc == 0)
		EVP_DigestFinal_ex(ctx, m->digest.sha256, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (close(fd) < 0 && rc == 0)
		rc = store_error(-errno, "cannot write temporary file %s: %s", path, strerror(errno));
	return rc;
}

/* member_find - the spooled member named PATH, following links */
static struct member *member_find(struct spool *sp, const char *path)
{
	path = strip_dot(path);
	for (int depth = 0; depth < ARCHIVE_LINK_DEPTH; depth++) {
		struct member *hit = NULL;
		for (size_t i = 0; i < members(sp); i++)
			if (!strcmp(member_at(sp, i)->path, path))
				hit = member_at(sp, i);	/* the last of duplicates wins */
		if (!hit || !hit->link)
			return hit && hit->spooled ? hit : NULL;
		path = hit->link;
	}
	return NULL;
}

static int spool_open_blob(void *arg, const struct oci_digest *d, int *out)
{
	struct spool *sp = arg;
	char path[4200];

	for (size_t i = 0; i < members(sp); i++) {
		if (!member_at(sp, i)->spooled || memcmp(&member_at(sp, i)->digest, d, sizeof(*d)))
			continue;
		spool_path(sp, i, path, sizeof(path));
		*out = open(path, O_RDONLY | O_CLOEXEC);
		return *out >= 0 ? 0 : store_error(-errno, "cannot open temporary file %s: %s", path,
						   strerror(errno));
	}
	return -ENOENT;
}

static int spool_archive(struct spool *sp, const char *file)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *buf = malloc(COPY_BUF);
	int rc = 0;

	if (!a || !buf) {
		archive_read_free(a);
		free(buf);
		return store_error(-ENOMEM, "out of memory");
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK) {
		rc = store_error(-EBADMSG, "cannot read %s: %s", sp->location, archive_error_string(a));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = store_error(-EBADMSG, "%s is not a readable tar archive: %s", sp->location,
					 archive_error_string(a));
			break;
		}
		rc = spool_entry(sp, a, e, buf);
		if (rc)
			break;
	}
out:
	archive_read_free(a);
	free(buf);
	return rc;
}

static const char *layer_media_type(const struct member *m)
{
	if (m->size >= 2 && m->magic[0] == 0x1f && m->magic[1] == 0x8b)
		return OCI_MT_LAYER_GZIP;
	if (m->size >= 4 && !memcmp(m->magic, "\x28\xb5\x2f\xfd", 4))
		return OCI_MT_LAYER_ZSTD;
	return OCI_MT_LAYER;
}

static json_t *descriptor_json(const char *mt, const struct oci_digest *d, uint64_t size)
{
	char hex[OCI_DIGEST_STRLEN + 1];

	return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", oci_digest_fmt(hex, d),
			 "size", (json_int_t)size);
}


/* source_index - N for a reference "@N" (skopeo's "source index"), or -1 */
static long source_index(const char *ref)
{
	char *end;
	long n;

	if (!ref || ref[0] != '@' || ref[1] < '0' || ref[1] > '9')
		return -1;
	n = strtol(ref + 1, &end, 10);
	return *end || n > ARCHIVE_MEMBERS_MAX ? -1 : n;
}

/*
 * pick_image - the manifest.json entry for SRC_REF: an image's RepoTags
 * entry (compared as oci_ref_familiar() spells it), "@N" for the Nth image, or
 * NULL for the only one.
 */
static int pick_image(struct spool *sp, json_t *list, const char *src_ref, json_t **out)
{
	char tags[512] = "", want[OCI_NAME_MAX + OCI_TAG_MAX + 32], have[sizeof(want)];
	long index = source_index(src_ref);
	size_t i, j;
	json_t *img, *t;

	*out = NULL;
	if (!json_is_array(list) || json_array_size(list) == 0)
		return store_error(-EBADMSG, "%s: manifest.json is not a list of images", sp->location);
	if (index >= 0) {
		*out = json_array_get(list, (size_t)index);
		return *out ? 0 : store_error(-ENOENT, "%s holds %zu images; there is no '%s'",
					       sp->location, json_array_size(list), src_ref);
	}
	if (src_ref)
		oci_ref_familiar(want, sizeof(want), src_ref);
	json_array_foreach(list, i, img) {
		json_array_foreach(json_object_get(img, "RepoTags"), j, t) {
			if (!json_is_string(t))
				continue;
			oci_ref_familiar(have, sizeof(have), json_string_value(t));
			if (src_ref && !*out && !strcmp(have, want))
				*out = img;
			if (strlen(tags) + strlen(json_string_value(t)) + 4 < sizeof(tags))
				snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%s%s",
					 tags[0] ? ", " : "", json_string_value(t));
		}
	}
	if (!src_ref && json_array_size(list) == 1)
		*out = json_array_get(list, 0);
	if (*out)
		return 0;
	if (src_ref)
		return store_error(-ENOENT, "no image '%s' in %s (it has: %s)", src_ref, sp->location,
				   tags[0] ? tags : "no tags");
	return store_error(-EINVAL, "%s holds %zu images; name one as %s:NAME:TAG or %s:@N (tags: %s)",
			   sp->location, json_array_size(list), sp->location, sp->location, tags);
}

/* convert - build an OCI manifest for the image; spool it; fill TOP */
static int convert(struct spool *sp, json_t *img, struct oci_descriptor *top)
{
	json_t *config = json_object_get(img, "Config");
	json_t *layers = json_object_get(img, "Layers");
	json_t *man = NULL, *ljs;
	struct member *cm, *m;
	char *text = NULL, path[4200];
	size_t i;
	json_t *l;
	int fd, rc = 0;

	if (!json_is_string(config) || !json_is_array(layers) ||
	    json_array_size(layers) > OCI_LAYERS_MAX)
		return store_error(-EBADMSG, "%s: manifest.json needs Config and Layers", sp->location);
	cm = member_find(sp, json_string_value(config));
	if (!cm)
		return store_error(-ENOENT, "%s: manifest.json names config '%.300s', which is not in the archive",
				   sp->location, json_string_value(config));
	man = json_pack("{s:i, s:s, s:o, s:[]}", "schemaVersion", 2, "mediaType", OCI_MT_MANIFEST,
			"config", descriptor_json(OCI_MT_CONFIG, &cm->digest, cm->size), "layers");
	if (!man)
		return store_error(-ENOMEM, "out of memory");
	ljs = json_object_get(man, "layers");
	json_array_foreach(layers, i, l) {
		m = json_is_string(l) ? member_find(sp, json_string_value(l)) : NULL;
		if (!m) {
			rc = store_error(-ENOENT, "%s: manifest.json names layer '%.300s', which is not in the archive",
					 sp->location, json_is_string(l) ? json_string_value(l) : "?");
			goto out;
		}
		json_array_append_new(ljs, descriptor_json(layer_media_type(m), &m->digest, m->size));
	}
	text = json_dumps(man, JSON_COMPACT);
	m = text ? member_add(sp, "\n(generated manifest)") : NULL;
	if (!m) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	m->size = strlen(text);
	oci_digest_of(&m->digest, text, m->size);
	rc = spool_new(sp, members(sp) - 1, &fd);
	if (rc)
		goto out;
	snprintf(path, sizeof(path), "%s/(generated manifest)", sp->dir);
	rc = oci_write_all(fd, text, m->size);
	close(fd);
	if (rc) {
		rc = store_error(rc, "cannot write temporary file %s: %s", path, strerror(-rc));
		goto out;
	}
	memset(top, 0, sizeof(*top));
	top->digest = m->digest;
	top->size = m->size;
	strcpy(top->media_type, OCI_MT_MANIFEST);
out:
	free(text);
	json_decref(man);
	return rc;
}

int oci_archive_import(struct store *s, const char *file, const char *src_ref, const char *name,
		       const char *tag, const struct oci_import_opts *opts, struct oci_digest *m)
{
	struct spool sp;
	struct oci_source src = { spool_open_blob, &sp, sp.location, NULL, NULL, NULL };
	struct oci_descriptor top;
	struct member *mj;
	json_t *list = NULL, *img;
	char *buf = NULL, path[4200];
	size_t len;
	int rc;

	memset(&sp, 0, sizeof(sp));
	util_array_init(&sp.members, sizeof(struct member));
	snprintf(sp.location, sizeof(sp.location), "docker-archive:%s", file);
	if (access(file, R_OK) < 0)
		return store_error(-errno, "cannot read %s: %s", sp.location, strerror(errno));
	snprintf(sp.dir, sizeof(sp.dir), "%s", util_tmpdir());
	rc = spool_archive(&sp, file);
	if (rc)
		goto out;
	mj = member_find(&sp, "manifest.json");
	if (!mj) {
		rc = store_error(-ENOENT, "%s is not a docker archive (no manifest.json)", sp.location);
		goto out;
	}
	if (mj->size > OCI_JSON_MAX) {
		rc = store_error(-EFBIG, "%s: manifest.json is %llu bytes, more than the limit of %u",
				 sp.location, (unsigned long long)mj->size, OCI_JSON_MAX);
		goto out;
	}
	spool_path(&sp, (size_t)(mj - member_at(&sp, 0)), path, sizeof(path));
	{
		char what[4300];
		snprintf(what, sizeof(what), "%s: manifest.json", sp.location);
		rc = oci_read_capped(AT_FDCWD, path, OCI_JSON_MAX, what, &buf, &len);
		if (rc == 0) {
			json_error_t err;
			list = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
			if (!list)
				rc = store_error(-EBADMSG, "%s is not valid JSON: %s", what, err.text);
		}
	}
	if (rc == 0)
		rc = pick_image(&sp, list, src_ref, &img);
	if (rc == 0)
		rc = convert(&sp, img, &top);
	if (rc)
		goto out;
	rc = oci_import(s, &src, &top, name, tag, opts, m);
out:
	json_decref(list);
	free(buf);
	spool_release(&sp);
	return rc;
}

/* ---- docker archive export ---------------------------------------------- */

static int tar_member(struct archive *a, const char *path, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	if (!e)
		return store_error(-ENOMEM, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, 0, 0);
	rc = archive_write_header(a, e);
	archive_entry_free(e);
	return rc == ARCHIVE_OK ? 0 : store_error(-EIO, "cannot write the archive: %s",
						  archive_error_string(a));
}

static int tar_data(struct archive *a, const void *buf, size_t len)
{
	return archive_write_data(a, buf, len) == (la_ssize_t)len
		       ? 0
		       : store_error(-EIO, "cannot write the archive: %s", archive_error_string(a));
}

/* tar_blob - a member holding blob D as stored */
static int tar_blob(struct store_txn *t, struct archive *a, const char *path,
		    const struct oci_digest *d, uint64_t size, char *buf)
{
	uint64_t off = 0;
	int rc = tar_member(a, path, size);

	while (rc == 0 && off < size) {
		long n = oci_blob_read(t, d, off, buf, COPY_BUF);
		if (n <= 0)
			return n < 0 ? (int)n : store_error(-EIO, "blob '%s' is short", path);
		rc = tar_data(a, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return rc;
}

/* tar_layer - a member holding layer D uncompressed (docker's format) */
static int tar_layer(struct store_txn *t, struct archive *a, const char *path,
		     const struct oci_digest *d, char *buf)
{
	struct oci_layer_info li;
	struct oci_blob_stream bs;
	struct archive *in = NULL;
	char hex[OCI_DIGEST_STRLEN + 1];
	uint64_t done = 0;
	int rc = oci_layer_info(t, d, &li);

	if (rc)
		return rc;
	if (li.compression == OCI_COMP_NONE)
		return tar_blob(t, a, path, d, li.size, buf);
	rc = oci_blob_stream_init(&bs, store_txn_store(t), d);
	if (rc)
		return rc;
	rc = oci_blob_stream_open(&in, &bs, oci_digest_fmt(hex, d));
	if (rc == 0)
		rc = tar_member(a, path, li.usize);
	while (rc == 0) {
		la_ssize_t n = archive_read_data(in, buf, COPY_BUF);
		if (n < 0)
			rc = store_error(-EIO, "layer %s: cannot decompress: %s", hex,
					 archive_error_string(in));
		if (n <= 0)
			break;
		if (done + (uint64_t)n > li.usize) {
			rc = store_error(-EIO, "layer %s decompresses to more than its index says", hex);
			break;
		}
		rc = tar_data(a, buf, (size_t)n);
		done += (uint64_t)n;
	}
	if (rc == 0 && done != li.usize)
		rc = store_error(-EIO, "layer %s decompresses to less than its index says", hex);
	if (in)
		archive_read_free(in);
	oci_blob_stream_release(&bs);
	return rc;
}

int oci_archive_export(struct store *s, const char *name, const char *tag, const char *file)
{
	struct oci_image_info info;
	struct oci_digest m;
	struct store_txn *t;
	struct archive *a = NULL;
	json_t *list = NULL, *layers;
	char *buf = NULL, *text = NULL, tmp[4200], member[80], hex[65], ref[OCI_NAME_MAX + OCI_TAG_MAX + 2];
	int rc, opened = 0;

	snprintf(tmp, sizeof(tmp), "%s.govc-tmp", file);
	rc = oci_export_begin(s, name, tag, &t, &m, &info);
	if (rc)
		return rc;
	buf = malloc(COPY_BUF);
	a = archive_write_new();
	if (!buf || !a) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
		rc = store_error(-EIO, "cannot write %s: %s", file, archive_error_string(a));
		goto out;
	}
	opened = 1;
	snprintf(member, sizeof(member), "%s.json", oci_digest_hex(hex, &info.config));
	snprintf(ref, sizeof(ref), "%s:%s", name, tag);
	list = json_pack("[{s:s, s:[s], s:[]}]", "Config", member, "RepoTags", ref, "Layers");
	if (!list) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	layers = json_object_get(json_array_get(list, 0), "Layers");
	rc = tar_blob(t, a, member, &info.config, info.config_size, buf);
	for (unsigned i = 0; i < info.nlayers && rc == 0; i++) {
		struct oci_layer_info li;
		struct oci_digest ld;
		size_t j;
		json_t *seen;
		int dup = 0;

		rc = oci_image_layer(t, &m, i, &ld, NULL);
		if (rc == 0)
			rc = oci_layer_info(t, &ld, &li);
		if (rc)
			break;
		snprintf(member, sizeof(member), "%s.tar", oci_digest_hex(hex, &li.diff_id));
		json_array_foreach(layers, j, seen)
			dup |= !strcmp(json_string_value(seen), member);
		if (!dup)
			rc = tar_layer(t, a, member, &ld, buf);
		json_array_append_new(layers, json_string(member));
	}
	if (rc)
		goto out;
	text = json_dumps(list, JSON_COMPACT);
	if (!text) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	rc = tar_member(a, "manifest.json", strlen(text));
	if (rc == 0)
		rc = tar_data(a, text, strlen(text));
	if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
		rc = store_error(-EIO, "cannot write %s: %s", file, archive_error_string(a));
	if (rc == 0 && rename(tmp, file) < 0)
		rc = store_error(-errno, "cannot write %s: %s", file, strerror(errno));
out:
	if (a)
		archive_write_free(a);
	if (rc && opened)
		unlink(tmp);
	free(text);
	json_decref(list);
	free(buf);
	store_txn_abort(t);
	return rc;
}

