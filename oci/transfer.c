/*
 * transfer.c - `govc pull` and `govc push`: the registry client
 * (registry.c) put to work on the store.
 *
 * A pull is oci_import() with a source whose put_blob downloads each
 * blob straight into the store (oci_registry_blob_fetch -> blob writer):
 * the import decides what it needs, skips what the store holds, verifies
 * and indexes, and publishes image and tag together at the end.  The
 * manifest or index named by tag is fetched first (its digest is then
 * known) and handed to the import from memory.
 *
 * Parallel layers.  Once the import knows the manifest and its config it
 * tells the source the layers and their diff_ids (prefetch); the layers
 * the store lacks become jobs, and up to `jobs` download threads take them
 * in order, bottom first: each downloads its layer into an ingest session
 * of its own, then indexes it there (oci_layer_index, the CPU-heavy part:
 * decompression, the diff_id, a git blob per file), then takes the next.
 * Downloads overlap each other and the indexing of the layers already in,
 * and on several cores layers are indexed side by side.  The import's
 * thread waits for each layer in turn (await), then finds the blob stored
 * and the layer indexed and pins both in its own session; a job no thread
 * has started yet is run by the import's thread itself, so the pull
 * finishes even if no thread could be started.  A download thread keeps
 * its session (and so its pins, which keep what it wrote from a
 * concurrent gc) until the import has published or failed; then the pull
 * is closed: downloads still running are cancelled, the threads end their
 * sessions and are joined.  A session and its blob writer stay in the
 * thread that began them.  No thread holds a write transaction while it
 * waits on the network (registry.c commits each chunk as it goes in) or
 * for another thread, so the store's writer lock passes between the
 * threads and the mount's writers every few milliseconds at most.
 *
 * Shared between threads, all in struct pull:
 *   - the jobs' state, rc and err, next, closing: protected by pull.lock;
 *     pull.cond is signalled when a job ends and when the pull closes;
 *   - cancel: written under pull.lock, read without it (atomic loads) by
 *     the downloads' write callbacks;
 *   - rows and the progress callback: serialized by pull.rows.lock, a
 *     leaf lock (nothing else is taken while it is held).
 * Lock order: pull.lock and pull.rows.lock are never held together, and
 * no store call (which may wait for the ingest gate or LMDB's writer
 * lock) is made while either is held.
 * Everything else (the store, the repository name, the descriptors) is
 * set before the threads start and only read afterwards.  Each thread has
 * its own registry client (a clone: curl handle, token cache).
 *
 * Once the image is published its blobs are recorded as known to be in
 * the registry's repository (oci_locations_record), for pushes to mount.
 *
 * Also here, for push.c too: the progress rows of a transfer's threads,
 * the number of jobs, labels, and recording known locations.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oci/oci_int.h"
#include "store/ingest.h"

#define ROW_EVERY_MS 100	/* a moving row is reported this often at most */

enum job_state { JOB_QUEUED, JOB_MOVING, JOB_DONE };

/* A layer to download. */
struct pull_job {
	struct oci_descriptor d;
	struct oci_digest diff_id;
	int has_diff_id;
	char what[200];		/* for messages */
	char label[96];		/* for progress: "[PLATFORM ]layer 2/5 sha256:0123456789ab" */
	unsigned row;		/* set before the threads start */
	enum job_state state;	/* protected by pull.lock */
	int rc;			/* protected by pull.lock; once DONE */
	char *err;		/* protected by pull.lock; its message, owned */
	int by_worker;		/* protected by pull.lock; a thread fetched it */
	struct oci_row_mover mover;	/* the downloading thread's own */
};

