#!/bin/sh
# t0002-editing: what editors and tools do, done in the mount and on a
# native directory side by side; the two trees must come out the same
# (contents, types, modes, symlink targets, and the mtimes the tools keep).
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 20
mkdir "$M/repos/e"
W=$M/repos/e
N=$T/native
mkdir -p "$N"

# both SCRIPT: run SCRIPT in the mount and on the native directory; both
# must succeed
both() {
	(cd "$W" && sh -c "$1") >"$T/w.out" 2>&1 || { echo "in mount: $(cat "$T/w.out")"; return 1; }
	(cd "$N" && sh -c "$1") >"$T/n.out" 2>&1 || { echo "native: $(cat "$T/n.out")"; return 1; }
}
# listing DIR [TIMES]: one line per entry: path, type, mode, symlink
# target; with TIMES=f also the mtime of regular files, with TIMES=fl of
# files and symlinks (directory times vary: rsync and tar set them only
# when the second differs)
listing() {
	case ${2:-} in
	f) (cd "$1" && find . -type f -printf '%p %y %m %T@\n' -o -printf '%p %y %m %l\n') ;;
	fl) (cd "$1" && find . ! -type d -printf '%p %y %m %l %T@\n' -o -printf '%p %y %m\n') ;;
	*) (cd "$1" && find . -printf '%p %y %m %l\n') ;;
	esac | sort
}
same() {	# same [SUBDIR]: the mount and the native tree are the same
	diff -r --no-dereference "$W/${1:-}" "$N/${1:-}" || return 1
	listing "$W/${1:-}" "${1:+f}" >"$T/w.ls"
	listing "$N/${1:-}" "${1:+f}" >"$T/n.ls"
	diff "$T/n.ls" "$T/w.ls"
}
# like SUBDIR: the copy SUBDIR in the mount keeps the source's modes,
# symlinks and file mtimes
like_src() { listing "$src" fl >"$T/s.ls"; listing "$W/$1" fl >"$T/c.ls"; diff "$T/s.ls" "$T/c.ls"; }

src=$T/src
mkdir -p "$src/a/b" "$src/emptydir"
for i in 1 2 3 4 5; do seq 1 $((i * 1000)) > "$src/a/f$i"; done
printf '#!/bin/sh\necho x\n' > "$src/a/b/run"; chmod 755 "$src/a/b/run"
ln -s ../f1 "$src/a/b/link"
ln -s /nowhere/at/all "$src/dangling"
: > "$src/empty"
chmod 600 "$src/a/f3"
chmod 2750 "$src/a/b"
touch -d '2001-02-03 04:05:06.123456789' "$src/a/f1"
touch -h -d '2002-03-04 05:06:07' "$src/a/b/link"
setfattr -n user.origin -v src "$src/a/f2" 2>/dev/null || true

