#!/bin/sh
# bench-build.sh - `govc build` against `buildah bud` (Debian's buildah,
# --isolation chroot --layers, with its vfs and its overlay storage
# drivers) on the same Govcfiles, the same contexts and the same base
# image, in one run; prints medians and the ratios govc/buildah.
#
#   bench/bench-build.sh                  RUNS=5, about 4-6 minutes
#   BENCH_QUICK=1 bench/bench-build.sh    RUNS=2, a smoke run, about 2 minutes
#
# Workloads (written by this script into WORKDIR):
#   testbed  TESTBED.md's Govcfile (section 3): two stages, WORKDIR, ENV,
#            COPY of one file, two RUNs, COPY --from, USER, EXPOSE, VOLUME,
#            ENTRYPOINT, CMD; the changed file is hello.txt (read by the
#            first stage's COPY)
#   app      a "package install" RUN making 300 files, COPY of 200 source
#            files of ~4 KiB, a "compile" RUN reading them all, a second
#            stage with COPY --from, COPY of a config directory and a RUN;
#            the changed file is src/f007.c
# On the base image of tests/integration/buildlib.sh: busybox-static with
# every applet linked, imported into govc from an OCI layout that buildah
# pushed, pulled from that layout into each buildah store.
#
# Scenarios, each a hyperfine median of RUNS runs (PREPARE outside the
# time):
#   cold       a fresh store with the base image only: govc init + import
#              of the base and the repository; buildah: a new storage root
#              (its containers and images removed first) with the base
#              pulled in.  govc's cold build includes unpacking the base's
#              layers into its build cache; buildah's vfs copies the base
#              per step, its overlay mounts it.
#   no-change  the same build again, nothing changed (one warm-up run)
#   one-file   the changed file gets new content before each run: for govc
#              a new commit of the git repository, brought in with
#              rm-repo + import (outside the time); for buildah the file in
#              its context directory
# Without hyperfine, /usr/bin/time (or date) times each run and the median
# is taken the same way.
#
# Targets (issue 17): cold <= 1.0x buildah's, no-change < 0.2 s, one-file
# <= 0.5x buildah's; "met" is judged against both of buildah's drivers.
#
# GOVC names the binary (default tools/govc of this tree; use a release
# build), RUNS the runs per median, WORKDIR the scratch directory (default
# /var/tmp/govc-bench-build, removed at the end), WORKLOADS the workloads
# ("testbed app").  Needs root, buildah, skopeo, git, busybox-static,
# python3, and crun for govc's RUN steps.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
GOVC=${GOVC:-$top/tools/govc}
if [ "${BENCH_QUICK:-0}" = 1 ]; then RUNS=${RUNS:-2}; else RUNS=${RUNS:-5}; fi
WORKDIR=${WORKDIR:-/var/tmp/govc-bench-build}
WORKLOADS=${WORKLOADS:-testbed app}
DRIVERS="vfs overlay"
if [ "$(id -u)" != 0 ]; then
	echo "bench-build.sh: run as root (builds mount overlays)" >&2
	exit 1
fi
for t in buildah git python3 crun; do
	command -v "$t" >/dev/null || { echo "bench-build.sh: $t is missing; run tools/install-deps.sh" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "bench-build.sh: busybox-static is missing; run tools/install-deps.sh" >&2; exit 1; }
[ -x "$GOVC" ] || { echo "bench-build.sh: no govc at $GOVC; build first or set GOVC" >&2; exit 1; }
"$GOVC" build --help >/dev/null 2>&1 || { echo "bench-build.sh: $GOVC has no build command" >&2; exit 1; }
HF=1
command -v hyperfine >/dev/null || HF=0

