#!/usr/bin/env python3
"""Real calls through the CLI, scored end to end.

Everything runs as separate processes on loopback: a fresh registry
(SQLite in a temporary folder), `pqvoice answer` and `pqvoice call --input` from a
second profile. Each end advertises its own seeded relay, so every media
datagram crosses one impairment whichever path the ends settle on (see
impaired_path). Three measurements:

quality  one way, caller -> relay (random loss) -> answerer; PESQ-WB of what
         the answerer recorded against the caller's input; wire bitrate and
         datagram sizes from the caller's --stats-json.
latency  `call --input --output` to `pqvoice echo-bot`; the round-trip
         mouth-to-ear delay by cross-correlation of output against input
         (sample 0 of OUT is the instant sample 0 of IN was captured), halved
         for the one-way figure; with and without 20 ms +- 10 ms jitter.
cpu      CPU share of a call's media thread (both directions, AEC + NS + AGC
         on) and accept-to-first-audio, from the caller's stats.

Usage: call_bench.py BIN_DIR [--seeds 1,2] [--losses 0,5,10,20] [--only quality|latency|cpu]
       [--no-write]
Results replace the "### Real calls" block of the `## media` section in
bench/RESULTS.md.
"""
import argparse
import shlex
import datetime
import glob
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.signal import correlate

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pesq_score import load, to16k  # noqa: E402


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Env:
    def __init__(self, bins, work):
        self.bins = bins
        self.work = work
        self.procs = []
        self.call_args = []
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.spawn([os.path.join(bins, "pqvoice-registry"), "--listen", f"127.0.0.1:{port}",
                    "--db", os.path.join(work, "r.sqlite3"), "--rate-per-ip", "0",
                    "--rate-per-account", "0"], "registry")
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        for name in ("alice", "bob", "echo"):
            self.cli(name, ["register", name], check=True)

    def spawn(self, cmd, log):
        f = open(os.path.join(self.work, log + ".log"), "ab")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def cli_cmd(self, name, args):
        extra = self.call_args if args and args[0] in ("call", "answer", "echo-bot") else []
        return [os.path.join(self.bins, "pqvoice"), "--registry", self.url, "--profile",
                os.path.join(self.work, "p-" + name)] + args + extra

    def cli(self, name, args, check=False):
        return subprocess.run(self.cli_cmd(name, args), check=check, capture_output=True,
                              text=True, timeout=120)

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def impaired_path(env, seed, loss=0, jitter=0, delay=0):
    """Two seeded relays with the same impairment, one in front of each end.

    On loopback both ends can reach each other directly: an end offers its
    own address beside the advertised one, and follows the source address of
    the newest authenticated datagram, so a relay in front of one end only
    was bypassed as soon as the other end answered on the direct path (this
    once made every "lossy" call of this benchmark lossless). Both ends now
    offer only their relay (`--advertise-only`), and with a relay in front of
    each, every path a datagram can take (a's relay or b's relay, either
    direction) crosses exactly one impairment.

    Returns ((a_listen, a_advertise), (b_listen, b_advertise), relays).
    """
    ends, relays = [], []
    for i in range(2):
        port, relay_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
        relays.append(env.spawn([os.path.join(env.bins, "pqvoice"), "netsim", "--listen",
                                 f"127.0.0.1:{relay_port}", "--forward", f"127.0.0.1:{port}",
                                 "--loss", str(loss), "--jitter", str(jitter), "--delay",
                                 str(delay), "--seed", str(seed * 1000 + i)], "netsim"))
        ends.append((f"127.0.0.1:{port}", f"127.0.0.1:{relay_port}"))
    return ends[0], ends[1], relays


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def check_relayed(stats, direct, who):
    """Fails the run if a call ended on the direct path, bypassing the relays."""
    if stats.get("peer") == direct:
        raise RuntimeError(f"{who}'s media bypassed the relays (peer {direct})")


def call_through_relay(env, ref, deg, loss, seed, jitter=0, delay=0, dsp_off=True):
    """One call alice -> relays -> bob; returns the caller's stats JSON."""
    (a_listen, a_adv), (b_listen, b_adv), relays = impaired_path(env, seed, loss, jitter, delay)
    dsp = ["--aec", "false", "--ns", "off", "--agc", "false"] if dsp_off else []
    answer_stats = deg + ".answer.json"
    answer = env.spawn(env.cli_cmd("bob", ["answer", "--listen", b_listen, "--advertise", b_adv,
                                           "--advertise-only", "--output", deg, "--stats-json", answer_stats]
                                   + dsp), "answer")
    time.sleep(0.5)  # bob online
    caller_stats = deg + ".call.json"
    r = env.cli("alice", ["call", "bob", "--input", ref, "--listen", a_listen, "--advertise",
                          a_adv, "--advertise-only", "--stats-json", caller_stats] + dsp)
    try:
        answer.wait(20)
    except subprocess.TimeoutExpired:
        answer.kill()
    stop(relays)
    if r.returncode != 0:
        raise RuntimeError(f"call failed: {r.stderr[-800:]}")
    st = json.load(open(caller_stats))
    check_relayed(st["stats"], b_listen, "alice")
    check_relayed(json.load(open(answer_stats))["stats"], a_listen, "bob")
    return st


