/*
 * fuzz_ref.c - libFuzzer harness for image references, locations and
 * digests: every spelling a user or an archive's manifest.json may give.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	char *s = malloc(len + 1), name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1], out[600];
	struct oci_location loc;
	struct oci_digest d;

	if (!s)
		return 0;
	memcpy(s, data, len);
	s[len] = '\0';
	oci_ref_parse(s, "latest", name, tag);
	oci_ref_parse(s, NULL, name, tag);
	oci_ref_familiar(out, sizeof(out), s);
	if (oci_location_parse(s, &loc) == 0)
		oci_location_tag(&loc);
	oci_digest_parse(&d, s);
	oci_name_check(s);
	oci_tag_check(s);
	free(s);
	return 0;
}
