#!/usr/bin/env bash
# Side-by-side L4 (TCP) proxying on loopback: bulk throughput and idle-connection memory of
# berth's `tcp` listener, HAProxy (`mode tcp`) and nginx (`stream {}`), against direct.
# `MODE=tcp bash benches/compare.sh` runs this script.
#
# Why a script of its own rather than a mode of compare.sh: everything compare.sh measures
# goes through wrk (requests/s, p99, CPU per request, HTTP readiness checks), while here the
# load is one iperf3 stream (Gbit/s, CPU per GB) and a memory probe, with other backends; the
# two would share little beyond the helpers, which are the same here (CPU pinning, rounds,
# medians of per-round ratios, templates in benches/compare/).
#
# 1. Bulk throughput: one long TCP stream (iperf3 -c -t DURATION) from client to server
#    (`up`) and from server to client (`down`, iperf3 -R), direct to the iperf3 server and
#    through each proxy. Every proxy gets one worker pinned to its own CPU (PROXY_CPU); the
#    iperf3 client and server share another (LOAD_CPU), in every case including direct, so
#    a proxy that keeps up with its copying reaches about 1× direct. Reports Gbit/s (iperf3's
#    receiver side), its ratio to direct (median of the per-round ratios, so slow drifts of a
#    noisy machine cancel out), and the proxy's CPU time per GB moved and how busy its CPU
#    was (utime+stime of the proxy's processes from /proc/PID/stat, before and after the
#    run). Goal for berth: ≥ 0.90× direct.
# 2. Idle connections: a holder (benches/idle_connections.py backend) accepts connections and never
#    sends; a client (idle_connections.py client) opens and closes IDLE_WARMUP connections through the
#    proxy (warm-up), reads the proxy's RSS (VmRSS from /proc/PID/status, nginx's worker
#    included), opens CONNS connections that nobody sends on, waits until the holder has
#    accepted all of them (so each is proxied end to end), reads the RSS again and reports
#    (RSS after − RSS before) / CONNS. Measured once per proxy, after the bulk rounds: a
#    second time would reuse what the allocator kept from the first. Goal for berth: ≤ 20 KB
#    per connection. A proxied connection takes two fds in the proxy, so the script raises the
#    fd limit to 2 × CONNS + 100 for what it starts; where the hard limit cannot be raised
#    (no CAP_SYS_RESOURCE, e.g. in a container) it holds as many connections as fit and says
#    so.
#
# Needs (Debian packages, installed with apt-get when missing and allowed): iperf3, haproxy,
# nginx, libnginx-mod-stream (where nginx's stream module is dynamic), util-linux (taskset),
# python3; and cargo to build berth.
#
# Usage:   bash benches/tcp.sh            (or MODE=tcp bash benches/compare.sh)
# Tuning:  ROUNDS=3 DURATION=10s WARMUP=2s PROXY_CPU=0 LOAD_CPU=1 DIRECTIONS="up down"
#          TARGETS="direct haproxy nginx berth" CONNS=10000 IDLE_WARMUP=100 (CONNS=0: no
#          idle-connection measurement)
# A failed run (iperf3 error, a connection refused, a holder short of connections) is
# reported and left out of the medians, and the script exits with status 1.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
DIRECTIONS=${DIRECTIONS:-up down}
TARGETS=${TARGETS:-direct haproxy nginx berth}
CONNS=${CONNS:-10000}
IDLE_WARMUP=${IDLE_WARMUP:-100}
FD_MARGIN=100

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
TEMPLATES=$ROOT/benches/compare
export PATH=$PATH:/usr/sbin:/sbin

die() {
    log "tcp.sh: $*"
    exit 2
}

# --- processes and cleanup ------------------------------------------------------------------

PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-tcp.XXXXXX")
mkdir "$WORK/conf"

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools ----------------------------------------------------------------------------------

# Prints the path of nginx's stream module to load, or nothing when it is built in; fails
# (status 1) when it is dynamic and not installed.
stream_module() {
    local flags dir
    flags=$(nginx -V 2>&1)
    case "$flags" in *--with-stream=dynamic*) ;; *--with-stream*) return 0 ;; *) return 1 ;; esac
    for dir in $(sed -n 's/.*--modules-path=\([^ ]*\).*/\1/p' <<<"$flags") /usr/lib/nginx/modules \
        /usr/share/nginx/modules /usr/lib64/nginx/modules; do
        [ -f "$dir/ngx_stream_module.so" ] && echo "$dir/ngx_stream_module.so" && return 0
    done
    return 1
}

