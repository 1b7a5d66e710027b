#!/bin/sh
# bench-images.sh - govc's image rootfs side by side with extraction
# (umoci unpack, tar -x), the native filesystem, kernel overlayfs,
# fuse-overlayfs and squashfuse, in one run; prints medians and ratios.
#
#   bench/bench-images.sh                  full sizes (an image of ~600 MB in 4 layers:
#                                          ~10,000 entries and a 512 MiB file), ~3 minutes
#   BENCH_QUICK=1 bench/bench-images.sh    small sizes, for a smoke run, ~25 s
#
# The image is generated offline (busybox-static base, a layer of small
# files, half random and half text, a layer with one big random file, a
# layer that changes, deletes (whiteouts) and makes a directory opaque),
# written as an OCI layout by tar, gzip and python3, and imported with
# `govc import`.  A second image shares the first three layers.
#
# Sizes: NSMALL (files in the small-file layer), BIGMB (the big file),
# RUNS override either mode.  GOVC names the binary (default: tools/govc
# of this tree).  Needs root (mounts, drop_caches), hyperfine, umoci,
# fuse-overlayfs, squashfuse, mksquashfs, python3, kernel overlayfs.
# Scratch space goes in /var/tmp (about 5 GiB at full size).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
GOVC=${GOVC:-$top/tools/govc}
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
	NSMALL=${NSMALL:-1000} BIGMB=${BIGMB:-64} RUNS=${RUNS:-3}
else
	NSMALL=${NSMALL:-9800} BIGMB=${BIGMB:-512} RUNS=${RUNS:-5}
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench-images.sh: run as root (mounts and drop_caches)" >&2
	exit 1
fi
for t in hyperfine umoci fuse-overlayfs squashfuse mksquashfs mdb_stat python3 busybox fusermount3; do
	command -v "$t" >/dev/null || { echo "bench-images.sh: $t is missing; run tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$GOVC" ] || { echo "bench-images.sh: no govc at $GOVC; build first or set GOVC" >&2; exit 1; }

