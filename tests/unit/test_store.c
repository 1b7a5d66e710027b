/*
 * test_store.c - the store core: opening and refusing stores, objects,
 * refs with compare-and-swap, the event log.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <git2.h>

#include "store/object.h"
#include "store/repo.h"
#include "store/store.h"
#include "store/store_int.h"

static char dir[64];

static int setup(void **state)
{
	struct store *s;

	snprintf(dir, sizeof(dir), "/tmp/govc-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(&s, dir, STORE_CREATE), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	store_free(*state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void test_open_refusals(void **state)
{
	struct store *s;
	char path[128];
	int fd;

	(void)state;
	/* no store there */
	assert_int_equal(store_open(&s, "/nonexistent/govc", 0), -ENOENT);
	assert_non_null(strstr(store_errmsg(), "govc init"));
	/* init refuses an existing store */
	assert_int_equal(store_open(&s, dir, STORE_CREATE), -EEXIST);
	/* garbage in place of data.mdb */
	snprintf(path, sizeof(path), "%s-bad", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s-bad/data.mdb", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(write(fd, "garbage!garbage!garbage!garbage!", 32), 32);
	close(fd);
	snprintf(path, sizeof(path), "%s-bad", dir);
	assert_int_equal(store_open(&s, path, 0), -EIO);
	assert_non_null(strstr(store_errmsg(), "corrupt"));
	snprintf(path, sizeof(path), "rm -rf %s-bad", dir);
	assert_int_equal(system(path), 0);
}

static void test_objects(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	git_oid id, found;
	const void *data;
	git_object_t type;
	size_t len;
	char hex[GIT_OID_HEXSZ + 1];

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_object_write(t, GIT_OBJECT_BLOB, "hello\n", 6, &id), 0);
	/* git hash-object of "hello\n" */
	assert_string_equal(git_oid_tostr(hex, sizeof(hex), &id),
			    "ce013625030ba8dba906f756967f9e9ca394464a");
	assert_int_equal(store_txn_commit(t), 0);

	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(store_object_read(t, &id, &type, &data, &len), 0);
	assert_int_equal(type, GIT_OBJECT_BLOB);
	assert_int_equal(len, 6);
	assert_memory_equal(data, "hello\n", 6);
	assert_int_equal(store_object_prefix(t, "ce0136", 6, &found), 0);
	assert_true(git_oid_equal(&found, &id));
	assert_int_equal(store_object_prefix(t, "ffff00", 6, &found), -ENOENT);
	assert_int_equal(store_object_prefix(t, "zz", 2, &found), -EINVAL);
	store_txn_abort(t);
}

/* bytes borrowed from a read transaction are found in the data file, so
 * FUSE reads can be answered by pread or splice of it (fs_reply_pieces) */
static void test_locate(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	size_t len = 300000, got;
	char *body = malloc(len), *back = malloc(len);
	const void *data;
	uint64_t off;
	git_oid id;
	int fd;

	for (size_t i = 0; i < len; i++)
		body[i] = (char)(i * 31 + i / 977);
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_object_write(t, GIT_OBJECT_BLOB, body, len, &id), 0);
	/* a write transaction's own pages are not in the file yet */
	assert_int_equal(store_object_read(t, &id, NULL, &data, &got), 0);
	assert_int_equal(store_locate(t, data, got, &fd, &off), -ERANGE);
	assert_int_equal(store_txn_commit(t), 0);

	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(store_object_read(t, &id, NULL, &data, &got), 0);
	assert_int_equal(store_locate(t, data, got, &fd, &off), 0);
	assert_int_equal(pread(fd, back, len, (off_t)off), (ssize_t)len);
	assert_memory_equal(back, body, len);
	assert_int_equal(store_locate(t, body, len, &fd, &off), -ERANGE);
	store_txn_abort(t);
	free(body);
	free(back);
}

