/*
 * ignore.c - gitignore pattern lists.  See ignore.h.
 *
 * A list is an array of rules in file order; matching walks it backwards
 * and stops at the first rule that matches (git's "last match wins").
 * Patterns are kept as written, minus the "!", the leading and trailing
 * "/" and the trailing spaces, with their "\" escapes, which the matcher
 * reads.  The matcher (wildmatch) follows git's wildmatch.c in what it
 * accepts; it recurses once per "*" in the pattern, and gives up on a
 * whole branch (ABORT_ALL) once the text is too short for the rest of the
 * pattern, which keeps "a*a*a*a*b" against long names from going
 * exponential.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/array.h"
#include "util/ignore.h"

enum {
	RULE_NEGATE = 1 << 0,	/* "!pattern" */
	RULE_DIR_ONLY = 1 << 1,	/* "pattern/" */
	RULE_BASENAME = 1 << 2,	/* no slash: matches the last component */
};

struct rule {
	char *pattern;
	unsigned flags;
};

struct util_ignore {
	struct util_array rules;	/* of struct rule, in file order */
	char *base;			/* "" for the top */
	size_t base_len;
};

/* ---- wildmatch ---------------------------------------------------------- */

enum { WM_MATCH, WM_NOMATCH, WM_ABORT_ALL, WM_ABORT_TO_STARSTAR };

/* class_named - does C belong to the [:NAME:] class of LEN bytes at NAME?
 * -1 for an unknown class name */
static int class_named(const char *name, size_t len, unsigned char c)
{
	static const struct {
		const char *name;
		int (*is)(int);
	} classes[] = {
		{ "alnum", isalnum }, { "alpha", isalpha }, { "blank", isblank },
		{ "cntrl", iscntrl }, { "digit", isdigit }, { "graph", isgraph },
		{ "lower", islower }, { "print", isprint }, { "punct", ispunct },
		{ "space", isspace }, { "upper", isupper }, { "xdigit", isxdigit },
	};

	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strlen(classes[i].name) == len && !memcmp(classes[i].name, name, len))
			return classes[i].is(c) != 0;
	return -1;
}

/*
 * bracket - match T against the "[...]" at *PP (pointing at the "[").
 * Leaves *PP at the closing "]".  Returns WM_MATCH, WM_NOMATCH or
 * WM_ABORT_ALL for an unterminated or malformed class.
 */
static int bracket(const unsigned char **pp, unsigned char t)
{
	const unsigned char *p = *pp + 1;
	unsigned char c = *p, prev = 0;
	int negated = 0, matched = 0;

	if (c == '!' || c == '^') {
		negated = 1;
		c = *++p;
	}
	do {	/* a "]" first is a member, not the end */
		if (!c)
			return WM_ABORT_ALL;
		if (c == '\\') {
			c = *++p;
			if (!c)
				return WM_ABORT_ALL;
			matched |= t == c;
		} else if (c == '-' && prev && p[1] && p[1] != ']') {
			c = *++p;
			if (c == '\\' && !(c = *++p))
				return WM_ABORT_ALL;
			matched |= t >= prev && t <= c;
			c = 0;	/* a range ends: no "a-b-c" */
		} else if (c == '[' && p[1] == ':') {
			const unsigned char *name = p + 2, *end = name;
			int in;
			while (*end && *end != ']')
				end++;
			if (!*end)
				return WM_ABORT_ALL;
			if (end == name || end[-1] != ':') {
				matched |= t == '[';	/* not a class: a plain "[" */
				prev = c;
				c = *++p;
				continue;
			}
			in = class_named((const char *)name, (size_t)(end - 1 - name), t);
			if (in < 0)
				return WM_ABORT_ALL;
			matched |= in;
			p = end;
			c = 0;
		} else {
			matched |= t == c;
		}
		prev = c;
		c = *++p;
	} while (c != ']');
	*pp = p;
	return matched != negated && t != '/' ? WM_MATCH : WM_NOMATCH;
}

