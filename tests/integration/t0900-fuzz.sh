#!/bin/sh
# t0900-fuzz: the libFuzzer harnesses of tests/fuzz/ (layer tars, image
# documents, references, ignore patterns) build, replay every crash
# reproducer kept in tests/fuzz/crashes/, and fuzz for FUZZ_TIME seconds
# each (10 here; `make fuzz` runs longer) without a crash.  Skipped in the
# sanitizer pass (the harnesses carry their own sanitizers) and where
# clang or libFuzzer is missing.
set -eu
: "${GOVC_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
GOVC=${GOVC:-$GOVC_SRCDIR/tools/govc}
command -v clang >/dev/null || { echo "1..0 # SKIP clang is not installed"; exit 0; }
if ldd "$GOVC" 2>/dev/null | grep -q libasan; then
	echo "1..0 # SKIP the sanitizer build (the harnesses have their own)"; exit 0
fi
build=$(cd "$(dirname "$GOVC")/.." && pwd)
out=$(mktemp -d /tmp/govc-fuzz.XXXXXX)
trap 'rm -rf "$out"' EXIT
names="layer json ref ignore"
[ -f "$GOVC_SRCDIR/tests/fuzz/fuzz_govcfile.c" ] && names="$names govcfile"
set -- $names
echo "1..$#"
i=0
for n in $names; do
	i=$((i + 1))
	if line=$(FUZZ_OUT=$out FUZZ_TIME=${FUZZ_TIME:-10} "$GOVC_SRCDIR/tests/fuzz/run.sh" "$build" "$n" 2>&1 | tail -n 1) &&
		echo "$line" | grep -q ', ok$'; then
		echo "ok $i - $line"
	else
		echo "not ok $i - $line"
		sed 's/^/# /' "$out/$n.log" 2>/dev/null | grep -A30 'ERROR\|SUMMARY' | head -40 || true
	fi
done