struct pull {
	struct store *s;
	struct oci_registry *r;		/* the import thread's client */
	const char *repo;
	unsigned jobs_max;
	struct oci_descriptor top;
	char *top_body;			/* owned */
	size_t top_len;
	char location[REG_HOST_MAX + OCI_NAME_MAX + 16];
	const char *label_prefix;	/* rows' labels start with it, or NULL */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pull_job *jobs;		/* owned; the array is fixed once threads start */
	unsigned njobs;
	unsigned next;			/* protected by lock: the next job to take */
	int closing;			/* protected by lock: the import is over */
	int published;			/* protected by lock: ... and succeeded */
	int cancel;			/* written under lock; atomic loads */
	unsigned takers;		/* protected by lock: threads still taking jobs */
	pthread_t threads[REG_JOBS_MAX];
	struct oci_registry *clients[REG_JOBS_MAX];	/* each thread's, owned */
	unsigned nthreads;

	struct oci_rows rows;
};

/* ---- progress rows ----------------------------------------------------- */

void oci_rows_init(struct oci_rows *rs, const struct oci_progress *cb)
{
	rs->cb = cb && cb->row ? cb : NULL;
	rs->n = 0;
	pthread_mutex_init(&rs->lock, NULL);
}

void oci_rows_release(struct oci_rows *rs)
{
	pthread_mutex_destroy(&rs->lock);
}

unsigned oci_rows_new(struct oci_rows *rs)
{
	unsigned row;

	pthread_mutex_lock(&rs->lock);
	row = rs->n++;
	pthread_mutex_unlock(&rs->lock);
	return row;
}

void oci_rows_report(struct oci_rows *rs, unsigned row, const char *label, uint64_t size,
		     uint64_t got, enum oci_row_state state, double seconds, const char *note)
{
	struct oci_progress_row r = { row, label, size, got, state, seconds, note };

	if (!rs->cb)
		return;
	pthread_mutex_lock(&rs->lock);
	rs->cb->row(rs->cb->arg, &r);
	pthread_mutex_unlock(&rs->lock);
}

static uint64_t mono_ms(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000 + (uint64_t)ts->tv_nsec / 1000000;
}

void oci_row_start(struct oci_row_mover *m, struct oci_rows *rs, unsigned row, const char *label,
		   uint64_t size)
{
	m->rs = rs;
	m->row = row;
	m->label = label;
	m->size = size;
	m->last_ms = 0;
	clock_gettime(CLOCK_MONOTONIC, &m->t0);
	oci_rows_report(rs, row, label, size, 0, OCI_ROW_MOVING, 0, NULL);
}

double oci_row_seconds(const struct oci_row_mover *m)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - m->t0.tv_sec) + (double)(t1.tv_nsec - m->t0.tv_nsec) / 1e9;
}

void oci_row_moved(void *arg, uint64_t got)
{
	struct oci_row_mover *m = arg;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (mono_ms(&now) - m->last_ms < ROW_EVERY_MS)
		return;
	m->last_ms = mono_ms(&now);
	oci_rows_report(m->rs, m->row, m->label, m->size, got, OCI_ROW_MOVING, oci_row_seconds(m),
			NULL);
}

unsigned oci_jobs_wanted(const struct oci_registry_opts *ro, const char *env_name)
{
	const char *env = getenv(env_name);
	unsigned n = ro && ro->jobs ? ro->jobs : REG_JOBS_DEFAULT;

	if ((!ro || !ro->jobs) && env && *env)
		n = (unsigned)strtoul(env, NULL, 10);
	return n < 1 ? 1 : n > REG_JOBS_MAX ? REG_JOBS_MAX : n;
}

void oci_short_label(char *out, size_t len, const char *kind, unsigned i, unsigned n,
		     const struct oci_digest *d)
{
	char hex[OCI_DIGEST_STRLEN + 1];

	oci_digest_fmt(hex, d);
	if (n)
		snprintf(out, len, "%s %u/%u %.19s", kind, i, n, hex);
	else
		snprintf(out, len, "%s %.19s", kind, hex);
}

