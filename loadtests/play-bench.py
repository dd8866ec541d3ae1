#!/usr/bin/env python3
"""What playing a disc costs through Spindle (issue 18), beside plain ffmpeg on the same input.

Run by loadtests/play-bench.sh, which builds Spindle and makes the discs. Against a Spindle
server started here on its embedded defaults (SQLite, local store) with the discs uploaded by
`spindle upload`, it measures:

  1. the transcoding pipeline's real-time factor (one reader fetching every segment of a
     title from cold) beside plain ffmpeg with the same arguments on the same file, and the
     CPU seconds each took (ffmpeg's from the server's reaped children, the server's own);
  2. time to first frame (playlist + first segment received) for 1 reader and for 8 new
     readers at once, cold (the segment cache emptied before each round), p50 and p99;
  3. viewers per core: cold (video seconds per CPU second of transcoding) and with the
     segments cached (CPU per segment served, a viewer taking one segment per segment_secs),
     with the load client's CPU beside the server's;
  4. memory per viewer: the peak RSS of each ffmpeg (sampled from /proc) and the server's RSS.

Bounded: a few minutes of CPU; everything listens on 127.0.0.1.
"""

import concurrent.futures as cf
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SPINDLE, WORK, SEGMENT_SECS = sys.argv[1], sys.argv[2], 4
TICK = os.sysconf("SC_CLK_TCK")


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def get(url, token=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=300) as r:
        return r.read()


