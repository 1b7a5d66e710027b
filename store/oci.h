/*
 * oci.h - OCI images in the store: blobs by digest, manifests, image
 * indexes, tags, the per-layer file index, and the lazy union of an
 * image's layers (its rootfs), answered without unpacking any layer.
 *
 * The model (on-disk format in docs/oci.md):
 *   - a blob is any byte string named by its sha256 digest (layers exactly
 *     as they came, compressed; manifests; configs; image indexes).  Blobs
 *     are verified on the way in and kept byte-exact, so an export or a
 *     push gives the same digests;
 *   - a layer blob, when it enters the store, is read once with
 *     libarchive and indexed: every entry's path, type, mode, owner, size,
 *     mtime, device number, xattrs, link target and, for a regular file,
 *     its content as a git blob in the one content table (object.h), so a
 *     file identical across layers, images and repositories is stored once;
 *   - an image is a manifest (the record the union works from lists its
 *     layers); a tag (NAME:TAG) points at a manifest and, when the image
 *     came as a multi-platform index, at that index too;
 *   - nothing is deleted when a tag goes: store_gc() (gc.h) removes what no
 *     tag, pin, repository or working tree reaches.
 *
 * Names: an image name is 1..255 bytes of [A-Za-z0-9._-] in components
 * separated by '/' and may hold ':' (a registry port), e.g.
 * "localhost:5000/team/app".  In "NAME:TAG" the tag is what follows the
 * last ':' after the last '/'.  Tags are [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
 *
 * Node ids: every entry of a layer has a node number (hard links in one
 * layer share it); its id is (layer id << 32 | node number), below 2^60,
 * so callers may use the top four bits to tell OCI nodes from others.  A
 * file's id names the same file in every image holding that layer.  A
 * merged directory's id is the id of the directory entry its attributes
 * come from, so it is unique and stable within one image, but the same id
 * in another image may show other children: qualify directory ids by image.
 *
 * Threads: a struct oci_image is immutable once open and may be shared by
 * any number of threads.  Every other function takes the caller's
 * transaction (store.h rules: one per thread); read functions need only a
 * read transaction, writes a write transaction.  Pointers returned (a
 * node's symlink target, file data) are borrowed until the transaction
 * ends; everything else in a struct oci_node is a plain value that may be
 * kept and passed back in a later transaction (e.g. a directory node
 * cached by the FUSE daemon).
 *
 * Errors: 0 or a negative errno, with a message naming the image, blob,
 * layer or entry (store_errmsg()).  -ENOENT from lookups sets no message.
 */
#ifndef GOVC_OCI_H
#define GOVC_OCI_H

#include <stddef.h>
#include <stdint.h>
#include <git2/oid.h>
#include <jansson.h>
#include "store/store.h"
#include "util/limits.h"

/* Limits on untrusted input: util/limits.h */
#define OCI_BLOB_CHUNK (1u << 20)	/* blobs are stored in chunks of this */

#define OCI_DIGEST_STRLEN 71		/* "sha256:" + 64 hex digits */
#define OCI_NODE_ID_BITS 60

/* Media types the store knows */
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* The content of an image layout's oci-layout file. */
#define OCI_LAYOUT_FILE "{\"imageLayoutVersion\":\"1.0.0\"}"
#define OCI_REF_ANNOTATION "org.opencontainers.image.ref.name"

struct oci_digest {
	unsigned char sha256[32];
};

/* A content descriptor: what a manifest says about a blob. */
struct oci_descriptor {
	struct oci_digest digest;
	uint64_t size;
	char media_type[OCI_MEDIA_TYPE_MAX + 1];
};

/* ---- digests and names ------------------------------------------------- */

/*
 * oci_digest_parse - parse "sha256:<64 lowercase hex>".  -EINVAL (with a
 * message quoting S) if malformed; -ENOTSUP for another algorithm.
 */
