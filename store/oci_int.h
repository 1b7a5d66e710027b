/*
 * oci_int.h - internals of the OCI module (store/oci*.c, store/gc.c):
 * table keys and record layouts, described for users in docs/oci.md.
 *
 * Tables:
 *   oci_blobs   digest[32]                  -> struct oci_blob_rec
 *               digest[32] + be32 chunk     -> up to OCI_BLOB_CHUNK bytes
 *   oci_tags    name \0 tag                 -> struct oci_tag_rec
 *   oci_layers  digest[32]                  -> struct oci_layer_rec
 *   oci_files   be64 lid 'e' dirhash[16] name -> struct oci_entry_rec + target
 *               be64 lid 'n' be32 node       -> struct oci_node_rec + name
 *               be64 lid 'x' be32 node name  -> xattr value
 *   oci_meta    'i' digest[32]               -> struct oci_image_rec + layers
 *               'L' be64 lid                 -> layer digest[32]
 *               'p' owner \0 digest[32]      -> "" (a pin)
 *               'r' digest[32] host \0 repo  -> i64 time_ns (a known location)
 *
 * dirhash: the root directory's is 16 zero bytes; a directory's is the
 * first 16 bytes of sha256(parent's dirhash || name).  Keys stay short
 * however deep a path (LMDB caps keys at 511 bytes) and the children of a
 * directory are one prefix scan, in name order.
 *
 * Records are in host byte order and read with memcpy (LMDB values are not
 * aligned).
 */
#ifndef GOVC_OCI_INT_H
#define GOVC_OCI_INT_H

#include <jansson.h>
#include "store/oci.h"
#include "store/store_int.h"

#define OCI_HASH_LEN 16
#define OCI_K_ENTRY 'e'
#define OCI_K_NODE 'n'
#define OCI_K_XATTR 'x'
#define OCI_K_LOCATION 'r'	/* oci_meta: where a blob is known to be */
#define OCI_ROOT_NODE 1u
#define OCI_LID_MAX ((1ULL << (OCI_NODE_ID_BITS - 32)) - 1)
#define OCI_FILES_KEY_MAX (8 + 1 + OCI_HASH_LEN + OCI_ENTRY_NAME_MAX)

enum oci_entry_flags {
	OCI_EF_IMPLICIT = 1 << 0,	/* directory not in the tar: made up */
	OCI_EF_OPAQUE = 1 << 1,		/* directory had .wh..wh..opq */
	OCI_EF_XATTRS = 1 << 2,		/* node has xattr records */
	OCI_EF_HARDLINK = 1 << 3,	/* node shared: nlink in node record */
	OCI_EF_WHITEOUT = 1 << 4,	/* .wh.NAME: deletes NAME below */
};

struct oci_entry_rec {
	uint32_t node;
	uint32_t mode;
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_ns;
	uint64_t rdev;
	uint8_t flags;		/* enum oci_entry_flags */
	uint8_t pad[3];
	uint8_t blob[20];	/* regular file: git blob id */
	/* symlink: target follows, NUL-terminated */
};

struct oci_node_rec {
	uint32_t parent;	/* node of the parent directory (0: root) */
	uint32_t nlink;
	/* name follows (not NUL-terminated) */
};


struct oci_layer_rec {
	uint64_t lid;
	uint8_t diff_id[32];
	uint64_t size;		/* compressed */
	uint64_t usize;		/* uncompressed */
	uint64_t entries;
	uint32_t nodes;
	uint8_t compression;
	uint8_t pad[3];
};

struct oci_blob_rec {
	uint64_t size;
	uint32_t chunk;		/* chunk size used (OCI_BLOB_CHUNK) */
	uint32_t pad;
};

struct oci_tag_rec {
	uint8_t manifest[32];
	uint8_t index[32];
	int64_t time_ns;
};

struct oci_image_layer_rec {
	uint64_t lid;
	uint8_t digest[32];
	uint64_t size;
};

struct oci_image_rec {
	uint32_t version;	/* 1 */
	uint32_t nlayers;
	int64_t created;
	uint64_t size;
	uint64_t manifest_size;
	uint64_t config_size;
	uint8_t config[32];
	char media_type[OCI_MEDIA_TYPE_MAX + 1];
	/* nlayers x struct oci_image_layer_rec follow */
};

/* struct oci_image (opaque in oci.h) */
struct oci_image {
	struct oci_digest manifest;	/* zero for a layer view */
	int raw;			/* one layer's own tree */
	unsigned nlayers;
	uint64_t lids[];		/* bottom first */
};

/* ---- oci.c -------------------------------------------------------------- */

/* oci_dirhash - the dirhash of NAME (NLEN bytes) in directory PARENT. */
void oci_dirhash(unsigned char *out, const unsigned char *parent,
		 const char *name, size_t nlen);

/* key builders: return the key length */
size_t oci_entry_key(unsigned char *key, uint64_t lid,
		     const unsigned char *dirhash, const char *name,
		     size_t nlen);
size_t oci_node_key(unsigned char *key, uint64_t lid, uint32_t node);

/* oci_image_rec_get - the image record of M, borrowed (store_get rules). */
int oci_image_rec_get(struct store_txn *t, const struct oci_digest *m,
		      struct oci_image_rec *hdr,
		      const unsigned char **layers);

/* oci_layer_rec_get - the layer record of D; -ENOENT if not indexed. */
int oci_layer_rec_get(struct store_txn *t, const struct oci_digest *d,
		      struct oci_layer_rec *out);

#endif
