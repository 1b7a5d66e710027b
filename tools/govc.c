/*
 * govc.c - entry point of the command-line program: global library
 * initialisation (once, here) and dispatch to the subcommands.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <git2.h>
#include <curl/curl.h>

#include "oci/oci.h"
#include "tools/govc.h"

static const char usage[] =
	"usage: govc <command> [options] [args]\n"
	"\n"
	"Stores and mounts:\n"
	"  init STORE                      create a store directory\n"
	"  mount [-f] [-o OPTS] STORE MNT  mount a store (returns when ready)\n"
	"  umount MNT                      commit what is pending and unmount\n"
	"  fsck STORE                      check every object, ref and working tree\n"
	"\n"
	"Repositories:\n"
	"  repos STORE                     list repositories\n"
	"  log STORE REPO                  history, newest first\n"
	"  rm-repo STORE REPO --yes        remove a repository and its history\n"
	"  mv-repo STORE OLD NEW           rename a repository\n"
	"  import STORE git:DIR REPO       import a git repository\n"
	"  export STORE REPO git:DIR       export to a git repository\n"
	"\n"
	"Images:\n"
	"  import STORE oci:DIR[:TAG] NAME[:TAG]\n"
	"  import STORE docker-archive:FILE NAME[:TAG]\n"
	"  export STORE NAME[:TAG] oci:DIR[:TAG]\n"
	"  export STORE NAME[:TAG] docker-archive:FILE\n"
	"  images STORE                    list images\n"
	"  rmi STORE NAME[:TAG]            remove a tag\n"
	"  gc STORE                        remove unreachable blobs and objects\n"
	"\n"
	"Space:\n"
	"  du STORE                        what uses the store's space\n"
	"  compact STORE                   give free pages back (unmounted)\n"
	"\n"
	"Builds:\n"
	"  build STORE REPO                build the repository's Govcfile into an image\n"
	"\n"
	"Registries:\n"
	"  pull STORE docker://[HOST/]NAME[:TAG|@DIGEST] [NAME[:TAG]]\n"
	"  push STORE NAME[:TAG] docker://HOST/NAME[:TAG]\n"
	"  login [-u USER] [--password-stdin] HOST\n"
	"  logout HOST\n"
	"\n"
	"Run 'govc <command> --help' for a command's options.  With GOVC_STORE set,\n"
	"commands that take a STORE use it when given none.\n";

void govc_human_size(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

void govc_progress_done(void *arg, const char *what, const struct oci_descriptor *d,
			double seconds)
{
	char size[32], rate[32];

	(void)arg;
	govc_human_size(size, sizeof(size), d->size);
	govc_human_size(rate, sizeof(rate),
			seconds > 0.001 ? (uint64_t)((double)d->size / seconds) : d->size);
	fprintf(stderr, "    %s in %.1f s, %s/s\n", size, seconds, rate);
	(void)what;
}

int govc_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("govc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int govc_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
		if (!strcmp(argv[i], "--"))
			break;
	}
	return 0;
}

/*
 * store_is_mount_point - is the STORE argument of a command (its first
 * operand) where a store is mounted?  Then say which store was meant.
 */
static int store_is_mount_point(int argc, char **argv)
{
	char abs[PATH_MAX], store[PATH_MAX];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--platform") ||
		    !strncmp(argv[i], "--max-layer-", 12)) {
			i++;	/* an option's value */
			continue;
		}
		if (argv[i][0] == '-')
			continue;
		if (!realpath(argv[i], abs) || govc_mount_source(abs, store, sizeof(store)))
			return 0;
		govc_fail("%s: '%s' is where store '%s' is mounted, not a store; "
			  "name the store: govc %s %s ...",
			  argv[0], argv[i], store, argv[0], store);
		return 1;
	}
	return 0;
}

/* A transport argument: "git:DIR" goes to git, anything else to OCI. */
static int is_git_location(const char *arg)
{
	return arg && !strncmp(arg, "git:", 4);
}

static int cmd_import(int argc, char **argv)
{
	if (argc >= 3 && is_git_location(argv[argc - 2]))
		return cmd_git_import(argc, argv);
	if (govc_wants_help(argc, argv)) {
		printf("usage: govc import STORE git:DIR REPO\n"
		       "  a repository from an ordinary git repository (its history intact)\n\n");
		/* then the image sources, options and rules in full */
	}
	return cmd_oci_import(argc, argv);
}

