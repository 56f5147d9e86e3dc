# shellcheck shell=bash
# A small Internet in network namespaces for the NAT suites
# (scripts/e2e/nat-*.sh) and bench/nat.sh: a registry and coturn on a
# "public" subnet, hosts on it or behind nftables NAT routers, and calls
# between two CLI peers with WAV in and out, checked both ways.
#
#   public subnet 203.0.113.0/24 + fd00:203::/64, one bridge in namespace pub
#     203.0.113.1   the registry (HTTP and STUN on port 5001)
#     203.0.113.2   coturn (3478, UDP and TCP), relay addresses on .2 too
#     203.0.113.1x  hosts on the public subnet (nat_public_host)
#     203.0.113.2N  the WAN side of router rN (nat_home), fd00:203::2N
#   behind router rN: LAN 10.N.0.0/24 (router .1, host .2), fd00:N::/64
#
# Routers forward with ip_forward=1 and masquerade (a port-restricted cone
# NAT: nftables keeps the source port and lets in only replies to a flow the
# inside opened) or masquerade random,fully-random (a symmetric NAT: a new
# random port per destination). Like home routers they drop unsolicited
# UDP to their WAN address; without that, a peer's early hole punch
# would leave an unanswered conntrack entry on the far router, and that
# router would give its host's own punch a different port. IPv6 is routed
# without NAT between the LANs that have it.
#
# Usage (from the repository root):
#   source scripts/e2e/lib/nat.sh
#   nat_begin LABEL; nat_public_host alice 203.0.113.11; nat_home bob 1 cone
#   nat_register alice bob; NAT_EXPECT=(path=direct); nat_calls alice bob; nat_end
#
# Environment:
#   NAT_CALLS        calls per topology (default 3)
#   NAT_SECONDS      length of each side's tone, s (default 3; the call lasts 1 s more)
#   NAT_RESULTS      append one JSON line per call to this file (bench/nat.sh)
#   NAT_BIN_DIR      where pqvoice and pqvoice-registry are (default target/debug)
#   NAT_KEEP=1       keep the scratch folder (its path is printed)
#   NAT_TURN_VERBOSE=1  coturn logs every request
#   NAT_RELAY=0      no coturn, and a registry that offers no TURN server
#                    (set before nat_begin; nat-9-no-path.sh)

source scripts/lib/netns.sh

NAT_BIN_DIR=$(cd "${NAT_BIN_DIR:-target/debug}" && pwd)
NAT_CALLS=${NAT_CALLS:-3}
NAT_SECONDS=${NAT_SECONDS:-3}
NAT_REGISTRY_IP=203.0.113.1
NAT_REGISTRY_PORT=5001
NAT_TURN_IP=203.0.113.2
NAT_REGISTRY_URL="http://$NAT_REGISTRY_IP:$NAT_REGISTRY_PORT"
NAT_CHECK=scripts/e2e/lib/nat_check.py

# Per call, set by the topology before nat_calls:
NAT_EXPECT=()        # [caller.|callee.]KEY=VALUE, KEY>=N or KEY^=PREFIX on --stats-json (nat_check.py)
NAT_CALLER_FLAGS=()  # extra flags for `pqvoice call`
NAT_CALLEE_FLAGS=()  # extra flags for `pqvoice answer`
NAT_BEFORE=""        # function run before each call (CALLER CALLEE DIR)
NAT_DURING=""        # function run once the caller is connected (CALLER CALLEE DIR)
NAT_AFTER=""         # function run after each call (CALLER CALLEE DIR); non-zero fails the call
NAT_CUT_AT=""        # set by NAT_DURING: seconds into the call of a cut, for the audio check
NAT_ALTERNATE=0      # 1: every other call goes the other way

declare -A NAT_WAN NAT_ADDR NAT_ROUTER
NAT_V6_ROUTERS=()
NAT_FAILED=0
NAT_DONE=0
NAT_LABEL=""

nat_log() { printf 'nat %s: %s\n' "$NAT_LABEL" "$*" >&2; }

