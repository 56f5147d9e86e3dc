#!/usr/bin/env python3
"""Tones in, and the verdict on one call of the NAT suites (scripts/e2e/lib/nat.sh).

  nat_check.py tone FILE HZ SECONDS
      a mono 48 kHz WAV of a steady tone at HZ (amplitude 8000 of 32767).

  nat_check.py call --dir DIR --seconds S [--expect KEY=VALUE | KEY>=N]... [...]
      DIR holds caller.json / callee.json (--stats-json of each side) and
      caller.wav / callee.wav (what each side heard). The caller sends 440 Hz,
      the callee 660 Hz, so each side must hear the other's tone: that is the
      audio checked both ways. Expectations apply to both sides' stats, or to
      one side's when prefixed with caller. or callee. (KEY^=PREFIX: a string
      that starts with PREFIX, such as the peer address's IP).
      With --cut-at T (seconds into the call), the tone must also be heard
      from T + 2.5 s on: the call went on after its path was cut.
      Prints one line per call, and the problems; exits 1 if there are any.
      With --results FILE, appends the call's figures as one JSON line.

Only the standard library: the CI image has no numpy.
"""
import argparse
import json
import math
import operator
import struct
import sys
import wave

RATE = 48000
BLOCK = RATE // 50  # 20 ms
CALLER_HZ, CALLEE_HZ = 440, 660
# A block carries the tone when the tone's amplitude is at least this
# (the tone is sent at 8000) and the tone holds most of the block's power.
MIN_AMPLITUDE = 1500
MIN_SHARE = 0.5
# Seconds after a cut before the audio must be back (the path change may
# take up to 2 s), and how long a stretch is then checked.
CUT_GRACE_S, CUT_WINDOW_S = 2.5, 2.0


def write_tone(path, hz, seconds):
    n = int(RATE * seconds)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / RATE)))
                               for i in range(n)))


def read_wav(path):
    with wave.open(path) as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit mono")
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    return rate, struct.unpack(f"<{len(raw) // 2}h", raw)


def tone_blocks(samples, rate, hz):
    """Per 20 ms block: does it carry a tone at hz?"""
    block = rate // 50
    cos = [math.cos(2 * math.pi * hz * i / rate) for i in range(block)]
    sin = [math.sin(2 * math.pi * hz * i / rate) for i in range(block)]
    out = []
    for start in range(0, len(samples) - block + 1, block):
        x = samples[start:start + block]
        re = sum(map(operator.mul, x, cos))
        im = sum(map(operator.mul, x, sin))
        amp = 2 * math.hypot(re, im) / block
        power = sum(map(operator.mul, x, x)) / block
        out.append(amp >= MIN_AMPLITUDE and (amp * amp / 2) >= MIN_SHARE * power)
    return out


def longest_gap_ms(blocks, cut_at):
    """The longest run of blocks without the tone from 0.5 s before the cut
    to 4 s after it: how long the path change left the listener in silence."""
    gap = run = 0
    for b in blocks[max(0, int((cut_at - 0.5) * 50)):int((cut_at + 4) * 50)]:
        run = 0 if b else run + 1
        gap = max(gap, run)
    return gap * 20


def parse_expect(text):
    """[caller.|callee.]KEY=VALUE, KEY>=N or KEY^=PREFIX -> (sides, key, op, value)."""
    for op in (">=", "^=", "="):
        if op in text:
            key, value = (t.strip() for t in text.split(op, 1))
            sides = ("caller", "callee")
            side, dot, rest = key.partition(".")
            if dot and side in sides:
                sides, key = (side,), rest
            return sides, key, op, value
    raise argparse.ArgumentTypeError(f"expected KEY=VALUE, KEY>=N or KEY^=PREFIX, not {text!r}")


def holds(actual, op, wanted):
    if op == ">=":
        return isinstance(actual, (int, float)) and not isinstance(actual, bool) and actual >= float(wanted)
    if op == "^=":
        return isinstance(actual, str) and actual.startswith(wanted)
    if isinstance(actual, bool) or actual is None or isinstance(actual, str):
        return str(actual).lower() == wanted.lower()
    try:
        return float(actual) == float(wanted)
    except ValueError:
        return False


