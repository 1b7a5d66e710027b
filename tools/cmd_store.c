/*
 * cmd_store.c - govc init, govc repos, govc log.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "store/commit.h"
#include "store/repo.h"
#include "store/store.h"
#include "tools/govc.h"

int cmd_init(int argc, char **argv)
{
	struct store *s;

	if (govc_wants_help(argc, argv)) {
		printf("usage: govc init STORE\n\n"
		       "Create an empty store in the directory STORE (created if absent).\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: govc init STORE\n");
		return 2;
	}
	if (store_open(&s, argv[1], STORE_CREATE))
		return govc_fail("init: %s", store_errmsg());
	store_free(s);
	printf("Initialized empty govc store in %s\n", argv[1]);
	return 0;
}

static int print_name(const char *name, void *arg)
{
	(void)arg;
	printf("%s\n", name);
	return 0;
}

int cmd_repos(int argc, char **argv)
{
	struct store *s;
	struct store_txn *t;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("usage: govc repos STORE\n\nList the repositories of STORE.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: govc repos STORE\n");
		return 2;
	}
	if (store_open(&s, argv[1], STORE_RDONLY))
		return govc_fail("repos: %s", store_errmsg());
	rc = store_txn_begin(&t, s, 0);
	if (rc == 0) {
		rc = store_repo_foreach(t, print_name, NULL);
		store_txn_abort(t);
	}
	if (rc)
		govc_fail("repos: %s", store_errmsg());
	store_free(s);
	return rc ? 1 : 0;
}

static int print_line(const char *line, void *arg)
{
	(void)arg;
	return puts(line) < 0 ? -1 : 0;
}

int cmd_log(int argc, char **argv)
{
	struct store *s;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("usage: govc log STORE REPO\n\n"
		       "Print the history of REPO's current branch, newest first, one commit\n"
		       "per line: id, time (UTC), subject and the paths changed, tab-separated.\n");
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: govc log STORE REPO\n");
		return 2;
	}
	if (store_open(&s, argv[1], STORE_RDONLY))
		return govc_fail("log: %s", store_errmsg());
	rc = store_log(s, argv[2], "HEAD", print_line, NULL);
	if (rc)
		govc_fail("log: %s", store_errmsg());
	store_free(s);
	return rc ? 1 : 0;
}
