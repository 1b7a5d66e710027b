#!/bin/sh
# t0197-full-store: a full disk is loud and recoverable.  A store on a
# small tmpfs takes files until a commit no longer fits: the failure is
# raised as a "commit_failed" event (the store has room for it; daemon.log,
# on the same full disk, may not) and retried;
# `govc umount` refuses (exit 1) naming the repository and why; once room
# is made, the retry commits everything and umount goes through.
set -eu
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (mounts a tmpfs)"
setup
plan 8
SMALL=$T/small
mkdir -p "$SMALL" "$T/mnt2"
mount -t tmpfs -o size=48m tmpfs "$SMALL"
fin() { "$GOVC" umount --force "$T/mnt2" >/dev/null 2>&1 || true; umount "$SMALL" 2>/dev/null || true; }
S2=$SMALL/store
M2=$T/mnt2
"$GOVC" init "$S2" >/dev/null
"$GOVC" mount -o commit_delay=300,commit_max=1000 "$S2" "$M2"
mkdir "$M2/repos/x"
echo first > "$M2/repos/x/first"
i=0; while [ "$("$GOVC" log "$S2" x | wc -l)" -lt 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

# files under 1 MiB: their commit copies each into a blob, which needs
# room the disk no longer has once the filler takes the rest
python3 - "$M2/repos/x" <<'PY'
import os, sys
for i in range(12):
    with open("%s/f%02d" % (sys.argv[1], i), "wb") as f:
        f.write(os.urandom(900 * 1024))
PY
dd if=/dev/zero of="$SMALL/filler" bs=1M 2>/dev/null || true
# a little room for the log, far from enough for the blobs
truncate -s -256K "$SMALL/filler"
sleep 3
check "and raised as an event" sh -c "grep -q '\"type\":\"commit_failed\",\"repo\":\"x\"' '$M2/events' || tail -3 '$M2/events'"
check_fails "govc umount refuses while the commit has not gone through" \
	sh -c "'$GOVC' umount '$M2' 2> '$T/umount.err'"
check "naming the repository and why" sh -c "grep -q 'repos/x (branch main): the last commit failed: .*' '$T/umount.err' || cat '$T/umount.err'"
check "the mount is still there" mountpoint -q "$M2"

rm -f "$SMALL/filler"
i=0; while grep -q . "$T/umount.err" && [ $i -lt 100 ] && ! "$GOVC" log "$S2" x | head -n 1 | grep -q 'f11'; do
	sleep 0.1; i=$((i + 1)); done
check "once there is room, the retry commits every file" sh -c "'$GOVC' log '$S2' x | grep -q 'f11'"
check "daemon.log says it went through after failing" \
	grep -q "commit of 'x' (main) went through after failing" "$S2/daemon.log"
check "and umount goes through" "$GOVC" umount "$M2"
check "govc fsck passes" "$GOVC" fsck "$S2"
fin
