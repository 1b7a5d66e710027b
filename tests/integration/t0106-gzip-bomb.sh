#!/bin/sh
# t0106-gzip-bomb: layers that decompress to far more than they weigh are
# refused, quickly, with a message naming the layer and the limit; the
# store keeps nothing of them once `govc gc` has run.  Two bombs: an 8 MB
# gzip layer holding an 8 GiB file of zeros (past the uncompressed-bytes
# limit), and a 10 MB one holding a million empty files (past the entries
# limit).  Layers just under the limits still go in.
#
# ASSUMED NAMES (the implementer aligns them, or this test):
#   GOVC_LAYER_MAX_BYTES    environment variable read by `govc import`: the
#                           most uncompressed bytes one layer may hold
#                           (a default applies when it is unset)
#   GOVC_LAYER_MAX_ENTRIES  the most tar entries one layer may hold
#   the refusal names the layer's digest (sha256:<64 hex>, or its first 12
#   hex digits at least) and the limit as a number of bytes / entries
#   (268435456 or "256 MiB"; 100000 or "100,000")
# GOVC_TEST_BOMB_SIZE (bytes, or K/M/G) changes the zero file's size.
set -eu
. "$(dirname "$0")/lib.sh"
for tool in python3 mdb_copy timeout; do
	command -v $tool >/dev/null || skip_all "$tool is not installed"
done
setup
plan 16
MK=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/mkimage.py
export PYTHONDONTWRITEBYTECODE=1
TMPDIR=$T/tmp
export TMPDIR
mkdir "$TMPDIR"
BOMB=${GOVC_TEST_BOMB_SIZE:-8G}
case $BOMB in
*[Kk]) BOMB=$(( ${BOMB%?} * 1024 )) ;;
*[Mm]) BOMB=$(( ${BOMB%?} * 1048576 )) ;;
*[Gg]) BOMB=$(( ${BOMB%?} * 1073741824 )) ;;
esac
MAX_BYTES=268435456	# 256 MiB
MAX_ENTRIES=100000
# refused in this long, or not refused (it is decompressing the bomb)
LIMIT_S=60

# compacted STORE: bytes of a compacted copy of STORE (what it really holds;
# LMDB files never shrink)
compacted() {
	rm -rf "$T/cp" && mkdir "$T/cp" && mdb_copy -c "$1" "$T/cp" && stat -c %s "$T/cp/data.mdb"
}
# layer LAYOUT TAG: the hex digest of the image's last layer
layer() { python3 "$MK" blobs "$1" "$2" | tail -n 1 | cut -d: -f2; }

# bomb WHAT NAME LIMIT-PATTERN: import layout $T/NAME (tag b) with the
# limits set, and check it is refused and leaves nothing behind
bomb() {
	what=$1 name=$2 pat=$3
	hex=$(layer "$T/$name" b)
	before=$(compacted "$S")
	rc=0
	t0=$(date +%s)
	GOVC_LAYER_MAX_BYTES=$MAX_BYTES GOVC_LAYER_MAX_ENTRIES=$MAX_ENTRIES \
		timeout -k 5 $LIMIT_S "$GOVC" import "$S" "oci:$T/$name:b" "$name:1" \
		> "$T/out" 2> "$T/err" || rc=$?
	diag "$what: exit status $rc after $(( $(date +%s) - t0 )) s: $(cat "$T/err")"
	case $rc in
	0) not_ok "$what: the import is refused (it succeeded)" ;;
	124 | 137) not_ok "$what: the import is refused (still running after $LIMIT_S s)" ;;
	*) ok "$what: the import is refused, within $LIMIT_S s" ;;
	esac
	check "$what: the message names the layer and the limit" sh -c "
		grep -q 'sha256:$(echo "$hex" | cut -c1-12)' '$T/err' && grep -Eq '$pat' '$T/err'"
	check "$what: govc images lists no image of it" sh -c "! '$GOVC' images -q '$S' | grep '^$name:'"
	check "$what: the mount shows none" sh -c "! ls '$M/images' | grep -x '$name'"
	"$GOVC" gc "$S" > "$T/gc.out" 2>&1 || true
	after=$(compacted "$S")
	check "$what: after govc gc the store holds what it held before (within 4 MiB)" sh -c "
		[ $after -le $((before + 4194304)) ] ||
			{ echo 'compacted: $before bytes before, $after after'; cat '$T/gc.out'; exit 1; }"
	check "$what: govc fsck passes" "$GOVC" fsck "$S"
}

