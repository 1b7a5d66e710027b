#!/bin/sh
# t0018-power-loss: the crash-state explorer (tests/crash/) records a
# mounted store's writes and syncs during a short workload (writes,
# renames, removals, commits, an fsync) and rebuilds the states a power
# loss at any recorded instant could leave on disk.  With checkpoints
# every state opens and passes govc fsck, and every state after the fsync
# returned keeps the fsync'd file's commit.  With checkpoints off (the
# plain MDB_NOSYNC store) the explorer finds damaged states: it can see
# what it looks for.
set -eu
: "${GOVC_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${GOVC:=$GOVC_SRCDIR/tools/govc}"
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (a FUSE mount)"; exit 0; }
[ -c /dev/fuse ] || { echo "1..0 # SKIP no /dev/fuse"; exit 0; }
command -v cc >/dev/null || { echo "1..0 # SKIP no C compiler for the recorder"; exit 0; }
# the recorder is preloaded into govc; under AddressSanitizer its runtime
# must come first, and the explorer checks what lands on disk, not memory
if ldd "$GOVC" 2>/dev/null | grep -q libasan; then
	echo "1..0 # SKIP the sanitizer build (the recorder cannot be preloaded before ASan)"; exit 0
fi
echo "1..2"
out=$(mktemp /tmp/govc-t0018.XXXXXX)
trap 'rm -f "$out"' EXIT
if "$GOVC_SRCDIR/tests/crash/run.sh" "$GOVC" "${CRASH_STATES:-100}" > "$out" 2>&1; then
	echo "ok 1 - with checkpoints: $(tail -n 1 "$out")"
else
	echo "not ok 1 - with checkpoints: $(tail -n 1 "$out")"
	sed 's/^/# /' "$out"
fi
if GOVC_CHECKPOINTS=off "$GOVC_SRCDIR/tests/crash/run.sh" "$GOVC" 40 > "$out" 2>&1; then
	echo "not ok 2 - without checkpoints the explorer finds no damaged state: $(tail -n 1 "$out")"
else
	echo "ok 2 - without checkpoints the explorer finds damaged states: $(tail -n 1 "$out")"
fi
