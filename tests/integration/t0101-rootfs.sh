#!/bin/sh
# t0101-rootfs: images/<name>/rootfs is the union of the image's layers by
# the OCI rules, equal to what `umoci unpack` extracts: contents, modes,
# owners, symlinks, hard links, devices, fifos, xattrs, whiteouts and opaque
# directories; layers/<digest>/ shows one layer; oci/ is an image layout
# that skopeo and umoci read; the tree follows imports within a second.
set -eu
. "$(dirname "$0")/lib.sh"
command -v umoci >/dev/null || skip_all "umoci is not installed"
[ "$(id -u)" = 0 ] || skip_all "needs root (device nodes, owners)"
setup
plan 28
CMP="python3 $(dirname "$0")/treecmp.py"
I=$T/img
B=$T/bundle

# layer 1: a busybox base with every kind of entry
umoci init --layout "$I" && umoci new --image "$I:v"
umoci unpack --image "$I:v" "$B" >/dev/null
R=$B/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/dev" "$R/sys" "$R/tmp" "$R/a" "$R/d/keepdir" \
	"$R/gone/sub" "$R/h" "$R/s"
cp /bin/busybox "$R/bin/"
for x in sh ls cat echo id stat; do ln -s busybox "$R/bin/$x"; done
ln -s /bin/busybox "$R/bin/abs"
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo keep > "$R/a/keep"; echo del > "$R/a/del"; echo v1 > "$R/a/change"
echo o1 > "$R/d/old1"; echo k > "$R/d/keepdir/k"; echo g > "$R/gone/sub/f"
echo one > "$R/h/one"; ln "$R/h/one" "$R/h/two"
printf '#!/bin/sh\necho suid\n' > "$R/s/suid"; chmod 4755 "$R/s/suid"
echo u > "$R/s/owned"; chown 1000:1001 "$R/s/owned"; chmod 640 "$R/s/owned"
mkfifo "$R/s/fifo"; mknod "$R/s/null" c 1 3
setfattr -n user.test -v hello "$R/s/owned"
setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$R/s/suid"
chmod 1777 "$R/tmp"
head -c 3000000 /dev/urandom > "$R/a/big"
umoci repack --image "$I:v" "$B"

# layer 2 (umoci's own diff): change, delete, add, chmod, chown
echo v2 > "$R/a/change"; rm "$R/a/del"; echo added > "$R/a/added"
chmod 700 "$R/a/keep"; chown 2000:2000 "$R/h/one"
umoci repack --image "$I:v" "$B"

# layer 3 (written by hand): an opaque directory, a whiteout of a whole
# tree, a hard link inside the layer, a file replaced by a directory
python3 - "$T/l3.tar" <<'EOF'
import io, sys, tarfile, time
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.mode = mode; i.mtime = 1700000000
    i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
add("d", tarfile.DIRTYPE, mode=0o750)
add("d/.wh..wh..opq")
add("d/new1", data=b"new1\n")
add(".wh.gone")
add("h/three", data=b"three\n")
add("h/four", tarfile.LNKTYPE, link="h/three")
add("a/keep/", tarfile.DIRTYPE, mode=0o755)
add("a/keep/inside", data=b"inside\n")
t.close()
EOF
umoci raw add-layer --image "$I:v" "$T/l3.tar"
rm -rf "$B"
umoci unpack --image "$I:v" "$B" >/dev/null

