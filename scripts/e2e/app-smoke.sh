#!/usr/bin/env bash
# The real desktop app, a real local registry, driven by WebDriver under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/common.sh
e2e_begin
artifacts=${PQVOICE_TEST_ARTIFACTS:-$E2E_DIR}
app=$PWD/target/debug/pqvoice-desktop
[ -x "$app" ] || { echo "missing $app: cargo test builds it" >&2; exit 1; }

e2e_start_registry
e2e_start_driver PQVOICE_REGISTRY_URL="$REGISTRY_URL"
if ! node scripts/e2e/app-smoke.mjs "$DRIVER_URL" "$app" "$REGISTRY_URL" "$artifacts"; then
  echo "--- tauri-driver log ---" >&2
  tail -n 50 "$E2E_DIR/tauri-driver.log" >&2
  exit 1
fi
