#!/bin/sh
# t0103-oci-badinput: images that must not go in - layer entries escaping
# the root (../, absolute paths, symlinks climbing out, hard links to
# outside or to nothing earlier), truncated streams, blobs that do not
# match their digest, manifests that are not JSON or name a missing blob,
# 100 MB JSON documents, broken docker archives, a full disk.  Each import exits
# non-zero with a message naming the problem, and the store holds nothing
# of it afterwards: the same tags, the same blobs and objects, the same
# bytes.
set -eu
. "$(dirname "$0")/lib.sh"
for tool in python3 mdb_copy; do
	command -v $tool >/dev/null || skip_all "$tool is not installed"
done
setup
plan 74
MK=$T/mk.py
export PYTHONDONTWRITEBYTECODE=1

# mk.py CASE OUT - write the OCI layout (or docker archive) of one case
cat > "$MK" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile

def sha(b): return hashlib.sha256(b).hexdigest()

class Layout:
    def __init__(self, d):
        self.d = d
        os.makedirs(d + "/blobs/sha256", exist_ok=True)
        open(d + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
    def blob(self, b):
        h = sha(b)
        open("%s/blobs/sha256/%s" % (self.d, h), "wb").write(b)
        return h
    def path(self, digest):
        return "%s/blobs/sha256/%s" % (self.d, digest.split(":")[-1])
    def index(self, desc, extra=None):
        desc = dict(desc, annotations={"org.opencontainers.image.ref.name": "bad"})
        doc = dict({"schemaVersion": 2, "manifests": [desc]}, **(extra or {}))
        open(self.d + "/index.json", "w").write(json.dumps(doc))

def tar(entries):
    """entries: (name, kind, data or link target); kind f, d, l (symlink), h (hard link)"""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, *rest in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            data = None
            if kind == "f":
                data = rest[0].encode(); ti.size = len(data); ti.mode = 0o644
            elif kind == "d":
                ti.type = tarfile.DIRTYPE; ti.mode = 0o755
            elif kind == "l":
                ti.type = tarfile.SYMTYPE; ti.linkname = rest[0]; ti.mode = 0o777
            elif kind == "h":
                ti.type = tarfile.LNKTYPE; ti.linkname = rest[0]; ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()

GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR = "application/vnd.oci.image.layer.v1.tar"

def gzl(entries):
    u = tar(entries)
    return (gzip.compress(u, mtime=0), GZ, u)

def manifest(lay, layers):
    """layers: (blob bytes, media type, uncompressed bytes); blobs written"""
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(u) for (_, _, u) in layers]}}).encode()
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + lay.blob(cfg), "size": len(cfg)},
            "layers": [{"mediaType": mt, "digest": "sha256:" + lay.blob(b), "size": len(b)} for (b, mt, _) in layers]}

def finish(lay, man=None, raw=None):
    mb = raw if raw is not None else json.dumps(man).encode()
    lay.index({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + lay.blob(mb), "size": len(mb)})

case, out = sys.argv[1], sys.argv[2]
# every image starts with a layer of its own (a file named after the case),
# so an import that stopped half way would leave something behind
BASE = [("etc", "d"), ("etc/os-release", "f", "NAME=base\n"), ("etc/case", "f", case + "\n"),
        ("bin", "d"), ("bin/sh", "f", "#!/not/a/shell\n")]
BIG = 100 << 20

def bad_layer(entries, base=True):
    lay = Layout(out)
    finish(lay, manifest(lay, ([gzl(BASE)] if base else []) + [gzl(entries)]))

if case == "good":
    lay = Layout(out); finish(lay, manifest(lay, [gzl(BASE)]))
elif case == "dotdot":
    bad_layer([("a", "f", "a"), ("x/../../evil", "f", "e")])
elif case == "dotdot-start":
    bad_layer([("../evil", "f", "e")])
elif case == "absolute":
    bad_layer([("/etc/shadow", "f", "e")])
elif case == "symlink-out":
    bad_layer([("d", "d"), ("d/up", "l", "../../etc/shadow")])
elif case == "symlink-ok":
    bad_layer([("d", "d"), ("d/abs", "l", "/etc/shadow"), ("d/absup", "l", "/../../etc/shadow"),
               ("d/in", "l", "../etc/os-release"), ("d/dot", "l", "./x/../../bin/sh")])
elif case == "hardlink-out":
    bad_layer([("x", "h", "../outside")])
elif case == "hardlink-abs":
    bad_layer([("x", "h", "/etc/shadow")])
