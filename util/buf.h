/*
 * buf.h - a size-capped growable byte buffer, after curl's dynbuf.
 *
 * For anything built from untrusted input (tar headers, JSON, commit
 * messages, paths from a tree): every buffer is given a maximum size when
 * it is initialised, and an append that would pass it fails with -EFBIG
 * instead of growing without bound.  The content is always NUL-terminated,
 * so text can be handed on as a C string; binary content may hold NULs.
 *
 * Threads: a buffer belongs to one thread at a time; no locking inside.
 */
#ifndef GOVC_UTIL_BUF_H
#define GOVC_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct util_buf {
	char *ptr;	/* NULL until the first append; then len + 1 bytes valid */
	size_t len;	/* bytes held, not counting the terminating NUL */
	size_t cap;	/* bytes allocated at ptr */
	size_t max;	/* the most bytes it may hold, the NUL not counted */
};

/* a buffer of MAX bytes at the most, ready to use without util_buf_init */
#define UTIL_BUF_INIT(max) { NULL, 0, 0, (max) }

/*
 * util_buf_init - make B an empty buffer that holds at most MAX bytes
 * (MAX > 0).  Allocates nothing; cannot fail.
 */
void util_buf_init(struct util_buf *b, size_t max);

/*
 * util_buf_release - free B's memory and leave it empty, with the same
 * maximum, ready for reuse.  B may be empty already.
 */
void util_buf_release(struct util_buf *b);

/*
 * util_buf_reset - empty B but keep its memory for the next appends.
 */
void util_buf_reset(struct util_buf *b);

/*
 * util_buf_add - append LEN bytes at DATA (which may hold NULs; DATA may
 * be NULL when LEN is 0).
 *
 * Returns 0; -EFBIG if B would hold more than its maximum, -ENOMEM.  On an
 * error B is left as it was (still valid, still to be released).
 */
int util_buf_add(struct util_buf *b, const void *data, size_t len);

/* util_buf_adds - util_buf_add of the C string S (without its NUL). */
int util_buf_adds(struct util_buf *b, const char *s);

/*
 * util_buf_addf - append the text printf would make of FMT and its
 * arguments.  Returns as util_buf_add; -EINVAL if FMT cannot be formatted.
 * On an error B is left as it was.
 */
int util_buf_addf(struct util_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* util_buf_vaddf - util_buf_addf with a va_list. */
int util_buf_vaddf(struct util_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * util_buf_str - B's content as a C string: "" while empty.  Borrowed:
 * valid until the next change to B.
 */
const char *util_buf_str(const struct util_buf *b);

/* util_buf_len - how many bytes B holds. */
static inline size_t util_buf_len(const struct util_buf *b)
{
	return b->len;
}

/*
 * util_buf_detach - take B's content away as a NUL-terminated string that
 * the caller frees with free(); B is left empty.  Returns NULL (and sets
 * nothing) if B never held anything: the caller then owns no memory.
 * *LEN (if LEN is not NULL) gets the content's length.
 */
char *util_buf_detach(struct util_buf *b, size_t *len);

#endif
