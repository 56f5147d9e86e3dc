#!/usr/bin/env bash
# NAT topology 6: IPv6 between the peers. Each is behind a symmetric IPv4
# NAT, so IPv4 could only be relayed, and has a routed IPv6 address (no
# NAT66): the call goes direct over IPv6.
# Alone: sudo scripts/e2e/nat-6-ipv6.sh (NAT_CALLS=N for more calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

nat_begin ipv6
nat_home alice 1 symmetric v6
nat_home bob 2 symmetric v6
nat_register alice bob
NAT_EXPECT=(path=direct ip_version=6 "caller.peer^=[fd00:2::2]:" "callee.peer^=[fd00:1::2]:")
nat_calls alice bob
nat_end
