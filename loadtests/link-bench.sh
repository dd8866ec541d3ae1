#!/usr/bin/env bash
# End-to-end linking benchmark: a Zebra holding the test catalogue plus 10,000 generated
# book+CD records, a release Spindle (SQLite + local store) whose member's catalogue is that
# Zebra, and 1,000 discs registered by ISBN; prints the time until every disc is linked.
# Then a disc page's latency at a fixed rate with the linkers idle and with them waiting on a
# catalogue that never answers, each with the server's and the load client's CPU.
#   COUNT=1000 RECORDS=10000 RPS=50 SECS=10 loadtests/link-bench.sh
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
# The Zebra (and the hung catalogue below) are on loopback, which linking refuses unless listed.
SPINDLE_LINKING__ALLOW_NETWORKS='["127.0.0.0/8"]' SPINDLE_LOG__FILTER=warn "$BIN" --data-dir "$W/data" serve --listen "127.0.0.1:$PORT" >"$W/server.log" 2>&1 &
PID=$!
BASE="http://127.0.0.1:$PORT"
wait_ready "$BASE" "$W/server.log"
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

# Reader pages while the linkers wait on a catalogue that accepts connections and never
# answers (the latency judgement the suite's hung-catalogue drill leaves to this bench):
# the disc page at a fixed rate with the linkers idle, then with every linker waiting.
# Its own image and a barcode (uploading registers the image as an unbarcoded disc, and an
# unbarcoded registration of the same image is that disc).
mkdir -p "$W/page" && echo page >"$W/page/readme.txt"
xorriso -as mkisofs -quiet -r -J -o "$W/page.iso" "$W/page"
target/release/spindle-load --base "$BASE" --token "$TOKEN" upload "$W/page.iso" >/dev/null
PAGE_SHA=$(sha256sum "$W/page.iso" | cut -d' ' -f1)
DISC=$(curl -sf -X POST "$BASE/api/v1/discs" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"sha256\":\"$PAGE_SHA\",\"barcode\":\"BENCHPAGE\",\"label\":\"Bench page disc\",\"open\":true}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# CPU seconds (user + system) of the server, and of this shell's finished children (bash's
# `times`), so the load client's CPU is shown beside the server's.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# `times` runs in this shell (a $(…) subshell would not see its children); its second line is
# the children's user and system time.
children_of() {
  tail -1 "$1" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60 + t[2] } printf "%.2f", n }'
}
# One rate phase: the load client's JSON line, then both processes' CPU over it.
page_phase() {
  local s0
  s0=$(cpu_s "$PID")
  times >"$W/times0"
  target/release/spindle-load rate "$BASE/discs/$DISC" --rps "$RPS" --secs "$SECS" --expect-text 'Bench page disc'
  times >"$W/times1"
  echo "server CPU $(echo "$(cpu_s "$PID") - $s0" | bc) s," \
    "load client CPU $(echo "$(children_of "$W/times1") - $(children_of "$W/times0")" | bc) s"
}
RPS=${RPS:-50}
SECS=${SECS:-10}
echo "disc page /discs/$DISC at $RPS/s for $SECS s, linkers idle:"
page_phase
HANG_PORT=$(free_port)
python3 - "$HANG_PORT" "$W/hung-accepted" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c)  # read nothing, answer nothing, close nothing
    with open(sys.argv[2], "w") as f:
        f.write(str(len(held)))
PY
HANG=$!
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; kill "$HANG" 2>/dev/null; stop_peers; rm -rf "$W"' EXIT
curl -sf -X PUT "$BASE/api/v1/members/BENCH/catalogue" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d "{\"kind\":\"sru\",\"sru\":{\"url\":\"http://127.0.0.1:$HANG_PORT/hung\",\"timeout_secs\":60,\"retries\":0}}" >/dev/null
for i in $(seq 20); do
  curl -sf -X POST "$BASE/api/v1/discs" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"sha256\":\"$SHA\",\"isbn\":\"978730212345$((i % 10))\",\"barcode\":\"HANG$i\"}" >/dev/null
done
for _ in $(seq 100); do [ -s "$W/hung-accepted" ] && break; sleep 0.1; done
[ -s "$W/hung-accepted" ] || { echo "no linker reached the hung catalogue" >&2; exit 1; }
echo "the same page, every linker waiting on the hung catalogue ($(cat "$W/hung-accepted") connection(s) held):"
page_phase
