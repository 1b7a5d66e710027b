#!/bin/sh
# t0200-build-buildah: `govc build` and buildah bud (Debian's buildah 1.28,
# --isolation chroot, the reference builder of TESTBED.md) build the same
# Govcfiles of tests/build/<case>/ from the same commit and the same local
# base image into images that agree:
#   - rootfs trees (each image exported as an OCI layout and unpacked by
#     umoci) identical in contents, modes (setuid included), owners,
#     symlink targets, hard links (the same inode groups) and special files
#     (type, rdev); times are left out (treecmp.py --no-mtime);
#   - configs agreeing on Env, Cmd, Entrypoint, WorkingDir, User,
#     ExposedPorts, Volumes, Labels and StopSignal, and for the cases built
#     in buildah's Docker format (SHELL, HEALTHCHECK and ONBUILD exist only
#     there) on Healthcheck, OnBuild and Shell too (ocitool.py cfgcmp).
# Between them the cases use every instruction; each Govcfile says what it
# covers.  The heredoc case is compared with buildah's build of the same
# steps written without heredocs (buildah 1.28 has none).
#
# buildah's store (vfs) is shared by all cases.  Where buildah 1.28 and
# Docker (BuildKit) differ, the cases avoid the difference or leave it out
# of the comparison, and the Govcfile says so: mknod (buildah's chroot
# drops CAP_MKNOD), EXPOSE ranges (buildah keeps "9000-9002/tcp"),
# ${V-x} and ${V+x} (buildah rejects them), ADD --chown of an archive
# (buildah keeps the members' owners, BuildKit >= 0.23 chowns them), the
# stubs of RUN --mount targets and the directories of a parent's VOLUMEs
# (buildah leaves them in layers), supplementary groups in RUN (buildah
# adds the primary group), the order of Env (buildah moves a variable set
# again to the end: compared as a set); and where buildah's vfs driver and
# an overlay differ: hard links to files of lower layers.
#
# Until govc has a `build` command, each govc build fails, and so does
# every comparison: the buildah half still runs.
set -eu
. "$(dirname "$0")/buildlib.sh"
command -v buildah >/dev/null || skip_all "buildah is not installed"
build_setup
make_base buildah
have_build || diag "govc has no 'build' command: every govc build below fails"
echo 'tok-secret-t0200' > "$T/secret.txt"


# The cases, one a line: CASE TAG [docker] [bfile=F] [ignore=P,...]
# [-- ARGS...]: build tests/build/CASE with buildah and with govc (ARGS to
# both) into the image TAG, and compare.  docker: buildah builds in its
# Docker format, and the Docker-only config fields are compared too;
# bfile=F: buildah builds F instead of the Govcfile; ignore: paths the
# tree comparison leaves out (the case's Govcfile says why).  Order
# matters: onbuild builds on config's image.
cat > "$T/cases" <<EOF
run-basics run-basics
copy copy
add-tar add-tar
env-arg env-arg -- --build-arg OVERRIDDEN=cli --build-arg NOTDECLARED=x --build-arg ONLYGLOBAL=cli-og
multistage multistage -- --build-arg VERSION=2.5
multistage multistage-tester -- --target tester
workdir-user workdir-user
dockerignore dockerignore
special-files special-files
mounts mounts ignore=var,mnt,run/secrets,scratch,etc/tok.txt -- --secret id=tok,src=$T/secret.txt
config config docker
onbuild onbuild docker ignore=data,var
heredoc heredoc bfile=Govcfile.buildah
EOF

# parse LINE...: c (case), tg (tag), fmt (--docker or empty), bfile, ign
# (treecmp options) and args (the build arguments)
parse() {
	c=$1 tg=$2; shift 2
	fmt= bfile=Govcfile ign=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		docker) fmt=--docker ;;
		bfile=*) bfile=${1#bfile=} ;;
		ignore=*) for p in $(echo "${1#ignore=}" | tr , ' '); do ign="$ign --ignore $p"; done ;;
		esac
		shift
	done
	[ $# -gt 0 ] && shift
	args="$*"
}

