#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs and starts the real peers on loopback
# (PostgreSQL, Garage), then format and lint checks, then every test of the workspace, then
# every fuzz target for a bounded time (SPINDLE_FUZZ_SECONDS each, default 20). Every stage
# runs even when one before it failed (the fuzz stage too); the script fails at the end, naming
# each stage that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peers.sh

start_peers

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
stage "fuzz (${SPINDLE_FUZZ_SECONDS:-20}s per target)" scripts/fuzz.sh "${SPINDLE_FUZZ_SECONDS:-20}"
if ((${#failed[@]})); then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "== every stage passed"
