#!/usr/bin/env bash
# Reloads under load: RELOADS SIGHUPs to a serving zentinel, good and
# corrupt artifacts alternating, while clients send requests without pause.
# Prints the requests served and failed, the reloads taken and refused, and
# whether the policy served was always the last good one.
# Usage: bench/reload.sh [RELOADS] [CLIENTS]   (defaults 1000, 4).
# Results: docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RELOADS="${1:-1000}"
CLIENTS="${2:-4}"

cargo build --release -q -p zenc -p zentinel-runtime
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=19130; ADMIN=19131

for name in a b; do
    cat > "$WORK/$name.zen" <<ZEN
listen "127.0.0.1:$PORT"
admin "127.0.0.1:$ADMIN"

route all {
    respond 200 "$name"
}
ZEN
    ./target/release/zenc build "$WORK/$name.zen" -o "$WORK/$name.zbin" >/dev/null
done
# A corrupt artifact: one byte of b flipped in its middle.
python3 - "$WORK/b.zbin" "$WORK/bad.zbin" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x5A
open(sys.argv[2], "wb").write(data)
PY
cp "$WORK/a.zbin" "$WORK/site.zbin"
./target/release/zentinel run "$WORK/site.zbin" --threads 2 --access-log off \
    --upgrade-sock "$WORK/u.sock" 2>"$WORK/stderr.log" &
PID=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" 2>/dev/null && break
    sleep 0.1
done

python3 - "$PID" "$PORT" "$ADMIN" "$WORK" "$RELOADS" "$CLIENTS" <<'PY'
import os, shutil, signal, socket, sys, threading, time

pid, port, admin, work, reloads, clients = sys.argv[1:]
pid, port, admin, reloads, clients = int(pid), int(port), int(admin), int(reloads), int(clients)

def get(p, path="/"):
    s = socket.create_connection(("127.0.0.1", p), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head[9:12]), body.decode(errors="replace")

stop = threading.Event()
served, failed, answers = [0], [], set()
lock = threading.Lock()

def client():
    while not stop.is_set():
        try:
            status, body = get(port)
            with lock:
                if status == 200:
                    served[0] += 1
                    answers.add(body)
                else:
                    failed.append(status)
        except Exception as e:
            with lock:
                failed.append(repr(e))

def metric(name):
    _, text = get(admin, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0

threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads:
    t.start()
site = os.path.join(work, "site.zbin")
good, wrong = "a", 0
started = time.time()
for i in range(reloads):
    if i % 2 == 0:
        good = "b" if good == "a" else "a"
        source = os.path.join(work, good + ".zbin")
    else:
        source = os.path.join(work, "bad.zbin")
    shutil.copy(source, site + ".new")
    os.rename(site + ".new", site)
    before = metric("zentinel_reloads_total") + metric("zentinel_reload_failures_total")
    os.kill(pid, signal.SIGHUP)
    deadline = time.time() + 10
    while metric("zentinel_reloads_total") + metric("zentinel_reload_failures_total") <= before:
        if time.time() > deadline:
            sys.exit(f"reload {i} was not acted on")
        time.sleep(0.001)
    if get(port)[1] != good:
        wrong += 1
elapsed = time.time() - started
stop.set()
for t in threads:
    t.join()
print(f"reloads: {reloads} in {elapsed:.1f}s ({metric('zentinel_reloads_total')} taken, "
      f"{metric('zentinel_reload_failures_total')} refused)")
print(f"requests: {served[0]} served, {len(failed)} failed {failed[:5]}")
print(f"answers seen: {sorted(answers)}; after a reload, not the last good policy: {wrong} times")
sys.exit(1 if failed or wrong else 0)
PY
