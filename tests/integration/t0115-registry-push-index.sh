#!/bin/sh
# t0115-registry-push-index: what a push sends besides one manifest.
# A multi-platform index whose two platforms the store holds goes whole:
# registry B gets the very index registry A had (same digest), both
# platform manifests, and skopeo copies it all back.  A store holding one
# platform pushes that manifest alone under the tag, never an index, and
# names the platform left out and the pull that brings it (which then
# lets the index go).  A second push to another repository of the same
# registry mounts every blob from the first (POST ?mount=, no blob bytes
# sent), anonymous and through a token realm; a user whose token may not
# read the first repository gets a refused mount and uploads instead.
# `pull --all` brings every platform: the tag shows the host's, gc keeps
# the others, and a push sends the very index.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
command -v openssl >/dev/null || skip_all "openssl is not installed"
setup
reg_trap
plan 30
HERE=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration
MK=$HERE/mkimage.py
export PYTHONDONTWRITEBYTECODE=1

# a two-platform index: the host's image and the other one's
cat > "$T/host.json" <<'JSON'
{"tag": "host", "layers": [
 {"compress": "gzip", "level": 1, "entries": [{"type": "dir", "path": "etc"},
  {"type": "files", "path": "etc/f%02d", "count": 20, "size": 2000, "content": "random", "seed": 1}]},
 {"compress": "gzip", "level": 1, "entries": [
  {"type": "file", "path": "opt/big", "size": 400000, "content": "random", "seed": 2}]}]}
JSON
cat > "$T/other.json" <<'JSON'
{"tag": "other", "layers": [{"compress": "gzip", "entries": [
  {"type": "file", "path": "which", "size": 100, "content": "text", "seed": 9}]}]}
JSON
python3 "$MK" layout "$T/host.json" "$T/img"
python3 "$MK" layout "$T/other.json" "$T/img"
python3 "$MK" index "$T/img" multi host=host other=other >/dev/null
OTHER=$(python3 "$MK" arch other)
reg_start a
A=$REG
skopeo copy -q --all --dest-tls-verify=false oci:"$T/img":multi "docker://$A/test/multi:1"
reg_start b
B=$REG

# raw REF: the manifest or index REF names, as the registry holds it
raw() { skopeo inspect --raw --tls-verify=false "docker://$1"; }
sha() { echo "sha256:$(sha256sum | cut -c1-64)"; }
INDEX=$(raw "$A/test/multi:1" | sha)
# the index's manifests, the host's first
raw "$A/test/multi:1" | python3 -c 'import json, sys; [print(m["digest"]) for m in json.load(sys.stdin)["manifests"]]' > "$T/mans"
HOSTMAN=$(sed -n 1p "$T/mans")
OTHERMAN=$(sed -n 2p "$T/mans")
uploads() { grep -c "\"\\(PATCH\\|PUT\\) /v2/$2/blobs/uploads/" "$T/reg-$1/registry.log" || true; }
mounts() { grep -c "\"POST /v2/$2/blobs/uploads/?mount=sha256:[0-9a-f]*&from=" "$T/reg-$1/registry.log" || true; }

# 1-7: both platforms in the store: the index goes whole
check "pull the host's platform into multi:host" \
	"$GOVC" pull -q "$S" "docker://$A/test/multi:1" multi:host
check "pull --platform linux/$OTHER into multi:other" \
	"$GOVC" pull -q --platform "linux/$OTHER" "$S" "docker://$A/test/multi:1" multi:other
check "push multi:host to registry B (not quiet, stderr not a terminal)" \
	sh -c "'$GOVC' push '$S' multi:host 'docker://$B/team/multi:1' > '$T/push1.out' 2> '$T/push1.err'"
check "  ... B's tag names the very index A has (skopeo inspect --raw)" \
	test "$(raw "$B/team/multi:1" | sha)" = "$INDEX"
check "  ... and the push said so" grep -q "^$B/team/multi:1 $INDEX\$" "$T/push1.out"
check "  ... both platform manifests are in B" \
	sh -c "test \"\$(skopeo inspect --raw --tls-verify=false docker://$B/team/multi@$HOSTMAN | sha256sum | cut -c1-64)\" = '$(echo "$HOSTMAN" | cut -c8-)' &&
	       test \"\$(skopeo inspect --raw --tls-verify=false docker://$B/team/multi@$OTHERMAN | sha256sum | cut -c1-64)\" = '$(echo "$OTHERMAN" | cut -c8-)'"