B=$(mktemp -d /var/tmp/govc-bench-img.XXXXXX)
S=$B/store	# govc store
M=$B/mnt	# its mount
G=$B/gen	# the generated OCI layout (G/oci) and lists
NAT=$B/x-umoci/rootfs	# the native tree: the last `umoci unpack`
OVL=$B/ovl FOV=$B/fov SQ=$B/sqfs
mkdir -p "$M" "$G" "$OVL" "$FOV" "$SQ" "$B/lower"
ismnt() { mountpoint -q "$1" 2>/dev/null; }
cleanup() {
	ismnt "$M" && { "$GOVC" umount "$M" 2>/dev/null || fusermount3 -u -z "$M" 2>/dev/null || true; }
	ismnt "$OVL" && { umount "$OVL" 2>/dev/null || umount -l "$OVL" || true; }
	for d in "$FOV" "$SQ"; do ismnt "$d" && { fusermount3 -u "$d" 2>/dev/null || fusermount3 -u -z "$d" || true; }; done
	if grep -q " $B/" /proc/mounts; then
		echo "bench-images.sh: something is still mounted under $B; not removing it" >&2
	else
		rm -rf "$B"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f%%", 100 * a / b}'; }
row() { printf '%-50s %10s s %10s s %8sx\n' "$1" "$2" "$3" "$4"; }
rowp() { printf '%-50s %10s s %10s s %9s\n' "$1" "$2" "$3" "$4"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

# hf PREPARE CMD [-N]: the median seconds of RUNS runs of CMD (through
# hyperfine); PREPARE (a command) runs before each, or, when empty, two
# warmup runs come first.  -N: run CMD (and PREPARE) without a shell, so
# that no shell startup is estimated and subtracted.
hf() {
	if [ -n "$1" ]; then
		set -- --runs "$RUNS" --prepare "$1" "$2" ${3:-}
	else
		set -- --runs "$RUNS" --warmup 2 "$2" ${3:-}
	fi
	hyperfine --style none --export-json "$B/hf.json" "$@" >/dev/null 2>"$B/hf.err" ||
		{ cat "$B/hf.err" >&2; return 1; }
	python3 -c 'import json, statistics, sys
print("%.4f" % statistics.median(json.load(open(sys.argv[1]))["results"][0]["times"]))' "$B/hf.json"
}

echo "govc image bench: $(nproc) cores, $(uname -r), small files=$NSMALL, big file=${BIGMB} MiB," \
	"runs=$RUNS (medians, hyperfine $(hyperfine --version | cut -d' ' -f2))"
echo "govc: $GOVC ($(cd "$top" && git describe --always --dirty 2>/dev/null || echo unknown))"
echo

# ---- 1. the images, as an OCI layout ------------------------------------
t0=$(now)
python3 - "$G" "$NSMALL" "$BIGMB" <<'PY'
import hashlib, json, os, random, shutil, subprocess, sys
G, nsmall, bigmb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(3)
src, oci = os.path.join(G, "src"), os.path.join(G, "oci")
blobs = os.path.join(oci, "blobs", "sha256")
os.makedirs(blobs)
syl = ["ka", "lo", "mi", "ne", "ru", "ta", "se", "po", "di", "an", "er", "on", "ul", "ix"]
words = ["".join(rnd.choice(syl) for _ in range(rnd.randint(1, 4))) for _ in range(3000)]
pool = (" ".join(rnd.choice(words) for _ in range(300000)) + "\n").encode()

def content(n):		# half incompressible, half text
    if rnd.random() < 0.5:
        return rnd.randbytes(n)
    o = rnd.randrange(0, len(pool) - n)
    return pool[o:o + n]

def put(root, path, data, mode=0o644):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)

def small(i):
    return "usr/share/bench/d%03d/f%05d" % (i // 100, i)

def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}

def layer(name):	# tar | gzip the directory src/NAME into a blob
    d = os.path.join(src, name)
    names = sorted(os.listdir(d))
    tmp = os.path.join(blobs, "tmp")
    diff = hashlib.sha256()
    with open(tmp, "wb") as out:
        tar = subprocess.Popen(["tar", "-C", d, "--sort=name", "--numeric-owner", "--owner=0",
                                "--group=0", "--mtime=@1700000000", "-cf", "-", "--"] + names,
                               stdout=subprocess.PIPE)
        gz = subprocess.Popen(["gzip", "-n", "-6"], stdin=subprocess.PIPE, stdout=out)
        while True:
            b = tar.stdout.read(1 << 20)
            if not b:
                break
            diff.update(b)
            gz.stdin.write(b)
        gz.stdin.close()
        if gz.wait() or tar.wait():
            sys.exit("gen: tar or gzip failed on " + d)
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    os.rename(tmp, os.path.join(blobs, h.hexdigest()))
    shutil.rmtree(d)
    return ({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": "sha256:" + h.hexdigest(), "size": os.path.getsize(os.path.join(blobs, h.hexdigest()))},
            "sha256:" + diff.hexdigest())

# L1: busybox-static base, applets as relative symlinks
L = os.path.join(src, "L1")
for d in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "proc", "dev", "sys", "var"]:
    os.makedirs(os.path.join(L, d))
os.chmod(os.path.join(L, "tmp"), 0o1777)
shutil.copyfile("/bin/busybox", os.path.join(L, "bin/busybox"))
os.chmod(os.path.join(L, "bin/busybox"), 0o755)
applets = subprocess.run(["busybox", "--list-full"], capture_output=True, text=True,
                         check=True).stdout.split()
for p in set(applets) | {"bin/sh"}:
    if p != "bin/busybox":
        os.symlink(os.path.relpath("bin/busybox", os.path.dirname(p)), os.path.join(L, p))
put(L, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
put(L, "etc/group", b"root:x:0:\n")
# L2: NSMALL small files, 100 to a directory
L = os.path.join(src, "L2")
for i in range(nsmall):
    put(L, small(i), content(rnd.randint(256, 16384)))
# L3: one big random file
L = os.path.join(src, "L3")
os.makedirs(os.path.join(L, "opt/big"))
with open(os.path.join(L, "opt/big/blob.bin"), "wb") as f:
    for _ in range(bigmb):
        f.write(os.urandom(1 << 20))
# L4: changes 5% of the small files, deletes 2%, makes d000 opaque
L = os.path.join(src, "L4")
pick = rnd.sample(range(100, nsmall), nsmall // 20 + nsmall // 50)
for i in pick[:nsmall // 20]:
    put(L, small(i), content(rnd.randint(256, 16384)))
for i in pick[nsmall // 20:]:
    d, f = os.path.split(small(i))
    put(L, d + "/.wh." + f, b"")
put(L, "usr/share/bench/d000/.wh..wh..opq", b"")
for i in range(20):
    put(L, "usr/share/bench/d000/g%02d" % i, content(rnd.randint(256, 4096)))
put(L, "etc/motd", b"image a\n")
# L5: the second image's own top layer
L = os.path.join(src, "L5")
for i in range(200):
    put(L, "usr/share/app/a%03d" % i, content(rnd.randint(256, 16384)))
put(L, "etc/motd", b"image b\n")

lay = {n: layer(n) for n in ["L1", "L2", "L3", "L4", "L5"]}
index = []
for tag, names in [("a", ["L1", "L2", "L3", "L4"]), ("b", ["L1", "L2", "L3", "L5"])]:
    config = {"created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
              "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": [lay[n][1] for n in names]}}
    c = blob(json.dumps(config).encode())
    c["mediaType"] = "application/vnd.oci.image.config.v1+json"
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": c, "layers": [lay[n][0] for n in names]}
    m = blob(json.dumps(man).encode())
    m["mediaType"] = man["mediaType"]
    m["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index.append(m)
    with open(os.path.join(G, "layers-" + tag), "w") as f:
        for n in names:
            f.write(os.path.join(blobs, lay[n][0]["digest"][7:]) + "\n")
    with open(os.path.join(G, "size-" + tag), "w") as f:
        f.write("%d\n" % (m["size"] + c["size"] + sum(lay[n][0]["size"] for n in names)))
with open(os.path.join(oci, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": index}, f)
with open(os.path.join(oci, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
PY
rmdir "$G/src"
sizea=$(cat "$G/size-a") sizeb=$(cat "$G/size-b")
echo "(images generated in $(since "$t0") s: image a $((sizea / 1000000)) MB in 4 gzip layers," \
	"image b $((sizeb / 1000000)) MB shares 3 of them)"

# ---- 2. govc import; storing two images that share a base ---------------
store_bytes() {	# on disk (du) and live in LMDB (pages used - free pages)
	du=$(du -sB1 "$S" | cut -f1)
	live=$(mdb_stat -ef "$S" 2>/dev/null | awk '/Page size:/ {p = $3} /Number of pages used:/ {u = $5}
		/Free pages:/ {f = $3} END {if (p) print (u - f) * p; else print "?"}')
	echo "$du $live"
}
"$GOVC" init "$S" >/dev/null
t0=$(now)
"$GOVC" import -q "$S" "oci:$G/oci:a" big:latest >/dev/null
timp=$(since "$t0")
set -- $(store_bytes); du1=$1 live1=$2
t0=$(now)
"$GOVC" import -q "$S" "oci:$G/oci:b" big2:latest >/dev/null
timp2=$(since "$t0")
set -- $(store_bytes); du2=$1 live2=$2
echo "(govc import: image a $timp s, image b $timp2 s)"

# ---- 3. the peers: extracted layers, overlay lowerdirs, squashfs ---------
echo "for f in \$(cat '$G/layers-a'); do tar -xzf \"\$f\" -C '$B/x-tar' || exit 1; done" > "$B/tarx"
lowers=
n=1
for f in $(cat "$G/layers-a"); do
	mkdir "$B/lower/$n"
	tar -xzf "$f" -C "$B/lower/$n"
	lowers=$B/lower/$n${lowers:+:$lowers}	# the top layer first
	n=$((n + 1))
done
# OCI whiteouts to overlayfs' own: .wh.NAME -> char device 0:0,
# .wh..wh..opq -> trusted.overlay.opaque=y on its directory
python3 - "$B/lower" <<'PY'
import os, stat, sys
for root, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        if f == ".wh..wh..opq":
            os.remove(os.path.join(root, f))
            os.setxattr(root, "trusted.overlay.opaque", b"y")
        elif f.startswith(".wh."):
            os.remove(os.path.join(root, f))
            os.mknod(os.path.join(root, f[4:]), stat.S_IFCHR, os.makedev(0, 0))
PY
umoci unpack --image "$G/oci:a" "$B/x-umoci" >/dev/null 2>&1
t0=$(now)
mksquashfs "$NAT" "$B/rootfs.sqfs" -noappend -quiet -no-progress >/dev/null
echo "(lowerdirs extracted; mksquashfs of the unpacked tree $(since "$t0") s," \
	"$(($(stat -c %s "$B/rootfs.sqfs") / 1000000)) MB)"

# ctl mount|umount|cold PEER: the helper hyperfine's --prepare calls
cat > "$B/ctl" <<EOF
#!/bin/sh
set -e
mnt() {
	case \$1 in
	govc) mountpoint -q '$M' || '$GOVC' mount '$S' '$M' ;;
	ovl) mountpoint -q '$OVL' || mount -t overlay overlay -o 'lowerdir=$lowers' '$OVL' ;;
	fov) mountpoint -q '$FOV' || fuse-overlayfs -o 'lowerdir=$lowers' '$FOV' 2>'$B/fov.err' ||
		{ cat '$B/fov.err' >&2; exit 1; } ;;
	sqfs) mountpoint -q '$SQ' || squashfuse '$B/rootfs.sqfs' '$SQ' ;;
	esac
}
umnt() {
	case \$1 in
	govc) ! mountpoint -q '$M' || '$GOVC' umount '$M' ;;
	ovl) ! mountpoint -q '$OVL' || umount '$OVL' ;;
	fov) ! mountpoint -q '$FOV' || fusermount3 -u '$FOV' ;;
	sqfs) ! mountpoint -q '$SQ' || fusermount3 -u '$SQ' ;;
	esac
}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
case \$1 in
mount) mnt \$2 ;;
umount) umnt \$2 ;;
cold) umnt \$2; drop; mnt \$2 ;;	# a fresh mount, caches dropped
cold-unmounted) umnt \$2; drop ;;
esac
EOF
chmod +x "$B/ctl"
for p in govc ovl fov sqfs; do "$B/ctl" mount $p; done
R=$M/images/big/rootfs
have_govc=1
if [ ! -e "$R/bin/sh" ]; then
	have_govc=0
	echo "NOTE: $R/bin/sh is not there (ls $M/images: $(ls "$M/images" 2>&1 | tr '\n' ' '));" \
		"the govc rows are skipped"
