/*
 * fuzz_json.c - libFuzzer harness for the image documents: the input is
 * parsed as a manifest, an image index (its descriptors) and a descriptor,
 * as an import parses what a layout, an archive or a registry sends.
 */
#include "config.h"

#include <jansson.h>

#include "store/oci.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct oci_manifest man;
	struct oci_descriptor desc;
	json_t *doc, *e;
	size_t i;

	if (len > OCI_JSON_MAX || oci_json_parse((const char *)data, len, "fuzz", &doc))
		return 0;
	if (oci_manifest_parse(doc, "fuzz", &man) == 0)
		oci_manifest_release(&man);
	oci_descriptor_parse(doc, "fuzz", &desc);
	json_array_foreach(json_object_get(doc, "manifests"), i, e)
		oci_descriptor_parse(e, "fuzz", &desc);
	if (json_is_string(json_object_get(doc, "created")))
		oci_time_parse(json_string_value(json_object_get(doc, "created")));
	json_decref(doc);
	return 0;
}
