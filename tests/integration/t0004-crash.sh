#!/bin/sh
# t0004-crash: kill -9 the daemon under several writers; every file whose
# close() returned must be there, intact, after a new mount; fsck passes.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 4
mkdir "$M/repos/k"
W=$M/repos/k

writer() {	# writer ID: files w<ID>-<n>, each recorded after close returns
	n=0
	while :; do
		head -c $(( (n % 7 + 1) * 3000 )) /dev/urandom > "$T/tmp$1" || break
		{ cat "$T/tmp$1" > "$W/w$1-$n"; } 2>/dev/null || break
		echo "w$1-$n $(md5sum < "$T/tmp$1" | cut -d' ' -f1)" >> "$T/done$1"
		n=$((n + 1))
	done
}
for w in 1 2 3 4; do writer $w & done
sleep 2
kill -9 "$(cat "$S/daemon.pid")"
wait 2>/dev/null || true
fusermount3 -u -z "$M" 2>/dev/null || true
cat "$T"/done* > "$T/done"
total=$(wc -l < "$T/done")
check "writers completed files before the kill ($total)" test "$total" -gt 20
check "a new mount starts" "$GOVC" mount -o commit_delay=200 "$S" "$M"
bad=0
while read -r name sum; do
	[ "$(md5sum < "$W/$name" 2>/dev/null | cut -d' ' -f1)" = "$sum" ] || { bad=$((bad + 1)); echo "# lost or damaged: $name"; }
done < "$T/done"
check "every closed file is present and intact" test "$bad" -eq 0
"$GOVC" umount "$M"
check "govc fsck passes" "$GOVC" fsck "$S"