"$GOVC" import "$S" "oci:$I:v" test:v >/dev/null
RF=$M/images/test/rootfs
i=0; while [ ! -d "$RF/bin" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
check "the rootfs appears within a second or so of the import" test -d "$RF/bin"
check "the rootfs equals umoci unpack of the image" sh -c "$CMP '$R' '$RF' > '$T/cmp.out' 2>&1 || { sed 's/^/# /' '$T/cmp.out'; exit 1; }"
check "a whiteout deletes (a/del, gone/)" sh -c "[ ! -e '$RF/a/del' ] && [ ! -e '$RF/gone' ] && [ -e '$R/a/keep' ]"
check "an opaque directory hides what was below it" sh -c "[ ! -e '$RF/d/old1' ] && [ ! -e '$RF/d/keepdir' ] && [ \"\$(cat '$RF/d/new1')\" = new1 ]"
check "a later layer wins (a/change is v2; a/keep became a directory)" sh -c "[ \"\$(cat '$RF/a/change')\" = v2 ] && [ -d '$RF/a/keep' ]"
check "hard links share an inode number, across layers too" sh -c "[ \"\$(stat -c %i '$RF/h/one')\" = \"\$(stat -c %i '$RF/h/two')\" ] && [ \"\$(stat -c %i '$RF/h/three')\" = \"\$(stat -c %i '$RF/h/four')\" ] && [ \"\$(stat -c %h '$RF/h/three')\" = 2 ]"
check "setuid bit, owner, device and fifo are as the layers say" sh -c "[ \"\$(stat -c '%a %u:%g' '$RF/s/suid')\" = '4755 0:0' ] && [ \"\$(stat -c '%a %u:%g' '$RF/s/owned')\" = '640 1000:1001' ] && [ -c '$RF/s/null' ] && [ \"\$(stat -c '%t:%T' '$RF/s/null')\" = 1:3 ] && [ -p '$RF/s/fifo' ]"
check "xattrs, security.capability included" sh -c "[ \"\$(getfattr --only-values -n user.test '$RF/s/owned')\" = hello ] && getfattr -n security.capability -e base64 '$RF/s/suid' | grep -q AQAAAgAgAAAAAAAAAAAAAAAAAAA="
check "a missing SELinux label is EOPNOTSUPP in the rootfs too" sh -c "! getfattr -n security.selinux '$RF/a/change' 2>'$T/err' && grep -qi 'not supported' '$T/err'"
check "a 3 MB file reads back intact" cmp "$R/a/big" "$RF/a/big"
check "the rootfs is read-only" sh -c "! touch '$RF/newfile' 2>/dev/null && ! rm '$RF/a/change' 2>/dev/null && ! mkdir '$RF/x' 2>/dev/null"
check "the device node works as a device (reads as /dev/null)" sh -c "[ -z \"\$(head -c 10 '$RF/s/null')\" ]"
check "find lists the same paths as the unpacked tree" sh -c "(cd '$R' && find . | sort) > '$T/f1'; (cd '$RF' && find . | sort) > '$T/f2'; cmp '$T/f1' '$T/f2'"

# layers/<digest>/: one layer on its own, with overlayfs' conventions
L3=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['layers'][-1]['digest'])" "$M/images/test/manifest.json")
python3 -c "import json,sys; print('\n'.join(sorted(l['digest'] for l in json.load(open(sys.argv[1]))['layers'])))" "$M/images/test/manifest.json" > "$T/layers.want"
check "images/test/layers lists the image's layers as links into layers/" sh -c "ls '$M/images/test/layers' | cmp - '$T/layers.want' && [ -d '$M/images/test/layers/$L3/d' ] && [ \"\$(readlink '$M/images/test/layers/$L3')\" = '../../../layers/$L3' ] || { ls -l '$M/images/test/layers' | sed 's/^/# /'; exit 1; }"
check "a layer's whiteout shows as a 0:0 character device" sh -c "[ -c '$M/layers/$L3/gone' ] && [ \"\$(stat -c '%t:%T' '$M/layers/$L3/gone')\" = 0:0 ]"
check "an opaque directory carries trusted.overlay.opaque=y" sh -c "[ \"\$(getfattr --only-values -n trusted.overlay.opaque '$M/layers/$L3/d')\" = y ]"
check "manifest.json and config.json are the image's blobs" sh -c "[ \"sha256:\$(sha256sum < '$M/images/test/manifest.json' | cut -d' ' -f1)\" = \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"manifests\"][0][\"digest\"])' '$I/index.json')\" ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '$M/images/test/config.json'"