int oci_digest_parse(struct oci_digest *out, const char *s);

/* oci_digest_fmt - "sha256:<hex>" into BUF (OCI_DIGEST_STRLEN + 1); returns BUF. */
char *oci_digest_fmt(char *buf, const struct oci_digest *d);

/* oci_digest_hex - the 64 hex digits alone into BUF (65 bytes); returns BUF. */
char *oci_digest_hex(char *buf, const struct oci_digest *d);

/* oci_digest_is_zero - 1 for the all-zero digest (meaning "none"). */
int oci_digest_is_zero(const struct oci_digest *d);

/* oci_digest_of - the sha256 digest of LEN bytes at DATA. */
void oci_digest_of(struct oci_digest *out, const void *data, size_t len);

/* oci_name_check, oci_tag_check - 0, or -EINVAL with a message. */
int oci_name_check(const char *name);
int oci_tag_check(const char *tag);


/* ---- blobs ------------------------------------------------------------- */

/*
 * Blobs enter the store through an ingest session (ingest.h): written in
 * short transactions, verified, and pinned by the session until it
 * publishes what refers to them.
 *
 * oci_blob_writer_begin - start streaming a blob in.  EXPECT (may be NULL:
 * the digest is learnt at the end) is the digest it must have, SIZE the
 * size promised (UINT64_MAX: unknown); WHAT names it in messages ("layer 2
 * of busybox:1").  -EEXIST if the blob EXPECT is stored already (it is
 * pinned: nothing to write).  With EXPECT the chunks go to the store as
 * they come; without, to a temporary file ($TMPDIR, else /var/tmp) until
 * the digest is known.  Memory: one chunk (OCI_BLOB_CHUNK).
 * oci_blob_writer_write - the next N bytes; -EBADMSG past SIZE.
 * oci_blob_writer_finish - check size and digest (-EBADMSG naming WHAT,
 * the digest wanted and the digest got), record the blob as complete, and
 * free W; OUT (may be NULL) receives the digest.  On failure what was
 * written is left to gc.  oci_blob_writer_abort - give up and free W.
 * A writer belongs to its session's thread.
 */
struct store_ingest;
struct oci_blob_writer;
int oci_blob_writer_begin(struct oci_blob_writer **out, struct store_ingest *in,
			  const struct oci_digest *expect, uint64_t size,
			  const char *what);
int oci_blob_writer_write(struct oci_blob_writer *w, const void *p, size_t n);
int oci_blob_writer_finish(struct oci_blob_writer *w, struct oci_digest *out);
void oci_blob_writer_abort(struct oci_blob_writer *w);

/*
 * oci_blob_put - store LEN bytes at DATA as a blob (a no-op if present).
 * If EXPECT is not NULL the content must have that digest: else -EBADMSG,
 * nothing is stored, and the message names WHAT.  OUT (may be NULL)
 * receives the digest.
 */
int oci_blob_put(struct store_ingest *in, const void *data, size_t len,
		 const struct oci_digest *expect, const char *what,
		 struct oci_digest *out);

/*
 * oci_blob_put_fd - store the rest of file FD (read to its end) as the blob
 * EXPECT, verified as it streams in; SIZE is the size the descriptor
 * promised (UINT64_MAX: unknown).  If the blob is present already FD is
 * not read.
 */
int oci_blob_put_fd(struct store_ingest *in, int fd,
		    const struct oci_digest *expect, uint64_t size,
		    const char *what);

/* oci_blob_size - the size of blob D; -ENOENT (no message) if absent. */
int oci_blob_size(struct store_txn *t, const struct oci_digest *d,
		  uint64_t *size);

/*
 * oci_blob_read - copy up to LEN bytes of blob D at OFF into BUF.
 * Returns bytes copied (0 at the end) or a negative errno.
 */
long oci_blob_read(struct store_txn *t, const struct oci_digest *d,
		   uint64_t off, void *buf, size_t len);

