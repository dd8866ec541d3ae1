#!/usr/bin/env python3
"""Makes integrations/src/marc/marc8.tsv, the MARC-8 to Unicode table Spindle's decoder reads.

Every entry is what YAZ's own MARC-8 decoder (`yaz-iconv -f marc8 -t utf8`, built on the Library
of Congress code tables) answers for that code, so the table is the Library of Congress's
mapping as YAZ implements it, not a hand copy. The single-byte sets are probed code by code;
EACC (the East Asian set, three bytes a character) is probed at every code YAZ itself writes
for a CJK, kana or hangul character (`yaz-iconv -f utf8 -t marc8`) and at every code listed by
the mrrc crate's table (MIT; pass the path of its marc8_tables.rs to include those).

Run by hand when the table needs remaking (needs yaz); not part of the build or the tests:
    scripts/gen-marc8-table.py [path/to/mrrc/src/marc8_tables.rs] > integrations/src/marc/marc8.tsv
"""
import re
import subprocess
import sys

ESC = b"\x1b"
# Final bytes of the single-byte graphic sets (designated to G1 for probing, so the
# probe's end marker stays in Basic Latin), and the three G0-only MARC sets.
G1_SETS = [b"E", b"2", b"3", b"4", b"N", b"Q", b"S"]
G0_ONLY = [b"g", b"b", b"p"]
SEP = b"|"


def probe(codes):
    """Decodes each (designation, bytes) probe; None for a code YAZ does not know."""
    out = {}
    todo = list(codes)
    while todo:
        data = b""
        for (designate, raw) in todo:
            # Reset both working sets, designate, the code, back to Basic Latin, separator.
            data += ESC + b"(B" + ESC + b")E" + designate + raw + ESC + b"(B" + b"x" + ESC + b")E" + SEP
        res = subprocess.run(["yaz-iconv", "-f", "marc8", "-t", "utf8"], input=data,
                             capture_output=True)
        parts = res.stdout.decode("utf-8", "replace").split("|")
        done = parts[:-1] if res.returncode == 0 else parts[:-1]
        for i, text in enumerate(done):
            # Each probe is followed by a base letter x: a spacing character comes out
            # before it, a combining mark (which MARC-8 writes before its base) after it.
            if text.endswith("x") and len(text) > 1:
                out[todo[i]] = text[:-1]
            elif text.startswith("x") and len(text) > 1:
                out[todo[i]] = text[1:]
            else:
                out[todo[i]] = None
        if len(done) >= len(todo):
            break
        # The probe after the last complete one stopped YAZ: unknown; go on after it.
        out[todo[len(done)]] = None
        todo = todo[len(done) + 1:]
    return out


def main():
    rows = []
    probes = []
    for f in G1_SETS:
        probes += [((ESC + b")" + f), bytes([c | 0x80]), f, c) for c in range(0x21, 0x7F)]
    for f in G0_ONLY:
        probes += [((ESC + f), bytes([c]), f, c) for c in range(0x21, 0x7F)]
    got = probe([(d, r) for (d, r, _, _) in probes])
    for (d, r, f, c) in probes:
        text = got.get((d, r))
        if text:
            rows.append((f.decode(), f"{c:02X}", text))
    candidates = set()
    ranges = [(0x3000, 0x30FF), (0x3100, 0x312F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
              (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF), (0x3130, 0x318F)]
    for lo, hi in ranges:
        chars = "".join(chr(u) for u in range(lo, hi + 1))
        res = subprocess.run(["yaz-iconv", "-f", "utf8", "-t", "marc8"],
                             input=chars.encode(), capture_output=True)
        for m in re.finditer(rb"\x1b\$1((?:[\x21-\x7e]{3})+)", res.stdout):
            run = m.group(1)
            candidates.update(run[i:i + 3] for i in range(0, len(run), 3))
    if len(sys.argv) > 1:
        text = open(sys.argv[1], encoding="utf-8").read()
        eacc = text[text.index("static EACC_TABLE"):]
        for m in re.finditer(r"m\.insert\(0x([0-9A-F]{2})_([0-9A-F]{2})_([0-9A-F]{2}),", eacc):
            candidates.add(bytes(int(x, 16) for x in m.groups()))
    cands = sorted(candidates)
    got = probe([(ESC + b"$1", c) for c in cands])
    for c in cands:
        text = got.get((ESC + b"$1", c))
        if text:
            rows.append(("1", c.hex().upper(), text))
    print("# MARC-8 to Unicode: set (escape final byte), code (7-bit, hex), Unicode text.")
    print("# Made by scripts/gen-marc8-table.py from YAZ's MARC-8 decoder (Library of Congress")
    print("# code tables); see that script. A combining mark is written after a dotted circle.")
    for (f, code, text) in rows:
        shown = "".join(("\u25cc" + ch) if 0x300 <= ord(ch) <= 0x36F or 0xFE20 <= ord(ch) <= 0xFE2F else ch for ch in text)
        print(f"{f}\t{code}\t{' '.join(f'{ord(ch):04X}' for ch in text)}\t{shown}")


main()
