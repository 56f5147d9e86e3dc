#!/usr/bin/env bash
# NAT topology 5: both peers behind symmetric NATs, and alice's router drops
# every UDP datagram to the relay's address: alice reaches coturn over TCP
# (TURN over TCP) and the call is relayed. Her router counts the TCP packets
# to the relay: the media must ride them.
# Alone: sudo scripts/e2e/nat-5-turn-tcp.sh (NAT_CALLS=N for more calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

nat_begin turn-tcp
nat_home alice 1 symmetric
nat_home bob 2 symmetric
nat_register alice bob
netns_exec "${NAT_ROUTER[alice]}" nft -f - <<RULES
table inet block {
  counter udp_dropped {}
  counter tcp_to_relay {}
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ip daddr $NAT_TURN_IP meta l4proto udp counter name udp_dropped drop
    ip daddr $NAT_TURN_IP tcp dport 3478 counter name tcp_to_relay
  }
}
RULES

tcp_before=0
before() { tcp_before=$(nat_packets "${NAT_ROUTER[alice]}" block tcp_to_relay); }
# The call's media went over TCP: at least a packet per 20 ms frame for half the call.
after() {
  local tcp udp
  tcp=$(($(nat_packets "${NAT_ROUTER[alice]}" block tcp_to_relay) - tcp_before))
  udp=$(nat_packets "${NAT_ROUTER[alice]}" block udp_dropped)
  echo "alice's router: $tcp TCP packets to the relay in this call, $udp UDP datagrams to it dropped so far"
  [ "$tcp" -ge $((25 * NAT_SECONDS)) ] || { echo "too few TCP packets to the relay: the media did not use TURN over TCP"; return 1; }
}
NAT_BEFORE=before
NAT_AFTER=after
NAT_EXPECT=(path=relayed ip_version=4 "relay_overhead_bytes>=1")
nat_calls alice bob
nat_end
