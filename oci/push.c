/*
 * push.c - `govc push`: an image of the store sent to a registry, and with
 * it every platform of its index that the store holds.
 *
 * Three phases; nothing of the store is held across the network:
 *  1. the plan, read in one short read transaction (plan_read): the tag's
 *     manifest and, when the tag came with an index, the index and each
 *     manifest it lists, whole in the store (manifest, config, every
 *     layer) or not; the blobs of the whole ones, each once, with the
 *     repository of the same registry each was last seen in (where a
 *     mount may take it from);
 *  2. the blobs (send_blobs): each asks HEAD, then is mounted or uploaded
 *     if the registry lacks it, read from the store piece by piece in read
 *     transactions of their own; up to `jobs` at once, by the caller's
 *     thread and jobs - 1 threads, each with a client of its own (a clone);
 *  3. the manifests, in the caller's thread (send_manifests): each whole
 *     platform's by digest, the registry asked (HEAD) for the others, then
 *     the index under the tag if the registry has every platform, else the
 *     tag's own manifest.  An index never names what the registry lacks.
 * Last, what the registry was found or made to hold is recorded as known
 * locations (one short write transaction, when the store is writable).
 *
 * Shared between threads, in struct push: next and stop, protected by
 * push.lock; cancel, written under push.lock and read atomically by the
 * uploads; a blob's rc, err and there, written by the thread that sent it
 * and read by the caller once the threads are joined; the progress rows,
 * push.rows.lock (a leaf).  push.lock and rows.lock are never held
 * together, and no store or network call is made under either.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci_int.h"
#include "util/array.h"

#define PLATFORM_MAX 96

/* A config or layer to put in the registry. */
struct push_blob {
	struct oci_descriptor d;
	char label[64];			/* progress: "layer 2/5 sha256:0123456789ab" */
	char what[400];			/* messages */
	char from[OCI_NAME_MAX + 1];	/* a repository of the registry said to
					 * hold it, or "" */
	int rc;				/* what sending it gave */
	char *err;			/* its message, owned */
	int there;			/* the registry has it now */
};

/* A manifest the push may put: the tag's, or one its index lists. */
struct push_manifest {
	struct oci_descriptor d;	/* media type: the index's word for it */
	char platform[PLATFORM_MAX];	/* "linux/arm64", or "" */
	char *body;			/* when whole; owned */
	size_t len;
	int whole;			/* the store holds it and all it names */
	int there;			/* the registry has it */
};

struct push {
	struct store *s;
	const struct oci_remote_ref *ref;
	const char *name, *tag;
	struct oci_registry *r;		/* the caller's client */
	struct oci_rows rows;
	/* the plan */
	struct oci_digest index;	/* zero: the tag has none (or it is ignored) */
	char *index_body;		/* owned */
	size_t index_len;
	char index_mt[OCI_MEDIA_TYPE_MAX + 1];
	char index_seen[REG_HOST_MAX + OCI_NAME_MAX + 2];
	struct push_manifest *mans;	/* owned */
	unsigned nmans, own;		/* mans[own] is the tag's */
	struct util_array blobs;	/* struct push_blob; fixed once threads start */
	unsigned nblobs;		/* its length */
	/* the uploads */
	pthread_mutex_t lock;
	unsigned next;			/* protected by lock: the next blob to send */
	int stop;			/* protected by lock: a blob failed */
	int cancel;			/* written under lock; atomic loads */
};

static struct push_blob *blob_at(struct push *p, unsigned i)
{
	return UTIL_ARRAY_AT(&p->blobs, struct push_blob, i);
}

/* ---- the plan ----------------------------------------------------------- */

/* the newest location of a blob in another repository of one registry */
struct pick {
	const char *host, *repo;	/* where the push goes */
	char *out;			/* OCI_NAME_MAX + 1 bytes */
	int64_t time_ns;
};

