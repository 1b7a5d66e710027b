/*
 * cmd_git.c - govc import/export with git: locations, and govc fsck.
 *
 * All three work while a daemon has the store mounted (LMDB serves
 * several processes): export and fsck read one consistent snapshot and
 * hold up no writer; import writes in one transaction that a running
 * daemon's commits wait for, and its result shows in the mount at once.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "store/extras.h"
#include "store/fsck.h"
#include "store/gitio.h"
#include "store/store.h"
#include "tools/govc.h"

static const char import_usage[] = "usage: govc import STORE git:DIR REPO\n";
static const char export_usage[] = "usage: govc export STORE REPO git:DIR\n";
static const char fsck_usage[] = "usage: govc fsck STORE\n";

/* git_dir - DIR of a "git:DIR" argument, or NULL. */
static const char *git_dir(const char *arg)
{
	return !strncmp(arg, "git:", 4) && arg[4] ? arg + 4 : NULL;
}

int cmd_git_import(int argc, char **argv)
{
	const char *dir = argc == 4 ? git_dir(argv[2]) : NULL;
	struct store *s;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("%s\n"
		       "Create repository REPO in STORE from the git repository at DIR (bare or\n"
		       "not): its branches, tags and complete history, with the same commit ids,\n"
		       "and a working tree checked out at its HEAD.  The branch HEAD is on\n"
		       "becomes REPO's current branch.  Uncommitted changes in DIR are not\n"
		       "imported.  All or nothing: on error the store is left as it was.\n"
		       "Works while the store is mounted; REPO appears in the mount at once.\n",
		       import_usage);
		return 0;
	}
	if (!dir) {
		fputs(import_usage, stderr);
		return 2;
	}
	if (store_open(&s, argv[1], 0))
		return govc_fail("import: %s", store_errmsg());
	rc = store_git_import(s, dir, argv[3]);
	if (rc)
		govc_fail("import: cannot import '%s' as repository '%s': %s", dir, argv[3],
			  store_errmsg());
	else if (isatty(STDOUT_FILENO))
		printf("Imported '%s' as repository '%s'\n", dir, argv[3]);
	store_free(s);
	return rc ? 1 : 0;
}

/* left_out - say what git export could not write as it is: a special
 * file (left out), a hard link (written as a file of its own) */
static int left_out(const struct store_extra *e, void *arg)
{
	const char *repo = arg;

	if (store_extras_is_special(e)) {
		const char *what = S_ISFIFO(e->mode) ? "fifo" : S_ISSOCK(e->mode) ? "socket"
				 : S_ISCHR(e->mode)  ? "character device"
						     : "block device";
		if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
			fprintf(stderr, "govc: export: '%s' of '%s': %s %u:%u left out: git cannot hold it\n",
				e->path, repo, what, major(e->rdev), minor(e->rdev));
		else
			fprintf(stderr, "govc: export: '%s' of '%s': %s left out: git cannot hold it\n",
				e->path, repo, what);
	} else if (e->group) {
		fprintf(stderr, "govc: export: '%s' of '%s': a hard link (%u names), written as a "
				"file of its own\n", e->path, repo, e->nlink);
	}
	return 0;
}

int cmd_git_export(int argc, char **argv)
{
	const char *dir = argc == 4 ? git_dir(argv[3]) : NULL;
	struct store *s;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("%s\n"
		       "Write repository REPO of STORE into the git repository at DIR: every\n"
		       "branch and tag with its history (the same commit ids), HEAD on REPO's\n"
		       "current branch, and a checkout of it.  DIR is created if it is absent\n"
		       "or empty.  Exporting again into the same DIR adds what is new; branches\n"
		       "there only move forward, and local changes there are never overwritten.\n"
		       "Works while the store is mounted.  What git cannot hold is named on\n"
		       "stderr: fifos, sockets and devices are left out, hard links written as\n"
		       "separate files (the store keeps them: docs/tree.md).\n",
		       export_usage);
		return 0;
	}
	if (!dir) {
		fputs(export_usage, stderr);
		return 2;
	}
	if (store_open(&s, argv[1], STORE_RDONLY))
		return govc_fail("export: %s", store_errmsg());
	rc = store_git_export(s, argv[2], dir);
	if (rc == -ENOENT)
		govc_fail("export: cannot export '%s' to '%s': %s ('govc repos %s' lists them)",
			  argv[2], dir, store_errmsg(), argv[1]);
	else if (rc)
		govc_fail("export: cannot export '%s' to '%s': %s", argv[2], dir, store_errmsg());
	if (rc == 0 && store_extras_head(s, argv[2], left_out, argv[2]))
		fprintf(stderr, "govc: export: cannot read what git could not hold: %s\n",
			store_errmsg());
	if (rc == 0 && isatty(STDOUT_FILENO))
		printf("Exported repository '%s' to '%s'\n", argv[2], dir);
	store_free(s);
	return rc ? 1 : 0;
}

/*
 * LMDB trusts its pages: bytes overwritten inside a page can send a read
 * anywhere.  fsck exists to read damaged stores, so a fault while it reads
 * is reported as damage (exit 1), never as a crash.
 */
static const char *fsck_store;

static void fsck_fault(int sig)
{
	static const char a[] = "govc: fsck: store '", b[] = "' is damaged: reading it faulted (",
			  c[] = "); its pages are corrupt: restore it from a backup, or export "
				"the repositories that still read and import them into a new store\n";
	const char *what = sig == SIGBUS ? "SIGBUS" : "SIGSEGV";

	(void)!write(2, a, sizeof(a) - 1);
	(void)!write(2, fsck_store, strlen(fsck_store));
	(void)!write(2, b, sizeof(b) - 1);
	(void)!write(2, what, strlen(what));
	(void)!write(2, c, sizeof(c) - 1);
	_exit(1);
}

static void fsck_catch_faults(const char *store)
{
	static char altstack[64 * 1024];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa = { .sa_handler = fsck_fault, .sa_flags = SA_ONSTACK | SA_RESETHAND };

	fsck_store = store;
	sigemptyset(&sa.sa_mask);
	sigaltstack(&ss, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

int cmd_fsck(int argc, char **argv)
{
	unsigned long n = 0;
	struct store *s;
	int rc;

	if (govc_wants_help(argc, argv)) {
		printf("%s\n"
		       "Check STORE: every object's id matches its content and what it names\n"
		       "exists; every repository's refs point at complete histories; every\n"
		       "working tree is consistent.  Prints one line per problem and exits 1\n"
		       "if anything is damaged, else prints how many objects were checked.\n"
		       "Read-only; works while the store is mounted.\n",
		       fsck_usage);
		return 0;
	}
	if (argc != 2) {
		fputs(fsck_usage, stderr);
		return 2;
	}
	fsck_catch_faults(argv[1]);
	if (store_open(&s, argv[1], STORE_RDONLY))
		return govc_fail("fsck: %s", store_errmsg());
	rc = store_fsck(s, stdout, &n);
	store_free(s);
	fflush(stdout);
	if (rc == -EIO)
		return govc_fail("fsck: store '%s' is damaged: %s among %lu objects (listed above); "
				 "restore it from a backup, or export the repositories that are "
				 "intact and import them into a new store",
				 argv[1], store_errmsg(), n);
	if (rc)
		return govc_fail("fsck: cannot check '%s': %s", argv[1], store_errmsg());
	printf("%lu objects checked, store is sound\n", n);
	return 0;
}
