#!/bin/sh
# t0105-large-layer-files: an image holding one 5 GiB file, once random
# bytes (an uncompressed layer) and once zeros (a gzip layer), goes in
# with `govc import` using a bounded amount of memory (peak RSS under 256
# MiB), reads back through MNT/images/<name>/rootfs with the sha256 it was
# made with, and comes out with `govc export` with the same manifest,
# config and layer digests.  A GNU sparse tar entry (both of GNU tar's
# formats) is either kept byte for byte or refused with a message saying
# "sparse", never taken for a truncated tar.
#
# Knobs: GOVC_TEST_BIG_SIZE (bytes, or with a K/M/G suffix; default 5G, 1G
# when govc is built with sanitizers: GOVC_SANITIZED=1, or libasan linked
# in), GOVC_TEST_RSS_MAX (MiB, default 256; 512 under sanitizers, whose
# shadow memory and allocator add to the RSS).  Needs about 5 times the
# size free on the disk of /tmp (layout, the store's blob and file, the
# export, an importer's scratch file).
set -eu
. "$(dirname "$0")/lib.sh"
for tool in python3 tar truncate dd df; do
	command -v $tool >/dev/null || skip_all "$tool is not installed"
done
MK=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/mkimage.py
export PYTHONDONTWRITEBYTECODE=1

sanitized=${GOVC_SANITIZED:-}
if [ -z "$sanitized" ]; then
	sanitized=0
	ldd "$GOVC" 2>/dev/null | grep -q 'libasan\|libubsan\|libtsan' && sanitized=1
fi
if [ "$sanitized" != 0 ]; then
	SIZE=${GOVC_TEST_BIG_SIZE:-1G}
	RSS_MAX=${GOVC_TEST_RSS_MAX:-512}
	# a small quarantine: freed buffers would count otherwise
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16
	export ASAN_OPTIONS
else
	SIZE=${GOVC_TEST_BIG_SIZE:-5G}
	RSS_MAX=${GOVC_TEST_RSS_MAX:-256}
fi
case $SIZE in
*[Kk]) SIZE=$(( ${SIZE%?} * 1024 )) ;;
*[Mm]) SIZE=$(( ${SIZE%?} * 1048576 )) ;;
*[Gg]) SIZE=$(( ${SIZE%?} * 1073741824 )) ;;
esac

setup
TMPDIR=$T/tmp
export TMPDIR
mkdir "$TMPDIR"
need=$(( SIZE * 5 ))
avail=$(df -P -B1 "$T" | awk 'NR == 2 { print $4 }')
[ "$avail" -ge "$need" ] ||
	skip_all "needs $((need >> 30)) GiB free under /tmp for a $SIZE-byte file, $((avail >> 30)) GiB are (set GOVC_TEST_BIG_SIZE)"
plan 15
diag "a file of $SIZE bytes; peak RSS bound $RSS_MAX MiB; sanitizers: $sanitized"

# import_rss SRC NAME: import SRC as NAME; sets rc (its exit status) and
# rss (its peak resident set, KiB: /usr/bin/time -v, else VmHWM polled)
import_rss() {
	rc=0
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -v -o "$T/time.out" "$GOVC" import "$S" "$1" "$2" \
			> "$T/import.out" 2> "$T/import.err" || rc=$?
		rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$T/time.out")
	else
		"$GOVC" import "$S" "$1" "$2" > "$T/import.out" 2> "$T/import.err" &
		p=$!
		rss=0
		while kill -0 $p 2>/dev/null; do
			v=$(awk '/^VmHWM:/ { print $2 }' /proc/$p/status 2>/dev/null || true)
			[ -n "$v" ] && [ "$v" -gt "$rss" ] && rss=$v
			sleep 0.05
		done
		wait $p || rc=$?
	fi
	rss=${rss:-0}
}