static int pick_from(const char *host, const char *repo, int64_t time_ns, void *arg)
{
	struct pick *pk = arg;

	if (strcmp(host, pk->host) || !strcmp(repo, pk->repo) || strlen(repo) > OCI_NAME_MAX ||
	    (pk->out[0] && time_ns <= pk->time_ns))
		return 0;
	strcpy(pk->out, repo);
	pk->time_ns = time_ns;
	return 0;
}

/* plan_blob - blob D (layer I of N, or the config: N 0) of manifest M, to
 * send unless listed already */
static int plan_blob(struct store_txn *t, struct push *p, const struct push_manifest *m,
		     const struct oci_descriptor *d, unsigned i, unsigned n)
{
	char hex[OCI_DIGEST_STRLEN + 1];
	struct push_blob *b;
	struct pick pk;

	for (unsigned k = 0; k < p->nblobs; k++)
		if (!memcmp(&blob_at(p, k)->d.digest, &d->digest, sizeof(d->digest)))
			return 0;
	b = UTIL_ARRAY_PUSH(&p->blobs, struct push_blob);
	if (!b)
		return store_error(-ENOMEM, "out of memory");
	p->nblobs++;
	b->d = *d;
	oci_short_label(b->label, sizeof(b->label), n ? "layer" : "config", i, n, &d->digest);
	oci_digest_fmt(hex, &d->digest);
	if (n)
		snprintf(b->what, sizeof(b->what), "layer %u (%s) of %s:%s%s%s", i, hex, p->name,
			 p->tag, m->platform[0] ? " for " : "", m->platform);
	else
		snprintf(b->what, sizeof(b->what), "config %s of %s:%s%s%s", hex, p->name, p->tag,
			 m->platform[0] ? " for " : "", m->platform);
	pk = (struct pick){ p->ref->host, p->ref->repo, b->from, 0 };
	return oci_blob_location_foreach(t, &d->digest, pick_from, &pk);
}

/* stored - does the store hold blob D whole, of its size? */
static int stored(struct store_txn *t, const struct oci_descriptor *d)
{
	uint64_t have;

	return oci_blob_size(t, &d->digest, &have) == 0 && have == d->size;
}

/*
 * plan_manifest - M whole in the store (its manifest, config and every
 * layer)?  Then keep its body, and its blobs to send.  Not whole is no
 * error: the registry may have it.  Neither is a manifest govc cannot
 * read (an attestation's layers are not image layers), unless REQUIRED
 * (the tag's own).
 */
static int plan_manifest(struct store_txn *t, struct push *p, struct push_manifest *m,
			 int required)
{
	struct oci_manifest man = { 0 };
	char what[200], hex[OCI_DIGEST_STRLEN + 1];
	json_t *doc = NULL;
	int rc;

	if (!stored(t, &m->d) || m->d.size > OCI_JSON_MAX ||
	    (m->d.media_type[0] && !oci_mt_is_manifest(m->d.media_type)))
		return 0;
	snprintf(what, sizeof(what), "manifest %s", oci_digest_fmt(hex, &m->d.digest));
	rc = oci_blob_load(t, &m->d.digest, OCI_JSON_MAX, what, &m->body, &m->len);
	if (rc == 0)
		rc = oci_json_parse(m->body, m->len, what, &doc);
	if (rc == 0)
		rc = oci_manifest_parse(doc, what, &man);
	json_decref(doc);
	if (rc && !required) {
		store_error_clear();
		rc = 0;
		goto out;
	}
	if (rc)
		return rc;
	m->whole = stored(t, &man.config);
	for (unsigned i = 0; i < man.nlayers && m->whole; i++)
		m->whole = stored(t, &man.layers[i]);
	if (!m->d.media_type[0])
		snprintf(m->d.media_type, sizeof(m->d.media_type), "%s", man.media_type);
	for (unsigned i = 0; i < man.nlayers && m->whole && rc == 0; i++)
		rc = plan_blob(t, p, m, &man.layers[i], i + 1, man.nlayers);
	if (m->whole && rc == 0)
		rc = plan_blob(t, p, m, &man.config, 0, 0);
out:
	oci_manifest_release(&man);
	if (!m->whole) {
		free(m->body);
		m->body = NULL;
	}
	return rc;
}

