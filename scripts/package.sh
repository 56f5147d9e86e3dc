#!/usr/bin/env bash
# Builds the desktop app's Debian package with the registry inside it.
#
#   scripts/package.sh            -> target/release/bundle/deb/pqvoice_<version>_<arch>.deb
#
# Steps: the UI (ui/dist, embedded into the app), `pqvoice-registry` in
# release, then `tauri build --bundles deb` (the Tauri CLI from
# ui/node_modules), then a look at the result with dpkg-deb.
#
# The .deb installs /usr/bin/pqvoice-desktop and, beside it,
# /usr/bin/pqvoice-registry, which is where the app's "host a registry on
# this computer" looks first (src-tauri/src/hosting.rs), plus a systemd unit
# for running that registry as a service and, for a TURN relay beside it,
# the pqvoice-turn.service unit and coturn's config as a template in
# /usr/share/pqvoice/coturn/ (packaging/; nothing enabled, and the template
# is copied to /etc/pqvoice/ with its secret by hand, docs/registry.md).
# The extra files are `bundle.linux.deb.files` in tauri.conf.json, which name
# target/release/; with another cargo target folder this script points them
# there. (Not a Tauri sidecar, `bundle.externalBin`: tauri-build would then
# require the release registry for every build of the app, debug ones too,
# and copy it over target/<profile>/pqvoice-registry, cargo's own output.)
#
# AppImage is not built: its bundler downloads tools from GitHub at build
# time. Environment: PQVOICE_NICE (default "nice -n 10") prefixes the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
read -r -a nice_cmd <<<"${PQVOICE_NICE-nice -n 10}"

tauri=ui/node_modules/.bin/tauri
if [ ! -x "$tauri" ]; then
  echo "== npm ci (ui/): the Tauri CLI comes from @tauri-apps/cli"
  npm --prefix ui ci
fi

echo "== UI build (ui/dist)"
npm --prefix ui run build

echo "== pqvoice-registry (release)"
"${nice_cmd[@]}" cargo build --release -p pqvoice-registry

target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
overlay=()
if [ "$target_dir" != "$root/target" ]; then
  overlay=(--config "$(python3 - "$target_dir" <<'PY'
import json, sys
files = {
    "/usr/bin/pqvoice-registry": sys.argv[1] + "/release/pqvoice-registry",
    "/usr/lib/systemd/system/pqvoice-registry.service": "../packaging/pqvoice-registry.service",
    "/usr/lib/systemd/system/pqvoice-turn.service": "../packaging/pqvoice-turn.service",
    "/usr/share/pqvoice/coturn/turnserver.conf": "../packaging/coturn/turnserver.conf",
}
print(json.dumps({"bundle": {"linux": {"deb": {"files": files}}}}))
PY
)")
fi

echo "== tauri build --bundles deb"
# Run from src-tauri/: the CLI takes the folder holding tauri.conf.json and
# Cargo.toml as the app's Tauri folder, and every path in the config is
# relative to it (src-tauri/tauri.conf.json is a link to ../tauri.conf.json).
(cd src-tauri && "${nice_cmd[@]}" "../$tauri" build --ci --bundles deb "${overlay[@]}")

version=$(python3 -c 'import json; print(json.load(open("tauri.conf.json"))["version"])')
arch=$(dpkg --print-architecture)
deb=$target_dir/release/bundle/deb/pqvoice_${version}_${arch}.deb
[ -f "$deb" ] || { echo "no package at $deb" >&2; exit 1; }

echo "== $deb"
dpkg-deb -I "$deb"
dpkg-deb -c "$deb"
# The package is only useful with all of these in it, the binaries executable.
listing=$(dpkg-deb -c "$deb")
for f in usr/bin/pqvoice-desktop usr/bin/pqvoice-registry; do
  grep -Eq "^-rwxr-xr-x .* (\./)?$f\$" <<<"$listing" || { echo "missing or not executable: $f" >&2; exit 1; }
done
for f in usr/lib/systemd/system/pqvoice-registry.service usr/lib/systemd/system/pqvoice-turn.service \
  usr/share/pqvoice/coturn/turnserver.conf; do
  grep -Eq "^-rw-r--r-- .* (\./)?$f\$" <<<"$listing" || { echo "missing or not 0644: $f" >&2; exit 1; }
done
dpkg-deb -f "$deb" Depends | grep -q libasound2 || { echo "Depends lacks libasound2" >&2; exit 1; }
echo "package: $deb"
