#!/usr/bin/env python3
"""Spindle beside nginx on the same bytes, measured with wrk (run by loadtests/range-bench.sh).

Issue 23 asked for figures from a client that is not the bottleneck, with its CPU shown beside
the servers'. Spindle runs on its embedded defaults (SQLite, the local store) and serves an open
disc to an anonymous reader (no cookie kept, as download managers do); nginx serves the same
image file (`sendfile on; tcp_nopush off`: with `tcp_nopush on` every small range waits out the
delayed-ACK timer). The two servers alternate, ROUNDS times:

  warm   random unaligned 64 KiB ranges of the image, wrk (2 threads, 16 connections, SECS s)
  cold   (as root only) the page cache dropped before each run: a whole-image GET by curl, then
         random 64 KiB ranges by wrk; the disk's read rate from /proc/diskstats beside each

Reported: medians, each server's CPU seconds (from /proc, all its processes) and wrk's or curl's
beside them, and the ratio Spindle / nginx. Every server listens on 127.0.0.1.

FLOOR_BIN=PATH adds `spindle-range-floor` on the same image: hyper answering each range by
reading it into a buffer and writing it out, nothing else per request (no routing, middleware,
access decision or counting): the floor under any server on Spindle's HTTP stack.

ALT_BIN=PATH adds a second Spindle build (ALT_NAME names it, "Spindle (alt)" by default) to the
alternation, with its own data directory and the same image: two builds compared in one session,
each beside the same nginx runs.
"""

import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

from benchlib import wait_indexed