fi
peers="native ovl fov sqfs"
[ $have_govc = 1 ] && peers="govc $peers"
root() { case $1 in govc) echo "$R" ;; native) echo "$NAT" ;; ovl) echo "$OVL" ;; fov) echo "$FOV" ;; sqfs) echo "$SQ" ;; esac; }
label() { case $1 in govc) echo govc ;; native) echo native ;; ovl) echo overlayfs ;; fov) echo fuse-overlayfs ;; sqfs) echo squashfuse ;; esac; }

# every view must show the same tree as umoci unpack (dir sizes and
# times aside), and the same file contents
listing() { (cd "$1" && find . -printf '%y %p %m %U %G %s %l\n' | awk '$1 == "d" {$6 = "-"} 1' | LC_ALL=C sort); }
sums() { (cd "$1" && find . -type f ! -name blob.bin | LC_ALL=C sort | xargs cat | md5sum | cut -d' ' -f1) ; }
listing "$NAT" > "$B/list.native"
nsum=$(sums "$NAT")
entries=$(find "$NAT" | wc -l)
for p in $peers; do
	[ $p = native ] && continue
	listing "$(root $p)" > "$B/list.$p"
	if ! cmp -s "$B/list.native" "$B/list.$p"; then
		echo "WARNING: the tree of $(label $p) differs from umoci unpack ($(diff "$B/list.native" "$B/list.$p" | grep -c '^[<>]') lines), e.g.:"
		diff "$B/list.native" "$B/list.$p" | grep '^[<>]' | head -n 4
	fi
	[ "$(sums "$(root $p)")" = "$nsum" ] || echo "WARNING: file contents under $(label $p) differ from umoci unpack"
	cmp -s "$NAT/opt/big/blob.bin" "$(root $p)/opt/big/blob.bin" || echo "WARNING: opt/big/blob.bin under $(label $p) differs"
