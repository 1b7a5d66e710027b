#!/bin/sh
# t0111-registry-push: `govc push` to a real registry, byte for byte: the
# registry and skopeo see the manifest digest the image was made with
# (an uncompressed layer stays uncompressed), skopeo's copy back has the
# very blobs, a second push uploads nothing (HEAD first), a blob uploaded
# in PATCH chunks arrives whole, and a pull into a second store gives the
# same rootfs.  Progress: -q prints nothing; without it, off a terminal, a
# line per blob sent (layers, config, manifest) once it is sent.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
setup
reg_trap
plan 12
MK=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/mkimage.py
export PYTHONDONTWRITEBYTECODE=1

cat > "$T/spec.json" <<'JSON'
{"tag": "v1", "layers": [
 {"compress": "gzip", "entries": [{"type": "dir", "path": "etc"},
  {"type": "files", "path": "etc/f%03d", "count": 100, "size": 1000, "content": "random", "seed": 4}]},
 {"compress": "none", "entries": [
  {"type": "file", "path": "opt/big", "size": 2500000, "content": "random", "seed": 5}]}]}
JSON
python3 "$MK" layout "$T/spec.json" "$T/img" --list "$T/img.list"
MAN=$(python3 "$MK" blobs "$T/img" v1 | head -1)
"$GOVC" import -q "$S" oci:"$T/img":v1 app:v1
reg_start main
digest_of() {
	skopeo inspect --tls-verify=false "docker://$1" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["Digest"])'
}
uploads() { grep -c '"P[UA][TC][H ]*/v2/[^ ]*/blobs/uploads/' "$T/reg-main/registry.log" || true; }

check "govc push app:v1 docker://$REG/team/app (the tag defaults to v1)" \
	sh -c "'$GOVC' push -q '$S' app:v1 'docker://$REG/team/app' > '$T/quiet.out' 2>&1"
check "  ... and with -q prints nothing" test ! -s "$T/quiet.out"
check "the registry has the manifest digest the image was made with" \
	test "$(digest_of "$REG/team/app:v1")" = "$MAN"
skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$REG/team/app:v1" oci:"$T/back":v1
blob_digests "$T/img" > "$T/img.digests"
blob_digests "$T/back" > "$T/back.digests"
check "skopeo's copy back has the same blobs, digest for digest" cmp "$T/img.digests" "$T/back.digests"

n=$(uploads)
check "a second push (options after the arguments) succeeds" \
	"$GOVC" push "$S" app:v1 "docker://$REG/team/app:v1" --quiet
check "  ... and uploads no blob" test "$(uploads)" = "$n"

# a second registry, where nothing can be mounted from: the bytes go
MAIN=$REG
reg_start other
OTHER=$REG
REG=$MAIN
check "a push in 1 MB PATCH chunks (not quiet, stderr not a terminal)" \
	sh -c "GOVC_REGISTRY_CHUNK=1000000 '$GOVC' push '$S' app:v1 'docker://$OTHER/chunked/app:c' 2> '$T/progress'"
check "  ... used PATCH and gives the same digest" \
	sh -c "grep -q '\"PATCH /v2/chunked/app/blobs/uploads/' '$T/reg-other/registry.log' &&
	       test \"\$(skopeo inspect --tls-verify=false docker://$OTHER/chunked/app:c | grep -c '$MAN')\" = 1"
check "  ... printed a line per layer and one for the config, once sent" \
	sh -c "test \"\$(grep -c '^  layer [12]/2 sha256:[0-9a-f]\{12\} .* done in .*/s\$' '$T/progress')\" = 2 &&
	       test \"\$(grep -c '^  config sha256:[0-9a-f]\{12\} .* done in ' '$T/progress')\" = 1"
check "  ... and one for the manifest, and nothing drawn in place" \
	sh -c "test \"\$(grep -c '^  manifest $(echo "$MAN" | cut -c1-19) .* done in ' '$T/progress')\" = 1 &&
	       ! grep -q '$(printf '\033')' '$T/progress'"

"$GOVC" init "$T/store2" >/dev/null
mkdir -p "$T/mnt2"
"$GOVC" mount -o "$(mount_opts)" "$T/store2" "$T/mnt2"
check "a pull into a second (mounted) store" \
	"$GOVC" pull -q "$T/store2" "docker://$REG/team/app:v1" back:v1
check "  ... has the rootfs the image was made of" \
	sh -c "sleep 0.3; python3 '$MK' check '$T/img.list' '$T/mnt2/images/back/tags/v1/rootfs'"