static void platform_of(json_t *desc, char *out, size_t len)
{
	json_t *pl = json_object_get(desc, "platform");
	json_t *os = json_object_get(pl, "os"), *arch = json_object_get(pl, "architecture");
	json_t *variant = json_object_get(pl, "variant");

	out[0] = '\0';
	if (json_is_string(os) && json_is_string(arch))
		snprintf(out, len, "%.30s/%.30s%s%.30s", json_string_value(os),
			 json_string_value(arch), json_is_string(variant) ? "/" : "",
			 json_is_string(variant) ? json_string_value(variant) : "");
}

/* the newest location of the index, for the message about what is missing */
static int seen_at(const char *host, const char *repo, int64_t time_ns, void *arg)
{
	struct pick *pk = arg;

	if (!pk->out[0] || time_ns > pk->time_ns) {
		snprintf(pk->out, REG_HOST_MAX + OCI_NAME_MAX + 2, "%s/%s", host, repo);
		pk->time_ns = time_ns;
	}
	return 0;
}

/* plan_forget - the index and its manifests left behind */
static void plan_forget(struct push *p)
{
	for (unsigned i = 0; i < p->nmans; i++)
		free(p->mans[i].body);
	free(p->mans);
	p->mans = NULL;
	p->nmans = 0;
	p->own = 0;
	memset(&p->index, 0, sizeof(p->index));
	p->index_seen[0] = '\0';
	util_array_release(&p->blobs);
	p->nblobs = 0;
}

/*
 * plan_index - the tag's index and each manifest it lists.  An index that
 * does not list the tag's manifest OWN is left behind (p->nmans stays 0).
 */