/*
 * oci_blob_load - the whole of blob D, if it is at most MAX bytes, in a
 * malloc'd buffer (NUL-terminated, not counted in *len) owned by the
 * caller.  -EFBIG if larger, naming WHAT.
 */
int oci_blob_load(struct store_txn *t, const struct oci_digest *d,
		  size_t max, const char *what, char **out, size_t *len);

/* oci_blob_foreach - CB(digest, size) for every blob, in digest order. */
int oci_blob_foreach(struct store_txn *t,
		     int (*cb)(const struct oci_digest *d, uint64_t size,
			       void *arg),
		     void *arg);

/*
 * Known locations: the registry repositories a blob is known to exist in
 * (a pull downloaded it from there or found it listed there, a push
 * uploaded it or found it there), so that a push to another repository of
 * the same registry can ask for a cross-repository mount instead of
 * sending the bytes.  A hint, never a promise: the registry may have
 * deleted it since, and a mount it declines is an upload.  At most
 * OCI_LOCATIONS_MAX per blob (the oldest goes); gc drops them with their
 * blob.
 *
 * oci_blob_location_add - record that blob D is in REPO of registry HOST
 * (now; a known one is refreshed).  Write transaction.  -ENOENT (no
 * message) if the store does not hold D: nothing is recorded, so no
 * location outlives its blob; -ENAMETOOLONG if HOST and REPO pass the
 * key limit (OCI_LOCATION_KEY_MAX).
 * oci_blob_location_foreach - CB(HOST, REPO, TIME_NS) for each location of
 * D, in host then repo order; strings borrowed for the call.  A non-zero
 * return from CB stops the walk and is returned.
 */
#define OCI_LOCATIONS_MAX 16
#define OCI_LOCATION_KEY_MAX 511	/* LMDB's key limit: 'r' digest host \0 repo */
int oci_blob_location_add(struct store_txn *t, const struct oci_digest *d,
			  const char *host, const char *repo);
int oci_blob_location_foreach(struct store_txn *t, const struct oci_digest *d,
			      int (*cb)(const char *host, const char *repo,
					int64_t time_ns, void *arg),
			      void *arg);

/* ---- images and tags --------------------------------------------------- */

/* What the store knows about an imported image (a manifest). */
struct oci_image_info {
	struct oci_digest manifest;
	uint64_t manifest_size;
	char media_type[OCI_MEDIA_TYPE_MAX + 1];	/* of the manifest */
	struct oci_digest config;
	uint64_t config_size;
	int64_t created;	/* config's "created", unix seconds (0: none) */
	uint64_t size;		/* manifest + config + compressed layers */
	unsigned nlayers;
};

/* oci_image_info - describe imported manifest M; -ENOENT if unknown. */
int oci_image_info(struct store_txn *t, const struct oci_digest *m,
		   struct oci_image_info *out);

/*
 * oci_image_layer - the descriptor-level facts of layer I (0 = bottom) of
 * imported manifest M: its digest and compressed size.
 */
int oci_image_layer(struct store_txn *t, const struct oci_digest *m,
		    unsigned i, struct oci_digest *digest, uint64_t *size);

/* A tag as oci_tag_foreach reports it; strings borrowed for the call. */
struct oci_tag {
	const char *name;
	const char *tag;
	struct oci_digest manifest;	/* the image (this platform's) */
	struct oci_digest index;	/* the index it came in, or zero */
	int64_t time_ns;		/* when it was last set */
};

/*
 * oci_tag_get - the manifest (and index, may be NULL; zero if none) that
 * NAME:TAG points at.  -ENOENT with a message naming the image if absent.
 */
int oci_tag_get(struct store_txn *t, const char *name, const char *tag,
		struct oci_digest *manifest, struct oci_digest *index);

/*
 * oci_tag_set - point NAME:TAG at imported manifest M (and INDEX, may be
 * NULL).  -ENOENT if M was never imported.  Appends an "image" event.
 */
