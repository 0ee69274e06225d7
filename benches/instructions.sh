#!/usr/bin/env bash
# User-space instructions per proxied request, berth against HAProxy, counted by callgrind.
#
# What is measured and why: on a shared, noisy machine requests/s wander with the scheduler,
# but instructions are deterministic for the same binary and input. Each proxy runs under
# `valgrind --tool=callgrind` with instrumentation off; after a warm-up, instrumentation is
# switched on for exactly N keep-alive HTTP/1.1 requests (h2load, 10 connections) over two
# backends (examples/backend.rs), then off; total instructions ÷ N is printed. Kernel work
# (syscalls, loopback) is not counted: compare with benches/compare.sh for the whole cost.
#
# Usage: bash benches/instructions.sh          Tuning: N=5000, BERTH=path/to/berth (a build to
#        compare; default: the release build of this tree), KEEP=dir (keep the callgrind
#        outputs there, for callgrind_annotate)
set -euo pipefail

N=${N:-5000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH=$PATH:/usr/sbin:/sbin
missing=()
for tool in valgrind callgrind_control h2load haproxy curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    apt-get install -y -qq valgrind nghttp2-client haproxy curl >/dev/null ||
        { echo "instructions.sh: missing ${missing[*]}" >&2; exit 2; }
fi
(cd "$ROOT" && cargo build --release --quiet --bin berth --example backend)
BERTH=${BERTH:-${CARGO_TARGET_DIR:-$ROOT/target}/release/berth}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-instr.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then cp "$WORK"/*.out* "$KEEP"/; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

B1=$(free_port); B2=$(free_port); LISTEN=$(free_port); ADMIN=$(free_port)
"${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/backend" "127.0.0.1:$B1" & PIDS+=($!)
"${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/backend" "127.0.0.1:$B2" & PIDS+=($!)
sed -e "s/@LISTEN@/127.0.0.1:$LISTEN/; s/@BACKEND1@/127.0.0.1:$B1/; s/@BACKEND2@/127.0.0.1:$B2/" \
    "$ROOT/benches/compare/haproxy.cfg" > "$WORK/haproxy.cfg"
cat > "$WORK/berth.yaml" <<EOC
listeners:
  web: { address: "127.0.0.1:$LISTEN" }
admin: { address: "127.0.0.1:$ADMIN" }
docker: { enabled: false }
workers: 1
log: { level: warn }
services:
  bench: { listener: web, balance: round_robin, backends: ["127.0.0.1:$B1", "127.0.0.1:$B2"] }
EOC

# count NAME COMMAND...: instructions per request of COMMAND serving on $LISTEN.
count() {
    local name=$1; shift
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/$name.out" "$@" \
        >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$LISTEN/" && break; sleep 0.2; done
    h2load --h1 -n 500 -c 10 "http://127.0.0.1:$LISTEN/" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null
    local done
    done=$(h2load --h1 -n "$N" -c 10 "http://127.0.0.1:$LISTEN/" | awk '/^requests:/ {print $8}')
    callgrind_control -i off "$pid" >/dev/null
    callgrind_control -d "$pid" >/dev/null
    sleep 1
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    [ "$done" = "$N" ] || { echo "instructions.sh: $name answered $done of $N" >&2; exit 1; }
    local total
    total=$(cat "$WORK/$name".out* | awk '/^(summary|totals):/ {s += $2} END {print s}')
    echo "$name $((total / N))"
}

hap=$(count haproxy haproxy -db -f "$WORK/haproxy.cfg" | awk '{print $2}')
brt=$(count berth "$BERTH" run --config "$WORK/berth.yaml" | awk '{print $2}')
echo "| proxy | user-space instructions per request |"
echo "| --- | ---: |"
echo "| HAProxy $(haproxy -v | head -1 | awk '{print $3}') | $hap |"
echo "| berth | $brt |"
awk -v b="$brt" -v h="$hap" 'BEGIN {printf "berth / HAProxy: %.2fx instructions per request (N='"$N"')\n", b / h}'
