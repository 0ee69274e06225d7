#!/usr/bin/env bash
# Memory of an idle berth: resident set with 100 static services, then the added cost of
# 10,000 idle keep-alive client connections.
#
# What is measured and why: a load balancer on a Docker host sits beside the services it
# fronts, so its idle footprint and its per-connection cost bound how many it can hold.
# berth runs with one worker and 100 static services (two backends each, one of them live:
# examples/backend.rs); RSS is read from /proc/PID/status after start-up; then CONNS client
# connections each send one request, read the answer and stay open (keep-alive, idle), and
# RSS is read again. Prints idle RSS and (RSS with connections − idle RSS) / CONNS.
#
# Usage: bash benches/memory.sh        Tuning: CONNS=10000 SERVICES=100
set -euo pipefail

CONNS=${CONNS:-10000}
SERVICES=${SERVICES:-100}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-memory.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

ulimit -n $((CONNS * 2 + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(cd "$ROOT" && cargo build --release --quiet --bin berth --example backend)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

BACKEND_PORT=$(free_port)
"$ROOT/target/release/examples/backend" "127.0.0.1:$BACKEND_PORT" & PIDS+=($!)
WEB_PORT=$(free_port)
ADMIN_PORT=$(free_port)
{
    echo "listeners:"
    echo "  web: { address: \"127.0.0.1:$WEB_PORT\", protocol: http }"
    echo "admin: { address: \"127.0.0.1:$ADMIN_PORT\" }"
    echo "docker: { enabled: false }"
    echo "workers: 1"
    echo "log: { level: warn }"
    echo "services:"
    for i in $(seq 1 "$SERVICES"); do
        echo "  svc$i: { listener: web, hosts: [svc$i.test], backends: [\"127.0.0.1:$BACKEND_PORT\", \"127.0.0.1:$((20000 + i))\"] }"
    done
} > "$WORK/berth.yaml"
"$ROOT/target/release/berth" check --config "$WORK/berth.yaml" > /dev/null
"$ROOT/target/release/berth" run --config "$WORK/berth.yaml" & BERTH=$!; PIDS+=($BERTH)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$ADMIN_PORT/healthz" > /dev/null && break; sleep 0.1; done
sleep 1
IDLE=$(rss_kib "$BERTH")

python3 - "$WEB_PORT" "$CONNS" "$BERTH" "$IDLE" <<'PY'
import socket, sys, time
port, conns, pid, idle = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
socks = []
for i in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: svc1.test\r\n\r\n")
    data = s.recv(4096)
    if not data.startswith(b"HTTP/1.1 200"):
        sys.exit(f"connection {i}: unexpected answer {data[:40]!r}")
    socks.append(s)
time.sleep(1)
held = rss()
print(f"idle RSS with services: {idle / 1024:.1f} MiB")
print(f"RSS with {conns} idle keep-alive connections: {held / 1024:.1f} MiB")
print(f"per connection: {(held - idle) * 1024 / conns / 1024:.1f} KiB")
PY
