//! What the UI sees of the engine's phone: its events turned into the
//! contract's events (docs/ui-api.md), in the order they come.

use std::sync::Arc;
use std::time::Duration;

use engine::account::Direction;
use engine::call::{CallHandle, CallReport};
use engine::phone::{self as core, CallRef, PhoneEvent};
use engine::registry_client::RegistryEvent;
use proto::signaling::ServerEvent;
use tokio::sync::mpsc;

use super::Phone;
use crate::error::sentence;
use crate::events::{
    self, AudioLevels, CallDirection, CallSnapshot, CallState, CallStatsPayload, EndReason,
    IncomingCall, PresenceChange, RegistryState, Trust, emit,
};

/// How long an offline callee's call shows ringing before it ends, so that
/// the UI sees whom it rang (the contract's "about 150 ms").
const OFFLINE_SHOWN_FOR: Duration = Duration::from_millis(150);

/// The same call as it rang: what a command that set it up returns.
pub(super) fn ringing(mut s: CallSnapshot) -> CallSnapshot {
    s.state = match s.direction {
        CallDirection::Outgoing => CallState::RingingOut,
        CallDirection::Incoming => CallState::RingingIn,
    };
    s.sas = None;
    s.active_since = None;
    s.reason = None;
    s.message = None;
    s
}

impl Phone {
    /// The UI's name of a call: the registry's id in hex, or the label of
    /// a local echo test.
    pub(super) fn ui_id(&self, s: &core::CallSnapshot) -> String {
        match &s.id {
            Some(id) => id.to_string(),
            None => self.local().label.clone(),
        }
    }

    /// Whether `s` is the echo test (local, or the registry's bot).
    pub(super) fn is_echo(&self, s: &core::CallSnapshot) -> bool {
        s.id.is_none()
            || (s.direction == Direction::Outgoing && s.peer.as_str() == self.config().echo_bot)
    }

    /// The contract's snapshot of `s`; `None` while the UI has not heard of
    /// the call (placing, checking an offer). Answering shows as ringing.
    pub(super) fn to_ui(&self, s: &core::CallSnapshot) -> Option<CallSnapshot> {
        use core::CallState as S;
        let direction = match s.direction {
            Direction::Outgoing => CallDirection::Outgoing,
            Direction::Incoming => CallDirection::Incoming,
        };
        let state = match s.state {
            S::Placing | S::Verifying => return None,
            S::RingingOut | S::RingingIn | S::Answering => CallState::RingingOut,
            S::Connecting => CallState::Connecting,
            S::Active => CallState::Active,
            S::Ended => CallState::Ended,
        };
        let snap = CallSnapshot {
            call_id: self.ui_id(s),
            peer: s.peer.to_string(),
            direction,
            echo: self.is_echo(s),
            state,
            peer_trust: s.trust,
            sas: s
                .sas
                .as_deref()
                .map(|g| g.split(' ').map(str::to_owned).collect()),
            active_since: s.active_since_ms,
            muted: s.muted,
            reason: s.end.as_ref().map(|e| e.0),
            message: s.end.as_ref().and_then(|e| e.1.as_deref()).map(sentence),
        };
        Some(match state {
            CallState::RingingOut => ringing(snap),
            _ => snap,
        })
    }
}

/// The call the UI was last told about.
#[derive(Default)]
struct Shown {
    call: Option<CallRef>,
    id: String,
    last: Option<CallSnapshot>,
    /// The level meters and the call they read.
    meters: Option<(CallRef, tauri::async_runtime::JoinHandle<()>)>,
}

impl Shown {
    /// Stops the meters unless they read `keep`.
    fn stop_meters(&mut self, keep: Option<CallRef>) {
        if self.meters.as_ref().is_some_and(|m| Some(m.0) != keep)
            && let Some((_, m)) = self.meters.take()
        {
            m.abort();
        }
    }
}

/// Turns the engine phone's events into UI events until the phone stops.
pub(super) async fn pump(app: Arc<Phone>, mut events: mpsc::UnboundedReceiver<PhoneEvent>) {
    let mut shown = Shown::default();
    while let Some(ev) = events.recv().await {
        match ev {
            PhoneEvent::Call(s) => app.on_snapshot(&mut shown, &s).await,
            PhoneEvent::Stats(call, s) if shown.call == Some(call) => emit(
                &*app.sink,
                events::CALL_STATS,
                &CallStatsPayload::from_engine(&shown.id, &s),
            ),
            // A local call's media starts before the call is first shown.
            PhoneEvent::MediaStarted(call, handle) => {
                shown.stop_meters(None);
                shown.meters = Some((call, meters(&app, handle)));
            }
            PhoneEvent::Report(_, report) => log_report(&report),
            PhoneEvent::Registry(ev) => app.on_registry(ev),
            _ => {}
        }
    }
    shown.stop_meters(None);
    app.status(RegistryState::Offline, None);
}

