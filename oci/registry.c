/*
 * registry.c - the distribution API over libcurl, for one registry host:
 * the /v2/ ping, auth (Basic, Bearer tokens per scope), manifests, blobs
 * down (into a blob writer) and up (POST, PUT, PATCH), retries.
 *
 * One curl easy handle per client, reused so its connection is kept
 * alive.  Every request goes through reg_perform(), which adds the
 * Authorization the request's scope needs, answers one 401 by fetching
 * credentials or a token and trying again, and retries 5xx, 429 and
 * dropped connections with backoff (REG_RETRIES).  A response body goes
 * to the request's sink only for a 2xx status; anything else is kept, cut
 * at REG_ERRBODY_MAX, for the message.
 *
 * Invariant: no store transaction is open across a curl call, nor while
 * a download waits for its next bytes: the blob writer's transaction is
 * committed as soon as a chunk is in (the writer lock is shared by every
 * thread and process, the mount's writers and the other download threads
 * among them), and uploads read each piece in a read transaction of its
 * own.
 *
 * Threads: a client belongs to one thread; download threads use clones
 * (oci_registry_clone).  Only the watcher's cancel flag is written by
 * another thread, and it is read with atomic loads.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "oci/registry.h"
#include "store/ingest.h"
#include "util/buf.h"

#define HDR_MAX 2048		/* one header value we keep */
#define URL_MAX 4096
#define TOKENS_MAX 16		/* scopes cached */
#define CA_BUNDLE_MAX (8u << 20)
#define MANIFEST_ACCEPT                                                              \
	"Accept: " OCI_MT_INDEX ", " DOCKER_MT_LIST ", " OCI_MT_MANIFEST ", " DOCKER_MT_MANIFEST

struct token {
	char *scope;		/* owned */
	char *header;		/* "Authorization: Bearer ...", owned */
};

struct oci_registry {
	CURL *curl;
	char host[REG_HOST_MAX + 1];	/* as the user named it */
	char api[REG_HOST_MAX + 1];	/* where requests go */
	const char *scheme;		/* "https" or "http" */
	int tls_verify, allow_http;
	int tls_refused;		/* the port does not speak TLS */
	struct util_buf ca;		/* system CAs + cert-dir's, or empty */
	char client_cert[4200], client_key[4200];
	char *user, *password;		/* owned; NULL: anonymous */
	/* the challenge of the last 401 */
	enum { AUTH_NONE, AUTH_BASIC, AUTH_BEARER } auth;
	char realm[HDR_MAX], service[HDR_MAX];
	struct token tokens[TOKENS_MAX];
	unsigned ntokens;
	/* a download's watcher (oci_registry_watch) */
	const int *cancel;		/* set by another thread; atomic loads */
	void (*moved)(void *arg, uint64_t got);
	void *moved_arg;
};

/* A request and what its response said. */
struct req {
	const char *method;
	char url[URL_MAX];
	const char *scope;		/* "repository:NAME:pull", or NULL */
	int token_req;			/* to the token realm: Basic creds, no 401 dance */
	const char *accept;		/* a whole "Accept: ..." header, or NULL */
	const char *content_type;	/* a whole "Content-Type: ..." header */
	const char *range;		/* "Range: bytes=N-" / "Content-Range: ..." */
	/* the body sent: in memory, or read by READ */
	const void *body;
	size_t body_len;
	size_t (*read)(char *p, size_t size, size_t n, void *arg);
	int (*rewind)(void *arg);
	void *read_arg;
	uint64_t read_len;
	/* the body received on a 2xx: SINK, else BUF up to BUF's cap */
	size_t (*sink)(char *p, size_t size, size_t n, void *arg);
	void *sink_arg;
	struct util_buf buf;
	int follow;			/* follow redirects */
	/* the response */
	long status;
	int sunk;			/* bytes went to SINK */
	int overflow;			/* the body passed BUF's cap */
	char location[URL_MAX];
	char digest[OCI_DIGEST_STRLEN + 1];
	char content_type_got[OCI_MEDIA_TYPE_MAX + 1];
	char www_auth[HDR_MAX];
	char range_got[128];
	long retry_after;
	curl_off_t content_length;
};

static void req_init(struct req *q, const char *method, size_t bufmax)
{
	memset(q, 0, sizeof(*q));
	q->method = method;
	util_buf_init(&q->buf, bufmax);
}

static void req_release(struct req *q)
{
	util_buf_release(&q->buf);
}

/* ---- helpers ------------------------------------------------------------- */

static int is_loopback(const char *host)
{
	if (!strncmp(host, "localhost", 9) && (!host[9] || host[9] == ':'))
		return 1;
	return !strncmp(host, "127.", 4) || !strncmp(host, "[::1]", 5);
}

static size_t base64_len(size_t n)
{
	return 4 * ((n + 2) / 3) + 1;
}

static char *base64(const char *s, size_t n)
{
	char *out = malloc(base64_len(n));

	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/* copy_value - the header value (after "Name:"), trimmed, into OUT */
static void copy_value(char *out, size_t len, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct req *q = arg;
	size_t len = size * n;
	static const struct {
		const char *name;
		size_t off, len;
	} keep[] = {
		{ "location:", offsetof(struct req, location), URL_MAX },
		{ "docker-content-digest:", offsetof(struct req, digest), OCI_DIGEST_STRLEN + 1 },
		{ "content-type:", offsetof(struct req, content_type_got), OCI_MEDIA_TYPE_MAX + 1 },
		{ "www-authenticate:", offsetof(struct req, www_auth), HDR_MAX },
		{ "range:", offsetof(struct req, range_got), 128 },
	};

	if (len > 5 && !strncmp(p, "HTTP/", 5)) {
		/* a new response (after a redirect or a 100): forget the last */
		q->location[0] = q->digest[0] = q->content_type_got[0] = '\0';
		q->www_auth[0] = q->range_got[0] = '\0';
		q->retry_after = 0;
		return len;
	}
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t k = strlen(keep[i].name);

		if (len > k && !strncasecmp(p, keep[i].name, k)) {
			copy_value((char *)q + keep[i].off, keep[i].len, p + k, len - k);
			return len;
		}
	}
	if (len > 12 && !strncasecmp(p, "retry-after:", 12))
		q->retry_after = strtol(p + 12, NULL, 10);
	return len;
}

