/*
 * govcfile.h - the Govcfile language (Dockerfile syntax and semantics, as
 * BuildKit's dockerfile frontend defines them): parser, variable
 * expansion, build plan and .dockerignore rules.
 *
 * Two steps, as in BuildKit:
 *
 *   bld_parse()  text -> struct bld_file: instructions in file order, each
 *                typed, with its flags, its words as written (quotes and
 *                escapes kept where Docker keeps them until expansion),
 *                its heredocs and its source lines.  Syntax only: nothing
 *                is expanded, no build argument is needed.
 *   bld_plan()   file + --build-arg values + --target -> struct bld_plan:
 *                stages in file order, what each depends on (base stage,
 *                COPY --from, RUN --mount from=), which are needed for the
 *                target, and the instructions of the needed stages with
 *                every word Docker expands expanded in its stage's scope
 *                (ARG before FROM, ARG in the stage, ENV beating ARG).
 *
 * The executor and the step cache read a plan: a stage is a base (scratch,
 * an image reference, or an earlier stage) and a list of expanded
 * instructions, each with the line it came from, so every message of a
 * build can name its Govcfile line.  A base image's own ENV enters the
 * expansion through a callback (struct bld_plan_opts.image_env), since
 * only the executor knows images.
 *
 * Errors: the input is untrusted.  Every fallible function returns 0 or a
 * negative errno (-EINVAL for bad input, -EFBIG for a limit met,
 * -ENOMEM) and, if DIAG is not NULL, fills it with the line and a message
 * in the form "line 7: unknown instruction 'RUNN'".  The parser keeps its
 * message in DIAG rather than in the store's per-thread buffer so that it
 * depends on nothing but util/ (the fuzz target links it alone); callers
 * in store-aware code pass DIAG.msg on with store_error().  Limits:
 * LIMIT_GOVCFILE_* in util/limits.h.
 *
 * Memory: a file or plan owns everything it points to (one arena each);
 * all pointers into it are borrowed until bld_file_free()/bld_plan_free().
 * A plan does not point into the file it was made from.
 *
 * Threads: no shared state; a parsed file or plan is read-only and may be
 * read by any number of threads.
 */
#ifndef GOVC_BUILDER_GOVCFILE_H
#define GOVC_BUILDER_GOVCFILE_H

#include <stddef.h>
#include <stdint.h>

struct bld_arena;

/* where an error was found, and what it was */
struct bld_diag {
	unsigned line;		/* 1-based; 0 when no line applies */
	char msg[512];		/* "line N: ..." */
};

/* a vector of NUL-terminated strings */
struct bld_strv {
	char **v;
	size_t n;
};

/* KEY=VALUE; VALUE NULL for "ARG NAME" without a default */
struct bld_kv {
	char *key;
	char *value;
};

enum bld_op {
	BLD_FROM = 1, BLD_RUN, BLD_CMD, BLD_ENTRYPOINT, BLD_SHELL, BLD_COPY,
	BLD_ADD, BLD_ENV, BLD_ARG, BLD_LABEL, BLD_WORKDIR, BLD_USER, BLD_EXPOSE,
	BLD_VOLUME, BLD_STOPSIGNAL, BLD_HEALTHCHECK, BLD_ONBUILD, BLD_MAINTAINER,
};

/* bld_op_name - "FROM", "RUN", ... for OP. */
const char *bld_op_name(enum bld_op op);

/* a heredoc (RUN <<EOF, COPY <<EOF /dst) */
struct bld_heredoc {
	char *name;		/* the delimiter, quotes removed */
	char *content;		/* the body, each line with its "\n"; tabs
				 * stripped for <<- */
	unsigned line;		/* the line of the instruction it belongs to */
	unsigned fd;		/* 3<<EOF: 3; 0 when none was written */
	int expand;		/* 0 if any part of the delimiter was quoted */
	int chomp;		/* <<- */
};

