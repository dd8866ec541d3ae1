#!/usr/bin/env python3
"""The alternative to transcoding a VCD (issue 18): decode its MPEG-1 + MP2 in the browser with
JSMpeg after a stream-copy remux to MPEG-TS, which costs the server almost nothing. This
measures what it costs the reader instead: headless Chromium (driven over WebDriver by
chromedriver, plain HTTP from here) decodes every video frame of the remuxed file with JSMpeg
(WebAssembly), rendering to a 2D canvas, and reports frames per second of decoding; the
browser's own H.264 decode of Spindle's HLS output is what the other choice costs a reader.

  loadtests/jsmpeg-bench.py VCD.mpg JSMPEG.min.js     (run by loadtests/play-bench.sh)
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as r:
        return json.loads(r.read())["value"]


PAGE = """<!doctype html><meta charset="utf-8"><canvas id="c"></canvas>
<script src="jsmpeg.min.js"></script>
<script>
window.bench = function (done) {
  var canvas = document.getElementById('c');
  var player = new JSMpeg.Player('vcd.ts', {canvas: canvas, autoplay: false, audio: true, video: true,
    disableGl: true, progressive: false, loop: false,
    onSourceCompleted: function () {
      // The whole file is in the demuxer; once the decoder's WebAssembly is ready, decode
      // every frame as fast as possible (after the first, which JSMpeg shows at once).
      setTimeout(function () {
        var frames = 0, audio = 0;
        var tv = performance.now();
        while (player.video.decode()) { frames++; }
        var video_ms = performance.now() - tv;
        var ta = performance.now();
        if (player.audio) { while (player.audio.decode()) { audio++; } }
        var audio_ms = performance.now() - ta;
        var wasm = !!(player.video.module || player.video.wasmModule);
        player.destroy();
        done({frames: frames, video_ms: video_ms, audio_frames: audio, audio_ms: audio_ms, wasm: wasm});
      }, 1000);
    }});
};
</script>"""


def main():
    mpg, jsmpeg = sys.argv[1], sys.argv[2]
    root = tempfile.mkdtemp(prefix="spindle-jsmpeg-")
    try:
        t0 = time.monotonic()
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", mpg, "-c", "copy", "-f", "mpegts",
                        os.path.join(root, "vcd.ts")], check=True)
        remux = time.monotonic() - t0
        seconds = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                                        "csv=p=0", mpg], check=True, capture_output=True, text=True).stdout)
        shutil.copy(jsmpeg, os.path.join(root, "jsmpeg.min.js"))
        with open(os.path.join(root, "bench.html"), "w") as f:
            f.write(PAGE)
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=root, **k)  # noqa: E731
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = free_port()
        driver = subprocess.Popen(["chromedriver", f"--port={port}", "--allowed-ips=127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    call("GET", base + "/status")
                    break
                except OSError:
                    time.sleep(0.1)
            session = call("POST", base + "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--autoplay-policy=no-user-gesture-required"]}}}})["sessionId"]
            s = f"{base}/session/{session}"
            call("POST", s + "/url", {"url": f"http://127.0.0.1:{server.server_address[1]}/bench.html"})
            call("POST", s + "/timeouts", {"script": 600000})
            results = []
            for _ in range(3):
                results.append(call("POST", s + "/execute/async", {
                    "script": "window.bench(arguments[arguments.length - 1]);", "args": []}))
            call("DELETE", s)
        finally:
            driver.terminate()
            server.shutdown()
        for r in results:
            if "error" in r:
                raise SystemExit(f"JSMpeg failed: {r['error']}")
        best = min(results, key=lambda r: r["video_ms"])
        fps = best["frames"] / (best["video_ms"] / 1000)
        print(f"| VCD, {seconds:.0f} s | server: stream-copy remux {remux:.2f} s ({seconds / remux:.0f}× real time) | "
              f"reader: JSMpeg ({'WebAssembly' if best['wasm'] else 'JavaScript'}) decodes {best['frames']} frames in "
              f"{best['video_ms'] / 1000:.2f} s = {fps:.0f} frames/s, {fps / 25:.1f}× real time on one core "
              f"(MP2 audio {best['audio_ms'] / 1000:.2f} s) — {25 / fps * 100:.0f}% of a core while watching |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
