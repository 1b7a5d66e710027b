#!/bin/sh
# bench-import.sh - small writes on a mount while `govc import` brings a
# big image into the same store (issue: an import must not stall the
# mount), and the import's own time beside `umoci unpack` and `skopeo
# copy` of the same image, in one run; prints percentiles, medians, ratios.
#
#   bench/bench-import.sh                  an image of ~1 GiB (gzip), ~3-5 minutes
#   BENCH_QUICK=1 bench/bench-import.sh    an image of ~64 MB, for a smoke run, ~1 minute
#
# 1. Generates offline, with python3, tar-less (python's tarfile) and gzip,
#    an OCI layout of IMAGEMB MiB of gzip blobs in 4 layers: NSMALL small
#    files (256 B-8 KiB, half random, half text), medium random files
#    (16 KiB-1 MiB), and large random files (up to 128 MiB) in two layers.
#    It is cached in WORKDIR (default /var/tmp/govc-bench-import/image-*),
#    so a rerun with the same sizes skips this step.
# 2. A fresh store is mounted (`govc init`, `govc mount`, `mkdir repos/x`);
#    a small C writer (compiled here) does open(O_CREAT|O_TRUNC), write of
#    100 bytes, close of files in repos/x (a ring of 100 names), with a
#    pause of INTERVAL_MS (20) after each, for BASE_SECS (15) seconds, and
#    times each open+write+close in microseconds: p50, p99, max.
# 3. The same writer while `govc import STORE oci:LAYOUT:bench img:1` runs
#    beside the mount: started before the import, stopped when it ends;
#    then again while `govc rmi` and `govc gc` remove that image.
#    Also the import's wall time and peak RSS (/usr/bin/time, or
#    getrusage through python3 when /usr/bin/time is missing).
# 4. `govc import` into a fresh, unmounted store against `umoci unpack`
#    and `skopeo copy oci:LAYOUT:bench oci:OUT:bench` of the same image,
#    warm (the layout in the page cache), hyperfine medians of RUNS (3).
#
# Target (the issue): beside a 1 GiB import, small writes keep p99 < 50 ms
# and max < 200 ms.
#
# Sizes: IMAGEMB (MiB of blobs, default 1024; quick 64), NSMALL (default
# 20 per MiB), BASE_SECS, INTERVAL_MS, RUNS override either mode.  GOVC
# names the binary (default: tools/govc of this tree), WORKDIR the cache
# and scratch directory.  Needs root (mounts), hyperfine, umoci, skopeo,
# python3, gzip, cc, fusermount3.  Scratch space: about 4.5x IMAGEMB in
# WORKDIR at most (the cached layout, a store of twice the image, a copy),
# all but the layout removed at the end.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
GOVC=${GOVC:-$top/tools/govc}
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
	IMAGEMB=${IMAGEMB:-64} BASE_SECS=${BASE_SECS:-5} RUNS=${RUNS:-3}
else
	IMAGEMB=${IMAGEMB:-1024} BASE_SECS=${BASE_SECS:-15} RUNS=${RUNS:-3}
fi
NSMALL=${NSMALL:-$((IMAGEMB * 20))}
INTERVAL_MS=${INTERVAL_MS:-20}
WORKDIR=${WORKDIR:-/var/tmp/govc-bench-import}
TAG=bench
if [ "$(id -u)" != 0 ]; then
	echo "bench-import.sh: run as root (mounts)" >&2
	exit 1
fi
for t in hyperfine umoci skopeo python3 gzip cc fusermount3 mountpoint; do
	command -v "$t" >/dev/null || { echo "bench-import.sh: $t is missing; run tools/install-deps.sh" >&2; exit 1; }
done
[ -x "$GOVC" ] || { echo "bench-import.sh: no govc at $GOVC; build first or set GOVC" >&2; exit 1; }

