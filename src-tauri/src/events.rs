//! Events Rust sends to the UI, and the payload types shared with commands.
//!
//! Names and shapes follow docs/ui-api.md exactly: structs serialize with
//! camelCase keys, enums as kebab-case strings, `Option` as `null`.
//! [`Presence`] is proto's own type so the registry's value passes through
//! unchanged (`online` or `offline`).

use engine::contacts::ContactBook;
use proto::signaling::{Presence, Username};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `incoming-call`: someone rings (once per call).
pub const INCOMING_CALL: &str = "incoming-call";
/// `call-state`: the whole [`CallSnapshot`] after any change.
pub const CALL_STATE: &str = "call-state";
/// `call-stats`: [`CallStatsPayload`] once a second during a call.
pub const CALL_STATS: &str = "call-stats";
/// `audio-levels`: [`AudioLevels`] at most every [`call_levels_interval`] in
/// a call and every [`MIC_TEST_LEVELS_INTERVAL`] in the mic test, and only
/// when a meter would move ([`LevelsFilter`]).
pub const AUDIO_LEVELS: &str = "audio-levels";
/// How often the call's level meters may change. Each change costs the web
/// view a rendering pass (style, layout, paint, and GTK's copy to the
/// screen: ~2.5 ms of CPU across the two processes without a GPU), so the
/// rate is most of what the meters cost (bench/RESULTS.md, desktop app: a
/// talking call took 9.5 % of a core at ten a second, ~8.1 % at five).
/// Four a second, the rate at which Signal Desktop polls its call levels;
/// each update shows the loudest frame since the last one, so no syllable
/// is missed, and the UI's once-a-second redraw rides on one of them.
pub const CALL_LEVELS_INTERVAL: Duration = Duration::from_millis(250);
/// The mic test in settings answers faster: it runs only while someone
/// watches it, outside calls.
pub const MIC_TEST_LEVELS_INTERVAL: Duration = Duration::from_millis(100);
/// Environment variable that overrides [`CALL_LEVELS_INTERVAL`], in
/// milliseconds (50..=1000), for benchmarks that compare meter rates.
pub const METER_INTERVAL_ENV: &str = "PQVOICE_METER_MS";

/// [`CALL_LEVELS_INTERVAL`], or the override in [`METER_INTERVAL_ENV`].
pub fn call_levels_interval() -> Duration {
    meter_interval(std::env::var(METER_INTERVAL_ENV).ok().as_deref())
}

fn meter_interval(var: Option<&str>) -> Duration {
    match var.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(ms)) if (50..=1000).contains(&ms) => Duration::from_millis(ms),
        Some(_) => {
            tracing::warn!("{METER_INTERVAL_ENV} is not 50..=1000 (ms); the default applies");
            CALL_LEVELS_INTERVAL
        }
        None => CALL_LEVELS_INTERVAL,
    }
}

/// Meter resolution: levels are rounded to steps of 1/METER_STEPS, finer
/// than a glance at a meter can tell, so that noise around one level sends
/// no event.
pub const METER_STEPS: f32 = 40.0;
/// `presence`: a contact's presence changed.
pub const PRESENCE: &str = "presence";
/// `key-changed`: a contact showed a key that differs from the pin.
pub const KEY_CHANGED: &str = "key-changed";
/// `registry-status`: the push connection changed.
pub const REGISTRY_STATUS: &str = "registry-status";

/// How far a contact's key is trusted: the engine's own type, which
/// serialises with this contract's names (`"unverified"`, `"verified"`,
/// `"key-changed"`), so the shell keeps no copy to map.
pub use engine::contacts::Trust;

/// The trust the UI shows for `name` in `book`; someone who is not a
/// contact is unverified.
pub fn trust_in(book: &ContactBook, name: &Username) -> Trust {
    book.trust(name).unwrap_or(Trust::Unverified)
}

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallDirection {
    /// We called.
    Outgoing,
    /// They called.
    Incoming,
}

/// Where a call stands; calls only move forward through these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallState {
    /// We ring the peer.
    RingingOut,
    /// The peer rings us.
    RingingIn,
    /// Answered; media is being set up.
    Connecting,
    /// Talking.
    Active,
    /// Over; the snapshot says why.
    Ended,
}

/// Why a call ended (table "End reasons" of the contract): the engine's
/// own reason, serialised as the contract names it.
pub use engine::phone::EndReason;

/// The single description of the current call; emitted whole on every
/// change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallSnapshot {
    /// Unique per call (the registry's id, or a local one for a local echo test).
    pub call_id: String,
    /// The other username.
    pub peer: String,
    /// Which way.
    pub direction: CallDirection,
    /// True only for the built-in echo test.
    pub echo: bool,
    /// Where it stands.
    pub state: CallState,
    /// Trust in the key the peer uses in this call.
    pub peer_trust: Trust,
    /// Short authentication string groups, from `active` on.
    pub sas: Option<Vec<String>>,
    /// Unix ms when the call became active.
    pub active_since: Option<u64>,
    /// Our microphone is muted.
    pub muted: bool,
    /// Set exactly when `state` is `ended`.
    pub reason: Option<EndReason>,
    /// Detail for `failed` and `connection-lost`.
    pub message: Option<String>,
}

