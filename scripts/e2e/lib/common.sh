# shellcheck shell=bash
# Shared by the end-to-end suites: free ports, a local registry, tauri-driver.
# Everything started here is stopped by e2e_cleanup (set as the EXIT trap).

E2E_PIDS=()

# e2e_begin [TRAP]: how every suite starts, once it has sourced this file from
# the repository root: it needs the headless session of scripts/test, gets
# its own scratch folder (E2E_DIR), and on exit runs TRAP (default
# e2e_cleanup, which stops what the suite started and removes the folder).
e2e_begin() {
  : "${DISPLAY:?needs the headless session of scripts/test}"
  E2E_DIR=$(mktemp -d)
  trap "${1:-e2e_cleanup}" EXIT
}
e2e_cleanup() {
  local p
  for p in "${E2E_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${E2E_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "${E2E_DIR:-}" ] || rm -rf "$E2E_DIR"
}

e2e_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

e2e_wait_http() { # URL SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2
  return 1
}

# Starts a registry on a free port with a fresh database; sets REGISTRY_URL.
e2e_start_registry() {
  local port
  port=$(e2e_free_port)
  target/debug/pqvoice-registry --listen "127.0.0.1:$port" --db "$E2E_DIR/registry.sqlite3" \
    >"$E2E_DIR/registry.log" 2>&1 &
  E2E_PIDS+=($!)
  REGISTRY_URL="http://127.0.0.1:$port"
  e2e_wait_http "$REGISTRY_URL/healthz" 20
}

# Starts tauri-driver on free ports; sets DRIVER_URL. Extra env goes to the app.
e2e_start_driver() {
  local port native
  port=$(e2e_free_port)
  native=$(e2e_free_port)
  env "$@" tauri-driver --port "$port" --native-port "$native" >"$E2E_DIR/tauri-driver.log" 2>&1 &
  E2E_PIDS+=($!)
  DRIVER_URL="http://127.0.0.1:$port"
  e2e_wait_http "$DRIVER_URL/status" 20
}

# e2e_cli PROFILE_DIR ARGS...: the pqvoice CLI against the test registry.
e2e_cli() {
  local profile=$1
  shift
  target/debug/pqvoice --registry "$REGISTRY_URL" --profile "$profile" "$@"
}

# e2e_cli_bg LOG PROFILE_DIR ARGS...: the CLI in the background, its own pid
# in E2E_PIDS. (`e2e_cli ... &` would put a subshell there: cleanup would
# stop the subshell and leave the CLI running.)
e2e_cli_bg() {
  local log=$1 profile=$2
  shift 2
  target/debug/pqvoice --registry "$REGISTRY_URL" --profile "$profile" "$@" >"$log" 2>&1 &
  E2E_PIDS+=($!)
}

# e2e_tone FILE SECONDS: a 440 Hz mono 48 kHz WAV for the CLI to send.
e2e_tone() {
  python3 - "$1" "$2" <<'PY'
import math, struct, sys, wave
path, secs = sys.argv[1], float(sys.argv[2])
with wave.open(path, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(48000)
    n = int(48000 * secs)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 48000))) for i in range(n)))
PY
}

# e2e_beeps FILE SECONDS FROM TO AMPLITUDE: a mono 48 kHz WAV, SECONDS
# long, silent except for 150 ms beeps at 440 Hz every 500 ms from FROM to
# TO seconds, peaking at AMPLITUDE (of 32767).
e2e_beeps() {
  python3 - "$@" <<'PY'
import math, struct, sys, wave
path, secs, start, end, amp = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
rate = 48000
def beep(i):
    t = i / rate
    return start <= t < end and (t - start) % 0.5 < 0.15
with wave.open(path, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
    w.writeframes(b"".join(struct.pack("<h", int(amp * math.sin(2 * math.pi * 440 * i / rate)) if beep(i) else 0)
                           for i in range(int(rate * secs))))
PY
}

# e2e_start_echo_bot: registers `bot` and runs `pqvoice echo-bot` for it
# (profile $E2E_DIR/bot, log $E2E_DIR/bot.log) until it says it is ready.
e2e_start_echo_bot() {
  e2e_cli "$E2E_DIR/bot" register bot >/dev/null
  e2e_cli_bg "$E2E_DIR/bot.log" "$E2E_DIR/bot" echo-bot
  for _ in $(seq 100); do grep -q "ready" "$E2E_DIR/bot.log" && break; sleep 0.1; done
  grep -q "ready" "$E2E_DIR/bot.log" || { cat "$E2E_DIR/bot.log" >&2; return 1; }
}

# e2e_app_binary: the desktop binary, which must embed ui/dist.
e2e_app_binary() {
  local app=$PWD/target/debug/pqvoice-desktop
  [ -x "$app" ] || { echo "missing $app: cargo test builds it" >&2; return 1; }
  echo "$app"
}
