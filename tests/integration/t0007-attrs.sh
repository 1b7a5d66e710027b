#!/bin/sh
# t0007-attrs: user.* xattrs, chmod, chown, utimens, statfs, fsync, all
# kept across a remount.
set -eu
. "$(dirname "$0")/lib.sh"
TZ=UTC; export TZ
setup
plan 26
mkdir "$M/repos/at"
W=$M/repos/at
echo data > "$W/f"
mkdir "$W/d"
ln -s f "$W/l"
big=$(head -c 3000 /dev/zero | tr '\0' v)

check "setfattr user.*" setfattr -n user.color -v blue "$W/f"
check "getfattr reads it back" sh -c "getfattr --only-values -n user.color '$W/f' | grep -qx blue"
check "several, a large value, on a directory" sh -c "setfattr -n user.shape -v round '$W/f' && setfattr -n user.big -v '$big' '$W/f' && setfattr -n user.dir -v yes '$W/d'"
check "getfattr -d lists them" sh -c "getfattr -d '$W/f' | grep -q '^user.color=\"blue\"' && getfattr -d '$W/f' | grep -q '^user.shape=\"round\"'"
check "setfattr -x removes one" sh -c "setfattr -x user.shape '$W/f' && ! getfattr -n user.shape '$W/f' 2>/dev/null"
check "a missing xattr is ENODATA" sh -c "! getfattr -n user.none '$W/f' 2>'$T/err' && grep -qi 'no such attribute' '$T/err'"
# no SELinux labels: "not supported", so that ls -l stops asking for them
# (one FUSE round trip per file otherwise); a label set is still kept
check "a missing SELinux label is EOPNOTSUPP (ls -l then stops asking)" sh -c "! getfattr -n security.selinux '$W/f' 2>'$T/err' && grep -qi 'not supported' '$T/err'"
check "a label that is set reads back" sh -c "setfattr -n security.selinux -v lbl '$W/d' && getfattr --only-values -n security.selinux '$W/d' | grep -qx lbl"
chmod 640 "$W/f"
chmod 4755 "$W/d"
chown 1234:5678 "$W/f"
chown -h 42:43 "$W/l"
touch -d '2010-01-02 03:04:05.123456789' "$W/f"
touch -h -d '2011-02-03 04:05:06' "$W/l"
touch -d '2012-03-04 05:06:07' "$W/d"
check "chmod, chown, touch -d, chown -h and touch -h took effect" sh -c "[ \"\$(stat -c '%a %u:%g %y' '$W/f')\" = '640 1234:5678 2010-01-02 03:04:05.123456789 +0000' ] && [ \"\$(stat -c '%u:%g %Y' '$W/l')\" = \"42:43 \$(date -d '2011-02-03 04:05:06' +%s)\" ] && [ \"\$(stat -c %a '$W/d')\" = 4755 ]"
check "statfs works (df)" df "$M/repos/at"
check "statfs works (stat -f)" sh -c "stat -f -c '%b %S %l' '$W' | awk '\$1 > 0 && \$2 > 0 && \$3 >= 255 { ok = 1 } END { exit !ok }'"
check "fsync works (dd conv=fsync)" dd if=/dev/zero of="$W/s" bs=4k count=4 conv=fsync status=none
check "fdatasync works (dd conv=fdatasync)" dd if=/dev/zero of="$W/s2" bs=4k count=4 conv=fdatasync status=none
check "access(2) follows the mode (test -x)" sh -c "[ ! -x '$W/f' ] && chmod u+x '$W/s' && [ -x '$W/s' ]"
# inode records hold signed 64-bit nanoseconds: 1677 to 2262, exactly;
# a time outside is refused, never stored as another date
touch -d '1960-05-06 07:08:09.25' "$W/old"
touch -d '2200-01-02 03:04:05.5' "$W/far"
old_far_kept() {
	[ "$(stat -c %y "$W/old")" = '1960-05-06 07:08:09.250000000 +0000' ] &&
	[ "$(stat -c %y "$W/far")" = '2200-01-02 03:04:05.500000000 +0000' ]
}
check "pre-1970 and far-future times are kept exactly" old_far_kept
refused() {
	! touch -d "$1" "$W/far" 2>"$T/err" && grep -qi 'too large\|overflow' "$T/err" &&
	[ "$(stat -c %y "$W/far")" = '2200-01-02 03:04:05.500000000 +0000' ]
}
check "year 5138 (touch -d @100000000000) is refused with EOVERFLOW, the mtime kept" refused @100000000000
check "and so is year 1653" refused @-10000000000
wait_for_commit at 1
sleep 0.5
remount
check "pre-1970 and far-future times kept across a remount" old_far_kept
check "xattrs kept across a remount" sh -c "getfattr --only-values -n user.color '$W/f' | grep -qx blue && [ \"\$(getfattr --only-values -n user.big '$W/f')\" = '$big' ] && getfattr --only-values -n user.dir '$W/d' | grep -qx yes"
check "a removed xattr stays removed" sh -c "! getfattr -n user.shape '$W/f' 2>/dev/null"
check "modes kept" sh -c "[ \"\$(stat -c %a '$W/f')\" = 640 ] && [ \"\$(stat -c %a '$W/d')\" = 4755 ] && [ \"\$(stat -c %a '$W/s')\" = 744 ]"
check "owners kept" sh -c "[ \"\$(stat -c %u:%g '$W/f')\" = 1234:5678 ] && [ \"\$(stat -c %u:%g '$W/l')\" = 42:43 ]"
check "mtimes kept, to the nanosecond" sh -c "[ \"\$(stat -c %y '$W/f')\" = '2010-01-02 03:04:05.123456789 +0000' ] && [ \"\$(stat -c %Y '$W/d')\" = \"\$(date -d '2012-03-04 05:06:07' +%s)\" ]"
check "a symlink's own mtime kept" sh -c "[ \"\$(stat -c %Y '$W/l')\" = \"\$(date -d '2011-02-03 04:05:06' +%s)\" ]"
check "fsync'd contents kept" sh -c "[ \"\$(wc -c < '$W/s')\" = 16384 ] && [ \"\$(wc -c < '$W/s2')\" = 16384 ]"
last=$("$GOVC" log "$S" at | head -n 1 | cut -f1)
check "the snapshot has the exec bit of s, not of f" sh -c "[ -x '$M/commits/at/$last/s' ] && [ ! -x '$M/commits/at/$last/f' ]"
