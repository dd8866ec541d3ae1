#!/usr/bin/env bash
# Ingest beside its baseline in alternating pairs (issue 23 item 3): the baseline is what a
# careful copy of the same bytes costs on this disk (`openssl dgst -sha256`, then `cp`, then
# `sync`); Spindle's figure is the tus transfer of the same image into a fresh server on its
# embedded defaults (SQLite + local store): the server's own SHA-256 of every part, its
# writes and the `fdatasync` of every part before the part is recorded, up to the 204 of the
# last PATCH. The client's own hashing before the upload is timed apart (`hash_secs`), as in
# `loadtests/run.sh`. Each round runs the baseline, Spindle, and a second baseline that
# writes past the page cache as Spindle does (`dd oflag=direct`); the two baselines swap
# places from one round to the next so neither always meets the disk after the other's
# writeback, and every run starts after a `sync`.
# Not part of the suite: it writes about 3 x SIZE under /tmp.
#   PAIRS=6 SIZE=2G loadtests/ingest-bench.sh [SERVER_BIN LOAD_BIN]
# Prints one JSON line per run (the server's CPU seconds, from /proc, beside each Spindle run)
# and Spindle's median ratio to each baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAIRS=${PAIRS:-6}
SIZE=${SIZE:-2G}
source scripts/peers.sh
command -v xorriso >/dev/null || die "ingest-bench needs xorriso (scripts/peers.sh install_image_tools)"
SERVER_BIN=${1:-}
LOAD_BIN=${2:-}
if [ -z "$SERVER_BIN" ]; then
  cargo build --release --quiet -p spindle -p spindle-loadtests
  SERVER_BIN=$ROOT/target/release/spindle
  LOAD_BIN=$ROOT/target/release/spindle-load
fi
W=$(mktemp -d /tmp/spindle-ingest.XXXXXX)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
now() { date +%s.%N; }
# CPU seconds (user + system) a process and its threads have used.
cpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

mkdir -p "$W/src"
head -c "$SIZE" /dev/urandom >"$W/src/data.bin"
xorriso -as mkisofs -quiet -iso-level 3 -V INGEST -o "$W/image.iso" "$W/src" 2>/dev/null
rm -rf "$W/src"
BYTES=$(stat -c %s "$W/image.iso")
cat "$W/image.iso" >/dev/null

# The issue's baseline (`cp`, through the page cache, then `sync`) and a second one that
# writes as Spindle's local store now does (`dd oflag=direct`, 8 MiB blocks, past the page
# cache), each after the same `openssl dgst -sha256`.
baseline() {
  local side=$1 s e
  sync
  s=$(now)
  openssl dgst -sha256 "$W/image.iso" >/dev/null
  if [ "$side" = baseline ]; then
    cp "$W/image.iso" "$W/copy.iso"
  else
    dd if="$W/image.iso" of="$W/copy.iso" bs=8M oflag=direct status=none
  fi
  sync
  e=$(now)
  rm -f "$W/copy.iso"
  sync
  python3 -c 'import json,sys; b,t=int(sys.argv[2]),float(sys.argv[3]); print(json.dumps({"side":sys.argv[1],"bytes":b,"secs":round(t,3),"mb_per_s":round(b/t/1e6)}))' \
    "$side" "$BYTES" "$(echo "$e - $s" | bc)"
}

spindle() {
  local data="$W/data"
  rm -rf "$data"
  "$SERVER_BIN" --data-dir "$data" member add BENCH --name Bench >/dev/null
  local token port
  token=$("$SERVER_BIN" --data-dir "$data" token create --role librarian --member BENCH 2>/dev/null)
  port=$(free_port)
  SPINDLE_LOG__FILTER=warn "$SERVER_BIN" --data-dir "$data" serve --listen "127.0.0.1:$port" >"$W/server.log" 2>&1 &
  PID=$!
  wait_ready "http://127.0.0.1:$port" "$W/server.log"
  sync
  local c0 line c1
  c0=$(cpu "$PID")
  line=$("$LOAD_BIN" --base "http://127.0.0.1:$port" --token "$token" upload "$W/image.iso" 2>/dev/null)
  c1=$(cpu "$PID")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  echo "$line" | python3 -c 'import json,sys
r=json.load(sys.stdin); c=float(sys.argv[1])
print(json.dumps({"side":"spindle","bytes":r["bytes"],"secs":round(r["secs"],3),"mb_per_s":round(r["mb_per_s"]),
  "client_hash_secs":round(r["hash_secs"],3),"server_cpu_s":round(c,2)}))' "$(echo "$c1 - $c0" | bc)"
  # The blob must be the image, byte for byte.
  cmp "$W/image.iso" "$(find "$data" -type f -size "$(stat -c %s "$W/image.iso")c" | head -1)"
  rm -rf "$data"
}

for i in $(seq "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then
    baseline baseline; spindle; baseline direct-baseline
  else
    baseline direct-baseline; spindle; baseline baseline
  fi
done | tee "$W/runs.jsonl"
python3 - "$W/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
rate = lambda side: [r["mb_per_s"] for r in runs if r["side"] == side]
s = rate("spindle")
print(f"Spindle MB/s {sorted(s)}, server CPU s {sorted(r['server_cpu_s'] for r in runs if r['side'] == 'spindle')}")
for side, name in (("baseline", "sha256 + cp + sync"), ("direct-baseline", "sha256 + dd oflag=direct + sync")):
    b = rate(side)
    pairs = [x / y for x, y in zip(s, b)]
    print(f"{name}: MB/s {sorted(b)}; Spindle / it per run: {', '.join(f'{p:.2f}' for p in pairs)}; "
          f"median {statistics.median(pairs):.2f}x")
PY
