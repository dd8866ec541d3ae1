#!/usr/bin/env bash
# Issue 22, item 5: a soak on the cluster of scripts/cluster.sh. Mixed load at a fixed rate
# for SECS seconds through the balancer (loadtests/soak.py: ranges, whole images, files inside
# an image, disc pages, searches, SUSHI, a tus upload every 20 s; every answer checked); in the
# middle, Spindle node 1 and Garage node 2 are restarted (SIGTERM, started again). Every 10 s
# the Spindle nodes' resident memory and open files are sampled. At the end: wrong answers
# (must be none), errors outside the restart window (must be none: inside it, only 503 with
# Retry-After or a refused connection), memory and files first/last, and the usage events
# stored beside the client's successful counted requests (none lost).
#
#   loadtests/soak.sh                       # 30 minutes at 20 requests/s
#   SECS=300 RATE=10 loadtests/soak.sh       # a short one
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/peers.sh
source scripts/peers.sh
install_peers
SECS=${SECS:-1800}
RATE=${RATE:-20}
cargo build --release --quiet -p spindle
WORK=$(mktemp -d /tmp/spindle-soak.XXXXXX)
chmod 755 "$WORK"  # PostgreSQL runs as its own user under it
DIR=$WORK/cluster
trap 'scripts/cluster.sh down "$DIR" >/dev/null 2>&1 || true' EXIT

# The soak is not about the expensive-request limits: every request comes from one address.
SPINDLE_LIMITS__EXPENSIVE_PER_MINUTE=1000000 CLUSTER_SPINDLE_BIN=$ROOT/target/release/spindle \
  scripts/cluster.sh up "$DIR" >"$WORK/services"
cat "$WORK/services"
# shellcheck disable=SC1091
source "$DIR/cluster.env"
cli() { env $(cat "$DIR/spindle.env") SPINDLE_LOG__FILTER=warn "$CLUSTER_SPINDLE_BIN" --data-dir "$DIR/node1" "$@"; }
cli member add SOAK --name "Soak library" >/dev/null
TOKEN=$(cli token create --role librarian --member SOAK)

python3 loadtests/soak.py --lb "$CLUSTER_LB" --token "$TOKEN" --work "$WORK" \
  --secs "$SECS" --rate "$RATE" >"$WORK/client.out" 2>&1 &
LOAD=$!
SAMPLES=$WORK/samples.jsonl
sample() {
  local n pid rss fds
  for n in 1 2; do
    pid=$(cat "$DIR/pids/spindle-$n.pid")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    echo "{\"t\": $(date +%s), \"node\": $n, \"pid\": $pid, \"rss_kib\": ${rss:-0}, \"fds\": $fds}" >>"$SAMPLES"
  done
}
# The load starts once its fixtures are uploaded and indexed.
while [ ! -e "$WORK/load-started" ]; do
  kill -0 "$LOAD" 2>/dev/null || { cat "$WORK/client.out"; echo "soak: the client stopped during setup" >&2; exit 1; }
  sleep 1
done
START=$(date +%s)
restarted=no
while kill -0 "$LOAD" 2>/dev/null; do
  sample
  if [ "$restarted" = no ] && [ $(( $(date +%s) - START )) -ge $(( SECS / 2 )) ]; then
    t0=$(date +%s.%N)
    echo "soak: restarting Spindle node 1 and Garage node 2 at $(( $(date +%s) - START )) s" >&2
    scripts/cluster.sh restart "$DIR" spindle-1
    scripts/cluster.sh restart "$DIR" garage-2
    echo "$t0 $(date +%s.%N)" >"$WORK/restarts"
    restarted=yes
  fi
  sleep 10
done
[ "$restarted" = yes ] || { echo "soak: the load ended before the restart (SECS too short)" >&2; exit 1; }
wait "$LOAD" || { cat "$WORK/client.out"; echo "soak: the client failed" >&2; exit 1; }
sleep 3  # the nodes write their usage every second
EVENTS=$("$(pg_bindir)/psql" "$CLUSTER_PG" -qAtc \
  "SELECT action || ' ' || COUNT(*) FROM usage_events WHERE status IN (200, 206) AND action IN ('image', 'file') GROUP BY action ORDER BY action")

python3 - "$WORK/client.json" "$SAMPLES" "$EVENTS" "$WORK/restarts" <<'PY'
import json, os, sys
client = json.load(open(sys.argv[1]))
started = client["started"]
window = None
if os.path.exists(sys.argv[4]):
    s, e = map(float, open(sys.argv[4]).read().split())
    window = (s - 1, e + 15)
wrong, outside, inside = [], [], 0
for p in client["problems"]:
    allowed = p["detail"] == "503 with Retry-After" or p["status"] == "connection"
    if allowed and window and window[0] <= p["t"] <= window[1]:
        inside += 1
        continue
    p = {**p, "t": round(p["t"] - started, 1)}
    (outside if allowed else wrong).append(p)
client["window"] = window and [round(window[0] - started, 1), round(window[1] - started, 1)]
samples = [json.loads(l) for l in open(sys.argv[2])]
events = dict(l.split() for l in sys.argv[3].splitlines() if l.strip())
print(f"\nsoak: {client['secs']} s at {client['rate']} req/s; {client['scheduled']} requests scheduled, "
      f"{client['not_started_workers_busy']} not started (every worker busy)")
print("| kind | answers |")
print("|---|---|")
kinds = sorted({k.split()[0] for k in client["counts"]})
for kind in kinds:
    by = ", ".join(f"{k.split()[1]}: {v}" for k, v in sorted(client["counts"].items()) if k.split()[0] == kind)
    print(f"| {kind} | {by} |")
print(f"wrong answers: {len(wrong)} {wrong[:5]}")
print(f"errors outside the restart window {client['window']} (s from the start): {len(outside)} {outside[:5]}")
print(f"errors inside it (503 with Retry-After or a refused connection): {inside}")
for node in (1, 2):
    s = [x for x in samples if x["node"] == node]
    pids = sorted({x["pid"] for x in s}, key=[x["pid"] for x in s].index)
    for pid in pids:
        p = [x for x in s if x["pid"] == pid]
        print(f"node {node} pid {pid}: {len(p)} samples; RSS {p[0]['rss_kib'] / 1024:.0f} -> max {max(x['rss_kib'] for x in p) / 1024:.0f} -> {p[-1]['rss_kib'] / 1024:.0f} MiB; "
              f"open files {p[0]['fds']} -> max {max(x['fds'] for x in p)} -> {p[-1]['fds']}")
ok = client["counted_ok"]
for action in ("image", "file"):
    print(f"usage events {action}: stored {events.get(action, 0)}, client's successful requests {ok[action]}")
bad = wrong or outside or window is None or any(int(events.get(a, 0)) != ok[a] for a in ok)
sys.exit(1 if bad else 0)
PY
