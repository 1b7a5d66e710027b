#!/bin/sh
# t0112-registry-auth: registries that want credentials.  Basic auth
# (htpasswd) over TLS with a self-signed CA given by --cert-dir: a clear
# message without credentials, without the CA, and with a wrong password;
# `govc login --password-stdin` records the login (mode 0600, never
# printing it) and push and pull use it; docker's config.json is read
# too; `govc logout` forgets it.  Then a bearer-token realm (a small token
# server): push and pull with tokens per scope, refused without login.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
command -v openssl >/dev/null || skip_all "openssl is not installed"
setup
reg_trap
plan 19
HERE=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration
MK=$HERE/mkimage.py
export PYTHONDONTWRITEBYTECODE=1
export HOME="$T/home" XDG_RUNTIME_DIR="$T/run"
unset DOCKER_CONFIG REGISTRY_AUTH_FILE || true
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$T/tls" "$T/certs.d"
PW='s3cr3t-Pa55'

cat > "$T/spec.json" <<'JSON'
{"tag": "v1", "layers": [{"compress": "gzip", "entries": [
  {"type": "files", "path": "srv/f%02d", "count": 20, "size": 3000, "content": "random", "seed": 7}]}]}
JSON
python3 "$MK" layout "$T/spec.json" "$T/img" --list "$T/img.list"
MAN=$(python3 "$MK" blobs "$T/img" v1 | head -1)
"$GOVC" import -q "$S" oci:"$T/img":v1 app:v1

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" \
	-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cp "$T/tls/cert.pem" "$T/certs.d/ca.crt"
python3 -W ignore -c 'import crypt, sys; print("alice:" + crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
	"$PW" > "$T/htpasswd"
reg_start basic "  tls: {certificate: $T/tls/cert.pem, key: $T/tls/key.pem}
auth:
  htpasswd: {realm: basic-realm, path: $T/htpasswd}"
B=$REG
CD="--cert-dir $T/certs.d"
no_secret() { ! grep -q "$PW" "$@"; }

# 1-4: clear refusals
check_fails "push without the CA fails" "$GOVC" push -q "$S" app:v1 "docker://$B/team/app:v1"
cp "$T/check.out" "$T/out1"
check "  ... saying how to give it (--cert-dir)" grep -q "cert-dir" "$T/out1"
check_fails "push without credentials fails" "$GOVC" push -q $CD "$S" app:v1 "docker://$B/team/app:v1"
cp "$T/check.out" "$T/out2"
check "  ... saying to log in" grep -q "govc login $B" "$T/out2"

# 5-8: login
check_fails "login with a wrong password fails" \
	sh -c "echo wrong | '$GOVC' login $CD -u alice --password-stdin $B"
cp "$T/check.out" "$T/out3"
check "  ... saying the credentials were refused" grep -q "refused the credentials of 'alice'" "$T/out3"
check "govc login --password-stdin" sh -c "echo '$PW' | '$GOVC' login $CD -u alice --password-stdin $B > '$T/login.out' 2>&1"
check "  ... wrote auth.json mode 0600, base64, and printed no secret" \
	sh -c "test \"\$(stat -c %a '$XDG_RUNTIME_DIR/containers/auth.json')\" = 600 &&
	       grep -q \"\$(printf 'alice:%s' '$PW' | base64)\" '$XDG_RUNTIME_DIR/containers/auth.json' &&
	       ! grep -q '$PW' '$T/login.out' '$T/out3'"

# 9-12: push and pull with the login
check "push with the login" "$GOVC" push $CD "$S" app:v1 "docker://$B/team/app:v1"
check "  ... skopeo sees the digest the image was made with" \
	sh -c "skopeo inspect --cert-dir '$T/certs.d' --creds 'alice:$PW' docker://$B/team/app:v1 | grep -q '$MAN'"
"$GOVC" logout "$B" >/dev/null
mkdir -p "$T/docker"
printf '{"auths": {"https://%s": {"auth": "%s"}}}\n' "$B" "$(printf 'alice:%s' "$PW" | base64)" > "$T/docker/config.json"
check "pull with docker's config.json (DOCKER_CONFIG), --tls-verify=false" \
	env DOCKER_CONFIG="$T/docker" "$GOVC" pull -q --tls-verify=false "$S" "docker://$B/team/app:v1" back:v1
check "after logout, a pull is refused" sh -c "! '$GOVC' pull -q $CD '$S' docker://$B/team/app:v1 x:1 2>'$T/out4' &&
	grep -q 'needs credentials' '$T/out4'"

# 13-19: a bearer-token realm
mkdir -p "$T/tok"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/tok/key.pem" -out "$T/tok/cert.pem" \
	-subj "/CN=token-issuer" 2>/dev/null
TP=$(free_port)
python3 "$HERE/tokenserver.py" "$TP" "$T/tok/key.pem" "$T/tok/cert.pem" test-issuer "bob:$PW" "$T/tok/log" \
	> "$T/tok/server.log" 2>&1 &
REG_PIDS="$REG_PIDS $!"
wait_port "$TP"
reg_start token "auth:
  token: {realm: http://127.0.0.1:$TP/token, service: test-registry, issuer: test-issuer, rootcertbundle: $T/tok/cert.pem}"
check_fails "push to a token realm without credentials fails" "$GOVC" push -q "$S" app:v1 "docker://$REG/team/app:v1"
check "push with --creds through the token realm" \
	"$GOVC" push -q --creds "bob:$PW" "$S" app:v1 "docker://$REG/team/app:v1"
check "  ... asked for a pull,push token of that repository" grep -q "^token bob repository:team/app:pull,push" "$T/tok/log"
check "  ... skopeo sees the same digest" \
	sh -c "skopeo inspect --tls-verify=false --creds 'bob:$PW' docker://$REG/team/app:v1 | grep -q '$MAN'"
check "login to the token realm" sh -c "echo '$PW' | '$GOVC' login -q -u bob --password-stdin $REG"
"$GOVC" init "$T/store2" >/dev/null
check "pull with the login through the token realm" \
	"$GOVC" pull -q "$T/store2" "docker://$REG/team/app:v1" back:v1
check "  ... no secret in any output" no_secret "$T/check.out" "$T/tok/server.log"