# Installs the Debian packages for whichever of the tools is missing, or fails naming them.
ensure_tools() {
    local missing=() tool
    for tool in iperf3:iperf3 haproxy:haproxy nginx:nginx taskset:util-linux python3:python3; do
        command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
    done
    if command -v nginx >/dev/null && ! stream_module >/dev/null; then
        missing+=(libnginx-mod-stream)
    fi
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
    [ ${#missing[@]} -eq 0 ] && return
    log "installing: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null && sudo -n true 2>/dev/null ||
            die "missing ${missing[*]}, and cannot install them (not root, no passwordless sudo)"
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null || die "missing ${missing[*]}, and apt-get is not available"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 ||
        { "${sudo[@]}" apt-get update >&2 &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2; } ||
        die "apt-get install ${missing[*]} failed"
    for tool in iperf3 haproxy nginx taskset python3; do
        command -v "$tool" >/dev/null || die "$tool still missing after apt-get install"
    done
    stream_module >/dev/null || die "nginx's stream module still missing (libnginx-mod-stream)"
}

# Builds berth in release mode; sets BERTH.
build() {
    log "building berth (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin berth) >&2 ||
        die "cargo build --release failed"
    local target
    target=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    [ -n "$target" ] || target=$ROOT/target
    BERTH=$target/release/berth
    [ -x "$BERTH" ] || die "built binary not found under $target/release"
}

# Raises the fd limit of this shell (so of everything it starts) for CONNS proxied
# connections; sets FDS (the limit obtained) and HELD (the idle connections that fit).
raise_fd_limit() {
    local need=$((CONNS * 2 + FD_MARGIN)) hard
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
        ulimit -Hn "$need" 2>/dev/null || true
        hard=$(ulimit -Hn)
    fi
    if [ "$hard" = unlimited ] || [ "$hard" -ge "$need" ]; then
        ulimit -Sn "$need"
    else
        ulimit -Sn "$hard"
    fi
    FDS=$(ulimit -Sn)
    HELD=$CONNS
    if [ "$FDS" -lt "$need" ]; then
        HELD=$(((FDS - FD_MARGIN) / 2))
        log "fd limit: hard limit $hard could not be raised to $need (needs CAP_SYS_RESOURCE);" \
            "holding $HELD idle connections instead of $CONNS"
    fi
}

# --- ports ----------------------------------------------------------------------------------



# Succeeds when something listens on 127.0.0.1:`port` (or the wildcard address). A probe
# connection is not an option: through a proxy it would reach the iperf3 server, which
# reports a client that sends no test as an error.
listening() {
    local suffix
    suffix=$(printf ':%04X' "$1")
    awk -v p="$suffix" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 }
        END { exit !found }' /proc/net/tcp
}

# Waits until `pid` listens on every port given.
wait_ready() {
    local name=$1 pid=$2 port
    shift 2
    for port in "$@"; do
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || die "$name exited at start-up (log: $WORK/$name.log):
$(tail -n 20 "$WORK/$name.log" 2>/dev/null)"
            listening "$port" && continue 2
            sleep 0.1
        done
        die "$name did not listen on port $port (log: $WORK/$name.log)"
    done
}

# Starts `name` pinned to `cpu`, listening on `ports` (space-separated), with the rest of the
# arguments as its command line.
start() {
    local name=$1 cpu=$2 ports=$3
    shift 3
    taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$name=$!"
    # shellcheck disable=SC2086
    wait_ready "$name" "$!" $ports
}

# Fills a template from benches/compare/ (NAME-tcp.EXT) for `target` into conf/ in the work
# directory (a directory of its own: berth watches its configuration's directory, and the
# holder's state file changes every 50 ms); prints the rendered file's path.
render() {
    local template=${1%.*}-tcp.${1##*.} target=$2 load=
    [ "$target" = nginx ] && load="load_module $(stream_module);"
    [ "$load" = "load_module ;" ] && load=
    sed -e "s|@DIR@|$WORK|g" -e "s|@LISTEN@|127.0.0.1:$(eval echo "\$PORT_$target")|g" \
        -e "s|@IDLE_LISTEN@|127.0.0.1:$(eval echo "\$IDLE_PORT_$target")|g" \
        -e "s|@IDLE_BACKEND@|127.0.0.1:$(eval echo "\$IDLE_BACKEND_$target")|g" \
        -e "s|@ADMIN@|127.0.0.1:$ADMIN|g" -e "s|@BACKEND1@|127.0.0.1:$B1|g" \
        -e "s|@MAXCONN@|$(((FDS - 60) / 2))|g" -e "s|@FDS@|$FDS|g" \
        -e "s|@LOAD_STREAM@|$load|g" \
        "$TEMPLATES/$template" >"$WORK/conf/$template"
    echo "$WORK/conf/$template"
}

# --- measuring ------------------------------------------------------------------------------


TICK_US=$((1000000 / $(getconf CLK_TCK)))

# Runs one iperf3 stream for `key` (TARGET:DIRECTION) for `duration`; sets GBPS (Gbit/s at
# the receiver), CPU (proxy CPU ms per GB), BUSY (% of a CPU) and ERR.
measure() {
    local key=$1 secs=${2%s} target=${1%%:*} direction=${1#*:} port pid before after out
    local reverse=() parsed bytes bps
    eval "port=\$PORT_$target"
    [ "$direction" = down ] && reverse=(-R)
    pid=${PROXY_PID[$target]:-}
    before=0
    [ -n "$pid" ] && before=$(cpu_ticks "$pid")
    out=$(timeout $((secs + 30)) taskset -c "$LOAD_CPU" iperf3 -c 127.0.0.1 -p "$port" \
        -t "$secs" -J "${reverse[@]}" 2>&1) || true
    [ -n "$pid" ] && after=$(cpu_ticks "$pid")
    echo "$out" >>"$WORK/iperf3-${key/:/-}.json"
    parsed=$(python3 -c '
import json, sys
try:
    d = json.loads(sys.stdin.read())
except ValueError:
    print("error: iperf3 printed no JSON"); sys.exit()
if d.get("error"):
    print("error:", d["error"]); sys.exit()
r = d["end"]["sum_received"]
print(int(r["bytes"]), r["bits_per_second"])' <<<"$out")
    GBPS= CPU=- BUSY=- ERR=
    case "$parsed" in
    error:*)
        ERR=${parsed#error: }
        return
        ;;
    esac
    read -r bytes bps <<<"$parsed"
    [ "$bytes" -gt 0 ] || {
        ERR="no bytes received"
        return
    }
    GBPS=$(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e9 }')
    if [ -n "$pid" ]; then
        CPU=$(awk -v t=$((after - before)) -v us="$TICK_US" -v n="$bytes" \
            'BEGIN { printf "%.1f", t * us / 1000 / (n / 1e9) }')
        BUSY=$(awk -v t=$((after - before)) -v us="$TICK_US" -v s="$secs" \
            'BEGIN { printf "%.0f", t * us / (s * 1e6) * 100 }')
    fi
}

# Holds HELD idle connections through `target`; sets RSS_BEFORE, RSS_AFTER (KiB) and ERR.
measure_idle() {
    local target=$1 port out
    eval "port=\$IDLE_PORT_$target"
    RSS_BEFORE= RSS_AFTER= ERR=
    out=$(timeout 600 taskset -c "$LOAD_CPU" python3 "$ROOT/benches/idle_connections.py" client \
        "$port" "$HELD" "$WORK/held" "${PROXY_PID[$target]}" "$IDLE_WARMUP" 2>&1) || {
        ERR="$out"
        return
    }
    RSS_BEFORE=$(sed -n 's/.*before=\([0-9]*\).*/\1/p' <<<"$out")
    RSS_AFTER=$(sed -n 's/.*after=\([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$RSS_BEFORE" ] && [ -n "$RSS_AFTER" ] || ERR="unexpected output: $out"
}


# --- main -----------------------------------------------------------------------------------

ensure_tools
build
raise_fd_limit

B1=$(free_port)
ADMIN=$(free_port)
PORT_direct=$B1
declare -A PROXY_PID=()
IDLE_BACKENDS=()
for target in $TARGETS; do
    case $target in direct | haproxy | nginx | berth) ;;
    *) die "unknown target $target (known: direct haproxy nginx berth)" ;;
    esac
    [ "$target" = direct ] && continue
    eval "PORT_$target=$(free_port) IDLE_PORT_$target=$(free_port) IDLE_BACKEND_$target=$(free_port)"
    # One holder port per proxy: the proxy-side ends of the previous proxy's connections may
    # still be in TIME_WAIT.
    eval "IDLE_BACKENDS+=(\$IDLE_BACKEND_$target)"
done

start iperf3 "$LOAD_CPU" "$B1" iperf3 -s -B 127.0.0.1 -p "$B1"
if [ "$HELD" -gt 0 ] && [ ${#IDLE_BACKENDS[@]} -gt 0 ]; then
    start holder "$LOAD_CPU" "${IDLE_BACKENDS[*]}" \
        python3 "$ROOT/benches/idle_connections.py" backend "$WORK/held" "${IDLE_BACKENDS[@]}"
fi

for target in $TARGETS; do
    case $target in
    direct) ;;
    haproxy)
        conf=$(render haproxy.cfg haproxy)
        haproxy -c -q -f "$conf" >&2 || die "haproxy rejected $conf"
        start haproxy "$PROXY_CPU" "$PORT_haproxy $IDLE_PORT_haproxy" haproxy -db -f "$conf"
        PROXY_PID[haproxy]=$PID_haproxy
        ;;
    nginx)
        conf=$(render nginx.conf nginx)
        nginx -t -q -e "$WORK/nginx-error.log" -p "$WORK" -c "$conf" >&2 ||
            die "nginx rejected $conf"
        start nginx "$PROXY_CPU" "$PORT_nginx $IDLE_PORT_nginx" \
            nginx -e "$WORK/nginx-error.log" -p "$WORK" -c "$conf"
        PROXY_PID[nginx]=$PID_nginx
        ;;
    berth)
        conf=$(render berth.yaml berth)
        "$BERTH" check --config "$conf" >/dev/null || die "berth rejected $conf"
        start berth "$PROXY_CPU" "$PORT_berth $IDLE_PORT_berth" "$BERTH" run --config "$conf"
        PROXY_PID[berth]=$PID_berth
        ;;
    esac
done

KEYS=""
for target in $TARGETS; do
    for direction in $DIRECTIONS; do
        case $direction in up | down) ;; *) die "DIRECTIONS: up or down, not $direction" ;; esac
        KEYS="$KEYS $target:$direction"
    done
