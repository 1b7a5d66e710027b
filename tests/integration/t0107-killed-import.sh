#!/bin/sh
# t0107-killed-import: an import killed half way (kill -9 once it has read
# 100 MB of a 330 MB image, into a mounted store) leaves no image in
# `govc images` or under MNT/images, a store `govc fsck` passes, and
# nothing that survives `govc gc` (the compacted store is back to its size
# before); the same import then goes through and reads back.  A
# `docker-archive:` import stopped by SIGINT or SIGTERM while it unpacks
# the archive leaves nothing in $TMPDIR (its scratch files are unnamed).
set -eu
. "$(dirname "$0")/lib.sh"
for tool in python3 mdb_copy du; do
	command -v $tool >/dev/null || skip_all "$tool is not installed"
done
setup
plan 14
MK=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/mkimage.py
export PYTHONDONTWRITEBYTECODE=1
TMPDIR=$T/tmp
export TMPDIR
mkdir "$TMPDIR"

# compacted STORE: bytes of a compacted copy of STORE (LMDB files never
# shrink: this is what it really holds)
compacted() {
	rm -rf "$T/cp" && mkdir "$T/cp" && mdb_copy -c "$1" "$T/cp" && stat -c %s "$T/cp/data.mdb"
}
# running PID: PID runs (a zombie does not count)
running() {
	[ -r "/proc/$1/stat" ] || return 1
	case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) in
	Z | X | '') return 1 ;;
	esac
}
# launch FILE COMMAND...: run COMMAND in the background with SIGINT at its
# default (an sh without job control starts background jobs ignoring it),
# output to FILE; its pid in $pid
launch() {
	out=$1; shift
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@" > "$out" 2>&1 &
	pid=$!
}

cat > "$T/spec.json" <<'EOF'
{"tag": "big", "layers": [
 {"compress": "gzip", "level": 1, "entries": [
  {"type": "dir", "path": "etc"},
  {"type": "files", "path": "usr/lib/f%05d", "count": 2000, "size": 2000, "content": "random", "seed": 11},
  {"type": "symlink", "path": "etc/alias", "target": "../usr/lib/f00007"}]},
 {"compress": "none", "entries": [
  {"type": "file", "path": "opt/one", "size": 157286400, "content": "random", "seed": 12}]},
 {"compress": "none", "entries": [
  {"type": "file", "path": "opt/two", "size": 157286400, "content": "random", "seed": 13},
  {"type": "files", "path": "opt/doc/d%04d", "count": 1000, "size": 3000, "content": "text", "seed": 14}]}]}
EOF
python3 "$MK" layout "$T/spec.json" "$T/img" --list "$T/img.list"

# ---- kill -9 half way -------------------------------------------------------------
before=$(compacted "$S")
launch "$T/import.out" "$GOVC" import "$S" "oci:$T/img:big" big:1
i=0
while [ $i -lt 300 ] && running $pid &&
	[ "$(awk '/^rchar/ { print $2 }' /proc/$pid/io 2>/dev/null || echo 0)" -lt 100000000 ]; do
	sleep 0.1; i=$((i + 1))
done
was=0; running $pid && was=1
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
check "the import was still running when killed (it had read 100 MB)" sh -c "[ $was = 1 ] || { cat '$T/import.out'; exit 1; }"
check "govc images lists no image" sh -c "out=\$('$GOVC' images -q '$S'); [ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"
sleep 1
check "MNT/images shows none" sh -c "out=\$(ls -A '$M/images'); [ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"
check "govc fsck passes" "$GOVC" fsck "$S"
"$GOVC" gc "$S" > "$T/gc.out" 2>&1 || true
after=$(compacted "$S")
check "after govc gc the store holds what it held before (compacted, within 4 MiB)" sh -c "
	[ $after -le $((before + 4194304)) ] ||
		{ echo 'compacted: $before bytes before, $after after'; cat '$T/gc.out'; exit 1; }"
check "the same import then succeeds" "$GOVC" import "$S" "oci:$T/img:big" big:1
i=0
while [ $i -lt 30 ] && ! [ -d "$M/images/big" ]; do sleep 0.1; i=$((i + 1)); done
check "and its rootfs reads back as made" python3 "$MK" check "$T/img.list" "$M/images/big/rootfs"

# ---- SIGINT, SIGTERM while a docker archive is unpacked -----------------------------
python3 "$MK" docker-archive "$T/img" big "$T/img.tar"
rm -rf "$T/img"
for sig in INT TERM; do
	launch "$T/import.out" "$GOVC" import "$S" "docker-archive:$T/img.tar" "d$sig:1"
	# until it has read 50 MB of the archive into its scratch files
	# (unnamed: they show only among its open files), 15 s at most
	i=0
	while [ $i -lt 150 ] && running $pid; do
		mb=$(awk '/^rchar/ { print int($2 / 1048576) }' /proc/$pid/io 2>/dev/null)
		[ "${mb:-0}" -lt 50 ] || break
		sleep 0.1; i=$((i + 1))
	done
	was=0; running $pid && was=1
	ls -l /proc/$pid/fd 2>/dev/null | grep -c "$TMPDIR" > "$T/scratch.during" || true
	kill -$sig $pid 2>/dev/null || true
	# it may take a moment to clean up: 10 s, then it is stuck
	i=0
	while [ $i -lt 100 ] && running $pid; do sleep 0.1; i=$((i + 1)); done
	kill -9 $pid 2>/dev/null || true
	rc=0; wait $pid 2>/dev/null || rc=$?
	check "SIG$sig: the docker-archive import was unpacking when stopped, and exits non-zero" sh -c "
		[ $was = 1 ] && [ $rc != 0 ] || { echo 'running: $was, exit status $rc'; cat '$T/import.out'; exit 1; }
		[ \$(cat '$T/scratch.during') -gt 0 ] || { echo 'no scratch file seen open'; exit 1; }"
	check "SIG$sig: nothing is left in \$TMPDIR" sh -c "
		left=\$(ls -A '$TMPDIR' || true)
		[ -z \"\$left\" ] || { echo \"left: \$left\"; du -sh '$TMPDIR'; exit 1; }"
	check "SIG$sig: and no image" sh -c "! '$GOVC' images -q '$S' | grep '^d$sig:'"
	rm -rf "${TMPDIR:?}"/govc-import-*
done
check "govc fsck passes" "$GOVC" fsck "$S"