static int plan_index(struct store_txn *t, struct push *p, const struct oci_digest *own)
{
	char what[200], hex[OCI_DIGEST_STRLEN + 1];
	struct pick pk = { NULL, NULL, p->index_seen, 0 };
	json_t *doc = NULL, *list, *mt, *e;
	size_t i, n;
	int rc, found = 0;

	snprintf(what, sizeof(what), "index %s of %s:%s", oci_digest_fmt(hex, &p->index), p->name,
		 p->tag);
	rc = oci_blob_load(t, &p->index, OCI_JSON_MAX, what, &p->index_body, &p->index_len);
	if (rc == 0)
		rc = oci_json_parse(p->index_body, p->index_len, what, &doc);
	if (rc)
		return rc;
	mt = json_object_get(doc, "mediaType");
	snprintf(p->index_mt, sizeof(p->index_mt), "%s",
		 json_is_string(mt) ? json_string_value(mt) : OCI_MT_INDEX);
	list = json_object_get(doc, "manifests");
	n = json_array_size(list);
	if (!json_is_array(list) || n > OCI_INDEX_MANIFESTS_MAX) {
		rc = store_error(-EBADMSG, "%s: no manifests array, or more than %d manifests", what,
				 OCI_INDEX_MANIFESTS_MAX);
		goto out;
	}
	p->mans = calloc(n ? n : 1, sizeof(*p->mans));
	if (!p->mans) {
		rc = store_error(-ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(list, i, e) {
		struct push_manifest *m = &p->mans[i];

		rc = oci_descriptor_parse(e, what, &m->d);
		if (rc)
			goto out;
		p->nmans++;
		platform_of(e, m->platform, sizeof(m->platform));
		if (!found && !memcmp(&m->d.digest, own, sizeof(*own))) {
			p->own = (unsigned)i;
			found = 1;
		}
		rc = plan_manifest(t, p, m, found && p->own == i);
		if (rc)
			goto out;
	}
	if (found && !p->mans[p->own].whole)
		rc = store_error(-EIO, "image %s:%s: a blob of its manifest is missing; run govc fsck",
				 p->name, p->tag);
	else if (found)
		rc = oci_blob_location_foreach(t, &p->index, seen_at, &pk);
out:
	json_decref(doc);
	if (rc == 0 && !found)
		plan_forget(p);	/* not its index after all: the manifest goes alone */
	return rc;
}

/* plan_alone - the tag's manifest OWN, no index */
static int plan_alone(struct store_txn *t, struct push *p, const struct oci_digest *own)
{
	struct oci_image_info info;
	int rc = oci_image_info(t, own, &info);

	if (rc)
		return rc;
	p->nmans = 1;
	p->mans = calloc(1, sizeof(*p->mans));
	if (!p->mans)
		return store_error(-ENOMEM, "out of memory");
	p->mans[0].d.digest = *own;
	p->mans[0].d.size = info.manifest_size;
	snprintf(p->mans[0].d.media_type, sizeof(p->mans[0].d.media_type), "%s", info.media_type);
	rc = plan_manifest(t, p, &p->mans[0], 1);
	if (rc == 0 && !p->mans[0].whole)
		rc = store_error(-EIO, "image %s:%s: a blob of its manifest is missing; run govc fsck",
				 p->name, p->tag);
	return rc;
}

static int plan_read(struct push *p)
{
	struct oci_digest own;
	struct store_txn *t;
	int rc = store_txn_begin(&t, p->s, 0);

	if (rc)
		return rc;
	rc = oci_tag_get(t, p->name, p->tag, &own, &p->index);
	if (rc == 0 && !oci_digest_is_zero(&p->index))
		rc = plan_index(t, p, &own);
	if (rc == 0 && !p->nmans)
		rc = plan_alone(t, p, &own);
	store_txn_abort(t);
	return rc;
}

/* ---- blobs ------------------------------------------------------------------ */

/* blob_send - B into the registry with client R, unless it is there */
static int blob_send(struct push *p, struct oci_registry *r, struct push_blob *b)
{
	struct oci_row_mover mover;
	char note[OCI_NAME_MAX + 16];
	int mounted = 0, rc;

	store_error_clear();
	rc = oci_registry_blob_exists(r, p->ref->repo, &b->d.digest, NULL);
	if (rc != -ENOENT) {
		b->there = rc == 0;
		return rc;
	}
	store_error_clear();
	oci_row_start(&mover, &p->rows, oci_rows_new(&p->rows), b->label, b->d.size);
	oci_registry_watch(r, &p->cancel, oci_row_moved, &mover);
	rc = oci_registry_blob_push(r, p->ref->repo, p->s, &b->d, b->from[0] ? b->from : NULL,
				    b->what, &mounted);
	oci_registry_watch(r, NULL, NULL, NULL);
	snprintf(note, sizeof(note), "mounted from %s", b->from);
	oci_rows_report(&p->rows, mover.row, b->label, b->d.size, rc ? 0 : b->d.size,
			rc ? OCI_ROW_FAILED : OCI_ROW_DONE, oci_row_seconds(&mover),
			mounted ? note : NULL);
	b->there = rc == 0;
	return rc;
}

/* send_loop - blobs in order until none is left or one failed */
static void send_loop(struct push *p, struct oci_registry *r)
{
	for (;;) {
		struct push_blob *b = NULL;

		pthread_mutex_lock(&p->lock);
		if (!p->stop && p->next < p->nblobs)
			b = blob_at(p, p->next++);
		pthread_mutex_unlock(&p->lock);
		if (!b)
			return;
		b->rc = blob_send(p, r, b);
		if (!b->rc)
			continue;
		b->err = strdup(store_errmsg());
		pthread_mutex_lock(&p->lock);
		p->stop = 1;	/* the others stop too: the push fails */
		__atomic_store_n(&p->cancel, 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&p->lock);
	}
}

struct sender {
	struct push *p;
	struct oci_registry *r;		/* the thread's own */
	pthread_t thread;
};

static void *sender(void *arg)
{
	struct sender *sd = arg;

	send_loop(sd->p, sd->r);
	return NULL;
}

/*
 * send_blobs - every blob of the plan, JOBS at once: JOBS - 1 threads with
 * clients of their own, and the caller's.  The first failure (in the
 * plan's order, one that was not only cancelled) is returned with its
 * message.
 */
static int send_blobs(struct push *p, unsigned jobs)
{
	struct sender sd[REG_JOBS_MAX];
	unsigned n = 0, fail = p->nblobs;
	int rc = 0;

	while (n + 1 < jobs && n + 1 < p->nblobs) {
		sd[n].p = p;
		if (oci_registry_clone(&sd[n].r, p->r))
			break;
		if (pthread_create(&sd[n].thread, NULL, sender, &sd[n])) {
			oci_registry_free(sd[n].r);
			break;	/* fewer threads do */
		}
		n++;
	}
	store_error_clear();
	send_loop(p, p->r);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(sd[i].thread, NULL);
		oci_registry_free(sd[i].r);
	}
	for (unsigned i = 0; i < p->nblobs; i++) {
		if (blob_at(p, i)->rc && (fail == p->nblobs || (blob_at(p, fail)->rc == -ECANCELED &&
							     blob_at(p, i)->rc != -ECANCELED)))
			fail = i;
	}
	if (fail < p->nblobs)
		rc = store_error(blob_at(p, fail)->rc, "%s",
				 blob_at(p, fail)->err ? blob_at(p, fail)->err : "out of memory");
	return rc;
}

/* ---- manifests ----------------------------------------------------------- */

/* put_doc - LEN bytes of BODY (of MEDIA_TYPE, digest D) as REFERENCE, a
 * row LABEL of its own */
static int put_doc(struct push *p, const char *label, const char *reference,
		   const char *media_type, const char *body, size_t len)
{
	struct oci_row_mover mover;
	int rc;

	oci_row_start(&mover, &p->rows, oci_rows_new(&p->rows), label, len);
	store_error_clear();
	rc = oci_registry_manifest_put(p->r, p->ref->repo, reference, media_type, body, len);
	oci_rows_report(&p->rows, mover.row, label, len, rc ? 0 : len,
			rc ? OCI_ROW_FAILED : OCI_ROW_DONE, oci_row_seconds(&mover), NULL);
	return rc;
}

/* put_manifest - M as REFERENCE (NULL: its digest) */
static int put_manifest(struct push *p, struct push_manifest *m, const char *reference)
{
	char label[64], kind[PLATFORM_MAX + 16], hex[OCI_DIGEST_STRLEN + 1];

	snprintf(kind, sizeof(kind), "manifest%s%s", m->platform[0] ? " " : "", m->platform);
	oci_short_label(label, sizeof(label), kind, 0, 0, &m->d.digest);
	return put_doc(p, label, reference ? reference : oci_digest_fmt(hex, &m->d.digest),
		       m->d.media_type, m->body, m->len);
}

/*
 * send_manifests - under REF's tag the index, if the registry has every
 * platform once the whole ones are put (by digest); else the tag's own
 * manifest (the other whole platforms' put by digest all the same).  RES
 * gets what the tag names, and what was left out.
 */
static int send_manifests(struct push *p, struct oci_push_result *res)
{
	char hex[OCI_DIGEST_STRLEN + 1], label[64];
	struct push_manifest *own = &p->mans[p->own];
	int indexed = !oci_digest_is_zero(&p->index);
	unsigned missing = 0;
	int rc = 0;

	for (unsigned i = 0; i < p->nmans && indexed && rc == 0; i++) {
		struct push_manifest *m = &p->mans[i];

		rc = oci_registry_manifest_exists(p->r, p->ref->repo, &m->d.digest);
		m->there = rc == 0;
		if (rc == -ENOENT) {
			store_error_clear();
			missing += !m->whole;
			rc = 0;
		}
	}
	for (unsigned i = 0; i < p->nmans && indexed && rc == 0; i++) {
		struct push_manifest *m = &p->mans[i];

		if (m->whole && !m->there && (!missing || i != p->own)) {
			rc = put_manifest(p, m, NULL);
			m->there = rc == 0;
		}
	}
	if (rc)
		return rc;
	if (indexed && !missing) {
		oci_short_label(label, sizeof(label), "index", 0, 0, &p->index);
		rc = put_doc(p, label, p->ref->tag[0] ? p->ref->tag : oci_digest_fmt(hex, &p->index),
			     p->index_mt, p->index_body, p->index_len);
		res->digest = p->index;
		res->index_pushed = rc == 0;
		return rc;
	}
	rc = put_manifest(p, own, p->ref->tag[0] ? p->ref->tag : NULL);
	own->there = rc == 0;
	res->digest = own->d.digest;
	if (rc || !missing)
		return rc;
	res->missing = calloc(missing, sizeof(*res->missing));
	if (!res->missing)
		return store_error(-ENOMEM, "out of memory");
	for (unsigned i = 0; i < p->nmans; i++) {
		struct oci_push_missing *ms = &res->missing[res->nmissing];

		if (p->mans[i].there)
			continue;
		snprintf(ms->platform, sizeof(ms->platform), "%s", p->mans[i].platform);
		ms->manifest = p->mans[i].d.digest;
		res->nmissing++;
	}
	snprintf(res->index_seen, sizeof(res->index_seen), "%s", p->index_seen);
	return 0;
}

/* record - what the registry has now: known locations for later pushes */
static void record(struct push *p, const struct oci_push_result *res)
{
	struct oci_digest *d = calloc(p->nblobs + p->nmans + 1, sizeof(*d));
	unsigned n = 0;

	if (!d)
		return;
	for (unsigned i = 0; i < p->nblobs; i++)
		if (blob_at(p, i)->there)
			d[n++] = blob_at(p, i)->d.digest;
	for (unsigned i = 0; i < p->nmans; i++)
		if (p->mans[i].there)
			d[n++] = p->mans[i].d.digest;
	if (res->index_pushed)
		d[n++] = p->index;
	oci_locations_record(p->s, p->ref->host, p->ref->repo, d, n);
	store_error_clear();
	free(d);
}

int oci_push(struct store *s, const char *name, const char *tag,
	     const struct oci_remote_ref *ref, const struct oci_registry_opts *ropts,
	     struct oci_push_result *out)
{
	struct oci_push_result res;
	struct push p;
	int rc;

	memset(&res, 0, sizeof(res));
	memset(&p, 0, sizeof(p));
	p.s = s;
	p.ref = ref;
	p.name = name;
	p.tag = tag;
	util_array_init(&p.blobs, sizeof(struct push_blob));
	oci_rows_init(&p.rows, ropts ? ropts->progress : NULL);
	pthread_mutex_init(&p.lock, NULL);
	rc = plan_read(&p);
	if (rc == 0)
		rc = oci_registry_open(&p.r, ref->host, ropts);
	if (rc == 0)
		rc = send_blobs(&p, oci_jobs_wanted(ropts, REG_PUSH_JOBS_ENV));
	if (rc == 0)
		rc = send_manifests(&p, &res);
	if (p.r) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", store_errmsg());
		record(&p, &res);	/* what went, even if not all did */
		if (rc)
			store_error(rc, "%s", msg);
	}
	res.index = p.index;
	if (rc == 0 && out)
		*out = res;
	else
		oci_push_result_release(&res);
	oci_registry_free(p.r);
	for (unsigned i = 0; i < p.nmans; i++)
		free(p.mans[i].body);
	for (unsigned i = 0; i < p.nblobs; i++)
		free(blob_at(&p, i)->err);
	free(p.mans);
	util_array_release(&p.blobs);
	free(p.index_body);
	pthread_mutex_destroy(&p.lock);
	oci_rows_release(&p.rows);
	return rc;
}

void oci_push_result_release(struct oci_push_result *res)
{
	free(res->missing);
	res->missing = NULL;
	res->nmissing = 0;
}