# nat_begin LABEL: the namespaces' prefix and trap, the public subnet, coturn
# and the registry.
nat_begin() {
  NAT_LABEL=$1
  netns_begin || exit 1
  NETNS_ON_CLEANUP+=(nat_on_exit)
  [ -z "${NAT_KEEP:-}" ] || NETNS_KEEP_DIR=1
  local bin
  for bin in pqvoice pqvoice-registry; do
    [ -x "$NAT_BIN_DIR/$bin" ] || { nat_log "missing $NAT_BIN_DIR/$bin: build it first (cargo build)"; exit 1; }
  done
  [ "${NAT_RELAY:-1}" = 0 ] || command -v turnserver >/dev/null 2>&1 || { nat_log "coturn (turnserver) is not installed"; exit 1; }
  # Direct or relayed is the path finder's choice here, not the policy that
  # relays calls with people who are not contacts (on by default).
  NAT_CLI_NET_FLAGS=(--relay-strangers false)

  netns_add pub
  netns_bridge pub br0
  # No MLD querier runs here: without snooping the bridge simply floods
  # multicast (IPv6 neighbour discovery) to every port.
  netns_exec pub ip link set br0 type bridge mcast_snooping 0
  netns_exec pub ip addr add "$NAT_REGISTRY_IP/24" dev br0
  netns_exec pub ip addr add "$NAT_TURN_IP/24" dev br0
  netns_exec pub ip addr add fd00:203::1/64 dev br0 nodad
  netns_exec pub ip addr add fd00:203::2/64 dev br0 nodad
  netns_exec pub ip route add default dev br0
  netns_exec pub ip -6 route add default dev br0
  [ "${NAT_RELAY:-1}" = 0 ] || nat_start_coturn
  nat_start_registry
  nat_tones
}

nat_start_coturn() {
  local conf=$NETNS_DIR/turnserver.conf
  head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$NETNS_DIR/turn-secret"
  chmod 600 "$NETNS_DIR/turn-secret"
  (
    umask 077
    cat >"$conf" <<EOF
listening-ip=$NAT_TURN_IP
relay-ip=$NAT_TURN_IP
listening-port=3478
min-port=49152
max-port=65535
use-auth-secret
static-auth-secret=$(cat "$NETNS_DIR/turn-secret")
realm=pqvoice.test
fingerprint
no-tls
no-dtls
no-cli
no-multicast-peers
userdb=$NETNS_DIR/turndb
pidfile=$NETNS_DIR/turnserver.pid
log-file=stdout
simple-log
EOF
    [ -z "${NAT_TURN_VERBOSE:-}" ] || echo verbose >>"$conf"
  )
  netns_bg "$NETNS_DIR/coturn.log" pub turnserver -c "$conf"
  NAT_COTURN_PID=$NETNS_LAST_PID
  local i
  for i in $(seq 100); do
    netns_exec pub ss -Hlnu "sport = :3478" | grep -q . && netns_exec pub ss -Hlnt "sport = :3478" | grep -q . && return 0
    kill -0 "$NAT_COTURN_PID" 2>/dev/null || break
    sleep 0.1
  done
  nat_log "coturn did not start"
  cat "$NETNS_DIR/coturn.log" >&2
  exit 1
}

# The registry on 203.0.113.1, HTTP and (with issue 20) STUN on one port,
# TURN credentials for coturn (none with NAT_RELAY=0). No rate limits
# (every call of a run comes from the same few addresses); a short
# disconnect grace, since a call whose CLIs both exited before their
# hang-ups arrived would hold the next call of the run back for the
# default 30 s.
nat_start_registry() {
  local args=(--listen "$NAT_REGISTRY_IP:$NAT_REGISTRY_PORT" --db "$NETNS_DIR/registry.sqlite3"
    --origin "$NAT_REGISTRY_URL" --rate-per-ip 0 --rate-per-account 0
    --disconnect-grace-secs "${NAT_DISCONNECT_GRACE:-3}")
  [ "${NAT_RELAY:-1}" = 0 ] || args+=(
    --turn-uri "turn:$NAT_TURN_IP:3478?transport=udp" --turn-uri "turn:$NAT_TURN_IP:3478?transport=tcp"
    --turn-secret-file "$NETNS_DIR/turn-secret")
  netns_bg "$NETNS_DIR/registry.log" pub "$NAT_BIN_DIR/pqvoice-registry" "${args[@]}"
  NAT_REGISTRY_PID=$NETNS_LAST_PID
  local i
  for i in $(seq 100); do
    netns_exec pub curl -fsS "$NAT_REGISTRY_URL/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$NAT_REGISTRY_PID" 2>/dev/null || break
    sleep 0.1
  done
  nat_log "the registry did not start"
  cat "$NETNS_DIR/registry.log" >&2
  exit 1
}