int oci_tag_set(struct store_txn *t, const char *name, const char *tag,
		const struct oci_digest *m, const struct oci_digest *index);

/*
 * oci_tag_delete - remove NAME:TAG (its blobs stay until store_gc).
 * -ENOENT with a message if there is no such tag.  Appends an event.
 */
int oci_tag_delete(struct store_txn *t, const char *name, const char *tag);

/*
 * oci_tag_foreach - CB for each tag of NAME (NULL: of every image), in
 * name then tag order.  A non-zero return from CB stops the walk and is
 * returned.
 */
int oci_tag_foreach(struct store_txn *t, const char *name,
		    int (*cb)(const struct oci_tag *tag, void *arg),
		    void *arg);

/*
 * Pins keep blobs alive without a tag (a build's cache, a pull in
 * progress): a pinned manifest or index keeps what it references, a pinned
 * layer keeps its index and files.  OWNER is a free-form name (<= 200
 * bytes).  oci_unpin with D NULL drops every pin of OWNER.
 */
int oci_pin(struct store_txn *t, const char *owner,
	    const struct oci_digest *d);
int oci_unpin(struct store_txn *t, const char *owner,
	      const struct oci_digest *d);
/* oci_unpin_prefix - drop every pin whose owner starts with PREFIX. */
int oci_unpin_prefix(struct store_txn *t, const char *prefix);
/* oci_pin_find - the (first) digest OWNER pins into *D; -ENOENT if none. */
int oci_pin_find(struct store_txn *t, const char *owner, struct oci_digest *d);

/*
 * oci_layer_index - index the stored layer blob LAYER (tar, tar+gzip or
 * tar+zstd, detected from its bytes), once: a no-op if it is indexed
 * already.  If DIFF_ID is not NULL the uncompressed stream must have that
 * digest.  File contents become git blobs (large ones chunked, in bounded
 * memory).  Entries escaping the layer (".." components, absolute paths,
 * relative symlinks climbing above the root, hard links to paths not
 * earlier in the layer) give -EPERM; a corrupt or truncated stream
 * -EBADMSG; both name the layer and the entry.  Written through session
 * IN, which pins the layer; the layer record appears last, when the index
 * is complete.
 */
int oci_layer_index(struct store_ingest *in, const struct oci_digest *layer,
		    const struct oci_digest *diff_id);

enum oci_compression { OCI_COMP_NONE, OCI_COMP_GZIP, OCI_COMP_ZSTD };

/* Facts about an indexed layer. */
struct oci_layer_info {
	uint64_t id;		/* the layer id in node ids */
	struct oci_digest diff_id;	/* sha256 of the uncompressed tar */
	uint64_t size;		/* compressed (the blob) */
	uint64_t usize;		/* uncompressed */
	uint64_t entries;
	int compression;	/* 0 none, 1 gzip, 2 zstd */
};

/* oci_layer_info - describe indexed layer LAYER; -ENOENT if not indexed. */
int oci_layer_info(struct store_txn *t, const struct oci_digest *layer,
		   struct oci_layer_info *out);

/* ---- the union: rootfs and per-layer trees ----------------------------- */

/*
 * An image opened for the union (its layer ids, bottom first), or one
 * layer's own tree.  Immutable; share it between threads; free it with
 * oci_image_free().  It stays usable across transactions: if the image is
 * removed by gc meanwhile, lookups answer -ENOENT.
 */
struct oci_image;

/* oci_image_open - open imported manifest M; -ENOENT (message) if unknown. */
int oci_image_open(struct oci_image **out, struct store_txn *t,
		   const struct oci_digest *m);

/*
 * oci_layer_open - open indexed layer LAYER on its own, as layers/<digest>/
 * shows it: whiteouts appear as character devices 0:0 and opaque
 * directories carry the xattr trusted.overlay.opaque=y (overlayfs' own
 * conventions, so a stack of layer trees can be handed to overlayfs).
 */
