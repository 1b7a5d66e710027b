#!/bin/sh
# t0190-one-daemon: one daemon per store.  A second mount of a mounted
# store is refused naming the mount point that has it, whether elsewhere
# or stacked on the same place; umount waits only for its own daemon; a
# dead mount (daemon killed) is named as such, with how to clear it.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 11

M2=$T/mnt2
mkdir -p "$M2"
first=$(daemon_pid "$S")
check_fails "a second mount elsewhere is refused" "$GOVC" mount "$S" "$M2"
cp "$T/check.out" "$T/second.out"
check "it names the mount point that has the store" grep -q "already mounted at '$M'" "$T/second.out"
check "nothing was mounted there" sh -c "! grep -q ' $M2 ' /proc/mounts"
check_fails "a stacked mount at the same place is refused" "$GOVC" mount "$S" "$M"
"$GOVC" init "$T/store2" >/dev/null
check_fails "another store over a govc mount is refused" "$GOVC" mount "$T/store2" "$M"
check "daemon.pid still names the first daemon" test "$(daemon_pid "$S")" = "$first"
mkdir "$M/repos/r"
echo data > "$M/repos/r/f"
check "govc umount waits for its daemon only, and is quick" timeout 20 "$GOVC" umount "$M"
check "the store's history has the change" sh -c "'$GOVC' log '$S' r | grep -q 'A f'"

"$GOVC" mount -o "$(mount_opts)" "$S" "$M"
p=$(daemon_pid "$S")
kill -9 "$p"
sleep 0.3
check_fails "mounting over a dead mount is refused" "$GOVC" mount "$S" "$M"
cp "$T/check.out" "$T/dead.out"
check "it says the mount is dead and how to clear it" sh -c "grep -q 'dead mount' '$T/dead.out' && grep -q 'fusermount3 -u' '$T/dead.out'"
timeout 20 "$GOVC" umount "$M" || fusermount3 -u "$M"
check "once cleared, the store mounts again" sh -c "'$GOVC' mount -o '$(mount_opts)' '$S' '$M' && cat '$M/repos/r/f' | grep -q data"
