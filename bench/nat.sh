#!/usr/bin/env bash
# NAT traversal bench: every call topology of the NAT suites
# (scripts/e2e/nat-[1-8]-*.sh) with NAT_BENCH_CALLS calls each (default 20),
# in network namespaces with real nftables NATs and coturn (needs root).
# Per topology: success rate, accept -> first audio (median, p90), the path
# type and IP version the calls took, path switches and the relay's byte
# overhead; bench/nat_results.py writes them to the "## NAT traversal"
# section of bench/RESULTS.md (--no-write: print only).
#
#   sudo bench/nat.sh [--no-write] [TOPOLOGY_NUMBER...]     e.g. bench/nat.sh 3 4
#
# Builds the release binaries unless PQVOICE_BIN_DIR points at existing ones.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
write=(--write bench/RESULTS.md)
only=()
for arg in "$@"; do
  case $arg in
    --no-write) write=() ;;
    [1-8]) only+=("$arg") ;;
    *) echo "usage: bench/nat.sh [--no-write] [1-8...]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench/nat.sh: needs root (network namespaces, nftables)" >&2; exit 1; }
command="bench/nat.sh $*"
[ -z "${PQVOICE_BIN_DIR:-}" ] || command="PQVOICE_BIN_DIR=$PQVOICE_BIN_DIR $command"
[ -z "${NAT_BENCH_CALLS:-}" ] || command="NAT_BENCH_CALLS=$NAT_BENCH_CALLS $command"
if [ -z "${PQVOICE_BIN_DIR:-}" ]; then
  cargo build --release -p pqvoice-cli -p pqvoice-registry || exit 1
  PQVOICE_BIN_DIR="${CARGO_TARGET_DIR:-$root/target}/release"
fi
calls=${NAT_BENCH_CALLS:-20}
out=$(mktemp -d "${TMPDIR:-/tmp}/pqv-nat-bench.XXXXXX")
results="$out/calls.jsonl"
: >"$results"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for suite in scripts/e2e/nat-[1-8]-*.sh; do
  n=$(basename "$suite" | cut -d- -f2)
  if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $n "* ]]; then continue; fi
  echo "==> $(basename "$suite" .sh): $calls calls" >&2
  # A failing call does not stop the bench: it counts against the success rate.
  NAT_CALLS=$calls NAT_RESULTS=$results NAT_BIN_DIR=$PQVOICE_BIN_DIR "$suite" >"$out/$(basename "$suite" .sh).log" 2>&1 ||
    echo "    (some calls failed; log: $out/$(basename "$suite" .sh).log)" >&2
  grep '^nat .* call [0-9]*:' "$out/$(basename "$suite" .sh).log" | tail -n 3 >&2 || true
done
python3 bench/nat_results.py "$results" --started "$started" --calls "$calls" \
  --binaries "$PQVOICE_BIN_DIR" --command "$command" "${write[@]}"
echo "raw results and logs: $out" >&2