impl Phone {
    async fn on_snapshot(&self, shown: &mut Shown, s: &core::CallSnapshot) {
        let Some(snap) = self.to_ui(s) else {
            return;
        };
        if shown.call != Some(s.call) {
            shown.stop_meters(Some(s.call));
            shown.call = Some(s.call);
            shown.id = snap.call_id.clone();
            shown.last = None;
            self.set_in_call(true);
            self.stop_mic_test();
            // A first call pins the peer's key: subscribe to its presence.
            self.resubscribe();
            // A local echo test starts connecting; the UI first sees it ring.
            if snap.state == CallState::Connecting {
                let first = ringing(snap.clone());
                emit(&*self.sink, events::CALL_STATE, &first);
                shown.last = Some(first);
            }
        }
        if snap.reason == Some(EndReason::Offline) {
            tokio::time::sleep(OFFLINE_SHOWN_FOR).await;
        }
        if shown.last.as_ref() == Some(&snap) {
            return;
        }
        let first_ring = snap.state == CallState::RingingIn && shown.last.is_none();
        if first_ring && s.trust == Trust::KeyChanged {
            // The offer's check kept the new key as the pending change.
            self.announce_key_change(&snap.peer);
        }
        emit(&*self.sink, events::CALL_STATE, &snap);
        if first_ring {
            self.ring(&snap);
        }
        if snap.state == CallState::Ended {
            shown.stop_meters(None);
            self.set_in_call(false);
            if s.id.is_none()
                && let Some(bot) = self.local().bot.take()
            {
                bot.hang_up();
            }
        }
        shown.last = Some(snap);
    }

    /// An incoming call rings: the popup, the notification and the window.
    fn ring(&self, snap: &CallSnapshot) {
        emit(
            &*self.sink,
            events::INCOMING_CALL,
            &IncomingCall {
                call_id: snap.call_id.clone(),
                peer: snap.peer.clone(),
                peer_trust: snap.peer_trust,
            },
        );
        if self.settings().notifications {
            self.sink.notify(
                "Incoming pqvoice call",
                &format!("{} is calling you.", snap.peer),
            );
        }
        self.sink.raise_window();
    }

    fn on_registry(&self, ev: RegistryEvent) {
        match ev {
            RegistryEvent::Connected => self.status(RegistryState::Connected, None),
            RegistryEvent::Disconnected { retry_in, .. } => self.status(
                RegistryState::Connecting,
                Some(format!(
                    "Connection to the registry lost; retrying in {} s.",
                    retry_in.as_secs().max(1)
                )),
            ),
            RegistryEvent::Server(ServerEvent::Presence(p)) => emit(
                &*self.sink,
                events::PRESENCE,
                &PresenceChange {
                    username: p.username.to_string(),
                    presence: p.presence,
                },
            ),
            RegistryEvent::Server(_) => {}
        }
    }
}

/// Polls the call's level meters until aborted.
fn meters(app: &Phone, handle: CallHandle) -> tauri::async_runtime::JoinHandle<()> {
    let sink = Arc::clone(&app.sink);
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(events::call_levels_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut filter = events::LevelsFilter::default();
        loop {
            tick.tick().await;
            let (mic, speaker) = handle.levels().take();
            if let Some(l) = filter.changed(AudioLevels::perceptual(mic, speaker)) {
                emit(&*sink, events::AUDIO_LEVELS, &l);
            }
        }
    })
}

/// The call's media health, for a user's bug report: nothing here
/// identifies the peer or the keys.
fn log_report(report: &CallReport) {
    let s = &report.stats;
    tracing::info!(
        end = ?report.end,
        secs = s.elapsed_s.round(),
        underruns = s.underruns,
        overruns = s.overruns,
        concealed = s.concealed,
        late = s.late,
        cpu_pct = s.cpu_pct,
        playback_target_ms = s.playback_target_ms.round(),
        "call media ended"
    );
}
