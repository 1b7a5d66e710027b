/*
 * parse.c - Govcfile text to instructions (struct bld_file).
 *
 * The rules are BuildKit's parser (frontend/dockerfile/parser) and its
 * instruction parsers, rewritten:
 *   - parser directives ("# syntax=", "# escape=", "# check=") are read
 *     only in the comment lines at the very top; the first other line
 *     (a blank one too) ends them; each may appear once;
 *   - a line whose last non-blank character is the escape character (and
 *     not an escaped escape character) continues on the next; comment
 *     lines and blank lines inside a continued instruction are skipped
 *     (blank ones are counted as warnings, as BuildKit does);
 *   - the first word is the instruction (any case); "--name[=value]" words
 *     after it are its flags, quotes and escapes removed;
 *   - RUN, COPY and ADD in shell form (and ONBUILD of them) may name
 *     heredocs (<<EOF, <<-EOF, <<"EOF", 3<<EOF); their bodies follow the
 *     instruction's last line, one after the other, each up to a line that
 *     is its delimiter (after leading tabs for <<-).
 * Each instruction is then checked and typed by parse_insn().  Words are
 * kept as Docker keeps them until expansion (bld_plan does that).
 *
 * Input is untrusted: the file, each physical line, each instruction,
 * each heredoc body and the number of instructions are capped
 * (LIMIT_GOVCFILE_*); the arena is capped at LIMIT_GOVCFILE_PLAN_BYTES.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "builder/bld_int.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/limits.h"

struct parser {
	const char *text;
	size_t len, pos;
	unsigned lineno;	/* lines read so far */
	char esc;
	struct bld_arena *a;
	struct bld_diag *diag;
};

static const struct {
	const char *name;
	enum bld_op op;
} ops[] = {
	{ "FROM", BLD_FROM }, { "RUN", BLD_RUN }, { "CMD", BLD_CMD },
	{ "ENTRYPOINT", BLD_ENTRYPOINT }, { "SHELL", BLD_SHELL },
	{ "COPY", BLD_COPY }, { "ADD", BLD_ADD }, { "ENV", BLD_ENV },
	{ "ARG", BLD_ARG }, { "LABEL", BLD_LABEL }, { "WORKDIR", BLD_WORKDIR },
	{ "USER", BLD_USER }, { "EXPOSE", BLD_EXPOSE }, { "VOLUME", BLD_VOLUME },
	{ "STOPSIGNAL", BLD_STOPSIGNAL }, { "HEALTHCHECK", BLD_HEALTHCHECK },
	{ "ONBUILD", BLD_ONBUILD }, { "MAINTAINER", BLD_MAINTAINER },
};

const char *bld_op_name(enum bld_op op)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].op == op)
			return ops[i].name;
	return "?";
}

static int nomem(struct parser *p, unsigned line)
{
	if (p->a->err == -EFBIG)
		return bld_fail(p->diag, -EFBIG, line, "the Govcfile needs more than %u bytes "
				"of memory to parse", LIMIT_GOVCFILE_PLAN_BYTES);
	return bld_fail(p->diag, -ENOMEM, line, "out of memory");
}

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* ---- lines ------------------------------------------------------------- */

/* the next physical line with its newline; 0 at the end */
static int next_line(struct parser *p, const char **s, size_t *n)
{
	const char *nl;

	if (p->pos >= p->len)
		return 0;
	*s = p->text + p->pos;
	nl = memchr(*s, '\n', p->len - p->pos);
	*n = nl ? (size_t)(nl - *s) + 1 : p->len - p->pos;
	p->pos += *n;
	p->lineno++;
	if (*n > LIMIT_GOVCFILE_LINE + 1)
		return bld_fail(p->diag, -EFBIG, p->lineno, "line longer than %u bytes",
				LIMIT_GOVCFILE_LINE);
	if (memchr(*s, '\0', *n))
		return bld_fail(p->diag, -EINVAL, p->lineno, "NUL byte in the Govcfile");
	return 1;
}

static size_t trim_newline(const char *s, size_t n)
{
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return n;
}

static int is_comment(const char *s, size_t n)
{
	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	return n && *s == '#';
}

/*
 * Does S[0..*N) end in the escape character (then blanks), not itself
 * escaped?  Then drop them from *N and return 1.
 */
