#!/bin/sh
# bench-registry.sh - `govc pull` and `govc push` against a local
# docker-registry (plain HTTP, 127.0.0.1), beside `skopeo copy` of the same
# image from and to an OCI directory, in one run; the blob bytes a second
# pull moves (the registry's access log); and small writes on a mount
# while a pull goes into the mounted store.
#
#   bench/bench-registry.sh               ~500 MB in 5 gzip layers
#   IMAGEMB=64 bench/bench-registry.sh    a smoke run
#
# The image is random content (incompressible; gzip level 1), made once by
# tests/integration/mkimage.py and cached in WORKDIR (default
# /var/tmp/govc-bench-registry).  Each side pushes to a registry of its
# own, so neither finds the other's blobs; each round's pushes go to
# fresh, empty registries (one run each: skopeo's blob cache would mount
# blobs across repositories of one registry, which govc does not do yet);
# pulls go into a fresh store / directory (made in hyperfine's --prepare,
# not timed).
#
# Timing: hyperfine, every variant in one invocation (govc pull with the
# default --jobs 4, govc pull --jobs 1, skopeo copy), RUNS runs each
# (default 3), and that ROUNDS times (default 3), so that on a machine
# shared with other work the variants see the same load; the table gives
# the median of all runs, and the ratio of medians for each round.
# Pushes: one run per round.
#
# Latency: bench/writer.c does small writes (open, write 100 B, close, 20
# ms apart) on a mounted store, idle for BASE_SECS (5), then while `govc
# pull` brings the image into that store; p50/p99/max as bench-import.sh.
#
# GOVC_BASE=/path/to/an/older/govc adds its pull to the pull runs (a
# before-and-after in one run).
#
# Needs root (the mount), docker-registry, skopeo, hyperfine, python3, cc.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
GOVC=${GOVC:-$HERE/tools/govc}
[ -x "$GOVC" ] || GOVC=$(command -v govc)
IMAGEMB=${IMAGEMB:-500}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-3}
BASE_SECS=${BASE_SECS:-5}
WORKDIR=${WORKDIR:-/var/tmp/govc-bench-registry}
MK=$HERE/tests/integration/mkimage.py
for t in docker-registry skopeo hyperfine python3 cc; do
	command -v "$t" >/dev/null || { echo "bench-registry.sh: $t is missing" >&2; exit 1; }
