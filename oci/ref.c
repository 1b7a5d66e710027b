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
