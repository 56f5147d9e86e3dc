#!/usr/bin/env bash
# NAT topology 9: both peers behind symmetric NATs and a registry that
# offers no relay (no --turn-uri, no coturn). No candidate pair can work:
# host addresses are private, and a symmetric NAT gives the peer a new port
# for every destination, so neither server-reflexive address lets the other
# side in. The call must fail on both sides as "no network path" with the
# hint that the registry has no relay, within the path finder's 10 s, and
# not as a lost connection (issue 20 item 6).
#
# Per call and per side it checks:
#   - the CLI exits with an error (not killed by our timeout),
#   - its output has "call ended: no network path to the other side" and
#     "could not reach PEER: no network path (the registry has no relay
#     configured)", and nothing with "connection lost",
#   - its --stats-json says end "no_path" and that no path ever carried media,
#   - from the call connecting (caller: the answer verified, "connected;
#     SAS"; callee: "answered") to "call ended" at most NOPATH_LIMIT s, and
#     to the process's exit at most NOPATH_EXIT_LIMIT s (the CLI then waits,
#     bounded, for its hang-up to reach the registry).
# Times are wall clock, from watching each CLI's output every 50 ms.
# Alone: sudo scripts/e2e/nat-9-no-path.sh (NAT_CALLS=N for more calls;
# the calls alternate direction, and even ones use the CLI's default
# stranger policy; the network is in scripts/e2e/lib/nat.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
NAT_RELAY=0
NAT_CALLS=${NAT_CALLS:-2}
source scripts/e2e/lib/nat.sh

# The path finder gives up 10 s after the media starts (PeerPath::NO_PATH_AFTER);
# the margin covers the loop's wake-up, the phone's event to the CLI and our
# 50 ms polling.
NOPATH_LIMIT=${NOPATH_LIMIT:-11.5}
NOPATH_EXIT_LIMIT=${NOPATH_EXIT_LIMIT:-14}
NOPATH_DURATION=25

# now: wall clock in seconds (microseconds).
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }

