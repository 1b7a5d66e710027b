#!/bin/sh
# t0006-git-interop: export to and import from ordinary git repositories.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 7
mkdir "$M/repos/gi"
W=$M/repos/gi
echo one > "$W/a"; mkdir "$W/d"; printf '#!/bin/sh\n' > "$W/d/x"; chmod +x "$W/d/x"; ln -s a "$W/l"
wait_for_commit gi 1
echo two >> "$W/a"
wait_for_commit gi 2
"$GOVC" export "$S" gi "git:$T/exp"
check "git fsck --strict accepts the export" git -C "$T/exp" fsck --strict
check "git log and govc log list the same ids" sh -c "git -C '$T/exp' log --format=%H > '$T/g.ids'; '$GOVC' log '$S' gi | cut -f1 > '$T/v.ids'; cmp '$T/g.ids' '$T/v.ids'"
check "the export's checkout matches the working tree" diff -r --no-dereference "$W" "$T/exp" -x .git

src=$T/src
git -c init.defaultBranch=main init -q "$src"
cd "$src"
echo 1 > f; mkdir sub; echo s > sub/s; printf '#!/bin/sh\n' > run; chmod +x run; ln -s f link
git add -A; git -c user.name=t -c user.email=t@t commit -q -m first
echo 2 >> f; git add -A; git -c user.name=t -c user.email=t@t commit -q -m second
cd /
"$GOVC" import "$S" "git:$src" imp
check "an imported repository appears in the mount within a second" sh -c "sleep 1.2; test -d '$M/repos/imp'"
check "with the contents, modes and symlinks of HEAD" diff -r --no-dereference "$src" "$M/repos/imp" -x .git
check "and the same history" sh -c "git -C '$src' log --format=%H > '$T/g2'; '$GOVC' log '$S' imp | cut -f1 > '$T/v2'; cmp '$T/g2' '$T/v2'"
"$GOVC" export "$S" imp "git:$T/rt"
check "export after import keeps the ids" sh -c "[ \"\$(git -C '$T/rt' rev-parse HEAD)\" = \"\$(git -C '$src' rev-parse HEAD)\" ]"