elif case == "hardlink-later":
    bad_layer([("x", "h", "later"), ("later", "f", "later\n")])
elif case == "hardlink-lower":
    bad_layer([("x", "h", "etc/os-release")])
elif case == "truncated-gzip":
    lay = Layout(out)
    u = tar(BASE + [("big", "f", "".join("line %d\n" % i for i in range(20000)))])
    z = gzip.compress(u, mtime=0)
    finish(lay, manifest(lay, [gzl(BASE), (z[:len(z) * 2 // 3], GZ, u)]))
elif case == "truncated-tar":
    # a tar cut 100 bytes into the header of its last entry
    u = tar(BASE + [("last", "f", "the last file\n")])
    t = tarfile.open(fileobj=io.BytesIO(u))
    cut = u[:t.getmember("last").offset + 100]
    lay = Layout(out)
    finish(lay, manifest(lay, [gzl(BASE), (cut, TAR, cut)]))
elif case == "mismatch":
    lay = Layout(out); man = manifest(lay, [gzl(BASE)])
    p = lay.path(man["layers"][0]["digest"])
    b = bytearray(open(p, "rb").read()); b[100] ^= 0xff
    open(p, "wb").write(b)
    finish(lay, man)
elif case == "diffid":
    lay = Layout(out); man = manifest(lay, [gzl(BASE), gzl([("x", "f", "x")])])
    cfg = json.load(open(lay.path(man["config"]["digest"])))
    cfg["rootfs"]["diff_ids"][1] = "sha256:" + "0" * 64
    cb = json.dumps(cfg).encode()
    man["config"] = dict(man["config"], digest="sha256:" + lay.blob(cb), size=len(cb))
    finish(lay, man)
elif case == "notjson":
    lay = Layout(out); manifest(lay, [gzl(BASE)])
    finish(lay, raw=b'{"schemaVersion": 2, "config": {this is not json')
elif case == "missing":
    lay = Layout(out); man = manifest(lay, [gzl(BASE), gzl([("x", "f", "x")])])
    os.unlink(lay.path(man["layers"][1]["digest"]))
    finish(lay, man)
elif case == "big-config":
    lay = Layout(out); man = manifest(lay, [gzl(BASE)])
    big = b'{"architecture":"amd64","os":"linux","pad":"' + b"x" * BIG + b'"}'
    man["config"] = dict(man["config"], digest="sha256:" + lay.blob(big), size=len(big))
    finish(lay, man)
elif case == "big-config-lying":
    lay = Layout(out); man = manifest(lay, [gzl(BASE)])
    big = b'{"architecture":"amd64","os":"linux","pad":"' + b"x" * BIG + b'"}'
    man["config"] = dict(man["config"], digest="sha256:" + lay.blob(big), size=600)
    finish(lay, man)
elif case == "big-manifest":
    lay = Layout(out); man = manifest(lay, [gzl(BASE)])
    man["annotations"] = {"pad": "x" * BIG}
    finish(lay, man)
elif case == "big-index":
    lay = Layout(out); man = manifest(lay, [gzl(BASE)])
    mb = json.dumps(man).encode()
    lay.index({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + lay.blob(mb), "size": len(mb)},
              {"annotations": {"pad": "x" * BIG}})
elif case == "archive-big-manifest":
    data = b'[{"Config":"c.json","Layers":[],"pad":"' + b"x" * BIG + b'"}]'
    with tarfile.open(out, "w") as t:
        ti = tarfile.TarInfo("manifest.json"); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
elif case.startswith("archive-"):
    # a docker archive (what docker save writes), broken in one way
    layers = [tar(BASE), tar([("/abs", "f", "x")] if case == "archive-absolute" else [("x", "f", "x")])]
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(u) for u in layers]}}).encode()
    members = {sha(cfg) + ".json": cfg}
    names = []
    for u in layers:
        names.append(sha(u) + "/layer.tar")
        members[names[-1]] = u
    if case == "archive-missing":
        del members[names[1]]
    members["manifest.json"] = json.dumps([{"Config": sha(cfg) + ".json", "RepoTags": ["bad:1"], "Layers": names}]).encode()
    with tarfile.open(out, "w") as t:
        for name, data in members.items():
            ti = tarfile.TarInfo(name); ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
else:
    sys.exit("unknown case " + case)
EOF

# state: what the store holds - its tags, what gc would keep and remove,
# and its size compacted
state() {
	"$GOVC" images -q "$S"
	"$GOVC" gc -n "$S"
	# entries and large values of every table but the event log (gc adds to it)
	# and the counters (a failed import still used up ids)
	mdb_stat -a "$S" | awk '/^Status of/ { db = $3 } db != "events" && db != "meta" &&
		/Entries|Overflow pages/ { print db, $0 }'
}
# refused CASE WHAT MESSAGE [SOURCE]: importing CASE fails naming MESSAGE
# (a grep -E pattern) and publishes nothing; what it wrote on the way is
# garbage, which gc takes: the store is then as it was
refused() {
	c=$1 what=$2 msg=$3
	python3 "$MK" "$c" "$T/$c"
	"$GOVC" gc "$S" > /dev/null
	state > "$T/before"
	"$GOVC" images -q "$S" > "$T/before.images"
	src=${4:-oci:$T/$c:bad}
	if "$GOVC" import "$S" "$src" "bad/$c:1" > "$T/out" 2> "$T/err"; then
		not_ok "$what: refused (it was imported)"
	else
		check "$what: refused, naming the problem" grep -Eq "^govc: import: .*$msg.*; nothing was imported\$" "$T/err"
	fi
	"$GOVC" images -q "$S" > "$T/after"
	check "$what: no image appears" diff "$T/after" "$T/before.images"
	"$GOVC" gc "$S" > /dev/null
	state > "$T/after"
	check "$what: and the store holds nothing of it after gc" diff "$T/before" "$T/after"
	rm -rf "${T:?}/$c"
}

python3 "$MK" good "$T/good"
"$GOVC" import "$S" "oci:$T/good:bad" good:1 > "$T/good.out"
diag "$(state)"

# ---- entries escaping the layer's root -------------------------------------------
refused dotdot "a layer entry with ../ climbing out" "layer sha256:[0-9a-f]{64}: entry 'x/\.\./\.\./evil' climbs out of the layer with '\.\.'"
refused dotdot-start "a layer entry starting with ../" "entry '\.\./evil' climbs out of the layer"
refused absolute "a layer entry with an absolute path" "layer sha256:[0-9a-f]{64}: entry '/etc/shadow' is an absolute path"
refused symlink-out "a relative symlink climbing above the root" "symlink 'd/up' -> '\.\./\.\./etc/shadow' points outside the layer's root"
python3 "$MK" symlink-ok "$T/symlink-ok"
check "absolute symlinks (resolved in the container's root) and relative ones staying inside are accepted" "$GOVC" import "$S" "oci:$T/symlink-ok:bad" links:1
refused hardlink-out "a hard link to ../outside" "the target of hard link '\.\./outside' climbs out of the layer"
refused hardlink-abs "a hard link to an absolute path" "the target of hard link '/etc/shadow' is an absolute path"
refused hardlink-later "a hard link to a file later in the layer" "hard link 'x' points to 'later', which is not a file earlier in the same layer"
refused hardlink-lower "a hard link to a file of a lower layer" "hard link 'x' points to 'etc/os-release', which is not a file earlier in the same layer"

# ---- broken streams and blobs ------------------------------------------------------
refused truncated-gzip "a truncated gzip stream" "layer sha256:[0-9a-f]{64}: the compressed stream is truncated or corrupt"
refused truncated-tar "a tar cut in the middle of a header" "layer sha256:[0-9a-f]{64}: the tar archive is truncated or damaged after entry 'bin/sh'"
refused mismatch "a blob whose content does not match its digest" "layer 1 \(sha256:[0-9a-f]{64}\) of image .*: content does not match its digest sha256:[0-9a-f]{64} \(it hashes to sha256:"
refused diffid "a layer whose uncompressed content is not the config's diff_id" "its uncompressed content hashes to sha256:[0-9a-f]{64}, but the image config says diff_id sha256:0{64}"

# ---- documents -----------------------------------------------------------------------
refused notjson "a manifest that is not JSON" "image sha256:[0-9a-f]{64} in oci:.* is not valid JSON"
refused missing "a manifest naming a blob the layout lacks" "layer 2 \(sha256:[0-9a-f]{64}\) of image .*: blob sha256:[0-9a-f]{64} is missing from oci:"
refused big-config "a 100 MB config" "config is 1048[0-9]{5} bytes, more than the 4194304 byte limit"
refused big-config-lying "a 100 MB config whose descriptor says 600 bytes" "config sha256:[0-9a-f]{64} of image .*: longer than the 600 bytes its descriptor says"
refused big-manifest "a 100 MB manifest" "image sha256:[0-9a-f]{64} in oci:.* is 1048[0-9]{5} bytes, more than the 4194304-byte limit"
refused big-index "a 100 MB index.json" "index\.json is 1048[0-9]{5} bytes, more than the 4194304-byte limit"

# ---- docker archives -----------------------------------------------------------------
refused archive-missing "a docker archive whose manifest.json names a missing layer" "manifest\.json names layer '[0-9a-f]{64}/layer\.tar', which is not in the archive" "docker-archive:$T/archive-missing"
refused archive-big-manifest "a docker archive with a 100 MB manifest.json" "manifest\.json is 1048[0-9]{5} bytes, more than the limit of 4194304" "docker-archive:$T/archive-big-manifest"
refused archive-absolute "a docker archive with an absolute path in a layer" "entry '/abs' is an absolute path" "docker-archive:$T/archive-absolute"

# ---- a failed import leaves an existing tag alone ------------------------------------
python3 "$MK" missing "$T/retag"
check_fails "a failed import onto an existing tag" "$GOVC" import "$S" "oci:$T/retag:bad" good:1
check "leaves the tag on the image it had" sh -c "'$GOVC' images --no-trunc '$S' good | awk 'NR == 2 { print \$1 \":\" \$2, \$3 }' | cmp - '$T/good.out'"
check "and govc fsck passes" "$GOVC" fsck "$S"

# mkhuge.py DIR MB - a layout with two images: huge (one MB-sized layer of
# random bytes) and small
cat > "$T/mkhuge.py" <<'PY'
import hashlib, io, json, os, sys, tarfile
d = sys.argv[1]
os.makedirs(d + "/blobs/sha256")
open(d + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(d + "/blobs/sha256/" + h, "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
def layer(name, size):
    out = io.BytesIO()
    t = tarfile.open(fileobj=out, mode="w")
    i = tarfile.TarInfo(name); i.size = size
    t.addfile(i, io.BytesIO(os.urandom(size)))
    t.close()
    return out.getvalue()
def image(tag, size):
    l = layer("data", size)
    cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
        "diff_ids": ["sha256:" + hashlib.sha256(l).hexdigest()]}}).encode())
    cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
    ld = blob(l); ld["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    m = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": cfg, "layers": [ld]}).encode())
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    m["annotations"] = {"org.opencontainers.image.ref.name": tag}
    return m
