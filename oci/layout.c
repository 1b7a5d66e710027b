/*
 * layout.c - OCI image layouts, the way an image travels as a directory:
 *
 *   import oci:DIR[:TAG]   index.json -> the descriptor tagged TAG
 *                          (annotation org.opencontainers.image.ref.name),
 *                          blobs read from DIR/blobs/sha256/<hex>
 *   export oci:DIR[:TAG]   blobs byte-exact, index.json merged
 *
 * and the small-file helpers the transports share (oci_int.h).
 *
 * Files from outside are untrusted: index.json and oci-layout are read
 * with a size cap.  Writes into a layout go to a temporary name and are
 * renamed into place, so a reader never sees half a blob or half an index.
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

#define LAYOUT_SMALL_MAX 4096		/* oci-layout */

/* ---- small file helpers ------------------------------------------------- */

/* read_capped - the whole of DIRFD/NAME if at most MAX bytes, malloc'd */
int oci_read_capped(int dirfd, const char *name, size_t max, const char *what, char **out,
		       size_t *len)
{
	struct stat st;
	char *buf;
	size_t done = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	*out = NULL;
	if (fd < 0)
		return store_error(-errno, "cannot open %s: %s", what, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return store_error(-EINVAL, "%s is not a regular file", what);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return store_error(-EFBIG, "%s is %llu bytes, more than the %zu-byte limit", what,
				   (unsigned long long)st.st_size, max);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return store_error(-ENOMEM, "out of memory");
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	buf[done] = '\0';
	*out = buf;
	*len = done;
	return 0;
}

int oci_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* write_file_atomic - DIRFD/NAME := LEN bytes at DATA, via a temporary name */
int oci_write_file_atomic(int dirfd, const char *name, const void *data, size_t len,
			     const char *where)
{
	char tmp[128];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".%s.govc-tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return store_error(-errno, "cannot write %s/%s: %s", where, name, strerror(errno));
	rc = oci_write_all(fd, data, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = -errno;
	if (rc) {
		unlinkat(dirfd, tmp, 0);
		return store_error(rc, "cannot write %s/%s: %s", where, name, strerror(-rc));
	}
	return 0;
}

/* ---- OCI layout import -------------------------------------------------- */

struct layout_src {
	int blobs;	/* DIR/blobs/sha256 */
	char location[4200];
};

static int layout_open_blob(void *arg, const struct oci_digest *d, int *out)
{
	struct layout_src *ls = arg;
	char hex[65];
	struct stat st;
	int fd;

	if (ls->blobs < 0)
		return -ENOENT;
	fd = openat(ls->blobs, oci_digest_hex(hex, d), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0)
		return store_error(-errno, "cannot open %s/blobs/sha256/%s: %s", ls->location, hex,
				   strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return store_error(-EINVAL, "%s/blobs/sha256/%s is not a regular file", ls->location,
				   hex);
	}
	fcntl(fd, F_SETFL, 0);
	*out = fd;
	return 0;
}

static const char *ref_name(json_t *desc)
{
	json_t *ann = json_object_get(desc, "annotations");
	json_t *ref = ann ? json_object_get(ann, OCI_REF_ANNOTATION) : NULL;

	return json_is_string(ref) ? json_string_value(ref) : NULL;
}

/* read_json - file NAME of DIRFD (at most MAX bytes) as one JSON object */
static int read_json(int dirfd, const char *name, size_t max, const char *what, json_t **out)
{
	char *buf;
	size_t len;
	int rc = oci_read_capped(dirfd, name, max, what, &buf, &len);

	if (rc)
		return rc;
	rc = oci_json_parse(buf, len, what, out);
	free(buf);
	return rc;
}

/* layout_find - the descriptor in index.json for SRC_TAG (NULL: the only one) */
static int layout_find(int dirfd, const char *location, const char *src_tag,
		       struct oci_descriptor *out)
{
	char what[4300], tags[512] = "";
	size_t i;
	json_t *doc = NULL, *manifests, *d, *pick = NULL;
	int rc;

	snprintf(what, sizeof(what), "%s/oci-layout", location);
	rc = read_json(dirfd, "oci-layout", LAYOUT_SMALL_MAX, what, &doc);
	if (rc == -ENOENT)
		return store_error(-ENOENT, "'%s' is not an OCI image layout (no oci-layout file)",
				   location);
	if (rc)
		return rc;
	if (!json_is_string(json_object_get(doc, "imageLayoutVersion")))
		rc = store_error(-EBADMSG, "%s has no imageLayoutVersion", what);
	json_decref(doc);
	doc = NULL;
	if (rc)
		return rc;

	snprintf(what, sizeof(what), "%s/index.json", location);
	rc = read_json(dirfd, "index.json", OCI_JSON_MAX, what, &doc);
	if (rc)
		return rc;
	manifests = json_object_get(doc, "manifests");
	if (!json_is_array(manifests)) {
		rc = store_error(-EBADMSG, "%s has no manifests array", what);
		goto out;
	}
	json_array_foreach(manifests, i, d) {
		const char *ref = ref_name(d);

		if (ref && strlen(tags) + strlen(ref) + 4 < sizeof(tags))
			snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%s%s",
				 tags[0] ? ", " : "", ref);
		if (src_tag && ref && !strcmp(ref, src_tag) && !pick)
			pick = d;
	}
	if (!src_tag && json_array_size(manifests) == 1)
		pick = json_array_get(manifests, 0);
	if (!pick && src_tag)
		rc = store_error(-ENOENT, "no image tagged '%s' in %s (it has: %s)", src_tag, location,
				 tags[0] ? tags : "no tagged images");
	else if (!pick)
		rc = store_error(json_array_size(manifests) ? -EINVAL : -ENOENT,
				 "%s holds %zu images; name one as %s:TAG (tags: %s)", location,
				 json_array_size(manifests), location, tags[0] ? tags : "none");
	else
		rc = oci_descriptor_parse(pick, what, out);
out:
	json_decref(doc);
	return rc;
}

int oci_layout_import(struct store *s, const char *dir, const char *src_tag, const char *name,
		      const char *tag, const struct oci_import_opts *opts, struct oci_digest *m)
{
	struct layout_src ls = { .blobs = -1 };
	struct oci_source src = { layout_open_blob, &ls, ls.location, NULL, NULL, NULL };
	struct oci_descriptor top;
	int dirfd, rc;

	snprintf(ls.location, sizeof(ls.location), "oci:%s", dir);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return store_error(-errno, "cannot open OCI layout '%s': %s", dir, strerror(errno));
	rc = layout_find(dirfd, ls.location, src_tag, &top);
	if (rc)
		goto out;
	ls.blobs = openat(dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = oci_import(s, &src, &top, name, tag, opts, m);
out:
	if (ls.blobs >= 0)
		close(ls.blobs);
	close(dirfd);
	return rc;
}

/* ---- OCI layout export -------------------------------------------------- */

/* blob_export - DIR's blobs/sha256/<hex> := blob D (skipped if there) */
static int blob_export(struct store_txn *t, int blobs, const struct oci_digest *d, uint64_t size,
		       const char *where, char *buf)
{
	char hex[65], tmp[96];
	struct stat st;
	uint64_t off = 0;
	int fd, rc = 0;

	oci_digest_hex(hex, d);
	if (fstatat(blobs, hex, &st, 0) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size)
		return 0;
	snprintf(tmp, sizeof(tmp), ".%s.govc-tmp", hex);
	fd = openat(blobs, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return store_error(-errno, "cannot write %s/blobs/sha256/%s: %s", where, hex,
				   strerror(errno));
	while (off < size && rc == 0) {
		long n = oci_blob_read(t, d, off, buf, COPY_BUF);
		if (n <= 0) {
			rc = n < 0 ? (int)n : store_error(-EIO, "blob %s is short in the store", hex);
			break;
		}
		rc = oci_write_all(fd, buf, (size_t)n);
		if (rc)
			rc = store_error(rc, "cannot write %s/blobs/sha256/%s: %s", where, hex,
					 strerror(-rc));
		off += (uint64_t)n;
	}
	if (close(fd) < 0 && rc == 0)
		rc = store_error(-errno, "cannot write %s/blobs/sha256/%s: %s", where, hex,
				 strerror(errno));
	if (rc == 0 && renameat(blobs, tmp, blobs, hex) < 0)
		rc = store_error(-errno, "cannot write %s/blobs/sha256/%s: %s", where, hex,
				 strerror(errno));
	if (rc)
		unlinkat(blobs, tmp, 0);
	return rc;
}

/* layout_prepare - open DIR as a layout to write to, creating it */
static int layout_prepare(const char *dir, int *dirfd, int *blobs)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int empty = 1;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return store_error(-errno, "cannot create '%s': %s", dir, strerror(errno));
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return store_error(-errno, "cannot open '%s': %s", dir, strerror(errno));
	if (fstatat(*dirfd, "oci-layout", &st, 0) < 0) {
		d = fdopendir(dup(*dirfd));
		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				empty = 0;
		if (d)
			closedir(d);
		if (!empty) {
			close(*dirfd);
			return store_error(-EEXIST,
					   "'%s' is neither empty nor an OCI image layout; give a new directory",
					   dir);
		}
	}
	if ((mkdirat(*dirfd, "blobs", 0755) < 0 && errno != EEXIST) ||
	    (mkdirat(*dirfd, "blobs/sha256", 0755) < 0 && errno != EEXIST) ||
	    (*blobs = openat(*dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int rc = store_error(-errno, "cannot create '%s/blobs/sha256': %s", dir, strerror(errno));
		close(*dirfd);
		return rc;
	}
	return 0;
}

/* index_update - add DESC as REF to DIR's index.json, replacing that ref */
static int index_update(int dirfd, const char *dir, json_t *desc, const char *ref)
{
	char what[4200], *buf = NULL, *text;
	json_t *doc = NULL, *manifests, *kept;
	size_t len, i;
	json_t *d;
	int rc;

	snprintf(what, sizeof(what), "%s/index.json", dir);
	rc = oci_read_capped(dirfd, "index.json", OCI_JSON_MAX, what, &buf, &len);
	if (rc == 0)
		rc = oci_json_parse(buf, len, what, &doc);
	free(buf);
	if (rc == -ENOENT) {
		rc = 0;
		doc = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
				"manifests");
		if (!doc)
			return store_error(-ENOMEM, "out of memory");
	}
	if (rc)
		return rc;
	manifests = json_object_get(doc, "manifests");
	if (!json_is_array(manifests)) {
		json_decref(doc);
		return store_error(-EBADMSG, "%s has no manifests array; not overwriting it", what);
	}
	kept = json_array();
	json_array_foreach(manifests, i, d) {
		const char *r = ref_name(d);
		if (!r || strcmp(r, ref))
			json_array_append(kept, d);
	}
	json_array_append(kept, desc);
	json_object_set_new(doc, "manifests", kept);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text)
		return store_error(-ENOMEM, "out of memory");
	rc = oci_write_file_atomic(dirfd, "index.json", text, strlen(text), dir);
	free(text);
	return rc;
}

int oci_layout_export(struct store *s, const char *name, const char *tag, const char *dir,
		      const char *dest_tag)
{
	struct oci_image_info info;
	struct oci_digest m;
	struct store_txn *t;
	json_t *desc = NULL;
	char *buf = NULL, hex[OCI_DIGEST_STRLEN + 1];
	int dirfd = -1, blobs = -1, rc;

	rc = oci_export_begin(s, name, tag, &t, &m, &info);
	if (rc)
		return rc;
	rc = layout_prepare(dir, &dirfd, &blobs);
	if (rc)
		goto out;
	buf = malloc(COPY_BUF);
	if (!buf) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < info.nlayers && rc == 0; i++) {
		struct oci_digest ld;
		uint64_t lsize;
		rc = oci_image_layer(t, &m, i, &ld, &lsize);
		if (rc == 0)
			rc = blob_export(t, blobs, &ld, lsize, dir, buf);
	}
	if (rc == 0)
		rc = blob_export(t, blobs, &info.config, info.config_size, dir, buf);
	if (rc == 0)
		rc = blob_export(t, blobs, &m, info.manifest_size, dir, buf);
	if (rc)
		goto out;
	desc = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", info.media_type, "digest",
			 oci_digest_fmt(hex, &m), "size", (json_int_t)info.manifest_size,
			 "annotations", OCI_REF_ANNOTATION, dest_tag ? dest_tag : tag);
	if (!desc) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	rc = index_update(dirfd, dir, desc, dest_tag ? dest_tag : tag);
	if (rc == 0 && faccessat(dirfd, "oci-layout", F_OK, 0) < 0)
		rc = oci_write_file_atomic(dirfd, "oci-layout", OCI_LAYOUT_FILE,
				       strlen(OCI_LAYOUT_FILE), dir);
out:
	json_decref(desc);
	free(buf);
	if (blobs >= 0)
		close(blobs);
	if (dirfd >= 0)
		close(dirfd);
	store_txn_abort(t);
	return rc;
}

int oci_export_begin(struct store *s, const char *name, const char *tag, struct store_txn **t,
		     struct oci_digest *m, struct oci_image_info *info)
{
	int rc = store_txn_begin(t, s, 0);

	if (rc)
		return rc;
	rc = oci_tag_get(*t, name, tag, m, NULL);
	if (rc == 0)
		rc = oci_image_info(*t, m, info);
	if (rc) {
		store_txn_abort(*t);
		*t = NULL;
	}
	return rc;
}
