#!/usr/bin/env bash
# Discovery and reload at scale (README, Performance, *Scale*).
#
# Phases (PHASES, default "fake reload"; add "real" for the engine run):
#
#  fake    berth against the simulated engine `benches/fake_docker` (a benchmark fixture, not
#          an engine: the machine's engine cannot run 10,000 containers) serving SERVICES x
#          REPLICAS containers (default 2,000 x 5 = 10,000):
#          1. start-up: berth's start → all N endpoints routable (polls
#             /api/services/<last service> every ~10 ms, then checks the whole /api/services);
#          2. one `start` event (EVENTS times, default 20, each a new service): engine event →
#             snapshot published, read from berth's own `berth_discovery_convergence_seconds`
#             (the change of the histogram's _sum per event), and event → seen routable on the
#             admin API (the poll's bound);
#          3. berth's RSS (VmRSS) with N endpoints.
#  reload  berth with STATIC static services (default 10,000) in its file; RELOADS times
#          (default 5) the file is rewritten (atomic rename) with one more service, then SIGHUP
#          (an edit alone waits for 1 s of quiet first); timed from the write to that service
#          on the admin API. Meanwhile LOADERS (default 2) keep-alive clients GET a static
#          service through berth; every failed request (not 200, or a broken connection) counts.
#  real    REAL_N containers (default 1,000, in REAL_N/5 services) of the engine tests' FROM
#          scratch replica image (no HEALTHCHECK) started with `docker run` (4 at once), then
#          each binary of BERTH_BINS started REAL_REPEATS times (default 3): start → all routable.
#          Everything it creates carries the label berth-scale-bench and is removed at the end.
#
# Binaries: BERTH_BIN (default target/release/berth), FAKE_BIN (target/release/fake_docker),
# REPLICA_BIN (target/release/replica: the reload phase's backend; for "real", the image's
# binary, so it must be static: the engine tests' build, see tests/docker/docker_common);
# BERTH_BINS (default BERTH_BIN) lists binaries to compare (e.g. before/after a change), each
# measured in turn by every phase. Build: `cargo build --release --features replica --bin berth
# --bin fake_docker --bin replica` (add `--target x86_64-unknown-linux-gnu` and
# RUSTFLAGS="-C target-feature=+crt-static" for a static replica).
#
# Run: `bash benches/scale.sh` (or `PHASES="fake reload real" REPLICA_BIN=... bash benches/scale.sh`).
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
BERTH_BIN=${BERTH_BIN:-$TARGET/release/berth}
BERTH_BINS=${BERTH_BINS:-$BERTH_BIN}
FAKE_BIN=${FAKE_BIN:-$TARGET/release/fake_docker}
REPLICA_BIN=${REPLICA_BIN:-$TARGET/release/replica}
PHASES=${PHASES:-fake reload}
SERVICES=${SERVICES:-2000}
REPLICAS=${REPLICAS:-5}
EVENTS=${EVENTS:-20}
STATIC=${STATIC:-10000}
RELOADS=${RELOADS:-5}
LOADERS=${LOADERS:-2}
REAL_N=${REAL_N:-1000}
REAL_REPEATS=${REAL_REPEATS:-3}
WEB=127.0.0.1:18480
ADMIN=127.0.0.1:19480
BACKEND=127.0.0.1:19481
WORK=$(mktemp -d /tmp/berth-scale.XXXXXX)
NET=berth-scale-bench-$$  # the real phase's network (its own name per run)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ " $PHASES " == *" real "* ]]; then
        docker ps -aq --filter label=berth-scale-bench | xargs -r docker rm -f >/dev/null 2>&1 || true
        # The engine may still be releasing the containers' endpoints: retry for a while.
        for _ in $(seq 1 20); do docker network rm "$NET" >/dev/null 2>&1 && break; sleep 1; done
        docker images -q --filter label=berth-scale-bench | xargs -r docker rmi -f >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
say() { printf '%s\n' "$*" >&2; }

# routable SERVICE: its routable endpoint count (0 when it does not exist yet).
routable() {
    local n
    n=$(curl -s --max-time 2 "http://$ADMIN/api/services/$1" 2>/dev/null \
        | jq '[.endpoints[]? | select(.state == "routable")] | length' 2>/dev/null) || true
    echo "${n:-0}"
}

