#!/usr/bin/env bash
# What `compress` costs: one zentinel worker serving a 64 KiB text file
# (JSON-like, compressible) through a `compress` route, wrk -t1 -c32 asking
# for each coding in turn (identity, gzip, br, zstd). Prints requests/s, the
# uncompressed bytes a second the one core encodes, and the size sent.
# The levels are fixed in runtime/src/compress.rs (gzip 5, br 4, zstd 3).
# Usage: bench/compress.sh [SECONDS]   (default 5). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-5}"
command -v wrk >/dev/null || {
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk
}
cargo build --release -q -p zenc -p zentinel-runtime

LAST_CPU=$(( $(nproc) - 1 ))
ON_SERVER_CPU=""; ON_LOAD_CPUS=""
if [ "$LAST_CPU" -ge 1 ]; then
    ON_SERVER_CPU="taskset -c $LAST_CPU"
    ON_LOAD_CPUS="taskset -c 0-$(( LAST_CPU - 1 ))"
fi
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=19150
mkdir -p "$WORK/www"
python3 - "$WORK/www/data.json" <<'PY'
import json, random, sys
random.seed(7)
rows = [{"id": i, "name": f"user-{random.randint(0, 99999)}", "active": random.random() < 0.5,
         "score": round(random.random() * 1000, 2), "tags": random.sample(["a", "b", "c", "d", "e"], 2)}
        for i in range(10000)]
text = json.dumps(rows)[:65536]
open(sys.argv[1], "w").write(text)
PY
cat > "$WORK/c.zen" <<ZEN
listen "127.0.0.1:$PORT"

route files {
    static "$WORK/www"
    compress
}
ZEN
./target/release/zenc build "$WORK/c.zen" -o "$WORK/c.zbin" >/dev/null
$ON_SERVER_CPU ./target/release/zentinel run "$WORK/c.zbin" --threads 1 --access-log off \
    --upgrade-sock "$WORK/u.sock" 2>/dev/null &
sleep 1
URL="http://127.0.0.1:$PORT/data.json"
printf '%-9s %10s %16s %12s\n' coding "req/s" "input MB/s" "bytes sent"
for coding in identity gzip br zstd; do
    size=$(curl -s -H "accept-encoding: $coding" -o /dev/null -w '%{size_download}' "$URL")
    rps=$($ON_LOAD_CPUS wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" -H "accept-encoding: $coding" "$URL" \
        | awk '/Requests\/sec/ {print $2}')
    printf '%-9s %10.0f %16.1f %12s\n' "$coding" "$rps" "$(echo "$rps * 65536 / 1000000" | bc -l)" "$size"
done
