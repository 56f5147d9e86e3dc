#!/usr/bin/env bash
# A contact whose key changed: the app pins bob's key (verifies him), then
# the registry starts serving another key for bob (simulated by writing a
# second account's key into bob's row of the registry database: exactly
# the substitution that pinning exists to catch). The app shows the
# warning, the call button is disabled and the call is refused.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/common.sh
e2e_begin
artifacts=${PQVOICE_TEST_ARTIFACTS:-$E2E_DIR/artifacts}
app=$(e2e_app_binary)

e2e_start_registry
e2e_cli "$E2E_DIR/bob" register bob >/dev/null
e2e_cli "$E2E_DIR/mallory" register mallory >/dev/null
e2e_start_driver PQVOICE_REGISTRY_URL="$REGISTRY_URL" PQVOICE_PROFILE="$E2E_DIR/app" PQVOICE_AUDIO=null PQVOICE_LOG=warn
export E2E_DIR
if ! node scripts/e2e/app-key-change.mjs "$DRIVER_URL" "$app" "$REGISTRY_URL" "$artifacts"; then
  echo "--- tauri-driver log ---" >&2
  tail -n 80 "$E2E_DIR/tauri-driver.log" >&2
  exit 1
fi
