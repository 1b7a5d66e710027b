/*
 * worktree.h - working trees: the editable state of a repository branch,
 * kept in LMDB so that every acknowledged change survives a killed daemon.
 *
 * A working tree is a tree of inodes (inodes table) linked by directory
 * entries (dirents table).  A directory has exactly one name, its parent's
 * entry.  Any other file may have several (hard links): its record names
 * one of them (parent), and while it has more than one (STORE_INO_LINKS)
 * the links table holds each of the others (be64 ino + be64 parent +
 * name), so nlink is 1 + their count.  Files of every type are held:
 * regular files, symlinks, fifos, sockets, character and block devices
 * (rdev in the record).  What a git tree cannot hold (the special files,
 * which names share an inode) a commit records beside its tree (commit.h,
 * "extras"); the directories on the way to such a file carry
 * STORE_INO_EXTRAS so that a commit finds them without a walk of the rest.
 *
 * File contents: a file is its base blob (a git object, the content as of
 * the last commit) overlaid by chunks of CHUNK bytes written since (chunks
 * table).  A chunk, when present, replaces that stretch of the base; bytes
 * of the base past base_len were truncated away and read as zeros.  A
 * commit hashes the overlaid content into a new blob, makes it the base
 * and drops the chunks, so appending to a large committed file copies one
 * chunk, not the file.  A file of STORE_BLOB_CHUNKED_MIN bytes or more
 * hands its (completed) chunks to a chunked blob instead (object.h) and
 * keys its later chunks by a fresh owner number (store_inode.owner).
 *
 * Dirty tracking: a directory is dirty when anything below it changed since
 * the last commit of its working tree.  Invariant: the parent of a dirty
 * directory is dirty; a clean directory's tree_id is the git tree of its
 * (committable) contents.  A commit visits dirty directories only, so its
 * work is proportional to what changed.
 *
 * Orphans: unlinking a file that may still be open leaves its inode with
 * nlink 0; the caller frees it with store_wt_forget() once the file is
 * closed.  store_wt_purge_orphans() frees any left by a killed daemon.
 *
 * Threads: every function takes the caller's transaction; mutations need a
 * write transaction.  Returned pointers (target) are borrowed until the
 * transaction ends.
 */
#ifndef GOVC_WORKTREE_H
#define GOVC_WORKTREE_H

#include <stdint.h>
#include <sys/types.h>
#include <git2/oid.h>
#include "store/store.h"

#define STORE_WT_CHUNK (64 * 1024)
#define STORE_NAME_MAX 255
#define STORE_SYMLINK_MAX 4095

enum store_inode_flags {
	STORE_INO_DIRTY = 1 << 0,	/* dir: something below changed */
	STORE_INO_CHUNKS = 1 << 1,	/* file: has chunks over its base */
	STORE_INO_ORPHAN = 1 << 2,	/* unlinked, waiting for close */
	STORE_INO_RESCAN = 1 << 3,	/* root: ignore rules changed, visit all */
	STORE_INO_YOUNG = 1 << 4,	/* file: its base may be young (object.h) */
	STORE_INO_LINKS = 1 << 5,	/* not a dir: more than one name (links table) */
	STORE_INO_EXTRAS = 1 << 6,	/* dir: a special file or a hard link may be
					 * below (set on the way up, cleared by a
					 * commit that finds none) */
};

/* The most names one inode may have (pathconf's LINK_MAX). */
#define STORE_LINK_MAX 65000

struct store_inode {
	uint64_t ino;
	uint64_t parent;	/* 0 for a working tree's root */
	uint32_t mode;		/* type and permission bits */
	uint32_t uid, gid;
	uint32_t flags;		/* enum store_inode_flags */
	uint64_t size;		/* file size, or symlink target length */
	uint64_t base_len;	/* bytes of the base blob still valid */
	int64_t atime_ns, mtime_ns, ctime_ns;
	git_oid id;		/* file: base blob; dir: tree when clean */
	uint64_t owner;		/* file: the number its chunks are keyed by: its
				 * ino, until a commit hands the chunks to a
				 * chunked blob (object.h); 0 means ino */
	uint64_t rdev;		/* character and block devices: the device */
	const char *target;	/* symlink target, SIZE bytes, not NUL-terminated,
				 * borrowed; else NULL */
};

/* Attribute changes for store_wt_setattr: set the fields named in mask. */
enum store_attr_mask {
	STORE_ATTR_MODE = 1 << 0,
	STORE_ATTR_UID = 1 << 1,
	STORE_ATTR_GID = 1 << 2,
	STORE_ATTR_SIZE = 1 << 3,
	STORE_ATTR_ATIME = 1 << 4,
	STORE_ATTR_MTIME = 1 << 5,
	STORE_ATTR_CTIME = 1 << 6,
};

struct store_attr {
	unsigned mask;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime_ns, mtime_ns, ctime_ns;
};