static void test_refs_cas(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	char val[STORE_REF_VALUE_MAX];
	const char *a = "ce013625030ba8dba906f756967f9e9ca394464a";
	const char *b = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_repo_create(t, "r1", "main"), 0);
	assert_int_equal(store_repo_create(t, "r1", "main"), -EEXIST);
	assert_int_equal(store_repo_create(t, "../x", "main"), -EINVAL);
	assert_int_equal(store_repo_create(t, "a/b", "main"), -EINVAL);
	assert_int_equal(store_repo_create(t, ".hidden", "main"), -EINVAL);
	assert_int_equal(store_ref_write(t, "r1", "refs/heads/main", a, "", "first"), 0);
	/* a stale expectation fails and changes nothing */
	assert_int_equal(store_ref_write(t, "r1", "refs/heads/main", b, "", "second"), -EAGAIN);
	assert_int_equal(store_ref_write(t, "r1", "refs/heads/main", b, a, "second"), 0);
	assert_int_equal(store_ref_read(t, "r1", "refs/heads/main", val, sizeof(val)), 0);
	assert_string_equal(val, b);
	assert_int_equal(store_repo_head_branch(t, "r1", val, sizeof(val)), 0);
	assert_string_equal(val, "main");
	assert_int_equal(store_txn_commit(t), 0);
}

static void test_events(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	uint64_t size;
	char buf[64];

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_event_append(t, "{\"a\":1}"), 0);
	assert_int_equal(store_event_append(t, "{\"b\":22}"), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(store_events_size(t, &size), 0);
	assert_int_equal(size, 17);
	assert_int_equal(store_events_read(t, 0, buf, sizeof(buf)), 17);
	assert_memory_equal(buf, "{\"a\":1}\n{\"b\":22}\n", 17);
	/* reads from the middle of an event */
	assert_int_equal(store_events_read(t, 5, buf, 7), 7);
	assert_memory_equal(buf, "1}\n{\"b\"", 7);
	assert_int_equal(store_events_read(t, 17, buf, 10), 0);
	store_txn_abort(t);
}

/* the log is trimmed to its limits; offsets stay absolute and the trimmed
 * part reads as one line telling where the kept events start */
static void test_events_trimmed(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	char line[64], buf[4096], want[64];
	uint64_t size;
	long got;

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_events_set_limits(t, 300, 0), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"x\",\"n\":%02d,\"time\":%d}", i, 1000 + i);
		assert_int_equal(store_event_append(t, line), 0);	/* 31 bytes + \n */
	}
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	assert_int_equal(store_events_size(t, &size), 0);
	assert_int_equal(size, 40 * 32);
	got = store_events_read(t, 0, buf, sizeof(buf));
	assert_int_equal(got, 40 * 32);
	/* 300 bytes kept: the last 8 events, from offset 31 * 32 */
	snprintf(want, sizeof(want), "{\"type\":\"trimmed\",\"upto\":%d}\n", 31 * 32);
	assert_memory_equal(buf + 31 * 32 - strlen(want), want, strlen(want));
	assert_true(buf[0] == ' ' && !memchr(buf, '\n', 31 * 32 - 1));
	assert_memory_equal(buf + 31 * 32, "{\"type\":\"x\",\"n\":31,", 19);
	assert_memory_equal(buf + 39 * 32, "{\"type\":\"x\",\"n\":39,", 19);
	/* a reader that fell behind reads on from its old offset */
	got = store_events_read(t, 10 * 32, buf, sizeof(buf));
	assert_int_equal(got, 30 * 32);
	assert_memory_equal(buf + 21 * 32 - strlen(want), want, strlen(want));
	store_txn_abort(t);

	/* an age limit drops what is older, never the newest */
	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_events_set_limits(t, 0, 3600), 0);
	assert_int_equal(store_event_append(t, "{\"type\":\"y\",\"time\":1}"), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_int_equal(store_txn_begin(&t, s, 0), 0);
	got = store_events_read(t, 0, buf, sizeof(buf));
	assert_int_equal(got, 40 * 32 + 22);
	assert_memory_equal(buf + 40 * 32, "{\"type\":\"y\",\"time\":1}\n", 22);
	snprintf(want, sizeof(want), "{\"type\":\"trimmed\",\"upto\":%d}\n", 40 * 32);
	assert_memory_equal(buf + 40 * 32 - strlen(want), want, strlen(want));
	store_txn_abort(t);
}

