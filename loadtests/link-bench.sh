#!/usr/bin/env bash
# End-to-end linking benchmark: a Zebra holding the test catalogue plus 10,000 generated
# book+CD records, a release Spindle (SQLite + local store) whose member's catalogue is that
# Zebra, and 1,000 discs registered by ISBN; prints the time until every disc is linked.
#   COUNT=1000 RECORDS=10000 loadtests/link-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-1000}
RECORDS=${RECORDS:-10000}
source scripts/peers.sh
install_image_tools
cargo build --release --quiet -p spindle -p spindle-loadtests
W=$(mktemp -d /tmp/spindle-link-bench.XXXXXX)
PEERS_DIR="$W/peers"
mkdir -p "$PEERS_DIR"
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; stop_peers; rm -rf "$W"' EXIT

python3 tests/zebra/make-records.py "$W/records" --bench "$RECORDS" >/dev/null
t0=$(date +%s.%N)
ZEBRA_EXTRA_MARC21="$W/records/bench.xml" start_zebra
echo "Zebra indexed $RECORDS + 43 records in $(echo "$(date +%s.%N) - $t0" | bc) s"

BIN=target/release/spindle
"$BIN" --data-dir "$W/data" member add BENCH --name "Benchmark library" >/dev/null
TOKEN=$("$BIN" --data-dir "$W/data" token create --role librarian --member BENCH 2>/dev/null)
PORT=$(free_port)
SPINDLE_LOG__FILTER=warn "$BIN" --data-dir "$W/data" serve --listen "127.0.0.1:$PORT" >"$W/server.log" 2>&1 &
PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
curl -sf -X PUT "$BASE/api/v1/members/BENCH/catalogue" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d "{\"kind\":\"sru\",\"sru\":{\"url\":\"$SPINDLE_TEST_ZEBRA_URL/marc21\"}}" >/dev/null

mkdir -p "$W/iso" && echo bench >"$W/iso/readme.txt"
xorriso -as mkisofs -quiet -r -J -o "$W/bench.iso" "$W/iso"
target/release/spindle-load --base "$BASE" --token "$TOKEN" upload "$W/bench.iso" >/dev/null
SHA=$(sha256sum "$W/bench.iso" | cut -d' ' -f1)
echo "machine: $(nproc) cores, $(date -u +%F); Spindle release, SQLite + local store; linker: 1 worker"
target/release/spindle-link-bench --base "$BASE" --token "$TOKEN" --sha256 "$SHA" \
  --isbns "$W/records/bench-isbns.txt" --count "$COUNT"
