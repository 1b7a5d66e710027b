/*
 * plan.c - a parsed Govcfile, build arguments and a target to a build plan
 * (struct bld_plan): stages, what they depend on, which the target needs,
 * and their instructions with every word Docker expands expanded.
 *
 * Scoping, as Docker documents it:
 *   - ARGs before the first FROM are global: they are visible to FROM
 *     lines (image and --platform) and nowhere else, unless a stage
 *     declares "ARG NAME" again, which then takes the global value;
 *   - an ARG's value is the --build-arg of its name if one was given, else
 *     its default expanded in scope, else (in a stage) the global value;
 *   - ENV always beats ARG of the same name, whichever comes first (Docker's
 *     documentation and buildah; BuildKit lets a later ARG win);
 *   - a stage starts with its base's ENV: the image's (opts->image_env) or
 *     the earlier stage's; ARGs do not carry over into a stage built FROM
 *     another.
 * Stages the target does not need are not expanded (their errors do not
 * matter), as BuildKit never dispatches them.
 *
 * Not yet: the predefined platform ARGs (TARGETPLATFORM, BUILDPLATFORM,
 * TARGETOS, TARGETARCH, ...) and the proxy ARGs; ONBUILD triggers of base
 * images (the executor will splice them in); ${VAR/pat/rep}.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "builder/bld_int.h"
#include "util/limits.h"

struct planner {
	const struct bld_file *f;
	const struct bld_plan_opts *o;
	struct bld_arena *a;
	struct bld_plan *p;
	struct bld_diag *diag;
	struct bld_env globals;		/* global ARGs that have a value */
};

static int nomem(struct planner *pl, unsigned line)
{
	if (pl->a->err == -EFBIG)
		return bld_fail(pl->diag, -EFBIG, line, "the expanded Govcfile needs more than "
				"%u bytes", LIMIT_GOVCFILE_PLAN_BYTES);
	return bld_fail(pl->diag, -ENOMEM, line, "out of memory");
}

/* expand IN in ENV for the instruction at LINE into *OUT */
static int expand(struct planner *pl, unsigned line, const char *in, const struct bld_env *env,
		  char **out)
{
	char err[300];
	int rc = bld_lex(pl->a, in, pl->f->escape, 0, env, out, NULL, err, sizeof(err));

	if (rc == -ENOMEM || (rc == -EFBIG && pl->a->err == -EFBIG))
		return nomem(pl, line);
	if (rc)
		return bld_fail(pl->diag, rc, line, "%s", err);
	return 0;
}

static const char *build_arg(const struct planner *pl, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < pl->o->nbuild_args; i++) {
		const char *a = pl->o->build_args[i];

		if (!strncmp(a, key, klen) && a[klen] == '=')
			return a + klen + 1;
	}
	return NULL;
}

/* ---- deep copies into the plan's arena --------------------------------- */

static char *dup0(struct planner *pl, const char *s, int *rc)
{
	char *d;

	if (!s)
		return NULL;
	d = bld_strdup(pl->a, s);
	if (!d)
		*rc = -ENOMEM;
	return d;
}

static void dup_strv(struct planner *pl, struct bld_strv *dst, const struct bld_strv *src,
		     int *rc)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n && !*rc; i++) {
		char *s = dup0(pl, src->v[i], rc);

		if (s && bld_strv_push(pl->a, dst, s))
			*rc = -ENOMEM;
	}
}

static void *dup_mem(struct planner *pl, const void *src, size_t size, int *rc)
{
	void *d;

	if (!size)
		return NULL;
	d = bld_alloc(pl->a, size);
	if (!d)
		*rc = -ENOMEM;
	else
		memcpy(d, src, size);
	return d;
}