done

declare -A GBPS_ALL=() CPU_ALL=() BUSY_ALL=() RATIO=()
FAILED=0
for key in $KEYS; do
    log "warm-up: $key ($WARMUP)"
    measure "$key" "$WARMUP"
done
for round in $(seq "$ROUNDS"); do
    declare -A round_gbps=()
    for key in $KEYS; do
        measure "$key" "$DURATION"
        if [ -n "$ERR" ]; then
            log "round $round $key: FAILED: $ERR"
            FAILED=1
            continue
        fi
        log "round $round $key: $GBPS Gbit/s, proxy CPU $CPU ms/GB ($BUSY% of a CPU)"
        GBPS_ALL[$key]+="$GBPS "
        round_gbps[$key]=$GBPS
        if [ "$CPU" != - ]; then
            CPU_ALL[$key]+="$CPU "
            BUSY_ALL[$key]+="$BUSY "
        fi
    done
    for key in $KEYS; do
        base=direct:${key#*:}
        [ -n "${round_gbps[$key]:-}" ] && [ -n "${round_gbps[$base]:-}" ] || continue
        RATIO[$key]+="$(awk -v a="${round_gbps[$key]}" -v b="${round_gbps[$base]}" \
            'BEGIN { printf "%.3f", a / b }') "
    done
    unset round_gbps
done

declare -A IDLE_BEFORE=() IDLE_AFTER=()
if [ "$HELD" -gt 0 ]; then
    for target in $TARGETS; do
        [ "$target" = direct ] && continue
        log "idle connections: $target ($HELD)"
        measure_idle "$target"
        if [ -n "$ERR" ]; then
            log "idle connections $target: FAILED: $ERR"
            FAILED=1
            continue
        fi
        IDLE_BEFORE[$target]=$RSS_BEFORE
        IDLE_AFTER[$target]=$RSS_AFTER
        log "idle connections $target: RSS $RSS_BEFORE KiB -> $RSS_AFTER KiB"
    done
fi

# --- report (markdown, ready to paste) -------------------------------------------------------

name() {
    case $1 in
    direct) echo "direct (no proxy)" ;; haproxy) echo "HAProxy $(haproxy -v | awk 'NR == 1 { sub(/-.*/, "", $3); print $3 }')" ;;
    nginx) echo "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')" ;; berth) echo "berth $("$BERTH" --version | awk '{ print $2 }')" ;;
    esac
}
way() { case $1 in up) echo "client → server" ;; down) echo "server → client (-R)" ;; esac; }

