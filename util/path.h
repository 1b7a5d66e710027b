/*
 * path.h - walking, joining and normalising slash-separated relative
 * paths, as trees, tar headers, Govcfiles and ignore files give them.
 *
 * Paths from such places are untrusted: a caller says what it accepts
 * (empty components, ".", "..", a leading slash) with UTIL_PATH_* flags
 * and how long and deep a path may be with struct util_path_limits, and
 * everything else is refused with a negative errno.  Nothing here touches
 * the filesystem or allocates, except into a caller's util_buf.
 *
 * Threads: no state; any thread.
 */
#ifndef GOVC_UTIL_PATH_H
#define GOVC_UTIL_PATH_H

#include <stddef.h>

#include "util/buf.h"

/* what a path may hold beyond plain names; refused (-EINVAL) otherwise */
enum {
	UTIL_PATH_SKIP_EMPTY = 1 << 0,	/* "a//b", "a/", "./a", "a/./b": skip */
	UTIL_PATH_ALLOW_DOTDOT = 1 << 1,	/* ".." is returned as a component */
	UTIL_PATH_ALLOW_ABSOLUTE = 1 << 2,	/* leading slashes are skipped */
};

/* limits on a path; 0 is "no limit" */
struct util_path_limits {
	size_t max_len;		/* bytes in the whole path */
	size_t max_name;	/* bytes in one component */
	size_t max_depth;	/* components */
};

/*
 * util_path_next - the next component of the path at *CURSOR: *NAME and
 * *LEN get it (borrowed from the path, not NUL-terminated) and *CURSOR
 * moves past it.  FLAGS as above, applied to this component; start with
 * *CURSOR at the path (a leading slash is refused unless
 * UTIL_PATH_ALLOW_ABSOLUTE).  Limits are util_path_split's business.
 *
 * Returns 1 for a component, 0 at the end, -EINVAL for a component the
 * flags refuse ("", ".", ".." or a leading slash).
 */
int util_path_next(const char **cursor, const char **name, size_t *len, unsigned flags);

/* one component of a split path: borrowed from the path that was split */
struct util_path_part {
	const char *name;	/* not NUL-terminated */
	size_t len;
};

/*
 * util_path_split - the components of PATH in order, into OUT (capacity
 * MAX_PARTS; *N gets how many).  FLAGS and LIMITS (NULL: none) as above.
 * The parts point into PATH, which must outlive them.
 *
 * Returns 0; -EINVAL for a component the flags refuse; -ENAMETOOLONG if
 * PATH, a component, or the number of components passes a limit or
 * MAX_PARTS.  Nothing is allocated.
 */
int util_path_split(struct util_path_part *out, size_t max_parts, size_t *n, const char *path,
		    unsigned flags, const struct util_path_limits *limits);

/*
 * util_path_join - append NAME to the path in OUT, with a slash between
 * unless OUT is empty or ends in one.  NAME is taken as it is (a caller
 * checks it first).  Returns 0, or util_buf_add's errors (-EFBIG past
 * OUT's maximum, -ENOMEM); on an error OUT is left as it was.
 */
int util_path_join(struct util_buf *out, const char *name, size_t len);

/*
 * util_path_normalize - append to OUT the plain form of PATH: no empty or
 * "." components, ".." resolved against the component before it, no
 * leading or trailing slash; "" for the top.  FLAGS and LIMITS (NULL:
 * none) as for util_path_split; with UTIL_PATH_ALLOW_DOTDOT a ".." that
 * would climb above the top is still refused (-EINVAL).
 *
 * Returns 0; -EINVAL, -ENAMETOOLONG as util_path_split; -EFBIG, -ENOMEM
 * from OUT.  On an error OUT is left as it was.
 */
int util_path_normalize(struct util_buf *out, const char *path, unsigned flags,
			const struct util_path_limits *limits);

#endif
