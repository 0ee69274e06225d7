#!/usr/bin/env bash
# The test command README gives: installs what the tests need and is missing (the Docker
# engine, docker-compose, HAProxy, curl, openssl, Pebble, Prometheus, Chromium), starts the
# engine if it is not running (docs/ARCHITECTURE.md "Against a real Docker engine"), then
# runs `cargo test --locked`.
# Extra arguments go to cargo test (`bash scripts/test.sh --test proxy`). Without arguments, a
# short fuzzing run of every parser target follows the tests (`scripts/fuzz.sh`, 20 s each;
# FUZZ_SECONDS=0 leaves it out of a local run; CI always runs it).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }

engine_up() { docker info >/dev/null 2>&1; }

if ! engine_up; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "test: installing docker.io" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  if ! engine_up; then
    echo "test: starting dockerd" >&2
    (dockerd >/tmp/berth-test-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  fi
fi
engine_up && echo "test: docker engine reachable" >&2 || echo "test: docker engine NOT reachable" >&2

# tests/docker/docker_compose.rs brings up examples/compose.yaml with the Compose tool;
# tests/docker/docker_socket_proxy.rs puts HAProxy in front of the engine's socket;
# tests/proxy/tls.rs talks to berth with the real curl and openssl clients.
export PATH=$PATH:/usr/sbin:/sbin
need docker-compose docker-compose
need haproxy haproxy
need curl curl
need openssl openssl
# tests/acme/ (and the Docker ACME test) order certificates from Pebble and its DNS.
need pebble pebble
need pebble-challtestsrv pebble
# tests/proxy/prometheus.rs scrapes berth with a real Prometheus server and lints /metrics with
# promtool; tests/proxy/dashboard.rs renders the admin dashboard in headless Chromium.
need prometheus prometheus
need promtool prometheus
need chromium chromium
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf "%s\n" "${missing[@]}" | sort -u)
  echo "test: installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test --locked "$@"

fuzz_seconds="${FUZZ_SECONDS:-20}"
if [ $# -eq 0 ] && [ "$fuzz_seconds" != 0 ]; then
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
