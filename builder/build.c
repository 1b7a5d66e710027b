/*
 * build.c - the build driver (build.h): the commit's Govcfile, its plan,
 * the stages in dependency order, the step cache, the image published at
 * the end, the record and the events.
 *
 * A stage's state is its filesystem (the layers, bottom first, and a
 * chain key: sha256 over the diff_ids) and its image config (a JSON
 * object as the OCI image config has it, history included).  Steps that
 * change only the config are done in memory; the others (RUN, COPY, ADD,
 * WORKDIR's directory) go through the step cache and, on a miss, through
 * an overlay (layers.c).
 *
 * Threads: the build's thread only (exec.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder/build.h"
#include "builder/copy.h"
#include "builder/exec.h"
#include "builder/record.h"
#include "builder/govcfile.h"
#include "oci/oci.h"
#include "oci/registry.h"
#include "store/git.h"
#include "store/ingest.h"
#include "store/object.h"
#include "store/repo.h"
#include "store/store.h"
#include "util/limits.h"

#define CACHE_OWNER "build:"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct stage {
	int done;
	struct bx_fs fs;
	unsigned char key[32];	/* the chain key of FS */
	json_t *img;		/* the image config (rootfs added at the end) */
	json_t *shell;		/* SHELL, or NULL: ["/bin/sh", "-c"] */
	int cmd_inherited;	/* Cmd came with the base image */
};

struct build {
	struct store *s;
	const struct bld_build_opts *o;
	struct store_ingest *in;
	char repo[256];
	git_oid commit, tree;
	char commit_hex[GIT_OID_HEXSZ + 1];
	int64_t epoch;
	struct bld_plan *plan;
	struct bld_ignore *ignore;
	unsigned char ignore_key[32];
	struct stage *stages;
	char record[4096];	/* the record's directory, or "" */
	int log_fd;
	char *govcfile;
	size_t govcfile_len;
	/* image_env's answer */
	char **env_strs;
	size_t nenv_strs;
	const char *step_what;	/* "line N: RUN ..." for messages */
};

/* ---- records, log and events ------------------------------------------------- */

int bld_record_dir(struct store *s, const char *repo, unsigned n, char *buf, size_t len)
{
	int w = snprintf(buf, len, "%s/builds/%s/%u", store_dir(s), repo, n);
	return w < 0 || (size_t)w >= len ? store_error(-ENAMETOOLONG, "path too long") : 0;
}

/* rec_put - record file NAME := DATA (record.h), if the build has one */
static void rec_put(struct build *b, const char *name, const char *data, size_t len)
{
	if (*b->record)
		bld_record_put(b->s, b->repo, b->o->record, name, data, len);
}

static void rec_line(struct build *b, const char *name, const char *line)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s\n", line);
	rec_put(b, name, buf, n < 0 ? 0 : (size_t)n >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)n);
}

/* say - a line of the build's own output: to the log, and to stderr */
static void say(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct build *b, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (b->log_fd >= 0)
		util_write_all(b->log_fd, buf, (size_t)n);
	if (!b->o->quiet)
		util_write_all(2, buf, (size_t)n);
}

static void raise_event(struct build *b, const char *action, json_t *extra)
{
	struct store_txn *t;
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "build", "action", action, "repo",
			       b->repo, "commit", b->commit_hex);

	if (!ev)
		return;
	if (b->o->record)
		json_object_set_new(ev, "n", json_integer(b->o->record));
	if (extra)
		json_object_update(ev, extra);
	json_decref(extra);
	if (store_txn_begin(&t, b->s, STORE_TXN_WRITE) == 0) {
		if (store_event_raise(t, ev) == 0)
			store_txn_commit(t);
		else
			store_txn_abort(t);
	} else
		json_decref(ev);
}

/* ---- hashing -------------------------------------------------------------------- */

struct hash {
	EVP_MD_CTX *ctx;
};

static void h_begin(struct hash *h)
{
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx)
		EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

static void h_add(struct hash *h, const void *p, size_t n)
{
	if (h->ctx)
		EVP_DigestUpdate(h->ctx, p, n);
}

static void h_str(struct hash *h, const char *s)
{
	h_add(h, s ? s : "\x01(null)", s ? strlen(s) + 1 : 8);
}

static int h_end(struct hash *h, unsigned char out[32])
{
	unsigned len = 0;
	int ok = h->ctx && EVP_DigestFinal_ex(h->ctx, out, &len) == 1;
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	return ok ? 0 : store_error(-ENOMEM, "out of memory");
}

static void h_json(struct hash *h, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
	h_str(h, s);
	free(s);
}

static void stage_push_layer(struct stage *st, const struct bx_layer *l)
{
	struct hash h;
	h_begin(&h);
	h_add(&h, st->key, 32);
	h_add(&h, l->diff_id.sha256, 32);
	h_end(&h, st->key);
	bx_fs_push(&st->fs, l);
}

/* ---- the commit ---------------------------------------------------------------- */

static int resolve_commit(struct build *b)
{
	const char *c = b->o->commit;
	struct store_txn *t;
	char ref[512];
	int rc = store_txn_begin(&t, b->s, 0);

	if (rc)
		return rc;
	if (!store_repo_exists(t, b->repo)) {
		store_txn_abort(t);
		return store_error(-ENOENT, "no repository '%s' in the store (govc repos lists them)",
				   b->repo);
	}
	if (!c)
		rc = store_ref_resolve(t, b->repo, "HEAD", &b->commit);
	else {
		size_t n = strlen(c);
		rc = -ENOENT;
		if (n >= 4 && n <= 40 && strspn(c, "0123456789abcdef") == n)
			rc = store_object_prefix(t, c, n, &b->commit);
		if (rc == -ENOENT) {
			snprintf(ref, sizeof(ref), "refs/heads/%s", c);
			rc = store_ref_resolve(t, b->repo, ref, &b->commit);
		}
	}
	store_txn_abort(t);
	if (rc == -ENOENT)
		return store_error(rc, "%s: no commit '%s' in repository %s", b->repo,
				   c ? c : "HEAD", b->repo);
	if (rc)
		return rc;
	git_oid_tostr(b->commit_hex, sizeof(b->commit_hex), &b->commit);
	{
		int64_t time;
		rc = store_commit_read(b->s, b->repo, &b->commit, &time, &b->tree);
		if (rc == 0 && b->o->epoch >= 0)
			b->epoch = b->o->epoch;
		else if (rc == 0) {
			const char *sde = getenv("SOURCE_DATE_EPOCH");
			b->epoch = sde && *sde ? strtoll(sde, NULL, 10) : time;
		}
	}
	return rc;
}

/* read_ctx_file - the file PATH of the context, or -ENOENT */
static int read_ctx_file(struct build *b, const char *path, size_t max, char **out, size_t *len)
{
	struct store_txn *t;
	unsigned mode;
	git_oid id;
	uint64_t size;
	git_object_t type;
	int rc = store_txn_begin(&t, b->s, 0);

	if (rc)
		return rc;
	rc = bx_ctx_lookup(t, &b->tree, path, &mode, &id);
	if (rc == 0 && (mode & 0170000) != 0100000)
		rc = -ENOENT;
	if (rc == 0)
		rc = store_object_info(t, &id, &type, &size);
	if (rc == 0 && size > max)
		rc = store_error(-EFBIG, "%s is larger than %zu bytes", path, max);
	if (rc == 0) {
		*out = malloc(size + 1);
		if (!*out)
			rc = store_error(-ENOMEM, "out of memory");
		else {
			long n = store_object_copy(t, &id, 0, *out, size);
			if (n < 0) {
				free(*out);
				rc = (int)n;
			} else {
				(*out)[n] = '\0';
				*len = (size_t)n;
			}
		}
	}
	store_txn_abort(t);
	return rc;
}

/* ---- images in the store ----------------------------------------------------------- */

struct base {
	struct oci_digest manifest;
	struct oci_image_info info;
	json_t *config;		/* the whole config document */
	struct bx_layer *layers;
	unsigned nlayers;
};

static void base_release(struct base *ib)
{
	json_decref(ib->config);
	free(ib->layers);
	memset(ib, 0, sizeof(*ib));
}

/* base_name - where REF lives in the store */
static int base_name(const char *ref, char *name, char *tag)
{
	struct oci_remote_ref r;
	if (oci_remote_ref_parse(ref, &r))
		return -EINVAL;
	oci_remote_ref_name(&r, name, tag);
	return 0;
}