/* store_now_ns - the wall clock in nanoseconds. */
int64_t store_now_ns(void);

/*
 * store_time_ns - the time SEC seconds and NSEC nanoseconds after the epoch
 * (SEC negative before 1970) as the signed nanoseconds an inode record
 * holds, in *OUT.  Those cover 1677-09-21 to 2262-04-11; a time outside is
 * refused, never stored as another date.  Returns 0, -EOVERFLOW when the
 * time is out of that range, -EINVAL when NSEC is not in [0, 1e9).
 */
int store_time_ns(int64_t *out, int64_t sec, long nsec);

/*
 * store_wt_create - create an empty working tree for REPO's BRANCH and
 * return its root inode.  If TREE is not NULL, check it out (eagerly).
 * -EEXIST if the working tree exists.
 */
int store_wt_create(struct store_txn *t, const char *repo, const char *branch,
		    const git_oid *tree, uint64_t *root);

/*
 * store_wt_checkout - fill the empty working tree ROOT with TREE and mark
 * it clean at TREE.  -ENOTEMPTY if ROOT has entries.
 */
int store_wt_checkout(struct store_txn *t, uint64_t root, const git_oid *tree);

/*
 * store_wt_remove - remove the working tree of REPO's BRANCH: its record
 * goes, and every inode of it becomes an orphan, freed as orphans are
 * (store_wt_forget at the last close, store_wt_purge_orphans at the next
 * daemon start), so a file still open in a running mount stays readable.
 * -ENOENT if there is no such working tree.
 */
int store_wt_remove(struct store_txn *t, const char *repo, const char *branch);

/* store_wt_root - the root inode of REPO's BRANCH; -ENOENT if none. */
int store_wt_root(struct store_txn *t, const char *repo, const char *branch,
		  uint64_t *root);

/*
 * store_wt_foreach - call CB for each working tree (repo, branch, root)
 * whose root is dirty (DIRTY_ONLY) or for all.
 */
int store_wt_foreach(struct store_txn *t, int dirty_only,
		     int (*cb)(const char *repo, const char *branch,
			       uint64_t root, void *arg),
		     void *arg);

/* store_inode_get - read inode INO; -ENOENT if it does not exist. */
int store_inode_get(struct store_txn *t, uint64_t ino, struct store_inode *out);

/* store_wt_lookup - the child NAME of directory PARENT. */
int store_wt_lookup(struct store_txn *t, uint64_t parent, const char *name,
		    struct store_inode *out);

/*
 * store_wt_readdir - call CB for each entry of directory DIR in name
 * order, starting after the name AFTER (NULL: from the first).  A
 * non-zero return from CB stops the walk and is returned.
 */
int store_wt_readdir(struct store_txn *t, uint64_t dir, const char *after,
		     int (*cb)(const char *name, const struct store_inode *ino,
			       void *arg),
		     void *arg);

/*
 * store_wt_mknode - create NAME in directory PARENT: a regular file,
 * directory, symlink (TARGET), fifo, socket or device (RDEV) of MODE,
 * owned by UID/GID.  -EEXIST, -ENOTDIR, -ENAMETOOLONG as the syscalls
 * would; -EINVAL for a type that is none of those.
 */
int store_wt_mknode(struct store_txn *t, uint64_t parent, const char *name,
		    uint32_t mode, uint32_t uid, uint32_t gid,
		    const char *target, uint64_t rdev, struct store_inode *out);

/*
 * store_wt_link - link(2): give inode INO the name NEWNAME in directory
 * NEWPARENT of the same working tree; OUT receives the inode.  -EPERM
 * for a directory, -EXDEV across working trees, -EMLINK past
 * STORE_LINK_MAX names, -EEXIST, -ENOENT (an unlinked INO), -ENOTDIR.
 */
int store_wt_link(struct store_txn *t, uint64_t ino, uint64_t newparent,
		  const char *newname, struct store_inode *out);

/* store_wt_nlink - how many names inode N has: 0 for an orphan, 1 for a
 * directory (subdirectories are not counted: 1 says so, as on btrfs). */
int store_wt_nlink(struct store_txn *t, const struct store_inode *n,
		   uint32_t *nlink);

/*
 * store_wt_unlink - remove NAME from PARENT.  DIR selects rmdir semantics
 * (-ENOTDIR, -ENOTEMPTY) or unlink semantics (-EISDIR).  A file that
 * loses its last name becomes an orphan (see above); *ino receives its
 * number, or 0 when the file keeps other names.
 */
int store_wt_unlink(struct store_txn *t, uint64_t parent, const char *name,
		    int dir, uint64_t *ino);

/*
 * store_wt_rename - rename(2) within one working tree.  FLAGS may be
 * RENAME_NOREPLACE.  A file replaced at the target that loses its last
 * name becomes an orphan, *replaced receives it (0 if none).  Renaming a
 * name onto another name of the same inode does nothing, as POSIX says.  -EXDEV across working trees,
 * -EINVAL when moving a directory below itself.
 */
