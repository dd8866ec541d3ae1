"""Pieces the Python benchmark drivers share (imported by loadtests/*-bench.py)."""

import json
import sys
import time
import urllib.request


def wait_indexed(base, disc, token, tries=600):
    """Waits until Spindle at `base` has read disc `disc`'s image; exits if it never does."""
    d = {}
    for _ in range(tries):
        d = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/v1/discs/{disc}", headers={"Authorization": f"Bearer {token}"})).read())
        if d.get("image", {}).get("status") == "indexed":
            return
        time.sleep(0.1)
    sys.exit(f"the image of disc {disc} was not read: {d}")
