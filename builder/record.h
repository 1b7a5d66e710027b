/*
 * record.h - the files of a build's record, STORE/builds/<repo>/<n>/
 * (build.h, "Records"; docs/formats.md, "Build records"), for those who
 * write them (the build, the daemon's queue) and read them (the builds/
 * view).  bld_record_create and bld_record_dir are declared in build.h
 * (bld_record_create is here, in record.c; bld_record_dir in build.c).
 *
 * Every file but the log is replaced whole by rename, so a reader sees
 * the old text or the new one, never a mix: a temporary ".NAME.PID.tmp"
 * in the record's directory, renamed over NAME.  Names starting with "."
 * are no part of a record.  Nothing is fsync'd: a record says what a
 * build did, and the store does not depend on it.
 *
 * Threads and processes: any; the directory is the only shared state.
 * Claims of a new n are atomic across processes (mkdir); each file has
 * one writer at a time (the daemon until it starts the build, then the
 * build; the daemon again only once the build's process has ended).
 */
#ifndef GOVC_BUILDER_RECORD_H
#define GOVC_BUILDER_RECORD_H

#include <stddef.h>

struct store;

/* the files of a record (build.h) */
#define BLD_RECORD_STATUS "status"
#define BLD_RECORD_COMMIT "commit"
#define BLD_RECORD_GOVCFILE "govcfile"
#define BLD_RECORD_LOG "log"
#define BLD_RECORD_IMAGE "image"
#define BLD_RECORD_ERROR "error"

/*
 * bld_record_path - STORE/builds, STORE/builds/REPO (N 0),
 * STORE/builds/REPO/N (FILE NULL) or STORE/builds/REPO/N/FILE into BUF
 * (LEN bytes).  REPO NULL stops at STORE/builds.  Returns 0, -EINVAL for
 * a REPO that cannot name a repository or a FILE holding "/" or starting
 * with ".", -ENAMETOOLONG.
 */
int bld_record_path(struct store *s, const char *repo, unsigned n, const char *file,
		    char *buf, size_t len);

/*
 * bld_record_put - replace FILE of record REPO/N with the LEN bytes at
 * TEXT (see above).  Returns 0 or a negative errno with a message
 * (store_errmsg) naming the file.
 */
int bld_record_put(struct store *s, const char *repo, unsigned n, const char *file,
		   const char *text, size_t len);

/*
 * bld_record_get - the first line of FILE of record REPO/N into BUF (LEN
 * bytes, NUL-terminated, without its newline; cut to fit).  Returns 0,
 * -ENOENT if the file is absent, or a negative errno with a message.
 */
int bld_record_get(struct store *s, const char *repo, unsigned n, const char *file,
		   char *buf, size_t len);

/*
 * bld_record_prune - remove the records of REPO older than its KEEP
 * newest ones (by number), but never one whose status is not final
 * ("succeeded" or "failed": a queued or running build keeps its record).
 * bld_record_create calls it with BLD_RECORDS_KEEP after each new record.
 * Returns 0 or a negative errno with a message (what could not be read;
 * a record that cannot be removed is left for the next time).
 */
#define BLD_RECORDS_KEEP 100
int bld_record_prune(struct store *s, const char *repo, unsigned keep);

/*
 * bld_record_number - N if NAME is a record's directory name (a decimal
 * number from 1, no leading zero, at most BLD_RECORD_MAX), else 0.
 */
#define BLD_RECORD_MAX 999999999u
unsigned bld_record_number(const char *name);

#endif
