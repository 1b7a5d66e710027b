/*
 * oci_int.h - what the transports of oci/ share: small-file helpers for
 * untrusted input and atomic output; progress rows, job counts and known
 * locations for the registry's pulls and pushes.  Nothing here is used
 * outside oci/.
 */
#ifndef GOVC_OCI_INT_H_
#define GOVC_OCI_INT_H_

#include <pthread.h>
#include <stddef.h>
#include <time.h>
#include "oci/oci.h"
#include "oci/registry.h"

#define COPY_BUF (256u << 10)	/* one read or write of a blob */

/*
 * oci_read_capped - the whole of file NAME (relative to DIRFD) if it is at
 * most MAX bytes, in a malloc'd NUL-terminated buffer owned by the caller;
 * -EFBIG naming WHAT if larger.
 */
int oci_read_capped(int dirfd, const char *name, size_t max, const char *what,
		    char **out, size_t *len);

/* oci_write_all - write LEN bytes to FD, retrying short writes; -errno. */
int oci_write_all(int fd, const void *buf, size_t len);

/*
 * oci_write_file_atomic - NAME (in DIRFD) := DATA, through a temporary
 * name and a rename, so a reader never sees half of it.  WHERE names the
 * directory in messages.
 */
int oci_write_file_atomic(int dirfd, const char *name, const void *data,
			  size_t len, const char *where);

/*
 * oci_export_begin - a read transaction *T on S and the image NAME:TAG
 * points at (*M, *INFO); on error no transaction is left open.
 */
int oci_export_begin(struct store *s, const char *name, const char *tag,
		     struct store_txn **t, struct oci_digest *m,
		     struct oci_image_info *info);

/* ---- what pulls and pushes share (transfer.c) ---------------------------- */

/*
 * Progress rows (struct oci_progress) for a transfer's threads: row
 * numbers, and calls to the callback one at a time.  LOCK is a leaf:
 * nothing else is taken while it is held, and no store call is made.
 */
struct oci_rows {
	const struct oci_progress *cb;	/* NULL: none; set before threads start */
	pthread_mutex_t lock;
	unsigned n;			/* protected by lock: rows so far */
};

void oci_rows_init(struct oci_rows *rs, const struct oci_progress *cb);
void oci_rows_release(struct oci_rows *rs);

/* oci_rows_new - the number of a row about to be shown */
unsigned oci_rows_new(struct oci_rows *rs);

/* oci_rows_report - tell the callback where row ROW stands; any thread */
void oci_rows_report(struct oci_rows *rs, unsigned row, const char *label,
		     uint64_t size, uint64_t got, enum oci_row_state state,
		     double seconds, const char *note);

/*
 * A row whose blob is moving, the registry watcher's argument
 * (oci_registry_watch(r, cancel, oci_row_moved, mover)): reported as it
 * moves, at most every 100 ms.  Belongs to the thread moving the blob.
 */
struct oci_row_mover {
	struct oci_rows *rs;
	unsigned row;
	const char *label;		/* borrowed until the blob has moved */
	uint64_t size;
	struct timespec t0;
	uint64_t last_ms;
};

/* oci_row_start - row ROW starts moving now (reported at 0 bytes) */
void oci_row_start(struct oci_row_mover *m, struct oci_rows *rs, unsigned row,
		   const char *label, uint64_t size);
void oci_row_moved(void *arg, uint64_t got);
/* oci_row_seconds - since oci_row_start */
double oci_row_seconds(const struct oci_row_mover *m);

/* oci_jobs_wanted - RO->jobs, else $ENV, else REG_JOBS_DEFAULT, in range */
unsigned oci_jobs_wanted(const struct oci_registry_opts *ro, const char *env);

/* oci_short_label - "KIND I/N sha256:0123456789ab" (N 0: no "I/N") */
void oci_short_label(char *out, size_t len, const char *kind, unsigned i,
		     unsigned n, const struct oci_digest *d);

/*
 * oci_locations_record - in one short write transaction of S, record the
 * N blobs D as seen in REPO of HOST (oci_blob_location_add; blobs the
 * store lacks are passed over).  A hint: a failure (a read-only store)
 * is returned but no caller need fail for it.
 */
int oci_locations_record(struct store *s, const char *host, const char *repo,
			 const struct oci_digest *d, unsigned n);

#endif
