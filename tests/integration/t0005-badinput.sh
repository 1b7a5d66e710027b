#!/bin/sh
# t0005-badinput: bad names, long names, odd names, hard links and
# devices where they cannot go, a full disk, a corrupt store: each gets a clear error, and
# nothing else breaks.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 23
mkdir "$M/repos/b"
W=$M/repos/b
echo keep > "$W/keep"

# repository names
git -c init.defaultBranch=main init -q "$T/g"
git -C "$T/g" -c user.name=t -c user.email=t@t commit -q --allow-empty -m one
mkdir "$T/cwd"
check_fails "a repository name with .. is refused" sh -c "cd '$T/cwd' && '$GOVC' import '$S' 'git:$T/g' ../x"
check "a name with / is refused, and the message names it" sh -c "! '$GOVC' import '$S' 'git:$T/g' 'a/b' 2>'$T/err' && grep -q \"'a/b'\" '$T/err'"
check "nothing was made of them" sh -c "[ \"\$('$GOVC' repos '$S')\" = b ] && [ ! -e '$T/x' ] && [ ! -e '$T/cwd/x' ] && [ ! -e '$M/repos/x' ] && [ ! -e '$M/repos/a' ]"
check_fails "mkdir repos/.bad is refused" mkdir "$M/repos/.bad"
check_fails "mkdir repos/.. style names are refused" mkdir "$M/repos/..."

# names
long=$(printf 'n%.0s' $(seq 1 256))
check "a name over NAME_MAX gets ENAMETOOLONG" sh -c "! touch '$W/$long' 2>'$T/err' && grep -qi 'too long' '$T/err'"
check "a name of exactly NAME_MAX works" sh -c "n=\$(printf 'm%.0s' \$(seq 1 255)); echo x > '$W/'\$n && [ \"\$(cat '$W/'\$n)\" = x ] && rm '$W/'\$n"
tab=$(printf 'tab\tname')
nl=$(printf 'new\nline')
echo t > "$W/$tab"
echo n > "$W/$nl"
echo c > "$W/comma, A x"
echo u > "$W/ünïcödé ✓"
wait_for_commit b 1
sleep 0.6
check "odd names (tab, newline, comma, UTF-8) are kept" sh -c "[ \"\$(cat '$W/$tab')\" = t ] && [ \"\$(cat '$W/$nl')\" = n ] && [ \"\$(cat '$W/ünïcödé ✓')\" = u ] && [ \"\$(ls '$W' | wc -l)\" -ge 5 ]"
check "and the log stays one line of 4 tab-separated fields per commit" sh -c "'$GOVC' log '$S' b | awk -F '\t' 'NF != 4 || length(\$1) != 40 { print; bad = 1 } END { exit bad }' && [ \"\$('$GOVC' log '$S' b | wc -l)\" = \"\$('$GOVC' log '$S' b | cut -f1 | grep -c '^[0-9a-f]\{40\}\$')\" ]"

# hard links and devices where they cannot go (t0019: where they can)
mkdir "$M/repos/b2"
check "a hard link into another repository gets EXDEV" sh -c "! ln '$W/keep' '$M/repos/b2/hard' 2>'$T/err' && grep -qi 'cross-device' '$T/err'"
check "and nothing is lost" sh -c "[ \"\$(cat '$W/keep')\" = keep ] && [ ! -e '$M/repos/b2/hard' ] && [ \"\$(stat -c %h '$W/keep')\" = 1 ]"
check "a hard link of a directory gets EPERM" sh -c "mkdir '$W/dir' && ! python3 -c 'import os, sys; os.link(sys.argv[1], sys.argv[2])' '$W/dir' '$W/dir2' 2>'$T/err' && grep -qi 'not permitted' '$T/err'"
check "a device node in repos/ itself gets EPERM" sh -c "! mknod '$M/repos/null' c 1 3 2>'$T/err' && grep -qi 'not permitted' '$T/err' && [ ! -e '$M/repos/null' ]"

# a store on a small tmpfs: fill it
mkdir -p "$T/small" "$T/mnt2"
if mount -t tmpfs -o size=16m tmpfs "$T/small" 2>/dev/null; then
	SS=$T/small/s
	"$GOVC" init "$SS" >/dev/null
	"$GOVC" mount -o commit_delay=200 "$SS" "$T/mnt2"
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
	i=0
	while ! "$GOVC" log "$SS" f | head -n 1 | grep -q 'A after' && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	check "and commits again once there is room" sh -c "'$GOVC' log '$SS' f | head -n 1 | grep -q 'A after'"
	"$GOVC" umount "$T/mnt2"
	check "fsck passes after the full disk" "$GOVC" fsck "$SS"
	umount "$T/small"
