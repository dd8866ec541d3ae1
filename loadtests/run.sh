#!/usr/bin/env bash
# Spindle side by side with the best that can serve the same bytes on this machine, in one
# run, printing one table of ratios:
#   1. whole-image download, 1 and 16 streams          (nginx sendfile of the same file)
#   2. random 64 KiB ranges, 16 connections             (nginx, same ranges of the same file)
#   3. one file from inside the ISO, 1 and 16 streams   (nginx serving the extracted file)
#   4. disc page, folder listing and folder page at a fixed rate, p50/p99 (nginx autoindex)
#   5. upload ingest with tus                           (openssl dgst -sha256 + cp + sync)
#   6. usage events recorded (and dropped) while 1 and 4 run
#   7. server memory with many slow downloads, a big image and a small one
# On Spindle with PostgreSQL + Garage, the baseline for 1 and 2 is object_store's own GETs of
# the same object from the same Garage.
#
#   loadtests/run.sh                  the full run: SIZE=4G, SECS=10 per scenario (~10 min)
#   SMOKE=1 loadtests/run.sh          tiny image, 1 s per scenario: checks the harness works
#   BACKENDS=local loadtests/run.sh   SQLite + local store only
#   ONLY=memory loadtests/run.sh      ingest and 7 only (no nginx baselines, no table of ratios)
#
# The full run builds release binaries, starts its own PostgreSQL and Garage (scripts/peers.sh)
# unless SPINDLE_TEST_PG_URL / SPINDLE_TEST_S3_* name running ones, and needs about 4 x SIZE
# of free disk under /tmp. Results: one JSON line per measurement in $OUT (default
# target/loadtests/results.jsonl) and the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  SIZE=${SIZE:-24M}; SECS=${SECS:-1}; RPS=${RPS:-50}; SLOW_CONNS=${SLOW_CONNS:-20}; SLOW_SECS=${SLOW_SECS:-2}
else
  SIZE=${SIZE:-4G}; SECS=${SECS:-10}; RPS=${RPS:-500}; SLOW_CONNS=${SLOW_CONNS:-1000}; SLOW_SECS=${SLOW_SECS:-15}
fi
SMALL=${SMALL:-16M}
BACKENDS=${BACKENDS:-local s3}
ONLY=${ONLY:-}
[ -z "$ONLY" ] || [ "$ONLY" = memory ] || die "ONLY may be memory, not $ONLY"
OUT=${OUT:-$ROOT/target/loadtests/results.jsonl}

source scripts/peers.sh
for tool in xorriso nginx bsdtar openssl curl; do
  command -v "$tool" >/dev/null || die "loadtests need $tool (scripts/peers.sh install_image_tools; apt-get install nginx)"
done
if [ -z "${SERVER_BIN:-}" ] || [ -z "${LOAD_BIN:-}" ]; then
  cargo build --release --quiet -p spindle -p spindle-loadtests
  SERVER_BIN=$ROOT/target/release/spindle
  LOAD_BIN=$ROOT/target/release/spindle-load
fi
# 1,000 slow downloads hold 1,000 sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

W=$(mktemp -d /tmp/spindle-loadtests.XXXXXX)
chmod 755 "$W"
SERVER_PIDS=()
cleanup() {
  for p in "${SERVER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true
  if [ -n "${OWN_PEERS:-}" ]; then stop_peers; fi
  rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$(dirname "$OUT")"
: >"$OUT"

if [[ " $BACKENDS " == *" s3 "* ]] && [ -z "${SPINDLE_TEST_S3_ENDPOINT:-}" ]; then
  install_peers
  PEERS_DIR=$(mktemp -d /tmp/spindle-peers.XXXXXX); chmod 755 "$PEERS_DIR"
  OWN_PEERS=1
  start_postgres
  start_garage
fi

# ---- fixtures: the image, the same files for nginx, a small image ----
echo "== making a $SIZE image (random data file + 100 folders of 20 small files) with xorriso"
mkdir -p "$W/www/x"
head -c "$SIZE" /dev/urandom >"$W/www/x/data.bin"
for d in $(seq -w 0 99); do
  mkdir -p "$W/www/x/dir0$d"
  for f in $(seq -w 0 19); do echo "folder $d file $f" >"$W/www/x/dir0$d/file$f.txt"; done
done
xorriso -as mkisofs -quiet -iso-level 3 -r -J -V LOADTEST -o "$W/www/image.iso" "$W/www/x" 2>/dev/null
mkdir -p "$W/small"; head -c "$SMALL" /dev/urandom >"$W/small/small.bin"
xorriso -as mkisofs -quiet -iso-level 3 -r -J -V SMALL -o "$W/small.iso" "$W/small" 2>/dev/null
# The extracted tree nginx serves must be what a real reader finds on the disc.
bsdtar -xOf "$W/www/image.iso" dir042/file07.txt | cmp - "$W/www/x/dir042/file07.txt"
IMAGE_BYTES=$(stat -c %s "$W/www/image.iso")
FILE_BYTES=$(stat -c %s "$W/www/x/data.bin")
cat "$W/www/image.iso" "$W/www/x/data.bin" >/dev/null  # page cache warm for every reader

# ---- nginx, sendfile, the same files ----
NPORT=$(free_port)
mkdir -p "$W/nginx/tmp"
cat >"$W/nginx.conf" <<CONF
worker_processes 2;
pid $W/nginx.pid;
error_log $W/nginx/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $W/nginx/tmp;
  server {
    listen 127.0.0.1:$NPORT;
    root $W/www;
    location /x/ { autoindex on; }
  }
}
CONF
nginx -c "$W/nginx.conf" -p "$W/nginx"
NGINX=http://127.0.0.1:$NPORT