/* the write callback: the sink for a 2xx, else the capped buffer */
struct body_ctx {
	struct req *q;
	CURL *curl;
};

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
	struct body_ctx *bc = arg;
	struct req *q = bc->q;
	long status = 0;

	curl_easy_getinfo(bc->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300 && q->sink) {
		size_t got = q->sink(p, size, n, q->sink_arg);
		if (got)
			q->sunk = 1;
		return got;
	}
	if (status >= 200 && status < 300) {
		/* a body we keep whole: over its cap is an error */
		if (util_buf_add(&q->buf, p, size * n) == 0)
			return size * n;
		q->overflow = 1;
		return 0;
	}
	if (util_buf_len(&q->buf) < REG_ERRBODY_MAX) {
		size_t room = REG_ERRBODY_MAX - util_buf_len(&q->buf);
		util_buf_add(&q->buf, p, size * n < room ? size * n : room);
	}
	return size * n;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct req *q = arg;

	if (off != 0 || origin != SEEK_SET || !q->rewind)
		return CURL_SEEKFUNC_CANTSEEK;
	return q->rewind(q->read_arg) ? CURL_SEEKFUNC_FAIL : CURL_SEEKFUNC_OK;
}

/* ---- TLS ------------------------------------------------------------------- */

static int add_file(struct util_buf *b, const char *path)
{
	char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;
	int rc = 0;

	if (!f)
		return -errno;
	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		rc = util_buf_add(b, buf, n);
	fclose(f);
	if (rc == 0)
		rc = util_buf_add(b, "\n", 1);
	return rc;
}

/* cert_dir_load - the system CAs and DIR's *.crt, and its client pair */
static int cert_dir_load(struct oci_registry *r, const char *dir)
{
	static const char *const bundles[] = { "/etc/ssl/certs/ca-certificates.crt",
					       "/etc/pki/tls/certs/ca-bundle.crt" };
	char path[4200];
	struct dirent *e;
	DIR *d = opendir(dir);
	int rc = 0, found = 0;

	if (!d)
		return store_error(-errno, "cannot open certificate directory '%s': %s", dir,
				   strerror(errno));
	util_buf_init(&r->ca, CA_BUNDLE_MAX);
	for (size_t i = 0; i < sizeof(bundles) / sizeof(bundles[0]); i++) {
		if (access(bundles[i], R_OK) == 0) {
			add_file(&r->ca, bundles[i]);
			break;
		}
	}
	while (rc == 0 && (e = readdir(d))) {
		size_t n = strlen(e->d_name);

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (n > 4 && !strcmp(e->d_name + n - 4, ".crt")) {
			rc = add_file(&r->ca, path);
			found = 1;
		} else if (!strcmp(e->d_name, "client.cert")) {
			snprintf(r->client_cert, sizeof(r->client_cert), "%s", path);
		} else if (!strcmp(e->d_name, "client.key")) {
			snprintf(r->client_key, sizeof(r->client_key), "%s", path);
		}
	}
	closedir(d);
	if (rc)
		return store_error(rc, "cannot read the certificates of '%s'", dir);
	if (!found)
		util_buf_release(&r->ca);
	return 0;
}

/* ---- auth ------------------------------------------------------------------ */

/* challenge_param - the value of KEY="..." in a WWW-Authenticate value */
static void challenge_param(const char *h, const char *key, char *out, size_t len)
{
	size_t k = strlen(key);
	const char *p = h;

	out[0] = '\0';
	while ((p = strcasestr(p, key))) {
		if ((p == h || p[-1] == ' ' || p[-1] == ',') && p[k] == '=') {
			const char *v = p + k + 1, *end;
			if (*v == '"') {
				v++;
				end = strchr(v, '"');
			} else {
				end = v + strcspn(v, ", ");
			}
			if (!end)
				end = v + strlen(v);
			copy_value(out, len, v, (size_t)(end - v));
			return;
		}
		p += k;
	}
}

static void challenge_take(struct oci_registry *r, const char *h)
{
	if (!strncasecmp(h, "bearer ", 7)) {
		r->auth = AUTH_BEARER;
		challenge_param(h + 7, "realm", r->realm, sizeof(r->realm));
		challenge_param(h + 7, "service", r->service, sizeof(r->service));
	} else if (!strncasecmp(h, "basic", 5)) {
		r->auth = AUTH_BASIC;
	}
}

static struct token *token_find(struct oci_registry *r, const char *scope)
{
	for (unsigned i = 0; i < r->ntokens; i++) {
		if (!strcmp(r->tokens[i].scope, scope ? scope : ""))
			return &r->tokens[i];
	}
	return NULL;
}

static void token_drop(struct oci_registry *r, const char *scope)
{
	struct token *t = token_find(r, scope);

	if (t) {
		free(t->header);
		t->header = NULL;
	}
}

static size_t sink_buf(char *p, size_t size, size_t n, void *arg)
{
	return util_buf_add(arg, p, size * n) ? 0 : size * n;
}

static int reg_perform(struct oci_registry *r, struct req *q);

/* token_fetch - a token for SCOPE (NULL: none) from the realm, cached
 * under KEY (NULL: "") */