# every context, committed and imported, before either builder starts
while read -r line; do
	parse $line
	[ -d "$T/ctx/$c" ] || { ctx "$c" && import_ctx "$c"; } ||
		{ echo "Bail out! cannot commit and import the context of $c"; exit 1; }
done < "$T/cases"

# buildah builds every case in the background, one after the other (its
# vfs driver is slow: this overlaps its builds with govc's); $T/bdone/TAG
# gets the status of the build and export of TAG
mkdir -p "$T/bdone"
(
	while read -r line; do
		parse $line
		rc=0
		bbuild "$c" "$tg" -f "$bfile" ${fmt:+--format docker} $args && bexport "$tg" || rc=$?
		echo $rc > "$T/bdone/$tg.tmp" && mv "$T/bdone/$tg.tmp" "$T/bdone/$tg"
	done < "$T/cases"
) &
bpid=$!

# bwait TAG: wait for buildah's build of TAG (10 minutes at most); true
# if it succeeded
bwait() {
	i=0
	while [ ! -f "$T/bdone/$1" ] && [ $i -lt 3000 ] && kill -0 "$bpid" 2>/dev/null; do
		i=$((i + 1))
		sleep 0.2
	done
	[ -f "$T/bdone/$1" ] && [ "$(cat "$T/bdone/$1")" = 0 ]
}

# run-basics, beyond the tree: how govc's layers say it (whiteouts for
# what RUN deleted, an opaque directory for a directory removed and made
# again, overlay's own marks), and a RUN's layer holds its change only
layer_checks() {
	E=$T/log/entries-run-basics
	if [ $gok = 1 ] && $OCITOOL entries "$T/go:run-basics" > "$E" 2>&1; then
		check "run-basics: RUN rm becomes whiteouts in govc's layers" sh -c "
			grep -q ' bin/.wh.vi\$' '$E' && grep -q ' opt/keep/.wh.del\$' '$E' &&
			grep -q ' opt/.wh.gone\$' '$E' || { grep wh '$E'; exit 1; }"
		check "run-basics: rm -rf dir && mkdir dir becomes an opaque directory" \
			grep -q ' opt/opaque/.wh..wh..opq$' "$E"
		check "run-basics: no layer above the base holds busybox again" sh -c "
			[ \"\$(grep -v '^0 ' '$E' | grep -c ' bin/busybox\$')\" = 0 ]"
	else
		not_ok "run-basics: RUN rm becomes whiteouts in govc's layers (no image)"
		not_ok "run-basics: rm -rf dir && mkdir dir becomes an opaque directory (no image)"
		not_ok "run-basics: no layer above the base holds busybox again (no image)"
	fi
}

exec 3< "$T/cases"
while read -r line <&3; do
	parse $line
	gok=0
	if gbuild "$c" "$tg" $args < /dev/null && gexport "$tg"; then
		gok=1
	fi
	bok=0
	if bwait "$tg"; then
		ok "$tg: buildah builds it"; bok=1
	else
		not_ok "$tg: buildah builds it"; show "$T/log/bbuild-$tg"
	fi
	if [ $gok = 1 ]; then
		ok "$tg: govc builds it"
	else
		not_ok "$tg: govc builds it"; show "$T/log/gbuild-$tg"
	fi
	if [ $bok = 1 ] && [ $gok = 1 ]; then
		check "$tg: the rootfs trees are the same" $TREECMP --no-mtime $ign "$T/bu/$tg" "$T/gu/$tg"
		check "$tg: the configs agree" $OCITOOL cfgcmp $fmt "buildah:$T/bu/$tg.json" "$T/go:$tg"
	else
		not_ok "$tg: the rootfs trees are the same (no image to compare)"
		not_ok "$tg: the configs agree (no image to compare)"
	fi
	[ "$tg" != run-basics ] || layer_checks
done
exec 3<&-
wait "$bpid" || true
bpid=
plan "$test_n"
