#!/bin/sh
# t0201-build-errors: bad Govcfiles and failing steps.  Each bad build of
# tests/build/errors/bad-*.Govcfile (--file) into the tag of an image built
# before exits non-zero with a message naming the Govcfile line, and leaves
# every image of the store as it was (the tag keeps its digest, no tag is
# added); the store passes fsck at the end.  Cases: an unknown instruction,
# an unterminated quote, an unterminated heredoc, COPY of a path outside
# the context and of a missing one, FROM of an image the store does not
# have, FROM --platform of a platform the image is not, a RUN that fails (its exit status and the end of its output in the
# message), a RUN that never ends (--timeout 2: it stops in seconds and
# leaves no process behind).  And COPY through symlinks of the commit that
# point out of the context never reads the host's files.
set -eu
. "$(dirname "$0")/buildlib.sh"
build_setup
make_base umoci
plan 32

check "govc has a build command" have_build
HOSTSIDE=$T/hostside
export HOSTSIDE
mkdir -p "$HOSTSIDE/dir"
echo 'host-file-marker-t0201' > "$HOSTSIDE/file"
echo 'host-dir-marker-t0201' > "$HOSTSIDE/dir/inside"
ctx errors
import_ctx errors
check "the good Govcfile builds" gbuild errors errs
"$GOVC" images --no-trunc "$S" > "$T/images.before" 2>&1 || true
check "its image is tagged errs:latest" sh -c "grep -Eq '^errs +latest +sha256:' '$T/images.before'"

# bad FILE LINE DESC [ARGS...]: building FILE fails, names LINE, changes
# no image
bad() {
	f=$1 line=$2 desc=$3; shift 3
	tg=errs
	t0=$(date +%s)
	if gbuild errors "$tg" --file "$f" "$@" < /dev/null; then
		not_ok "$desc: the build fails (it succeeded)"; show "$T/log/gbuild-$tg"
	elif grep -Eq "(line |Govcfile:|$f:)$line([^0-9]|\$)" "$T/log/gbuild-$tg"; then
		ok "$desc: the build fails naming line $line"
	else
		not_ok "$desc: the build fails naming line $line"; show "$T/log/gbuild-$tg"
	fi
	took=$(($(date +%s) - t0))
	cp "$T/log/gbuild-$tg" "$T/log/bad-$f"
	"$GOVC" images --no-trunc "$S" > "$T/images.after" 2>&1 || true
	check "$desc: every image and tag is as it was" diff "$T/images.before" "$T/images.after"
}

bad bad-unknown.Govcfile 3 "an unknown instruction (RUNN)"
check "the message names the instruction" grep -q RUNN "$T/log/bad-bad-unknown.Govcfile"
bad bad-quote.Govcfile 3 "an unterminated quote"
bad bad-heredoc.Govcfile 4 "an unterminated heredoc"
bad bad-outside.Govcfile 4 "COPY of ../../../../../etc/passwd (outside the context)"
bad bad-missing.Govcfile 4 "COPY of a missing file"
check "the message names the missing path" grep -q no-such-file.txt "$T/log/bad-bad-missing.Govcfile"
bad bad-from.Govcfile 2 "FROM of an image the store does not have"
check "the message names the image" grep -q no-such-image "$T/log/bad-bad-from.Govcfile"
bad bad-platform.Govcfile 2 "FROM --platform=linux/s390x of an image of another platform"
check "the message names both platforms" sh -c "
	grep -q 'linux/s390x' '$T/log/bad-bad-platform.Govcfile' &&
	grep -Eq 'is linux/(amd64|arm64)' '$T/log/bad-bad-platform.Govcfile'"
bad bad-run.Govcfile 4 "a RUN that exits 7"
check "the message has the exit status and the end of the RUN's output" sh -c "
	grep -Eiq '(exit|status|code)[^0-9]{0,20}7([^0-9]|\$)' '$T/log/bad-bad-run.Govcfile' &&
	grep -q err-marker '$T/log/bad-bad-run.Govcfile'"
check "no step after the failed one ran" sh -c "! grep -q '^after\$' '$T/log/bad-bad-run.Govcfile'"
bad bad-timeout.Govcfile 4 "a RUN that never ends, with --timeout 2" --timeout 2
check "it stops within 30 seconds" test "$took" -lt 30
# a process of the build left running would show here (the pattern is
# built so that this shell's own command line does not hold it)
sleeper=$(grep -l "98765[4]" /proc/[0-9]*/cmdline 2>/dev/null | head -n 3 || true)
check "and leaves no process behind" test -z "$sleeper"

# symlinks of the commit leading to the host's files: the build fails, or
# copies the links as they are; never the files behind them
if gbuild errors symlinks --file bad-symlink.Govcfile < /dev/null; then
	gexport symlinks
	check "COPY through symlinks out of the context copies no host file" sh -c "
		! $OCITOOL find '$T/go:symlinks' host-file-marker-t0201 &&
		! $OCITOOL find '$T/go:symlinks' host-dir-marker-t0201"
else
	check "COPY through symlinks out of the context fails (or copies no host file)" \
		sh -c "! grep -q 'host-.*-marker' '$T/log/gbuild-symlinks'"
fi
ARCH=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
check "FROM --platform=linux/$ARCH of an image of that platform builds" \
	gbuild errors plat --file platform.Govcfile --build-arg P=linux/$ARCH
check "the store passes fsck" "$GOVC" fsck "$S"
