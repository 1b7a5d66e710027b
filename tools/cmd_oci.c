/*
 * cmd_oci.c - govc import/export of images (oci: and docker-archive:
 * locations, as skopeo names them), govc images, govc rmi, govc gc.
 *
 * Locations:
 *   oci:DIR[:TAG]               DIR ends at the first ':' (as in skopeo)
 *   docker-archive:FILE[:REF]   FILE is the whole rest if such a file
 *                               exists, else what precedes the first ':'
 * When the destination NAME has no tag, the source's tag is used if it
 * is a valid tag, else "latest".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "store/gc.h"
#include "builder/build.h"
#include "oci/oci.h"
#include "store/ingest.h"
#include "store/inuse.h"
#include "store/store.h"
#include "tools/govc.h"
#include "util/proc.h"

/* parse_location - ARG as a location, or a message and 2 */
static int parse_location(const char *arg, struct oci_location *out)
{
	return oci_location_parse(arg, out) ? govc_fail("%s", store_errmsg()) : 0;
}

/* parse_name - NAME[:TAG] with the tag defaulting to DEFAULT_TAG */
static int parse_name(const char *ref, const char *default_tag, char *name, char *tag)
{
	if (oci_ref_parse(ref, default_tag, name, tag))
		return govc_fail("%s", store_errmsg());
	return 0;
}

static void progress(void *arg, const char *what, const struct oci_descriptor *d)
{
	char size[32];

	(void)arg;
	govc_human_size(size, sizeof(size), d->size);
	fprintf(stderr, "  copying %s (%s)\n", what, size);
}

static int parse_common(int argc, char **argv, const char **platform, int *quiet, char **pos,
			int maxpos, int *npos)
{
	*npos = 0;
	for (int i = 1; i < argc; i++) {
		if (platform && !strcmp(argv[i], "--platform") && i + 1 < argc) {
			*platform = argv[++i];
		} else if (platform && !strncmp(argv[i], "--platform=", 11)) {
			*platform = argv[i] + 11;
		} else if (quiet && (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))) {
			*quiet = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "govc %s: unknown option '%s'; see govc %s --help\n", argv[0],
				argv[i], argv[0]);
			return 2;
		} else if (*npos < maxpos) {
			pos[(*npos)++] = argv[i];
		} else {
			fprintf(stderr, "govc %s: too many arguments; see govc %s --help\n", argv[0],
				argv[0]);
			return 2;
		}
	}
	return 0;
}

/*
 * take_limits - remove --max-layer-bytes N and --max-layer-entries N from
 * ARGV, setting the environment util_limit() reads; -1 on a bad value.
 */
