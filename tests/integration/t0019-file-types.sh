#!/bin/sh
# t0019-file-types: repositories hold every file type a POSIX filesystem
# holds - hard links, fifos, sockets, character and block devices - made
# by the usual tools, kept by commits, snapshots and a remount, the same
# as on a native directory; git export says what git could not take.
set -eu
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "mknod of devices needs root"
command -v python3 >/dev/null || skip_all "python3 is not installed"
setup
plan 22
mkdir "$M/repos/ft"
W=$M/repos/ft
N=$T/native
mkdir "$N"

# the same actions in the repository and in a native directory
make_files() {
	echo one > "$1/a"
	ln "$1/a" "$1/b"
	mkdir "$1/d"
	ln "$1/a" "$1/d/c"
	mkfifo -m 640 "$1/fifo"
	mknod -m 600 "$1/null" c 1 3
	mknod "$1/d/loop" b 7 0
	chown 12:34 "$1/d/loop"
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1/sock"
}
# shape DIR: each name's type, link count, mode, owner and device number,
# and which names share an inode (numbered by first appearance); a
# directory's link count is left out (ours says 1: not counted)
shape() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
		while read -r p; do stat -c '%n|%F|%h|%a|%u:%g|%t:%T|%i' "$p"; done) |
		awk -F'|' -v OFS='|' '{ if (!($7 in ino)) ino[$7] = ++n; $7 = "i" ino[$7]
			if ($2 == "directory") $3 = "-"; print }'
}
# the same without modes and owners, which a snapshot shows as git does
# for what its tree holds
unowned() { awk -F'|' -v OFS='|' '{ $4 = $5 = ""; print }'; }
make_files "$W"
make_files "$N"
shape "$N" > "$T/native.shape"

check "ln: both names show one inode with nlink 3" sh -c "[ \"\$(stat -c '%i %h' '$W/a')\" = \"\$(stat -c '%i %h' '$W/b')\" ] && [ \"\$(stat -c %h '$W/d/c')\" = 3 ]"
check "a write through one name reads back through the others" sh -c "echo two >> '$W/b' && [ \"\$(cat '$W/a')\" = \"\$(printf 'one\ntwo')\" ] && [ \"\$(cat '$W/d/c')\" = \"\$(printf 'one\ntwo')\" ]"
echo two >> "$N/b"
check "chmod through one name shows through the other" sh -c "chmod 600 '$W/d/c' && [ \"\$(stat -c %a '$W/a')\" = 600 ]"
chmod 600 "$N/d/c"
check "mkfifo, mknod c and b, a python unix socket: types, modes, rdev as native" sh -c "[ \"\$(stat -c '%F %a' '$W/fifo')\" = 'fifo 640' ] && [ \"\$(stat -c '%F %t:%T %a' '$W/null')\" = 'character special file 1:3 600' ] && [ \"\$(stat -c '%F %t:%T %u:%g' '$W/d/loop')\" = 'block special file 7:0 12:34' ] && [ -S '$W/sock' ]"
check "a fifo carries data" sh -c "(echo through > '$W/fifo' &) && [ \"\$(cat '$W/fifo')\" = through ]"
check "the device node opens (as root, mount made by root)" sh -c "head -c 0 '$W/null'"
shape "$N" > "$T/native.shape"
as_native() { shape "$W" | diff "$T/native.shape" -; }
check "the tree is the native one (types, nlink, modes, owners, rdev, shared inodes)" as_native
check "rename onto another name of the same file does nothing" sh -c "python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' '$W/a' '$W/b' && [ -e '$W/a' ] && [ \"\$(stat -c %h '$W/b')\" = 3 ]"
check "unlink one name: the others keep the content, nlink drops" sh -c "rm '$W/b' && [ \"\$(stat -c %h '$W/a')\" = 2 ] && [ \"\$(stat -c %h '$W/d/c')\" = 2 ] && grep -q two '$W/d/c'"
rm "$N/b"
shape "$N" > "$T/native.shape"
check "link(2) across repositories is EXDEV" sh -c "mkdir '$M/repos/other' && ! ln '$W/a' '$M/repos/other/a' 2>'$T/err' && grep -qi 'cross-device' '$T/err'"
check "link(2) of a directory is refused" sh -c "! ln '$W/d' '$W/d2' 2>/dev/null"
# fsync commits at once: the last commit is the tree as it is now
fsync() { python3 -c 'import os, sys; os.fsync(os.open(sys.argv[1], os.O_RDONLY))' "$1"; }
fsync "$W/a"
"$GOVC" log "$S" ft > "$T/log"
check "the commit lists the special files" sh -c "grep -q 'A fifo' '$T/log' && grep -q 'A d/loop' '$T/log' && grep -q 'A sock' '$T/log'"
id=$(head -n 1 "$T/log" | cut -f1)
C=$M/commits/ft/$id
snap_as_native() { shape "$C" | unowned > "$T/snap" && shape "$N" | unowned | diff - "$T/snap"; }
check "the snapshot shows the tree as it is (specials, hard links, one inode)" snap_as_native
check "the snapshot's specials keep mode, owners and device numbers" sh -c "[ \"\$(stat -c '%F %a' '$C/fifo')\" = 'fifo 640' ] && [ \"\$(stat -c '%F %t:%T %a' '$C/null')\" = 'character special file 1:3 600' ] && [ \"\$(stat -c '%t:%T %u:%g' '$C/d/loop')\" = '7:0 12:34' ]"
check "the snapshot is read-only for special files too" sh -c "! mkfifo '$C/new' 2>/dev/null && ! ln '$C/a' '$C/a3' 2>/dev/null"
sleep 0.3
remount
check "after a remount the tree is the native one" as_native
check "and the snapshot is the same" snap_as_native

# copies of a tree with hard links, as cp -a and tar -x make them
mkdir "$T/src" "$T/src/sub"
echo shared > "$T/src/x"
ln "$T/src/x" "$T/src/y"
ln "$T/src/x" "$T/src/sub/z"
mkfifo "$T/src/p"
shape "$T/src" > "$T/src.shape"
copied() { shape "$1" | diff "$T/src.shape" -; }
cp -a "$T/src" "$W/cp"
check "cp -a keeps hard links and fifos" copied "$W/cp"
mkdir "$W/tar"
tar -C "$T/src" -cf - . | tar -C "$W/tar" -xf -
check "tar -x keeps hard links and fifos" copied "$W/tar"

fsync "$W/a"

# git export: what git can hold, and what it could not, named
"$GOVC" umount "$M"
check "govc fsck passes" "$GOVC" fsck "$S"
"$GOVC" export "$S" ft "git:$T/git" 2>"$T/export.err"
check "git export names the special files it left out" sh -c "grep -q \"'fifo'.*fifo\" '$T/export.err' && grep -q \"'null'.*character device 1:3\" '$T/export.err' && grep -q \"'d/loop'.*block device 7:0\" '$T/export.err' && grep -q \"'sock'.*socket\" '$T/export.err'"
check "git export writes hard-linked files as separate files, no specials" sh -c "[ \"\$(cat '$T/git/d/c')\" = \"\$(printf 'one\ntwo')\" ] && [ \"\$(stat -c %h '$T/git/a')\" = 1 ] && [ ! -e '$T/git/fifo' ] && grep -q 'hard link' '$T/export.err'"
