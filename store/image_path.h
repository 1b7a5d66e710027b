/*
 * image_path.h - the image views of the mounted tree (docs/tree.md,
 * "Images") answered by the store in one call per request: what a name
 * in a directory of images/, layers/ or oci/blobs/sha256/ is, and what
 * such a directory lists.  The steps behind an answer (scanning tags for
 * a name prefix, picking an image's default tag, its manifest, its layer
 * list, opening the union and finding its root) stay inside the store, so
 * the FUSE daemon never walks them itself.
 *
 * A place in these views is a struct store_image_path: a kind and the
 * values that kind needs.  The daemon keeps those values in its nodes and
 * passes them back for the next request.
 *
 *   STORE_IMG_NAMES    images/ (NAME "") or images/<NAME>/: the next
 *                      components of the image names below NAME, and, if
 *                      NAME is an image itself, its files (default tag:
 *                      "latest", else the tag set last), which hide a
 *                      longer name's component of the same spelling
 *   STORE_IMG_TAGS     images/<NAME>/tags/
 *   STORE_IMG_TAG      images/<NAME>/tags/<TAG>/
 *   STORE_IMG_BLOB     manifest.json, config.json, oci/blobs/sha256/<hex>:
 *                      blob DIGEST of SIZE bytes
 *   STORE_IMG_LAYERS   <image>/layers/ of manifest DIGEST, DEPTH '..'
 *                      steps below the mount's root
 *   STORE_IMG_LINK     <image>/layers/<digest>: a symlink to TARGET
 *   STORE_IMG_NODE     a node of a rootfs/ or of layers/<digest>/: NODE of
 *                      opened IMAGE (TARGET: a symlink's target)
 *   STORE_IMG_LAYER_ROOT  layers/: every indexed layer
 *   STORE_IMG_BLOB_ROOT   oci/blobs/sha256/: every blob
 *
 * Threads: any.  A struct store_images is shared by every thread of the
 * daemon; its list of opened images is protected by its own mutex, a leaf
 * lock (nothing else is locked while it is held, and it is never held
 * across store I/O).  Every other argument is the caller's, and every
 * call reads in the caller's (read) transaction.
 */
#ifndef GOVC_IMAGE_PATH_H
#define GOVC_IMAGE_PATH_H

#include <stdint.h>
#include "store/oci.h"
#include "store/store.h"

enum store_image_kind {
	STORE_IMG_NAMES = 1,
	STORE_IMG_TAGS,
	STORE_IMG_TAG,
	STORE_IMG_BLOB,
	STORE_IMG_LAYERS,
	STORE_IMG_LINK,
	STORE_IMG_NODE,
	STORE_IMG_LAYER_ROOT,
	STORE_IMG_BLOB_ROOT,
};

/* <image>/layers/<digest> from the deepest place (images/<name>/tags/<t>/) */
#define STORE_IMG_LINK_MAX (3 * (OCI_NAME_MAX + 8) + OCI_DIGEST_STRLEN + 16)

#define STORE_IMG_PATHS 4
#define STORE_IMG_PATH_MAX (OCI_NAME_MAX + OCI_TAG_MAX + 32)

/*
 * An image (or a layer, LAYER 1) opened for its tree: opened once and
 * kept until store_images_free, immutable, shared by every thread.  SLOT
 * (1, 2, ...) tells opened images apart in the daemon's node keys.
 */
struct store_image {
	struct oci_digest digest;
	int layer;
	uint32_t slot;
	struct oci_image *img;
	struct store_image *next;	/* protected by the set's mutex */
	unsigned holds;		/* atomic: the daemon's nodes of it in use */
	int pinned;		/* store_images_sync_pins's own */
	/* where its tree shows ("/images/x/rootfs", "/layers/<digest>"),
	 * protected by the set's mutex */
	char paths[STORE_IMG_PATHS][STORE_IMG_PATH_MAX];
	unsigned npaths;
};

