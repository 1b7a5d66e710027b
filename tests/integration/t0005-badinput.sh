#!/bin/sh
# t0005-badinput: bad names, long paths, hard links, a full disk and a
# corrupt store each get a clear error, and nothing else breaks.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 11
mkdir "$M/repos/b"
W=$M/repos/b
echo keep > "$W/keep"

git -c init.defaultBranch=main init -q "$T/g"
git -C "$T/g" -c user.name=t -c user.email=t@t commit -q --allow-empty -m one
check_fails "a repository name with .. is refused" "$GOVC" import "$S" "git:$T/g" ../x
check "...with a message naming it" sh -c "'$GOVC' import '$S' 'git:$T/g' 'a/b' 2>&1 | grep -q \"'a/b'\""
check_fails "mkdir repos/.bad is refused" mkdir "$M/repos/.bad"
long=$(printf 'n%.0s' $(seq 1 300))
check "a name over NAME_MAX gets ENAMETOOLONG" sh -c "! touch '$W/$long' 2>'$T/err' && grep -qi 'too long' '$T/err'"
check "a hard link gets EPERM" sh -c "! ln '$W/keep' '$W/hard' 2>'$T/err' && grep -qi 'not permitted' '$T/err'"
check "and nothing is lost" sh -c "[ \"\$(cat '$W/keep')\" = keep ] && [ ! -e '$W/hard' ]"
check_fails "a fifo gets EPERM" mkfifo "$W/fifo"

# a store on a small tmpfs: fill it
mkdir -p "$T/small" "$T/mnt2"
if mount -t tmpfs -o size=24m tmpfs "$T/small" 2>/dev/null; then
	"$GOVC" init "$T/small/s" >/dev/null
	"$GOVC" mount -o commit_delay=200 "$T/small/s" "$T/mnt2"
	mkdir "$T/mnt2/repos/f"
	echo first > "$T/mnt2/repos/f/first"
	sleep 1
	if dd if=/dev/zero of="$T/mnt2/repos/f/big" bs=1M count=64 2>"$T/dd.err"; then
		not_ok "a write on a full disk fails"
	else
		check "a write on a full disk fails with ENOSPC" grep -qi 'no space' "$T/dd.err"
	fi
	rm -f "$T/mnt2/repos/f/big"
	check "the mount still works and earlier files are intact" sh -c "[ \"\$(cat '$T/mnt2/repos/f/first')\" = first ] && echo after > '$T/mnt2/repos/f/after' && [ \"\$(cat '$T/mnt2/repos/f/after')\" = after ]"
	"$GOVC" umount "$T/mnt2"
	check "fsck passes after the full disk" "$GOVC" fsck "$T/small/s"
	umount "$T/small"
else
	ok "# SKIP cannot mount a tmpfs"; ok "# SKIP"; ok "# SKIP"
fi

# a corrupt store
"$GOVC" init "$T/store-bad" >/dev/null
head -c 100000 /dev/urandom > "$T/store-bad/data.mdb"
if "$GOVC" mount "$T/store-bad" "$T/mnt2" 2>"$T/err"; then
	not_ok "a corrupt store is refused"
	fusermount3 -u "$T/mnt2"
else
	check "a corrupt store is refused with a clear message and no mount" sh -c "grep -qi 'corrupt' '$T/err' && ! grep -q ' $T/mnt2 ' /proc/mounts"
fi