enum bld_mount_type {
	BLD_MOUNT_BIND = 1, BLD_MOUNT_CACHE, BLD_MOUNT_TMPFS, BLD_MOUNT_SECRET,
	BLD_MOUNT_SSH,
};
enum bld_sharing { BLD_SHARE_DEFAULT = 0, BLD_SHARE_SHARED, BLD_SHARE_PRIVATE,
		   BLD_SHARE_LOCKED };

/* RUN --mount=type=...,...  (every key BuildKit knows) */
struct bld_mount {
	enum bld_mount_type type;	/* default bind */
	char *target;		/* target, dst, destination */
	char *source;		/* source, src */
	char *from;		/* a stage name or index, or an image */
	char *id;		/* cache or secret id */
	char *env;		/* secret: the variable to set */
	enum bld_sharing sharing;	/* cache only */
	int readonly;		/* default: bind and secret and ssh 1 */
	int required;		/* secret, ssh */
	uint64_t size;		/* tmpfs size in bytes, 0 for none */
	int has_mode, has_uid, has_gid;
	unsigned mode, uid, gid;	/* cache, secret, ssh */
	int from_stage;		/* in a plan: the stage FROM names, or -1 */
};

enum bld_network { BLD_NET_DEFAULT = 0, BLD_NET_NONE, BLD_NET_HOST };
enum bld_security { BLD_SEC_SANDBOX = 0, BLD_SEC_INSECURE };

/* HEALTHCHECK; durations in nanoseconds, 0 where not given */
struct bld_health {
	int none;		/* HEALTHCHECK NONE */
	int64_t interval, timeout, start_period, start_interval;
	int retries;		/* 0 where not given */
};

/*
 * One instruction.  Which fields are set depends on OP; the rest are
 * zero.  In a file, words are as written; in a plan, as expanded (for
 * the instructions Docker expands; RUN, CMD, ENTRYPOINT, SHELL,
 * HEALTHCHECK and ONBUILD keep their text for the shell or a later
 * build).
 */
struct bld_insn {
	enum bld_op op;
	unsigned line;		/* first line */
	unsigned end_line;	/* last line, heredoc bodies included */
	char *text;		/* as written, continuations joined */

	/*
	 * RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK CMD: exec_form set: ARGS
	 * is the JSON array; else ARGS holds one string, the command line.
	 * COPY, ADD: sources then the destination (heredoc sources as
	 * "<<NAME", their content in HEREDOCS).  EXPOSE, VOLUME: the words.
	 * FROM: image [AS name] as written.  WORKDIR, USER, STOPSIGNAL,
	 * MAINTAINER: one string.
	 */
	int exec_form;
	struct bld_strv args;
	struct bld_kv *kv;	/* ENV, LABEL, ARG */
	size_t nkv;
	struct bld_heredoc *heredocs;
	size_t nheredocs;

	struct {		/* FROM */
		char *image;	/* as written; in a plan, expanded */
		char *name;	/* AS name, lowercased; NULL if none */
		char *platform;	/* --platform; NULL if none */
	} from;
	struct {		/* RUN */
		struct bld_strv mount_specs;	/* --mount values as written */
		struct bld_mount *mounts;	/* parsed; in a plan expanded */
		size_t nmounts;
		enum bld_network network;
		enum bld_security security;
		struct bld_kv *build_args;	/* plan: ARGs in scope, for the
						 * command's environment and
						 * the cache key */
		size_t nbuild_args;
	} run;
	struct {		/* COPY, ADD */
		char *from;	/* --from (COPY) */
		char *chown, *chmod, *checksum;	/* --checksum: ADD */
		int link, parents, keep_git_dir;
		struct bld_strv exclude;	/* --exclude */
		int from_stage;	/* plan: the stage --from names, or -1 */
	} copy;
	struct bld_health health;	/* HEALTHCHECK (ARGS: its CMD) */
	struct bld_insn *trigger;	/* ONBUILD: the wrapped instruction */
};

