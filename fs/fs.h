/*
 * fs.h - the govc FUSE daemon: serves a store as the tree of DESIGN.md.
 */
#ifndef GOVC_FS_H
#define GOVC_FS_H

/* FUSE mounts get the kernel's 128 KiB read-ahead: too little to keep a
 * cold sequential read of a large file streaming (docs/architecture.md) */
#define FS_READAHEAD_KB 4096

struct fs_options {
	const char *store_dir;		/* absolute path */
	const char *mountpoint;
	const char *fuse_opts;		/* extra -o options for libfuse, or NULL */
	unsigned commit_delay_ms;	/* quiet time before a commit (1000) */
	unsigned commit_max_ms;		/* longest a change waits (5000) */
	int writeback;			/* kernel writeback cache (0) */
	int no_builds;			/* commits queue no builds (0) */
	unsigned readahead_kb;		/* the mount's read-ahead, 0: the kernel's */
	unsigned long events_max_kb;	/* event log kept, 0: as the store says */
	unsigned long events_max_days;	/* events kept, 0: as the store says */
	int foreground;			/* stay attached, log to stderr */
	int ready_fd;			/* write "ok\n" or an error here, or -1 */
};

/*
 * fs_parse_option - consume govc's own mount option OPT ("commit_delay=MS",
 * "commit_max=MS", "readahead=KB", "writeback", "no_writeback", "builds",
 * "no_builds",
 * "events_max_kb=KB", "events_max_days=DAYS") into O.
 * Returns 1 if consumed, 0 if it is a libfuse option, -1 if malformed.
 */
int fs_parse_option(struct fs_options *o, const char *opt);

/*
 * fs_run - open the store, mount it and serve until unmounted, then commit
 * what is pending and close the store.  Reports readiness or the first
 * error on O->ready_fd.  Returns the process exit status.
 * Threads: starts libfuse's worker threads and one committer thread.
 */
int fs_run(const struct fs_options *o);

#endif
