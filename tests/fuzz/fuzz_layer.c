/*
 * fuzz_layer.c - libFuzzer harness for the layer indexer: the input is a
 * layer blob (tar, tar+gzip or tar+zstd, whatever the bytes are), put into
 * a real store through an ingest session and indexed as an import would.
 * Errors are expected; crashes, leaks and sanitizer reports are not.
 * The store lives in a scratch directory, replaced every 500 inputs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/ingest.h"
#include "store/oci.h"
#include "store/store.h"

static struct store *s;
static char dir[64];
static unsigned runs;

static void fresh_store(void)
{
	char cmd[128];

	if (s)
		store_free(s);
	s = NULL;
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			abort();
	}
	snprintf(dir, sizeof(dir), "%s/govc-fuzz-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir) || store_open(&s, dir, STORE_CREATE))
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct store_ingest *in;
	struct oci_digest d;

	if (!s || ++runs % 500 == 0)
		fresh_store();
	/* the limits keep a compressed bomb from taking minutes */
	setenv("GOVC_LAYER_MAX_BYTES", "64M", 1);
	setenv("GOVC_LAYER_MAX_ENTRIES", "100000", 1);
	if (store_ingest_begin(&in, s, "fuzz"))
		abort();
	if (oci_blob_put(in, data, len, NULL, "fuzz layer", &d) == 0)
		oci_layer_index(in, &d, NULL);
	store_ingest_abort(in);
	return 0;
}