# the whole store as an OCI image layout
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$I/index.json" > "$T/mdigest"
check "skopeo inspect reads oci/ straight from the mount" sh -c "skopeo inspect 'oci:$M/oci:test:v' | grep -q '\"Digest\"'"
check "skopeo copy out of oci/ keeps every digest" sh -c "skopeo copy -q 'oci:$M/oci:test:v' 'oci:$T/copy:v' && [ -f '$T/copy/blobs/sha256/'\$(cut -d: -f2 < '$T/mdigest') ] && for f in '$T'/copy/blobs/sha256/*; do cmp \"\$f\" '$I/blobs/sha256/'\"\$(basename \"\$f\")\" || exit 1; done"
check "umoci unpack of oci/ gives the same tree" sh -c "umoci unpack --image '$M/oci:test:v' '$T/b2' >/dev/null && $CMP '$R' '$T/b2/rootfs' >/dev/null"

# tags, names with '/' and ':', and a tree that follows imports
"$GOVC" import "$S" "oci:$I:v" localhost:5000/team/app:1 >/dev/null
i=0; while [ ! -d "$M/images/localhost:5000/team/app/rootfs/bin" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
check "a name with '/' and ':' is nested directories" test -f "$M/images/localhost:5000/team/app/rootfs/a/added"
check "tags/<tag>/ shows every tag" sh -c "[ \"\$(ls '$M/images/test/tags')\" = v ] && [ -d '$M/images/test/tags/v/rootfs/bin' ]"
# listings of images/ are cached by the kernel, and invalidated when a tag
# changes (by any process): a new tag shows in a listing read just before
ls "$M/images/test/tags" >/dev/null; ls "$M/images" >/dev/null
# and a process working in the rootfs meanwhile keeps its working
# directory: the watcher expires entries instead of unhashing them (an
# unhashed dentry reads as deleted, and made a container's pivot_root fail)
(cd "$RF" && exec sleep 3) &
cwd_pid=$!
sleep 0.2
"$GOVC" import "$S" "oci:$I:v" test:w >/dev/null
"$GOVC" import "$S" "oci:$I:v" other:1 >/dev/null
sleep 0.5
check "a cached listing shows a new tag and a new image within half a second" sh -c "ls '$M/images/test/tags' | grep -qx w && ls '$M/images' | grep -qx other"
cwd=$(readlink "/proc/$cwd_pid/cwd" || true)
kill "$cwd_pid" 2>/dev/null; wait "$cwd_pid" 2>/dev/null || true
check "a working directory in the rootfs survives a new tag of its image" sh -c "[ '$cwd' = '$RF' ] || { echo '# cwd: $cwd'; exit 1; }"
"$GOVC" rmi "$S" test:w >/dev/null
sleep 0.5
check "and drops a removed tag as fast" sh -c "! ls '$M/images/test/tags' | grep -qx w && [ ! -e '$M/images/test/tags/w' ]"
# a new tag "latest" pointing at a one-layer image becomes the default
B1=$T/one
umoci init --layout "$B1" && umoci new --image "$B1:latest"
umoci unpack --image "$B1:latest" "$T/ob" >/dev/null
echo only > "$T/ob/rootfs/only"
umoci repack --image "$B1:latest" "$T/ob"
"$GOVC" import "$S" "oci:$B1:latest" test:latest >/dev/null
i=0; while [ ! -f "$RF/only" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
check "images/<name>/ follows a new 'latest' tag within a few seconds" sh -c "[ -f '$RF/only' ] && [ ! -e '$RF/bin' ]"
"$GOVC" rmi "$S" test:latest >/dev/null
i=0; while [ ! -d "$RF/bin" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
check "and goes back when the tag is removed" test -d "$RF/bin"
"$GOVC" umount "$M"
"$GOVC" mount -o "$(mount_opts)" "$S" "$M"
check "after a remount the rootfs is the same" sh -c "$CMP '$R' '$RF' >/dev/null"
