/*
 * ref.c - image references and locations, parsed in this one place: a
 * name in the store ("team/app:1"), a reference as docker spells it
 * ("docker.io/library/busybox:latest"), and a location in skopeo's
 * spelling ("oci:DIR:TAG", "docker-archive:FILE").  Input comes from
 * users and from archives' manifest.json: every length is checked.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci.h"
#include "oci/registry.h"

int oci_ref_parse(const char *ref, const char *default_tag, char *name, char *tag)
{
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(slash ? slash : ref, ':');
	size_t nlen = colon ? (size_t)(colon - ref) : strlen(ref);
	int rc;

	if (nlen > OCI_NAME_MAX)
		return store_error(-EINVAL, "image name '%.300s' is longer than %d bytes", ref,
				   OCI_NAME_MAX);
	memcpy(name, ref, nlen);
	name[nlen] = '\0';
	if (colon) {
		if (strlen(colon + 1) > OCI_TAG_MAX)
			return store_error(-EINVAL, "tag of '%.300s' is longer than %d characters", ref,
					   OCI_TAG_MAX);
		strcpy(tag, colon + 1);
	} else if (default_tag) {
		snprintf(tag, OCI_TAG_MAX + 1, "%s", default_tag);
	} else {
		tag[0] = '\0';
	}
	rc = oci_name_check(name);
	if (rc == 0 && tag[0])
		rc = oci_tag_check(tag);
	return rc;
}

void oci_ref_familiar(char *out, size_t len, const char *ref)
{
	const char *slash, *colon;

	/* no "docker.io/" (skopeo writes it, docker does not), no "library/"
	 * for official images, a tag (":latest" if none) */
	if (!strncmp(ref, "docker.io/", 10))
		ref += 10;
	else if (!strncmp(ref, "index.docker.io/", 16))
		ref += 16;
	if (!strncmp(ref, "library/", 8) && !strchr(ref + 8, '/'))
		ref += 8;
	slash = strrchr(ref, '/');
	colon = strrchr(slash ? slash : ref, ':');
	snprintf(out, len, "%s%s", ref, colon || strchr(ref, '@') ? "" : ":latest");
}

int oci_location_parse(const char *arg, struct oci_location *out)
{
	const char *rest, *colon;
	struct stat st;
	size_t plen;

	memset(out, 0, sizeof(*out));
	if (!strncmp(arg, "oci:", 4)) {
		out->transport = OCI_T_OCI;
		rest = arg + 4;
		colon = strchr(rest, ':');
	} else if (!strncmp(arg, "docker-archive:", 15)) {
		out->transport = OCI_T_ARCHIVE;
		rest = arg + 15;
		colon = stat(rest, &st) == 0 ? NULL : strchr(rest, ':');
	} else {
		return store_error(-EINVAL,
				   "'%.300s' is not a location govc knows; use oci:DIR[:TAG], docker-archive:FILE or git:DIR",
				   arg);
	}
	plen = colon ? (size_t)(colon - rest) : strlen(rest);
	if (plen >= sizeof(out->path) || (colon && strlen(colon + 1) >= sizeof(out->ref)))
		return store_error(-EINVAL, "location '%.100s...' is too long", arg);
	memcpy(out->path, rest, plen);
	out->path[plen] = '\0';
	if (colon)
		snprintf(out->ref, sizeof(out->ref), "%s", colon + 1);
	if (!out->path[0])
		return store_error(-EINVAL, "location '%.300s' names no directory or file", arg);
	return 0;
}

const char *oci_location_tag(const struct oci_location *loc)
{
	const char *ref = loc->ref;
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(slash ? slash : ref, ':');
	const char *tag = colon ? colon + 1 : ref;

	if (!*tag)
		return NULL;
	if (oci_tag_check(tag)) {
		store_error_clear();
		return NULL;
	}
	return tag;
}

/* is_host - docker's rule: a first component with '.' or ':', or
 * "localhost", names a registry */
