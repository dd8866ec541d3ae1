#!/usr/bin/env bash
# Indexing benchmark: an ISO (Rock Ridge + Joliet, made by xorriso) of 10,000 files in 500
# directories, read by Spindle straight from the file, through the local store and through
# Garage, beside `bsdtar -tf` on the same image. Prints a table of times and ratios.
#   RUNS=5 loadtests/index-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
source scripts/peers.sh
install_image_tools
cargo build --release --quiet -p spindle-loadtests --bin spindle-index-bench
W=$(mktemp -d /tmp/spindle-index-bench.XXXXXX)
PEERS_DIR="$W/peers"
mkdir -p "$PEERS_DIR"
trap 'stop_peers; rm -rf "$W"' EXIT

echo "making 10,000 files in 500 directories"
/usr/bin/python3 - "$W/tree" <<'PY'
import os, random, sys
root = sys.argv[1]
r = random.Random(42)
for a in range(25):
    for b in range(20):
        d = os.path.join(root, f"unit{a:02d}", f"lesson{b:02d}")
        os.makedirs(d)
        for f in range(20):
            with open(os.path.join(d, f"page{f:02d}.html"), "wb") as out:
                out.write(r.randbytes(r.randint(200, 3000)))
PY
xorriso -as mkisofs -quiet -iso-level 3 -r -J -joliet-long -V TREE -o "$W/tree.iso" "$W/tree"

S3=()
if command -v garage >/dev/null; then
  start_garage
  S3=(--s3-endpoint "$SPINDLE_TEST_S3_ENDPOINT" --s3-bucket "$SPINDLE_TEST_S3_BUCKET"
      --s3-key-id "$SPINDLE_TEST_S3_KEY_ID" --s3-secret "$SPINDLE_TEST_S3_SECRET")
else
  echo "(garage not installed: scripts/peers.sh install_peers builds it; S3 row skipped)"
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%F)"
target/release/spindle-index-bench --image "$W/tree.iso" --runs "$RUNS" "${S3[@]}"
