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
 * Shared state and locking.  libfuse calls handlers on many threads (up
 * to 16), and the committer and watcher threads run beside them.
 *   fs->lock protects the node table (every struct fs_node field marked
 *   so), the views' texts and the kept listings (fs->texts, fs->listings),
 *   and the commit timing fields.  It is never held while a store
 *   transaction is open or a reply is sent.
 *   The images opened for rootfs/ and layer trees (fs->images) are the
 *   store's, under their own lock (store/image_path.h), a leaf lock.
 *   Lock order: fs->commit_lock, then the LMDB writer lock, then fs->lock
 *   or the images' lock (never both) - never the reverse.
 *   fs->commit_lock serialises commits (the committer thread and fsync).
 *   Each handler opens one store transaction and ends it before replying.
 *   How the views are dispatched, and their rules: "Views" below.
 */
#ifndef GOVC_FS_INT_H
#define GOVC_FS_INT_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <git2/oid.h>

#include "fs/fs.h"
#include "store/image_path.h"
#include "store/ingest.h"
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
	FS_ID_BUILDS,		/* builds/ */
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

/* Kinds of nodes: dynamic ones, and the two made up by fs_view_of. */
enum fs_kind {
	FS_K_FIXED,		/* a fixed entry: id <= FS_ID_FIXED_MAX */
	FS_K_WT,		/* a working-tree inode */
	FS_K_COMMITS_REPO,	/* commits/<repo>/ */
	FS_K_TREE,		/* a directory of a commit snapshot */
	FS_K_BLOB,		/* a file of a commit snapshot */
	FS_K_LINK,		/* a symlink of a commit snapshot */
	FS_K_SPECIAL,		/* a fifo, socket or device of a commit snapshot */
	FS_K_LOG,		/* log/<repo> */
	/* image views (view_images.c); all interned, see fs_node_intern */
	FS_K_IMG_DIR,		/* images/<prefix>/: key = the name so far */
	FS_K_IMG_TAGS,		/* images/<name>/tags/: key = name */
	FS_K_IMG_TAG,		/* images/<name>/tags/<tag>/: key = name \0 tag */
	FS_K_IMG_LAYERS,	/* <image>/layers/: digest = manifest, depth */
	FS_K_IMG_LINK,		/* <image>/layers/<digest>: key = link target */
	FS_K_IMG_BLOB,		/* a blob as a file: digest, size */
	FS_K_IMG_NODE,		/* a rootfs or layer tree node: image, on */
	/* builds/ (view_builds.c); interned, key = the path below
	 * STORE/builds, repo = the repository */
	FS_K_BUILDS_REPO,	/* builds/<repo>/ */
	FS_K_BUILD,		/* builds/<repo>/<n>/ */
	FS_K_BUILD_FILE,	/* builds/<repo>/<n>/<file> */
	FS_K_BUILD_LATEST,	/* builds/<repo>/latest: key <repo>/<n>,
				 * target <n> */
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
	/* snapshots of a commit with extras (store/extras.h): the commit,
	 * and in KEY the node's path (trees; "" at the root) */
	git_oid commit;		/* zero: the commit has none */
	uint32_t nlink;		/* 0: 1 */
	int owned;		/* uid and gid are the file's own */
	uint32_t uid, gid;
	uint64_t rdev;
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
	/* pins what the kernel holds of images (store_images_sync_pins),
	 * used by the watcher thread only; set at start */
	struct store_ingest *inuse;
	const char *mountpoint;		/* set at start */
	/* the watcher thread's own: the mount's canonical path and device */
	char *real_mountpoint;
	dev_t dev;
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
	/* the build queue (builds.c): the watcher thread's own */
	struct fs_builds *builds;

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
/* fs_wt_attr - working-tree inode N's attributes (nlink counted in T) */
int fs_wt_attr(struct store_txn *t, const struct store_inode *n, struct stat *st);
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

/*
 * Views.  Every node of the tree belongs to one view, one per top-level
 * entry of the tree (docs/tree.md): the root, repos/ (whose working-tree
 * inodes are its nodes), commits/, log/, events, images/, layers/, oci/,
 * builds/.
 * A view is a table of operations (struct fs_view_ops); the FUSE handlers
 * (worktree_ops.c) find a node's view with one call, fs_view_of(), and
 * call its operation: a new view (branches/, builds/) is a new table and
 * a line in fs_views[], not a branch in every handler.  What changes a
 * working tree (create, write, rename, setattr, xattrs...) is served by
 * the working-tree handlers alone; a view only says what a change in its
 * directories gets (change_errno) and may create directories (mkdir).
 *
 * Which view: fixed ids by a table (view.c), working-tree inodes are
 * repos/, dynamic nodes by their kind.  The image kinds (blobs, trees)
 * are shared: layers/<digest>/ and oci/blobs/sha256/<hex> hand out nodes
 * of the images view, which serves them wherever they were found.
 *
 * Every operation gets a copy of the node (struct fs_node, from
 * fs_node_get, or made up for fixed ids and working-tree inodes: kind
 * FS_K_FIXED or FS_K_WT, id set).  Its pointers (key, target, image) stay
 * valid for the request: the kernel holds the node until it is answered.
 *
 * Threads and locks.  Operations run on any of libfuse's threads, many
 * at once, on the same node too.  A view keeps no state of its own;
 * what is shared lives in struct fs and is locked there: the node table,
 * fs->texts and fs->listings under fs->lock (taken briefly, never across
 * store I/O or a reply), the opened images under their own lock in the
 * store (store/image_path.h).  An operation given a transaction T (the
 * handler's read transaction) reads in it and never ends it; one without
 * opens its own read transaction and ends it before it returns (so do
 * the store's history reads and fs_text's generators, beside T).  No
 * operation writes except mkdir, whose T is a write transaction.
 */
enum fs_view {
	FS_V_ROOT,
	FS_V_REPOS,
	FS_V_COMMITS,
	FS_V_LOG,
	FS_V_EVENTS,
	FS_V_IMAGES,
	FS_V_LAYERS,
	FS_V_OCI,
	FS_V_BUILDS,
	FS_VIEWS
};

/* A directory listing, for readdir. */
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
};
int fs_dirlist_add(struct fs_dirlist *l, const char *name);
void fs_dirlist_free(struct fs_dirlist *l);

