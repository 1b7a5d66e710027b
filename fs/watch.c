/*
 * watch.c - keep the kernel's caches true when the store changes under
 * the mount: a thread follows the event log (every change of names and
 * tags raises an event, from whichever process made it) and tells the
 * kernel, with libfuse's notify calls, which cached entries and listings
 * are stale.  So the image views can be cached for long and still show an
 * import or a `govc rmi` run beside the mount at once.  It also runs the
 * build queue (builds.c): commits it sees may queue builds, and it reaps
 * and starts build processes.
 *
 * Threads: one watcher thread.  It reads the store in read transactions
 * of its own and takes fs->lock only to look nodes up; it holds no lock
 * while it notifies the kernel (a notify may wait for a request in flight
 * in another handler).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <jansson.h>

#include "fs/fs_int.h"
#include "util/array.h"
#include "util/proc.h"

#define WATCH_PERIOD_NS (100LL * 1000000)
#define USERS_EVERY 5		/* periods between scans for images in use */
#define EVENT_READ_MAX (256u << 10)
#define EVENT_LINE_MAX (16u << 20)

static const char *const image_entries[] = { "manifest.json", "config.json", "layers", "rootfs",
					     "tags" };

/*
 * inval_entry - make the kernel look NAME up again.  Expire, where the
 * kernel can (FUSE_CAP_EXPIRE_ONLY), rather than invalidate: invalidation
 * unhashes the dentry at once, and a dentry in use (a container's root
 * bind-mounted from images/<name>/rootfs, a shell's working directory) then
 * counts as deleted (pivot_root fails with ENOENT, getcwd too), although
 * the name may still lead to the same node.  An expired entry is looked up
 * at its next use and dropped only if the node changed.
 */
static void inval_entry(struct fs *fs, fuse_ino_t parent, const char *name)
{
	if (__atomic_load_n(&fs->can_expire, __ATOMIC_ACQUIRE) &&
	    fuse_lowlevel_notify_expire_entry(fs->se, parent, name, strlen(name),
					      FUSE_LL_EXPIRE_ONLY) != -ENOSYS)
		return;
	fuse_lowlevel_notify_inval_entry(fs->se, parent, name, strlen(name));
}

static void inval_dir(struct fs *fs, fuse_ino_t dir)
{
	/* the listing the kernel cached, and the attributes */
	fuse_lowlevel_notify_inval_inode(fs->se, dir, 0, 0);
}

/* image_changed - tag TAG of image NAME was set or removed */
static void image_changed(struct fs *fs, const char *name, const char *tag)
{
	char prefix[OCI_NAME_MAX + 1];
	const char *p = name;
	fuse_ino_t dir = FS_ID_IMAGES;

	/* each directory on the way to images/<name>/: its next component */
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		char comp[OCI_NAME_MAX + 1];

		snprintf(comp, sizeof(comp), "%.*s", (int)len, p);
		inval_entry(fs, dir, comp);
		inval_dir(fs, dir);
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(p + len - name), name);
		dir = fs_node_find(fs, FS_K_IMG_DIR, prefix, strlen(prefix));
		if (!dir || !slash)
			break;
		p = slash + 1;
	}
	if (dir) {
		for (size_t i = 0; i < sizeof(image_entries) / sizeof(image_entries[0]); i++)
			inval_entry(fs, dir, image_entries[i]);
		inval_dir(fs, dir);
	}
	dir = fs_node_find(fs, FS_K_IMG_TAGS, name, strlen(name));
	if (dir && tag) {
		inval_entry(fs, dir, tag);
		inval_dir(fs, dir);
	}
	inval_dir(fs, FS_ID_OCI_INDEX);
	inval_dir(fs, FS_ID_OCI_SHA256);
	inval_dir(fs, FS_ID_LAYERS);
}

static void handle(struct fs *fs, const char *line, size_t len)
{
	json_t *ev = json_loadb(line, len, 0, NULL);
	const char *type = ev ? json_string_value(json_object_get(ev, "type")) : NULL;

	if (type && !strcmp(type, "image")) {
		const char *name = json_string_value(json_object_get(ev, "name"));
		const char *tag = json_string_value(json_object_get(ev, "tag"));
		if (name)
			image_changed(fs, name, tag);
	} else if (type && !strcmp(type, "repo")) {
		const char *repo = json_string_value(json_object_get(ev, "repo"));
		if (repo) {
			inval_entry(fs, FS_ID_REPOS, repo);
			inval_entry(fs, FS_ID_COMMITS, repo);
			inval_entry(fs, FS_ID_LOG, repo);
		}
		inval_dir(fs, FS_ID_REPOS);
		inval_dir(fs, FS_ID_COMMITS);
		inval_dir(fs, FS_ID_LOG);
	} else if (type && !strcmp(type, "commit")) {
		const char *repo = json_string_value(json_object_get(ev, "repo"));
		const char *branch = json_string_value(json_object_get(ev, "branch"));
		const char *id = json_string_value(json_object_get(ev, "id"));
		fuse_ino_t dir = repo ? fs_node_find(fs, FS_K_COMMITS_REPO, repo, strlen(repo)) : 0;
		if (dir)
			inval_dir(fs, dir);
		if (repo && branch && id)
			fs_builds_commit(fs, repo, branch, id);
	} else if (type && !strcmp(type, "gc")) {
		inval_dir(fs, FS_ID_OCI_SHA256);
		inval_dir(fs, FS_ID_LAYERS);
		inval_dir(fs, FS_ID_OCI_INDEX);
	}
	json_decref(ev);
}

