/*
 * oci.h - images moving in and out of the store: image references and
 * locations (parsed here and nowhere else), the import of an image from a
 * blob source (index -> manifest -> config -> layers, verified), and the
 * transports: OCI image layouts (layout.c) and docker archives
 * (archive.c).  The registry client will be the next transport.
 *
 * The store's side of images (blobs, tags, image records, layer indexes,
 * the rootfs union) is store/oci.h; this module uses only its public API
 * and store/ingest.h, so an import never holds the store's writer lock for
 * long.
 *
 * Threads: every function runs in the calling thread with its own
 * transactions; nothing here is shared.
 * Errors: 0 or a negative errno with a message (store_errmsg()) naming the
 * image, blob, layer or file.
 */
#ifndef GOVC_OCI_OCI_H
#define GOVC_OCI_OCI_H

#include "store/oci.h"

/* ---- references and locations (ref.c) ---------------------------------- */

/*
 * oci_ref_parse - split REF ("NAME[:TAG]", a name in this store) into NAME
 * (OCI_NAME_MAX + 1 bytes) and TAG (OCI_TAG_MAX + 1 bytes); TAG is
 * DEFAULT_TAG when REF has none (DEFAULT_TAG NULL: TAG becomes "").  Both
 * are checked (oci_name_check, oci_tag_check).
 */
int oci_ref_parse(const char *ref, const char *default_tag, char *name,
		  char *tag);

/*
 * oci_ref_familiar - REF ("[HOST/]PATH[:TAG]") as docker shows it, so that
 * the spellings of one image compare equal: "docker.io/" and "library/"
 * dropped, ":latest" added when no tag is given.  OUT has LEN bytes.
 */
void oci_ref_familiar(char *out, size_t len, const char *ref);

enum oci_transport {
	OCI_T_OCI = 1,		/* oci:DIR[:REF] */
	OCI_T_ARCHIVE,		/* docker-archive:FILE[:REF] */
};

/* A location in skopeo's spelling. */
struct oci_location {
	enum oci_transport transport;
	char path[4096];	/* the directory or file */
	char ref[512];		/* what follows it after ':', or "" */
};

/*
 * oci_location_parse - "oci:DIR[:REF]" or "docker-archive:FILE[:REF]"
 * (a FILE that exists is taken whole even if it holds ':').  -EINVAL with
 * a message saying which spellings exist.
 */
int oci_location_parse(const char *arg, struct oci_location *out);

/*
 * oci_location_tag - the tag a location's REF carries ("name:tag" -> tag,
 * "tag" -> tag), if it is a valid tag; NULL otherwise.  Borrowed from LOC.
 */
const char *oci_location_tag(const struct oci_location *loc);

/* ---- import (import.c) ------------------------------------------------- */

/*
 * Where blobs come from during an import.  OPEN_BLOB opens the blob D for
 * reading and returns its file descriptor in *fd (closed by the caller),
 * or -ENOENT if the source does not have it (no message needed), or
 * another negative errno with a message.  LOCATION names the source in
 * messages ("oci:/tmp/x", "docker-archive:a.tar").
 */
struct oci_source {
	int (*open_blob)(void *arg, const struct oci_digest *d, int *fd);
	void *arg;
	const char *location;
	/*
	 * PUT_BLOB (may be NULL), when set, is used instead of OPEN_BLOB:
	 * bring blob D into the store through session IN itself (an
	 * oci_blob_writer, which verifies it and pins it for the session),
	 * as a registry's download does.  Same returns as OPEN_BLOB.  With
	 * no OPEN_BLOB, the other platforms' manifests of an index are not
	 * kept.
	 */
	int (*put_blob)(void *arg, struct store_ingest *in,
			const struct oci_descriptor *d, const char *what);
	/*
	 * PREFETCH (may be NULL): the import will next want the N layers D
	 * (bottom first), whose uncompressed digests are DIFF_IDS (NULL:
	 * the config lists none); both borrowed for the call.  The source
	 * may start bringing them in, and indexing them (oci_layer_index),
	 * meanwhile: in ingest sessions of its own whose pins hold until
	 * the source is done with (so gc keeps what they wrote until the
	 * import has published).  AWAIT (set with PREFETCH) is then called
	 * for each layer, in order, before the import looks for it: it
	 * returns once the source is done with layer D (0, or the error
	 * that stopped it, with its message); the import then finds the
	 * blob stored (and the layer indexed) and pins them in IN itself.
	 * Both are called from the import's thread with no transaction of
	 * IN open.
	 */
	int (*prefetch)(void *arg, struct store_ingest *in,
			const struct oci_descriptor *d,
			const struct oci_digest *diff_ids, unsigned n);
	int (*await)(void *arg, struct store_ingest *in,
		     const struct oci_descriptor *d);
};