int store_wt_rename(struct store_txn *t, uint64_t oldparent,
		    const char *oldname, uint64_t newparent,
		    const char *newname, unsigned flags, uint64_t *replaced);

/* store_wt_setattr - apply A to INO; OUT receives the result. */
int store_wt_setattr(struct store_txn *t, uint64_t ino,
		     const struct store_attr *a, struct store_inode *out);

/*
 * store_wt_pieces - describe up to LEN bytes of file INO at OFF as at most
 * MAX borrowed pieces (see struct store_piece; borrowed until T ends), so
 * a reader can be answered without copying.  *COUNT receives how many.
 * Returns the number of bytes described (0 at end of file), -ENOBUFS if
 * MAX pieces are too few (STORE_WT_PIECES(LEN) are always enough), or a
 * negative errno.
 */
#define STORE_WT_PIECES(len) (2 * ((len) / STORE_WT_CHUNK + 2))
long store_wt_pieces(struct store_txn *t, uint64_t ino, uint64_t off, size_t len,
		     struct store_piece *out, size_t max, size_t *count);

/*
 * store_wt_read - copy up to LEN bytes of file INO at OFF into BUF.
 * Returns the number of bytes (0 at end of file) or a negative errno.
 */
long store_wt_read(struct store_txn *t, uint64_t ino, uint64_t off,
		   char *buf, size_t len);

/*
 * store_wt_write - write LEN bytes at OFF to file INO, extending it and
 * setting its mtime/ctime to MTIME_NS.  Returns LEN or a negative errno.
 */
long store_wt_write(struct store_txn *t, uint64_t ino, uint64_t off,
		    const char *buf, size_t len, int64_t mtime_ns);

/*
 * store_wt_write_whole - write BUF as the whole content of empty file INO:
 * the bytes go straight into a blob that becomes the file's base, so a
 * commit has nothing to copy.  For writers that very likely wrote the
 * whole file at once (a short first write of a new file); if more writes
 * follow, they overlay it as chunks and the blob is garbage for gc.
 * Falls back to store_wt_write when INO is not empty or LEN is over
 * STORE_WT_WHOLE_MAX.
 */
#define STORE_WT_WHOLE_MAX STORE_WT_CHUNK
long store_wt_write_whole(struct store_txn *t, uint64_t ino, const char *buf, size_t len,
			  int64_t mtime_ns);

/* store_wt_forget - free orphan INO (no-op if it is still linked). */
int store_wt_forget(struct store_txn *t, uint64_t ino);

/* store_wt_purge_orphans - free every orphan (at daemon start). */
int store_wt_purge_orphans(struct store_txn *t);

/*
 * Extended attributes of INO.  get/list return the size needed when LEN is
 * 0, the size copied otherwise, -ERANGE when LEN is too small, -ENODATA
 * when absent.  list writes NUL-separated names.  set honours
 * XATTR_CREATE/XATTR_REPLACE.  A value may be up to 64 KiB.
 */
long store_wt_xattr_get(struct store_txn *t, uint64_t ino, const char *name,
			void *buf, size_t len);
long store_wt_xattr_list(struct store_txn *t, uint64_t ino, char *buf,
			 size_t len);
int store_wt_xattr_set(struct store_txn *t, uint64_t ino, const char *name,
		       const void *val, size_t len, int flags);
int store_wt_xattr_remove(struct store_txn *t, uint64_t ino,
			  const char *name);

/*
 * store_wt_blob - hash file INO's current content into a blob, store it,
 * make it the file's base and drop its chunks.  Used by commits.
 */
int store_wt_blob(struct store_txn *t, struct store_inode *ino);
/* store_wt_needs_blob - 1 if file N has content no blob holds yet (what
 * store_wt_blob has to do work for) */
int store_wt_needs_blob(const struct store_inode *n);

/* store_wt_mark_dirty - mark directory DIR and its ancestors dirty. */
int store_wt_mark_dirty(struct store_txn *t, uint64_t dir);

/* store_wt_is_extra - 1 if inode N is something a git tree cannot hold
 * alone (a special file, or a file with several names) */
int store_wt_is_extra(const struct store_inode *n);

/*
 * store_wt_links_foreach - call CB with each (parent, name) of inode N's
 * names that the links table holds (all but N->parent's), in key order;
 * CB's non-zero return stops the walk.  NAME is borrowed for the call.
 */
int store_wt_links_foreach(struct store_txn *t, const struct store_inode *n,
			   int (*cb)(uint64_t parent, const char *name, void *arg),
			   void *arg);

/* store_inode_put - write back an inode record (commit.c). */
int store_inode_put(struct store_txn *t, const struct store_inode *ino);

#endif
