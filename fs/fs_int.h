/*
 * fs_int.h - internals of the FUSE daemon shared by the files of fs/.
 *
 * Node ids (FUSE inode numbers):
 *   1 .. FS_ID_FIXED_MAX      the fixed directories and files of the tree
 *   FS_ID_FIXED_MAX+1 .. 2^62 working-tree inodes: the store's own numbers,
 *                             stable across restarts
 *   2^62 ..                   dynamic nodes (snapshots, logs, images) that
 *                             live while the kernel holds them; the nodes
 *                             of the image views are interned by a key, so
 *                             a path keeps its number while it is held and
 *                             the hard links of a layer share one
 *
 * Shared state and locking.  libfuse calls handlers on many threads.
 *   fs->lock protects the node table (every struct fs_node field marked
 *   so) and the commit timing fields.  It is never held while a store
 *   transaction is open or a reply is sent, so the lock order is simply:
 *   LMDB writer lock, then fs->lock - never the reverse.
 *   fs->commit_lock serialises commits (the committer thread and fsync).
 *   Each handler opens one store transaction and ends it before replying.
 */
#ifndef GOVC_FS_INT_H
#define GOVC_FS_INT_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <git2/oid.h>

#include "fs/fs.h"
#include "store/image_path.h"
#include "store/oci.h"
#include "store/store.h"
#include "store/worktree.h"

enum fs_fixed_id {
	FS_ID_ROOT = 1,
	FS_ID_REPOS,
	FS_ID_COMMITS,
	FS_ID_LOG,
	FS_ID_EVENTS,
	FS_ID_IMAGES,		/* images/ */
	FS_ID_LAYERS,		/* layers/ */
	FS_ID_OCI,		/* oci/ */
	FS_ID_OCI_LAYOUT,	/* oci/oci-layout */
	FS_ID_OCI_INDEX,	/* oci/index.json */
	FS_ID_OCI_BLOBS,	/* oci/blobs/ */
	FS_ID_OCI_SHA256,	/* oci/blobs/sha256/ */
	FS_ID_FIXED_MAX = 1023,
};

#define FS_ID_DYNAMIC (1ULL << 62)
/* d_ino of a listed name whose attributes could not be read (libfuse's
 * FUSE_UNKNOWN_INO): readdirplus lists it bare, its lookup gives the error */
#define FS_UNKNOWN_INO 0xffffffffULL
#define FS_TEXTS 16

/*
 * FS_FH_DIO marks a working-tree file handle opened with direct_io.  A new
 * file created write-only (cp, tar -x, shell redirection) is written
 * without the page cache: the kernel then skips the GETXATTR of
 * security.capability it sends before a cached write, one round trip of
 * the five a copied file costs.  The kernel does not strip privileges on
 * direct writes, so op_write does (kill_privs).  Other opens keep the
 * page cache, and stay coherent: the kernel drops the cached pages a
 * direct write covers, and with FUSE_CAP_AUTO_INVAL_DATA a reader whose
 * attributes the write invalidated drops the file's pages when it finds
 * the mtime changed (tests/integration/t0010).
 */
#define FS_FH_DIO 1
#define FS_LISTINGS 32

struct dir_handle;

static inline int fs_is_wt(fuse_ino_t id)
{
	return id > FS_ID_FIXED_MAX && id < FS_ID_DYNAMIC;
}

/* Kinds of dynamic nodes. */
enum fs_kind {
	FS_K_COMMITS_REPO,	/* commits/<repo>/ */
	FS_K_TREE,		/* a directory of a commit snapshot */
	FS_K_BLOB,		/* a file of a commit snapshot */
	FS_K_LINK,		/* a symlink of a commit snapshot */
	FS_K_LOG,		/* log/<repo> */
	/* image views (images.c); all interned, see fs_node_intern */
	FS_K_IMG_DIR,		/* images/<prefix>/: key = the name so far */
	FS_K_IMG_TAGS,		/* images/<name>/tags/: key = name */
	FS_K_IMG_TAG,		/* images/<name>/tags/<tag>/: key = name \0 tag */
	FS_K_IMG_LAYERS,	/* <image>/layers/: digest = manifest, depth */
	FS_K_IMG_LINK,		/* <image>/layers/<digest>: key = link target */
	FS_K_IMG_BLOB,		/* a blob as a file: digest, size */
	FS_K_IMG_NODE,		/* a rootfs or layer tree node: image, on */
};

