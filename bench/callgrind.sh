#!/usr/bin/env bash
# Instructions a proxied request costs zentinel and the bare Pingora proxy,
# counted by callgrind: the same count for the same binaries and inputs,
# whatever else the machine is doing (wall-clock figures here drift by
# several percent from run to run). Each proxy runs under callgrind with
# one worker; a keep-alive client sends WARMUP requests, the counters are
# zeroed, it sends REQUESTS more, and the counts are dumped.
# Prints instructions, I1 and D1 misses (callgrind's cache simulation) per
# request, and keeps the profiles for callgrind_annotate.
# Usage: bench/callgrind.sh [REQUESTS] [WARMUP]   (defaults 2000, 300).
# Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-2000}"
WARMUP="${2:-300}"

need=""
for tool in valgrind nginx; do command -v "$tool" >/dev/null || need="$need $tool"; done
if [ -n "$need" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind nginx-light
fi
cargo build --release -q -p zenc -p zentinel-runtime
cargo build --release -q -p zentinel-runtime --example bare_pingora

WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
ORIGIN=19110; ZENTINEL=19111; BARE=19112

. bench/setup.sh
start_origin $ORIGIN
build_policy bench $ZENTINEL $ORIGIN

# One keep-alive connection, N requests in turn, each answer read whole.
cat > "$WORK/client.py" <<'PY'
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
buffered = b""
for _ in range(count):
    s.sendall(request)
    while True:
        end = buffered.find(b"\r\n\r\n")
        if end >= 0:
            length = 0
            for line in buffered[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(buffered) >= end + 4 + length:
                buffered = buffered[end + 4 + length:]
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(f"port {port} closed the connection")
        buffered += chunk
PY

profile() { # name port command...: prints instructions and misses a request
    local name=$1 port=$2
    shift 2
    valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$WORK/$name.%p" "$@" 2>"$WORK/$name.valgrind" &
    local pid=$!
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null && break
        sleep 0.3
    done
    python3 "$WORK/client.py" "$port" "$WARMUP"
    callgrind_control -z "$pid" >/dev/null 2>&1
    python3 "$WORK/client.py" "$port" "$REQUESTS"
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill -INT "$pid"; sleep 1; kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    local dump
    dump=$(ls "$WORK/$name".*.1)
    # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    awk -v n="$name" -v r="$REQUESTS" '/^summary:/ {
        printf "%-10s %12.0f %10.0f %10.0f\n", n, $2 / r, $5 / r, ($6 + $7) / r }' "$dump"
    cp "$dump" "/tmp/zentinel-callgrind.$name"
}
printf "%-10s %12s %10s %10s   (a request, mean of %s after %s)\n" proxy instructions "I1 misses" "D1 misses" \
    "$REQUESTS" "$WARMUP"
profile zentinel $ZENTINEL ./target/release/zentinel run "$WORK/bench.zbin" --threads 1 --access-log off \
    --upgrade-sock "$WORK/z.sock"
profile pingora $BARE ./target/release/examples/bare_pingora "127.0.0.1:$BARE" "127.0.0.1:$ORIGIN" 1
echo "profiles: /tmp/zentinel-callgrind.zentinel, /tmp/zentinel-callgrind.pingora (callgrind_annotate)"
