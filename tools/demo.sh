#!/bin/sh
# demo.sh - the main job end to end: create a store, mount it, make a
# repository, write files, show the history; import an image and run a
# program from its rootfs; write a Govcfile and watch the image it
# builds appear; unmount.
set -eu
govc=${GOVC:-$(cd "$(dirname "$0")" && pwd)/govc}
demo=$(mktemp -d /tmp/govc-demo.XXXXXX)
store=$demo/store
mnt=$demo/mnt
mkdir -p "$mnt"

"$govc" init "$store"
"$govc" mount "$store" "$mnt"
trap '"$govc" umount "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true' EXIT

mkdir "$mnt/repos/hello"
echo 'hello, world' > "$mnt/repos/hello/README"
mkdir -p "$mnt/repos/hello/src"
printf '#!/bin/sh\necho hi\n' > "$mnt/repos/hello/src/hi.sh"
chmod +x "$mnt/repos/hello/src/hi.sh"
sleep 1.5
echo 'a second line' >> "$mnt/repos/hello/README"
sync "$mnt/repos/hello/README"	# fsync commits at once

echo "== ls -lR $mnt/repos/hello"
ls -lR "$mnt/repos/hello"
echo "== cat $mnt/log/hello"
cat "$mnt/log/hello"
first=$(tail -n 1 "$mnt/log/hello" | cut -c1-8)
echo "== the first commit, $first, as a snapshot"
cat "$mnt/commits/hello/$first/README"
echo "== $mnt/events"
cat "$mnt/events"

# an image: busybox as an OCI layout, imported, run from its lazy rootfs
if command -v umoci >/dev/null && [ -x /bin/busybox ]; then
	root=$demo/bb
	mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/dev" "$root/tmp"
	cp /bin/busybox "$root/bin/"
	for a in sh echo ls cat uname; do ln -s busybox "$root/bin/$a"; done
	echo 'hello from an image' > "$root/etc/motd"
	umoci init --layout "$demo/oci" && umoci new --image "$demo/oci:1"
	umoci insert --image "$demo/oci:1" "$root" / >/dev/null
	"$govc" import "$store" "oci:$demo/oci:1" busybox:1
	echo "== govc images $store"
	"$govc" images "$store"
	echo "== ls $mnt/images/busybox/rootfs"
	ls "$mnt/images/busybox/rootfs"
	echo "== chroot $mnt/images/busybox/rootfs /bin/sh -c 'cat /etc/motd'"
	chroot "$mnt/images/busybox/rootfs" /bin/sh -c 'cat /etc/motd'

	# a Govcfile written into the repository builds an image by itself
	if command -v crun >/dev/null && [ "$(id -u)" = 0 ]; then
		printf 'FROM busybox:1\nCOPY README /README\nRUN echo "built by govc on $(uname -s)" > /built\nCMD ["/bin/cat", "/built"]\n' \
			> "$mnt/repos/hello/Govcfile"
		echo "== wrote $mnt/repos/hello/Govcfile; waiting for builds/hello/1/status"
		i=0
		until grep -qx 'succeeded\|failed' "$mnt/builds/hello/1/status" 2>/dev/null || [ $i -ge 300 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		cat "$mnt/builds/hello/1/status" "$mnt/builds/hello/1/log"
		i=0	# the mount shows a new image within a second
		until [ -e "$mnt/images/hello/rootfs/built" ] || [ $i -ge 30 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		echo "== chroot $mnt/images/hello/rootfs /bin/cat /built /README"
		chroot "$mnt/images/hello/rootfs" /bin/cat /built /README
	fi
fi
"$govc" umount "$mnt"
trap - EXIT
echo "== govc log $store hello (after unmounting)"
"$govc" log "$store" hello
echo "demo store left in $store"
