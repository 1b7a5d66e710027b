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

# no OPEN or RELEASE reaches the daemon: a file read costs one round trip.
# Counted with the kernel's fuse tracepoints, where perf can read them.
if command -v perf >/dev/null && perf list 2>/dev/null | grep -q fuse:fuse_request_send; then
	for i in 1 2 3 4 5; do echo "$i" > "$W/r$i"; done
	perf record -q -e fuse:fuse_request_send -a -o "$T/perf.data" -- \
		sh -c "cat '$W'/r? > /dev/null; cp '$T/log1' '$W/copied'" >/dev/null 2>&1
	perf script -i "$T/perf.data" 2>/dev/null > "$T/reqs" || true
	check "neither OPEN nor RELEASE is sent" sh -c "grep -q FUSE_READ '$T/reqs' && ! grep -q '(FUSE_OPEN)\|(FUSE_RELEASE)' '$T/reqs'"
else
	skip "no perf with fuse tracepoints"
fi
