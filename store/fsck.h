/*
 * fsck.h - checking a store: every object's id matches its content and it
 * parses; every ref points at an existing commit whose history and trees
 * are complete; working trees are consistent (each dirent names an
 * existing inode whose parent is that directory, base blobs exist).
 */
#ifndef GOVC_FSCK_H
#define GOVC_FSCK_H

#include <stdio.h>
#include "store/store.h"

/*
 * store_fsck - check store S and print one line per problem to OUT
 * (e.g. "object 1234...: id does not match content").
 * Returns 0 if the store is sound, -EIO if damage was found, or another
 * negative errno if the check itself could not run.
 */
int store_fsck(struct store *s, FILE *out, unsigned long *nobjects);

#endif
