#!/usr/bin/env python3
"""The soak's client (issue 22, item 5; started by loadtests/soak.sh): mixed load at a fixed
rate through the cluster's balancer, every answer checked.

Setup: two open discs uploaded with tus (an ISO holding 48 MiB of random bytes and a small
text file, and an 8 MiB one), read once they are indexed, and a SUSHI key. Then, for SECS
seconds, RATE requests a second are started on schedule (open loop) and spread over worker
threads: random unaligned 64 KiB ranges of the big image (checked against the local bytes),
whole downloads of the small image (SHA-256 checked), the text file inside the big image,
disc pages (their id checked), searches, SUSHI status, and a tus upload of a fresh 2 MiB
image every UPLOAD_EVERY seconds (its served bytes checked). An answer is right, or a 503
with Retry-After, or a refused connection; the last two only inside the restart window.
Writes WORK/client.json: counts by kind and status, wrong
answers and errors with their times (soak.sh judges them against the restart window), and
the successful requests that count as downloads, by action (for the usage check).
"""

import argparse
import base64
import hashlib
import json
import os
import random
import subprocess
import tempfile
import threading
import time
import queue

import requests

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def iso(path, payload_name, payload, extra_text=None):
    """An ISO 9660 image made by xorriso holding `payload` (and a.txt if given)."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, payload_name), "wb") as f:
            f.write(payload)
        if extra_text is not None:
            with open(os.path.join(d, "a.txt"), "wb") as f:
                f.write(extra_text)
        subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-r", "-J", "-o", path, d],
                       check=True, stderr=subprocess.DEVNULL)
    with open(path, "rb") as f:
        return f.read()


def tus_upload(session, lb, token, data, name):
    """Uploads `data` with tus and registers it as an open disc: its id."""
    sha = hashlib.sha256(data).hexdigest()
    b64 = lambda s: base64.b64encode(s.encode()).decode()
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    r = session.post(f"{lb}/api/v1/uploads", headers={
        **auth, "Upload-Length": str(len(data)),
        "Upload-Metadata": f"sha256 {b64(sha)},filename {b64(name)}"}, timeout=60)
    if r.status_code != 201:
        raise RuntimeError(f"create upload: {r.status_code} {r.text[:200]}")
    location = r.headers["Location"]
    offset = 0
    while offset < len(data):
        try:
            r = session.patch(f"{lb}{location}", data=data[offset:], headers={
            **auth, "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream"}, timeout=120)
        except requests.ConnectionError:
            r = None  # the node went away mid-PATCH: ask where the upload stands
        if r is not None and r.status_code == 204:
            offset = int(r.headers["Upload-Offset"])
            continue
        if r is None or r.status_code in (423, 503):
            time.sleep(float(r.headers.get("Retry-After", "1")) if r is not None else 1)
            h = session.head(f"{lb}{location}", headers=auth, timeout=60)
            if h.status_code == 200:
                offset = int(h.headers["Upload-Offset"])
            continue
        raise RuntimeError(f"PATCH at {offset}: {r.status_code} {r.text[:200]}")
    for _ in range(60):
        r = session.post(f"{lb}/api/v1/discs", json={"sha256": sha, "filename": name, "open": True},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)
        if r.status_code in (200, 201):
            return r.json()["id"], sha
        if r.status_code == 503:
            time.sleep(1)
            continue
        raise RuntimeError(f"register: {r.status_code} {r.text[:200]}")
    raise RuntimeError("register: 503 for a minute")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lb", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--secs", type=int, default=1800)
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--upload-every", type=float, default=20)
    p.add_argument("--threads", type=int, default=16)
    a = p.parse_args()
    lb, token = a.lb, a.token
    setup = requests.Session()
    rnd = random.Random(22)
    text = b"Spindle soak: the text file inside the big image.\n" * 40
    big = iso(os.path.join(a.work, "big.iso"), "big.bin", rnd.randbytes(48 * 2**20), text)
    small = iso(os.path.join(a.work, "small.iso"), "small.bin", rnd.randbytes(8 * 2**20))
    big_id, _ = tus_upload(setup, lb, token, big, "soak-big.iso")
    small_id, small_sha = tus_upload(setup, lb, token, small, "soak-small.iso")
    for disc in (big_id, small_id):
        for _ in range(600):
            v = setup.get(f"{lb}/api/v1/discs/{disc}", headers={"Authorization": f"Bearer {token}"},
                          timeout=30).json()
            if v.get("image", {}).get("status") == "indexed":
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"disc {disc} was not indexed")
    r = setup.post(f"{lb}/api/v1/sushi-keys", json={},
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"sushi key: {r.status_code} {r.text[:200]}")
    sushi_key, member = r.json()["api_key"], r.json()["member"]

    lock = threading.Lock()
    counts = {}
    counted = {"image": 0, "file": 0}
    problems = []  # (t, kind, status, detail): judged against the restart window at the end

    def note(kind, status, ok, t, detail="", action=None):
        with lock:
            counts[f"{kind} {status}"] = counts.get(f"{kind} {status}", 0) + 1
            if ok and action:
                counted[action] += 1
            if not ok:
                problems.append((t, kind, status, detail[:300]))

    def one(kind, session):
        t = time.time()
        h = {"User-Agent": UA}
        try:
            if kind == "range":
                start = random.randrange(0, len(big) - 65536)
                r = session.get(f"{lb}/api/v1/discs/{big_id}/image",
                                headers={**h, "Range": f"bytes={start}-{start + 65535}"}, timeout=60)
                ok = r.status_code == 206 and r.content == big[start:start + 65536]
                action = None  # a range not from byte 0 is no new download (COUNTER)
            elif kind == "whole":
                r = session.get(f"{lb}/api/v1/discs/{small_id}/image", headers=h, timeout=120)
                ok = r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == small_sha
                action = "image"
            elif kind == "file":
                r = session.get(f"{lb}/api/v1/discs/{big_id}/files/a.txt", headers=h, timeout=60)
                ok = r.status_code == 200 and r.content == text
                action = "file"
            elif kind == "page":
                r = session.get(f"{lb}/api/v1/discs/{big_id}", headers=h, timeout=60)
                ok = r.status_code == 200 and r.json().get("id") == big_id
                action = None
            elif kind == "search":
                r = session.get(f"{lb}/search", params={"q": "soak"}, headers=h, timeout=60)
                ok = r.status_code == 200
                action = None
            else:  # sushi
                r = session.get(f"{lb}/sushi/r51/status",
                                params={"customer_id": member, "api_key": sushi_key}, headers=h, timeout=60)
                ok = r.status_code == 200
                action = None
            status = r.status_code
            detail = "" if ok else r.text[:200]
            if not ok and status == 503 and "Retry-After" in r.headers:
                detail = "503 with Retry-After"
            note(kind, status, ok, t, detail, action)
        except (requests.ConnectionError, requests.Timeout) as e:
            note(kind, "connection", False, t, f"connection: {e}")
        except Exception as e:  # a body that is not JSON, and the like: wrong
            note(kind, "exception", False, t, f"{type(e).__name__}: {e}")

    def uploader(stop):
        session = requests.Session()
        n = 0
        while not stop.is_set():
            n += 1
            t = time.time()
            data = iso(os.path.join(a.work, f"up-{n % 2}.iso"), "u.bin", os.urandom(2 * 2**20))
            try:
                disc, sha = tus_upload(session, lb, token, data, f"soak-upload-{n}.iso")
                got = session.get(f"{lb}/api/v1/discs/{disc}/image", headers={"User-Agent": UA}, timeout=120)
                ok = got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == sha
                note("upload", got.status_code, ok, t, "" if ok else "served bytes differ", "image")
            except Exception as e:
                note("upload", "error", False, t, f"{type(e).__name__}: {e}")
            stop.wait(a.upload_every)

    kinds = ["range"] * 45 + ["whole"] * 5 + ["file"] * 15 + ["page"] * 25 + ["search"] * 6 + ["sushi"] * 4
    jobs = queue.Queue(maxsize=a.threads * 4)
    late = [0]

    def worker():
        session = requests.Session()
        while True:
            kind = jobs.get()
            if kind is None:
                return
            one(kind, session)

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for th in threads:
        th.start()
    stop = threading.Event()
    up = threading.Thread(target=uploader, args=(stop,))
    up.start()
    started = time.time()
    with open(os.path.join(a.work, "load-started"), "w") as f:
        f.write(str(started))
    n = 0
    while True:
        due = started + n / a.rate
        if due - started >= a.secs:
            break
        now = time.time()
        if due > now:
            time.sleep(due - now)
        try:
            jobs.put_nowait(rnd.choice(kinds))
        except queue.Full:
            late[0] += 1  # every worker busy: the server is behind the schedule
        n += 1
    stop.set()
    for _ in threads:
        jobs.put(None)
    for th in threads + [up]:
        th.join()

    out = {"secs": a.secs, "rate": a.rate, "started": started, "scheduled": n,
           "not_started_workers_busy": late[0], "counts": counts, "counted_ok": counted,
           "problems": [{"t": t, "kind": k, "status": st, "detail": d} for t, k, st, d in problems]}
    with open(os.path.join(a.work, "client.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "problems"})[:2000])


if __name__ == "__main__":
    main()
