#!/bin/sh
# t0195-image-in-use: an image a container runs from is safe.  While bwrap
# runs a shell whose root is images/bb2/rootfs, `govc rmi` refuses to
# untag it (naming what uses it); with --force it untags, and a `govc gc`
# beside it removes nothing the container reads: the mount pins what the
# kernel holds of an image, so a gc in another process keeps it.  Once the
# container is gone and the kernel has let the nodes go, gc takes it all.
set -eu
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root"
for tool in umoci bwrap; do
	command -v $tool >/dev/null || skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
setup
plan 8

R=$T/bb
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/proc" "$R/dev"
cp /bin/busybox "$R/bin/busybox"
for a in sh cat echo sleep ls; do ln -s busybox "$R/bin/$a"; done
echo "unique $$" > "$R/etc/unique"
umoci init --layout "$T/oci" && umoci new --image "$T/oci:1"
umoci insert --image "$T/oci:1" "$R" / >/dev/null
"$GOVC" import -q "$S" "oci:$T/oci:1" bb2:1
RF=$M/images/bb2/rootfs
i=0; while [ ! -x "$RF/bin/sh" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done

bwrap --ro-bind "$RF" / --proc /proc --dev /dev /bin/sh -c \
	'sleep 3; cat /etc/unique; /bin/echo still-runs; ls /bin | wc -l' > "$T/ctr.out" 2>&1 &
ctr=$!
sleep 1
check_fails "rmi of the image the container runs from is refused" \
	sh -c "'$GOVC' rmi '$S' bb2:1 2> '$T/rmi.err'"
check "naming what uses it" sh -c "grep -q 'in use by .*through the mount at $M' '$T/rmi.err' || cat '$T/rmi.err'"
check "rmi --force untags it" "$GOVC" rmi --force "$S" bb2:1
"$GOVC" gc "$S" > "$T/gc1" 2>&1 || true
check "a gc beside the running container removes none of the image" \
	grep -q "removed 0 objects (0B), 0 blobs (0B), 0 layer indexes, 0 images" "$T/gc1"
wait $ctr || true
check "the container kept its root: it read its file and ran programs to the end" \
	sh -c "[ \"\$(tr '\n' ' ' < '$T/ctr.out')\" = 'unique $$ still-runs 6 ' ] || { cat '$T/ctr.out'; exit 1; }"
check "govc fsck passes" "$GOVC" fsck "$S"

# the kernel lets the nodes go (here: dropping its caches), the mount
# unpins within its watcher's period, and gc takes the image
sync
if echo 2 > /proc/sys/vm/drop_caches 2>/dev/null; then
	sleep 1
	"$GOVC" gc "$S" > "$T/gc2" 2>&1 || true
	check "once nothing holds it, gc removes the image" grep -q ", 1 images" "$T/gc2"
else
	skip "cannot drop the kernel's caches here"
fi
check "and fsck still passes" "$GOVC" fsck "$S"
