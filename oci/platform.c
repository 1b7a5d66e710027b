/*
 * platform.c - platforms ("os/arch[/variant]"): parsed from an option,
 * read from an index entry or an image config, the host's, compared.
 * One place for the import's choice from an index, a pull of every
 * platform, and a build's FROM --platform (oci/oci.h).
 *
 * Threads: any; nothing is shared.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "oci/oci.h"

int oci_platform_parse(struct oci_platform *p, const char *s)
{
	char buf[3 * OCI_PLATFORM_PART_MAX];
	char *arch, *variant;

	memset(p, 0, sizeof(*p));
	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	arch = strchr(buf, '/');
	if (!arch)
		goto bad;
	*arch++ = '\0';
	variant = strchr(arch, '/');
	if (variant)
		*variant++ = '\0';
	if (!*buf || !*arch || strlen(buf) >= OCI_PLATFORM_PART_MAX ||
	    strlen(arch) >= OCI_PLATFORM_PART_MAX ||
	    (variant && (!*variant || strlen(variant) >= OCI_PLATFORM_PART_MAX)))
		goto bad;
	strcpy(p->os, buf);
	strcpy(p->arch, arch);
	if (variant)
		strcpy(p->variant, variant);
	return 0;
bad:
	return store_error(-EINVAL, "platform '%.100s' is not OS/ARCH[/VARIANT] (e.g. linux/amd64)", s);
}

void oci_platform_host(struct oci_platform *p)
{
	static const struct {
		const char *machine, *arch, *variant;
	} map[] = {
		{ "x86_64", "amd64", "" },   { "aarch64", "arm64", "" },	{ "armv7l", "arm", "v7" },
		{ "armv6l", "arm", "v6" },   { "i686", "386", "" },		{ "i386", "386", "" },
		{ "ppc64le", "ppc64le", "" }, { "s390x", "s390x", "" },	{ "riscv64", "riscv64", "" },
	};
	struct utsname u;

	memset(p, 0, sizeof(*p));
	strcpy(p->os, "linux");
	strcpy(p->arch, "amd64");
	if (uname(&u) < 0)
		return;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!strcmp(u.machine, map[i].machine)) {
			strcpy(p->arch, map[i].arch);
			strcpy(p->variant, map[i].variant);
		}
	}
}

int oci_platform_from(json_t *obj, struct oci_platform *p)
{
	json_t *os = obj ? json_object_get(obj, "os") : NULL;
	json_t *arch = obj ? json_object_get(obj, "architecture") : NULL;
	json_t *variant = obj ? json_object_get(obj, "variant") : NULL;

	memset(p, 0, sizeof(*p));
	if (json_is_string(os))
		snprintf(p->os, sizeof(p->os), "%s", json_string_value(os));
	if (json_is_string(arch))
		snprintf(p->arch, sizeof(p->arch), "%s", json_string_value(arch));
	if (json_is_string(variant))
		snprintf(p->variant, sizeof(p->variant), "%s", json_string_value(variant));
	return json_is_string(os) && json_is_string(arch);
}

int oci_platform_match(const struct oci_platform *want, const struct oci_platform *have)
{
	if (strcmp(want->os, have->os) || strcmp(want->arch, have->arch))
		return 0;
	return !want->variant[0] || !have->variant[0] || !strcmp(want->variant, have->variant);
}

void oci_platform_fmt(const struct oci_platform *p, char *out, size_t len)
{
	snprintf(out, len, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}