/* a parsed Govcfile */
struct bld_file {
	struct bld_insn *insns;
	size_t ninsns;
	char escape;		/* '\\' or '`' (# escape=) */
	char *syntax;		/* # syntax=, NULL if absent */
	unsigned nwarnings;	/* empty continuation lines seen */
	struct bld_arena *arena;
};

/*
 * bld_parse - parse the LEN bytes at TEXT (need not be NUL-terminated)
 * into *OUT.  Checks the syntax of every instruction and its flags
 * (unknown instructions and flags, unterminated heredocs, bad JSON
 * arrays, bad --mount fields, durations, stage names); expands nothing.
 *
 * Returns 0; -EINVAL (DIAG says the line and why); -EFBIG when the text
 * passes a LIMIT_GOVCFILE_* limit; -ENOMEM.  On an error *OUT is NULL.
 * Ownership: *OUT is the caller's, freed with bld_file_free().
 */
int bld_parse(struct bld_file **out, const char *text, size_t len,
	      struct bld_diag *diag);

/* bld_file_free - free F (NULL is fine). */
void bld_file_free(struct bld_file *f);

/* ---- expansion ---------------------------------------------------------- */

/*
 * Variables in scope: ENV and ARG values, keys unique, in the order first
 * set (a later set replaces the value in place), with a hash index.  A
 * zero-filled struct is an empty scope.  Strings are copied in (malloc)
 * and owned by the scope until bld_env_release().  One thread at a time.
 */
struct bld_env {
	struct bld_kv *v;
	unsigned char *is_arg;	/* 1 for an ARG, 0 for an ENV */
	size_t n, cap;
	size_t *slots;		/* open addressing: index + 1 into V, 0 free */
	size_t nslots;		/* a power of two, at least 2 * cap */
};

/*
 * bld_env_set - set KEY to VALUE (copies of both), an ARG if IS_ARG.
 * Returns 0 or -ENOMEM (ENV unchanged).
 */
int bld_env_set(struct bld_env *env, const char *key, const char *value,
		int is_arg);

/*
 * bld_env_get - KEY's value (borrowed until the next set or release), or
 * NULL if unset; *IS_ARG (if IS_ARG is not NULL) says whether an ARG set it.
 */
const char *bld_env_get(const struct bld_env *env, const char *key, int *is_arg);

/* bld_env_release - free ENV's strings and leave it empty. */
void bld_env_release(struct bld_env *env);

/*
 * bld_expand - expand the word IN as Docker's shell lexer does with the
 * escape character ESCAPE (normally '\\'), in the scope ENV (NULL: none):
 * quotes removed ('...' literal, "..." expanding $ and escaping only ",
 * $ and the escape char), escapes removed, $VAR, ${VAR}, ${VAR:-w},
 * ${VAR-w}, ${VAR:+w}, ${VAR+w}, ${VAR:?w}, ${VAR?w}, ${VAR#p}, ${VAR##p},
 * ${VAR%p}, ${VAR%%p}; unset variables and positional or special
 * parameters ($1, $@) are empty.  (bld_plan expands with this lexer; the
 * executor will for ONBUILD triggers.)
 *
 * Returns 0 and *OUT, the caller's, freed with free(); -EINVAL with a
 * message (no line: the caller adds it) in ERR (ERRLEN bytes, may be 0);
 * -EFBIG past LIMIT_GOVCFILE_WORD_BYTES or LIMIT_GOVCFILE_PATTERN_WORK;
 * -ENOMEM.  On an error *OUT is NULL.
 */
int bld_expand(char **out, const char *in, char escape, const struct bld_env *env,
	       char *err, size_t errlen);

/* ---- plan --------------------------------------------------------------- */

enum bld_base_kind { BLD_BASE_SCRATCH = 1, BLD_BASE_IMAGE, BLD_BASE_STAGE };

