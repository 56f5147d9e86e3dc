#!/usr/bin/env bash
# Registry load benchmark: builds in release, starts pqvoice-registry on
# loopback with a fresh database, runs registry-load (10 000 signed-in
# WebSocket clients placing calls at a fixed rate), prints the figures and
# rewrites the "## registry" section of bench/RESULTS.md.
#
# Usage: bench/registry.sh [CLIENTS] [RATES] [SECONDS]
#   RATES: calls per second, or a comma-separated list (one phase each on the
#   same clients, lowest first so an overloaded phase cannot spoil the
#   others); default 300,1000,3000.
set -euo pipefail

CLIENTS="${1:-10000}"
RATE="${2:-300,1000,3000}"
SECONDS_RUN="${3:-10}"
PORT="${REGISTRY_BENCH_PORT:-5071}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# Each client holds one socket in each process; leave room for the HTTP pool.
# The registry caps connections per client address (64 by default), so
# registry-load spreads its clients over loopback source addresses
# (127.0.0.2, ...; --per-source, 32 each) and the cap stays at its default.
NEED=$((CLIENTS + 4096))
HARD="$(ulimit -Hn)"
if [ "$HARD" != "unlimited" ] && [ "$HARD" -lt "$NEED" ]; then
    echo "fd hard limit $HARD is below $NEED; lower CLIENTS" >&2
    exit 1
fi
ulimit -n "$HARD"

# The load generator is its own crate (tools/registry-load), built alongside.
cargo build --release -p pqvoice-registry -p pqvoice-registry-load --bins
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

WORK="$(mktemp -d)"
cleanup() {
    if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
RUST_LOG=warn "$BIN/pqvoice-registry" \
    --listen "127.0.0.1:$PORT" --db "$WORK/registry.sqlite3" \
    --rate-per-ip 0 --rate-per-account 0 --max-connections $((CLIENTS + 4096)) \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

CMD="$BIN/registry-load --url http://127.0.0.1:$PORT --clients $CLIENTS --rate $RATE --seconds $SECONDS_RUN --server-pid $SERVER_PID"
echo "+ $CMD"
$CMD | tee "$WORK/load.out"
OUT="$WORK/load.out"

val() { grep -o "$1=[^ ]*" "$OUT" | head -1 | cut -d= -f2; }
# rval RATE KEY: a figure of one calling phase.
rval() { grep "^RESULT rate=$1 " "$OUT" | grep -o " $2=[^ ]*" | head -1 | cut -d= -f2; }
ROWS=""
for r in ${RATE//,/ }; do
    ROWS+="| $r | $(rval "$r" achieved_rate) | $(rval "$r" calls_completed) | $(rval "$r" calls_failed) | $(rval "$r" late_starts) | $(rval "$r" ring_ms_p50) / $(rval "$r" ring_ms_p99) | $(rval "$r" answer_ms_p50) / $(rval "$r" answer_ms_p99) | $(rval "$r" setup_ms_p99) | $(rval "$r" server_cpu_share) | $(rval "$r" loadgen_cpu_share) |
"
done
DATE="$(date -u +%Y-%m-%d)"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"

SECTION="$WORK/section.md"
cat >"$SECTION" <<EOF
## registry

Measured $DATE on the 2-core shared VM ($CPU; load average before the run:
$LOAD). Server and load
generator on the same machine, over loopback. Command:
\`bench/registry.sh $CLIENTS $RATE $SECONDS_RUN\` (release build of \`registry-load --clients $CLIENTS --rate $RATE --seconds $SECONDS_RUN\`).
A call setup = caller sends initiate on its WebSocket (as the pqvoice
client does while connected) → callee's WebSocket receives incoming_call
(7000-byte offer) → callee sends accept → caller's WebSocket receives
accepted (4500-byte answer); then hangup → ended; each step is also
answered on its sender's socket. \`--via http\` sends the same steps as
HTTP POSTs (/call/initiate, ...). Latencies are from sending the step to
reading the push on the other socket. Percentiles over all calls of the run.

| figure | target | measured |
|---|---|---|
| concurrent signed-in WebSocket clients | 10 000 | $(val clients) |
| server memory per idle connection | ≤ 20 KiB | $(val kib_per_idle_connection) KiB (RSS $(val idle_rss_before_kib) → $(val idle_rss_after_kib) KiB) |

Calling phases ($SECONDS_RUN s each; targets: ≥ 3 000 setups/s with no failure, ring and
answer delivery p99 ≤ 10 ms; CPU shares are of the 2 cores):

| attempted /s | achieved /s | completed | failed | started late | ring p50 / p99 ms | answer p50 / p99 ms | setup p99 ms | server CPU | load generator CPU |
|---|---|---|---|---|---|---|---|---|---|
${ROWS}
EOF

RESULTS="$ROOT/bench/RESULTS.md"
[ -f "$RESULTS" ] || printf '# Benchmark results\n\n' >"$RESULTS"
# Replace our section (from "## registry" to the next "## " heading) or append it.
python3 - "$RESULTS" "$SECTION" <<'PY'
import re, sys
path, section = sys.argv[1], open(sys.argv[2]).read().rstrip() + "\n"
text = open(path).read()
pattern = re.compile(r"^## registry\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda _: section + "\n", text, count=1)
else:
    text = text.rstrip() + "\n\n" + section
open(path, "w").write(text.rstrip() + "\n")
PY
echo
cat "$SECTION"
