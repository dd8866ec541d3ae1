#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs and starts the real peers on loopback
# (PostgreSQL, Garage), then format and lint checks, then every test of the workspace, then
# every fuzz target for a bounded time (SPINDLE_FUZZ_SECONDS each, default 20). Every stage
# runs even when one before it failed (the fuzz stage too); the script fails at the end, naming
# each stage that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peers.sh

# The fuzz targets' build compiles the service again, instrumented (loadtests/RESULTS.md: about
# 8 minutes on 2 cores). It starts now at the lowest CPU and I/O priority, so it takes only what
# the installs, the lint, the tests' build and the suite leave idle (a third of the CPU while the
# suite runs); the fuzz stage waits for it. A failed build shows in the fuzz stage, which builds
# again and prints the errors.
FUZZ_BUILD_LOG=$(mktemp /tmp/spindle-fuzz-build.XXXXXX)
# Its own process group (setsid), so that stopping it stops cargo and rustc too.
setsid nice -n 19 ionice -c 3 scripts/fuzz.sh build >"$FUZZ_BUILD_LOG" 2>&1 &
export FUZZ_BUILD_PID=$!
stop_fuzz_build() {
  kill -- -"$FUZZ_BUILD_PID" 2>/dev/null || true
  rm -f "$FUZZ_BUILD_LOG"
}

start_peers
trap 'stop_fuzz_build; stop_peers' EXIT

failed=()
stage() {
  local name=$1
  shift
  echo "== $name"
  "$@" || failed+=("$name")
}
stage "cargo fmt" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
stage "cargo test" cargo test --workspace --locked --no-fail-fast -- "$@"
# Every parser of untrusted bytes, fuzzed for a bounded time after replaying its regressions.
wait "$FUZZ_BUILD_PID" || echo "== the fuzz build in the background failed (the fuzz stage builds again)"
stage "fuzz (${SPINDLE_FUZZ_SECONDS:-20}s per target)" scripts/fuzz.sh "${SPINDLE_FUZZ_SECONDS:-20}"
if ((${#failed[@]})); then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "== every stage passed"
