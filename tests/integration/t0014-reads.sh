#!/bin/sh
# t0014-reads: reads are answered from the store's data file (pread or
# splice of the bytes where they lie, fs_reply_pieces), never from a copy
# in the daemon.  Every way a file's bytes can be laid out reads back as
# on the native filesystem, with caches dropped so the daemon answers:
# chunks written since the last commit, the committed blob, chunks over
# it, holes longer than a chunk, a tail past the blob, odd offsets across
# chunk boundaries, snapshots.  Large files are chunked blobs: git export,
# gc and fsck handle them.  The mount's read-ahead is raised (root), and
# the daemon's malloc asks for transparent huge pages.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 17
mkdir "$M/repos/r"
W=$M/repos/r
N=$T/native
mkdir "$N"

drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

head -c $((3 * 1024 * 1024 + 123)) /dev/urandom > "$T/src"
cp "$T/src" "$W/big"
cp "$T/src" "$N/big"
drop
check "a file of chunks reads back" cmp "$W/big" "$N/big"

sync "$W/big"		# fsync commits: the bytes are now one blob
drop
check "the committed blob reads back" cmp "$W/big" "$N/big"

# chunks over the blob, one straddling a chunk boundary
for f in "$W/big" "$N/big"; do
	printf 'XXXXXXXXXX' | dd of="$f" bs=1 seek=$((64 * 1024 - 5)) conv=notrunc 2>/dev/null
	printf 'Y' | dd of="$f" bs=1 seek=1000000 conv=notrunc 2>/dev/null
done
drop
check "chunks over the blob read back" cmp "$W/big" "$N/big"

# a hole of several chunks, then a tail, past the blob's end
for f in "$W/big" "$N/big"; do
	printf 'tail' | dd of="$f" bs=1 seek=$((5 * 1024 * 1024)) conv=notrunc 2>/dev/null
done
drop
check "a hole past the blob reads as zeros" cmp "$W/big" "$N/big"

cat > "$T/preads.py" <<'EOF'
import os, random, sys
a, b = (os.open(p, os.O_RDONLY) for p in sys.argv[1:3])
size = os.fstat(b).st_size
assert os.fstat(a).st_size == size, "sizes differ"
r = random.Random(14)
points = [0, 65535, 65536, 65537, size - 1, size, size + 10]
for i in range(300):
    off = r.choice(points) if i < 40 else r.randrange(0, size + 100)
    n = r.choice([1, 100, 4096, 65536, 65537, 200000, 1 << 20])
    x, y = os.pread(a, n, off), os.pread(b, n, off)
    assert x == y, "pread(%d, %d): %d bytes against %d" % (off, n, len(x), len(y))
print("ok")
EOF
drop
check "preads at odd offsets and sizes agree" python3 "$T/preads.py" "$W/big" "$N/big"

# a sparse file: one byte at 9 MiB, nothing before it
for f in "$W/sparse" "$N/sparse"; do
	printf 'z' | dd of="$f" bs=1 seek=$((9 * 1024 * 1024)) 2>/dev/null
done
drop
check "a sparse file reads as zeros and its byte" cmp "$W/sparse" "$N/sparse"
sync "$W/sparse"
drop
check "the sparse file reads back once committed" cmp "$W/sparse" "$N/sparse"

sync "$W/big"
id=$("$GOVC" log "$S" r | head -1 | cut -f1)
drop
check "the snapshot of the file reads back" cmp "$M/commits/r/$id/big" "$N/big"

remount
drop
check "after a remount the file reads back" cmp "$W/big" "$N/big"

# large files are chunked blobs in the store: git, gc and fsck handle them
check "the repository exports to git with the large file" sh -c "'$GOVC' export '$S' r 'git:$T/g' && git -C '$T/g' fsck --strict && git -C '$T/g' cat-file blob HEAD:big | cmp - '$N/big'"
# a ref straight at that blob (a git tag), imported and exported again
git init -q "$T/g2"
blob=$(git -C "$T/g2" hash-object -w "$N/big")
git -C "$T/g2" -c user.name=t -c user.email=t@t commit -q --allow-empty -m one
git -C "$T/g2" tag bigtag "$blob"
check "a tag naming the large blob goes in and out of git" sh -c "'$GOVC' import '$S' 'git:$T/g2' r2 && '$GOVC' export '$S' r2 'git:$T/g3' && git -C '$T/g3' cat-file blob bigtag | cmp - '$N/big' && git -C '$T/g3' fsck --strict"
old=$("$GOVC" log "$S" r | tail -1 | cut -f1)
check "gc while mounted keeps the large file" sh -c "'$GOVC' gc '$S' && cmp '$W/big' '$N/big'"
rm "$W/big" "$W/sparse"
sync "$W"
check "after its removal and a gc an old snapshot of it still reads back" sh -c "'$GOVC' gc '$S' && cmp '$M/commits/r/$old/big' '$T/src'"
check "govc fsck passes" "$GOVC" fsck "$S"

if [ "$(id -u)" = 0 ]; then
	ra=$(cat "/sys/class/bdi/$(mountpoint -d "$M")/read_ahead_kb")
	check "the mount's read-ahead is 4096 KiB (was $ra)" test "$ra" = 4096
else
	skip "read-ahead is raised only as root"
fi

# large values are built in malloc'd memory: the daemon asks for huge pages
pid=$(daemon_pid "$S")
check "the daemon's malloc asks for huge pages" sh -c "tr '\\0' '\\n' < /proc/$pid/environ | grep -qx 'GLIBC_TUNABLES=glibc.malloc.hugetlb=1'"
"$GOVC" umount "$M"
GLIBC_TUNABLES=glibc.malloc.hugetlb=0 "$GOVC" mount -o "$(mount_opts)" "$S" "$M"
pid=$(daemon_pid "$S")
check "a tunable the caller set is kept" sh -c "tr '\\0' '\\n' < /proc/$pid/environ | grep -qx 'GLIBC_TUNABLES=glibc.malloc.hugetlb=0'"
