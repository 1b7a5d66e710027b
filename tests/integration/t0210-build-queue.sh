#!/bin/sh
# t0210-build-queue: builds/ shows the build records of STORE/builds/ as
# they are on disk (listings in numeric order, `latest`, a log that grows
# under `tail -f`, a status replaced by rename, all within a second;
# read-only), and the daemon queues a build for a commit that changes its
# Govcfile or what its COPY reads, and for no other.  The last part builds
# through the mount end to end (`govc build` run by the daemon): it fails,
# saying why, where `govc build` does not work yet.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 26

B=$S/builds
is() { [ "$1" = "$2" ]; }
head_id() { "$GOVC" log "$S" "$1" | head -n 1 | cut -f1; }
records() { ls "$M/builds/$1" 2>/dev/null | grep -c '^[0-9]' || true; }
# put DIR FILE TEXT: a record's file replaced by rename, as builds write it
put() { printf '%s\n' "$3" > "$1/.$2.tmp" && mv "$1/.$2.tmp" "$1/$2"; }

# ---- the view, over records made by hand ---------------------------------
check "builds/ is in the root and empty before any build" \
	sh -c "ls '$M' | grep -qx builds && [ -z \"\$(ls -A '$M/builds')\" ]"
ls "$M/builds" >/dev/null	# listed (and cached) before the records come
mkdir -p "$B/app/1" "$B/app/2" "$B/app/10" "$B/app/007" "$B/app/x" "$B/.hidden"
put "$B/app/1" status succeeded
put "$B/app/1" commit 0123456789012345678901234567890123456789
printf 'FROM scratch\nCOPY a /a\n' > "$B/app/1/govcfile"
put "$B/app/1" image sha256:0000000000000000000000000000000000000000000000000000000000000000
put "$B/app/2" status failed
put "$B/app/2" error "line 2: COPY: 'a' is not in the context"
put "$B/app/10" status running
: > "$B/app/10/log"
: > "$B/app/1/.status.1.tmp"
check "builds/ lists a repository whose records came after it was listed" \
	within 1 sh -c "[ \"\$(ls '$M/builds' | tr '\n' ' ')\" = 'app ' ]"
check "builds/<repo>/ lists the records in numeric order, then latest" \
	is "$(ls -U "$M/builds/app" | tr '\n' ' ')" "1 2 10 latest "
check "latest links to the highest" is "$(readlink "$M/builds/app/latest")" 10
check "a record shows its files, and no temporary file" \
	is "$(ls "$M/builds/app/1" | tr '\n' ' ')" "commit govcfile image status "
check "its files read as they are on disk" \
	sh -c "cmp '$B/app/1/govcfile' '$M/builds/app/1/govcfile' && [ \"\$(cat '$M/builds/app/2/error')\" = \"line 2: COPY: 'a' is not in the context\" ]"
check "names that are no record are not found" \
	sh -c "! ls '$M/builds/app/007' && ! ls '$M/builds/app/x' && ! ls '$M/builds/.hidden' && ! ls '$M/builds/app/1/.status.1.tmp'"

# what changes on disk shows within a second
cat "$M/builds/app/10/status" >/dev/null	# read (and cached) before
put "$B/app/10" status succeeded
check "a status replaced by rename shows within a second" \
	within 1 sh -c "[ \"\$(cat '$M/builds/app/10/status')\" = succeeded ]"
mkdir "$B/app/11"
check "latest follows a new record within a second" \
	within 1 sh -c "[ \"\$(readlink '$M/builds/app/latest')\" = 11 ] && [ -d '$M/builds/app/latest/' ]"
cat "$M/builds/app/10/log" >/dev/null
echo "step 1/2: FROM scratch" >> "$B/app/10/log"
check "a growing log shows its new lines within a second" \
	within 1 sh -c "grep -q 'step 1/2' '$M/builds/app/10/log'"
tail -n +1 -f "$M/builds/app/10/log" > "$T/tail.out" 2>&1 &
tailpid=$!
sleep 0.3
echo "step 2/2: COPY a /a" >> "$B/app/10/log"
check "tail -f follows the log" within 3 grep -q 'step 2/2' "$T/tail.out"
kill $tailpid 2>/dev/null || true
wait $tailpid 2>/dev/null || true

# read-only
check_fails "a record's file cannot be written" python3 -c 'import os, sys
os.write(os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND), b"x")' "$M/builds/app/1/status"
cp "$T/check.out" "$T/erofs.out"
check "and says EROFS" grep -q "Read-only file system" "$T/erofs.out"
check_fails "nor created, removed or renamed" sh -c "touch '$M/builds/app/1/new' || rm '$M/builds/app/1/status' || mv '$M/builds/app/1/commit' '$M/builds/app/1/c' || mkdir '$M/builds/new'"
check "and the record is as it was" sh -c "[ \"\$(cat '$B/app/1/status')\" = succeeded ] && [ -f '$B/app/1/commit' ] && [ ! -e '$B/app/1/new' ]"

