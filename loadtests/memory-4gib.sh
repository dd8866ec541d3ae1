#!/usr/bin/env bash
# Uploads a 4 GiB image through Spindle with tus, then downloads it with 1 and N concurrent
# streams, and reports the server's resident memory (idle, peak during upload, peak during
# downloads). Embedded defaults: SQLite + local directory store. Not part of the default
# suite: it writes 8+ GiB to /tmp and takes a minute or two.
#   SIZE=4G STREAMS=8 loadtests/memory-4gib.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-4G}
STREAMS=${STREAMS:-8}

cargo build --release --quiet -p spindle -p spindle-loadtests
BIN=target/release/spindle
LOAD=target/release/spindle-load
W=$(mktemp -d /tmp/spindle-mem.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

echo "making a $SIZE image of random bytes"
# Random bytes: nothing along the way can compress or deduplicate them.
head -c "$SIZE" /dev/urandom >"$W/image.iso"
"$BIN" --data-dir "$W/data" member add LOAD --name "Load test" >/dev/null
TOKEN=$("$BIN" --data-dir "$W/data" token create --role librarian --member LOAD 2>/dev/null)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SPINDLE_LOG__FILTER=warn "$BIN" --data-dir "$W/data" serve --listen "127.0.0.1:$PORT" >"$W/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$PID/status"; }
IDLE=$(rss VmRSS)
"$LOAD" --base "http://127.0.0.1:$PORT" --token "$TOKEN" upload "$W/image.iso"
UPLOAD_PEAK=$(rss VmHWM)
"$LOAD" --base "http://127.0.0.1:$PORT" --token "$TOKEN" download 1 --streams 1
"$LOAD" --base "http://127.0.0.1:$PORT" --token "$TOKEN" download 1 --streams "$STREAMS"
PEAK=$(rss VmHWM)

cat <<REPORT

| server memory ($SIZE image, part size 8 MiB)  | KiB        |
|-----------------------------------------------|------------|
| idle after start                              | $IDLE |
| peak after the upload                         | $UPLOAD_PEAK |
| peak after 1 + $STREAMS concurrent downloads  | $PEAK |
REPORT
