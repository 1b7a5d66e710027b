/*
 * registry.h - the OCI distribution client: images pulled from and pushed
 * to a registry (Docker Hub, GHCR, Harbor, zot, a private distribution
 * registry) over libcurl, and the credentials `govc login` keeps.
 *
 * A pull is an import (oci/oci.h, oci_import) whose source fetches each
 * blob from the registry straight into the store through an
 * oci_blob_writer: nothing is spooled, every blob is verified against its
 * digest before anything refers to it, blobs the store holds are never
 * requested, and the image and its tag appear together at the end (an
 * ingest session, store/ingest.h), so a pull never blocks a mount's
 * writers for more than a few milliseconds.
 *
 * Transport rules (as skopeo and podman): TLS is verified unless
 * tls_verify is 0; CERT_DIR adds the CAs (*.crt) and a client certificate
 * (client.cert, client.key) of that directory.  Plain HTTP is used only
 * when tls_verify is 0, or for a registry on the loopback host (localhost,
 * 127.0.0.0/8, ::1) whose port does not speak TLS.  Auth: anonymous,
 * Basic, and Bearer tokens (WWW-Authenticate realm, service, scope), with
 * a token cache per scope and one refresh on a 401.  Credentials: the
 * options, else the auth files (oci_auth_lookup).  Secrets never appear
 * in messages.
 *
 * Untrusted input: every response body is read into a size-capped buffer
 * (manifests OCI_JSON_MAX, tokens REG_TOKEN_MAX, error bodies
 * REG_ERRBODY_MAX) or streamed into a blob writer that checks size and
 * digest; headers are cut at their buffer's size.
 *
 * Parallel transfers: a pull fetches up to `jobs` layers at once, each in
 * a download thread of its own (transfer.c) which then indexes it, while
 * the import waits for the layers in order and publishes the image; a
 * push uploads up to `jobs` blobs at once (push.c).
 *
 * Known locations: a pull records, for each blob of the image, that the
 * registry's repository has it, and a push what it uploaded or found
 * (oci_blob_location_add); a push then asks for a cross-repository mount
 * of a blob the target lacks from a repository of the same registry known
 * to hold it, before uploading it.
 *
 * Threads: a struct oci_registry belongs to one thread (its curl handle
 * and token cache are not shared); a transfer thread works on a clone
 * (oci_registry_clone).  Errors: 0 or a negative errno with a message
 * (store_errmsg()) naming the registry, the image and the blob.
 */
#ifndef GOVC_OCI_REGISTRY_H
#define GOVC_OCI_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "oci/oci.h"

#define REG_HOST_MAX 255		/* "registry.example.com:5000" */
#define REG_TOKEN_MAX (64u << 10)	/* a token server's answer */
#define REG_ERRBODY_MAX 4096		/* an error body kept for a message */
#define REG_CHUNK_MIN (64ull << 20)	/* blobs this large upload in PATCHes */
#define REG_CHUNK (32u << 20)		/* one PATCH */
#define REG_CHUNK_ENV "GOVC_REGISTRY_CHUNK"	/* both of them, for tests */
#define REG_RETRIES 4			/* tries after a 5xx, a 429, a drop */
#define REG_RETRY_AFTER_MAX 30		/* seconds of Retry-After honoured */
#define REG_JOBS_DEFAULT 6		/* blobs a pull or push moves at once (skopeo: 6) */
#define REG_JOBS_MAX 16
#define REG_JOBS_ENV "GOVC_PULL_JOBS"	/* override the default: pulls, */
#define REG_PUSH_JOBS_ENV "GOVC_PUSH_JOBS"	/* pushes */
#define REG_DOCKER_HUB "docker.io"
#define REG_DOCKER_HUB_API "registry-1.docker.io"

/* ---- references (ref.c) ------------------------------------------------ */

/* An image in a registry. */
struct oci_remote_ref {
	char host[REG_HOST_MAX + 1];	/* "docker.io", "127.0.0.1:5000" */
	char repo[OCI_NAME_MAX + 1];	/* "library/busybox" */
	char tag[OCI_TAG_MAX + 1];	/* "" when only a digest is given */
	struct oci_digest digest;	/* zero when none is given */
};

/*
 * oci_remote_ref_parse - "docker://REF" (or REF alone) where REF is
 * "[HOST/]PATH[:TAG][@DIGEST]".  The first component is a host when it
 * holds '.' or ':' or is "localhost"; otherwise the host is docker.io,
 * and a one-component PATH gets "library/" (docker's and podman's short
 * names).  With neither TAG nor DIGEST the tag is "latest".  -EINVAL with
 * a message on anything malformed.
 */