static int cmd_export(int argc, char **argv)
{
	if (argc >= 3 && is_git_location(argv[argc - 1]))
		return cmd_git_export(argc, argv);
	if (govc_wants_help(argc, argv)) {
		printf("usage: govc export STORE REPO git:DIR\n"
		       "  a repository to an ordinary git repository (its history intact)\n\n");
		/* then the image destinations in full */
	}
	return cmd_oci_export(argc, argv);
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "init", cmd_init },	  { "mount", cmd_mount },   { "umount", cmd_umount },
	{ "fsck", cmd_fsck },	  { "repos", cmd_repos },   { "log", cmd_log },
	{ "import", cmd_import }, { "export", cmd_export }, { "images", cmd_images },
	{ "rmi", cmd_rmi },	  { "gc", cmd_gc },	    { "rm-repo", cmd_rm_repo },
	{ "mv-repo", cmd_mv_repo }, { "du", cmd_du },	    { "compact", cmd_compact },
	{ "pull", cmd_pull },	  { "push", cmd_push },	    { "login", cmd_login },
	{ "logout", cmd_logout }, { "build", cmd_build },
};

/*
 * huge_pages - LMDB builds a transaction's large values (a committed file,
 * an imported layer's files) in memory from malloc, and every fresh 4 KiB
 * page of it costs a fault: half of a 1 GiB commit here.  With glibc's
 * malloc asking for transparent huge pages (glibc.malloc.hugetlb=1) the
 * kernel faults 2 MiB at a time (a 1 GiB write + fsync: 10-14 s became
 * 5.3-5.5 s).  glibc reads its tunables only as a program starts, so govc
 * executes itself once more with the tunable added, unless the caller
 * already set it (either way).
 */
static void huge_pages(char **argv)
{
	static const char tunable[] = "glibc.malloc.hugetlb";
	const char *was = getenv("GLIBC_TUNABLES");
	char *value;

	/* in secure mode (setuid, capabilities) glibc drops the tunable, so
	 * it would never be found: go on as we are */
	if ((was && strstr(was, tunable)) || getauxval(AT_SECURE))
		return;
	if (asprintf(&value, "%s%s%s=1", was ? was : "", was && *was ? ":" : "", tunable) < 0)
		return;
	if (setenv("GLIBC_TUNABLES", value, 1) == 0)
		execv("/proc/self/exe", argv);
	free(value);	/* no exec: go on with 4 KiB pages */
}

/* is_store - does DIR hold a store? */
static int is_store(const char *dir)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	return stat(path, &st) == 0;
}

/*
 * with_default_store - GOVC_STORE names the store when a command is given
 * none: if no argument of command ARGV[1] (one that takes a store) is a
 * store, GOVC_STORE goes in as its first argument that is not an option.
 * Returns the argument vector to use (ARGV itself when nothing changes).
 */
static char **with_default_store(int *argc, char **argv)
{
	static const char *const no_store[] = { "umount", "login", "logout" };
	static const char *const valued[] = { "-o", "--platform", "--max-layer-bytes",
					      "--max-layer-entries", "-u", "--username",
					      "--creds", "--cert-dir", "--authfile", "--commit",
					      "-f", "--file", "--target", "--build-arg",
					      "--secret", "-t", "--tag", "--timeout",
					      "--record" };
	const char *store = getenv("GOVC_STORE");
	char **v;
	int at = 2;

	if (!store || !*store || govc_wants_help(*argc - 1, argv + 1))
		return argv;
	for (size_t i = 0; i < sizeof(no_store) / sizeof(no_store[0]); i++)
		if (!strcmp(argv[1], no_store[i]))
			return argv;
	for (int i = 2; i < *argc; i++)
		if (argv[i][0] != '-' && is_store(argv[i]))
			return argv;	/* named already */
	while (at < *argc && argv[at][0] == '-') {
		for (size_t i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
			if (!strcmp(argv[at], valued[i]))
				at++;	/* and its value */
		at++;
	}
	if (at > *argc)
		at = *argc;
	v = calloc((size_t)*argc + 2, sizeof(*v));
	if (!v)
		return argv;
	memcpy(v, argv, (size_t)at * sizeof(*v));
	v[at] = (char *)store;
	memcpy(v + at + 1, argv + at, (size_t)(*argc - at) * sizeof(*v));
	++*argc;
	return v;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("govc %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		huge_pages(argv);
		/* the re-execution through /proc/self/exe names us "exe" */
		prctl(PR_SET_NAME, "govc", 0, 0, 0);
		argv = with_default_store(&argc, argv);
		if (strcmp(argv[1], "umount") && store_is_mount_point(argc - 1, argv + 1))
			return 1;
		git_libgit2_init();
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = commands[i].fn(argc - 1, argv + 1);
		curl_global_cleanup();
		git_libgit2_shutdown();
		return rc;
	}
	fprintf(stderr, "govc: '%s' is not a govc command; see 'govc --help'\n", argv[1]);
	return 2;
}
