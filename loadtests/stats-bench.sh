#!/usr/bin/env bash
# Statistics benchmarks: (1) usage events recorded per second while readers view a disc and
# download its image (release Spindle, SQLite + local store); (2) the rollup of N synthetic
# events over D days, on SQLite and on PostgreSQL (started on loopback like the suite's).
#   EVENTS=10000000 DAYS=30 READERS=32 SECS=10 loadtests/stats-bench.sh   (EVENTS=0: only the first)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-10000000}
DAYS=${DAYS:-30}
READERS=${READERS:-32}
SECS=${SECS:-10}
source scripts/peers.sh
install_image_tools
install_peers
cargo build --release --quiet -p spindle -p spindle-loadtests
W=$(mktemp -d /tmp/spindle-stats-bench.XXXXXX)
PEERS_DIR="$W/peers"
mkdir -p "$PEERS_DIR" && chmod 755 "$W" "$PEERS_DIR"
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; stop_peers; rm -rf "$W"' EXIT
BIN=target/release/spindle
BENCH=target/release/spindle-stats-bench
echo "machine: $(nproc) cores, $(date -u +%F); Spindle release build"

echo "== events recorded with downloads running (SQLite + local store)"
"$BIN" --data-dir "$W/data" member add BENCH --name "Benchmark library" >/dev/null
TOKEN=$("$BIN" --data-dir "$W/data" token create --role librarian --member BENCH 2>/dev/null)
"$BIN" --data-dir "$W/data" network set BENCH 127.0.0.0/8 >/dev/null
PORT=$(free_port)
SPINDLE_LOG__FILTER=warn "$BIN" --data-dir "$W/data" serve --listen "127.0.0.1:$PORT" >"$W/server.log" 2>&1 &
PID=$!
BASE="http://127.0.0.1:$PORT"
wait_ready "$BASE" "$W/server.log"
mkdir -p "$W/iso" && head -c 8M /dev/urandom >"$W/iso/data.bin"
xorriso -as mkisofs -quiet -r -J -o "$W/bench.iso" "$W/iso"
target/release/spindle-load --base "$BASE" --token "$TOKEN" upload "$W/bench.iso" >/dev/null
SHA=$(sha256sum "$W/bench.iso" | cut -d' ' -f1)
DISC=$(curl -sf -X POST "$BASE/api/v1/discs" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"sha256\":\"$SHA\",\"open\":true,\"barcode\":\"OPEN-1\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$BENCH" events --base "$BASE" --disc "$DISC" --secs "$SECS" --concurrency "$READERS"
"$BENCH" events --base "$BASE" --disc "$DISC" --secs "$SECS" --concurrency "$READERS" --views-only | tail -1
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

[ "$EVENTS" -gt 0 ] || exit 0
echo "== rollup of $EVENTS events over $DAYS days"
"$BENCH" rollup --database "sqlite://$W/rollup.db" --events "$EVENTS" --days "$DAYS"
start_postgres
DB="spindle_bench_$RANDOM"
"$(pg_bindir)/psql" "$SPINDLE_TEST_PG_URL" -qc "CREATE DATABASE $DB" >/dev/null
"$BENCH" rollup --database "${SPINDLE_TEST_PG_URL%/postgres}/$DB" --events "$EVENTS" --days "$DAYS" | tail -1
