#!/bin/sh
# t0202-build-isolation: what a RUN of `govc build` can reach, and what
# builds keep from one another, through the command line (no mount):
#   - a RUN cannot read or write the host's files (absolute paths, "..",
#     /proc/1/root), reach a server on the host (loopback or its address),
#     or see the host's processes (tests/build/isolation/Govcfile);
#   - a cache mount keeps what one build wrote for the next, and its files
#     stay out of the image;
#   - a secret is readable in its RUN (file, target, env=) and appears in no
#     layer, config, history, build output or file of the store;
#   - the same commit built into two stores gives the same manifest digest;
#   - an unchanged rebuild runs no RUN step and gives the same image; a
#     change to one file reruns only the steps after the COPY that reads it
#     (tests/build/rebuild/Govcfile prints a marker per RUN).
# New commits of a context are brought in with rm-repo and import of the
# updated git repository: same repository name, history extended.
set -eu
. "$(dirname "$0")/buildlib.sh"
build_setup
make_base umoci
plan 29

check "govc has a build command" have_build

# ---- isolation ----------------------------------------------------------
H=$T/host
mkdir -p "$H"
echo 'host-file-marker-t0202' > "$H/host-file"
# a web server on the host, and a process whose command line is a marker
# (both ours: stopped by pid at the end)
cat > "$T/srv.py" <<'EOF'
import http.server, socketserver, sys
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        sys.stderr.write("request\n"); sys.stderr.flush()
with socketserver.TCPServer(("0.0.0.0", 0), H) as s:
    open(sys.argv[1], "w").write(str(s.server_address[1]))
    s.serve_forever()
EOF
python3 "$T/srv.py" "$T/port" 2> "$T/srv.log" &
srv=$!
python3 -c 'import sys, time; time.sleep(600)' t0202-host-process-marker &
sleeper=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$T/port" 2>/dev/null || echo 1)
hostip=$(hostname -I 2>/dev/null | awk '{print $1}')
python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()' \
	"http://127.0.0.1:$port/" 2>/dev/null || true
check "(the host's server answers on the host)" grep -q request "$T/srv.log"
: > "$T/srv.log"

ctx isolation
import_ctx isolation
gbuild isolation iso --build-arg "HOSTDIR=$H" --build-arg "PORT=$port" --build-arg "HOSTIP=$hostip" \
	< /dev/null && gexport iso && iok=1 || iok=0