/* pull_label - oci_short_label, after P's label prefix (a platform) */
static void pull_label(const struct pull *p, char *out, size_t len, const char *kind,
		       unsigned i, unsigned n, const struct oci_digest *d)
{
	char label[64];

	oci_short_label(label, sizeof(label), kind, i, n, d);
	snprintf(out, len, "%.24s%s%s", p->label_prefix ? p->label_prefix : "",
		 p->label_prefix ? " " : "", label);
}

int oci_locations_record(struct store *s, const char *host, const char *repo,
			 const struct oci_digest *d, unsigned n)
{
	struct store_txn *t;
	int rc;

	if (!n)
		return 0;
	rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		rc = oci_blob_location_add(t, &d[i], host, repo);
		if (rc == -ENOENT)
			rc = 0;	/* not stored (any more): nothing to say */
	}
	if (rc == 0)
		return store_txn_commit(t);
	store_txn_abort(t);
	return rc;
}

/* ---- pull --------------------------------------------------------------- */

/*
 * job_run - download layer J with client R into session IN, then index it
 * in IN, all in this thread; the session's transaction is left committed
 */
static int job_run(struct pull *p, struct oci_registry *r, struct store_ingest *in,
		   struct pull_job *j)
{
	double secs;
	int rc;

	oci_row_start(&j->mover, &p->rows, j->row, j->label, j->d.size);
	oci_registry_watch(r, &p->cancel, oci_row_moved, &j->mover);
	store_error_clear();
	rc = oci_registry_blob_fetch(r, p->repo, &j->d, in, j->what);
	oci_registry_watch(r, NULL, NULL, NULL);
	secs = oci_row_seconds(&j->mover);
	if (rc == 0) {
		oci_rows_report(&p->rows, j->row, j->label, j->d.size, j->d.size,
				OCI_ROW_INDEXING, secs, NULL);
		rc = oci_layer_index(in, &j->d.digest, j->has_diff_id ? &j->diff_id : NULL);
	}
	/* nothing held while this thread waits for its next job or the end */
	if (rc)
		store_ingest_flush(in);	/* the failure's message stands */
	else
		rc = store_ingest_flush(in);
	oci_rows_report(&p->rows, j->row, j->label, j->d.size, rc ? 0 : j->d.size,
			rc ? OCI_ROW_FAILED : OCI_ROW_DONE, secs, NULL);
	return rc;
}

/* job_end - record J's outcome (the calling thread's message) for the
 * import's thread; called with p->lock held */
static void job_end(struct pull *p, struct pull_job *j, int rc, int by_worker)
{
	j->rc = rc;
	j->err = rc ? strdup(store_errmsg()) : NULL;
	j->by_worker = by_worker;
	j->state = JOB_DONE;
	pthread_cond_broadcast(&p->cond);
}

/* job_take - the next queued job, MOVING, or NULL; with p->lock held */
static struct pull_job *job_take(struct pull *p)
{
	while (p->next < p->njobs && p->jobs[p->next].state != JOB_QUEUED)
		p->next++;
	if (p->cancel || p->next == p->njobs)
		return NULL;
	p->jobs[p->next].state = JOB_MOVING;
	return &p->jobs[p->next++];
}

struct worker_arg {
	struct pull *p;
	unsigned i;
};

/*
 * worker - a download thread: jobs in order until none is left, then wait
 * for the import to end and only then end the session, whose pins kept
 * what was downloaded.  After a failed download it takes no more (the
 * import fails when it reaches that layer, or downloads what is left
 * itself).
 */