/*
 * platform_check - does CONFIG (an image config) run on PLATFORM
 * ("os/arch[/variant]")?  0, or -ENOEXEC with a message naming both
 */
static int platform_check(json_t *config, const char *platform, const char *ref)
{
	struct oci_platform want, have;
	char got[3 * OCI_PLATFORM_PART_MAX + 3];
	int rc = oci_platform_parse(&want, platform);

	if (rc)
		return store_error(rc, "--platform=%s: %s", platform, store_errmsg());
	oci_platform_from(config, &have);
	if (!have.os[0])
		strcpy(have.os, "linux");
	if (oci_platform_match(&want, &have))
		return 0;
	oci_platform_fmt(&have, got, sizeof(got));
	return store_error(-ENOEXEC,
			   "the store's %s is %s, not %s (the store keeps one platform per tag: "
			   "govc pull --platform %s into another name, and build FROM that)",
			   ref, got, platform, platform);
}

static int base_load(struct build *b, const char *ref, const char *platform, struct base *ib,
		     int may_pull)
{
	char name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1];
	struct store_txn *t;
	int rc;

	memset(ib, 0, sizeof(*ib));
	if (base_name(ref, name, tag))
		return store_error(-EINVAL, "'%s' is not an image reference", ref);
	rc = store_txn_begin(&t, b->s, 0);
	if (rc)
		return rc;
	rc = oci_tag_get(t, name, tag, &ib->manifest, NULL);
	if (rc == -ENOENT && may_pull) {
		struct oci_remote_ref r;
		struct oci_registry_opts ro = { .tls_verify = -1, .quiet = 1 };
		char msg[1024];
		store_txn_abort(t);
		say(b, "pulling %s", ref);
		oci_remote_ref_parse(ref, &r);
		struct oci_import_opts io = { .platform = platform };
		rc = oci_pull(b->s, &r, name, tag, &ro, &io, &ib->manifest);
		if (rc) {
			snprintf(msg, sizeof(msg), "%s", store_errmsg());
			return store_error(rc, "no image %s:%s in the store, and pulling %s failed: %s"
					   " (govc images lists the store's; govc import or pull brings one)",
					   name, tag, ref, msg);
		}
		rc = store_txn_begin(&t, b->s, 0);
		if (rc)
			return rc;
	} else if (rc == -ENOENT) {
		store_txn_abort(t);
		return store_error(rc, "no image %s:%s in the store", name, tag);
	}
	if (rc == 0)
		rc = oci_image_info(t, &ib->manifest, &ib->info);
	if (rc == 0)
		rc = oci_json_load(t, &ib->info.config, ref, &ib->config);
	if (rc == 0 && platform)
		rc = platform_check(ib->config, platform, ref);
	if (rc == 0 && ib->info.nlayers) {
		ib->layers = calloc(ib->info.nlayers, sizeof(*ib->layers));
		if (!ib->layers)
			rc = store_error(-ENOMEM, "out of memory");
	}
	for (unsigned i = 0; rc == 0 && i < ib->info.nlayers; i++) {
		struct oci_layer_info li;
		struct bx_layer *l = &ib->layers[i];
		rc = oci_image_layer(t, &ib->manifest, i, &l->desc.digest, &l->desc.size);
		if (rc == 0)
			rc = oci_layer_info(t, &l->desc.digest, &li);
		if (rc == 0) {
			l->diff_id = li.diff_id;
			snprintf(l->desc.media_type, sizeof(l->desc.media_type), "%s",
				 li.compression == OCI_COMP_GZIP ? OCI_MT_LAYER_GZIP
				 : li.compression == OCI_COMP_ZSTD ? OCI_MT_LAYER_ZSTD
								   : OCI_MT_LAYER);
		}
	}
	ib->nlayers = ib->info.nlayers;
	store_txn_abort(t);
	if (rc)
		base_release(ib);
	return rc;
}

/* image_env - struct bld_plan_opts.image_env: a base image's Env */
static const char *const *image_env(void *ctx, const char *ref, size_t *n)
{
	struct build *b = ctx;
	struct base ib;
	json_t *env;
	size_t i;
	json_t *v;

	for (i = 0; i < b->nenv_strs; i++)
		free(b->env_strs[i]);
	free(b->env_strs);
	b->env_strs = NULL;
	b->nenv_strs = 0;
	*n = 0;
	if (base_load(b, ref, NULL, &ib, 0))
		return NULL;
	env = json_object_get(json_object_get(ib.config, "config"), "Env");
	b->env_strs = calloc(json_array_size(env) + 1, sizeof(char *));
	json_array_foreach(env, i, v) {
		if (b->env_strs && json_is_string(v))
			b->env_strs[b->nenv_strs++] = strdup(json_string_value(v));
	}
	base_release(&ib);
	store_error_clear();
	*n = b->nenv_strs;
	return (const char *const *)b->env_strs;
}

/* ---- the config ---------------------------------------------------------------------- */

static json_t *cfg(struct stage *st)
{
	json_t *c = json_object_get(st->img, "config");
	if (!c) {
		c = json_object();
		json_object_set_new(st->img, "config", c);
	}
	return c;
}

