/*
 * repo.c - repositories, refs and the reflog (see repo.h).
 *
 * Keys: refs "repo\0refname", reflog "repo\0refname\0<be64 seq>",
 * repos "repo" -> creation time (be64 ns).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include <git2/oid.h>

#include "store/gc.h"
#include "store/repo.h"
#include "store/store_int.h"
#include "store/worktree.h"

#define REF_KEY_MAX (STORE_REPO_NAME_MAX + 1 + STORE_REF_NAME_MAX + 1 + 8)

static int name_check(const char *what, const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return store_error(-EINVAL, "%s name is empty", what);
	if (len > STORE_REPO_NAME_MAX)
		return store_error(-EINVAL, "%s name '%.40s...' is longer than %d characters",
				   what, name, STORE_REPO_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return store_error(-EINVAL, "%s name '%s' must not start with '%c'", what, name,
				   name[0]);
	for (const char *p = name; *p; p++) {
		char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			continue;
		return store_error(-EINVAL,
				   "%s name '%s' has '%c'; use letters, digits, '.', '_' and '-'",
				   what, name, c);
	}
	if (len >= 5 && !strcmp(name + len - 5, ".lock"))
		return store_error(-EINVAL, "%s name '%s' must not end in .lock", what, name);
	return 0;
}

int store_repo_name_check(const char *name)
{
	return name_check("repository", name);
}

int store_branch_name_check(const char *name)
{
	return name_check("branch", name);
}

static int ref_key(char *key, const char *repo, const char *name)
{
	size_t rl = strlen(repo), nl = strlen(name);

	if (rl > STORE_REPO_NAME_MAX || nl > STORE_REF_NAME_MAX || nl == 0)
		return store_error(-EINVAL, "bad ref name '%s'", name);
	memcpy(key, repo, rl + 1);
	memcpy(key + rl + 1, name, nl);
	return (int)(rl + 1 + nl);
}

int store_repo_exists(struct store_txn *t, const char *name)
{
	MDB_val v;
	int rc;

	if (!*name || strlen(name) > STORE_REPO_NAME_MAX)
		return 0;
	rc = store_get(t, TBL_REPOS, name, strlen(name), &v);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : 1;
}

/*
 * repo_event - raise {"type":"repo","repo":NAME,"action":ACTION,...}; KEY
 * and VALUE (if KEY is not NULL) add a field ("branch", "from").
 */
static int repo_event(struct store_txn *t, const char *name, const char *action,
		      const char *key, const char *value)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:I}", "type", "repo", "repo", name, "action",
			       action, "time", (json_int_t)(store_now_ns() / 1000000000));

	if (ev && key)
		json_object_set_new(ev, key, json_string(value));
	return store_event_raise(t, ev);
}

int store_repo_create(struct store_txn *t, const char *name, const char *branch)
{
	unsigned char created[8];
	char head[STORE_REF_VALUE_MAX];
	uint64_t root;
	int rc;

	rc = store_repo_name_check(name);
	if (rc)
		return rc;
	rc = store_branch_name_check(branch);
	if (rc)
		return rc;
	store_be64_put(created, (uint64_t)store_now_ns());
	rc = store_put(t, TBL_REPOS, name, strlen(name), created, 8, MDB_NOOVERWRITE);
	if (rc == -EEXIST)
		return store_error(-EEXIST, "repository '%s' already exists", name);
	if (rc)
		return rc;
	snprintf(head, sizeof(head), "ref: refs/heads/%s", branch);
	rc = store_ref_write(t, name, "HEAD", head, NULL, "create repository");
	if (rc)
		return rc;
	rc = store_wt_create(t, name, branch, NULL, &root);
	if (rc)
		return rc;
	return repo_event(t, name, "created", "branch", branch);
}

int store_repo_foreach(struct store_txn *t, int (*cb)(const char *, void *), void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	char name[STORE_REPO_NAME_MAX + 1];
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_REPOS), &c);

	if (rc)
		return store_mdb_error(rc, "repos");
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		if (k.mv_size > STORE_REPO_NAME_MAX)
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		rc = cb(name, arg);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "repos");
}

