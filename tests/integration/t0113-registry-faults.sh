#!/bin/sh
# t0113-registry-faults: a registry behind a proxy that misbehaves.  A
# blob GET answering 500 twice is retried and the pull completes; a
# connection dropped midway through a layer is resumed with a Range
# request (the layer is not downloaded again from its start); a manifest
# far over the size limit is refused; a registry killed before a pull
# ends fails it cleanly, nothing is published, and the next pull, once the
# registry is back, completes.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
setup
reg_trap
plan 11
HERE=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration
MK=$HERE/mkimage.py
export PYTHONDONTWRITEBYTECODE=1

cat > "$T/spec.json" <<'JSON'
{"tag": "v1", "layers": [{"compress": "gzip", "level": 1, "entries": [
  {"type": "file", "path": "big", "size": 4000000, "content": "random", "seed": 11}]}]}
JSON
python3 "$MK" layout "$T/spec.json" "$T/img" --list "$T/img.list"
reg_start main
skopeo copy -q --preserve-digests --dest-tls-verify=false oci:"$T/img":v1 "docker://$REG/f/app:v1"

# proxy FAULT...: a fault proxy in front of the registry; sets $P
proxy() {
	port=$(free_port)
	python3 "$HERE/faultproxy.py" "$port" "$REG" "$T/proxy.log" "$@" > "$T/proxy.err" 2>&1 &
	REG_PIDS="$REG_PIDS $!"
	PROXY_PID=$!
	wait_port "$port"
	P=127.0.0.1:$port
}
unproxy() { kill "$PROXY_PID"; sleep 0.2; : > "$T/proxy.log"; }

# 1-3: 500 twice, then success
proxy fail500=2
check "a pull through 500, 500, then 200 completes" "$GOVC" pull -q "$S" "docker://$P/f/app:v1" a:1
check "  ... after two 500s" test "$(grep -c ' 500$' "$T/proxy.log")" = 2
check "  ... with the right rootfs" sh -c "sleep 0.3; python3 '$MK' check '$T/img.list' '$M/images/a/tags/1/rootfs'"
unproxy

# 4-6: a dropped connection is resumed with Range
# (into stores of their own: the blobs are in $S already)
"$GOVC" init "$T/store2" >/dev/null
proxy drop=1000000
check "a pull whose layer download breaks off after 1 MB completes" "$GOVC" pull -q "$T/store2" "docker://$P/f/app:v1" b:1
check "  ... resuming with 'Range: bytes=1000000-'" grep -q "bytes=1000000- 206" "$T/proxy.log"
check "  ... with every blob as it was made" sh -c "'$GOVC' export '$T/store2' b:1 oci:'$T/exp2':v1 &&
	python3 '$MK' verify '$T/exp2' v1 && test \"\$(python3 '$MK' blobs '$T/exp2' v1)\" = \"\$(python3 '$MK' blobs '$T/img' v1)\""
unproxy

# 7-8: a manifest over the limit
proxy bigmanifest
check_fails "a 5 MiB manifest is refused" "$GOVC" pull -q "$S" "docker://$P/f/app:v1" c:1
cp "$T/check.out" "$T/big.out"
check "  ... saying it is over the limit" grep -q "more than" "$T/big.out"
unproxy

# 9-11: the registry is gone midway, then back
"$GOVC" init "$T/store3" >/dev/null
reg_stop main
check_fails "a pull from a registry that went away fails" "$GOVC" pull -q "$T/store3" "docker://$REG/f/app:v1" d:1
check "  ... publishing nothing" sh -c "! '$GOVC' images '$T/store3' | grep -q '^d '"
REG_PORT=${REG#*:} reg_start main
check "the next pull, once it is back, completes" "$GOVC" pull -q "$T/store3" "docker://$REG/f/app:v1" d:1