int oci_remote_ref_parse(const char *arg, struct oci_remote_ref *out);

/*
 * oci_remote_ref_name - where a pull stores REF by default: its familiar
 * name (oci_ref_familiar: no "docker.io/", no "library/") into NAME
 * (OCI_NAME_MAX + 1 bytes), and its tag, or for a digest alone
 * "sha256-<hex>", into TAG (OCI_TAG_MAX + 1 bytes).
 */
void oci_remote_ref_name(const struct oci_remote_ref *ref, char *name,
			 char *tag);

/* ---- the client (registry.c) --------------------------------------------- */

struct oci_registry_opts {
	int tls_verify;		/* 1: verify; 0: don't (and allow HTTP);
				 * -1: verify, loopback may be plain HTTP */
	const char *cert_dir;	/* NULL: none */
	const char *username;	/* NULL: from the auth files */
	const char *password;
	const char *authfile;	/* NULL: the usual places (oci_auth_lookup) */
	int quiet;		/* no progress lines */
	unsigned jobs;		/* blobs moved at once (1 to REG_JOBS_MAX); 0:
				 * $GOVC_PULL_JOBS or $GOVC_PUSH_JOBS, else
				 * REG_JOBS_DEFAULT */
	const struct oci_progress *progress;	/* NULL: none */
};

/*
 * The progress of a pull or a push: one row per blob it moves, numbered
 * from 0 in the order rows appear.  A pull's rows are the blobs it
 * downloads (layers, the config, manifests an index names): the layers'
 * rows appear together, waiting, once the manifest is known; a row then
 * moves (GOT bytes of SIZE, SECONDS since it started), a layer is then
 * indexed, and a row ends done (SECONDS: its download) or failed.  Blobs
 * the store holds get no row.  A push's rows are what it sends: a blob
 * (layer, config) the registry lacks gets a row once the registry said
 * so, which moves and ends done (NOTE "mounted from REPO" when the
 * registry took it from another repository without a byte sent) or
 * failed; each manifest and the index it puts get a row, done when put.
 * ROW is called from the transfer's threads, never two calls at once;
 * it must not call into the transfer.  R is borrowed for the call.
 */
enum oci_row_state {
	OCI_ROW_WAITING,
	OCI_ROW_MOVING,
	OCI_ROW_INDEXING,	/* pulls: a layer downloaded (SECONDS it took) */
	OCI_ROW_DONE,		/* in (a layer indexed), or sent */
	OCI_ROW_FAILED,
};

struct oci_progress_row {
	unsigned row;
	const char *label;	/* "layer 2/5 sha256:0123456789ab" */
	uint64_t size, got;
	enum oci_row_state state;
	double seconds;
	const char *note;	/* DONE: how, if not by moving bytes; or NULL */
};

struct oci_progress {
	void (*row)(void *arg, const struct oci_progress_row *r);
	void *arg;
};

struct oci_registry;

/*
 * oci_registry_open - a client for HOST (REG_DOCKER_HUB is reached at
 * REG_DOCKER_HUB_API) and ping it (GET /v2/), learning its scheme and its
 * auth challenge.  *out is freed with oci_registry_free.  Errors: -EHOSTUNREACH
 * (cannot connect), -EACCES (credentials refused), -EPROTO (not a
 * registry), -EIO.
 */
int oci_registry_open(struct oci_registry **out, const char *host,
		      const struct oci_registry_opts *opts);
void oci_registry_free(struct oci_registry *r);

/*
 * oci_registry_clone - a second client for R's registry, for another
 * thread: the same scheme, TLS settings, credentials, challenge and cached
 * tokens, its own curl handle (and connection); no request is made.  R is
 * only read (not while its thread uses it).  *out is freed with
 * oci_registry_free.
 */
int oci_registry_clone(struct oci_registry **out, const struct oci_registry *r);

/*
 * oci_registry_watch - while a blob moves (down or up): MOVED(ARG, bytes
 * so far; may be NULL) after each piece that arrives or before each piece
 * sent, and once *CANCEL (may be NULL; read atomically, set by another
 * thread) is non-zero the transfer stops with -ECANCELED.  Stays set until
 * changed.
 */
void oci_registry_watch(struct oci_registry *r, const int *cancel,
			void (*moved)(void *arg, uint64_t got), void *arg);

