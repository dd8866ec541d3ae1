#!/usr/bin/env python3
"""Spindle's WebDAV GET beside dav-server's on the same file (run by loadtests/dav-bench.sh).

Alternating the two servers, three rounds each: a whole-file GET by curl (MB/s), then 1,000
random 64 KiB ranges over one keep-alive connection (ranges/s); each server's CPU seconds
(from /proc) and its resident memory sampled every 10 ms during the whole-file GET (the
question was whether a server buffers whole files), and the client's CPU beside them.
Medians are reported. Everything listens on 127.0.0.1.
"""

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from benchlib import wait_indexed

SPINDLE, DAV_SERVER, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
TICK = os.sysconf("SC_CLK_TCK")
RANGES, RANGE = 1000, 64 << 10


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_up(url, method="GET"):
    for _ in range(300):
        try:
            urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"no answer from {url}")


def whole(url, pid):
    peak, stop = [rss_kib(pid)], threading.Event()
    base = peak[0]

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.01)

    t = threading.Thread(target=sample)
    t.start()
    c0, t0 = cpu(pid), time.perf_counter()
    client0 = os.times()
    out = run("curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", url)
    wall = time.perf_counter() - t0
    client1 = os.times()
    stop.set()
    t.join()
    size = int(out)
    return {
        "mb_s": size / wall / 1e6,
        "server_cpu_s": cpu(pid) - c0,
        "client_cpu_s": client1.children_user + client1.children_system
        - client0.children_user - client0.children_system,
        "rss_base_mib": base / 1024,
        "rss_growth_mib": (peak[0] - base) / 1024,
        "size": size,
    }


def ranges(host, port, path, size, pid, seed):
    rnd = random.Random(seed)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    c0, t0, client0 = cpu(pid), time.perf_counter(), time.process_time()
    for _ in range(RANGES):
        start = rnd.randrange(0, size - RANGE)
        conn.request("GET", path, headers={"Range": f"bytes={start}-{start + RANGE - 1}"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 206 or len(body) != RANGE:
            sys.exit(f"{path}: {r.status}, {len(body)} bytes for a 64 KiB range")
    wall = time.perf_counter() - t0
    return {
        "ranges_s": RANGES / wall,
        "server_cpu_ms_per_range": (cpu(pid) - c0) / RANGES * 1000,
        "client_cpu_ms_per_range": (time.process_time() - client0) / RANGES * 1000,
    }


def main():
    data = os.path.join(WORK, "data")
    env = dict(os.environ, SPINDLE_LOG__FILTER="warn")
    spindle = [SPINDLE, "--data-dir", data]
    run(*spindle, "member", "add", "DAV", "--name", "DAV bench", env=env)
    run(*spindle, "network", "set", "DAV", "127.0.0.0/8", env=env)
    token = run(*spindle, "token", "create", "--role", "librarian", "--member", "DAV", env=env).strip()
    p1, p2 = 20000 + os.getpid() % 20000, 20001 + os.getpid() % 20000
    log = open(os.path.join(WORK, "servers.log"), "a")
    ours = subprocess.Popen([*spindle, "serve", "--listen", f"127.0.0.1:{p1}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    theirs = subprocess.Popen([DAV_SERVER, os.path.join(WORK, "tree"), str(p2)],
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        base = f"http://127.0.0.1:{p1}"
        wait_up(base + "/readyz")
        wait_up(f"http://127.0.0.1:{p2}/", "OPTIONS")
        run(*spindle, "upload", "--dir", os.path.join(WORK, "discs"), "--server", base, "--token",
            token, "--pattern", "{barcode}.iso", "--report", os.path.join(WORK, "report"), env=env)
        with open(os.path.join(WORK, "report.json")) as f:
            disc = json.load(f)[0]["disc"]
        wait_indexed(base, disc, token)
        servers = [
            ("Spindle /dav (from the image)", ours.pid, p1, f"/dav/discs/{disc}/big.bin"),
            ("dav-server LocalFs (a plain file)", theirs.pid, p2, "/big.bin"),
        ]
        rows = {name: [] for name, *_ in servers}
        for round_ in range(3):
            for name, pid, port, path in servers:
                w = whole(f"http://127.0.0.1:{port}{path}", pid)
                w.update(ranges("127.0.0.1", port, path, w["size"], pid, round_))
                rows[name].append(w)
        print(f"\n{RANGES} random 64 KiB ranges per round; medians of 3 alternating rounds; "
              f"{rows[servers[0][0]][0]['size'] >> 20} MiB file\n")
        print("| server | whole file MB/s | server CPU s | client CPU s | RSS growth during the GET MiB "
              "| 64 KiB ranges/s | server CPU ms/range | client CPU ms/range |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, *_ in servers:
            m = lambda k: statistics.median(r[k] for r in rows[name])  # noqa: E731
            print(f"| {name} | {m('mb_s'):.0f} | {m('server_cpu_s'):.2f} | {m('client_cpu_s'):.2f} "
                  f"| {m('rss_growth_mib'):.1f} | {m('ranges_s'):.0f} | {m('server_cpu_ms_per_range'):.3f} "
                  f"| {m('client_cpu_ms_per_range'):.3f} |")
        a, b = (statistics.median(r["mb_s"] for r in rows[n]) for n, *_ in servers)
        c, d = (statistics.median(r["ranges_s"] for r in rows[n]) for n, *_ in servers)
        print(f"\nSpindle / dav-server: whole file {a / b:.2f}×, ranges {c / d:.2f}×")
    finally:
        for p in (ours, theirs):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
