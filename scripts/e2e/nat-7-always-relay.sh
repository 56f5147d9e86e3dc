#!/usr/bin/env bash
# NAT topology 7: "always relay". alice, behind a cone NAT, calls bob on the
# public subnet with --always-relay: she offers only her relayed address,
# so bob must never receive a datagram from any of her own addresses
# (her private one or her router's public one), only from the relay.
# nftables counters in bob's namespace count every UDP datagram that
# reaches him, by source.
# Alone: sudo scripts/e2e/nat-7-always-relay.sh (NAT_CALLS=N for more calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

nat_begin always-relay
nat_home alice 1 cone
nat_public_host bob 203.0.113.12
nat_register alice bob

# Fresh counters for every call.
before() {
  netns_exec bob nft delete table inet capture 2>/dev/null || true
  netns_exec bob nft -f - <<RULES
table inet capture {
  counter from_alice {}
  counter from_relay {}
  counter from_others {}
  chain pre {
    type filter hook prerouting priority raw - 10; policy accept;
    meta l4proto udp ip saddr { ${NAT_ADDR[alice]}, ${NAT_WAN[alice]} } counter name from_alice
    meta l4proto udp ip saddr $NAT_TURN_IP counter name from_relay
    meta l4proto udp ip saddr != { ${NAT_ADDR[alice]}, ${NAT_WAN[alice]}, $NAT_TURN_IP } counter name from_others
    meta l4proto udp meta nfproto ipv6 counter name from_others
  }
}
RULES
}
after() {
  local alice relay others
  alice=$(nat_packets bob capture from_alice)
  relay=$(nat_packets bob capture from_relay)
  others=$(nat_packets bob capture from_others)
  echo "bob received UDP: $alice datagrams from alice's addresses, $relay from the relay, $others from others"
  [ "$alice" -eq 0 ] || { echo "bob saw $alice datagrams from alice's own addresses"; return 1; }
  [ "$relay" -ge $((25 * NAT_SECONDS)) ] || { echo "too few datagrams from the relay: the call did not go through it"; return 1; }
}
NAT_BEFORE=before
NAT_AFTER=after
NAT_CALLER_FLAGS=(--always-relay)
NAT_EXPECT=(caller.path=relayed ip_version=4)
nat_calls alice bob
nat_end