json.dump({"schemaVersion": 2, "manifests": [image("huge", int(sys.argv[2]) << 20), image("small", 4096)]},
          open(d + "/index.json", "w"))
PY

# ---- a full disk ----------------------------------------------------------------------
# an image larger than the disk under the store: the import fails with
# ENOSPC, nothing of it stays, and the store goes on working
mkdir -p "$T/small"
if mount -t tmpfs -o size=24m tmpfs "$T/small" 2>/dev/null; then
	SS=$T/small/s
	"$GOVC" init "$SS" >/dev/null
	python3 "$T/mkhuge.py" "$T/huge" 40
	rc=0; "$GOVC" import "$SS" "oci:$T/huge:huge" huge:1 2>"$T/full.err" || rc=$?
	check "an import onto a full disk fails with ENOSPC, named" sh -c "[ $rc -ne 0 ] && grep -qi 'no space\|full' '$T/full.err' || { sed 's/^/# /' '$T/full.err'; exit 1; }"
	check "and leaves no tag" sh -c "! '$GOVC' images '$SS' | grep -q huge"
	check "the store still takes a small image" "$GOVC" import "$SS" "oci:$T/huge:small" small:1
	check "and govc fsck passes" "$GOVC" fsck "$SS"
	umount "$T/small"
else
	skip "cannot mount a tmpfs"; skip "cannot mount a tmpfs"; skip "cannot mount a tmpfs"; skip "cannot mount a tmpfs"
fi

# ---- an import killed half way ----------------------------------------------------------
# kill -9 while it streams a 300 MB layer in (once it has read 30 MB of
# it): LMDB never sees the commit
python3 "$T/mkhuge.py" "$T/killme" 300
"$GOVC" import "$S" "oci:$T/killme:huge" killed:1 >/dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 500 ] && kill -0 $pid 2>/dev/null &&
	[ "$(awk '/^rchar/ { print $2 }' /proc/$pid/io 2>/dev/null || echo 0)" -lt 30000000 ]; do
	sleep 0.01; i=$((i + 1))
done
running=0; kill -0 $pid 2>/dev/null && running=1
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
check "an import killed half way (it was still reading) leaves no tag" sh -c "[ $running = 1 ] && ! '$GOVC' images '$S' | grep -q killed"
check "and govc fsck passes" "$GOVC" fsck "$S"
check "the same import then goes through" "$GOVC" import "$S" "oci:$T/killme:huge" killed:1
