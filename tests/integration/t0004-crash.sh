#!/bin/sh
# t0004-crash: kill -9 the daemon under several writers; every file whose
# close() (or rename, or mkdir) returned must be there, intact, after a new
# mount, and be committed by it; fsck passes.
set -eu
. "$(dirname "$0")/lib.sh"
# commits every 0.5 s at most, so the kill may land in one
MOUNT_OPTS=commit_max=500 setup
plan 7
mkdir "$M/repos/k"
W=$M/repos/k

# writer ID: files w<ID>-<n>, each recorded with its checksum once the
# shell's redirection has closed it
writer() {
	n=0
	while :; do
		head -c $(( (n % 7 + 1) * 3000 + $1 )) /dev/urandom > "$T/tmp$1" || break
		{ cat "$T/tmp$1" > "$W/w$1-$n"; } 2>/dev/null || break
		echo "w$1-$n $(md5sum < "$T/tmp$1" | cut -d' ' -f1)" >> "$T/done$1"
		n=$((n + 1))
	done
}
# saver ID: an editor's atomic save: write a temporary file, rename it
# over the existing target; recorded once rename returns
saver() {
	n=0
	while :; do
		head -c $(( n % 5 * 1000 + 10 )) /dev/urandom > "$T/tmp$1" || break
		{ echo old > "$W/s$1-$n" && cat "$T/tmp$1" > "$W/.s$1.tmp" &&
			mv -f "$W/.s$1.tmp" "$W/s$1-$n"; } 2>/dev/null || break
		echo "s$1-$n $(md5sum < "$T/tmp$1" | cut -d' ' -f1)" >> "$T/done$1"
		n=$((n + 1))
	done
}
# mkdirs ID: directories d<ID>-<n>/ with one file each
mkdirs() {
	n=0
	while :; do
		{ mkdir "$W/d$1-$n" && echo "$n" > "$W/d$1-$n/f"; } 2>/dev/null || break
		echo "d$1-$n/f $(echo "$n" | md5sum | cut -d' ' -f1)" >> "$T/done$1"
		n=$((n + 1))
	done
}
for w in 1 2 3; do writer $w & done
saver 4 &
mkdirs 5 &
sleep 2
pid=$(cat "$S/daemon.pid")
kill -9 "$pid"
wait 2>/dev/null || true
fusermount3 -u -z "$M" 2>/dev/null || true
cat "$T"/done* > "$T/done"
total=$(wc -l < "$T/done")
check "writers completed files before the kill ($total)" test "$total" -gt 20
check "govc fsck passes on the killed daemon's store" "$GOVC" fsck "$S"
check "a new mount starts" "$GOVC" mount -o "$(mount_opts)" "$S" "$M"

# intact DIR: every recorded file is in DIR with its checksum
intact() {
	bad=0
	while read -r name sum; do
		[ "$(md5sum < "$1/$name" 2>/dev/null | cut -d' ' -f1)" = "$sum" ] ||
			{ bad=$((bad + 1)); [ $bad -gt 10 ] || echo "lost or damaged: $name"; }
	done < "$T/done"
	[ $bad -eq 0 ] || { echo "$bad of $total files lost or damaged"; return 1; }
}
check "every closed file is present and intact" intact "$W"

# what the killed daemon had not committed, the new one commits
sleep 1
echo after > "$W/after"
wait_for_commit k 1
i=0
while ! "$GOVC" log "$S" k | head -n 1 | grep -q 'A after' && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
last=$("$GOVC" log "$S" k | head -n 1 | cut -f1)
check "the latest commit holds every closed file" intact "$M/commits/k/$last"
"$GOVC" umount "$M"
check "govc fsck passes after the new mount" "$GOVC" fsck "$S"
check "the daemon logged no crash of its own" sh -c "! grep -i 'assert\|segv\|abort' '$S/daemon.log'"