# Smoke runs compare every byte under load with the file it must be (a timed run would make
# the client read the file beside the server; its bytes are checked once, before timing).
CHECK_IMAGE=(); CHECK_FILE=()
if [ "$SMOKE" = 1 ]; then
  CHECK_IMAGE=(--verify "$W/www/image.iso"); CHECK_FILE=(--verify "$W/www/x/data.bin")
fi

record() { python3 "$ROOT/loadtests/table.py" record "$OUT" "$@"; }  # backend side case < JSON line
metric() { curl -sf "$1/metrics" | awk -v k="$2" '$1 == k {print $2}'; }
rss() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# ---- nginx baselines (the same for both backends) ----
if [ -z "$ONLY" ]; then
  echo "== nginx 1.22 (sendfile) serving the same files"
  "$LOAD_BIN" stream "$NGINX/image.iso" --conns 1 --secs "$SECS" --expect-len "$IMAGE_BYTES" "${CHECK_IMAGE[@]}" | record all nginx image-1
  "$LOAD_BIN" stream "$NGINX/image.iso" --conns 16 --secs "$SECS" --expect-len "$IMAGE_BYTES" "${CHECK_IMAGE[@]}" | record all nginx image-16
  "$LOAD_BIN" ranges "$NGINX/image.iso" --size "$IMAGE_BYTES" --conns 16 --secs "$SECS" "${CHECK_IMAGE[@]}" | record all nginx ranges-64k
  "$LOAD_BIN" stream "$NGINX/x/data.bin" --conns 1 --secs "$SECS" --expect-len "$FILE_BYTES" "${CHECK_FILE[@]}" | record all nginx file-1
  "$LOAD_BIN" stream "$NGINX/x/data.bin" --conns 16 --secs "$SECS" --expect-len "$FILE_BYTES" "${CHECK_FILE[@]}" | record all nginx file-16
  "$LOAD_BIN" rate "$NGINX/x/dir042/" --rps "$RPS" --secs "$SECS" --expect-text file07.txt | record all nginx listing-rate

  echo "== ingest baseline: openssl dgst -sha256, then cp, then sync (the same bytes)"
  sync
  T0=$(date +%s.%N)
  openssl dgst -sha256 "$W/www/image.iso" >/dev/null
  cp "$W/www/image.iso" "$W/copy.iso"
  sync
  T1=$(date +%s.%N)
  rm -f "$W/copy.iso"
  python3 -c 'import json,sys; b,t=int(sys.argv[1]),float(sys.argv[2])-float(sys.argv[3]); print(json.dumps({"scenario":"ingest","bytes":b,"secs":t,"mb_per_s":b/t/1e6}))' \
    "$IMAGE_BYTES" "$T1" "$T0" | record all baseline ingest
fi