umask 022
mkdir -p "$WORKDIR"
# lower case: buildah names an image pulled from oci:DIR after DIR
B=$WORKDIR/run-$$
rm -rf "$B" && mkdir "$B"
export B GOVC
GIT="git -c user.name=bench -c user.email=bench@localhost -c init.defaultBranch=main"
export GIT
# ba DRIVER ARGS...: buildah on the store of DRIVER
ba() { d=$1; shift; buildah --root "$B/ba-$d/root" --runroot "$B/ba-$d/run" --storage-driver "$d" "$@"; }
ba_wipe() {	# ba_wipe DRIVER: an empty store (containers first: EBUSY else)
	ba "$1" rm --all >/dev/null 2>&1 || true
	ba "$1" rmi --all -f >/dev/null 2>&1 || true
	grep -q " $B/ba-$1/" /proc/mounts && umount -R -l "$B/ba-$1/root" 2>/dev/null
	rm -rf "$B/ba-$1"
}
cleanup() {
	for d in $DRIVERS; do [ -d "$B/ba-$d" ] && ba_wipe "$d"; done
	if grep -q " $B/" /proc/mounts; then
		echo "bench-build.sh: something is still mounted under $B; not removing it" >&2
	else
		rm -rf "$B"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
now() { date +%s.%N; }
tstart=$(now)

echo "govc build bench: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1)), $(uname -r)," \
	"runs=$RUNS, $( [ $HF = 1 ] && echo "hyperfine $(hyperfine --version | cut -d' ' -f2)" || echo "no hyperfine: /usr/bin/time")"
echo "govc: $GOVC ($(cd "$top" && git describe --always --dirty 2>/dev/null || echo unknown));" \
	"$(buildah --version); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---- the base image ---------------------------------------------------------
R=$B/base/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root" "$R/proc" "$R/dev" "$R/sys" "$R/run"
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
chmod 1777 "$R/tmp"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' > "$R/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > "$R/etc/group"
echo '127.0.0.1 localhost' > "$R/etc/hosts"
: > "$R/etc/resolv.conf"
echo bb > "$R/etc/hostname"
tar -C "$R" --numeric-owner --owner=0 --group=0 -cf "$B/base/rootfs.tar" .
c=$(ba vfs from scratch)
ba vfs add "$c" "$B/base/rootfs.tar" / >/dev/null
ba vfs config --cmd /bin/sh --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --os linux --arch amd64 "$c"
ba vfs commit -q --format oci "$c" localhost/bb:latest >/dev/null
ba vfs push -q localhost/bb:latest "oci:$B/base/oci:bb"
ba_wipe vfs

# ---- the workloads ----------------------------------------------------------
mkdir -p "$B/ctx/testbed" "$B/ctx/app/src" "$B/ctx/app/config"
echo "file from context" > "$B/ctx/testbed/hello.txt"
cat > "$B/ctx/testbed/Govcfile" <<'EOF'
FROM bb AS build
ENV GREETING=hello
WORKDIR /src
COPY hello.txt /src/
RUN echo "$GREETING from build" > /src/out.txt && cat /src/hello.txt >> /src/out.txt && ls -la /src

FROM bb
ARG VERSION=1
LABEL version=$VERSION
COPY --from=build /src/out.txt /app/out.txt
RUN echo "app:x:1000:1000::/home/app:/bin/sh" >> /etc/passwd && mkdir -p /home/app && chown 1000 /home/app
USER app
EXPOSE 8080
VOLUME /data
ENTRYPOINT ["/bin/sh","-c"]
CMD ["cat /app/out.txt"]
EOF
python3 - "$B/ctx/app" <<'EOF'
import os, random, sys
d = sys.argv[1]
r = random.Random(17)
words = ["int", "return", "static", "void", "char", "for", "if", "while", "size_t", "struct"]
for i in range(200):
    with open(os.path.join(d, "src", "f%03d.c" % i), "w") as f:
        while f.tell() < 4096:
            f.write(" ".join(r.choice(words) for _ in range(12)) + ";\n")
for n in ("app.conf", "db.conf", "log.conf"):
    with open(os.path.join(d, "config", n), "w") as f:
        f.write("%s=1\n" % n)
EOF
cat > "$B/ctx/app/Govcfile" <<'EOF'
FROM bb AS build
RUN mkdir -p /usr/share/pkg && i=0; while [ $i -lt 300 ]; do echo "file $i" > /usr/share/pkg/f$i; i=$((i + 1)); done
WORKDIR /src
COPY src/ ./
RUN for f in *.c; do md5sum "$f"; done > /src/objects.txt && cat *.c | wc -l > /src/lines.txt

FROM bb
COPY --from=build /src/objects.txt /src/lines.txt /app/
COPY config/ /etc/app/
RUN sha256sum /app/* > /app/SUMS
CMD ["cat", "/app/SUMS"]
EOF
changed() { case $1 in testbed) echo hello.txt ;; app) echo src/f007.c ;; esac; }
for w in $WORKLOADS; do
	(cd "$B/ctx/$w" && $GIT init -q && $GIT add -A && $GIT commit -q -m "$w")
done

# ---- the steps, as scripts (hyperfine runs them through sh) -------------------
# govc: a fresh store with the base and the repository
cat > "$B/govc-fresh.sh" <<'EOF'
set -e
S=$B/store-$1
rm -rf "$S"
"$GOVC" init "$S" >/dev/null
"$GOVC" import "$S" "oci:$B/base/oci:bb" bb:latest >/dev/null
"$GOVC" import "$S" "git:$B/ctx/$1" "$1" >/dev/null
sync
EOF
cat > "$B/govc-build.sh" <<'EOF'
exec "$GOVC" build -q "$B/store-$1" "$1" >/dev/null
EOF
# govc: a new commit changing one file, in the repository
cat > "$B/govc-touch.sh" <<'EOF'
set -e
S=$B/store-$1
echo "changed $(date +%s%N)" >> "$B/ctx/$1/$2"
(cd "$B/ctx/$1" && $GIT commit -q -am "change $2")
"$GOVC" rm-repo "$S" "$1" --yes >/dev/null
"$GOVC" import "$S" "git:$B/ctx/$1" "$1" >/dev/null
sync
EOF
# buildah: a fresh store of driver $2 with the base
cat > "$B/ba-fresh.sh" <<'EOF'
set -e
ba() { buildah --root "$B/ba-$d/root" --runroot "$B/ba-$d/run" --storage-driver "$d" "$@"; }
d=$2
ba rm --all >/dev/null 2>&1 || true
ba rmi --all -f >/dev/null 2>&1 || true
rm -rf "$B/ba-$d"
id=$(ba pull -q "oci:$B/base/oci:bb")
ba tag "$id" localhost/bb:latest
sync
EOF
cat > "$B/ba-build.sh" <<'EOF'
d=$2
cd "$B/ctx/$1" && exec buildah --root "$B/ba-$d/root" --runroot "$B/ba-$d/run" --storage-driver "$d" \
	bud --isolation chroot --layers -q -f Govcfile -t "localhost/$1" . >/dev/null
EOF
cat > "$B/ba-touch.sh" <<'EOF'
echo "changed $(date +%s%N)" >> "$B/ctx/$1/$2"
sync
EOF

# measure PREPARE CMD: the median seconds of RUNS runs of CMD, PREPARE
# (may be empty) before each; with WARMUP=1 one unmeasured run first
measure() {
	if [ $HF = 1 ]; then
		set -- --prepare "${1:-true}" "$2"
		[ "${WARMUP:-0}" = 1 ] && set -- --warmup 1 "$@"
		hyperfine --style none -N --export-json "$B/hf.json" --runs "$RUNS" "$@" \
			>/dev/null 2>"$B/hf.err" || { cat "$B/hf.err" >&2; return 1; }
		python3 -c 'import json, statistics, sys
print("%.3f" % statistics.median(json.load(open(sys.argv[1]))["results"][0]["times"]))' "$B/hf.json"
	else
		[ "${WARMUP:-0}" = 1 ] && { sh -c "$2" >/dev/null 2>&1 || return 1; }
		: > "$B/times"
		i=0
		while [ $i -lt "$RUNS" ]; do
			[ -z "$1" ] || sh -c "$1" >/dev/null 2>&1 || return 1
			t0=$(now)
			sh -c "$2" >/dev/null 2>&1 || return 1
			awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.3f\n", b - a}' >> "$B/times"
			i=$((i + 1))
		done
		sort -n "$B/times" | awk '{v[NR] = $1} END {printf "%.3f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
	fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# ---- the runs -------------------------------------------------------------------
# results: WORKLOAD SCENARIO BUILDER SECONDS, one a line, in $B/results
: > "$B/results"
# scenarios WORKLOAD BUILDER FRESH BUILD TOUCH: BUILD timed cold (FRESH
# before each run), with no change (after a warm-up) and after a one-file
# change (TOUCH before each run), into $B/results
scenarios() {
	t=$(measure "$3" "$4")
	echo "$1 cold $2 $t" >> "$B/results"
	t=$(WARMUP=1 measure "" "$4")
	echo "$1 no-change $2 $t" >> "$B/results"
	t=$(measure "$5" "$4")
	echo "$1 one-file $2 $t" >> "$B/results"
}
for w in $WORKLOADS; do
	f=$(changed "$w")
	echo "($w: govc)"
	scenarios "$w" govc "sh $B/govc-fresh.sh $w" "sh $B/govc-build.sh $w" \
		"sh $B/govc-touch.sh $w $f"
	d1=$("$GOVC" build -q "$B/store-$w" "$w")
	rm -rf "$B/store-$w"
	for d in $DRIVERS; do
		echo "($w: buildah $d)"
		scenarios "$w" "buildah-$d" "sh $B/ba-fresh.sh $w $d" "sh $B/ba-build.sh $w $d" \
			"sh $B/ba-touch.sh $w $f"
		ba_wipe "$d"
	done
	echo "($w: govc's last image $d1)"
done
echo

# ---- summary -------------------------------------------------------------------
get() { awk -v w="$1" -v s="$2" -v b="$3" '$1 == w && $2 == s && $3 == b {print $4}' "$B/results"; }
printf '%-9s %-10s %9s %13s %7s %17s %7s  %s\n' workload scenario govc "buildah vfs" ratio "buildah overlay" ratio target
for w in $WORKLOADS; do
	for s in cold no-change one-file; do
		g=$(get "$w" "$s" govc) v=$(get "$w" "$s" buildah-vfs) o=$(get "$w" "$s" buildah-overlay)
		rv=$(ratio "$g" "$v") ro=$(ratio "$g" "$o")
		case $s in
		cold) tgt="<= 1.0x: $(awk -v a="$rv" -v b="$ro" 'BEGIN {print (a <= 1.0 && b <= 1.0) ? "met" : (a <= 1.0 ? "met vs vfs only" : "NOT met")}')" ;;
		no-change) tgt="< 0.2 s: $(awk -v a="$g" 'BEGIN {print (a < 0.2) ? "met" : "NOT met"}')" ;;
		one-file) tgt="<= 0.5x: $(awk -v a="$rv" -v b="$ro" 'BEGIN {print (a <= 0.5 && b <= 0.5) ? "met" : (a <= 0.5 ? "met vs vfs only" : "NOT met")}')" ;;
		esac
		printf '%-9s %-10s %7s s %11s s %6sx %15s s %6sx  %s\n' "$w" "$s" "$g" "$v" "$rv" "$o" "$ro" "$tgt"
	done
done
echo
echo "ratio: govc's median over buildah's (below 1x: govc is faster); medians of $RUNS runs;" \
	"buildah bud --isolation chroot --layers; govc build -q; a fresh store before each cold run"
cleanup
trap - EXIT
echo "whole bench: $(awk -v a="$tstart" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}') s"
