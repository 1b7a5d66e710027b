#!/bin/sh
# bench-copies.sh - does govc's cost per file grow with the store?  Copies
# NFILES files of 4 KiB COPIES times into one repository (warm source,
# each copy followed by an fsync, which commits), and the same copies into
# one git repository, each followed by `git add -A && git commit`.  Prints
# each copy's time side by side and the ratio.
#
#   bench/bench-copies.sh                 10,000 files, 6 copies, the same files each time
#   DISTINCT=1 bench/bench-copies.sh      new random contents for every copy
#
# NFILES and COPIES override.  GOVC names the binary (default: tools/govc
# of this tree).  Scratch space goes in /var/tmp.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
GOVC=${GOVC:-$top/tools/govc}
NFILES=${NFILES:-10000}
COPIES=${COPIES:-6}
DISTINCT=${DISTINCT:-0}
B=$(mktemp -d /var/tmp/govc-copies.XXXXXX)
M=$B/mnt
mkdir -p "$M" "$B/src"
cleanup() {
	"$GOVC" umount "$M" 2>/dev/null || fusermount3 -u -z "$M" 2>/dev/null || true
	rm -rf "$B"
}
trap cleanup EXIT

now() { date +%s.%N; }
timed() { t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'; }
fill() { i=0; while [ $i -lt "$NFILES" ]; do head -c 4096 /dev/urandom > "$B/src/f$i"; i=$((i + 1)); done; }

"$GOVC" init "$B/store" >/dev/null
"$GOVC" mount "$B/store" "$M"
mkdir "$M/repos/b"
git init -q "$B/git"
echo "govc copies: $(nproc) cores, $(uname -r), $NFILES files x $COPIES copies," \
	"$([ "$DISTINCT" = 1 ] && echo distinct || echo same) contents"
echo "govc: $GOVC ($(cd "$top" && git describe --always --dirty 2>/dev/null || echo unknown))"
printf '%-6s %10s %10s %8s\n' copy govc git ratio
fill
r=0; while [ $r -lt "$COPIES" ]; do
	[ "$DISTINCT" = 1 ] && [ $r -gt 0 ] && fill
	cat "$B"/src/* > /dev/null
	g=$(timed sh -c "cp -r '$B/src' '$M/repos/b/c$r' && sync '$M/repos/b/c$r/f0'")
	x=$(timed sh -c "cp -r '$B/src' '$B/git/c$r' && cd '$B/git' && git -c gc.auto=0 add -A && git -c gc.auto=0 -c user.name=b -c user.email=b@b commit -q -m c$r")
	printf '%-6s %9ss %9ss %7sx\n' "$r" "$g" "$x" "$(awk -v a="$g" -v b="$x" 'BEGIN {printf "%.2f", a / b}')"
	r=$((r + 1))
done
