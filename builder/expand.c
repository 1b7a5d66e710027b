/*
 * expand.c - Docker's shell lexer: quote removal, escapes and variable
 * expansion of one word, and the variables in scope (struct bld_env).
 *
 * The rules are those of BuildKit's frontend/dockerfile/shell (a subset
 * of POSIX sh word expansion): outside quotes the escape character takes
 * the next character literally; '...' is literal; "..." expands $ and lets
 * the escape character escape only '"', '$' and itself; ${VAR...} takes a
 * nested word up to its '}' with the same rules.  Unset variables, and the
 * positional and special parameters, expand to nothing.  Splitting into
 * words (EXPOSE) happens on white space that came from the text outside
 * quotes or from an unquoted expansion.
 *
 * Input is untrusted: results are capped (LIMIT_GOVCFILE_WORD_BYTES), the
 * nesting of ${...} is capped (LIMIT_GOVCFILE_NESTING) so recursion stays
 * shallow, and the pattern removals (# ## % %%) spend a budget the
 * arena carries (LIMIT_GOVCFILE_PATTERN_WORK for a whole parse or plan).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/bld_int.h"
#include "util/buf.h"
#include "util/limits.h"

struct words {
	struct bld_arena *a;
	struct bld_strv *out;
	struct util_buf buf;
	int in_word;
};

struct lexer {
	struct bld_arena *a;
	const char *s;
	size_t len, pos;
	char esc;
	unsigned flags;
	int raw_escapes;		/* as the current (nested) word wants */
	const struct bld_env *env;
	int depth;
	struct words *w;		/* the top level's words, or NULL */
	char *err;
	size_t errlen;
	int rc;				/* the first error */
};

