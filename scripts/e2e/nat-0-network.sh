#!/usr/bin/env bash
# NAT suites, step 0: the namespaced network itself behaves as the call
# suites (nat-1..8) assume, with plain UDP and coturn's own test client, so
# that a failing call is the software's fault and not the test bed's:
#  - a cone router keeps one public port for every destination, a symmetric
#    one picks a new port per destination;
#  - a datagram nobody asked for does not get through either NAT;
#  - two hosts behind cone NATs punch through by sending at the same time,
#    two behind symmetric NATs cannot;
#  - IPv6 is routed between the LANs that have it;
#  - coturn allocates with credentials from the shared secret (and refuses
#    a wrong one), over UDP and TCP, and relays to a public host and
#    between two of its own allocations.
# Alone: sudo scripts/e2e/nat-0-network.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

nat_begin network
nat_home alice 1 cone v6
nat_home bob 2 cone v6
nat_home carol 3 symmetric
nat_home dave 4 symmetric
nat_public_host erin 203.0.113.13
probe=scripts/e2e/lib/udp_probe.py
bad=0
check() { # WHAT GOT WANTED
  if [ "$2" = "$3" ]; then echo "nat network: ok: $1 ($2)" >&2
  else echo "nat network: FAILED: $1: got '$2', wanted '$3'" >&2; bad=1; fi
}
# punch_pair NS_A IP_B NS_B IP_A: both send at once from port 4000; prints "A-saw / B-saw".
punch_pair() {
  local a
  a=$(mktemp -p "$NETNS_DIR")
  netns_exec "$1" python3 $probe punch 4000 "$2" 4000 1.5 >"$a" &
  local pid=$!
  local b
  b=$(netns_exec "$3" python3 $probe punch 4000 "$4" 4000 1.5)
  wait "$pid"
  echo "$(cat "$a") / $b"
}

netns_bg "$NETNS_DIR/mirror.log" erin python3 $probe mirror 7001 7002
sleep 0.3
check "a cone NAT keeps its port for every destination" \
  "$(netns_exec alice python3 $probe mapped 203.0.113.13 7001 7002 | awk '{print $2}' | sort -u | wc -l)" 1
check "a symmetric NAT maps each destination to its own port" \
  "$(netns_exec carol python3 $probe mapped 203.0.113.13 7001 7002 | awk '{print $2}' | sort -u | wc -l)" 2
check "unsolicited datagrams do not cross a cone NAT" \
  "$(netns_exec erin python3 $probe punch 4000 "${NAT_WAN[alice]}" 4000 1)" none
check "two cone NATs are punched through" "$(punch_pair alice "${NAT_WAN[bob]}" bob "${NAT_WAN[alice]}")" \
  "${NAT_WAN[bob]} 4000 / ${NAT_WAN[alice]} 4000"
check "two symmetric NATs cannot be punched through" \
  "$(punch_pair carol "${NAT_WAN[dave]}" dave "${NAT_WAN[carol]}")" "none / none"
check "IPv6 is routed between the LANs" "$(punch_pair alice fd00:2::2 bob fd00:1::2)" \
  "fd00:2::2 4000 / fd00:1::2 4000"

# coturn: the messages turnutils_uclient got back of the one it sent each
# way (-n 1), echoed by turnutils_peer on erin (-e), or sent between two
# allocations of its own (-y: two clients, both counted).
netns_bg "$NETNS_DIR/turn-peer.log" erin turnutils_peer -L 203.0.113.13
sleep 0.3
# turn NAME FLAGS...: runs the client in the background (each takes a few
# seconds of fixed waits, so they run at once), its output in NAME.out.
turn_pids=()
turn() {
  local name=$1
  shift
  netns_exec carol timeout 20 turnutils_uclient -W "$(cat "$NETNS_DIR/turn-secret")" -n 1 -m 1 -l 100 "$@" \
    "$NAT_TURN_IP" >"$NETNS_DIR/$name.out" 2>&1 &
  turn_pids+=($!)
}
# received NAME: the messages that client got back, or "failed".
received() {
  local n
  n=$(sed -n 's/.*tot_recv_msgs=\([0-9]*\).*/\1/p' "$NETNS_DIR/$1.out" | tail -n 1)
  echo "${n:-failed}"
}
turn udp -e 203.0.113.13
turn tcp -t -e 203.0.113.13
turn udp-pair -y
turn tcp-pair -t -y
netns_exec carol timeout 20 turnutils_uclient -W wrong-secret -n 1 -m 1 -e 203.0.113.13 "$NAT_TURN_IP" \
  >"$NETNS_DIR/wrong.out" 2>&1 &
turn_pids+=($!)
for pid in "${turn_pids[@]}"; do wait "$pid" || true; done
check "TURN over UDP relays to a public host" "$(received udp)" 2
check "TURN over TCP relays to a public host" "$(received tcp)" 2
check "TURN relays between two allocations" "$(received udp-pair)" 4
check "TURN over TCP relays between two allocations" "$(received tcp-pair)" 4
check "a wrong TURN secret is refused" \
  "$(grep -q 'Cannot complete Allocation' "$NETNS_DIR/wrong.out" && echo refused || echo accepted)" refused

if [ "$bad" -ne 0 ]; then
  NAT_FAILED=1
  for f in "$NETNS_DIR"/*.out "$NETNS_DIR/coturn.log"; do echo "--- $(basename "$f")" >&2; tail -n 30 "$f" >&2; done
  echo "nat network: FAILED: the test bed does not behave as the NAT suites assume" >&2
  exit 1
fi
echo "nat network: ok" >&2
