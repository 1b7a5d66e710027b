#!/bin/sh
# t0191-reimport: the image views follow every change in a running mount.
# An image is imported and its rootfs read; then rmi, gc and the same
# import again, by another process: images/<name>/rootfs is back within a
# second, with the same content (the daemon's opened images are keyed by
# the layers' index ids too, which a gc and re-import renew).
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"
setup
plan 7
MK=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/mkimage.py
export PYTHONDONTWRITEBYTECODE=1

cat > "$T/spec.json" <<'EOS'
{"tag": "1", "layers": [
 {"compress": "gzip", "entries": [
  {"type": "dir", "path": "etc"},
  {"type": "file", "path": "etc/motd", "size": 600, "content": "text", "seed": 1}]},
 {"compress": "none", "entries": [
  {"type": "file", "path": "bin/tool", "size": 3000, "content": "random", "seed": 2, "mode": 493}]}]}
EOS
python3 "$MK" layout "$T/spec.json" "$T/img" --list "$T/img.list"

has_rootfs() { ls "$M/images/bb" | grep -qx rootfs && [ -s "$M/images/bb/rootfs/etc/motd" ]; }

"$GOVC" import -q "$S" "oci:$T/img:1" bb:1
check "the imported image shows its rootfs" within 1 has_rootfs
check "it reads as made" python3 "$MK" check "$T/img.list" "$M/images/bb/rootfs"
"$GOVC" rmi "$S" bb:1 >/dev/null
"$GOVC" gc "$S" >/dev/null
check "after rmi and gc the image is gone" within 1 sh -c "! ls '$M/images' | grep -qx bb"
"$GOVC" import -q "$S" "oci:$T/img:1" bb:1
check "re-imported, it shows rootfs within a second" within 1 has_rootfs
check "and reads as made" python3 "$MK" check "$T/img.list" "$M/images/bb/rootfs"
check "its layer's tree shows too" sh -c "ls '$M/images/bb/layers/' | head -n 1 | xargs -I{} ls '$M/layers/{}' | grep -q etc"
# once more, through the cycle without reading in between
"$GOVC" rmi "$S" bb:1 >/dev/null
"$GOVC" gc "$S" >/dev/null
"$GOVC" import -q "$S" "oci:$T/img:1" bb:1
check "a second cycle shows rootfs again" within 1 has_rootfs
