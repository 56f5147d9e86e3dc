# shellcheck shell=bash
# Hosts, links and routers made of Linux network namespaces, for tests that
# need several machines on one (the NAT suites in scripts/e2e/nat-*.sh and
# bench/nat.sh). Needs root, iproute2 and nftables.
#
# Every namespace is named with a per-run prefix (pqv<PID>-), so two runs
# never meet, and everything made here goes away in netns_cleanup: the
# processes started inside, then the namespaces (which takes their veth
# ends, bridges and nftables rules with them). netns_begin installs it as
# the EXIT trap and turns HUP/INT/PIPE/TERM into an exit, so a failed or
# interrupted run leaves nothing behind. (SIGKILL cannot be caught: after
# one, `ip netns list` shows the pqv<PID>- namespaces to delete by hand.)
#
#   netns_begin                       prefix, scratch folder NETNS_DIR, trap
#   netns_add NAME                    a namespace with loopback up
#   netns_exec NAME CMD...            run CMD inside NAME
#   netns_bg LOG NAME CMD...          run CMD inside NAME in the background
#   netns_link A IFA B IFB            a veth pair: IFA in A, IFB in B, both up
#   netns_bridge NAME BR              a bridge BR in NAME, up
#   netns_bridge_port NAME BR IF      enslave IF to BR
#   netns_cleanup                     stop and remove everything

NETNS_PREFIX=""
NETNS_NAMES=()
NETNS_PIDS=()
NETNS_DIR=""
# Extra cleanup steps (function names) run before the namespaces go.
NETNS_ON_CLEANUP=()

netns_begin() {
  [ "$(id -u)" -eq 0 ] || { echo "netns: needs root (network namespaces, nftables)" >&2; return 1; }
  local tool
  for tool in ip nft; do
    command -v "$tool" >/dev/null 2>&1 || { echo "netns: $tool is not installed" >&2; return 1; }
  done
  netns_reap_stale
  NETNS_PREFIX="pqv$$-"
  NETNS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pqv-netns.XXXXXX")
  trap netns_cleanup EXIT
  # A signal that would end the shell without its EXIT trap ends it through
  # exit instead (SIGPIPE too: a run piped into `head` that closes early).
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 141' PIPE
  trap 'exit 143' TERM
}

# Namespaces of earlier runs whose shell is gone (killed with SIGKILL, which
# no trap sees): their processes are stopped and the namespaces deleted, so
# one lost run does not leave bridges and servers behind for good.
netns_reap_stale() {
  local ns pid pids
  for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^pqv[0-9]+-' || true); do
    pid=${ns#pqv}
    pid=${pid%%-*}
    # Alive unless gone or a zombie nobody reaped yet.
    [ -r "/proc/$pid/stat" ] && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] && continue
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
    [ ${#pids[@]} -eq 0 ] || netns_stop "${pids[@]}"
    ip netns del "$ns" 2>/dev/null || true
  done
}

# The full name of namespace NAME.
netns_name() { printf '%s%s' "$NETNS_PREFIX" "$1"; }

netns_add() {
  local ns
  ns=$(netns_name "$1")
  ip netns add "$ns" || return 1
  NETNS_NAMES+=("$ns")
  ip -n "$ns" link set lo up
  # New addresses are usable at once: duplicate address detection would
  # hold IPv6 addresses back for a second or two, and these links are ours.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

netns_exec() {
  local ns
  ns=$(netns_name "$1")
  shift
  ip netns exec "$ns" "$@"
}

# netns_bg LOG NAME CMD...: CMD runs inside NAME with its output in LOG; its
# pid goes to NETNS_PIDS (and NETNS_LAST_PID). `ip netns exec` execs CMD, so
# the pid is CMD's own.
netns_bg() {
  local log=$1 ns
  ns=$(netns_name "$2")
  shift 2
  ip netns exec "$ns" "$@" >"$log" 2>&1 &
  NETNS_LAST_PID=$!
  NETNS_PIDS+=("$NETNS_LAST_PID")
}

netns_link() {
  local a b
  a=$(netns_name "$1")
  b=$(netns_name "$3")
  ip -n "$a" link add "$2" type veth peer name "$4" netns "$b" || return 1
  ip -n "$a" link set "$2" up
  ip -n "$b" link set "$4" up
}

netns_bridge() {
  local ns
  ns=$(netns_name "$1")
  ip -n "$ns" link add "$2" type bridge || return 1
  ip -n "$ns" link set "$2" up
}

netns_bridge_port() {
  local ns
  ns=$(netns_name "$1")
  ip -n "$ns" link set "$3" master "$2"
}

# netns_stop PID...: TERM, a short grace, then KILL, for processes started here.
netns_stop() {
  local p i alive
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for i in $(seq 20); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

netns_cleanup() {
  local rc=$? ns f pids=()
  # Diagnostics written to a closed pipe must not stop the cleanup.
  trap '' PIPE
  trap - EXIT HUP INT TERM
  for f in "${NETNS_ON_CLEANUP[@]}"; do "$f" || true; done
  [ ${#NETNS_PIDS[@]} -eq 0 ] || netns_stop "${NETNS_PIDS[@]}"
  # Anything else still running inside our namespaces was started by this
  # run too (a command that outlived its caller): stop it by pid.
  for ns in "${NETNS_NAMES[@]}"; do
    mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null)
  done
  [ ${#pids[@]} -eq 0 ] || netns_stop "${pids[@]}"
  for ns in "${NETNS_NAMES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  NETNS_NAMES=() NETNS_PIDS=()
  if [ -n "$NETNS_DIR" ] && [ -z "${NETNS_KEEP_DIR:-}" ]; then rm -rf "$NETNS_DIR"; fi
  exit "$rc"
}
