#!/usr/bin/env python3
"""Memory held by idle keep-alive client connections.

Usage: bench/idle.py CONNECTIONS NAME:PORT:PID [NAME:PORT:PID ...]

For each proxy: measures the resident memory of PID and its children,
opens CONNECTIONS connections to 127.0.0.1:PORT, sends one request on each
and reads its answer (so every connection is a kept-alive one that has
served a request), measures again, and closes them. Prints a table.
"""

import os
import socket
import sys
import time


def rss_kib(pid):
    """Resident set of `pid` and all its descendants, in KiB."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as children:
                    stack.extend(int(c) for c in children.read().split())
        except FileNotFoundError:
            pass
    return total


def one_exchange(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"hello, world\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError(f"port {port} closed a connection: {answer[:80]!r}")
        answer += chunk
    return s


def main():
    count = int(sys.argv[1])
    print(f"{'proxy':<10} {'RSS before':>12} {'RSS with idle':>14} {'per connection':>15}   ({count} connections)")
    for spec in sys.argv[2:]:
        name, port, pid = spec.split(":")
        port, pid = int(port), int(pid)
        before = rss_kib(pid)
        conns = [one_exchange(port) for _ in range(count)]
        time.sleep(1)
        after = rss_kib(pid)
        per = (after - before) / count
        print(f"{name:<10} {before / 1024:>9.1f} MiB {after / 1024:>10.1f} MiB {per:>11.1f} KiB")
        for c in conns:
            c.close()
        time.sleep(1)


if __name__ == "__main__":
    main()