static int token_fetch(struct oci_registry *r, const char *key, const char *scope)
{
	struct util_buf body = UTIL_BUF_INIT(REG_TOKEN_MAX);
	struct req q;
	struct token *t;
	json_t *doc = NULL, *tok;
	char *esc_s = NULL;
	int rc;

	if (strncmp(r->realm, "https://", 8) && strncmp(r->realm, "http://", 7))
		return store_error(-EPROTO, "registry %s asks for a token from '%.200s', which is not an http(s) URL",
				   r->host, r->realm);
	req_init(&q, "GET", REG_ERRBODY_MAX);
	esc_s = curl_easy_escape(r->curl, r->service, 0);
	snprintf(q.url, sizeof(q.url), "%s%cservice=%s", r->realm, strchr(r->realm, '?') ? '&' : '?',
		 esc_s ? esc_s : "");
	/* "repository:a:pull,push repository:b:pull": a scope= each, as
	 * docker and skopeo ask for a mount's two repositories */
	for (const char *sc = scope; sc && *sc;) {
		size_t n = strcspn(sc, " ");
		char *e = n ? curl_easy_escape(r->curl, sc, (int)n) : NULL;

		if (e && strlen(q.url) + strlen(e) + 8 < sizeof(q.url))
			snprintf(q.url + strlen(q.url), sizeof(q.url) - strlen(q.url), "&scope=%s", e);
		curl_free(e);
		sc += n + (sc[n] == ' ');
	}
	if (r->user) {
		char acct[512];
		char *e = curl_easy_escape(r->curl, r->user, 0);
		snprintf(acct, sizeof(acct), "&account=%s", e ? e : "");
		curl_free(e);
		if (strlen(q.url) + strlen(acct) < sizeof(q.url))
			strcat(q.url, acct);
	}
	q.sink = sink_buf;
	q.sink_arg = &body;
	q.follow = 1;
	q.token_req = 1;
	rc = reg_perform(r, &q);
	if (rc == 0 && (q.status == 401 || q.status == 403))
		rc = store_error(-EACCES, "the token server of %s refused %s (HTTP %ld); run 'govc login %s'",
				 r->host, r->user ? "the credentials" : "anonymous access", q.status,
				 r->host);
	else if (rc == 0 && q.status != 200)
		rc = store_error(-EPROTO, "the token server of %s answered HTTP %ld", r->host, q.status);
	if (rc == 0)
		rc = oci_json_parse(body.ptr ? body.ptr : "", util_buf_len(&body), "the token server's answer", &doc);
	if (rc)
		goto out;
	tok = json_object_get(doc, "token");
	if (!json_is_string(tok))
		tok = json_object_get(doc, "access_token");
	if (!json_is_string(tok) || !json_string_length(tok)) {
		rc = store_error(-EPROTO, "the token server of %s sent no token", r->host);
		goto out;
	}
	t = token_find(r, key);
	if (!t) {
		if (r->ntokens == TOKENS_MAX) {	/* forget the oldest */
			free(r->tokens[0].scope);
			free(r->tokens[0].header);
			memmove(r->tokens, r->tokens + 1, (TOKENS_MAX - 1) * sizeof(r->tokens[0]));
			r->ntokens--;
		}
		t = &r->tokens[r->ntokens];
		t->scope = strdup(key ? key : "");
		t->header = NULL;
		if (!t->scope) {
			rc = store_error(-ENOMEM, "out of memory");
			goto out;
		}
		r->ntokens++;
	}
	free(t->header);
	if (asprintf(&t->header, "Authorization: Bearer %s", json_string_value(tok)) < 0) {
		t->header = NULL;
		rc = store_error(-ENOMEM, "out of memory");
	}
out:
	json_decref(doc);
	curl_free(esc_s);
	util_buf_release(&body);
	req_release(&q);
	return rc;
}

/* auth_header - the Authorization header Q needs now, or NULL; *owned
 * when the caller frees it */
static char *auth_header(struct oci_registry *r, const struct req *q, int *owned)
{
	int token_req = q->token_req;

	*owned = 0;
	if ((r->auth == AUTH_BASIC || token_req) && r->user) {
		char *pair, *b64, *h = NULL;
		if (asprintf(&pair, "%s:%s", r->user, r->password ? r->password : "") < 0)
			return NULL;
		b64 = base64(pair, strlen(pair));
		explicit_bzero(pair, strlen(pair));
		free(pair);
		if (b64 && asprintf(&h, "Authorization: Basic %s", b64) < 0)
			h = NULL;
		free(b64);
		*owned = 1;
		return h;
	}
	if (r->auth == AUTH_BEARER && !token_req) {
		struct token *t = token_find(r, q->scope);
		return t ? t->header : NULL;
	}
	return NULL;
}

/* ---- performing requests ----------------------------------------------------- */

static void backoff(int attempt, long retry_after)
{
	struct timespec ts;
	long ms = retry_after > 0 ? (retry_after > REG_RETRY_AFTER_MAX ? REG_RETRY_AFTER_MAX :
				    retry_after) * 1000 : 250L << attempt;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* perform_once - one transfer; a curl failure is returned as curl's code */
static CURLcode perform_once(struct oci_registry *r, struct req *q, const char *auth)
{
	struct curl_slist *h = NULL;
	struct body_ctx bc = { q, r->curl };
	CURL *c = r->curl;
	CURLcode cc;

	curl_easy_reset(c);
	q->status = 0;
	q->sunk = 0;
	q->overflow = 0;
	q->location[0] = q->digest[0] = q->www_auth[0] = q->content_type_got[0] = '\0';
	q->range_got[0] = '\0';
	util_buf_reset(&q->buf);
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "govc/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer (under 1 kB/s for 60 s) counts as dropped */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, q->follow ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 8L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, r->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, r->tls_verify ? 2L : 0L);
	if (r->ca.ptr) {
		struct curl_blob blob = { r->ca.ptr, util_buf_len(&r->ca), CURL_BLOB_NOCOPY };
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (r->client_cert[0] && r->client_key[0]) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, r->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, r->client_key);
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &bc);
	if (!strcmp(q->method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(q->method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	if (q->read) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, q->read);
		curl_easy_setopt(c, CURLOPT_READDATA, q->read_arg);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, q);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->read_len);
	} else if (!strcmp(q->method, "PUT") || !strcmp(q->method, "POST") ||
		   !strcmp(q->method, "PATCH")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
	}
	h = curl_slist_append(h, "Expect:");	/* no 100-continue round trip */
	if (q->accept)
		h = curl_slist_append(h, q->accept);
	if (q->content_type)
		h = curl_slist_append(h, q->content_type);
	if (q->range)
		h = curl_slist_append(h, q->range);
	if (auth)
		h = curl_slist_append(h, auth);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &q->content_length);
	curl_slist_free_all(h);
	return cc;
}

