#!/bin/sh
# t0114-registry-parallel: layers downloaded and indexed in parallel.  A
# pull of a 6-layer image with --jobs 4 gives the image, blobs and rootfs
# that --jobs 1 gives; without -q and off a terminal it prints one line per
# layer once it is in; a second pull transfers no blob (the registry's
# access log), nor does a pull of an image built on it but its own layer
# and config; a registry that dies while several layers are moving fails
# the pull with nothing published and no download session left behind,
# and the next pull, once it is back, completes with the right rootfs.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
setup
reg_trap
plan 18
HERE=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration
MK=$HERE/mkimage.py
export PYTHONDONTWRITEBYTECODE=1

# six layers, later ones replacing files of earlier ones
python3 - > "$T/spec.json" <<'PY'
import json
layers = []
for i in range(6):
    layers.append({"compress": "gzip" if i % 3 else "none", "level": 1, "entries": [
        {"type": "dir", "path": "l%d" % i},
        {"type": "file", "path": "l%d/big" % i, "size": 1500000 + 1000 * i, "content": "random", "seed": i},
        {"type": "files", "path": "l%d/f%%03d" % i, "count": 40, "size": 3000, "content": "random", "seed": 50 + i},
        {"type": "file", "path": "shared", "size": 1000 + i, "content": "text", "seed": i},
        {"type": "symlink", "path": "l%d/up" % i, "target": "../shared"}]})
print(json.dumps({"tag": "v1", "layers": layers}))
PY
python3 "$MK" layout "$T/spec.json" "$T/img" --list "$T/img.list"
reg_start main
skopeo copy -q --preserve-digests --dest-tls-verify=false oci:"$T/img":v1 "docker://$REG/p/app:v1"

# 1-3: --jobs 1 into the mounted store
check "pull --jobs 1" "$GOVC" pull -q --jobs 1 "$S" "docker://$REG/p/app:v1" one:1
check "  ... its rootfs is the image's" sh -c "sleep 0.3; python3 '$MK' check '$T/img.list' '$M/images/one/tags/1/rootfs'"
"$GOVC" export "$S" one:1 oci:"$T/exp1":v1
check "  ... its blobs are the image's" \
	sh -c "test \"\$(python3 '$MK' blobs '$T/exp1' v1)\" = \"\$(python3 '$MK' blobs '$T/img' v1)\""

# 4-9: --jobs 4 into a second store, mounted too; progress off a terminal
"$GOVC" init "$T/store2" >/dev/null
mkdir -p "$T/mnt2"
"$GOVC" mount -o "$(mount_opts)" "$T/store2" "$T/mnt2"
check "pull --jobs 4 (not quiet, stderr not a terminal)" \
	sh -c "'$GOVC' pull --jobs 4 '$T/store2' 'docker://$REG/p/app:v1' four:1 2> '$T/progress'"
check "  ... one line per layer once it is in" \
	test "$(grep -c '^  layer [1-6]/6 sha256:[0-9a-f]* .* done in ' "$T/progress")" = 6
check "  ... and no line drawn in place" sh -c "! grep -q '$(printf '\033')' '$T/progress'"
check "  ... its rootfs is the image's" sh -c "sleep 0.3; python3 '$MK' check '$T/img.list' '$T/mnt2/images/four/tags/1/rootfs'"
"$GOVC" export "$T/store2" four:1 oci:"$T/exp4":v1
blob_digests "$T/exp1" > "$T/d1"
blob_digests "$T/exp4" > "$T/d4"
check "  ... the same blobs as --jobs 1, digest for digest" cmp "$T/d1" "$T/d4"
check "  ... and the same manifest digest" \
	test "$("$GOVC" images "$S" | awk '$1 == "one" { print $3 }')" = \
	     "$("$GOVC" images "$T/store2" | awk '$1 == "four" { print $3 }')"