echo
echo "iperf3 $(iperf3 --version | awk 'NR == 1 { print $2 }'), one TCP stream on loopback, $DURATION × $ROUNDS rounds (medians);"
echo "proxy: one worker on CPU $PROXY_CPU; iperf3 client and server on CPU $LOAD_CPU; $(nproc) CPUs, $(uname -r)."
echo "Ratios are medians of per-round ratios. Proxy CPU is utime+stime of its processes per GB received."
echo
echo "| target | direction | Gbit/s | vs direct | proxy CPU per GB | proxy CPU busy |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for key in $KEYS; do
    printf '| %s | %s | %s | %s | %s | %s |\n' "$(name "${key%%:*}")" "$(way "${key#*:}")" \
        "$(fmt "$(med "${GBPS_ALL[$key]:-}")" "%.1f")" \
        "$(fmt "$(med "${RATIO[$key]:-}")" "%.2f×")" \
        "$(fmt "$(med "${CPU_ALL[$key]:-}")" "%.0f ms")" \
        "$(fmt "$(med "${BUSY_ALL[$key]:-}")" "%.0f%%")"
done
for key in $KEYS; do
    [[ $key == berth:* ]] || continue
    ratio=$(med "${RATIO[$key]:-}")
    [ "$ratio" = - ] && continue
    echo
    printf 'berth / direct, %s: %s (goal ≥ 0.90×: %s).\n' "$(way "${key#*:}")" \
        "$(fmt "$ratio" "%.2f×")" "$(awk -v r="$ratio" 'BEGIN { print (r >= 0.9) ? "met" : "not met" }')"
done

if [ "$HELD" -gt 0 ] && [ ${#IDLE_BEFORE[@]} -gt 0 ]; then
    echo
    echo "Idle connections: $HELD held through each proxy (client connected, backend accepted, nobody sends);"
    echo "RSS (VmRSS, KiB = 1024 bytes) after a warm-up of $IDLE_WARMUP connections opened and closed, then with all $HELD open."
    [ "$HELD" -lt "$CONNS" ] && echo "($HELD, not $CONNS: the fd limit is $FDS and could not be raised.)"
    echo
    echo "| proxy | RSS before | RSS with $HELD idle connections | RSS per connection |"
    echo "| --- | ---: | ---: | ---: |"
    for target in $TARGETS; do
        [ -n "${IDLE_BEFORE[$target]:-}" ] || continue
        printf '| %s | %s | %s | %s |\n' "$(name "$target")" \
            "$(fmt "${IDLE_BEFORE[$target]}" "%.1f MiB" 0.0009765625)" \
            "$(fmt "${IDLE_AFTER[$target]}" "%.1f MiB" 0.0009765625)" \
            "$(awk -v a="${IDLE_AFTER[$target]}" -v b="${IDLE_BEFORE[$target]}" -v n="$HELD" \
                'BEGIN { printf "%.1f KiB", (a - b) / n }')"
    done
    if [ -n "${IDLE_BEFORE[berth]:-}" ]; then
        per=$(awk -v a="${IDLE_AFTER[berth]}" -v b="${IDLE_BEFORE[berth]}" -v n="$HELD" \
            'BEGIN { printf "%.1f", (a - b) * 1024 / n / 1000 }')
        echo
        printf 'berth: %s KB (1000 bytes) per idle connection (goal ≤ 20 KB: %s).\n' "$per" \
            "$(awk -v p="$per" 'BEGIN { print (p <= 20) ? "met" : "not met" }')"
    fi
fi
if [ "$FAILED" -ne 0 ]; then
    log "some runs failed; see above"
    exit 1
fi