static void rfc3339(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void history(struct build *b, struct stage *st, const struct bld_insn *in, int empty)
{
	json_t *h = json_object_get(st->img, "history");
	char when[64];

	if (!h) {
		h = json_array();
		json_object_set_new(st->img, "history", h);
	}
	rfc3339(when, sizeof(when), b->epoch);
	json_array_append_new(h, json_pack("{s:s, s:s, s:s}", "created", when, "created_by",
					   in->text, "comment", "govc build"));
	if (empty)
		json_object_set_new(json_array_get(h, json_array_size(h) - 1), "empty_layer",
				    json_true());
}

static void env_set(json_t *c, const char *k, const char *v)
{
	json_t *env = json_object_get(c, "Env"), *e;
	size_t kl = strlen(k), i;
	char *kv;

	if (!env) {
		env = json_array();
		json_object_set_new(c, "Env", env);
	}
	if (asprintf(&kv, "%s=%s", k, v) < 0)
		return;
	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && strncmp(s, k, kl) == 0 && s[kl] == '=') {
			json_array_set_new(env, i, json_string(kv));
			free(kv);
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
	free(kv);
}

static const char *env_get(json_t *c, const char *k)
{
	json_t *e;
	size_t kl = strlen(k), i;
	json_array_foreach(json_object_get(c, "Env"), i, e) {
		const char *s = json_string_value(e);
		if (s && strncmp(s, k, kl) == 0 && s[kl] == '=')
			return s + kl + 1;
	}
	return NULL;
}

static json_t *strv(const struct bld_strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

/* command - an instruction's command: exec form as is, shell form in
 * the stage's shell */
static json_t *command(struct stage *st, const struct bld_insn *in, const char *script)
{
	json_t *a;
	if (in->exec_form)
		return strv(&in->args);
	a = st->shell ? json_deep_copy(st->shell) : json_pack("[s, s]", "/bin/sh", "-c");
	json_array_append_new(a, json_string(script ? script : in->args.n ? in->args.v[0] : ""));
	return a;
}

/* abs_path - P relative to the working directory WD, cleaned ("." and
 * ".." resolved, ".." at the root staying there), as Docker does */
static void abs_path(char *out, size_t len, const char *wd, const char *p)
{
	char joined[8192];

	if (*p == '/')
		snprintf(joined, sizeof(joined), "%s", p);
	else
		snprintf(joined, sizeof(joined), "%s/%s", wd && *wd ? wd : "/", p);
	bx_path_clean(out, len, joined);
}

static int meta_insn(struct build *b, struct stage *st, const struct bld_insn *in)
{
	json_t *c = cfg(st);

	switch (in->op) {
	case BLD_ENV:
		for (size_t i = 0; i < in->nkv; i++)
			env_set(c, in->kv[i].key, in->kv[i].value ? in->kv[i].value : "");
		break;
	case BLD_LABEL: {
		json_t *l = json_object_get(c, "Labels");
		if (!l) {
			l = json_object();
			json_object_set_new(c, "Labels", l);
		}
		for (size_t i = 0; i < in->nkv; i++)
			json_object_set_new(l, in->kv[i].key,
					    json_string(in->kv[i].value ? in->kv[i].value : ""));
		break;
	}
	case BLD_USER:
		json_object_set_new(c, "User", json_string(in->args.n ? in->args.v[0] : ""));
		break;
	case BLD_EXPOSE: {
		json_t *p = json_object_get(c, "ExposedPorts");
		if (!p) {
			p = json_object();
			json_object_set_new(c, "ExposedPorts", p);
		}
		for (size_t i = 0; i < in->args.n; i++) {
			char port[256];
			snprintf(port, sizeof(port), "%s%s", in->args.v[i],
				 strchr(in->args.v[i], '/') ? "" : "/tcp");
			json_object_set_new(p, port, json_object());
		}
		break;
	}
	case BLD_VOLUME: {
		json_t *v = json_object_get(c, "Volumes");
		if (!v) {
			v = json_object();
			json_object_set_new(c, "Volumes", v);
		}
		for (size_t i = 0; i < in->args.n; i++)
			json_object_set_new(v, in->args.v[i], json_object());
		break;
	}
	case BLD_STOPSIGNAL:
		json_object_set_new(c, "StopSignal", json_string(in->args.n ? in->args.v[0] : ""));
		break;
	case BLD_CMD:
		json_object_set_new(c, "Cmd", command(st, in, NULL));
		st->cmd_inherited = 0;
		break;
	case BLD_ENTRYPOINT:
		json_object_set_new(c, "Entrypoint", command(st, in, NULL));
		if (st->cmd_inherited)
			json_object_del(c, "Cmd");
		break;
	case BLD_SHELL:
		json_decref(st->shell);
		st->shell = strv(&in->args);
		json_object_set_new(c, "Shell", strv(&in->args));
		break;
	case BLD_HEALTHCHECK: {
		json_t *h = json_object(), *test;
		if (in->health.none)
			test = json_pack("[s]", "NONE");
		else if (in->exec_form) {
			test = strv(&in->args);
			json_array_insert_new(test, 0, json_string("CMD"));
		} else
			test = json_pack("[s, s]", "CMD-SHELL", in->args.n ? in->args.v[0] : "");
		json_object_set_new(h, "Test", test);
		if (in->health.interval)
			json_object_set_new(h, "Interval", json_integer(in->health.interval));
		if (in->health.timeout)
			json_object_set_new(h, "Timeout", json_integer(in->health.timeout));
		if (in->health.start_period)
			json_object_set_new(h, "StartPeriod", json_integer(in->health.start_period));
		if (in->health.start_interval)
			json_object_set_new(h, "StartInterval",
					    json_integer(in->health.start_interval));
		if (in->health.retries)
			json_object_set_new(h, "Retries", json_integer(in->health.retries));
		json_object_set_new(c, "Healthcheck", h);
		break;
	}
	case BLD_ONBUILD: {
		json_t *ob = json_object_get(c, "OnBuild");
		const char *t = in->text + strspn(in->text, " \t");
		if (!ob) {
			ob = json_array();
			json_object_set_new(c, "OnBuild", ob);
		}
		t += strcspn(t, " \t");
		t += strspn(t, " \t");
		json_array_append_new(ob, json_string(t));
		break;
	}
	case BLD_MAINTAINER:
		json_object_set_new(st->img, "author", json_string(in->args.n ? in->args.v[0] : ""));
		break;
	case BLD_ARG:
		return 0;	/* the plan has applied it; no history, as BuildKit */
	default:
		return store_error(-EINVAL, "line %u: %s is not handled", in->line, bld_op_name(in->op));
	}
	history(b, st, in, 1);
	return 0;
}

/* ---- the step cache --------------------------------------------------------------------- */

static void cache_owner(char *owner, const unsigned char key[32])
{
	static const char hx[] = "0123456789abcdef";
	char *p = owner + sprintf(owner, CACHE_OWNER);
	for (int i = 0; i < 32; i++) {
		*p++ = hx[key[i] >> 4];
		*p++ = hx[key[i] & 15];
	}
	*p = '\0';
}

/* cache_get - 1 and the step's layer (*EMPTY for none) if KEY is cached */
static int cache_get(struct build *b, const unsigned char key[32], struct bx_layer *l, int *empty)
{
	char owner[128];
	struct store_txn *t;
	struct oci_layer_info li;
	int rc;

	if (b->o->no_cache)
		return 0;
	cache_owner(owner, key);
	rc = store_txn_begin(&t, b->s, 0);
	if (rc)
		return rc;
	memset(l, 0, sizeof(*l));
	rc = oci_pin_find(t, owner, &l->desc.digest);
	if (rc == 0 && oci_digest_is_zero(&l->desc.digest))
		*empty = 1;
	else if (rc == 0) {
		*empty = 0;
		l->raw = 1;
		rc = oci_layer_info(t, &l->desc.digest, &li);
		if (rc == 0) {
			l->diff_id = li.diff_id;
			l->desc.size = li.size;
			snprintf(l->desc.media_type, sizeof(l->desc.media_type), "%s",
				 li.compression == OCI_COMP_GZIP ? OCI_MT_LAYER_GZIP
				 : li.compression == OCI_COMP_ZSTD ? OCI_MT_LAYER_ZSTD
								   : OCI_MT_LAYER);
		}
	}
	store_txn_abort(t);
	store_error_clear();
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

static int cache_put(struct build *b, const unsigned char key[32], const struct bx_layer *l,
		     int empty)
{
	char owner[128];
	struct oci_digest zero = { { 0 } };
	struct store_txn *t;
	int rc = store_ingest_txn(b->in, &t);

	cache_owner(owner, key);
	if (rc == 0)
		rc = oci_unpin(t, owner, NULL);
	if (rc == 0)
		rc = oci_pin(t, owner, empty ? &zero : &l->desc.digest);
	if (rc == 0)
		rc = store_ingest_step(b->in, 0);
	return rc;
}

/* ---- steps that change the filesystem ------------------------------------------------------- */

/* the work of one filesystem step, done in its overlay */
struct fsop {
	int (*fn)(struct build *b, struct stage *st, const struct bld_insn *in,
		  struct bx_overlay *o, void *arg);
	void *arg;
};

static int fs_step(struct build *b, struct stage *st, const struct bld_insn *in,
		   const unsigned char key[32], const struct fsop *op)
{
	struct bx_overlay o;
	struct bx_layer l;
	int empty = 0, rc = cache_get(b, key, &l, &empty);
	struct timespec t0, t1;
	int64_t since;

	if (rc < 0)
		return rc;
	/* nothing long with the session's write transaction open */
	if (rc == 0 && (rc = store_ingest_flush(b->in)) != 0)
		return rc;
	else if (rc == 1) {
		say(b, "  cached");
		if (!empty)
			stage_push_layer(st, &l);
		history(b, st, in, empty);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	since = (int64_t)time(NULL) - 1;
	rc = bx_overlay_mount(b->s, &st->fs, 0, &o);
	if (rc)
		return store_error(rc, "%s: %s", b->step_what, store_errmsg());
	rc = op->fn(b, st, in, &o, op->arg);
	if (o.rootfd >= 0) {
		close(o.rootfd);
		o.rootfd = -1;
	}
	if (o.mounted) {
		umount2(o.merged, MNT_DETACH);
		o.mounted = 0;
	}
	if (rc == 0) {
		memset(&l, 0, sizeof(l));
		/* the raw layer: its times as the step left them, so that it
		 * serves later commits too; finish() clamps them */
		rc = bx_upper_to_layer(b->in, &o, since, b->step_what, &l, &empty);
		l.raw = 1;
	}
	bx_overlay_umount(&o);
	if (rc == 0)
		rc = cache_put(b, key, &l, empty);
	if (rc)
		return rc;
	if (!empty)
		stage_push_layer(st, &l);
	history(b, st, in, empty);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		char hex[OCI_DIGEST_STRLEN + 1];
		say(b, "  done in %.2fs%s%s", (double)(t1.tv_sec - t0.tv_sec) +
						(t1.tv_nsec - t0.tv_nsec) / 1e9,
		    empty ? ", no change" : ", layer ", empty ? "" : oci_digest_fmt(hex, &l.desc.digest));
	}
	return 0;
}

/* key_begin - a step key: the version, the stage's filesystem, the
 * instruction and the config parts any step depends on */
static void key_begin(struct hash *h, struct stage *st, const struct bld_insn *in)
{
	json_t *c = cfg(st);
	h_begin(h);
	h_str(h, "govc-build-1");
	h_add(h, st->key, 32);
	h_str(h, bld_op_name(in->op));
	h_str(h, in->text);
	h_str(h, json_string_value(json_object_get(c, "WorkingDir")));
	h_str(h, json_string_value(json_object_get(c, "User")));
}

/* WORKDIR: the directory, made if missing */
static int workdir_fn(struct build *b, struct stage *st, const struct bld_insn *in,
		      struct bx_overlay *o, void *arg)
{
	const char *user = json_string_value(json_object_get(cfg(st), "User"));
	uid_t uid = 0;
	gid_t gid = 0;
	int fd;

	(void)in;
	/* the directories it makes belong to USER, as with BuildKit */
	if (user && *user && bx_user_lookup(o->rootfd, user, &uid, &gid, NULL, NULL))
		return store_error(-ENOENT, "%s: USER %s: %s", b->step_what, user, store_errmsg());
	fd = bx_mkdir_p(o->rootfd, arg, 0755, uid, gid);
	if (fd < 0)
		return store_error(fd, "%s: %s: %s", b->step_what, (char *)arg, strerror(-fd));
	close(fd);
	return 0;
}

static int do_workdir(struct build *b, struct stage *st, const struct bld_insn *in)
{
	json_t *c = cfg(st);
	char path[4096];
	unsigned char key[32];
	struct hash h;
	struct fsop op = { workdir_fn, path };

	abs_path(path, sizeof(path), json_string_value(json_object_get(c, "WorkingDir")),
		 in->args.n ? in->args.v[0] : "/");
	json_object_set_new(c, "WorkingDir", json_string(path));
	key_begin(&h, st, in);
	h_str(&h, path);
	if (h_end(&h, key))
		return -ENOMEM;
	return fs_step(b, st, in, key, &op);
}

/* ---- COPY and ADD ----------------------------------------------------------------------------- */

struct copyop {
	struct bx_copy c;
	struct bx_srcs srcs;		/* from the context */
	struct stage *from;		/* --from a stage or an image */
	const char *const *fsrcs;	/* sources in FROM */
	size_t nfsrcs;
	const struct bld_insn *in;
};

static int copy_fn(struct build *b, struct stage *st, const struct bld_insn *in,
		   struct bx_overlay *o, void *arg)
{
	struct copyop *cp = arg;
	int rc = 0;
	(void)st;

	if (cp->c.has_chown && in->copy.chown) {
		uid_t uid;
		gid_t gid;
		rc = bx_user_lookup(o->rootfd, in->copy.chown, &uid, &gid, NULL, NULL);
		if (rc)
			return store_error(rc, "%s: --chown: %s", b->step_what, store_errmsg());
		cp->c.uid = uid;
		cp->c.gid = gid;
	}
	for (size_t i = 0; rc == 0 && i < in->nheredocs; i++)
		rc = bx_copy_heredoc(in->heredocs[i].content, in->heredocs[i].name,
				     in->args.n - 1, &cp->c, o->rootfd);
	if (rc == 0 && cp->srcs.n) {
		struct store_txn *t;
		rc = store_txn_begin(&t, b->s, 0);
		if (rc == 0) {
			rc = bx_copy_context(t, &cp->srcs, &cp->c, o->rootfd);
			store_txn_abort(t);
		}
	}
	if (rc == 0 && cp->from) {
		struct bx_overlay src;
		rc = bx_overlay_mount(b->s, &cp->from->fs, 1, &src);
		if (rc == 0) {
			rc = bx_copy_fs(src.rootfd, cp->fsrcs, cp->nfsrcs, &cp->c, o->rootfd);
			bx_overlay_umount(&src);
		}
	}
	return rc ? store_error(rc, "%s: %s", b->step_what, store_errmsg()) : 0;
}

static int parse_chmod(const char *s, mode_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 8);
	if (!*s || *end || v > 07777)
		return -EINVAL;
	*out = (mode_t)v;
	return 0;
}

static int do_copy(struct build *b, struct stage *st, const struct bld_insn *in,
		   struct stage *from_stage)
{
	json_t *c = cfg(st);
	struct copyop cp = { .in = in };
	struct fsop op = { copy_fn, &cp };
	unsigned char key[32];
	struct hash h;
	struct base ib = { 0 };
	struct stage img_stage = { 0 };
	const char *dest;
	char dpath[4096];
	size_t nsrc;
	int rc = 0;

	if (in->args.n < 1)
		return store_error(-EINVAL, "%s: no destination", b->step_what);
	nsrc = in->args.n - 1;
	dest = in->args.v[in->args.n - 1];
	abs_path(dpath, sizeof(dpath), json_string_value(json_object_get(c, "WorkingDir")), dest);
	cp.c.dest = dpath;
	cp.c.dest_slash = dest[strlen(dest) - 1] == '/' ||
			  strcmp(dest, ".") == 0 ||
			  (strlen(dest) >= 2 && !strcmp(dest + strlen(dest) - 2, "/."));
	cp.c.add = in->op == BLD_ADD;
	cp.c.epoch = BX_STEP_TIME;	/* clamped to the build's epoch in finish() */
	cp.c.ignore = b->ignore;
	if (in->copy.chmod) {
		if (parse_chmod(in->copy.chmod, &cp.c.chmod))
			return store_error(-EINVAL, "%s: --chmod=%s: only octal modes are supported",
					   b->step_what, in->copy.chmod);
		cp.c.has_chmod = 1;
	}
	cp.c.has_chown = in->copy.chown != NULL;
	key_begin(&h, st, in);
	h_str(&h, dpath);
	if (in->copy.from) {
		if (from_stage)
			cp.from = from_stage;
		else {
			rc = base_load(b, in->copy.from, NULL, &ib, 1);
			if (rc) {
				h_end(&h, key);
				return store_error(rc, "%s: --from=%s: %s", b->step_what, in->copy.from,
						   store_errmsg());
			}
			for (unsigned i = 0; i < ib.nlayers; i++)
				stage_push_layer(&img_stage, &ib.layers[i]);
			cp.from = &img_stage;
		}
		h_add(&h, cp.from->key, 32);
		h_add(&h, &cp.from->fs.n, sizeof(cp.from->fs.n));
		cp.fsrcs = (const char *const *)in->args.v;
		cp.nfsrcs = nsrc;
	} else {
		struct store_txn *t = NULL;
		rc = store_txn_begin(&t, b->s, 0);
		for (size_t i = 0; rc == 0 && i < nsrc; i++) {
			const char *src = in->args.v[i];
			if (strncmp(src, "<<", 2) == 0)
				continue;
			if (strstr(src, "://")) {
				rc = store_error(-ENOTSUP, "%s: %s: %s of a URL is not supported"
							   " (the build has no network)",
						 b->step_what, src, bld_op_name(in->op));
				break;
			}
			rc = bx_ctx_resolve(t, &b->tree, src, b->ignore, &cp.srcs);
			if (rc)
				rc = store_error(rc, "%s: %s", b->step_what, store_errmsg());
		}
		if (t)
			store_txn_abort(t);
		h_add(&h, b->ignore_key, 32);
		for (size_t i = 0; i < cp.srcs.n; i++) {
			h_str(&h, cp.srcs.v[i].path);
			h_add(&h, &cp.srcs.v[i].mode, sizeof(cp.srcs.v[i].mode));
			h_add(&h, cp.srcs.v[i].id.id, GIT_OID_RAWSZ);
		}
	}
	for (size_t i = 0; i < in->nheredocs; i++)
		h_str(&h, in->heredocs[i].content);
	if (h_end(&h, key) && rc == 0)
		rc = -ENOMEM;
	if (rc == 0)
		rc = fs_step(b, st, in, key, &op);
	bx_srcs_release(&cp.srcs);
	bx_fs_release(&img_stage.fs);
	base_release(&ib);
	return rc;
}

/* ---- RUN ---------------------------------------------------------------------------------------- */

struct runop {
	struct bx_run r;
	struct bx_mount mounts[32];
	char paths[32][4400];
	struct bx_overlay from[32];	/* bind mounts from stages */
	size_t nfrom;
	const char *user;
};

static const char *secret_src(struct build *b, const char *id)
{
	for (size_t i = 0; i < b->o->nsecrets; i++) {
		const char *s = b->o->secrets[i], *src = strstr(s, "src=");
		const char *ids = strstr(s, "id=");
		if (!src)
			src = strstr(s, "source=");
		if (ids && src && strncmp(ids + 3, id, strlen(id)) == 0 &&
		    (ids[3 + strlen(id)] == ',' || ids[3 + strlen(id)] == '\0'))
			return strchr(src, '=') + 1;
	}
	return NULL;
}

static int run_fn(struct build *b, struct stage *st, const struct bld_insn *in,
		  struct bx_overlay *o, void *arg)
{
	struct runop *ro = arg;
	int rc, status;
	(void)st;

	rc = bx_user_lookup(o->rootfd, ro->user, &ro->r.uid, &ro->r.gid, ro->r.groups,
			    &ro->r.ngroups);
	if (rc)
		return store_error(rc, "%s: USER %s: %s", b->step_what, ro->user, store_errmsg());
	/* secrets are copied next to the overlay, never into it */
	for (size_t i = 0; i < in->run.nmounts; i++) {
		const struct bld_mount *m = &in->run.mounts[i];
		if (m->type == BLD_MOUNT_SECRET && ro->mounts[i].source) {
			char dst[4300];
			int sfd = open(ro->mounts[i].source, O_RDONLY | O_CLOEXEC), dfd;
			snprintf(dst, sizeof(dst), "%s/secret-%zu", o->dir, i);
			dfd = open(dst, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
			if (sfd < 0 || dfd < 0) {
				if (sfd >= 0)
					close(sfd);
				if (dfd >= 0)
					close(dfd);
				return store_error(-errno, "%s: secret %s: %s", b->step_what,
						   m->id ? m->id : "", strerror(errno));
			}
			for (;;) {
				char buf[8192];
				ssize_t n = read(sfd, buf, sizeof(buf));
				if (n <= 0 || util_write_all(dfd, buf, (size_t)n))
					break;
			}
			close(sfd);
			if (m->env) {	/* env=: the value in the command's environment */
				char val[65536];
				ssize_t n = pread(dfd, val, sizeof(val) - 1, 0);
				char *kv = NULL;
				val[n > 0 ? n : 0] = '\0';
				if (asprintf(&kv, "%s=%s", m->env, val) >= 0)
					json_array_append_new(ro->r.env, json_string(kv));
				free(kv);
				ro->mounts[i].skip = !m->target;
			}
			if (fchown(dfd, m->has_uid ? m->uid : 0, m->has_gid ? m->gid : 0) ||
			    fchmod(dfd, m->has_mode ? m->mode : 0400))
				rc = -errno;
			close(dfd);
			snprintf(ro->paths[i], sizeof(ro->paths[i]), "%s", dst);
			ro->mounts[i].source = ro->paths[i];
		}
	}
	rc = bx_run(b->s, o, &ro->r, &status);
	if (rc)
		return store_error(rc, "%s: %s", b->step_what, store_errmsg());
	if (ro->r.timed_out)
		return store_error(-ETIMEDOUT, "%s: killed after %u seconds (--timeout)%s%s",
				   b->step_what, ro->r.timeout, ro->r.tail_len ? "; its output ended with:\n" : "",
				   ro->r.tail);
	if (status)
		return store_error(-ECHILD, "%s: the command exited with status %d%s%s", b->step_what,
				   status, ro->r.tail_len ? "; its output ended with:\n" : "",
				   ro->r.tail);
	return 0;
}

static int do_run(struct build *b, struct stage *st, const struct bld_insn *in)
{
	json_t *c = cfg(st);
	struct runop *ro = calloc(1, sizeof(*ro));
	struct fsop op = { run_fn, ro };
	unsigned char key[32];
	struct hash h;
	char *script = NULL;
	const char *user = json_string_value(json_object_get(c, "User"));
	const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
	int rc = 0;

	if (!ro)
		return store_error(-ENOMEM, "out of memory");
	if (in->run.nmounts > 32) {
		free(ro);
		return store_error(-E2BIG, "%s: more than 32 mounts", b->step_what);
	}
	/* the command: shell heredocs go to the shell as written */
	if (!in->exec_form && in->nheredocs) {
		const char *cmd = in->args.n ? in->args.v[0] : "";
		const char *t = cmd + strspn(cmd, " \t");
		size_t len = strlen(cmd) + 2;
		for (size_t i = 0; i < in->nheredocs; i++)
			len += strlen(in->heredocs[i].content) + strlen(in->heredocs[i].name) + 2;
		script = malloc(len);
		if (!script) {
			free(ro);
			return store_error(-ENOMEM, "out of memory");
		}
		if (in->nheredocs == 1 && strncmp(t, "<<", 2) == 0 &&
		    t[2 + strspn(t + 2, "-'\"")] != '\0' &&
		    strcspn(t + 2 + strspn(t + 2, "-'\""), " \t") ==
			    strlen(t + 2 + strspn(t + 2, "-'\""))) {
			/* RUN <<EOF alone: the body is the script */
			snprintf(script, len, "%s", in->heredocs[0].content);
		} else {
			size_t o = (size_t)snprintf(script, len, "%s\n", cmd);
			for (size_t i = 0; i < in->nheredocs; i++)
				o += (size_t)snprintf(script + o, len - o, "%s%s\n",
						      in->heredocs[i].content, in->heredocs[i].name);
		}
	}
	ro->r.args = command(st, in, script);
	free(script);
	ro->r.env = json_deep_copy(json_object_get(c, "Env"));
	if (!ro->r.env)
		ro->r.env = json_array();
	for (size_t i = 0; i < in->run.nbuild_args; i++) {
		const struct bld_kv *kv = &in->run.build_args[i];
		char *s;
		if (!kv->value || env_get(c, kv->key))
			continue;
		if (asprintf(&s, "%s=%s", kv->key, kv->value) >= 0) {
			json_array_append_new(ro->r.env, json_string(s));
			free(s);
		}
	}
	if (!env_get(c, "PATH"))
		json_array_insert_new(ro->r.env, 0, json_string("PATH=" DEFAULT_PATH));
	ro->r.cwd = wd && *wd ? wd : "/";
	ro->user = user && *user ? user : "0";
	ro->r.network_host = in->run.network == BLD_NET_HOST;
	ro->r.timeout = b->o->timeout ? b->o->timeout : LIMIT_BUILD_RUN_SECONDS;
	ro->r.log_fd = b->log_fd;
	ro->r.echo_fd = b->o->quiet ? -1 : 2;
	ro->r.mounts = ro->mounts;
	ro->r.nmounts = in->run.nmounts;

	key_begin(&h, st, in);
	h_json(&h, ro->r.args);
	h_json(&h, ro->r.env);
	h_add(&h, &in->run.network, sizeof(in->run.network));
	for (size_t i = 0; rc == 0 && i < in->run.nmounts; i++) {
		const struct bld_mount *m = &in->run.mounts[i];
		struct bx_mount *bm = &ro->mounts[i];
		char *tgt = ro->paths[i];

		h_add(&h, &m->type, sizeof(m->type));
		abs_path(tgt, sizeof(ro->paths[i]), ro->r.cwd,
			 m->target ? m->target
				   : m->type == BLD_MOUNT_SECRET && m->id ? m->id : "/");
		if (m->type == BLD_MOUNT_SECRET && !m->target) {
			snprintf(tgt, sizeof(ro->paths[i]), "/run/secrets/%s", m->id ? m->id : "");
		}
		bm->target = strdup(tgt);
		h_str(&h, bm->target);
		bm->readonly = m->readonly;
		switch (m->type) {
		case BLD_MOUNT_TMPFS:
			bm->tmpfs = 1;
			bm->size = m->size;
			break;
		case BLD_MOUNT_CACHE: {
			char dir[4096], name[80];
			unsigned char ck[32];
			struct hash ch;
			h_begin(&ch);
			h_str(&ch, m->id ? m->id : bm->target);
			h_end(&ch, ck);
			for (int k = 0; k < 16; k++)
				sprintf(name + 2 * k, "%02x", ck[k]);
			rc = bx_cache_dir(b->s, "mounts", dir, sizeof(dir));
			if (rc)
				break;
			{
				char *p;
				struct stat sb;
				if (asprintf(&p, "%s/%s", dir, name) < 0) {
					rc = -ENOMEM;
					break;
				}
				if (stat(p, &sb) && mkdir(p, m->has_mode ? m->mode : 0755) == 0 &&
				    chown(p, m->has_uid ? m->uid : 0, m->has_gid ? m->gid : 0))
					rc = store_error(-errno, "%s: %s", p, strerror(errno));
				if (m->has_mode)
					chmod(p, m->mode);
				bm->source = p;
			}
			bm->readonly = 0;
			break;
		}
		case BLD_MOUNT_SECRET: {
			const char *src = m->id ? secret_src(b, m->id) : NULL;
			if (!src && m->required)
				rc = store_error(-ENOENT, "%s: secret '%s' was not given (--secret id=%s,src=FILE)",
						 b->step_what, m->id ? m->id : "", m->id ? m->id : "");
			else if (!src) {
				bm->tmpfs = 1;	/* an absent optional secret: an empty mount */
				bm->size = 4096;
			} else
				bm->source = strdup(src);
			bm->readonly = 1;
			break;
		}
		case BLD_MOUNT_BIND: {
			if (m->from_stage >= 0 || m->from) {
				struct stage *fs = m->from_stage >= 0 ? &b->stages[m->from_stage] : NULL;
				if (!fs) {
					rc = store_error(-ENOTSUP, "%s: --mount from=%s: only stages may be"
								   " mounted", b->step_what, m->from);
					break;
				}
				h_add(&h, fs->key, 32);
				rc = bx_overlay_mount(b->s, &fs->fs, 1, &ro->from[ro->nfrom]);
				if (rc)
					break;
				if (asprintf((char **)&bm->source, "%s/%s", ro->from[ro->nfrom].merged,
					     m->source ? m->source : "") < 0)
					rc = -ENOMEM;
				ro->nfrom++;
			} else {
				/* from the context: copied out of the commit */
				struct bx_srcs srcs = { 0 };
				struct store_txn *t;
				char dir[4096];
				int dfd;
				struct bx_copy cc = { .dest = "/", .epoch = b->epoch, .ignore = b->ignore };
				rc = bx_cache_dir(b->s, "run", dir, sizeof(dir));
				if (rc)
					break;
				if (asprintf((char **)&bm->source, "%s/bind-%ld-%zu", dir, (long)getpid(), i) < 0) {
					rc = -ENOMEM;
					break;
				}
				bx_rm_rf(bm->source);
				mkdir(bm->source, 0755);
				dfd = open(bm->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				rc = store_txn_begin(&t, b->s, 0);
				if (rc == 0) {
					rc = bx_ctx_resolve(t, &b->tree, m->source ? m->source : ".",
							    b->ignore, &srcs);
					for (size_t k = 0; rc == 0 && k < srcs.n; k++) {
						h_str(&h, srcs.v[k].path);
						h_add(&h, srcs.v[k].id.id, GIT_OID_RAWSZ);
					}
					if (rc == 0)
						rc = bx_copy_context(t, &srcs, &cc, dfd);
					store_txn_abort(t);
				}
				if (dfd >= 0)
					close(dfd);
				bx_srcs_release(&srcs);
				if (rc)
					rc = store_error(rc, "%s: --mount source: %s", b->step_what,
							 store_errmsg());
			}
			break;
		}
		default:
			rc = store_error(-ENOTSUP, "%s: this --mount type is not supported", b->step_what);
		}
	}
	if (h_end(&h, key) && rc == 0)
		rc = -ENOMEM;
	if (rc == 0)
		rc = fs_step(b, st, in, key, &op);
	for (size_t i = 0; i < ro->nfrom; i++)
		bx_overlay_umount(&ro->from[i]);
	for (size_t i = 0; i < in->run.nmounts; i++) {
		if (in->run.mounts[i].type == BLD_MOUNT_BIND && in->run.mounts[i].from_stage < 0 &&
		    !in->run.mounts[i].from && ro->mounts[i].source)
			bx_rm_rf(ro->mounts[i].source);
		free((char *)ro->mounts[i].target);
		if (ro->mounts[i].source != ro->paths[i])
			free((char *)ro->mounts[i].source);
	}
	json_decref(ro->r.args);
	json_decref(ro->r.env);
	free(ro);
	return rc;
}

/* ---- stages ------------------------------------------------------------------------------------ */

static int stage_base(struct build *b, const struct bld_stage *sp, struct stage *st)
{
	struct oci_platform host;	/* a config's architecture, unless the base says */
	struct base ib;
	int rc;

	oci_platform_host(&host);
	memset(st->key, 0, sizeof(st->key));
	if (sp->base == BLD_BASE_STAGE) {
		struct stage *from = &b->stages[sp->base_stage];
		st->img = json_deep_copy(from->img);
		st->shell = from->shell ? json_deep_copy(from->shell) : NULL;
		memcpy(st->key, from->key, 32);
		for (size_t i = 0; i < from->fs.n; i++)
			bx_fs_push(&st->fs, &from->fs.v[i]);
		st->cmd_inherited = 1;
		return 0;
	}
	if (sp->base == BLD_BASE_SCRATCH) {
		st->img = json_pack("{s:s, s:s, s:{}}", "architecture", host.arch, "os", "linux",
				    "config");
		return st->img ? 0 : store_error(-ENOMEM, "out of memory");
	}
	rc = base_load(b, sp->image, sp->platform, &ib, 1);
	if (rc)
		return store_error(rc, "line %u: FROM %s: %s", sp->line, sp->image, store_errmsg());
	st->img = json_pack("{s:O*, s:O*, s:O*, s:O*}", "architecture",
			    json_object_get(ib.config, "architecture"), "os",
			    json_object_get(ib.config, "os"), "config",
			    json_object_get(ib.config, "config"), "history",
			    json_object_get(ib.config, "history"));
	if (st->img && !json_object_get(st->img, "os"))
		json_object_set_new(st->img, "os", json_string("linux"));
	if (st->img && !json_object_get(st->img, "architecture"))
		json_object_set_new(st->img, "architecture", json_string(host.arch));
	/* the config object is the stage's own from here on */
	if (st->img && json_object_get(st->img, "config"))
		json_object_set_new(st->img, "config",
				    json_deep_copy(json_object_get(st->img, "config")));
	if (st->img && json_object_get(st->img, "history"))
		json_object_set_new(st->img, "history",
				    json_deep_copy(json_object_get(st->img, "history")));
	for (unsigned i = 0; i < ib.nlayers; i++)
		stage_push_layer(st, &ib.layers[i]);
	st->cmd_inherited = json_object_get(cfg(st), "Cmd") != NULL;
	base_release(&ib);
	return st->img ? 0 : store_error(-ENOMEM, "out of memory");
}

static int do_insn(struct build *b, struct stage *st, const struct bld_insn *in)
{
	switch (in->op) {
	case BLD_RUN:
		return do_run(b, st, in);
	case BLD_COPY:
	case BLD_ADD:
		return do_copy(b, st, in,
			       in->copy.from_stage >= 0 ? &b->stages[in->copy.from_stage] : NULL);
	case BLD_WORKDIR:
		return do_workdir(b, st, in);
	default:
		return meta_insn(b, st, in);
	}
}

/* expand_words - V's words expanded in ENV (the triggers' scope) */
static int expand_words(struct bld_strv *v, char esc, const struct bld_env *env, char **owned,
			size_t *nowned)
{
	for (size_t i = 0; i < v->n; i++) {
		char err[256], *out;
		int rc = bld_expand(&out, v->v[i], esc, env, err, sizeof(err));
		if (rc)
			return store_error(rc, "%s", err);
		owned[(*nowned)++] = out;
		v->v[i] = out;
	}
	return 0;
}

/*
 * run_triggers - the base image's ONBUILD triggers, as Docker runs them:
 * right after FROM, each parsed as an instruction of its own and expanded
 * in the stage's environment; the image built keeps none of them.
 */
static int run_triggers(struct build *b, const struct bld_stage *sp, struct stage *st)
{
	json_t *ob = json_incref(json_object_get(cfg(st), "OnBuild")), *tv;
	size_t i;
	int rc = 0;

	if (!ob)
		return 0;
	json_object_del(cfg(st), "OnBuild");
	json_array_foreach(ob, i, tv) {
		const char *text = json_string_value(tv);
		struct bld_file *f = NULL;
		struct bld_diag diag = { 0 };
		struct bld_env env = { 0 };
		char *owned[256], what[600];
		size_t nowned = 0, k;
		json_t *e;
		struct bld_insn in;

		if (!text)
			continue;
		rc = bld_parse(&f, text, strlen(text), &diag);
		if (rc == 0 && f->ninsns != 1)
			rc = store_error(-EINVAL, "not one instruction");
		if (rc) {
			rc = store_error(rc, "line %u: FROM %s: its ONBUILD trigger '%s': %s", sp->line,
					 sp->image, text, diag.msg[0] ? diag.msg : store_errmsg());
			bld_file_free(f);
			break;
		}
		json_array_foreach(json_object_get(cfg(st), "Env"), k, e) {
			const char *kv = json_string_value(e), *eq = kv ? strchr(kv, '=') : NULL;
			char key[256];
			if (!eq || (size_t)(eq - kv) >= sizeof(key))
				continue;
			snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
			bld_env_set(&env, key, eq + 1, 0);
		}
		in = f->insns[0];
		in.line = sp->line;
		in.copy.from_stage = -1;
		for (k = 0; k < in.run.nmounts; k++)
			in.run.mounts[k].from_stage = -1;
		if (in.op == BLD_COPY || in.op == BLD_ADD || in.op == BLD_WORKDIR ||
		    in.op == BLD_USER || in.op == BLD_EXPOSE || in.op == BLD_VOLUME ||
		    in.op == BLD_STOPSIGNAL) {
			if (in.args.n > 200)
				rc = store_error(-E2BIG, "too many words");
			else
				rc = expand_words(&in.args, f->escape, &env, owned, &nowned);
		}
		for (k = 0; rc == 0 && (in.op == BLD_ENV || in.op == BLD_LABEL) && k < in.nkv &&
			    nowned < 250; k++) {
			char err[256], *out;
			if (!in.kv[k].value)
				continue;
			rc = bld_expand(&out, in.kv[k].value, f->escape, &env, err, sizeof(err));
			if (rc)
				rc = store_error(rc, "%s", err);
			else
				in.kv[k].value = owned[nowned++] = out;
		}
		if (rc == 0 && (in.op == BLD_FROM || in.op == BLD_ONBUILD))
			rc = store_error(-EINVAL, "%s is not allowed as a trigger", bld_op_name(in.op));
		if (rc == 0 && (in.copy.from || in.run.nmounts))
			rc = store_error(-ENOTSUP, "--from and --mount are not supported in a trigger");
		snprintf(what, sizeof(what), "line %u: ONBUILD %s", sp->line, text);
		b->step_what = what;
		if (rc == 0) {
			say(b, "  trigger: %s", text);
			rc = do_insn(b, st, &in);
		} else
			rc = store_error(rc, "line %u: FROM %s: ONBUILD %s: %s", sp->line, sp->image,
					 text, store_errmsg());
		for (k = 0; k < nowned; k++)
			free(owned[k]);
		bld_env_release(&env);
		bld_file_free(f);
		if (rc)
			break;
	}
	json_decref(ob);
	return rc;
}

static int run_stage(struct build *b, size_t idx, size_t nth)
{
	const struct bld_stage *sp = &b->plan->stages[idx];
	struct stage *st = &b->stages[idx];
	char what[600];
	int rc;

	say(b, "[%zu/%zu] FROM %s%s%s", nth, b->plan->norder,
	    sp->base == BLD_BASE_SCRATCH ? "scratch"
	    : sp->base == BLD_BASE_STAGE ? (b->plan->stages[sp->base_stage].name
						    ? b->plan->stages[sp->base_stage].name : "(stage)")
					 : sp->image,
	    sp->name ? " AS " : "", sp->name ? sp->name : "");
	rc = stage_base(b, sp, st);
	if (rc == 0 && sp->base == BLD_BASE_IMAGE)
		rc = run_triggers(b, sp, st);
	for (size_t i = 0; rc == 0 && i < sp->ninsns; i++) {
		const struct bld_insn *in = &sp->insns[i];
		int n = snprintf(what, sizeof(what), "line %u: %s", in->line, in->text);
		if (n > 200)
			strcpy(what + 197, "...");
		b->step_what = what;
		say(b, "[%zu/%zu] STEP %zu/%zu: %s", nth, b->plan->norder, i + 1, sp->ninsns,
		    what + strcspn(what, ":") + 2);
		rc = do_insn(b, st, in);
	}
	st->done = rc == 0;
	return rc;
}

/* ---- publishing ---------------------------------------------------------------------------------- */

struct pub {
	struct build *b;
	struct oci_descriptor manifest, config;
	struct oci_descriptor *layers;
	unsigned nlayers;
	const char *name;
	const char *tags[2];
	size_t ntags;
};

static int publish(struct store_txn *t, void *arg)
{
	struct pub *p = arg;
	int rc = oci_image_record_put(t, &p->manifest, OCI_MT_MANIFEST, &p->config, p->b->epoch,
				      p->nlayers, p->layers);
	for (size_t i = 0; rc == 0 && i < p->ntags; i++)
		rc = oci_tag_set(t, p->name, p->tags[i], &p->manifest.digest, NULL);
	return rc;
}

static int put_json(struct build *b, json_t *j, const char *what, struct oci_descriptor *d,
		    const char *mt)
{
	char *s = json_dumps(j, JSON_COMPACT);
	int rc;

	if (!s)
		return store_error(-ENOMEM, "out of memory");
	d->size = strlen(s);
	snprintf(d->media_type, sizeof(d->media_type), "%s", mt);
	rc = oci_blob_put(b->in, s, d->size, NULL, what, &d->digest);
	free(s);
	return rc;
}

/* timed_layer - L as the image gets it: a step's raw layer with its
 * times clamped to the build's epoch (cached per raw layer and epoch) */
static int timed_layer(struct build *b, struct bx_layer *l)
{
	struct bx_layer t;
	unsigned char key[32];
	struct hash h;
	int empty = 0, rc;

	if (!l->raw)
		return 0;
	h_begin(&h);
	h_str(&h, "govc-retime-1");
	h_add(&h, l->desc.digest.sha256, 32);
	h_add(&h, &b->epoch, sizeof(b->epoch));
	if (h_end(&h, key))
		return -ENOMEM;
	rc = cache_get(b, key, &t, &empty);
	if (rc < 0)
		return rc;
	if (rc == 0 || empty) {
		char what[128], hex[OCI_DIGEST_STRLEN + 1];
		rc = store_ingest_flush(b->in);
		snprintf(what, sizeof(what), "layer %s", oci_digest_fmt(hex, &l->desc.digest));
		if (rc == 0)
			rc = bx_layer_retime(b->in, l, b->epoch, what, &t);
		if (rc == 0)
			rc = cache_put(b, key, &t, 0);
		if (rc)
			return rc;
	}
	*l = t;
	l->raw = 0;
	return 0;
}

static int finish(struct build *b, struct stage *st, struct oci_digest *m)
{
	struct pub p = { .b = b };
	json_t *diff_ids = json_array(), *layers = json_array(), *manifest;
	char hex[OCI_DIGEST_STRLEN + 1], when[64], name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1];
	char shorttag[16];
	int rc;

	rfc3339(when, sizeof(when), b->epoch);
	json_object_set_new(st->img, "created", json_string(when));
	p.layers = calloc(st->fs.n + 1, sizeof(*p.layers));
	if (!p.layers)
		return store_error(-ENOMEM, "out of memory");
	for (size_t i = 0; i < st->fs.n; i++) {
		rc = timed_layer(b, &st->fs.v[i]);
		if (rc) {
			json_decref(diff_ids);
			json_decref(layers);
			free(p.layers);
			return rc;
		}
	}
	for (size_t i = 0; i < st->fs.n; i++) {
		p.layers[i] = st->fs.v[i].desc;
		json_array_append_new(diff_ids, json_string(oci_digest_fmt(hex, &st->fs.v[i].diff_id)));
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
							st->fs.v[i].desc.media_type, "digest",
							oci_digest_fmt(hex, &st->fs.v[i].desc.digest),
							"size", (json_int_t)st->fs.v[i].desc.size));
	}
	p.nlayers = (unsigned)st->fs.n;
	json_object_set_new(st->img, "rootfs", json_pack("{s:s, s:o}", "type", "layers",
							 "diff_ids", diff_ids));
	rc = put_json(b, st->img, "the image config", &p.config, OCI_MT_CONFIG);
	if (rc) {
		json_decref(layers);
		free(p.layers);
		return rc;
	}
	manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o, s:{s:s, s:s}}", "schemaVersion", 2,
			     "mediaType", OCI_MT_MANIFEST, "config", "mediaType", OCI_MT_CONFIG,
			     "digest", oci_digest_fmt(hex, &p.config.digest), "size",
			     (json_int_t)p.config.size, "layers", layers, "annotations",
			     "org.opencontainers.image.source", b->repo,
			     "org.opencontainers.image.revision", b->commit_hex);
	rc = manifest ? put_json(b, manifest, "the manifest", &p.manifest, OCI_MT_MANIFEST)
		      : store_error(-ENOMEM, "out of memory");
	json_decref(manifest);
	if (rc == 0) {
		snprintf(name, sizeof(name), "%s", b->o->name ? b->o->name : b->repo);
		p.name = name;
		if (b->o->tag) {
			snprintf(tag, sizeof(tag), "%s", b->o->tag);
			p.tags[p.ntags++] = tag;
		} else {
			/* latest follows the repository's current branch: a build
			 * of another branch's commit gets its short id only */
			struct store_txn *t;
			int on_branch = 1;
			if (store_txn_begin(&t, b->s, 0) == 0) {
				on_branch = store_commit_reachable(b->s, t, b->repo, &b->commit) != 0;
				store_txn_abort(t);
			}
			snprintf(shorttag, sizeof(shorttag), "%.12s", b->commit_hex);
			if (on_branch)
				p.tags[p.ntags++] = "latest";
			p.tags[p.ntags++] = shorttag;
		}
		rc = store_ingest_finish(b->in, publish, &p);
		b->in = NULL;
	}
	if (rc == 0 && m)
		*m = p.manifest.digest;
	free(p.layers);
	return rc;
}