static void copy_insn(struct planner *pl, struct bld_insn *d, const struct bld_insn *s,
		      int *rc)
{
	*d = *s;
	d->text = dup0(pl, s->text, rc);
	dup_strv(pl, &d->args, &s->args, rc);
	d->kv = dup_mem(pl, s->kv, s->nkv * sizeof(*s->kv), rc);
	for (size_t i = 0; d->kv && i < s->nkv; i++) {
		d->kv[i].key = dup0(pl, s->kv[i].key, rc);
		d->kv[i].value = dup0(pl, s->kv[i].value, rc);
	}
	d->heredocs = dup_mem(pl, s->heredocs, s->nheredocs * sizeof(*s->heredocs), rc);
	for (size_t i = 0; d->heredocs && i < s->nheredocs; i++) {
		d->heredocs[i].name = dup0(pl, s->heredocs[i].name, rc);
		d->heredocs[i].content = dup0(pl, s->heredocs[i].content, rc);
	}
	d->from.image = dup0(pl, s->from.image, rc);
	d->from.name = dup0(pl, s->from.name, rc);
	d->from.platform = dup0(pl, s->from.platform, rc);
	dup_strv(pl, &d->run.mount_specs, &s->run.mount_specs, rc);
	d->run.mounts = dup_mem(pl, s->run.mounts, s->run.nmounts * sizeof(*s->run.mounts), rc);
	for (size_t i = 0; d->run.mounts && i < s->run.nmounts; i++) {
		struct bld_mount *m = &d->run.mounts[i];

		m->target = dup0(pl, m->target, rc);
		m->source = dup0(pl, m->source, rc);
		m->from = dup0(pl, m->from, rc);
		m->id = dup0(pl, m->id, rc);
		m->env = dup0(pl, m->env, rc);
	}
	d->copy.from = dup0(pl, s->copy.from, rc);
	d->copy.chown = dup0(pl, s->copy.chown, rc);
	d->copy.chmod = dup0(pl, s->copy.chmod, rc);
	d->copy.checksum = dup0(pl, s->copy.checksum, rc);
	dup_strv(pl, &d->copy.exclude, &s->copy.exclude, rc);
	if (s->trigger) {
		d->trigger = bld_alloc(pl->a, sizeof(*d->trigger));
		if (!d->trigger)
			*rc = -ENOMEM;
		else
			copy_insn(pl, d->trigger, s->trigger, rc);
	}
}

/* ---- stages ------------------------------------------------------------- */

static int stage_by_name(const struct bld_plan *p, const char *name, size_t *idx)
{
	for (size_t i = 0; i < p->nstages; i++) {
		if (p->stages[i].name && !strcasecmp(p->stages[i].name, name)) {
			*idx = i;
			return 1;
		}
	}
	return 0;
}

/*
 * What --from=REF (COPY) or from=REF (RUN --mount) in stage CUR names:
 * *STAGE the stage, or -1 for an image.
 */
static int resolve_from(struct planner *pl, const char *what, const char *ref, size_t cur,
			unsigned line, int *stage)
{
	char *end;
	unsigned long n;
	size_t idx;

	*stage = -1;
	if (strchr(ref, '$'))
		return bld_fail(pl->diag, -EINVAL, line, "variable expansion is not supported for "
				"%s, define a new stage with FROM using ARG from global scope "
				"as a workaround", what);
	if (isdigit((unsigned char)*ref)) {
		errno = 0;
		n = strtoul(ref, &end, 10);
		if (!*end && !errno) {
			if (n >= cur)
				return bld_fail(pl->diag, -EINVAL, line, "%s=%s: stage %s is not "
						"defined before the current stage", what, ref, ref);
			*stage = (int)n;
			return 0;
		}
	}
	if (stage_by_name(pl->p, ref, &idx)) {
		if (idx >= cur)
			return bld_fail(pl->diag, -EINVAL, line, "%s=%s: stage '%s' needs to be "
					"defined before the current stage", what, ref, ref);
		*stage = (int)idx;
	}
	return 0;
}

/* the instructions of the file that stage I owns: [*B, *E) */
struct span {
	size_t from, begin, end;	/* the FROM, its first and past-last insns */
};