/// `incoming-call` payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingCall {
    /// The call.
    pub call_id: String,
    /// Who rings.
    pub peer: String,
    /// Trust in the key the caller uses.
    pub peer_trust: Trust,
}

/// `call-stats` payload: the in-call quality figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStatsPayload {
    /// The call.
    pub call_id: String,
    /// Round-trip time; `None` until the first pong.
    pub rtt_ms: Option<f64>,
    /// Loss of the peer's packets, percent.
    pub loss_pct: f64,
    /// Inter-arrival jitter.
    pub jitter_ms: f64,
    /// Send bitrate on the wire.
    pub send_kbps: f64,
    /// Receive bitrate on the wire.
    pub recv_kbps: f64,
    /// Current jitter buffer depth.
    pub jitter_buffer_ms: f64,
    /// Frames concealed since the call began.
    pub concealed: u64,
    /// Frames rebuilt from FEC or redundancy since the call began.
    pub recovered: u64,
    /// The path carrying the audio, once one answered.
    pub path: Option<MediaPath>,
    /// 4 or 6: the IP version of that path.
    pub ip_version: Option<u8>,
}

/// How the call's audio travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaPath {
    /// Straight between the two devices.
    Direct,
    /// Through a TURN relay.
    Relayed,
}

impl CallStatsPayload {
    /// The UI-facing figures of the engine's stats, clamped to the ranges
    /// the contract promises (finite, non-negative, loss at most 100).
    pub fn from_engine(call_id: &str, s: &engine::call::CallStats) -> Self {
        let fin = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
        Self {
            call_id: call_id.to_owned(),
            rtt_ms: s.rtt_ms.filter(|r| r.is_finite()).map(|r| r.max(0.0)),
            loss_pct: fin(s.loss_pct).min(100.0),
            jitter_ms: fin(s.jitter_ms),
            send_kbps: fin(s.send_kbps),
            recv_kbps: fin(s.recv_kbps),
            jitter_buffer_ms: fin(s.jitter_buffer_ms),
            concealed: s.concealed,
            recovered: s.recovered_fec + s.recovered_redundant,
            path: match s.path.as_deref() {
                Some("direct") => Some(MediaPath::Direct),
                Some("relayed") => Some(MediaPath::Relayed),
                _ => None,
            },
            // The contract allows nothing else; a path is always one of them.
            ip_version: s.ip_version.filter(|v| matches!(v, 4 | 6)),
        }
    }
}

/// `audio-levels` payload: peaks, 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AudioLevels {
    /// Our microphone.
    pub mic: f32,
    /// What we play.
    pub speaker: f32,
}

impl AudioLevels {
    /// Levels for the meters: a square-root curve so that speech, which
    /// peaks far below full scale, still moves the meter visibly, rounded
    /// to [`METER_STEPS`].
    pub fn perceptual(mic: f32, speaker: f32) -> Self {
        let f = |x: f32| {
            if x.is_finite() {
                (x.clamp(0.0, 1.0).sqrt() * METER_STEPS).round() / METER_STEPS
            } else {
                0.0
            }
        };
        Self {
            mic: f(mic),
            speaker: f(speaker),
        }
    }
}

/// Passes on only levels that differ from the last ones passed: silence, or
/// a steady tone, then sends nothing, and the web view does not repaint.
#[derive(Debug, Default)]
pub struct LevelsFilter {
    last: Option<AudioLevels>,
}

impl LevelsFilter {
    /// `levels` if the meters would show something new.
    pub fn changed(&mut self, levels: AudioLevels) -> Option<AudioLevels> {
        if self.last == Some(levels) {
            return None;
        }
        self.last = Some(levels);
        Some(levels)
    }
}

/// `presence` payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceChange {
    /// Whose presence.
    pub username: String,
    /// Now.
    pub presence: Presence,
}

/// `key-changed` payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyChanged {
    /// The contact whose key changed.
    pub username: String,
}

/// State of the push connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryState {
    /// Connected; we are online.
    Connected,
    /// Trying to connect.
    Connecting,
    /// Not connected (no account, or the registry is down).
    Offline,
}

/// `registry-status` payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistryStatus {
    /// The state.
    pub state: RegistryState,
    /// A sentence for the status line, if there is something to say.
    pub message: Option<String>,
}

/// Where Rust sends events and desktop signals. The app implements it over
/// a Tauri `AppHandle`; keeping it a trait keeps the phone service free of
/// the runtime type parameter.
pub trait UiSink: Send + Sync + 'static {
    /// Emits `event` with a JSON payload to the UI.
    fn emit_json(&self, event: &str, payload: serde_json::Value);
    /// Shows an OS notification.
    fn notify(&self, title: &str, body: &str);
    /// Brings the main window to the front.
    fn raise_window(&self);
}

