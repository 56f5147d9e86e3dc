#!/usr/bin/env bash
# Hosting a registry from the app (Settings > Host a registry on this
# computer) through the real UI: a CLI registers at the address shown; no
# registry process is left after "Stop hosting", after the window is closed,
# or after SIGTERM to the app.
#
#   scripts/e2e/app-hosting.sh [APP_BINARY]
#
# APP_BINARY defaults to target/debug/pqvoice-desktop; give an installed
# package's binary (e.g. /tmp/root/usr/bin/pqvoice-desktop after
# `dpkg -x`) to check that it runs the registry shipped beside it.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/common.sh
e2e_begin cleanup
# If the suite fails half-way, a registry the app started may outlive it:
# stop those (their database is under this run's own folder) as well.
cleanup() {
  local pid
  for pid in $(pgrep -f -- "--db $E2E_DIR/app/hosted-registry/" || true); do kill "$pid" 2>/dev/null || true; done
  e2e_cleanup
}
artifacts=${PQVOICE_TEST_ARTIFACTS:-$E2E_DIR/artifacts}
if [ $# -ge 1 ]; then
  app=$(realpath "$1")
  [ -x "$app" ] || { echo "not an executable: $app" >&2; exit 1; }
else
  app=$(e2e_app_binary)
fi
[ -x target/debug/pqvoice ] || { echo "missing target/debug/pqvoice: cargo test builds it" >&2; exit 1; }

e2e_start_registry
port=$(e2e_free_port)
e2e_start_driver PQVOICE_REGISTRY_URL="$REGISTRY_URL" PQVOICE_PROFILE="$E2E_DIR/app" PQVOICE_AUDIO=null
if ! node scripts/e2e/app-hosting.mjs "$DRIVER_URL" "$app" "$REGISTRY_URL" "$artifacts" \
  "$PWD/target/debug/pqvoice" "$E2E_DIR/app" "$port" "$E2E_DIR"; then
  echo "--- tauri-driver log ---" >&2
  tail -n 60 "$E2E_DIR/tauri-driver.log" >&2
  for log in "$E2E_DIR"/app/hosted-registry/registry.log; do
    [ -f "$log" ] && { echo "--- $log ---" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
fi