static int global_args(struct planner *pl, size_t nglobal)
{
	const struct bld_file *f = pl->f;
	size_t total = 0, k = 0;
	int rc;

	for (size_t i = 0; i < nglobal; i++)
		total += f->insns[i].nkv;
	if (total) {
		pl->p->global_args = bld_alloc(pl->a, total * sizeof(struct bld_kv));
		if (!pl->p->global_args)
			return nomem(pl, f->insns[0].line);
	}
	for (size_t i = 0; i < nglobal; i++) {
		const struct bld_insn *in = &f->insns[i];

		if (in->op != BLD_ARG)
			return bld_fail(pl->diag, -EINVAL, in->line, "%s before the first FROM "
					"(only ARG may come before it)", bld_op_name(in->op));
		for (size_t j = 0; j < in->nkv; j++) {
			const char *given = build_arg(pl, in->kv[j].key);
			char *value = NULL;

			if (given) {
				value = bld_strdup(pl->a, given);
				if (!value)
					return nomem(pl, in->line);
			} else if (in->kv[j].value &&
				   (rc = expand(pl, in->line, in->kv[j].value, &pl->globals,
						&value))) {
				return rc;
			}
			if (value && bld_env_set(&pl->globals, in->kv[j].key, value, 1))
				return bld_fail(pl->diag, -ENOMEM, in->line, "out of memory");
			pl->p->global_args[k].key = bld_strdup(pl->a, in->kv[j].key);
			pl->p->global_args[k++].value = value;
			if (!pl->p->global_args[k - 1].key)
				return nomem(pl, in->line);
		}
	}
	pl->p->nglobal_args = k;
	return 0;
}

/* the stage a FROM starts: name, base, platform */
static int stage_head(struct planner *pl, struct bld_stage *st, const struct bld_insn *in)
{
	size_t idx;
	int rc;

	st->line = in->line;
	if (in->from.name) {
		if (stage_by_name(pl->p, in->from.name, &idx))
			return bld_fail(pl->diag, -EINVAL, in->line, "duplicate stage name '%s' "
					"(first at line %u)", in->from.name,
					pl->p->stages[idx].line);
		st->name = bld_strdup(pl->a, in->from.name);
		if (!st->name)
			return nomem(pl, in->line);
	}
	if ((rc = expand(pl, in->line, in->from.image, &pl->globals, &st->image)))
		return rc;
	if (!*st->image)
		return bld_fail(pl->diag, -EINVAL, in->line, "FROM '%s' names no image once "
				"expanded", in->from.image);
	if (in->from.platform &&
	    (rc = expand(pl, in->line, in->from.platform, &pl->globals, &st->platform)))
		return rc;
	if (stage_by_name(pl->p, st->image, &idx)) {
		st->base = BLD_BASE_STAGE;
		st->base_stage = idx;
	} else if (!strcasecmp(st->image, "scratch")) {
		st->base = BLD_BASE_SCRATCH;
	} else {
		st->base = BLD_BASE_IMAGE;
	}
	return 0;
}

/* mark in NEED (one flag a stage) what stage I depends on */
static int stage_deps(struct planner *pl, size_t i, const struct span *sp, unsigned char *need)
{
	const struct bld_stage *st = &pl->p->stages[i];
	int rc, s;

	if (st->base == BLD_BASE_STAGE)
		need[st->base_stage] = 1;
	for (size_t k = sp->begin; k < sp->end; k++) {
		const struct bld_insn *in = &pl->f->insns[k];

		if ((in->op == BLD_COPY || in->op == BLD_ADD) && in->copy.from) {
			if ((rc = resolve_from(pl, "--from", in->copy.from, i, in->line, &s)))
				return rc;
			if (s >= 0)
				need[s] = 1;
		}
		for (size_t m = 0; in->op == BLD_RUN && m < in->run.nmounts; m++) {
			if (!in->run.mounts[m].from)
				continue;
			if ((rc = resolve_from(pl, "from", in->run.mounts[m].from, i, in->line, &s)))
				return rc;
			if (s >= 0)
				need[s] = 1;
		}
	}
	return 0;
}

/* ---- expanding a stage -------------------------------------------------- */

static int valid_port(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *p = s;
	int digits = 0, dash = 0;

	for (; *p && p != slash; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '-' && digits && !dash)
			dash = 1, digits = 0;
		else
			return 0;
	}
	if (!digits)
		return 0;
	return !slash || !strcasecmp(slash + 1, "tcp") || !strcasecmp(slash + 1, "udp") ||
	       !strcasecmp(slash + 1, "sctp");
}

