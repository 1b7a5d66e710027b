#!/bin/sh
# t0017-events-trim: the event log is trimmed to its limit (-o
# events_max_kb); offsets stay absolute, so a reader tailing MNT/events
# reads on, and one that fell behind the trimmed part is told so.
set -eu
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"
MOUNT_OPTS=events_max_kb=1
setup
plan 4

# tail: read the log from OFFSET (the first argument) to its end, check each
# line is JSON, print the new offset, the types seen and the last event
cat > "$T/tail.py" <<'PY'
import json, sys
with open(sys.argv[1], "rb") as f:
    f.seek(int(sys.argv[2]))
    data = f.read()
types = [json.loads(l)["type"] for l in data.decode().splitlines()]
print(int(sys.argv[2]) + len(data), ",".join(sorted(set(types))), json.dumps(json.loads(data.decode().splitlines()[-1])) if types else "")
PY
mkdir "$M/repos/a0"
set -- $(python3 "$T/tail.py" "$M/events" 0)
start=$1
for i in $(seq 1 40); do mkdir "$M/repos/a$i"; done
size=$(stat -c %s "$M/events")
check "offsets stay absolute: the log grew past its 1 KiB limit ($size bytes)" [ "$size" -gt 2048 ]
out=$(python3 "$T/tail.py" "$M/events" "$start")
check "a reader behind the trimmed part is told, and reads on to the newest ($out)" \
	sh -c "echo '$out' | grep -q ' repo,trimmed ' && echo '$out' | grep -q '\"repo\": \"a40\"'"
check "the log keeps about its limit" \
	sh -c "[ \$(python3 '$T/tail.py' '$M/events' 0 | cut -d' ' -f1) = $size ] && grep -c '\"type\":\"repo\"' '$M/events' | awk '\$1 >= 8 && \$1 <= 20 { ok = 1 } END { exit !ok }'"
"$GOVC" umount "$M"
"$GOVC" mount -o commit_delay=200 "$S" "$M"
check "the limit stays with the store" sh -c "mkdir '$M/repos/b' && grep -c '\"type\":\"repo\"' '$M/events' | awk '\$1 <= 20 { ok = 1 } END { exit !ok }'"
