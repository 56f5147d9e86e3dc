#!/usr/bin/env bash
# The desktop app across two NATs (issue 20): the app behind one
# port-restricted cone NAT (nftables masquerade), a `pqvoice echo-bot` behind
# another, the registry and coturn on the public side (scripts/e2e/lib/nat.sh
# builds that network). The app signs up at the registry's public address,
# calls the bot, and the call must run direct ("Direct · IPv4" on the call
# screen) with audio both ways: beeps played into PipeWire's null sink reach
# the app's microphone, cross both NATs to the bot and come back to the
# app's speaker. Then it hangs up.
#
# The app lives inside its private namespace: tauri-driver, WebKitWebDriver,
# the app and the WebDriver client (node, which reaches tauri-driver on that
# namespace's loopback). The display, the session bus and PipeWire are
# reached through filesystem sockets, which network namespaces share; an
# abstract socket (X11's first choice) is per namespace, so Xlib's attempt
# there is refused and it falls back to /tmp/.X11-unix/X<n>, checked below.
#
# The registry's address is plain http:// beyond this computer, which the
# app only accepts with the user's consent (issue 18): the scenario ticks the
# first-run form's warning box, as a user would.
#
# Alone: sudo scripts/e2e/app-nat.sh under the headless session of
# scripts/test (DISPLAY, DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR set).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DISPLAY:?needs the headless session of scripts/test}"
source scripts/e2e/lib/common.sh
source scripts/e2e/lib/nat.sh
app=$(e2e_app_binary)
for tool in tauri-driver node paplay; do
  command -v "$tool" >/dev/null 2>&1 || { echo "app-nat: $tool is not installed" >&2; exit 1; }
done

nat_begin app-nat
artifacts=${PQVOICE_TEST_ARTIFACTS:-$NETNS_DIR/artifacts}
fail() {
  echo "app-nat: $*" >&2
  local f
  for f in tauri-driver bot registry coturn; do
    echo "--- $f.log (last 40 lines)" >&2
    tail -n 40 "$NETNS_DIR/$f.log" >&2 || true
  done
  NAT_FAILED=1 # nat_on_exit then prints the network as it was
  exit 1
}

nat_home app 1 cone
nat_home bot 2 cone
# Datagrams the app's router forwards from the app straight to the bot's
# router: the direct path's traffic, which a relayed call would not have.
netns_exec "${NAT_ROUTER[app]}" nft -f - <<EOF
table inet appnat {
  counter to_bot {}
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "lan" ip daddr ${NAT_WAN[bot]} meta l4proto udp counter name to_bot
  }
}
EOF

netns_exec app xdpyinfo >/dev/null 2>&1 || fail "no X display $DISPLAY inside the app's namespace"

nat_register bot
# The app is no chosen contact of the bot, so by default the bot would take
# the relay for it; NAT_CLI_NET_FLAGS (--relay-strangers false) leaves the
# path to the connectivity checks, which must find the direct one.
netns_bg "$NETNS_DIR/bot.log" bot env PQVOICE_ALLOW_INSECURE_HTTP=1 \
  "$NAT_BIN_DIR/pqvoice" --registry "$NAT_REGISTRY_URL" --profile "$NETNS_DIR/peer-bot" \
  echo-bot "${NAT_CLI_NET_FLAGS[@]}"
nat_wait_for "$NETNS_DIR/bot.log" "ready" 15 "$NETNS_LAST_PID" || fail "the echo bot did not start"

# 150 ms beeps every 500 ms into the null sink, which the app's microphone
# (the sink's monitor) hears. Started inside the app's namespace, so the
# cleanup finds the loop and its paplay there.
e2e_beeps "$NETNS_DIR/beeps.wav" 5 0 5 12000
netns_bg "$NETNS_DIR/beeps.log" app sh -c 'while :; do paplay "$1" || sleep 1; done' sh "$NETNS_DIR/beeps.wav"

# No PQVOICE_AUDIO: the app opens the default devices (PipeWire).
netns_bg "$NETNS_DIR/tauri-driver.log" app env PQVOICE_REGISTRY_URL="$NAT_REGISTRY_URL" \
  PQVOICE_PROFILE="$NETNS_DIR/app" PQVOICE_LOG=warn,pqvoice_desktop::phone=info \
  tauri-driver --port 4444 --native-port 4445
driver=http://127.0.0.1:4444
for _ in $(seq 100); do
  netns_exec app curl -fsS "$driver/status" >/dev/null 2>&1 && break
  sleep 0.1
done
netns_exec app curl -fsS "$driver/status" >/dev/null 2>&1 || fail "tauri-driver did not start"

netns_exec app node scripts/e2e/app-nat.mjs "$driver" "$app" "$NAT_REGISTRY_URL" "$artifacts" ||
  fail "the scenario failed"

direct=$(nat_packets "${NAT_ROUTER[app]}" appnat to_bot)
echo "app-nat: the app's router forwarded $direct datagrams straight to the bot's router"
# A few seconds of audio at 50 packets/s: far more than the checks alone.
[ "${direct:-0}" -ge 100 ] || fail "only ${direct:-0} datagrams went direct to ${NAT_WAN[bot]}"
echo "app-nat: ok"