def pesq_wb(ref, deg):
    out = subprocess.run([sys.executable, os.path.join(HERE, "pesq_score.py"), ref, deg],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["pesq_wb"]


def quality(env, files, losses, seeds):
    rows, wire = [], []
    for loss in losses:
        scores = []
        for seed in seeds:
            for ref in files:
                deg = os.path.join(env.work, f"deg-{loss}-{seed}-{os.path.basename(ref)}")
                st = call_through_relay(env, ref, deg, loss, seed)
                scores.append(pesq_wb(ref, deg))
                s = st["stats"]
                wire.append((loss, s["send_kbps_mean"], sorted(s["sent_sizes"])))
        rows.append((loss, statistics.mean(scores), statistics.median(scores), min(scores),
                     len(scores)))
        print(f"loss {loss:4.0f} %: mean PESQ-WB {rows[-1][1]:.2f} median {rows[-1][2]:.2f} "
              f"min {rows[-1][3]:.2f} (n={len(scores)})", flush=True)
    return rows, wire


def round_trip_ms(ref, out):
    """Lag of the output behind the input, by cross-correlation (ms)."""
    rate = 16000
    x = to16k(*load(ref))
    y = to16k(*load(out))
    n = min(len(y), len(x) + rate * 2)
    c = correlate(y[:n], x, mode="full", method="fft")[len(x) - 1:]
    lag = int(np.argmax(np.abs(c)))
    peak = float(np.max(np.abs(c)) / (np.linalg.norm(x) * np.linalg.norm(y[:n]) + 1e-12))
    return lag * 1000.0 / rate, peak


def latency(env, files, seeds):
    results = {}
    for label, jitter, delay in (("no impairment", 0, 0), ("20 ms +- 10 ms jitter", 10, 20)):
        rts, late, first = [], [], []
        for seed in seeds:
            # The impaired runs need the echo bot behind its own relay, so
            # each seed gets a fresh bot (and relays) for its files.
            if jitter or delay:
                (a_listen, a_adv), (b_listen, b_adv), relays = impaired_path(
                    env, seed, jitter=jitter, delay=delay)
                net = ["--listen", a_listen, "--advertise", a_adv, "--advertise-only"]
                bot_net = ["--listen", b_listen, "--advertise", b_adv, "--advertise-only"]
            else:
                relays, a_listen, b_listen = [], None, None
                net = bot_net = ["--listen", "127.0.0.1:0"]
            bot = env.spawn(env.cli_cmd("echo", ["echo-bot"] + bot_net), "echo-bot")
            time.sleep(1.0)
            try:
                for ref in files[:3]:
                    out = os.path.join(env.work, f"echo-{jitter}-{seed}-{os.path.basename(ref)}")
                    stats = out + ".json"
                    r = env.cli("alice", ["call", "echo", "--input", ref, "--output", out,
                                          "--stats-json", stats, "--aec", "false", "--ns",
                                          "off", "--agc", "false"] + net)
                    if r.returncode != 0:
                        raise RuntimeError(f"echo call failed: {r.stderr[-800:]}")
                    rt, peak = round_trip_ms(ref, out)
                    s = json.load(open(stats))["stats"]
                    if b_listen:
                        check_relayed(s, b_listen, "alice")
                    rts.append(rt)
                    late.append(100.0 * s["late"] / max(1, s["packets_received"]))
                    if s.get("first_audio_ms") is not None:
                        first.append(s["first_audio_ms"])
                    print(f"  {label}: round trip {rt:.0f} ms (corr {peak:.2f}), late "
                          f"{late[-1]:.2f} %", flush=True)
            finally:
                stop([bot] + relays)
        results[label] = (statistics.median(rts), statistics.mean(late),
                          statistics.median(first) if first else None, len(rts))
    return results


def cpu(env, files):
    bot = env.spawn(env.cli_cmd("echo", ["echo-bot", "--listen", "127.0.0.1:0"]), "echo-bot")
    time.sleep(1.0)
    shares = []
    try:
        for ref in files[:3]:
            stats = os.path.join(env.work, "cpu.json")
            r = env.cli("alice", ["call", "echo", "--input", ref, "--output",
                                  os.path.join(env.work, "cpu.wav"), "--stats-json", stats,
                                  "--listen", "127.0.0.1:0", "--aec", "true", "--ns", "webrtc",
                                  "--agc", "true"])
            if r.returncode != 0:
                raise RuntimeError(f"cpu call failed: {r.stderr[-800:]}")
            s = json.load(open(stats))["stats"]
            shares.append(s["cpu_pct"])
            print(f"  call thread CPU {s['cpu_pct']:.2f} % of one core", flush=True)
    finally:
        bot.terminate()
    return statistics.median(shares)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bins")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--losses", default="0,5,10,20")
    ap.add_argument("--only", default="")
    ap.add_argument("--files", type=int, default=0, help="use only the first N speech files")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--call-args", default="",
                    help="extra options for call/answer/echo-bot, e.g. '--complexity 5'")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    losses = [float(x) for x in a.losses.split(",")]
    files = sorted(glob.glob(os.path.join(HERE, "speech", "out", "*.wav")))
    if not files:
        sys.exit("no speech files: run bench/speech/generate.sh")
    if a.files:
        files = files[: a.files]
    lines = []
    with tempfile.TemporaryDirectory() as work:
        env = Env(a.bins, work)
        env.call_args = shlex.split(a.call_args)
        try:
            if a.only in ("", "quality"):
                rows, wire = quality(env, files, losses, seeds)
                targets = {0: 4.0, 5: 3.6, 10: 3.3, 20: 2.8}
                lines += ["| random loss | mean PESQ-WB | median | min | calls | target |",
                          "|---|---|---|---|---|---|"]
                for loss, mean, med, mn, n in rows:
                    t = targets.get(int(loss))
                    lines.append(f"| {loss:.0f} % | {mean:.2f} | {med:.2f} | {mn:.2f} | {n} | "
                                 f"{'≥ %.1f' % t if t is not None else '-'} |")
                kbps = [w[1] for w in wire]
                sizes = sorted({tuple(w[2]) for w in wire})
                lines += ["", f"Wire (caller, IPv4+UDP included): mean {statistics.mean(kbps):.1f}"
                          f" kbit/s, max {max(kbps):.1f} kbit/s over all calls (target ≤ 100); "
                          f"datagram sizes per call: {sizes} (one size per call).", ""]
            if a.only in ("", "latency"):
                res = latency(env, files, seeds)
                lines += ["| echo-bot call | one-way mouth-to-ear (half the round trip), median |"
                          " late loss | accept-to-first-audio, median | calls | target |",
                          "|---|---|---|---|---|---|"]
                for label, (rt, late, first, n) in res.items():
                    target = "≤ 45 ms" if label == "no impairment" else "≤ 80 ms, < 1 % late"
                    lines.append(f"| {label} | {rt / 2:.0f} ms | {late:.2f} % | "
                                 f"{'%.0f ms' % first if first is not None else '-'} | {n} | "
                                 f"{target} |")
                lines.append("")
            if a.only in ("", "cpu"):
                share = cpu(env, files)
                lines += [f"CPU of one call's media thread (both directions, AEC + NS + AGC on, "
                          f"WAV in/out): median {share:.2f} % of one core (target ≤ 5 %).", ""]
        finally:
            env.close()
    for line in lines:
        print(line)
    if a.no_write:
        return
    date = datetime.date.today().isoformat()
    block = "\n".join([
        f"### Real calls through the CLI ({date}, 2-core shared VM, {platform.machine()})", "",
        f"`bench/calls.sh {' '.join(sys.argv[2:])}` — {len(files)} espeak-ng speech files, "
        f"seeds {a.seeds}: registry, `pqvoice call --input` → `pqvoice netsim` → "
        "`pqvoice answer --output` as separate processes on loopback (release build). "
        "Each end sits behind its own seeded relay and offers only the relay's address "
        "(`--advertise-only`), so every media datagram crosses one impairment; a run "
        "fails if a call ends on the direct path.", ""]
        + lines)
    path = os.path.join(HERE, "RESULTS.md")
    text = open(path).read()
    m = re.search(r"^## media\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    section = m.group(1) if m else "\n"
    parts = re.split(r"(?=^### )", section, flags=re.M)
    parts = [p for p in parts if not p.startswith("### Real calls through the CLI")]
    section = "".join(parts).rstrip("\n") + "\n\n" + block + "\n\n"
    if m:
        text = text[: m.start()] + "## media\n" + section + text[m.end():]
    else:
        text = text.rstrip("\n") + "\n\n## media\n" + section
    open(path, "w").write(text)


if __name__ == "__main__":
    main()
