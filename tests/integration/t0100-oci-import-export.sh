#!/bin/sh
# t0100-oci-import-export: images made offline with umoci (insert layers,
# which umoci writes without tar padding, and repack layers), with zstd
# and as a two-platform index go into the store with `govc import` and
# come out with `govc export` byte for byte (same digests); skopeo and
# umoci accept what comes out, as an OCI layout and as a docker archive;
# `govc images`, `govc rmi` and `govc gc` (while mounted too) keep what is
# reachable, drop the rest, and store a shared base layer once.
set -eu
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (umoci: device nodes, owners)"
for tool in umoci skopeo python3 mdb_copy zstd setfattr getfattr git; do
	command -v $tool >/dev/null || skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
setup
plan 44
I=$T/src
O=$T/out
PY=$T/oci.py
export PYTHONDONTWRITEBYTECODE=1

# oci.py - reading and writing OCI layouts, for the checks below
cat > "$PY" <<'EOF'
import hashlib, io, json, os, subprocess, sys, tarfile

def load(lay, digest):
    return open("%s/blobs/sha256/%s" % (lay, digest.split(":")[1]), "rb").read()

def ref(lay, name):
    for d in json.load(open(lay + "/index.json"))["manifests"]:
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
            return d
    sys.exit("no ref %s in %s" % (name, lay))

def put(lay, data):
    h = hashlib.sha256(data).hexdigest()
    os.makedirs(lay + "/blobs/sha256", exist_ok=True)
    open("%s/blobs/sha256/%s" % (lay, h), "wb").write(data)
    return "sha256:" + h

