#!/usr/bin/env bash
# NAT topology 1: both peers on the public subnet, no NAT between them. The
# call is direct over IPv4 and never changes path; audio both ways.
# Alone: sudo scripts/e2e/nat-1-public.sh (NAT_CALLS=N for more calls);
# the network and the helpers are in scripts/e2e/lib/nat.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib/nat.sh

nat_begin public
nat_public_host alice 203.0.113.11
nat_public_host bob 203.0.113.12
nat_register alice bob
NAT_EXPECT=(path=direct ip_version=4 path_switches=0)
nat_calls alice bob
nat_end