/*
 * follow - handle the events from *SEEN on; *SEEN moves past whole lines.
 * Reads until it has caught up with the log: the watcher runs again only
 * when the store changes, so what is left now would wait for the next
 * change.  A line longer than a read (a commit event lists up to 100
 * paths of up to 4 KiB) is read again with a larger buffer, up to
 * EVENT_LINE_MAX; a longer one is skipped.
 */
static void follow(struct fs *fs, uint64_t *seen)
{
	size_t want = EVENT_READ_MAX;

	for (;;) {
		struct store_txn *t;
		uint64_t size = 0, start_seen = *seen;
		size_t n;
		char *buf;
		long got;

		if (store_txn_begin(&t, fs->store, 0))
			return;
		if (store_events_size(t, &size) || size <= *seen) {
			store_txn_abort(t);
			return;
		}
		n = size - *seen > want ? want : (size_t)(size - *seen);
		buf = malloc(n);
		got = buf ? store_events_read(t, *seen, buf, n) : -ENOMEM;
		store_txn_abort(t);
		for (long i = 0, start = 0; i < got; i++) {
			if (buf[i] != '\n')
				continue;
			handle(fs, buf + start, (size_t)(i - start));
			*seen += (uint64_t)(i + 1 - start);
			start = i + 1;
		}
		free(buf);
		if (got <= 0 || (size_t)got < n)
			return;
		if (*seen != start_seen) {
			want = EVENT_READ_MAX;
			continue;
		}
		if ((uint64_t)got == size - start_seen)
			return;		/* a line still being written */
		if (want < EVENT_LINE_MAX) {
			want *= 2;	/* one line longer than we read */
			continue;
		}
		*seen += (uint64_t)got;	/* longer than any event: skip it */
	}
}

/* the paths of the mount something uses (util_proc_users), sorted */
struct used_paths {
	struct util_array v;	/* char *, owned */
};

static int add_used(const char *path, long pid, const char *how, void *arg)
{
	struct used_paths *u = arg;
	char **slot;

	(void)pid;
	(void)how;
	if (strncmp(path, "/images/", 8) && strncmp(path, "/layers/", 8))
		return 0;
	slot = UTIL_ARRAY_PUSH(&u->v, char *);
	if (!slot || !(*slot = strdup(path)))
		return -ENOMEM;
	return 0;
}

/* is_used - does something use PATH or a path below it? */
static int is_used(const char *path, void *arg)
{
	struct used_paths *u = arg;
	size_t n = strlen(path);

	for (size_t i = 0; i < util_array_len(&u->v); i++) {
		const char *p = *UTIL_ARRAY_AT(&u->v, char *, i);
		if (!strncmp(p, path, n) && (!p[n] || p[n] == '/'))
			return 1;
	}
	return 0;
}

/* pin_used - pin the images something uses through the mount (mounts in
 * any namespace, overlays, roots, working directories, open files), unpin
 * the rest: what the kernel merely caches does not keep an image from gc */
static void pin_used(struct fs *fs)
{
	struct used_paths u = { UTIL_ARRAY_INIT(char *) };

	if (!fs->dev) {
		/* here, not at mount: a stat of the mount is served by the
		 * session loop, which runs by now */
		struct stat st;
		char *real = realpath(fs->mountpoint, NULL);

		if (!real || stat(real, &st) != 0) {
			free(real);
			return;
		}
		fs->real_mountpoint = real;
		fs->dev = st.st_dev;
	}
	if (util_proc_users(fs->real_mountpoint, fs->dev, add_used, &u) == 0 &&
	    store_images_sync_pins(fs->images, fs->inuse, is_used, &u))
		fprintf(stderr, "govc: pinning the images in use: %s\n", store_errmsg());
	for (size_t i = 0; i < util_array_len(&u.v); i++)
		free(*UTIL_ARRAY_AT(&u.v, char *, i));
	util_array_release(&u.v);
}

static void *watcher(void *arg)
{
	struct fs *fs = arg;
	uint64_t seen = fs->events_seen, gen = store_generation(fs->store);
	unsigned ticks = 0;

	pthread_mutex_lock(&fs->lock);
	while (!fs->stopping) {
		struct timespec ts;
		uint64_t now_gen;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCH_PERIOD_NS;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&fs->watch_wake, &fs->lock, &ts);
		if (fs->stopping)
			break;
		pthread_mutex_unlock(&fs->lock);
		now_gen = store_generation(fs->store);
		if (now_gen != gen) {
			gen = now_gen;
			follow(fs, &seen);
		}
		/* builds that ended are reaped, due ones started */
		fs_builds_poll(fs);
		/* what something uses of images is pinned against gc (once
		 * a second, and only while the kernel holds image nodes) */
		if (fs->inuse && ++ticks % USERS_EVERY == 0 && store_images_any_held(fs->images))
			pin_used(fs);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

int fs_watch_start(struct fs *fs)
{
	struct store_txn *t;

	fs->events_seen = 0;
	if (store_txn_begin(&t, fs->store, 0) == 0) {
		store_events_size(t, &fs->events_seen);
		store_txn_abort(t);
	}
	return pthread_create(&fs->watch_thread, NULL, watcher, fs) ? -EAGAIN : 0;
}

void fs_watch_kick(struct fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	pthread_cond_signal(&fs->watch_wake);
	pthread_mutex_unlock(&fs->lock);
}

void fs_watch_stop(struct fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	fs->stopping = 1;
	pthread_cond_signal(&fs->watch_wake);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->watch_thread, NULL);
}
