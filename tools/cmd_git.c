/*
 * cmd_git.c - govc import/export with git: locations, and govc fsck.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/fsck.h"
#include "store/gitio.h"
#include "store/store.h"
#include "tools/govc.h"

int cmd_git_import(int argc, char **argv)
{
	struct store *s;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("usage: govc import STORE git:DIR REPO\n\n"
		       "Create repository REPO from the git repository at DIR: its branches,\n"
		       "tags and history, and a working tree checked out at HEAD.\n");
		return 0;
	}
	if (argc != 4 || strncmp(argv[2], "git:", 4) != 0) {
		fprintf(stderr, "usage: govc import STORE git:DIR REPO\n");
		return 2;
	}
	if (store_open(&s, argv[1], 0))
		return govc_fail("import: %s", store_errmsg());
	rc = store_git_import(s, argv[2] + 4, argv[3]);
	if (rc)
		govc_fail("import: '%s' into '%s': %s", argv[2] + 4, argv[3], store_errmsg());
	store_free(s);
	return rc ? 1 : 0;
}

int cmd_git_export(int argc, char **argv)
{
	struct store *s;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("usage: govc export STORE REPO git:DIR\n\n"
		       "Write REPO's branches, tags and history into the git repository at DIR\n"
		       "(created if absent) and check out its HEAD there.\n");
		return 0;
	}
	if (argc != 4 || strncmp(argv[3], "git:", 4) != 0) {
		fprintf(stderr, "usage: govc export STORE REPO git:DIR\n");
		return 2;
	}
	if (store_open(&s, argv[1], STORE_RDONLY))
		return govc_fail("export: %s", store_errmsg());
	rc = store_git_export(s, argv[2], argv[3] + 4);
	if (rc)
		govc_fail("export: '%s' to '%s': %s", argv[2], argv[3] + 4, store_errmsg());
	store_free(s);
	return rc ? 1 : 0;
}

int cmd_fsck(int argc, char **argv)
{
	unsigned long n = 0;
	struct store *s;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("usage: govc fsck STORE\n\n"
		       "Check every object (its id matches its content, what it names exists),\n"
		       "every ref and every working tree. Exits 1 if anything is damaged.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: govc fsck STORE\n");
		return 2;
	}
	if (store_open(&s, argv[1], STORE_RDONLY))
		return govc_fail("fsck: %s", store_errmsg());
	rc = store_fsck(s, stdout, &n);
	store_free(s);
	if (rc)
		return govc_fail("fsck: %s: %s", argv[1], store_errmsg());
	printf("%lu objects checked, store is sound\n", n);
	return 0;
}
