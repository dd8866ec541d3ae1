#!/usr/bin/env bash
# Issue 22, item 6: the consortium at national scale, simulated on PostgreSQL.
#
# For each scale (a fraction of 1,800 members, 2.5 million discs, 50 million files and 40 million
# usage events a year): a fresh PostgreSQL on loopback; Spindle migrates it and indexes one real
# image built by xorriso (the template every generated image copies); `spindle-national generate`
# fills it; then, each timed: the rollup of every day of the year, `spindle migrate` applying the
# newest migrations again to this data (and once with nothing to do), a VACUUM (ANALYZE) as an
# operator runs after a bulk load (so autovacuum does not share the cores with the measurements
# that follow), the database's size, and
# with Spindle serving (release build, local store): searches by title, file name and ISBN, disc
# pages and folder listings at RATE requests/s for SECS s each (`spindle-national measure`, open
# loop, every answer checked, CPU of Spindle, PostgreSQL and the client beside), and a consortium
# SUSHI Platform Report over the last twelve months (REPEAT times), and its Item Reports of the
# last month and of the last twelve (the server's memory beside each).
#
#   SCALES="0.01 0.1" loadtests/national.sh          # the sizes to run, smallest first
#   RATE=50 SECS=20 REPEAT=5 loadtests/national.sh
#   ALT_BIN=/path/to/spindle loadtests/national.sh   # the Item Reports again from another build
#   KEEP=1 loadtests/national.sh   # leave the databases in the work directory it names
#   ROLLUP=0 loadtests/national.sh # no rollup: the year's days are marked rolled, empty (SUSHI's
#                                   # reports then find no usage; the requests' figures stand)
#   COLD=1 loadtests/national.sh   # the requests also cold (PostgreSQL restarted, page cache
#                                   # dropped: root), cold after pg_prewarm, and warm
#   REUSE=/tmp/spindle-national.XXXXXX loadtests/national.sh  # the requests and reports again on
#                                   # the databases a KEEP=1 run left there (no generation)
#   PG_EXTRA="-c shared_preload_libraries=auto_explain -c auto_explain.log_min_duration=200ms" \
#     loadtests/national.sh         # more PostgreSQL settings (the plans of slow statements)
# Results: one JSON line per figure on stdout and in loadtests/results-national-DATE.jsonl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/peers.sh
source scripts/peers.sh
install_peers
install_image_tools
SCALES=${SCALES:-0.01 0.1}
RATE=${RATE:-50}
SECS=${SECS:-20}
REPEAT=${REPEAT:-5}
COLD=${COLD:-0}
cargo build --release --quiet -p spindle -p spindle-loadtests
BIN=$ROOT/target/release/spindle
GEN=$ROOT/target/release/spindle-national
OUT=${OUT:-$ROOT/loadtests/results-national-$(date -u +%F).jsonl}
W=$(mktemp -d /tmp/spindle-national.XXXXXX)
chmod 755 "$W"
PID=
# KEEP=1 leaves the databases (PostgreSQL stopped, its data in $W/peers-SCALE/pg/data) to look
# into afterwards.
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ] || [ -n "${REUSE:-}" ]; then PEERS_DIR= stop_peers; echo "national: kept ${REUSE:-$W}"; else stop_peers; rm -rf "$W"; fi' EXIT
record() { echo "$1" | tee -a "$OUT"; }
secs_of() { local t0=$1; python3 -c "import time; print(round(time.time() - $t0, 2))"; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024/1024)}' /proc/meminfo) GiB, $(date -u +%F)"