static int curl_failure(struct oci_registry *r, struct req *q, CURLcode cc)
{
	int rc = -EIO;

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		rc = -EHOSTUNREACH;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return store_error(-EPROTO,
				   "cannot verify the TLS certificate of %s: %s; give its CA with --cert-dir DIR (DIR/ca.crt), or --tls-verify=false",
				   r->host, curl_easy_strerror(cc));
	case CURLE_SSL_CONNECT_ERROR:
		r->tls_refused = 1;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		rc = -ETIMEDOUT;
		break;
	default:
		break;
	}
	return store_error(rc, "%s %s: %s", q->method, q->url, curl_easy_strerror(cc));
}

static int retryable(CURLcode cc)
{
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
	       cc == CURLE_PARTIAL_FILE || cc == CURLE_GOT_NOTHING ||
	       cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_HTTP2 || cc == CURLE_HTTP2_STREAM;
}

/*
 * reg_perform - Q, with auth and retries.  0 with Q->status set for any
 * HTTP answer (the caller judges it), or a negative errno when no answer
 * came.  A sink that took bytes is not retried here (the caller resumes).
 */
static int reg_perform(struct oci_registry *r, struct req *q)
{
	int token_req = q->token_req;
	int authed = 0;

	for (int attempt = 0;; attempt++) {
		int owned;
		char *auth = auth_header(r, q, &owned);
		CURLcode cc = perform_once(r, q, auth);

		if (owned && auth) {
			explicit_bzero(auth, strlen(auth));
			free(auth);
		}
		if (cc != CURLE_OK) {
			if (cc == CURLE_WRITE_ERROR && q->overflow)
				return store_error(-EFBIG, "%s %s: the answer is more than %zu bytes",
						   q->method, q->url, q->buf.max);
			if ((cc == CURLE_WRITE_ERROR || cc == CURLE_ABORTED_BY_CALLBACK) &&
			    store_has_error())
				return -EIO;	/* the sink or reader failed: its message stands */
			if (retryable(cc) && !q->sunk && attempt < REG_RETRIES) {
				backoff(attempt, 0);
				continue;
			}
			if (q->sunk)
				return -EAGAIN;	/* the caller resumes */
			return curl_failure(r, q, cc);
		}
		if (q->status == 401 && !token_req && !authed && q->www_auth[0]) {
			challenge_take(r, q->www_auth);
			authed = 1;
			if (r->auth == AUTH_BEARER) {
				char scope[HDR_MAX];
				int rc;

				challenge_param(q->www_auth + 7, "scope", scope, sizeof(scope));
				token_drop(r, q->scope);
				rc = token_fetch(r, q->scope,
						 q->scope ? q->scope : (scope[0] ? scope : NULL));
				if (rc)
					return rc;
				continue;
			}
			if (r->auth == AUTH_BASIC && r->user)
				continue;
			return 0;
		}
		if ((q->status >= 500 || q->status == 429) && !q->sunk && attempt < REG_RETRIES) {
			backoff(attempt, q->retry_after);
			continue;
		}
		return 0;
	}
}

/* http_error - a message for an unexpected status of Q doing WHAT */
static int http_error(struct oci_registry *r, struct req *q, const char *what)
{
	char detail[512] = "";
	json_t *doc = NULL, *errs, *e;

	if (util_buf_len(&q->buf) && q->buf.ptr) {
		doc = json_loadb(q->buf.ptr, util_buf_len(&q->buf), 0, NULL);
		errs = doc ? json_object_get(doc, "errors") : NULL;
		e = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
		if (json_is_object(e)) {
			json_t *code = json_object_get(e, "code"), *msg = json_object_get(e, "message");
			snprintf(detail, sizeof(detail), ": %s%s%.300s",
				 json_is_string(code) ? json_string_value(code) : "",
				 json_is_string(msg) ? " " : "",
				 json_is_string(msg) ? json_string_value(msg) : "");
		}
		json_decref(doc);
	}
	if (q->status == 401 || q->status == 403) {
		if (r->user)
			return store_error(-EACCES,
					   "%s: registry %s refused the credentials of '%s' (HTTP %ld); run 'govc login %s'",
					   what, r->host, r->user, q->status, r->host);
		return store_error(-EACCES,
				   "%s: registry %s needs credentials (HTTP %ld); run 'govc login %s'",
				   what, r->host, q->status, r->host);
	}
	if (q->status == 404)
		return store_error(-ENOENT, "%s: registry %s has no such thing (HTTP 404%s)", what,
				   r->host, detail);
	return store_error(q->status == 413 ? -EFBIG : -EIO, "%s: registry %s answered HTTP %ld%s",
			   what, r->host, q->status, detail);
}

/* ---- the client ---------------------------------------------------------------- */

