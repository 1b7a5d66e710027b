#!/usr/bin/env python3
"""fsops.py - random file operations applied alike to two directories,
comparing every read and, at the end, every file.  Used by t0013.

    fsops.py SEED OPS DIR_UNDER_TEST NATIVE_DIR

Files are created write-only (the path that stores a first write straight
as a blob) and read-write, written at random offsets and lengths around
the 64 KiB chunk size, appended to, truncated, renamed over each other,
removed, fsynced (which commits, turning chunks into blobs) and read back.
With TREE set (a 5th argument "tree"), also makes and removes
directories and symlinks, changes modes and renames across directories,
and compares listings (names, types, permission bits, sizes, link targets).
Exits non-zero with the seed, the step and what differed.
"""
import os
import random
import sys

CHUNK = 64 * 1024
NAMES = ["f%d" % i for i in range(6)]
# the tree operations' paths: files and directories, nested
PATHS = NAMES[:3] + ["d0", "d1", "d0/f0", "d0/f1", "d0/e", "d0/e/f0", "d1/f0", "l0"]


def sizes(rng):
    """a write length: small, around a chunk, or several chunks"""
    pick = rng.random()
    if pick < 0.4:
        return rng.randint(1, 5000)
    if pick < 0.8:
        return rng.choice([CHUNK - 1, CHUNK, CHUNK + 1, 4096, 10240])
    return rng.randint(CHUNK, 3 * CHUNK + 7)


def offset(rng, size):
    pick = rng.random()
    if pick < 0.3:
        return 0
    if pick < 0.6:
        return size                     # append
    if pick < 0.8:
        return rng.randint(0, size + 10)
    return rng.choice([CHUNK - 3, CHUNK, 2 * CHUNK + 5, size + CHUNK])


def main():
    seed, ops, test, native = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    tree = len(sys.argv) > 5 and sys.argv[5] == "tree"
    rng = random.Random(seed)
    fds = {}                            # name -> (test fd, native fd)
    step = 0

    def fail(what):
        sys.exit("seed %d step %d: %s" % (seed, step, what))

    def both(fn, name, *args):
        """run FN on the test and native paths; they must agree on errors"""
        res = []
        for d in (test, native):
            try:
                res.append((fn(os.path.join(d, name), *args), None))
            except OSError as e:
                res.append((None, e.errno))
        if res[0][1] != res[1][1]:
            fail("%s(%s): errno %s here, %s natively" % (fn.__name__, name, res[0][1], res[1][1]))
        return res[0][0], res[1][0]

    def close(name):
        a, b = fds.pop(name)
        os.close(a)
        os.close(b)

    trace = os.environ.get("FSOPS_TRACE")
    def listing(root):
        out = []
        for d, dirs, files in os.walk(root):
            dirs.sort()
            for n in sorted(dirs + files):
                p = os.path.join(d, n)
                st = os.lstat(p)
                kind = st.st_mode >> 12
                out.append((os.path.relpath(p, root), kind, st.st_mode & 0o7777,
                            st.st_size if kind == 8 else None,
                            os.readlink(p) if kind == 10 else None))
        return out

    def tree_op():
        path, other = rng.choice(PATHS), rng.choice(PATHS)
        op = rng.random()
        if any(n == path or n.startswith(path + "/") for n in fds):
            return                      # keep open files where they are
        if op < 0.2:
            both(os.mkdir, path, 0o755)
        elif op < 0.3:
            both(os.rmdir, path)
        elif op < 0.4:
            target = rng.choice(["f0", "../d1", "nowhere"])
            both(lambda p: os.symlink(target, p), path)
        elif op < 0.5:
            mode = rng.choice([0o644, 0o600, 0o755, 0o700])
            both(lambda p: os.chmod(p, mode), path)
        elif op < 0.65:
            if any(n == other or n.startswith(other + "/") for n in fds):
                return
            both(lambda p, q: os.rename(p, os.path.join(p[:len(p) - len(path)], q)), path, other)
        elif op < 0.75:
            both(os.unlink, path)
        elif op < 0.85:
            text = "t" * rng.randint(0, 9000)
            both(lambda p: open(p, "w").write(text), path)
        else:
            x, y = listing(test), listing(native)
            if x != y:
                diff = [(a, b) for a, b in zip(x, y) if a != b][:3] or (x[len(y):] + y[len(x):])[:3]
                fail("listings differ: %s" % (diff,))

    for step in range(ops):
        name = rng.choice(NAMES)
        op = rng.random()
        if tree and rng.random() < 0.3:
            tree_op()
            continue
        if trace:
            print(step, name, "%.3f" % op, "open" if name in fds else "", file=sys.stderr)
        if name not in fds and op < 0.55:
            exists = os.path.exists(os.path.join(native, name))
            if not exists or rng.random() < 0.5:
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            else:
                flags = os.O_RDWR
            if trace:
                print("  open", "trunc" if flags & os.O_TRUNC else "rdwr", file=sys.stderr)
            a, b = both(os.open, name, flags, 0o644)
            if a is not None:
                fds[name] = (a, b)
        elif name in fds and op < 0.55:
            a, b = fds[name]
            size = os.fstat(b).st_size
            off, n = offset(rng, size), sizes(rng)
            data = rng.randbytes(n)
            if trace:
                print("  pwrite", off, n, file=sys.stderr)
            if os.pwrite(a, data, off) != n or os.pwrite(b, data, off) != n:
                fail("short write of %d at %d to %s" % (n, off, name))
        elif name in fds and op < 0.65:
            a, b = fds[name]
            n = rng.choice([0, 1, 100, CHUNK - 1, CHUNK + 1, os.fstat(b).st_size // 2])
            os.ftruncate(a, n)
            os.ftruncate(b, n)
        elif name in fds and op < 0.72:
            a, b = fds[name]
            if rng.random() < 0.3:
                os.fsync(a)             # commits
            close(name)
        elif op < 0.8:
            # read back through a fresh descriptor and compare
            x, y = both(lambda p: open(p, "rb").read(), name)
            if x != y:
                fail("%s differs: %d bytes here, %d natively, first difference at %d" % (
                    name, len(x), len(y),
                    next((i for i in range(min(len(x), len(y))) if x[i] != y[i]), min(len(x), len(y)))))
        elif op < 0.86 and name not in fds:
            both(os.unlink, name)
        elif op < 0.92:
            other = rng.choice(NAMES)
            if name not in fds and other not in fds and other != name:
                both(lambda p, q: os.rename(p, os.path.join(os.path.dirname(p), q)), name, other)
        else:
            if name not in fds:
                both(lambda p: os.truncate(p, 7), name)
    for name in list(fds):
        close(name)
    for name in NAMES:
        x, y = both(lambda p: open(p, "rb").read(), name)
        if x != y:
            fail("at the end %s differs (%s bytes here, %s natively)" % (
                name, None if x is None else len(x), None if y is None else len(y)))
    print("seed %d: %d operations agree" % (seed, ops))


if __name__ == "__main__":
    main()
