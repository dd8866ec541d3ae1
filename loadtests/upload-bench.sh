#!/usr/bin/env bash
# The bulk uploader beside its baselines, on the same files in the same run:
#  1. local hashing: `spindle upload`'s hashing phase (one file at a time, as openssl does)
#     beside `openssl dgst -sha256` over the same files (page cache warm for both);
#  2. end to end: `spindle upload` of the folder to a local Spindle (SQLite + local store:
#     hash, tus transfer, the server's own hash check and fsync, registration) beside
#     `curl -T` of the same files to nginx (WebDAV PUT) on the same machine.
# Not part of the suite: it writes about 3x FILES x SIZE to /tmp and installs nginx if missing.
#   FILES=4 SIZE=1G loadtests/upload-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-4}
SIZE=${SIZE:-1G}
source scripts/peers.sh
command -v xorriso >/dev/null || install_image_tools
if ! command -v nginx >/dev/null; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi

cargo build --release --quiet -p spindle
BIN=$PWD/target/release/spindle
W=$(mktemp -d /tmp/spindle-upbench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
rate() { python3 -c "import sys; b,t=float(sys.argv[1]),float(sys.argv[2]); print(f'{b/t/1e6:.0f}')" "$1" "$2"; }

echo "making $FILES images of $SIZE (random bytes in ISO 9660, made by xorriso)"
mkdir -p "$W/shelf" "$W/src"
for i in $(seq "$FILES"); do
  head -c "$SIZE" /dev/urandom >"$W/src/data.bin"
  xorriso -as mkisofs -quiet -iso-level 3 -V "BENCH$i" -o "$W/shelf/disc-$i.iso" "$W/src" 2>/dev/null
done
rm -rf "$W/src"
BYTES=$(du -cb "$W"/shelf/*.iso | tail -1 | cut -f1)
cat "$W"/shelf/*.iso >/dev/null  # warm the page cache for every reader below

# 1. Hashing.
best() { sort -n | head -1; }
OPENSSL=$(for _ in 1 2 3; do s=$(now); openssl dgst -sha256 "$W"/shelf/*.iso >/dev/null; e=$(now); echo "$e - $s" | bc; done | best)

"$BIN" --data-dir "$W/data" member add BENCH --name "Bench" >/dev/null
TOKEN=$("$BIN" --data-dir "$W/data" token create --role librarian --member BENCH 2>/dev/null)
SPORT=$(port)
SPINDLE_LOG__FILTER=warn "$BIN" --data-dir "$W/data" serve --listen "127.0.0.1:$SPORT" >"$W/server.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$SPORT" "$W/server.log"

# Hashing phase only: each run with a fresh state file, stopped by a dry server check
# (`hashing-done` is printed before anything is sent).
hash_run() {
  rm -f "$W/state.json"
  "$BIN" upload --server "http://127.0.0.1:$SPORT" --token "$TOKEN" --dir "$W/shelf" \
    --state "$W/state.json" --report "$W/hash-report" --json --hash-jobs "$1" --wait-link-secs 0 \
    >"$W/hash.jsonl" 2>/dev/null || true
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e.get("event")=="hashing-done": print(e["secs"])' "$W/hash.jsonl"
}
# The first run uploads everything; later runs find every blob stored, so they hash and stop.
hash_run 1 >/dev/null
SPINDLE1=$(for _ in 1 2 3; do hash_run 1; done | best)
SPINDLE2=$(for _ in 1 2 3; do hash_run 2; done | best)

# 2. End to end, into a fresh data folder each time.
kill "${PIDS[@]}" 2>/dev/null || true; PIDS=()
e2e() {
  local data="$W/e2e-data" jobs=$1
  rm -rf "$data" "$W/state.json"
  "$BIN" --data-dir "$data" member add BENCH --name "Bench" >/dev/null
  local token; token=$("$BIN" --data-dir "$data" token create --role librarian --member BENCH 2>/dev/null)
  local p; p=$(port)
  SPINDLE_LOG__FILTER=warn "$BIN" --data-dir "$data" serve --listen "127.0.0.1:$p" >"$W/server.log" 2>&1 &
  local pid=$!
  wait_ready "http://127.0.0.1:$p" "$W/server.log"
  sync
  local s; s=$(now)
  "$BIN" upload --server "http://127.0.0.1:$p" --token "$token" --dir "$W/shelf" --state "$W/state.json" \
    --report "$W/e2e-report" --json --concurrency "$jobs" --hash-jobs "$jobs" --wait-link-secs 0 >"$W/e2e.jsonl" 2>/dev/null
  local e; e=$(now)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  grep -q '"event":"done"' "$W/e2e.jsonl"
  python3 -c 'import json,sys
rows=json.load(open(sys.argv[1]))
assert all(r["outcome"]=="uploaded" for r in rows), rows' "$W/e2e-report.json"
  python3 - "$W/e2e.jsonl" "$jobs" >&2 <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
h = [e["secs"] for e in ev if e.get("event") == "hashing-done"][0]
sent = [f'{e["bytes"] / e["secs"] / 1e6:.0f}' for e in ev if e.get("event") == "sent"]
print(f"  end to end, {sys.argv[2]} at a time: hashing {h:.2f} s, then each file sent at {', '.join(sent)} MB/s")
PY
  echo "$e - $s" | bc
}
E2E1=$(e2e 1)
E2E2=$(e2e 2)

NPORT=$(port)
mkdir -p "$W/nginx/put" "$W/nginx/tmp"
# nginx's workers drop root for an unprivileged user, which must be able to write here.
chmod 755 "$W" && chmod 777 "$W/nginx/put" "$W/nginx/tmp"
cat >"$W/nginx.conf" <<CONF
worker_processes 2;
pid $W/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $W/nginx/tmp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$NPORT;
    root $W/nginx/put;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
CONF
nginx -c "$W/nginx.conf" -p "$W/nginx"
curl_run() {
  rm -rf "$W/nginx/put"/*
  sync
  local s; s=$(now)
  for f in "$W"/shelf/*.iso; do
    curl -sSf -T "$f" "http://127.0.0.1:$NPORT/$(basename "$f")" >/dev/null || { cat "$W/nginx/error.log" >&2; exit 1; }
  done
  [ "${1:-}" = sync ] && sync
  local e; e=$(now)
  echo "$e - $s" | bc
}
CURL=$(for _ in 1 2; do curl_run; done | best)
# Spindle syncs every part before it records it (a part it acknowledged survives a power
# cut); nginx does not. The fair baseline for durable ingest adds one `sync` at the end.
CURLSYNC=$(for _ in 1 2; do curl_run sync; done | best)
cmp "$W/shelf/disc-1.iso" "$W/nginx/put/disc-1.iso"

python3 - "$BYTES" "$OPENSSL" "$SPINDLE1" "$SPINDLE2" "$CURL" "$E2E1" "$E2E2" "$CURLSYNC" "$FILES" "$SIZE" <<'PY'
import sys
b, openssl, s1, s2, curl, e1, e2, cs = map(float, sys.argv[1:9])
files, size = sys.argv[9], sys.argv[10]
mb = lambda t: b / t / 1e6
print(f"\n{files} images of {size} ({b/1e9:.2f} GB), page cache warm; best of 3 (hashing) and 2 (curl)\n")
print("| measurement | time | rate | ratio |")
print("|---|---|---|---|")
print(f"| `openssl dgst -sha256` (baseline) | {openssl:.2f} s | {mb(openssl):.0f} MB/s | 1.00 |")
print(f"| `spindle upload` hashing, 1 file at a time | {s1:.2f} s | {mb(s1):.0f} MB/s | {openssl/s1:.2f}x |")
print(f"| `spindle upload` hashing, 2 files at a time | {s2:.2f} s | {mb(s2):.0f} MB/s | {openssl/s2:.2f}x |")
print(f"| `curl -T` to nginx (WebDAV PUT), one after another (baseline) | {curl:.2f} s | {mb(curl):.0f} MB/s | 1.00 |")
print(f"| `curl -T` to nginx, then `sync` (durable baseline) | {cs:.2f} s | {mb(cs):.0f} MB/s | {curl/cs:.2f}x |")
print(f"| `spindle upload` end to end, 1 at a time | {e1:.2f} s | {mb(e1):.0f} MB/s | {curl/e1:.2f}x ({cs/e1:.2f}x durable) |")
print(f"| `spindle upload` end to end, 2 at a time | {e2:.2f} s | {mb(e2):.0f} MB/s | {curl/e2:.2f}x ({cs/e2:.2f}x durable) |")
PY
