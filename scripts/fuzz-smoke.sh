#!/usr/bin/env bash
# Fuzz smoke run for crates/proto: builds every cargo-fuzz target and runs
# each for FUZZ_SECONDS (default 30) seconds. Any crash, panic or sanitizer
# report fails the script.
#
# Only a stable toolchain is assumed: cargo-fuzz needs nightly flags, which
# RUSTC_BOOTSTRAP=1 unlocks on stable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/crates/proto"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-30}"
export RUSTC_BOOTSTRAP=1
# The fuzz crate is its own workspace with its own target directory
# (crates/proto/fuzz/target, ignored by git) unless the caller chose one.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$FUZZ_DIR/fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --debug
fi

cd "$FUZZ_DIR"
mapfile -t TARGETS < <(cargo fuzz list)
if [ "${#TARGETS[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no fuzz targets found" >&2
    exit 1
fi

# No AddressSanitizer: proto forbids unsafe code, so ASan would only watch
# the dependencies while doubling the build; debug assertions instead turn
# every integer overflow in the parsers into a crash the fuzzer reports.
# The dev profile: a smoke run looks for crashes, not for the most inputs a
# second, and an optimised build of the crypto dependencies took ~7 of the
# ~10 minutes this step used to need on 2 cores (dev: under 3 minutes, still
# 15 000-120 000 inputs per target in 10 s). FUZZ_RELEASE=1 for long runs.
FUZZ_FLAGS=(--sanitizer none --debug-assertions)
[ "${FUZZ_RELEASE:-0}" = 1 ] || FUZZ_FLAGS+=(--dev)
echo "fuzz-smoke: building ${TARGETS[*]}"
cargo fuzz build "${FUZZ_FLAGS[@]}"

LOG_DIR="$CARGO_TARGET_DIR/fuzz-smoke-logs"
mkdir -p "$LOG_DIR"
failed=0
for target in "${TARGETS[@]}"; do
    corpus="$FUZZ_DIR/fuzz/corpus/$target"
    mkdir -p "$corpus"
    echo "fuzz-smoke: running $target for ${SECONDS_PER_TARGET}s"
    if ! cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "$corpus" -- \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
        >"$LOG_DIR/$target.log" 2>&1; then
        echo "fuzz-smoke: $target FAILED; last lines of its log:" >&2
        tail -n 40 "$LOG_DIR/$target.log" >&2
        failed=1
    else
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOG_DIR/$target.log" | grep -o '[0-9]*$' || echo "?")
        echo "fuzz-smoke: $target ok ($runs runs)"
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "fuzz-smoke: at least one target crashed (artifacts in crates/proto/fuzz/artifacts)" >&2
    exit 1
fi
echo "fuzz-smoke: all ${#TARGETS[@]} targets ran without a crash"
