/*
 * context.c - which paths of the context a Govcfile reads (context.h):
 * the daemon's build trigger asks it for each path a commit changed.
 *
 * Work: one pass over the instructions per path, each source expanded
 * (quotes and escapes only) and cleaned on the way; a commit's changed
 * paths times a Govcfile's sources is small.  Everything allocated is
 * freed before returning.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "builder/context.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/path.h"

/* the longest changed path the trigger cleans; a longer one counts as read */
#define CONTEXT_PATH_MAX (64u << 10)

/* is_heredoc - source word W of IN names one of its heredocs ("<<EOF",
 * "3<<EOF"), as bld_plan tells them apart */
static int is_heredoc(const struct bld_insn *in, const char *w)
{
	if (!in->nheredocs || in->exec_form)
		return 0;
	while (*w >= '0' && *w <= '9')
		w++;
	return !strncmp(w, "<<", 2);
}

/* is_remote - ADD of a URL or a git address reads nothing of the context */
static int is_remote(const char *w)
{
	return strstr(w, "://") != NULL || !strncmp(w, "git@", 4);
}

/*
 * covers - 1 if source SRC (cleaned: no leading "/", "" for the whole
 * context) reads PATH (cleaned the same way): PATH is SRC or lies below
 * it; for a glob, PATH or one of its directories matches it.
 */
static int covers(const char *src, const char *path)
{
	size_t n = strlen(src);

	if (!n)
		return 1;
	if (!strpbrk(src, "*?[")) {
		return !strncmp(path, src, n) && (path[n] == '\0' || path[n] == '/');
	}
	for (const char *p = path;; p++) {
		if (*p == '/' || *p == '\0') {
			/* the prefix of PATH up to here, as a string of its own */
			size_t len = (size_t)(p - path);
			char *prefix = strndup(path, len);
			int hit;

			if (!prefix)
				return -ENOMEM;
			hit = fnmatch(src, prefix, FNM_PATHNAME) == 0;
			free(prefix);
			if (hit)
				return 1;
		}
		if (!*p)
			return 0;
	}
}

/*
 * source_reads - 1 if source word W (as written) of a Govcfile whose
 * escape character is ESCAPE reads PATH, 0 if not, -ENOMEM.  A word the
 * trigger cannot resolve without the build's arguments reads everything.
 */
static int source_reads(const char *w, char escape, const char *path)
{
	struct util_buf clean = UTIL_BUF_INIT(LIMIT_GOVCFILE_WORD_BYTES);
	char err[128], *word = NULL;
	int rc;

	if (strchr(w, '$'))
		return 1;
	rc = bld_expand(&word, w, escape, NULL, err, sizeof(err));
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return 1;	/* the build will say what is wrong with it */
	rc = util_path_normalize(&clean, word,
				 UTIL_PATH_SKIP_EMPTY | UTIL_PATH_ALLOW_DOTDOT |
					 UTIL_PATH_ALLOW_ABSOLUTE,
				 NULL);
	free(word);
	if (rc == -ENOMEM) {
		util_buf_release(&clean);
		return rc;
	}
	/* a source that climbs above the context: Docker cleans it against
	 * the root; read everything rather than guess */
	rc = rc ? 1 : covers(clean.ptr ? clean.ptr : "", path);
	util_buf_release(&clean);
	return rc;
}

/* insn_reads - 1 if instruction IN of F reads PATH from the context */
static int insn_reads(const struct bld_file *f, const struct bld_insn *in, const char *path)
{
	int rc = 0;

	if (in->op == BLD_COPY || in->op == BLD_ADD) {
		if (in->copy.from)
			return 0;	/* a stage or an image, not the context */
		/* sources, then the destination */
		for (size_t i = 0; rc == 0 && i + 1 < in->args.n; i++) {
			const char *w = in->args.v[i];

			if (is_heredoc(in, w) || (in->op == BLD_ADD && is_remote(w)))
				continue;
			rc = source_reads(w, f->escape, path);
		}
		return rc;
	}
	if (in->op == BLD_RUN) {
		for (size_t i = 0; rc == 0 && i < in->run.nmounts; i++) {
			const struct bld_mount *m = &in->run.mounts[i];

			if (m->type != BLD_MOUNT_BIND || m->from)
				continue;
			rc = m->source ? source_reads(m->source, f->escape, path) : 1;
		}
	}
	return rc;
}

/*
 * clean_path - PATH (a changed path: "dir/" for an empty directory) in the
 * form sources are cleaned to, into OUT.  0, -ENOMEM, or another negative
 * errno for a path too long or too odd to clean (the caller then counts
 * it as read).
 */
static int clean_path(struct util_buf *out, const char *path)
{
	return util_path_normalize(out, path, UTIL_PATH_SKIP_EMPTY | UTIL_PATH_ALLOW_ABSOLUTE,
				   NULL);
}

/* reads - bld_context_reads of the cleaned path PATH */
static int reads(const struct bld_file *f, const char *path)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < f->ninsns; i++)
		rc = insn_reads(f, &f->insns[i], path);
	return rc;
}

int bld_context_reads(const struct bld_file *f, const char *path)
{
	struct util_buf clean = UTIL_BUF_INIT(CONTEXT_PATH_MAX);
	int rc = clean_path(&clean, path);

	if (rc == 0)
		rc = reads(f, clean.ptr ? clean.ptr : "");
	else if (rc != -ENOMEM)
		rc = 1;
	util_buf_release(&clean);
	return rc;
}

int bld_context_affects(const struct bld_file *f, const struct bld_ignore *ig, const char *file,
			const char *path)
{
	struct util_buf clean = UTIL_BUF_INIT(CONTEXT_PATH_MAX);
	const char *p;
	size_t n;
	int rc = clean_path(&clean, path);

	if (rc) {
		util_buf_release(&clean);
		return rc == -ENOMEM ? rc : 1;
	}
	p = clean.ptr ? clean.ptr : "";
	n = strlen(file);
	if (!strcmp(p, file) || !strcmp(p, ".dockerignore") || !strcmp(p, ".govcignore") ||
	    (!strncmp(p, file, n) && !strcmp(p + n, ".dockerignore")))
		rc = 1;
	else if (!f || (ig && bld_ignore_excluded(ig, p)))
		rc = 0;
	else
		rc = reads(f, p);
	util_buf_release(&clean);
	return rc;
}