static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct pull *p = wa->p;
	struct oci_registry *r = p->clients[wa->i];
	struct store_ingest *in = NULL;
	char what[300];
	int failed = 0, published;

	snprintf(what, sizeof(what), "pull from %.200s (download %u)", p->location, wa->i + 1);
	free(wa);
	if (store_ingest_begin(&in, p->s, what))
		failed = 1;	/* the import's thread runs our share */
	while (!failed) {
		struct pull_job *j;
		int rc;

		pthread_mutex_lock(&p->lock);
		j = job_take(p);
		pthread_mutex_unlock(&p->lock);
		if (!j)
			break;
		rc = job_run(p, r, in, j);
		pthread_mutex_lock(&p->lock);
		job_end(p, j, rc, 1);
		pthread_mutex_unlock(&p->lock);
		failed = rc != 0;
	}
	pthread_mutex_lock(&p->lock);
	p->takers--;
	pthread_cond_broadcast(&p->cond);	/* the import may take what is left */
	while (!p->closing)
		pthread_cond_wait(&p->cond, &p->lock);
	published = p->published;
	pthread_mutex_unlock(&p->lock);
	if (in && published)
		store_ingest_finish(in, NULL, NULL);
	else
		store_ingest_abort(in);
	return NULL;
}

/* reg_prefetch - the import's layers: the missing ones become jobs, and
 * the download threads start (oci_source.prefetch) */
static int reg_prefetch(void *arg, struct store_ingest *in, const struct oci_descriptor *d,
			const struct oci_digest *diff_ids, unsigned n)
{
	struct pull *p = arg;
	struct store_txn *t;
	char hex[OCI_DIGEST_STRLEN + 1];
	unsigned nthreads;
	int rc;

	if (p->jobs || !n)
		return 0;	/* once per pull */
	p->jobs = calloc(n, sizeof(*p->jobs));
	if (!p->jobs)
		return store_error(-ENOMEM, "out of memory");
	rc = store_txn_begin(&t, store_ingest_store(in), 0);
	if (rc)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		struct pull_job *j = &p->jobs[p->njobs];
		uint64_t have;
		int dup = 0;

		for (unsigned k = 0; k < p->njobs && !dup; k++)
			dup = !memcmp(&p->jobs[k].d.digest, &d[i].digest, sizeof(d[i].digest));
		if (dup || oci_blob_size(t, &d[i].digest, &have) == 0)
			continue;	/* the import finds it (it checks the size) */
		j->d = d[i];
		if (diff_ids) {
			j->diff_id = diff_ids[i];
			j->has_diff_id = 1;
		}
		snprintf(j->what, sizeof(j->what), "layer %u (%s) of %.100s", i + 1,
			 oci_digest_fmt(hex, &d[i].digest), p->location);
		pull_label(p, j->label, sizeof(j->label), "layer", i + 1, n, &d[i].digest);
		p->njobs++;
	}
	store_txn_abort(t);
	store_error_clear();
	for (unsigned i = 0; i < p->njobs; i++) {
		p->jobs[i].row = oci_rows_new(&p->rows);
		oci_rows_report(&p->rows, p->jobs[i].row, p->jobs[i].label, p->jobs[i].d.size, 0,
				OCI_ROW_WAITING, 0, NULL);
	}
	nthreads = p->njobs < p->jobs_max ? p->njobs : p->jobs_max;
	for (unsigned i = 0; i < nthreads; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));

		/* a client the thread owns; the import's is only read here */
		if (!wa || oci_registry_clone(&p->clients[i], p->r)) {
			free(wa);
			break;
		}
		wa->p = p;
		wa->i = i;
		pthread_mutex_lock(&p->lock);
		p->takers++;
		pthread_mutex_unlock(&p->lock);
		if (pthread_create(&p->threads[i], NULL, worker, wa)) {
			pthread_mutex_lock(&p->lock);
			p->takers--;
			pthread_mutex_unlock(&p->lock);
			free(wa);
			oci_registry_free(p->clients[i]);
			p->clients[i] = NULL;
			break;	/* the import's thread does the rest */
		}
		p->nthreads++;
	}
	store_error_clear();
	return 0;
}

static struct pull_job *job_find(struct pull *p, const struct oci_digest *d)
{
	for (unsigned i = 0; i < p->njobs; i++)
		if (!memcmp(&p->jobs[i].d.digest, d, sizeof(*d)))
			return &p->jobs[i];
	return NULL;
}