/*
 * The operations of a view.  Each returns 0 (or a size) or a negative
 * errno; a NULL operation gives the answer named beside it.
 */
struct fs_view_ops {
	const char *name;
	/* lookup - NAME in directory DIR: fill E with one lookup counted on
	 * the node (fs_node_new, fs_node_intern, fs_node_ref), or E->ino 0
	 * for a miss the kernel may cache for E->entry_timeout.  -ENOENT,
	 * -ENOTDIR.  Required. */
	int (*lookup)(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		      const char *name, struct fuse_entry_param *e);
	/* getattr - N's attributes, and how long the kernel may keep them
	 * (*TIMEOUT comes in as a day).  Required. */
	int (*getattr)(struct fs *fs, struct store_txn *t, const struct fs_node *n,
		       struct stat *st, double *timeout);
	/* list - the names in directory DIR, without "." and "..".
	 * NULL: -ENOTDIR. */
	int (*list)(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		    struct fs_dirlist *out);
	/* dirent - readdirplus's entry of listed name I of L when L->nodes
	 * is set, with a lookup counted.  NULL: lookup of the name. */
	int (*dirent)(struct fs *fs, const struct fs_dirlist *l, size_t i,
		      struct fuse_entry_param *e);
	/* cacheable - 1 if the kernel may cache directory DIR's listing
	 * (immutable, or invalidated by the watcher).  NULL: 0. */
	int (*cacheable)(struct fs *fs, const struct fs_node *dir);
	/* open - the content of file N when it is opened (OPEN is served
	 * only where the kernel needs it: see fs->no_open): a malloc'd text
	 * the handle keeps, or NULL for a file read live; *DIRECT_IO for
	 * files whose size is not known ahead.  NULL: -EISDIR. */
	int (*open)(struct fs *fs, const struct fs_node *n, char **content, size_t *len,
		    int *direct_io);
	/* read - reply to a read of SIZE bytes at OFF of file N (a handle's
	 * text is answered by the handler), or return an error without
	 * replying.  NULL: -EINVAL. */
	int (*read)(struct fs *fs, const struct fs_node *n, uint64_t off, size_t size,
		    fuse_req_t req);
	/* readlink - reply with symlink N's target, or return an error
	 * without replying.  NULL: -EINVAL. */
	int (*readlink)(struct fs *fs, const struct fs_node *n, fuse_req_t req);
	/* getxattr, listxattr - the value of NAME / the names of N into BUF
	 * (SIZE 0: the size needed): its size, -ERANGE, -ENODATA.
	 * NULL: nothing (through fs_xattr_absent), an empty list. */
	long (*getxattr)(struct fs *fs, const struct fs_node *n, const char *name, char *buf,
			 size_t size);
	long (*listxattr)(struct fs *fs, const struct fs_node *n, char *buf, size_t size);
	/* mkdir - create directory NAME in DIR (no working tree) in write
	 * transaction T and fill E like lookup.  NULL: change_errno. */
	int (*mkdir)(struct fs *fs, struct store_txn *t, const struct fs_node *dir,
		     const char *name, struct fuse_entry_param *e);
	/* what a change (create, remove, rename, write) in this view's
	 * directories that are no working tree gets: EROFS, EPERM */
	int change_errno;
};