static int is_host(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !strncmp(s, "localhost", 9));
}

int oci_remote_ref_parse(const char *arg, struct oci_remote_ref *out)
{
	const char *ref = arg, *slash, *at, *colon, *path;
	size_t hlen, plen;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!strncmp(ref, "docker://", 9))
		ref += 9;
	slash = strchr(ref, '/');
	if (slash && is_host(ref, (size_t)(slash - ref))) {
		hlen = (size_t)(slash - ref);
		path = slash + 1;
	} else {
		hlen = 0;
		path = ref;
	}
	if (hlen > REG_HOST_MAX)
		return store_error(-EINVAL, "registry host of '%.300s' is too long", arg);
	if (hlen) {
		memcpy(out->host, ref, hlen);
		out->host[hlen] = '\0';
	} else {
		strcpy(out->host, REG_DOCKER_HUB);
	}
	if (!strcmp(out->host, "index.docker.io") || !strcmp(out->host, REG_DOCKER_HUB_API))
		strcpy(out->host, REG_DOCKER_HUB);
	at = strchr(path, '@');
	if (at) {
		rc = oci_digest_parse(&out->digest, at + 1);
		if (rc)
			return store_error(rc, "'%.300s': what follows '@' is not a sha256 digest", arg);
	}
	plen = at ? (size_t)(at - path) : strlen(path);
	slash = memrchr(path, '/', plen);
	colon = memchr(slash ? slash : path, ':', plen - (size_t)((slash ? slash : path) - path));
	if (colon) {
		size_t tlen = plen - (size_t)(colon + 1 - path);

		if (tlen == 0 || tlen > OCI_TAG_MAX)
			return store_error(-EINVAL, "'%.300s' has an empty or overlong tag", arg);
		memcpy(out->tag, colon + 1, tlen);
		out->tag[tlen] = '\0';
		plen = (size_t)(colon - path);
	}
	if (plen == 0)
		return store_error(-EINVAL, "'%.300s' names no image; use docker://HOST/NAME[:TAG]", arg);
	if (plen + 8 > OCI_NAME_MAX)
		return store_error(-EINVAL, "image name in '%.300s' is too long", arg);
	if (!strcmp(out->host, REG_DOCKER_HUB) && !memchr(path, '/', plen))
		strcpy(out->repo, "library/");
	strncat(out->repo, path, plen);
	for (const char *p = out->repo; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || *p == ':')
			return store_error(-EINVAL,
					   "repository '%s' may hold only lowercase letters, digits, '.', '_', '-' and '/'",
					   out->repo);
	}
	rc = oci_name_check(out->repo);
	if (rc == 0 && out->tag[0])
		rc = oci_tag_check(out->tag);
	if (rc)
		return rc;
	if (!out->tag[0] && oci_digest_is_zero(&out->digest))
		strcpy(out->tag, "latest");
	return 0;
}

void oci_remote_ref_name(const struct oci_remote_ref *ref, char *name, char *tag)
{
	char full[REG_HOST_MAX + OCI_NAME_MAX + 2], fam[sizeof(full) + 16];
	char *colon;

	snprintf(full, sizeof(full), "%s/%s", ref->host, ref->repo);
	oci_ref_familiar(fam, sizeof(fam), full);
	colon = strrchr(fam, ':');
	if (colon && !strchr(colon, '/'))
		*colon = '\0';	/* the ":latest" oci_ref_familiar added */
	/* too long a name is left empty: the caller asks for one */
	if (strlen(fam) > OCI_NAME_MAX)
		name[0] = '\0';
	else
		memcpy(name, fam, strlen(fam) + 1);
	if (ref->tag[0]) {
		snprintf(tag, OCI_TAG_MAX + 1, "%s", ref->tag);
	} else {
		char hex[65];
		snprintf(tag, OCI_TAG_MAX + 1, "sha256-%s", oci_digest_hex(hex, &ref->digest));
	}
}