/* layer_wait - layer job J for the import's session IN: waited for, or
 * run here once no thread is left to take it; then pinned for IN */
static int layer_wait(struct pull *p, struct store_ingest *in, struct pull_job *j)
{
	int rc, by_worker;

	pthread_mutex_lock(&p->lock);
	while (j->state != JOB_DONE) {
		if (j->state == JOB_QUEUED && !p->takers) {
			j->state = JOB_MOVING;
			pthread_mutex_unlock(&p->lock);
			rc = job_run(p, p->r, in, j);
			pthread_mutex_lock(&p->lock);
			job_end(p, j, rc, 0);
			break;
		}
		pthread_cond_wait(&p->cond, &p->lock);
	}
	rc = j->rc;
	by_worker = j->by_worker;
	if (rc)
		store_error(rc, "%s", j->err ? j->err : "out of memory");
	pthread_mutex_unlock(&p->lock);
	if (rc || !by_worker)
		return rc;
	/* the thread's session pins it until the pull closes; now ours */
	return store_ingest_pin(in, STORE_PIN_BLOB, j->d.digest.sha256, 32);
}

/* reg_await - oci_source.await: layer D is in and indexed (or failed) */
static int reg_await(void *arg, struct store_ingest *in, const struct oci_descriptor *d)
{
	struct pull *p = arg;
	struct pull_job *j = job_find(p, &d->digest);

	return j ? layer_wait(p, in, j) : 0;
}

static int reg_put_blob(void *arg, struct store_ingest *in, const struct oci_descriptor *d,
			const char *what)
{
	struct pull *p = arg;
	struct pull_job *j = job_find(p, &d->digest);
	char hex[OCI_DIGEST_STRLEN + 1], label[96], *body;
	struct oci_descriptor got;
	struct oci_row_mover mover;
	size_t len;
	int rc;

	if (!memcmp(&d->digest, &p->top.digest, sizeof(d->digest)))
		return oci_blob_put(in, p->top_body, p->top_len, &d->digest, what, NULL);
	if (j)
		return layer_wait(p, in, j);
	if (oci_mt_is_index(d->media_type) || oci_mt_is_manifest(d->media_type)) {
		/* manifests come from /manifests/, capped and checked */
		rc = oci_registry_manifest_get(p->r, p->repo, oci_digest_fmt(hex, &d->digest),
					       &body, &len, &got);
		if (rc == 0)
			rc = oci_blob_put(in, body, len, &d->digest, what, NULL);
		free(body);
		return rc;
	}
	/* the config, or a layer of a manifest never prefetched */
	pull_label(p, label, sizeof(label), strncmp(what, "config", 6) ? "blob" : "config", 0, 0,
		   &d->digest);
	oci_row_start(&mover, &p->rows, oci_rows_new(&p->rows), label, d->size);
	rc = oci_registry_blob_fetch(p->r, p->repo, d, in, what);
	oci_rows_report(&p->rows, mover.row, label, d->size, rc ? 0 : d->size,
			rc ? OCI_ROW_FAILED : OCI_ROW_DONE, oci_row_seconds(&mover), NULL);
	return rc;
}

/* pull_close - the import is over (PUBLISHED or not): cancel what still
 * downloads, let the threads end their sessions, join them */