struct fs_node {
	uint64_t id;
	uint64_t nlookup;	/* protected by fs->lock */
	uint32_t nopen;		/* protected by fs->lock */
	int orphan;		/* protected by fs->lock: free when unused */
	/* dynamic nodes only; immutable after creation */
	enum fs_kind kind;
	char repo[101];
	git_oid oid;		/* tree or blob */
	uint32_t mode;
	uint64_t size;
	int64_t time;		/* commit time, seconds */
	/* image views, immutable after creation; KEY and TARGET are owned by
	 * the node and freed with it, which cannot happen while the kernel
	 * holds the node, so a copy's pointers stay valid for a request */
	uint64_t key_a, key_b;	/* interned: (kind, key_a, key_b, key) */
	char *key;
	size_t key_len;
	char *target;		/* FS_K_IMG_NODE symlinks: the target */
	struct store_image *image;	/* FS_K_IMG_NODE */
	struct oci_digest digest;
	uint32_t depth;		/* FS_K_IMG_LAYERS: '..' steps to the root */
	struct oci_node on;	/* FS_K_IMG_NODE (on.target unused) */
	int interned;
	struct fs_node *next;	/* hash chain, protected by fs->lock */
	struct fs_node *knext;	/* key chain, protected by fs->lock */
};

struct fs {
	struct store *store;
	struct fuse_session *se;
	struct fs_options opt;

	pthread_mutex_t lock;
	struct fs_node **table;		/* protected by lock */
	size_t table_size, nodes;	/* protected by lock */
	uint64_t next_dynamic;		/* protected by lock */
	struct fs_node **keyed;		/* interned nodes, protected by lock */
	size_t keyed_size;		/* protected by lock */
	/* the images opened for rootfs/ and layers/<digest>/ trees, shared
	 * (store/image_path.h: its own lock); set at start */
	struct store_images *images;
	/* directory listings read without OPENDIR (worktree_ops.c) */
	int no_opendir;			/* set at init */
	/*
	 * Where the kernel allows it (FUSE_CAP_NO_OPEN_SUPPORT) OPEN answers
	 * ENOSYS: the kernel then opens regular files itself, with
	 * FOPEN_KEEP_CACHE, and sends neither OPEN nor RELEASE again.  A
	 * read of a small file costs one round trip instead of three, and a
	 * copied file no RELEASE (`cp -r` of 10,000 files: 9-18% less time).
	 * So: opens of working-tree files are not counted (the kernel's
	 * lookup of an open file keeps an unlinked one until its FORGET),
	 * writes to views fail at WRITE or SETATTR (EROFS) instead of at
	 * open, and generated files have no snapshot per open: fs_text keeps
	 * their text per store generation.  fs_run opens `events` once after
	 * mounting, so the kernel learns this before the first CREATE.
	 */
	int no_open;			/* set at init */
	/*
	 * Only root can reach the mount (the daemon runs as root, without
	 * allow_other or allow_root), and root passes every permission check:
	 * the mount goes without default_permissions.  The kernel then needs
	 * no fresh attributes of a directory to create in it, and a copied
	 * file costs three round trips instead of four (GETATTR of the
	 * directory, whose attributes the last CREATE invalidated).  Set
	 * before mounting, read-only after.
	 */
	int root_only;
	struct fs_text {
		fuse_ino_t id;		/* 0: a free slot */
		uint64_t gen;		/* the store generation it was made at */
		char *buf;
		size_t len;
		int64_t changed_ns;	/* when the text last changed */
		uint64_t used;
	} texts[FS_TEXTS];		/* protected by lock */
	uint64_t text_clock;		/* protected by lock */
	struct dir_handle *listings[FS_LISTINGS];	/* protected by lock */
	uint64_t listing_clock;		/* protected by lock */
	/* the watcher (watch.c): its wake-up, under lock; seen is its own */
	int can_expire;			/* FUSE_CAP_EXPIRE_ONLY: set at init,
					 * read by the watcher (atomics) */
	pthread_t watch_thread;
	pthread_cond_t watch_wake;
	uint64_t events_seen;

