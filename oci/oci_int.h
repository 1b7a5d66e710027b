/*
 * oci_int.h - what the transports of oci/ share: small-file helpers for
 * untrusted input and atomic output.  Nothing here is used outside oci/.
 */
#ifndef GOVC_OCI_INT_H_
#define GOVC_OCI_INT_H_

#include <stddef.h>
#include "oci/oci.h"

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

#endif
