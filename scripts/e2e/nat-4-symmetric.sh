#!/usr/bin/env bash
# NAT topology 4: both peers behind symmetric NATs (masquerade
# random,fully-random: a new port for every destination), so no hole can be
# punched: the call is relayed through coturn.
# Alone: sudo scripts/e2e/nat-4-symmetric.sh (NAT_CALLS=N for more calls).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

nat_begin symmetric
nat_home alice 1 symmetric
nat_home bob 2 symmetric
nat_register alice bob
NAT_EXPECT=(path=relayed ip_version=4 "relay_overhead_bytes>=1")
nat_calls alice bob
nat_end
