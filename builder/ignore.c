/*
 * ignore.c - .dockerignore and .govcignore with Docker's rules (moby's
 * patternmatcher): each pattern is cleaned as a path and anchored at the
 * context's root; it excludes what it matches and everything below; "!"
 * patterns are exceptions; the last matching pattern wins.
 *
 * The patterns are matched with util/ignore's glob (util_wildmatch: "*"
 * and "?" within a name, "**" across directories), but not with a compiled
 * util_ignore list: git never re-includes a path below an excluded
 * directory, Docker does ("dir" then "!dir/keep" keeps dir/keep), so each
 * pattern is tried against the path and each of its parents, from the
 * last pattern back, and the first that matches decides.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "builder/govcfile.h"
#include "util/array.h"
#include "util/ignore.h"

struct pattern {
	char *glob;		/* cleaned, no leading "!" */
	int exception;
};

struct bld_ignore {
	struct util_array patterns;	/* of struct pattern, in file order */
};

/* clean P in place as Go's filepath.Clean would, then drop a leading "/" */
static void clean_path(char *p)
{
	char *out = p, *r = p;
	int rooted = *p == '/';
	size_t keep = 0;	/* bytes of OUT that ".." may not pop */

	if (rooted)
		r++;
	while (*r) {
		char *end = strchr(r, '/');
		size_t n = end ? (size_t)(end - r) : strlen(r);

		if (n == 0 || (n == 1 && r[0] == '.')) {
			/* skip */
		} else if (n == 2 && r[0] == '.' && r[1] == '.') {
			if ((size_t)(out - p) > keep) {
				while (out > p + keep && out[-1] != '/')
					out--;
				if (out > p + keep)
					out--;
			} else if (!rooted) {
				if (out > p)
					*out++ = '/';
				memcpy(out, "..", 2);
				out += 2;
				keep = (size_t)(out - p);
			}
		} else {
			if (out > p)
				*out++ = '/';
			memmove(out, r, n);
			out += n;
		}
		r += n;
		if (*r == '/')
			r++;
	}
	*out = '\0';
	if (!*p)
		strcpy(p, ".");
}

int bld_ignore_compile(struct bld_ignore **out, const char *text, size_t len)
{
	struct bld_ignore *ig;
	size_t pos = 0;

	*out = NULL;
	if (len > UTIL_IGNORE_TEXT_MAX)
		return -EFBIG;
	ig = calloc(1, sizeof(*ig));
	if (!ig)
		return -ENOMEM;
	util_array_init(&ig->patterns, sizeof(struct pattern));
	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		struct pattern *pt;
		int exception = 0;

		pos += n + (nl != NULL);
		if (n && s[0] == '#')
			continue;
		while (n && strchr(" \t\r\v\f", s[n - 1]))
			n--;
		while (n && strchr(" \t\r\v\f", *s)) {
			s++;
			n--;
		}
		if (n && *s == '!') {
			exception = 1;
			s++;
			n--;
			while (n && strchr(" \t\r\v\f", *s)) {
				s++;
				n--;
			}
		}
		if (!n || memchr(s, '\0', n))
			continue;
		if (util_array_len(&ig->patterns) >= UTIL_IGNORE_PATTERNS_MAX) {
			bld_ignore_free(ig);
			return -EFBIG;
		}
		pt = UTIL_ARRAY_PUSH(&ig->patterns, struct pattern);
		if (!pt || !(pt->glob = strndup(s, n))) {
			bld_ignore_free(ig);
			return -ENOMEM;
		}
		pt->exception = exception;
		clean_path(pt->glob);
		if (pt->glob[0] == '/' && pt->glob[1])
			memmove(pt->glob, pt->glob + 1, strlen(pt->glob));
	}
	*out = ig;
	return 0;
}

void bld_ignore_free(struct bld_ignore *ig)
{
	if (!ig)
		return;
	UTIL_ARRAY_FOREACH(&ig->patterns, struct pattern, pt)
		free(pt->glob);
	util_array_release(&ig->patterns);
	free(ig);
}

/* does GLOB match PATH or one of its parent directories? */
static int matches_or_parent(const char *glob, const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (util_wildmatch(glob, path))
		return 1;
	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, path, n + 1);
	for (char *slash = strrchr(buf, '/'); slash; slash = strrchr(buf, '/')) {
		*slash = '\0';
		if (util_wildmatch(glob, buf))
			return 1;
	}
	return 0;
}

int bld_ignore_excluded(const struct bld_ignore *ig, const char *path)
{
	while (*path == '/')
		path++;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	for (size_t i = util_array_len(&ig->patterns); i-- > 0;) {
		const struct pattern *pt = UTIL_ARRAY_AT(&ig->patterns, struct pattern, i);

		if (matches_or_parent(pt->glob, path))
			return !pt->exception;
	}
	return 0;
}

int bld_ignore_has_exceptions(const struct bld_ignore *ig)
{
	if (!ig)
		return 0;
	UTIL_ARRAY_FOREACH(&ig->patterns, struct pattern, pt)
		if (pt->exception)
			return 1;
	return 0;
}
