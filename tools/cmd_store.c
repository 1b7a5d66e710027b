/*
 * cmd_store.c - govc init, govc repos, govc log, govc rm-repo, govc mv-repo.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "store/commit.h"
#include "store/inuse.h"
#include "store/repo.h"
#include "store/store.h"
#include "store/worktree.h"
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

static const char rm_repo_usage[] =
	"usage: govc rm-repo STORE REPO --yes\n"
	"\n"
	"Remove repository REPO: its working trees, branches and history.  Its\n"
	"objects are freed by the next 'govc gc'.  There is no undo, hence --yes;\n"
	"export it first if in doubt (govc export STORE REPO git:DIR).  Through a\n"
	"mount, rmdir MNT/repos/REPO removes a repository only while it has no\n"
	"commit and no file.\n"
	"\n"
	"  --yes   really remove it\n";

int cmd_rm_repo(int argc, char **argv)
{
	char mnt[4096];
	struct store *s;
	struct store_txn *t;
	pid_t pid;
	int rc, yes = 0, n = 0;
	const char *args[2] = { NULL, NULL };

	if (govc_wants_help(argc, argv)) {
		fputs(rm_repo_usage, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--yes"))
			yes = 1;
		else if (n < 2 && argv[i][0] != '-')
			args[n++] = argv[i];
		else
			n = 3;
	}
	if (n != 2) {
		fputs(rm_repo_usage, stderr);
		return 2;
	}
	if (!yes)
		return govc_fail("rm-repo: removing '%s' deletes its history; add --yes to do it",
				 args[1]);
	if (store_open(&s, args[0], 0))
		return govc_fail("rm-repo: %s", store_errmsg());
	rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
	if (rc == 0) {
		rc = store_repo_remove(t, args[1], 0);
		/* unmounted, nobody holds its files open: free them now */
		if (rc == 0 && store_mount_holder(args[0], &pid, mnt, sizeof(mnt)) == 0)
			rc = store_wt_purge_orphans(t);
		rc = rc ? (store_txn_abort(t), rc) : store_txn_commit(t);
	}
	if (rc)
		govc_fail("rm-repo: %s", store_errmsg());
	else
		printf("removed repository '%s'; 'govc gc %s' frees its objects\n", args[1],
		       args[0]);
	store_free(s);
	return rc ? 1 : 0;
}

int cmd_mv_repo(int argc, char **argv)
{
	struct store *s;
	struct store_txn *t;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("usage: govc mv-repo STORE OLD NEW\n\n"
		       "Rename repository OLD to NEW, with its branches, history and working\n"
		       "trees (as mv MNT/repos/OLD MNT/repos/NEW does through a mount).\n");
		return 0;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: govc mv-repo STORE OLD NEW\n");
		return 2;
	}
	if (store_open(&s, argv[1], 0))
		return govc_fail("mv-repo: %s", store_errmsg());
	rc = store_txn_begin(&t, s, STORE_TXN_WRITE);
	if (rc == 0) {
		rc = store_repo_rename(t, argv[2], argv[3]);
		rc = rc ? (store_txn_abort(t), rc) : store_txn_commit(t);
	}
	if (rc)
		govc_fail("mv-repo: %s", store_errmsg());
	store_free(s);
	return rc ? 1 : 0;
}
