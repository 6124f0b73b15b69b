#!/usr/bin/env bash
# Proxy throughput and latency on loopback: zentinel, a bare Pingora proxy
# (the ceiling for anything on Pingora), nginx and HAProxy, one worker
# each, the same origin (nginx returning a small body), wrk -t1 -c32.
# Interleaved rounds, every other one in reverse order; the median of each
# figure is reported, because a shared machine drifts between runs, with
# the CPU time each proxy spent a request (user + system, from /proc), and
# the median of zentinel's round-by-round ratios to bare Pingora.
# Every proxy runs on the last CPU and wrk and the origin on the others,
# so that each proxy has a core of its own and nothing else on it; PIN=0
# leaves placement to the scheduler.
# Then the memory each holds for 10,000 idle keep-alive client connections
# (bench/idle.py).
# Usage: [PIN=0] bench/proxy.sh [SECONDS] [ROUNDS] [IDLE]   (defaults 10, 5, 10000).
# Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-10}"
ROUNDS="${2:-5}"
IDLE="${3:-10000}"
CONNECTIONS=32
# Every proxy, and the client, needs a descriptor per idle connection.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

need=""
for tool in wrk nginx haproxy bc; do command -v "$tool" >/dev/null || need="$need $tool"; done
if [ -n "$need" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk nginx-light haproxy bc
fi
cargo build --release -q -p zenc -p zentinel-runtime
cargo build --release -q -p zentinel-runtime --example bare_pingora

LAST_CPU=$(( $(nproc) - 1 ))
if [ "${PIN:-1}" = 1 ] && [ "$LAST_CPU" -ge 1 ]; then
    LOAD_CPUS="0-$(( LAST_CPU - 1 ))"
    [ "$LAST_CPU" = 1 ] && LOAD_CPUS=0
    ON_PROXY_CPU="taskset -c $LAST_CPU"
    ON_LOAD_CPUS="taskset -c $LOAD_CPUS"
    PLACEMENT="proxies on CPU $LAST_CPU, wrk and the origin on CPU $LOAD_CPUS"
else
    ON_PROXY_CPU=""
    ON_LOAD_CPUS=""
    PLACEMENT="placement left to the scheduler"
fi

WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
ORIGIN=19100; ZENTINEL=19101; BARE=19102; NGINX=19103; HAPROXY=19104; ZLOG=19105

. bench/setup.sh
start_origin $ORIGIN $ON_LOAD_CPUS

# zentinel: one route, one upstream, one worker.
build_policy bench $ZENTINEL $ORIGIN
# Like nginx and HAProxy here, zentinel logs nothing...
$ON_PROXY_CPU ./target/release/zentinel run "$WORK/bench.zbin" --threads 1 --access-log off \
    --upgrade-sock "$WORK/z.sock" 2>/dev/null &
ZENTINEL_PID=$!
# ...and a second one writes its JSON access log (to /dev/null), to show
# what the log costs.
build_policy bench-log $ZLOG $ORIGIN
$ON_PROXY_CPU ./target/release/zentinel run "$WORK/bench-log.zbin" --threads 1 --access-log /dev/null \
    --upgrade-sock "$WORK/zlog.sock" 2>/dev/null &
ZLOG_PID=$!

$ON_PROXY_CPU ./target/release/examples/bare_pingora "127.0.0.1:$BARE" "127.0.0.1:$ORIGIN" 1 2>/dev/null &
BARE_PID=$!

cat > "$WORK/proxy-nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/proxy.pid; error_log $WORK/proxy.err;
worker_rlimit_nofile 20000;
events { worker_connections 15000; }
http { access_log off; keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 64; }
  server { listen 127.0.0.1:$NGINX;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
$ON_PROXY_CPU nginx -c "$WORK/proxy-nginx.conf" -p "$WORK" &
NGINX_PID=$!

cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    # 10,000 idle clients at most 20,000 descriptors (this machine's hard
    # limit): HAProxy counts two per connection and warns, without failing.
    maxconn 10050
    no strict-limits
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend fe
    bind 127.0.0.1:$HAPROXY
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN
CONF
$ON_PROXY_CPU haproxy -f "$WORK/haproxy.cfg" 2>"$WORK/haproxy.err" &
HAPROXY_PID=$!

sleep 2
ticks() { # CPU time (clock ticks, user + system) of a process and its children
    local total=0 p
    for p in "$1" $(pgrep -P "$1"); do
        total=$(( total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) ))
    done
    echo "$total"
}
run() { # name port pid: one measurement, appended to $WORK/runs
    local out before after
    before=$(ticks "$3")
    out=$($ON_LOAD_CPUS wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "http://127.0.0.1:$2/" 2>&1) || {
        echo "$1: wrk failed: $out" >&2
        return 0
    }
    after=$(ticks "$3")
    local rps p50 p99 requests cpu
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    # Microseconds of the proxy's CPU a request.
    cpu=$(echo "($after - $before) * 1000000 / $(getconf CLK_TCK) / $requests" | bc -l)
    echo "$1 $rps $p50 $p99 $cpu" >> "$WORK/runs"
}
to_us() { sed -E 's/([0-9.]+)us/\1/; s/([0-9.]+)ms/\1*1000/; s/([0-9.]+)s$/\1*1000000/' | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "wrk -t1 -c$CONNECTIONS -d${SECONDS_PER_RUN}s x $ROUNDS rounds, one worker each, $(nproc) cores:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); $PLACEMENT"
# The machine's speed drifts in phases of tens of seconds, so zentinel and
# bare Pingora run back to back, and every other round runs in reverse
# order (ABBA): a drift within a pair of rounds favours neither.
for round in $(seq "$ROUNDS"); do
    order="zentinel pingora z+log nginx haproxy"
    if [ $((round % 2)) = 0 ]; then order="haproxy nginx z+log pingora zentinel"; fi
    for name in $order; do
        case $name in
            zentinel) run zentinel $ZENTINEL $ZENTINEL_PID ;;
            pingora) run pingora $BARE $BARE_PID ;;
            z+log) run z+log $ZLOG $ZLOG_PID ;;
            nginx) run nginx $NGINX $NGINX_PID ;;
            haproxy) run haproxy $HAPROXY $HAPROXY_PID ;;
        esac
    done
