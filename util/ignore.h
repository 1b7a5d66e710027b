/*
 * ignore.h - ignore-pattern lists with gitignore's rules.
 *
 * A list is compiled from the text of one .gitignore (or .dockerignore)
 * and the directory it lives in; matching takes a path relative to the
 * top of the tree and says whether the list excludes it, re-includes it
 * (a "!" pattern) or has no opinion.  The rules are git's
 * (gitignore(5)): blank lines and "#" comments; trailing spaces dropped
 * unless escaped with "\"; "\" escapes any character; "!" negates, the
 * last matching pattern wins; a pattern with a slash at its start or
 * middle is anchored at the list's directory, one without matches a
 * name at any depth below it; a trailing "/" matches directories only;
 * "*", "?" and "[...]" (ranges, "!"/"^" negation, "[:alpha:]" classes)
 * never match a slash; "**" matches across directories in leading
 * ("**" "/foo"), trailing ("foo/" "**") and middle ("a/" "**" "/b")
 * positions, and is a plain "*" elsewhere.
 *
 * git never looks inside an excluded directory, so a file below one
 * cannot be re-included.  util_ignore_match() judges one path alone, for
 * walkers that do not descend into excluded directories; util_ignore_check()
 * judges a path as git check-ignore does, looking at its parents first.
 *
 * The text is untrusted: its size is capped by UTIL_IGNORE_TEXT_MAX and
 * the number of patterns by UTIL_IGNORE_PATTERNS_MAX.
 *
 * Threads: a compiled list is read-only; any number of threads may match
 * against it at once.
 */
#ifndef GOVC_UTIL_IGNORE_H
#define GOVC_UTIL_IGNORE_H

#include <stddef.h>

#define UTIL_IGNORE_TEXT_MAX (1024 * 1024)
#define UTIL_IGNORE_PATTERNS_MAX 65536

/* how patterns are read */
enum {
	/*
	 * .dockerignore: every pattern is anchored at the list's directory
	 * (the build context's root), "foo" matching only the top-level foo.
	 */
	UTIL_IGNORE_ANCHORED = 1 << 0,
};

/* what a list says of a path */
enum util_ignore_verdict {
	UTIL_IGNORE_NONE = 0,		/* no pattern matches */
	UTIL_IGNORE_EXCLUDED = 1,	/* the last matching pattern excludes */
	UTIL_IGNORE_INCLUDED = 2,	/* the last matching pattern is a "!" */
};

struct util_ignore;

/*
 * util_ignore_compile - compile the LEN bytes of TEXT (a .gitignore's
 * body; need not be NUL-terminated) into *OUT.  BASE is the directory the
 * list applies below, relative to the top, without slashes at either end
 * ("" or NULL for the top); it is copied.  FLAGS: UTIL_IGNORE_*.
 *
 * Returns 0; -EFBIG if TEXT is longer than UTIL_IGNORE_TEXT_MAX or holds
 * more than UTIL_IGNORE_PATTERNS_MAX patterns; -ENOMEM.  On an error *OUT
 * is NULL.  A list with no patterns is valid and says nothing.
 *
 * Ownership: *OUT is the caller's, freed with util_ignore_free().
 */
int util_ignore_compile(struct util_ignore **out, const char *text, size_t len, const char *base,
			unsigned flags);

/* util_ignore_free - free IG (NULL is fine). */
void util_ignore_free(struct util_ignore *ig);

/* util_ignore_count - how many patterns IG holds. */
size_t util_ignore_count(const struct util_ignore *ig);

/*
 * util_ignore_match - what IG's last matching pattern says of PATH (its
 * parents not considered).  PATH is relative to the top, without slashes
 * at either end; IS_DIR says whether it names a directory.  Paths not
 * below IG's base get UTIL_IGNORE_NONE.  Cannot fail.
 */
enum util_ignore_verdict util_ignore_match(const struct util_ignore *ig, const char *path,
					   int is_dir);

/*
 * util_ignore_check - what IG says of PATH as git check-ignore judges it:
 * UTIL_IGNORE_EXCLUDED if IG excludes any directory PATH lies in,
 * otherwise util_ignore_match()'s verdict.  Arguments as for
 * util_ignore_match().
 */
enum util_ignore_verdict util_ignore_check(const struct util_ignore *ig, const char *path,
					   int is_dir);

/*
 * util_wildmatch - does the glob PATTERN match all of TEXT, with the
 * pattern language above ("*", "?" and classes not matching "/", "**"
 * across directories)?  Returns 1 or 0.
 */
int util_wildmatch(const char *pattern, const char *text);

#endif