# ---- the queue: which commits queue a build ---------------------------------
mkdir "$M/repos/r"
printf 'FROM scratch\nCOPY a /a\n' > "$M/repos/r/Govcfile"
echo a > "$M/repos/r/a"
wait_for_commit r 1
check "a commit that writes a Govcfile queues a build (builds/r/1/)" within 3 test -d "$M/builds/r/1"
check "its record names the commit" within 1 sh -c "[ \"\$(cat '$M/builds/r/1/commit')\" = $(head_id r) ]"
check "and events tell" grep -q "\"type\":\"build\",\"action\":\"queued\",\"repo\":\"r\",\"branch\":\"main\",\"n\":1,\"commit\":\"$(head_id r)\"" "$M/events"
echo b > "$M/repos/r/b"
wait_for_commit r 2
sleep 1.5
check "a commit of a file no COPY reads queues nothing" is "$(records r)" 1
echo a2 > "$M/repos/r/a"
wait_for_commit r 3
check "a commit of a file COPY reads queues a build" within 3 test -d "$M/builds/r/2"
check "of that commit" within 1 sh -c "[ \"\$(cat '$M/builds/r/2/commit')\" = $(head_id r) ]"

# a record a killed daemon left queued is failed at the next mount
mkdir "$B/app/12"
put "$B/app/12" status queued
remount
check "a record left queued by an earlier daemon is marked failed at mount" \
	sh -c "[ \"\$(cat '$M/builds/app/12/status')\" = failed ] && grep -q 'not started' '$M/builds/app/12/error'"

# -o no_builds: commits queue nothing
MOUNT_OPTS=no_builds
remount
before=$(records r)
echo a3 > "$M/repos/r/a"
wait_for_commit r 4
sleep 1.5
check "with -o no_builds a commit of what COPY reads queues nothing" is "$(records r)" "$before"
MOUNT_OPTS=
remount

# ---- end to end: the daemon runs `govc build` --------------------------------
if ! "$GOVC" build --help >/dev/null 2>&1; then
	not_ok "govc build does not work ('govc build --help' failed): the end-to-end part needs the build command (builder/build.c)"
	skip "a Govcfile written through the mount builds images/<repo>/"
	skip "a burst of commits becomes fewer builds"
	exit 0
fi
ok "govc build is there"
# final REPO N: record N of REPO has ended (succeeded or failed)
final() { grep -qx 'succeeded\|failed' "$M/builds/$1/$2/status"; }
mkdir "$M/repos/e"
printf 'FROM scratch\nCOPY a /a\n' > "$M/repos/e/Govcfile"
echo hello > "$M/repos/e/a"
wait_for_commit e 1
within 120 final e 1 || true
if [ "$(cat "$M/builds/e/1/status" 2>/dev/null)" = succeeded ] &&
	within 5 test -f "$M/images/e/manifest.json" &&
	[ "$(cat "$M/images/e/rootfs/a" 2>/dev/null)" = hello ]; then
	ok "a Govcfile written through the mount builds images/e/ (rootfs/a is there)"
else
	not_ok "a Govcfile written through the mount builds images/e/"
	for f in status error log; do
		diag "builds/e/1/$f: $(cat "$M/builds/e/1/$f" 2>/dev/null | tail -n 20)"
	done
	diag "images/e/: $(ls "$M/images/e" 2>&1)"
fi
# a burst: five commits as fast as the committer makes them
before=$(records e)
k=1
while [ $k -le 5 ]; do
	echo "burst $k" > "$M/repos/e/a"
	wait_for_commit e $((k + 1))
	k=$((k + 1))
done
last=$(head_id e)
sleep 1.5
n=$(ls "$M/builds/e" | grep '^[0-9]' | sort -n | tail -n 1)
within 120 final e "$n" || true
made=$(($(records e) - before))
if [ "$made" -ge 1 ] && [ "$made" -lt 5 ] &&
	[ "$(cat "$M/builds/e/$n/commit")" = "$last" ] &&
	[ "$(cat "$M/builds/e/$n/status")" = succeeded ]; then
	ok "a burst of 5 commits became $made build(s), the last of the newest commit"
else
	not_ok "a burst of 5 commits became $made build(s) (the last, $n: $(cat "$M/builds/e/$n/status" 2>/dev/null), of $(cat "$M/builds/e/$n/commit" 2>/dev/null), newest $last)"
fi