done
printf "%-10s %12s %10s %10s %12s   (median of %s)\n" proxy "requests/s" "p50 us" "p99 us" "CPU us/req" "$ROUNDS"
for name in zentinel z+log pingora nginx haproxy; do
    rps=$(awk -v n=$name '$1==n {print $2}' "$WORK/runs" | median)
    p50=$(awk -v n=$name '$1==n {print $3}' "$WORK/runs" | while read -r v; do echo "$v" | to_us; done | median)
    p99=$(awk -v n=$name '$1==n {print $4}' "$WORK/runs" | while read -r v; do echo "$v" | to_us; done | median)
    cpu=$(awk -v n=$name '$1==n {print $5}' "$WORK/runs" | median)
    printf "%-10s %12.0f %10.0f %10.0f %12.1f\n" "$name" "$rps" "$p50" "$p99" "$cpu"
    echo "$name $rps $p99 $cpu" >> "$WORK/medians"
done
echo "ratios (zentinel / other): requests/s, p99, CPU a request"
awk 'NR==FNR {if ($1=="zentinel") {z=$2; zp=$3; zc=$4}; next} $1!="zentinel" {printf "  vs %-8s %.2fx  %.2fx  %.2fx\n", $1, z/$2, zp/$3, zc/$4}' "$WORK/medians" "$WORK/medians"
# Round by round against bare Pingora: each pair ran back to back.
echo -n "zentinel / pingora requests/s, round by round:"
paste <(awk '$1=="zentinel" {print $2}' "$WORK/runs") <(awk '$1=="pingora" {print $2}' "$WORK/runs") |
    awk '{printf " %.2f", $1 / $2} END {print ""}'
# The median of those paired ratios, for requests/s, p99 and CPU a request:
# less moved by drift than the ratio of the medians above.
paired() { # column
    paste <(awk '$1=="zentinel"' "$WORK/runs") <(awk '$1=="pingora"' "$WORK/runs") |
        while read -r _ zr _ zp zc _ pr _ pp pc; do
            case $1 in
                rps) echo "$zr / $pr" | bc -l ;;
                p99) echo "($(to_us <<<"$zp")) / ($(to_us <<<"$pp"))" | bc -l ;;
                cpu) echo "$zc / $pc" | bc -l ;;
            esac
        done | median
}
printf "zentinel / pingora, median of the rounds' ratios: requests/s %.2fx, p99 %.2fx, CPU a request %.2fx\n" \
    "$(paired rps)" "$(paired p99)" "$(paired cpu)"
cat "$WORK/runs" > /tmp/zentinel-proxy-bench-runs.txt
echo
python3 bench/idle.py "$IDLE" "zentinel:$ZENTINEL:$ZENTINEL_PID" "pingora:$BARE:$BARE_PID" \
    "nginx:$NGINX:$NGINX_PID" "haproxy:$HAPROXY:$HAPROXY_PID"
