/*
 * oci_json.c - reading the JSON documents of an image (manifests, image
 * indexes, configs) with jansson.  Input is untrusted: callers cap its
 * size at OCI_JSON_MAX before it gets here; duplicate keys are refused (two
 * readers could otherwise disagree on what a manifest says); every field
 * is type-checked and every string bounded.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/oci_int.h"

int oci_json_parse(const char *data, size_t len, const char *what, json_t **out)
{
	json_error_t err;
	json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);

	*out = NULL;
	if (!doc)
		return store_error(-EBADMSG, "%s is not valid JSON: %s (line %d, column %d)", what,
				   err.text, err.line, err.column);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return store_error(-EBADMSG, "%s is not a JSON object", what);
	}
	*out = doc;
	return 0;
}

static int media_type_ok(const char *mt)
{
	size_t n = strlen(mt);

	if (n == 0 || n > OCI_MEDIA_TYPE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = mt[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$&-^_.+/", c)))
			return 0;
	}
	return 1;
}

int oci_descriptor_parse(json_t *obj, const char *what, struct oci_descriptor *out)
{
	json_t *mt, *dg, *sz;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return store_error(-EBADMSG, "%s: a descriptor must be a JSON object", what);
	mt = json_object_get(obj, "mediaType");
	dg = json_object_get(obj, "digest");
	sz = json_object_get(obj, "size");
	if (mt) {
		if (!json_is_string(mt) || !media_type_ok(json_string_value(mt)))
			return store_error(-EBADMSG, "%s: mediaType is not a media type", what);
		strcpy(out->media_type, json_string_value(mt));
	}
	if (!json_is_string(dg))
		return store_error(-EBADMSG, "%s: descriptor without a digest", what);
	rc = oci_digest_parse(&out->digest, json_string_value(dg));
	if (rc)
		return store_error(rc == -ENOTSUP ? rc : -EBADMSG, "%s: %s", what, store_errmsg());
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return store_error(-EBADMSG, "%s: descriptor without a valid size", what);
	out->size = (uint64_t)json_integer_value(sz);
	return 0;
}

int oci_mt_is_index(const char *mt)
{
	return !strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, DOCKER_MT_LIST);
}

int oci_mt_is_manifest(const char *mt)
{
	return !strcmp(mt, OCI_MT_MANIFEST) || !strcmp(mt, DOCKER_MT_MANIFEST);
}

int oci_mt_is_layer(const char *mt)
{
	static const char *const known[] = {
		OCI_MT_LAYER,
		OCI_MT_LAYER_GZIP,
		OCI_MT_LAYER_ZSTD,
		DOCKER_MT_LAYER,
		"application/vnd.docker.image.rootfs.diff.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(mt, known[i]))
			return 1;
	return 0;
}

static int config_mt_ok(const char *mt)
{
	return !strcmp(mt, OCI_MT_CONFIG) || !strcmp(mt, DOCKER_MT_CONFIG);
}

void oci_manifest_release(struct oci_manifest *m)
{
	free(m->layers);
	m->layers = NULL;
	m->nlayers = 0;
}

int oci_manifest_parse(json_t *doc, const char *what, struct oci_manifest *out)
{
	json_t *sv = json_object_get(doc, "schemaVersion");
	json_t *mt = json_object_get(doc, "mediaType");
	json_t *layers = json_object_get(doc, "layers");
	char sub[320];
	size_t i;
	json_t *l;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return store_error(json_is_integer(sv) && json_integer_value(sv) == 1 ? -ENOTSUP
										      : -EBADMSG,
				   "%s: schemaVersion must be 2 (docker schema 1 images are not supported; convert with skopeo copy)",
				   what);
	if (mt) {
		if (!json_is_string(mt) || !media_type_ok(json_string_value(mt)))
			return store_error(-EBADMSG, "%s: mediaType is not a media type", what);
		if (!oci_mt_is_manifest(json_string_value(mt)))
			return store_error(-EBADMSG, "%s: media type '%s' is not an image manifest",
					   what, json_string_value(mt));
		strcpy(out->media_type, json_string_value(mt));
	} else {
		strcpy(out->media_type, OCI_MT_MANIFEST);
	}
	if (json_object_get(doc, "manifests"))
		return store_error(-EBADMSG, "%s: an image manifest must not list manifests", what);
	snprintf(sub, sizeof(sub), "%s, config", what);
	rc = oci_descriptor_parse(json_object_get(doc, "config"), sub, &out->config);
	if (rc)
		return rc;
	if (out->config.media_type[0] && !config_mt_ok(out->config.media_type))
		return store_error(-ENOTSUP,
				   "%s: config media type '%s' is not a container image (an OCI artifact?)",
				   what, out->config.media_type);
	if (out->config.size > OCI_JSON_MAX)
		return store_error(-EFBIG, "%s: config is %llu bytes, more than the %u byte limit",
				   what, (unsigned long long)out->config.size, OCI_JSON_MAX);
	if (!json_is_array(layers))
		return store_error(-EBADMSG, "%s: no layers array", what);
	if (json_array_size(layers) > OCI_LAYERS_MAX)
		return store_error(-EFBIG, "%s: %zu layers, more than the limit of %d", what,
				   json_array_size(layers), OCI_LAYERS_MAX);
	out->nlayers = (unsigned)json_array_size(layers);
	out->layers = calloc(out->nlayers ? out->nlayers : 1, sizeof(*out->layers));
	if (!out->layers)
		return store_error(-ENOMEM, "out of memory");
	json_array_foreach(layers, i, l) {
		snprintf(sub, sizeof(sub), "%s, layer %zu", what, i + 1);
		rc = oci_descriptor_parse(l, sub, &out->layers[i]);
		if (rc == 0 && !oci_mt_is_layer(out->layers[i].media_type))
			rc = store_error(-ENOTSUP, "%s: media type '%s' is not a layer govc can read",
					 sub, out->layers[i].media_type);
		if (rc) {
			oci_manifest_release(out);
			return rc;
		}
	}
	return 0;
}

int64_t oci_time_parse(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0;
	int64_t t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n == 0)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	s += n;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	if (*s == '+' || *s == '-') {
		int oh = 0, om = 0;
		if (sscanf(s + 1, "%2d:%2d", &oh, &om) == 2)
			t += (*s == '+' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
	}
	return t;
}
