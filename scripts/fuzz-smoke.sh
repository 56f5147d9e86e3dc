#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target of crates/proto/fuzz and
# registry-server/fuzz and runs each for FUZZ_SECONDS (default 30) seconds,
# starting from its committed seed corpus. Any crash, panic or sanitizer
# report fails the script.
#
#   scripts/fuzz-smoke.sh                  the smoke run
#   scripts/fuzz-smoke.sh --write-corpora  regenerate the committed corpora
#
# The corpora under crates/proto/fuzz/corpus/<target>/ and
# registry-server/fuzz/corpus/<target>/ are valid messages (offers,
# answers, keys, signatures, packets sealed under the fuzz fixtures' keys,
# control messages, every signaling JSON type) written by
# crates/proto/fuzz/examples/seed_corpora.rs from fixed seeds. After any
# change to a wire format, the handshake or the signaling types, rerun
# `scripts/fuzz-smoke.sh --write-corpora` and commit the result: a stale
# corpus still runs, but its mutations stop at the checks that changed.
#
# The committed corpora are read, never written: libFuzzer adds what it
# finds to the first corpus directory it is given, which here is a scratch
# directory under the target dir.
#
# Only a stable toolchain is assumed: cargo-fuzz needs nightly flags, which
# RUSTC_BOOTSTRAP=1 unlocks on stable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Each directory holds a fuzz/ crate that is its own workspace.
FUZZ_PARENTS=("$ROOT/crates/proto" "$ROOT/registry-server")
SECONDS_PER_TARGET="${FUZZ_SECONDS:-30}"
export RUSTC_BOOTSTRAP=1
# One target directory for both fuzz crates (ignored by git), so proto and
# its dependencies are built once.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/crates/proto/fuzz/target}"

if [ "${1:-}" = "--write-corpora" ]; then
    # A plain (uninstrumented) build in its own directory, so it does not
    # invalidate the fuzz build's artefacts.
    cd "$ROOT/crates/proto/fuzz"
    CARGO_TARGET_DIR="$CARGO_TARGET_DIR/seed-corpora" \
        cargo run --quiet --example seed_corpora
    exit 0
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --debug
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

LOG_DIR="$CARGO_TARGET_DIR/fuzz-smoke-logs"
SCRATCH="$CARGO_TARGET_DIR/fuzz-smoke-corpus"
mkdir -p "$LOG_DIR"
failed=0
total=0
for parent in "${FUZZ_PARENTS[@]}"; do
    cd "$parent"
    mapfile -t TARGETS < <(cargo fuzz list)
    if [ "${#TARGETS[@]}" -eq 0 ]; then
        echo "fuzz-smoke: no fuzz targets found in $parent/fuzz" >&2
        exit 1
    fi
    echo "fuzz-smoke: building ${TARGETS[*]}"
    cargo fuzz build "${FUZZ_FLAGS[@]}"
    for target in "${TARGETS[@]}"; do
        seeds="$parent/fuzz/corpus/$target"
        if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
            echo "fuzz-smoke: $target has no committed corpus in $seeds;" \
                "run scripts/fuzz-smoke.sh --write-corpora" >&2
            exit 1
        fi
        scratch="$SCRATCH/$target"
        rm -rf "$scratch"
        mkdir -p "$scratch"
        total=$((total + 1))
        echo "fuzz-smoke: running $target for ${SECONDS_PER_TARGET}s from $(ls "$seeds" | wc -l) seeds"
        if ! cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "$scratch" "$seeds" -- \
            -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
            >"$LOG_DIR/$target.log" 2>&1; then
            echo "fuzz-smoke: $target FAILED; last lines of its log:" >&2
            tail -n 40 "$LOG_DIR/$target.log" >&2
            failed=1
        else
            runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOG_DIR/$target.log" | grep -o '[0-9]*$' || echo "?")
            cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$LOG_DIR/$target.log" | tail -n 1 || true)
            echo "fuzz-smoke: $target ok ($runs runs, ${cov:-no coverage line})"
        fi
    done
done

if [ "$failed" -ne 0 ]; then
    echo "fuzz-smoke: at least one target crashed (artifacts in <crate>/fuzz/artifacts)" >&2
    exit 1
fi
echo "fuzz-smoke: all $total targets ran without a crash"