int oci_layer_open(struct oci_image **out, struct store_txn *t,
		   const struct oci_digest *layer);

void oci_image_free(struct oci_image *img);

enum oci_node_flags {
	OCI_NODE_XATTRS = 1 << 0,	/* has xattrs (oci_xattr_*) */
	OCI_NODE_OPAQUE = 1 << 1,	/* layer view: opaque directory */
};

/*
 * A file, directory, symlink, device or fifo of the union.  All fields but
 * TARGET are values.  nlink is the number of hard links to the file in its
 * layer (1 for directories: merged directories have no cheap count).
 */
struct oci_node {
	uint64_t id;
	uint32_t mode;		/* type and permission bits, as st_mode */
	uint32_t uid, gid;
	uint32_t nlink;
	uint32_t flags;		/* enum oci_node_flags */
	uint64_t size;		/* file size; symlink target length */
	uint64_t rdev;		/* devices */
	int64_t mtime_ns;
	git_oid blob;		/* regular file: its content (a git blob) */
	const char *target;	/* symlink: NUL-terminated, borrowed */
	/* how to go on from a directory; callers copy it, never read it */
	uint16_t top, bottom;
	unsigned char dirhash[16];
};

/* oci_root - the root directory of IMG. */
int oci_root(struct store_txn *t, const struct oci_image *img,
	     struct oci_node *out);

/*
 * oci_lookup - the entry NAME of directory DIR (a node from this image).
 * -ENOENT (no message) if absent or deleted by a whiteout; -ENOTDIR if
 * DIR is not a directory.  "." and ".." are the caller's business.
 */
int oci_lookup(struct store_txn *t, const struct oci_image *img,
	       const struct oci_node *dir, const char *name,
	       struct oci_node *out);

/*
 * oci_resolve - the node at PATH ("a/b/c", leading '/' allowed; "" or "/"
 * is the root), following no symlinks.
 */
int oci_resolve(struct store_txn *t, const struct oci_image *img,
		const char *path, struct oci_node *out);

/*
 * oci_node_get - the node with id ID in IMG (for a caller that kept only
 * the id).  Slower than oci_lookup: it rebuilds the path.  -ENOENT if ID
 * is not visible in IMG (a hard link whose first name is hidden by an
 * upper layer answers -ENOENT too: keep nodes from oci_lookup instead).
 */
int oci_node_get(struct store_txn *t, const struct oci_image *img,
		 uint64_t id, struct oci_node *out);

/*
 * oci_readdir - call CB for each entry of directory DIR in name order
 * (bytewise), starting after the name AFTER (NULL: from the first); "."
 * and ".." are not reported.  NAME and NODE are borrowed for the call.  A
 * non-zero return from CB stops the walk and is returned.  Never reads
 * file contents.
 */
int oci_readdir(struct store_txn *t, const struct oci_image *img,
		const struct oci_node *dir, const char *after,
		int (*cb)(const char *name, const struct oci_node *node,
			  void *arg),
		void *arg);

/*
 * oci_data - check that regular file NODE's content (the blob node->blob,
 * read with store_blob_pieces, zero-copy) is in the store as its index
 * says: -EIO naming it if missing or of another size.  oci_read copies
 * LEN bytes at OFF into BUF and returns the count (0 at the end) or a
 * negative errno.
 */
int oci_data(struct store_txn *t, const struct oci_node *node);
long oci_read(struct store_txn *t, const struct oci_node *node, uint64_t off,
	      void *buf, size_t len);

/*
 * Extended attributes of NODE.  Both return the size needed when LEN is 0,
 * the size copied otherwise, -ERANGE if LEN is too small, and get returns
 * -ENODATA when NAME is absent.  list writes NUL-terminated names.
 */
