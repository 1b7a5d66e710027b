#!/bin/sh
# t0110-registry-pull: `govc pull` from a real registry (docker-registry on
# 127.0.0.1, plain HTTP, anonymous), seeded by skopeo: the image shows in
# a running mount within a second with the rootfs it was made of, its
# export equals skopeo's copy of it byte for byte, a pull by digest works,
# a second pull downloads no blob, a multi-platform index gives the host's
# platform or the one --platform names, and a blob served with wrong
# content is refused with nothing published.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
setup
reg_trap
plan 15
MK=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/mkimage.py
export PYTHONDONTWRITEBYTECODE=1

cat > "$T/spec.json" <<'JSON'
{"tag": "v1", "layers": [
 {"compress": "gzip", "entries": [{"type": "dir", "path": "etc"},
  {"type": "files", "path": "etc/f%03d", "count": 200, "size": 1000, "content": "random", "seed": 1},
  {"type": "symlink", "path": "etc/link", "target": "f001"}]},
 {"compress": "none", "entries": [
  {"type": "file", "path": "opt/big", "size": 3000000, "content": "random", "seed": 2}]}]}
JSON
python3 "$MK" layout "$T/spec.json" "$T/img" --list "$T/img.list"
reg_start main
skopeo copy -q --dest-tls-verify=false oci:"$T/img":v1 "docker://$REG/test/app:v1"

# 1-3: the pull shows in the mount at once, as made
check "govc pull docker://$REG/test/app:v1 (anonymous, plain HTTP)" \
	"$GOVC" pull -q "$S" "docker://$REG/test/app:v1"
check "the image is under MNT/images within a second" wait_for "$M/images/$REG/test/app/tags/v1/rootfs/etc" 1
check "its rootfs holds what the image was made of" \
	python3 "$MK" check "$T/img.list" "$M/images/$REG/test/app/tags/v1/rootfs"

# 4: export = skopeo's copy, byte for byte
skopeo copy -q --src-tls-verify=false "docker://$REG/test/app:v1" oci:"$T/sk":v1
"$GOVC" export "$S" "$REG/test/app:v1" oci:"$T/exp":v1
blob_digests "$T/exp" > "$T/exp.digests"
blob_digests "$T/sk" > "$T/sk.digests"
check "govc export of the pull has the blobs of skopeo's copy, digest for digest" \
	cmp "$T/exp.digests" "$T/sk.digests"
# (skopeo compresses the uncompressed layer as it pushes: ask the registry)
MAN=$(skopeo inspect --tls-verify=false "docker://$REG/test/app:v1" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["Digest"])')

# 5-7: by digest, into a name of our choosing; no blob downloaded again
gets=$(blob_gets main)
check "pull by digest into NAME:TAG (options after the arguments)" \
	"$GOVC" pull "$S" "docker://$REG/test/app@$MAN" mine:pinned --quiet
check "a second pull of the same image downloads no blob (registry log)" \
	test "$(blob_gets main)" = "$gets"
check "the digest pull is the same image" \
	sh -c "'$GOVC' images '$S' | grep -q '^mine *pinned *$(echo "$MAN" | cut -c1-19)'"

# 8-10: a multi-platform index
cat > "$T/spec2.json" <<'JSON'
{"tag": "arm", "layers": [{"compress": "gzip", "entries": [
  {"type": "file", "path": "which", "size": 100, "content": "text", "seed": 9}]}]}
JSON
python3 "$MK" layout "$T/spec2.json" "$T/img" --list "$T/arm.list"
python3 "$MK" index "$T/img" multi arm=other v1=host >/dev/null
OTHER=$(python3 "$MK" arch other)
skopeo copy -q --all --dest-tls-verify=false oci:"$T/img":multi "docker://$REG/test/multi:1"
check "a pull of an index takes the host's platform" \
	"$GOVC" pull -q "$S" "docker://$REG/test/multi:1" multi:host
check "  ... and its rootfs is that platform's" \
	test -f "$M/images/multi/tags/host/rootfs/opt/big"
check "--platform linux/$OTHER picks the other one" \
	sh -c "'$GOVC' pull -q --platform linux/$OTHER '$S' 'docker://$REG/test/multi:1' multi:other &&
	       sleep 0.5 && test -f '$M/images/multi/tags/other/rootfs/which'"

# 11-13: a blob served with wrong content is refused, nothing published
cat > "$T/spec3.json" <<'JSON'
{"tag": "bad", "layers": [{"compress": "none", "entries": [
  {"type": "file", "path": "x", "size": 200000, "content": "random", "seed": 33}]}]}
JSON
python3 "$MK" layout "$T/spec3.json" "$T/img"
skopeo copy -q --dest-tls-verify=false oci:"$T/img":bad "docker://$REG/test/bad:1"
LAYER=$(skopeo inspect --raw --tls-verify=false "docker://$REG/test/bad:1" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][-1]["digest"][7:])')
DATA=$(find "$T/reg-main/data" -path "*/blobs/sha256/*/$LAYER/data")
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-5] ^= 1; open(p, "wb").write(b)' "$DATA"
check_fails "a pull of a blob with wrong content fails" \
	"$GOVC" pull -q "$S" "docker://$REG/test/bad:1" bad:1
cp "$T/check.out" "$T/bad.out"
check "  ... saying the digest does not match" grep -qi "digest" "$T/bad.out"
check "  ... and publishing nothing" sh -c "! '$GOVC' images '$S' | grep -q '^bad '"

# 14-15: errors name the image
check_fails "a tag the registry does not have fails" "$GOVC" pull -q "$S" "docker://$REG/test/app:nope"
cp "$T/check.out" "$T/nope.out"
check "  ... naming the image" grep -q "test/app:nope: no such image" "$T/nope.out"
