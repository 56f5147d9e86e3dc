#!/usr/bin/env bash
# The CLI on a real sound card: `pqvoice answer` without --input/--output
# opens cpal's default devices, which in the headless session of
# scripts/test are ALSA → PipeWire's null sink (playback) and that sink's
# monitor (capture). The caller sends 440 Hz beeps from a WAV file; the
# answerer plays them into the null sink, hears them again on the monitor
# (echo cancellation off, so the loop is not removed) and sends them back.
# The beeps coming back in the caller's recording show that both real
# streams ran: playback out of cpal, capture into cpal. The caller's WAV
# input and output share one clock, so each beep's delay in the recording
# is the round trip, which includes the answerer's sound-card path once
# each way; the playback side must not run dry after the start.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/common.sh
e2e_begin
fail() { echo "cli-sound-card: $*" >&2; for f in "$E2E_DIR"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }

e2e_start_registry
e2e_cli "$E2E_DIR/alice" register alice >/dev/null
e2e_cli "$E2E_DIR/bob" register bob >/dev/null
# Twelve beeps, from 1 s to 7 s of an 8 s file.
e2e_beeps "$E2E_DIR/tone.wav" 8 1 7 8000

dsp_off=(--aec false --ns off --agc false)
e2e_cli_bg "$E2E_DIR/answer.log" "$E2E_DIR/bob" answer --listen 127.0.0.1:0 \
  --stats-json "$E2E_DIR/bob.json" "${dsp_off[@]}"
sleep 1
e2e_cli "$E2E_DIR/alice" call bob --listen 127.0.0.1:0 --input "$E2E_DIR/tone.wav" \
  --output "$E2E_DIR/back.wav" --stats-json "$E2E_DIR/alice.json" "${dsp_off[@]}" \
  >"$E2E_DIR/call.log" 2>&1 || fail "the call failed"
for _ in $(seq 100); do [ -s "$E2E_DIR/bob.json" ] && break; sleep 0.1; done
[ -s "$E2E_DIR/bob.json" ] || fail "the answerer wrote no stats"

python3 - "$E2E_DIR/bob.json" "$E2E_DIR/tone.wav" "$E2E_DIR/back.wav" <<'PY' || fail "checks failed"
import json, statistics, struct, sys, wave
bob = json.load(open(sys.argv[1]))["stats"]
assert bob["packets_received"] > 150, f"answerer received only {bob['packets_received']} packets"
assert bob["packets_sent"] > 150, f"answerer sent only {bob['packets_sent']} packets"

def read(path):
    with wave.open(path) as w:
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    return rate, struct.unpack(f"<{len(raw) // 2}h", raw)

def onsets(x, rate):
    """Start times (s) of sounds: 1 ms blocks whose mean magnitude rises
    past a third of the loudest block's, after at least 200 ms below it."""
    step = rate // 1000
    env = [sum(abs(v) for v in x[i:i + step]) / step for i in range(0, len(x) - step, step)]
    top = max(env) if env else 0
    assert top > 300, f"nothing came back (loudest 1 ms block {top:.0f})"
    out, quiet = [], 200
    for i, e in enumerate(env):
        if e > top / 3:
            if quiet >= 200:
                out.append(i / 1000)
            quiet = 0
        else:
            quiet += 1
    return out

rate, sent = read(sys.argv[2])
rate_back, back = read(sys.argv[3])
assert rate == rate_back == 48000
sent_on, back_on = onsets(sent, rate), onsets(back, rate)
assert len(sent_on) == 12, f"expected 12 beeps sent, found {len(sent_on)}"
# Each beep sent is matched with the first sound to come back within 400 ms.
delays = []
for t in sent_on:
    later = [b - t for b in back_on if 0 < b - t < 0.4]
    if later:
        delays.append(later[0] * 1000)
# The first beep can meet the call's start-up (device fill, jitter buffer).
rtt = statistics.median(delays) if delays else float("nan")
underruns = bob.get("underruns")
target = bob.get("playback_target_ms")
print(f"cli-sound-card: {len(delays)} of {len(sent_on)} beeps back, round trip through the "
      f"answerer's sound card median {rtt:.0f} ms (min {min(delays, default=0):.0f}, max "
      f"{max(delays, default=0):.0f}); answerer {bob['packets_sent']} sent / "
      f"{bob['packets_received']} received, underruns {underruns} samples, playback target {target} ms")
assert len(delays) >= 10, f"only {len(delays)} of 12 beeps came back within 400 ms"
# Playback may run dry only while the device fills its buffer at the start:
# at most the 60 ms buffer plus one 20 ms frame, at 48 kHz.
assert underruns is not None and underruns <= 48 * 80, f"playback ran dry for {underruns} samples"
assert target is not None and 10 <= target <= 60, f"playback target {target} ms"
PY
echo "cli-sound-card: ok"