SPINDLE, LOAD, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
ROUNDS = int(os.environ.get("ROUNDS", "5"))
SECS = int(os.environ.get("SECS", "10"))
COLD = os.environ.get("COLD", "1") == "1" and os.geteuid() == 0
ALT_BIN = os.environ.get("ALT_BIN")
ALT_NAME = os.environ.get("ALT_NAME", "Spindle (alt)")
FLOOR_BIN = os.environ.get("FLOOR_BIN")
FLOOR_NAME = "hyper floor (read + write)"  # answers ranges only: no whole-image runs
TICK = os.sysconf("SC_CLK_TCK")
RANGE = 64 << 10
LUA = """
local size = tonumber(os.getenv("RANGE_BENCH_SIZE"))
local len = %d
local thread_seed = 0
setup = function(thread)
  thread_seed = thread_seed + 1
  thread:set("seed", thread_seed)
end
init = function(args)
  math.randomseed(os.time() + seed * 7919)
end
request = function()
  local s = math.random(0, size - len - 1)
  return wrk.format("GET", nil, {["Range"] = "bytes=" .. s .. "-" .. (s + len - 1)})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT {\\"requests\\": %%d, \\"secs\\": %%f, \\"bytes\\": %%d, "
    .. "\\"non_2xx\\": %%d, \\"connect\\": %%d, \\"read\\": %%d, \\"write\\": %%d, \\"timeout\\": %%d, "
    .. "\\"p50_ms\\": %%f, \\"p99_ms\\": %%f}\\n",
    summary.requests, summary.duration / 1e6, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
""" % RANGE


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def cpu(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def disk_read_bytes():
    """Bytes read from every whole disk (not partitions) since boot."""
    total = 0
    with open("/proc/diskstats") as f:
        for line in f:
            p = line.split()
            name = p[2]
            if name.startswith(("loop", "ram", "sr")) or name[-1].isdigit() and not name.startswith("nvme"):
                continue
            if name.startswith("nvme") and "p" in name[4:]:
                continue
            total += int(p[5]) * 512
    return total


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def wait_up(url, any_status=False):
    """Waits until `url` answers (with `any_status`, any HTTP status: the floor answers 416 to a
    request without Range)."""
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            if any_status:
                return
            time.sleep(0.1)
        except OSError:
            time.sleep(0.1)
    sys.exit(f"no answer from {url}")


def child_cpu():
    t = os.times()
    return t.children_user + t.children_system


def wrk(url, pids, size, secs):
    lua = os.path.join(WORK, "ranges.lua")
    c0, k0, d0 = cpu(pids), child_cpu(), disk_read_bytes()
    out = run("wrk", "-t2", "-c16", f"-d{secs}s", "--latency", "-s", lua, url,
              env=dict(os.environ, RANGE_BENCH_SIZE=str(size)))
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"wrk printed no result:\n{out}")
    r = json.loads(line[len("RESULT "):])
    bad = r["non_2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    if bad or r["requests"] == 0 or r["bytes"] < r["requests"] * RANGE:
        sys.exit(f"{url}: {bad} failed of {r['requests']} ranges, {r['bytes']} bytes\n{out}")
    return {
        "req_s": r["requests"] / r["secs"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "server_cpu_s": cpu(pids) - c0,
        "client_cpu_s": child_cpu() - k0,
        "disk_mb_s": (disk_read_bytes() - d0) / r["secs"] / 1e6,
    }


def whole(url, pids):
    c0, k0, d0, t0 = cpu(pids), child_cpu(), disk_read_bytes(), time.perf_counter()
    size = int(run("curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download}", url))
    wall = time.perf_counter() - t0
    return {
        "mb_s": size / wall / 1e6,
        "server_cpu_s": cpu(pids) - c0,
        "client_cpu_s": child_cpu() - k0,
        "disk_mb_s": (disk_read_bytes() - d0) / wall / 1e6,
    }


def check_range(url, image, size):
    """One random range from the server equals the same bytes of the file."""
    start = random.randrange(0, size - RANGE)
    req = urllib.request.Request(url, headers={"Range": f"bytes={start}-{start + RANGE - 1}"})
    with urllib.request.urlopen(req) as r:
        got, status = r.read(), r.status
    with open(image, "rb") as f:
        f.seek(start)
        want = f.read(RANGE)
    if status != 206 or got != want:
        sys.exit(f"{url}: a range differs from the file ({status}, {len(got)} bytes)")


def nginx_pids(pidfile):
    master = int(open(pidfile).read())
    kids = run("pgrep", "-P", str(master)).split()
    return [master, *map(int, kids)]


def main():
    image = os.path.join(WORK, "www", "image.iso")
    size = os.path.getsize(image)
    with open(os.path.join(WORK, "ranges.lua"), "w") as f:
        f.write(LUA)
    env = dict(os.environ, SPINDLE_LOG__FILTER="warn")
    builds = [("Spindle", SPINDLE)] + ([(ALT_NAME, ALT_BIN)] if ALT_BIN else [])
    port = 20000 + os.getpid() % 20000
    nport = port + len(builds)
    fport = nport + 1
    with open(os.path.join(WORK, "nginx.conf"), "w") as f:
        f.write(f"""worker_processes 2;
pid {WORK}/nginx.pid;
error_log {WORK}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush off;
  keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{nport}; root {WORK}/www; }}
}}
""")
    log = open(os.path.join(WORK, "spindle.log"), "a")
    running = []
    subprocess.run(["nginx", "-c", os.path.join(WORK, "nginx.conf"), "-p", WORK], check=True)
    try:
        servers = [("nginx 1.22 (sendfile)", lambda: nginx_pids(os.path.join(WORK, "nginx.pid")),
                    f"http://127.0.0.1:{nport}/image.iso")]
        data_dirs = []
        for i, (name, binary) in enumerate(builds):
            data = os.path.join(WORK, f"data{i}")
            data_dirs.append(data)
            spindle = [binary, "--data-dir", data]
            run(*spindle, "member", "add", "RB", "--name", "Range bench", env=env)
            token = run(*spindle, "token", "create", "--role", "librarian", "--member", "RB",
                        env=env).strip()
            proc = subprocess.Popen([*spindle, "serve", "--listen", f"127.0.0.1:{port + i}"],
                                    env=env, stdout=subprocess.DEVNULL, stderr=log)
            running.append(proc)
            base = f"http://127.0.0.1:{port + i}"
            wait_up(base + "/readyz")
            up = json.loads(run(LOAD, "--base", base, "--token", token, "upload", image, "--open"))
            wait_indexed(base, up["disc"], token)
            servers.append((name, lambda p=proc: [p.pid], f"{base}/api/v1/discs/{up['disc']}/image"))
        if FLOOR_BIN:
            proc = subprocess.Popen([FLOOR_BIN, image, str(fport)], stdout=subprocess.DEVNULL,
                                    stderr=log)
            running.append(proc)
            floor = f"http://127.0.0.1:{fport}/"
            wait_up(floor, any_status=True)
            servers.append((FLOOR_NAME, lambda p=proc: [p.pid], floor))
        for _, _, url in servers:
            check_range(url, image, size)
        rows = {name: {"warm": [], "cold_whole": [], "cold_ranges": []} for name, *_ in servers}
        # Warm for the warm runs: nginx's file and each Spindle's stored blob, every page of them.
        blobs = [os.path.join(d, f) for data in data_dirs
                 for d, _, fs in os.walk(os.path.join(data, "objects")) for f in fs]
        subprocess.run(["cat", image, *blobs], check=True, stdout=subprocess.DEVNULL)
        for _ in range(ROUNDS):
            for name, pids, url in servers:
                rows[name]["warm"].append(wrk(url, pids(), size, SECS))
        if COLD:
            for _ in range(ROUNDS):
                for name, pids, url in servers:
                    if name != FLOOR_NAME:
                        drop_caches()
                        rows[name]["cold_whole"].append(whole(url, pids()))
                    drop_caches()
                    rows[name]["cold_ranges"].append(wrk(url, pids(), size, SECS))
        report(rows, servers, size)
    finally:
        for proc in running:
            proc.terminate()
            proc.wait()
        subprocess.run(["nginx", "-c", os.path.join(WORK, "nginx.conf"), "-p", WORK, "-s", "stop"])


def against_first(rows, servers, kind, key, label):
    """Each Spindle's median of `key` in runs of `kind` as a ratio of the first server's (nginx)."""
    med = lambda n: statistics.median(x[key] for x in rows[n][kind])  # noqa: E731
    first = med(servers[0][0])
    return [f"{label} {med(n) / first:.2f}× ({n})" for n, *_ in servers[1:] if rows[n][kind]]


def report(rows, servers, size):
    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    print(f"\n{size >> 20} MiB image; medians of {ROUNDS} alternating rounds of {SECS} s; "
          f"wrk -t2 -c16, random unaligned 64 KiB ranges\n")
    kinds = [("warm", "warm 64 KiB ranges")]
    if COLD:
        kinds += [("cold_ranges", "cold 64 KiB ranges")]
    print("| case | server | req/s | p50 ms | p99 ms | server CPU s | wrk CPU s | disk MB/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for kind, label in kinds:
        for name, *_ in servers:
            xs = rows[name][kind]
            print(f"| {label} | {name} | {med(xs, 'req_s'):,.0f} | {med(xs, 'p50_ms'):.2f} "
                  f"| {med(xs, 'p99_ms'):.2f} | {med(xs, 'server_cpu_s'):.1f} "
                  f"| {med(xs, 'client_cpu_s'):.1f} | {med(xs, 'disk_mb_s'):.0f} |")
        ratios += against_first(rows, servers, kind, "req_s", label)
    if COLD:
        print("\n| case | server | MB/s | server CPU s | curl CPU s | disk MB/s |")
        print("|---|---|---:|---:|---:|---:|")
        for name, *_ in servers:
            xs = rows[name]["cold_whole"]
            if not xs:
                continue
            print(f"| cold whole image | {name} | {med(xs, 'mb_s'):,.0f} | {med(xs, 'server_cpu_s'):.1f} "
                  f"| {med(xs, 'client_cpu_s'):.1f} | {med(xs, 'disk_mb_s'):.0f} |")
        ratios += against_first(rows, servers, "cold_whole", "mb_s", "cold whole image")
    print("\nagainst nginx: " + ", ".join(ratios))
    print("RAW " + json.dumps(rows))


if __name__ == "__main__":
    main()
