#!/bin/sh
# t0001-basic: a store mounted, a repository made by mkdir, writes that
# become commits, snapshots, the log, persistence across a remount.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 14

bad=
for c in init mount umount log repos fsck import export; do
	"$GOVC" $c --help >/dev/null 2>&1 || bad="$bad $c"
done
check "every command has --help (failed:${bad:- none})" test -z "$bad"

check "the root shows the tree" sh -c "ls '$M' | tr '\n' ' ' | grep -qx 'builds commits events images layers log oci repos '"
check "mkdir repos/x creates a repository" mkdir "$M/repos/x"
check "govc repos lists it" sh -c "'$GOVC' repos '$S' | grep -qx x"
echo hello > "$M/repos/x/a.txt"
mkdir -p "$M/repos/x/dir/empty"
printf '#!/bin/sh\necho hi\n' > "$M/repos/x/dir/run.sh"
chmod 755 "$M/repos/x/dir/run.sh"
ln -s a.txt "$M/repos/x/link"
check "a lone burst is committed within seconds" wait_for_commit x 1
first=$("$GOVC" log "$S" x | head -n 1 | cut -f1)
check "log/x equals govc log" sh -c "'$GOVC' log '$S' x > '$T/log.out' && cmp '$M/log/x' '$T/log.out'"
check "the log lists the changed paths" sh -c "grep -q 'A a.txt' '$M/log/x' && grep -q 'A dir/run.sh' '$M/log/x'"
echo changed > "$M/repos/x/a.txt"
wait_for_commit x 2
check "the old commit's snapshot keeps the old content" sh -c "[ \"\$(cat '$M/commits/x/$first/a.txt')\" = hello ]"
short=$(echo "$first" | cut -c1-8)
check "a short id resolves" sh -c "[ \"\$(cat '$M/commits/x/$short/a.txt')\" = hello ]"
check_fails "snapshots are read-only" sh -c "echo x > '$M/commits/x/$first/a.txt'"
check "history is not inside the working tree" sh -c "[ \"\$(cd '$M/repos/x' && find . | sort | tr '\n' ' ')\" = '. ./a.txt ./dir ./dir/empty ./dir/run.sh ./link ' ]"
remount
check "after a remount everything is as it was" sh -c "[ \"\$(cat '$M/repos/x/a.txt')\" = changed ] && [ -x '$M/repos/x/dir/run.sh' ] && [ -d '$M/repos/x/dir/empty' ] && [ \"\$(readlink '$M/repos/x/link')\" = a.txt ]"
check "events has a JSON line per commit" sh -c "[ \"\$(grep -c '\"type\":\"commit\"' '$M/events')\" -ge 2 ]"
"$GOVC" umount "$M"
check "govc fsck passes" "$GOVC" fsck "$S"