else
	skip "cannot mount a tmpfs"; skip "cannot mount a tmpfs"; skip "cannot mount a tmpfs"; skip "cannot mount a tmpfs"
fi

# a corrupt store: garbage for data.mdb
"$GOVC" init "$T/store-bad" >/dev/null
head -c 100000 /dev/urandom > "$T/store-bad/data.mdb"
if "$GOVC" mount "$T/store-bad" "$T/mnt2" 2>"$T/err"; then
	not_ok "a corrupt store is refused"
	fusermount3 -u -z "$T/mnt2"
else
	check "a corrupt store is refused with a clear message and no mount" sh -c "grep -qi 'corrupt' '$T/err' && grep -q 'store-bad' '$T/err' && ! grep -q ' $T/mnt2 ' /proc/mounts"
fi
check "govc fsck reports it: exit 1" sh -c "'$GOVC' fsck '$T/store-bad'; [ \$? = 1 ]"

# a store whose LMDB pages are damaged (bytes overwritten inside pages, the
# meta pages intact): fsck exits 0 or 1 (the bytes may land on free pages)
# and never crashes; mount leaves no mount behind when it fails
"$GOVC" umount "$M"
"$GOVC" init "$T/store-pages0" >/dev/null
"$GOVC" mount -o commit_delay=100 "$T/store-pages0" "$T/mnt2"
mkdir "$T/mnt2/repos/r"
i=0; while [ $i -lt 200 ]; do seq 1 $i > "$T/mnt2/repos/r/f$i"; i=$((i + 1)); done
i=0; while [ "$("$GOVC" log "$T/store-pages0" r | wc -l)" -lt 1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$GOVC" umount "$T/mnt2"
damaged=; crashed=; unclear=; found=0
for seed in 1 2 3 4 5 6; do
	rm -rf "$T/store-pages"
	cp -a "$T/store-pages0" "$T/store-pages"
	python3 - "$T/store-pages/data.mdb" "$seed" <<'EOF'
import os, random, sys
random.seed(int(sys.argv[2]))
size = os.path.getsize(sys.argv[1])
with open(sys.argv[1], 'r+b') as f:
    for off in range(3 * 4096, size, 3 * 4096):
        f.seek(off + 100)
        f.write(random.randbytes(200))
EOF
	rc=0; "$GOVC" fsck "$T/store-pages" >/dev/null 2>"$T/err" || rc=$?
	# a sanitizer build reports a crash and exits 1
	! grep -q 'AddressSanitizer\|runtime error' "$T/err" || rc="$rc (sanitizer)"
	case $rc in 0) ;; 1) found=$((found + 1)) ;; *) crashed="$crashed seed $seed: exit $rc;" ;; esac
	rc=0; timeout 20 "$GOVC" mount "$T/store-pages" "$T/mnt2" >/dev/null 2>"$T/merr" || rc=$?
	if [ $rc != 0 ] && ! grep -q "store '$T/store-pages'" "$T/merr"; then
		unclear="$unclear seed $seed: exit $rc, $(head -c 200 "$T/merr" | tr '\n' ' ');"
	fi
	if [ $rc = 0 ]; then
		timeout 20 ls -R "$T/mnt2" >/dev/null 2>&1 || true
		timeout 20 "$GOVC" umount "$T/mnt2" >/dev/null 2>&1 || fusermount3 -u -z "$T/mnt2"
	elif grep -q " $T/mnt2 " /proc/mounts; then
		damaged="$damaged seed $seed: mount failed and left a mount;"
		fusermount3 -u -z "$T/mnt2"
	fi
done
check "govc fsck on damaged pages exits 0 or 1, never crashes${crashed:+ ($crashed)}" test -z "$crashed"
check "govc fsck finds the damage in most of them ($found of 6)" test "$found" -ge 3
check "a failed mount of a damaged store leaves no mount behind${damaged:+ ($damaged)}" test -z "$damaged"
check "a failed mount of a damaged store names it and says why${unclear:+ ($unclear)}" test -z "$unclear"
