# lib.sh - helpers for govc's integration tests: TAP output, a store
# mounted in a scratch directory, cleanup that unmounts even after a
# failure and fails the test when the daemon reported a sanitizer error.
# Source it from a tNNNN-*.sh script (POSIX sh, set -eu):
#
#	. "$(dirname "$0")/lib.sh"
#	setup			# $T scratch dir, $S store, $M mount
#	plan 3
#	check "what it shows" COMMAND...
#
# A script that stops early (set -e) exits non-zero, so the TAP driver
# reports it even when the tests printed so far passed.

: "${GOVC:=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tools/govc}"
test_n=0
test_failed=0
T=

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
ok() { test_n=$((test_n + 1)); echo "ok $test_n - $*"; }
not_ok() { test_n=$((test_n + 1)); test_failed=1; echo "not ok $test_n - $*"; }
skip() { test_n=$((test_n + 1)); echo "ok $test_n # SKIP $*"; }
diag() { echo "$*" | sed 's/^/# /'; }
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds; its output is
# shown as a TAP comment when it fails
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

is_mounted() { grep -q " $1 fuse" /proc/mounts 2>/dev/null; }
# daemon_pid STORE: the pid of STORE's daemon if it still runs (a zombie
# waiting for init to reap it does not count)
daemon_pid() {
	[ -f "$1/daemon.pid" ] || return 1
	p=$(cat "$1/daemon.pid" 2>/dev/null) || return 1
	[ -n "$p" ] && [ -r "/proc/$p/stat" ] || return 1
	case $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1) in
	Z | X | '') return 1 ;;
	esac
	# never a stranger that inherited a stale pid
	tr '\0' ' ' < "/proc/$p/cmdline" | grep -q 'govc.* mount' || return 1
	echo "$p"
}
# alive MNT: the daemon behind MNT answers
alive() { is_mounted "$1" && ls "$1/repos" >/dev/null 2>&1; }

cleanup() {
	[ -n "$T" ] && [ -d "$T" ] || return 0
	for m in "$T"/mnt*; do
		[ -d "$m" ] || continue
		is_mounted "$m" || continue
		timeout 30 "$GOVC" umount "$m" >/dev/null 2>&1 ||
			fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	for s in "$T"/store* "$T"/small/*; do
		[ -d "$s" ] || continue
		p=$(daemon_pid "$s") || continue
		# a daemon left over after its unmount: it is stuck, end it
		kill "$p" 2>/dev/null; sleep 0.5; kill -9 "$p" 2>/dev/null || true
	done
	for s in "$T"/store* "$T"/small/*; do
		[ -f "$s/daemon.log" ] || continue
		if [ "${1:-0}" != 0 ] || [ "$test_failed" != 0 ]; then
			diag "daemon log of $(basename "$s"):"
			tail -n 40 "$s/daemon.log" | sed 's/^/# /'
		fi
		if grep -q "AddressSanitizer\|runtime error:\|LeakSanitizer" "$s/daemon.log"; then
			echo "not ok $((test_n + 1)) - the daemon of $(basename "$s") reported a sanitizer error"
			sed 's/^/# /' "$s/daemon.log" | head -60
			test_failed=1
		fi
	done
	grep -q " $T/small " /proc/mounts 2>/dev/null && umount -l "$T/small" 2>/dev/null
	# never recurse into a mount that is somehow still there
	rm -rf --one-file-system "$T" 2>/dev/null || true
}

# the mount options: a short commit window ($COMMIT_DELAY ms, 200 unless
# set) and $MOUNT_OPTS
mount_opts() { echo "commit_delay=${COMMIT_DELAY:-200}${MOUNT_OPTS:+,$MOUNT_OPTS}"; }

# setup: a fresh store at $S mounted at $M with mount_opts
setup() {
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip_all "fusermount3 is not installed"
	[ -x "$GOVC" ] || { echo "1..0 # SKIP no govc binary at $GOVC"; exit 0; }
	T=$(mktemp -d /tmp/govc-test.XXXXXX)
	S=$T/store
	M=$T/mnt
	mkdir -p "$M"
	trap 'rc=$?; cleanup $rc; [ $rc -ne 0 ] && exit $rc; exit $test_failed' EXIT
	trap 'exit 1' INT TERM HUP PIPE
	"$GOVC" init "$S" >/dev/null
	"$GOVC" mount -o "$(mount_opts)" "$S" "$M" ||
		{ echo "Bail out! govc mount failed"; exit 1; }
}

remount() {
	"$GOVC" umount "$M"
	"$GOVC" mount -o "$(mount_opts)" "$S" "$M"
}

# within SECONDS COMMAND...: COMMAND succeeds within SECONDS (a whole
# number; tried every 50 ms, its output dropped)
within() {
	_tries=$(($1 * 20)); shift
	_try=0
	until "$@" >/dev/null 2>&1; do
		_try=$((_try + 1))
		[ $_try -lt $_tries ] || return 1
		sleep 0.05
	done
}

# commits REPO: how many commits REPO has
commits() { "$GOVC" log "$S" "$1" | wc -l; }

# wait_for_commit REPO N: until REPO has at least N commits (10 s at most)
wait_for_commit() {
	i=0
	while [ "$(commits "$1")" -lt "$2" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "# $1: fewer than $2 commits after 10 s"; return 1; }
		sleep 0.1
	done
}
