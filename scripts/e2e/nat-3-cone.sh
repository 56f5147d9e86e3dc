#!/usr/bin/env bash
# NAT topology 3: both peers behind port-restricted cone NATs (nftables
# masquerade). Neither can be reached before it has sent: the simultaneous
# checks punch the holes, and the call runs direct between the two routers'
# public addresses: the first path to carry audio is the direct one, and it
# stays (the checks over the relay still cost a few bytes there).
# Alone: sudo scripts/e2e/nat-3-cone.sh (NAT_CALLS=N for more calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

nat_begin cone
nat_home alice 1 cone
nat_home bob 2 cone
nat_register alice bob
NAT_EXPECT=(path=direct ip_version=4 path_switches=0
  "caller.peer^=${NAT_WAN[bob]}:" "callee.peer^=${NAT_WAN[alice]}:")
nat_calls alice bob
nat_end