run_backend() {
  local backend=$1
  local data="$W/spindle-$backend" env=()
  if [ "$backend" = s3 ]; then
    local db="loadtest_$$_$RANDOM"
    "$(pg_bindir)/psql" "$SPINDLE_TEST_PG_URL" -qAtc "CREATE DATABASE $db" >/dev/null
    PREFIX="loadtest-$$-$RANDOM"
    env=(SPINDLE_DATABASE__URL="${SPINDLE_TEST_PG_URL%/*}/$db"
      SPINDLE_STORAGE__BACKEND=s3
      SPINDLE_STORAGE__S3__ENDPOINT="$SPINDLE_TEST_S3_ENDPOINT"
      SPINDLE_STORAGE__S3__BUCKET="$SPINDLE_TEST_S3_BUCKET"
      SPINDLE_STORAGE__S3__ACCESS_KEY_ID="$SPINDLE_TEST_S3_KEY_ID"
      SPINDLE_STORAGE__S3__SECRET_ACCESS_KEY="$SPINDLE_TEST_S3_SECRET"
      SPINDLE_STORAGE__S3__REGION=garage
      SPINDLE_STORAGE__S3__PREFIX="$PREFIX")
  fi
  local spindle=(env "${env[@]}" SPINDLE_LOG__FILTER=warn "$SERVER_BIN" --data-dir "$data")
  "${spindle[@]}" member add LOAD --name "Load test" >/dev/null
  local token; token=$("${spindle[@]}" token create --role librarian --member LOAD 2>/dev/null)
  local port; port=$(free_port)
  local pid base=http://127.0.0.1:$port i
  start_spindle() {
    "${spindle[@]}" serve --listen "127.0.0.1:$port" >>"$W/server-$backend.log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    wait_ready "$base" "$W/server-$backend.log"
  }
  start_spindle
  echo "== Spindle on $backend (pid $pid)"

  # 5. Ingest, then the disc is read.
  sync
  local up; up=$("$LOAD_BIN" --base "$base" --token "$token" upload "$W/www/image.iso" --open)
  echo "$up" | record "$backend" spindle ingest
  local disc; disc=$(echo "$up" | python3 -c 'import json,sys; print(json.load(sys.stdin)["disc"])')
  local sha; sha=$(echo "$up" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
  local small; small=$("$LOAD_BIN" --base "$base" --token "$token" upload "$W/small.iso" --open 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["disc"])')
  for i in $(seq 600); do
    curl -sf "$base/api/v1/discs/$disc" | grep -q '"status":"indexed"' \
      && curl -sf "$base/api/v1/discs/$small" | grep -q '"status":"indexed"' && break
    sleep 0.1
  done
  curl -sf "$base/api/v1/discs/$disc" | grep -q '"status":"indexed"' || die "the image was not read: $(curl -s "$base/api/v1/discs/$disc")"
  local image=$base/api/v1/discs/$disc/image
  local file=$base/api/v1/discs/$disc/files/data.bin
  # The bytes are right before anything is timed.
  "$LOAD_BIN" --base "$base" --token "$token" download "$disc" --streams 2 >&2
  [ "$(curl -sf "$file" | sha256sum | cut -d' ' -f1)" = "$(sha256sum <"$W/www/x/data.bin" | cut -d' ' -f1)" ] \
    || die "the file from inside the image differs from the extracted one"
  cat "$W/www/image.iso" >/dev/null

  if [ -z "$ONLY" ]; then
    # 1 + 6. Whole image; the events recorded meanwhile.
    local ev0 dr0; ev0=$(metric "$base" spindle_usage_events_recorded_total); dr0=$(metric "$base" spindle_usage_events_dropped_total)
    "$LOAD_BIN" stream "$image" --conns 1 --secs "$SECS" --expect-len "$IMAGE_BYTES" "${CHECK_IMAGE[@]}" | record "$backend" spindle image-1
    "$LOAD_BIN" stream "$image" --conns 16 --secs "$SECS" --expect-len "$IMAGE_BYTES" "${CHECK_IMAGE[@]}" | record "$backend" spindle image-16
    # 2. Ranges.
    "$LOAD_BIN" ranges "$image" --size "$IMAGE_BYTES" --conns 16 --secs "$SECS" "${CHECK_IMAGE[@]}" | record "$backend" spindle ranges-64k
    # 3. One file from inside the image.
    "$LOAD_BIN" stream "$file" --conns 1 --secs "$SECS" --expect-len "$FILE_BYTES" "${CHECK_FILE[@]}" | record "$backend" spindle file-1
    "$LOAD_BIN" stream "$file" --conns 16 --secs "$SECS" --expect-len "$FILE_BYTES" "${CHECK_FILE[@]}" | record "$backend" spindle file-16
    sleep 1.5  # the recorder's flush interval
    local ev1 dr1; ev1=$(metric "$base" spindle_usage_events_recorded_total); dr1=$(metric "$base" spindle_usage_events_dropped_total)
    echo "{\"scenario\":\"events\",\"recorded\":$((ev1 - ev0)),\"dropped\":$((dr1 - dr0))}" | record "$backend" spindle events-downloads
    # 4 + 6. Pages and listings at a fixed rate; every view is an event.
    "$LOAD_BIN" rate "$base/discs/$disc" --rps "$RPS" --secs "$SECS" --expect-text LOADTEST | record "$backend" spindle disc-page-rate
    "$LOAD_BIN" rate "$base/api/v1/discs/$disc/files/dir042/" --rps "$RPS" --secs "$SECS" --expect-text file07.txt | record "$backend" spindle listing-rate
    "$LOAD_BIN" rate "$base/discs/$disc/browse/dir042/" --rps "$RPS" --secs "$SECS" --expect-text file07.txt | record "$backend" spindle folder-page-rate
    sleep 1.5
    local ev2 dr2; ev2=$(metric "$base" spindle_usage_events_recorded_total); dr2=$(metric "$base" spindle_usage_events_dropped_total)
    echo "{\"scenario\":\"events\",\"recorded\":$((ev2 - ev1)),\"dropped\":$((dr2 - dr1)),\"secs\":$((3 * SECS))}" | record "$backend" spindle events-pages

    # S3 baseline: object_store's own GETs of the same object from the same Garage.
    if [ "$backend" = s3 ]; then
      local key="$PREFIX/sha256/${sha:0:2}/${sha:2:2}/$sha"
      local og=("$LOAD_BIN" objget --endpoint "$SPINDLE_TEST_S3_ENDPOINT" --bucket "$SPINDLE_TEST_S3_BUCKET"
        --key-id "$SPINDLE_TEST_S3_KEY_ID" --secret "$SPINDLE_TEST_S3_SECRET" "$key" --secs "$SECS")
      "${og[@]}" --conns 1 | record s3 objget image-1
      "${og[@]}" --conns 16 | record s3 objget image-16
      "${og[@]}" --conns 16 --block 65536 | record s3 objget ranges-64k
    fi
  fi

  # 7. Memory: many slow readers of the big image, then of the small one, each on a freshly
  # started server (an allocator keeps what it once held, which would flatter the second).
  for which in big small; do
    local id=$disc; [ "$which" = small ] && id=$small
    kill "$pid"; wait "$pid" 2>/dev/null || true
    start_spindle
    curl -sf "$base/api/v1/discs/$id" >/dev/null
    sleep 1
    local idle; idle=$(rss "$pid" VmRSS)
    # The peak is sampled only while every download is open (the loader says so), never
    # started from the idle figure: no samples is a failed measurement, not a small one.
    local peak=0 samples=0
    "$LOAD_BIN" slow "$base/api/v1/discs/$id/image" --conns "$SLOW_CONNS" --secs "$SLOW_SECS" >"$W/slow.json" 2>"$W/slow.err" &
    local lp=$!
    while kill -0 "$lp" 2>/dev/null; do
      if grep -q "downloads open" "$W/slow.err" 2>/dev/null; then
        local now; now=$(rss "$pid" VmRSS); [ "$now" -gt "$peak" ] && peak=$now
        samples=$((samples + 1))
      fi
      sleep 0.2
    done
    wait "$lp"
    local image_kib=$(( $(stat -c %s "$([ "$which" = big ] && echo "$W/www/image.iso" || echo "$W/small.iso")") / 1024 ))
    python3 -c 'import json,sys
r=json.load(open(sys.argv[1])); idle,peak,n,samples,image_kib=(int(a) for a in sys.argv[2:7])
r.update(scenario="memory", idle_kib=idle, peak_kib=peak, samples=samples, image_kib=image_kib,
         per_download_kib=(peak-idle)/n if samples else None, image=sys.argv[7])
print(json.dumps(r))' "$W/slow.json" "$idle" "$peak" "$SLOW_CONNS" "$samples" "$image_kib" "$which" | record "$backend" spindle "memory-$which"
  done

  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  if [ "$backend" = s3 ]; then
    "$LOAD_BIN" objclean --endpoint "$SPINDLE_TEST_S3_ENDPOINT" --bucket "$SPINDLE_TEST_S3_BUCKET" \
      --key-id "$SPINDLE_TEST_S3_KEY_ID" --secret "$SPINDLE_TEST_S3_SECRET" "$PREFIX"
  fi
}

for b in $BACKENDS; do run_backend "$b"; done

if [ -n "$ONLY" ]; then grep '"memory"' "$OUT"; exit 0; fi
python3 "$ROOT/loadtests/table.py" table "$OUT" "$SIZE" "$SECS" "$RPS" "$SLOW_CONNS"
