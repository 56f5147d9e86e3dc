#!/usr/bin/env python3
"""Turns bench/app_bench.mjs's JSON into the "## desktop app" section of
bench/RESULTS.md (replacing that section only, or appending it) and prints
the section."""
import argparse
import datetime
import json
import os
import platform
import re


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    osname = platform.platform()
    try:
        with open("/etc/os-release") as f:
            osname = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    return f"{cpu}, {os.cpu_count()} vCPU, {mem_kib / 1048576:.0f} GiB RAM, Linux {platform.release()}, {osname}"


def verdict(value, limit):
    return "met" if value <= limit else "**missed**"


def mib(kib):
    return f"{kib / 1024:.0f} MiB"


def by_process(d):
    parts = sorted(d.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {pct:.2f} %" for name, pct in parts)


def threads(d, n=6):
    parts = list(d.items())[:n]
    if not parts:
        return "none measurably busy"
    return ", ".join(f"`{name}` {pct:.1f} %" for name, pct in parts)


def section(r, args):
    cs, direct, idle, call = r["coldStart"], r["coldStartDirect"], r["idle"], r["call"]
    runs = ", ".join(f"{s['fromExecS']:.2f}" for s in cs["runs"])
    druns = ", ".join(f"{x:.2f}" for x in direct["runs"])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    bot = call.get("othersCpuPctOfOneCore", {}).get("echoBot")
    runs_c = r.get("callRuns", [])
    call_runs_label = f", median of {len(runs_c)} calls" if len(runs_c) > 1 else ""
    call_runs = (
        "; calls: " + ", ".join(f"{c['cpuPctOfOneCore']:.2f}" for c in runs_c) + " %"
        if len(runs_c) > 1
        else ""
    )
    call_kind = (
        "someone talking (speech played into the sound card, the echo bot sends it back, both "
        "level meters move)"
        if args.talk == "1"
        else "silent (`PQVOICE_BENCH_TALK=0`: the level meters stay still)"
    )
    lines = [
        "## desktop app",
        "",
        f"Measured {date} on the shared VM ({machine()}); load average "
        f"{args.load_before} before and {args.load_after} after the run (1/5/15 min; other "
        f"jobs share the 2 cores). Command: `{args.command}`.",
        "",
        f"Release build of the app (`{args.app}`, made by `tauri build` in `scripts/package.sh`, "
        "UI embedded) under Xvfb in a private headless session whose sound card is PipeWire's "
        "null sink, so the call runs the real audio path (cpal → ALSA → PipeWire, echo "
        "cancellation and noise suppression on); a release `pqvoice-registry` on loopback; a "
        "release `pqvoice echo-bot` as the callee. Xvfb has no GPU, so the app turns WebKit's "
        "accelerated compositing off (`src-tauri/src/render.rs`) and WebKit paints in software "
        "on the CPU, as on any computer without a GPU (`PQVOICE_COMPOSITING=on` in the "
        "environment keeps compositing, through Mesa's software rasteriser llvmpipe here). "
        "No WebDriver request is made inside a measurement window.",
        "",
        "- **Cold start**, on a profile that is signed in and has one contact, the OS file cache "
        "warm (the binary and WebKit had run before; a first launch after boot reads them from "
        "disk and is slower). Two ways, neither perfect: *direct*: the app is started as a "
        "plain process and the time runs until it logs (`pqvoice_desktop::startup`) that it "
        "answered the contacts screen's first `list_contacts`, i.e. the page has loaded, asked "
        "for the account and the contacts, and Rust asked the registry for each contact's key "
        "and presence; the page then renders the list (not included). *WebDriver*: "
        "tauri-driver starts the app, and the time runs from the process's start (`/proc` "
        "start time, 10 ms steps) until a poll (every ~20 ms) finds the contact's row in the "
        "page; WebKit's automation session is part of this start-up.",
        "- **CPU**: user + system time of the app process and all its descendants (WebKit's "
        "web and network processes) from `/proc`, over the window, in % of one core; idle "
        "windows start 10 s after the contacts were answered. Thread names in the app "
        "process: `tokio-rt-worker` is the Rust side (phone, media, DSP), `pqvoice-desktop` the "
        "main (GTK) thread, `cpal_alsa_in`/`cpal_alsa_out` the audio device threads and "
        "`threaded-ml` libpulse's (ALSA's PulseAudio plugin); `VBlankMonitor` and `ReceiveQueue` "
        "are WebKit's in the app process.",
        "- **Memory**: sum of PSS (`smaps_rollup`, shared pages split between processes) and "
        "sum of RSS over the same processes, sampled every second.",
        "",
        "| figure | target | measured |",
        "|---|---|---|",
        f"| cold start to contacts, direct launch, median of {len(direct['runs'])} | ≤ 2 s | "
        f"**{direct['medianS']:.2f} s** ({verdict(direct['medianS'], 2)}); runs: {druns} s |",
        f"| cold start to contacts shown, WebDriver, median of {len(cs['runs'])} | ≤ 2 s | "
        f"**{cs['medianFromExecS']:.2f} s** ({verdict(cs['medianFromExecS'], 2)}); runs: {runs} s |",
        f"| idle CPU on the contacts screen, signed in, {idle['seconds']} s (WebDriver session open, "
        f"no requests) | ≤ 1 % of one core | **{idle['cpuPctOfOneCore']:.2f} %** "
        f"({verdict(idle['cpuPctOfOneCore'], 1)}): {by_process(idle['cpuPctByProcess'])}; "
        f"app threads: {threads(idle.get('appThreadsPctOfOneCore', {}), 4)} |",
    ]
    if "idleDirect" in r:
        d = r["idleDirect"]
        lines.append(
            f"| the same, launched directly (no WebDriver), {d['seconds']} s | (diagnostic) | "
            f"{d['cpuPctOfOneCore']:.2f} %: {by_process(d['cpuPctByProcess'])} |")
    if r.get("idleNoBlink"):
        runs_nb = r["idleNoBlink"]
        each = "; ".join(
            f"{d['cpuPctOfOneCore']:.2f} % (app {d['cpuPctByProcess'].get('app', 0):.2f}, "
            f"web {d['cpuPctByProcess'].get('WebKitWebProcess', 0):.2f})" for d in runs_nb)
        lines.append(
            f"| the same, launched directly {len(runs_nb)} times with GTK's `gtk-cursor-blink=false` "
            f"(the focused search field's cursor stops blinking), {runs_nb[0]['seconds']} s each "
            f"| (diagnostic) | {each} |")
    lines += [
        f"| memory, idle | – | PSS {mib(idle['pssSumKibMean'])} (RSS sum {mib(idle['rssSumKibMean'])}), "
        f"{idle['processes']} processes |",
        f"| CPU during a call to the echo bot, {call_kind}, {call['seconds']} s{call_runs_label} | ≤ 8 % of one core | "
        f"**{call['cpuPctOfOneCore']:.2f} %** ({verdict(call['cpuPctOfOneCore'], 8)}): "
        f"{by_process(call['cpuPctByProcess'])}{call_runs} |",
        f"| the app process's busiest threads during the (median) call | (diagnostic) | "
        f"{threads(call.get('appThreadsPctOfOneCore', {}))} |",
        f"| memory during the (median) call | – | PSS {mib(call['pssSumKibMean'])} (max {mib(call['pssSumKibMax'])}; "
        f"RSS sum {mib(call['rssSumKibMean'])}), {call['processes']} processes |",
        f"| the call at the end of the window | – | timer {call['timerAtEnd']}, RTT {call['statsAtEnd']['rtt']}, "
        f"loss {call['statsAtEnd']['loss']}, {call['statsAtEnd']['bitrate']} |",
    ]
    if bot is not None:
        lines.append(f"| echo bot's CPU in the same window (CLI, same media path; not part of the app's figure) | – | {bot:.2f} % |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("results")
    ap.add_argument("--command", required=True)
    ap.add_argument("--load-before", required=True)
    ap.add_argument("--load-after", required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--talk", default="1", help="1: speech played into the sound card during the call")
    args = ap.parse_args()
    with open(args.json) as f:
        r = json.load(f)
    text = section(r, args)
    try:
        with open(args.results) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = "# Benchmark results\n"
    pattern = re.compile(r"^## desktop app\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: text + "\n", doc, count=1)
    else:
        doc = doc.rstrip() + "\n\n" + text
    with open(args.results, "w") as f:
        f.write(doc.rstrip() + "\n")
    print()
    print(text)


if __name__ == "__main__":
    main()