def check_call(a):
    problems, notes = [], []
    record = {"topology": a.topology, "call": a.index, "caller": a.caller, "callee": a.callee}
    if a.call_rc != 0:
        problems.append(f"`pqvoice call` exited with {a.call_rc}" + (" (timed out)" if a.call_rc == 124 else ""))
    if a.answer_rc != 0:
        problems.append(f"`pqvoice answer` exited with {a.answer_rc}" + (" (timed out)" if a.answer_rc == 124 else ""))
    if a.after_rc != 0:
        try:
            detail = open(f"{a.dir}/after.log").read().strip()
        except OSError:
            detail = ""
        problems.append(f"the topology's own check failed: {detail or '(no output)'}")

    stats = {}
    for side in ("caller", "callee"):
        try:
            with open(f"{a.dir}/{side}.json") as f:
                stats[side] = json.load(f)["stats"]
        except (OSError, ValueError, KeyError) as e:
            problems.append(f"no stats from the {side} ({e})")
    for side, s in stats.items():
        got = s.get("packets_received", 0)
        if got < 25 * a.seconds:
            problems.append(f"the {side} received only {got} packets in a {a.seconds:g} s call")
        for sides, key, op, wanted in a.expect:
            if side not in sides:
                continue
            if key not in s:
                problems.append(f"the {side}'s stats have no {key!r} (wanted {key}{op}{wanted})")
            elif not holds(s[key], op, wanted):
                problems.append(f"the {side}'s {key} is {s[key]!r}, wanted {op} {wanted}")

    heard = {}
    for side, hz in (("caller", CALLEE_HZ), ("callee", CALLER_HZ)):
        try:
            rate, samples = read_wav(f"{a.dir}/{side}.wav")
        except (OSError, ValueError, EOFError, wave.Error) as e:
            problems.append(f"no recording from the {side} ({e})")
            continue
        blocks = tone_blocks(samples, rate, hz)
        heard[side] = sum(blocks) / 50
        if heard[side] < 0.5 * a.seconds:
            problems.append(f"the {side} heard the other side's {hz} Hz tone for {heard[side]:.2f} s "
                            f"of {a.seconds:g} s")
        if a.cut_at is not None:
            first = int((a.cut_at + CUT_GRACE_S) * 50)
            window = blocks[first:first + int(CUT_WINDOW_S * 50)]
            share = sum(window) / len(window) if window else 0.0
            record[f"{side}_heard_after_cut"] = round(share, 3)
            record.setdefault("gap_ms", {})[side] = longest_gap_ms(blocks, a.cut_at)
            if share < 0.5:
                problems.append(f"after the cut at {a.cut_at:.1f} s the {side} heard the tone in only "
                                f"{100 * share:.0f} % of {a.cut_at + CUT_GRACE_S:.1f}–"
                                f"{a.cut_at + CUT_GRACE_S + CUT_WINDOW_S:.1f} s")

    def both(key):
        return [stats.get(side, {}).get(key) for side in ("caller", "callee")]

    record.update({
        "ok": not problems,
        "problems": problems,
        "path": both("path"),
        "ip_version": both("ip_version"),
        "path_switches": both("path_switches"),
        "first_audio_ms": both("first_audio_ms"),
        "relay_overhead_bytes": both("relay_overhead_bytes"),
        "packets_sent": both("packets_sent"),
        "heard_s": [heard.get("caller"), heard.get("callee")],
        "cut_at": a.cut_at,
        "retries": a.retries,
    })
    if a.results:
        with open(a.results, "a") as f:
            f.write(json.dumps(record) + "\n")

    def pair(key, fmt="{}"):
        return "/".join("-" if v is None else fmt.format(v) for v in record[key])

    print(f"nat {a.topology} call {a.index}: {a.caller} -> {a.callee} "
          f"{'ok' if not problems else 'FAILED'}; path {pair('path')}, ip {pair('ip_version')}, "
          f"switches {pair('path_switches')}, first audio {pair('first_audio_ms', '{:.0f}')} ms, "
          f"heard {pair('heard_s', '{:.1f}')} s, relay overhead {pair('relay_overhead_bytes')} B",
          file=sys.stderr)
    if a.retries:
        notes.append(f"placed after {a.retries} refusal(s): the registry still had the previous call")
    if "gap_ms" in record:
        gaps = record["gap_ms"]
        notes.append(f"cut at {a.cut_at:.1f} s: longest silence around it {gaps.get('caller', '-')} ms "
                     f"(caller) / {gaps.get('callee', '-')} ms (callee)")
    for n in notes:
        print(f"  note: {n}", file=sys.stderr)
    for p in problems:
        print(f"  problem: {p}", file=sys.stderr)
    return 1 if problems else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tone")
    t.add_argument("path")
    t.add_argument("hz", type=float)
    t.add_argument("seconds", type=float)
    c = sub.add_parser("call")
    c.add_argument("--dir", required=True)
    c.add_argument("--seconds", type=float, required=True)
    c.add_argument("--topology", default="?")
    c.add_argument("--index", type=int, default=0)
    c.add_argument("--caller", default="caller")
    c.add_argument("--callee", default="callee")
    c.add_argument("--call-rc", type=int, default=0)
    c.add_argument("--answer-rc", type=int, default=0)
    c.add_argument("--after-rc", type=int, default=0)
    c.add_argument("--retries", type=int, default=0)
    c.add_argument("--cut-at", type=float)
    c.add_argument("--started", type=float)
    c.add_argument("--results")
    c.add_argument("--expect", type=parse_expect, action="append", default=[])
    a = p.parse_args()
    if a.cmd == "tone":
        write_tone(a.path, a.hz, a.seconds)
        return 0
    return check_call(a)


if __name__ == "__main__":
    sys.exit(main())
