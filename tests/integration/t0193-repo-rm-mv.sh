#!/bin/sh
# t0193-repo-rm-mv: repositories are renamed by mv inside repos/ (and
# govc mv-repo), with their history; rmdir removes only an empty one (no
# commit, no file), so rm -rf never takes history; govc rm-repo --yes
# removes one with its history, whether mounted or not; each raises an
# event, and gc then frees the objects.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 16

check_fails "mkdir of a repository named 'a b' is refused" mkdir "$M/repos/a b"
check "the refusal and its reason are an event and in daemon.log" sh -c "grep '\"type\":\"refused\"' '$M/events' | grep -q '\"name\":\"a b\"' && grep -q 'mkdir: .*a b' '$S/daemon.log'"

mkdir "$M/repos/typo"
check "rmdir removes a repository with no commit and no file" rmdir "$M/repos/typo"
check "govc repos no longer lists it" sh -c "! '$GOVC' repos '$S' | grep -qx typo"
check "an event says so" grep -q '"repo":"typo","action":"removed"' "$M/events"

mkdir "$M/repos/a"
echo one > "$M/repos/a/f"
wait_for_commit a 1
check "mv repos/a repos/b renames the repository" mv "$M/repos/a" "$M/repos/b"
check "its files and history follow" sh -c "[ \"\$(cat '$M/repos/b/f')\" = one ] && '$GOVC' log '$S' b | grep -q 'A f' && ls '$M/commits/b' | grep -q ."
check "the old name is gone everywhere" sh -c "! ls '$M/repos' '$M/commits' '$M/log' | grep -qx a && ! '$GOVC' repos '$S' | grep -qx a"
echo two > "$M/repos/b/g"
check "the renamed repository goes on committing" wait_for_commit b 2
check "an event names the old and new names" grep -q '"repo":"b","action":"renamed".*"from":"a"' "$M/events"

rm -f "$M/repos/b/f" "$M/repos/b/g"
check_fails "rmdir of a repository with history is refused" rmdir "$M/repos/b"
check "the log says how to remove it" sh -c "sleep 0.2; grep -q 'govc rm-repo STORE b --yes' '$S/daemon.log'"
check_fails "rm-repo without --yes does nothing" "$GOVC" rm-repo "$S" b
check "rm-repo --yes removes it while mounted" "$GOVC" rm-repo "$S" b --yes
check "the mount shows it gone within a second" sh -c "sleep 1; ! ls '$M/repos' | grep -qx b && ! ls '$M/commits' | grep -qx b"
"$GOVC" umount "$M"
check "fsck passes after it all" "$GOVC" fsck "$S"