check "  ... skopeo copy --all from B to an OCI layout succeeds" \
	skopeo copy -q --all --src-tls-verify=false "docker://$B/team/multi:1" oci:"$T/back":multi
check "  ... progress: a line per layer (3), config (2), platform manifest (2) and the index" \
	sh -c "test \"\$(grep -c '^  layer [12]/[12] sha256:[0-9a-f]\{12\} .* done in ' '$T/push1.err')\" = 3 &&
	       test \"\$(grep -c '^  config sha256:.* done in ' '$T/push1.err')\" = 2 &&
	       test \"\$(grep -c '^  manifest linux/[a-z0-9]* sha256:.* done in ' '$T/push1.err')\" = 2 &&
	       test \"\$(grep -c '^  index $(echo "$INDEX" | cut -c1-19) .* done in ' '$T/push1.err')\" = 1"

# 9-12: another repository of B: every blob mounted, no byte sent
check "push multi:host to another repository of B" \
	sh -c "'$GOVC' push --jobs 2 '$S' multi:host 'docker://$B/two/multi:1' > '$T/push2.out' 2> '$T/push2.err'"
check "  ... asked B to mount each of the 5 blobs (access log)" test "$(mounts b two/multi)" = 5
check "  ... and uploaded no blob bytes (no PATCH or PUT of an upload)" test "$(uploads b two/multi)" = 0
check "  ... gives the same index, and says where each blob came from" \
	sh -c "test \"\$(skopeo inspect --raw --tls-verify=false docker://$B/two/multi:1 | sha256sum | cut -c1-64)\" = '$(echo "$INDEX" | cut -c8-)' &&
	       test \"\$(grep -c ' mounted from team/multi\$' '$T/push2.err')\" = 5"

# 13-18: a store with one platform: the manifest goes alone
"$GOVC" init "$T/store2" >/dev/null
"$GOVC" pull -q "$T/store2" "docker://$A/test/multi:1" one:host
check "push of a store holding one platform of the index succeeds" \
	sh -c "'$GOVC' push --jobs 1 '$T/store2' one:host 'docker://$B/three/multi:1' > '$T/push3.out' 2> '$T/push3.err'"
check "  ... the tag names the host's manifest, not an index" \
	sh -c "test \"\$(skopeo inspect --raw --tls-verify=false docker://$B/three/multi:1 | sha256sum | cut -c1-64)\" = '$(echo "$HOSTMAN" | cut -c8-)' &&
	       grep -q '^$B/three/multi:1 $HOSTMAN\$' '$T/push3.out'"
check "  ... B did not get the index, nor the other platform" \
	sh -c "! skopeo inspect --raw --tls-verify=false docker://$B/three/multi@$INDEX >/dev/null 2>&1 &&
	       ! skopeo inspect --raw --tls-verify=false docker://$B/three/multi@$OTHERMAN >/dev/null 2>&1"
check "  ... stderr names the platform left out, and the pull that brings it" \
	sh -c "grep -q '^  linux/$OTHER (manifest $OTHERMAN)\$' '$T/push3.err' &&
	       grep -q '^  govc pull --platform linux/$OTHER $T/store2 docker://$A/test/multi@$INDEX one:host-linux-$OTHER\$' '$T/push3.err'"
HINT=$(grep '^  govc pull ' "$T/push3.err" | head -1 | sed 's/^  govc //')
check "that pull, then the push again, sends the whole index" \
	sh -c "'$GOVC' $HINT --quiet && '$GOVC' push -q '$T/store2' one:host 'docker://$B/three/multi:1' 2> '$T/push4.err'"
check "  ... B's tag now names the index, and nothing is said left out" \
	sh -c "test \"\$(skopeo inspect --raw --tls-verify=false docker://$B/three/multi:1 | sha256sum | cut -c1-64)\" = '$(echo "$INDEX" | cut -c8-)' &&
	       test ! -s '$T/push4.err'"

# 19-24: a token realm: the mount's token names both repositories; a user
# who may not read the first one gets the mount refused and uploads
mkdir -p "$T/tok"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/tok/key.pem" -out "$T/tok/cert.pem" \
	-subj "/CN=token-issuer" 2>/dev/null