/* ---- the build -------------------------------------------------------------------------------------- */

static int load_ignore(struct build *b, const char *file)
{
	char path[4200], *text = NULL;
	size_t len = 0;
	const char *cands[3];
	struct hash h;
	int rc = -ENOENT;

	snprintf(path, sizeof(path), "%s.dockerignore", file);
	cands[0] = path;
	cands[1] = ".govcignore";
	cands[2] = ".dockerignore";
	for (int i = 0; i < 3 && rc == -ENOENT; i++)
		rc = read_ctx_file(b, cands[i], 1u << 20, &text, &len);
	h_begin(&h);
	h_str(&h, rc == 0 ? text : "");
	h_end(&h, b->ignore_key);
	if (rc == -ENOENT) {
		store_error_clear();
		return 0;
	}
	if (rc == 0)
		rc = bld_ignore_compile(&b->ignore, text, len);
	free(text);
	return rc;
}

static int build(struct build *b, struct oci_digest *m)
{
	const struct bld_build_opts *o = b->o;
	const char *file = o->file;
	struct bld_file *f = NULL;
	struct bld_diag diag = { 0 };
	struct bld_plan_opts po = { .target = o->target, .build_args = o->build_args,
				    .nbuild_args = o->nbuild_args, .image_env = image_env, .ctx = b };
	char what[512];
	int rc = resolve_commit(b);

	if (rc)
		return rc;
	if (b->o->record)
		rec_line(b, "commit", b->commit_hex);
	if (!file) {
		rc = read_ctx_file(b, "Govcfile", LIMIT_GOVCFILE_BYTES, &b->govcfile, &b->govcfile_len);
		file = "Govcfile";
		if (rc == -ENOENT) {
			file = "Dockerfile";
			rc = read_ctx_file(b, file, LIMIT_GOVCFILE_BYTES, &b->govcfile,
					   &b->govcfile_len);
		}
		if (rc == -ENOENT)
			return store_error(rc, "%s at %.12s has no Govcfile (nor Dockerfile)", b->repo,
					   b->commit_hex);
	} else
		rc = read_ctx_file(b, file, LIMIT_GOVCFILE_BYTES, &b->govcfile, &b->govcfile_len);
	if (rc == -ENOENT)
		return store_error(rc, "%s at %.12s has no file %s", b->repo, b->commit_hex, file);
	if (rc)
		return rc;
	rec_put(b, "govcfile", b->govcfile, b->govcfile_len);
	rc = load_ignore(b, file);
	if (rc)
		return store_error(rc, ".dockerignore: %s", store_errmsg());
	rc = bld_parse(&f, b->govcfile, b->govcfile_len, &diag);
	if (rc == 0)
		rc = bld_plan(&b->plan, f, &po, &diag);
	bld_file_free(f);
	if (rc)
		return store_error(rc, "%s: %s", file, diag.msg);
	b->stages = calloc(b->plan->nstages, sizeof(*b->stages));
	if (!b->stages)
		return store_error(-ENOMEM, "out of memory");
	snprintf(what, sizeof(what), "build of %s at %.12s", b->repo, b->commit_hex);
	rc = store_ingest_begin(&b->in, b->s, what);
	for (size_t i = 0; rc == 0 && i < b->plan->norder; i++)
		rc = run_stage(b, b->plan->order[i], i + 1);
	if (rc == 0)
		rc = finish(b, &b->stages[b->plan->target], m);
	return rc;
}

