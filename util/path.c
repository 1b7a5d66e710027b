/*
 * path.c - slash-separated relative paths.  See path.h.
 *
 * Everything works on the bytes as given: no locale, no filesystem, no
 * allocation but into a caller's util_buf.  A component is the bytes
 * between slashes; NUL ends the path.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "util/path.h"

int util_path_next(const char **cursor, const char **name, size_t *len, unsigned flags)
{
	const char *p = *cursor;

	if (*p == '/') {
		if (!(flags & (UTIL_PATH_ALLOW_ABSOLUTE | UTIL_PATH_SKIP_EMPTY)))
			return -EINVAL;
		while (*p == '/')
			p++;
	}
	for (;;) {
		const char *s = p;
		size_t n;

		if (!*p) {
			*cursor = p;
			return 0;
		}
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (*p == '/') {
			p++;
			if (!*p && !(flags & UTIL_PATH_SKIP_EMPTY))
				return -EINVAL;	/* a trailing slash: an empty last name */
			if (*p == '/' && !(flags & UTIL_PATH_SKIP_EMPTY))
				return -EINVAL;
			while (*p == '/')
				p++;
		}
		if (n == 1 && s[0] == '.') {
			if (!(flags & UTIL_PATH_SKIP_EMPTY))
				return -EINVAL;
			continue;
		}
		if (n == 2 && s[0] == '.' && s[1] == '.' && !(flags & UTIL_PATH_ALLOW_DOTDOT))
			return -EINVAL;
		*name = s;
		*len = n;
		*cursor = p;
		return 1;
	}
}

int util_path_split(struct util_path_part *out, size_t max_parts, size_t *n, const char *path,
		    unsigned flags, const struct util_path_limits *limits)
{
	static const struct util_path_limits none;
	const struct util_path_limits *lim = limits ? limits : &none;
	const char *cur = path, *name;
	size_t len;
	int rc;

	*n = 0;
	if (lim->max_len && strlen(path) > lim->max_len)
		return -ENAMETOOLONG;
	while ((rc = util_path_next(&cur, &name, &len, flags)) == 1) {
		if (lim->max_name && len > lim->max_name)
			return -ENAMETOOLONG;
		if (*n == max_parts || (lim->max_depth && *n == lim->max_depth))
			return -ENAMETOOLONG;
		out[*n].name = name;
		out[*n].len = len;
		(*n)++;
	}
	return rc;
}

int util_path_join(struct util_buf *out, const char *name, size_t len)
{
	size_t was = out->len;
	int rc = 0;

	if (out->len && out->ptr[out->len - 1] != '/')
		rc = util_buf_add(out, "/", 1);
	if (rc == 0)
		rc = util_buf_add(out, name, len);
	if (rc && out->ptr) {
		out->len = was;
		out->ptr[was] = '\0';
	}
	return rc;
}

int util_path_normalize(struct util_buf *out, const char *path, unsigned flags,
			const struct util_path_limits *limits)
{
	static const struct util_path_limits none;
	const struct util_path_limits *lim = limits ? limits : &none;
	const char *cur = path, *name;
	size_t was = out->len, len, depth = 0;
	int rc;

	if (lim->max_len && strlen(path) > lim->max_len)
		return -ENAMETOOLONG;
	while ((rc = util_path_next(&cur, &name, &len, flags)) == 1) {
		if (lim->max_name && len > lim->max_name) {
			rc = -ENAMETOOLONG;
			break;
		}
		if (len == 2 && name[0] == '.' && name[1] == '.') {
			char *slash;
			if (!depth) {
				rc = -EINVAL;	/* above the top */
				break;
			}
			depth--;
			out->ptr[out->len] = '\0';
			slash = strrchr(out->ptr + was, '/');
			out->len = slash ? (size_t)(slash - out->ptr) : was;
			out->ptr[out->len] = '\0';
			continue;
		}
		if (lim->max_depth && depth == lim->max_depth) {
			rc = -ENAMETOOLONG;
			break;
		}
		if (depth && (rc = util_buf_add(out, "/", 1)) != 0)
			break;
		if ((rc = util_buf_add(out, name, len)) != 0)
			break;
		depth++;
	}
	if (rc && out->ptr) {
		out->len = was;
		out->ptr[was] = '\0';
	}
	return rc;
}
