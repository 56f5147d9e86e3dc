#!/usr/bin/env python3
"""Turns bench/nat.sh's per-call JSON lines (written by
scripts/e2e/lib/nat_check.py) into the "## NAT traversal" section of
bench/RESULTS.md (replacing that section only, or appending it) and prints
the section."""
import argparse
import collections
import datetime
import json
import os
import platform
import re
import statistics

TOPOLOGIES = {
    "public": "1. both public",
    "one-nat": "2. one behind a cone NAT (both ways)",
    "cone": "3. both behind cone NATs",
    "symmetric": "4. both behind symmetric NATs",
    "turn-tcp": "5. symmetric, UDP to the relay blocked for one",
    "ipv6": "6. IPv6 between the peers",
    "always-relay": "7. always relay (caller)",
    "path-switch": "8. direct path cut mid-call",
}


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    osname = platform.platform()
    try:
        with open("/etc/os-release") as f:
            osname = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    return f"{cpu}, {os.cpu_count()} vCPU, Linux {platform.release()}, {osname}"


def pct(values, q):
    """The q-th percentile (nearest rank) of values, or None."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    rank = max(1, min(len(values), round(q / 100 * len(values) + 0.5)))
    return values[rank - 1]


def ms(v):
    return "–" if v is None else f"{v:.0f}"


def tally(values):
    """"direct 19, relayed 1" from a list of labels (None -> "?")."""
    c = collections.Counter("?" if v is None else str(v) for v in values)
    return ", ".join(f"{k} {n}" for k, n in c.most_common()) or "–"


def overhead(calls):
    """The relay's framing over the calls that ended relayed, both sides
    summed, median per call; ChannelData adds 4 bytes to every packet that
    crosses a side's link to the relay, so the figure / 4 is those packets."""
    per_call = [sum(x or 0 for x in (c.get("relay_overhead_bytes") or []))
                for c in calls if "relayed" in (c.get("path") or [])]
    if not per_call:
        return "–"
    m = statistics.median(per_call)
    return f"{m:.0f} B/call ({m / 4:.0f} packets × 4 B)"


def section(calls, args):
    by_topology = collections.OrderedDict((t, []) for t in TOPOLOGIES)
    for c in calls:
        by_topology.setdefault(c["topology"], []).append(c)
    # The run ended when its last call was written.
    now = datetime.datetime.fromtimestamp(os.path.getmtime(args.results), datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")
    lines = [
        "## NAT traversal",
        "",
        f"### Calls across namespaced NATs ({args.started[:16].replace('T', ' ')}–{now[11:]})",
        "",
        f"Machine: {machine()}. Command: `{args.command.strip()}` ({args.calls} calls per topology, "
        f"binaries: {args.binaries}). Each call: `pqvoice call` → `pqvoice answer`, a 3 s tone "
        "each way from WAV files (9 s in topology 8, cut 2 s after connecting), checked both ways "
        "(scripts/e2e/lib/nat_check.py); a call succeeds when every check of its suite passes. "
        "First audio is `first_audio_ms` of `--stats-json` (media start → first decoded audio): "
        "the callee's starts at accept, the caller's when the answer is verified. Path and IP "
        "version as each side reports them (caller/callee); switches: the most `path_switches` "
        "of a side in one call. Relay overhead: `relay_overhead_bytes` (ChannelData framing, "
        "both ways) over the calls that ended relayed, both sides summed, median per call; "
        "checks count too, since they are sealed packets of the call's size.",
        "",
        "| topology | success | first audio, callee: median / p90 ms | caller: median / p90 ms "
        "| path (caller/callee) | IP | switches | relay overhead |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for topo, cs in by_topology.items():
        if not cs:
            continue
        ok = sum(1 for c in cs if c.get("ok"))
        callee_fa = [(c.get("first_audio_ms") or [None, None])[1] for c in cs]
        caller_fa = [(c.get("first_audio_ms") or [None, None])[0] for c in cs]
        paths = ["/".join(str(p) for p in (c.get("path") or [None, None])) for c in cs]
        ips = ["/".join(str(p) for p in (c.get("ip_version") or [None, None])) for c in cs]
        switches = [max((s or 0) for s in (c.get("path_switches") or [0])) for c in cs]
        lines.append(
            f"| {TOPOLOGIES.get(topo, topo)} | {ok}/{len(cs)} ({100 * ok / len(cs):.0f} %) "
            f"| {ms(pct(callee_fa, 50))} / {ms(pct(callee_fa, 90))} "
            f"| {ms(pct(caller_fa, 50))} / {ms(pct(caller_fa, 90))} "
            f"| {tally(paths)} | {tally(ips)} | max {max(switches)} | {overhead(cs)} |")
    # Issue 20's targets for accept -> first audio: 150 ms direct, 300 ms
    # hole-punched or relayed; checked on the p90 of both sides.
    verdicts = []
    for topo, cs in by_topology.items():
        fa = [x for c in cs for x in (c.get("first_audio_ms") or []) if x is not None]
        if not fa:
            continue
        relayed = any("relayed" in (c.get("path") or []) for c in cs)
        limit = 300 if relayed or topo in ("cone", "symmetric") else 150
        if pct(fa, 90) > limit:
            verdicts.append(f"{TOPOLOGIES.get(topo, topo)} **missed** ({ms(pct(fa, 90))} > {limit} ms)")
    lines += ["", "First-audio targets (p90 of both sides; 150 ms direct, 300 ms hole-punched or relayed): "
              + ("; ".join(verdicts) if verdicts else "met in every topology.")]
    gaps = [max(c["gap_ms"].values()) for c in calls if c.get("gap_ms")]
    if gaps:
        lines += ["", f"Topology 8, silence a listener heard around the cut (longest run of 20 ms blocks "
                      f"without the other's tone, the worse side of each call): median "
                      f"{statistics.median(gaps):.0f} ms, p90 {pct(gaps, 90):.0f} ms, max {max(gaps):.0f} ms "
                      f"over {len(gaps)} calls."]
    waited = [c.get("retries", 0) for c in calls if c.get("retries")]
    if waited:
        lines += ["", f"{len(waited)} of {len(calls)} calls were refused at first (\"the registry still sees "
                      f"you in a call\") and placed again after up to {max(waited)} refusals, ~0.6 s apart: "
                      "the previous call's hang-up had not reached the registry, which then ended it "
                      "after the suites' 3 s disconnect grace."]
    failures = [c for c in calls if not c.get("ok")]
    if failures:
        lines += ["", "Failed calls (first problem of each):", ""]
        for c in failures[:20]:
            first = (c.get("problems") or ["?"])[0]
            lines.append(f"- {TOPOLOGIES.get(c['topology'], c['topology'])}, call {c['call']}: {first}")
        if len(failures) > 20:
            lines.append(f"- … and {len(failures) - 20} more")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("--started", required=True)
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--binaries", default="?")
    p.add_argument("--command", default="bench/nat.sh")
    p.add_argument("--write", help="RESULTS.md to update")
    a = p.parse_args()
    with open(a.results) as f:
        calls = [json.loads(line) for line in f if line.strip()]
    text = section(calls, a)
    print(text)
    if a.write:
        with open(a.write) as f:
            doc = f.read()
        pattern = re.compile(r"^## NAT traversal\n.*?(?=^## |\Z)", re.S | re.M)
        if pattern.search(doc):
            doc = pattern.sub(lambda _: text + "\n", doc, count=1)
        else:
            doc = doc.rstrip("\n") + "\n\n" + text
        with open(a.write, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
