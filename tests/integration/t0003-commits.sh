#!/bin/sh
# t0003-commits: grouping, messages, ignored scratch files, events, and
# what the commits hold (checked through git export).
set -eu
. "$(dirname "$0")/lib.sh"
COMMIT_DELAY=300 setup
plan 10
mkdir "$M/repos/c"
W=$M/repos/c

i=0; while [ $i -lt 1000 ]; do echo "$i" > "$W/f$i"; i=$((i + 1)); done
wait_for_commit c 1
sleep 1
n=$(commits c)
check "a burst of 1000 files becomes a few commits ($n)" test "$n" -ge 1 -a "$n" -lt 10

before=$(commits c)
start=$(date +%s%N)
echo lone > "$W/lone"
wait_for_commit c $((before + 1))
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "a lone change is committed within about a second (${ms} ms)" test "$ms" -lt 2500

echo swap > "$W/.lone.swp"; echo b > "$W/lone~"; echo p > "$W/4913"; echo e > "$W/.#lock"
mkdir -p "$W/build" "$W/.git"; echo o > "$W/build/x.o"; echo g > "$W/.git/config"
printf 'build/\n*.o\n' > "$W/.gitignore"
echo real > "$W/real"
wait_for_commit c $((before + 2))
"$GOVC" umount "$M"
rm -rf "$T/exp"
"$GOVC" export "$S" c "git:$T/exp"
git -C "$T/exp" ls-tree -r --name-only HEAD > "$T/tree"
check "scratch files, .git and ignored paths are not committed" sh -c "! grep -q 'swp\|~\|4913\|\.#lock\|build/\|^.git/' '$T/tree' && grep -qx real '$T/tree' && grep -qx .gitignore '$T/tree'"
check "they stay in the working tree" sh -c "'$GOVC' mount '$S' '$M' && test -f '$M/repos/c/.lone.swp' && test -f '$M/repos/c/build/x.o'"
check "the commit message lists changed paths" sh -c "git -C '$T/exp' log -1 --format=%B | grep -qx 'A real'"
check "log lines start with the full commit id" sh -c "'$GOVC' log '$S' c | cut -f1 | grep -qvx '[0-9a-f]\{40\}' && exit 1 || exit 0"
nc=$(commits c)
check "events: one commit line per commit" sh -c "[ \"\$(grep -c '\"type\":\"commit\"' '$M/events')\" = $nc ]"
check "events lines are JSON" sh -c "python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' '$M/events'"
echo x > "$M/repos/c/forced"
dd if=/dev/null of="$M/repos/c/forced" conv=notrunc,fsync 2>/dev/null
check "fsync commits at once" sh -c "'$GOVC' log '$S' c | head -n1 | grep -q 'A forced'"

# tail -f must see events appended after it started (sizes stay current)
(timeout 8 tail -n 0 -f "$M/events" > "$T/tail.out" 2>&1 &)
sleep 1.5
echo tailed > "$M/repos/c/tailed"
i=0; while ! grep -q 'A tailed' "$T/tail.out" && [ $i -lt 60 ]; do sleep 0.1; i=$((i + 1)); done
check "tail -f events sees new commits" grep -q 'A tailed' "$T/tail.out"
