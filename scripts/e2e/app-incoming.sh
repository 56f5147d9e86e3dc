#!/usr/bin/env bash
# Incoming calls: the `pqvoice` CLI calls the real app. The ringing popup
# appears and a notification reaches the notification daemon (dunst);
# accept connects and media flows; a second call is declined in the app and
# the CLI exits non-zero saying "rejected".
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PQVOICE_NOTIFY_LOG:?needs the notification daemon of scripts/lib/headless.sh}"
source scripts/e2e/lib/common.sh
e2e_begin
artifacts=${PQVOICE_TEST_ARTIFACTS:-$E2E_DIR/artifacts}
app=$(e2e_app_binary)

e2e_start_registry
e2e_cli "$E2E_DIR/carol" register carol >/dev/null
e2e_tone "$E2E_DIR/in.wav" 3
e2e_start_driver PQVOICE_REGISTRY_URL="$REGISTRY_URL" PQVOICE_PROFILE="$E2E_DIR/app" PQVOICE_AUDIO=null
export E2E_DIR REGISTRY_URL
if ! node scripts/e2e/app-incoming.mjs "$DRIVER_URL" "$app" "$REGISTRY_URL" "$artifacts"; then
  echo "--- tauri-driver log ---" >&2
  tail -n 80 "$E2E_DIR/tauri-driver.log" >&2
  exit 1
fi
