#!/bin/sh
# t0006-git-interop: export to and import from ordinary git repositories;
# ids, trees, modes and symlinks agree with git's.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 14
mkdir "$M/repos/gi"
W=$M/repos/gi
git() { command git -c user.name=t -c user.email=t@t -c init.defaultBranch=main "$@"; }
# modes DIR: path, type, mode bits git keeps (exec or not), symlink target
modes() {
	(cd "$1" && find . -path ./.git -prune -o ! -type d -printf '%p %y %l\n' -o -type d -printf '%p d\n' |
		while read -r p y l; do
			case $y in f) if [ -x "$p" ]; then echo "$p f x"; else echo "$p f -"; fi ;;
			*) echo "$p $y $l" ;; esac
		done | sort)
}

echo one > "$W/a"; mkdir -p "$W/d/e"; printf '#!/bin/sh\n' > "$W/d/x"; chmod +x "$W/d/x"
ln -s a "$W/l"; ln -s ../a "$W/d/e/up"; echo deep > "$W/d/e/f"
wait_for_commit gi 1
echo two >> "$W/a"; chmod 600 "$W/d/e/f"
wait_for_commit gi 2
mv "$W/d/e/f" "$W/d/moved"; rm "$W/l"
wait_for_commit gi 3
"$GOVC" export "$S" gi "git:$T/exp"
check "git fsck --strict accepts the export" git -C "$T/exp" fsck --strict --no-progress
check "git log and govc log list the same ids" sh -c "git -C '$T/exp' log --format=%H > '$T/g.ids'; '$GOVC' log '$S' gi | cut -f1 > '$T/v.ids'; cmp '$T/g.ids' '$T/v.ids'"
check "and the same subjects" sh -c "git -C '$T/exp' log --format=%s > '$T/g.s'; '$GOVC' log '$S' gi | cut -f3 > '$T/v.s'; cmp '$T/g.s' '$T/v.s'"
check "the export's checkout matches the working tree" diff -r --no-dereference -x .git "$W" "$T/exp"
modes "$W" > "$T/m1"; modes "$T/exp" > "$T/m2"
check "with the same exec bits and symlinks" diff "$T/m1" "$T/m2"
snapshots_like_git() {
	for id in $("$GOVC" log "$S" gi | cut -f1); do
		rm -rf "$T/co" && mkdir "$T/co"
		git -C "$T/exp" archive "$id" | tar -C "$T/co" -xf -
		diff -r --no-dereference "$M/commits/gi/$id" "$T/co" || { echo "commit $id differs"; return 1; }
	done
}
check "each commit's snapshot equals git's checkout of it" snapshots_like_git

src=$T/src
git init -q "$src"
cd "$src"
echo 1 > f; mkdir -p sub/deeper; echo s > sub/s; echo dd > sub/deeper/dd
printf '#!/bin/sh\necho run\n' > run; chmod +x run; ln -s f link; ln -s sub/deeper dirlink
git add -A; git commit -q -m first
echo 2 >> f; git rm -q sub/s; echo new > sub/new; git add -A; git commit -q -m second
git checkout -q -b side; echo side > side; git add side; git commit -q -m side; git checkout -q main
echo 3 >> f; git commit -q -am third
cd /
"$GOVC" import "$S" "git:$src" imp
check "an imported repository appears in the mount within a second" sh -c "i=0; until test -d '$M/repos/imp'; do i=\$((i + 1)); [ \$i -lt 12 ] || exit 1; sleep 0.1; done"
check "with the contents and symlinks of HEAD" diff -r --no-dereference -x .git "$src" "$M/repos/imp"
modes "$src" > "$T/m3"; modes "$M/repos/imp" > "$T/m4"
check "and its exec bits" diff "$T/m3" "$T/m4"
check "and the same history" sh -c "git -C '$src' log --format=%H > '$T/g2'; '$GOVC' log '$S' imp | cut -f1 > '$T/v2'; cmp '$T/g2' '$T/v2'"
mid=$(git -C "$src" rev-parse HEAD~1)
check "commits/ shows an older imported commit as git has it" sh -c "rm -rf '$T/mid' && mkdir '$T/mid' && git -C '$src' archive $mid | tar -C '$T/mid' -xf - && diff -r --no-dereference '$T/mid' '$M/commits/imp/$mid'"
"$GOVC" export "$S" imp "git:$T/rt"
check "export after import keeps the ids" sh -c "[ \"\$(git -C '$T/rt' rev-parse HEAD)\" = \"\$(git -C '$src' rev-parse HEAD)\" ] && [ \"\$(git -C '$T/rt' rev-parse HEAD^{tree})\" = \"\$(git -C '$src' rev-parse HEAD^{tree})\" ]"
# a change on top of an imported repository: git sees it as a child
echo 4 >> "$M/repos/imp/f"
wait_for_commit imp 4
"$GOVC" export "$S" imp "git:$T/rt2"
check "a change in the mount becomes a child of git's HEAD" sh -c "[ \"\$(git -C '$T/rt2' rev-parse HEAD~1)\" = \"\$(git -C '$src' rev-parse HEAD)\" ] && git -C '$T/rt2' fsck --strict --no-progress"

# a git clone worked in inside a repository (issue 16): .git is ignored, so
# no commit enters it and its directories stay dirty below clean ones;
# govc fsck must not call that damage
git clone -q "$src" "$M/repos/cl/work"
wait_for_commit cl 1
sleep 1.5
echo more >> "$M/repos/cl/work/f"
git -C "$M/repos/cl/work" -c user.name=t -c user.email=t@t commit -qam "in the mount"
mkdir -p "$M/repos/cl/g/.git/objects/ab"
echo 1 > "$M/repos/cl/g/.git/objects/ab/one"
sleep 2
echo 2 > "$M/repos/cl/g/.git/objects/ab/two"
"$GOVC" umount "$M"
check "govc fsck passes after git clone and git commit in the mount" "$GOVC" fsck "$S"
"$GOVC" mount -o "$(mount_opts)" "$S" "$M"
