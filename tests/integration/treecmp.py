#!/usr/bin/env python3
"""treecmp.py [--no-mtime] [--ignore PATH]... A B - compare two directory
trees as a container sees them.

For every path: type, permission bits (setuid, setgid and sticky too),
owner, size, content (sha256), symlink target, device number, mtime
(seconds), extended attributes (security.selinux aside: the host adds it)
and which paths are hard links of one another (same inode number).
--no-mtime leaves times out (two builders of one image); --ignore PATH
(relative to the roots) leaves out PATH and everything below it.
Prints each difference and exits 1 if there is any, else prints how many
paths matched.
"""
import hashlib
import os
import stat
import sys

SKIP_XATTRS = {"security.selinux"}


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in names:
        if n in SKIP_XATTRS:
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            out[n] = "error %d" % e.errno
    return out


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def ignored(rel, ignore):
    return any(rel == i or rel.startswith(i + "/") for i in ignore)


def walk(root, mtime=True, ignore=()):
    """{relative path: facts} and {inode: [paths]} for ROOT."""
    facts, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        names = dirnames + filenames
        if dirpath == root:
            names = names + [""]
        for name in names:
            p = os.path.join(dirpath, name) if name else dirpath
            rel = os.path.relpath(p, root)
            if ignored(rel, ignore):
                continue
            st = os.lstat(p)
            f = {
                "type": stat.S_IFMT(st.st_mode),
                "mode": oct(stat.S_IMODE(st.st_mode)),
                "owner": (st.st_uid, st.st_gid),
                "mtime": int(st.st_mtime),
                "xattrs": xattrs(p),
            }
            if stat.S_ISREG(st.st_mode):
                f["size"] = st.st_size
                f["sha256"] = digest(p)
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                f["target"] = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                f["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            if stat.S_ISDIR(st.st_mode) or not mtime:
                # a directory's mtime changes when the host writes in it
                # (umoci unpack does); compare it for the root only if asked
                del f["mtime"]
            facts[rel] = f
    links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return facts, links


def main():
    args, mtime, ignore = sys.argv[1:], True, []
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--no-mtime":
            mtime = False
        elif opt == "--ignore" and args:
            ignore.append(os.path.normpath(args.pop(0)).lstrip("/"))
        else:
            sys.exit("usage: treecmp.py [--no-mtime] [--ignore PATH]... A B")
    if len(args) != 2:
        sys.exit("usage: treecmp.py [--no-mtime] [--ignore PATH]... A B")
    a, b = args
    fa, la = walk(a, mtime, ignore)
    fb, lb = walk(b, mtime, ignore)
    bad = 0
    for rel in sorted(set(fa) | set(fb)):
        if rel not in fa:
            print("only in %s: %s" % (b, rel))
            bad += 1
        elif rel not in fb:
            print("only in %s: %s" % (a, rel))
            bad += 1
        elif fa[rel] != fb[rel]:
            for k in sorted(set(fa[rel]) | set(fb[rel])):
                if fa[rel].get(k) != fb[rel].get(k):
                    print("%s: %s differs: %r vs %r" % (rel, k, fa[rel].get(k), fb[rel].get(k)))
            bad += 1
    if la != lb:
        print("hard links differ: %r vs %r" % (la, lb))
        bad += 1
    if bad:
        sys.exit(1)
    print("%d paths match, %d hard-link groups" % (len(fa), len(la)))


if __name__ == "__main__":
    main()
