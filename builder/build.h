/*
 * build.h - building an image from a Govcfile in a commit.
 *
 * bld_build() reads the Govcfile (and .dockerignore or .govcignore) of a
 * repository's commit, plans it (govcfile.h) and runs the needed stages:
 *
 *   FROM      scratch, an image in the store, or an earlier stage
 *   RUN       under crun (an OCI runtime packaged by Debian) in its own
 *             mount, pid, ipc, uts and network namespaces, rooted at a
 *             kernel overlay whose lower layers are the stage's layers,
 *             each unpacked once into the build cache; the overlay's upper
 *             directory is the step's change, and becomes its layer
 *             (whiteouts and opaque directories marked the OCI way)
 *   COPY/ADD  from the commit's tree (the context), from a stage or an
 *             image, written into the same kind of overlay
 *   the rest  change the image config only
 *
 * Every step that makes a layer is cached by content (the parent layers,
 * the instruction as expanded, the blob ids of the files COPY reads, the
 * build arguments and environment in scope): the cache entry is a pin
 * "build:<key>" on the layer, so gc keeps it.  An unchanged rebuild runs
 * nothing.  Layers are tar+gzip, entries sorted, times clamped to the
 * commit's time (SOURCE_DATE_EPOCH overrides), owners numeric: the same
 * commit builds the same image digest.
 *
 * The image is published at the end, in one transaction, like an import:
 * tagged NAME:TAG (default REPO:latest and REPO:<short commit id>).  A
 * failed build publishes nothing and leaves the previous image in place.
 *
 * Processes: a build mounts overlays, so it runs in a process of its own
 * mount namespace (bld_build unshares it: call it from a single-threaded
 * process, such as `govc build`; the daemon runs builds that way).  It
 * needs root (overlayfs with trusted xattrs, mknod of whiteouts, crun).
 *
 * Records.  A build with RECORD set keeps its record on disk in
 * STORE/builds/<repo>/<n>/ (the mount's builds/<repo>/<n>/):
 *   status    "queued", "running", "succeeded" or "failed", one line
 *   log       what the build printed: one line per step, the commands'
 *             output; it grows while the build runs
 *   govcfile  the Govcfile built
 *   commit    the commit id built, one line
 *   image     the manifest digest, one line (succeeded builds only)
 *   error     why it failed, one line (failed builds only)
 * N counts from 1 per repository (bld_record_create).  Each file is
 * replaced by rename, except the log, which is appended to.
 *
 * Threads: none shared; a build runs in the calling thread.
 * Errors: 0 or a negative errno with a message (store_errmsg()) naming the
 * Govcfile line, the instruction, and for a failed RUN its exit status and
 * the end of its output.
 */
#ifndef GOVC_BUILDER_BUILD_H
#define GOVC_BUILDER_BUILD_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct oci_digest;

struct bld_build_opts {
	const char *repo;		/* the context: a repository */
	const char *commit;		/* a commit id, short id or branch;
					 * NULL: the head branch's head */
	const char *file;		/* the Govcfile's path in the commit;
					 * NULL: Govcfile, else Dockerfile */
	const char *target;		/* --target; NULL: the last stage */
	const char *const *build_args;	/* "KEY=VALUE" */
	size_t nbuild_args;
	const char *const *secrets;	/* "id=ID,src=PATH" */
	size_t nsecrets;
	const char *name, *tag;		/* the image; NULL: REPO, and the tags
					 * latest (if the commit is on the
					 * current branch) and the short
					 * commit id */
	int no_cache;			/* run every step */
	unsigned timeout;		/* seconds a RUN may take; 0: the
					 * default (LIMIT_BUILD_RUN_SECONDS) */
	int64_t epoch;			/* times in layers and "created";
					 * -1: SOURCE_DATE_EPOCH, else the
					 * commit's time */
	int quiet;			/* no copy of the log on stderr */
	unsigned record;		/* N of STORE/builds/<repo>/<N>/ to
					 * write (bld_record_create), 0: none */
};

/*
 * bld_build - build O->repo at O->commit into store S (see above).  M (may
 * be NULL) receives the image's manifest digest.
 */
int bld_build(struct store *s, const struct bld_build_opts *o,
	      struct oci_digest *m);

/*
 * bld_record_create - a new record STORE/builds/REPO/<n>/ with status
 * "queued" and COMMIT; *N receives n (one more than the highest so far).
 */
int bld_record_create(struct store *s, const char *repo, const char *commit,
		      unsigned *n);

/*
 * bld_cache_prune - forget the step cache (its pins: the layers they kept
 * go at the next gc) and remove STORE/build-cache/ (unpacked layers, cache
 * mounts).  -EBUSY with a message while a build runs (builds hold
 * build-cache/lock shared; this takes it exclusively).
 */
int bld_cache_prune(struct store *s);

/* bld_record_dir - "STORE/builds/REPO/N" into BUF (LEN bytes). */
int bld_record_dir(struct store *s, const char *repo, unsigned n, char *buf,
		   size_t len);

#endif
