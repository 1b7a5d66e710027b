/*
 * copy.h - COPY and ADD (copy.c): resolving sources in the build context
 * (a commit's tree) and writing them, or a stage's files, into a step's
 * root.  Internal to builder/.
 *
 * Threads: the build's thread only (exec.h).
 * Errors: 0 or a negative errno with a message (store_errmsg()).
 */
#ifndef GOVC_BUILDER_COPY_H
#define GOVC_BUILDER_COPY_H

#include <git2/oid.h>
#include <sys/types.h>

#include "builder/exec.h"
#include "builder/govcfile.h"
#include "util/file.h"

struct store_txn;

/* a source resolved in the context: PATH ("" for the root), its git
 * MODE (040000 for a directory) and object ID */
struct bx_src {
	char *path;
	unsigned mode;
	git_oid id;
};

struct bx_srcs {
	struct bx_src *v;
	size_t n, cap;
};

void bx_srcs_release(struct bx_srcs *v);

/*
 * bx_ctx_resolve - append to OUT what source SRC (as expanded; wildcards
 * per component) names in the context tree ROOT, minus what IG (may be
 * NULL) excludes; a source that is a symlink is followed inside the
 * context (it keeps its name).  -EPERM naming SRC if it climbs out of the context,
 * -ENOENT if it matches nothing.
 */
int bx_ctx_resolve(struct store_txn *t, const git_oid *root, const char *src,
		   const struct bld_ignore *ig, struct bx_srcs *out);

/* what a COPY or ADD does with what it copies */
struct bx_copy {
	const char *dest;	/* absolute in the root (WORKDIR applied) */
	int dest_slash;		/* DEST was written with a trailing "/" */
	int add;		/* ADD: local tars are unpacked */
	int has_chown, has_chmod;
	uid_t uid;		/* --chown, else 0 */
	gid_t gid;
	mode_t chmod;
	int64_t epoch;		/* mtime of context files */
	const struct bld_ignore *ignore;	/* for directories' contents */
};

/* bx_copy_context - SRCS (resolved by bx_ctx_resolve) into ROOTFD */
int bx_copy_context(struct store_txn *t, const struct bx_srcs *srcs,
		    const struct bx_copy *c, int rootfd);

/* bx_copy_fs - sources SRCS (paths in the root SRCROOT, wildcards per
 * component) into ROOTFD */
int bx_copy_fs(int srcroot, const char *const *srcs, size_t nsrcs,
	       const struct bx_copy *c, int rootfd);

/* bx_copy_heredoc - a file holding CONTENT (COPY <<NAME): C->dest, or
 * C->dest/NAME when the destination is a directory (NSRCS sources) */
int bx_copy_heredoc(const char *content, const char *name, size_t nsrcs,
		    const struct bx_copy *c, int rootfd);

/* bx_ctx_lookup - the entry at PATH under TREE: its git MODE and ID
 * (-ENOENT if absent; no message) */
int bx_ctx_lookup(struct store_txn *t, const git_oid *tree, const char *path,
		  unsigned *mode, git_oid *id);

/* bx_path_clean - PATH made absolute and clean ("." and ".." resolved,
 * ".." at "/" staying there) into OUT (LEN bytes; not overlapping PATH) */
void bx_path_clean(char *out, size_t len, const char *path);

#endif