static int ping(struct oci_registry *r)
{
	struct req q;
	int rc;

	req_init(&q, "GET", REG_ERRBODY_MAX);
	snprintf(q.url, sizeof(q.url), "%s://%s/v2/", r->scheme, r->api);
	rc = reg_perform(r, &q);
	if (rc == 0 && q.status == 401 && q.www_auth[0])
		challenge_take(r, q.www_auth);
	else if (rc == 0 && q.status != 200 && q.status != 401)
		rc = store_error(-EPROTO, "%s does not answer as a registry (GET /v2/: HTTP %ld)",
				 r->host, q.status);
	req_release(&q);
	return rc;
}

int oci_registry_open(struct oci_registry **out, const char *host,
		      const struct oci_registry_opts *opts)
{
	struct oci_registry *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return store_error(-ENOMEM, "out of memory");
	r->curl = curl_easy_init();
	if (!r->curl) {
		free(r);
		return store_error(-ENOMEM, "cannot start libcurl");
	}
	snprintf(r->host, sizeof(r->host), "%s", host);
	snprintf(r->api, sizeof(r->api), "%s",
		 strcmp(host, REG_DOCKER_HUB) ? host : REG_DOCKER_HUB_API);
	r->tls_verify = opts->tls_verify != 0;
	r->allow_http = opts->tls_verify == 0 || (opts->tls_verify < 0 && is_loopback(host));
	r->scheme = "https";
	rc = opts->cert_dir ? cert_dir_load(r, opts->cert_dir) : 0;
	if (rc)
		goto fail;
	if (opts->username) {
		r->user = strdup(opts->username);
		r->password = strdup(opts->password ? opts->password : "");
		if (!r->user || !r->password) {
			rc = store_error(-ENOMEM, "out of memory");
			goto fail;
		}
	} else {
		rc = oci_auth_lookup(host, opts->authfile, &r->user, &r->password);
		if (rc)
			goto fail;
	}
	store_error_clear();
	rc = ping(r);
	if (rc && r->allow_http && r->tls_refused) {
		/* a port that does not speak TLS: plain HTTP, as skopeo does
		 * for an insecure registry */
		r->scheme = "http";
		store_error_clear();
		rc = ping(r);
	}
	if (rc)
		goto fail;
	*out = r;
	return 0;
fail:
	oci_registry_free(r);
	return rc;
}

void oci_registry_free(struct oci_registry *r)
{
	if (!r)
		return;
	curl_easy_cleanup(r->curl);
	for (unsigned i = 0; i < r->ntokens; i++) {
		free(r->tokens[i].scope);
		if (r->tokens[i].header) {
			explicit_bzero(r->tokens[i].header, strlen(r->tokens[i].header));
			free(r->tokens[i].header);
		}
	}
	if (r->password) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->user);
	util_buf_release(&r->ca);
	free(r);
}

int oci_registry_clone(struct oci_registry **out, const struct oci_registry *r)
{
	struct oci_registry *c = calloc(1, sizeof(*c));
	int rc = 0;

	*out = NULL;
	if (!c)
		return store_error(-ENOMEM, "out of memory");
	memcpy(c->host, r->host, sizeof(c->host));
	memcpy(c->api, r->api, sizeof(c->api));
	c->scheme = r->scheme;
	c->tls_verify = r->tls_verify;
	c->allow_http = r->allow_http;
	c->tls_refused = r->tls_refused;
	util_buf_init(&c->ca, r->ca.max ? r->ca.max : CA_BUNDLE_MAX);
	if (r->ca.ptr)
		rc = util_buf_add(&c->ca, r->ca.ptr, util_buf_len(&r->ca));
	memcpy(c->client_cert, r->client_cert, sizeof(c->client_cert));
	memcpy(c->client_key, r->client_key, sizeof(c->client_key));
	if (rc == 0 && r->user && !(c->user = strdup(r->user)))
		rc = -ENOMEM;
	if (rc == 0 && r->password && !(c->password = strdup(r->password)))
		rc = -ENOMEM;
	c->auth = r->auth;
	memcpy(c->realm, r->realm, sizeof(c->realm));
	memcpy(c->service, r->service, sizeof(c->service));
	for (unsigned i = 0; i < r->ntokens && rc == 0; i++) {
		c->tokens[i].scope = r->tokens[i].scope ? strdup(r->tokens[i].scope) : NULL;
		c->tokens[i].header = r->tokens[i].header ? strdup(r->tokens[i].header) : NULL;
		c->ntokens = i + 1;
		if ((r->tokens[i].scope && !c->tokens[i].scope) ||
		    (r->tokens[i].header && !c->tokens[i].header))
			rc = -ENOMEM;
	}
	c->curl = curl_easy_init();
	if (rc == 0 && !c->curl)
		rc = -ENOMEM;
	if (rc) {
		oci_registry_free(c);
		return store_error(-ENOMEM, "out of memory");
	}
	*out = c;
	return 0;
}

void oci_registry_watch(struct oci_registry *r, const int *cancel,
			void (*moved)(void *arg, uint64_t got), void *arg)
{
	r->cancel = cancel;
	r->moved = moved;
	r->moved_arg = arg;
}

static int cancelled(const struct oci_registry *r)
{
	return r->cancel && __atomic_load_n(r->cancel, __ATOMIC_ACQUIRE);
}

int oci_registry_check_login(struct oci_registry *r)
{
	struct req q;
	int rc;

	if (r->auth == AUTH_NONE)
		return 0;	/* the registry asks for nothing */
	if (r->auth == AUTH_BEARER)
		return token_fetch(r, NULL, NULL);
	req_init(&q, "GET", REG_ERRBODY_MAX);
	snprintf(q.url, sizeof(q.url), "%s://%s/v2/", r->scheme, r->api);
	rc = reg_perform(r, &q);
	if (rc == 0 && q.status != 200)
		rc = http_error(r, &q, "login");
	req_release(&q);
	return rc;
}

