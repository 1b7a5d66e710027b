/*
 * import.c - bringing an image into the store from a blob source (an
 * OCI layout, a docker archive, a registry's downloads): verify every
 * blob, follow an image index to this platform's manifest, index each
 * layer, record the image and tag it.
 *
 * It runs as an ingest session (ingest.h): blobs and layer indexes go in
 * through short transactions, pinned by the session, and the image record
 * and the tag are published together in one short transaction at the end.
 * The mount's writers never wait on an import for more than a few
 * milliseconds, nothing half-imported is ever visible, and an import that
 * fails or is killed leaves only unreachable data, which gc removes.  A
 * blob already in the store is not read from the source again, and a
 * layer already indexed is not indexed again: importing an image that
 * shares its base with one in the store reads only the new layers.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "store/ingest.h"

#define INDEX_DEPTH_MAX 2	/* an index may name an index, once */

struct imp {
	struct store_ingest *in;
	const struct oci_source *src;
	const struct oci_import_opts *opts;
	struct oci_platform want;
	int want_given;
	struct oci_digest index;	/* the index we came through, or zero */
	/* the image imported, recorded at publication */
	struct oci_descriptor manifest, config;
	char media_type[OCI_MEDIA_TYPE_MAX + 1];
	int64_t created;
	unsigned nlayers;
	struct oci_descriptor *layers;	/* owned */
	/* publishing */
	const char *name, *tag;
};

/* txn - the session's transaction, for a read or a short write */
static struct store_txn *txn(struct imp *im, int *rc)
{
	struct store_txn *t = NULL;

	*rc = store_ingest_txn(im->in, &t);
	return t;
}

/* ---- blobs from the source ---------------------------------------------- */

