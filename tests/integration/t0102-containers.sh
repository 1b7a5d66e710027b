#!/bin/sh
# t0102-containers: images/<name>/rootfs runs real programs under bwrap,
# crun (an OCI runtime bundle whose root.path is the rootfs) and chroot, and
# serves as the lowerdir of a kernel overlay mount.
set -eu
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root"
command -v umoci >/dev/null || skip_all "umoci is not installed"
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
setup
plan 9

# the TESTBED's busybox base, made with umoci insert
R=$T/bb
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/etc" "$R/tmp" "$R/root" "$R/proc" "$R/dev" "$R/sys"
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
chmod 1777 "$R/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"; echo 'root:x:0:' > "$R/etc/group"
echo 'hello from the image' > "$R/etc/motd"
umoci init --layout "$T/oci" && umoci new --image "$T/oci:1"
umoci insert --image "$T/oci:1" "$R" /
umoci config --image "$T/oci:1" --config.cmd /bin/sh --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin
"$GOVC" import "$S" "oci:$T/oci:1" busybox:1 >/dev/null
RF=$M/images/busybox/rootfs
i=0; while [ ! -x "$RF/bin/sh" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done

# outputs go to files: an error message may hold any character
bwrap --ro-bind "$RF" / --proc /proc --dev /dev --tmpfs /tmp /bin/sh -c 'cat /etc/motd; echo $$; ls /bin | wc -l' > "$T/bw1" 2>&1 || true
check "bwrap runs a shell in the rootfs" sh -c "head -n 1 '$T/bw1' | grep -qx 'hello from the image' || { sed 's/^/# /' '$T/bw1'; exit 1; }"
check "with the whole busybox (every applet link is there)" sh -c "[ \"\$(tail -n 1 '$T/bw1')\" -gt 200 ]"
bwrap --unshare-pid --unshare-uts --hostname ctr --ro-bind "$RF" / --proc /proc --dev /dev /bin/sh -c 'hostname; echo pid=$$' > "$T/bw2" 2>&1 || true
check "bwrap with its own pid and uts namespaces" sh -c "[ \"\$(tr '\n' ' ' < '$T/bw2')\" = 'ctr pid=2 ' ] || { sed 's/^/# /' '$T/bw2'; exit 1; }"

check "chroot runs a program" sh -c "[ \"\$(chroot '$RF' /bin/sh -c 'echo ok; id -u')\" = \"\$(printf 'ok\n0')\" ]"

# crun from an OCI bundle whose root.path is the rootfs
if command -v crun >/dev/null; then
	mkdir -p "$T/bundle" && (cd "$T/bundle" && crun spec)
	python3 - "$T/bundle/config.json" "$RF" <<'EOF'
import json, sys
p, root = sys.argv[1], sys.argv[2]
s = json.load(open(p))
s['root'] = {'path': root, 'readonly': True}
s['process']['terminal'] = False
s['process']['args'] = ['/bin/sh', '-c', 'cat /etc/motd; id -u; touch /x 2>/dev/null || echo read-only']
json.dump(s, open(p, 'w'))
EOF
	# this machine's hybrid cgroups need a private mount namespace that
	# hides cgroup v2's controllers from crun (see TESTBED.md)
	cg=/sys/fs/cgroup/unified/cgroup.controllers
	hide=; [ -f "$cg" ] && hide="mount --bind /dev/null $cg &&"
	(cd "$T/bundle" && timeout 60 unshare -m --propagation private sh -c "$hide crun --cgroup-manager=disabled run govc-t0102-$$") > "$T/crun.out" 2>&1 || true
	check "crun runs the bundle" sh -c "[ \"\$(tr '\n' ' ' < '$T/crun.out')\" = 'hello from the image 0 read-only ' ] || { sed 's/^/# /' '$T/crun.out'; exit 1; }"
else
	skip "crun is not installed"
fi

# kernel overlayfs with the rootfs as lowerdir
mkdir -p "$T/ovl/u" "$T/ovl/w" "$T/ovl/m"
check "an overlay mount takes the rootfs as lowerdir" mount -t overlay overlay -o "lowerdir=$RF,upperdir=$T/ovl/u,workdir=$T/ovl/w" "$T/ovl/m"
echo changed > "$T/ovl/m/etc/motd"; rm "$T/ovl/m/etc/group"; echo new > "$T/ovl/m/new"
check "writes land in the upper layer, the rootfs is unchanged" sh -c "[ \"\$(cat '$T/ovl/m/etc/motd')\" = changed ] && [ ! -e '$T/ovl/m/etc/group' ] && [ -c '$T/ovl/u/etc/group' ] && [ \"\$(cat '$RF/etc/motd')\" = 'hello from the image' ] && [ -f '$RF/etc/group' ]"
check "a container runs on the overlay" sh -c "[ \"\$(chroot '$T/ovl/m' /bin/cat /new)\" = new ]"
umount "$T/ovl/m"
check "the daemon is alive after all of it" alive "$M"
