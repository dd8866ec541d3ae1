#!/usr/bin/env bash
# What playing a video disc in the browser costs on this machine, to choose how Spindle plays
# it (issue 18): ffmpeg alone, with the settings a player would use, on a VCD-like and a
# DVD-like source (ffmpeg's testsrc2 with noise, so the encoder has real work):
#  1. a whole transcode to H.264 + AAC (libx264 CRF 23, one thread; veryfast and ultrafast):
#     frames per second and times real time;
#  2. HLS of 4-second fMP4 segments: the time until the first segment is written (what a
#     reader waits for before the first frame), from the start and after a seek to 80%;
#  3. the MPEG-1 alternative: a stream-copy remux to MPEG-TS for a browser-side decoder
#     (JSMpeg), which costs the server almost nothing.
# Not part of the suite (a few minutes of CPU):  SECONDS_OF_VIDEO=60 loadtests/transcode-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LEN=${SECONDS_OF_VIDEO:-60}
command -v ffmpeg >/dev/null || { source scripts/peers.sh; install_image_tools; }
W=$(mktemp -d /tmp/spindle-transcode.XXXXXX)
trap 'rm -rf "$W"' EXIT
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

echo "making ${LEN} s sources (testsrc2 + noise): VCD (MPEG-1 352x288) and DVD (MPEG-2 720x576)"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=duration=$LEN:size=352x288:rate=25,noise=alls=12:allf=t" \
  -f lavfi -i "sine=frequency=440:duration=$LEN:sample_rate=44100" -target pal-vcd "$W/vcd.mpg"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=duration=$LEN:size=720x576:rate=25,noise=alls=12:allf=t" \
  -f lavfi -i "sine=frequency=440:duration=$LEN:sample_rate=48000" -target pal-dvd "$W/dvd.mpg"

x264() { echo "-c:v libx264 -preset $1 -crf 23 -threads 1 -x264-params threads=1 -pix_fmt yuv420p -c:a aac -b:a 128k"; }

printf '| source | measure | preset | time (s) | result |\n|---|---|---|---:|---|\n'
for src in vcd dvd; do
  for preset in veryfast ultrafast; do
    # 1. Whole transcode.
    s=$(now)
    # shellcheck disable=SC2046
    ffmpeg -nostdin -v error -y -i "$W/$src.mpg" $(x264 "$preset") -movflags +frag_keyframe+empty_moov \
      -f mp4 "$W/out.mp4"
    e=$(now)
    t=$(secs "$s" "$e")
    frames=$((LEN * 25))
    printf '| %s | whole transcode | %s | %.2f | %.0f frames/s, %.1fx real time |\n' \
      "$src" "$preset" "$t" "$(echo "$frames / $t" | bc -l)" "$(echo "$LEN / $t" | bc -l)"

    # 2. HLS: time to the first segment, from the start and from 80%.
    for from in 0 $((LEN * 8 / 10)); do
      rm -rf "$W/hls" && mkdir "$W/hls"
      s=$(now)
      # shellcheck disable=SC2046
      ffmpeg -nostdin -v fatal -y -ss "$from" -i "$W/$src.mpg" $(x264 "$preset") -force_key_frames "expr:gte(t,n_forced*4)" \
        -f hls -hls_time 4 -hls_segment_type fmp4 -hls_playlist_type vod "$W/hls/index.m3u8" &
      pid=$!
      while [ ! -e "$W/hls/index1.m4s" ] && [ ! -e "$W/hls/index0.m4s" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
      first=$(secs "$s" "$(now)")
      wait "$pid"
      printf '| %s | first 4 s HLS segment, from %s s | %s | %.2f | |\n' "$src" "$from" "$preset" "$first"
    done
  done
  if [ "$src" = vcd ]; then
    # 3. Stream copy to MPEG-TS (JSMpeg decodes MPEG-1 + MP2 in the browser).
    s=$(now)
    ffmpeg -nostdin -v error -y -i "$W/vcd.mpg" -c copy -f mpegts "$W/out.ts"
    t=$(secs "$s" "$(now)")
    printf '| vcd | stream copy to MPEG-TS | - | %.2f | %.0fx real time |\n' "$t" "$(echo "$LEN / $t" | bc -l)"
  fi
done
echo
echo "machine: $(nproc) cores, $(ffmpeg -version | head -1 | cut -d' ' -f1-3)"
