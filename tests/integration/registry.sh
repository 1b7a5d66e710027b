# registry.sh - helpers for the registry tests, sourced after lib.sh:
# a real `docker-registry` (the CNCF distribution registry) on 127.0.0.1
# with a free port, its data under $T, stopped by its pid in cleanup.
#
#	reg_start NAME [YAML]	start registry NAME (data $T/reg-NAME) with
#				YAML added to its config; sets $REG (host:port)
#	reg_log NAME		its log (the access log too)
#	free_port		a TCP port nobody listens on

command -v docker-registry >/dev/null || skip_all "docker-registry is not installed"
command -v skopeo >/dev/null || skip_all "skopeo is not installed"
command -v python3 >/dev/null || skip_all "python3 is not installed"

REG_PIDS=
reg_cleanup() {
	for p in $REG_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $REG_PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
	done
	REG_PIDS=
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something listens on 127.0.0.1:PORT (5 s at most)
wait_port() {
	python3 - "$1" <<'PY'
import socket, sys, time
end = time.monotonic() + 5
while time.monotonic() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

reg_start() {
	d=$T/reg-$1
	mkdir -p "$d/data"
	port=${REG_PORT:-$(free_port)}
	{
		echo "version: 0.1"
		echo "log: {level: info, accesslog: {disabled: false}}"
		echo "storage:"
		echo "  filesystem: {rootdirectory: $d/data}"
		echo "  delete: {enabled: true}"
		echo "http:"
		echo "  addr: 127.0.0.1:$port"
		[ $# -lt 2 ] || printf '%s\n' "$2"
	} > "$d/config.yml"
	docker-registry serve "$d/config.yml" >> "$d/registry.log" 2>&1 &
	echo $! > "$d/pid"
	REG_PIDS="$REG_PIDS $!"
	wait_port "$port" || { echo "Bail out! registry $1 did not start"; cat "$d/registry.log"; exit 1; }
	REG=127.0.0.1:$port
}

reg_stop() {
	kill "$(cat "$T/reg-$1/pid")" 2>/dev/null || true
	sleep 0.3
}

reg_log() { cat "$T/reg-$1/registry.log"; }

# blob_gets NAME: how many blob GETs registry NAME has answered
blob_gets() { grep -c '"GET /v2/[^ ]*/blobs/sha256' "$T/reg-$1/registry.log" || true; }

# reg_trap: after setup, stop the registries before lib.sh's cleanup
reg_trap() {
	trap 'rc=$?; reg_cleanup; cleanup $rc; [ $rc -ne 0 ] && exit $rc; exit $test_failed' EXIT
}

# wait_for PATH: until PATH exists (SECONDS, default 1, at most)
wait_for() {
	n=$(awk "BEGIN { print int(${2:-1} * 20) }")
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		[ $i -le "$n" ] || return 1
		sleep 0.05
	done
}

# blob_digests DIR: "digest size" of every blob of the OCI layout DIR
blob_digests() { (cd "$1/blobs/sha256" && for f in *; do echo "$(sha256sum < "$f" | cut -c1-64) $f"; done) | sort; }
