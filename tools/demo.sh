#!/bin/sh
# demo.sh - the main job end to end: create a store, mount it, make a
# repository, write files, show the history, unmount.
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
"$govc" umount "$mnt"
trap - EXIT
echo "== govc log $store hello (after unmounting)"
"$govc" log "$store" hello
echo "demo store left in $store"
