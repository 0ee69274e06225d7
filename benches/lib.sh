# Helpers shared by benches/compare.sh and benches/tcp.sh (sourced, not run): logging, the
# cleanup of started processes (the caller sets PIDS and WORK and traps EXIT), free ports,
# CPU ticks of a process tree, and medians.

log() { printf '%s\n' "$*" >&2; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

CHOSEN=" "

# Prints a TCP port no socket uses, below the ephemeral range (so no outgoing connection of
# a load generator or a proxy can hold it), and not handed out before.
free_port() {
    local low used port
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    used=" "
    for port in $(awk 'NR > 1 { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 \
        2>/dev/null); do
        used="$used$((16#$port)) "
    done
    for _ in $(seq 1000); do
        port=$((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
        case "$used$CHOSEN" in *" $port "*) continue ;; esac
        CHOSEN="$CHOSEN$port "
        echo "$port"
        return
    done
    die "no free port found"
}

# Prints the CPU ticks (utime + stime) of `pid` and its children (nginx's worker).
cpu_ticks() {
    local root=$1 total=0 stat rest f
    for stat in /proc/[0-9]*/stat; do
        { stat=$(<"$stat"); } 2>/dev/null || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        if [ "${stat%% *}" = "$root" ] || [ "${f[1]}" = "$root" ]; then
            total=$((total + f[11] + f[12]))
        fi
    done
    echo "$total"
}

# Prints the median of the numbers on stdin ("-" when there are none).
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        print m }'
}

med() { tr ' ' '\n' <<<"${1:-}" | { grep . || true; } | median; }
fmt() { [ "$1" = - ] && echo - || awk -v v="$1" -v f="$2" -v k="${3:-1}" 'BEGIN { printf f, v * k }'; }