int store_ref_read(struct store_txn *t, const char *repo, const char *name, char *buf,
		   size_t len)
{
	char key[REF_KEY_MAX];
	MDB_val v;
	int klen = ref_key(key, repo, name);
	int rc;

	if (klen < 0)
		return klen;
	rc = store_get(t, TBL_REFS, key, (size_t)klen, &v);
	if (rc)
		return rc;
	if (v.mv_size >= len)
		return store_error(-ERANGE, "ref '%s' of '%s' is too long", name, repo);
	memcpy(buf, v.mv_data, v.mv_size);
	buf[v.mv_size] = '\0';
	return 0;
}

int store_repo_head_branch(struct store_txn *t, const char *repo, char *buf, size_t len)
{
	char head[STORE_REF_VALUE_MAX];
	int rc = store_ref_read(t, repo, "HEAD", head, sizeof(head));

	if (rc == -ENOENT)
		return store_error(-ENOENT, "no repository '%s'", repo);
	if (rc)
		return rc;
	if (strncmp(head, "ref: refs/heads/", 16) != 0)
		return store_error(-EINVAL, "HEAD of '%s' is detached", repo);
	if (strlen(head + 16) >= len)
		return store_error(-ERANGE, "branch name too long");
	strcpy(buf, head + 16);
	return 0;
}

int store_ref_resolve(struct store_txn *t, const char *repo, const char *name, git_oid *out)
{
	char val[STORE_REF_VALUE_MAX], cur[STORE_REF_VALUE_MAX];
	int rc;

	snprintf(cur, sizeof(cur), "%s", name);
	for (int depth = 0; depth < 5; depth++) {
		rc = store_ref_read(t, repo, cur, val, sizeof(val));
		if (rc)
			return rc;
		if (strncmp(val, "ref: ", 5) != 0)
			return git_oid_fromstrn(out, val, strlen(val)) == 0 && strlen(val) == GIT_OID_HEXSZ
				       ? 0
				       : store_error(-EIO, "ref '%s' of '%s' is corrupt", cur, repo);
		snprintf(cur, sizeof(cur), "%s", val + 5);
	}
	return store_error(-ELOOP, "ref '%s' of '%s' nests too deeply", name, repo);
}

static int reflog_append(struct store_txn *t, const char *repo, const char *name,
			 const char *old, const char *value, const char *message)
{
	char key[REF_KEY_MAX], line[1024];
	uint64_t seq;
	int klen = ref_key(key, repo, name);
	int n, rc;

	if (klen < 0)
		return klen;
	rc = store_next_id(t, "reflog", &seq);
	if (rc)
		return rc;
	key[klen] = '\0';
	store_be64_put((unsigned char *)key + klen + 1, seq);
	n = snprintf(line, sizeof(line), "%s %s %lld %s", old && *old ? old : "-", value,
		     (long long)(store_now_ns() / 1000000000), message ? message : "");
	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	return store_put(t, TBL_REFLOG, key, (size_t)klen + 9, line, (size_t)n, 0);
}

static int ref_cas(struct store_txn *t, const char *repo, const char *name, const char *old,
		   char *cur, size_t curlen)
{
	int rc = store_ref_read(t, repo, name, cur, curlen);

	if (rc == -ENOENT)
		cur[0] = '\0';
	else if (rc)
		return rc;
	if (old && strcmp(old, cur) != 0)
		return store_error(-EAGAIN, "ref '%s' of '%s' changed concurrently", name, repo);
	return 0;
}

int store_ref_write(struct store_txn *t, const char *repo, const char *name, const char *value,
		    const char *old, const char *message)
{
	char key[REF_KEY_MAX], cur[STORE_REF_VALUE_MAX];
	int klen = ref_key(key, repo, name);
	int rc;

	if (klen < 0)
		return klen;
	if (strlen(value) >= STORE_REF_VALUE_MAX)
		return store_error(-EINVAL, "ref value too long");
	rc = ref_cas(t, repo, name, old, cur, sizeof(cur));
	if (rc)
		return rc;
	rc = store_put(t, TBL_REFS, key, (size_t)klen, value, strlen(value), 0);
	if (rc == 0 && strlen(value) >= GIT_OID_HEXSZ) {
		git_oid id;
		/* a gc running now must keep the commit and its history */
		if (git_oid_fromstrn(&id, value, GIT_OID_HEXSZ) == 0)
			rc = store_gc_touch(t, 'g', id.id, GIT_OID_RAWSZ);
	}
	if (rc)
		return rc;
	return reflog_append(t, repo, name, cur, value, message);
}