/* wildmatch - match pattern P (from START, NUL-terminated) against the
 * bytes from TEXT to END */
static int wildmatch(const unsigned char *p, const unsigned char *text, const unsigned char *end,
		     const unsigned char *start)
{
	for (; *p; text++, p++) {
		unsigned char t = text < end ? *text : '\0';
		int match_slash, rc;

		if (!t && *p != '*')
			return WM_ABORT_ALL;
		switch (*p) {
		case '\\':
			if (t != *++p)	/* a trailing "\" matches nothing */
				return WM_NOMATCH;
			continue;
		default:
			if (t != *p)
				return WM_NOMATCH;
			continue;
		case '?':
			if (t == '/')
				return WM_NOMATCH;
			continue;
		case '[':
			rc = bracket(&p, t);
			if (rc != WM_MATCH)
				return rc;
			continue;
		case '*':
			break;
		}
		/* a run of stars: "**" between slashes (or the ends) crosses them */
		match_slash = 0;
		if (*++p == '*') {
			const unsigned char *before = p - 2;
			while (*++p == '*')
				;
			if ((before < start || *before == '/') &&
			    (!*p || *p == '/' || (p[0] == '\\' && p[1] == '/'))) {
				if (*p == '/' && wildmatch(p + 1, text, end, start) == WM_MATCH)
					return WM_MATCH;	/* "**" + "/" as no directory */
				match_slash = 1;
			}
		}
		if (!*p) {	/* the stars end the pattern */
			if (!match_slash && memchr(text, '/', (size_t)(end - text)))
				return WM_NOMATCH;
			return WM_MATCH;
		}
		if (!match_slash && *p == '/') {	/* "*" + "/": to the next slash */
			const unsigned char *slash = memchr(text, '/', (size_t)(end - text));
			if (!slash)
				return WM_NOMATCH;
			text = slash;
			continue;	/* the loop steps over both slashes */
		}
		for (; text < end; text++) {
			rc = wildmatch(p, text, end, start);
			if (rc != WM_NOMATCH) {
				if (!match_slash || rc != WM_ABORT_TO_STARSTAR)
					return rc;
			} else if (!match_slash && *text == '/') {
				return WM_ABORT_TO_STARSTAR;
			}
		}
		return WM_ABORT_ALL;
	}
	return text < end ? WM_NOMATCH : WM_MATCH;
}

static int wildmatch_len(const char *pattern, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)pattern, *t = (const unsigned char *)text;

	return wildmatch(p, t, t + len, p) == WM_MATCH;
}

int util_wildmatch(const char *pattern, const char *text)
{
	return wildmatch_len(pattern, text, strlen(text));
}

/* ---- compiling ---------------------------------------------------------- */

/* trailing spaces go unless "\"-escaped (an odd run of backslashes) */
static size_t trim_trailing_spaces(const char *s, size_t len)
{
	while (len && s[len - 1] == ' ') {
		size_t bs = 0;
		while (bs < len - 1 && s[len - 2 - bs] == '\\')
			bs++;
		if (bs % 2)
			break;
		len--;
	}
	return len;
}

/* add_rule - the pattern of one line S of LEN bytes (no newline) */
static int add_rule(struct util_ignore *ig, const char *s, size_t len, unsigned flags)
{
	unsigned rf = 0;
	struct rule *r;

	if (len && s[len - 1] == '\r')
		len--;
	len = trim_trailing_spaces(s, len);
	if (!len || s[0] == '#')
		return 0;
	if (s[0] == '!') {
		rf |= RULE_NEGATE;
		s++;
		len--;
	}
	if (len && s[len - 1] == '/') {
		rf |= RULE_DIR_ONLY;
		while (len && s[len - 1] == '/')
			len--;
	}
	if (!memchr(s, '/', len) && !(flags & UTIL_IGNORE_ANCHORED))
		rf |= RULE_BASENAME;
	if (len && s[0] == '/') {
		s++;
		len--;
	}
	if (!len)
		return 0;	/* "/" or "!": nothing to match */
	if (util_array_len(&ig->rules) == UTIL_IGNORE_PATTERNS_MAX)
		return -EFBIG;
	r = UTIL_ARRAY_PUSH(&ig->rules, struct rule);
	if (!r)
		return -ENOMEM;
	r->flags = rf;
	r->pattern = strndup(s, len);
	if (!r->pattern) {
		ig->rules.len--;
		return -ENOMEM;
	}
	return 0;
}