# 10-11: a second pull moves no blob; GOVC_PULL_JOBS is taken
gets=$(blob_gets main)
check "a second pull (GOVC_PULL_JOBS=3)" env GOVC_PULL_JOBS=3 "$GOVC" pull -q "$T/store2" "docker://$REG/p/app:v1" again:1
check "  ... downloads no blob (registry log)" test "$(blob_gets main)" = "$gets"

# 12: a bad --jobs is a usage error
check "--jobs 0 is refused" sh -c "'$GOVC' pull --jobs 0 '$S' 'docker://$REG/p/app:v1' x:1 2>/dev/null; test \$? = 2"

# 13-14: an image built on the one held: only its own layer and config move
python3 - "$T/spec.json" > "$T/spec2.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["tag"] = "v2"
spec["layers"].append({"compress": "gzip", "entries": [
    {"type": "file", "path": "top/added", "size": 200000, "content": "random", "seed": 99}]})
print(json.dumps(spec))
PY
python3 "$MK" layout "$T/spec2.json" "$T/img2" --list "$T/img2.list"
skopeo copy -q --preserve-digests --dest-tls-verify=false oci:"$T/img2":v2 "docker://$REG/p/derived:v2"
gets=$(blob_gets main)
check "a pull of an image on top of the held one" \
	"$GOVC" pull -q "$T/store2" "docker://$REG/p/derived:v2" derived:2
grep '"GET /v2/[^ ]*/blobs/sha256' "$T/reg-main/registry.log" | tail -n +$((gets + 1)) > "$T/gets2"
python3 "$MK" blobs "$T/img" v1 | tail -n +3 > "$T/held"
check "  ... downloads its new layer and config only (2 blob GETs, none of a held layer)" \
	sh -c "[ \$(wc -l < '$T/gets2') = 2 ] && [ \$(wc -l < '$T/held') = 6 ] &&
	       ! grep -F -f '$T/held' '$T/gets2'"

# 15-18: the registry dies while layers move (a slow proxy, killed), then
# is back
"$GOVC" init "$T/store3" >/dev/null
pport=$(free_port)
python3 "$HERE/faultproxy.py" "$pport" "$REG" "$T/proxy.log" slow=1000000 > "$T/proxy.err" 2>&1 &
PROXY_PID=$!
REG_PIDS="$REG_PIDS $PROXY_PID"
wait_port "$pport"
"$GOVC" pull -q --jobs 4 "$T/store3" "docker://127.0.0.1:$pport/p/app:v1" died:1 > "$T/died.out" 2>&1 &
PULL=$!
# until four blob GETs are under way (a second at most), then kill it
i=0
while [ "$(grep -c '^GET .*/blobs/sha256' "$T/proxy.log" 2>/dev/null || echo 0)" -lt 1 ] && [ $i -lt 50 ]; do
	sleep 0.05
	i=$((i + 1))
done
sleep 0.7
kill -9 "$PROXY_PID"
rc=0
wait "$PULL" || rc=$?
diag "pull said: $(cat "$T/died.out")"
check "a pull whose registry dies midway fails" test "$rc" != 0
check "  ... publishing nothing" sh -c "! '$GOVC' images '$T/store3' | grep -q '^died '"
check "  ... and leaving no session behind" sh -c "test -z \"\$(ls '$T/store3/sessions' 2>/dev/null)\""
python3 "$HERE/faultproxy.py" "$pport" "$REG" "$T/proxy.log" > "$T/proxy.err" 2>&1 &
REG_PIDS="$REG_PIDS $!"
wait_port "$pport"
check "the next pull, once it is back, completes with the image's blobs" \
	sh -c "'$GOVC' pull -q --jobs 4 '$T/store3' 'docker://127.0.0.1:$pport/p/app:v1' died:1 &&
	       '$GOVC' export '$T/store3' died:1 oci:'$T/exp3':v1 &&
	       python3 '$MK' verify '$T/exp3' v1 &&
	       test \"\$(python3 '$MK' blobs '$T/exp3' v1)\" = \"\$(python3 '$MK' blobs '$T/img' v1)\""
