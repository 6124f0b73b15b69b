#!/usr/bin/env bash
# Compile and start-up figures for generated policies of 10 to 10,000 routes:
# `zenc build` wall time and peak memory, the artifact's size, and the time
# from starting `zentinel run` to its first answered request.
# Usage: bench/compile.sh. Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || {
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time
}
cargo build --release -q -p zenc -p zentinel-runtime
cargo build --release -q -p zenc --example synth
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

printf "%8s %12s %14s %12s %16s\n" routes "build (s)" "peak RSS (MiB)" "artifact" "start->first (ms)"
for routes in 10 100 1000 10000; do
    port=$(free_port)
    ./target/release/examples/synth "$routes" \
        | sed -e "s/127.0.0.1:8080/127.0.0.1:$port/" -e '/^admin /d' > "$WORK/p$routes.zen"
    # A route every generated policy's requests can reach, to time the first answer.
    printf 'route bench_ping {\n    priority 9999\n    path "/bench-ping"\n    respond 200\n}\n' >> "$WORK/p$routes.zen"
    /usr/bin/time -f "%e %M" -o "$WORK/time" ./target/release/zenc build "$WORK/p$routes.zen" -o "$WORK/p$routes.zbin" >/dev/null
    read -r secs kib < "$WORK/time"
    size=$(stat -c %s "$WORK/p$routes.zbin")
    start=$(date +%s%N)
    ./target/release/zentinel run "$WORK/p$routes.zbin" --threads 1 --access-log /dev/null \
        --upgrade-sock "$WORK/upgrade.sock" 2>/dev/null &
    pid=$!
    until curl -s -o /dev/null "http://127.0.0.1:$port/bench-ping"; do
        kill -0 $pid 2>/dev/null || { echo "zentinel did not start" >&2; exit 1; }
        sleep 0.001
    done
    first=$(( ($(date +%s%N) - start) / 1000000 ))
    kill -INT $pid; wait $pid 2>/dev/null || true
    printf "%8s %12s %14.1f %11.1fK %16s\n" "$routes" "$secs" "$(echo "$kib / 1024" | bc -l)" "$(echo "$size / 1024" | bc -l)" "$first"
done
