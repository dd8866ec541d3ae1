#!/usr/bin/env bash
# Issue 22, item 3: whole-image downloads with storage.s3.redirect_downloads on the cluster of
# scripts/cluster.sh (two Spindle nodes behind nginx, three Garage nodes behind nginx), beside
# object_store's own GETs of the same object through the same S3 balancer. The download asks
# the Spindle balancer, gets 307 and reads the bytes from the store; the baseline reads them
# from the store directly. Alternating rounds, medians; the CPU-seconds of the client, the
# Spindle nodes and the Garage nodes during each run are printed beside the rate.
#
#   loadtests/redirect-bench.sh              # 1 GiB image, 10 s runs, 3 rounds of 1 and 8 streams
#   SIZE_MIB=256 SECS=5 ROUNDS=2 loadtests/redirect-bench.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/peers.sh
source scripts/peers.sh
install_bench_tools
SIZE_MIB=${SIZE_MIB:-1024}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
cargo build --release --quiet -p spindle -p spindle-loadtests
LOAD=$ROOT/target/release/spindle-load
WORK=$(mktemp -d /tmp/spindle-redirect.XXXXXX)
chmod 755 "$WORK"  # PostgreSQL runs as its own user under it
DIR=$WORK/cluster
trap 'scripts/cluster.sh down "$DIR" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

SPINDLE_STORAGE__S3__REDIRECT_DOWNLOADS=true CLUSTER_SPINDLE_BIN=$ROOT/target/release/spindle \
  scripts/cluster.sh up "$DIR" >"$WORK/services"
cat "$WORK/services"
# shellcheck disable=SC1091
source "$DIR/cluster.env"
cli() { env $(cat "$DIR/spindle.env") SPINDLE_LOG__FILTER=warn "$CLUSTER_SPINDLE_BIN" --data-dir "$DIR/node1" "$@"; }
cli member add BENCH --name "Bench library" >/dev/null
TOKEN=$(cli token create --role librarian --member BENCH)

mkdir -p "$WORK/img"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/img/data.bin"
xorriso -as mkisofs -quiet -iso-level 3 -r -J -V REDIRECT -o "$WORK/image.iso" "$WORK/img" 2>/dev/null
rm -rf "$WORK/img"
BYTES=$(stat -c %s "$WORK/image.iso")
UP=$("$LOAD" --base "$CLUSTER_LB" --token "$TOKEN" upload "$WORK/image.iso" --open)
DISC=$(echo "$UP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["disc"])')
SHA=$(echo "$UP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
rm -f "$WORK/image.iso"
URL=$CLUSTER_LB/api/v1/discs/$DISC/image
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL")
[ "$code" = 307 ] || { echo "expected 307 from $URL, got $code" >&2; exit 1; }

# CPU-seconds (user + system) of the processes whose pid files match a glob.
cpu_of() {
  local total=0 f pid t
  for f in $DIR/pids/$1; do
    pid=$(cat "$f")
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
TICKS=$(getconf CLK_TCK)

# One run: the client's JSON line with the CPU-seconds of each side added.
run() {
  local which=$1 conns=$2 s0 g0 line t0 t1
  s0=$(cpu_of 'spindle-*.pid'); g0=$(cpu_of 'garage-*.pid')
  t0=$(awk '{print $14 + $15}' /proc/self/stat)
  if [ "$which" = redirect ]; then
    line=$( { /usr/bin/time -f '%U %S' -o "$WORK/client.time" \
      "$LOAD" stream "$URL" --conns "$conns" --secs "$SECS" --expect-len "$BYTES"; } )
  else
    line=$( { /usr/bin/time -f '%U %S' -o "$WORK/client.time" \
      "$LOAD" objget --endpoint "$CLUSTER_S3" --bucket "$CLUSTER_S3_BUCKET" \
      --key-id "$CLUSTER_S3_KEY_ID" --secret "$CLUSTER_S3_SECRET" \
      "sha256/${SHA:0:2}/${SHA:2:2}/$SHA" --conns "$conns" --secs "$SECS"; } )
  fi
  local s1 g1 client
  s1=$(cpu_of 'spindle-*.pid'); g1=$(cpu_of 'garage-*.pid')
  client=$(awk '{print $1 + $2}' "$WORK/client.time")
  python3 -c '
import json, sys
line, which, conns, spindle, garage, client, ticks = sys.argv[1:]
d = json.loads(line)
d.update(which=which, conns=int(conns), spindle_cpu_s=int(spindle) / int(ticks),
         garage_cpu_s=int(garage) / int(ticks), client_cpu_s=float(client))
print(json.dumps(d))' "$line" "$which" "$conns" "$((s1 - s0))" "$((g1 - g0))" "$client" "$TICKS"
}

RESULTS=$WORK/results.jsonl
for conns in 1 8; do
  for _ in $(seq "$ROUNDS"); do
    run objget "$conns" | tee -a "$RESULTS"
    run redirect "$conns" | tee -a "$RESULTS"
  done
done

python3 - "$RESULTS" "$BYTES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
size = int(sys.argv[2])
print(f"\nimage {size / 2**20:.0f} MiB; medians of {len(rows) // 4} alternating rounds")
print("| streams | object_store GET MB/s | redirected MB/s | ratio | CPU-s client / Spindle / Garage (redirected) |")
print("|---:|---:|---:|---:|---|")
for conns in (1, 8):
    def med(which, key):
        return statistics.median(r[key] for r in rows if r["which"] == which and r["conns"] == conns)
    def rate(which):
        return statistics.median(r["bytes"] / r["secs"] / 1e6 for r in rows if r["which"] == which and r["conns"] == conns)
    base, ours = rate("objget"), rate("redirect")
    print(f"| {conns} | {base:,.0f} | {ours:,.0f} | {ours / base:.2f}x | "
          f"{med('redirect', 'client_cpu_s'):.1f} / {med('redirect', 'spindle_cpu_s'):.2f} / {med('redirect', 'garage_cpu_s'):.1f} |")
errors = sum(r.get("errors", 0) for r in rows)
print(f"errors: {errors}")
PY
