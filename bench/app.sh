#!/usr/bin/env bash
# Desktop app benchmark: the release build of the app under Xvfb (private
# headless session with PipeWire's null sink as the sound card, so calls use
# the real audio path with echo cancellation and noise suppression), a
# release registry on loopback, and a release `pqvoice echo-bot` to call.
# Measures cold start to the contacts screen, idle CPU/memory on it, and
# CPU/memory during a call (bench/app_bench.mjs says how), prints the
# figures and rewrites only the "## desktop app" section of bench/RESULTS.md
# (bench/app_results.py).
#
#   bench/app.sh [RUNS] [IDLE_SECS] [CALL_SECS]      (defaults 7, 30, 30)
#
# Needs target/release/pqvoice-desktop built by `tauri build` (it embeds
# ui/dist): scripts/package.sh makes it, and is run here if it is missing.
# The call has someone talking: speech plays into the sound card throughout
# (see below); PQVOICE_BENCH_TALK=0 measures a silent call instead. Three
# calls are measured and the median reported (PQVOICE_BENCH_CALLS=N for N).
# For trying the script out: PQVOICE_BENCH_APP=<other binary> and
# PQVOICE_BENCH_RESULTS=<other file> (the section names the binary used).
set -euo pipefail
RUNS="${1:-7}"
IDLE_SECS="${2:-30}"
CALL_SECS="${3:-30}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/target/release"
app="${PQVOICE_BENCH_APP:-$BIN/pqvoice-desktop}"
results="${PQVOICE_BENCH_RESULTS:-bench/RESULTS.md}"

[ -x "$app" ] || scripts/package.sh
# The bot and the registry must speak the app's protocol: build them from
# the same sources (nothing to do when they are up to date).
nice -n 10 cargo build --release -p pqvoice-cli -p pqvoice-registry
command -v tauri-driver >/dev/null || { echo "tauri-driver missing: cargo install tauri-driver --version '^2' --locked" >&2; exit 1; }

source scripts/lib/deps.sh
source scripts/lib/headless.sh
source scripts/e2e/lib/common.sh
E2E_DIR=$(mktemp -d)
trap 'e2e_cleanup; pqv_headless_stop' EXIT
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
pqv_headless_start

port=$(e2e_free_port)
"$BIN/pqvoice-registry" --listen "127.0.0.1:$port" --db "$E2E_DIR/registry.sqlite3" >"$E2E_DIR/registry.log" 2>&1 &
E2E_PIDS+=($!)
REGISTRY_URL="http://127.0.0.1:$port"
e2e_wait_http "$REGISTRY_URL/healthz" 20

"$BIN/pqvoice" --registry "$REGISTRY_URL" --profile "$E2E_DIR/bot" register bot >/dev/null
"$BIN/pqvoice" --registry "$REGISTRY_URL" --profile "$E2E_DIR/bot" echo-bot >"$E2E_DIR/bot.log" 2>&1 &
BOT_PID=$!
E2E_PIDS+=($BOT_PID)
for _ in $(seq 100); do grep -q ready "$E2E_DIR/bot.log" && break; sleep 0.1; done
grep -q ready "$E2E_DIR/bot.log" || { cat "$E2E_DIR/bot.log" >&2; exit 1; }

# Unless PQVOICE_BENCH_TALK=0: speech (bench/speech) plays into the null
# sink the whole time, so the app's microphone hears someone talking, the
# echo bot sends it back, and both level meters move as in a conversation.
TALK="${PQVOICE_BENCH_TALK:-1}"
if [ "$TALK" = 1 ]; then
  bench/speech/generate.sh >/dev/null
  (while :; do for f in bench/speech/out/*.wav; do paplay "$f" || sleep 1; done; done) &
  E2E_PIDS+=($!)
fi

# No PQVOICE_AUDIO: the app opens the default devices, i.e. PipeWire.
e2e_start_driver PQVOICE_REGISTRY_URL="$REGISTRY_URL" PQVOICE_PROFILE="$E2E_DIR/app"
CMD="bench/app.sh $RUNS $IDLE_SECS $CALL_SECS"
[ "$TALK" = 1 ] || CMD="PQVOICE_BENCH_TALK=$TALK $CMD"
[ -z "${PQVOICE_BENCH_CALLS:-}" ] || CMD="PQVOICE_BENCH_CALLS=$PQVOICE_BENCH_CALLS $CMD"
echo "+ $CMD"
if ! node bench/app_bench.mjs "$DRIVER_URL" "$app" "$REGISTRY_URL" "$E2E_DIR/app" "$RUNS" "$IDLE_SECS" "$CALL_SECS" \
  "$E2E_DIR/app-bench.json" "$BOT_PID"; then
  echo "--- tauri-driver log ---" >&2
  tail -n 60 "$E2E_DIR/tauri-driver.log" >&2
  exit 1
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

python3 bench/app_results.py "$E2E_DIR/app-bench.json" "$results" \
  --command "$CMD" --talk "$TALK" --load-before "$LOAD_BEFORE" --load-after "$LOAD_AFTER" \
  --app "$(realpath --relative-to="$ROOT" "$app")"
