#!/bin/sh
# t0008-concurrency: several repositories written at once (create, rename,
# rm -rf) while other processes read snapshots and the log and run govc
# fsck against the mounted store; a second mount of the same store is
# refused, and govc log sees the mount's commits.  Everything ends
# consistent.
set -eu
. "$(dirname "$0")/lib.sh"
MOUNT_OPTS=commit_max=300 COMMIT_DELAY=50 setup
plan 9
for r in r1 r2 r3 r4; do mkdir "$M/repos/$r"; done

# churn REPO: 300 rounds of write, mkdir, rename into a directory, and now
# and then rm -rf of one; the last round's state is recorded natively too
churn() {
	i=0
	while [ $i -lt 300 ]; do
		echo "$1 $i" > "$M/repos/$1/f$((i % 20))"
		mkdir -p "$M/repos/$1/d$((i % 5))"
		mv -f "$M/repos/$1/f$((i % 20))" "$M/repos/$1/d$((i % 5))/g$((i % 7))"
		[ $((i % 50)) != 49 ] || rm -rf "$M/repos/$1/d1"
		i=$((i + 1))
	done
}
reader() {	# read the latest snapshots and the log while the churn goes on
	i=0
	while [ $i -lt 60 ]; do
		for r in r1 r2 r3 r4; do
			id=$(head -c 40 "$M/log/$r" 2>/dev/null) || true
			[ -z "$id" ] || ls -R "$M/commits/$r/$id" >/dev/null 2>>"$T/reader.err" || echo "snapshot $r/$id unreadable" >>"$T/reader.err"
		done
		"$GOVC" log "$S" r1 >/dev/null 2>>"$T/reader.err" || echo "govc log failed" >>"$T/reader.err"
		i=$((i + 1))
	done
}
checker() {	# govc fsck on the mounted store
	i=0
	while [ $i -lt 8 ]; do
		"$GOVC" fsck "$S" >"$T/fsck.$i" 2>&1 || echo "fsck $i failed: $(cat "$T/fsck.$i")" >>"$T/fsck.err"
		i=$((i + 1))
	done
}
: > "$T/reader.err"; : > "$T/fsck.err"
pids=
for r in r1 r2 r3 r4; do churn $r & pids="$pids $!"; done
reader & rp=$!
checker & cp=$!
failed=0
for p in $pids; do wait "$p" || failed=$((failed + 1)); done
wait $rp || true
wait $cp || true
check "four writers churned without an error ($failed failed)" test "$failed" = 0
check "readers of snapshots and the log saw no error" sh -c "! grep . '$T/reader.err'"
check "govc fsck on the mounted store passed each time" sh -c "! grep . '$T/fsck.err'"

# what each repository should hold now, rebuilt on a native directory
expect() {
	rm -rf "$T/want" && mkdir -p "$T/want"
	i=0
	while [ $i -lt 300 ]; do
		echo "$1 $i" > "$T/want/f$((i % 20))"
		mkdir -p "$T/want/d$((i % 5))"
		mv -f "$T/want/f$((i % 20))" "$T/want/d$((i % 5))/g$((i % 7))"
		[ $((i % 50)) != 49 ] || rm -rf "$T/want/d1"
		i=$((i + 1))
	done
}
trees_ok=0
for r in r1 r2 r3 r4; do
	expect $r
	diff -r "$T/want" "$M/repos/$r" >"$T/d.$r" 2>&1 || { trees_ok=1; sed 's/^/# /' "$T/d.$r" | head -5; }
done
check "each working tree holds what its writer did" test $trees_ok = 0
sleep 1
last_ok=0
for r in r1 r2 r3 r4; do
	expect $r
	id=$(head -c 40 "$M/log/$r")
	diff -r "$T/want" "$M/commits/$r/$id" >/dev/null 2>&1 || { last_ok=1; echo "# $r: latest commit $id differs from the tree"; }
done
check "each repository's latest commit equals its working tree" test $last_ok = 0

# one daemon per store: a second mount is refused; other processes see
# what the mount commits
mkdir -p "$T/mnt2"
check_fails "a second mount of the same store is refused" "$GOVC" mount -o commit_delay=50 "$S" "$T/mnt2"
echo shared > "$M/repos/r1/shared"
echo back > "$M/repos/r2/back"
i=0; until "$GOVC" log "$S" r1 | grep -q 'A shared' || [ $i -ge 30 ]; do sleep 0.1; i=$((i + 1)); done
check "another process sees the mount's commit within 3 s" sh -c "'$GOVC' log '$S' r1 | grep -q 'A shared'"
"$GOVC" umount "$M"
check "govc fsck passes at the end" "$GOVC" fsck "$S"
check "every repository is intact after a remount" sh -c "'$GOVC' mount '$S' '$M' && for r in r1 r2 r3 r4; do test -d '$M/repos/'\$r/d0 || exit 1; done && [ \"\$(cat '$M/repos/r1/shared')\" = shared ] && [ \"\$(cat '$M/repos/r2/back')\" = back ]"
