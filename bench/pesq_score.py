#!/usr/bin/env python3
"""PESQ wide-band (ITU-T P.862.2) of a degraded recording against its reference.

Usage: pesq_score.py REF.wav DEG.wav [--max-shift-ms 3000]

Both files are mixed to mono and resampled to 16 kHz. The degraded file is
first aligned to the reference by cross-correlation (a call adds an unknown
delay), then trimmed to the reference length. Prints one JSON line:
{"pesq_wb": x, "shift_ms": d}.
"""
import argparse
import json
import sys
import wave

import numpy as np
from scipy.signal import resample_poly, correlate
from pesq import pesq


def load(path):
    with wave.open(path, "rb") as w:
        rate = w.getframerate()
        ch = w.getnchannels()
        width = w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        sys.exit(f"{path}: only 16-bit PCM WAV is supported")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, rate


def to16k(x, rate):
    if rate == 16000:
        return x
    g = np.gcd(rate, 16000)
    return resample_poly(x, 16000 // g, rate // g)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("deg")
    ap.add_argument("--max-shift-ms", type=float, default=3000.0)
    a = ap.parse_args()
    ref, rr = load(a.ref)
    deg, dr = load(a.deg)
    ref = to16k(ref, rr)
    deg = to16k(deg, dr)
    max_shift = int(a.max_shift_ms * 16)
    # Find the lag of deg relative to ref (deg is the later copy).
    seg = deg[: len(ref) + max_shift]
    c = correlate(seg, ref, mode="full", method="fft")
    zero = len(ref) - 1
    lags = c[zero : zero + max_shift + 1]
    shift = int(np.argmax(lags))
    aligned = deg[shift : shift + len(ref)]
    if len(aligned) < len(ref):
        aligned = np.concatenate([aligned, np.zeros(len(ref) - len(aligned))])
    score = pesq(16000, ref, aligned, "wb")
    print(json.dumps({"pesq_wb": round(float(score), 3), "shift_ms": shift / 16.0}))


if __name__ == "__main__":
    main()
