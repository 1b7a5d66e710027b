#!/bin/sh
# run.sh - build govc's libFuzzer harnesses with clang and run each for
# FUZZ_TIME seconds (default 60) on its seed corpus (tests/fuzz/seeds/NAME,
# and the dictionary tests/fuzz/seeds/NAME.dict if there is one)
# plus the reproducers of crashes found before (tests/fuzz/crashes/NAME),
# which must all pass.  Prints one line per harness:
#     fuzz NAME: N executions in T s, ok | CRASH (artifact: FILE)
# and exits non-zero if any harness crashed.
#
#     tests/fuzz/run.sh [BUILDDIR] [NAME...]     (BUILDDIR holds config.h)
#
# Needs clang and libFuzzer (Debian: clang, libclang-rt-14-dev).  Work
# files go to $FUZZ_OUT (default BUILDDIR/fuzz).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd)
out=${FUZZ_OUT:-$build/fuzz}
time=${FUZZ_TIME:-60}
names=${*:-layer json ref ignore govcfile}
[ -f "$build/config.h" ] || { echo "run.sh: no config.h in $build (run configure)" >&2; exit 2; }
command -v clang >/dev/null || { echo "run.sh: clang is not installed" >&2; exit 2; }
mkdir -p "$out/obj"

CC="clang -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=314 -I$src -I$build $(pkg-config --cflags libgit2 jansson libarchive)"
LIBS="-llmdb $(pkg-config --libs libgit2 jansson libarchive libcrypto zlib libcurl) -lpthread"

# the code under test, instrumented, once
objs=
for f in "$src"/util/*.c "$src"/store/*.c "$src"/oci/*.c "$src"/builder/*.c; do
	[ -f "$f" ] || continue
	o=$out/obj/$(echo "${f#$src/}" | tr / _ | sed 's/\.c$/.o/')
	if [ ! -f "$o" ] || [ "$f" -nt "$o" ]; then
		$CC $CFLAGS -c "$f" -o "$o"
	fi
	objs="$objs $o"
done

status=0
for n in $names; do
	h=$src/tests/fuzz/fuzz_$n.c
	[ -f "$h" ] || { echo "fuzz $n: no harness $h"; status=1; continue; }
	clang -g -O1 -fsanitize=fuzzer,address,undefined $CFLAGS "$h" $objs $LIBS -o "$out/fuzz_$n"
	corpus=$out/corpus-$n
	mkdir -p "$corpus"
	# reproducers of old crashes first: each must run clean
	if [ -d "$src/tests/fuzz/crashes/$n" ] && [ -n "$(ls "$src/tests/fuzz/crashes/$n")" ]; then
		if ! "$out/fuzz_$n" -runs=1 "$src/tests/fuzz/crashes/$n"/* > "$out/$n.regress.log" 2>&1; then
			echo "fuzz $n: a kept crash reproducer fails again (log: $out/$n.regress.log)"
			status=1
			continue
		fi
	fi
	seeds=; [ -d "$src/tests/fuzz/seeds/$n" ] && seeds=$src/tests/fuzz/seeds/$n
	dict=; [ -f "$src/tests/fuzz/seeds/$n.dict" ] && dict=-dict=$src/tests/fuzz/seeds/$n.dict
	if "$out/fuzz_$n" -max_total_time="$time" -timeout=20 -rss_limit_mb=2048 $dict \
		-artifact_prefix="$out/crash-$n-" "$corpus" $seeds > "$out/$n.log" 2>&1; then
		runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 executions in \2 s/p' "$out/$n.log")
		echo "fuzz $n: ${runs:-? executions}, ok"
	else
		echo "fuzz $n: CRASH (artifact: $(ls "$out"/crash-"$n"-* 2>/dev/null | head -n 1); log: $out/$n.log)"
		status=1
	fi
done
exit $status
