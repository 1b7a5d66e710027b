#!/bin/sh
# bench-repo.sh - govc's repository workloads side by side with the native
# filesystem and git, in one run; prints medians and ratios.
#
#   bench/bench-repo.sh            full sizes (10,000 files, 1 GiB, 100,000 files / 10,000 commits)
#   BENCH_QUICK=1 bench/bench-repo.sh   small sizes, for a smoke run
#
# Sizes: NFILES, BIGMB, HUGEFILES, HUGECOMMITS, RUNS override either mode.
# GOVC names the binary (default: tools/govc of this tree).  Needs root
# (drop_caches; without it the "cold" reads are warm), git, python3.
# Scratch space goes in /var/tmp (about 3 GiB at full size).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
GOVC=${GOVC:-$top/tools/govc}
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
	NFILES=${NFILES:-1000} BIGMB=${BIGMB:-64} HUGEFILES=${HUGEFILES:-5000}
	HUGECOMMITS=${HUGECOMMITS:-500} RUNS=${RUNS:-3}
else
	NFILES=${NFILES:-10000} BIGMB=${BIGMB:-1024} HUGEFILES=${HUGEFILES:-100000}
	HUGECOMMITS=${HUGECOMMITS:-10000} RUNS=${RUNS:-5}
fi
B=$(mktemp -d /var/tmp/govc-bench.XXXXXX)
S=$B/store
M=$B/mnt
mkdir -p "$M"
cleanup() {
	"$GOVC" umount "$M" 2>/dev/null || fusermount3 -u -z "$M" 2>/dev/null || true
	rm -rf "$B"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
# timed CMD...: seconds
timed() { t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f\n", b - a}'; }
row() { printf '%-44s %10s s %10s s %8sx\n' "$1" "$2" "$3" "$4"; }

"$GOVC" init "$S" >/dev/null
"$GOVC" mount "$S" "$M"
echo "govc bench: $(nproc) cores, $(uname -r), files=$NFILES big=${BIGMB}MiB" \
	"huge=${HUGEFILES} files/${HUGECOMMITS} commits, runs=$RUNS (medians)"
echo "govc: $GOVC ($(cd "$top" && git describe --always --dirty 2>/dev/null || echo unknown))"
echo

# 1. cp -r of NFILES files of 4 KiB
src=$B/src; mkdir -p "$src"
i=0; while [ $i -lt "$NFILES" ]; do head -c 4096 /dev/urandom > "$src/f$i"; i=$((i + 1)); done
mkdir "$M/repos/b"
: > "$B/t.govc"; : > "$B/t.native"; : > "$B/t.git"
r=0; while [ $r -lt "$RUNS" ]; do
	drop
	timed sh -c "cp -r '$src' '$M/repos/b/run$r' && sync '$M/repos/b/run$r/f0'" >> "$B/t.govc"
	drop
	timed sh -c "cp -r '$src' '$B/native$r' && sync '$B/native$r/f0'" >> "$B/t.native"
	rm -rf "$B/g$r"; git init -q "$B/g$r"
	drop
	timed sh -c "cp -r '$src' '$B/g$r/d' && cd '$B/g$r' && git -c gc.auto=0 add -A && git -c gc.auto=0 -c user.name=b -c user.email=b@b commit -q -m x" >> "$B/t.git"
	r=$((r + 1))
done
g=$(median < "$B/t.govc"); n=$(median < "$B/t.native"); gi=$(median < "$B/t.git")
printf '%-44s %12s %12s %9s\n' "workload" "govc" "reference" "ratio"
row "cp -r ${NFILES}x4KiB (+commit) vs native" "$g" "$n" "$(ratio "$g" "$n")"
row "cp -r ${NFILES}x4KiB (+commit) vs git add+commit" "$g" "$gi" "$(ratio "$g" "$gi")"
# the same with the source in the page cache: what is left is each side's
# own cost (cold, the ~1 s of source reads is added to both)
: > "$B/w.govc"; : > "$B/w.native"; : > "$B/w.git"
r=0; while [ $r -lt "$RUNS" ]; do
	timed sh -c "cp -r '$src' '$M/repos/b/warm$r' && sync '$M/repos/b/warm$r/f0'" >> "$B/w.govc"
	timed sh -c "cp -r '$src' '$B/nwarm$r' && sync '$B/nwarm$r/f0'" >> "$B/w.native"
	rm -rf "$B/gw$r"; git init -q "$B/gw$r"
	timed sh -c "cp -r '$src' '$B/gw$r/d' && cd '$B/gw$r' && git -c gc.auto=0 add -A && git -c gc.auto=0 -c user.name=b -c user.email=b@b commit -q -m x" >> "$B/w.git"
	r=$((r + 1))
done
g=$(median < "$B/w.govc"); n=$(median < "$B/w.native"); gi=$(median < "$B/w.git")
row "same, source warm, vs native" "$g" "$n" "$(ratio "$g" "$n")"
row "same, source warm, vs git add+commit" "$g" "$gi" "$(ratio "$g" "$gi")"

# 2. find and ls -lR over the copied tree, warm
find "$M/repos/b/run0" >/dev/null; ls -lR "$M/repos/b/run0" >/dev/null
find "$B/native0" >/dev/null; ls -lR "$B/native0" >/dev/null
for cmd in "find" "ls -lR"; do
	: > "$B/a"; : > "$B/c"
	r=0; while [ $r -lt "$RUNS" ]; do
		timed $cmd "$M/repos/b/run0" >> "$B/a"
		timed $cmd "$B/native0" >> "$B/c"
		r=$((r + 1))
	done
	a=$(median < "$B/a"); c=$(median < "$B/c")
	row "$cmd ${NFILES} files, warm, vs native" "$a" "$c" "$(ratio "$a" "$c")"
done

# 3. sequential write then read of one big file
w1=$(timed dd if=/dev/zero of="$M/repos/b/big" bs=1M count="$BIGMB" conv=fsync)
w2=$(timed dd if=/dev/zero of="$B/big" bs=1M count="$BIGMB" conv=fsync)
row "write ${BIGMB} MiB (fsync) vs native" "$w1" "$w2" "$(ratio "$w1" "$w2")"
# each warm read right after its cold one: a drop in between would make
# the first one cold again.  Pages the daemon has mapped (the commit hashed
# the file through LMDB's map) survive drop_caches: mount afresh first
: > "$B/t.r1"; : > "$B/t.w1"; : > "$B/t.r2"; : > "$B/t.w2"
r=0; while [ $r -lt "$RUNS" ]; do
	"$GOVC" umount "$M"
	"$GOVC" mount "$S" "$M"
	drop
	timed dd if="$M/repos/b/big" of=/dev/null bs=1M >> "$B/t.r1"
	timed dd if="$M/repos/b/big" of=/dev/null bs=1M >> "$B/t.w1"
	drop
	timed dd if="$B/big" of=/dev/null bs=1M >> "$B/t.r2"
	timed dd if="$B/big" of=/dev/null bs=1M >> "$B/t.w2"
	r=$((r + 1))
done
r1=$(median < "$B/t.r1"); w1=$(median < "$B/t.w1")
r2=$(median < "$B/t.r2"); w2=$(median < "$B/t.w2")
row "read ${BIGMB} MiB cold vs native" "$r1" "$r2" "$(ratio "$r1" "$r2")"
row "read ${BIGMB} MiB warm vs native" "$w1" "$w2" "$(ratio "$w1" "$w2")"
rm -f "$M/repos/b/big" "$B/big"

# 4. one more small commit in a big repository vs a small one
mkrepo() {	# mkrepo DIR FILES COMMITS: a git repo through fast-import
	git init -q "$1"
	python3 - "$2" "$3" <<'PY' | git -C "$1" fast-import --quiet
import sys
files, commits = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
def data(b):
    out.write("data %d\n" % len(b)); out.write(b); out.write("\n")
mark = 0
for c in range(commits):
    out.write("commit refs/heads/main\n")
    out.write("committer b <b@b> %d +0000\n" % (1600000000 + c))
    data("c%d\n" % c)
    if c == 0:
        for f in range(files):
            out.write("M 100644 inline d%d/f%d\n" % (f % 1000, f)); data("file %d\n" % f)
    else:
        out.write("M 100644 inline d%d/f%d\n" % (c % 1000, c % files)); data("edit %d\n" % c)
PY
	git -C "$1" symbolic-ref HEAD refs/heads/main
}
one_commit() {	# one_commit REPO TAG: seconds for a change to be committed (fsync forces it)
	: > "$B/oc"
	r=0; while [ $r -lt "$RUNS" ]; do
		timed sh -c "echo $r > '$M/repos/$1/new$2$r' && sync '$M/repos/$1/new$2$r'" >> "$B/oc"
		r=$((r + 1))
	done
	# the forced commits landed
	"$GOVC" log "$S" "$1" | head -n "$RUNS" | grep -q "A new$2$((RUNS - 1))" ||
		{ echo "bench: the commit in $1 did not land" >&2; exit 1; }
	median < "$B/oc"
}
landed() {	# landed REPO: seconds from a write (no fsync) until events shows its commit
	: > "$B/ol"
	r=0; while [ $r -lt "$RUNS" ]; do
		tail -s 0.02 -n 0 -f "$M/events" > "$B/ev" 2>/dev/null &
		tailer=$!
		sleep 0.3
		t0=$(now)
		echo "$r" > "$M/repos/$1/late$r"
		i=0
		while ! grep -q "late$r" "$B/ev" && [ $i -lt 3000 ]; do sleep 0.005; i=$((i + 1)); done
		t1=$(now)
		kill $tailer 2>/dev/null; wait $tailer 2>/dev/null || true
		awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f\n", b - a}' >> "$B/ol"
		r=$((r + 1))
	done
	median < "$B/ol"
}
t0=$(now)
mkrepo "$B/huge" "$HUGEFILES" "$HUGECOMMITS"
mkrepo "$B/small" "$HUGEFILES" 100
t1=$(now)
"$GOVC" import "$S" "git:$B/huge" huge
t2=$(now)
"$GOVC" import "$S" "git:$B/small" small
sleep 1.5
echo "(built by git fast-import in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; govc import of the big one $(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.1f", b - a}') s)"
# a first round each, untimed: right after the imports the store's pages
# are still being written back, which the first repository measured paid
one_commit huge w >/dev/null; one_commit small w >/dev/null
h=$(one_commit huge t); s=$(one_commit small t)
row "commit in ${HUGEFILES} files/${HUGECOMMITS} commits vs 100 (fsync)" "$h" "$s" "$(ratio "$h" "$s")"
h=$(landed huge); s=$(landed small)
row "write -> commit event, same repos (1 s window)" "$h" "$s" "$(ratio "$h" "$s")"
