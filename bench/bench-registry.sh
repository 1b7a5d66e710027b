#!/bin/sh
# bench-registry.sh - `govc pull` and `govc push` against a local
# docker-registry (plain HTTP, 127.0.0.1), beside `skopeo copy` of the same
# image from and to an OCI directory, in one run; and the blob bytes a
# second pull moves (the registry's access log).
#
#   bench/bench-registry.sh               ~500 MB in 5 gzip layers
#   IMAGEMB=64 bench/bench-registry.sh    a smoke run
#
# The image is random content (incompressible; gzip level 1), made once by
# tests/integration/mkimage.py and cached in WORKDIR (default
# /var/tmp/govc-bench-registry).  Each side pushes to a registry of its
# own, fresh, so neither finds the other's blobs; pulls go into a fresh
# store / directory.  Times are wall clock of one run each (RUNS=N: the
# median of N).  Needs docker-registry, skopeo, python3.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
GOVC=${GOVC:-$HERE/tools/govc}
[ -x "$GOVC" ] || GOVC=$(command -v govc)
IMAGEMB=${IMAGEMB:-500}
RUNS=${RUNS:-1}
WORKDIR=${WORKDIR:-/var/tmp/govc-bench-registry}
MK=$HERE/tests/integration/mkimage.py
mkdir -p "$WORKDIR"
W=$(mktemp -d "$WORKDIR/run.XXXXXX")
# registries are started in command substitutions: their pids go to files
trap 'for f in "$W"/*/pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done; rm -rf "$W"' EXIT

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
# secs CMD...: wall time of CMD, the median of RUNS (CMD must be repeatable)
secs() {
	for i in $(seq "$RUNS"); do
		python3 -c 'import subprocess, sys, time
t = time.monotonic(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("%.2f" % (time.monotonic() - t))' "$@"
	done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

"$GOVC" init "$W/src" >/dev/null
"$GOVC" import -q "$W/src" oci:"$IMG":bench img:1
size=$(du -sm "$IMG/blobs" | cut -f1)
RS=$(registry skopeo)
RG=$(registry govc)
sk_push=$(secs skopeo copy -q --preserve-digests --dest-tls-verify=false oci:"$IMG":bench "docker://$RS/b/img:1")
gv_push=$(secs "$GOVC" push -q "$W/src" img:1 "docker://$RG/b/img:1")
sk_pull=$(secs sh -c "rm -rf '$W/out'; skopeo copy -q --preserve-digests --src-tls-verify=false docker://$RS/b/img:1 oci:'$W/out':1")
gv_pull=$(secs sh -c "rm -rf '$W/dst'; '$GOVC' init '$W/dst' >/dev/null; '$GOVC' pull -q '$W/dst' docker://$RG/b/img:1 img:1")
before=$(grep -c '"GET /v2/b/img/blobs/' "$W/govc/log" || true)
gv_again=$(secs "$GOVC" pull -q "$W/dst" "docker://$RG/b/img:1" img:1)
after=$(grep -c '"GET /v2/b/img/blobs/' "$W/govc/log" || true)

echo "image: ${size} MB of blobs in 5 layers; median of $RUNS run(s), seconds"
printf '%-28s %8s %8s %8s\n' "" govc skopeo ratio
printf '%-28s %8s %8s %8s\n' "push (store/oci: -> registry)" "$gv_push" "$sk_push" "$(echo "$gv_push $sk_push" | awk '{ printf "%.2f", $1 / $2 }')"
printf '%-28s %8s %8s %8s\n' "pull (registry -> store/oci:)" "$gv_pull" "$sk_pull" "$(echo "$gv_pull $sk_pull" | awk '{ printf "%.2f", $1 / $2 }')"
printf '%-28s %8s\n' "second pull" "$gv_again"
echo "blob GETs of the second pull(s): $((after - before))"