static void pull_close(struct pull *p, int published)
{
	pthread_mutex_lock(&p->lock);
	p->closing = 1;
	p->published = published;
	__atomic_store_n(&p->cancel, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (unsigned i = 0; i < REG_JOBS_MAX; i++)
		oci_registry_free(p->clients[i]);
	for (unsigned i = 0; i < p->njobs; i++)
		free(p->jobs[i].err);
	free(p->jobs);
}

/*
 * pull_record - the image pulled (TOP, the manifest M, its config and
 * layers) is in REF's repository: known locations for later pushes.  A
 * hint: its failure is not the pull's.
 */
static void pull_record(struct store *s, const struct oci_remote_ref *ref,
			const struct oci_digest *top, const struct oci_digest *m)
{
	struct oci_image_info info = { 0 };
	struct oci_digest *d = NULL;
	struct store_txn *t;
	unsigned n = 0;
	int rc = store_txn_begin(&t, s, 0);

	if (rc == 0)
		rc = oci_image_info(t, m, &info);
	if (rc == 0 && !(d = calloc(info.nlayers + 3, sizeof(*d))))
		rc = -ENOMEM;
	if (rc == 0) {
		d[n++] = *top;
		d[n++] = *m;
		d[n++] = info.config;
	}
	for (unsigned i = 0; rc == 0 && i < info.nlayers; i++)
		rc = oci_image_layer(t, m, i, &d[n++], NULL);
	store_txn_abort(t);
	if (rc == 0)
		oci_locations_record(s, ref->host, ref->repo, d, n);
	free(d);
	store_error_clear();
}

/* pull_one - oci_pull, its rows' labels after LABEL_PREFIX (may be NULL) */
static int pull_one(struct store *s, const struct oci_remote_ref *ref, const char *name,
		    const char *tag, const struct oci_registry_opts *ropts,
		    const struct oci_import_opts *iopts, struct oci_digest *m,
		    const char *label_prefix)
{
	struct pull p;
	struct oci_source src = { NULL, &p, p.location, reg_put_blob, reg_prefetch,
				  reg_await };
	char hex[OCI_DIGEST_STRLEN + 1];
	struct oci_digest man;
	int rc;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.repo = ref->repo;
	p.label_prefix = label_prefix;
	p.jobs_max = oci_jobs_wanted(ropts, REG_JOBS_ENV);
	oci_rows_init(&p.rows, ropts ? ropts->progress : NULL);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	snprintf(p.location, sizeof(p.location), "docker://%s/%s", ref->host, ref->repo);
	rc = oci_registry_open(&p.r, ref->host, ropts);
	if (rc == 0)
		rc = oci_registry_manifest_get(p.r, ref->repo,
					       oci_digest_is_zero(&ref->digest) ?
						       ref->tag : oci_digest_fmt(hex, &ref->digest),
					       &p.top_body, &p.top_len, &p.top);
	if (rc == -ENOENT) {
		char why[300];

		snprintf(why, sizeof(why), "%s", store_errmsg());
		rc = store_error(-ENOENT, "%s%s%s: no such image (%s)", p.location,
				 oci_digest_is_zero(&ref->digest) ? ":" : "@",
				 oci_digest_is_zero(&ref->digest) ? ref->tag : hex, why);
	}
	if (rc == 0)
		rc = oci_import(s, &src, &p.top, name, tag, iopts, &man);
	pull_close(&p, rc == 0);
	if (rc == 0) {
		pull_record(s, ref, &p.top.digest, &man);
		if (m)
			*m = man;
	}
	free(p.top_body);
	oci_registry_free(p.r);
	oci_rows_release(&p.rows);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	return rc;
}

int oci_pull(struct store *s, const struct oci_remote_ref *ref, const char *name,
	     const char *tag, const struct oci_registry_opts *ropts,
	     const struct oci_import_opts *iopts, struct oci_digest *m)
{
	return pull_one(s, ref, name, tag, ropts, iopts, m, NULL);
}

/* ---- every platform ------------------------------------------------------------ */

/* One platform's entry of an index: its manifest and "os/arch[/variant]". */
struct platform_entry {
	struct oci_digest digest;
	char platform[96];
};

/*
 * index_platforms - the entries of index BODY that name a platform (not
 * buildx's attestations, "unknown/unknown"), into *OUT (malloc'd, *N)
 */
static int index_platforms(const char *body, size_t len, const char *what,
			   struct platform_entry **out, unsigned *n)
{
	json_error_t jerr;
	json_t *doc = json_loadb(body, len, 0, &jerr), *ms, *e;
	size_t i;
	int rc = 0;

	*out = NULL;
	*n = 0;
	ms = doc ? json_object_get(doc, "manifests") : NULL;
	if (!json_is_array(ms)) {
		json_decref(doc);
		return store_error(-EBADMSG, "%s: an image index needs a manifests array", what);
	}
	*out = calloc(json_array_size(ms) + 1, sizeof(**out));
	if (!*out)
		rc = store_error(-ENOMEM, "out of memory");
	json_array_foreach(ms, i, e) {
		struct oci_descriptor d;
		struct oci_platform pl;

		if (rc || !oci_platform_from(json_object_get(e, "platform"), &pl) ||
		    !strcmp(pl.os, "unknown") || oci_descriptor_parse(e, what, &d) ||
		    !oci_mt_is_manifest(d.media_type))
			continue;
		(*out)[*n].digest = d.digest;
		oci_platform_fmt(&pl, (*out)[*n].platform, sizeof((*out)[*n].platform));
		(*n)++;
	}
	store_error_clear();
	json_decref(doc);
	return rc;
}

int oci_pull_all(struct store *s, const struct oci_remote_ref *ref, const char *name,
		 const char *tag, const struct oci_registry_opts *ropts,
		 const struct oci_import_opts *iopts, struct oci_digest *m)
{
	struct oci_remote_ref pinned = *ref;
	struct oci_registry *r = NULL;
	struct oci_descriptor top;
	struct platform_entry *pe = NULL;
	struct store_ingest *in = NULL;
	char *body = NULL, hex[OCI_DIGEST_STRLEN + 1], what[REG_HOST_MAX + OCI_NAME_MAX + 96];
	size_t len = 0;
	unsigned n = 0;
	int rc = oci_registry_open(&r, ref->host, ropts);

	if (rc == 0)
		rc = oci_registry_manifest_get(r, ref->repo,
					       oci_digest_is_zero(&ref->digest) ?
						       ref->tag : oci_digest_fmt(hex, &ref->digest),
					       &body, &len, &top);
	oci_registry_free(r);
	if (rc == 0 && !oci_mt_is_index(top.media_type)) {
		free(body);
		return oci_pull(s, ref, name, tag, ropts, iopts, m);	/* one image */
	}
	snprintf(what, sizeof(what), "pull of every platform of docker://%s/%s@%s", ref->host,
		 ref->repo, oci_digest_fmt(hex, &top.digest));
	if (rc == 0)
		rc = index_platforms(body, len, what, &pe, &n);
	free(body);
	/* every pull below takes the very index, even if the tag moves */
	pinned.digest = top.digest;
	/* what each platform's pull publishes untagged stays until the tag's
	 * index reaches it: pinned first, by a session of this pull's */
	if (rc == 0)
		rc = store_ingest_begin(&in, s, what);
	for (unsigned i = 0; i < n && rc == 0; i++)
		rc = store_ingest_pin(in, STORE_PIN_BLOB, pe[i].digest.sha256, 32);
	if (rc == 0)
		rc = store_ingest_flush(in);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct oci_import_opts io = iopts ? *iopts : (struct oci_import_opts){ 0 };

		io.platform = pe[i].platform;
		rc = pull_one(s, &pinned, name, NULL, ropts, &io, NULL, pe[i].platform);
		if (rc)
			rc = store_error(rc, "platform %s: %s", pe[i].platform, store_errmsg());
	}
	/* the tag: the chosen platform (its blobs are in by now) and the index */
	if (rc == 0)
		rc = oci_pull(s, &pinned, name, tag, ropts, iopts, m);
	if (in && rc == 0)
		rc = store_ingest_finish(in, NULL, NULL);
	else if (in)
		store_ingest_abort(in);
	free(pe);
	return rc;
}
