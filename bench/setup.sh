# Sourced by the proxy benchmarks: the origin and the policy they share.
# Each expects $WORK (a scratch directory) and the release binaries built.

# The origin: nginx answering 200 with 13 bytes ("hello, world\n"), one
# worker, keep-alive without end. Runs in the background under $1 (a
# command prefix such as `taskset -c 0`, or nothing).
start_origin() { # port [prefix...]
    local port=$1
    shift
    cat > "$WORK/origin.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/origin.pid; error_log $WORK/origin.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; location / { return 200 "hello, world\n"; } } }
CONF
    "$@" nginx -c "$WORK/origin.conf" -p "$WORK" &
}

# zentinel's policy: one listener, one route, one upstream (the origin),
# compiled to $WORK/NAME.zbin.
build_policy() { # name listen_port origin_port
    cat > "$WORK/$1.zen" <<ZEN
listen "127.0.0.1:$2"

upstream origin {
    server "127.0.0.1:$3"
}

route all {
    proxy origin
}
ZEN
    ./target/release/zenc build "$WORK/$1.zen" -o "$WORK/$1.zbin" >/dev/null
}