static int expand_insn(struct planner *pl, size_t si, struct bld_insn *in, struct bld_env *env)
{
	char *v;
	int rc = 0;

	switch (in->op) {
	case BLD_ENV:
	case BLD_LABEL:
		for (size_t i = 0; i < in->nkv; i++) {
			if ((rc = expand(pl, in->line, in->kv[i].key, env, &in->kv[i].key)) ||
			    (rc = expand(pl, in->line, in->kv[i].value, env, &in->kv[i].value)))
				return rc;
			if (!*in->kv[i].key)
				return bld_fail(pl->diag, -EINVAL, in->line, "%s names can not be "
						"blank", bld_op_name(in->op));
		}
		/* every pair expands in the scope before the instruction:
		 * "ENV a=bye b=$a" gives b the old a, as Docker documents */
		for (size_t i = 0; in->op == BLD_ENV && i < in->nkv; i++)
			if (bld_env_set(env, in->kv[i].key, in->kv[i].value, 0))
				return bld_fail(pl->diag, -ENOMEM, in->line, "out of memory");
		return 0;
	case BLD_ARG:
		for (size_t i = 0; i < in->nkv; i++) {
			const char *given = build_arg(pl, in->kv[i].key);
			int is_arg = 1;

			if (given) {
				in->kv[i].value = bld_strdup(pl->a, given);
				if (!in->kv[i].value)
					return nomem(pl, in->line);
			} else if (in->kv[i].value) {
				if ((rc = expand(pl, in->line, in->kv[i].value, env,
						 &in->kv[i].value)))
					return rc;
			} else if ((v = (char *)bld_env_get(&pl->globals, in->kv[i].key, NULL))) {
				in->kv[i].value = bld_strdup(pl->a, v);
				if (!in->kv[i].value)
					return nomem(pl, in->line);
			}
			if (!in->kv[i].value)
				continue;
			/* ENV beats ARG */
			if (bld_env_get(env, in->kv[i].key, &is_arg) && !is_arg)
				continue;
			if (bld_env_set(env, in->kv[i].key, in->kv[i].value, 1))
				return bld_fail(pl->diag, -ENOMEM, in->line, "out of memory");
		}
		return 0;
	case BLD_COPY:
	case BLD_ADD:
		for (size_t i = 0; i < in->args.n; i++) {
			int doc = 0;

			for (size_t h = 0; h < in->nheredocs && !in->exec_form; h++) {
				const char *w = in->args.v[i];

				while (isdigit((unsigned char)*w))
					w++;
				doc |= !strncmp(w, "<<", 2);
			}
			if (!doc && (rc = expand(pl, in->line, in->args.v[i], env, &in->args.v[i])))
				return rc;
		}
		for (size_t h = 0; h < in->nheredocs; h++) {
			char err[300];

			if (!in->heredocs[h].expand)
				continue;
			rc = bld_lex(pl->a, in->heredocs[h].content, '\\', BLD_LEX_SKIP_QUOTES, env,
				     &in->heredocs[h].content, NULL, err, sizeof(err));
			if (rc == -EINVAL)
				return bld_fail(pl->diag, rc, in->line, "heredoc '%s': %s",
						in->heredocs[h].name, err);
			if (rc)
				return nomem(pl, in->line);
		}
		if ((in->copy.chown && (rc = expand(pl, in->line, in->copy.chown, env,
						     &in->copy.chown))) ||
		    (in->copy.chmod && (rc = expand(pl, in->line, in->copy.chmod, env,
						     &in->copy.chmod))) ||
		    (in->copy.checksum && (rc = expand(pl, in->line, in->copy.checksum, env,
							&in->copy.checksum))))
			return rc;
		if (in->copy.from)
			return resolve_from(pl, "--from", in->copy.from, si, in->line,
					    &in->copy.from_stage);
		return 0;
	case BLD_WORKDIR:
	case BLD_USER:
	case BLD_STOPSIGNAL:
		return expand(pl, in->line, in->args.v[0], env, &in->args.v[0]);
	case BLD_VOLUME:
		for (size_t i = 0; i < in->args.n; i++) {
			if ((rc = expand(pl, in->line, in->args.v[i], env, &in->args.v[i])))
				return rc;
			if (!*in->args.v[i])
				return bld_fail(pl->diag, -EINVAL, in->line,
						"VOLUME specified can not be an empty string");
		}
		return 0;
	case BLD_EXPOSE: {
		struct bld_strv ports = { 0 };
		char err[300];

		for (size_t i = 0; i < in->args.n; i++) {
			rc = bld_lex(pl->a, in->args.v[i], pl->f->escape, 0, env, &v, &ports, err,
				     sizeof(err));
			if (rc == -EINVAL)
				return bld_fail(pl->diag, rc, in->line, "%s", err);
			if (rc)
				return nomem(pl, in->line);
		}
		for (size_t i = 0; i < ports.n; i++)
			if (!valid_port(ports.v[i]))
				return bld_fail(pl->diag, -EINVAL, in->line, "invalid port '%s' "
						"(PORT[-PORT][/tcp|udp|sctp])", ports.v[i]);
		in->args = ports;
		return 0;
	}
	case BLD_RUN: {
		char err[300];
		size_t n = 0;

		for (size_t m = 0; m < in->run.nmounts; m++) {
			rc = bld_mount_parse(pl->a, in->run.mount_specs.v[m], env, pl->f->escape,
					     &in->run.mounts[m], err, sizeof(err));
			if (rc == -EINVAL)
				return bld_fail(pl->diag, rc, in->line, "--mount=%s: %s",
						in->run.mount_specs.v[m], err);
			if (rc)
				return nomem(pl, in->line);
			if (in->run.mounts[m].from &&
			    (rc = resolve_from(pl, "from", in->run.mounts[m].from, si, in->line,
					       &in->run.mounts[m].from_stage)))
				return rc;
		}
		for (size_t i = 0; i < env->n; i++)
			n += env->is_arg[i];
		in->run.build_args = n ? bld_alloc(pl->a, n * sizeof(struct bld_kv)) : NULL;
		if (n && !in->run.build_args)
			return nomem(pl, in->line);
		for (size_t i = 0; i < env->n; i++) {
			if (!env->is_arg[i])
				continue;
			struct bld_kv *kv = &in->run.build_args[in->run.nbuild_args++];

			kv->key = bld_strdup(pl->a, env->v[i].key);
			kv->value = bld_strdup(pl->a, env->v[i].value);
			if (!kv->key || !kv->value)
				return nomem(pl, in->line);
		}
		return 0;
	}
	default:
		return 0;	/* CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER */
	}
}

