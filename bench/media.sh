#!/usr/bin/env bash
# Media benchmarks: generates speech, sets up the PESQ venv, builds pqvoice
# (release) and scores the media path at 0/5/10/20 % loss; results go to the
# `## media` section of bench/RESULTS.md.
# Needs: espeak-ng, sox, cmake, python3 (venv), network access to PyPI once.
# Set PQVOICE_BIN to use an existing binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
"$here/speech/generate.sh" >/dev/null
"$here/setup-venv.sh" >/dev/null
if [ -z "${PQVOICE_BIN:-}" ]; then
  (cd "$root" && cargo build --release -p pqvoice-cli)
  PQVOICE_BIN="${CARGO_TARGET_DIR:-$root/target}/release/pqvoice"
fi
"$here/.venv/bin/python" "$here/media_bench.py" "$PQVOICE_BIN" "$@"
