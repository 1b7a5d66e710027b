# lib.sh - helpers for govc's integration tests: TAP output, a store
# mounted in a scratch directory, cleanup that fails the test when the
# daemon reported a sanitizer error.  Source it from a tNNNN-*.sh script.

: "${GOVC:=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tools/govc}"
test_n=0
test_failed=0

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
ok() { test_n=$((test_n + 1)); echo "ok $test_n - $*"; }
not_ok() { test_n=$((test_n + 1)); test_failed=1; echo "not ok $test_n - $*"; }
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds
check() {
	desc=$1; shift
	if "$@" >"$T/check.out" 2>&1; then ok "$desc"; else
		not_ok "$desc"; sed 's/^/# /' "$T/check.out"; fi
}
# check_fails DESCRIPTION COMMAND...: ok if COMMAND fails
check_fails() {
	desc=$1; shift
	if "$@" >"$T/check.out" 2>&1; then
		not_ok "$desc (succeeded)"; sed 's/^/# /' "$T/check.out"; else ok "$desc"; fi
}

cleanup() {
	for m in "$T"/mnt*; do
		[ -d "$m" ] || continue
		if grep -q " $m fuse" /proc/mounts 2>/dev/null; then
			"$GOVC" umount "$m" >/dev/null 2>&1 || fusermount3 -u -z "$m" 2>/dev/null || true
		fi
	done
	for s in "$T"/store*; do
		[ -f "$s/daemon.log" ] || continue
		if grep -q "AddressSanitizer\|runtime error:\|LeakSanitizer" "$s/daemon.log"; then
			echo "not ok $((test_n + 1)) - the daemon reported a sanitizer error"
			sed 's/^/# /' "$s/daemon.log" | head -60
			test_failed=1
		fi
	done
	rm -rf "$T"
}

# setup: a fresh store at $S mounted at $M with a short commit window
setup() {
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip_all "fusermount3 is not installed"
	T=$(mktemp -d /tmp/govc-test.XXXXXX)
	S=$T/store
	M=$T/mnt
	mkdir -p "$M"
	trap 'cleanup; exit $test_failed' EXIT
	trap 'exit 1' INT TERM
	"$GOVC" init "$S" >/dev/null
	"$GOVC" mount -o "commit_delay=${COMMIT_DELAY:-200}" "$S" "$M"
}

remount() {
	"$GOVC" umount "$M"
	"$GOVC" mount -o "commit_delay=${COMMIT_DELAY:-200}" "$S" "$M"
}

# commits REPO: how many commits REPO has
commits() { "$GOVC" log "$S" "$1" | wc -l; }

# wait_for_commit REPO N: until REPO has at least N commits (10 s at most)
wait_for_commit() {
	i=0
	while [ "$(commits "$1")" -lt "$2" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || return 1
		sleep 0.1
	done
}