done
echo "(all views checked against umoci unpack: $entries entries)"
echo

echo "ratio: govc's time over the reference's (below 1x: govc is faster); % of full extraction"
printf '%-50s %12s %12s %9s\n' "workload" "govc" "reference" "ratio"

# ---- 4. image in the store -> first file read, against full extraction --
tu=$(hf "rm -rf '$B/x-umoci'; $B/ctl cold-unmounted none" "umoci unpack --image '$G/oci:a' '$B/x-umoci'")
tt=$(hf "rm -rf '$B/x-tar'; mkdir '$B/x-tar'; $B/ctl cold-unmounted none" "sh '$B/tarx'")
rm -rf "$B/x-tar"
if [ $have_govc = 1 ]; then
	tm=$(hf "$B/ctl cold-unmounted govc" "'$GOVC' mount '$S' '$M' && cat '$R/bin/sh' > /dev/null")
	tf=$(hf "$B/ctl cold govc" "cat '$R/bin/sh'" -N)
	tmo=$(hf "$B/ctl cold-unmounted govc" "'$GOVC' mount '$S' '$M'" -N)
	rowp "mount + first read (cat bin/sh) vs umoci unpack" "$tm" "$tu" "$(pct "$tm" "$tu")"
	rowp "mount + first read vs tar -xzf of each layer" "$tm" "$tt" "$(pct "$tm" "$tt")"
	rowp "first read, fresh mount, cold vs umoci unpack" "$tf" "$tu" "$(pct "$tf" "$tu")"
	rowp "first read, fresh mount, cold vs tar -xzf" "$tf" "$tt" "$(pct "$tf" "$tt")"
	rowp "(govc mount alone, cold, vs umoci unpack)" "$tmo" "$tu" "$(pct "$tmo" "$tu")"
	rowp "(govc import, done once, vs umoci unpack)" "$timp" "$tu" "$(pct "$timp" "$tu")"
