#!/bin/sh
# t0003-commits: grouping of changes into commits, the commit window, the
# log and its format, snapshots, ignored scratch files, events.
set -eu
. "$(dirname "$0")/lib.sh"
COMMIT_DELAY=300 setup
plan 23
mkdir "$M/repos/c"
W=$M/repos/c

i=0; while [ $i -lt 1000 ]; do echo "$i" > "$W/f$i"; i=$((i + 1)); done
wait_for_commit c 1
sleep 1
n=$(commits c)
check "a burst of 1000 files becomes a few commits ($n)" test "$n" -ge 1 -a "$n" -lt 10
burst=$("$GOVC" log "$S" c | head -n 1 | cut -f1)
check "the snapshot holds all 1000 files" sh -c "[ \"\$(ls '$M/commits/c/$burst' | wc -l)\" = 1000 ] && [ \"\$(cat '$M/commits/c/$burst/f999')\" = 999 ]"

before=$(commits c)
start=$(date +%s%N)
echo lone > "$W/lone"
wait_for_commit c $((before + 1))
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "a lone change is committed within the window (${ms} ms, window 300)" test "$ms" -lt 2000
check "the log names it" sh -c "'$GOVC' log '$S' c | head -n 1 | cut -f4 | grep -qx 'A lone'"

echo changed > "$W/f5"
rm "$W/f6"
wait_for_commit c $((before + 2))
check "the change lists M and D" sh -c "'$GOVC' log '$S' c | head -n 1 | cut -f4 | tr -d ' ' | tr ',' '\n' | sort | tr '\n' ' ' | grep -qx 'Df6 Mf5 '"
check "the older snapshot keeps the old contents" sh -c "[ \"\$(cat '$M/commits/c/$burst/f5')\" = 5 ] && [ -f '$M/commits/c/$burst/f6' ]"
check "the new contents are in the working tree" sh -c "[ \"\$(cat '$W/f5')\" = changed ] && [ ! -e '$W/f6' ]"
short=$(echo "$burst" | cut -c1-7)
check "a short id prefix resolves to the same snapshot" sh -c "[ \"\$(cat '$M/commits/c/$short/f5')\" = 5 ]"
check_fails "an unknown id does not" ls "$M/commits/c/0000000000000000000000000000000000000000"

# a long burst, never quiet for the window, still commits (at most every
# few seconds: commit_max, 5 s by default)
before=$(commits c)
i=0; mid=0
while [ $i -lt 70 ]; do
	echo "$i" > "$W/steady"; sleep 0.1; i=$((i + 1))
done
mid=$(commits c)
check "a 7 s burst without a quiet window still commits ($((mid - before)))" test "$mid" -gt "$before"

# scratch files: vim swap and 4913 probe, backups, emacs locks and
# autosaves, .git, and .gitignore'd paths
echo swap > "$W/.lone.swp"; echo swo > "$W/.lone.swo"; echo b > "$W/lone~"
echo p > "$W/4913"; echo e > "$W/.#lock"; echo a > "$W/#auto#"
mkdir -p "$W/build" "$W/.git" "$W/sub"; echo o > "$W/build/x.o"; echo g > "$W/.git/config"
echo o > "$W/sub/y.o"; echo s > "$W/sub/.y.swp"
printf 'build/\n*.o\n' > "$W/.gitignore"
echo real > "$W/real"
before=$(commits c)
wait_for_commit c $((before + 1))
sleep 0.5
last=$("$GOVC" log "$S" c | head -n 1 | cut -f1)
check "scratch files, .git and ignored paths are not in the snapshot" sh -c "cd '$M/commits/c/$last' && [ -f real ] && [ -f .gitignore ] && [ ! -e .lone.swp ] && [ ! -e .lone.swo ] && [ ! -e lone~ ] && [ ! -e 4913 ] && [ ! -e .#lock ] && [ ! -e '#auto#' ] && [ ! -e .git ] && [ ! -e build ] && [ ! -e sub/y.o ] && [ ! -e sub/.y.swp ]"
check "nor in the log" sh -c "! '$GOVC' log '$S' c | cut -f4 | grep -q 'swp\|swo\|~\|4913\|\.#\|#auto#\|\.git/\|build\|\.o\b'"
check "they stay in the working tree" sh -c "test -f '$W/.lone.swp' && test -f '$W/build/x.o' && test -f '$W/.git/config' && test -f '$W/4913'"

"$GOVC" log "$S" c > "$T/log"
check "log/<repo> equals govc log" cmp "$M/log/c" "$T/log"
check "log lines: 40-hex id, ISO-8601 UTC time, subject, changes" awk -F '\t' '
	NF != 4 || length($1) != 40 || $1 !~ /^[0-9a-f]+$/ || $3 == "" ||
	$2 !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$/ { print; bad = 1 }
	END { exit bad }' "$T/log"
check "events: one JSON commit line per commit, with the log's ids" sh -c "python3 - '$M/events' '$T/log' <<'EOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ids = [e['id'] for e in ev if e.get('type') == 'commit' and e.get('repo') == 'c']
log = [l.split('\t')[0] for l in open(sys.argv[2])]
assert sorted(ids) == sorted(log), (len(ids), len(log))
EOF"

# written and fsynced by one process: the commit window cannot pass between
# (it could between an echo and the dd, and the commit then came first)
before=$(commits c)
printf 'x\n' | dd of="$W/forced" conv=fsync 2>/dev/null
check "fsync commits at once" sh -c "[ $(commits c) -gt $before ] && '$GOVC' log '$S' c | head -n1 | grep -q 'A forced'"

# tail -f must see events appended after it started (sizes stay current)
timeout 8 tail -n 0 -f "$M/events" > "$T/tail.out" 2>&1 &
tailer=$!
sleep 1.5
echo tailed > "$W/tailed"
i=0; while ! grep -q 'A tailed' "$T/tail.out" && [ $i -lt 60 ]; do sleep 0.1; i=$((i + 1)); done
check "tail -f events sees new commits" grep -q 'A tailed' "$T/tail.out"
kill $tailer 2>/dev/null || true
wait $tailer 2>/dev/null || true

# a directory on its own: the daemon keeps running, and a commit it makes
# says what changed
mkdir "$W/emptydir"
sleep 1
check "mkdir of an empty directory alone: the daemon keeps running" alive "$M"
check "every commit lists what it changed" sh -c "! '$GOVC' log '$S' c | awk -F '\t' '\$4 == \"\" || \$3 ~ /Update 0 paths/' | grep ."
check "an empty directory is committed as 'A emptydir/'" sh -c "'$GOVC' log '$S' c | head -n 1 | cut -f4 | grep -qx 'A emptydir/'"
check "and its snapshot holds it" test -d "$M/commits/c/$("$GOVC" log "$S" c | head -n 1 | cut -c1-40)/emptydir"

# the default window (1 s): a lone change lands within about 2 s
"$GOVC" umount "$M" 2>/dev/null || fusermount3 -u -z "$M"
"$GOVC" mount "$S" "$M"
before=$(commits c)
start=$(date +%s%N)
echo default > "$W/default"
wait_for_commit c $((before + 1))
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "with the default window a lone change is committed within ~2 s (${ms} ms)" test "$ms" -lt 2500
