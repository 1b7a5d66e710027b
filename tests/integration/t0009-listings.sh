#!/bin/sh
# t0009-listings: the kernel caches directory listings (no OPENDIR round
# trips); every listing that changes without passing through the kernel is
# invalidated when the store's event log shows the change, whichever
# process made it: repos/, commits/<repo>/, images/, layers/, oci/blobs.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 9
git() { command git -c user.name=t -c user.email=t@t -c init.defaultBranch=main "$@"; }

mkdir "$M/repos/a"
echo one > "$M/repos/a/f"
wait_for_commit a 1
ls "$M/repos" "$M/commits" "$M/log" "$M/commits/a" >/dev/null	# cached now
n1=$(ls "$M/commits/a" | wc -l)
echo two > "$M/repos/a/g"
wait_for_commit a 2
sleep 0.3
check "commits/<repo>/ lists a commit the daemon made after it was listed" test "$(ls "$M/commits/a" | wc -l)" -eq $((n1 + 1))
check "and the listing names the log's newest id" sh -c "ls '$M/commits/a' | grep -qx \"\$('$GOVC' log '$S' a | head -n 1 | cut -f1)\""

# a commit whose event is longer than the watcher reads at once (100
# paths of 3 KiB: over 256 KiB on one line) is still seen
d=$(python3 -c 'print("/".join(["d" * 250] * 11))')
mkdir "$M/repos/b" && echo one > "$M/repos/b/f"
wait_for_commit b 1
ls "$M/commits/b" >/dev/null	# cached now
mkdir -p "$M/repos/b/$d"
i=0; while [ $i -lt 100 ]; do : > "$M/repos/b/$d/$(printf '%0200d' $i)"; i=$((i + 1)); done
wait_for_commit b 2
sleep 0.3
check "commits/<repo>/ lists a commit whose event is a line over 256 KiB" test "$(ls "$M/commits/b" | wc -l)" -eq 2

# a repository made by another process
git init -q "$T/g" && echo x > "$T/g/x" && git -C "$T/g" add x && git -C "$T/g" commit -qm x
"$GOVC" import "$S" "git:$T/g" imported >/dev/null
sleep 0.3
check "repos/, commits/ and log/ list a repository imported beside the mount" sh -c "ls '$M/repos' | grep -qx imported && ls '$M/commits' | grep -qx imported && ls '$M/log' | grep -qx imported"
check "and its files are there" test "$(cat "$M/repos/imported/x")" = x

# a working tree listing follows the changes made through the mount
ls "$M/repos/a" >/dev/null
echo three > "$M/repos/a/h"; rm "$M/repos/a/f"
check "a working tree's cached listing follows creates and unlinks" sh -c "[ \"\$(ls '$M/repos/a' | tr '\n' ' ')\" = 'g h ' ]"

# layers/ and oci/blobs/sha256/ follow an import and gc
if command -v umoci >/dev/null; then
	umoci init --layout "$T/oci" && umoci new --image "$T/oci:1"
	mkdir -p "$T/root/etc" && echo hi > "$T/root/etc/hi"
	umoci insert --image "$T/oci:1" "$T/root" / >/dev/null
	ls "$M/layers" "$M/oci/blobs/sha256" >/dev/null
	"$GOVC" import "$S" "oci:$T/oci:1" img:1 >/dev/null
	sleep 0.3
	check "layers/ lists a layer imported after it was listed" test "$(ls "$M/layers" | wc -l)" -eq 1
	"$GOVC" rmi "$S" img:1 >/dev/null
	sleep 0.3
	ls "$M/layers" "$M/oci/blobs/sha256" >/dev/null	# cached again
	"$GOVC" gc "$S" >/dev/null
	sleep 0.3
	check "and drops it after rmi and gc" test "$(ls "$M/layers" | wc -l)" -eq 0
	check "oci/blobs/sha256/ is empty again" test "$(ls "$M/oci/blobs/sha256" | wc -l)" -eq 0
else
	skip "umoci is not installed"; skip "umoci is not installed"; skip "umoci is not installed"
fi
