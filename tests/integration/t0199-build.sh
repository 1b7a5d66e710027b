#!/bin/sh
# t0199-build.sh - govc build of a repository written through the mount:
# the image appears in the mount and runs under bwrap; an unchanged
# rebuild runs nothing; a one-file change reruns only what reads it; the
# same commit gives the same digest in another store; a failing or
# endless RUN names its line and leaves the previous image; a secret is
# in no layer; a cache mount outlives its build.
set -eu
. "$(dirname "$0")/lib.sh"
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
command -v crun >/dev/null || skip_all "crun is not installed"
command -v umoci >/dev/null || skip_all "umoci is not installed"
[ "$(id -u)" = 0 ] || skip_all "builds need root"
# this test runs its builds itself: the daemon's own (t0210) stay off
MOUNT_OPTS=no_builds
setup
plan 20

# the busybox base
R=$T/bb
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root" "$R/proc" "$R/dev" "$R/sys"
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
chmod 1777 "$R/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$R/etc/group"
umoci init --layout "$T/oci" && umoci new --image "$T/oci:1"
umoci insert --image "$T/oci:1" "$R" / >/dev/null
umoci config --image "$T/oci:1" --config.cmd /bin/sh --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin
"$GOVC" import "$S" "oci:$T/oci:1" busybox:1 >/dev/null

mkdir "$M/repos/app"
echo 'hello from the context' > "$M/repos/app/hello.txt"
echo 'lib v1' > "$M/repos/app/lib.txt"
cat > "$M/repos/app/Govcfile" <<'EOF'
FROM busybox:1
ENV GREETING=hi
WORKDIR /app
COPY hello.txt ./
RUN echo "marker-$GREETING-one" && echo "$GREETING" > greeting && rm /etc/group
RUN --mount=type=cache,target=/cache echo x >> /cache/runs && wc -l < /cache/runs > /app/runs
COPY lib.txt ./
RUN echo "marker-$GREETING-three" && cat lib.txt > lib.copy
USER app
RUN id -u > /tmp/uid
CMD ["/bin/cat", "/app/greeting"]
EOF
wait_for_commit app 1

"$GOVC" build "$S" app > "$T/b1.out" 2> "$T/b1.err"
check "a build of a commit written through the mount succeeds" grep -q "^sha256:" "$T/b1.out"
d1=$(cat "$T/b1.out")
i=0
until [ -f "$M/images/app/rootfs/app/greeting" ] || [ $i -ge 20 ]; do sleep 0.1; i=$((i + 1)); done
check "its image appears in the mount within 2 s" test "$(cat "$M/images/app/rootfs/app/greeting")" = hi
short=$("$GOVC" log "$S" app | head -n 1 | cut -c1-12)
check "tagged latest and the commit's short id" test -d "$M/images/app/tags/$short"
check "RUN's deletion is a whiteout" test ! -e "$M/images/app/rootfs/etc/group"
check "a RUN under USER app writes as app" test "$(cat "$M/images/app/rootfs/tmp/uid")" = 1000
if command -v bwrap >/dev/null; then
	check "the image runs under bwrap" sh -c "bwrap --ro-bind '$M/images/app/rootfs' / --proc /proc --dev /dev /bin/cat /app/hello.txt | grep -q 'hello from the context'"
else
	skip "bwrap is not installed"
fi

# and under crun, from a bundle whose root is the image's rootfs
mkdir -p "$T/bundle" && (cd "$T/bundle" && crun spec)
python3 - "$T/bundle/config.json" "$M/images/app/rootfs" <<'PY'
import json, sys
p, root = sys.argv[1], sys.argv[2]
s = json.load(open(p))
s['root'] = {'path': root, 'readonly': True}
s['process']['terminal'] = False
s['process']['args'] = ['/bin/cat', '/app/greeting']
json.dump(s, open(p, 'w'))
PY
cg=/sys/fs/cgroup/unified/cgroup.controllers
hide=; [ -f "$cg" ] && hide="mount --bind /dev/null $cg &&"
(cd "$T/bundle" && timeout 60 unshare -m --propagation private sh -c "$hide crun --cgroup-manager=disabled run govc-t0199-$$") > "$T/crun.out" 2>&1 || true
check "the built image runs under crun" sh -c "[ \"\$(cat '$T/crun.out')\" = hi ] || { sed 's/^/# /' '$T/crun.out'; exit 1; }"

"$GOVC" build "$S" app > "$T/b2.out" 2> "$T/b2.err"
check "an unchanged rebuild gives the same image" test "$(cat "$T/b2.out")" = "$d1"
check "an unchanged rebuild runs no step" sh -c "! grep -q 'marker-hi' '$T/b2.err' && [ \$(grep -c '  cached' '$T/b2.err') -ge 5 ]"