all_routable() {
    curl -s --max-time 30 "http://$ADMIN/api/services" \
        | jq '[.services[].endpoints[]? | select(.state == "routable")] | length'
}

# wait_routable SERVICE N: polls until SERVICE has N routable endpoints (60 s at most).
wait_routable() {
    local deadline=$(( $(now_ms) + 60000 ))
    until [ "$(routable "$1")" -ge "$2" ]; do
        [ "$(now_ms)" -lt "$deadline" ] || { say "timeout waiting for $1"; return 1; }
        sleep 0.01
    done
}

convergence_sum() {
    curl -s "http://$ADMIN/metrics" | awk '/^berth_discovery_convergence_seconds_sum/ {print $2}'
}

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# start_berth BIN CONFIG: starts it, sets BERTH_PID.
start_berth() {
    "$1" run --config "$2" >"$WORK/berth.log" 2>&1 &
    BERTH_PID=$!
    PIDS+=("$BERTH_PID")
}

stop_berth() {
    kill "$BERTH_PID" 2>/dev/null || true
    wait "$BERTH_PID" 2>/dev/null || true
}

docker_config() {
    cat <<EOF
listeners: { web: { address: "$WEB", protocol: http } }
admin: { address: "$ADMIN" }
docker: { enabled: true, endpoint: "$1" }
log: { level: warn }
EOF
}

phase_fake() {
    local bin=$1 sock=$WORK/docker.sock n=$((SERVICES * REPLICAS))
    "$FAKE_BIN" --socket "$sock" --services "$SERVICES" --replicas "$REPLICAS" 2>"$WORK/fake.log" &
    local fake=$!
    PIDS+=("$fake")
    until curl -s --unix-socket "$sock" http://fake/_ping >/dev/null; do sleep 0.05; done
    docker_config "unix://$sock" >"$WORK/fake.yaml"
    local t0; t0=$(now_ms)
    start_berth "$bin" "$WORK/fake.yaml"
    wait_routable "svc$((SERVICES - 1))" "$REPLICAS"
    local t1; t1=$(now_ms)
    local total; total=$(all_routable)
    echo "| $bin | fake engine | $n containers: start → all routable | $((t1 - t0)) ms ($total routable) |"
    local ms_metric=() ms_seen=()
    for k in $(seq 0 $((EVENTS - 1))); do
        local before; before=$(convergence_sum)
        local t_event; t_event=$(now_ms)
        curl -s --unix-socket "$sock" -X POST http://fake/fake/start >/dev/null
        wait_routable "added$k" 1
        local t_seen; t_seen=$(now_ms)
        sleep 0.05
        local after; after=$(convergence_sum)
        ms_metric+=("$(awk -v a="$after" -v b="$before" 'BEGIN {print (a - b) * 1000}')")
        ms_seen+=("$((t_seen - t_event))")
    done
    echo "| $bin | fake engine | one start event → snapshot published (metric), p50 / max of $EVENTS | $(stats "${ms_metric[@]}") ms |"
    echo "| $bin | fake engine | one start event → seen routable (poll), p50 / max of $EVENTS | $(stats "${ms_seen[@]}") ms |"
    echo "| $bin | fake engine | RSS with $((n + EVENTS)) endpoints | $(rss_mib "$BERTH_PID") MiB |"
    stop_berth
    kill "$fake" 2>/dev/null || true
    wait "$fake" 2>/dev/null || true
}

# stats X...: "p50 / max" with 2 decimals.
stats() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "%.2f / %.2f", v[int((NR+1)/2)], v[NR]}'
}

# static_config N MARKER: the reload phase's file, N static services plus `probe` and MARKER.
static_config() {
    echo "listeners: { web: { address: \"$WEB\", protocol: http } }"
    echo "admin: { address: \"$ADMIN\" }"
    echo "docker: { enabled: false }"
    echo "log: { level: warn }"
    echo "services:"
    echo "  probe: { listener: web, path: /probe, backends: [\"$BACKEND\"] }"
    echo "  $2: { listener: web, path: /$2, backends: [\"$BACKEND\"] }"
    awk -v n="$1" -v b="$BACKEND" 'BEGIN { for (i = 0; i < n; i++)
        printf "  s%d: { listener: web, hosts: [s%d.example], path: /s%d, backends: [\"%s\"] }\n", i, i, i, b }'
}

