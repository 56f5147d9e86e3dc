#!/usr/bin/env python3
"""Media quality benchmark: PESQ-WB of speech through the pqvoice media path.

Runs every generated speech file through `pqvoice simulate` (the real
encoder, redundancy, seeded loss model, jitter buffer and decoder on a
virtual clock) at 0/5/10/20 % random loss with several seeds, scores each
received file against its input with PESQ wide-band, and writes a table to
the `## media` section of bench/RESULTS.md.

Usage: media_bench.py PQVOICE_BIN [--seeds 1,2,3] [--losses 0,5,10,20] [--no-write]
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def pesq(ref, deg):
    out = run([sys.executable, os.path.join(HERE, "pesq_score.py"), ref, deg])
    return json.loads(out)["pesq_wb"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--losses", default="0,5,10,20")
    ap.add_argument("--extra", default="", help="extra args for pqvoice simulate")
    ap.add_argument("--label", default="default profile")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    speech_dir = os.path.join(HERE, "speech", "out")
    files = sorted(f for f in os.listdir(speech_dir) if f.endswith(".wav"))
    if not files:
        sys.exit("no speech: run bench/speech/generate.sh")
    seeds = [int(s) for s in a.seeds.split(",")]
    losses = [float(x) for x in a.losses.split(",")]
    rows = []
    stats_seen = {}
    with tempfile.TemporaryDirectory() as tmp:
        for loss in losses:
            scores = []
            for seed in seeds:
                for f in files:
                    ref = os.path.join(speech_dir, f)
                    deg = os.path.join(tmp, f"deg-{loss}-{seed}-{f}")
                    cmd = [a.bin, "simulate", "--input", ref, "--output", deg,
                           "--loss", str(loss), "--seed", str(seed)] + a.extra.split()
                    st = json.loads(run(cmd))
                    stats_seen = st
                    scores.append(pesq(ref, deg))
            rows.append((loss, statistics.mean(scores), statistics.median(scores),
                         min(scores), len(scores)))
            print(f"loss {loss:4.0f} %: mean PESQ-WB {statistics.mean(scores):.2f} "
                  f"median {statistics.median(scores):.2f} min {min(scores):.2f} "
                  f"(n={len(scores)})", flush=True)
    print(json.dumps(stats_seen))
    if a.no_write:
        return
    date = datetime.date.today().isoformat()
    cmdline = " ".join(["bench/media.sh"] + sys.argv[2:])
    lines = [
        f"### Offline media path, {a.label} ({date}, 2-core shared VM, {platform.machine()})",
        "",
        f"`{cmdline}` — {len(files)} espeak-ng speech files × seeds {a.seeds}, "
        f"`pqvoice simulate {a.extra}`: real Opus CBR encoder, redundancy, seeded "
        "random-loss model, adaptive jitter buffer and decoder on a virtual clock; "
        "PESQ-WB (PyPI `pesq`) of received vs sent.",
        "",
        "| random loss | mean PESQ-WB | median | min | runs | target |",
        "|---|---|---|---|---|---|",
    ]
    targets = {0: 4.0, 5: 3.6, 10: 3.3, 20: 2.8}
    for loss, mean, med, mn, n in rows:
        t = targets.get(int(loss))
        lines.append(f"| {loss:.0f} % | {mean:.2f} | {med:.2f} | {mn:.2f} | {n} | "
                     f"{'≥ %.1f' % t if t else '-'} |")
    lines.append("")
    lines.append(f"Wire: every datagram {stats_seen.get('wire_bytes')} bytes incl. IPv4+UDP, "
                 f"{stats_seen.get('wire_bitrate', 0) / 1000:.1f} kbit/s media stream "
                 f"(+ ~1 control packet/s). Encode {stats_seen.get('encode_us', 0):.0f} µs, "
                 f"decode side {stats_seen.get('decode_us', 0):.0f} µs per 20 ms frame "
                 "(this build).")
    lines.append("")
    update_results("\n".join(lines), a.label)


def update_results(block, label):
    path = os.path.join(HERE, "RESULTS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    m = re.search(r"^## media\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    section = m.group(1) if m else ""
    # Replace an earlier block with the same label, keep the others.
    head = f"### Offline media path, {label} ("
    parts = re.split(r"(?=^### )", section, flags=re.M)
    parts = [p for p in parts if not p.startswith(head)]
    section = "".join(parts).rstrip("\n") + "\n\n" + block + "\n"
    if not section.startswith("\n"):
        section = "\n" + section
    if m:
        text = text[: m.start()] + "## media\n" + section + text[m.end():]
    else:
        text = text.rstrip("\n") + "\n\n## media\n" + section
    open(path, "w").write(text)


if __name__ == "__main__":
    main()
