#!/usr/bin/env bash
# Long fuzzing campaign, outside CI: every target of crates/proto/fuzz and
# registry-server/fuzz for SECONDS_PER_TARGET seconds (default 3600), one
# job each, at the lowest CPU priority, starting from the committed seed
# corpus plus whatever earlier campaigns found.
#
# Usage: bench/fuzz-campaign.sh [SECONDS_PER_TARGET] [TARGET...]
#
# The corpus a campaign grows lives in <target dir>/fuzz-campaign/corpus/
# and is kept between runs, so several shorter runs add up to one long one.
# Logs go next to it; a crash leaves its input in <crate>/fuzz/artifacts/.
# The last line of each target's summary is what bench/RESULTS.md records
# under "Fuzzing campaign": time, executions, libFuzzer's final cov/ft,
# corpus size (inputs in libFuzzer's final corpus) and crashes.
#
# The build is optimised (FUZZ_RELEASE=0 for the faster-to-build dev
# profile, with fewer executions a second) and keeps debug assertions, so
# integer overflows still count as crashes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-3600}"
shift || true
ONLY=("$@")
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/crates/proto/fuzz/target}"
WORK="$CARGO_TARGET_DIR/fuzz-campaign"
mkdir -p "$WORK/logs"

FUZZ_FLAGS=(--sanitizer none --debug-assertions)
[ "${FUZZ_RELEASE:-1}" = 1 ] || FUZZ_FLAGS+=(--dev)

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --debug
fi

summary="$WORK/summary-$(date -u +%Y%m%dT%H%M%SZ).txt"
printf '%-18s %8s %12s %8s %8s %8s %7s\n' target seconds execs cov ft corpus crashes | tee "$summary"
crashed=0
for parent in "$ROOT/crates/proto" "$ROOT/registry-server"; do
    cd "$parent"
    if ! nice -n 19 cargo fuzz build "${FUZZ_FLAGS[@]}" >"$WORK/logs/build.log" 2>&1; then
        tail -n 40 "$WORK/logs/build.log" >&2
        exit 1
    fi
    for target in $(cargo fuzz list); do
        if [ "${#ONLY[@]}" -gt 0 ] && [[ " ${ONLY[*]} " != *" $target "* ]]; then
            continue
        fi
        corpus="$WORK/corpus/$target"
        mkdir -p "$corpus"
        log="$WORK/logs/$target.log"
        status=0
        started=$(date +%s)
        nice -n 19 cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "$corpus" "$parent/fuzz/corpus/$target" -- \
            -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
            >"$log" 2>&1 || status=$?
        # Wall time actually fuzzed: a crash ends the run early.
        took=$(($(date +%s) - started))
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        # The last status line: "#N DONE cov: C ft: F corp: K/SIZE ...".
        last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -n 1)
        cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
        ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
        size=$(echo "$last" | grep -o 'corp: [0-9]*' | grep -o '[0-9]*')
        crashes=0
        if [ "$status" -ne 0 ]; then
            crashes=1
            crashed=1
        fi
        printf '%-18s %8s %12s %8s %8s %8s %7s\n' "$target" "$took" "$execs" \
            "${cov:-?}" "${ft:-?}" "$size" "$crashes" | tee -a "$summary"
    done
done
echo "fuzz-campaign: summary in $summary, logs in $WORK/logs"
exit "$crashed"