# load SECONDS OUT: a keep-alive client GETting /probe through berth; prints "ok failed".
load() {
    python3 - "$WEB" "$1" >"$2" <<'EOF'
import http.client, sys, time
host, port = sys.argv[1].split(":")
end = time.time() + float(sys.argv[2])
ok = failed = 0
conn = None
while time.time() < end:
    try:
        if conn is None:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/probe")
        r = conn.getresponse(); r.read()
        if r.status == 200: ok += 1
        else: failed += 1
    except Exception:
        failed += 1
        conn = None
print(ok, failed)
EOF
}

phase_reload() {
    local bin=$1
    PORT=${BACKEND##*:} NAME=probe "$REPLICA_BIN" >/dev/null 2>&1 &
    PIDS+=("$!")
    static_config "$STATIC" marker >"$WORK/static.yaml"
    start_berth "$bin" "$WORK/static.yaml"
    wait_routable probe 1
    local seconds=$((RELOADS * 2 + 4)) loads=() times=()
    for l in $(seq 1 "$LOADERS"); do load "$seconds" "$WORK/load$l" & loads+=("$!"); done
    sleep 1
    for k in $(seq 1 "$RELOADS"); do
        static_config "$STATIC" "marker$k" >"$WORK/next.yaml"
        local t0; t0=$(now_ms)
        mv "$WORK/next.yaml" "$WORK/static.yaml"
        kill -HUP "$BERTH_PID"
        wait_routable "marker$k" 1
        times+=("$(( $(now_ms) - t0 ))")
        sleep 1
    done
    for pid in "${loads[@]}"; do wait "$pid"; done
    local ok=0 failed=0
    for l in $(seq 1 "$LOADERS"); do read -r o f <"$WORK/load$l"; ok=$((ok + o)); failed=$((failed + f)); done
    echo "| $bin | reload | $STATIC static services: write → new snapshot, p50 / max of $RELOADS | $(stats "${times[@]}") ms |"
    echo "| $bin | reload | requests during the reloads: ok / failed | $ok / $failed |"
    echo "| $bin | reload | RSS with $STATIC static services | $(rss_mib "$BERTH_PID") MiB |"
    stop_berth
}

real_setup() {
    mkdir -p "$WORK/image"
    cp "$REPLICA_BIN" "$WORK/image/replica"
    printf 'FROM scratch\nCOPY replica /replica\nEXPOSE 8080\nENTRYPOINT ["/replica"]\n' >"$WORK/image/Dockerfile"
    docker build -q --label berth-scale-bench=1 -t berth-scale-replica "$WORK/image" >/dev/null
    docker network create --label berth-scale-bench=1 "$NET" >/dev/null
    local t0; t0=$(now_ms)
    seq 0 $((REAL_N - 1)) | xargs -P 4 -I{} sh -c 'docker run -d --label berth-scale-bench=1 \
        --network '"$NET"' --label berth.enable=true \
        --label berth.service=r$(( {} / 5 )) --label berth.http.path=/r$(( {} / 5 )) \
        --name berth-scale-{} berth-scale-replica >/dev/null'
    say "real: $REAL_N containers started in $(( $(now_ms) - t0 )) ms"
}

phase_real() {
    local bin=$1 times=()
    docker_config "unix:///var/run/docker.sock" >"$WORK/real.yaml"
    for _ in $(seq 1 "$REAL_REPEATS"); do
        local t0; t0=$(now_ms)
        start_berth "$bin" "$WORK/real.yaml"
        wait_routable "r$((REAL_N / 5 - 1))" 5
        times+=("$(( $(now_ms) - t0 ))")
        echo "  ($(all_routable) routable)" >&2
        stop_berth
    done
    echo "| $bin | real engine | $REAL_N containers: start → all routable, p50 / max of $REAL_REPEATS | $(stats "${times[@]}") ms |"
}

say "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| binary | engine | measurement | result |"
echo "| --- | --- | --- | --- |"
[[ " $PHASES " == *" real "* ]] && real_setup
for bin in $BERTH_BINS; do
    for phase in $PHASES; do "phase_$phase" "$bin"; done
done
say "load: $(cut -d' ' -f1-3 /proc/loadavg)"
