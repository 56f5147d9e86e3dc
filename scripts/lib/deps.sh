# shellcheck shell=bash
# Installs what pqvoice needs on Debian/Ubuntu, and only what is missing.
# Sourced by scripts/run and scripts/test; every install is announced first.

# Build: Tauri v2 (WebKitGTK 4.1), ALSA for cpal, cmake for the bundled libopus.
PQV_BUILD_PKGS=(
  build-essential pkg-config file curl ca-certificates cmake libssl-dev libasound2-dev
  libwebkit2gtk-4.1-dev libsoup-3.0-dev libgtk-3-dev librsvg2-dev
  libayatana-appindicator3-dev libxdo-dev
)
# Tests: a headless desktop session (X server, D-Bus, notification daemon),
# PipeWire with its null sink as a real sound device, the WebKit WebDriver,
# and speech synthesis for audio tests and benchmarks.
PQV_TEST_PKGS=(
  xvfb xauth x11-utils imagemagick webkit2gtk-driver dbus dbus-x11 at-spi2-core
  dunst libnotify-bin libasound2-plugins alsa-utils pulseaudio-utils
  pipewire pipewire-pulse wireplumber espeak-ng sox
  coturn nftables iproute2
)

pqv_log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
pqv_warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
pqv_die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

pqv_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else pqv_die "need root or sudo to run: $*"; fi
}

# pqv_apt_install PKG...: installs the packages that dpkg does not know as installed.
pqv_apt_install() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    pqv_log "system packages: all ${#} present"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 ||
    pqv_die "apt-get not found; install the equivalents of these packages by hand (see README): ${missing[*]}"
  pqv_log "installing ${#missing[@]} system packages with apt-get: ${missing[*]}"
  pqv_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  pqv_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Rust toolchain and Node.js: checked, installed through rustup / apt if absent.
pqv_toolchains() {
  if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
      export PATH="$HOME/.cargo/bin:$PATH"
    else
      pqv_log "installing the Rust toolchain with rustup (https://rustup.rs)"
      pqv_apt_install curl ca-certificates
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
      export PATH="$HOME/.cargo/bin:$PATH"
    fi
  fi
  if ! command -v npm >/dev/null 2>&1; then
    pqv_log "installing Node.js and npm with apt-get"
    pqv_apt_install nodejs npm
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 20 ] || pqv_die "Node.js >= 20 is needed for the UI build (found $(node --version 2>/dev/null || echo none))"
}

# npm dependencies of ui/, installed from the lock file when missing or stale.
pqv_npm_deps() {
  local stamp=ui/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ ui/package-lock.json -nt "$stamp" ]; then
    pqv_log "installing the UI's npm dependencies (npm ci in ui/)"
    (cd ui && npm ci --no-audit --no-fund)
  else
    pqv_log "npm dependencies: up to date"
  fi
}

# pqv_cargo_tool BINARY VERSION: `cargo install`s a tool the tests need if it is missing.
pqv_cargo_tool() {
  if command -v "$1" >/dev/null 2>&1; then
    pqv_log "$1: present"
  else
    pqv_log "installing $1 $2 with cargo install (a debug build: these tools only pass messages, and a release build took 5 minutes on 2 cores)"
    cargo install "$1" --version "$2" --locked --debug
  fi
}
