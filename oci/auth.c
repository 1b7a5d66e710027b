/*
 * auth.c - registry credentials in the files docker, podman and skopeo
 * use: {"auths": {"HOST": {"auth": base64("user:password")}}}.  Read from
 * several places (registry.h says which, in order), written to the first,
 * mode 0600, keeping every other key of the file.  The files are
 * untrusted input: each is read whole only up to AUTH_FILE_MAX.
 * Secrets are never put into a message.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "oci/oci_int.h"
#include "oci/registry.h"

#define AUTH_FILE_MAX (1u << 20)
#define AUTH_FILES 4

/* auth_paths - the candidate files, in order; returns how many */
static int auth_paths(const char *authfile, char paths[AUTH_FILES][PATH_MAX])
{
	const char *env;
	int n = 0;

	if (authfile || (authfile = getenv("REGISTRY_AUTH_FILE"))) {
		snprintf(paths[n++], PATH_MAX, "%s", authfile);
		return n;
	}
	if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		snprintf(paths[n++], PATH_MAX, "%s/containers/auth.json", env);
	if ((env = getenv("DOCKER_CONFIG")) && *env)
		snprintf(paths[n++], PATH_MAX, "%s/config.json", env);
	if ((env = getenv("HOME")) && *env)
		snprintf(paths[n++], PATH_MAX, "%s/.docker/config.json", env);
	return n;
}

/* load - PATH's JSON object (*doc NULL if there is no such file) */
static int load(const char *path, json_t **doc)
{
	char *text = NULL;
	size_t len;
	int rc;

	*doc = NULL;
	rc = oci_read_capped(AT_FDCWD, path, AUTH_FILE_MAX, path, &text, &len);
	if (rc == -ENOENT) {
		store_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	rc = oci_json_parse(text, len, path, doc);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* key_host - the host an "auths" key names: "https://h/v1/" -> "h" */
static void key_host(char *out, size_t len, const char *key)
{
	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	snprintf(out, len, "%.*s", (int)strcspn(key, "/"), key);
	if (!strcmp(out, "index.docker.io") || !strcmp(out, REG_DOCKER_HUB_API))
		snprintf(out, len, "%s", REG_DOCKER_HUB);
}

/* entry_find - the "auths" entry for HOST in DOC, or NULL; KEY its key */
static json_t *entry_find(json_t *doc, const char *host, const char **key)
{
	json_t *auths = json_object_get(doc, "auths"), *v;
	char h[REG_HOST_MAX + 1];
	const char *k;

	if (!json_is_object(auths))
		return NULL;
	json_object_foreach(auths, k, v) {
		key_host(h, sizeof(h), k);
		if (!strcmp(h, host) && json_is_object(v)) {
			if (key)
				*key = k;
			return v;
		}
	}
	return NULL;
}

int oci_auth_lookup(const char *host, const char *authfile, char **user, char **password)
{
	char paths[AUTH_FILES][PATH_MAX];
	int n = auth_paths(authfile, paths);

	*user = *password = NULL;
	for (int i = 0; i < n; i++) {
		json_t *doc, *e, *auth;
		unsigned char *plain;
		const char *b64;
		size_t blen;
		char *colon;
		int rc = load(paths[i], &doc);
		int plen;

		if (rc)
			return rc;
		e = doc ? entry_find(doc, host, NULL) : NULL;
		auth = e ? json_object_get(e, "auth") : NULL;
		if (!json_is_string(auth)) {
			json_decref(doc);
			continue;
		}
		b64 = json_string_value(auth);
		blen = strlen(b64);
		plain = malloc(blen / 4 * 3 + 4);
		plen = plain ? EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)blen) : -1;
		if (plen < 0) {
			free(plain);
			json_decref(doc);
			return store_error(-EBADMSG, "%s: the credentials for %s are not base64",
					   paths[i], host);
		}
		/* EVP_DecodeBlock counts the padding as zero bytes */
		while (blen && b64[blen - 1] == '=' && plen > 0) {
			plen--;
			blen--;
		}
		plain[plen] = '\0';
		colon = strchr((char *)plain, ':');
		if (colon) {
			*colon = '\0';
			*user = strdup((char *)plain);
			*password = strdup(colon + 1);
		}
		explicit_bzero(plain, (size_t)plen);
		free(plain);
		json_decref(doc);
		if (!colon)
			return store_error(-EBADMSG, "%s: the credentials for %s are not USER:PASSWORD",
					   paths[i], host);
		if (!*user || !*password) {
			free(*user);
			free(*password);
			*user = *password = NULL;
			return store_error(-ENOMEM, "out of memory");
		}
		return 0;
	}
	return 0;
}

