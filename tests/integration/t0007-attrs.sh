#!/bin/sh
# t0007-attrs: xattrs, chmod, chown, utimens, statfs, fsync, all kept
# across a remount.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 8
mkdir "$M/repos/at"
W=$M/repos/at
echo data > "$W/f"
check "setfattr user.*" setfattr -n user.color -v blue "$W/f"
check "getfattr reads it back" sh -c "getfattr --only-values -n user.color '$W/f' | grep -qx blue"
chmod 640 "$W/f"
chown 1234:5678 "$W/f"
touch -d '2010-01-02 03:04:05' "$W/f"
check "statfs works (df)" df "$M"
check "fsync works (dd conv=fsync)" dd if=/dev/zero of="$W/s" bs=4k count=4 conv=fsync status=none
remount
check "xattr kept across a remount" sh -c "getfattr --only-values -n user.color '$W/f' | grep -qx blue"
check "mode kept" sh -c "[ \"\$(stat -c %a '$W/f')\" = 640 ]"
check "owner kept" sh -c "[ \"\$(stat -c %u:%g '$W/f')\" = 1234:5678 ]"
check "mtime kept" sh -c "[ \"\$(stat -c %Y '$W/f')\" = \"\$(date -d '2010-01-02 03:04:05' +%s)\" ]"
