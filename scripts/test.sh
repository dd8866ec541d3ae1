#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs and starts the real peers on loopback
# (PostgreSQL, Garage), then format and lint checks, then every test of the workspace, then
# every fuzz target for a bounded time (SPINDLE_FUZZ_SECONDS each, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peers.sh

start_peers

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast -- "$@"
# Every parser of untrusted bytes, fuzzed for a bounded time after replaying its regressions.
echo "== fuzz (${SPINDLE_FUZZ_SECONDS:-20}s per target)"
scripts/fuzz.sh "${SPINDLE_FUZZ_SECONDS:-20}"