/* save - DOC into PATH, mode 0600, through a temporary file */
static int save(const char *path, json_t *doc)
{
	char dir[PATH_MAX], *slash, *text;
	int dirfd, rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return store_error(-errno, "cannot create '%s': %s", dir, strerror(errno));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return store_error(-errno, "cannot open '%s': %s", dir, strerror(errno));
	text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text) {
		close(dirfd);
		return store_error(-ENOMEM, "out of memory");
	}
	/* the temporary file is created 0600 under the umask: secrets are
	 * never readable by others, not even for a moment */
	mode_t old = umask(077);
	rc = oci_write_file_atomic(dirfd, strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
				   text, strlen(text), dir);
	umask(old);
	if (rc == 0 && chmod(path, 0600) < 0)
		rc = store_error(-errno, "cannot chmod '%s': %s", path, strerror(errno));
	explicit_bzero(text, strlen(text));
	free(text);
	close(dirfd);
	return rc;
}

int oci_auth_store(const char *host, const char *authfile, const char *user,
		   const char *password, char *path)
{
	char paths[AUTH_FILES][PATH_MAX], *pair, *b64;
	int n = auth_paths(authfile, paths), rc;
	json_t *doc, *auths;
	const char *key = host;

	if (n == 0)
		return store_error(-ENOENT, "no place for credentials: set HOME, XDG_RUNTIME_DIR or REGISTRY_AUTH_FILE");
	if (strchr(user, ':'))
		return store_error(-EINVAL, "a user name cannot hold ':'");
	rc = load(paths[0], &doc);
	if (rc)
		return rc;
	if (!doc)
		doc = json_object();
	auths = doc ? json_object_get(doc, "auths") : NULL;
	if (doc && !json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(doc, "auths", auths);
	}
	if (!doc || !auths || asprintf(&pair, "%s:%s", user, password) < 0) {
		json_decref(doc);
		return store_error(-ENOMEM, "out of memory");
	}
	entry_find(doc, host, &key);	/* replace the entry HOST has, whatever its key */
	b64 = malloc(4 * ((strlen(pair) + 2) / 3) + 1);
	if (b64) {
		EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)pair, (int)strlen(pair));
		rc = json_object_set_new(auths, key, json_pack("{s:s}", "auth", b64)) ?
			     store_error(-ENOMEM, "out of memory") : 0;
		explicit_bzero(b64, strlen(b64));
		free(b64);
	} else {
		rc = store_error(-ENOMEM, "out of memory");
	}
	explicit_bzero(pair, strlen(pair));
	free(pair);
	if (rc == 0)
		rc = save(paths[0], doc);
	if (rc == 0 && path)
		snprintf(path, PATH_MAX, "%s", paths[0]);
	json_decref(doc);
	return rc;
}

int oci_auth_remove(const char *host, const char *authfile)
{
	char paths[AUTH_FILES][PATH_MAX];
	int n = auth_paths(authfile, paths), found = 0, rc = 0;

	for (int i = 0; i < n && rc == 0; i++) {
		json_t *doc;
		const char *key;

		rc = load(paths[i], &doc);
		if (rc || !doc)
			continue;
		while (entry_find(doc, host, &key)) {
			json_object_del(json_object_get(doc, "auths"), key);
			found = 1;
			rc = 1;
		}
		rc = rc == 1 ? save(paths[i], doc) : 0;
		json_decref(doc);
	}
	if (rc == 0 && !found)
		return store_error(-ENOENT, "not logged in to %s", host);
	return rc;
}
