#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), the image targets seeded with the
# disc-image fixtures. Stable toolchain: libFuzzer's flags are allowed via RUSTC_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
tests/fixtures/make-images.sh "$seeds/img" >/dev/null
mkdir -p fuzz/corpus/image fuzz/corpus/cue
for f in level1.iso gbk.iso udf201.img; do cp "$seeds/img/$f" fuzz/corpus/image/; done
# A CUE seed: the sheet, a NUL, then the BIN (see fuzz_targets/cue.rs).
{ printf 'FILE "a.bin" BINARY\n  TRACK 01 MODE1/2352\n    INDEX 01 00:00:00\n'; printf '\0'; cat "$seeds/img/disc (Track 1).bin"; } >fuzz/corpus/cue/mode1
for target in image cue range upload_metadata isbn reader_input; do
  echo "== fuzz $target for ${SECONDS_EACH}s"
  (cd fuzz && cargo fuzz run "$target" -- -max_total_time="$SECONDS_EACH" -max_len=1048576 -rss_limit_mb=2048 2>&1 | tail -4)
done