def add_ref(lay, desc, name):
    idx = json.load(open(lay + "/index.json"))
    desc = dict(desc, annotations={"org.opencontainers.image.ref.name": name})
    idx["manifests"] = [d for d in idx["manifests"]
                        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") != name] + [desc]
    open(lay + "/index.json", "w").write(json.dumps(idx))

def blobs(lay, name):
    """the digests an image is made of: manifest, config, layers"""
    m = ref(lay, name)["digest"]
    man = json.loads(load(lay, m))
    return [m, man["config"]["digest"]] + [l["digest"] for l in man["layers"]]

def config(lay, name):
    man = json.loads(load(lay, ref(lay, name)["digest"]))
    return json.loads(load(lay, man["config"]["digest"]))

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "digest":                     # LAYOUT REF
    print(ref(a[0], a[1])["digest"])
elif cmd == "config-digest":            # LAYOUT REF
    print(json.loads(load(a[0], ref(a[0], a[1])["digest"]))["config"]["digest"])
elif cmd == "same":                     # SRC REF DST REF2: same blobs, byte for byte, nothing else
    want, got = blobs(a[0], a[1]), blobs(a[2], a[3])
    assert want == got, (want, got)
    for d in want:
        assert load(a[0], d) == load(a[2], d), d
    files = sorted(os.listdir(a[2] + "/blobs/sha256"))
    assert files == sorted(set(d[7:] for d in want)), files
elif cmd == "unpadded":                 # LAYOUT REF: a layer's tar ends without padding
    man = json.loads(load(a[0], ref(a[0], a[1])["digest"]))
    import gzip
    sizes = [len(gzip.decompress(load(a[0], l["digest"]))) for l in man["layers"]]
    assert any(s % 512 for s in sizes), sizes
elif cmd == "inspected":                # JSON LAYOUT REF: skopeo inspect saw that image
    si, d = json.load(open(a[0])), ref(a[1], a[2])["digest"]
    assert si["Digest"] == d, si["Digest"]
    assert si["Layers"] == blobs(a[1], a[2])[2:], si["Layers"]
elif cmd == "inspected-archive":        # JSON DIFFIDS: skopeo inspect of a docker archive
    si = json.load(open(a[0]))
    assert si["Layers"] == open(a[1]).read().split(), si["Layers"]
    assert (si["Os"], si["Architecture"]) == ("linux", "amd64"), si
elif cmd == "diffids":                  # LAYOUT REF
    print("\n".join(config(a[0], a[1])["rootfs"]["diff_ids"]))
elif cmd == "archive-layers":           # FILE: sha256 of each layer member, in manifest order
    t = tarfile.open(a[0])
    man = json.load(t.extractfile("manifest.json"))[0]
    for l in man["Layers"]:
        print("sha256:" + hashlib.sha256(t.extractfile(l).read()).hexdigest())
elif cmd == "index":                    # LAYOUT NEWREF AMD64REF ARM64REF [MEDIATYPE]
    lay = a[0]
    mt = a[4] if len(a) > 4 else "application/vnd.oci.image.index.v1+json"
    def plat(r, arch):
        d = ref(lay, r)
        return {"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
                "platform": {"os": "linux", "architecture": arch}}
    att = dict(plat(a[3], "x"), platform={"os": "unknown", "architecture": "unknown"})
    idx = json.dumps({"schemaVersion": 2, "mediaType": mt,
                      "manifests": [plat(a[3], "arm64"), att, plat(a[2], "amd64")]}).encode()
    add_ref(lay, {"mediaType": "application/vnd.oci.image.index.v1+json",
                  "digest": put(lay, idx), "size": len(idx)}, a[1])
elif cmd == "zstd":                     # LAYOUT REF BASEREF: BASEREF plus a tar+zstd layer
    lay = a[0]
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, text in (("z", None), ("z/hello", "zstd layer\n" * 500), ("z/two", "two\n")):
            ti = tarfile.TarInfo(name); ti.mtime = 1700000000
            if text is None:
                ti.type = tarfile.DIRTYPE; ti.mode = 0o755
                t.addfile(ti)
            else:
                ti.size = len(text); ti.mode = 0o644
                t.addfile(ti, io.BytesIO(text.encode()))
    u = bio.getvalue()
    z = subprocess.run(["zstd", "-q", "-c", "-19"], input=u, stdout=subprocess.PIPE, check=True).stdout
    base = json.loads(load(lay, ref(lay, a[2])["digest"]))
    cfg = config(lay, a[2])
    cfg["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(u).hexdigest())
    cb = json.dumps(cfg).encode()
    base["config"] = dict(base["config"], digest=put(lay, cb), size=len(cb))
    base["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                           "digest": put(lay, z), "size": len(z)})
    mb = json.dumps(base).encode()
    add_ref(lay, {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": put(lay, mb), "size": len(mb)}, a[1])
EOF
py() { python3 "$PY" "$@"; }
# eq GOT WANT: equal, or say how they differ
eq() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'"; return 1; }; }
# size STORE: bytes of a compacted copy of STORE (what it really holds)
size() { rm -rf "$T/cp" && mkdir "$T/cp" && mdb_copy -c "$1" "$T/cp" && stat -c %s "$T/cp/data.mdb"; }
# kept STORE: "OBJECTS BLOBS" that gc would keep
kept() { "$GOVC" gc -n "$1" | sed -n 's/.*kept \([0-9]*\) objects, \([0-9]*\) blobs.*/\1 \2/p'; }
# doomed STORE: "OBJECTS BLOBS LAYERS IMAGES" that gc would remove
doomed() {
	"$GOVC" gc -n "$1" | sed -n 's/^would remove \([0-9]*\) objects ([^)]*), \([0-9]*\) blobs ([^)]*), \([0-9]*\) layer indexes, \([0-9]*\) images.*/\1 \2 \3 \4/p'
}
# imported FILE: the digest `govc import` printed into FILE
imported() { cut -d' ' -f2 "$1"; }

# ---- the images, made with umoci ------------------------------------------
# base: busybox with its applets (umoci insert: a layer without padding)
R=$T/bb
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root"
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
chmod 1777 "$R/tmp"
umoci init --layout "$I"
umoci new --image "$I:base"
umoci insert --image "$I:base" "$R" /
umoci config --image "$I:base" --config.cmd /bin/sh --config.env PATH=/bin --os linux --architecture amd64
# v1: every kind of entry
L=$T/l1
mkdir -p "$L/data" "$L/opq/sub" "$L/dev"
echo hello > "$L/data/a"
ln "$L/data/a" "$L/data/hardlink"
ln -s ../data/a "$L/data/rel"
ln -s /etc/passwd "$L/data/abs"
echo suid > "$L/data/suid"; chmod 4755 "$L/data/suid"
mkfifo "$L/data/fifo"
mknod "$L/dev/null2" c 1 3
echo x > "$L/data/xattr"; setfattr -n user.govc -v test "$L/data/xattr"
printf '#!/bin/sh\necho cap\n' > "$L/data/capbin"; chmod 755 "$L/data/capbin"
# cap_net_raw+ep, as setcap writes it (VFS_CAP_REVISION_2)
setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$L/data/capbin"
echo own > "$L/data/owned"; chown 1000:2000 "$L/data/owned"
echo gone > "$L/data/gone"; echo wh > "$L/data/wh"
echo old > "$L/opq/old"; echo deep > "$L/opq/sub/deep"
umoci insert --image "$I:base" --tag v1 "$L" /
# v2: umoci repack of a changed tree: change, add, delete, chown, chmod
umoci unpack --image "$I:v1" "$T/b2" >/dev/null
R2=$T/b2/rootfs
echo 'root:x:0:0:changed:/root:/bin/sh' > "$R2/etc/passwd"
rm "$R2/data/gone"
echo new > "$R2/data/new"; chown 1234:5678 "$R2/data/new"
chmod 600 "$R2/data/a"
umoci repack --image "$I:v2" "$T/b2" >/dev/null
# v3: an opaque directory and a whiteout, as umoci insert writes them
mkdir -p "$T/newopq"; echo fresh > "$T/newopq/fresh"
umoci insert --image "$I:v2" --tag v3 --opaque "$T/newopq" /opq
umoci insert --image "$I:v3" --whiteout /data/wh
# tiny: the base and one small layer (a second image sharing the base)
mkdir -p "$T/tiny/etc"; echo tiny > "$T/tiny/etc/tiny"
umoci insert --image "$I:base" --tag tiny "$T/tiny" /

check "umoci insert wrote a layer without tar padding (the case govc must accept)" py unpadded "$I" v3

# ---- import and export ------------------------------------------------------
"$GOVC" import "$S" "oci:$I:base" bb:1 > "$T/imp.base"
"$GOVC" import "$S" "oci:$I:v3" app:3 > "$T/imp.v3"
check "import names the layout's manifest" eq "$(imported "$T/imp.base") $(imported "$T/imp.v3")" "$(py digest "$I" base) $(py digest "$I" v3)"
"$GOVC" export "$S" app:3 "oci:$O:x"
check "export gives the same manifest, config and layers, byte for byte, and nothing else" py same "$I" v3 "$O" x
skopeo inspect "oci:$O:x" > "$T/si.json" || true
check "skopeo inspect reads the export: the same digest and layers" py inspected "$T/si.json" "$I" v3
skopeo copy -q "oci:$O:x" "oci:$T/copy:x" || true
check "skopeo copy copies the export, keeping its digest" eq "$(py digest "$T/copy" x)" "$(py digest "$I" v3)"
umoci unpack --image "$O:x" "$T/ub" >/dev/null || true
check "umoci unpack unpacks the export, and its busybox runs" eq "$(chroot "$T/ub/rootfs" /bin/sh -c 'cat /data/a /opq/fresh /etc/passwd')" "hello
fresh
root:x:0:0:changed:/root:/bin/sh"
check "with the owner, xattrs, setuid bit, hard link and whiteouts of the layers" sh -c "
	[ \"\$(stat -c %u:%g '$T/ub/rootfs/data/owned')\" = 1000:2000 ] &&
	getfattr -n security.capability '$T/ub/rootfs/data/capbin' >/dev/null &&
	[ \"\$(getfattr -n user.govc --only-values '$T/ub/rootfs/data/xattr')\" = test ] &&
	[ -u '$T/ub/rootfs/data/suid' ] &&
	[ \"\$(stat -c %i '$T/ub/rootfs/data/a')\" = \"\$(stat -c %i '$T/ub/rootfs/data/hardlink')\" ] &&
	[ ! -e '$T/ub/rootfs/data/gone' ] && [ ! -e '$T/ub/rootfs/data/wh' ] &&
	[ \"\$(ls '$T/ub/rootfs/opq')\" = fresh ]"
before=$(kept "$S")
"$GOVC" import "$S" "oci:$O:x" again > "$T/imp.again" || true
check "importing the export (its tag by default) gives the same image, and stores nothing new" eq "$(imported "$T/imp.again") $(kept "$S")" "$(imported "$T/imp.v3") $before"
"$GOVC" export "$S" bb:1 "oci:$O"
check "a second export adds to the layout, under the image's tag, and keeps the first" sh -c "skopeo inspect 'oci:$O:x' >/dev/null && skopeo inspect 'oci:$O:1' | grep -q '\"Digest\": \"$(py digest "$I" base)\"'"
mkdir "$T/notlayout"
echo x > "$T/notlayout/file"
check "export into a directory that is not a layout is refused" sh -c "! '$GOVC' export '$S' bb:1 'oci:$T/notlayout' 2>'$T/err' && grep -q 'neither empty nor an OCI image layout' '$T/err' && [ \"\$(ls '$T/notlayout')\" = file ]"

# ---- docker archives ----------------------------------------------------------
skopeo copy -q "oci:$I:v3" "docker-archive:$T/v3.tar:team/app:3"
"$GOVC" import "$S" "docker-archive:$T/v3.tar:team/app:3" da > "$T/imp.da" || true
check "a docker archive from skopeo imports, tagged with its reference's tag" eq "$("$GOVC" images -q "$S" da)" "da:3"
check "naming its image as skopeo wrote it (docker.io/team/app:3) works too" "$GOVC" import "$S" "docker-archive:$T/v3.tar:docker.io/team/app:3" da:full
"$GOVC" export "$S" da:3 "oci:$T/da" || true
check "and the image keeps its config byte for byte" eq "$(py config-digest "$T/da" 3)" "$(py config-digest "$I" v3)"
"$GOVC" export "$S" app:3 "docker-archive:$T/ex.tar"
py diffids "$I" v3 > "$T/di"
check "a docker archive export holds each layer uncompressed, exactly (sha256 = diff_id)" eq "$(py archive-layers "$T/ex.tar")" "$(cat "$T/di")"
skopeo inspect "docker-archive:$T/ex.tar" > "$T/sd.json" || true
check "skopeo inspect reads it: the config's layers and platform" py inspected-archive "$T/sd.json" "$T/di"
check "and its manifest.json names the image" sh -c "tar -xOf '$T/ex.tar' manifest.json | grep -q '\"RepoTags\":\[\"app:3\"\]'"
skopeo copy -q "docker-archive:$T/ex.tar" "oci:$T/fromex:x" || true
umoci unpack --image "$T/fromex:x" "$T/ub2" >/dev/null || true
check "skopeo copies it to a layout that umoci unpacks" sh -c "cmp '$T/ub2/rootfs/etc/passwd' '$R2/etc/passwd' && [ -p '$T/ub2/rootfs/data/fifo' ] && [ -c '$T/ub2/rootfs/dev/null2' ]"
"$GOVC" import "$S" "docker-archive:$T/ex.tar" back:1 > /dev/null || true
"$GOVC" export "$S" back:1 "oci:$T/back" || true
check "govc's own docker archive imports back with the same config" eq "$(py config-digest "$T/back" 1)" "$(py config-digest "$I" v3)"

# ---- docker schema 2 -------------------------------------------------------------
skopeo copy -q --format v2s2 "oci:$I:v3" "oci:$T/v2s2:x"
"$GOVC" import "$S" "oci:$T/v2s2:x" d2:1 > /dev/null || true
"$GOVC" export "$S" d2:1 "oci:$T/d2o:x" || true
check "a docker schema 2 manifest (as skopeo --format v2s2 writes it) exports byte for byte" py same "$T/v2s2" x "$T/d2o" x
"$GOVC" export "$S" d2:1 "docker-archive:$T/d2.tar" || true
check "and as a docker archive, its layers uncompressed" eq "$(py archive-layers "$T/d2.tar")" "$(cat "$T/di")"

# ---- zstd ---------------------------------------------------------------------
py zstd "$I" zst base
"$GOVC" import "$S" "oci:$I:zst" zst:1 > /dev/null || true
"$GOVC" export "$S" zst:1 "oci:$T/zo:z" || true
check "a tar+zstd layer imports and exports byte for byte" py same "$I" zst "$T/zo" z
"$GOVC" export "$S" zst:1 "docker-archive:$T/zst.tar" || true
check "and decompresses exactly into a docker archive" eq "$(py archive-layers "$T/zst.tar")" "$(py diffids "$I" zst)"

# ---- an image index with two platforms ------------------------------------------
py index "$I" multi v3 base
if [ "$(uname -m)" = x86_64 ]; then
	"$GOVC" import "$S" "oci:$I:multi" mp:host > "$T/imp.mp" || true
	check "from a two-platform index the host's platform (linux/amd64) is imported" eq "$(imported "$T/imp.mp")" "$(py digest "$I" v3)"
else
	skip "the host is not x86_64"
fi
py index "$I" multi-docker v3 base application/vnd.docker.distribution.manifest.list.v2+json
"$GOVC" import --platform linux/amd64 "$S" "oci:$I:multi-docker" md > "$T/imp.md" || true
check "and from a docker manifest list too" eq "$(cat "$T/imp.md")" "md:multi-docker $(py digest "$I" v3)"
"$GOVC" import --platform linux/arm64 "$S" "oci:$I:multi" mp:arm > "$T/imp.arm" || true
check "--platform picks another one" eq "$(imported "$T/imp.arm")" "$(py digest "$I" base)"
check "a platform the index lacks is refused, naming those it has" sh -c "! '$GOVC' import --platform linux/s390x '$S' 'oci:$I:multi' mp:s390x 2>'$T/err' && grep -q 'linux/arm64, linux/amd64' '$T/err' && ! '$GOVC' images -q '$S' mp | grep -q s390x"

# ---- images and rmi ---------------------------------------------------------------
printf '%s\n' again:x app:3 back:1 bb:1 d2:1 da:3 da:full md:multi-docker mp:arm mp:host zst:1 > "$T/want"
[ "$(uname -m)" = x86_64 ] || sed -i '/mp:host/d' "$T/want"
check "govc images lists every tag" eq "$("$GOVC" images -q "$S")" "$(cat "$T/want")"
check "with its full digest" eq "$("$GOVC" images --no-trunc "$S" app | awk 'NR > 1 { print $1, $2, $3 }')" "app 3 $(py digest "$I" v3)"
"$GOVC" images "$S" > "$T/images"
check "a size and a creation time" awk 'NR > 1 && ($4 !~ /^[0-9.]+[kMG]?B$/ || $5 !~ /^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T/) { print; bad = 1 } END { exit bad }' "$T/images"
check "rmi naming a tag that does not exist removes nothing, not even the others named" sh -c "! '$GOVC' rmi '$S' again:x nosuch:1 2>'$T/err' && grep -q 'nosuch:1' '$T/err' && '$GOVC' images -q '$S' | grep -qx again:x"
"$GOVC" rmi "$S" again:x da:full > /dev/null || true
check "rmi untags" eq "$("$GOVC" images -q "$S" | grep -c 'again:x\|da:full')" 0
check "and an untagged image another tag shares leaves gc nothing to remove" eq "$(doomed "$S")" "0 0 0 0"

# ---- two images sharing a base: the base is stored once ---------------------------
S2=$T/store-share
"$GOVC" init "$S2" >/dev/null
s0=$(size "$S2")
"$GOVC" import "$S2" "oci:$I:base" bb:1 >/dev/null
s1=$(size "$S2")
"$GOVC" import "$S2" "oci:$I:tiny" tiny:1 >/dev/null
s2=$(size "$S2")
diag "store: empty $s0, with busybox $s1, with a second image on the same base $s2 bytes"
check "a second image on the same base adds less than a tenth of the base" test $((s2 - s1)) -lt $(((s1 - s0) / 10))
check "its manifest, config and own layer are all the blobs it adds (6 in all)" eq "$(kept "$S2" | cut -d' ' -f2)" 6
"$GOVC" rmi "$S2" bb:1 >/dev/null
"$GOVC" gc "$S2" > "$T/gc2"
check "rmi of the base's tag, gc: its manifest and config go, the shared layer stays" grep -q '^removed 0 objects (0B), 2 blobs ([^)]*), 0 layer indexes, 1 images; kept [0-9]* objects, 4 blobs$' "$T/gc2"
"$GOVC" rmi "$S2" tiny:1 >/dev/null
"$GOVC" gc "$S2" >/dev/null
s3=$(size "$S2")
diag "after rmi of both and gc: $s3 bytes"
check "rmi of the last image, gc: the store shrinks back to (about) empty" test "$s3" -le $((s0 + 65536))

# ---- gc on the mounted store --------------------------------------------------------
mkdir "$M/repos/r"
echo kept > "$M/repos/r/f"
wait_for_commit r 1
# a repository file and an image file with the same content: one git blob
"$GOVC" import "$S" "oci:$I:tiny" tiny:1 >/dev/null
cp "$T/tiny/etc/tiny" "$M/repos/r/tiny"
wait_for_commit r 2
"$GOVC" export "$S" bb:1 "oci:$T/pre-gc"
"$GOVC" rmi "$S" app:3 back:1 d2:1 md:multi-docker mp:arm tiny:1 >/dev/null
[ "$(uname -m)" != x86_64 ] || "$GOVC" rmi "$S" mp:host >/dev/null
k0=$(kept "$S" | cut -d' ' -f2)
"$GOVC" gc "$S" > "$T/gc1" || true
diag "$(cat "$T/gc1")"
check "gc runs while the store is mounted, and removes the images no tag (or tagged index) reaches" grep -q '^removed [0-9]* objects ([^)]*), [1-9][0-9]* blobs ([^)]*), [1-9][0-9]* layer indexes, [1-9][0-9]* images' "$T/gc1"
check "and keeps what gc -n said it would keep" grep -q "kept [0-9]* objects, $k0 blobs\$" "$T/gc1"
check "the mount still works, and the repository's file is there" sh -c "[ \"\$(cat '$M/repos/r/f')\" = kept ] && echo more > '$M/repos/r/g' && [ \"\$(cat '$M/repos/r/g')\" = more ]"
"$GOVC" export "$S" bb:1 "oci:$T/post-gc" || true
"$GOVC" export "$S" da:3 "oci:$T/da2" || true
check "gc never removes a reachable blob: what is left exports byte for byte as before" sh -c "python3 '$PY' same '$T/pre-gc' 1 '$T/post-gc' 1 && python3 '$PY' same '$T/da' 3 '$T/da2' 3"
"$GOVC" export "$S" r "git:$T/rgit" || true
check "and a file content a removed image shared with a repository stays" eq "$(git -C "$T/rgit" show HEAD:tiny)" tiny
if [ -d "$M/images/da/tags/3/rootfs" ]; then
	check "and the mount's rootfs of a kept image reads its files after gc" eq "$(cat "$M/images/da/tags/3/rootfs/etc/passwd")" "$(cat "$R2/etc/passwd")"
else
	skip "the mount has no images/ view"
fi
check "a second gc finds nothing to remove" eq "$(doomed "$S")" "0 0 0 0"
check "govc fsck passes after all of it" "$GOVC" fsck "$S"