static int take_limits(int *argc, char **argv)
{
	static const struct {
		const char *opt, *env;
	} lim[] = {
		{ "--max-layer-bytes", LIMIT_LAYER_BYTES_ENV },
		{ "--max-layer-entries", LIMIT_LAYER_ENTRIES_ENV },
	};
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		size_t k, n;

		for (k = 0; k < sizeof(lim) / sizeof(lim[0]); k++) {
			n = strlen(lim[k].opt);
			if (!strncmp(argv[i], lim[k].opt, n) && (!argv[i][n] || argv[i][n] == '='))
				break;
		}
		if (k == sizeof(lim) / sizeof(lim[0])) {
			argv[out++] = argv[i];
			continue;
		}
		const char *v = argv[i][n] == '=' ? argv[i] + n + 1 : (i + 1 < *argc ? argv[++i] : "");
		if (!*v || strspn(v, "0123456789") == 0) {
			fprintf(stderr, "govc import: %s needs a number (bytes may end in k, M or G)\n",
				lim[k].opt);
			return -1;
		}
		setenv(lim[k].env, v, 1);
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int cmd_oci_import(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc import [--platform OS/ARCH[/VARIANT]] [-q] [--max-layer-bytes N]\n"
		"                   [--max-layer-entries N] STORE SOURCE NAME[:TAG]\n"
		"\n"
		"Import an image into STORE.  SOURCE is one of\n"
		"  oci:DIR[:TAG]               an OCI image layout (TAG: its ref.name)\n"
		"  docker-archive:FILE[:REF]   a `docker save` or `podman save` tarball\n"
		"                              (REF: one of its NAME:TAGs, or @N for its Nth)\n"
		"Every blob is verified against its digest and every layer is indexed;\n"
		"on any error no image is stored.  From a multi-platform image the\n"
		"host's platform is taken unless --platform says otherwise.  Without\n"
		"a TAG, NAME gets the source's tag, or 'latest'.\n"
		"\n"
		"Options:\n"
		"  --platform OS/ARCH[/VARIANT]  the platform to take from an image index\n"
		"  -q, --quiet                   no progress on a terminal\n"
		"  --max-layer-bytes N           refuse a layer whose uncompressed tar is\n"
		"                                larger (default 64G; k, M, G suffixes;\n"
		"                                also $GOVC_LAYER_MAX_BYTES)\n"
		"  --max-layer-entries N         refuse a layer of more entries (default\n"
		"                                10000000; also $GOVC_LAYER_MAX_ENTRIES)\n"
		"The import runs beside a mounted store without blocking it; the image\n"
		"appears when it is complete.  An interrupted import leaves data that\n"
		"nothing refers to: govc gc removes it.\n";
	char *pos[3], name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1], hex[OCI_DIGEST_STRLEN + 1];
	struct oci_import_opts opts = { 0 };
	struct oci_location loc;
	struct oci_digest m;
	struct store *s;
	const char *dtag;
	int npos, quiet = 0, rc;

	if (govc_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	if (take_limits(&argc, argv))
		return 2;
	rc = parse_common(argc, argv, &opts.platform, &quiet, pos, 3, &npos);
	if (rc)
		return rc;
	if (npos != 3) {
		fputs(usage, stderr);
		return 2;
	}
	if (parse_location(pos[1], &loc))
		return 2;
	dtag = loc.ref[0] ? oci_location_tag(&loc) : NULL;
	if (parse_name(pos[2], dtag ? dtag : "latest", name, tag))
		return 2;
	if (!quiet && isatty(2)) {
		opts.progress = progress;
		opts.progress_done = govc_progress_done;
		fprintf(stderr, "importing %s into %s:%s\n", pos[1], name, tag);
	}
	if (store_open(&s, pos[0], 0))
		return govc_fail("import: %s", store_errmsg());
	if (loc.transport == OCI_T_OCI)
		rc = oci_layout_import(s, loc.path, loc.ref[0] ? loc.ref : NULL, name, tag, &opts, &m);
	else
		rc = oci_archive_import(s, loc.path, loc.ref[0] ? loc.ref : NULL, name, tag, &opts, &m);
	store_free(s);
	if (rc)
		return govc_fail("import: %s; nothing was imported", store_errmsg());
	printf("%s:%s %s\n", name, tag, oci_digest_fmt(hex, &m));
	return 0;
}

int cmd_oci_export(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc export STORE NAME[:TAG] DEST\n"
		"\n"
		"Export an image of STORE.  DEST is one of\n"
		"  oci:DIR[:TAG]         an OCI image layout (created, or added to), the\n"
		"                        blobs byte for byte as stored (same digests)\n"
		"  docker-archive:FILE   a tarball for `docker load` (layers uncompressed)\n"
		"Without a TAG, NAME means NAME:latest and the layout gets NAME's tag.\n";
	char *pos[3], name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1];
	struct oci_location loc;
	struct store *s;
	int npos, rc;

	if (govc_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	rc = parse_common(argc, argv, NULL, NULL, pos, 3, &npos);
	if (rc)
		return rc;
	if (npos != 3) {
		fputs(usage, stderr);
		return 2;
	}
	if (parse_name(pos[1], "latest", name, tag) || parse_location(pos[2], &loc))
		return 2;
	if (loc.transport == OCI_T_ARCHIVE && loc.ref[0])
		return govc_fail("export: docker-archive:FILE takes no reference; the image keeps its name %s:%s",
				 name, tag);
	if (store_open(&s, pos[0], STORE_RDONLY))
		return govc_fail("export: %s", store_errmsg());
	if (loc.transport == OCI_T_OCI)
		rc = oci_layout_export(s, name, tag, loc.path, loc.ref[0] ? loc.ref : NULL);
	else
		rc = oci_archive_export(s, name, tag, loc.path);
	store_free(s);
	if (rc)
		return govc_fail("export: %s", store_errmsg());
	return 0;
}

struct images_out {
	struct store_txn *t;
	int no_trunc, quiet;
};

static int print_image(const struct oci_tag *tg, void *arg)
{
	struct images_out *o = arg;
	struct oci_image_info info;
	char hex[OCI_DIGEST_STRLEN + 1], size[32], created[32] = "-";
	int rc = oci_image_info(o->t, &tg->manifest, &info);

	if (rc)
		return rc;
	oci_digest_fmt(hex, &tg->manifest);
	if (!o->no_trunc)
		hex[7 + 12] = '\0';
	if (o->quiet) {
		printf("%s:%s\n", tg->name, tg->tag);
		return 0;
	}
	govc_human_size(size, sizeof(size), info.size);
	if (info.created) {
		time_t c = (time_t)info.created;
		struct tm tm;
		gmtime_r(&c, &tm);
		strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	printf("%-40s %-16s %-*s %10s  %s\n", tg->name, tg->tag, o->no_trunc ? 71 : 19, hex, size,
	       created);
	return 0;
}

int cmd_images(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc images [--no-trunc] [-q] STORE [NAME]\n"
		"\n"
		"List the images of STORE (or the tags of NAME): name, tag, manifest\n"
		"digest, size (manifest, config and compressed layers) and creation\n"
		"time (UTC).  -q prints NAME:TAG only.\n";
	struct images_out o = { 0 };
	char *pos[2];
	struct store *s;
	int npos = 0, rc;

	if (govc_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-trunc") || !strcmp(argv[i], "--digests"))
			o.no_trunc = 1;
		else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			o.quiet = 1;
		else if (argv[i][0] == '-' || npos == 2) {
			fputs(usage, stderr);
			return 2;
		} else
			pos[npos++] = argv[i];
	}
	if (npos < 1) {
		fputs(usage, stderr);
		return 2;
	}
	if (store_open(&s, pos[0], STORE_RDONLY))
		return govc_fail("images: %s", store_errmsg());
	rc = store_txn_begin(&o.t, s, 0);
	if (rc == 0) {
		if (!o.quiet)
			printf("%-40s %-16s %-*s %10s  %s\n", "NAME", "TAG", o.no_trunc ? 71 : 19,
			       "DIGEST", "SIZE", "CREATED");
		rc = oci_tag_foreach(o.t, npos > 1 ? pos[1] : NULL, print_image, &o);
		store_txn_abort(o.t);
	}
	if (rc)
		govc_fail("images: %s", store_errmsg());
	store_free(s);
	return rc ? 1 : 0;
}

struct user_of {
	char prefix[OCI_NAME_MAX + 16];	/* "/images/NAME" */
	char *what;
	size_t wlen;
};

static int user_of(const char *path, long pid, const char *how, void *arg)
{
	struct user_of *u = arg;
	size_t n = strlen(u->prefix);

	if (strncmp(path, u->prefix, n) || (path[n] && path[n] != '/'))
		return 0;
	snprintf(u->what, u->wlen, "pid %ld (%s at %.300s)", pid, how, path);
	return 1;
}

struct tag_use {
	const struct oci_digest *m;
	int found;
};

static int tag_names(const struct oci_tag *tg, void *arg)
{
	struct tag_use *u = arg;

	if (!memcmp(&tg->manifest, u->m, sizeof(*u->m)))
		u->found = 1;
	return 0;
}

/*
 * in_use - once NAME:TAG is gone (in T), would image M, with no tag left
 * to name it, still be used through the mount of store S?  1 with WHAT
 * filled, else 0.
 */
static int in_use(struct store *s, struct store_txn *t, const struct oci_digest *m,
		  const char *name, char *what, size_t wlen)
{
	struct tag_use u = { m, 0 };
	char mnt[4096], who[600];
	struct stat st;
	pid_t pid;
	int rc = oci_tag_foreach(t, NULL, tag_names, &u);

	if (rc || u.found)
		return rc < 0 ? rc : 0;
	if (store_mount_holder(store_dir(s), &pid, mnt, sizeof(mnt)) != 1 || !mnt[0] ||
	    stat(mnt, &st) != 0)
		return 0;
	struct user_of uo = { "", who, sizeof(who) };
	snprintf(uo.prefix, sizeof(uo.prefix), "/images/%s", name);
	if (util_proc_users(mnt, st.st_dev, user_of, &uo) != 1)
		return 0;
	snprintf(what, wlen, "%s (through the mount at %s)", who, mnt);
	return 1;
}

int cmd_rmi(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc rmi [-f|--force] STORE NAME[:TAG]...\n"
		"\n"
		"Remove tags (NAME alone means NAME:latest).  The image's blobs stay\n"
		"until `govc gc STORE` finds nothing else using them.\n"
		"\n"
		"An image whose last tag this is and that is in use through the mount\n"
		"(a container's root bind-mounted from images/NAME/rootfs, a process\n"
		"chrooted or working there, a file open there) is not untagged, and\n"
		"the command names what uses it.\n"
		"  -f, --force   untag it anyway: what uses it keeps working, since gc\n"
		"                keeps every image the mount still serves; only the\n"
		"                name is gone (images/NAME leaves the tree)\n";
	char *args[64];
	struct store_txn *t;
	struct store *s;
	int rc = 0, n = 0, force = 0;

	if (govc_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force"))
			force = 1;
		else if (argv[i][0] == '-' && argv[i][1])
			return govc_fail("rmi: unknown option '%s'; see govc rmi --help", argv[i]);
		else if (n < (int)(sizeof(args) / sizeof(args[0])))
			args[n++] = argv[i];
		else
			return govc_fail("rmi: too many arguments");
	}
	if (n < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (store_open(&s, args[0], 0))
		return govc_fail("rmi: %s", store_errmsg());
	rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
	for (int i = 1; i < n && rc == 0; i++) {
		char name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1], what[4800];
		struct oci_digest m;

		rc = oci_ref_parse(args[i], "latest", name, tag);
		if (rc == 0)
			rc = oci_tag_get(t, name, tag, &m, NULL);
		if (rc == 0)
			rc = oci_tag_delete(t, name, tag);
		if (rc == 0 && !force && (rc = in_use(s, t, &m, name, what, sizeof(what))) == 1)
			rc = store_error(-EBUSY,
					 "image %s:%s is in use by %s; stop what uses it, or untag it anyway with --force (what uses it keeps working: gc keeps an image the mount still serves)",
					 name, tag, what);
	}
	if (rc == 0)
		rc = store_txn_commit(t);	/* frees T, even when it fails */
	else
		store_txn_abort(t);
	for (int i = 1; i < n && rc == 0; i++) {
		char name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1];

		oci_ref_parse(args[i], "latest", name, tag);
		printf("untagged %s:%s\n", name, tag);
	}
	if (rc)
		govc_fail("rmi: %s; no tag was removed", store_errmsg());
	store_free(s);
	return rc ? 1 : 0;
}

int cmd_gc(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc gc [-n|--dry-run] [-q] [--build-cache] STORE\n"
		"\n"
		"Remove git objects, OCI blobs and layer indexes that no tag, pin,\n"
		"repository ref or working tree reaches.  Safe while STORE is mounted\n"
		"(writers wait while it runs).  -n only counts.  --build-cache first\n"
		"forgets the build step cache (the layers only it kept go too) and\n"
		"removes STORE/build-cache/ (unpacked layers, RUN cache mounts).\n";
	struct store_gc_stats st;
	const char *store = NULL;
	struct store *s;
	char ob[32], bb[32];
	int dry = 0, quiet = 0, prune = 0, rc;

	if (govc_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--dry-run"))
			dry = 1;
		else if (!strcmp(argv[i], "--build-cache"))
			prune = 1;
		else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			quiet = 1;
		else if (argv[i][0] == '-' || store) {
			fputs(usage, stderr);
			return 2;
		} else
			store = argv[i];
	}
	if (!store) {
		fputs(usage, stderr);
		return 2;
	}
	if (store_open(&s, store, 0))
		return govc_fail("gc: %s", store_errmsg());
	if (prune && !dry && bld_cache_prune(s)) {
		store_free(s);
		return govc_fail("gc: --build-cache: %s", store_errmsg());
	}
	if (!quiet && isatty(2))
		fprintf(stderr, "collecting garbage in %s...\n", store);
	rc = store_gc(s, dry ? STORE_GC_DRY_RUN : 0, &st);
	store_free(s);
	if (rc)
		return govc_fail("gc: %s", store_errmsg());
	govc_human_size(ob, sizeof(ob), st.object_bytes);
	govc_human_size(bb, sizeof(bb), st.blob_bytes);
	if (!quiet)
		printf("%s %llu objects (%s), %llu blobs (%s), %llu layer indexes, %llu images; kept %llu objects, %llu blobs\n",
		       dry ? "would remove" : "removed", (unsigned long long)st.objects, ob,
		       (unsigned long long)st.blobs, bb, (unsigned long long)st.layers,
		       (unsigned long long)st.images, (unsigned long long)st.kept_objects,
		       (unsigned long long)st.kept_blobs);
	return 0;
}