check "cp -a" both "cp -a '$src' cp"
check "cp -a keeps modes, symlinks, mtimes" like_src cp
check "cp -a keeps user xattrs" sh -c "getfattr --only-values -n user.origin '$W/cp/a/f2' | grep -qx src"
check "rsync -a" both "rsync -a '$src/' rs/"
check "rsync -a: the same modes, symlinks, mtimes as native" same rs
check "tar -x" both "tar -C '$src' -cf - . | (mkdir tx && tar -C tx -xf -)"
check "tar -x: the same modes, symlinks, mtimes as native" same tx
check "sed -i" both "sed -i 's/^1\$/one/' tx/a/f2 && sed -i.bak 's/^2\$/two/' rs/a/f2"
check "shell redirection > and >>, truncate" both "echo a > r; echo b >> r; seq 1 100 >> r; truncate -s 50 r; truncate -s 70 r; : > r0; echo x > r1; echo y > r1; echo longer > r2; echo s > r2; seq 1 1000 > r3; printf z > r3"
check "O_EXCL (set -C) refuses an existing file" both "set -C; echo x > excl; ! (echo y > excl) 2>/dev/null"
check "rename over a file, into and over an empty directory" both "echo 1 > m1; echo 2 > m2; mv m1 m2; mkdir d1 d2; mv d1 d2; mkdir d5 d6; echo in > d5/in; mv -T d5 d6; mkdir -p d3/x; mv d3 d4"
check "rename over a non-empty directory fails in both" both "mkdir -p n1/a n2/b; ! mv -T n1 n2 2>/dev/null && test -d n2/b && test -d n1/a"
check "unlink, rmdir, chmod, symlink, touch" both "mkdir -p u/v; echo z > u/v/z; rm u/v/z; rmdir u/v; echo s > u/s; chmod 751 u/s; chmod 700 u; ln -s s u/l; touch -d '2003-04-05 06:07:08' u/s; touch -h -d '2004-05-06' u/l"
if command -v vim >/dev/null 2>&1; then
	# in place (backupcopy=auto: the 4913 probe), by rename (backupcopy=no),
	# with a kept backup file (v.txt~), and ex fed a script on stdin
	check "vim edits in place, by rename and with a backup; ex" both "printf 'line1\nline2\n' > v.txt
		vim -u NONE -i NONE -es -c '%s/line1/LINE1/' -c 'wq' v.txt </dev/null
		vim -u NONE -i NONE -es -c 'set nocompatible backupcopy=no writebackup' -c '\$s/line2/L2/' -c 'wq' v.txt </dev/null
		vim -u NONE -i NONE -es -c 'set backup backupcopy=yes' -c 'normal Goadded' -c 'wq' v.txt </dev/null
		printf 'one\ntwo\n' > x.txt; printf '%%s/one/ONE/\nw\nq\n' | ex -u NONE -i NONE -s x.txt"
else
	skip "vim is not installed"
fi
check "git clone and checkout into the mount" both "git -c init.defaultBranch=main init -q g0 && cd g0 && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m one && echo a > a && mkdir -p s && printf '#!/bin/sh\n' > s/x && chmod +x s/x && ln -s a l && git add -A && git -c user.name=t -c user.email=t@t commit -q -m two && git checkout -q -b side HEAD~1 && echo side > b && git add b && git -c user.name=t -c user.email=t@t commit -q -m side && git checkout -q main && cd .. && git clone -q g0 g1 && git -C g1 checkout -q -b other origin/side && git -C g1 status --porcelain > g1.status && test ! -s g1.status && rm g1.status && git -C g0 fsck --no-progress 2>&1 && git -C g1 fsck --no-progress 2>&1 && rm -rf g0/.git g1/.git"
check "make builds and rebuilds in the mount" both "mkdir mk && printf 'all: out\nout: in\n\tcp in out\n' > mk/Makefile && echo data > mk/in && make -s -C mk && touch -d '2000-01-01' mk/out && make -s -C mk && cmp mk/in mk/out"
check "the mount and the native tree are the same" same

# after the commit window, the working tree is still the same, and so is a
# remounted one (what was written went to the store, not only the cache)
wait_for_commit e 1
sleep 0.5
remount
check "the same after a remount" same
check "cp -a's modes, symlinks and mtimes after a remount" like_src cp
# the latest commit holds the tree's files but not vim's backup file:
# names, contents and git modes of the export equal the native tree's
# files (git keeps no empty directories, so those are left out)
committed_like_native() {
	(cd "$N" && find . ! -type d ! -name '*~' | sed 's|^\./||' | sort) >"$T/n.names"
	git -C "$T/exp" ls-tree -r HEAD | sort -k4 >"$T/g.tree"
	cut -f2 "$T/g.tree" | diff "$T/n.names" - || return 1
	while read -r mode type id name; do
		if [ -L "$N/$name" ]; then want=120000; elif [ -x "$N/$name" ]; then want=100755; else want=100644; fi
		[ "$mode" = "$want" ] || { echo "$name: git mode $mode, native $want"; return 1; }
		if [ "$mode" = 120000 ]; then
			[ "$(git -C "$T/exp" cat-file blob "$id")" = "$(readlink "$N/$name")" ] || { echo "$name: symlink target"; return 1; }
		else
			git -C "$T/exp" cat-file blob "$id" | cmp - "$N/$name" || return 1
		fi
	done <"$T/g.tree"
}
"$GOVC" umount "$M"
"$GOVC" export "$S" e "git:$T/exp"
check "the last commit holds the tree's files with their modes, no backup file" committed_like_native
"$GOVC" mount -o commit_delay=200 "$S" "$M"
