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

int store_repo_create(struct store_txn *t, const char *name, const char *branch)
{
	unsigned char created[8];
	char head[STORE_REF_VALUE_MAX];
	uint64_t root;
	json_t *ev;
	char *line;
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
	ev = json_pack("{s:s, s:s, s:s, s:I}", "type", "repo", "repo", name, "branch", branch,
		       "time", (json_int_t)(store_now_ns() / 1000000000));
	line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!line)
		return store_error(-ENOMEM, "out of memory");
	rc = store_event_append(t, line);
	free(line);
	return rc;
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