/*
 * Platforms (platform.c).  oci_platform_parse - "OS/ARCH[/VARIANT]"; -EINVAL
 * with a message.  oci_platform_host - this machine's (uname's machine
 * mapped to OCI's names; linux/amd64 if unknown).  oci_platform_from - the
 * "os", "architecture" and "variant" of OBJ (an index entry's "platform",
 * or an image config; NULL gives nothing): 1 if it has os and
 * architecture.  oci_platform_match - HAVE is WANT (a variant matters only
 * when both have one).  oci_platform_fmt - "os/arch[/variant]".
 */
#define OCI_PLATFORM_PART_MAX 32
struct oci_platform {
	char os[OCI_PLATFORM_PART_MAX], arch[OCI_PLATFORM_PART_MAX],
		variant[OCI_PLATFORM_PART_MAX];
};
int oci_platform_parse(struct oci_platform *p, const char *s);
void oci_platform_host(struct oci_platform *p);
int oci_platform_from(json_t *obj, struct oci_platform *p);
int oci_platform_match(const struct oci_platform *want, const struct oci_platform *have);
void oci_platform_fmt(const struct oci_platform *p, char *out, size_t len);

struct oci_import_opts {
	const char *platform;	/* "os/arch[/variant]"; NULL: the host's */
	/* progress (may be NULL): one call per blob as it starts, one when
	 * it is in (SECONDS it took, so a caller can show the rate) */
	void (*progress)(void *arg, const char *what,
			 const struct oci_descriptor *desc);
	void (*progress_done)(void *arg, const char *what,
			      const struct oci_descriptor *desc, double seconds);
	void *progress_arg;
};

/*
 * oci_import - bring the image TOP (a manifest or an image index) from SRC
 * into store S and tag it NAME:TAG (TAG NULL: no tag).  Every blob is
 * verified against its digest and size; JSON documents are capped at
 * OCI_JSON_MAX; every layer is indexed (oci_layer_index).  From an index
 * the manifest for OPTS->platform is imported (the host's, else
 * linux/amd64); the index and the other platforms' manifests, when SRC has
 * them, are kept as blobs.  M receives the manifest's digest.
 *
 * Runs as an ingest session (ingest.h): short write transactions, so a
 * mounted store stays responsive; the image record and the tag appear
 * together at the end, or not at all.  What a failed or killed import
 * wrote is unreachable and goes at the next gc.
 * Errors: -EBADMSG (digest or size mismatch, malformed JSON or tar),
 * -ENOENT (a blob missing from SRC), -EFBIG (over a limit), -ENOTSUP (an
 * unknown media type), -EPERM (a layer entry escaping the root).
 */
int oci_import(struct store *s, const struct oci_source *src,
	       const struct oci_descriptor *top, const char *name,
	       const char *tag, const struct oci_import_opts *opts,
	       struct oci_digest *m);

/* ---- layouts and archives (layout.c, archive.c) ------------------------ */

/*
 * oci_layout_import - import the image tagged SRC_TAG (NULL: the only
 * one) of the OCI image layout in DIR as NAME:TAG.  oci_archive_import
 * does the same for a `docker save` tarball FILE; SRC_REF (NULL: the only
 * image) names one of its RepoTags, as docker or skopeo spell it (with or
 * without "docker.io/", "library/", ":latest"), or is "@N" for its Nth
 * image (0 first; skopeo's source index).  Each runs one write transaction
 * of its own: all or nothing.  M (may be NULL) receives the manifest.
 */
int oci_layout_import(struct store *s, const char *dir, const char *src_tag,
		      const char *name, const char *tag,
		      const struct oci_import_opts *opts,
		      struct oci_digest *m);
int oci_archive_import(struct store *s, const char *file,
			  const char *src_ref, const char *name,
			  const char *tag, const struct oci_import_opts *opts,
			  struct oci_digest *m);

/*
 * oci_layout_export - write image NAME:TAG into the OCI image layout DIR
 * (created if absent; an existing layout is added to) under the reference
 * DEST_TAG: blobs/sha256/<hex> byte-exact, index.json with a descriptor
 * annotated org.opencontainers.image.ref.name=DEST_TAG (replacing one of
 * the same name), oci-layout.
 */
int oci_layout_export(struct store *s, const char *name, const char *tag,
		      const char *dir, const char *dest_tag);

/*
 * oci_archive_export - write NAME:TAG as a `docker load` tarball FILE:
 * manifest.json, the config, and each layer uncompressed (docker's
 * format; its digest is the config's diff_id).
 */
int oci_archive_export(struct store *s, const char *name, const char *tag,
			  const char *file);

#endif
