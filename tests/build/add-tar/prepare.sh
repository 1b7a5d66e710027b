# prepare.sh - run by the tests in a copy of this directory before it is
# committed (and then removed): writes the archives, which git keeps as
# blobs like any file.  Fixed times and owners: the same bytes every run.
python3 - <<'PY'
import io, lzma, tarfile, gzip, os

def add(t, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, link="", dev=(0, 0),
        xattrs=None):
    i = tarfile.TarInfo(name)
    if xattrs:
        i.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
    i.type, i.mode, i.uid, i.gid, i.mtime, i.linkname = kind, mode, uid, gid, 1600000000, link
    i.devmajor, i.devminor = dev
    i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

def archive(path, opener, prefix=""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add(t, prefix + "dir", tarfile.DIRTYPE, mode=0o750, uid=1234, gid=5678)
        add(t, prefix + "dir/owned", data=b"owned\n", mode=0o640, uid=1234, gid=5678)
        add(t, prefix + "dir/suid", data=b"#!/bin/sh\n", mode=0o4755)
        add(t, prefix + "dir/sgid-dir", tarfile.DIRTYPE, mode=0o2775)
        add(t, prefix + "dir/link", tarfile.SYMTYPE, link="owned")
        add(t, prefix + "dir/abs-link", tarfile.SYMTYPE, link="/etc/passwd")
        # a hard link's header carries its file's owner and mode, as tar
        # writes it: extractors apply them to the one inode
        add(t, prefix + "dir/hard", tarfile.LNKTYPE, mode=0o640, uid=1234, gid=5678,
            link=prefix + "dir/owned")
        add(t, prefix + "dir/fifo", tarfile.FIFOTYPE, mode=0o600)
        add(t, prefix + "dir/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
        add(t, prefix + "top.txt", data=b"top\n", mode=0o444)
        add(t, prefix + "xattr.txt", data=b"with an xattr\n", xattrs={"user.test": "hello"})
        # a file whose parent directory has no entry of its own
        add(t, prefix + "implicit/parent/file", data=b"implicit\n")
    with opener(path) as f:
        f.write(buf.getvalue())

archive("plain.tar", lambda p: open(p, "wb"))
archive("gz.tar.gz", lambda p: gzip.GzipFile(p, "wb", mtime=0), "./")
archive("xz.tar.xz", lambda p: lzma.open(p, "wb"))
os.makedirs("more", exist_ok=True)
archive("more/one.tar", lambda p: open(p, "wb"), "one/")
archive("more/two.tar", lambda p: open(p, "wb"), "two/")
with open("notar.txt", "w") as f:
    f.write("not an archive\n")
PY