/* the views (view_*.c, worktree_ops.c for repos/), indexed by enum fs_view */
extern const struct fs_view_ops fs_view_root, fs_view_repos, fs_view_commits, fs_view_log,
	fs_view_events, fs_view_images, fs_view_layers, fs_view_oci, fs_view_builds;
extern const struct fs_view_ops *const fs_views[FS_VIEWS];

/*
 * fs_view_of - the view node ID belongs to, with a copy of the node in
 * *N; NULL if the node is unknown (the caller answers -ENOENT).
 * Threads: any; takes fs->lock for a dynamic node.
 */
const struct fs_view_ops *fs_view_of(struct fs *fs, fuse_ino_t id, struct fs_node *n);

/* view.c: attributes and entries of the generated nodes */
void fs_fixed_attr(struct fs *fs, fuse_ino_t id, mode_t mode, struct stat *st);
void fs_dynamic_attr(struct fs *fs, const struct fs_node *n, struct stat *st);
/* fs_new_entry - E for a new dynamic node copied from TMPL */
int fs_new_entry(struct fs *fs, const struct fs_node *tmpl, double timeout,
		 struct fuse_entry_param *e);
/* fs_intern_entry - E for the interned node TMPL (gives up its key) */
int fs_intern_entry(struct fs *fs, struct fs_node *tmpl, double timeout,
		    struct fuse_entry_param *e);
/*
 * fs_text - generated file ID without a handle: its current text, made
 * again (by its view's open) only when the store changed.  Copies up to
 * SIZE bytes at OFF into *OUT (malloc'd, *N bytes; OUT may be NULL), and
 * gives its length and the time it last changed.  Threads: any; takes
 * fs->lock.
 */
int fs_text(struct fs *fs, fuse_ino_t id, uint64_t off, size_t size, char **out, size_t *n,
	    uint64_t *total, int64_t *changed_ns);
/* fs_reply_text - a read of generated file N, from its text (fs_text) */
int fs_reply_text(struct fs *fs, const struct fs_node *n, uint64_t off, size_t size,
		  fuse_req_t req);
void fs_texts_free(struct fs *fs);
/* fs_list_repos - the names of the repositories, for repos/, commits/, log/ */
int fs_list_repos(struct store_txn *t, struct fs_dirlist *out);
/* how long the kernel keeps what changes (lists of repositories, commits)
 * and what never does (snapshots, fixed entries) */
#define FS_LIST_TIMEOUT 1.0
#define FS_FOREVER 86400.0

/* view_images.c */
void fs_images_free(struct fs *fs);

/* watch.c: the thread that invalidates kernel caches on store events */
int fs_watch_start(struct fs *fs);
void fs_watch_stop(struct fs *fs);
/* fs_watch_kick - look at the event log now (after our own commits) */
void fs_watch_kick(struct fs *fs);

/*
 * builds.c: the build queue (docs/architecture.md, "Builds").
 * fs_builds_start - set it up (before the watcher starts), marking failed
 * the records an earlier daemon left queued.  0 or -ENOMEM.
 * fs_builds_commit - commit ID (40 hex) of REPO's BRANCH was made: queue a
 * build of it if it changed what the build reads.
 * fs_builds_poll - reap ended builds, start due ones (every watcher tick).
 * fs_builds_stop - after the watcher ended: queued builds are marked
 * failed, running ones go on in their processes.
 * Threads: the watcher thread only (start and stop: the main thread while
 * no watcher runs).
 */
struct fs_builds;
int fs_builds_start(struct fs *fs);
void fs_builds_commit(struct fs *fs, const char *repo, const char *branch, const char *id);
void fs_builds_poll(struct fs *fs);
void fs_builds_stop(struct fs *fs);

#endif