static void scope_of(char *out, size_t len, const char *repo, int push)
{
	snprintf(out, len, "repository:%s:%s", repo, push ? "pull,push" : "pull");
}

int oci_registry_manifest_get(struct oci_registry *r, const char *repo, const char *reference,
			      char **body, size_t *len, struct oci_descriptor *desc)
{
	char scope[OCI_NAME_MAX + 64], what[600], hex[OCI_DIGEST_STRLEN + 1];
	struct oci_digest want, got;
	struct req q;
	int by_digest = !strncmp(reference, "sha256:", 7);
	int rc;

	*body = NULL;
	*len = 0;
	memset(desc, 0, sizeof(*desc));
	snprintf(what, sizeof(what), "manifest %s of %s/%s", reference, r->host, repo);
	if (by_digest && (rc = oci_digest_parse(&want, reference)))
		return rc;
	scope_of(scope, sizeof(scope), repo, 0);
	req_init(&q, "GET", OCI_JSON_MAX);
	snprintf(q.url, sizeof(q.url), "%s://%s/v2/%s/manifests/%s", r->scheme, r->api, repo,
		 reference);
	q.scope = scope;
	q.accept = MANIFEST_ACCEPT;
	q.follow = 1;
	rc = reg_perform(r, &q);
	if (rc)
		goto out;
	if (q.status != 200) {
		rc = http_error(r, &q, what);
		goto out;
	}
	if (util_buf_len(&q.buf) >= OCI_JSON_MAX || q.content_length > (curl_off_t)OCI_JSON_MAX) {
		rc = store_error(-EFBIG, "%s is more than the %u-byte limit for manifests", what,
				 OCI_JSON_MAX);
		goto out;
	}
	oci_digest_of(&got, q.buf.ptr ? q.buf.ptr : "", util_buf_len(&q.buf));
	if (by_digest && memcmp(&got, &want, sizeof(got))) {
		rc = store_error(-EBADMSG, "%s: the registry sent content of digest %s", what,
				 oci_digest_fmt(hex, &got));
		goto out;
	}
	if (q.digest[0] && strcmp(q.digest, oci_digest_fmt(hex, &got))) {
		rc = store_error(-EBADMSG, "%s: Docker-Content-Digest says %.80s but the content is %s",
				 what, q.digest, hex);
		goto out;
	}
	desc->digest = got;
	desc->size = util_buf_len(&q.buf);
	/* the media type: Content-Type without parameters */
	q.content_type_got[strcspn(q.content_type_got, "; ")] = '\0';
	if (oci_mt_is_index(q.content_type_got) || oci_mt_is_manifest(q.content_type_got))
		snprintf(desc->media_type, sizeof(desc->media_type), "%s", q.content_type_got);
	*len = util_buf_len(&q.buf);
	*body = util_buf_detach(&q.buf, NULL);
	if (!*body)
		*body = strdup("");
	if (!*body)
		rc = store_error(-ENOMEM, "out of memory");
out:
	req_release(&q);
	return rc;
}

/* ---- blobs down ------------------------------------------------------------------ */

struct fetch {
	struct oci_registry *r;
	struct store_ingest *in;
	struct oci_blob_writer *w;
	uint64_t got;
	int failed;	/* the writer's error */
};

static size_t sink_writer(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	int rc = cancelled(f->r) ? store_error(-ECANCELED, "the download was cancelled")
				 : oci_blob_writer_write(f->w, p, size * n);

	/* a chunk went in: commit it now, before curl waits for more */
	if (rc == 0)
		rc = store_ingest_flush(f->in);
	if (rc) {
		f->failed = rc;
		return 0;
	}
	f->got += size * n;
	if (f->r->moved)
		f->r->moved(f->r->moved_arg, f->got);
	return size * n;
}

int oci_registry_blob_fetch(struct oci_registry *r, const char *repo,
			    const struct oci_descriptor *d, struct store_ingest *in,
			    const char *what)
{
	char scope[OCI_NAME_MAX + 64], hex[OCI_DIGEST_STRLEN + 1], range[64];
	struct fetch f = { 0 };
	struct req q;
	int rc, resumes = 0;

	f.r = r;
	f.in = in;
	rc = oci_blob_writer_begin(&f.w, in, &d->digest, d->size, what);
	if (rc == 0 || rc == -EEXIST) {
		int frc = store_ingest_flush(in);	/* the pin, before the network */
		if (frc) {
			oci_blob_writer_abort(f.w);
			return frc;
		}
	}
	if (rc == -EEXIST) {
		store_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	scope_of(scope, sizeof(scope), repo, 0);
	req_init(&q, "GET", REG_ERRBODY_MAX);
	snprintf(q.url, sizeof(q.url), "%s://%s/v2/%s/blobs/%s", r->scheme, r->api, repo,
		 oci_digest_fmt(hex, &d->digest));
	q.scope = scope;
	q.follow = 1;
	q.sink = sink_writer;
	q.sink_arg = &f;
	for (;;) {
		uint64_t before = f.got;

		if (f.got) {
			snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)f.got);
			q.range = range;
		}
		rc = reg_perform(r, &q);
		if (f.failed) {
			rc = f.failed;
			goto fail;
		}
		if (rc == -EAGAIN && resumes < REG_RETRIES && !cancelled(r)) {
			/* dropped midway: ask for the rest */
			backoff(resumes, 0);
			resumes += f.got == before;
			store_error_clear();
			continue;
		}
		if (rc == -EAGAIN)
			rc = store_error(-EIO, "%s: the transfer from %s kept breaking off", what,
					 r->host);
		if (rc)
			goto fail;
		if (f.got && before && q.status == 200) {
			/* the server ignored the Range: it restarted */
			rc = store_error(-EIO, "%s: %s cannot resume a transfer", what, r->host);
			goto fail;
		}
		if (q.status != 200 && q.status != 206) {
			rc = http_error(r, &q, what);
			goto fail;
		}
		break;
	}
	if (q.digest[0] && strcmp(q.digest, hex)) {
		rc = store_error(-EBADMSG, "%s: Docker-Content-Digest says %.80s, not %s", what,
				 q.digest, hex);
		goto fail;
	}
	req_release(&q);
	rc = oci_blob_writer_finish(f.w, NULL);
	if (rc)
		store_ingest_flush(in);	/* the writer's message stands */
	else
		rc = store_ingest_flush(in);
	return rc;
