#!/bin/sh
# t0016-mount-defaults: a mount others can reach (allow_other) is
# nosuid,nodev, so no user gains root through a setuid-root program or a
# device node it shows; -o suid,dev asks for them; a mount only root
# reaches honours both (an image's rootfs run by root needs them).
set -eu
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "not root"
command -v setpriv >/dev/null || skip_all "setpriv is not installed"
setup
plan 6

chmod 755 "$T"		# let nobody reach the mount
flags() { grep " $M fuse" /proc/mounts | cut -d' ' -f4; }
has_flag() { flags | tr ',' '\n' | grep -qx "$1"; }
lacks_flags() { ! has_flag nosuid && ! has_flag nodev; }
# euid_is UID: nobody running the setuid-root copy of id(1) has euid UID
euid_is() {
	[ "$(setpriv --reuid=65534 --regid=65534 --clear-groups "$M/repos/p/id" -u)" = "$1" ]
}

mkdir "$M/repos/p"
cp /usr/bin/id "$M/repos/p/id"
chown 0:0 "$M/repos/p/id"
chmod 4755 "$M/repos/p/id"
check "a mount only root reaches honours setuid bits and devices ($(flags))" lacks_flags

"$GOVC" umount "$M"
"$GOVC" mount -o "$(mount_opts),allow_other" "$S" "$M"
check "allow_other mounts nosuid ($(flags))" has_flag nosuid
check "allow_other mounts nodev" has_flag nodev
check "another user running a setuid-root program stays himself" euid_is 65534

"$GOVC" umount "$M"
"$GOVC" mount -o "$(mount_opts),allow_other,suid,dev" "$S" "$M"
check "-o suid,dev asks for both ($(flags))" lacks_flags
check "and then the setuid bit takes effect" euid_is 0
