#!/bin/sh
# check.sh - build govc twice (warnings as errors; then with AddressSanitizer
# and UndefinedBehaviorSanitizer) and run the whole test suite with each.
# Ends with the line "N passed, N failed" counted from the TAP results.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
status=0

[ -x configure ] || autoreconf -fi || exit 1
# out-of-tree builds need an unconfigured source tree
[ ! -f config.status ] || make distclean >/dev/null 2>&1 || rm -f config.status

run_suite() {	# run_suite DIR CONFIGURE-ARGS...
	dir=$1; shift
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	( cd "$dir" && "$top/configure" "$@" >configure.log 2>&1 ) ||
		{ echo "check.sh: configure failed in $dir:"; tail -20 "$dir/configure.log"; return 1; }
	make -C "$dir" -j"$jobs" >"$dir/build.log" 2>&1 ||
		{ echo "check.sh: build failed in $dir:"; tail -40 "$dir/build.log"; return 1; }
	make -C "$dir" -j1 check || return 1
}

run_suite _build --enable-werror || status=1
run_suite _build-asan --enable-werror --enable-sanitizers || status=1

passed=$(cat _build/tests/*/*.trs _build-asan/tests/*/*.trs 2>/dev/null |
	grep -c '^:test-result: \(PASS\|XFAIL\|SKIP\)')
failed=$(cat _build/tests/*/*.trs _build-asan/tests/*/*.trs 2>/dev/null |
	grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)')
for f in _build/test-suite.log _build-asan/test-suite.log; do
	[ -f "$f" ] && grep -q '^# FAIL: *[1-9]\|^# ERROR: *[1-9]' "$f" && cat "$f"
done
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