fail:
	req_release(&q);
	oci_blob_writer_abort(f.w);
	store_ingest_flush(in);		/* its message stands */
	return rc;
}

/* ---- blobs up -------------------------------------------------------------------- */

/* head - HEAD /v2/REPO/KIND/D ("blobs" or "manifests"): 0 (*size, may be
 * NULL, gets its size) if the registry has it, -ENOENT (no message) if not */
static int head(struct oci_registry *r, const char *repo, const char *kind,
		const struct oci_digest *d, uint64_t *size)
{
	char scope[OCI_NAME_MAX + 64], hex[OCI_DIGEST_STRLEN + 1], what[600];
	struct req q;
	int rc;

	scope_of(scope, sizeof(scope), repo, 1);
	req_init(&q, "HEAD", REG_ERRBODY_MAX);
	snprintf(q.url, sizeof(q.url), "%s://%s/v2/%s/%s/%s", r->scheme, r->api, repo, kind,
		 oci_digest_fmt(hex, d));
	q.scope = scope;
	q.follow = 1;
	if (!strcmp(kind, "manifests"))
		q.accept = MANIFEST_ACCEPT;
	rc = reg_perform(r, &q);
	if (rc == 0 && q.status == 200) {
		if (size)
			*size = q.content_length >= 0 ? (uint64_t)q.content_length : 0;
	} else if (rc == 0 && q.status == 404) {
		rc = -ENOENT;
	} else if (rc == 0) {
		snprintf(what, sizeof(what), "%s %s of %s/%s", q.accept ? "manifest" : "blob", hex,
			 r->host, repo);
		rc = http_error(r, &q, what);
	}
	req_release(&q);
	return rc;
}

int oci_registry_blob_exists(struct oci_registry *r, const char *repo,
			     const struct oci_digest *d, uint64_t *size)
{
	return head(r, repo, "blobs", d, size);
}

int oci_registry_manifest_exists(struct oci_registry *r, const char *repo,
				 const struct oci_digest *d)
{
	return head(r, repo, "manifests", d, NULL);
}

/* an upload's reader: the blob from the store, a piece at a time */
struct upload {
	struct oci_registry *r;		/* its watcher */
	struct store *s;
	struct oci_digest d;
	uint64_t start, end, pos;	/* the range this request sends */
	int failed;
};

static size_t upload_read(char *p, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t want = size * n;
	struct store_txn *t;
	long got;

	if (u->r->moved)
		u->r->moved(u->r->moved_arg, u->pos);
	if (cancelled(u->r)) {
		u->failed = store_error(-ECANCELED, "the upload was cancelled");
		return CURL_READFUNC_ABORT;
	}
	if (u->pos >= u->end)
		return 0;
	if (want > u->end - u->pos)
		want = (size_t)(u->end - u->pos);
	u->failed = store_txn_begin(&t, u->s, 0);
	if (u->failed)
		return CURL_READFUNC_ABORT;
	got = oci_blob_read(t, &u->d, u->pos, p, want);
	store_txn_abort(t);
	if (got <= 0) {
		u->failed = got < 0 ? (int)got : store_error(-EIO, "a blob of the store ends early");
		return CURL_READFUNC_ABORT;
	}
	u->pos += (uint64_t)got;
	return (size_t)got;
}

static int upload_rewind(void *arg)
{
	struct upload *u = arg;

	u->pos = u->start;
	return 0;
}

/* next_url - the upload session's next URL from Location (absolute or
 * not) into OUT */
static int next_url(struct oci_registry *r, struct req *q, char *out, size_t len,
		    const char *what)
{
	if (!q->location[0])
		return store_error(-EPROTO, "%s: registry %s gave no upload location", what,
				   r->host);
	int n;

	if (!strncmp(q->location, "http://", 7) || !strncmp(q->location, "https://", 8))
		n = snprintf(out, len, "%s", q->location);
	else
		n = snprintf(out, len, "%s://%s%s%s", r->scheme, r->api,
			     q->location[0] == '/' ? "" : "/", q->location);
	if (n < 0 || (size_t)n >= len)
		return store_error(-EPROTO, "%s: the upload location of %s is too long", what,
				   r->host);
	return 0;
}

/*
 * upload_open - an upload session of REPO for blob D into URL: with FROM,
 * first a cross-repository mount (POST ?mount=&from=, under a token for
 * both repositories); 201 is the blob mounted (*MOUNTED), 202 a session
 * the registry opened instead.  A mount refused in any other way (a token
 * that grants FROM nothing, a registry that does not mount) is followed
 * by a plain POST.
 */
