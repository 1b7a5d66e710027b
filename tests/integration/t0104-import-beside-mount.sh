#!/bin/sh
# t0104-import-beside-mount: a large `govc import` (about 500 MB of random
# bytes in three layers and 4000 small files) into a mounted store does not
# stall the mount: small writes into a repository made while it runs each
# return well within a second (the import never holds the store's writer
# lock for long), the image is not under MNT/images until the import has
# ended, it is there a moment after, and its rootfs reads back as made.
#
# GOVC_TEST_WRITE_MAX (seconds, default 1) bounds one small write.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"
setup
plan 9
MK=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/mkimage.py
export PYTHONDONTWRITEBYTECODE=1
WMAX=${GOVC_TEST_WRITE_MAX:-1}

cat > "$T/spec.json" <<'EOF'
{"tag": "big", "layers": [
 {"compress": "gzip", "level": 1, "entries": [
  {"type": "dir", "path": "etc"},
  {"type": "files", "path": "usr/share/f%05d", "count": 3000, "size": 1500, "content": "random", "seed": 1},
  {"type": "symlink", "path": "etc/link", "target": "../usr/share/f00001"}]},
 {"compress": "none", "entries": [
  {"type": "file", "path": "opt/big1", "size": 167772160, "content": "random", "seed": 2}]},
 {"compress": "none", "entries": [
  {"type": "file", "path": "opt/big2", "size": 167772160, "content": "random", "seed": 3}]},
 {"compress": "gzip", "level": 1, "entries": [
  {"type": "file", "path": "opt/big3", "size": 167772160, "content": "random", "seed": 4},
  {"type": "files", "path": "opt/text/t%04d", "count": 1000, "size": 5000, "content": "text", "seed": 5}]}]}
EOF
python3 "$MK" layout "$T/spec.json" "$T/img" --list "$T/img.list"

# writes.py DIR PID: while process PID lives (2 minutes at most), every
# 50 ms, create DIR/fN holding "N".  Prints a line per write: N, the
# seconds it took, and whether PID was still running when it began.
cat > "$T/writes.py" <<'EOF'
import os, sys, time
d, pid = sys.argv[1], sys.argv[2]
def running():
    try:
        return open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False
end = time.monotonic() + 120
n = 0
while running() and time.monotonic() < end:
    alive = int(running())
    t0 = time.monotonic()
    with open("%s/f%d" % (d, n), "w") as f:
        f.write("%d\n" % n)
    print(n, "%.3f" % (time.monotonic() - t0), alive, flush=True)
    n += 1
    time.sleep(0.05)
EOF
# watch.py PID IMAGES NAME: every 50 ms (2 minutes at most) list IMAGES;
# print "seen S" when NAME is first listed and "end S" when process PID
# has ended (a zombie counts), S seconds after the start
cat > "$T/watch.py" <<'EOF'
import os, sys, time
pid, images, name = sys.argv[1:4]
def running():
    try:
        return open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False
t0 = time.monotonic()
seen = end = None
while time.monotonic() < t0 + 120 and (seen is None or end is None):
    if seen is None and name in os.listdir(images):
        seen = time.monotonic() - t0
        print("seen %.3f" % seen, flush=True)
    if end is None and not running():
        end = time.monotonic() - t0
        print("end %.3f" % end, flush=True)
        if seen is None:
            break
    time.sleep(0.05)
EOF

mkdir "$M/repos/x"
echo warm > "$M/repos/x/warm"
start=$(date +%s)
"$GOVC" import "$S" "oci:$T/img:big" big:1 > "$T/import.out" 2> "$T/import.err" &
ipid=$!
python3 "$T/watch.py" $ipid "$M/images" big > "$T/watch" 2>&1 &
wpid=$!
python3 "$T/writes.py" "$M/repos/x" $ipid > "$T/writes" || true
rc=0; wait $ipid || rc=$?
took=$(( $(date +%s) - start ))
wait $wpid || true
# the image appears in the mount (the daemon learns of it within a second)
i=0
while [ $i -lt 30 ] && ! [ -d "$M/images/big" ]; do sleep 0.1; i=$((i + 1)); done
appeared=$i
diag "the import took about $took s; writes (n, seconds, import running):"
diag "$(cat "$T/writes")"
diag "$(cat "$T/watch")"

ran=$(awk '$1 == "end" { print int($2) }' "$T/watch")
check "the import succeeds" sh -c "[ $rc = 0 ] || { cat '$T/import.err'; exit 1; }"
check "it ran long enough to write beside it (10 writes or more while it ran)" \
	sh -c "[ \$(awk '\$3 == 1' '$T/writes' | wc -l) -ge 10 ] || { echo 'it ran ${ran:-0} s: make the image larger'; exit 1; }"
check "each small write into a repository made during the import returns within $WMAX s" \
	awk -v max="$WMAX" '$3 == 1 && $2 + 0 >= max + 0 { print "write " $1 " took " $2 " s"; bad = 1 }
		END { exit bad }' "$T/writes"
# published in one short transaction at the end: never listed while
# layers are still going in (a second allowed for the command to exit)
check "MNT/images does not show the image while the import runs (1 s before its end at most)" \
	awk '$1 == "seen" { seen = $2 } $1 == "end" { end = $2 }
		END { if (seen != "" && end != "" && end - seen > 1) {
			print "listed at " seen " s, the import ended at " end " s"; exit 1 } }' "$T/watch"
check "MNT/images shows it within 3 s of the import's end" sh -c "[ -d '$M/images/big' ] || { ls '$M/images'; exit 1; }"
diag "it appeared $appeared tenths of a second after"
check "govc images lists it" sh -c "'$GOVC' images -q '$S' | grep -qx big:1"
n=$(wc -l < "$T/writes")
check "every file written during the import holds what was written" sh -c "
	i=0; while [ \$i -lt $n ]; do
		[ \"\$(cat '$M/repos/x/f'\$i)\" = \$i ] || { echo \"f\$i: \$(cat '$M/repos/x/f'\$i)\"; exit 1; }
		i=\$((i + 1))
	done"
check "the rootfs reads back as made (every entry, mode, size and sha256)" \
	python3 "$MK" check "$T/img.list" "$M/images/big/rootfs"
check "govc fsck passes" "$GOVC" fsck "$S"
