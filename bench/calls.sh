#!/usr/bin/env bash
# Real calls through the CLI (quality under loss, echo latency, CPU); see
# bench/call_bench.py. Builds the release binaries unless PQVOICE_BIN_DIR
# points at existing ones. Results go to bench/RESULTS.md (## media).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
"$here/speech/generate.sh" >/dev/null
"$here/setup-venv.sh" >/dev/null
if [ -z "${PQVOICE_BIN_DIR:-}" ]; then
  (cd "$root" && cargo build --release -p pqvoice-cli -p pqvoice-registry)
  PQVOICE_BIN_DIR="${CARGO_TARGET_DIR:-$root/target}/release"
fi
"$here/.venv/bin/python" "$here/call_bench.py" "$PQVOICE_BIN_DIR" "$@"