serve() {
  PORT=$(free_port)
  SPINDLE_LOG__FILTER=warn SPINDLE_LIMITS__EXPENSIVE_PER_MINUTE=1000000 \
    "$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" >>"$W/server.log" 2>&1 &
  PID=$!
  BASE="http://127.0.0.1:$PORT"
  wait_ready "$BASE" "$W/server.log"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
# measure ROUND: every kind of request at RATE for SECS, each line tagged with ROUND.
measure() {
  "$GEN" measure --base "$BASE" --scale "$SCALE" --rate "$RATE" --secs "$SECS" --server-pid "$PID" \
    | while read -r line; do record "{\"scale\": $SCALE, \"round\": \"$1\", \"figure\": $line}"; done
}
# Spindle stopped, PostgreSQL restarted, the kernel's page cache dropped.
cold_start() {
  stop
  "${PG_STOP[@]}" >/dev/null
  sync
  echo 3 >/proc/sys/vm/drop_caches || { echo "national: COLD=1 drops the page cache: run as root" >&2; exit 1; }
  "${PG_START[@]}" >/dev/null
}

# ir STEP BEGIN END: the consortium's Item Report (one item per disc used: a large answer),
# timed, with the server's resident memory before it and its peak during it (the peak is reset
# first: /proc/PID/clear_refs, as root).
ir() {
  local step=$1 begin=$2 end=$3 t0 s code items rss hwm
  echo 5 >"/proc/$PID/clear_refs" 2>/dev/null || true
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
  t0=$(date +%s.%N)
  code=$(curl -s -o "$W/ir.json" -w '%{http_code}' \
    "$BASE/sushi/r51/reports/ir?customer_id=consortium&api_key=$KEY&begin_date=$begin&end_date=$end")
  s=$(secs_of "$t0")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
  [ "$code" = 200 ] || { head -c 500 "$W/ir.json" >&2; echo "national: SUSHI IR answered $code" >&2; exit 1; }
  items=$(python3 -c "import json; print(sum(len(g.get('Items', [])) for g in json.load(open('$W/ir.json')).get('Report_Items', [])))")
  record "{\"scale\": $SCALE, \"figure\": {\"step\": \"$step\", \"secs\": $s, \"status\": $code, \"items\": $items, \"bytes\": $(stat -c %s "$W/ir.json"), \"server_rss_before_kib\": $rss, \"server_peak_rss_kib\": $hwm}}"
}

for SCALE in $SCALES; do
  echo "== scale $SCALE"
  if [ -n "${REUSE:-}" ]; then
    # A database a KEEP=1 run left (never deleted: the previous scale's server is stopped, its
    # data kept), its server started again as that run started it.
    PEERS_DIR= stop_peers 2>/dev/null || true
    PEERS_DIR=$REUSE/peers-$SCALE
    DATA=$REUSE/data-$SCALE
    # shellcheck disable=SC1091
    source "$PEERS_DIR/kept.env"
    "${PG_START[@]}" >/dev/null || { cat "$PEERS_DIR/pg/server.log" >&2; exit 1; }
    PSQL=("$(pg_bindir)/psql" "$SPINDLE_TEST_PG_URL" -qAt)
    export SPINDLE_DATABASE__URL=$SPINDLE_TEST_PG_URL
    "$BIN" --data-dir "$DATA" migrate >/dev/null
  else
    stop_peers 2>/dev/null || true
    PEERS_DIR=$W/peers-$SCALE
    mkdir -p "$PEERS_DIR" && chmod 755 "$PEERS_DIR"
    # Tuned as an operator would for a database of this size: a quarter of the memory for
    # PostgreSQL's own cache, the rest counted on as the kernel's (the defaults, 128 MB, suit
    # the suite's small databases, not a consortium's); and on solid-state storage, reads ahead
    # of a bitmap scan (`effective_io_concurrency`, default 1: a title search matching
    # thousands of discs read their rows one at a time from a cold disk, 0.51-0.63 s; 0.26-0.27
    # at 200).
    MEM_MB=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
    PG_OPTS="-c shared_buffers=$((MEM_MB / 4))MB -c effective_cache_size=$((MEM_MB * 3 / 4))MB -c effective_io_concurrency=200 ${PG_EXTRA:-}" \
      start_postgres
    # What REUSE needs to start this server again (a throwaway's password, readable by root only).
    [ "${KEEP:-0}" = 1 ] && (umask 077; declare -p PG_START PG_STOP SPINDLE_TEST_PG_URL >"$PEERS_DIR/kept.env")
    PSQL=("$(pg_bindir)/psql" "$SPINDLE_TEST_PG_URL" -qAt)
    DATA=$W/data-$SCALE
    export SPINDLE_DATABASE__URL=$SPINDLE_TEST_PG_URL
    "$BIN" --data-dir "$DATA" member add TEMPLATE --name "Template library" >/dev/null
    TOKEN=$("$BIN" --data-dir "$DATA" token create --role librarian --member TEMPLATE)

    # The template: a real book CD's tree, built and indexed by the real tools.
    T=$W/tree-$SCALE
    mkdir -p "$T/AUDIO" "$T/DOCS" "$T/SOFTWARE"
    printf '[autorun]\nopen=SETUP.EXE\n' >"$T/AUTORUN.INF"
    head -c 100000 /dev/urandom >"$T/SETUP.EXE"
    echo "Read me first." >"$T/README.TXT"
    for u in 01 02 03 04 05 06 07 08; do head -c 20000 /dev/urandom >"$T/AUDIO/Unit$u.mp3"; done
    for c in 01 02 03 04 05 06 07 08; do head -c 5000 /dev/urandom >"$T/DOCS/第${c}章 习题答案.pdf"; done
    head -c 40000 /dev/urandom >"$T/SOFTWARE/K3F9QZ2.EXE"
    head -c 80000 /dev/urandom >"$T/SOFTWARE/K3F9QZ2.DAT"
    echo "[setup]" >"$T/SOFTWARE/SETUP.INI"
    xorriso -as mkisofs -quiet -r -J -V BOOKCD -o "$W/template-$SCALE.iso" "$T"
    serve
    "$ROOT/target/release/spindle-load" --base "$BASE" --token "$TOKEN" upload --open "$W/template-$SCALE.iso" >/dev/null
    for _ in $(seq 300); do
      [ "$("${PSQL[@]}" -c "SELECT count(*) FROM images WHERE status = 'indexed'")" = 1 ] && break
      sleep 0.2
    done
    stop
    [ "$("${PSQL[@]}" -c "SELECT count(*) FROM images WHERE status = 'indexed'")" = 1 ] \
      || { echo "national: the template image was not indexed" >&2; exit 1; }

    "$GEN" generate --database "$SPINDLE_TEST_PG_URL" --scale "$SCALE" | while read -r line; do
      record "{\"scale\": $SCALE, \"generate\": $line}"
    done
    if [ "${ROLLUP:-1}" = 1 ]; then
      "$GEN" rollup --database "$SPINDLE_TEST_PG_URL" | while read -r line; do
        record "{\"scale\": $SCALE, \"figure\": $line}"
      done
    else
      # The year's days marked rolled (with no figures), so the server does not roll them up
      # beside the requests either.
      "${PSQL[@]}" -c "INSERT INTO usage_days (day, events, rolled_at)
        SELECT to_char(d, 'YYYY-MM-DD'), 0, 0
        FROM generate_series(now() - interval '400 days', now() + interval '1 day', interval '1 day') d
        ON CONFLICT DO NOTHING"
    fi
    # The server's own daily catch-up: nothing left to roll up, and the raw events past their
    # retention (`stats.raw_retention_days` from the end of their month) deleted, as they
    # would have been day by day. Without it the first server start deleted three quarters of
    # the year's events beside the measurements, and their vacuum then ran through them.
    t0=$(date +%s.%N)
    "$BIN" --data-dir "$DATA" stats rollup >/dev/null
    record "{\"scale\": $SCALE, \"figure\": {\"step\": \"raw events past retention purged (spindle stats rollup)\", \"events_left\": $("${PSQL[@]}" -c "SELECT count(*) FROM usage_events"), \"secs\": $(secs_of "$t0")}}"

    # `spindle migrate` on this data: the two newest migrations (0019: each searched disc's listed
    # facts, from the discs, their images, links and records; 0020: every disc row rewritten with
    # its image's indexing time, and a partial index) undone and applied again, then a run with
    # nothing to apply.
    "${PSQL[@]}" -c "DROP TABLE search_discs; DROP INDEX discs_search_due;
      ALTER TABLE discs DROP COLUMN image_indexed_at; DELETE FROM _sqlx_migrations WHERE version >= 19"
    t0=$(date +%s.%N)
    "$BIN" --data-dir "$DATA" migrate >/dev/null
    record "{\"scale\": $SCALE, \"figure\": {\"step\": \"migrate (0019 and 0020 applied)\", \"secs\": $(secs_of "$t0")}}"
    t0=$(date +%s.%N)
    "$BIN" --data-dir "$DATA" migrate >/dev/null
    record "{\"scale\": $SCALE, \"figure\": {\"step\": \"migrate (nothing to apply)\", \"secs\": $(secs_of "$t0")}}"

    t0=$(date +%s.%N)
    "${PSQL[@]}" -c "VACUUM (ANALYZE)"
    record "{\"scale\": $SCALE, \"figure\": {\"step\": \"vacuum analyze\", \"secs\": $(secs_of "$t0")}}"

    SIZES=$("${PSQL[@]}" -c "SELECT json_build_object('database_bytes', pg_database_size(current_database()),
      'tables', (SELECT json_object_agg(relname, pg_total_relation_size(oid)) FROM
        (SELECT oid, relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
         ORDER BY pg_total_relation_size(oid) DESC LIMIT 8) t))")
    record "{\"scale\": $SCALE, \"figure\": {\"step\": \"size\", \"sizes\": $SIZES}}"
  fi

  serve
  measure "after the load"
  if [ "$COLD" = 1 ]; then
    # The same requests on a cold cache: PostgreSQL restarted (its buffers empty) and the
    # kernel's page cache dropped (as root, in this harness only); then again after reading the
    # search's tables and trigram index into PostgreSQL's cache first (pg_prewarm, in
    # PostgreSQL's contrib: what an operator can do after a restart); then once more, warm.
    cold_start
    serve
    measure "cold"
    cold_start
    t0=$(date +%s.%N)
    blocks=$("${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm;
      SELECT SUM(pg_prewarm(r)) FROM unnest(ARRAY['search_text_trgm', 'search_text',
        'search_discs', 'search_discs_pkey']::regclass[]) r")
    record "{\"scale\": $SCALE, \"figure\": {\"step\": \"pg_prewarm search\", \"blocks\": $blocks, \"secs\": $(secs_of "$t0")}}"
    serve
    measure "prewarmed"
    measure "warm"
  fi

  KEY=$("$BIN" --data-dir "$DATA" sushi-key create)
  FROM=$(date -u -d "$(date -u +%Y-%m-01) -12 month" +%Y-%m)
  TO=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)
  for r in $(seq "$REPEAT"); do
    t0=$(date +%s.%N)
    code=$(curl -s -o "$W/pr.json" -w '%{http_code}' \
      "$BASE/sushi/r51/reports/pr?customer_id=consortium&api_key=$KEY&begin_date=$FROM&end_date=$TO&attributes_to_show=Access_Method")
    s=$(secs_of "$t0")
    items=$(python3 -c "import json; d = json.load(open('$W/pr.json')); print(sum(len(i.get('Attribute_Performance', [])) for i in d.get('Report_Items', [])))")
    [ "$code" = 200 ] || { head -c 500 "$W/pr.json" >&2; echo "national: SUSHI PR answered $code" >&2; exit 1; }
    record "{\"scale\": $SCALE, \"figure\": {\"step\": \"sushi pr 12 months\", \"run\": $r, \"secs\": $s, \"status\": $code, \"performance_rows\": $items}}"
  done
  ir "sushi ir 1 month" "$TO" "$TO"
  ir "sushi ir 12 months" "$FROM" "$TO"
  stop
  # The same Item Reports from another build ($ALT_BIN), on the same data.
  if [ -n "${ALT_BIN:-}" ]; then
    BIN_NOW=$BIN; BIN=$ALT_BIN
    serve
    ir "sushi ir 1 month (ALT_BIN)" "$TO" "$TO"
    ir "sushi ir 12 months (ALT_BIN)" "$FROM" "$TO"
    stop
    BIN=$BIN_NOW
  fi
done
