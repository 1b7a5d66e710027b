#!/bin/sh
# t0011-no-open: files are opened by the kernel alone (OPEN answers ENOSYS,
# fs->no_open).  Generated files still follow the store, an unlinked file
# stays readable while open, views still refuse writes, and the kernel
# sends no OPEN or RELEASE once the mount is up.
set -eu
. "$(dirname "$0")/lib.sh"
COMMIT_DELAY=200 setup
plan 8
mkdir "$M/repos/o"
W=$M/repos/o

echo one > "$W/a"
wait_for_commit o 1
cat "$M/log/o" > "$T/log1"
echo two > "$W/b"
wait_for_commit o 2
cat "$M/log/o" > "$T/log2"
check "log/<repo> read again after a commit shows it first" sh -c "[ \$(wc -l < '$T/log1') = 1 ] && [ \$(wc -l < '$T/log2') = 2 ] && head -1 '$T/log2' | grep -q 'A b' && tail -1 '$T/log2' | cmp -s - '$T/log1'"
check "log/<repo> has the length stat says" sh -c "[ \$(stat -c %s '$M/log/o') = \$(wc -c < '$T/log2') ]"
check "log/<repo> equals govc log" sh -c "'$GOVC' log '$S' o | cmp -s - '$M/log/o'"

# a file unlinked while a process holds it open stays readable through it
cat > "$T/held.py" <<'EOF'
import os, sys
p = sys.argv[1]
with open(p, "w") as f:
    f.write("kept\n")
fd = os.open(p, os.O_RDONLY)
os.unlink(p)
assert not os.path.exists(p), "still listed"
assert os.pread(fd, 100, 0) == b"kept\n", "unreadable after unlink"
os.close(fd)
print("ok")
EOF
check "an unlinked open file stays readable until closed" python3 "$T/held.py" "$W/held"

id=$("$GOVC" log "$S" o | head -1 | cut -f1)
check_fails "a write into a snapshot fails (truncating open)" sh -c "echo x > '$M/commits/o/$id/a'"
check_fails "an append into a snapshot fails" sh -c "echo x >> '$M/commits/o/$id/a'"
check "the snapshot is unchanged" sh -c "[ \"\$(cat '$M/commits/o/$id/a')\" = one ]"

# no OPEN or RELEASE reaches the daemon once `govc mount` returned: a file
# read costs one round trip.  Seen in libfuse's debug log of a second mount.
"$GOVC" init "$T/store2" >/dev/null
mkdir "$T/mnt2"
"$GOVC" mount -f -o debug "$T/store2" "$T/mnt2" 2> "$T/debug.log" &
i=0; while ! alive "$T/mnt2" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mkdir "$T/mnt2/repos/d"
for i in 1 2 3 4 5; do echo "$i" > "$T/mnt2/repos/d/r$i"; done
cat "$T/mnt2/repos/d"/r? > /dev/null
cp "$T/log1" "$T/mnt2/repos/d/copied"
"$GOVC" umount "$T/mnt2"
wait
check "neither OPEN nor RELEASE reaches the daemon" sh -c "grep -q 'opcode: CREATE' '$T/debug.log' && [ \$(grep -c 'opcode: OPEN (' '$T/debug.log') -le 1 ] && ! grep -q 'opcode: RELEASE (' '$T/debug.log'"