	/* commit timing, protected by lock */
	pthread_cond_t wake;
	int64_t first_change_ns, last_change_ns;
	int stopping;
	pthread_t committer;
	pthread_mutex_t commit_lock;
	uid_t uid;
	gid_t gid;
	time_t started;		/* mount time: the fixed entries' times */
};

/* node.c: the node table */
int fs_nodes_init(struct fs *fs);
void fs_nodes_free(struct fs *fs);
/* fs_node_ref - find or create the node for working-tree inode ID and add
 * NLOOKUP lookups.  Returns 0 or -ENOMEM. */
int fs_node_ref(struct fs *fs, uint64_t id, uint64_t nlookup);
/* fs_node_new - create a dynamic node (copied from TMPL) with one lookup;
 * returns its id, or 0 when out of memory. */
uint64_t fs_node_new(struct fs *fs, const struct fs_node *tmpl);
/* fs_node_intern - the node equal to TMPL by (kind, key_a, key_b, key),
 * created if absent, with one more lookup; returns its id, or 0 when out
 * of memory.  Takes TMPL's key and target (frees them if the node exists). */
uint64_t fs_node_intern(struct fs *fs, struct fs_node *tmpl);
/* fs_node_find - the id of the interned node (KIND, 0, 0, KEY), or 0 */
uint64_t fs_node_find(struct fs *fs, int kind, const char *key, size_t key_len);
/* fs_node_get - copy node ID into OUT; -ENOENT if unknown. */
int fs_node_get(struct fs *fs, uint64_t id, struct fs_node *out);
/* fs_node_forget - drop NLOOKUP lookups; returns 1 if the node was an
 * orphan and is now unused (the caller frees it in the store). */
int fs_node_forget(struct fs *fs, uint64_t id, uint64_t nlookup);
/* fs_node_open / fs_node_release - count opens of a working-tree inode;
 * release returns 1 like fs_node_forget. */
void fs_node_open(struct fs *fs, uint64_t id);
int fs_node_release(struct fs *fs, uint64_t id);
/* fs_node_orphaned - inode ID was unlinked: returns 1 if nothing holds it
 * (free it now), else marks it to be freed when the last holder lets go. */
int fs_node_orphaned(struct fs *fs, uint64_t id);

/* fs.c */
void fs_changed(struct fs *fs);		/* a working tree changed */
int fs_commit_all(struct fs *fs);	/* commit every dirty working tree */
double fs_wt_timeout(void);
void fs_reply_store_error(fuse_req_t req, int rc, const char *op);

/* worktree_ops.c: operations on working-tree inodes */
extern const struct fuse_lowlevel_ops fs_ops;
void fs_wt_attr(const struct store_inode *n, struct stat *st);
void fs_listings_free(struct fs *fs);
/*
 * fs_reply_pieces - answer a read with N pieces borrowed from T (call it
 * before T ends).  Pieces that lie in the store's data file are spliced
 * from it (FUSE_CAP_SPLICE_WRITE) or read with pread: the kernel's page
 * cache and readahead of that file serve them, with no copy in the daemon,
 * so a cold sequential read streams instead of faulting the map's pages in
 * one by one.  Holes come from a static page of zeros.
 * fs_reply_blob - the same for SIZE bytes at OFF of blob ID, however it is
 * stored; returns an error without replying.
 */
void fs_reply_pieces(fuse_req_t req, struct store_txn *t, const struct store_piece *p,
		     size_t n);
int fs_reply_blob(fuse_req_t req, struct store_txn *t, const git_oid *id, uint64_t off,
		  size_t size);
/* fs_xattr_absent - the answer to getxattr(NAME) that found GOT */
long fs_xattr_absent(const struct fs *fs, const char *name, long got);
int fs_wt_entry(struct fs *fs, struct store_txn *t, uint64_t ino,
		struct fuse_entry_param *e);

