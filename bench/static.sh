#!/usr/bin/env bash
# Static files: zentinel against nginx, one worker each, the same files.
# HTTP/1.1 with wrk (-t1 -c32), HTTP/2 with h2load (cleartext h2c, -c32
# -m10), a small (1 KiB) and a medium (64 KiB) file. nginx runs with
# `open_file_cache` and `open_file_cache_valid 1s`, the staleness bound of
# zentinel's own open-file cache (runtime/src/files.rs), and sendfile on.
# Each server's answer is checked (status and length) before it is timed.
# Rounds alternate the order; the median of each figure is printed, with
# zentinel's ratio to nginx.
# Usage: bench/static.sh [SECONDS] [ROUNDS]   (defaults 5, 3).
# Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-5}"
ROUNDS="${2:-3}"

need=""
command -v wrk >/dev/null || need="$need wrk"
command -v nginx >/dev/null || need="$need nginx-light"
command -v h2load >/dev/null || need="$need nghttp2-client"
command -v curl >/dev/null || need="$need curl"
if [ -n "$need" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need
fi
cargo build --release -q -p zenc -p zentinel-runtime

LAST_CPU=$(( $(nproc) - 1 ))
ON_SERVER_CPU=""; ON_LOAD_CPUS=""
if [ "$LAST_CPU" -ge 1 ]; then
    ON_SERVER_CPU="taskset -c $LAST_CPU"
    ON_LOAD_CPUS="taskset -c 0-$(( LAST_CPU - 1 ))"
fi

WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
ZENTINEL=19140; NGINX=19141; NGINX_H2=19142
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom > "$WORK/www/small.bin"
head -c 65536 /dev/urandom > "$WORK/www/medium.bin"
# nginx's workers run unprivileged: they must be able to read the files.
chmod -R a+rX "$WORK"

cat > "$WORK/static.zen" <<ZEN
listen "127.0.0.1:$ZENTINEL" http2

route files {
    static "$WORK/www"
}
ZEN
./target/release/zenc build "$WORK/static.zen" -o "$WORK/static.zbin" >/dev/null
$ON_SERVER_CPU ./target/release/zentinel run "$WORK/static.zbin" --threads 1 --access-log off \
    --upgrade-sock "$WORK/z.sock" 2>/dev/null &
ZENTINEL_PID=$!

cat > "$WORK/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; sendfile on; tcp_nopush on;
  open_file_cache max=10000 inactive=20s; open_file_cache_valid 1s; open_file_cache_errors on;
  types { application/octet-stream bin; }
  server { listen 127.0.0.1:$NGINX; root $WORK/www; }
  # nginx speaks cleartext HTTP/2 (prior knowledge) on a port of its own.
  server { listen 127.0.0.1:$NGINX_H2 http2; root $WORK/www; } }
CONF
$ON_SERVER_CPU nginx -c "$WORK/nginx.conf" -p "$WORK" &
sleep 2

for file in small:1024 medium:65536; do
    name=${file%%:*}; size=${file##*:}
    for port in $ZENTINEL $NGINX; do
        got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/$name.bin" || true)
        [ "$got" = "200 $size" ] || { echo "port $port /$name.bin answered '$got', not '200 $size'" >&2; exit 1; }
    done
    for port in $ZENTINEL $NGINX_H2; do
        got=$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code} %{size_download}' "http://127.0.0.1:$port/$name.bin" || true)
        [ "$got" = "2 200 $size" ] || { echo "port $port /$name.bin over h2c answered '$got'" >&2; exit 1; }
    done
done

h1() { # port file -> requests/s
    $ON_LOAD_CPUS wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$1/$2" | awk '/Requests\/sec/ {print $2}'
}
h2() { # port file -> requests/s
    $ON_LOAD_CPUS h2load -c32 -m10 -D "$SECONDS_PER_RUN" "http://127.0.0.1:$1/$2" 2>/dev/null \
        | awk '/^finished in/ {gsub(",", "", $4); print $4}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "one worker each, $(nproc) cores:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); ${SECONDS_PER_RUN}s x $ROUNDS rounds"
: > "$WORK/runs"
for round in $(seq "$ROUNDS"); do
    order="zentinel nginx"
    [ $((round % 2)) = 0 ] && order="nginx zentinel"
    for server in $order; do
        port=$ZENTINEL; port2=$ZENTINEL
        [ "$server" = nginx ] && { port=$NGINX; port2=$NGINX_H2; }
        for file in small.bin medium.bin; do
            echo "$server h1 $file $(h1 $port $file)" >> "$WORK/runs"
            echo "$server h2 $file $(h2 $port2 $file)" >> "$WORK/runs"
        done
    done
done
printf '%-6s %-10s %12s %12s %8s\n' proto file zentinel nginx ratio
for proto in h1 h2; do
    for file in small.bin medium.bin; do
        z=$(awk -v p=$proto -v f=$file '$1=="zentinel" && $2==p && $3==f {print $4}' "$WORK/runs" | median)
        n=$(awk -v p=$proto -v f=$file '$1=="nginx" && $2==p && $3==f {print $4}' "$WORK/runs" | median)
        printf '%-6s %-10s %12.0f %12.0f %7.2fx\n' "$proto" "$file" "$z" "$n" "$(echo "$z / $n" | bc -l)"
    done
done

# A 1 GiB file (sparse: the disk is not the subject) downloaded whole: the
# most memory zentinel held, before and after, from the kernel's count.
truncate -s 1G "$WORK/www/huge.bin"
hwm() { awk '/VmHWM/ {print $2}' "/proc/$ZENTINEL_PID/status"; }
before=$(hwm)
got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$ZENTINEL/huge.bin" || true)
[ "$got" = "200 1073741824" ] || { echo "the 1 GiB download answered '$got'" >&2; exit 1; }
echo "1 GiB download: peak RSS ${before} KiB before, $(hwm) KiB after"