static void test_generation(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	uint64_t g1 = store_generation(s), id;

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_next_id(t, "x", &id), 0);
	assert_int_equal(store_txn_commit(t), 0);
	assert_true(store_generation(s) > g1);
}

/* a checkpoint syncing in another thread: it holds ckpt_lock until told */
static int syncing;	/* atomic: 1 held, 0 release */

static void *checkpoint_syncing(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->ckpt_lock);
	__atomic_store_n(&syncing, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&syncing, __ATOMIC_ACQUIRE))
		usleep(1000);
	pthread_mutex_unlock(&s->ckpt_lock);
	return NULL;
}

/* writers never wait for a checkpoint's sync: a write transaction begins
 * and commits while a checkpoint holds its lock (they used to wait for
 * the whole sync: writes of 100-300 ms on a mount beside a pull) */
static void test_write_during_checkpoint(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	pthread_t th;
	uint64_t id;

	assert_int_equal(pthread_create(&th, NULL, checkpoint_syncing, s), 0);
	while (!__atomic_load_n(&syncing, __ATOMIC_ACQUIRE))
		usleep(1000);
	alarm(10);	/* a writer that waits is killed: the test fails */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
		assert_int_equal(store_next_id(t, "x", &id), 0);
		assert_int_equal(store_txn_commit(t), 0);
		if (i == 1)
			sleep(1);	/* a checkpoint is due now */
	}
	alarm(0);
	__atomic_store_n(&syncing, 0, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	assert_int_equal(store_checkpoint(s), 0);
}

/* another process checkpoints a newer state: a process that writes keeps
 * its own checkpoint's snapshot until its next checkpoint (it used to drop
 * it, so its next write had to checkpoint first and wait for the sync of
 * all the other had written); an idle one drops it (it would only keep
 * freed pages from reuse) */
static void other_process_checkpoints(void)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *o;
		struct store_txn *t;
		uint64_t id;
		int ok = store_open(&o, dir, 0) == 0 &&
			 store_txn_begin(&t, o, STORE_TXN_WRITE) == 0 &&
			 store_next_id(t, "x", &id) == 0 && store_txn_commit(t) == 0;

		store_free(o);	/* its checkpoint, newer than ours */
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_newer_checkpoint_elsewhere(void **state)
{
	struct store *s = *state;
	struct store_txn *t;
	uint64_t id;

	assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
	assert_int_equal(store_next_id(t, "y", &id), 0);
	assert_int_equal(store_txn_commit(t), 0);	/* we write: not idle */
	other_process_checkpoints();
	assert_int_equal(store_checkpoint_due(s), 0);
	assert_non_null(s->ckpt_reader);

	assert_int_equal(store_checkpoint(s), 0);	/* idle from now on */
	other_process_checkpoints();
	assert_int_equal(store_checkpoint_due(s), 0);
	assert_null(s->ckpt_reader);
}

static int bulk_stop;		/* atomic */
static unsigned bulk_commits;	/* atomic */

static void spin_ms(long ms)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

/* a thread keeping a CPU busy, as a pull's hashing threads do */
static void *spinner(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&bulk_stop, __ATOMIC_ACQUIRE))
		spin_ms(1);
	return NULL;
}

/* a bulk writer committing again and again, counting its commits */

