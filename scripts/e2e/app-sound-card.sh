#!/usr/bin/env bash
# The app on a real sound card: no PQVOICE_AUDIO, so the app opens cpal's
# default devices, which in the headless session of scripts/test are ALSA →
# PipeWire's null sink (playback) and its monitor (capture), with echo
# cancellation, noise suppression and gain control on. Beeps play into the
# null sink the whole time, so the app's microphone hears them; it calls a
# `pqvoice echo-bot`, which sends them back to its speaker. The scenario
# checks that both level meters move (real capture and real playback in the
# app) and, from the app's log at hang-up, that playback never ran dry
# after the device's first fill.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/common.sh
e2e_begin
artifacts=${PQVOICE_TEST_ARTIFACTS:-$E2E_DIR/artifacts}
app=$(e2e_app_binary)
fail() { echo "app-sound-card: $*" >&2; tail -n 40 "$E2E_DIR/tauri-driver.log" >&2; exit 1; }

e2e_start_registry
e2e_start_echo_bot

# 150 ms beeps at 440 Hz every 500 ms (a steady tone would be taken for
# noise by the noise suppressor), played into the sound card in a loop.
e2e_beeps "$E2E_DIR/beeps.wav" 5 0 5 12000
(while :; do paplay "$E2E_DIR/beeps.wav" || sleep 1; done) &
E2E_PIDS+=($!)

e2e_start_driver PQVOICE_REGISTRY_URL="$REGISTRY_URL" PQVOICE_PROFILE="$E2E_DIR/app" \
  PQVOICE_LOG=warn,pqvoice_desktop::phone=info
node scripts/e2e/app-sound-card.mjs "$DRIVER_URL" "$app" "$REGISTRY_URL" "$artifacts" || fail "the scenario failed"

# The app logs the call's media health when it ends.
line=""
for _ in $(seq 50); do
  line=$(grep -a "call media ended" "$E2E_DIR/tauri-driver.log" | tail -n 1 || true)
  [ -n "$line" ] && break
  sleep 0.1
done
[ -n "$line" ] || fail "the app logged no end of call media"
echo "app-sound-card: $line" | sed 's/\x1b\[[0-9;]*m//g'
python3 - "$line" <<'PY' || fail "checks failed"
import re, sys
line = re.sub(r"\x1b\[[0-9;]*m", "", sys.argv[1])
def field(name):
    m = re.search(rf"\b{name}=([0-9.]+)", line)
    assert m, f"no {name} in: {line}"
    return float(m.group(1))
underruns, target, secs = field("underruns"), field("playback_target_ms"), field("secs")
assert secs >= 6, f"the call lasted {secs} s"
# Playback may run dry only while the device fills its buffer at the start:
# at most the 60 ms buffer plus one 20 ms frame, at 48 kHz.
assert underruns <= 48 * 80, f"playback ran dry for {underruns:.0f} samples"
assert 10 <= target <= 60, f"playback target {target} ms"
PY
echo "app-sound-card: ok"