TP=$(free_port)
PW=pw-$$
python3 "$HERE/tokenserver.py" "$TP" "$T/tok/key.pem" "$T/tok/cert.pem" test-issuer \
	"bob:$PW,carol:$PW=carol/" "$T/tok/log" > "$T/tok/server.log" 2>&1 &
REG_PIDS="$REG_PIDS $!"
wait_port "$TP"
reg_start tok "auth:
  token: {realm: http://127.0.0.1:$TP/token, service: test-registry, issuer: test-issuer, rootcertbundle: $T/tok/cert.pem}"
C=$REG
check "push through a token realm to one/app, then two/app" \
	sh -c "'$GOVC' push -q --creds 'bob:$PW' '$S' multi:host 'docker://$C/one/app:1' &&
	       '$GOVC' push -q --creds 'bob:$PW' '$S' multi:host 'docker://$C/two/app:1'"
check "  ... the second mounted its 5 blobs, uploading none" \
	sh -c "test \"\$(grep -c '\"POST /v2/two/app/blobs/uploads/?mount=[^ ]* HTTP/1.1\" 201 ' '$T/reg-tok/registry.log')\" = 5 &&
	       test \"\$(grep -c '\"\\(PATCH\\|PUT\\) /v2/two/app/blobs/uploads/' '$T/reg-tok/registry.log')\" = 0"
check "  ... with a token asked for both repositories" \
	grep -q "^token bob repository:two/app:pull,push repository:one/app:pull\$" "$T/tok/log"
check "a user who may not read one/app pushes to carol/app" \
	"$GOVC" push -q --creds "carol:$PW" "$S" multi:host "docker://$C/carol/app:1"
check "  ... the mount was refused (401), then the blobs were uploaded" \
	sh -c "grep -q '\"POST /v2/carol/app/blobs/uploads/?mount=[^ ]* HTTP/1.1\" 401 ' '$T/reg-tok/registry.log' &&
	       test \"\$(grep -c '\"PUT /v2/carol/app/blobs/uploads/[^ ]* HTTP/1.1\" 201 ' '$T/reg-tok/registry.log')\" = 5"
check "  ... and the image is there, the same digest" \
	sh -c "test \"\$(skopeo inspect --raw --tls-verify=false --creds 'carol:$PW' docker://$C/carol/app:1 | sha256sum | cut -c1-64)\" = '$(echo "$INDEX" | cut -c8-)'"

# 25-29: pull --all brings every platform: the tag shows the host's, gc
# keeps the others (the index reaches them), and a push sends the index
"$GOVC" init "$T/store3" >/dev/null
check "pull --all of the index into a fresh store" \
	"$GOVC" pull -q --all "$T/store3" "docker://$A/test/multi:1" all:1
check "  ... the tag shows the host's platform" \
	sh -c "'$GOVC' images --no-trunc '$T/store3' | grep -q '^all  *1  *$HOSTMAN'"
check "  ... after a gc, a push sends the very index" \
	sh -c "'$GOVC' gc '$T/store3' >/dev/null &&
	       '$GOVC' push -q '$T/store3' all:1 'docker://$B/four/multi:1' 2> '$T/push5.err' &&
	       test \"\$(skopeo inspect --raw --tls-verify=false docker://$B/four/multi:1 | sha256sum | cut -c1-64)\" = '$(echo "$INDEX" | cut -c8-)' &&
	       test ! -s '$T/push5.err'"
check "  ... and fsck passes" "$GOVC" fsck "$T/store3"
check "pull --all of a single image (a manifest by digest) is a plain pull" \
	sh -c "'$GOVC' pull -q --all '$T/store3' 'docker://$A/test/multi@$OTHERMAN' single:1 &&
	       '$GOVC' images --no-trunc '$T/store3' | grep -q '^single  *1  *$OTHERMAN'"
HOSTARCH=$(python3 "$MK" arch host)
"$GOVC" init "$T/store4" >/dev/null
check "pull --all off a terminal: each platform's layer row names its platform" \
	sh -c "'$GOVC' pull --all '$T/store4' 'docker://$A/test/multi:1' all:1 > /dev/null 2> '$T/all.err' &&
	       grep -q '^  linux/$OTHER layer 1/1 sha256:' '$T/all.err' &&
	       grep -q '^  linux/$HOSTARCH layer 1/2 sha256:' '$T/all.err'"
