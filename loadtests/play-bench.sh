#!/usr/bin/env bash
# What playing a disc costs through Spindle (issue 18): a real VCD (vcdimager, BIN/CUE) and a
# real DVD (dvdauthor, genisoimage) of ffmpeg's test pictures with noise (so the encoder has
# real work), uploaded with `spindle upload` to a Spindle on its embedded defaults; then
# loadtests/play-bench.py measures the transcoding pipeline beside plain ffmpeg, time to first
# frame for 1 and 8 readers, viewers per core cold and cached, and memory per viewer.
# Not part of the suite (a few minutes of CPU):  SECONDS_OF_VIDEO=120 loadtests/play-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LEN=${SECONDS_OF_VIDEO:-120}
source scripts/peers.sh
install_bench_tools
cargo build --release --quiet --bin spindle
W=$(mktemp -d /tmp/spindle-play-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/work/discs"
echo "making ${LEN} s sources: a Video CD (MPEG-1, BIN/CUE) and a DVD-Video (MPEG-2, ISO)" >&2
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=duration=$LEN:size=352x288:rate=25,noise=alls=12:allf=t" \
  -f lavfi -i "sine=frequency=440:duration=$LEN:sample_rate=44100" -target pal-vcd "$W/work/vcd.mpg"
(cd "$W/work/discs" && vcdimager -t vcd2 -l PLAYVCD -c vcd.cue -b vcd.bin ../vcd.mpg >/dev/null)
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=duration=$LEN:size=720x576:rate=25,noise=alls=12:allf=t" \
  -f lavfi -i "sine=frequency=440:duration=$LEN:sample_rate=48000" -target pal-dvd "$W/work/dvd.mpg"
VIDEO_FORMAT=PAL dvdauthor -o "$W/dvd" -t "$W/work/dvd.mpg" 2>/dev/null
VIDEO_FORMAT=PAL dvdauthor -o "$W/dvd" -T 2>/dev/null
genisoimage -quiet -dvd-video -V PLAYDVD -o "$W/work/discs/dvd.iso" "$W/dvd"
python3 loadtests/play-bench.py "$PWD/target/release/spindle" "$W/work"
# The alternative for MPEG-1: JSMpeg decoding in the reader's browser (npm, at run time only).
(cd "$W" && npm pack --silent jsmpeg-player@3.0.3 >/dev/null && tar xzf jsmpeg-player-3.0.3.tgz)
echo
echo "| source | the server's cost | the reader's cost |"
echo "|---|---|---|"
python3 loadtests/jsmpeg-bench.py "$W/work/vcd.mpg" "$W/package/build/jsmpeg-player.min.js"