# Each side sends its own tone, so each side can tell the other's audio
# from anything of its own: the caller 440 Hz, the callee 660 Hz.
nat_tones() {
  local hz
  for hz in 440 660; do
    python3 "$NAT_CHECK" tone "$NETNS_DIR/tone-$hz.wav" "$hz" "$NAT_SECONDS"
  done
}

# nat_attach NAME IF: a veth from namespace NAME (interface IF) to the public bridge.
nat_attach() {
  netns_link "$1" "$2" pub "b-$1"
  netns_bridge_port pub br0 "b-$1"
}

# nat_public_host NAME IPV4 [IPV6]: a host on the public subnet.
nat_public_host() {
  local name=$1 ip=$2 ip6=${3:-}
  netns_add "$name"
  nat_attach "$name" eth0
  netns_exec "$name" ip addr add "$ip/24" dev eth0
  netns_exec "$name" ip route add default dev eth0
  if [ -n "$ip6" ]; then
    netns_exec "$name" ip addr add "$ip6/64" dev eth0 nodad
    netns_exec "$name" ip -6 route add default dev eth0
  fi
  NAT_WAN[$name]=$ip
  NAT_ADDR[$name]=$ip
}

# nat_home NAME N cone|symmetric [v6]: host NAME behind router rN.
nat_home() {
  local name=$1 n=$2 mode=$3 v6=${4:-} r="r$2" masq
  local wan="203.0.113.2$n" wan6="fd00:203::2$n"
  case $mode in
    cone) masq="masquerade" ;;
    symmetric) masq="masquerade random,fully-random" ;;
    *) nat_log "unknown NAT mode $mode"; exit 1 ;;
  esac
  netns_add "$r"
  netns_add "$name"
  nat_attach "$r" wan
  netns_link "$r" lan "$name" eth0
  netns_exec "$r" sysctl -qw net.ipv4.ip_forward=1
  netns_exec "$r" ip addr add "$wan/24" dev wan
  netns_exec "$r" ip route add default dev wan
  netns_exec "$r" ip addr add "10.$n.0.1/24" dev lan
  netns_exec "$name" ip addr add "10.$n.0.2/24" dev eth0
  netns_exec "$name" ip route add default via "10.$n.0.1"
  netns_exec "$r" nft -f - <<EOF
table ip nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" $masq
  }
}
table inet home {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" meta l4proto udp ct state != { established, related } drop
  }
}
EOF
  if [ "$v6" = v6 ]; then
    local other
    netns_exec "$r" sysctl -qw net.ipv6.conf.all.forwarding=1
    netns_exec "$r" ip addr add "$wan6/64" dev wan nodad
    netns_exec "$r" ip addr add "fd00:$n::1/64" dev lan nodad
    netns_exec "$name" ip addr add "fd00:$n::2/64" dev eth0 nodad
    netns_exec "$name" ip -6 route add default via "fd00:$n::1"
    # Routes between the v6 LANs, through each router's WAN address.
    for other in "${NAT_V6_ROUTERS[@]}"; do
      netns_exec "$r" ip -6 route add "fd00:$other::/64" via "fd00:203::2$other"
      netns_exec "r$other" ip -6 route add "fd00:$n::/64" via "$wan6"
    done
    netns_exec "$r" ip -6 route add default dev wan
    NAT_V6_ROUTERS+=("$n")
  fi
  NAT_WAN[$name]=$wan
  NAT_ADDR[$name]="10.$n.0.2"
  NAT_ROUTER[$name]=$r
}

