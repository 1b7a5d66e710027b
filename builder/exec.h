/*
 * exec.h - the build executor's parts, shared by build.c (the driver),
 * layers.c (unpacked lowers, overlays, upper -> layer), run.c (RUN under
 * crun) and copy.c (COPY and ADD).  Internal to builder/.
 *
 * Directories: STORE/build-cache/ holds
 *   layers/<32 hex of diff_id>/  a layer unpacked once, whiteouts as
 *                                overlayfs writes them (char 0/0, opaque
 *                                xattr), shared by every build
 *   mounts/<hex>/                RUN --mount=type=cache directories
 *   run/<pid>.<n>/               one step's upper, work and merged
 *                                directories (removed after the step)
 *
 * Threads: a build is one thread in a process of its own (build.h).
 * Errors: 0 or a negative errno with a message (store_errmsg()).
 */
#ifndef GOVC_BUILDER_EXEC_H
#define GOVC_BUILDER_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "store/oci.h"

struct store;
struct store_ingest;

struct bx_layer {
	struct oci_descriptor desc;	/* the blob */
	struct oci_digest diff_id;
	int raw;		/* a build step's: times to clamp (retime) */
};

/* a stage's filesystem: its layers, bottom first */
struct bx_fs {
	struct bx_layer *v;
	size_t n, cap;
};

/* one step's overlay: lowers from an bx_fs, a fresh upper */
struct bx_overlay {
	char dir[4096];		/* run/<pid>.<n> */
	char merged[4200];	/* DIR/merged: the stage's root while mounted */
	char upper[4200];
	int mounted;
	int rootfd;		/* open on MERGED while mounted */
};

/* bx_cache_dir - "STORE/build-cache/SUB" into BUF, created if absent. */
int bx_cache_dir(struct store *s, const char *sub, char *buf, size_t len);

/* bx_fs_push - append layer L to FS. */
int bx_fs_push(struct bx_fs *fs, const struct bx_layer *l);
void bx_fs_release(struct bx_fs *fs);

/*
 * bx_overlay_mount - mount an overlay of FS's layers (each unpacked into
 * layers/ first if it is not yet) with a new upper directory: O->merged
 * is then the stage's root, writable.  READONLY: no upper (a COPY --from
 * source).
 */
int bx_overlay_mount(struct store *s, const struct bx_fs *fs, int readonly,
		     struct bx_overlay *o);
/* bx_overlay_umount - unmount and remove O's directories. */
void bx_overlay_umount(struct bx_overlay *o);

/*
 * A step's raw layer carries BX_STEP_TIME (2100-01-01) for every time the
 * step set (any time from SINCE, the step's start, on): such a layer is
 * the same whenever it was made, and re-timing it for a commit
 * (bx_layer_retime) clamps those times to the commit's epoch.  Times the
 * step did not set (a base image's files copied up) stay.
 *
 * bx_upper_to_layer - write O's upper directory (what the step changed)
 * as such a tar+gzip layer through session IN, index it, and return it in
 * *OUT; *EMPTY is set when the step changed nothing (no layer).  WHAT
 * names the step in messages.
 */
#define BX_STEP_TIME 4102444800LL
int bx_upper_to_layer(struct store_ingest *in, struct bx_overlay *o,
		      int64_t since, const char *what, struct bx_layer *out,
		      int *empty);

/*
 * bx_layer_retime - layer RAW written again with every time past EPOCH
 * set to EPOCH, as *OUT (the layer an image gets: a step's raw layer keeps
 * the times its step gave, so that it can be cached across commits).
 */
int bx_layer_retime(struct store_ingest *in, const struct bx_layer *raw,
		    int64_t epoch, const char *what, struct bx_layer *out);

/*
 * bx_open_in_root - openat2(ROOTFD, PATH, FLAGS|O_CLOEXEC, MODE) with
 * RESOLVE_IN_ROOT: symlinks and ".." resolve inside the root.
 */
int bx_open_in_root(int rootfd, const char *path, int flags, mode_t mode);

/*
 * bx_mkdir_p - make directory PATH (absolute in the root at ROOTFD) and
 * its missing parents with MODE, owned by UID:GID; returns an open
 * O_DIRECTORY fd on it or a negative errno.
 */
int bx_mkdir_p(int rootfd, const char *path, mode_t mode, uid_t uid,
	       gid_t gid);

/*
 * bx_user_lookup - resolve USER ("name", "uid", "name:group", "uid:gid")
 * against the root's /etc/passwd and /etc/group; *NGROUPS supplementary
 * groups (at most 64) into GROUPS (may be NULL).  A numeric user missing
 * from /etc/passwd is fine (gid 0); a name that is missing is an error.
 */
int bx_user_lookup(int rootfd, const char *user, uid_t *uid, gid_t *gid,
		   gid_t *groups, size_t *ngroups);

/* ---- RUN (run.c) ---------------------------------------------------------- */

/* a RUN --mount, resolved to the host */
struct bx_mount {
	const char *target;	/* in the container */
	const char *source;	/* host path (bind) */
	int tmpfs;
	int skip;		/* not mounted (a secret given as env= only) */
	int readonly;
	uint64_t size;		/* tmpfs */
};

struct bx_run {
	struct json_t *args;	/* argv (a JSON array of strings) */
	struct json_t *env;	/* "K=V" strings */
	const char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t groups[64];
	size_t ngroups;
	int network_host;
	const struct bx_mount *mounts;
	size_t nmounts;
	unsigned timeout;	/* seconds */
	int log_fd, echo_fd;	/* where output goes (-1: nowhere) */
	/* results */
	int timed_out;
	char tail[2048];	/* the end of the output */
	size_t tail_len;
};

/* bx_run_prepare - once per build process, before the first bx_run */
int bx_run_prepare(void);

/*
 * bx_run - run R in overlay O (mounted, writable); *STATUS receives the
 * exit status (128 + signal if killed).  Returns an error only if the
 * command could not be run at all.
 */
int bx_run(struct store *s, struct bx_overlay *o, struct bx_run *r, int *status);

/*
 * bx_disk_new - a libarchive disk writer that restores modes, owners,
 * times and xattrs and refuses entries escaping the current directory
 * (paths with "..", absolute paths, paths through symlinks).
 * bx_extract_entry - write entry E of reader A (header and data) through
 * DISK; returns libarchive's status (below ARCHIVE_WARN: failed).
 */
struct archive;
struct archive_entry;
struct archive *bx_disk_new(void);
int bx_extract_entry(struct archive *a, struct archive *disk,
		     struct archive_entry *e);

/* bx_rm_rf - remove PATH and everything below it (no error if absent). */
void bx_rm_rf(const char *path);

#endif