else
	rowp "umoci unpack (govc: n/a)" "-" "$tu" "-"
	rowp "tar -xzf of each layer (govc: n/a)" "-" "$tt" "-"
fi

# report WHAT: a row per peer for the times t_<peer> just taken, against
# govc's (or, without govc, against native)
report() {
	for p in $peers; do
		[ $p = govc ] && continue
		eval "t=\$t_$p"
		if [ $have_govc = 1 ]; then
			row "$1, vs $(label $p)" "$t_govc" "$t" "$(ratio "$t_govc" "$t")"
		else
			row "$1, $(label $p) vs native" "$t" "$t_native" "$(ratio "$t" "$t_native")"
		fi
	done
}

# ---- 5. find and ls -lR over the rootfs, cold and warm ------------------
for cmd in "find" "ls -lR"; do
	for mode in cold warm; do
		for p in $peers; do
			if [ "$cmd" = find ]; then c="find '$(root $p)' | wc -l" N=; else c="ls -lR '$(root $p)'" N=-N; fi
			if [ $mode = cold ]; then t=$(hf "$B/ctl cold $p" "$c" $N); else t=$(hf "" "$c" $N); fi
			eval "t_$p=\$t"
		done
		report "$cmd $entries entries, $mode"
	done
done

# ---- 6. sequential read of the big file, cold and warm ------------------
for mode in cold warm; do
	for p in $peers; do
		c="dd if='$(root $p)/opt/big/blob.bin' of=/dev/null bs=1M"
		if [ $mode = cold ]; then t=$(hf "$B/ctl cold $p" "$c" -N); else t=$(hf "" "$c" -N); fi
		eval "t_$p=\$t"
	done
	report "read ${BIGMB} MiB, $mode"
	for p in $peers; do
		eval "t=\$t_$p"
		printf '  %s %s MB/s' "$(label $p)" "$(awk -v t="$t" -v m="$BIGMB" 'BEGIN {printf "%.0f", m * 1.048576 / t}')"
	done
	echo
done

# ---- 7. store size: two images sharing a base ---------------------------
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
echo
echo "store bytes (du of STORE; live = LMDB pages in use), images' blobs (manifest+config+layers):"
printf '  %-40s %12s %12s\n' "" "du" "live"
printf '  %-40s %12s %12s\n' "after image a" "$(mb "$du1")" "$(mb "$live1")"
printf '  %-40s %12s %12s\n' "after image b (shares 3 of 4 layers)" "$(mb "$du2")" "$(mb "$live2")"
printf '  %-40s %12s %12s\n' "growth for image b" "$(mb $((du2 - du1)))" "$(mb $((live2 - live1)))"
printf '  %-40s %12s\n' "blobs of a" "$(mb "$sizea")"
printf '  %-40s %12s\n' "blobs of b" "$(mb "$sizeb")"
printf '  %-40s %12s\n' "sum of both images' blobs" "$(mb $((sizea + sizeb)))"
printf '  %-40s %12s\n' "OCI layout holding both (du)" "$(mb "$(du -sB1 "$G/oci" | cut -f1)")"
printf '  %-40s %12s\n' "store / sum of blobs (du)" "$(ratio "$du2" $((sizea + sizeb)))x"
