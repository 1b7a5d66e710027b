#!/bin/sh
# t0192-snapshot-restore: a snapshot shows the modes its commit records
# (0644, 0755, directories 0755, the root included) and refuses writes
# with EROFS; restoring a repository from one with
# `rsync -a --delete commits/R/<id>/ repos/R/` gives back exactly the
# committed tree, and the repository stays writable.
set -eu
. "$(dirname "$0")/lib.sh"
command -v rsync >/dev/null || skip_all "rsync is not installed"
setup
plan 9

R=$M/repos/r
mkdir "$R"
printf '#!/bin/sh\necho hi\n' > "$R/run.sh"
chmod 755 "$R/run.sh"
echo text > "$R/a.txt"
mkdir -p "$R/dir/sub" "$R/empty"
echo deep > "$R/dir/sub/f"
ln -s a.txt "$R/link"
wait_for_commit r 1
C1=$("$GOVC" log "$S" r | head -n 1 | cut -f1)
SNAP=$M/commits/r/$C1

check "an executable shows 0755" test "$(stat -c %a "$SNAP/run.sh")" = 755
check "a file shows 0644, directories and the root 0755" sh -c "[ \$(stat -c %a '$SNAP/a.txt') = 644 ] && [ \$(stat -c %a '$SNAP/dir') = 755 ] && [ \$(stat -c %a '$SNAP') = 755 ]"
check_fails "writing a snapshot's file fails" sh -c "echo x >> '$SNAP/a.txt'"
check "with EROFS" python3 -c "
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.write(fd, b'x')
except OSError as e:
    sys.exit(e.errno != errno.EROFS)
sys.exit(1)" "$SNAP/a.txt"
check_fails "creating in a snapshot fails" touch "$SNAP/new"

# change everything, then restore
chmod 600 "$R/a.txt"
echo changed > "$R/run.sh"
chmod 644 "$R/run.sh"
rm -rf "$R/dir" "$R/empty" "$R/link"
echo new > "$R/added"
chmod 700 "$R"
wait_for_commit r 2
check "rsync -a --delete from the snapshot restores" rsync -a --delete "$SNAP/" "$R/"
check "the repository root is writable again (0755)" sh -c "[ \$(stat -c %a '$R') = 755 ] && touch '$R/.probe' && rm '$R/.probe'"
wait_for_commit r 3
C3=$("$GOVC" log "$S" r | head -n 1 | cut -f1)
check "the restored commit holds exactly the first one's tree" sh -c "[ '$C3' != '$C1' ] && [ \"\$(cd '$M/commits/r/$C3' && find . -printf '%y %m %s %l %p\n' | sort; find . -type f -exec sha256sum {} + | sort -k2)\" = \"\$(cd '$SNAP' && find . -printf '%y %m %s %l %p\n' | sort; find . -type f -exec sha256sum {} + | sort -k2)\" ]"
check "and so does the working tree" sh -c "[ \"\$(cd '$R' && find . -printf '%y %m %s %l %p\n' | sort)\" = \"\$(cd '$SNAP' && find . -printf '%y %m %s %l %p\n' | sort)\" ]"