struct store_images;

/* What a place in the image views is; see the table above. */
struct store_image_path {
	enum store_image_kind kind;
	char name[OCI_NAME_MAX + 1];	/* NAMES, TAGS, TAG */
	char tag[OCI_TAG_MAX + 1];	/* TAG */
	struct oci_digest digest;	/* BLOB, LAYERS */
	uint64_t size;			/* BLOB */
	uint32_t depth;			/* LAYERS */
	char target[OCI_SYMLINK_MAX + 1];	/* LINK, NODE symlinks */
	struct store_image *image;	/* NODE */
	struct oci_node node;		/* NODE (node.target NULL) */
};

/*
 * store_images_new - an empty set of opened images.  @out: freed by the
 * caller with store_images_free(), which closes every image it opened
 * (no path naming one may be used after it).  -ENOMEM.
 */
int store_images_new(struct store_images **out);
void store_images_free(struct store_images *set);

/*
 * Images in use.  The daemon counts, per opened image, the nodes of its
 * tree the kernel holds (store_image_hold when a node is made,
 * store_image_unhold when it is forgotten; atomic, any thread, any lock
 * held).  The kernel holds nodes it merely caches too, so
 * store_images_sync_pins asks USED (may be NULL: every held image counts)
 * whether something uses a path where an image's tree shows
 * ("/images/x/rootfs", "/images/x/tags/1/rootfs", "/layers/<digest>",
 * relative to the mount's root; USED(PATH) is true if something uses PATH
 * or below) and pins, for the daemon's session IN, the digest of every
 * held image something uses, and unpins the others: a gc in any process
 * keeps what a live mount still serves (a container's root bind-mounted
 * from rootfs/, an overlay's lowerdir, a file open under it).  USED runs
 * under the set's mutex: it must be quick and lock nothing (match against
 * a list made beforehand).  Called by one thread at a time; the mutex is
 * never held across store I/O.  store_images_any_held - 1 if any opened
 * image has held nodes or a pin (so a scan for users is worth it).
 */
struct store_ingest;
void store_image_hold(struct store_image *im);
void store_image_unhold(struct store_image *im);
int store_images_sync_pins(struct store_images *set, struct store_ingest *in,
			   int (*used)(const char *path, void *arg), void *arg);
int store_images_any_held(struct store_images *set);

/*
 * store_image_lookup - the place NAME in directory DIR.  Opens what it
 * needs into SET.  Returns 0, -ENOENT (no message) if DIR holds no NAME,
 * -ENOTDIR if DIR is no directory, or another negative errno with a
 * message.  OUT may not be DIR.
 */
int store_image_lookup(struct store_images *set, struct store_txn *t,
		       const struct store_image_path *dir, const char *name,
		       struct store_image_path *out);

/*
 * store_image_list - call CB for each name in directory DIR, in the order
 * `ls -f` shows them; NODE is the place's tree node for the entries of a
 * rootfs or layer tree (NAME and NODE borrowed for the call), else NULL.
 * A non-zero return from CB stops the walk and is returned.  -ENOTDIR if
 * DIR is no directory.
 */
int store_image_list(struct store_images *set, struct store_txn *t,
		     const struct store_image_path *dir,
		     int (*cb)(const char *name, const struct oci_node *node,
			       void *arg),
		     void *arg);

/*
 * store_image_pieces - up to LEN bytes at OFF of regular file NODE of a
 * tree, as at most MAX borrowed pieces (store_blob_pieces: valid until T
 * ends; STORE_BLOB_PIECES(LEN) suffice); *COUNT receives how many.
 * Returns the bytes described, or -EIO naming the file if its content is
 * not in the store as its layer's index says.
 */
long store_image_pieces(struct store_txn *t, const struct oci_node *node,
			uint64_t off, size_t len, struct store_piece *out,
			size_t max, size_t *count);

#endif