/* views.c: the virtual parts of the tree */
int fs_view_lookup(struct fs *fs, struct store_txn *t, fuse_ino_t parent,
		   const char *name, struct fuse_entry_param *e);
int fs_view_getattr(struct fs *fs, struct store_txn *t, fuse_ino_t id,
		    struct stat *st, double *timeout);
/* fs_view_list - the names in virtual directory ID, for readdir */
struct fs_dirnode {
	struct oci_node on;	/* on.target unused */
	char *target;		/* owned */
};
struct fs_dirlist {
	char **names;
	size_t n, cap;
	/* image trees: each name's node (cap entries), so that readdirplus
	 * needs no lookup, and the image they belong to */
	struct fs_dirnode *nodes;
	struct store_image *image;
	int cache;		/* immutable: the kernel may cache the listing */
};
int fs_dirlist_add(struct fs_dirlist *l, const char *name);
void fs_dirlist_free(struct fs_dirlist *l);
int fs_view_list(struct fs *fs, struct store_txn *t, fuse_ino_t id,
		 struct fs_dirlist *out);
/* fs_view_cacheable - 1 if the kernel may cache virtual directory ID's
 * listing (immutable, or invalidated by the watcher) */
int fs_view_cacheable(struct fs *fs, fuse_ino_t id);
/* fs_view_open - content of a virtual file, generated at open (log) or
 * NULL for files read live (events, snapshot blobs) */
int fs_view_open(struct fs *fs, fuse_ino_t id, char **content, size_t *len,
		 int *direct_io);
/* fs_view_read - reply to a read of virtual file ID without a handle's
 * snapshot: a blob, an image file, events, or the text the daemon makes
 * (log/<repo>, oci/index.json, oci/oci-layout: see fs_text) */
int fs_view_read(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size,
		 fuse_req_t req);
/* fs_text - generated file ID without a handle: its current text, made
 * again only when the store changed.  Copies up to SIZE bytes at OFF into
 * *OUT (malloc'd, *N bytes; OUT may be NULL), and gives its length and the
 * time it last changed.  Threads: any; takes fs->lock. */
int fs_text(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size, char **out, size_t *n,
	    uint64_t *total, int64_t *changed_ns);
void fs_texts_free(struct fs *fs);
int fs_view_readlink(struct fs *fs, fuse_ino_t id, fuse_req_t req);
/* fs_view_xattr - getxattr (NAME) or listxattr (NAME NULL) of a virtual
 * node: the size, or a negative errno */
long fs_view_xattr(struct fs *fs, fuse_ino_t id, const char *name, char *buf, size_t size);

/* images.c: images/, layers/, oci/ (the views.c calls above end here) */
int fs_img_is_fixed(fuse_ino_t id);
int fs_img_is_kind(int kind);
int fs_img_fixed_entry(struct fs *fs, struct store_txn *t, fuse_ino_t id,
		       struct fuse_entry_param *e);
int fs_img_lookup(struct fs *fs, struct store_txn *t, fuse_ino_t parent,
		  const char *name, struct fuse_entry_param *e);
int fs_img_getattr(struct fs *fs, struct store_txn *t, fuse_ino_t id,
		   struct stat *st, double *timeout);
int fs_img_list(struct fs *fs, struct store_txn *t, fuse_ino_t id,
		struct fs_dirlist *out);
/* fs_img_dirent - the entry of listed name I of L (L->nodes set) */
int fs_img_dirent(struct fs *fs, const struct fs_dirlist *l, size_t i,
		  struct fuse_entry_param *e);
int fs_img_open(struct fs *fs, fuse_ino_t id, char **content, size_t *len,
		int *direct_io);
int fs_img_read(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size,
		fuse_req_t req);
int fs_img_readlink(struct fs *fs, fuse_ino_t id, fuse_req_t req);
long fs_img_xattr(struct fs *fs, fuse_ino_t id, const char *name, char *buf,
		  size_t size);
void fs_images_free(struct fs *fs);

/* watch.c: the thread that invalidates kernel caches on store events */
int fs_watch_start(struct fs *fs);
void fs_watch_stop(struct fs *fs);
/* fs_watch_kick - look at the event log now (after our own commits) */
void fs_watch_kick(struct fs *fs);

#endif
