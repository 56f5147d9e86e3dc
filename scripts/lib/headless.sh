# shellcheck shell=bash
# A private headless desktop session for tests: Xvfb, a session D-Bus, PipeWire
# (with wireplumber and pipewire-pulse, whose `auto_null` sink and its monitor
# make a real-time loopback sound device), and dunst printing notifications.
#
#   pqv_headless_start   exports DISPLAY, DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR,
#                        XDG_CONFIG_HOME, PQVOICE_HEADLESS_DIR, PQVOICE_NOTIFY_LOG
#   pqv_headless_stop    stops everything it started and removes its folder
#
# Nothing outside its own temporary folder is changed: ALSA is pointed at
# PipeWire through $XDG_CONFIG_HOME/alsa/asoundrc, not ~/.asoundrc.

PQV_HL_PIDS=()

pqv_wait_for() { # pqv_wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$(($1 * 10)) what=$2 i
  shift 2
  for ((i = 0; i < limit; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  pqv_warn "timed out waiting for $what"
  return 1
}

pqv_headless_start() {
  local dir n
  dir=$(mktemp -d /tmp/pqvoice-headless.XXXXXX)
  chmod 700 "$dir"
  mkdir -m 700 "$dir/run" "$dir/config" "$dir/config/alsa"
  export PQVOICE_HEADLESS_DIR=$dir
  export XDG_RUNTIME_DIR=$dir/run
  export XDG_CONFIG_HOME=$dir/config
  export NO_AT_BRIDGE=1
  cat >"$dir/config/alsa/asoundrc" <<'ALSA'
pcm.!default { type pulse }
ctl.!default { type pulse }
ALSA

  # First free X display number from 99 up.
  n=99
  while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
  Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >"$dir/xvfb.log" 2>&1 &
  PQV_HL_PIDS+=($!)
  export DISPLAY=":$n"
  pqv_wait_for 10 "Xvfb on $DISPLAY" xdpyinfo || return 1

  dbus-daemon --session --nofork --address="unix:path=$dir/bus" >"$dir/dbus.log" 2>&1 &
  PQV_HL_PIDS+=($!)
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$dir/bus"
  pqv_wait_for 10 "the session bus" test -S "$dir/bus" || return 1

  pipewire >"$dir/pipewire.log" 2>&1 &
  PQV_HL_PIDS+=($!)
  pqv_wait_for 10 "pipewire" test -S "$XDG_RUNTIME_DIR/pipewire-0" || return 1
  wireplumber >"$dir/wireplumber.log" 2>&1 &
  PQV_HL_PIDS+=($!)
  pipewire-pulse >"$dir/pipewire-pulse.log" 2>&1 &
  PQV_HL_PIDS+=($!)
  pqv_wait_for 15 "the auto_null sink" sh -c 'pactl list short sinks | grep -q auto_null' || return 1

  export PQVOICE_NOTIFY_LOG=$dir/notifications.log
  dunst -print >"$PQVOICE_NOTIFY_LOG" 2>"$dir/dunst.log" &
  PQV_HL_PIDS+=($!)
  pqv_wait_for 10 "the notification daemon" \
    dbus-send --session --dest=org.freedesktop.DBus --print-reply /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications ||
    return 1
  # NameHasOwner answers even when false; check the answer itself.
  pqv_wait_for 10 "dunst to own org.freedesktop.Notifications" sh -c \
    'dbus-send --session --dest=org.freedesktop.DBus --print-reply /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications | grep -q "boolean true"' ||
    return 1
  pqv_log "headless session up: DISPLAY=$DISPLAY, PipeWire null sink, dunst (in $dir)"
}

pqv_headless_stop() {
  local i
  for ((i = ${#PQV_HL_PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PQV_HL_PIDS[$i]}" 2>/dev/null || true
  done
  for i in "${PQV_HL_PIDS[@]}"; do wait "$i" 2>/dev/null || true; done
  PQV_HL_PIDS=()
  if [ -n "${PQVOICE_HEADLESS_DIR:-}" ] && [ -d "$PQVOICE_HEADLESS_DIR" ]; then
    if [ -n "${PQVOICE_KEEP_HEADLESS_LOGS:-}" ]; then
      pqv_log "headless logs kept in $PQVOICE_HEADLESS_DIR"
    else
      rm -rf "$PQVOICE_HEADLESS_DIR"
    fi
  fi
}