/*
 * oci_registry_check_login - 0 if the registry accepts the client's
 * credentials at /v2/ (and, for a token realm, issues a token); -EACCES
 * with a message otherwise.
 */
int oci_registry_check_login(struct oci_registry *r);

/*
 * oci_registry_manifest_get - the manifest or index REFERENCE (a tag or
 * "sha256:...") of REPO, asking for OCI and docker schema2 manifests and
 * indexes.  *body (malloc'd, NUL-terminated, the caller's) holds *len
 * bytes; DESC gets its digest (checked against REFERENCE when that is a
 * digest, and against Docker-Content-Digest when the registry sends it),
 * size and media type.  -ENOENT when the registry does not have it,
 * -EFBIG over OCI_JSON_MAX, -EBADMSG on a digest mismatch.
 */
int oci_registry_manifest_get(struct oci_registry *r, const char *repo,
			      const char *reference, char **body, size_t *len,
			      struct oci_descriptor *desc);

/*
 * oci_registry_blob_fetch - GET blob D of REPO (redirects followed) into
 * the store through session IN, verified by the blob writer; a dropped
 * transfer resumes with a Range request.  0 also when the store holds the
 * blob already (nothing is requested).  WHAT names it in messages.  IN's
 * transaction is committed after each chunk and is never left open while
 * the network is waited on, so other writers (the mount, other download
 * threads) wait a chunk's write at most.
 */
int oci_registry_blob_fetch(struct oci_registry *r, const char *repo,
			    const struct oci_descriptor *d,
			    struct store_ingest *in, const char *what);

/*
 * oci_registry_blob_exists - HEAD blob D of REPO: 0 if the registry has
 * it (*size, may be NULL, gets its size), -ENOENT (no message) if not.
 * oci_registry_manifest_exists - the same for manifest (or index) D.
 */
int oci_registry_blob_exists(struct oci_registry *r, const char *repo,
			     const struct oci_digest *d, uint64_t *size);
int oci_registry_manifest_exists(struct oci_registry *r, const char *repo,
				 const struct oci_digest *d);

/*
 * oci_registry_blob_push - put blob D (read from store S in short read
 * transactions, never one across the network) in REPO.  With FROM (may be
 * NULL: none), a repository of the same registry that should hold it,
 * first a cross-repository mount (POST ?mount=D&from=FROM, with a token
 * for both repositories): 201 is done, nothing sent, *MOUNTED set (the
 * Docker-Content-Digest checked if sent); 202 is an upload session the
 * registry opened instead, used for the upload; a refusal (a token that
 * grants FROM nothing) is followed by a plain upload.  The upload: a POST
 * for a session, then one PUT with the body and ?digest=, or, from
 * REG_CHUNK_MIN bytes, PATCHes of REG_CHUNK and a closing PUT.  WHAT
 * names the blob in messages.
 */
int oci_registry_blob_push(struct oci_registry *r, const char *repo,
			   struct store *s, const struct oci_descriptor *d,
			   const char *from, const char *what, int *mounted);

/*
 * oci_registry_manifest_put - PUT LEN bytes of BODY (of MEDIA_TYPE) as
 * REFERENCE (a tag or its digest) of REPO; checks the digest the registry
 * answers with.
 */
int oci_registry_manifest_put(struct oci_registry *r, const char *repo,
			      const char *reference, const char *media_type,
			      const void *body, size_t len);

/* ---- pull and push (transfer.c) -------------------------------------------- */

/*
 * oci_pull - import REF from its registry into S as NAME:TAG (an ingest
 * session, oci_import): the manifest or index by tag or digest, this
 * platform's manifest (IOPTS->platform), its config and layers, each blob
 * straight into the store.  M (may be NULL) receives the manifest digest.
 *
 * Layers are downloaded ROPTS->jobs at a time, each by a download thread
 * that then indexes it (oci_layer_index), in an ingest session of its
 * own whose pins keep what it wrote from gc until the import has
 * published (or failed) and the threads are joined.  The import, in the
 * caller's thread, waits for each layer in turn (bottom first), finds it
 * stored and indexed, and pins it in its own session before it refers to
 * it.  A layer no thread has started when the import needs it is
 * downloaded and indexed by the caller's thread.  ROPTS->progress is told
 * of every download.  Once the image is in, its blobs (the index or
 * manifest named, the manifest, its config and layers) are recorded as
 * known to be in REF's repository (oci_blob_location_add), in one short
 * write transaction; a failure to record is not the pull's.
 */