static int fetch_blob(struct imp *im, const struct oci_descriptor *d, const char *what)
{
	char hex[OCI_DIGEST_STRLEN + 1];
	uint64_t have;
	struct timespec t0;
	int fd = -1, rc;
	struct store_txn *t = txn(im, &rc);

	if (rc == 0)
		rc = oci_blob_size(t, &d->digest, &have);
	if (rc == 0) {
		if (have != d->size)
			return store_error(-EBADMSG, "%s: the descriptor says %llu bytes, but blob %s has %llu",
					   what, (unsigned long long)d->size,
					   oci_digest_fmt(hex, &d->digest), (unsigned long long)have);
		return store_ingest_pin(im->in, STORE_PIN_BLOB, d->digest.sha256, 32);
	}
	if (rc != -ENOENT)
		return rc;
	rc = store_ingest_flush(im->in);	/* nothing held while reading */
	if (rc)
		return rc;
	if (im->opts && im->opts->progress)
		im->opts->progress(im->opts->progress_arg, what, d);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	store_error_clear();
	if (im->src->put_blob) {
		rc = im->src->put_blob(im->src->arg, im->in, d, what);
		if (rc == -ENOENT && !store_has_error())
			rc = store_error(-ENOENT, "%s: blob %s is missing from %s", what,
					 oci_digest_fmt(hex, &d->digest), im->src->location);
	} else {
		rc = im->src->open_blob(im->src->arg, &d->digest, &fd);
		if (rc == -ENOENT)
			return store_error(-ENOENT, "%s: blob %s is missing from %s", what,
					   oci_digest_fmt(hex, &d->digest), im->src->location);
		if (rc)
			return rc;
		rc = oci_blob_put_fd(im->in, fd, &d->digest, d->size, what);
		close(fd);
	}
	if (rc == 0 && im->opts && im->opts->progress_done) {
		struct timespec t1;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		im->opts->progress_done(im->opts->progress_arg, what, d,
					(double)(t1.tv_sec - t0.tv_sec) +
						(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	return rc;
}

static int fetch_json(struct imp *im, const struct oci_descriptor *d, const char *what,
		      json_t **out)
{
	int rc;

	*out = NULL;
	if (d->size > OCI_JSON_MAX)
		return store_error(-EFBIG, "%s is %llu bytes, more than the %u-byte limit for JSON documents",
				   what, (unsigned long long)d->size, OCI_JSON_MAX);
	rc = fetch_blob(im, d, what);
	if (rc == 0) {
		struct store_txn *t = txn(im, &rc);
		if (rc == 0)
			rc = oci_json_load(t, &d->digest, what, out);
	}
	return rc;
}

/* ---- manifests ---------------------------------------------------------- */

struct config_facts {
	int64_t created;
	unsigned ndiff;
	struct oci_digest *diff_ids;	/* owned */
};

static int config_parse(json_t *doc, const char *what, struct config_facts *out)
{
	json_t *created = json_object_get(doc, "created");
	json_t *rootfs = json_object_get(doc, "rootfs");
	json_t *diffs = rootfs ? json_object_get(rootfs, "diff_ids") : NULL;
	size_t i;
	json_t *d;

	memset(out, 0, sizeof(*out));
	if (json_is_string(created))
		out->created = oci_time_parse(json_string_value(created));
	if (!diffs)
		return 0;
	if (!json_is_array(diffs) || json_array_size(diffs) > OCI_LAYERS_MAX)
		return store_error(-EBADMSG, "%s: rootfs.diff_ids is not an array of digests", what);
	out->ndiff = (unsigned)json_array_size(diffs);
	out->diff_ids = calloc(out->ndiff ? out->ndiff : 1, sizeof(*out->diff_ids));
	if (!out->diff_ids)
		return store_error(-ENOMEM, "out of memory");
	json_array_foreach(diffs, i, d) {
		if (!json_is_string(d) || oci_digest_parse(&out->diff_ids[i], json_string_value(d))) {
			free(out->diff_ids);
			out->diff_ids = NULL;
			return store_error(-EBADMSG, "%s: rootfs.diff_ids[%zu] is not a sha256 digest",
					   what, i);
		}
	}
	return 0;
}

/* image_keep - what the image record of MD will say, at publication */
static int image_keep(struct imp *im, const struct oci_descriptor *md,
		      const struct oci_manifest *man, const struct config_facts *cf,
		      const char *media_type)
{
	struct oci_descriptor *layers = calloc(man->nlayers ? man->nlayers : 1, sizeof(*layers));

	if (!layers)
		return store_error(-ENOMEM, "out of memory");
	memcpy(layers, man->layers, man->nlayers * sizeof(*layers));
	free(im->layers);
	im->layers = layers;
	im->nlayers = man->nlayers;
	im->manifest = *md;
	im->config = man->config;
	im->created = cf->created;
	snprintf(im->media_type, sizeof(im->media_type), "%s", media_type);
	return 0;
}

/* publish - in one transaction: the image record, then the tag (and its
 * event) */
static int publish(struct store_txn *t, void *arg)
{
	struct imp *im = arg;
	int rc = oci_image_record_put(t, &im->manifest, im->media_type, &im->config, im->created,
				      im->nlayers, im->layers);

	if (rc == 0 && im->tag)
		rc = oci_tag_set(t, im->name, im->tag, &im->manifest.digest,
				 oci_digest_is_zero(&im->index) ? NULL : &im->index);
	return rc;
}

static int import_manifest(struct imp *im, const struct oci_descriptor *md, json_t *doc,
			   const char *what)
{
	struct oci_manifest man;
	struct config_facts cf = { 0 };
	json_t *config = NULL;
	char sub[400], hex[OCI_DIGEST_STRLEN + 1];
	int rc = oci_manifest_parse(doc, what, &man);

	if (rc)
		return rc;
	if (md->media_type[0] && json_object_get(doc, "mediaType") &&
	    strcmp(md->media_type, man.media_type)) {
		rc = store_error(-EBADMSG, "%s: its descriptor says media type '%s' but it says '%s'",
				 what, md->media_type, man.media_type);
		goto out;
	}
	snprintf(sub, sizeof(sub), "config %s of %s", oci_digest_fmt(hex, &man.config.digest), what);
	rc = fetch_json(im, &man.config, sub, &config);
	if (rc == 0)
		rc = config_parse(config, sub, &cf);
	if (rc)
		goto out;
	if (cf.diff_ids && cf.ndiff != man.nlayers) {
		rc = store_error(-EBADMSG, "%s lists %u diff_ids for the manifest's %u layers", sub,
				 cf.ndiff, man.nlayers);
		goto out;
	}
	if (im->src->prefetch) {
		/* the source brings the layers in (and may index them) while
		 * the ones below are indexed here */
		rc = store_ingest_flush(im->in);
		if (rc == 0)
			rc = im->src->prefetch(im->src->arg, im->in, man.layers, cf.diff_ids,
					       man.nlayers);
	}
	for (unsigned i = 0; i < man.nlayers && rc == 0; i++) {
		snprintf(sub, sizeof(sub), "layer %u (%s) of %s", i + 1,
			 oci_digest_fmt(hex, &man.layers[i].digest), what);
		if (im->src->await) {
			rc = store_ingest_flush(im->in);	/* nothing held while waiting */
			if (rc == 0)
				rc = im->src->await(im->src->arg, im->in, &man.layers[i]);
			if (rc)
				break;
		}
		rc = fetch_blob(im, &man.layers[i], sub);
		if (rc == 0)
			rc = oci_layer_index(im->in, &man.layers[i].digest,
					     cf.diff_ids ? &cf.diff_ids[i] : NULL);
	}
	if (rc == 0)
		rc = image_keep(im, md, &man, &cf,
				md->media_type[0] ? md->media_type : man.media_type);
out:
	json_decref(config);
	free(cf.diff_ids);
	oci_manifest_release(&man);
	return rc;
}

/* ---- image indexes ------------------------------------------------------ */

/* choose - the index entry for the wanted platform, or -1 with a message */
static int choose(struct imp *im, json_t *manifests, const char *what)
{
	struct oci_platform amd64 = { "linux", "amd64", "" }, p;
	char seen[512] = "";
	int exact = -1, fallback = -1, candidates = 0, last = -1;
	size_t i;
	json_t *d;

	json_array_foreach(manifests, i, d) {
		int has = oci_platform_from(json_object_get(d, "platform"), &p);

		if (has && !strcmp(p.os, "unknown"))
			continue;	/* attestations and the like */
		candidates++;
		last = (int)i;
		if (has && strlen(seen) + 40 < sizeof(seen))
			snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s/%s%s%s",
				 seen[0] ? ", " : "", p.os, p.arch, p.variant[0] ? "/" : "", p.variant);
		if (has && exact < 0 && oci_platform_match(&im->want, &p))
			exact = (int)i;
		if (has && fallback < 0 && oci_platform_match(&amd64, &p))
			fallback = (int)i;
	}
	if (exact >= 0)
		return exact;
	if (!im->want_given && fallback >= 0)
		return fallback;
	if (!im->want_given && candidates == 1)
		return last;
	store_error(-ENOENT, "%s has no image for %s/%s%s%s (it has: %s); choose one with --platform",
		    what, im->want.os, im->want.arch, im->want.variant[0] ? "/" : "", im->want.variant,
		    seen[0] ? seen : "nothing usable");
	return -1;
}

static int import_doc(struct imp *im, const struct oci_descriptor *d, int depth,
		      const char *what, struct oci_digest *m);

static int import_index(struct imp *im, const struct oci_descriptor *d, json_t *doc, int depth,
			const char *what, struct oci_digest *m)
{
	json_t *manifests = json_object_get(doc, "manifests");
	struct oci_descriptor *descs = NULL;
	char sub[400], hex[OCI_DIGEST_STRLEN + 1];
	size_t n, i;
	json_t *e;
	int pick, rc = 0;

	if (depth >= INDEX_DEPTH_MAX)
		return store_error(-EBADMSG, "%s: image indexes nest too deep", what);
	if (!json_is_array(manifests))
		return store_error(-EBADMSG, "%s: an image index needs a manifests array", what);
	n = json_array_size(manifests);
	if (n > OCI_INDEX_MANIFESTS_MAX)
		return store_error(-EFBIG, "%s lists %zu manifests, more than the limit of %d", what, n,
				   OCI_INDEX_MANIFESTS_MAX);
	descs = calloc(n ? n : 1, sizeof(*descs));
	if (!descs)
		return store_error(-ENOMEM, "out of memory");
	json_array_foreach(manifests, i, e) {
		snprintf(sub, sizeof(sub), "%s, manifest %zu", what, i + 1);
		rc = oci_descriptor_parse(e, sub, &descs[i]);
		if (rc)
			goto out;
	}
	if (oci_digest_is_zero(&im->index))
		im->index = d->digest;
	pick = choose(im, manifests, what);
	if (pick < 0) {
		rc = -ENOENT;
		goto out;
	}
	snprintf(sub, sizeof(sub), "manifest %s (from %s)", oci_digest_fmt(hex, &descs[pick].digest),
		 what);
	rc = import_doc(im, &descs[pick], depth + 1, sub, m);
	/* keep the other platforms' manifests as blobs, if the source has them */
	for (i = 0; i < n && rc == 0; i++) {
		json_t *other;
		uint64_t have;
		int fd;

		struct store_txn *t = txn(im, &rc);

		if (rc)
			break;
		if ((int)i == pick || !im->src->open_blob || descs[i].size > OCI_JSON_MAX ||
		    oci_blob_size(t, &descs[i].digest, &have) == 0)
			continue;
		if (im->src->open_blob(im->src->arg, &descs[i].digest, &fd) != 0)
			continue;
		close(fd);
		snprintf(sub, sizeof(sub), "manifest %s (from %s)",
			 oci_digest_fmt(hex, &descs[i].digest), what);
		rc = fetch_json(im, &descs[i], sub, &other);
		json_decref(other);
	}
out:
	free(descs);
	return rc;
}

static int import_doc(struct imp *im, const struct oci_descriptor *d, int depth,
		      const char *what, struct oci_digest *m)
{
	json_t *doc, *mt;
	const char *type = d->media_type;
	int rc = fetch_json(im, d, what, &doc);

	if (rc)
		return rc;
	mt = json_object_get(doc, "mediaType");
	if (!type[0] && json_is_string(mt))
		type = json_string_value(mt);
	if (oci_mt_is_index(type) || (!type[0] && json_object_get(doc, "manifests"))) {
		rc = import_index(im, d, doc, depth, what, m);
	} else if (!type[0] || oci_mt_is_manifest(type)) {
		rc = import_manifest(im, d, doc, what);
		if (rc == 0)
			*m = d->digest;
	} else {
		rc = store_error(-ENOTSUP, "%s has media type '%s', which is not an image", what, type);
	}
	json_decref(doc);
	return rc;
}

int oci_import(struct store *s, const struct oci_source *src, const struct oci_descriptor *top,
	       const char *name, const char *tag, const struct oci_import_opts *opts,
	       struct oci_digest *m)
{
	struct imp im;
	char what[400], hex[OCI_DIGEST_STRLEN + 1];
	struct oci_digest man;
	int rc;

	if (tag) {
		rc = oci_name_check(name);
		if (rc == 0)
			rc = oci_tag_check(tag);
		if (rc)
			return rc;
	}
	memset(&im, 0, sizeof(im));
	im.src = src;
	im.opts = opts;
	im.name = name;
	im.tag = tag;
	if (opts && opts->platform) {
		rc = oci_platform_parse(&im.want, opts->platform);
		if (rc)
			return rc;
		im.want_given = 1;
	} else {
		oci_platform_host(&im.want);
	}
	snprintf(what, sizeof(what), "image %s in %s", oci_digest_fmt(hex, &top->digest),
		 src->location);
	snprintf(hex, sizeof(hex), "import from %.40s", src->location);
	rc = store_ingest_begin(&im.in, s, hex);
	if (rc)
		return rc;
	rc = import_doc(&im, top, 0, what, &man);
	if (rc == 0 && !im.layers)
		rc = store_error(-EBADMSG, "%s holds no image manifest", what);
	if (rc) {
		store_ingest_abort(im.in);
	} else {
		rc = store_ingest_finish(im.in, publish, &im);
		if (rc == 0 && m)
			*m = man;
	}
	free(im.layers);
	return rc;
}