static void *bulk_writer(void *arg)
{
	struct store *s = arg;

	while (!__atomic_load_n(&bulk_stop, __ATOMIC_ACQUIRE)) {
		struct store_txn *t;
		uint64_t id;

		if (store_txn_begin(&t, s, STORE_TXN_WRITE | STORE_TXN_BULK))
			break;
		store_next_id(t, "bulk", &id);
		spin_ms(2);	/* a few ms of work, as an ingest session's */
		if (store_txn_commit(t))
			break;
		__atomic_add_fetch(&bulk_commits, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* a bulk writer that takes LMDB's writer lock again the moment it lets
 * it go yields it to a writer that waits: that writer waits for the
 * bulk transaction in flight, not for a run of them (a pull kept a
 * mount's write waiting 400 ms) */
static void test_bulk_yields(void **state)
{
	struct store *s = *state;
	pthread_t th, spin[2];
	unsigned worst = 0;

	assert_int_equal(pthread_create(&th, NULL, bulk_writer, s), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&spin[i], NULL, spinner, NULL), 0);
	while (__atomic_load_n(&bulk_commits, __ATOMIC_ACQUIRE) < 3)
		usleep(1000);
	for (int i = 0; i < 20; i++) {
		struct store_txn *t;
		uint64_t id;
		unsigned before = __atomic_load_n(&bulk_commits, __ATOMIC_ACQUIRE), passed;

		assert_int_equal(store_txn_begin(&t, s, STORE_TXN_WRITE), 0);
		passed = __atomic_load_n(&bulk_commits, __ATOMIC_ACQUIRE) - before;
		worst = passed > worst ? passed : worst;
		assert_int_equal(store_next_id(t, "x", &id), 0);
		assert_int_equal(store_txn_commit(t), 0);
		usleep(3000);
	}
	__atomic_store_n(&bulk_stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(spin[i], NULL);
	print_message("bulk commits while a writer waited: at most %u\n", worst);
	assert_true(worst <= 2);
}

/* store_has_error: whether a message was recorded (store_errmsg() always
 * gives a text, so testing its first byte told nothing: an import and the
 * registry client did) */
static void test_has_error(void **state)
{
	(void)state;
	store_error_clear();
	assert_false(store_has_error());
	assert_string_equal(store_errmsg(), "unknown error");
	assert_int_equal(store_error(-ENOENT, "no %s", "thing"), -ENOENT);
	assert_true(store_has_error());
	assert_string_equal(store_errmsg(), "no thing");
	store_error_clear();
	assert_false(store_has_error());
}

/* a message built from the last one keeps it whole (issue 16: it read
 * "index.json: index.json: def' is not a digest") */
static void test_error_wraps_last(void **state)
{
	(void)state;
	store_error(-EINVAL, "'%s' is not a digest", "abcdef");
	assert_int_equal(store_error(-EBADMSG, "%s: %s", "index.json", store_errmsg()), -EBADMSG);
	assert_string_equal(store_errmsg(), "index.json: 'abcdef' is not a digest");
}

/* cursor loops translate LMDB codes once and pass errnos through */
static void test_cursor_end(void **state)
{
	(void)state;
	assert_int_equal(store_cursor_end(MDB_NOTFOUND, "t"), 0);
	assert_int_equal(store_cursor_end(0, "t"), 0);
	assert_int_equal(store_cursor_end(MDB_CORRUPTED, "dirents"), -EIO);
	assert_non_null(strstr(store_errmsg(), "dirents: the store is corrupt"));
	assert_int_equal(store_cursor_end(MDB_PAGE_NOTFOUND, "t"), -EIO);
	assert_int_equal(store_cursor_end(MDB_MAP_FULL, "t"), -ENOSPC);
	assert_int_equal(store_cursor_end(-ENOENT, "t"), -ENOENT);
	assert_int_equal(store_cursor_end(-ENAMETOOLONG, "t"), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_cas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_trimmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_during_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_checkpoint_elsewhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_yields, setup, teardown),
		cmocka_unit_test(test_has_error),
		cmocka_unit_test(test_error_wraps_last),
		cmocka_unit_test(test_cursor_end),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	git_libgit2_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