int oci_pull(struct store *s, const struct oci_remote_ref *ref,
	     const char *name, const char *tag,
	     const struct oci_registry_opts *ropts,
	     const struct oci_import_opts *iopts, struct oci_digest *m);

/* A platform of an index that a push left out. */
struct oci_push_missing {
	char platform[96];		/* "linux/arm64/v8", or "" if not given */
	struct oci_digest manifest;
};

/* What a push did. */
struct oci_push_result {
	struct oci_digest digest;	/* what REF's tag (or digest) now names */
	struct oci_digest index;	/* the index of the image's tag, or zero */
	int index_pushed;		/* DIGEST is INDEX */
	/* when the index stayed behind: the platforms neither the store
	 * holds whole nor the registry has (owned: oci_push_result_release),
	 * and where the index was last seen ("HOST/REPO", or "") */
	struct oci_push_missing *missing;
	unsigned nmissing;
	char index_seen[REG_HOST_MAX + OCI_NAME_MAX + 2];
};

/*
 * oci_pull_all - oci_pull of every platform of REF when it is an image
 * index (each entry with a platform; buildx's attestations, whose platform
 * is "unknown/unknown", are left out): each platform's image goes in
 * untagged, pinned by a session of the call's until NAME:TAG points at the
 * chosen one (IOPTS->platform, else the host's) and the index, which
 * reaches them all (gc keeps them; a push sends them all).  Every pull
 * takes the index by the digest the first request found.  REF naming a
 * single image: oci_pull.
 */
int oci_pull_all(struct store *s, const struct oci_remote_ref *ref,
		 const char *name, const char *tag,
		 const struct oci_registry_opts *ropts,
		 const struct oci_import_opts *iopts, struct oci_digest *m);

/*
 * oci_push - upload image NAME:TAG of S to REF.  What goes is read in one
 * short read transaction.  When the tag came with a multi-platform
 * index, every platform the index lists that the store holds whole
 * (manifest, config, every layer) is pushed, its blobs and then its
 * manifest by digest, and the registry is asked (HEAD) for the others; if
 * it then has them all, the index is put under REF's tag, byte for byte.
 * Otherwise the tag's own manifest is put under the tag, and OUT->missing
 * names the platforms left out: an index never names a manifest the
 * registry lacks.  Without an index, the manifest is put under the tag.
 * REF without a tag: the document is put by its digest.
 *
 * Blobs: each config and layer the registry lacks (HEAD) is mounted from
 * another repository of the registry where the store last saw it
 * (oci_blob_location_foreach), else uploaded; up to ROPTS->jobs at once,
 * each thread with a clone of the client, reading the store in short
 * read transactions.  ROPTS->progress is told of every blob sent.  What
 * the registry has (found or sent) is recorded as known locations, in
 * one short write transaction at the end, when S is writable.
 * OUT (may be NULL) is filled on success; release it with
 * oci_push_result_release.
 */
int oci_push(struct store *s, const char *name, const char *tag,
	     const struct oci_remote_ref *ref,
	     const struct oci_registry_opts *ropts, struct oci_push_result *out);
void oci_push_result_release(struct oci_push_result *res);

/* ---- credentials (auth.c) ------------------------------------------------ */

/*
 * The auth files, in the order they are read: AUTHFILE if given, else
 * $REGISTRY_AUTH_FILE; ${XDG_RUNTIME_DIR}/containers/auth.json;
 * $DOCKER_CONFIG/config.json or ~/.docker/config.json.  Each holds
 * {"auths": {"HOST": {"auth": base64("user:password")}}}; keys may also
 * be "https://HOST[/...]" (and docker.io's "https://index.docker.io/v1/").
 * `govc login` writes the first of them (created mode 0600, other keys
 * kept), through a temporary file and a rename.
 */

/*
 * oci_auth_lookup - the credentials for HOST: *user and *password,
 * malloc'd and the caller's, or both NULL when no file has HOST.
 */
int oci_auth_lookup(const char *host, const char *authfile, char **user,
		    char **password);

/*
 * oci_auth_store - record USER and PASSWORD for HOST; PATH (PATH_MAX
 * bytes, may be NULL) receives the file written.  oci_auth_remove -
 * forget HOST in every file that has it; -ENOENT if none did.
 */
int oci_auth_store(const char *host, const char *authfile, const char *user,
		   const char *password, char *path);
int oci_auth_remove(const char *host, const char *authfile);

#endif