static int expand_stage(struct planner *pl, size_t si, const struct span *sp)
{
	struct bld_stage *st = &pl->p->stages[si];
	struct bld_env env = { 0 };
	int rc = 0;

	if (st->base == BLD_BASE_STAGE) {
		const struct bld_stage *b = &pl->p->stages[st->base_stage];

		for (size_t i = 0; i < b->nenv && !rc; i++)
			rc = bld_env_set(&env, b->env[i].key, b->env[i].value, 0);
	} else if (st->base == BLD_BASE_IMAGE && pl->o->image_env) {
		size_t n = 0;
		const char *const *kvs = pl->o->image_env(pl->o->ctx, st->image, &n);

		for (size_t i = 0; kvs && i < n && !rc; i++) {
			const char *eq = strchr(kvs[i], '=');
			char key[256];

			if (!eq || (size_t)(eq - kvs[i]) >= sizeof(key))
				continue;
			memcpy(key, kvs[i], (size_t)(eq - kvs[i]));
			key[eq - kvs[i]] = '\0';
			rc = bld_env_set(&env, key, eq + 1, 0);
		}
	}
	if (rc) {
		rc = bld_fail(pl->diag, -ENOMEM, st->line, "out of memory");
		goto out;
	}
	st->ninsns = sp->end - sp->begin;
	st->insns = st->ninsns ? bld_alloc(pl->a, st->ninsns * sizeof(*st->insns)) : NULL;
	if (st->ninsns && !st->insns) {
		rc = nomem(pl, st->line);
		goto out;
	}
	for (size_t k = 0; k < st->ninsns; k++) {
		const struct bld_insn *src = &pl->f->insns[sp->begin + k];

		copy_insn(pl, &st->insns[k], src, &rc);
		if (rc) {
			rc = nomem(pl, src->line);
			goto out;
		}
		if ((rc = expand_insn(pl, si, &st->insns[k], &env)))
			goto out;
	}
	for (size_t i = 0; i < env.n; i++)
		st->nenv += !env.is_arg[i];
	st->env = st->nenv ? bld_alloc(pl->a, st->nenv * sizeof(*st->env)) : NULL;
	if (st->nenv && !st->env) {
		rc = nomem(pl, st->line);
		goto out;
	}
	for (size_t i = 0, k = 0; i < env.n; i++) {
		if (env.is_arg[i])
			continue;
		st->env[k].key = bld_strdup(pl->a, env.v[i].key);
		st->env[k].value = bld_strdup(pl->a, env.v[i].value);
		if (!st->env[k].key || !st->env[k].value) {
			rc = nomem(pl, st->line);
			goto out;
		}
		k++;
	}
out:
	bld_env_release(&env);
	return rc;
}

