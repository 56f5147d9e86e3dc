#!/usr/bin/env bash
# First run and an outgoing call: the real app signs up through its
# first-run screen, calls a `pqvoice echo-bot` on a real local registry,
# shows the SAS and live stats in the in-call view, and hangs up. Also
# takes the screenshots of the main screens (first run, contacts, in call,
# history, settings, help).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/common.sh
e2e_begin
artifacts=${PQVOICE_TEST_ARTIFACTS:-$E2E_DIR/artifacts}
app=$(e2e_app_binary)

e2e_start_registry
e2e_start_echo_bot

e2e_start_driver PQVOICE_REGISTRY_URL="$REGISTRY_URL" PQVOICE_PROFILE="$E2E_DIR/app" PQVOICE_AUDIO=null
if ! node scripts/e2e/app-call-bot.mjs "$DRIVER_URL" "$app" "$REGISTRY_URL" "$artifacts"; then
  echo "--- tauri-driver log ---" >&2
  tail -n 80 "$E2E_DIR/tauri-driver.log" >&2
  echo "--- echo bot log ---" >&2
  tail -n 20 "$E2E_DIR/bot.log" >&2
  exit 1
fi
