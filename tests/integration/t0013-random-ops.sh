#!/bin/sh
# t0013-random-ops: random writes, appends, truncates (O_TRUNC and
# ftruncate), renames, removals, fsyncs (commits) and reads, applied alike
# to a working tree and a native directory (tests/integration/fsops.py),
# agree at every read, after a remount and in the last commit; on a plain
# mount and on one with -o writeback.  Then the same with directories,
# symlinks, modes and renames across directories mixed in, comparing
# listings and errors too.  SEEDS and OPS override.
set -eu
. "$(dirname "$0")/lib.sh"
setup
command -v python3 >/dev/null || skip_all "python3 is not installed"
SEEDS=${SEEDS:-"1 2 3 4"}
OPS=${OPS:-3000}
plan $((3 * $(echo $SEEDS | wc -w) + 3))
ops=$(dirname "$0")/fsops.py
mkdir "$M/repos/r" "$T/native"
# run_seeds LABEL [tree]: every seed in its own directory LABEL-sSEED
run_seeds() {
	for seed in $SEEDS; do
		d=$1-s$seed
		mkdir "$M/repos/r/$d" "$T/native/$d"
		check "seed $seed, $1: $OPS operations agree with the native filesystem" \
			python3 "$ops" "$seed" "$OPS" "$M/repos/r/$d" "$T/native/$d" ${2:-}
	done
}
run_seeds plain
MOUNT_OPTS=writeback remount
run_seeds writeback
remount
run_seeds tree tree
remount
check "after a remount the tree is the native one" diff -r --no-dereference "$M/repos/r" "$T/native"
sync "$M/repos/r/plain-s${SEEDS%% *}"
id=$("$GOVC" log "$S" r | head -1 | cut -f1)
check "the last commit holds the same files" diff -r --no-dereference "$M/commits/r/$id" "$T/native"
check "govc fsck passes" "$GOVC" fsck "$S"