int store_ref_delete(struct store_txn *t, const char *repo, const char *name, const char *old)
{
	char key[REF_KEY_MAX], cur[STORE_REF_VALUE_MAX];
	int klen = ref_key(key, repo, name);
	int rc;

	if (klen < 0)
		return klen;
	rc = ref_cas(t, repo, name, old, cur, sizeof(cur));
	if (rc)
		return rc;
	if (!cur[0])
		return -ENOENT;
	rc = store_del(t, TBL_REFS, key, (size_t)klen);
	if (rc)
		return rc;
	return reflog_append(t, repo, name, cur, "-", "delete");
}

int store_ref_foreach(struct store_txn *t, const char *repo, const char *prefix,
		      int (*cb)(const char *, const char *, void *), void *arg)
{
	char key[REF_KEY_MAX], name[STORE_REF_NAME_MAX + 1], val[STORE_REF_VALUE_MAX];
	size_t rl = strlen(repo), pl = prefix ? strlen(prefix) : 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (rl > STORE_REPO_NAME_MAX || pl > STORE_REF_NAME_MAX)
		return store_error(-EINVAL, "bad ref prefix");
	memcpy(key, repo, rl + 1);
	if (pl)
		memcpy(key + rl + 1, prefix, pl);
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_REFS), &c);
	if (rc)
		return store_mdb_error(rc, "refs");
	k.mv_size = rl + 1 + pl;
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		size_t nl = k.mv_size - rl - 1;
		if (k.mv_size < rl + 1 + pl || memcmp(k.mv_data, key, rl + 1 + pl) != 0)
			break;
		if (nl <= STORE_REF_NAME_MAX && v.mv_size < sizeof(val)) {
			memcpy(name, (char *)k.mv_data + rl + 1, nl);
			name[nl] = '\0';
			memcpy(val, v.mv_data, v.mv_size);
			val[v.mv_size] = '\0';
			rc = cb(name, val, arg);
			if (rc)
				break;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "refs");
}

int store_reflog_foreach(struct store_txn *t, const char *repo, const char *name,
			 int (*cb)(const char *, size_t, void *), void *arg)
{
	char key[REF_KEY_MAX];
	int klen = ref_key(key, repo, name);
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (klen < 0)
		return klen;
	key[klen++] = '\0';
	rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, TBL_REFLOG), &c);
	if (rc)
		return store_mdb_error(rc, "reflog");
	k.mv_size = (size_t)klen;
	k.mv_data = key;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == (size_t)klen + 8 &&
	       memcmp(k.mv_data, key, (size_t)klen) == 0) {
		rc = cb(v.mv_data, v.mv_size, arg);
		if (rc)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return store_cursor_end(rc, "reflog");
}

/* ---- removing and renaming ------------------------------------------------ */

struct wt_of_repo {
	const char *repo;
	char (*branches)[STORE_REF_NAME_MAX + 1];
	size_t n, cap;
};

static int add_branch(const char *repo, const char *branch, uint64_t root, void *arg)
{
	struct wt_of_repo *w = arg;

	(void)root;
	if (strcmp(repo, w->repo))
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;
		void *nb = realloc(w->branches, cap * sizeof(*w->branches));
		if (!nb)
			return store_error(-ENOMEM, "out of memory");
		w->branches = nb;
		w->cap = cap;
	}
	snprintf(w->branches[w->n++], sizeof(w->branches[0]), "%s", branch);
	return 0;
}

static int count_entry(const char *name, const struct store_inode *n, void *arg)
{
	(void)name;
	(void)n;
	++*(int *)arg;
	return 1;	/* one is enough */
}

/* repo_is_empty - 1 if REPO has no commit and only empty working trees */
static int repo_is_empty(struct store_txn *t, const char *repo, const struct wt_of_repo *w)
{
	git_oid head;
	int rc = store_ref_resolve(t, repo, "HEAD", &head);

	if (rc == 0)
		return 0;
	if (rc != -ENOENT)
		return rc;
	for (size_t i = 0; i < w->n; i++) {
		uint64_t root;
		int entries = 0;
		rc = store_wt_root(t, repo, w->branches[i], &root);
		if (rc == 0)
			rc = store_wt_readdir(t, root, NULL, count_entry, &entries);
		if (rc < 0)
			return rc;
		if (entries)
			return 0;
	}
	return 1;
}

