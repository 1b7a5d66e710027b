/*
 * values.c - the values inside flags: RUN --mount fields (CSV of
 * key=value, every key BuildKit's parseMount knows, checked as it checks
 * them), sizes ("64m", docker's RAMInBytes), and HEALTHCHECK durations
 * (Go's time.ParseDuration).  The text is untrusted: every number is
 * range-checked, nothing is assumed NUL-free beyond the C string.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "builder/bld_int.h"
#include "util/buf.h"
#include "util/limits.h"

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* ---- RUN --mount -------------------------------------------------------- */

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcmp(v, "t")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcmp(v, "f")) {
		*out = 0;
		return 0;
	}
	return -EINVAL;
}

static int parse_uint(const char *v, int base, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (!*v || *v == '-' || *v == '+' || is_blank(*v))
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, base);
	if (errno || *end || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

/* docker's RAMInBytes: "64m", "1.5g", "512", binary multiples */
static int parse_size(const char *v, uint64_t *out)
{
	static const char units[] = "bkmgtp";
	char *end;
	double n;
	const char *u;
	int shift = 0;

	if (!*v || is_blank(*v) || *v == '-' || *v == '+')
		return -EINVAL;
	n = strtod(v, &end);
	if (end == v || n < 0 || n != n)
		return -EINVAL;
	if (*end) {
		u = strchr(units, tolower((unsigned char)*end));
		if (!u)
			return -EINVAL;
		shift = (int)(u - units) * 10;
		end++;
		if (shift && (*end == 'i' || *end == 'I'))
			end++;
		if (shift && (*end == 'b' || *end == 'B'))
			end++;
		if (*end)
			return -EINVAL;
	}
	n *= (double)(1ULL << shift);
	if (n >= 18446744073709551615.0)
		return -EINVAL;
	*out = (uint64_t)n;
	return 0;
}

#define MOUNT_ERR(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

/* one field of a CSV record: "a,b" quoted with "" for a quote */
static char *csv_field(struct bld_arena *a, const char **sp)
{
	struct util_buf b = UTIL_BUF_INIT(LIMIT_GOVCFILE_INSN_BYTES);
	const char *s = *sp;
	char *out;
	int quoted = 0;

	while (*s && (quoted || *s != ',')) {
		if (*s == '"') {
			if (quoted && s[1] == '"') {
				util_buf_add(&b, "\"", 1);
				s += 2;
				continue;
			}
			quoted = !quoted;
			s++;
			continue;
		}
		util_buf_add(&b, s++, 1);
	}
	*sp = *s ? s + 1 : s;
	out = bld_strndup(a, util_buf_str(&b), util_buf_len(&b));
	util_buf_release(&b);
	return out;
}

/*
 * Parse one --mount value into M.  ENV NULL: as written, at parse time
 * (values holding '$' are checked later, when expanded); else every value
 * is expanded in ENV first.  -EINVAL with a message in ERR.
 */
int bld_mount_parse(struct bld_arena *a, const char *spec, const struct bld_env *env,
		    char escape, struct bld_mount *m, char *err, size_t errlen)
{
	int ro_auto = 1, rc;
	const char *s = spec;

	memset(m, 0, sizeof(*m));
	m->type = BLD_MOUNT_BIND;
	m->from_stage = -1;
	while (*s) {
		char *field = csv_field(a, &s), *key, *value;
		uint64_t n;

		if (!field)
			return a->err;
		key = field;
		value = strchr(field, '=');
		if (value)
			*value++ = '\0';
		for (char *k = key; *k; k++)
			*k = (char)tolower((unsigned char)*k);
		if (!value) {
			if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
				m->readonly = 1;
				ro_auto = 0;
			} else if (!strcmp(key, "readwrite") || !strcmp(key, "rw")) {
				m->readonly = 0;
				ro_auto = 0;
			} else if (!strcmp(key, "required")) {
				m->required = 1;
			} else {
				MOUNT_ERR("invalid field '%s' must be a key=value pair", field);
			}
			continue;
		}
		if (env) {
			char *ex;

			rc = bld_lex(a, value, escape, 0, env, &ex, NULL, err, errlen);
			if (rc)
				return rc;
			value = ex;
		} else if (!strcmp(key, "from")) {
			char *d = strchr(value, '$');

			if (d && d[1])
				MOUNT_ERR("'from' doesn't support variable expansion, define an "
					  "alias stage instead");
		} else if (strchr(value, '$')) {
			value = NULL;	/* checked once expanded */
		}
		if (!strcmp(key, "type")) {
			if (!value)
				continue;
			if (!strcasecmp(value, "bind"))
				m->type = BLD_MOUNT_BIND;
			else if (!strcasecmp(value, "cache"))
				m->type = BLD_MOUNT_CACHE;
			else if (!strcasecmp(value, "tmpfs"))
				m->type = BLD_MOUNT_TMPFS;
			else if (!strcasecmp(value, "secret"))
				m->type = BLD_MOUNT_SECRET;
			else if (!strcasecmp(value, "ssh"))
				m->type = BLD_MOUNT_SSH;
			else
				MOUNT_ERR("unsupported mount type '%s'", value);
		} else if (!strcmp(key, "from")) {
			m->from = value;
		} else if (!strcmp(key, "source") || !strcmp(key, "src")) {
			m->source = value;
		} else if (!strcmp(key, "target") || !strcmp(key, "dst") ||
			   !strcmp(key, "destination")) {
			m->target = value;
		} else if (!strcmp(key, "readonly") || !strcmp(key, "ro") ||
			   !strcmp(key, "readwrite") || !strcmp(key, "rw")) {
			int b;

			ro_auto = 0;
			if (!value)
				continue;
			if (parse_bool(value, &b))
				MOUNT_ERR("invalid value for %s: '%s'", key, value);
			m->readonly = key[1] == 'o' || key[4] == 'o' ? b : !b;
		} else if (!strcmp(key, "required")) {
			if (value && parse_bool(value, &m->required))
				MOUNT_ERR("invalid value for %s: '%s'", key, value);
		} else if (!strcmp(key, "size")) {
			if (value && parse_size(value, &m->size))
				MOUNT_ERR("invalid value for size: '%s'", value);
			if (m->type != BLD_MOUNT_TMPFS)
				MOUNT_ERR("unexpected key 'size' for mount type '%s'",
					  m->type == BLD_MOUNT_BIND ? "bind" :
					  m->type == BLD_MOUNT_CACHE ? "cache" :
					  m->type == BLD_MOUNT_SECRET ? "secret" : "ssh");
		} else if (!strcmp(key, "id")) {
			m->id = value;
		} else if (!strcmp(key, "sharing")) {
			if (!value)
				continue;
			if (!strcasecmp(value, "shared"))
				m->sharing = BLD_SHARE_SHARED;
			else if (!strcasecmp(value, "private"))
				m->sharing = BLD_SHARE_PRIVATE;
			else if (!strcasecmp(value, "locked"))
				m->sharing = BLD_SHARE_LOCKED;
			else
				MOUNT_ERR("unsupported sharing value '%s'", value);
		} else if (!strcmp(key, "mode")) {
			m->has_mode = 1;
			if (value && parse_uint(value, 8, 07777, &n))
				MOUNT_ERR("invalid value '%s' for mode", value);
			m->mode = value ? (unsigned)n : 0;
		} else if (!strcmp(key, "uid") || !strcmp(key, "gid")) {
			if (value && parse_uint(value, 10, 0xffffffffu, &n))
				MOUNT_ERR("invalid value '%s' for %s", value, key);
			if (key[0] == 'u') {
				m->has_uid = 1;
				m->uid = value ? (unsigned)n : 0;
			} else {
				m->has_gid = 1;
				m->gid = value ? (unsigned)n : 0;
			}
		} else if (!strcmp(key, "env")) {
			m->env = value;
		} else {
			MOUNT_ERR("unexpected key '%s' in '%s'", key, spec);
		}
	}
	if (m->required && m->type != BLD_MOUNT_SECRET && m->type != BLD_MOUNT_SSH)
		MOUNT_ERR("unexpected key 'required' for a mount that is not secret or ssh");
	if (m->type == BLD_MOUNT_BIND || m->type == BLD_MOUNT_TMPFS) {
		if (m->has_mode || m->has_uid || m->has_gid)
			MOUNT_ERR("%s not allowed for '%s' mounts", m->has_mode ? "mode" :
				  m->has_uid ? "uid" : "gid",
				  m->type == BLD_MOUNT_BIND ? "bind" : "tmpfs");
	}
	if (ro_auto)
		m->readonly = !(m->type == BLD_MOUNT_CACHE || m->type == BLD_MOUNT_TMPFS);
	if (m->type == BLD_MOUNT_SECRET) {
		if (m->from)
			MOUNT_ERR("secret mount should not have a from");
		if (m->sharing)
			MOUNT_ERR("secret mount should not define sharing");
		if (env && !m->source && !m->target && !m->id && !m->env)
			MOUNT_ERR("invalid secret mount: one of source, target or id required");
		if (m->source && m->id)
			MOUNT_ERR("both source and id can't be set");
	}
	if (m->sharing && m->type != BLD_MOUNT_CACHE)
		MOUNT_ERR("invalid cache sharing set for a mount that is not a cache");
	if (env && m->type != BLD_MOUNT_SECRET && m->type != BLD_MOUNT_SSH && !m->target)
		MOUNT_ERR("mount has no target");
	return 0;
}

/* ---- durations (Go's time.ParseDuration) -------------------------------- */

int bld_parse_duration(const char *s, int64_t *out)
{
	static const struct { const char *unit; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "ms", 1000000 },
		{ "s", 1000000000LL }, { "m", 60000000000LL }, { "h", 3600000000000LL },
	};
	double total = 0;
	int neg = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		double v;
		size_t k, best = 0, bestlen = 0;

		if (!isdigit((unsigned char)*s) && *s != '.')
			return -EINVAL;
		v = strtod(s, &end);
		if (end == s || (end[-1] == '.' && end - s == 1))
			return -EINVAL;
		for (const char *c = s; c < end; c++)
			if (!isdigit((unsigned char)*c) && *c != '.')
				return -EINVAL;
		s = end;
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			size_t l = strlen(units[k].unit);

			if (!strncmp(s, units[k].unit, l) && l > bestlen) {
				best = k;
				bestlen = l;
			}
		}
		if (!bestlen)
			return -EINVAL;
		s += bestlen;
		total += v * (double)units[best].ns;
		if (total > 9.2e18)
			return -ERANGE;
	}
	*out = (int64_t)(neg ? -total : total);
	return 0;
}
