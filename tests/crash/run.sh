#!/bin/sh
# run.sh - the crash-state explorer on a short workload (issue: power-loss
# integrity).  A store is mounted with record.so preloaded into its daemon;
# files are written, renamed and removed through the mount, commits happen,
# one file is fsync'd; then explore.py rebuilds the states a power loss at
# any recorded instant could leave, and checks each with govc fsck (and,
# after the fsync returned, that the fsync'd file's commit is there).
#     tests/crash/run.sh GOVC [STATES]
set -eu
GOVC=$1
STATES=${2:-100}
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/govc-crash.XXXXXX)
trap '"$GOVC" umount --force "$T/m" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
cc -shared -fPIC -O1 -o "$T/record.so" "$here/record.c" -ldl -lpthread
mkdir "$T/m"
"$GOVC" init "$T/s" >/dev/null
sync
cp -a "$T/s" "$T/initial"
GOVC_CRASH_DIR=$T/s GOVC_CRASH_LOG=$T/log LD_PRELOAD=$T/record.so \
	"$GOVC" mount -o commit_delay=200,commit_max=500 "$T/s" "$T/m"
R=$T/m/repos/x
mkdir "$R"
for i in 1 2 3 4 5 6; do
	echo "line $i" > "$R/f$i"
	head -c 70000 /dev/urandom > "$R/big$i"
done
mv "$R/f1" "$R/g1"
sleep 1.2
python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'fsync me'); os.fsync(fd); os.close(fd)" "$R/synced"
durable=$(stat -c %s "$T/log")	# the fsync had returned by this offset
for i in 1 2 3; do echo more > "$R/h$i"; rm "$R/big$i"; done
mkdir "$R/d" && mv "$R/f2" "$R/d/f2"
sleep 1.2
"$GOVC" umount "$T/m"
python3 "$here/explore.py" "$GOVC" "$T/initial" "$T/log" --root "$T/s" --states "$STATES" \
	--durable "$durable" x synced
