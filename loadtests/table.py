"""loadtests/run.sh's bookkeeping.

    python3 loadtests/table.py record results.jsonl BACKEND SIDE CASE < one JSON line
        labels a measurement, appends it to the results and prints it in one line;
    python3 loadtests/table.py table results.jsonl SIZE SECS RPS SLOW_CONNS
        prints the table of ratios, each beside its target.
"""
import json
import platform
import subprocess
import sys
import time


def record(path, backend, side, case):
    r = json.loads(sys.stdin.readline())
    r.update(backend=backend, side=side, case=case)
    with open(path, "a") as out:
        out.write(json.dumps(r) + "\n")
    if r.get("errors"):
        print(f"  !! {backend} {side} {case}: {r['errors']} errors: {r.get('first_error')}", file=sys.stderr)
    if "req_per_s" in r:
        print(
            f"  {backend:6} {side:8} {case:20} {r['mb_per_s']:8.0f} MB/s {r['req_per_s']:9.0f} req/s "
            f"p50 {r.get('p50_ms', 0):7.2f} ms p99 {r.get('p99_ms', 0):7.2f} ms"
        )
    else:
        print(f"  {backend:6} {side:8} {case:20} {json.dumps(r)}")


if sys.argv[1] == "record":
    record(*sys.argv[2:6])
    sys.exit(0)

path, size, secs, rps, slow = sys.argv[2:7]
rows = [json.loads(line) for line in open(path) if line.strip()]


def get(backend, side, case):
    for r in rows:
        if (r["backend"], r["side"], r["case"]) == (backend, side, case):
            return r
    return None


def cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), "?")
    except OSError:
        name = "?"
    return f"{name}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} vCPU"


backends = [b for b in ("local", "s3") if any(r["backend"] == b for r in rows)]
print()
print(f"Spindle beside its baselines, {time.strftime('%Y-%m-%d')}, {cpu()}, {platform.system()} {platform.release()}")
print(f"image {size} (ISO 9660 by xorriso), {secs} s per measurement, pages at {rps} req/s, {slow} slow downloads")
print()
print("| scenario | measure | baseline | " + " | ".join(f"Spindle {b} | ratio" for b in backends) + " | target |")
print("|---|---|---:|" + "---:|---:|" * len(backends) + "---|")

failures = []


def line(name, measure, base, values, target, check, only=None):
    cells = []
    for b, v, base_b in values:
        if v is None:
            cells += ["-", "-"]
            continue
        ratio = v / base_b if base_b else 0.0
        ok = check(v, ratio) or (only is not None and b != only)
        if not ok:
            failures.append(f"{name} ({b})")
        cells += [fmt(v), f"{ratio:.2f}x" + ("" if ok else " (missed)")]
    print(f"| {name} | {measure} | {fmt(base)} | " + " | ".join(cells) + f" | {target} |")


def fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"


def val(r, key):
    return r[key] if r else None


for case, name, target, key, unit in [
    ("image-1", "whole image, 1 stream", 0.9, "mb_per_s", "MB/s"),
    ("image-16", "whole image, 16 streams", 0.9, "mb_per_s", "MB/s"),
    ("ranges-64k", "random 64 KiB ranges, 16 conns", 0.6, "req_per_s", "req/s"),
    ("file-1", "one file from the ISO, 1 stream", 0.8, "mb_per_s", "MB/s"),
    ("file-16", "one file from the ISO, 16 streams", 0.8, "mb_per_s", "MB/s"),
]:
    base = val(get("all", "nginx", case), key)
    # The nginx target is the local store's; on S3 the ratio is shown for reference and the
    # target is against object_store on the next line.
    line(
        name,
        f"{unit} vs nginx",
        base,
        [(b, val(get(b, "spindle", case), key), base) for b in backends],
        f">= {target}x (local store)",
        lambda v, r, t=target: r >= t,
        only="local",
    )
    # On S3 the baseline is object_store against the same Garage.
    og = get("s3", "objget", case)
    if og and "s3" in backends:
        line(
            name + " (S3)",
            f"{unit} vs object_store GET",
            og[key],
            [(b, val(get(b, "spindle", case), key) if b == "s3" else None, og[key]) for b in backends],
            f">= {0.9 if case.startswith('image') else 0.6}x",
            lambda v, r, t=(0.9 if case.startswith("image") else 0.6): r >= t,
        )

listing = get("all", "nginx", "listing-rate")
for case, name in [
    ("listing-rate", "folder listing (JSON), p99"),
    ("folder-page-rate", "folder page (HTML), p99"),
    ("disc-page-rate", "disc page (HTML), p99"),
]:
    base = val(listing, "p99_ms")
    line(
        name,
        f"ms at {rps} req/s vs nginx autoindex",
        base,
        [(b, val(get(b, "spindle", case), "p99_ms"), base) for b in backends],
        "< 20 ms",
        lambda v, r: v < 20.0,
    )
    for b in backends:
        r = get(b, "spindle", case)
        if r and r["errors"]:
            failures.append(f"{name} ({b}): {r['errors']} errors")

ingest = get("all", "baseline", "ingest")
line(
    "upload ingest (tus)",
    "MB/s vs sha256 + cp + sync",
    val(ingest, "mb_per_s"),
    [(b, val(get(b, "spindle", "ingest"), "mb_per_s"), val(ingest, "mb_per_s")) for b in backends],
    ">= 0.8x (local store)",
    lambda v, r: r >= 0.8,
    only="local",
)
print()
for b in backends:
    d = get(b, "spindle", "events-downloads")
    p = get(b, "spindle", "events-pages")
    if d and p:
        print(
            f"- events ({b}): {d['recorded']} recorded, {d['dropped']} dropped during the downloads; "
            f"{p['recorded']} recorded ({p['recorded'] / p['secs']:.0f}/s), {p['dropped']} dropped during the page scenarios"
        )
        if d["dropped"] or p["dropped"]:
            failures.append(f"events dropped ({b})")
    for which in ("big", "small"):
        m = get(b, "spindle", f"memory-{which}")
        if m and m.get("per_download_kib") is None:
            failures.append(f"memory {which} ({b}): no sample while the downloads were open")
        elif m:
            # The target is the local store's; on S3 the figure is reported.
            ok = (m["per_download_kib"] < 1024 or b != "local") and m["errors"] == 0
            if not ok:
                failures.append(f"memory {which} ({b})")
            print(
                f"- memory ({b}, {which} image): {m['requests']} of {slow} slow downloads open; RSS idle "
                f"{m['idle_kib'] / 1024:.0f} MiB, peak {m['peak_kib'] / 1024:.0f} MiB, "
                f"{m['per_download_kib']:.0f} KiB per download" + (" (target < 1024)" if b == "local" else "")
            )
for r in rows:
    if r.get("errors"):
        failures.append(f"{r['backend']} {r['side']} {r['case']}: {r['errors']} errors ({r.get('first_error')})")
print()
print("Targets missed: " + (", ".join(failures) if failures else "none"))
