# buildlib.sh - helpers of the build tests (t0200-t0202), on top of lib.sh:
# a store without a mount, the busybox base image, build contexts from
# tests/build/<case>/ committed to git and imported as repositories, builds
# with govc and with buildah, their images exported and unpacked.
#
#	. "$(dirname "$0")/buildlib.sh"
#	build_setup		# $T scratch dir, $S store (govc init, no mount)
#	make_base buildah	# the base image "bb" in $S and in buildah's
#				# store (make_base umoci: in $S only)
#	ctx CASE		# $T/ctx/CASE, a git repository of the case,
#				# and $T/co/CASE, its checkout without .git
#	import_ctx CASE [REPO]	# the repository REPO (default CASE) in $S
#	gbuild REPO TAG ARGS...	# govc build into TAG:latest; output in
#				# $T/log/gbuild-TAG
#	bbuild CASE TAG ARGS...	# buildah bud of $T/co/CASE as localhost/TAG
#
# The base image: Debian's busybox-static with every applet linked, an
# /etc/passwd that knows root, nobody (65534) and app (1000), and the
# files buildah's chroot isolation bind-mounts over during a RUN
# (/etc/hosts, /etc/resolv.conf, /etc/hostname, /run): without them
# buildah leaves empty ones in every RUN's layer, which Docker does not.

