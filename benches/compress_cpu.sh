#!/usr/bin/env bash
# CPU per MiB of response compression: berth (gzip 6, Brotli 4, zstd 3) against nginx's
# gzip (levels 6 and 1), on the same 1 MiB text file. README, "Compression", records the
# figures.
#
# nginx (Debian's: `apt-get install -y nginx`) serves the file itself, compressed on two
# ports (gzip_comp_level 1 and 6) and plain on a third; berth (release build, one worker)
# proxies the plain port with one service per encoding. Each case runs
# `wrk -t1 -c4 -d${SECONDS_EACH}s` with its `Accept-Encoding`, and reads the server
# process's utime+stime (/proc/PID/stat) before and after: CPU ms per request = per MiB
# of input. Run it on a quiet machine (`uptime`).
#
# Usage: cargo build --release --bin berth && bash benches/compress_cpu.sh
set -euo pipefail
BERTH=${BERTH:-${CARGO_TARGET_DIR:-target}/release/berth}
SECONDS_EACH=${SECONDS_EACH:-10}
dir=$(mktemp -d /tmp/berth-compress-cpu.XXXXXX)
chmod 755 "$dir"   # nginx's workers run as another user
mkdir -p "$dir/www"
find "$(dirname "$0")/../src" -name '*.rs' | sort | xargs cat | head -c 1048576 > "$dir/www/page.txt" || true

for level in 1 6; do
  cat > "$dir/nginx-$level.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx-$level.pid;
error_log $dir/nginx-$level.err;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  types { text/plain txt; }
  server { listen 127.0.0.1:1808$level; root $dir/www;
           gzip on; gzip_comp_level $level; gzip_types text/plain; }
  server { listen 127.0.0.1:1809$level; root $dir/www; }
}
CONF
done
cat > "$dir/berth.yaml" <<CONF
listeners: { web: { address: "127.0.0.1:18070", protocol: http } }
admin: { address: "127.0.0.1:18079" }
docker: { enabled: false }
workers: 1
log: { level: warn }
services:
  gz: { hosts: [gz.test], compress: { encodings: [gzip] }, backends: ["127.0.0.1:18096"] }
  br: { hosts: [br.test], compress: { encodings: [br] }, backends: ["127.0.0.1:18096"] }
  zs: { hosts: [zs.test], compress: { encodings: [zstd] }, backends: ["127.0.0.1:18096"] }
  plain: { hosts: [plain.test], backends: ["127.0.0.1:18096"] }
CONF

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$dir"
}
trap cleanup EXIT
nginx -c "$dir/nginx-1.conf" -p "$dir" & pids+=($!)
nginx -c "$dir/nginx-6.conf" -p "$dir" & pids+=($!)
"$BERTH" run --config "$dir/berth.yaml" > "$dir/berth.log" 2>&1 & pids+=($!)
berth_pid=$!
sleep 2
worker() { pgrep -P "$(cat "$dir/nginx-$1.pid")"; }
for url in 127.0.0.1:18086/page.txt 127.0.0.1:18070/page.txt; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: gz.test' "http://$url")
  [ "$code" = 200 ] || { echo "http://$url answers $code, not 200" >&2; exit 1; }
done

# bench PID URL HOST ENCODING
bench() {
  local pid=$1 url=$2 host=$3 enc=$4 tck before after out reqs size
  tck=$(getconf CLK_TCK)
  before=$(awk '{print $14+$15}' "/proc/$pid/stat")
  out=$(wrk -t1 -c4 -d"${SECONDS_EACH}s" -H "Host: $host" -H "Accept-Encoding: $enc" "$url")
  after=$(awk '{print $14+$15}' "/proc/$pid/stat")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  size=$(curl -s -H "Host: $host" -H "Accept-Encoding: $enc" "$url" | wc -c)
  awk -v b="$before" -v a="$after" -v t="$tck" -v r="$reqs" -v s="$size" -v h="$5" 'BEGIN {
    c = (a - b) / t; printf "%-34s %6d requests  %6.2f ms CPU per MiB  output %5.1f%%\n",
    h, r, 1000 * c / r, 100 * s / 1048576 }'
}

uptime
bench "$(worker 6)" http://127.0.0.1:18086/page.txt x gzip "nginx gzip_comp_level 6"
bench "$berth_pid" http://127.0.0.1:18070/page.txt gz.test gzip "berth gzip 6"
bench "$(worker 1)" http://127.0.0.1:18081/page.txt x gzip "nginx gzip_comp_level 1"
bench "$berth_pid" http://127.0.0.1:18070/page.txt br.test br "berth brotli 4"
bench "$berth_pid" http://127.0.0.1:18070/page.txt zs.test zstd "berth zstd 3"
bench "$berth_pid" http://127.0.0.1:18070/page.txt plain.test gzip "berth, no compression"
bench "$(worker 6)" http://127.0.0.1:18096/page.txt x identity "nginx static, no compression"
uptime
