#!/usr/bin/env bash
# Issue 23, items 1 and 2: Spindle beside nginx on the same image, measured with wrk (a C load
# client, its CPU shown beside the servers'): warm random 64 KiB ranges and, as root, cold runs
# (the page cache dropped before each: a whole-image GET and random ranges, with the disk's read
# rate). loadtests/range-bench.py runs the servers and prints the table.
# Not part of the suite (about 5 minutes at the defaults):
#   SIZE_MB=1024 ROUNDS=5 SECS=10 COLD=1 loadtests/range-bench.sh
# ALT_BIN=path/to/another/spindle (ALT_NAME=label) runs a second build in the same alternation;
# hyper's floor (spindle-range-floor: read the range, write it, nothing else) runs beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
source scripts/peers.sh
install_image_tools  # nginx, wrk and curl among them
cargo build --release --quiet --bin spindle -p spindle
cargo build --release --quiet --bin spindle-load --bin spindle-range-floor -p spindle-loadtests
W=$(mktemp -d /tmp/spindle-range-bench.XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/src" "$W/www"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$W/src/big.bin"
xorriso -as mkisofs -quiet -iso-level 3 -r -J -V RANGEBENCH -o "$W/www/image.iso" "$W/src" 2>/dev/null
rm -r "$W/src"
FLOOR_BIN="$PWD/target/release/spindle-range-floor" python3 loadtests/range-bench.py "$PWD/target/release/spindle" "$PWD/target/release/spindle-load" "$W"