struct bld_stage {
	size_t index;		/* its position, 0 first */
	char *name;		/* AS name (lowercased), or NULL */
	unsigned line;		/* its FROM's line */
	enum bld_base_kind base;
	char *image;		/* BLD_BASE_IMAGE: the expanded reference */
	char *platform;		/* expanded --platform, or NULL */
	size_t base_stage;	/* BLD_BASE_STAGE: its index */
	int needed;		/* the target needs it */
	struct bld_insn *insns;	/* needed stages: expanded, FROM excluded */
	size_t ninsns;
	struct bld_kv *env;	/* needed stages: the ENV at its end, in the
				 * order set (the image config's Env) */
	size_t nenv;
};

struct bld_plan {
	struct bld_stage *stages;
	size_t nstages;
	size_t target;		/* index of the target stage */
	size_t *order;		/* needed stages, dependencies first */
	size_t norder;
	struct bld_kv *global_args;	/* ARGs before the first FROM, values */
	size_t nglobal_args;
	struct bld_arena *arena;
};

struct bld_plan_opts {
	const char *target;		/* --target, NULL for the last stage */
	const char *const *build_args;	/* "KEY=VALUE" (--build-arg) */
	size_t nbuild_args;
	/*
	 * The ENV of image REF (expanded FROM), as "KEY=VALUE" strings
	 * borrowed until the next call; NULL or a NULL callback: none.
	 * Called only for needed stages based on an image.
	 */
	const char *const *(*image_env)(void *ctx, const char *ref,
				       size_t *n);
	void *ctx;
};

/*
 * bld_plan - the build plan of F for OPTS (see the top of this file).
 * Stages the target does not need are listed (name, base, line) but their
 * instructions are neither expanded nor checked further, as with
 * BuildKit.
 *
 * Returns 0; -EINVAL (DIAG: an expansion error, a stage that is missing
 * or named twice, COPY --from a later stage, an unknown target); -EFBIG
 * past LIMIT_GOVCFILE_PLAN_BYTES; -ENOMEM.  On an error *OUT is NULL.
 * Ownership: *OUT is the caller's, freed with bld_plan_free(); it does
 * not point into F or OPTS.
 */
int bld_plan(struct bld_plan **out, const struct bld_file *f,
	     const struct bld_plan_opts *opts, struct bld_diag *diag);

/* bld_plan_free - free P (NULL is fine). */
void bld_plan_free(struct bld_plan *p);

/* ---- .dockerignore / .govcignore ---------------------------------------- */

struct bld_ignore;

/*
 * bld_ignore_compile - compile the LEN bytes of a .dockerignore (or
 * .govcignore) into *OUT with Docker's rules: "#" lines are comments;
 * white space around a pattern is dropped; "!" makes an exception; each
 * pattern is cleaned as a path (leading "/" and "./", "a/../b", trailing
 * "/" removed) and anchored at the context's root; "*" and "?" stay within
 * a name, "**" spans directories; a pattern excludes the paths it matches
 * and everything below them; the last matching pattern wins, and unlike
 * git an exception can re-include a path below an excluded directory.
 *
 * Returns 0; -EFBIG past UTIL_IGNORE_TEXT_MAX or UTIL_IGNORE_PATTERNS_MAX;
 * -ENOMEM.  *OUT is the caller's, freed with bld_ignore_free().
 */
int bld_ignore_compile(struct bld_ignore **out, const char *text, size_t len);

/* bld_ignore_free - free IG (NULL is fine). */
void bld_ignore_free(struct bld_ignore *ig);

/*
 * bld_ignore_excluded - 1 if IG excludes PATH (relative to the context's
 * root, "/" separated, no leading "/"), else 0.  The builder reads the
 * Govcfile and the ignore file whatever the patterns say; they only keep
 * them from COPY and ADD, as in Docker.
 */
int bld_ignore_excluded(const struct bld_ignore *ig, const char *path);

/* bld_ignore_has_exceptions - 1 if IG has a "!" pattern (so that a path
 * below an excluded directory may be included again), else 0. */
int bld_ignore_has_exceptions(const struct bld_ignore *ig);

#endif
