#!/bin/sh
# t0002-editing: what editors and tools do, done in the mount and on a
# native directory side by side; the two trees must come out the same.
set -eu
. "$(dirname "$0")/lib.sh"
setup
plan 12
mkdir "$M/repos/e"
W=$M/repos/e
N=$T/native
mkdir -p "$N"

# same SCRIPT run in both places
both() {
	(cd "$W" && sh -c "$1") >"$T/w.out" 2>&1 || { echo "# in mount: $(cat "$T/w.out")"; return 1; }
	(cd "$N" && sh -c "$1") >"$T/n.out" 2>&1 || { echo "# native: $(cat "$T/n.out")"; return 1; }
}
same() {	# same trees: contents, types, modes, symlink targets
	diff -r --no-dereference "$W" "$N" >"$T/diff.out" 2>&1 || { sed 's/^/# /' "$T/diff.out"; return 1; }
	(cd "$W" && find . -printf '%p %y %m %l\n' | sort) >"$T/w.ls"
	(cd "$N" && find . -printf '%p %y %m %l\n' | sort) >"$T/n.ls"
	diff "$T/w.ls" "$T/n.ls" | sed 's/^/# /'
	cmp -s "$T/w.ls" "$T/n.ls"
}

src=$T/src
mkdir -p "$src/a/b" "$src/emptydir"
for i in 1 2 3 4 5; do seq 1 $((i * 1000)) > "$src/a/f$i"; done
printf '#!/bin/sh\necho x\n' > "$src/a/b/run"; chmod 755 "$src/a/b/run"
ln -s ../a/f1 "$src/a/b/link"
touch -d '2001-02-03 04:05:06' "$src/a/f1"

check "cp -a" both "cp -a '$src' cp"
check "cp -a keeps mtimes" sh -c "[ \"\$(stat -c %Y '$W/cp/a/f1')\" = \"\$(stat -c %Y '$src/a/f1')\" ]"
check "rsync -a" both "rsync -a '$src/' rs/"
check "tar -x" both "tar -C '$src' -cf - . | (mkdir tx && tar -C tx -xf -)"
check "sed -i" both "sed -i 's/^1\$/one/' cp/a/f2"
check "shell redirection > and >>, truncate" both "echo a > r; echo b >> r; seq 1 100 >> r; truncate -s 50 r; truncate -s 70 r"
check "O_EXCL (set -C) refuses an existing file" both "set -C; echo x > excl; ! (echo y > excl) 2>/dev/null"
check "rename over files and empty directories" both "echo 1 > m1; echo 2 > m2; mv m1 m2; mkdir d1 d2; mv d1 d2; mkdir -p d3/x; mv d3 d4"
if command -v vi >/dev/null 2>&1; then
	check "vi edits in place and via a backup" both "printf 'line1\nline2\n' > v.txt; vi -u NONE -i NONE -es -c '%s/line1/LINE1/' -c 'wq' v.txt </dev/null; vi -u NONE -i NONE -es -c 'set backup writebackup backupcopy=no' -c '\$s/line2/L2/' -c 'wq' v.txt </dev/null; rm -f v.txt~"
else
	ok "# SKIP vi is not installed"
fi
check "git clone and checkout into the mount" both "git -c init.defaultBranch=main init -q g0 && cd g0 && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m one && echo a > a && git add a && git -c user.name=t -c user.email=t@t commit -q -m two && git checkout -q -b side HEAD~1 && git checkout -q main && cd .. && git clone -q g0 g1 && rm -rf g0/.git g1/.git"
check "make builds in the mount" both "mkdir mk && printf 'all: out\nout: in\n\tcp in out\n' > mk/Makefile && echo data > mk/in && make -s -C mk"
check "the mount and the native tree are the same" same
