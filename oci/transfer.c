/*
 * transfer.c - `govc pull` and `govc push`: the registry client
 * (registry.c) put to work on the store.
 *
 * A pull is oci_import() with a source whose put_blob downloads each
 * blob straight into the store (oci_registry_blob_fetch -> blob writer):
 * the import decides what it needs, skips what the store holds, verifies
 * and indexes, and publishes image and tag together at the end.  The
 * manifest or index named by tag is fetched first (its digest is then
 * known) and handed to the import from memory.
 *
 * A push reads the image's facts in one short read transaction, then
 * uploads, reading blobs piece by piece in read transactions of their own:
 * nothing of the store is held while the network is waited on.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/registry.h"
#include "store/ingest.h"

struct reg_source {
	struct oci_registry *r;
	const char *repo;
	struct oci_descriptor top;
	char *top_body;		/* owned */
	size_t top_len;
	char location[REG_HOST_MAX + OCI_NAME_MAX + 16];
};

static int reg_put_blob(void *arg, struct store_ingest *in, const struct oci_descriptor *d,
			const char *what)
{
	struct reg_source *rs = arg;
	char hex[OCI_DIGEST_STRLEN + 1], *body;
	struct oci_descriptor got;
	size_t len;
	int rc;

	if (!memcmp(&d->digest, &rs->top.digest, sizeof(d->digest)))
		return oci_blob_put(in, rs->top_body, rs->top_len, &d->digest, what, NULL);
	if (oci_mt_is_index(d->media_type) || oci_mt_is_manifest(d->media_type)) {
		/* manifests come from /manifests/, capped and checked */
		rc = oci_registry_manifest_get(rs->r, rs->repo, oci_digest_fmt(hex, &d->digest),
					       &body, &len, &got);
		if (rc == 0)
			rc = oci_blob_put(in, body, len, &d->digest, what, NULL);
		free(body);
		return rc;
	}
	return oci_registry_blob_fetch(rs->r, rs->repo, d, in, what);
}

int oci_pull(struct store *s, const struct oci_remote_ref *ref, const char *name,
	     const char *tag, const struct oci_registry_opts *ropts,
	     const struct oci_import_opts *iopts, struct oci_digest *m)
{
	struct reg_source rs;
	struct oci_source src = { NULL, &rs, rs.location, reg_put_blob };
	char hex[OCI_DIGEST_STRLEN + 1];
	int rc;

	memset(&rs, 0, sizeof(rs));
	rs.repo = ref->repo;
	snprintf(rs.location, sizeof(rs.location), "docker://%s/%s", ref->host, ref->repo);
	rc = oci_registry_open(&rs.r, ref->host, ropts);
	if (rc)
		return rc;
	rc = oci_registry_manifest_get(rs.r, ref->repo,
				       oci_digest_is_zero(&ref->digest) ?
					       ref->tag : oci_digest_fmt(hex, &ref->digest),
				       &rs.top_body, &rs.top_len, &rs.top);
	if (rc == -ENOENT) {
		char why[300];

		snprintf(why, sizeof(why), "%s", store_errmsg());
		rc = store_error(-ENOENT, "%s%s%s: no such image (%s)", rs.location,
				 oci_digest_is_zero(&ref->digest) ? ":" : "@",
				 oci_digest_is_zero(&ref->digest) ? ref->tag : hex, why);
	}
	if (rc == 0)
		rc = oci_import(s, &src, &rs.top, name, tag, iopts, m);
	free(rs.top_body);
	oci_registry_free(rs.r);
	return rc;
}

/* ---- push ------------------------------------------------------------------ */

/* What a push sends: read in one short read transaction. */
struct push_plan {
	struct oci_image_info info;
	struct oci_digest manifest;
	struct oci_descriptor *blobs;	/* layers bottom first, then the config; owned */
	unsigned nblobs;
	char *body;			/* the manifest, owned */
	size_t len;
};

static int plan_read(struct store *s, const char *name, const char *tag, struct push_plan *p)
{
	struct store_txn *t;
	int rc = store_txn_begin(&t, s, 0);

	memset(p, 0, sizeof(*p));
	if (rc)
		return rc;
	rc = oci_tag_get(t, name, tag, &p->manifest, NULL);
	if (rc == 0)
		rc = oci_image_info(t, &p->manifest, &p->info);
	if (rc)
		goto out;
	p->blobs = calloc(p->info.nlayers + 1, sizeof(*p->blobs));
	if (!p->blobs) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < p->info.nlayers && rc == 0; i++)
		rc = oci_image_layer(t, &p->manifest, i, &p->blobs[i].digest, &p->blobs[i].size);
	p->blobs[p->info.nlayers].digest = p->info.config;
	p->blobs[p->info.nlayers].size = p->info.config_size;
	p->nblobs = p->info.nlayers + 1;
	if (rc == 0)
		rc = oci_blob_load(t, &p->manifest, OCI_JSON_MAX, "the image's manifest", &p->body,
				   &p->len);
out:
	store_txn_abort(t);
	return rc;
}

int oci_push(struct store *s, const char *name, const char *tag,
	     const struct oci_remote_ref *ref, const struct oci_registry_opts *ropts,
	     void (*progress)(void *arg, const char *what, const struct oci_descriptor *d),
	     void *progress_arg, struct oci_digest *m)
{
	struct oci_registry *r = NULL;
	struct push_plan p;
	char what[600], hex[OCI_DIGEST_STRLEN + 1];
	int rc = plan_read(s, name, tag, &p);

	if (rc == 0)
		rc = oci_registry_open(&r, ref->host, ropts);
	for (unsigned i = 0; i < p.nblobs && rc == 0; i++) {
		const struct oci_descriptor *b = &p.blobs[i];

		if (i + 1 < p.nblobs)
			snprintf(what, sizeof(what), "layer %u (%s) of %s:%s", i + 1,
				 oci_digest_fmt(hex, &b->digest), name, tag);
		else
			snprintf(what, sizeof(what), "config %s of %s:%s",
				 oci_digest_fmt(hex, &b->digest), name, tag);
		rc = oci_registry_blob_exists(r, ref->repo, &b->digest, NULL);
		if (rc == 0)
			continue;	/* the registry has it */
		if (rc != -ENOENT)
			break;
		store_error_clear();
		if (progress)
			progress(progress_arg, what, b);
		rc = oci_registry_blob_push(r, ref->repo, s, b, what);
	}
	if (rc == 0)
		rc = oci_registry_manifest_put(r, ref->repo,
					       ref->tag[0] ? ref->tag : oci_digest_fmt(hex, &p.manifest),
					       p.info.media_type, p.body, p.len);
	if (rc == 0 && m)
		*m = p.manifest;
	oci_registry_free(r);
	free(p.blobs);
	free(p.body);
	return rc;
}