# a base image, so the store is not empty
cat > "$T/base.json" <<'EOF'
{"tag": "b", "layers": [{"compress": "gzip", "entries": [
 {"type": "dir", "path": "etc"},
 {"type": "file", "path": "etc/os-release", "size": 300, "content": "text"}]}]}
EOF
python3 "$MK" layout "$T/base.json" "$T/base"
"$GOVC" import "$S" "oci:$T/base:b" base:1 >/dev/null

# ---- a huge file of zeros ------------------------------------------------------
cat > "$T/zeros.json" <<EOF
{"tag": "b", "layers": [
 {"compress": "gzip", "entries": [{"type": "file", "path": "etc/os-release", "size": 300, "content": "text"}]},
 {"compress": "gzip", "level": 9, "entries": [
  {"type": "dir", "path": "data"},
  {"type": "file", "path": "data/zero", "size": $BOMB, "content": "zeros", "nohash": true}]}]}
EOF
t0=$(date +%s)
python3 "$MK" layout "$T/zeros.json" "$T/zeros"
diag "a $BOMB-byte zero file in a $(stat -c %s "$T/zeros/blobs/sha256/$(layer "$T/zeros" b)")-byte layer, made in $(( $(date +%s) - t0 )) s"
bomb "a gzip layer of $BOMB zero bytes" zeros "$MAX_BYTES|256 ?MiB"

# ---- a million empty files -------------------------------------------------------
cat > "$T/entries.json" <<'EOF'
{"tag": "b", "layers": [
 {"compress": "gzip", "entries": [{"type": "file", "path": "etc/os-release", "size": 300, "content": "text"}]},
 {"compress": "gzip", "level": 1, "entries": [
  {"type": "empty-files", "path": "e/%07d", "count": 1000000}]}]}
EOF
t0=$(date +%s)
python3 "$MK" layout "$T/entries.json" "$T/entries"
diag "1000000 empty files in a $(stat -c %s "$T/entries/blobs/sha256/$(layer "$T/entries" b)")-byte layer, made in $(( $(date +%s) - t0 )) s"
bomb "a gzip layer of a million empty files" entries "$MAX_ENTRIES|100[ ,]000"
rm -rf "$T/zeros" "$T/entries"

# ---- under the limits -----------------------------------------------------------
cat > "$T/under.json" <<'EOF'
{"tag": "b", "layers": [
 {"compress": "gzip", "level": 9, "entries": [
  {"type": "file", "path": "zero", "size": 209715200, "content": "zeros"},
  {"type": "empty-files", "path": "e/%05d", "count": 90000}]}]}
EOF
python3 "$MK" layout "$T/under.json" "$T/under" --list "$T/under.list"
check "a layer of 200 MiB and 90000 entries, under both limits, goes in" sh -c "
	GOVC_LAYER_MAX_BYTES=$MAX_BYTES GOVC_LAYER_MAX_ENTRIES=$MAX_ENTRIES '$GOVC' import '$S' 'oci:$T/under:b' under:1"
i=0
while [ $i -lt 30 ] && ! [ -d "$M/images/under" ]; do sleep 0.1; i=$((i + 1)); done
check "and reads back whole" python3 "$MK" check "$T/under.list" "$M/images/under/rootfs"
check "the base image is still there" sh -c "'$GOVC' images -q '$S' | grep -qx base:1"
check "govc fsck passes" "$GOVC" fsck "$S"