/* cache_lock - build-cache/lock, flock'ed HOW; the fd, or a negative errno */
static int cache_lock(struct store *s, int how)
{
	char dir[4096], path[4200];
	int fd, rc = bx_cache_dir(s, NULL, dir, sizeof(dir));

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_error(-errno, "%s: %s", path, strerror(errno));
	if (flock(fd, how)) {
		rc = errno == EWOULDBLOCK ? store_error(-EBUSY, "a build is running; try again when it"
							       " has finished")
					  : store_error(-errno, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

int bld_cache_prune(struct store *s)
{
	static const char *const subs[] = { "layers", "mounts", "run", "crun" };
	struct store_txn *t;
	char dir[4096], path[4200];
	int fd = cache_lock(s, LOCK_EX | LOCK_NB), rc;

	if (fd < 0)
		return fd;
	rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
	if (rc == 0) {
		rc = oci_unpin_prefix(t, CACHE_OWNER);
		if (rc == 0)
			rc = store_txn_commit(t);
		else
			store_txn_abort(t);
	}
	if (rc == 0)
		rc = bx_cache_dir(s, NULL, dir, sizeof(dir));
	for (size_t i = 0; rc == 0 && i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		bx_rm_rf(path);
	}
	close(fd);
	return rc;
}

/* private_mounts - a mount namespace of our own, so that the overlays
 * and crun's workaround are ours alone and go with the process */
static int private_mounts(void)
{
	if (unshare(CLONE_NEWNS))
		return store_error(-errno, "a build needs its own mount namespace (run it as root): %s",
				   strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return store_error(-errno, "making mounts private: %s", strerror(errno));
	return bx_run_prepare();
}

int bld_build(struct store *s, const struct bld_build_opts *o, struct oci_digest *m)
{
	struct build b = { .s = s, .o = o, .log_fd = -1 };
	struct oci_digest md;
	int lock = -1;
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(b.repo, sizeof(b.repo), "%s", o->repo);
	if (o->record) {
		char log[4400];
		rc = bld_record_dir(s, o->repo, o->record, b.record, sizeof(b.record));
		if (rc)
			return rc;
		snprintf(log, sizeof(log), "%s/log", b.record);
		b.log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		rec_line(&b, "status", "running");
	}
	lock = cache_lock(s, LOCK_SH);
	rc = lock < 0 ? lock : private_mounts();
	if (rc == 0) {
		raise_event(&b, "started", NULL);
		rc = build(&b, &md);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		char hex[OCI_DIGEST_STRLEN + 1];
		if (rc == 0) {
			oci_digest_fmt(hex, &md);
			say(&b, "built %s:%s %s in %.2fs", o->name ? o->name : b.repo,
			    o->tag ? o->tag : "latest", hex, secs);
			rec_line(&b, "image", hex);
			rec_line(&b, "status", "succeeded");
			raise_event(&b, "succeeded", json_pack("{s:s, s:f}", "image", hex, "seconds",
								secs));
			if (m)
				*m = md;
		} else {
			char msg[2048];
			snprintf(msg, sizeof(msg), "%s", store_errmsg());
			store_ingest_abort(b.in);	/* before the event's transaction */
			b.in = NULL;
			if (b.log_fd >= 0) {
				util_write_all(b.log_fd, "error: ", 7);
				util_write_all(b.log_fd, msg, strlen(msg));
				util_write_all(b.log_fd, "\n", 1);
			}
			rec_line(&b, "error", msg);
			rec_line(&b, "status", "failed");
			raise_event(&b, "failed", json_pack("{s:s, s:f}", "error", msg, "seconds", secs));
			store_error(rc, "%s", msg);
		}
	}
	if (b.in)
		store_ingest_abort(b.in);
	if (b.stages)
		for (size_t i = 0; i < b.plan->nstages; i++) {
			bx_fs_release(&b.stages[i].fs);
			json_decref(b.stages[i].img);
			json_decref(b.stages[i].shell);
		}
	free(b.stages);
	bld_plan_free(b.plan);
	bld_ignore_free(b.ignore);
	for (size_t i = 0; i < b.nenv_strs; i++)
		free(b.env_strs[i]);
	free(b.env_strs);
	free(b.govcfile);
	if (b.log_fd >= 0)
		close(b.log_fd);
	if (lock >= 0)
		close(lock);
	return rc;
}