static int lex_error(struct lexer *lx, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int lex_error(struct lexer *lx, int rc, const char *fmt, ...)
{
	va_list ap;

	if (lx->rc)
		return lx->rc;
	lx->rc = rc;
	if (lx->err && lx->errlen) {
		va_start(ap, fmt);
		vsnprintf(lx->err, lx->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int put(struct lexer *lx, struct util_buf *b, const char *p, size_t n)
{
	int rc = util_buf_add(b, p, n);

	if (rc == -EFBIG)
		return lex_error(lx, rc, "a word is longer than %u bytes after expansion",
				 LIMIT_GOVCFILE_WORD_BYTES);
	if (rc)
		return lex_error(lx, rc, "out of memory");
	return 0;
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* ---- words ------------------------------------------------------------ */

static int words_flush(struct lexer *lx)
{
	struct words *w = lx->w;
	char *s;

	if (util_buf_len(&w->buf)) {
		s = bld_strndup(w->a, util_buf_str(&w->buf), util_buf_len(&w->buf));
		if (!s || bld_strv_push(w->a, w->out, s))
			return lex_error(lx, w->a->err, "out of memory or too large");
		util_buf_reset(&w->buf);
	}
	w->in_word = 0;
	return 0;
}

static int words_raw(struct lexer *lx, const char *p, size_t n)
{
	if (!lx->w)
		return 0;
	lx->w->in_word = 1;
	return put(lx, &lx->w->buf, p, n);
}

/* characters that split words where they are white space */
static int words_add(struct lexer *lx, const char *p, size_t n)
{
	for (size_t i = 0; lx->w && i < n; i++) {
		if (is_space((unsigned char)p[i])) {
			if (lx->w->in_word && util_buf_len(&lx->w->buf) && words_flush(lx))
				return lx->rc;
		} else if (words_raw(lx, p + i, 1)) {
			return lx->rc;
		}
	}
	return 0;
}

/* ---- the lexer -------------------------------------------------------- */

static int process(struct lexer *lx, char stop, int raw_escapes, struct util_buf *out);

static int peek(const struct lexer *lx)
{
	return lx->pos < lx->len ? (unsigned char)lx->s[lx->pos] : -1;
}

static int get_env(struct lexer *lx, const char *name, const char **value)
{
	*value = lx->env ? bld_env_get(lx->env, name, NULL) : NULL;
	if (!*value) {
		*value = "";
		return 0;
	}
	return 1;
}

static void process_name(struct lexer *lx, char *name, size_t size)
{
	size_t n = 0;
	int c = peek(lx);

	name[0] = '\0';
	if (c >= '0' && c <= '9') {
		while ((c = peek(lx)) >= '0' && c <= '9') {
			if (n + 1 < size)
				name[n++] = (char)c;
			lx->pos++;
		}
		name[n] = '\0';
		return;
	}
	if (c >= 0 && strchr("@*#?-$!0", c) && c) {
		name[0] = (char)c;
		name[1] = '\0';
		lx->pos++;
		return;
	}
	while ((c = peek(lx)) >= 0 &&
	       ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c >= 0x80)) {
		if (n + 1 < size)
			name[n++] = (char)c;
		lx->pos++;
	}
	name[n] = '\0';
}

/*
 * Pattern removal.  The glob (the "*", "?" and escaped characters of
 * BuildKit's patterns; "[" is literal there too) is compiled into tokens
 * and run as an NFA over the value once, which marks every prefix length
 * it matches: O(value x pattern), charged to the arena's budget so that a
 * file full of ${V##*a*a*a*b} cannot keep a build busy.
 */
enum { TOK_STAR = -1, TOK_ANY = -2 };

static int *glob_tokens(const char *pat, size_t *m, int reverse)
{
	size_t n = strlen(pat), k = 0;
	int *t = malloc((n + 1) * sizeof(*t));

	if (!t)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (pat[i] == '*')
			t[k++] = TOK_STAR;
		else if (pat[i] == '?')
			t[k++] = TOK_ANY;
		else if (pat[i] == '\\' && i + 1 < n)
			t[k++] = (unsigned char)pat[++i];
		else
			t[k++] = (unsigned char)pat[i];
	}
	for (size_t i = 0; reverse && i < k / 2; i++) {
		int x = t[i];

		t[i] = t[k - 1 - i];
		t[k - 1 - i] = x;
	}
	*m = k;
	return t;
}

/* MATCH[i] = does the glob match the first i bytes of S (or, REVERSE, the
 * last i)?  MATCH has N + 1 entries. */
static int glob_prefixes(struct lexer *lx, const char *pat, const char *s, size_t n,
			 int reverse, unsigned char *match)
{
	size_t m;
	int *t = glob_tokens(pat, &m, reverse);
	unsigned char *cur = NULL, *next = NULL;
	int rc = 0;

	if (!t || !(cur = calloc(m + 1, 1)) || !(next = calloc(m + 1, 1))) {
		rc = lex_error(lx, -ENOMEM, "out of memory");
		goto out;
	}
	cur[0] = 1;
	for (size_t i = 0;; i++) {
		for (size_t j = 0; j < m; j++)	/* a star matches nothing too */
			if (cur[j] && t[j] == TOK_STAR)
				cur[j + 1] = 1;
		match[i] = cur[m];
		if (i == n)
			break;
		int c = (unsigned char)s[reverse ? n - 1 - i : i];

		memset(next, 0, m + 1);
		for (size_t j = 0; j < m; j++) {
			if (!cur[j])
				continue;
			if (t[j] == TOK_STAR)
				next[j] = 1;
			else if (t[j] == TOK_ANY || t[j] == c)
				next[j + 1] = 1;
		}
		memcpy(cur, next, m + 1);
	}
out:
	free(t);
	free(cur);
	free(next);
	return rc;
}

/* ${VAR#pat} and friends: OP '#' or '%', GREEDY for ## and %% */
static int trim_pattern(struct lexer *lx, const char *value, const char *pat, int op,
			int greedy, struct util_buf *out)
{
	size_t n = strlen(value), cost = (n + 1) * (strlen(pat) + 1);
	struct bld_arena *a = lx->a;
	unsigned char *match;
	size_t cut = 0;
	int rc;

	if (cost > a->budget)
		return lex_error(lx, -EFBIG, "pattern removals (${VAR#...}, ${VAR%%...}) "
				 "would take too long");
	a->budget -= cost;
	match = malloc(n + 1);
	if (!match)
		return lex_error(lx, -ENOMEM, "out of memory");
	rc = glob_prefixes(lx, pat, value, n, op == '%', match);
	for (size_t k = 0; !rc && k <= n; k++) {
		size_t len = greedy ? n - k : k;	/* the part removed */

		if (match[len]) {
			cut = len;
			break;
		}
	}
	free(match);
	if (rc)
		return rc;
	if (op == '#')
		return put(lx, out, value + cut, n - cut);
	return put(lx, out, value, n - cut);
}

static int process_braces(struct lexer *lx, struct util_buf *out)
{
	struct util_buf word = UTIL_BUF_INIT(LIMIT_GOVCFILE_WORD_BYTES);
	char name[256], op[3] = "";
	const char *value;
	int c, set, null_is_unset = 0, rc = 0;
	size_t start = lx->pos - 1;	/* the '$' */

	lx->pos++;			/* '{' */
	c = peek(lx);
	if (c < 0)
		return lex_error(lx, -EINVAL, "syntax error: missing '}'");
	if (c == '{' || c == '}' || c == ':')
		return lex_error(lx, -EINVAL, "syntax error: bad substitution");
	process_name(lx, name, sizeof(name));
	c = peek(lx);
	if (c < 0)
		return lex_error(lx, -EINVAL, "syntax error: missing '}'");
	lx->pos++;
	if (c == '}') {
		set = get_env(lx, name, &value);
		if (!set && (lx->flags & BLD_LEX_SKIP_UNSET))
			return put(lx, out, lx->s + start, lx->pos - start);
		return put(lx, out, value, strlen(value));
	}
	op[0] = (char)c;
	if (c == ':') {
		null_is_unset = 1;
		c = peek(lx);
		if (c < 0)
			return lex_error(lx, -EINVAL, "syntax error: missing '}'");
		lx->pos++;
		op[1] = (char)c;
	}
	for (size_t i = 0; op[i]; i++)	/* messages stay on one line */
		if ((unsigned char)op[i] < ' ' || op[i] == 0x7f)
			op[i] = '?';
	if (!c || !strchr("+-?#%", c) || (null_is_unset && (c == '#' || c == '%')))
		return lex_error(lx, -EINVAL, "unsupported modifier (%s) in substitution%s", op,
				 c == '/' ? ": pattern replacement is not implemented" : "");
	if (++lx->depth > LIMIT_GOVCFILE_NESTING)
		return lex_error(lx, -EFBIG, "substitutions nested more than %d deep",
				 LIMIT_GOVCFILE_NESTING);
	if (process(lx, '}', c == '#' || c == '%', &word)) {
		rc = lx->rc;
		goto out;
	}
	lx->depth--;
	set = get_env(lx, name, &value);
	if (!set && (lx->flags & BLD_LEX_SKIP_UNSET)) {
		rc = put(lx, out, lx->s + start, lx->pos - start);
		goto out;
	}
	switch (c) {
	case '-':
		if (!set || (null_is_unset && !*value))
			value = util_buf_str(&word);
		rc = put(lx, out, value, strlen(value));
		break;
	case '+':
		if (set && !(null_is_unset && !*value))
			rc = put(lx, out, util_buf_str(&word), util_buf_len(&word));
		break;
	case '?':
		if (!set || (null_is_unset && !*value))
			rc = lex_error(lx, -EINVAL, "%s: %s", name,
				       util_buf_len(&word) ? util_buf_str(&word) :
				       !set ? "is not allowed to be unset" :
				       "is not allowed to be empty");
		else
			rc = put(lx, out, value, strlen(value));
		break;
	default: {			/* '#', '%' */
		const char *pat = util_buf_str(&word);
		int greedy = *pat == c;

		rc = trim_pattern(lx, value, pat + greedy, c, greedy, out);
		break;
	}
	}
out:
	util_buf_release(&word);
	return rc;
}

static int process_dollar(struct lexer *lx, struct util_buf *out)
{
	char name[256];
	const char *value;
	size_t start = lx->pos;

	lx->pos++;			/* '$' */
	if (peek(lx) == '{')
		return process_braces(lx, out);
	process_name(lx, name, sizeof(name));
	if (!name[0])
		return put(lx, out, "$", 1);
	if (!get_env(lx, name, &value) && (lx->flags & BLD_LEX_SKIP_UNSET))
		return put(lx, out, lx->s + start, lx->pos - start);
	return put(lx, out, value, strlen(value));
}

static int process_single_quote(struct lexer *lx, struct util_buf *out)
{
	int raw = lx->flags & BLD_LEX_RAW_QUOTES;
	size_t start;

	if (raw && put(lx, out, "'", 1))
		return lx->rc;
	start = ++lx->pos;
	while (peek(lx) >= 0 && peek(lx) != '\'')
		lx->pos++;
	if (peek(lx) < 0)
		return lex_error(lx, -EINVAL, "unterminated quote: no matching single quote");
	if (put(lx, out, lx->s + start, lx->pos - start))
		return lx->rc;
	lx->pos++;
	return raw ? put(lx, out, "'", 1) : 0;
}

static int process_double_quote(struct lexer *lx, struct util_buf *out)
{
	int raw = lx->flags & BLD_LEX_RAW_QUOTES;
	int c;

	lx->pos++;
	if (raw && put(lx, out, "\"", 1))
		return lx->rc;
	for (;;) {
		char ch;

		c = peek(lx);
		if (c < 0)
			return lex_error(lx, -EINVAL, "unterminated quote: no matching double quote");
		if (c == '"') {
			lx->pos++;
			return raw ? put(lx, out, "\"", 1) : 0;
		}
		if (c == '$') {
			if (process_dollar(lx, out))
				return lx->rc;
			continue;
		}
		lx->pos++;
		ch = (char)c;
		if (ch == lx->esc) {
			if (lx->raw_escapes && put(lx, out, &ch, 1))
				return lx->rc;
			c = peek(lx);
			if (c < 0)
				continue;
			if (c == '"' || c == '$' || c == (unsigned char)lx->esc) {
				ch = (char)c;
				lx->pos++;
			}
		}
		if (put(lx, out, &ch, 1))
			return lx->rc;
	}
}

/* "<<" and the blanks after it stay in one word: "<< EOF" names a heredoc */
static int process_heredoc_mark(struct lexer *lx, struct util_buf *out)
{
	size_t start = lx->pos++;

	if (peek(lx) != '<')
		return put(lx, out, "<", 1);
	lx->pos++;
	while (peek(lx) == ' ' || peek(lx) == '\t')
		lx->pos++;
	return put(lx, out, lx->s + start, lx->pos - start);
}

/*
 * The word up to STOP (0: the end), with escapes kept when RAW_ESCAPES.
 * Appends to OUT; the top level (lx->w set, STOP 0) also splits words.
 */
static int process(struct lexer *lx, char stop, int raw_escapes, struct util_buf *out)
{
	int saved_raw = lx->raw_escapes;
	struct words *w = lx->w;
	int c, rc = 0;

	lx->raw_escapes = raw_escapes;
	if (stop)
		lx->w = NULL;	/* nested words are not split */
	while ((c = peek(lx)) >= 0 && !rc) {
		struct util_buf tmp = UTIL_BUF_INIT(LIMIT_GOVCFILE_WORD_BYTES);
		char ch = (char)c;

		if (stop && ch == stop) {
			lx->pos++;
			goto done;
		}
		if (ch == '$' || ch == '<' ||
		    (!(lx->flags & BLD_LEX_SKIP_QUOTES) && (ch == '\'' || ch == '"'))) {
			rc = ch == '$' ? process_dollar(lx, &tmp) :
			     ch == '<' ? process_heredoc_mark(lx, &tmp) :
			     ch == '\'' ? process_single_quote(lx, &tmp) :
			     process_double_quote(lx, &tmp);
			if (!rc)
				rc = put(lx, out, util_buf_str(&tmp), util_buf_len(&tmp));
			if (!rc)
				rc = ch == '$' ? words_add(lx, util_buf_str(&tmp), util_buf_len(&tmp)) :
				     words_raw(lx, util_buf_str(&tmp), util_buf_len(&tmp));
			util_buf_release(&tmp);
			continue;
		}
		lx->pos++;
		if (ch == lx->esc) {
			if (lx->raw_escapes && (words_raw(lx, &ch, 1) || put(lx, out, &ch, 1)))
				break;
			if (peek(lx) < 0)
				break;
			ch = lx->s[lx->pos++];
			rc = words_raw(lx, &ch, 1);
		} else {
			rc = words_add(lx, &ch, 1);
		}
		if (!rc)
			rc = put(lx, out, &ch, 1);
	}
	if (lx->rc)
		rc = lx->rc;
	else if (stop)
		rc = lex_error(lx, -EINVAL, "syntax error: missing '%c'", stop);
done:
	lx->raw_escapes = saved_raw;
	lx->w = w;
	return rc;
}

int bld_lex(struct bld_arena *a, const char *in, char escape, unsigned flags,
	    const struct bld_env *env, char **out, struct bld_strv *words,
	    char *err, size_t errlen)
{
	struct util_buf result = UTIL_BUF_INIT(LIMIT_GOVCFILE_WORD_BYTES);
	struct words w = { a, words, UTIL_BUF_INIT(LIMIT_GOVCFILE_WORD_BYTES), 0 };
	struct lexer lx = {
		.a = a, .s = in, .len = strlen(in), .esc = escape, .flags = flags,
		.env = env, .w = words ? &w : NULL, .err = err, .errlen = errlen,
	};
	int rc;

	if (err && errlen)
		err[0] = '\0';
	rc = process(&lx, 0, (flags & BLD_LEX_RAW_ESCAPES) != 0, &result);
	if (!rc && words)
		rc = words_flush(&lx);
	if (!rc) {
		*out = bld_strndup(a, util_buf_str(&result), util_buf_len(&result));
		if (!*out)
			rc = lex_error(&lx, a->err, "out of memory or too large");
	}
	util_buf_release(&result);
	util_buf_release(&w.buf);
	return rc;
}

int bld_expand(char **out, const char *in, char escape, const struct bld_env *env,
	       char *err, size_t errlen)
{
	struct bld_arena *a = bld_arena_new(LIMIT_GOVCFILE_WORD_BYTES + 4096);
	char *word;
	int rc;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	rc = bld_lex(a, in, escape, 0, env, &word, NULL, err, errlen);
	if (!rc) {
		*out = strdup(word);
		if (!*out)
			rc = -ENOMEM;
	}
	bld_arena_free(a);
	return rc;
}

/* ---- the variables in scope ------------------------------------------- */

static size_t key_hash(const char *k)
{
	size_t h = 14695981039346656037ULL;

	while (*k)
		h = (h ^ (unsigned char)*k++) * 1099511628211ULL;
	return h;
}

/* the slot holding KEY, or the free slot where it would go */
static size_t env_slot(const struct bld_env *env, const char *key)
{
	size_t mask = env->nslots - 1, i = key_hash(key) & mask;

	while (env->slots[i] && strcmp(env->v[env->slots[i] - 1].key, key))
		i = (i + 1) & mask;
	return i;
}

static size_t env_find(const struct bld_env *env, const char *key)
{
	size_t s;

	if (!env->nslots)
		return env->n;
	s = env_slot(env, key);
	return env->slots[s] ? env->slots[s] - 1 : env->n;
}

static int env_grow(struct bld_env *env)
{
	size_t cap = env->cap ? env->cap * 2 : 16, nslots = cap * 2;
	struct bld_kv *nv = realloc(env->v, cap * sizeof(*nv));
	unsigned char *na;
	size_t *slots;

	if (!nv)
		return -ENOMEM;
	env->v = nv;
	na = realloc(env->is_arg, cap);
	if (!na)
		return -ENOMEM;
	env->is_arg = na;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	free(env->slots);
	env->slots = slots;
	env->nslots = nslots;
	env->cap = cap;
	for (size_t i = 0; i < env->n; i++)
		env->slots[env_slot(env, env->v[i].key)] = i + 1;
	return 0;
}

const char *bld_env_get(const struct bld_env *env, const char *key, int *is_arg)
{
	size_t i = env_find(env, key);

	if (i == env->n)
		return NULL;
	if (is_arg)
		*is_arg = env->is_arg[i];
	return env->v[i].value;
}

int bld_env_set(struct bld_env *env, const char *key, const char *value, int is_arg)
{
	size_t i = env_find(env, key);
	char *v = strdup(value), *k = NULL;

	if (!v)
		return -ENOMEM;
	if (i == env->n) {
		if (env->n == env->cap && env_grow(env)) {
			free(v);
			return -ENOMEM;
		}
		k = strdup(key);
		if (!k) {
			free(v);
			return -ENOMEM;
		}
		env->v[i].key = k;
		env->v[i].value = NULL;
		env->slots[env_slot(env, k)] = i + 1;
		env->n++;
	}
	free(env->v[i].value);
	env->v[i].value = v;
	env->is_arg[i] = (unsigned char)is_arg;
	return 0;
}

void bld_env_release(struct bld_env *env)
{
	for (size_t i = 0; i < env->n; i++) {
		free(env->v[i].key);
		free(env->v[i].value);
	}
	free(env->v);
	free(env->is_arg);
	free(env->slots);
	memset(env, 0, sizeof(*env));
}