int util_ignore_compile(struct util_ignore **out, const char *text, size_t len, const char *base,
			unsigned flags)
{
	struct util_ignore *ig;
	const char *p = text, *end = text + len;
	int rc = 0;

	*out = NULL;
	if (len > UTIL_IGNORE_TEXT_MAX)
		return -EFBIG;
	ig = calloc(1, sizeof(*ig));
	if (!ig)
		return -ENOMEM;
	util_array_init(&ig->rules, sizeof(struct rule));
	ig->base = strdup(base ? base : "");
	if (!ig->base) {
		free(ig);
		return -ENOMEM;
	}
	ig->base_len = strlen(ig->base);
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;		/* a UTF-8 byte order mark, as git skips it */
	while (rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		rc = add_rule(ig, p, l, flags);
		p += l + (nl ? 1 : 0);
	}
	if (rc) {
		util_ignore_free(ig);
		return rc;
	}
	*out = ig;
	return 0;
}

void util_ignore_free(struct util_ignore *ig)
{
	if (!ig)
		return;
	UTIL_ARRAY_FOREACH(&ig->rules, struct rule, r)
		free(r->pattern);
	util_array_release(&ig->rules);
	free(ig->base);
	free(ig);
}

size_t util_ignore_count(const struct util_ignore *ig)
{
	return util_array_len(&ig->rules);
}

/* ---- matching ----------------------------------------------------------- */

/* match - util_ignore_match of the LEN bytes at PATH */
static enum util_ignore_verdict match(const struct util_ignore *ig, const char *path, size_t len,
				      int is_dir)
{
	const char *rel = path, *name;
	size_t rel_len = len;

	if (ig->base_len) {
		if (len <= ig->base_len + 1 || memcmp(path, ig->base, ig->base_len) ||
		    path[ig->base_len] != '/')
			return UTIL_IGNORE_NONE;
		rel = path + ig->base_len + 1;
		rel_len = len - ig->base_len - 1;
	}
	name = memrchr(rel, '/', rel_len);
	name = name ? name + 1 : rel;
	for (size_t i = util_array_len(&ig->rules); i-- > 0;) {
		const struct rule *r = UTIL_ARRAY_AT(&ig->rules, struct rule, i);
		int m;
		if ((r->flags & RULE_DIR_ONLY) && !is_dir)
			continue;
		if (r->flags & RULE_BASENAME)
			m = wildmatch_len(r->pattern, name, rel_len - (size_t)(name - rel));
		else
			m = wildmatch_len(r->pattern, rel, rel_len);
		if (m)
			return (r->flags & RULE_NEGATE) ? UTIL_IGNORE_INCLUDED
							: UTIL_IGNORE_EXCLUDED;
	}
	return UTIL_IGNORE_NONE;
}

enum util_ignore_verdict util_ignore_match(const struct util_ignore *ig, const char *path,
					   int is_dir)
{
	return match(ig, path, strlen(path), is_dir);
}

enum util_ignore_verdict util_ignore_check(const struct util_ignore *ig, const char *path,
					   int is_dir)
{
	for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
		if (match(ig, path, (size_t)(s - path), 1) == UTIL_IGNORE_EXCLUDED)
			return UTIL_IGNORE_EXCLUDED;
	return match(ig, path, strlen(path), is_dir);
}