check "the isolation Govcfile builds" sh -c "[ $iok = 1 ] || { tail -n 20 '$T/log/gbuild-iso'; exit 1; }"
I=$T/gu/iso
check "a RUN does not see a host file by its path" grep -qx unseen "$I/host-file-seen"
check "nor through /proc/1/root" sh -c "! grep -q host-file-marker '$I/proc1-read'"
check "climbing .. from / stays in its root" sh -c "grep -qx / '$I/escape-pwd' && grep -qx escape-ls '$I/escape-ls' && grep -qx bin '$I/escape-ls'"
check "what it writes to a host path lands in its rootfs, not on the host" sh -c "
	grep -qx from-the-run '$I$H/written-by-run' && [ ! -e '$H/written-by-run' ] && [ ! -e '$H/via-proc1' ] &&
	[ \"\$(cat '$H/host-file')\" = host-file-marker-t0202 ]"
check "a RUN cannot reach a server on the host's loopback" grep -qx unreachable "$I/net-loopback"
check "nor on the host's address${hostip:+ ($hostip)}" grep -qx unreachable "$I/net-host"
check "its network namespace has only lo" sh -c "[ \"\$(grep -v '^lo\$' '$I/net-ifaces' | wc -l)\" = 0 ]"
check "and the server saw no request" sh -c "! grep -q request '$T/srv.log'"
check "a RUN sees none of the host's processes" sh -c "! grep -q t0202-host-process-marker '$I/cmdlines' && [ \"\$(cat '$I/nprocs')\" -lt 10 ]"
check "its shell is one of the first pids of its own namespace" test "$(cat "$I/mypid" 2>/dev/null || echo 999)" -lt 10
kill "$srv" "$sleeper" 2>/dev/null || true
wait "$srv" "$sleeper" 2>/dev/null || true

# ---- a cache mount --------------------------------------------------------
stamp=stamp-$$-$(date +%s)
gbuild isolation cache1 --file cache1.Govcfile --build-arg "STAMP=$stamp" < /dev/null || true
gbuild isolation cache2 --file cache2.Govcfile < /dev/null && gexport cache2 || true
check "a cache mount keeps what one build wrote for the next" grep -qx "$stamp" "$T/gu/cache2/from-cache"
gexport cache1 || true
check "and its files are in neither image" sh -c "[ -f '$T/gu/cache1/wrote' ] && [ ! -e '$T/gu/cache1/cache/stamp' ] && [ ! -e '$T/gu/cache2/cache/stamp' ]"

# ---- a secret -------------------------------------------------------------
secret=t0202-SECRET-$$-value
printf '%s' "$secret" > "$T/secret"
size=$(wc -c < "$T/secret" | tr -d ' ')
md5=$(md5sum < "$T/secret")
gbuild isolation secret --file secret.Govcfile --secret "id=tok,src=$T/secret" < /dev/null &&
	gexport secret || true
check "a secret is readable in its RUN, as a file, at a target and in env=" sh -c "
	[ \"\$(tr -d ' ' < '$T/gu/secret/secret-size')\" = $size ] &&
	[ \"\$(cat '$T/gu/secret/secret-md5')\" = '$md5' ] &&
	[ \"\$(cat '$T/gu/secret/secret-md5-target')\" = '$md5' ] &&
	[ \"\$(tr -d ' ' < '$T/gu/secret/secret-env-size')\" = $size ]"
check "the secret is in no layer, config, history or manifest" sh -c "[ -d '$T/gu/secret' ] && ! $OCITOOL find '$T/go:secret' '$secret'"
check "nor in the build's output" sh -c "! grep -q '$secret' '$T/log/gbuild-secret'"
check "nor in any file of the store (build cache and records included)" sh -c "! grep -rqa '$secret' '$S'"
check "the secret's mount points hold nothing afterwards" sh -c "[ ! -s '$T/gu/secret/etc/tok.txt' ] && [ ! -e '$T/gu/secret/run/secrets/tok' ]"

# ---- reproducibility --------------------------------------------------------
"$GOVC" init "$T/store2" >/dev/null
"$GOVC" import "$T/store2" "oci:$T/base/oci:bb" bb:latest >/dev/null
for c in copy special-files; do
	ctx "$c"
	import_ctx "$c"
	"$GOVC" import "$T/store2" "git:$T/ctx/$c" "$c" >/dev/null
	d1=$("$GOVC" build -q "$S" "$c" 2>"$T/log/repro1-$c" < /dev/null || true)
	sleep 1
	d2=$("$GOVC" build -q "$T/store2" "$c" 2>"$T/log/repro2-$c" < /dev/null || true)
	check "$c: the same commit built in two stores gives the same digest" sh -c "
		[ -n '$d1' ] && [ '$d1' = '$d2' ] || { echo '$d1 vs $d2'; tail -n 5 '$T/log/repro1-$c' '$T/log/repro2-$c'; exit 1; }"
done

# ---- rebuilds ---------------------------------------------------------------
ctx rebuild
import_ctx rebuild
gbuild rebuild rebuild < /dev/null || true
cp "$T/log/gbuild-rebuild" "$T/log/rebuild-1"
check "a first build runs every RUN" sh -c "grep -q ran-41-first '$T/log/rebuild-1' && grep -q ran-42-after-a '$T/log/rebuild-1' && grep -q ran-43-after-b '$T/log/rebuild-1'"
d1=$("$GOVC" images --no-trunc "$S" rebuild | awk '$2 == "latest" {print $3}')
gbuild rebuild rebuild < /dev/null || true
cp "$T/log/gbuild-rebuild" "$T/log/rebuild-2"
check "an unchanged rebuild runs no RUN step" sh -c "! grep -q 'ran-4[0-9]' '$T/log/rebuild-2' && grep -q . '$T/log/rebuild-2'"
d2=$("$GOVC" images --no-trunc "$S" rebuild | awk '$2 == "latest" {print $3}')
check "and gives the same image" sh -c "[ -n '$d1' ] && [ '$d1' = '$d2' ]"
echo 'b v2' > "$T/ctx/rebuild/b.txt"
recommit rebuild "b v2"
import_ctx rebuild
gbuild rebuild rebuild < /dev/null && gexport rebuild || true
cp "$T/log/gbuild-rebuild" "$T/log/rebuild-3"
check "a change to b.txt reruns only the RUN after COPY b.txt" sh -c "
	grep -q ran-43-after-b '$T/log/rebuild-3' && ! grep -q ran-42-after-a '$T/log/rebuild-3' &&
	! grep -q ran-41-first '$T/log/rebuild-3'"
check "and the image has the new b.txt" grep -qx 'b v2' "$T/gu/rebuild/b.copy"
echo 'a v2' > "$T/ctx/rebuild/a.txt"
recommit rebuild "a v2"
import_ctx rebuild
gbuild rebuild rebuild < /dev/null && gexport rebuild || true
cp "$T/log/gbuild-rebuild" "$T/log/rebuild-4"
check "a change to a.txt reruns the RUNs after COPY a.txt, not the one before" sh -c "
	grep -q ran-42-after-a '$T/log/rebuild-4' && grep -q ran-43-after-b '$T/log/rebuild-4' &&
	! grep -q ran-41-first '$T/log/rebuild-4'"
check "and the image has both changes" sh -c "grep -qx 'a v2' '$T/gu/rebuild/a.copy' && grep -qx 'b v2' '$T/gu/rebuild/b.copy'"