echo 'lib v2' > "$M/repos/app/lib.txt"
wait_for_commit app 2
sleep 0.5
c3=$("$GOVC" log "$S" app | head -n 1 | cut -f1)
"$GOVC" build --commit "$c3" "$S" app > "$T/b3.out" 2> "$T/b3.err"
check "a change to lib.txt reruns the steps after the COPY that reads it" sh -c "grep -q marker-hi-three '$T/b3.err' && ! grep -q marker-hi-one '$T/b3.err'"
i=0
until grep -q v2 "$M/images/app/rootfs/app/lib.copy" 2>/dev/null || [ $i -ge 20 ]; do sleep 0.1; i=$((i + 1)); done
check "and the mount shows the new image" grep -q 'lib v2' "$M/images/app/rootfs/app/lib.copy"
check "a cache mount keeps what the last build wrote" test "$(cat "$M/images/app/rootfs/app/runs")" = 1

# the same commit in a second store: the same digest
"$GOVC" init "$T/store2" >/dev/null
"$GOVC" import "$T/store2" "oci:$T/oci:1" busybox:1 >/dev/null
"$GOVC" export "$S" app "git:$T/appgit" 2>/dev/null
"$GOVC" import "$T/store2" "git:$T/appgit" app >/dev/null
check "the same commit builds the same digest in another store" test "$("$GOVC" build -q --commit "$c3" "$T/store2" app)" = "$(cat "$T/b3.out")"

# failures leave the previous image
d3=$(cat "$T/b3.out")
printf 'FROM busybox:1\nRUN echo about to fail; exit 3\n' > "$M/repos/app/Govcfile"
wait_for_commit app 3
check_fails "a failing RUN fails the build" "$GOVC" build -q "$S" app
"$GOVC" build -q "$S" app 2> "$T/fail.err" || true
check "its message names the line, the status and the output" sh -c "grep -q 'line 2: RUN' '$T/fail.err' && grep -q 'status 3' '$T/fail.err' && grep -q 'about to fail' '$T/fail.err'"
printf 'FROM busybox:1\nRUN sleep 611\n' > "$M/repos/app/Govcfile"
wait_for_commit app 4
start=$(date +%s)
"$GOVC" build -q --timeout 2 "$S" app 2> "$T/slow.err" || true
check "an endless RUN is killed at --timeout" sh -c "[ \$(( \$(date +%s) - $start )) -lt 30 ] && grep -q 'killed after 2 seconds' '$T/slow.err' && ! pgrep -f 'sleep 61[1]' >/dev/null"
check "and the previous image stays" sh -c "\"$GOVC\" images '$S' | grep '^app ' | grep latest | grep -q \"\$(echo $d3 | cut -c1-19)\""

# a secret is readable in its RUN and nowhere after
echo 'S3CRET-VALUE' > "$T/secret"
printf 'FROM busybox:1\nRUN --mount=type=secret,id=tok test -s /run/secrets/tok && echo seen > /tmp/seen\n' > "$M/repos/app/Govcfile"
wait_for_commit app 5
"$GOVC" build --secret "id=tok,src=$T/secret" "$S" app > "$T/sec.out" 2>&1
i=0
until [ -f "$M/images/app/rootfs/tmp/seen" ] || [ $i -ge 20 ]; do sleep 0.1; i=$((i + 1)); done
check "a secret is readable during its RUN and in no layer, config or log" sh -c "grep -q seen '$M/images/app/rootfs/tmp/seen' && ! grep -rq S3CRET '$M/images/app/rootfs/' '$M/images/app/config.json' '$T/sec.out' '$S/build-cache'"

# a base image's ONBUILD triggers run in the build that uses it
mkdir "$M/repos/onb" "$M/repos/child"
echo 'from the child context' > "$M/repos/child/c.txt"
printf 'FROM busybox:1\nENV D=/trig\nONBUILD WORKDIR $D\nONBUILD COPY c.txt ./\nONBUILD RUN echo triggered > t\n' > "$M/repos/onb/Govcfile"
printf 'FROM onb\nRUN cat /trig/t /trig/c.txt > /both\n' > "$M/repos/child/Govcfile"
wait_for_commit onb 1
wait_for_commit child 1
"$GOVC" build -q "$S" onb > /dev/null 2>&1
"$GOVC" build -q "$S" child > /dev/null 2>&1 || true
i=0
until [ -f "$M/images/child/rootfs/both" ] || [ $i -ge 20 ]; do sleep 0.1; i=$((i + 1)); done
check "ONBUILD triggers of the base run in the child's build, with the child's context" sh -c "grep -q triggered '$M/images/child/rootfs/both' && grep -q 'from the child context' '$M/images/child/rootfs/both' && ! grep -q OnBuild '$M/images/child/config.json'"

# latest follows the current branch: a build of another branch's commit
# gets only its short id
git -C "$T/appgit" checkout -q -b other
printf 'FROM busybox:1\nRUN echo other > /other\n' > "$T/appgit/Govcfile"
git -C "$T/appgit" -c user.email=t@t -c user.name=t commit -qam other
oc=$(git -C "$T/appgit" rev-parse HEAD)
git -C "$T/appgit" checkout -q -
"$GOVC" import "$S" "git:$T/appgit" branchy >/dev/null
"$GOVC" build -q --commit "$oc" "$S" branchy >/dev/null 2>&1
check "a build of a commit off the current branch is tagged with its short id, not latest" sh -c "\"$GOVC\" images '$S' | grep '^branchy ' | grep -q \"$(echo $oc | cut -c1-12)\" && ! \"$GOVC\" images '$S' | grep '^branchy ' | grep -q latest"