# nopath_side LABEL PEER LOG JSON RC T_CONNECTED T_ENDED T_EXIT: the checks
# above for one side; prints one line, and the problems; returns 1 on any.
nopath_side() {
  local label=$1 peer=$2 log=$3 json=$4 rc=$5 t_conn=$6 t_end=$7 t_exit=$8 problems=() p stats
  local sentence="could not reach $peer: no network path (the registry has no relay configured)"
  if [ "$rc" = 124 ]; then
    problems+=("still running after the call's deadline (killed)")
  elif [ "$rc" = 0 ]; then
    problems+=("exited 0: a call that found no path must fail")
  fi
  grep -qF -- "call ended: no network path to the other side" "$log" ||
    problems+=("no \"call ended: no network path to the other side\" line")
  grep -qF -- "error: $sentence" "$log" || problems+=("no \"error: $sentence\" line")
  ! grep -qi -- "connection lost" "$log" || problems+=("it says \"connection lost\": $(grep -im1 -- 'connection lost' "$log")")
  stats=$(python3 - "$json" <<'EOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        r = json.load(f)
    print(f"end={r.get('end')!s} path={r.get('stats', {}).get('path')!s}")
except (OSError, ValueError) as e:
    print(f"unreadable ({e})")
EOF
  )
  [ "$stats" = "end=no_path path=None" ] || problems+=("--stats-json: wanted end=no_path path=None, got $stats")
  local to_end=- to_exit=-
  if [ -z "$t_conn" ]; then
    problems+=("never connected (no answer verified / accepted)")
  else
    if [ -n "$t_end" ]; then
      to_end=$(awk -v a="$t_conn" -v b="$t_end" 'BEGIN { printf "%.2f", b - a }')
      awk -v d="$to_end" -v l="$NOPATH_LIMIT" 'BEGIN { exit !(d <= l) }' ||
        problems+=("the call ended $to_end s after it connected, more than $NOPATH_LIMIT s")
    fi
    if [ -n "$t_exit" ]; then
      to_exit=$(awk -v a="$t_conn" -v b="$t_exit" 'BEGIN { printf "%.2f", b - a }')
      awk -v d="$to_exit" -v l="$NOPATH_EXIT_LIMIT" 'BEGIN { exit !(d <= l) }' ||
        problems+=("the CLI exited $to_exit s after the call connected, more than $NOPATH_EXIT_LIMIT s")
    fi
  fi
  printf 'nat %s:   %s: exit %s, connected to ended %s s, to exit %s s, %s\n' \
    "$NAT_LABEL" "$label" "$rc" "$to_end" "$to_exit" "$stats" >&2
  for p in "${problems[@]}"; do printf 'nat %s:     problem: %s\n' "$NAT_LABEL" "$p" >&2; done
  [ ${#problems[@]} -eq 0 ]
}

# nopath_call I CALLER CALLEE: one call that must fail on both sides.
nopath_call() {
  local i=$1 caller=$2 callee=$3 d answer_pid call_pid attempt retries=0 t_deadline ok=1
  # A call that never gives up would run NOPATH_DURATION s and end as
  # finished (exit 0); the short tone is followed by silence till then.
  local media=(--duration "$NOPATH_DURATION" --aec false --ns off --agc false)
  # Odd calls with the suites' --relay-strangers false, even ones with the
  # CLI's defaults (relay calls with strangers, which needs a relay there
  # is none of here): no path either way.
  [ $((i % 2)) -eq 0 ] || media+=("${NAT_CLI_NET_FLAGS[@]}")
  local call_conn="" call_end="" call_exit="" ans_conn="" ans_end="" ans_exit=""
  d="$NETNS_DIR/call-$i"
  mkdir -p "$d"
  netns_bg "$d/answer.log" "$callee" env PQVOICE_ALLOW_INSECURE_HTTP=1 \
    "$NAT_BIN_DIR/pqvoice" --registry "$NAT_REGISTRY_URL" --profile "$NETNS_DIR/peer-$callee" \
    answer --input "$NETNS_DIR/tone-660.wav" --output "$d/callee.wav" --stats-json "$d/callee.json" \
    "${media[@]}"
  answer_pid=$NETNS_LAST_PID
  nat_wait_for "$d/answer.log" "waiting for a call" 15 "$answer_pid" || nat_log "call $i: $callee never said it was waiting"
  # As in nat_call: the registry may still hold the previous call a moment.
  for attempt in $(seq 20); do
    netns_bg "$d/call.log" "$caller" env PQVOICE_ALLOW_INSECURE_HTTP=1 \
      "$NAT_BIN_DIR/pqvoice" --registry "$NAT_REGISTRY_URL" --profile "$NETNS_DIR/peer-$caller" \
      call "$callee" --input "$NETNS_DIR/tone-440.wav" --output "$d/caller.wav" --stats-json "$d/caller.json" \
      "${media[@]}"
    call_pid=$NETNS_LAST_PID
    nat_wait_for "$d/call.log" "ringing" 15 "$call_pid" && break
    grep -q "try again in a moment" "$d/call.log" || break
    retries=$attempt
    wait "$call_pid" || true
    sleep 0.5
  done
  # Watch both until they exit (or a while after they would have hung up).
  t_deadline=$(awk -v t="$(now)" -v d="$NOPATH_DURATION" 'BEGIN { printf "%.6f", t + d + 10 }')
  while [ -z "$call_exit" ] || [ -z "$ans_exit" ]; do
    local t
    t=$(now)
    [ -n "$call_conn" ] || ! grep -q "connected; SAS" "$d/call.log" || call_conn=$t
    [ -n "$ans_conn" ] || ! grep -q "^answered " "$d/answer.log" || ans_conn=$t
    [ -n "$call_end" ] || ! grep -q "^call ended: " "$d/call.log" || call_end=$t
    [ -n "$ans_end" ] || ! grep -q "^call ended: " "$d/answer.log" || ans_end=$t
    [ -n "$call_exit" ] || kill -0 "$call_pid" 2>/dev/null || call_exit=$t
    [ -n "$ans_exit" ] || kill -0 "$answer_pid" 2>/dev/null || ans_exit=$t
    awk -v t="$t" -v l="$t_deadline" 'BEGIN { exit !(t < l) }' || break
    sleep 0.05
  done
  nat_wait_pid "$call_pid" 0
  local call_rc=$NAT_RC
  nat_wait_pid "$answer_pid" 0
  local answer_rc=$NAT_RC
  local placed=""
  [ "$retries" -eq 0 ] || placed=" (placed after $retries refusal(s): the registry still had the previous call)"
  nat_log "call $i: $caller -> $callee$placed"
  nopath_side "caller $caller" "$callee" "$d/call.log" "$d/caller.json" "$call_rc" "$call_conn" "$call_end" "$call_exit" || ok=0
  nopath_side "callee $callee" "$caller" "$d/answer.log" "$d/callee.json" "$answer_rc" "$ans_conn" "$ans_end" "$ans_exit" || ok=0
  NAT_DONE=$((NAT_DONE + 1))
  if [ "$ok" -eq 0 ]; then
    NAT_FAILED=$((NAT_FAILED + 1))
    nat_dump "$d"
  fi
}

nat_begin no-path
nat_home alice 1 symmetric
nat_home bob 2 symmetric
nat_register alice bob
# The premise: the registry answers STUN but has no relay to offer.
health=$(netns_exec pub curl -fsS "$NAT_REGISTRY_URL/healthz")
case $health in
  *'"stun":true'*'"turn":false'*) ;;
  *) nat_log "the registry should answer STUN and have no TURN server: $health"; exit 1 ;;
esac
for ((n = 1; n <= NAT_CALLS; n++)); do
  if [ $((n % 2)) -eq 1 ]; then nopath_call "$n" alice bob; else nopath_call "$n" bob alice; fi
done
nat_end
