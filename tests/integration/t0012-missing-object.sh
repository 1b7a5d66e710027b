#!/bin/sh
# t0012-missing-object: a store that lost one blob (made by dumping the
# store with mdb_dump, dropping the record, loading it into a new store)
# still lists every name of a directory; only the damaged file fails, with
# EIO and a message naming the object, and the rest reads as before.
set -eu
. "$(dirname "$0")/lib.sh"
setup
command -v mdb_dump >/dev/null || skip_all "mdb_dump (lmdb-utils) is not installed"
plan 9
mkdir "$M/repos/r"
for f in a b c d; do echo "content $f" > "$M/repos/r/$f"; done
sync "$M/repos/r/a"
"$GOVC" umount "$M"
id=$("$GOVC" log "$S" r | head -1 | cut -f1)
blob=$(printf 'blob 10\0content b\n' | sha1sum | cut -c1-40)

mdb_dump -a "$S" > "$T/dump"
awk -v key=" $blob" '
	/^database=/ { db = $0 }
	db == "database=objects" && $0 == key { getline; next }
	{ print }' "$T/dump" > "$T/dump2"
mkdir "$T/store2"
mdb_load -f "$T/dump2" "$T/store2" 2>/dev/null
check_fails "govc fsck finds the missing blob" "$GOVC" fsck "$T/store2"
S=$T/store2
"$GOVC" mount -o "$(mount_opts)" "$S" "$M"

snap=$M/commits/r/$id
ls -l "$snap" > "$T/ls.out" 2> "$T/ls.err" || true
check "ls -l of the snapshot lists every name" sh -c "[ \$(grep -c '^[-?]' '$T/ls.out') = 4 ]"
check "and the intact files with their attributes" sh -c "grep -q '^-rw-r--r-- .* a\$' '$T/ls.out' && grep -q '^-rw-r--r-- .* d\$' '$T/ls.out'"
check "the damaged one gives EIO" grep -q "cannot access.*b': Input/output error" "$T/ls.err"
check "the other files of the snapshot read as before" sh -c "[ \"\$(cat '$snap/a' '$snap/c' '$snap/d')\" = \"\$(printf 'content a\ncontent c\ncontent d')\" ]"
check "the working tree lists every name too" sh -c "[ \$(ls '$M/repos/r' | wc -l) = 4 ]"
check_fails "reading the damaged file fails" cat "$M/repos/r/b"
check "the daemon's log names the snapshot's missing blob" grep -q "blob $blob of repository 'r' is missing" "$S/daemon.log"
"$GOVC" umount "$M"
check "the daemon did not crash" sh -c "! grep -q 'AddressSanitizer\|runtime error' '$S/daemon.log'"