done
mkdir -p "$WORKDIR"
W=$(mktemp -d "$WORKDIR/run.XXXXXX")
M=$W/mnt
wpid=
cleanup() {
	[ -n "$wpid" ] && { kill "$wpid" 2>/dev/null || true; }
	mountpoint -q "$M" 2>/dev/null && { "$GOVC" umount "$M" 2>/dev/null || fusermount3 -u -z "$M" 2>/dev/null || true; }
	# registries are started in command substitutions: their pids go to files
	for f in "$W"/*/pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT

IMG=$WORKDIR/image-$IMAGEMB
if [ ! -f "$IMG/index.json" ]; then
	per=$((IMAGEMB * 1048576 / 5))
	python3 - "$per" > "$WORKDIR/spec.json" <<'PY'
import json, sys
per = int(sys.argv[1])
print(json.dumps({"tag": "bench", "layers": [
    {"compress": "gzip", "level": 1, "entries": [
        {"type": "file", "path": "l%d/big" % i, "size": per - 2000000, "content": "random", "seed": i},
        {"type": "files", "path": "l%d/f%%04d" % i, "count": 500, "size": 4000, "content": "random", "seed": 100 + i}]}
    for i in range(5)]}))
PY
	rm -rf "$IMG"
	python3 "$MK" layout "$WORKDIR/spec.json" "$IMG"
fi

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
registry() {	# registry NAME: start one, print host:port
	p=$(port)
	mkdir -p "$W/$1"
	printf 'version: 0.1\nlog: {level: info}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp: {addr: 127.0.0.1:%s}\n' \
		"$W/$1/data" "$p" > "$W/$1/config.yml"
	docker-registry serve "$W/$1/config.yml" > "$W/$1/log" 2>&1 &
	echo $! > "$W/$1/pid"
	sleep 1
	echo "127.0.0.1:$p"
}
# hf NAME ROUND PREPARE1 CMD1 PREPARE2 CMD2 ...: one hyperfine run of
# every command (RUNS each); appends "NAME-i time ROUND" per run (i: the
# command's number) to $W/times
hf() {
	name=$1 round=$2
	shift 2
	i=0
	while [ $# -ge 2 ]; do
		i=$((i + 1))
		printf '%s\n' "$1" > "$W/prep$i"
		printf '%s\n' "$2" > "$W/cmd$i"
		shift 2
	done
	python3 - "$W" "$name" "$i" "$RUNS" "$round" <<'PY'
import json, subprocess, sys
w, name, n, runs, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
args = ["hyperfine", "--style", "none", "--runs", runs, "--export-json", w + "/hf.json"]
for i in range(1, n + 1):
    args += ["--prepare", open("%s/prep%d" % (w, i)).read().strip()]
args += [open("%s/cmd%d" % (w, i)).read().strip() for i in range(1, n + 1)]
subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
with open(w + "/times", "a") as f:
    for i, r in enumerate(json.load(open(w + "/hf.json"))["results"], 1):
        for t in r["times"]:
            print("%s-%d %.3f %s" % (name, i, t, rnd), file=f)
PY
}
# median KEY [ROUND]: the median of the times of KEY (of one round's runs)
median() {
	python3 - "$W/times" "$@" <<'PY'
import statistics, sys
key = sys.argv[2]
rnd = sys.argv[3] if len(sys.argv) > 3 else None
ts = [float(t) for k, t, r in (l.split() for l in open(sys.argv[1])) if k == key and rnd in (None, r)]
print("%.2f" % statistics.median(ts))
PY
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "registry bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)," \
	"hyperfine $(hyperfine --version | cut -d' ' -f2), skopeo $(skopeo --version | cut -d' ' -f3)"
echo "govc: $GOVC ($(cd "$HERE" && git describe --always --dirty 2>/dev/null || echo unknown))"

"$GOVC" init "$W/src" >/dev/null
"$GOVC" import -q "$W/src" oci:"$IMG":bench img:1
size=$(du -sm "$IMG/blobs" | cut -f1)
RS=$(registry skopeo)
RG=$(registry govc)
skopeo copy -q --preserve-digests --dest-tls-verify=false oci:"$IMG":bench "docker://$RS/b/img:1"
"$GOVC" push -q "$W/src" img:1 "docker://$RG/b/img:1"
for r in $(seq "$ROUNDS"); do
	set -- \
		"rm -rf '$W/dst' && '$GOVC' init '$W/dst' >/dev/null" \
		"'$GOVC' pull -q '$W/dst' docker://$RG/b/img:1 img:1" \
		"rm -rf '$W/dst' && '$GOVC' init '$W/dst' >/dev/null" \
		"'$GOVC' pull -q --jobs 1 '$W/dst' docker://$RG/b/img:1 img:1" \
		"rm -rf '$W/out'" \
		"skopeo copy -q --preserve-digests --src-tls-verify=false docker://$RS/b/img:1 oci:'$W/out':1"
	[ -z "${GOVC_BASE:-}" ] || set -- "$@" \
		"rm -rf '$W/dst' && '$GOVC_BASE' init '$W/dst' >/dev/null" \
		"'$GOVC_BASE' pull -q '$W/dst' docker://$RG/b/img:1 img:1"
	hf pull "$r" "$@"
	# pushes go to registries of this round's, empty: one run each
	PS=$(registry "push-skopeo-$r")
	PG=$(registry "push-govc-$r")
	RUNS=1 hf push "$r" \
		"true" "'$GOVC' push -q '$W/src' img:1 docker://$PG/b/img:1" \
		"true" "skopeo copy -q --preserve-digests --dest-tls-verify=false oci:'$IMG':bench docker://$PS/b/img:1"
	kill "$(cat "$W/push-skopeo-$r/pid")" "$(cat "$W/push-govc-$r/pid")"
	rm -rf "$W/push-skopeo-$r" "$W/push-govc-$r"
done

before=$(grep -c '"GET /v2/b/img/blobs/' "$W/govc/log" || true)
hf again 0 "true" "'$GOVC' pull -q '$W/dst' docker://$RG/b/img:1 img:1"
after=$(grep -c '"GET /v2/b/img/blobs/' "$W/govc/log" || true)
gv_again=$(median again-1)

# ---- small writes on a mount, idle and beside a pull into it ---------------
cc -O2 -Wall -o "$W/writer" "$HERE/bench/writer.c"
mkdir -p "$M"
"$GOVC" init "$W/mstore" >/dev/null
"$GOVC" mount "$W/mstore" "$M"
mkdir "$M/repos/x"
"$W/writer" "$M/repos/x" 20 "$BASE_SECS" "$W/stop" "$W/w.idle"
"$W/writer" "$M/repos/x" 20 0 "$W/stop" "$W/w.pull" &
wpid=$!
sleep 0.2
t0=$(date +%s.%N)
"$GOVC" pull -q "$W/mstore" "docker://$RG/b/img:1" img:1
tpull=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
touch "$W/stop"
wait "$wpid"
wpid=
"$GOVC" umount "$M"
set -- $(python3 "$HERE/bench/writer-stats.py" "$W/w.idle")
n0=$1 p50_0=$2 p99_0=$3 max0=$4
set -- $(python3 "$HERE/bench/writer-stats.py" "$W/w.pull")
n1=$1 p50_1=$2 p99_1=$3 max1=$4 o50_1=$5 o200_1=$6 err1=$7

echo
echo "image: ${size} MB of blobs in 5 layers; hyperfine, $RUNS runs x $ROUNDS rounds, seconds"
printf '%-36s %8s %8s %8s   %s\n' "" govc skopeo ratio "ratio of each round's medians"
row() {	# row LABEL GOVC-KEY SKOPEO-KEY
	g=$(median "$2") k=$(median "$3") per=
	for r in $(seq "$ROUNDS"); do per="$per $(ratio "$(median "$2" "$r")" "$(median "$3" "$r")")"; done
	printf '%-36s %8s %8s %8s  %s\n' "$1" "$g" "$k" "$(ratio "$g" "$k")" "$per"
}
row "pull (registry -> store/oci:)" pull-1 pull-3
row "pull --jobs 1" pull-2 pull-3
[ -z "${GOVC_BASE:-}" ] || row "pull by GOVC_BASE (before)" pull-4 pull-3
row "push (store/oci: -> registry)" push-1 push-2
printf '%-36s %8s\n' "second pull" "$gv_again"
echo "blob GETs of the second pull(s): $((after - before))"
echo
echo "small writes (open+write 100 B+close, 20 ms apart) on a mount:"
printf '  %-34s %6s %9s %9s %9s %6s %6s %6s\n' "" writes p50 p99 max ">50ms" ">200ms" errors
printf '  %-34s %6s %6s ms %6s ms %6s ms\n' "idle" "$n0" "$p50_0" "$p99_0" "$max0"
printf '  %-34s %6s %6s ms %6s ms %6s ms %6s %6s %6s\n' "beside govc pull ($tpull s)" "$n1" "$p50_1" "$p99_1" "$max1" \
	"$o50_1" "$o200_1" "$err1"
