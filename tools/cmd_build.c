/*
 * cmd_build.c - govc build: an image from the Govcfile of a repository's
 * commit (builder/build.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "oci/oci.h"
#include "store/store.h"
#include "tools/govc.h"

static const char usage[] =
	"usage: govc build [options] STORE REPO\n"
	"\n"
	"Build the Govcfile (Dockerfile syntax; a Dockerfile when there is no\n"
	"Govcfile) of repository REPO at its latest commit into an image in STORE,\n"
	"tagged REPO:latest and REPO:<short commit id>.  The build context is the\n"
	"commit, not the working tree, so the same commit builds the same image.\n"
	"RUN steps run under crun in their own namespaces, without network unless\n"
	"RUN --network=host; each step is cached by content, so a rebuild with\n"
	"nothing changed runs nothing.  Needs root; the store need not be mounted.\n"
	"\n"
	"  --commit ID|BRANCH     build that commit instead\n"
	"  -f, --file PATH        the Govcfile's path in the repository\n"
	"  --target STAGE         build up to that stage\n"
	"  --build-arg KEY=VALUE  set a build argument (repeatable)\n"
	"  --secret id=ID,src=FILE  a secret for RUN --mount=type=secret (repeatable)\n"
	"  -t, --tag NAME[:TAG]   the image's name and tag instead\n"
	"  --no-cache             run every step\n"
	"  --timeout SECONDS      longest a RUN may take (default 3600)\n"
	"  -q, --quiet            print only the image digest\n"
	"  --record N             write the record STORE/builds/REPO/N/ (the daemon's)\n"
	"\n"
	"SOURCE_DATE_EPOCH, when set, gives the layers' times and the image's\n"
	"creation time instead of the commit's time.\n";

static int need_value(int argc, char **argv, int i)
{
	if (i + 1 < argc)
		return 0;
	fprintf(stderr, "govc build: %s needs a value\n%s", argv[i], usage);
	return 2;
}

int cmd_build(int argc, char **argv)
{
	struct bld_build_opts o = { .epoch = -1 };
	const char **args = calloc((size_t)argc + 1, sizeof(char *));
	const char **secrets = calloc((size_t)argc + 1, sizeof(char *));
	const char *pos[2];
	char name[OCI_NAME_MAX + 1], tag[OCI_TAG_MAX + 1], hex[OCI_DIGEST_STRLEN + 1];
	struct store *s = NULL;
	struct oci_digest m;
	int npos = 0, rc = 0;

	if (govc_wants_help(argc, argv)) {
		fputs(usage, stdout);
		rc = 0;
		goto out;
	}
	if (!args || !secrets) {
		rc = govc_fail("out of memory");
		goto out;
	}
	o.build_args = args;
	o.secrets = secrets;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--no-cache"))
			o.no_cache = 1;
		else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
			o.quiet = 1;
		else if (!strcmp(a, "--commit") || !strcmp(a, "-f") || !strcmp(a, "--file") ||
			 !strcmp(a, "--target") || !strcmp(a, "--build-arg") ||
			 !strcmp(a, "--secret") || !strcmp(a, "-t") || !strcmp(a, "--tag") ||
			 !strcmp(a, "--timeout") || !strcmp(a, "--record")) {
			const char *v;
			if ((rc = need_value(argc, argv, i)))
				goto out;
			v = argv[++i];
			if (!strcmp(a, "--commit"))
				o.commit = v;
			else if (!strcmp(a, "-f") || !strcmp(a, "--file"))
				o.file = v;
			else if (!strcmp(a, "--target"))
				o.target = v;
			else if (!strcmp(a, "--build-arg"))
				args[o.nbuild_args++] = v;
			else if (!strcmp(a, "--secret"))
				secrets[o.nsecrets++] = v;
			else if (!strcmp(a, "--timeout") || !strcmp(a, "--record")) {
				char *end;
				unsigned long n = strtoul(v, &end, 10);
				if (!*v || *end || n > 1000000000ul) {
					fprintf(stderr, "govc build: %s %s: not a number\n", a, v);
					rc = 2;
					goto out;
				}
				if (!strcmp(a, "--timeout"))
					o.timeout = (unsigned)n;
				else
					o.record = (unsigned)n;
			} else {
				if (oci_ref_parse(v, "latest", name, tag)) {
					rc = govc_fail("build: --tag %s: %s", v, store_errmsg());
					goto out;
				}
				o.name = name;
				o.tag = tag;
			}
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "govc build: unknown option %s\n%s", a, usage);
			rc = 2;
			goto out;
		} else if (npos < 2)
			pos[npos++] = a;
		else {
			fprintf(stderr, "%s", usage);
			rc = 2;
			goto out;
		}
	}
	if (npos != 2) {
		fprintf(stderr, "%s", usage);
		rc = 2;
		goto out;
	}
	o.repo = pos[1];
	if (!o.name && oci_name_check(o.repo)) {
		rc = govc_fail("build: repository '%s' is not a valid image name; give one with --tag",
			       o.repo);
		goto out;
	}
	rc = store_open(&s, pos[0], 0);
	if (rc == 0)
		rc = bld_build(s, &o, &m);
	if (rc) {
		rc = govc_fail("build of %s: %s", o.repo, store_errmsg());
		goto out;
	}
	printf("%s\n", oci_digest_fmt(hex, &m));
out:
	store_free(s);
	free(args);
	free(secrets);
	return rc;
}