# variant WHAT CONTENT COMPRESSION: the image of one SIZE-byte file
variant() {
	what=$1
	cat > "$T/spec.json" <<EOF
{"tag": "$2", "layers": [
 {"compress": "gzip", "entries": [
  {"type": "dir", "path": "etc"},
  {"type": "file", "path": "etc/os-release", "size": 200, "content": "text"}]},
 {"compress": "$3", "level": 1, "entries": [
  {"type": "dir", "path": "data"},
  {"type": "file", "path": "data/big", "size": $SIZE, "content": "$2", "seed": 42}]}]}
EOF
	t0=$(date +%s)
	python3 "$MK" layout "$T/spec.json" "$T/src" --list "$T/src.list"
	t1=$(date +%s)
	import_rss "oci:$T/src:$2" "$2:1"
	t2=$(date +%s)
	check "$what: the import succeeds" sh -c "[ $rc = 0 ] || { cat '$T/import.err'; exit 1; }"
	# a failed import says nothing about its memory: it may have stopped early
	check "$what: it got there with a peak RSS under $RSS_MAX MiB" sh -c "
		[ $rc = 0 ] && [ $rss -gt 0 ] && [ $rss -lt $((RSS_MAX * 1024)) ] ||
			{ echo 'peak RSS $((rss / 1024)) MiB, exit status $rc'; exit 1; }"
	if [ $rc != 0 ]; then
		for c in "the file reads back" "govc export succeeds" "the export has the source's digests" \
			"every exported blob hashes to its digest"; do
			not_ok "$what: $c (no image: the import failed)"
		done
		t3=$t2
	else
		check "$what: the file reads back through the rootfs with its sha256 and size" \
			python3 "$MK" check "$T/src.list" "$M/images/$2/rootfs"
		t3=$(date +%s)
		rm -rf "$T/out"
		check "$what: govc export succeeds" "$GOVC" export "$S" "$2:1" "oci:$T/out:x"
		check "$what: the export has the source's manifest, config and layer digests" sh -c "
			python3 '$MK' blobs '$T/src' '$2' > '$T/want' && python3 '$MK' blobs '$T/out' x > '$T/got' &&
			diff '$T/want' '$T/got'"
		check "$what: and every exported blob hashes to its digest" python3 "$MK" verify "$T/out" x
	fi
	t4=$(date +%s)
	diag "$what: made in $((t1 - t0)) s, imported in $((t2 - t1)) s (peak RSS $((rss / 1024)) MiB), read back in $((t3 - t2)) s, exported and checked in $((t4 - t3)) s"
	rm -rf "$T/src" "$T/out"
}

variant "random bytes, uncompressed layer" random none
variant "zeros, gzip layer" zeros gzip

# ---- GNU sparse entries --------------------------------------------------------
# a 300 MiB file: 1 MiB of data at 1 MiB and at 150 MiB, holes elsewhere
# (a trailing one too)
mkdir "$T/sp"
truncate -s 300M "$T/sp/sparse"
dd if=/dev/urandom of="$T/sp/sparse" bs=1M count=1 seek=1 conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$T/sp/sparse" bs=1M count=1 seek=150 conv=notrunc 2>/dev/null
chmod 644 "$T/sp/sparse"
sum=$(sha256sum < "$T/sp/sparse" | cut -d' ' -f1)

# sparse FORMAT: tar --sparse --format=FORMAT, imported
sparse() {
	tar --sparse --format="$1" -cf "$T/sparse.tar" -C "$T/sp" sparse
	if ! python3 -c 'import sys, tarfile
m = tarfile.open(sys.argv[1]).getmember("sparse")
sys.exit(not (m.issparse() or "GNU.sparse.major" in m.pax_headers or "GNU.sparse.map" in m.pax_headers))' "$T/sparse.tar" ||
		[ "$(stat -c %s "$T/sparse.tar")" -gt $((16 << 20)) ]; then
		skip "tar --format=$1 did not write a sparse entry"
		return 0
	fi
	printf '{"tag": "s", "layers": [{"raw": "%s", "compress": "none", "expect": ["f\\tsparse\\t644\\t314572800\\t%s"]}]}' \
		"$T/sparse.tar" "$sum" > "$T/sparse.json"
	rm -rf "$T/ssrc"
	python3 "$MK" layout "$T/sparse.json" "$T/ssrc" --list "$T/sparse.list"
	rc=0
	"$GOVC" import "$S" "oci:$T/ssrc:s" "sparse-$1:1" > "$T/import.out" 2> "$T/import.err" || rc=$?
	if [ $rc = 0 ]; then
		check "a GNU sparse entry ($1 format) is imported byte for byte" \
			python3 "$MK" check "$T/sparse.list" "$M/images/sparse-$1/rootfs"
	else
		check "a GNU sparse entry ($1 format) is refused, the message saying 'sparse' (and not 'truncated tar')" sh -c "
			cat '$T/import.err'; grep -qi sparse '$T/import.err' && ! grep -qi 'truncated tar' '$T/import.err'"
	fi
}
sparse gnu
sparse posix

check "govc fsck passes" "$GOVC" fsck "$S"