long oci_xattr_get(struct store_txn *t, const struct oci_image *img,
		   const struct oci_node *node, const char *name, void *buf,
		   size_t len);
long oci_xattr_list(struct store_txn *t, const struct oci_image *img,
		    const struct oci_node *node, char *buf, size_t len);

/* ---- documents (oci_json.c) and blob streams ---------------------------- */

/*
 * oci_json_load - blob D parsed as one JSON object (at most OCI_JSON_MAX
 * bytes, duplicate keys refused); *out is the caller's (json_decref).
 */
int oci_json_load(struct store_txn *t, const struct oci_digest *d,
		  const char *what, json_t **out);

struct oci_manifest {
	char media_type[OCI_MEDIA_TYPE_MAX + 1];
	struct oci_descriptor config;
	unsigned nlayers;
	struct oci_descriptor *layers;	/* owned */
};

/*
 * oci_json_parse - parse LEN bytes as one JSON object (duplicate keys
 * refused); -EBADMSG naming WHAT if it is not.
 */
int oci_json_parse(const char *data, size_t len, const char *what,
		   json_t **out);

/* oci_descriptor_parse - a descriptor object; -EBADMSG naming WHAT. */
int oci_descriptor_parse(json_t *obj, const char *what,
			 struct oci_descriptor *out);

/* oci_manifest_parse - an image manifest (OCI or docker schema2). */
int oci_manifest_parse(json_t *doc, const char *what,
		       struct oci_manifest *out);
void oci_manifest_release(struct oci_manifest *m);

/* oci_media_type_is_* - classify media types */
int oci_mt_is_index(const char *mt);
int oci_mt_is_manifest(const char *mt);
int oci_mt_is_layer(const char *mt);

/* oci_time_parse - RFC 3339 to unix seconds; 0 if unparsable. */
int64_t oci_time_parse(const char *s);

/*
 * A blob read in order, chunk by chunk, for libarchive.  Each chunk is
 * copied out of the map in a short read transaction of its own (or in the
 * thread's open write transaction), so no transaction is held across
 * decompression.
 */
struct archive;
struct oci_blob_stream {
	struct store *s;
	struct oci_digest d;
	uint64_t size, pos;
	char *buf;		/* one chunk, owned */
};

/* oci_blob_stream_init - prepare to read blob D; -ENOENT if absent. */
int oci_blob_stream_init(struct oci_blob_stream *bs, struct store *s,
			 const struct oci_digest *d);
void oci_blob_stream_release(struct oci_blob_stream *bs);

/*
 * oci_blob_stream_open - a libarchive reader giving BS decompressed (gzip,
 * zstd or none, detected) as its single "raw" entry, header already read:
 * archive_read_data() gives the uncompressed bytes.  -ENODATA for an
 * empty blob.  *out is freed by the caller with archive_read_free().
 */
int oci_blob_stream_open(struct archive **out, struct oci_blob_stream *bs,
			 const char *what);

/*
 * oci_image_record_put - record MANIFEST (of MEDIA_TYPE) as an imported
 * image: its CONFIG, CREATED (unix seconds, 0: unknown) and its NLAYERS
 * LAYERS, bottom first, every one of them indexed already (-ENOENT naming
 * it otherwise).  Replaces a record of the same manifest.  Write
 * transaction; what tags may then point at (oci_tag_set).
 */
int oci_image_record_put(struct store_txn *t,
			 const struct oci_descriptor *manifest,
			 const char *media_type,
			 const struct oci_descriptor *config, int64_t created,
			 unsigned nlayers, const struct oci_descriptor *layers);

/* ---- the store as an image layout (the mount's oci/) -------------------- */

/*
 * oci_layout_index_json - the whole store as an image layout's index.json:
 * one manifest descriptor per tag, annotated with ref.name "NAME:TAG".
 * *out is malloc'd, owned by the caller.
 */
int oci_layout_index_json(struct store_txn *t, char **out, size_t *len);

#endif
