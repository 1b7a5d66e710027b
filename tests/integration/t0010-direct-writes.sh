#!/bin/sh
# t0010-direct-writes: a file created write-only is written without the
# page cache (FS_FH_DIO).  Readers that open it meanwhile see every write,
# the page cache is right once it closes, and the privileges the kernel
# strips on a cached write are stripped on a direct one too.
set -eu
. "$(dirname "$0")/lib.sh"
MOUNT_OPTS=allow_other
setup
plan 10
mkdir "$M/repos/dw"
W=$M/repos/dw

# one writer, created O_WRONLY, and readers opened while it writes
cat > "$T/coherent.py" <<'EOF'
import os, sys
p = sys.argv[1]
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(w, b"a" * 5000)
r = os.open(p, os.O_RDONLY)
assert os.pread(r, 10000, 0) == b"a" * 5000, "reader misses the first write"
os.write(w, b"b" * 100)
assert os.pread(r, 10000, 0) == b"a" * 5000 + b"b" * 100, "reader misses the second write"
os.pwrite(w, b"c" * 10, 10)
want = b"a" * 10 + b"c" * 10 + b"a" * 4980 + b"b" * 100
assert os.pread(r, 10000, 0) == want, "reader misses an overwrite"
os.close(w)
os.close(r)
with open(p, "rb") as f:		# a cached open after the writer is gone
    assert f.read() == want, "cached read after close"
with open(p, "ab") as f:		# a cached writer, then a cached reader
    f.write(b"d")
with open(p, "rb") as f:
    assert f.read() == want + b"d", "cached append"
print("ok")
EOF
check "readers opened during a write-only creation see every write" python3 "$T/coherent.py" "$W/f"
remount
check "the content is right after a remount too" sh -c "[ \"\$(wc -c < '$W/f')\" = 5101 ] && [ \"\$(head -c 20 '$W/f')\" = aaaaaaaaaacccccccccc ]"

# cp and shell redirection (both create write-only) give the right bytes
head -c 200000 /dev/urandom > "$T/rand"
cp "$T/rand" "$W/copied"
cat "$T/rand" > "$W/redirected"
check "cp and > write the right bytes" sh -c "cmp '$T/rand' '$W/copied' && cmp '$T/rand' '$W/redirected'"

# file capabilities go on a write, as the kernel drops them on cached ones
cat > "$T/caps.py" <<'EOF'
import os, struct, sys
p = sys.argv[1]
caps = struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0)	# cap_net_raw+p
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
os.write(w, b"#!/bin/sh\n")
os.setxattr(p, "security.capability", caps)
assert os.getxattr(p, "security.capability") == caps
os.write(w, b"true\n")
os.close(w)
try:
    os.getxattr(p, "security.capability")
except OSError:
    print("dropped")
    sys.exit(0)
sys.exit("security.capability survived a write")
EOF
check "a write drops security.capability" python3 "$T/caps.py" "$W/capped"

# setuid and setgid: kept when root writes (CAP_FSETID), dropped when
# another user does, as on any filesystem
cat > "$T/suid.py" <<'EOF'
import os, stat, sys
p, mode = sys.argv[1], int(sys.argv[2], 8)
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
os.fchmod(w, mode)
os.write(w, b"x")
os.close(w)
print(oct(stat.S_IMODE(os.stat(p).st_mode)))
EOF
check "root's write keeps setuid" sh -c "[ \"\$(python3 '$T/suid.py' '$W/rootsuid' 6755)\" = 0o6755 ]"
# the system's python: a per-user one (pyenv) is not for other users
PY=/usr/bin/python3
if command -v setpriv >/dev/null && [ -x "$PY" ]; then
	mkdir "$W/nobody" && chown 65534:65534 "$W/nobody"
	chmod 755 "$T"
	check "another user's write drops setuid and group-exec setgid" sh -c "[ \"\$(setpriv --reuid=65534 --regid=65534 --clear-groups $PY '$T/suid.py' '$W/nobody/s' 6755)\" = 0o755 ]"
	check "and the mode the kernel shows is the new one" sh -c "[ \"\$(stat -c %a '$W/nobody/s')\" = 755 ]"
	check "setgid without group exec is kept" sh -c "[ \"\$(setpriv --reuid=65534 --regid=65534 --clear-groups $PY '$T/suid.py' '$W/nobody/g' 2745)\" = 0o2745 ]"
else
	skip "no setpriv"
	skip "no setpriv"
	skip "no setpriv"
fi

wait_for_commit dw 1
check "the files are committed with their content" sh -c "sleep 1; \"$GOVC\" fsck '$S' >/dev/null && cmp '$T/rand' \"$M/commits/dw/\$(\"$GOVC\" log '$S' dw | head -1 | cut -c1-40)/copied\""

# writers that go on after their first write (dd in 4 KiB blocks, tar's
# records), and files removed or truncated before any commit, leave no
# blob behind for gc: the first write's blob goes when the file moves on
head -c 30000 /dev/urandom > "$T/tarred"
tar -C "$T" -cf "$T/t.tar" tarred
dd if=/dev/urandom of="$W/blocks" bs=4k count=5 2>/dev/null
tar -C "$W" -xf "$T/t.tar"
echo scratch > "$W/scratch" && rm "$W/scratch"
echo longer-text > "$W/emptied" && : > "$W/emptied"
sync "$W/blocks"
check "nothing is left for gc" sh -c "cmp '$T/tarred' '$W/tarred' && '$GOVC' gc -n '$S' | grep '^would remove 0 objects'"