# nat_packets NAME TABLE COUNTER: packets counted so far by the named counter
# COUNTER of table `inet TABLE` in namespace NAME.
nat_packets() {
  netns_exec "$1" nft list counter inet "$2" "$3" | awk '/packets/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}

# nat_cli NAME ARGS...: the CLI of peer NAME (profile in the scratch folder).
nat_cli() {
  local name=$1
  shift
  netns_exec "$name" env PQVOICE_ALLOW_INSECURE_HTTP=1 \
    "$NAT_BIN_DIR/pqvoice" --registry "$NAT_REGISTRY_URL" --profile "$NETNS_DIR/peer-$name" "$@"
}

nat_register() {
  local name
  for name in "$@"; do
    nat_cli "$name" register "$name" >"$NETNS_DIR/register-$name.log" 2>&1 || {
      nat_log "registering $name failed"
      cat "$NETNS_DIR/register-$name.log" >&2
      exit 1
    }
  done
}

# nat_wait_for FILE PATTERN SECONDS [PID]: until FILE has PATTERN (or PID died).
nat_wait_for() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    [ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || { grep -q -- "$2" "$1" 2>/dev/null; return; }
    sleep 0.05
  done
  return 1
}

# nat_wait_pid PID SECONDS: waits for a child; kills it after SECONDS. Sets NAT_RC.
nat_wait_pid() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    NAT_RC=124
  else
    NAT_RC=0
    wait "$1" || NAT_RC=$?
  fi
}

# nat_call I CALLER CALLEE: one call, checked; a JSON line to NAT_RESULTS.
nat_call() {
  local i=$1 caller=$2 callee=$3 d answer_pid call_pid answer_rc call_rc after_rc=0 t0 ok=1
  local dsp_off=(--aec false --ns off --agc false)
  d="$NETNS_DIR/call-$i"
  mkdir -p "$d"
  NAT_CUT_AT=""
  [ -z "$NAT_BEFORE" ] || "$NAT_BEFORE" "$caller" "$callee" "$d"
  netns_bg "$d/answer.log" "$callee" env PQVOICE_ALLOW_INSECURE_HTTP=1 \
    "$NAT_BIN_DIR/pqvoice" --registry "$NAT_REGISTRY_URL" --profile "$NETNS_DIR/peer-$callee" \
    answer --input "$NETNS_DIR/tone-660.wav" --output "$d/callee.wav" --stats-json "$d/callee.json" \
    "${dsp_off[@]}" "${NAT_CLI_NET_FLAGS[@]}" "${NAT_CALLEE_FLAGS[@]}"
  answer_pid=$NETNS_LAST_PID
  nat_wait_for "$d/answer.log" "waiting for a call" 15 "$answer_pid" || nat_log "call $i: $callee never said it was waiting"
  # The registry ends the previous call a moment after its media stopped;
  # until then a new call is refused with "try again in a moment": wait, as
  # a user would, and place it again. (A CLI that exits at the end of a call
  # can leave before its hang-up reached the registry, which then keeps the
  # call for the disconnect grace: 3 s here instead of 30, see
  # nat_start_registry; the retries are counted in the call's line.)
  local attempt retries=0
  for attempt in $(seq 20); do
    t0=$(date +%s.%N)
    netns_bg "$d/call.log" "$caller" env PQVOICE_ALLOW_INSECURE_HTTP=1 \
      "$NAT_BIN_DIR/pqvoice" --registry "$NAT_REGISTRY_URL" --profile "$NETNS_DIR/peer-$caller" \
      call "$callee" --input "$NETNS_DIR/tone-440.wav" --output "$d/caller.wav" --stats-json "$d/caller.json" \
      "${dsp_off[@]}" "${NAT_CLI_NET_FLAGS[@]}" "${NAT_CALLER_FLAGS[@]}"
    call_pid=$NETNS_LAST_PID
    nat_wait_for "$d/call.log" "ringing" 15 "$call_pid" && break
    grep -q "try again in a moment" "$d/call.log" || break
    echo "$(date -u +%T.%N | cut -c1-12) attempt $attempt: $(grep -m1 'try again' "$d/call.log")" >>"$d/retries.log"
    retries=$attempt
    wait "$call_pid" || true
    sleep 0.5
  done
  if [ -n "$NAT_DURING" ]; then
    if nat_wait_for "$d/call.log" "connected; SAS" 20 "$call_pid"; then
      "$NAT_DURING" "$caller" "$callee" "$d"
    else
      nat_log "call $i: never connected, so nothing done during it"
    fi
  fi
  nat_wait_pid "$call_pid" $((NAT_SECONDS + 40))
  call_rc=$NAT_RC
  nat_wait_pid "$answer_pid" 15
  answer_rc=$NAT_RC
  if [ -n "$NAT_AFTER" ]; then
    "$NAT_AFTER" "$caller" "$callee" "$d" >"$d/after.log" 2>&1 || after_rc=1
  fi
  local expects=() e
  for e in "${NAT_EXPECT[@]}"; do expects+=(--expect "$e"); done
  python3 "$NAT_CHECK" call --topology "$NAT_LABEL" --index "$i" --caller "$caller" --callee "$callee" \
    --dir "$d" --seconds "$NAT_SECONDS" --call-rc "$call_rc" --answer-rc "$answer_rc" --after-rc "$after_rc" --retries "$retries" \
    ${NAT_CUT_AT:+--cut-at "$NAT_CUT_AT"} \
    --started "$t0" ${NAT_RESULTS:+--results "$NAT_RESULTS"} "${expects[@]}" || ok=0
  NAT_DONE=$((NAT_DONE + 1))
  if [ "$ok" -eq 0 ]; then
    NAT_FAILED=$((NAT_FAILED + 1))
    nat_dump "$d"
  fi
}

