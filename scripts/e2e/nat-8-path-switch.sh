#!/usr/bin/env bash
# NAT topology 8: the path changes mid-call. alice and bob are behind cone
# NATs and the call starts direct (hole punched); two seconds after it is
# connected, alice's router starts dropping everything between her and bob's
# public address. The call must move to the relay (within 2 s) and go on:
# both sides end relayed after at least one switch, and both still hear the
# other's tone from 2.5 s after the cut.
# Alone: sudo scripts/e2e/nat-8-path-switch.sh (NAT_CALLS=N for more calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

NAT_SECONDS=${NAT_SWITCH_SECONDS:-9}
nat_begin path-switch
nat_home alice 1 cone
nat_home bob 2 cone
nat_register alice bob

during() {
  local t0
  t0=$(date +%s.%N)
  sleep 2
  netns_exec "${NAT_ROUTER[alice]}" nft -f - <<RULES
table inet cut {
  counter dropped {}
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ip daddr ${NAT_WAN[bob]} counter name dropped drop
    ip saddr ${NAT_WAN[bob]} counter name dropped drop
  }
}
RULES
  NAT_CUT_AT=$(awk -v now="$(date +%s.%N)" -v t0="$t0" 'BEGIN { printf "%.2f", now - t0 }')
}
# The direct path was in use when it was cut: datagrams kept hitting the rule.
after() {
  local dropped
  dropped=$(nat_packets "${NAT_ROUTER[alice]}" cut dropped)
  netns_exec "${NAT_ROUTER[alice]}" nft delete table inet cut
  echo "alice's router dropped $dropped datagrams between alice and bob after the cut"
  [ "$dropped" -gt 0 ] || { echo "nothing was dropped: the call was not on the direct path when it was cut"; return 1; }
}
NAT_DURING=during
NAT_AFTER=after
NAT_EXPECT=(path=relayed ip_version=4 "path_switches>=1")
nat_calls alice bob
nat_end
