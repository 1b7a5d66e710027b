/*
 * writer.c - small writes on a mount, timed, for the benches that measure
 * how long the mount's writers wait beside long work (bench-import.sh,
 * bench-registry.sh).
 *
 *   writer DIR INTERVAL_MS SECONDS STOPFILE OUT
 *
 * Until SECONDS have passed (0: no limit) or STOPFILE exists:
 * open(O_CREAT|O_TRUNC) + write 100 bytes + close a file of DIR (a ring of
 * 100 names), then pause INTERVAL_MS.  OUT gets a line per write: start
 * (us from the writer's start), latency of open+write+close (us), errno
 * (0: none).  bench/writer-stats.py summarizes OUT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long us(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000LL + (b->tv_nsec - a->tv_nsec) / 1000;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: writer DIR INTERVAL_MS SECONDS STOPFILE OUT\n");
		return 2;
	}
	const char *dir = argv[1], *stop = argv[4];
	long interval = atol(argv[2]), secs = atol(argv[3]);
	size_t cap = 1 << 16, n = 0;
	long long (*rec)[3] = malloc(cap * sizeof *rec);
	struct timespec t0, a, b, pause = {interval / 1000, (interval % 1000) * 1000000L};
	char path[4096], buf[100];
	if (!rec)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0;; i++) {
		if (access(stop, F_OK) == 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (secs > 0 && us(&t0, &a) >= secs * 1000000LL)
			break;
		snprintf(path, sizeof path, "%s/w%03ld", dir, i % 100);
		memset(buf, '.', sizeof buf);
		buf[snprintf(buf, sizeof buf, "write %ld", i)] = ' ';
		buf[sizeof buf - 1] = '\n';
		clock_gettime(CLOCK_MONOTONIC, &a);
		int err = 0, fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			err = errno;
		} else {
			if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
				err = errno ? errno : EIO;
			if (close(fd) && !err)
				err = errno;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (n == cap && !(rec = realloc(rec, (cap *= 2) * sizeof *rec)))
			return 1;
		rec[n][0] = us(&t0, &a);
		rec[n][1] = us(&a, &b);
		rec[n][2] = err;
		n++;
		nanosleep(&pause, NULL);
	}
	FILE *f = fopen(argv[5], "w");
	if (!f)
		return 1;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%lld %lld %lld\n", rec[i][0], rec[i][1], rec[i][2]);
	return fclose(f) ? 1 : 0;
}