/* ---- the plan ----------------------------------------------------------- */

static int make_plan(struct planner *pl, struct span *spans, unsigned char *need)
{
	const struct bld_file *f = pl->f;
	struct bld_plan *p = pl->p;
	size_t first = 0, nstages = 0;
	int rc;

	while (first < f->ninsns && f->insns[first].op != BLD_FROM)
		first++;
	if (first == f->ninsns)
		return bld_fail(pl->diag, -EINVAL, f->insns[f->ninsns - 1].line,
				"no FROM: a Govcfile needs at least one stage");
	if ((rc = global_args(pl, first)))
		return rc;
	for (size_t k = first; k < f->ninsns; k++) {
		if (f->insns[k].op != BLD_FROM)
			continue;
		spans[nstages].from = k;
		spans[nstages].begin = k + 1;
		if (nstages)
			spans[nstages - 1].end = k;
		nstages++;
	}
	if (!nstages)	/* not reached: insns[first] is a FROM */
		return -EINVAL;
	spans[nstages - 1].end = f->ninsns;
	p->stages = bld_alloc(pl->a, nstages * sizeof(*p->stages));
	p->order = bld_alloc(pl->a, nstages * sizeof(*p->order));
	if (!p->stages || !p->order)
		return nomem(pl, f->insns[first].line);
	for (size_t i = 0; i < nstages; i++) {
		p->stages[i].index = i;
		if ((rc = stage_head(pl, &p->stages[i], &f->insns[spans[i].from])))
			return rc;
		p->nstages++;
	}
	/* the target and what it needs: dependencies are earlier stages */
	p->target = nstages - 1;
	if (pl->o->target && *pl->o->target && !stage_by_name(p, pl->o->target, &p->target))
		return bld_fail(pl->diag, -EINVAL, 0, "target stage '%s' could not be found",
				pl->o->target);
	need[p->target] = 1;
	for (size_t i = p->target + 1; i-- > 0;)
		if (need[i] && (rc = stage_deps(pl, i, &spans[i], need)))
			return rc;
	for (size_t i = 0; i <= p->target; i++) {
		if (!need[i])
			continue;
		p->stages[i].needed = 1;
		p->order[p->norder++] = i;
		if ((rc = expand_stage(pl, i, &spans[i])))
			return rc;
	}
	return 0;
}

int bld_plan(struct bld_plan **out, const struct bld_file *f, const struct bld_plan_opts *opts,
	     struct bld_diag *diag)
{
	static const struct bld_plan_opts none;
	struct planner pl = { .f = f, .o = opts ? opts : &none, .diag = diag };
	size_t nfrom = 0;
	struct span *spans = NULL;
	unsigned char *need = NULL;
	int rc;

	*out = NULL;
	if (diag) {
		diag->line = 0;
		diag->msg[0] = '\0';
	}
	for (size_t k = 0; k < f->ninsns; k++)
		nfrom += f->insns[k].op == BLD_FROM;
	if (nfrom > LIMIT_GOVCFILE_STAGES)
		return bld_fail(diag, -EFBIG, 0, "more than %u stages", LIMIT_GOVCFILE_STAGES);
	pl.a = bld_arena_new(LIMIT_GOVCFILE_PLAN_BYTES);
	spans = calloc(nfrom + 1, sizeof(*spans));
	need = calloc(nfrom + 1, 1);
	if (!pl.a || !spans || !need || !(pl.p = bld_alloc(pl.a, sizeof(*pl.p)))) {
		rc = bld_fail(diag, -ENOMEM, 0, "out of memory");
		goto out;
	}
	pl.p->arena = pl.a;
	rc = make_plan(&pl, spans, need);
out:
	bld_env_release(&pl.globals);
	free(spans);
	free(need);
	if (rc) {
		bld_arena_free(pl.a);
		return rc;
	}
	*out = pl.p;
	return 0;
}

void bld_plan_free(struct bld_plan *p)
{
	if (p)
		bld_arena_free(p->arena);
}
