#!/usr/bin/env bash
# NAT topology 2: one peer behind a port-restricted cone NAT, the other on
# the public subnet; calls go both ways (every other call the NATed peer is
# called). Direct over IPv4: the public peer's address is reachable, and the
# NATed peer's checks open its router for the replies.
# Alone: sudo scripts/e2e/nat-2-one-nat.sh (NAT_CALLS=N for more calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

nat_begin one-nat
nat_home alice 1 cone
nat_public_host bob 203.0.113.12
nat_register alice bob
NAT_EXPECT=(path=direct ip_version=4)
NAT_ALTERNATE=1
nat_calls alice bob
nat_end
