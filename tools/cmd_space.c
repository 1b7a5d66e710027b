/*
 * cmd_space.c - govc du (what uses a store's space) and govc compact
 * (give its free pages back to the file system).
 */
#include "config.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "tools/govc.h"

/* what each table holds, in the words of docs/formats.md */
static const struct {
	const char *table, *what;
} meaning[] = {
	{ "objects", "file contents, trees, commits (repositories and images)" },
	{ "chunks", "large files' chunks, and files written since their commit" },
	{ "oci_blobs", "image blobs as they came (layers, manifests, configs)" },
	{ "oci_files", "layer indexes (one record per file of a layer)" },
	{ "inodes", "working trees: files and directories" },
	{ "dirents", "working trees: directory entries" },
	{ "xattrs", "working trees: extended attributes" },
	{ "events", "the event log" },
	{ "reflog", "ref history" },
};

static uint64_t cache_bytes;

static int add_bytes(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	cache_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

int cmd_du(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc du STORE\n"
		"\n"
		"Show what uses STORE's space: the bytes of each table's pages, the\n"
		"free pages (freed by gc or by changes, reused by later writes; LMDB\n"
		"never gives them back to the file system, `govc compact` does), and\n"
		"the file's size.  Works while the store is mounted.\n";
	struct store_usage u;
	struct store *s;
	char a[32], b[32];

	if (govc_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (store_open(&s, argv[1], STORE_RDONLY))
		return govc_fail("du: %s", store_errmsg());
	if (store_usage(s, &u)) {
		store_free(s);
		return govc_fail("du: %s", store_errmsg());
	}
	store_free(s);
	printf("%-12s %10s %12s  %s\n", "TABLE", "SIZE", "ENTRIES", "HOLDS");
	for (unsigned i = 0; i < u.ntables; i++) {
		const char *what = "";

		if (!u.tables[i].bytes)
			continue;
		for (size_t j = 0; j < sizeof(meaning) / sizeof(meaning[0]); j++)
			if (!strcmp(meaning[j].table, u.tables[i].name))
				what = meaning[j].what;
		govc_human_size(a, sizeof(a), u.tables[i].bytes);
		printf("%-12s %10s %12llu  %s\n", u.tables[i].name, a,
		       (unsigned long long)u.tables[i].entries, what);
	}
	govc_human_size(a, sizeof(a), u.free_bytes);
	printf("%-12s %10s %12s  %s\n", "(free)", a, "", "free pages: reused by later writes");
	govc_human_size(a, sizeof(a), u.used_bytes);
	govc_human_size(b, sizeof(b), u.file_bytes);
	printf("in use %s of a %s file (govc compact STORE gives the rest back)\n", a, b);
	{
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s/build-cache", argv[1]);
		cache_bytes = 0;
		if (nftw(dir, add_bytes, 32, FTW_PHYS | FTW_MOUNT) == 0 && cache_bytes) {
			govc_human_size(a, sizeof(a), cache_bytes);
			printf("build cache %s beside it: unpacked layers, RUN cache mounts"
			       " (govc gc --build-cache removes it)\n", a);
		}
	}
	return 0;
}

int cmd_compact(int argc, char **argv)
{
	static const char usage[] =
		"usage: govc compact STORE\n"
		"\n"
		"Rewrite STORE without its free pages, so that data.mdb shrinks to what\n"
		"is in use (run `govc gc STORE` first to free what nothing reaches).\n"
		"The store must not be in use: unmount it and let other commands end.\n"
		"Takes as long as copying what is in use.\n";
	uint64_t before, after;
	char a[32], b[32];

	if (govc_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (store_compact(argv[1], &before, &after))
		return govc_fail("compact: %s", store_errmsg());
	govc_human_size(a, sizeof(a), before);
	govc_human_size(b, sizeof(b), after);
	printf("compacted %s: %s -> %s\n", argv[1], a, b);
	return 0;
}
