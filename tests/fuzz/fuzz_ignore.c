/*
 * fuzz_ignore.c - libFuzzer harness for the ignore-pattern matcher: the
 * first line of the input is a path, the rest a .gitignore (or, by the
 * first byte's low bit, a .dockerignore) matched against it and its parts.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/ignore.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	const char *text = (const char *)data, *nl = memchr(text, '\n', len);
	size_t plen = nl ? (size_t)(nl - text) : len;
	struct util_ignore *ig;
	char *path;

	if (!len || plen > 4096)
		return 0;
	path = malloc(plen + 1);
	if (!path)
		return 0;
	memcpy(path, text, plen);
	path[plen] = '\0';
	if (util_ignore_compile(&ig, nl ? nl + 1 : "", nl ? len - plen - 1 : 0, "",
				(data[0] & 1) ? UTIL_IGNORE_ANCHORED : 0) == 0) {
		util_ignore_match(ig, path, 0);
		util_ignore_match(ig, path, 1);
		util_ignore_check(ig, path, 1);
		util_ignore_free(ig);
	}
	util_wildmatch(path, path);
	free(path);
	return 0;
}