/// Serializes `payload` and emits it; a payload that cannot serialize is a
/// bug, logged rather than panicking the caller.
pub fn emit<T: Serialize>(sink: &dyn UiSink, event: &str, payload: &T) {
    match serde_json::to_value(payload) {
        Ok(v) => sink.emit_json(event, v),
        Err(e) => tracing::error!(event, error = %e, "event payload does not serialize"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::identity::IdentityKeyPair;

    #[test]
    fn snapshot_uses_the_contract_spelling() {
        let s = CallSnapshot {
            call_id: "c1".into(),
            peer: "bob".into(),
            direction: CallDirection::Outgoing,
            echo: false,
            state: CallState::RingingOut,
            peer_trust: Trust::KeyChanged,
            sas: None,
            active_since: None,
            muted: false,
            reason: Some(EndReason::RemoteHungUp),
            message: None,
        };
        let v = serde_json::to_value(&s).expect("json");
        assert_eq!(v["callId"], "c1");
        assert_eq!(v["state"], "ringing-out");
        assert_eq!(v["peerTrust"], "key-changed");
        assert_eq!(v["reason"], "remote-hung-up");
        assert!(v["activeSince"].is_null());
        let p = serde_json::to_value(PresenceChange {
            username: "bob".into(),
            presence: Presence::Online,
        })
        .expect("json");
        assert_eq!(p["presence"], "online");
    }

    #[test]
    fn stats_name_the_path_in_the_contract_spelling() {
        let mut s = engine::call::CallStats::default();
        let none = serde_json::to_value(CallStatsPayload::from_engine("c1", &s)).expect("json");
        assert!(
            none["path"].is_null() && none["ipVersion"].is_null(),
            "{none}"
        );
        s.path = Some("relayed".into());
        s.ip_version = Some(6);
        let v = serde_json::to_value(CallStatsPayload::from_engine("c1", &s)).expect("json");
        assert_eq!(
            (&v["path"], &v["ipVersion"]),
            (&"relayed".into(), &6.into())
        );
        s.path = Some("direct".into());
        s.ip_version = Some(4);
        let v = serde_json::to_value(CallStatsPayload::from_engine("c1", &s)).expect("json");
        assert_eq!((&v["path"], &v["ipVersion"]), (&"direct".into(), &4.into()));
        // Nothing outside the contract reaches the UI.
        s.path = Some("pigeon".into());
        s.ip_version = Some(5);
        let v = serde_json::to_value(CallStatsPayload::from_engine("c1", &s)).expect("json");
        assert!(v["path"].is_null() && v["ipVersion"].is_null(), "{v}");
        assert_eq!(
            serde_json::to_value(EndReason::NoPath).expect("json"),
            "no-path"
        );
    }

    #[test]
    fn levels_stay_in_range() {
        let l = AudioLevels::perceptual(f32::NAN, 4.0);
        assert_eq!(l.mic, 0.0);
        assert_eq!(l.speaker, 1.0);
        assert!((AudioLevels::perceptual(0.25, 0.0).mic - 0.5).abs() < 1e-6);
    }

    #[test]
    fn meter_interval_override_is_bounded() {
        assert_eq!(meter_interval(None), CALL_LEVELS_INTERVAL);
        assert_eq!(meter_interval(Some("100")), Duration::from_millis(100));
        assert_eq!(meter_interval(Some(" 150 ")), Duration::from_millis(150));
        for bad in ["0", "49", "1001", "-5", "fast", ""] {
            assert_eq!(meter_interval(Some(bad)), CALL_LEVELS_INTERVAL, "{bad:?}");
        }
    }

    #[test]
    fn levels_are_rounded_and_repeats_are_dropped() {
        let a = AudioLevels::perceptual(0.2500, 0.01);
        let b = AudioLevels::perceptual(0.2501, 0.0101);
        assert_eq!(a, b, "a change below one meter step is no change");
        assert_eq!(a.mic * METER_STEPS, (a.mic * METER_STEPS).round());
        let mut f = LevelsFilter::default();
        assert_eq!(f.changed(a), Some(a));
        assert_eq!(f.changed(b), None);
        let silent = AudioLevels::perceptual(0.0, 0.0);
        assert_eq!(f.changed(silent), Some(silent));
        assert_eq!(f.changed(silent), None);
        assert_eq!(f.changed(a), Some(a));
    }

    #[test]
    fn trust_follows_the_book() {
        let key = |seed: u8| IdentityKeyPair::from_seed(&[seed; 32]).public().clone();
        let bob = Username::parse("bob").expect("name");
        let mut book = ContactBook::default();
        assert_eq!(trust_in(&book, &bob), Trust::Unverified);
        book.observe(&bob, &key(1));
        let print =
            engine::contacts::Compared::fingerprint(&engine::contacts::fingerprint_hex(&key(1)))
                .expect("hex");
        book.mark_verified(&bob, &print).expect("verified");
        assert_eq!(trust_in(&book, &bob), Trust::Verified);
        book.observe(&bob, &key(2));
        assert_eq!(trust_in(&book, &bob), Trust::KeyChanged);
    }
}