# nat_calls CALLER CALLEE: NAT_CALLS calls (both ways if NAT_ALTERNATE=1).
nat_calls() {
  local i
  for ((i = 1; i <= NAT_CALLS; i++)); do
    if [ "$NAT_ALTERNATE" -eq 1 ] && [ $((i % 2)) -eq 0 ]; then
      nat_call "$((NAT_DONE + 1))" "$2" "$1"
    else
      nat_call "$((NAT_DONE + 1))" "$1" "$2"
    fi
  done
}

# nat_dump DIR: every log of a failed call, and the shared servers' logs.
nat_dump() {
  local f
  {
    echo "======== nat $NAT_LABEL: diagnostics for $(basename "$1") ========"
    for f in "$1"/*.log "$1"/*.json; do
      [ -f "$f" ] || continue
      echo "--- $(basename "$f")"
      cat "$f"
    done
    echo "--- registry.log (last 60 lines)"
    tail -n 60 "$NETNS_DIR/registry.log"
    if [ -f "$NETNS_DIR/coturn.log" ]; then
      echo "--- coturn.log (last 60 lines)"
      tail -n 60 "$NETNS_DIR/coturn.log"
    fi
    echo "======== end of diagnostics ========"
  } >&2
}

# When the run ends: the network as it was, if something failed.
nat_on_exit() {
  [ "$NAT_FAILED" -gt 0 ] || return 0
  local ns short
  {
    echo "======== nat $NAT_LABEL: the network at the end ========"
    for ns in "${NETNS_NAMES[@]}"; do
      short=${ns#"$NETNS_PREFIX"}
      echo "--- $short"
      ip -n "$ns" -brief addr
      ip -n "$ns" route
      ip -n "$ns" -6 route | grep -v '^fe80\|^multicast' || true
      [ "$short" = pub ] || ip netns exec "$ns" nft list ruleset 2>/dev/null | grep -v '^\s*$' || true
    done
  } >&2
  [ -z "${NAT_KEEP:-}" ] || echo "nat $NAT_LABEL: scratch folder kept: $NETNS_DIR" >&2
}

# nat_end: the verdict.
nat_end() {
  if [ "$NAT_FAILED" -gt 0 ]; then
    nat_log "FAILED: $NAT_FAILED of $NAT_DONE calls"
    exit 1
  fi
  nat_log "ok: $NAT_DONE of $NAT_DONE calls"
}