static int upload_open(struct oci_registry *r, const char *repo, const struct oci_descriptor *d,
		       const char *from, const char *what, char *url, size_t len, int *mounted)
{
	char scope[2 * OCI_NAME_MAX + 128], hex[OCI_DIGEST_STRLEN + 1];
	struct req q;
	int rc = 0;

	*mounted = 0;
	oci_digest_fmt(hex, &d->digest);
	req_init(&q, "POST", REG_ERRBODY_MAX);
	if (from && strcmp(from, repo)) {
		char *esc = curl_easy_escape(r->curl, from, 0);

		snprintf(scope, sizeof(scope), "repository:%s:pull,push repository:%s:pull", repo,
			 from);
		snprintf(q.url, sizeof(q.url), "%s://%s/v2/%s/blobs/uploads/?mount=%s&from=%s",
			 r->scheme, r->api, repo, hex, esc ? esc : "");
		curl_free(esc);
		q.scope = scope;
		rc = reg_perform(r, &q);
		if (rc == 0 && q.status == 201) {
			if (q.digest[0] && strcmp(q.digest, hex))
				rc = store_error(-EBADMSG, "%s: registry %s mounted it from %s as %.80s",
						 what, r->host, from, q.digest);
			*mounted = rc == 0;
			goto out;
		}
		if (rc == 0 && q.status == 202)
			goto out;
		store_error_clear();	/* not mounted: an upload */
		rc = 0;
	}
	scope_of(scope, sizeof(scope), repo, 1);
	snprintf(q.url, sizeof(q.url), "%s://%s/v2/%s/blobs/uploads/", r->scheme, r->api, repo);
	q.scope = scope;
	rc = reg_perform(r, &q);
	if (rc == 0 && q.status != 202)
		rc = http_error(r, &q, what);
out:
	if (rc == 0 && !*mounted)
		rc = next_url(r, &q, url, len, what);
	req_release(&q);
	return rc;
}

int oci_registry_blob_push(struct oci_registry *r, const char *repo, struct store *s,
			   const struct oci_descriptor *d, const char *from, const char *what,
			   int *mounted)
{
	char scope[OCI_NAME_MAX + 64], hex[OCI_DIGEST_STRLEN + 1], url[URL_MAX];
	char crange[96];
	struct upload u = { r, s, d->digest, 0, 0, 0, 0 };
	uint64_t chunk = REG_CHUNK, chunk_min = REG_CHUNK_MIN;
	const char *env = getenv(REG_CHUNK_ENV);
	struct req q;
	int rc, n;

	if (env && strtoull(env, NULL, 10) > 0)
		chunk = chunk_min = strtoull(env, NULL, 10);
	oci_digest_fmt(hex, &d->digest);
	rc = upload_open(r, repo, d, from, what, url, sizeof(url), mounted);
	if (rc || *mounted)
		return rc;
	scope_of(scope, sizeof(scope), repo, 1);
	req_init(&q, "PATCH", REG_ERRBODY_MAX);
	q.scope = scope;
	q.read = upload_read;
	q.rewind = upload_rewind;
	q.read_arg = &u;
	q.content_type = "Content-Type: application/octet-stream";
	/* large blobs in PATCHes, so a registry's body limits are not hit */
	while (rc == 0 && d->size >= chunk_min && u.end < d->size) {
		u.start = u.pos = u.end;
		u.end = u.start + chunk < d->size ? u.start + chunk : d->size;
		snprintf(q.url, sizeof(q.url), "%s", url);
		q.read_len = u.end - u.start;
		snprintf(crange, sizeof(crange), "Content-Range: %llu-%llu",
			 (unsigned long long)u.start, (unsigned long long)u.end - 1);
		q.range = crange;
		rc = reg_perform(r, &q);
		if (u.failed)
			rc = u.failed;	/* its message stands */
		if (rc == 0 && q.status != 202)
			rc = http_error(r, &q, what);
		if (rc == 0)
			rc = next_url(r, &q, url, sizeof(url), what);
	}
	if (rc)
		goto out;
	/* the closing PUT: the whole blob, or nothing after the PATCHes */
	q.method = "PUT";
	q.range = NULL;
	u.start = u.pos = u.end;
	u.end = d->size;
	q.read_len = u.end - u.start;
	n = snprintf(q.url, sizeof(q.url), "%s%cdigest=%s", url, strchr(url, '?') ? '&' : '?', hex);
	if (n < 0 || (size_t)n >= sizeof(q.url)) {
		rc = store_error(-EPROTO, "%s: the upload location of %s is too long", what, r->host);
		goto out;
	}
	rc = reg_perform(r, &q);
	if (u.failed)
		rc = u.failed;
	if (rc == 0 && q.status != 201)
		rc = http_error(r, &q, what);
	if (rc == 0 && q.digest[0] && strcmp(q.digest, hex))
		rc = store_error(-EBADMSG, "%s: registry %s stored it as %.80s", what, r->host,
				 q.digest);
out:
	req_release(&q);
	return rc;
}

int oci_registry_manifest_put(struct oci_registry *r, const char *repo, const char *reference,
			      const char *media_type, const void *body, size_t len)
{
	char scope[OCI_NAME_MAX + 64], hex[OCI_DIGEST_STRLEN + 1], what[600], ctype[200];
	struct oci_digest d;
	struct req q;
	int rc;

	oci_digest_of(&d, body, len);
	oci_digest_fmt(hex, &d);
	snprintf(what, sizeof(what), "manifest %s of %s/%s", reference, r->host, repo);
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", media_type);
	scope_of(scope, sizeof(scope), repo, 1);
	req_init(&q, "PUT", REG_ERRBODY_MAX);
	snprintf(q.url, sizeof(q.url), "%s://%s/v2/%s/manifests/%s", r->scheme, r->api, repo,
		 reference);
	q.scope = scope;
	q.content_type = ctype;
	q.body = body;
	q.body_len = len;
	rc = reg_perform(r, &q);
	if (rc == 0 && q.status != 201 && q.status != 200)
		rc = http_error(r, &q, what);
	if (rc == 0 && q.digest[0] && strcmp(q.digest, hex))
		rc = store_error(-EBADMSG, "%s: registry %s says its digest is %.80s, not %s", what,
				 r->host, q.digest, hex);
	req_release(&q);
	return rc;
}