def cpu(pid):
    """(own CPU seconds, reaped children's CPU seconds) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / TICK, (cutime + cstime) / TICK


def rss_kib(pid, key="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class FfmpegWatch:
    """Samples the peak RSS of every ffmpeg the server starts."""

    def __init__(self, server):
        self.server, self.peaks, self.stop = server, {}, False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                name = stat[stat.find("(") + 1 : stat.rfind(")")]
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if name == "ffmpeg" and ppid == self.server:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), rss_kib(pid, "VmHWM"))
            time.sleep(0.05)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    data = os.path.join(WORK, "data")
    # Transcodes nobody watches stop after 5 s, so one round's leftovers do not run into the next.
    env = dict(os.environ, SPINDLE_LOG__FILTER="warn", SPINDLE_MEDIA__SEGMENT_SECS=str(SEGMENT_SECS),
               SPINDLE_MEDIA__IDLE_SECS="5")
    spindle = [SPINDLE, "--data-dir", data]
    run(*spindle, "member", "add", "PLAY", "--name", "Play bench", env=env)
    run(*spindle, "network", "set", "PLAY", "127.0.0.0/8", env=env)
    token = run(*spindle, "token", "create", "--role", "librarian", "--member", "PLAY", env=env).strip()
    results = {}
    for max_jobs in (2, 8):
        port = 20000 + os.getpid() % 20000 + max_jobs
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [*spindle, "serve", "--listen", f"127.0.0.1:{port}"],
            env=dict(env, SPINDLE_MEDIA__MAX_JOBS=str(max_jobs)),
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(WORK, "server.log"), "a"),
        )
        try:
            for _ in range(300):
                try:
                    get(base + "/readyz")
                    break
                except OSError:
                    time.sleep(0.1)
            if max_jobs == 2:
                run(*spindle, "upload", "--dir", os.path.join(WORK, "discs"), "--server", base,
                    "--token", token, "--state", os.path.join(WORK, "state.json"),
                    "--report", os.path.join(WORK, "report"), env=env)
            results[max_jobs] = measure(base, server.pid, data, max_jobs, token)
        finally:
            server.terminate()
            server.wait()
    report(results)


def titles(base, token):
    discs = json.loads(get(base + "/api/v1/discs?member=PLAY", token))
    discs = discs.get("discs", discs) if isinstance(discs, dict) else discs
    found = {}
    for d in discs:
        disc = json.loads(get(f"{base}/api/v1/discs/{d['id']}"))
        for t in disc["image"]["media"]:
            found[disc["filename"]] = (disc["id"], t)
            break
    return found


def settle(base):
    """Waits until no transcode runs (`spindle_transcodes_running` in /metrics)."""
    for _ in range(600):
        metrics = get(base + "/metrics").decode()
        running = re.search(r"^spindle_transcodes_running (\d+)", metrics, re.M)
        if running and running.group(1) == "0":
            return
        time.sleep(0.1)
    raise SystemExit("transcodes still running after 60 s")


def empty_cache(base, data):
    settle(base)
    db = sqlite3.connect(os.path.join(data, "spindle.db"))
    db.execute("DELETE FROM media_segments")
    db.commit()
    db.close()


def ttff(base, disc, first_segment):
    """Seconds from asking for the playlist to holding the first segment played."""
    start = time.monotonic()
    get(f"{base}/api/v1/discs/{disc}/titles/1/hls.m3u8")
    get(f"{base}/api/v1/discs/{disc}/titles/1/hls/{first_segment}.ts")
    return time.monotonic() - start


def measure(base, pid, data, max_jobs, token):
    found = titles(base, token)
    out = {}
    for name, (disc, title) in sorted(found.items()):
        kind = "vcd" if name.endswith(".cue") else "dvd"
        secs = title["seconds"]
        count = int(-(-secs // SEGMENT_SECS))
        row = out.setdefault(kind, {"seconds": secs})
        if max_jobs == 2:
            # The title's bytes as Spindle serves them, for plain ffmpeg to read the same input.
            with open(os.path.join(WORK, f"{kind}-title.mpg"), "wb") as f:
                f.write(get(f"{base}/api/v1/discs/{disc}/titles/1"))
            # 1. One reader, every segment, cold.
            empty_cache(base, data)
            own0, kids0 = cpu(pid)
            watch = FfmpegWatch(pid)
            rss0 = rss_kib(pid)
            start = time.monotonic()
            get(f"{base}/api/v1/discs/{disc}/titles/1/hls.m3u8")
            for n in range(count):
                get(f"{base}/api/v1/discs/{disc}/titles/1/hls/{n}.ts")
            wall = time.monotonic() - start
            time.sleep(0.5)
            watch.stop = True
            own1, kids1 = cpu(pid)
            row.update(spindle_wall=wall, spindle_ffmpeg_cpu=kids1 - kids0, spindle_server_cpu=own1 - own0,
                       ffmpeg_peak_kib=max(watch.peaks.values(), default=0), server_rss_kib=rss0)
            # 3b. Cached: every segment again, 4 clients at once, server and client CPU.
            own0, _ = cpu(pid)
            c0 = os.times()
            start = time.monotonic()
            urls = [f"{base}/api/v1/discs/{disc}/titles/1/hls/{n % count}.ts" for n in range(400)]
            with cf.ThreadPoolExecutor(4) as pool:
                sizes = list(pool.map(lambda u: len(get(u)), urls))
            cached_wall = time.monotonic() - start
            c1 = os.times()
            own1, _ = cpu(pid)
            row.update(cached_requests=len(urls), cached_wall=cached_wall, cached_server_cpu=own1 - own0,
                       cached_client_cpu=(c1.user - c0.user) + (c1.system - c0.system),
                       segment_bytes=statistics.mean(sizes))
        # 2. Time to first frame: 1 reader (5 rounds), then 8 at once (3 rounds), cold.
        singles = []
        for r in range(5):
            empty_cache(base, data)
            singles.append(ttff(base, disc, (r * 3) % count))
        crowds = []
        for _ in range(3):
            empty_cache(base, data)
            starts = [(i * count // 8) for i in range(8)]
            watch = FfmpegWatch(pid)
            with cf.ThreadPoolExecutor(8) as pool:
                crowds += list(pool.map(lambda s: ttff(base, disc, s), starts))
            watch.stop = True
            row.setdefault("crowd_ffmpeg_peaks", []).extend(watch.peaks.values())
        row[f"ttff1_jobs{max_jobs}"] = singles
        row[f"ttff8_jobs{max_jobs}"] = crowds
        row["crowd_server_rss_kib"] = rss_kib(pid)
    return out


def plain_ffmpeg(src, secs):
    """The same transcode as Spindle's, of the same bytes (the title as Spindle serves it, from
    a file), by ffmpeg alone: wall and CPU seconds (the median of three runs)."""
    out = tempfile.mkdtemp(dir=WORK)
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-threads", "1",
            "-i", src, "-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn", "-filter_threads", "1",
            "-vf", "yadif=deint=interlaced,scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-threads", "1",
            "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECS})", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "128000", "-ac", "2", "-f", "hls", "-hls_time", str(SEGMENT_SECS),
            "-hls_list_size", "0", "-hls_segment_type", "mpegts",
            "-hls_segment_filename", os.path.join(out, "seg%d.ts"), os.path.join(out, "out.m3u8")]
    runs = []
    for _ in range(3):
        c0 = os.times()
        start = time.monotonic()
        subprocess.run(args, check=True)
        wall = time.monotonic() - start
        c1 = os.times()
        runs.append((wall, (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)))
    return sorted(runs)[1]


def report(results):
    sources = {kind: os.path.join(WORK, f"{kind}-title.mpg") for kind in ("vcd", "dvd")}
    print(f"machine: {os.cpu_count()} cores; segments of {SEGMENT_SECS} s; x264 veryfast, one thread per transcode\n")
    print("| source | length | plain ffmpeg: wall (CPU) | Spindle, one reader from cold: wall (ffmpeg CPU + server CPU) | Spindle ÷ plain (speed) | real time per core (cold) |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, row in sorted(results[2].items()):
        wall, cpu_s = plain_ffmpeg(sources[kind], row["seconds"])
        row.update(plain_wall=wall, plain_cpu=cpu_s)
        speed = wall / row["spindle_wall"]
        per_core = row["seconds"] / (row["spindle_ffmpeg_cpu"] + row["spindle_server_cpu"])
        print(f"| {kind} | {row['seconds']:.0f} s | {wall:.2f} s ({cpu_s:.2f} s) | {row['spindle_wall']:.2f} s "
              f"({row['spindle_ffmpeg_cpu']:.2f} + {row['spindle_server_cpu']:.2f} s) | {speed:.2f}× | {per_core:.1f}× |")
    print()
    print("| source | max_jobs | 1 reader TTFF p50 / p99 | 8 new readers at once TTFF p50 / p99 |")
    print("|---|---:|---:|---:|")
    for jobs in (2, 8):
        for kind, row in sorted(results[jobs].items()):
            one, eight = row[f"ttff1_jobs{jobs}"], row[f"ttff8_jobs{jobs}"]
            print(f"| {kind} | {jobs} | {pct(one, 50):.2f} s / {pct(one, 99):.2f} s | {pct(eight, 50):.2f} s / {pct(eight, 99):.2f} s |")
    print()
    print("| source | viewers per core, cold | cached: server CPU per segment (client CPU) | viewers per core, cached | segment bytes | ffmpeg peak RSS per transcode | server RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, row in sorted(results[2].items()):
        cold = row["seconds"] / (row["spindle_ffmpeg_cpu"] + row["spindle_server_cpu"])
        per_seg = row["cached_server_cpu"] / row["cached_requests"]
        client = row["cached_client_cpu"] / row["cached_requests"]
        cached = SEGMENT_SECS / per_seg if per_seg > 0 else float("inf")
        peaks = row.get("crowd_ffmpeg_peaks", []) + [row["ffmpeg_peak_kib"]]
        print(f"| {kind} | {cold:.1f} | {per_seg * 1e3:.2f} ms ({client * 1e3:.2f} ms) | {cached:,.0f} | "
              f"{row['segment_bytes'] / 1e3:.0f} kB | {max(peaks) / 1024:.0f} MiB | {row['crowd_server_rss_kib'] / 1024:.0f} MiB |")
    with open(os.path.join(WORK, "..", "play-bench.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
