/*
 * context.h - which paths of a build's context (the commit) a Govcfile
 * reads, so that the daemon builds a commit only when it changed
 * something the build would see.
 *
 * A Govcfile reads the context through COPY and ADD sources (not those
 * with --from, which read a stage or an image) and through RUN
 * --mount=type=bind without from=.  A source names a path relative to the
 * context's root ("/", "./" and "a/../" are cleaned away as Docker does);
 * "." names the whole context; a directory covers everything below it; a
 * source holding '*', '?' or '[' is a glob (fnmatch with FNM_PATHNAME, as
 * Go's filepath.Match that Docker uses: '*' stays within a name), and a
 * path is read when it or one of its directories matches.
 *
 * The answers err on the side of building: a source holding '$' (expanded
 * only by the plan, with build arguments the trigger does not know) or one
 * that cannot be cleaned reads everything; every stage counts, needed by
 * the target or not.  Heredoc sources ("<<EOF") and remote sources (ADD
 * of a URL or a git address) read nothing of the context.  ONBUILD
 * triggers run in other builds and read nothing of this one.
 *
 * Threads: no state; F is only read.
 */
#ifndef GOVC_BUILDER_CONTEXT_H
#define GOVC_BUILDER_CONTEXT_H

#include "builder/govcfile.h"

/*
 * bld_context_reads - 1 if F reads PATH of the context (relative to the
 * context's root, "/" separated; a trailing "/", as tree diffs report
 * empty directories, is ignored), else 0.  -ENOMEM.
 */
int bld_context_reads(const struct bld_file *f, const char *path);

/*
 * bld_context_affects - 1 if a change of PATH can change a build of the
 * Govcfile at FILE (its path in the context, e.g. "Govcfile") parsed as F,
 * with the ignore rules IG: PATH is FILE itself, an ignore file the build
 * may read (FILE".dockerignore", ".govcignore", ".dockerignore"), or a
 * path F reads that IG does not exclude.  F NULL (the
 * Govcfile does not parse: its build fails until it changes) and IG NULL
 * (no ignore file) are fine.  0, or -ENOMEM.
 */
int bld_context_affects(const struct bld_file *f, const struct bld_ignore *ig,
			const char *file, const char *path);

#endif