. "$(dirname "$0")/lib.sh"
BUILD_CASES=${GOVC_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/build
TREECMP="python3 $(dirname "$0")/treecmp.py"
OCITOOL="python3 $(dirname "$0")/ocitool.py"
# fixed commit times: the same context makes the same commit every run
GIT_AUTHOR_DATE='@1700000000 +0000'
GIT_COMMITTER_DATE='@1700000000 +0000'
export GIT_AUTHOR_DATE GIT_COMMITTER_DATE

git() { command git -c user.name=t -c user.email=t@t -c init.defaultBranch=main \
	-c advice.detachedHead=false "$@"; }

# ba ARGS...: buildah with this test's own store (vfs: no mounts left
# behind, and the driver TESTBED.md measured)
ba() { buildah --root "$T/ba/root" --runroot "$T/ba/run" --storage-driver vfs "$@"; }

# build_setup: root, tools, $T and $S (a store nobody mounts: builds do
# not need a mount)
build_setup() {
	[ "$(id -u)" = 0 ] || skip_all "needs root (builds mount overlays, owners)"
	# crun: govc's RUN steps run under it
	for t in umoci python3 git crun; do
		command -v "$t" >/dev/null || skip_all "$t is not installed"
	done
	[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
	[ -x "$GOVC" ] || skip_all "no govc binary at $GOVC"
	umask 022
	T=$(mktemp -d /tmp/govc-test.XXXXXX)
	S=$T/store
	mkdir -p "$T/log" "$T/ctx" "$T/co"
	trap 'rc=$?; build_cleanup; cleanup $rc; [ $rc -ne 0 ] && exit $rc; exit $test_failed' EXIT
	trap 'exit 1' INT TERM HUP PIPE
	"$GOVC" init "$S" >/dev/null
}

# killtree PID: PID and its descendants, children first
killtree() {
	for k in $(cat /proc/"$1"/task/*/children 2>/dev/null); do killtree "$k"; done
	kill "$1" 2>/dev/null || true
}

build_cleanup() {
	# a background job of the test (t0200's buildah builds) still running
	if [ -n "${bpid:-}" ]; then
		killtree "$bpid"
		wait "$bpid" 2>/dev/null || true
	fi
	[ -n "$T" ] && [ -d "$T/ba" ] || return 0
	ba rm --all >/dev/null 2>&1 || true
	# the vfs driver mounts nothing, but never remove through a mount
	grep -q " $T/ba/" /proc/mounts && umount -R -l "$T/ba/root" 2>/dev/null
	return 0
}

# have_build: govc knows the command `build`
have_build() { "$GOVC" build --help >/dev/null 2>&1; }

# make_base buildah|umoci: the image bb:latest in $S (and, with buildah,
# localhost/bb:latest in buildah's store): the same blobs in both
make_base() {
	R=$T/base/rootfs
	mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root" "$R/proc" "$R/dev" "$R/sys" "$R/run"
	cp /bin/busybox "$R/bin/busybox"
	for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
	chmod 1777 "$R/tmp"; chmod 700 "$R/root"
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
		'app:x:1000:1000::/home/app:/bin/sh' > "$R/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'app:x:1000:' > "$R/etc/group"
	echo '127.0.0.1 localhost' > "$R/etc/hosts"
	: > "$R/etc/resolv.conf"
	echo bb > "$R/etc/hostname"
	if [ "$1" = buildah ]; then
		tar -C "$R" --numeric-owner --owner=0 --group=0 -cf "$T/base/rootfs.tar" .
		c=$(ba from scratch)
		ba add "$c" "$T/base/rootfs.tar" / >/dev/null
		ba config --cmd /bin/sh --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --os linux --arch amd64 "$c"
		ba commit -q --format oci "$c" localhost/bb:latest >/dev/null
		ba rm "$c" >/dev/null
		ba push -q localhost/bb:latest "oci:$T/base/oci:bb"
	else
		umoci init --layout "$T/base/oci" && umoci new --image "$T/base/oci:bb"
		umoci insert --image "$T/base/oci:bb" "$R" / >/dev/null
		umoci config --image "$T/base/oci:bb" --config.cmd /bin/sh \
			--config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --os linux --architecture amd64
	fi
	"$GOVC" import "$S" "oci:$T/base/oci:bb" bb:latest >/dev/null
}

# ctx CASE [DIR]: copy tests/build/CASE (or DIR) to $T/ctx/CASE, run its
# prepare.sh there (then drop it), and commit it all to git; $T/co/CASE is
# a checkout of that commit without .git (buildah's context: the files and
# modes of the commit, as govc sees them)
ctx() {
	src=${2:-$BUILD_CASES/$1}
	rm -rf "$T/ctx/$1" "$T/co/$1"
	cp -R "$src" "$T/ctx/$1"
	chmod -R u+w "$T/ctx/$1"
	if [ -f "$T/ctx/$1/prepare.sh" ]; then
		(cd "$T/ctx/$1" && sh ./prepare.sh) || return 1
		rm "$T/ctx/$1/prepare.sh"
	fi
	(cd "$T/ctx/$1" && git init -q && git add -A && git commit -q -m "$1") || return 1
	git clone -q "$T/ctx/$1" "$T/co/$1" && rm -rf "$T/co/$1/.git"
}

# recommit CASE MESSAGE: commit what changed in $T/ctx/CASE, one second
# after the previous commit, and refresh $T/co/CASE
recommit() {
	n=$(git -C "$T/ctx/$1" rev-list --count HEAD)
	(cd "$T/ctx/$1" && git add -A &&
		GIT_AUTHOR_DATE="@$((1700000000 + n)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + n)) +0000" \
			git commit -q -m "$2") || return 1
	rm -rf "$T/co/$1" && git clone -q "$T/ctx/$1" "$T/co/$1" && rm -rf "$T/co/$1/.git"
}

# import_ctx CASE [REPO]: $T/ctx/CASE as repository REPO of $S, anew
import_ctx() {
	r=${2:-$1}
	"$GOVC" rm-repo "$S" "$r" --yes >/dev/null 2>&1 || true
	"$GOVC" import "$S" "git:$T/ctx/$1" "$r" >/dev/null
}

# gbuild REPO TAG ARGS...: govc build of REPO's head into TAG:latest;
# stdout and stderr in $T/log/gbuild-TAG, its status returned
gbuild() {
	r=$1 tg=$2; shift 2
	"$GOVC" build "$S" "$r" --tag "$tg:latest" "$@" > "$T/log/gbuild-$tg" 2>&1
}

# bbuild CASE TAG ARGS...: buildah bud of $T/co/CASE into localhost/TAG
# (chroot isolation, no identity label); output in $T/log/bbuild-TAG.
# Without --layers unless BUILDAH_LAYERS=1: no case shares steps with
# another, so its cache brings nothing, and committing a layer per step
# costs (run-basics: 9.8 s with --layers, 5.5 s without, on vfs); the
# trees compared are the same either way.
bbuild() {
	c=$1 tg=$2; shift 2
	(cd "$T/co/$c" && ba bud --isolation chroot ${BUILDAH_LAYERS:+--layers} -q \
		--identity-label=false -t "localhost/$tg" "$@" .) > "$T/log/bbuild-$tg" 2>&1
}

# gexport TAG: govc's TAG:latest into the layout $T/go (tag TAG), unpacked
# into $T/gu/TAG
gexport() {
	rm -rf "$T/gu/$1" && mkdir -p "$T/gu" &&
		"$GOVC" export "$S" "$1:latest" "oci:$T/go:$1" >/dev/null &&
		umoci raw unpack --image "$T/go:$1" "$T/gu/$1" >/dev/null 2>&1
}

# bexport TAG: buildah's localhost/TAG into the layout $T/bo (tag TAG),
# unpacked into $T/bu/TAG, its `buildah inspect` in $T/bu/TAG.json
bexport() {
	rm -rf "$T/bu/$1" && mkdir -p "$T/bu" &&
		ba push -q "localhost/$1" "oci:$T/bo:$1" &&
		ba inspect --type image "localhost/$1" > "$T/bu/$1.json" &&
		umoci raw unpack --image "$T/bo:$1" "$T/bu/$1" >/dev/null 2>&1
}

# show FILE: FILE as TAP comments (its last 30 lines)
show() { tail -n 30 "$1" | sed 's/^/# /'; }
