#!/usr/bin/env bash
# The CLI on a real sound card: `pqvoice answer` without --input/--output
# opens cpal's default devices, which in the headless session of
# scripts/test are ALSA → PipeWire's null sink (playback) and that sink's
# monitor (capture). The caller sends a 440 Hz tone from a WAV file; the
# answerer plays it into the null sink, hears it again on the monitor
# (echo cancellation off, so the loop is not removed) and sends it back.
# The tone coming back in the caller's recording shows that both real
# streams ran: playback out of cpal, capture into cpal.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/common.sh
e2e_begin
fail() { echo "cli-sound-card: $*" >&2; for f in "$E2E_DIR"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }

e2e_start_registry
e2e_cli "$E2E_DIR/alice" register alice >/dev/null
e2e_cli "$E2E_DIR/bob" register bob >/dev/null
e2e_tone "$E2E_DIR/tone.wav" 6

dsp_off=(--aec false --ns off --agc false)
e2e_cli_bg "$E2E_DIR/answer.log" "$E2E_DIR/bob" answer --listen 127.0.0.1:0 \
  --stats-json "$E2E_DIR/bob.json" "${dsp_off[@]}"
sleep 1
e2e_cli "$E2E_DIR/alice" call bob --listen 127.0.0.1:0 --input "$E2E_DIR/tone.wav" \
  --output "$E2E_DIR/back.wav" --stats-json "$E2E_DIR/alice.json" "${dsp_off[@]}" \
  >"$E2E_DIR/call.log" 2>&1 || fail "the call failed"
for _ in $(seq 100); do [ -s "$E2E_DIR/bob.json" ] && break; sleep 0.1; done
[ -s "$E2E_DIR/bob.json" ] || fail "the answerer wrote no stats"

python3 - "$E2E_DIR/bob.json" "$E2E_DIR/back.wav" <<'PY' || fail "checks failed"
import json, math, struct, sys, wave
bob = json.load(open(sys.argv[1]))["stats"]
assert bob["packets_received"] > 150, f"answerer received only {bob['packets_received']} packets"
assert bob["packets_sent"] > 150, f"answerer sent only {bob['packets_sent']} packets"
with wave.open(sys.argv[2]) as w:
    rate = w.getframerate()
    raw = w.readframes(w.getnframes())
x = struct.unpack(f"<{len(raw) // 2}h", raw)
# Past the first two seconds (call set-up, device start), the tone must be
# back: its 440 Hz component, by a single-bin DFT over each 100 ms block.
blocks, hits = 0, 0
for start in range(2 * rate, len(x) - rate // 10, rate // 10):
    seg = x[start:start + rate // 10]
    re = sum(v * math.cos(2 * math.pi * 440 * i / rate) for i, v in enumerate(seg))
    im = sum(v * math.sin(2 * math.pi * 440 * i / rate) for i, v in enumerate(seg))
    amp = 2 * math.hypot(re, im) / len(seg) / 32768
    blocks += 1
    hits += amp > 0.01
print(f"cli-sound-card: tone back in {hits} of {blocks} blocks; answerer "
      f"{bob['packets_sent']} sent / {bob['packets_received']} received, "
      f"underruns {bob.get('underruns')}")
assert blocks >= 20, f"recording too short ({blocks} blocks)"
assert hits >= blocks // 2, f"the tone came back in only {hits} of {blocks} blocks"
PY
echo "cli-sound-card: ok"
