#!/usr/bin/env bash
# Soak: berth under half of its peak load for DURATION seconds (30 min by default) while a
# container of the service it balances is started and stopped every CHURN seconds.
#
# What is measured and why: a load balancer runs for months; a slow leak of memory or of
# descriptors, or requests failing as containers come and go, shows only over time. berth
# runs with Docker discovery; the service `soak` is one steady replica container plus one
# that is started, left CHURN s, stopped (SIGTERM: it drains, as `docker stop` does) and
# removed, over and over. h2load (HTTP/1.1) first measures the peak for 10 s, then holds
# half of it (`--rps` per connection) for DURATION; every SAMPLE s berth's RSS and open
# descriptors go into a CSV. At the end it prints min/max RSS and descriptors, the RSS
# spread against the first sample after warm-up (flat: within ±10%), the churn cycles and
# the failed requests (non-2xx answers and errors): a stopped container costs none when
# berth drains it, so any is worth a look.
#
# Not a CI test (it takes DURATION). Usage: bash benches/soak.sh
#   Tuning: DURATION=1800 CHURN=5 SAMPLE=10 CONNS=32 THREADS=2 CSV=./soak.csv
#   BERTH_BIN=path (default: `cargo build --release`), REPLICA_BIN=path (default: the static
#   replica built as the Docker tests build it, tests/docker/docker_common/image.rs).
# Needs: docker (a reachable engine), h2load, python3.
set -euo pipefail

DURATION=${DURATION:-1800}
CHURN=${CHURN:-5}
SAMPLE=${SAMPLE:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
CSV=${CSV:-$PWD/soak.csv}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-soak.XXXXXX")
RUN=berth-soak-$$
PIDS=()
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
soak_cleanup() {
    docker ps -aq --filter "label=soak.run=$RUN" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker rmi -f "$RUN:replica" >/dev/null 2>&1 || true
    cleanup
}
trap soak_cleanup EXIT

for tool in docker h2load python3; do
    command -v "$tool" >/dev/null || { log "soak: $tool is needed"; exit 1; }
done

if [[ -z "${BERTH_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet --bin berth)
    BERTH_BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/berth
fi
if [[ -z "${REPLICA_BIN:-}" ]]; then
    target=$(uname -m)-unknown-linux-gnu
    (cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_LTO=false \
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false \
        CARGO_PROFILE_RELEASE_STRIP=symbols \
        cargo build --release --quiet --features replica --bin replica --target "$target")
    REPLICA_BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/$target/release/replica
fi

# The replica image, FROM scratch as in the Docker tests.
mkdir -p "$WORK/image"
cp "$REPLICA_BIN" "$WORK/image/replica"
printf 'FROM scratch\nCOPY replica /replica\nEXPOSE 8080\nENTRYPOINT ["/replica"]\n' \
    >"$WORK/image/Dockerfile"
docker build -q --no-cache -t "$RUN:replica" "$WORK/image" >/dev/null 2>"$WORK/build.log" ||
    { cat "$WORK/build.log" >&2; exit 1; }

WEB=$(free_port)
ADMIN=$(free_port)
cat >"$WORK/berth.yaml" <<YAML
listeners:
  web: { address: "127.0.0.1:$WEB", protocol: http }
admin: { address: "127.0.0.1:$ADMIN" }
docker: { enabled: true }
workers: 1
YAML
"$BERTH_BIN" run --config "$WORK/berth.yaml" >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
PIDS+=("$BERTH_PID")

replica() {
    docker run -d --label "soak.run=$RUN" --label berth.enable=true \
        --label berth.service=soak "$RUN:replica" >/dev/null
}
replica
URL="http://127.0.0.1:$WEB/"
for _ in $(seq 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$URL" || true) == 200 ]] && break
    sleep 0.1
done
[[ $(curl -s -o /dev/null -w '%{http_code}' "$URL" || true) == 200 ]] || {
    log "soak: berth never routed the replica"; cat "$WORK/berth.log" >&2; exit 1
}

# Peak: as fast as CONNS connections go, 10 s.
h2load --h1 -c "$CONNS" -t "$THREADS" -D 10 "$URL" >"$WORK/peak.txt"
PEAK=$(awk '/^finished in/ { sub(/,/, "", $4); print int($4) }' "$WORK/peak.txt")
RPS=$((PEAK / 2 / CONNS))
((RPS > 0)) || RPS=1
log "soak: peak $PEAK req/s; holding $((RPS * CONNS)) req/s for ${DURATION}s," \
    "a container started and stopped every ${CHURN}s"

# The churn: start one, leave it CHURN s, stop (it drains) and remove it, again and again.
(
    cycles=0
    while true; do
        id=$(docker run -d --label "soak.run=$RUN" --label berth.enable=true \
            --label berth.service=soak "$RUN:replica")
        sleep "$CHURN"
        docker stop -t 10 "$id" >/dev/null
        docker rm "$id" >/dev/null
        cycles=$((cycles + 1))
        echo "$cycles" >"$WORK/cycles"
    done
) &
PIDS+=($!)

# Samples of berth's RSS and descriptors.
echo "seconds,rss_kib,fds" >"$CSV"
(
    start=$SECONDS
    while kill -0 "$BERTH_PID" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$BERTH_PID/status")
        fds=$(find "/proc/$BERTH_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
        echo "$((SECONDS - start)),$rss,$fds" >>"$CSV"
        sleep "$SAMPLE"
    done
) &
PIDS+=($!)

h2load --h1 -c "$CONNS" -t "$THREADS" --rps "$RPS" -D "$DURATION" "$URL" >"$WORK/load.txt"

# `succeeded`: answered with any status; `failed`: no answer (reset, timeout, error).
read -r done answered unanswered ok < <(awk '/^requests:/ { d = $6; s = $8; f = $10 }
    /^status codes:/ { o = $3 } END { print d, s, f, o }' "$WORK/load.txt")
python3 - "$CSV" "$SAMPLE" <<'PY'
import csv, sys
rows = [(int(r["seconds"]), int(r["rss_kib"]), int(r["fds"])) for r in csv.DictReader(open(sys.argv[1]))]
# The first samples are the warm-up (the peak run, the first connections).
warm = [r for r in rows if r[0] >= 2 * int(sys.argv[2])] or rows
base = warm[0][1]
rss = [r[1] for r in warm]
fds = [r[2] for r in warm]
spread = max(abs(min(rss) - base), abs(max(rss) - base)) * 100 / base
print(f"samples: {len(rows)} (every {sys.argv[2]} s)")
print(f"RSS KiB: min {min(rss)}, max {max(rss)}, first after warm-up {base}: "
      f"{spread:.1f}% at most ({'flat' if spread <= 10 else 'NOT flat'}, ±10%)")
# Upstream connections come and go with the churned container: flat means no growth, the
# second half's most no higher than the first half's.
half = len(fds) // 2 or 1
grew = max(fds[half:] or fds) - max(fds[:half])
print(f"fds: min {min(fds)}, max {max(fds)}, second half's max {'+' if grew >= 0 else ''}{grew} "
      f"over the first half's ({'flat' if grew <= 0 else 'growing'})")
PY
echo "churn cycles: $(cat "$WORK/cycles" 2>/dev/null || echo 0)"
echo "requests: $done done, $ok 2xx; failed: $((unanswered + answered - ok))" \
    "($unanswered unanswered, $((answered - ok)) not 2xx)"
echo "h2load: $(grep -E '^requests:' "$WORK/load.txt")"
echo "CSV: $CSV"
