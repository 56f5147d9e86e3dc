#!/usr/bin/env bash
# Checks that the headless session really works, so that later GUI and audio
# suites fail for their own reasons and not for a broken environment:
# a window can be drawn and captured, a notification reaches the daemon, and a
# tone played into the PipeWire null sink comes back on its monitor.
set -euo pipefail
: "${PQVOICE_HEADLESS_DIR:?run inside scripts/test (needs the headless session)}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "headless selftest: $*" >&2; exit 1; }

# 1. X: capture the root window.
import -window root "$work/root.png"
[ "$(identify -format '%w' "$work/root.png")" -ge 640 ] || fail "screenshot has the wrong size"

# 2. Notifications: dunst prints what it receives.
token="pqvoice-selftest-$$-$RANDOM"
notify-send "pqvoice" "$token"
for _ in $(seq 50); do grep -q "$token" "$PQVOICE_NOTIFY_LOG" && break; sleep 0.1; done
grep -q "$token" "$PQVOICE_NOTIFY_LOG" || fail "notification did not reach dunst"

# 3. Sound: record the null sink's monitor while playing a 440 Hz tone into it.
sox -n -r 48000 -c 1 -b 16 "$work/tone.wav" synth 1.5 sine 440 vol 0.5
parecord --device=auto_null.monitor --rate=48000 --channels=1 --format=s16le \
  --file-format=wav "$work/rec.wav" &
rec=$!
sleep 0.3
paplay --device=auto_null "$work/tone.wav"
sleep 0.3
kill -INT "$rec"; wait "$rec" || true
rms=$(sox "$work/rec.wav" -n stat 2>&1 | awk '/RMS +amplitude/ {print $3}')
freq=$(sox "$work/rec.wav" -n stat 2>&1 | awk '/Rough +frequency/ {print $3}')
echo "headless selftest: recorded RMS $rms, rough frequency $freq Hz"
awk -v r="$rms" 'BEGIN { exit !(r > 0.1) }' || fail "the null sink's monitor stayed silent (RMS $rms)"
awk -v f="$freq" 'BEGIN { exit !(f > 380 && f < 500) }' || fail "recorded tone is not 440 Hz ($freq)"
echo "headless selftest: display, notifications and sound all work"
