#!/usr/bin/env bash
# Spindle's own WebDAV drive beside the `dav-server` crate (issue 19 asked whether to build
# the drive on it), on the same bytes: a file of SIZE_MB random MiB on an ISO (xorriso),
# uploaded to a Spindle on its embedded defaults and served from the image by /dav/discs/…,
# and the same file extracted by bsdtar and served by dav-server's own LocalFs (its best case:
# a plain local file). loadtests/dav-bench.py measures whole-file GETs, random 64 KiB ranges,
# each server's CPU and resident memory, and the client's CPU beside them.
# Not part of the suite (about a minute):  SIZE_MB=1024 loadtests/dav-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
source scripts/peers.sh
install_image_tools
cargo build --release --quiet --bin spindle -p spindle
cargo build --release --quiet --bin spindle-dav-server-bench -p spindle-loadtests
W=$(mktemp -d /tmp/spindle-dav-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/src" "$W/discs" "$W/tree"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$W/src/big.bin"
xorriso -as mkisofs -quiet -iso-level 3 -r -J -V DAVBENCH -o "$W/discs/DAV-1.iso" "$W/src" 2>/dev/null
rm "$W/src/big.bin"
bsdtar -xf "$W/discs/DAV-1.iso" -C "$W/tree"
python3 loadtests/dav-bench.py "$PWD/target/release/spindle" \
  "$PWD/target/release/spindle-dav-server-bench" "$W"