tstart=$(date +%s.%N)
mkdir -p "$WORKDIR"
IMG=$WORKDIR/image-${IMAGEMB}m-${NSMALL}	# the cached layout: IMG/oci
B=$(mktemp -d "$WORKDIR/run.XXXXXX")	# this run's scratch, removed at exit
S=$B/store M=$B/mnt	# the mounted store
S2=$B/store2	# fresh stores for the timed imports
mkdir -p "$M"
wpid= ipid=
ismnt() { mountpoint -q "$1" 2>/dev/null; }
killtree() {	# PID and its descendants, children first
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do killtree "$c"; done
	kill "$1" 2>/dev/null || true
}
cleanup() {
	[ -n "$wpid" ] && { kill "$wpid" 2>/dev/null || true; wait "$wpid" 2>/dev/null || true; }
	# the import: the subshell running it, the timing wrapper and govc
	[ -n "$ipid" ] && { killtree "$ipid"; wait "$ipid" 2>/dev/null || true; }
	ismnt "$M" && { "$GOVC" umount "$M" 2>/dev/null || fusermount3 -u -z "$M" 2>/dev/null || true; }
	if grep -q " $B/" /proc/mounts; then
		echo "bench-import.sh: something is still mounted under $B; not removing it" >&2
	else
		rm -rf "$B"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# measured OUT CMD...: run CMD; OUT gets "wall-seconds peak-RSS-KiB"
if [ -x /usr/bin/time ]; then
	measured() { o=$1; shift; /usr/bin/time -f '%e %M' -o "$o" "$@"; }
	rssby="/usr/bin/time"
else
	measured() {
		python3 -c 'import resource, subprocess, sys, time
t = time.perf_counter(); r = subprocess.call(sys.argv[2:]); t = time.perf_counter() - t
open(sys.argv[1], "w").write("%.3f %d\n" % (t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(r)' "$@"
	}
	rssby="getrusage (no /usr/bin/time)"
fi

# hf PREPARE CMD: the median seconds of RUNS runs of CMD through hyperfine,
# PREPARE before each
hf() {
	hyperfine --style none --export-json "$B/hf.json" --runs "$RUNS" --prepare "$1" "$2" \
		>/dev/null 2>"$B/hf.err" || { cat "$B/hf.err" >&2; return 1; }
	python3 -c 'import json, statistics, sys
print("%.3f" % statistics.median(json.load(open(sys.argv[1]))["results"][0]["times"]))' "$B/hf.json"
}

echo "govc import bench: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1)), $(uname -r)," \
	"image ${IMAGEMB} MiB, small files=$NSMALL, writes every ${INTERVAL_MS} ms, runs=$RUNS" \
	"(hyperfine $(hyperfine --version | cut -d' ' -f2))"
echo "govc: $GOVC ($(cd "$top" && git describe --always --dirty 2>/dev/null || echo unknown))"
echo

# ---- 1. the image, as an OCI layout (cached) -----------------------------
if [ -f "$IMG/ok" ]; then
	echo "(image: cached in $IMG, $(cat "$IMG/ok"))"
else
	rm -rf "$IMG"
	t0=$(now)
	python3 - "$IMG.tmp" "$IMAGEMB" "$NSMALL" "$TAG" <<'PY'
import hashlib, json, multiprocessing, os, random, shutil, subprocess, sys, tarfile
out, total_mb, nsmall, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
shutil.rmtree(out, ignore_errors=True)
oci = os.path.join(out, "oci")
blobs = os.path.join(oci, "blobs", "sha256")
os.makedirs(blobs)
MIB, MTIME = 1 << 20, 1700000000
rnd = random.Random(11)

small = [rnd.randint(256, 8192) for _ in range(nsmall)]
nmed = max(8, total_mb // 5)
medium = [rnd.randint(16 << 10, 1 << 20) for _ in range(nmed)]
# the text half of the small files compresses to about a third
budget = total_mb * MIB - sum(small) * 2 // 3 - sum(medium)
big = []
while budget > 0:
    big.append(min(128 * MIB, max(budget, 1 * MIB)))
    budget -= big[-1]

class Hashing:		# the uncompressed stream: hashed (diff_id) on its way to gzip
    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0
    def write(self, b):
        self.h.update(b)
        self.f.write(b)
        self.n += len(b)
        return len(b)

class Random:		# incompressible file contents, read in chunks
    def __init__(self, n):
        self.left = n
    def read(self, n=-1):
        n = self.left if n < 0 or n > self.left else n
        self.left -= n
        return os.urandom(n)

class Bytes:
    def __init__(self, b):
        self.b, self.o = b, 0
    def read(self, n=-1):
        n = len(self.b) - self.o if n < 0 else n
        r = self.b[self.o:self.o + n]
        self.o += len(r)
        return r

def entry(name, size=0, mode=0o644, dir=False):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, 0, 0, "root", "root"
    if dir:
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    else:
        ti.size, ti.mode = size, mode
    return ti

def dirs(path):		# a directory and its parents, as entries
    parts = path.split("/")
    return [entry("/".join(parts[:i + 1]), dir=True) for i in range(len(parts))]

def members(name):
    if name == "L1":	# many small files, 100 to a directory
        r = random.Random(1)
        syl = ["ka", "lo", "mi", "ne", "ru", "ta", "se", "po", "di", "an", "er", "on"]
        words = ["".join(r.choice(syl) for _ in range(r.randint(1, 4))) for _ in range(3000)]
        pool = (" ".join(r.choice(words) for _ in range(100000)) + "\n").encode()
        for ti in dirs("etc") + dirs("usr/share/small"):
            yield ti, None
        yield entry("etc/hostname", 6), Bytes(b"bench\n")
        for i, n in enumerate(small):
            if i % 100 == 0:
                yield entry("usr/share/small/d%04d" % (i // 100), dir=True), None
            if i % 2:
                o = r.randrange(0, len(pool) - n)
                data = pool[o:o + n]
            else:
                data = os.urandom(n)
            yield entry("usr/share/small/d%04d/f%06d" % (i // 100, i), n), Bytes(data)
    elif name == "L2":	# medium random files
        for ti in dirs("opt/medium"):
            yield ti, None
        for i, n in enumerate(medium):
            yield entry("opt/medium/m%04d.bin" % i, n), Random(n)
    else:		# large random files, alternating between L3 and L4
        for ti in dirs("opt/big"):
            yield ti, None
        for i, n in enumerate(big):
            if (i % 2 == 0) == (name == "L3"):
                yield entry("opt/big/big%02d.bin" % i, n), Random(n)

def layer(name):
    tmp = os.path.join(blobs, name + ".tmp")
    with open(tmp, "wb") as f:
        gz = subprocess.Popen(["gzip", "-n", "-6"], stdin=subprocess.PIPE, stdout=f)
        h = Hashing(gz.stdin)
        with tarfile.open(fileobj=h, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            for ti, data in members(name):
                tar.addfile(ti, data)
        gz.stdin.close()
        if gz.wait():
            sys.exit("gen: gzip failed")
    d = hashlib.sha256()
    with open(tmp, "rb") as f:
        for b in iter(lambda: f.read(MIB), b""):
            d.update(b)
    os.rename(tmp, os.path.join(blobs, d.hexdigest()))
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:" + d.hexdigest(), "size": os.path.getsize(os.path.join(blobs, d.hexdigest()))}, \
           "sha256:" + h.h.hexdigest(), h.n

names = ["L1", "L2", "L3"] + (["L4"] if len(big) > 1 else [])
with multiprocessing.Pool(min(len(names), os.cpu_count() or 1)) as p:
    lay = p.map(layer, names, chunksize=1)

def blob(obj, mt):
    data = json.dumps(obj).encode()
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return {"mediaType": mt, "digest": "sha256:" + d, "size": len(data)}

config = {"created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
          "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
          "rootfs": {"type": "layers", "diff_ids": [l[1] for l in lay]},
          "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "bench-import.sh " + n} for n in names]}
c = blob(config, "application/vnd.oci.image.config.v1+json")
m = blob({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "config": c, "layers": [l[0] for l in lay]}, "application/vnd.oci.image.manifest.v1+json")
m["annotations"] = {"org.opencontainers.image.ref.name": tag}
with open(os.path.join(oci, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [m]}, f)
with open(os.path.join(oci, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
gz = sum(l[0]["size"] for l in lay)
with open(os.path.join(out, "ok"), "w") as f:
    f.write("%.1f MB of gzip blobs in %d layers, %.1f MB unpacked, %d small, %d medium, %d large files\n"
            % (gz / 1e6, len(lay), sum(l[2] for l in lay) / 1e6, len(small), len(medium), len(big)))
PY
	mv "$IMG.tmp" "$IMG"
	echo "(image generated in $(since "$t0") s in $IMG: $(cat "$IMG/ok"))"
	echo "$(since "$t0") s" > "$B/gen"
fi
[ -f "$B/gen" ] || echo "skipped: cached" > "$B/gen"
L=$IMG/oci
imgbytes=$(du -sB1 "$L" | cut -f1)

# ---- the writer -----------------------------------------------------------
# writer DIR INTERVAL_MS SECONDS STOPFILE OUT: until SECONDS have passed
# (0: no limit) or STOPFILE exists, open(O_CREAT|O_TRUNC) + write 100 bytes
# + close a file of DIR (a ring of 100 names), then pause INTERVAL_MS; OUT
# gets a line per write: start (us from the writer's start), latency of
# open+write+close (us), errno (0: none)
cc -O2 -Wall -o "$B/writer" "$top/bench/writer.c"

# stats OUT WALL: "n p50 p99 max >50ms >200ms errors blocked-s" of a
# writer's output, in ms (blocked: seconds spent in writes over 50 ms)
stats() { python3 "$top/bench/writer-stats.py" "$1"; }

# ---- 2. small writes on an idle mount -------------------------------------
"$GOVC" init "$S" >/dev/null
"$GOVC" mount "$S" "$M"
mkdir "$M/repos/x"
"$B/writer" "$M/repos/x" "$INTERVAL_MS" "$BASE_SECS" "$B/stop" "$B/w.idle"
set -- $(stats "$B/w.idle")
n0=$1 p50_0=$2 p99_0=$3 max0=$4 o50_0=$5 o200_0=$6 err0=$7 blk0=$8
echo "(idle mount: $n0 writes in ${BASE_SECS} s)"

# ---- 3. the same writer beside `govc import` into the mounted store -------
rm -f "$B/stop"
"$B/writer" "$M/repos/x" "$INTERVAL_MS" 0 "$B/stop" "$B/w.import" &
wpid=$!
sleep 0.2
measured "$B/imp.time" "$GOVC" import -q "$S" "oci:$L:$TAG" img:1 >/dev/null 2>"$B/imp.err" &
ipid=$!
irc=0
wait "$ipid" || irc=$?
ipid=
touch "$B/stop"
wait "$wpid"
wpid=
if [ "$irc" != 0 ]; then
	echo "bench-import.sh: govc import failed ($irc):" >&2
	cat "$B/imp.err" >&2
	exit 1
fi
set -- $(cat "$B/imp.time")
twall=$1 trss=$2
set -- $(stats "$B/w.import")
n1=$1 p50_1=$2 p99_1=$3 max1=$4 o50_1=$5 o200_1=$6 err1=$7 blk1=$8
drss=$(awk '/^VmHWM:/ {print $2}' "/proc/$(cat "$S/daemon.pid" 2>/dev/null || echo none)/status" 2>/dev/null || echo "?")
sleep 1.5	# the image shows in a running mount within a second
[ -e "$M/images/img/manifest.json" ] || echo "WARNING: $M/images/img/manifest.json is not there after the import"

# ---- 3b. the same writer beside `govc rmi` + `govc gc` of that image -------
rm -f "$B/stop"
"$B/writer" "$M/repos/x" "$INTERVAL_MS" 0 "$B/stop" "$B/w.gc" &
wpid=$!
sleep 0.2
"$GOVC" rmi "$S" img:1 >/dev/null
tg0=$(now)
"$GOVC" gc "$S" > "$B/gc.out"
tgc=$(since "$tg0")
touch "$B/stop"
wait "$wpid"
wpid=
set -- $(stats "$B/w.gc")
n2=$1 p50_2=$2 p99_2=$3 max2=$4 o50_2=$5 o200_2=$6 err2=$7 blk2=$8
echo "(gc beside the mount: $tgc s, $(cat "$B/gc.out"); $n2 writes meanwhile)"
"$GOVC" umount "$M"
rm -rf "$S"
echo "(import beside the mount: $twall s; $n1 writes meanwhile)"

# ---- 4. govc import against umoci unpack and skopeo copy ------------------
# (each run starts with no dirty pages left by the one before: sync)
ti=$(hf "rm -rf '$S2' && '$GOVC' init '$S2' >/dev/null && sync" "'$GOVC' import -q '$S2' 'oci:$L:$TAG' img:1")
tu=$(hf "rm -rf '$B/bundle' && sync" "umoci unpack --image '$L:$TAG' '$B/bundle'")
rm -rf "$B/bundle"
ts=$(hf "rm -rf '$B/copy' && sync" "skopeo copy -q 'oci:$L:$TAG' 'oci:$B/copy:$TAG'")
rm -rf "$B/copy"
storebytes=$(du -sB1 "$S2" | cut -f1)
echo "(timed imports: store $((storebytes / 1000000)) MB for $((imgbytes / 1000000)) MB of layout)"
echo

# ---- 5. summary -----------------------------------------------------------
ms() { printf '%9s ms' "$1"; }
printf '%-48s %7s %12s %12s %12s %7s %7s %6s\n' "small writes: open+write 100 B+close, ${INTERVAL_MS} ms apart" \
	writes p50 p99 max ">50ms" ">200ms" errors
printf '%-48s %7s %s %s %s %7s %7s %6s\n' "idle mount" "$n0" "$(ms "$p50_0")" "$(ms "$p99_0")" "$(ms "$max0")" \
	"$o50_0" "$o200_0" "$err0"
printf '%-48s %7s %s %s %s %7s %7s %6s\n' "beside govc import of ${IMAGEMB} MiB" "$n1" "$(ms "$p50_1")" \
	"$(ms "$p99_1")" "$(ms "$max1")" "$o50_1" "$o200_1" "$err1"
printf '%-48s %7s %s %s %s %7s %7s %6s\n' "beside govc gc of it (after rmi)" "$n2" "$(ms "$p50_2")" \
	"$(ms "$p99_2")" "$(ms "$max2")" "$o50_2" "$o200_2" "$err2"
printf '%-48s %7s %12s %12s %12s\n' "target beside the import" "" "" "< 50 ms" "< 200 ms"
met() { awk -v a="$1" -v b="$2" 'BEGIN {print (a < b) ? "met" : "NOT met"}'; }
echo "  p99 $(met "$p99_1" 50), max $(met "$max1" 200); the writer spent $blk1 s of the import's $twall s" \
	"in writes over 50 ms (idle: $blk0 s)"
echo
echo "ratio: govc's time over the reference's (below 1x: govc is faster)"
printf '%-48s %10s %10s %8s\n' "workload" "govc" "reference" "ratio"
printf '%-48s %8s s %8s s %7sx\n' "govc import vs umoci unpack" "$ti" "$tu" "$(ratio "$ti" "$tu")"
printf '%-48s %8s s %8s s %7sx\n' "govc import vs skopeo copy oci: -> oci:" "$ti" "$ts" "$(ratio "$ti" "$ts")"
printf '%-48s %8s s %8s s %7sx\n' "govc import beside the mount vs unmounted" "$twall" "$ti" "$(ratio "$twall" "$ti")"
echo
echo "govc import beside the mount: wall $twall s, peak RSS $((trss / 1024)) MiB ($rssby);" \
	"daemon's VmHWM afterwards $( [ "$drss" = "?" ] && echo "?" || echo "$((drss / 1024)) MiB")"
echo "image: $((imgbytes / 1000000)) MB layout ($(cat "$IMG/ok" | cut -d, -f1-2)); store after one import: $((storebytes / 1000000)) MB"
echo "imports into a fresh unmounted store, umoci unpack into a fresh bundle, skopeo copy into a fresh" \
	"layout: warm (layout in the page cache), sync before each, medians of $RUNS; govc import" \
	"ends with an fsync of the store, umoci and skopeo do not sync"
gen=$(cat "$B/gen")
cleanup	# inside the timing: removing GiBs of store, bundle and copy takes a while
echo "whole bench: $(since "$tstart") s (image generation: $gen; cleanup included)"
