#!/usr/bin/env bash
# Fuzzes the parsers an attacker or a bad config controls (fuzz/README.md): runs each
# cargo-fuzz target for SECONDS (default 20), starting from its corpus in fuzz/corpus/.
# Installs cargo-fuzz (and a nightly toolchain, through rustup) if missing.
# Prints one line per target; exits non-zero on any finding (a crash, a failed property,
# a timeout or an out-of-memory), whose input libFuzzer writes to fuzz/artifacts/<target>/.
# New inputs go to a temporary directory, so the committed corpora stay as they are.
# FUZZ_TARGETS="sni route" limits the run to those targets.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-20}"
targets=(${FUZZ_TARGETS:-labels config route target sni proxy_protocol})

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

# Release with debug assertions and overflow checks, AddressSanitizer (cargo-fuzz's default).
flags=(+nightly fuzz run --release --debug-assertions)
echo "fuzz: building ${#targets[@]} targets" >&2
cargo +nightly fuzz build --release --debug-assertions >&2

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1)
  [ -f "dict/$t.dict" ] && args+=(-dict="dict/$t.dict")
  log="$scratch/$t.log"
  status=0
  cargo "${flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- "${args[@]}" >"$log" 2>&1 || status=$?
  # No stats when the run could not start (a missing corpus, a build error): `|| true`
  # keeps the script going to the FAILED line below instead of ending it silently.
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  seeds=$(ls "corpus/$t" 2>/dev/null | wc -l || true)
  new=$(ls "$scratch/$t" | wc -l)
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $t: ok, ${runs:-?} executions in ${seconds}s, $seeds seeds + $new new inputs"
  else
    echo "fuzz: $t: FAILED (exit $status) after ${runs:-?} executions; log:"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|Base64|No such file|^error' "$log" | head -20 | sed 's/^/  /'
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