static int trim_continuation(const struct parser *p, const char *s, size_t *n)
{
	size_t e = *n;

	while (e && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (!e || s[e - 1] != p->esc)
		return 0;
	if (e >= 2 && s[e - 2] == p->esc)
		return 0;
	*n = e - 1;
	return 1;
}

/* ---- parser directives -------------------------------------------------- */

struct directives {
	int done, seen_syntax, seen_escape, seen_check;
};

static int directive(struct parser *p, struct directives *d, struct bld_file *f,
		     const char *s, size_t n)
{
	size_t i = 1, k0, k1, v0, v1;
	char key[16];
	int *seen;

	if (d->done)
		return 0;
	if (!n || s[0] != '#') {
		d->done = 1;
		return 0;
	}
	while (i < n && is_blank(s[i]))
		i++;
	k0 = i;
	if (i >= n || !isalpha((unsigned char)s[i])) {
		d->done = 1;
		return 0;
	}
	while (i < n && isalnum((unsigned char)s[i]))
		i++;
	k1 = i;
	while (i < n && is_blank(s[i]))
		i++;
	if (i >= n || s[i] != '=') {
		d->done = 1;
		return 0;
	}
	i++;
	while (i < n && is_blank(s[i]))
		i++;
	v0 = i;
	v1 = n;
	while (v1 > v0 && is_blank(s[v1 - 1]))
		v1--;
	if (v1 == v0 || k1 - k0 >= sizeof(key)) {
		d->done = 1;
		return 0;
	}
	for (size_t j = k0; j < k1; j++)
		key[j - k0] = (char)tolower((unsigned char)s[j]);
	key[k1 - k0] = '\0';
	seen = !strcmp(key, "syntax") ? &d->seen_syntax : !strcmp(key, "escape") ?
	       &d->seen_escape : !strcmp(key, "check") ? &d->seen_check : NULL;
	if (!seen) {
		d->done = 1;
		return 0;
	}
	if (*seen)
		return bld_fail(p->diag, -EINVAL, p->lineno,
				"only one '%s' parser directive can be used", key);
	*seen = 1;
	if (!strcmp(key, "escape")) {
		if (v1 - v0 != 1 || (s[v0] != '\\' && s[v0] != '`'))
			return bld_fail(p->diag, -EINVAL, p->lineno, "invalid escape token "
					"'%.*s' does not match ` or \\", (int)(v1 - v0), s + v0);
		p->esc = s[v0];
		f->escape = p->esc;
	} else if (!strcmp(key, "syntax")) {
		f->syntax = bld_strndup(p->a, s + v0, v1 - v0);
		if (!f->syntax)
			return nomem(p, p->lineno);
	}
	return 0;
}

/* ---- words and flags ---------------------------------------------------- */

/*
 * BuildKit's extractBuilderFlags: the "--" words at the start of ARGS,
 * quotes and escapes removed, into FLAGS; *REST is what follows.
 */
static int extract_flags(struct parser *p, const char *args, struct bld_strv *flags,
			 const char **rest, unsigned line)
{
	struct util_buf w = UTIL_BUF_INIT(LIMIT_GOVCFILE_INSN_BYTES);
	const char *s = args;
	int rc = 0;

	*rest = "";
	for (;;) {
		char quote = 0;
		int blank_ok = 0;
		char *copy;

		while (*s && is_blank(*s))
			s++;
		if (!*s)
			break;
		if (s[0] != '-' || s[1] != '-') {
			*rest = s;
			break;
		}
		util_buf_reset(&w);
		for (; *s && (quote || !is_blank(*s)); s++) {
			char c = *s;

			if (!quote && (c == '\'' || c == '"')) {
				quote = c;
				blank_ok = 1;
				continue;
			}
			if (quote && c == quote) {
				quote = 0;
				continue;
			}
			if (c == p->esc) {
				if (!s[1])
					continue;
				c = *++s;
			}
			if (util_buf_add(&w, &c, 1)) {
				rc = bld_fail(p->diag, -EFBIG, line, "flag too long");
				goto out;
			}
		}
		if (!strcmp(util_buf_str(&w), "--")) {
			while (*s && is_blank(*s))
				s++;
			*rest = s;
			break;
		}
		if (!blank_ok && !util_buf_len(&w))
			continue;
		copy = bld_strndup(p->a, util_buf_str(&w), util_buf_len(&w));
		if (!copy || bld_strv_push(p->a, flags, copy)) {
			rc = nomem(p, line);
			goto out;
		}
	}
out:
	util_buf_release(&w);
	return rc;
}

/*
 * BuildKit's parseWords: split on blanks outside quotes, keeping quotes
 * and escapes (they go to the expansion later).
 */
static int split_words_quoted(struct parser *p, const char *s, struct bld_strv *out,
			      unsigned line)
{
	while (*s) {
		const char *start;
		char quote = 0;

		while (*s && is_blank(*s))
			s++;
		if (!*s)
			break;
		start = s;
		for (; *s && (quote || !is_blank(*s)); s++) {
			if (!quote && (*s == '\'' || *s == '"'))
				quote = *s;
			else if (quote && *s == quote)
				quote = 0;
			if (*s == p->esc && (!quote || quote == '"') && s[1])
				s++;
		}
		char *w = bld_strndup(p->a, start, (size_t)(s - start));

		if (!w || bld_strv_push(p->a, out, w))
			return nomem(p, line);
	}
	return 0;
}

/* split on blanks, nothing else (reWhitespace.Split) */
static int split_blanks(struct parser *p, const char *s, struct bld_strv *out, unsigned line)
{
	while (*s) {
		const char *start;
		char *w;

		while (*s && is_blank(*s))
			s++;
		if (!*s)
			break;
		start = s;
		while (*s && !is_blank(*s))
			s++;
		w = bld_strndup(p->a, start, (size_t)(s - start));
		if (!w || bld_strv_push(p->a, out, w))
			return nomem(p, line);
	}
	return 0;
}

/*
 * A JSON array of strings into OUT: 1 if S is one, 0 if S is not JSON
 * (then it is shell form), negative for an array holding non-strings.
 */
static int parse_json(struct parser *p, const char *s, struct bld_strv *out, unsigned line)
{
	json_error_t jerr;
	json_t *arr;
	size_t i;
	json_t *v;

	while (is_blank(*s))
		s++;
	if (*s != '[')
		return 0;
	arr = json_loads(s, 0, &jerr);
	if (!arr || !json_is_array(arr)) {
		json_decref(arr);
		return 0;
	}
	json_array_foreach(arr, i, v) {
		char *copy;

		if (!json_is_string(v)) {
			json_decref(arr);
			return bld_fail(p->diag, -EINVAL, line, "when using JSON array syntax, "
					"arrays must be comprised of strings only");
		}
		copy = bld_strndup(p->a, json_string_value(v), json_string_length(v));
		if (!copy || bld_strv_push(p->a, out, copy)) {
			json_decref(arr);
			return nomem(p, line);
		}
	}
	json_decref(arr);
	return 1;
}

/* JSON, or else the whole text as one string (parseMaybeJSON) */
static int parse_maybe_json(struct parser *p, const char *s, struct bld_insn *in)
{
	char *copy;
	int rc;

	if (!*s)
		return 0;
	rc = parse_json(p, s, &in->args, in->line);
	if (rc < 0)
		return rc;
	if (rc) {
		in->exec_form = 1;
		return 0;
	}
	copy = bld_strdup(p->a, s);
	if (!copy || bld_strv_push(p->a, &in->args, copy))
		return nomem(p, in->line);
	return 0;
}

/* JSON, or else words split on blanks (parseMaybeJSONToList) */
static int parse_maybe_json_list(struct parser *p, const char *s, struct bld_insn *in)
{
	int rc = parse_json(p, s, &in->args, in->line);

	if (rc < 0)
		return rc;
	if (rc) {
		in->exec_form = 1;
		return 0;
	}
	return split_blanks(p, s, &in->args, in->line);
}

/* ---- flags -------------------------------------------------------------- */

enum flag_kind { F_STRING, F_BOOL, F_LIST };

struct flag_spec {
	enum bld_op op;
	const char *name;
	enum flag_kind kind;
};

static const struct flag_spec flag_specs[] = {
	{ BLD_FROM, "platform", F_STRING },
	{ BLD_RUN, "mount", F_LIST }, { BLD_RUN, "network", F_STRING },
	{ BLD_RUN, "security", F_STRING },
	{ BLD_COPY, "from", F_STRING }, { BLD_COPY, "chown", F_STRING },
	{ BLD_COPY, "chmod", F_STRING }, { BLD_COPY, "link", F_BOOL },
	{ BLD_COPY, "parents", F_BOOL }, { BLD_COPY, "exclude", F_LIST },
	{ BLD_ADD, "chown", F_STRING }, { BLD_ADD, "chmod", F_STRING },
	{ BLD_ADD, "link", F_BOOL }, { BLD_ADD, "checksum", F_STRING },
	{ BLD_ADD, "keep-git-dir", F_BOOL }, { BLD_ADD, "exclude", F_LIST },
	{ BLD_HEALTHCHECK, "interval", F_STRING },
	{ BLD_HEALTHCHECK, "timeout", F_STRING },
	{ BLD_HEALTHCHECK, "start-period", F_STRING },
	{ BLD_HEALTHCHECK, "start-interval", F_STRING },
	{ BLD_HEALTHCHECK, "retries", F_STRING },
};

/* the flags given, by spec; what is not given stays NULL */
struct flags {
	const char *value[sizeof(flag_specs) / sizeof(flag_specs[0])];
	struct bld_strv list[sizeof(flag_specs) / sizeof(flag_specs[0])];
};

static int parse_flags(struct parser *p, const struct bld_insn *in, const struct bld_strv *words,
		       struct flags *fl)
{
	memset(fl, 0, sizeof(*fl));
	for (size_t i = 0; i < words->n; i++) {
		const char *w = words->v[i] + 2, *eq = strchr(w, '=');
		size_t nlen = eq ? (size_t)(eq - w) : strlen(w);
		size_t k;

		for (k = 0; k < sizeof(flag_specs) / sizeof(flag_specs[0]); k++)
			if (flag_specs[k].op == in->op && strlen(flag_specs[k].name) == nlen &&
			    !strncmp(flag_specs[k].name, w, nlen))
				break;
		if (k == sizeof(flag_specs) / sizeof(flag_specs[0]))
			return bld_fail(p->diag, -EINVAL, in->line, "unknown flag '--%.*s' for %s",
					(int)nlen, w, bld_op_name(in->op));
		switch (flag_specs[k].kind) {
		case F_BOOL:
			if (fl->value[k])
				return bld_fail(p->diag, -EINVAL, in->line,
						"duplicate flag '--%s'", flag_specs[k].name);
			if (!eq || !strcasecmp(eq + 1, "true"))
				fl->value[k] = "true";
			else if (!strcasecmp(eq + 1, "false"))
				fl->value[k] = "false";
			else
				return bld_fail(p->diag, -EINVAL, in->line, "expecting boolean value "
						"for flag '--%s', not '%s'", flag_specs[k].name,
						eq + 1);
			break;
		case F_STRING:
		case F_LIST:
			if (!eq)
				return bld_fail(p->diag, -EINVAL, in->line,
						"missing a value on flag '--%s'", flag_specs[k].name);
			if (flag_specs[k].kind == F_LIST) {
				if (bld_strv_push(p->a, &fl->list[k], (char *)eq + 1))
					return nomem(p, in->line);
				fl->value[k] = eq + 1;
				break;
			}
			if (fl->value[k])
				return bld_fail(p->diag, -EINVAL, in->line,
						"duplicate flag '--%s'", flag_specs[k].name);
			fl->value[k] = eq + 1;
			break;
		}
	}
	return 0;
}

static size_t flag_index(enum bld_op op, const char *name)
{
	for (size_t k = 0; k < sizeof(flag_specs) / sizeof(flag_specs[0]); k++)
		if (flag_specs[k].op == op && !strcmp(flag_specs[k].name, name))
			return k;
	return 0;	/* not reached: callers name real flags */
}

static char *flag_str(struct parser *p, const struct flags *fl, enum bld_op op,
		      const char *name, int *rc)
{
	const char *v = fl->value[flag_index(op, name)];
	char *copy;

	if (!v)
		return NULL;
	copy = bld_strdup(p->a, v);
	if (!copy)
		*rc = -ENOMEM;
	return copy;
}

static int flag_bool(const struct flags *fl, enum bld_op op, const char *name)
{
	const char *v = fl->value[flag_index(op, name)];

	return v && !strcmp(v, "true");
}

/* ---- instructions ------------------------------------------------------- */

static int need_args(struct parser *p, const struct bld_insn *in, const char *rest)
{
	if (!*rest)
		return bld_fail(p->diag, -EINVAL, in->line, "%s requires at least one argument",
				bld_op_name(in->op));
	return 0;
}

static int kv_push(struct parser *p, struct bld_insn *in, const char *k, size_t klen,
		   const char *v, size_t vlen, size_t *cap)
{
	if (in->nkv == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct bld_kv *nkv = bld_alloc(p->a, ncap * sizeof(*nkv));

		if (!nkv)
			return nomem(p, in->line);
		if (in->nkv)
			memcpy(nkv, in->kv, in->nkv * sizeof(*nkv));
		in->kv = nkv;
		*cap = ncap;
	}
	in->kv[in->nkv].key = bld_strndup(p->a, k, klen);
	in->kv[in->nkv].value = v ? bld_strndup(p->a, v, vlen) : NULL;
	if (!in->kv[in->nkv].key || (v && !in->kv[in->nkv].value))
		return nomem(p, in->line);
	in->nkv++;
	return 0;
}

/* ENV and LABEL: "k v" or "k=v ..." (BuildKit's parseNameVal) */
static int parse_name_val(struct parser *p, struct bld_insn *in, const char *rest)
{
	struct bld_strv words = { 0 };
	size_t cap = 0;
	int rc;

	if ((rc = need_args(p, in, rest)) || (rc = split_words_quoted(p, rest, &words, in->line)))
		return rc;
	if (!strchr(words.v[0], '=')) {
		const char *v = rest;

		while (*v && !is_blank(*v))
			v++;
		size_t klen = (size_t)(v - rest);

		while (*v && is_blank(*v))
			v++;
		if (!*v)
			return bld_fail(p->diag, -EINVAL, in->line, "%s must have two arguments",
					bld_op_name(in->op));
		return kv_push(p, in, rest, klen, v, strlen(v), &cap);
	}
	for (size_t i = 0; i < words.n; i++) {
		const char *eq = strchr(words.v[i], '=');

		if (!eq)
			return bld_fail(p->diag, -EINVAL, in->line, "syntax error - can't find = in "
					"'%s'. Must be of the form: name=value", words.v[i]);
		if (eq == words.v[i])
			return bld_fail(p->diag, -EINVAL, in->line, "%s names can not be blank",
					bld_op_name(in->op));
		rc = kv_push(p, in, words.v[i], (size_t)(eq - words.v[i]), eq + 1, strlen(eq + 1),
			     &cap);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_arg(struct parser *p, struct bld_insn *in, const char *rest)
{
	struct bld_strv words = { 0 };
	size_t cap = 0;
	int rc;

	if ((rc = need_args(p, in, rest)) || (rc = split_words_quoted(p, rest, &words, in->line)))
		return rc;
	for (size_t i = 0; i < words.n; i++) {
		const char *eq = strchr(words.v[i], '=');
		size_t klen = eq ? (size_t)(eq - words.v[i]) : strlen(words.v[i]);

		if (!klen)
			return bld_fail(p->diag, -EINVAL, in->line, "ARG names can not be blank");
		rc = kv_push(p, in, words.v[i], klen, eq ? eq + 1 : NULL, eq ? strlen(eq + 1) : 0,
			     &cap);
		if (rc)
			return rc;
	}
	return 0;
}

static int valid_stage_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static int parse_from(struct parser *p, struct bld_insn *in, const char *rest,
		      const struct flags *fl)
{
	int rc = 0;

	if ((rc = split_blanks(p, rest, &in->args, in->line)))
		return rc;
	if (in->args.n != 1 && !(in->args.n == 3 && !strcasecmp(in->args.v[1], "as")))
		return bld_fail(p->diag, -EINVAL, in->line,
				"FROM requires either one or three arguments (image [AS name])");
	in->from.image = in->args.v[0];
	if (in->args.n == 3) {
		char *name = bld_strdup(p->a, in->args.v[2]);

		if (!name)
			return nomem(p, in->line);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!valid_stage_name(name))
			return bld_fail(p->diag, -EINVAL, in->line, "invalid name for build stage: "
					"'%s', name can't start with a number or contain symbols",
					in->args.v[2]);
		in->from.name = name;
	}
	in->from.platform = flag_str(p, fl, BLD_FROM, "platform", &rc);
	return rc ? nomem(p, in->line) : 0;
}

static int parse_run(struct parser *p, struct bld_insn *in, const char *rest,
		     const struct flags *fl)
{
	const struct bld_strv *mounts = &fl->list[flag_index(BLD_RUN, "mount")];
	const char *net = fl->value[flag_index(BLD_RUN, "network")];
	const char *sec = fl->value[flag_index(BLD_RUN, "security")];
	char err[256];
	int rc;

	if ((rc = need_args(p, in, rest)))
		return rc;
	if (net) {
		if (!strcmp(net, "none"))
			in->run.network = BLD_NET_NONE;
		else if (!strcmp(net, "host"))
			in->run.network = BLD_NET_HOST;
		else if (strcmp(net, "default"))
			return bld_fail(p->diag, -EINVAL, in->line, "unsupported network mode "
					"'%s' (none, host or default)", net);
	}
	if (sec) {
		if (!strcmp(sec, "insecure"))
			in->run.security = BLD_SEC_INSECURE;
		else if (strcmp(sec, "sandbox"))
			return bld_fail(p->diag, -EINVAL, in->line, "unsupported security mode "
					"'%s' (sandbox or insecure)", sec);
	}
	if (mounts->n) {
		in->run.mounts = bld_alloc(p->a, mounts->n * sizeof(*in->run.mounts));
		if (!in->run.mounts)
			return nomem(p, in->line);
	}
	for (size_t i = 0; i < mounts->n; i++) {
		char *spec = bld_strdup(p->a, mounts->v[i]);

		if (!spec || bld_strv_push(p->a, &in->run.mount_specs, spec))
			return nomem(p, in->line);
		rc = bld_mount_parse(p->a, spec, NULL, p->esc, &in->run.mounts[i], err,
				     sizeof(err));
		if (rc == -EINVAL)
			return bld_fail(p->diag, rc, in->line, "--mount=%s: %s", spec, err);
		if (rc)
			return nomem(p, in->line);
		in->run.nmounts++;
	}
	return parse_maybe_json(p, rest, in);
}

/* the heredoc a word names, as BuildKit's ParseHeredoc; NULL if none */
static int heredoc_word(struct parser *p, const char *word, struct bld_heredoc *h, int *is)
{
	const char *s = word, *rest;
	char err[128], *plain, *raw;
	struct bld_strv words = { 0 };
	size_t q1 = 0, q2 = 0;
	int rc;

	*is = 0;
	memset(h, 0, sizeof(*h));
	while (isdigit((unsigned char)*s))
		s++;
	if (s[0] != '<' || s[1] != '<')
		return 0;
	for (const char *d = word; d < s && h->fd < 100000000u; d++)
		h->fd = h->fd * 10 + (unsigned)(*d - '0');
	s += 2;
	if (*s == '-') {
		h->chomp = 1;
		s++;
	}
	while (is_blank(*s))
		s++;
	rest = s;
	if (!*rest || strchr(rest, '<'))
		return 0;
	rc = bld_lex(p->a, rest, '\\', BLD_LEX_SKIP_UNSET, NULL, &plain, &words, err,
		     sizeof(err));
	if (rc)
		return rc == -EINVAL ? -EINVAL : rc;
	if (words.n != 1)
		return 0;
	rc = bld_lex(p->a, rest, '\\', BLD_LEX_SKIP_UNSET | BLD_LEX_RAW_QUOTES, NULL, &raw,
		     NULL, err, sizeof(err));
	if (rc)
		return rc;
	for (const char *c = words.v[0]; *c; c++)
		q1 += *c == '\'' || *c == '"';
	for (const char *c = raw; *c; c++)
		q2 += *c == '\'' || *c == '"';
	h->name = words.v[0];
	h->expand = q1 == q2;
	*is = 1;
	return 0;
}

/* the heredocs LINE names, in order (BuildKit's heredocsFromLine) */
static int find_heredocs(struct parser *p, struct bld_insn *in, const char *line,
			 struct util_array *docs)
{
	struct bld_strv words = { 0 };
	char err[128], *joined;
	int rc;

	rc = bld_lex(p->a, line, '\\',
		     BLD_LEX_RAW_QUOTES | BLD_LEX_RAW_ESCAPES | BLD_LEX_SKIP_UNSET, NULL,
		     &joined, &words, err, sizeof(err));
	if (rc == -EINVAL)
		return 0;	/* BuildKit ignores a line it cannot split */
	if (rc)
		return nomem(p, in->line);
	for (size_t i = 0; i < words.n; i++) {
		struct bld_heredoc h, *slot;
		int is;

		rc = heredoc_word(p, words.v[i], &h, &is);
		if (rc == -EINVAL)
			return bld_fail(p->diag, rc, in->line, "bad heredoc delimiter '%s'",
					words.v[i]);
		if (rc)
			return nomem(p, in->line);
		if (!is)
			continue;
		h.line = in->line;
		slot = UTIL_ARRAY_PUSH(docs, struct bld_heredoc);
		if (!slot)
			return bld_fail(p->diag, -ENOMEM, in->line, "out of memory");
		*slot = h;
	}
	return 0;
}

/* strip leading tabs from every line of S (<<-) */
static void chomp_tabs(char *s)
{
	char *w = s;
	int bol = 1;

	for (char *r = s; *r; r++) {
		if (bol && *r == '\t')
			continue;
		bol = *r == '\n';
		*w++ = *r;
	}
	*w = '\0';
}

/* read the bodies of the heredocs in DOCS from the lines that follow */
static int read_heredocs(struct parser *p, struct bld_insn *in, struct util_array *docs)
{
	UTIL_ARRAY_FOREACH(docs, struct bld_heredoc, h) {
		struct util_buf body = UTIL_BUF_INIT(LIMIT_GOVCFILE_HEREDOC);
		const char *s;
		size_t n;
		int rc, done = 0;

		while ((rc = next_line(p, &s, &n)) > 0) {
			size_t t = trim_newline(s, n), off = 0;

			if (h->chomp)
				while (off < t && s[off] == '\t')
					off++;
			if (t - off == strlen(h->name) && !memcmp(s + off, h->name, t - off)) {
				done = 1;
				break;
			}
			if (util_buf_add(&body, s, n)) {
				util_buf_release(&body);
				return bld_fail(p->diag, -EFBIG, in->line, "heredoc '%s' is longer "
						"than %u bytes", h->name, LIMIT_GOVCFILE_HEREDOC);
			}
		}
		if (rc < 0) {
			util_buf_release(&body);
			return rc;
		}
		if (!done) {
			util_buf_release(&body);
			return bld_fail(p->diag, -EINVAL, p->lineno, "unterminated heredoc '%s' "
					"(started at line %u)", h->name, in->line);
		}
		h->content = bld_strndup(p->a, util_buf_str(&body), util_buf_len(&body));
		util_buf_release(&body);
		if (!h->content)
			return nomem(p, in->line);
		if (h->chomp)
			chomp_tabs(h->content);
	}
	in->end_line = p->lineno;
	if (docs->len) {
		in->heredocs = bld_alloc(p->a, docs->len * sizeof(*in->heredocs));
		if (!in->heredocs)
			return nomem(p, in->line);
		memcpy(in->heredocs, docs->v, docs->len * sizeof(*in->heredocs));
		in->nheredocs = docs->len;
	}
	return 0;
}

static int parse_copy(struct parser *p, struct bld_insn *in, const char *rest,
		      const struct flags *fl, const struct util_array *docs)
{
	const char *cmd = bld_op_name(in->op);
	int rc = 0;

	if ((rc = parse_maybe_json_list(p, rest, in)))
		return rc;
	if (in->args.n < 2)
		return bld_fail(p->diag, -EINVAL, in->line, in->args.n ? "%s requires at least "
				"two arguments, but only one was provided: the destination "
				"could not be determined" : "%s requires at least two arguments",
				cmd);
	for (size_t i = 0; i + 1 < in->args.n && !in->exec_form; i++) {
		struct bld_heredoc h;
		int is, found = 0;

		if ((rc = heredoc_word(p, in->args.v[i], &h, &is)) || !is) {
			if (rc == -EINVAL)
				return bld_fail(p->diag, rc, in->line, "bad heredoc '%s'",
						in->args.v[i]);
			if (rc)
				return nomem(p, in->line);
			continue;
		}
		UTIL_ARRAY_FOREACH(docs, struct bld_heredoc, d)
			found |= !strcmp(d->name, h.name);
		if (!found)
			return bld_fail(p->diag, -EINVAL, in->line, "no heredoc '%s'", h.name);
	}
	if (!in->exec_form) {
		struct bld_heredoc h;
		int is;

		rc = heredoc_word(p, in->args.v[in->args.n - 1], &h, &is);
		if (rc || is)
			return bld_fail(p->diag, rc ? rc : -EINVAL, in->line, "%s cannot accept a "
					"heredoc as a destination", cmd);
	}
	in->copy.from = in->op == BLD_COPY ? flag_str(p, fl, in->op, "from", &rc) : NULL;
	in->copy.chown = flag_str(p, fl, in->op, "chown", &rc);
	in->copy.chmod = flag_str(p, fl, in->op, "chmod", &rc);
	in->copy.checksum = in->op == BLD_ADD ? flag_str(p, fl, in->op, "checksum", &rc) : NULL;
	in->copy.link = flag_bool(fl, in->op, "link");
	in->copy.parents = in->op == BLD_COPY && flag_bool(fl, in->op, "parents");
	in->copy.keep_git_dir = in->op == BLD_ADD && flag_bool(fl, in->op, "keep-git-dir");
	in->copy.exclude = fl->list[flag_index(in->op, "exclude")];
	in->copy.from_stage = -1;
	if (rc)
		return nomem(p, in->line);
	if (in->copy.from && !*in->copy.from)
		return bld_fail(p->diag, -EINVAL, in->line, "--from needs a stage or an image");
	return 0;
}

static int parse_health(struct parser *p, struct bld_insn *in, const char *rest,
			const struct flags *fl)
{
	static const char *const durs[] = { "interval", "timeout", "start-period",
					    "start-interval" };
	int64_t *dst[] = { &in->health.interval, &in->health.timeout,
			   &in->health.start_period, &in->health.start_interval };
	const char *type = rest, *retries;
	size_t tlen;
	int rc;

	if ((rc = need_args(p, in, rest)))
		return rc;
	while (*rest && !is_blank(*rest))
		rest++;
	tlen = (size_t)(rest - type);
	while (*rest && is_blank(*rest))
		rest++;
	if (tlen == 4 && !strncasecmp(type, "NONE", 4)) {
		if (*rest)
			return bld_fail(p->diag, -EINVAL, in->line,
					"HEALTHCHECK NONE takes no arguments");
		in->health.none = 1;
		return 0;
	}
	if (tlen != 3 || strncasecmp(type, "CMD", 3))
		return bld_fail(p->diag, -EINVAL, in->line, "unknown type '%.*s' in HEALTHCHECK "
				"(try CMD)", (int)tlen, type);
	if (!*rest)
		return bld_fail(p->diag, -EINVAL, in->line, "missing command after HEALTHCHECK CMD");
	for (size_t i = 0; i < 4; i++) {
		const char *v = fl->value[flag_index(BLD_HEALTHCHECK, durs[i])];

		if (!v)
			continue;
		if (bld_parse_duration(v, dst[i]))
			return bld_fail(p->diag, -EINVAL, in->line, "invalid duration '%s' for "
					"--%s", v, durs[i]);
		if (*dst[i] != 0 && *dst[i] < 1000000)
			return bld_fail(p->diag, -EINVAL, in->line, "--%s cannot be less than 1ms",
					durs[i]);
	}
	retries = fl->value[flag_index(BLD_HEALTHCHECK, "retries")];
	if (retries) {
		char *end;
		long r;

		errno = 0;
		r = strtol(retries, &end, 10);
		if (!*retries || *end || errno || r > 1000000000L || r < -1000000000L)
			return bld_fail(p->diag, -EINVAL, in->line, "invalid --retries '%s'",
					retries);
		if (r < 0)
			return bld_fail(p->diag, -EINVAL, in->line,
					"--retries cannot be negative (%ld)", r);
		in->health.retries = (int)r;
	}
	return parse_maybe_json(p, rest, in);
}

static int parse_body(struct parser *p, struct bld_insn *in, const char *rest,
		      const struct flags *fl, const struct util_array *docs);

/*
 * One instruction from LINE (continuations joined) into IN, whose op is
 * looked up here; DOCS are the heredocs the line names (bodies not yet
 * read: only their names count here).
 */
static int parse_insn(struct parser *p, struct bld_insn *in, const char *line,
		      const struct util_array *docs, int nested)
{
	struct bld_strv flag_words = { 0 };
	struct flags fl;
	const char *s = line, *cmd, *rest;
	size_t clen, i;
	int rc;

	while (is_blank(*s))
		s++;
	cmd = s;
	while (*s && !is_blank(*s))
		s++;
	clen = (size_t)(s - cmd);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == clen && !strncasecmp(ops[i].name, cmd, clen))
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return bld_fail(p->diag, -EINVAL, in->line, "unknown instruction '%.*s'",
				(int)(clen > 64 ? 64 : clen), cmd);
	in->op = ops[i].op;
	if (nested && (in->op == BLD_FROM || in->op == BLD_ONBUILD || in->op == BLD_MAINTAINER))
		return bld_fail(p->diag, -EINVAL, in->line, "%s isn't allowed as an ONBUILD "
				"trigger", ops[i].name);
	in->text = bld_strdup(p->a, line + (size_t)(cmd - line));
	if (!in->text)
		return nomem(p, in->line);
	/* the text ends where its trailing blanks start */
	for (size_t n = strlen(in->text); n && is_blank(in->text[n - 1]); n--)
		in->text[n - 1] = '\0';
	rc = extract_flags(p, s, &flag_words, &rest, in->line);
	if (rc)
		return rc;
	char *r = bld_strdup(p->a, rest);

	if (!r)
		return nomem(p, in->line);
	for (size_t n = strlen(r); n && is_blank(r[n - 1]); n--)
		r[n - 1] = '\0';
	rc = parse_flags(p, in, &flag_words, &fl);
	if (rc)
		return rc;
	return parse_body(p, in, r, &fl, docs);
}

static int parse_body(struct parser *p, struct bld_insn *in, const char *rest,
		      const struct flags *fl, const struct util_array *docs)
{
	char *copy;
	int rc;

	switch (in->op) {
	case BLD_FROM:
		return parse_from(p, in, rest, fl);
	case BLD_RUN:
		return parse_run(p, in, rest, fl);
	case BLD_CMD:
	case BLD_ENTRYPOINT:
		return parse_maybe_json(p, rest, in);
	case BLD_SHELL:
		if ((rc = need_args(p, in, rest)))
			return rc;
		rc = parse_json(p, rest, &in->args, in->line);
		if (rc < 0)
			return rc;
		if (!rc)
			return bld_fail(p->diag, -EINVAL, in->line,
					"SHELL requires the arguments to be in JSON form");
		if (!in->args.n)
			return bld_fail(p->diag, -EINVAL, in->line,
					"SHELL requires at least one argument");
		in->exec_form = 1;
		return 0;
	case BLD_COPY:
	case BLD_ADD:
		return parse_copy(p, in, rest, fl, docs);
	case BLD_ENV:
	case BLD_LABEL:
		return parse_name_val(p, in, rest);
	case BLD_ARG:
		return parse_arg(p, in, rest);
	case BLD_EXPOSE:
		if ((rc = need_args(p, in, rest)))
			return rc;
		return split_blanks(p, rest, &in->args, in->line);
	case BLD_VOLUME:
		if ((rc = need_args(p, in, rest)))
			return rc;
		return parse_maybe_json_list(p, rest, in);
	case BLD_WORKDIR:
	case BLD_USER:
	case BLD_STOPSIGNAL:
	case BLD_MAINTAINER:
		if (!*rest)
			return bld_fail(p->diag, -EINVAL, in->line, "%s requires exactly one "
					"argument", bld_op_name(in->op));
		copy = bld_strdup(p->a, rest);
		if (!copy || bld_strv_push(p->a, &in->args, copy))
			return nomem(p, in->line);
		return 0;
	case BLD_HEALTHCHECK:
		return parse_health(p, in, rest, fl);
	case BLD_ONBUILD:
		if ((rc = need_args(p, in, rest)))
			return rc;
		in->trigger = bld_alloc(p->a, sizeof(*in->trigger));
		if (!in->trigger)
			return nomem(p, in->line);
		in->trigger->line = in->line;
		in->trigger->end_line = in->end_line;
		return parse_insn(p, in->trigger, rest, docs, 1);
	}
	return bld_fail(p->diag, -EINVAL, in->line, "unknown instruction");
}

/* can INSN's line name heredocs (shell-form RUN, COPY, ADD, ONBUILD of one)? */
static int heredoc_capable(const char *line)
{
	const char *s = line, *c;
	size_t n;

	for (int depth = 0; depth < 2; depth++) {
		while (is_blank(*s))
			s++;
		c = s;
		while (*s && !is_blank(*s))
			s++;
		n = (size_t)(s - c);
		if (n == 7 && !strncasecmp(c, "ONBUILD", 7) && depth == 0)
			continue;
		return (n == 3 && (!strncasecmp(c, "RUN", 3) || !strncasecmp(c, "ADD", 3))) ||
		       (n == 4 && !strncasecmp(c, "COPY", 4));
	}
	return 0;
}

/* ---- the file ----------------------------------------------------------- */

static int parse_lines(struct parser *p, struct bld_file *f, struct util_array *insns)
{
	struct util_buf line = UTIL_BUF_INIT(LIMIT_GOVCFILE_INSN_BYTES);
	struct util_array docs = UTIL_ARRAY_INIT(struct bld_heredoc);
	struct directives d = { 0 };
	const char *s;
	size_t n;
	int rc = 0;

	while ((rc = next_line(p, &s, &n)) > 0) {
		struct bld_insn *in, *trigger_or_self;
		unsigned start;
		int more;

		if (p->lineno == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) {
			s += 3;
			n -= 3;
		}
		n = trim_newline(s, n);
		while (n && is_blank(*s)) {
			s++;
			n--;
		}
		if ((rc = directive(p, &d, f, s, n)))
			break;
		if (is_comment(s, n))
			n = 0;
		start = p->lineno;
		more = trim_continuation(p, s, &n);
		if (!more && !n)
			continue;
		util_buf_reset(&line);
		if (util_buf_add(&line, s, n))
			goto too_long;
		while (more && (rc = next_line(p, &s, &n)) > 0) {
			n = trim_newline(s, n);
			if (is_comment(s, n))
				continue;
			size_t k = 0;

			while (k < n && is_blank(s[k]))
				k++;
			if (k == n) {
				f->nwarnings++;
				continue;
			}
			more = trim_continuation(p, s, &n);
			if (util_buf_add(&line, s, n))
				goto too_long;
		}
		if (rc < 0)
			break;
		rc = 0;
		if (!util_buf_len(&line))
			continue;
		if (insns->len >= LIMIT_GOVCFILE_INSNS) {
			rc = bld_fail(p->diag, -EFBIG, start, "more than %u instructions",
				      LIMIT_GOVCFILE_INSNS);
			break;
		}
		in = UTIL_ARRAY_PUSH(insns, struct bld_insn);
		if (!in) {
			rc = bld_fail(p->diag, -ENOMEM, start, "out of memory");
			break;
		}
		in->line = start;
		in->end_line = p->lineno;
		docs.len = 0;
		if (heredoc_capable(util_buf_str(&line)) && strstr(util_buf_str(&line), "<<") &&
		    (rc = find_heredocs(p, in, util_buf_str(&line), &docs)))
			break;
		if ((rc = parse_insn(p, in, util_buf_str(&line), &docs, 0)))
			break;
		trigger_or_self = in->op == BLD_ONBUILD ? in->trigger : in;
		if (trigger_or_self->exec_form && docs.len)
			docs.len = 0;	/* JSON form names no heredocs */
		if ((rc = read_heredocs(p, trigger_or_self, &docs)))
			break;
		in->end_line = p->lineno;
		if (in->op == BLD_ONBUILD) {
			in->heredocs = in->trigger->heredocs;
			in->nheredocs = in->trigger->nheredocs;
		}
	}
	util_buf_release(&line);
	util_array_release(&docs);
	return rc;
too_long:
	util_buf_release(&line);
	util_array_release(&docs);
	return bld_fail(p->diag, -EFBIG, p->lineno, "instruction longer than %u bytes",
			LIMIT_GOVCFILE_INSN_BYTES);
}

int bld_parse(struct bld_file **out, const char *text, size_t len, struct bld_diag *diag)
{
	struct util_array insns = UTIL_ARRAY_INIT(struct bld_insn);
	struct parser p = { .text = text, .len = len, .esc = '\\', .diag = diag };
	struct bld_file *f;
	int rc;

	*out = NULL;
	if (diag) {
		diag->line = 0;
		diag->msg[0] = '\0';
	}
	if (len > LIMIT_GOVCFILE_BYTES)
		return bld_fail(diag, -EFBIG, 0, "the Govcfile is larger than %u bytes",
				LIMIT_GOVCFILE_BYTES);
	p.a = bld_arena_new(LIMIT_GOVCFILE_PLAN_BYTES);
	if (!p.a)
		return bld_fail(diag, -ENOMEM, 0, "out of memory");
	f = bld_alloc(p.a, sizeof(*f));
	if (!f) {
		bld_arena_free(p.a);
		return bld_fail(diag, -ENOMEM, 0, "out of memory");
	}
	f->arena = p.a;
	f->escape = '\\';
	rc = parse_lines(&p, f, &insns);
	if (!rc && !insns.len)
		rc = bld_fail(diag, -EINVAL, p.lineno, "the Govcfile has no instructions");
	if (!rc) {
		f->insns = bld_alloc(p.a, insns.len * sizeof(*f->insns));
		if (!f->insns)
			rc = nomem(&p, 0);
		else
			memcpy(f->insns, insns.v, insns.len * sizeof(*f->insns));
		f->ninsns = insns.len;
	}
	util_array_release(&insns);
	if (rc) {
		bld_arena_free(p.a);
		return rc;
	}
	*out = f;
	return 0;
}

void bld_file_free(struct bld_file *f)
{
	if (f)
		bld_arena_free(f->arena);
}