int store_repo_remove(struct store_txn *t, const char *name, int only_if_empty)
{
	struct wt_of_repo w = { .repo = name };
	char prefix[STORE_REPO_NAME_MAX + 1];
	size_t plen = strlen(name) + 1;
	int rc = store_repo_exists(t, name);

	if (rc == 0)
		return store_error(-ENOENT, "no repository '%s'", name);
	if (rc < 0)
		return rc;
	memcpy(prefix, name, plen);
	rc = store_wt_foreach(t, 0, add_branch, &w);
	if (rc == 0 && only_if_empty) {
		rc = repo_is_empty(t, name, &w);
		if (rc == 0)
			rc = store_error(-ENOTEMPTY,
					 "repository '%s' has files or history; remove it with: "
					 "govc rm-repo STORE %s --yes",
					 name, name);
		else if (rc == 1)
			rc = 0;
	}
	for (size_t i = 0; rc == 0 && i < w.n; i++)
		rc = store_wt_remove(t, name, w.branches[i]);
	free(w.branches);
	if (rc == 0)
		rc = store_del_prefix(t, TBL_REFS, prefix, plen);
	if (rc == 0)
		rc = store_del_prefix(t, TBL_REFLOG, prefix, plen);
	if (rc == 0)
		rc = store_del(t, TBL_REPOS, name, plen - 1);
	return rc ? rc : repo_event(t, name, "removed", NULL, NULL);
}

/* move_prefix - rename every key of TBL starting with OLD\0 to NEW\0... */
static int move_prefix(struct store_txn *t, enum store_table tbl, const char *old,
		       const char *new)
{
	size_t ol = strlen(old) + 1, nl = strlen(new) + 1;
	MDB_cursor *c;
	MDB_val k = { ol, (void *)old }, v;
	int rc = mdb_cursor_open(store_mdb_txn(t), store_dbi(t, tbl), &c);

	if (rc)
		return store_mdb_error(rc, "repository keys");
	/* OLD\0 sorts before every key it starts: take each from the front */
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) == 0 && k.mv_size >= ol &&
	       !memcmp(k.mv_data, old, ol)) {
		size_t rest = k.mv_size - ol;
		unsigned char *nk = malloc(nl + rest), *nv = malloc(v.mv_size ? v.mv_size : 1);

		if (!nk || !nv) {
			free(nk);
			free(nv);
			mdb_cursor_close(c);
			return store_error(-ENOMEM, "out of memory");
		}
		memcpy(nk, new, nl);
		memcpy(nk + nl, (char *)k.mv_data + ol, rest);
		memcpy(nv, v.mv_data, v.mv_size);
		rc = mdb_cursor_del(c, 0);
		if (rc == 0)
			rc = store_put(t, tbl, nk, nl + rest, nv, v.mv_size, MDB_NOOVERWRITE);
		free(nk);
		free(nv);
		if (rc) {
			mdb_cursor_close(c);
			return rc > 0 ? store_mdb_error(rc, "repository keys") : rc;
		}
		k.mv_size = ol;
		k.mv_data = (void *)old;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_mdb_error(rc, "repository keys");
}

int store_repo_rename(struct store_txn *t, const char *old, const char *new)
{
	MDB_val v;
	unsigned char created[8];
	int rc = store_repo_name_check(new);

	if (rc)
		return rc;
	rc = store_get(t, TBL_REPOS, old, strlen(old), &v);
	if (rc == -ENOENT)
		return store_error(-ENOENT, "no repository '%s'", old);
	if (rc)
		return rc;
	if (v.mv_size != sizeof(created))
		return store_error(-EIO, "record of repository '%s' is corrupt", old);
	memcpy(created, v.mv_data, sizeof(created));
	rc = store_repo_exists(t, new);
	if (rc)
		return rc < 0 ? rc : store_error(-EEXIST, "repository '%s' already exists", new);
	rc = store_put(t, TBL_REPOS, new, strlen(new), created, sizeof(created), MDB_NOOVERWRITE);
	if (rc == 0)
		rc = store_del(t, TBL_REPOS, old, strlen(old));
	if (rc == 0)
		rc = move_prefix(t, TBL_REFS, old, new);
	if (rc == 0)
		rc = move_prefix(t, TBL_REFLOG, old, new);
	if (rc == 0)
		rc = move_prefix(t, TBL_WORKTREES, old, new);
	if (rc == 0)
		rc = repo_event(t, old, "removed", NULL, NULL);
	return rc ? rc : repo_event(t, new, "renamed", "from", old);
}
