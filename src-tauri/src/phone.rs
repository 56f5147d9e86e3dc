//! The phone: the account's push connection to the registry and the one
//! call at a time, run on Tauri's tokio runtime.
//!
//! It mirrors the CLI's call flow (crates/cli/src/calls.rs) for a GUI:
//! instead of blocking on one call, it keeps the current call in a small
//! state record ([`Call`]) that commands and registry pushes both move
//! forward, and announces every change as a whole [`CallSnapshot`]. The
//! checks that make a call genuine stay in `engine::dial`.
//!
//! Threads: the push loop and the commands run as async tasks; each call's
//! media runs an `engine::call::Call` on a blocking thread, reporting
//! stats through a callback, while a task polls the level meters. Locks are
//! plain mutexes held only for field updates, never across an `.await`.
//!
//! Panics: a panic while one registry push or one call's task is handled
//! (a bug, perhaps reached by a crafted message) ends that call as
//! failed, with the registry told; the push loop and the phone go on, so
//! the app keeps taking calls ([`Phone::fail_after_panic`]).
//!
//! Ordering: a registry push can overtake the HTTP answer that tells us the
//! id of a call we place (`Busy` is pushed before `initiate` returns). Such
//! pushes are kept in `early` while a call is being placed and replayed
//! once its id is known.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use engine::account::{self, AccountInfo, Direction, HistoryEntry, Outcome};
use engine::audio::{AudioBackend, AudioIo, CpalAudio, NullAudio};
use engine::call::{CallEnd, CallHandle, CallOptions, CallStats};
use engine::contacts::{Contact, ContactBook, Observation};
use engine::dial::{self, Ringing, Verified, bind_media};
use engine::profile::Profile;
use engine::recent_offers::RecentOffers;
use engine::registry_client::{RegistryClient, RegistryEvent};
use proto::handshake::{Established, OfferPolicy};
use proto::identity::{IdentityKeyPair, PublicIdentity};
use proto::signaling::{CallId, ErrorCode, ServerEvent, Username};
use tokio::sync::mpsc;

use crate::error::{AppError, AppResult};
use crate::events::{
    self, AudioLevels, CallDirection, CallSnapshot, CallState, CallStatsPayload, EndReason,
    IncomingCall, KeyChanged, PresenceChange, RegistryState, RegistryStatus, Trust, UiSink, emit,
};
use crate::state::{AppConfig, StoredSettings, trust_in};
use futures_util::{FutureExt, StreamExt, stream};

/// Contact lookups sent to the registry at once when listing contacts.
const CONTACT_LOOKUPS_IN_FLIGHT: usize = 8;
/// An echo test hangs up by itself after this long.
const ECHO_TEST_LIMIT: Duration = Duration::from_secs(300);

/// The signed-in side of the account.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) info: AccountInfo,
    pub(crate) identity: Arc<IdentityKeyPair>,
    pub(crate) client: Arc<RegistryClient>,
    subs: mpsc::UnboundedSender<Vec<Username>>,
    _push: Arc<PushTask>,
}

/// Stops the push loop when the last session handle goes.
struct PushTask(tauri::async_runtime::JoinHandle<()>);

impl Drop for PushTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Switches shared between the call record and its media thread.
#[derive(Clone, Default)]
struct MediaCtl {
    /// Hang-up, mute and level meters of the running media.
    call: CallHandle,
    /// The registry said the peer ended the call.
    remote_ended: Arc<AtomicBool>,
    /// The local echo bot of an echo test, stopped with the call.
    bot_hang_up: Option<CallHandle>,
}

enum Phase {
    /// `start_call` is talking to the registry; nothing emitted yet.
    Placing,
    /// Waiting for the callee's Answer. (The handshake states here and in
    /// `RingingIn` are boxed: they hold KiB of key material, which would
    /// otherwise size every phase alike.)
    RingingOut {
        ringing: Box<Ringing>,
        socket: UdpSocket,
    },
    /// An incoming call is being verified; nothing emitted yet.
    Verifying,
    /// Ringing here; `verified` is `None` while the caller's key change
    /// is not accepted.
    RingingIn {
        caller: Username,
        offer: Vec<u8>,
        verified: Option<Box<Verified>>,
    },
    /// Between the answer and the media start.
    Answering,
    /// Media runs.
    Media {
        ctl: MediaCtl,
        connected_at: Instant,
    },
}

struct Call {
    snap: CallSnapshot,
    registry_id: Option<CallId>,
    started_at_ms: u64,
    phase: Phase,
}

#[derive(Default)]
struct Inner {
    session: Option<Session>,
    call: Option<Call>,
    /// Pushes about calls not known yet (see the module docs).
    early: Vec<ServerEvent>,
    mic_test: Option<Arc<AtomicBool>>,
}

/// Which audio the calls use.
#[derive(Debug, Clone)]
pub enum AudioChoice {
    /// Silence in, nothing out (tests and CI).
    Null,
    /// Sound devices by name; `None` = the system default.
    Devices {
        /// Capture device.
        input: Option<String>,
        /// Playback device.
        output: Option<String>,
    },
}

impl AudioChoice {
    /// Opens the streams (blocking: sound servers can take a moment).
    pub fn open(&self) -> Result<AudioIo, AppError> {
        let opened = match self {
            AudioChoice::Null => NullAudio.open(),
            AudioChoice::Devices { input, output } => CpalAudio {
                input_device: input.clone(),
                output_device: output.clone(),
            }
            .open(),
        };
        opened.map_err(|e| {
            AppError::Device(crate::error::sentence(&format!(
                "The audio device could not be opened: {e}"
            )))
        })
    }
}

/// The phone service. One per app; commands reach it through `AppState`.
pub struct Phone {
    sink: Arc<dyn UiSink>,
    profile: Profile,
    config: AppConfig,
    settings: Mutex<StoredSettings>,
    inner: Mutex<Inner>,
    /// Offers seen recently, kept in the profile across restarts.
    seen: tokio::sync::Mutex<RecentOffers>,
    /// The last `registry-status` sent, for [`Phone::resend_status`].
    link: Mutex<Option<RegistryStatus>>,
    /// Test hook: the next incoming call's handling panics.
    fault_next_incoming: AtomicBool,
    /// Test hook: the next `accept_call` panics.
    fault_next_accept: AtomicBool,
}

/// "042 917" as the call screen's groups, ["042", "917"].
fn sas_groups(display: &str) -> Vec<String> {
    display.split(' ').map(str::to_owned).collect()
}

/// Current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    engine::clock::unix_now_ms()
}

fn random_hex(n: usize) -> AppResult<String> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(AppError::internal)?;
    Ok(account::to_hex(&b))
}

/// Checks a username the way the registry does.
pub fn parse_username(name: &str) -> AppResult<Username> {
    Username::parse(name.trim()).map_err(|_| {
        AppError::InvalidInput(format!(
            "\"{}\" is not a valid username: use 3 to 32 lower-case letters, digits, \
             '_' or '-'.",
            name.chars().take(40).collect::<String>()
        ))
    })
}

/// The fingerprint shown for an identity: 16 hex digits in groups of 4.
pub fn fingerprint(key: &PublicIdentity) -> String {
    let hex = account::to_hex(&key.fingerprint()[..8]);
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Phone {
    /// A phone over `profile`; call [`Phone::start`] once the runtime runs.
    pub fn new(sink: Arc<dyn UiSink>, profile: Profile, config: AppConfig) -> Arc<Self> {
        let settings = StoredSettings::load(&profile);
        let seen = RecentOffers::load(&profile, dial::unix_now(), &OfferPolicy::default())
            .unwrap_or_else(|e| {
                // The ids expire within minutes; starting without them
                // beats refusing every call.
                tracing::error!(error = %e, "seen offers unreadable; starting without them");
                RecentOffers::empty(&profile)
            });
        Arc::new(Self {
            sink,
            profile,
            config,
            settings: Mutex::new(settings),
            inner: Mutex::new(Inner::default()),
            seen: tokio::sync::Mutex::new(seen),
            link: Mutex::new(None),
            fault_next_incoming: AtomicBool::new(false),
            fault_next_accept: AtomicBool::new(false),
        })
    }

    /// Test hook: makes the handling of the next incoming call panic, to
    /// show that one call's panic does not stop the phone.
    #[doc(hidden)]
    pub fn fault_next_incoming(&self) {
        self.fault_next_incoming.store(true, Ordering::SeqCst);
    }

    /// Test hook: makes the next `accept_call` panic while it answers.
    #[doc(hidden)]
    pub fn fault_next_accept(&self) {
        self.fault_next_accept.store(true, Ordering::SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take calls down with it: the record is
        // plain data that stays consistent between field updates.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The profile directory.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The app configuration.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// The stored settings.
    pub fn settings(&self) -> StoredSettings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces and saves the stored settings.
    pub fn save_settings(&self, s: StoredSettings) -> AppResult<()> {
        s.save(&self.profile)?;
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = s;
        Ok(())
    }

    /// The audio the next call or mic test opens.
    pub fn audio_choice(&self) -> AudioChoice {
        if self.config.null_audio {
            return AudioChoice::Null;
        }
        let s = self.settings();
        AudioChoice::Devices {
            input: s.input_device,
            output: s.output_device,
        }
    }

    /// Opens the push connection if this device has an account.
    pub fn start(self: &Arc<Self>) {
        match account::account(&self.profile) {
            Ok(Some(info)) => {
                if let Err(e) = self.open_session(info) {
                    tracing::error!(error = %e, "cannot start the phone");
                }
            }
            Ok(None) => self.status(RegistryState::Offline, None),
            Err(e) => tracing::error!(error = %e, "cannot read the account"),
        }
    }

    fn status(&self, state: RegistryState, message: Option<String>) {
        // Emitted under the lock, so that a resend never overtakes a newer one.
        let mut link = self.link.lock().unwrap_or_else(|p| p.into_inner());
        let status = link.insert(RegistryStatus { state, message });
        emit(&*self.sink, events::REGISTRY_STATUS, &*status);
    }

    /// Sends the last `registry-status` again. The phone starts, and
    /// usually connects, before the page has loaded and subscribed, so the
    /// status sent "after start-up" would otherwise be lost after every
    /// restart; `get_account`, which the UI calls once it listens, calls
    /// this.
    pub fn resend_status(&self) {
        let link = self.link.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(status) = &*link {
            emit(&*self.sink, events::REGISTRY_STATUS, status);
        }
    }

    /// The current session, or `not-signed-up`.
    pub(crate) fn session(&self) -> AppResult<Session> {
        self.lock().session.clone().ok_or(AppError::NotSignedUp)
    }

    /// The session if signed up.
    pub(crate) fn session_opt(&self) -> Option<Session> {
        self.lock().session.clone()
    }

    /// Builds the client for `info` and starts its push loop, replacing
    /// any previous session.
    pub(crate) fn open_session(self: &Arc<Self>, info: AccountInfo) -> AppResult<Session> {
        let identity = Arc::new(account::load_identity(&self.profile)?);
        let user = parse_username(&info.username)?;
        let client = Arc::new(
            RegistryClient::with_options(
                &info.registry,
                user,
                identity.clone(),
                &info.connect_options()?,
            )
            .map_err(|e| AppError::from_registry(e, &info.registry, None))?,
        );
        let (subs, subs_rx) = mpsc::unbounded_channel();
        let initial = self.pinned_usernames();
        let me = Arc::clone(self);
        let push_client = Arc::clone(&client);
        self.status(RegistryState::Connecting, None);
        let task = tauri::async_runtime::spawn(async move {
            me.push_loop(push_client, initial, subs_rx).await;
        });
        let session = Session {
            info,
            identity,
            client,
            subs,
            _push: Arc::new(PushTask(task)),
        };
        self.lock().session = Some(session.clone());
        Ok(session)
    }

    fn pinned_usernames(&self) -> Vec<Username> {
        ContactBook::load(&self.profile)
            .map(|book| book.names().cloned().collect())
            .unwrap_or_default()
    }

    /// Re-sends the presence subscriptions (after a new pin).
    pub(crate) fn resubscribe(&self) {
        if let Some(s) = self.session_opt() {
            let _ = s.subs.send(self.pinned_usernames());
        }
    }

    async fn push_loop(
        self: Arc<Self>,
        client: Arc<RegistryClient>,
        initial: Vec<Username>,
        mut subs_rx: mpsc::UnboundedReceiver<Vec<Username>>,
    ) {
        // The pinned contacts the user chose see our presence, whatever
        // the registry's list lost or never had (pins older than it).
        if let Ok(chosen) = dial::chosen_contacts(&self.profile, []) {
            let sync = Arc::clone(&client);
            tauri::async_runtime::spawn(async move {
                if let Err(e) = sync.ensure_contacts(&chosen).await {
                    tracing::debug!(error = %e, "could not update the contact list at the registry");
                }
            });
        }
        let mut stream = client.events(initial);
        loop {
            tokio::select! {
                ev = stream.next() => match ev {
                    Some(ev) => {
                        let about = call_of(&ev);
                        let handled = AssertUnwindSafe(self.on_registry_event(&client, ev))
                            .catch_unwind()
                            .await;
                        if handled.is_err() {
                            self.fail_after_panic(about.as_deref()).await;
                        }
                    }
                    None => break,
                },
                list = subs_rx.recv() => match list {
                    Some(list) => stream.subscribe(list),
                    None => break,
                },
            }
        }
        self.status(RegistryState::Offline, None);
    }

    /// After a panic while handling call `id` (or an event about no call):
    /// ends the call as failed if it is still the current one and tells
    /// the registry, so that neither side waits on a call nobody handles.
    async fn fail_after_panic(&self, id: Option<&str>) {
        tracing::error!(call = ?id, "a call's handling panicked; that call is ended");
        let Some(id) = id else {
            return;
        };
        let current = {
            let g = self.lock();
            g.call
                .as_ref()
                .filter(|c| c.snap.call_id == id)
                .map(|c| (c.registry_id.clone(), c.snap.direction))
        };
        let Some((registry_id, direction)) = current else {
            return;
        };
        self.finish(
            id,
            EndReason::Failed,
            Some("This call failed inside the app and was ended. Details are in the log.".into()),
            Outcome::Failed,
        );
        if let (Some(s), Some(rid)) = (self.session_opt(), registry_id) {
            // An incoming call is refused; one being answered may already
            // be accepted at the registry, and then only a hang-up ends it.
            let refused =
                direction == CallDirection::Incoming && s.client.reject(&rid).await.is_ok();
            if !refused {
                let _ = s.client.hangup(&rid).await;
            }
        }
    }

    /// Spawns a task of call `id`; a panic in it ends that call.
    fn spawn_call_task(
        self: &Arc<Self>,
        id: String,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let me = Arc::clone(self);
        tauri::async_runtime::spawn(async move {
            if AssertUnwindSafe(task).catch_unwind().await.is_err() {
                me.fail_after_panic(Some(&id)).await;
            }
        });
    }

    async fn on_registry_event(self: &Arc<Self>, client: &Arc<RegistryClient>, ev: RegistryEvent) {
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
            RegistryEvent::Server(ServerEvent::IncomingCall {
                call_id,
                caller,
                offer,
                ..
            }) => {
                let Some(session) = self.session_opt() else {
                    return;
                };
                // A push of an older session (before a registry move).
                if !Arc::ptr_eq(&session.client, client) {
                    return;
                }
                self.on_incoming(&session, call_id, caller, offer.to_bytes())
                    .await;
            }
            RegistryEvent::Server(ev) => self.on_call_event(ev).await,
        }
    }

    /// Moves the current call on a push about it.
    async fn on_call_event(self: &Arc<Self>, ev: ServerEvent) {
        let id = match &ev {
            ServerEvent::Accepted { call_id, .. }
            | ServerEvent::Rejected { call_id }
            | ServerEvent::Ended { call_id, .. }
            | ServerEvent::Missed { call_id, .. }
            | ServerEvent::Busy { call_id, .. }
            | ServerEvent::Cancelled { call_id } => call_id.to_string(),
            _ => return,
        };
        let (direction, placing_other) = {
            let mut g = self.lock();
            match &g.call {
                Some(c) if c.snap.call_id == id => (Some(c.snap.direction), false),
                Some(c) if matches!(c.phase, Phase::Placing) => {
                    g.early.push(ev.clone());
                    (None, true)
                }
                _ => (None, false),
            }
        };
        if placing_other {
            return;
        }
        let Some(direction) = direction else {
            return;
        };
        match ev {
            ServerEvent::Accepted { answer, .. } => {
                self.on_answer(&id, &answer.to_bytes()).await;
            }
            ServerEvent::Rejected { .. } => {
                self.finish(&id, EndReason::Rejected, None, Outcome::Rejected);
            }
            ServerEvent::Busy { .. } => {
                self.finish(&id, EndReason::Busy, None, Outcome::Busy);
            }
            ServerEvent::Missed { .. } | ServerEvent::Cancelled { .. } => {
                self.finish(&id, EndReason::Missed, None, Outcome::Missed);
            }
            ServerEvent::Ended { .. } => {
                let media = {
                    let g = self.lock();
                    g.call.as_ref().and_then(|c| match &c.phase {
                        Phase::Media { ctl, .. } => Some(ctl.clone()),
                        _ => None,
                    })
                };
                match media {
                    // The peer's bye travels in the media; this is the
                    // registry's backup notice. The media task finishes.
                    Some(ctl) => {
                        ctl.remote_ended.store(true, Ordering::SeqCst);
                        ctl.call.hang_up();
                    }
                    None if direction == CallDirection::Incoming => {
                        self.finish(&id, EndReason::Missed, None, Outcome::Missed);
                    }
                    None => {
                        self.finish(
                            &id,
                            EndReason::Failed,
                            Some("The call ended before it was answered.".into()),
                            Outcome::Failed,
                        );
                    }
                }
            }
            _ => {}
        }
    }

    // ----- trust -----------------------------------------------------------

    /// The trust of `name` from the contact book.
    pub(crate) fn trust_of(&self, name: &str) -> Trust {
        match (Username::parse(name), ContactBook::load(&self.profile)) {
            (Ok(user), Ok(book)) => trust_in(&book, &user),
            _ => Trust::Unverified,
        }
    }

    /// Compares the key the registry serves for `name` with the pin: a
    /// difference is remembered (and announced) as a key change, a match
    /// clears an old change mark. Returns the served key, its trust and
    /// the user's presence.
    pub(crate) async fn check_key(
        &self,
        s: &Session,
        name: &Username,
    ) -> AppResult<(PublicIdentity, Trust, proto::signaling::Presence)> {
        let info = s.client.fetch(name).await;
        self.check_fetched(s, name, info)
    }

    /// [`Phone::check_key`] for several contacts, in their order. The
    /// registry is asked about all of them at once (one round trip of
    /// waiting, not one per contact); the answers are then checked one
    /// after another, since a key change is written to the profile.
    pub(crate) async fn check_keys(
        &self,
        s: &Session,
        names: &[Username],
    ) -> Vec<AppResult<(PublicIdentity, Trust, proto::signaling::Presence)>> {
        // A few at a time (the registry limits each account's request
        // rate), the answers in the order of `names`.
        let client = &s.client;
        let answers: Vec<_> = stream::iter(names.iter().cloned())
            .map(|name| async move { client.fetch(&name).await })
            .buffered(CONTACT_LOOKUPS_IN_FLIGHT)
            .collect()
            .await;
        names
            .iter()
            .zip(answers)
            .map(|(name, info)| self.check_fetched(s, name, info))
            .collect()
    }

    /// The second half of [`Phone::check_key`]: `info` is the registry's
    /// answer about `name`.
    fn check_fetched(
        &self,
        s: &Session,
        name: &Username,
        info: Result<proto::signaling::UserInfo, engine::registry_client::RegistryError>,
    ) -> AppResult<(PublicIdentity, Trust, proto::signaling::Presence)> {
        let info =
            info.map_err(|e| AppError::from_registry(e, &s.info.registry, Some(name.as_str())))?;
        let key = PublicIdentity::from_bytes(info.identity_key.as_bytes()).map_err(|_| {
            AppError::Registry(format!("The registry sent a malformed key for {name}."))
        })?;
        self.note_key(name.as_str(), &key)?;
        Ok((key, self.trust_of(name.as_str()), info.presence))
    }

    /// Records what `key` (just shown for `name`) means for its trust: a
    /// contact's key that differs from the pin becomes its pending change
    /// (announced the first time it is seen), the pinned key withdraws one.
    /// Someone who is not a contact is not pinned here.
    pub(crate) fn note_key(&self, name: &str, key: &PublicIdentity) -> AppResult<()> {
        let Ok(user) = Username::parse(name) else {
            return Ok(());
        };
        let newly_changed = ContactBook::update(&self.profile, |book| {
            if !book.contains(&user) {
                return Ok(false);
            }
            let was = book.get(&user).and_then(Contact::pending).cloned();
            Ok(book.observe(&user, key) == Observation::Changed && was.as_ref() != Some(key))
        })?;
        if newly_changed {
            self.announce_key_change(name);
        }
        Ok(())
    }

    fn announce_key_change(&self, name: &str) {
        emit(
            &*self.sink,
            events::KEY_CHANGED,
            &KeyChanged {
                username: name.to_owned(),
            },
        );
    }

    // ----- snapshots and endings --------------------------------------------

    fn snapshot(
        id: String,
        peer: &str,
        direction: CallDirection,
        echo: bool,
        state: CallState,
        trust: Trust,
    ) -> CallSnapshot {
        CallSnapshot {
            call_id: id,
            peer: peer.to_owned(),
            direction,
            echo,
            state,
            peer_trust: trust,
            sas: None,
            active_since: None,
            muted: false,
            reason: None,
            message: None,
        }
    }

    /// The call in progress, for `current_call` (not while it is still
    /// being placed or verified: the UI has not heard of it yet).
    pub fn current(&self) -> Option<CallSnapshot> {
        let g = self.lock();
        g.call
            .as_ref()
            .filter(|c| !matches!(c.phase, Phase::Placing | Phase::Verifying))
            .map(|c| c.snap.clone())
    }

    /// Applies `f` to the call `id` and emits the new snapshot.
    fn update(&self, id: &str, f: impl FnOnce(&mut Call)) -> Option<CallSnapshot> {
        let snap = {
            let mut g = self.lock();
            let call = g.call.as_mut().filter(|c| c.snap.call_id == id)?;
            f(call);
            call.snap.clone()
        };
        emit(&*self.sink, events::CALL_STATE, &snap);
        Some(snap)
    }

    /// Ends call `id` once: emits `ended`, writes the history entry.
    /// Returns false if the call was already over.
    fn finish(
        &self,
        id: &str,
        reason: EndReason,
        message: Option<String>,
        outcome: Outcome,
    ) -> bool {
        let call = {
            let mut g = self.lock();
            match g.call.as_ref() {
                Some(c) if c.snap.call_id == id => g.call.take(),
                _ => None,
            }
        };
        let Some(mut call) = call else {
            return false;
        };
        let talked = match &call.phase {
            Phase::Media { ctl, connected_at } => {
                ctl.call.hang_up();
                if let Some(bot) = &ctl.bot_hang_up {
                    bot.hang_up();
                }
                connected_at.elapsed().as_secs()
            }
            _ => 0,
        };
        let silent = matches!(call.phase, Phase::Placing | Phase::Verifying);
        call.snap.state = CallState::Ended;
        call.snap.reason = Some(reason);
        call.snap.message = message;
        let entry = HistoryEntry {
            call_id: call.snap.call_id.clone(),
            peer: call.snap.peer.clone(),
            direction: match call.snap.direction {
                CallDirection::Outgoing => Direction::Outgoing,
                CallDirection::Incoming => Direction::Incoming,
            },
            // The engine's history keeps seconds.
            started_at: call.started_at_ms / 1000,
            duration_s: talked,
            outcome,
        };
        if let Err(e) = account::record_call(&self.profile, entry) {
            tracing::warn!(error = %e, "call not added to the history");
        }
        // After the history is written: the UI reloads it on `ended`.
        if !silent {
            emit(&*self.sink, events::CALL_STATE, &call.snap);
        }
        true
    }

    /// Drops a call that was never announced (placing failed).
    fn forget(&self, id: &str) {
        let mut g = self.lock();
        if g.call.as_ref().is_some_and(|c| c.snap.call_id == id) {
            g.call = None;
        }
        g.early.clear();
    }

    /// Reserves the one call slot for a new call.
    fn reserve(&self, call: Call) -> AppResult<()> {
        let mut g = self.lock();
        if g.call.is_some() {
            return Err(AppError::Busy(
                "You are already in a call. Hang up first.".into(),
            ));
        }
        if let Some(stop) = g.mic_test.take() {
            stop.store(true, Ordering::SeqCst);
        }
        g.call = Some(call);
        Ok(())
    }

    // ----- outgoing -------------------------------------------------------

    /// Rings `name`. With `echo`, the snapshot is marked as the echo test.
    pub async fn start_call(self: &Arc<Self>, name: &str, echo: bool) -> AppResult<CallSnapshot> {
        let callee = parse_username(name)?;
        let s = self.session()?;
        if callee.as_str() == s.info.username {
            return Err(AppError::InvalidInput("You cannot call yourself.".into()));
        }
        let placeholder = format!("placing-{}", random_hex(8)?);
        let started = now_ms();
        self.reserve(Call {
            snap: Self::snapshot(
                placeholder.clone(),
                callee.as_str(),
                CallDirection::Outgoing,
                echo,
                CallState::RingingOut,
                Trust::Unverified,
            ),
            registry_id: None,
            started_at_ms: started,
            phase: Phase::Placing,
        })?;
        match self.place(&s, &callee).await {
            Ok((ringing, socket, trust)) => {
                let id = ringing.call_id.clone();
                let snap = self.update(&placeholder, |c| {
                    c.snap.call_id = id.to_string();
                    c.snap.peer_trust = trust;
                    c.registry_id = Some(id.clone());
                    c.phase = Phase::RingingOut {
                        ringing: Box::new(ringing),
                        socket,
                    };
                });
                let Some(snap) = snap else {
                    // Shut down while placing.
                    let _ = s.client.hangup(&id).await;
                    return Err(AppError::NoCall("The call was stopped.".into()));
                };
                let early = std::mem::take(&mut self.lock().early);
                for ev in early {
                    self.on_call_event(ev).await;
                }
                Ok(snap)
            }
            Err(PlaceError::Offline(trust)) => {
                // The contract: return the ringing snapshot, then end it.
                let snap = self.update(&placeholder, |c| {
                    c.snap.peer_trust = trust;
                    c.phase = Phase::Answering;
                });
                let me = Arc::clone(self);
                let task_id = placeholder.clone();
                self.spawn_call_task(task_id, async move {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    me.finish(&placeholder, EndReason::Offline, None, Outcome::Missed);
                });
                snap.ok_or_else(|| AppError::NoCall("The call was stopped.".into()))
            }
            Err(PlaceError::App(e)) => {
                self.forget(&placeholder);
                Err(e)
            }
        }
    }

    async fn place(
        &self,
        s: &Session,
        callee: &Username,
    ) -> Result<(Ringing, UdpSocket, Trust), PlaceError> {
        let (_, trust, _) = self.check_key(s, callee).await?;
        if trust == Trust::KeyChanged {
            return Err(AppError::KeyChanged(callee.to_string()).into());
        }
        let advertise = self.advertise()?;
        let (socket, candidates) = bind_media(SocketAddr::from(([0, 0, 0, 0], 0)), advertise)
            .map_err(AppError::internal)?;
        match dial::place_call(&s.client, &self.profile, &s.identity, callee, candidates).await {
            Ok(ringing) => {
                // A first call pins the key: presence of the new contact.
                self.resubscribe();
                Ok((ringing, socket, self.trust_of(callee.as_str())))
            }
            Err(dial::DialError::Registry(e)) if e.code() == Some(ErrorCode::CalleeOffline) => {
                Err(PlaceError::Offline(trust))
            }
            Err(dial::DialError::Registry(e)) if e.code() == Some(ErrorCode::AlreadyInCall) => {
                Err(AppError::Busy(
                    "The registry still sees you in a call. Try again in a moment.".into(),
                )
                .into())
            }
            Err(e) => Err(AppError::from_dial(e, &s.info.registry, callee.as_str()).into()),
        }
    }

    fn advertise(&self) -> AppResult<Option<SocketAddr>> {
        match self.settings().advertise_address {
            None => Ok(None),
            Some(a) => a.parse().map(Some).map_err(|_| {
                AppError::InvalidInput(format!(
                    "The advertised address \"{a}\" in the settings is not host:port."
                ))
            }),
        }
    }

    async fn on_answer(self: &Arc<Self>, id: &str, answer: &[u8]) {
        let taken = {
            let mut g = self.lock();
            match g.call.as_mut() {
                Some(c) if c.snap.call_id == id && matches!(c.phase, Phase::RingingOut { .. }) => {
                    match std::mem::replace(&mut c.phase, Phase::Answering) {
                        Phase::RingingOut { ringing, socket } => {
                            Some((*ringing, socket, c.registry_id.clone()))
                        }
                        _ => None,
                    }
                }
                _ => None,
            }
        };
        let Some((ringing, socket, registry_id)) = taken else {
            return;
        };
        let peer = ringing.callee.to_string();
        match ringing.answered(answer) {
            Ok(est) => {
                self.start_media(id, est, socket, None);
            }
            Err(e) => {
                tracing::warn!(error = %e, "answer did not verify");
                if let (Some(s), Some(rid)) = (self.session_opt(), registry_id) {
                    let _ = s.client.hangup(&rid).await;
                }
                self.finish(
                    id,
                    EndReason::Failed,
                    Some(format!(
                        "The answer from {peer} did not verify; the call was ended."
                    )),
                    Outcome::Failed,
                );
            }
        }
    }

    /// Cancels our ringing call.
    pub async fn cancel_call(&self, id: &str) -> AppResult<()> {
        let registry_id = {
            let g = self.lock();
            match g.call.as_ref() {
                Some(c) if c.snap.call_id == id && c.snap.direction == CallDirection::Outgoing => {
                    if !matches!(c.phase, Phase::RingingOut { .. }) {
                        return Err(AppError::NoCall(
                            "The call was already answered; hang up instead.".into(),
                        ));
                    }
                    c.registry_id.clone()
                }
                _ => return Err(no_call()),
            }
        };
        self.finish(id, EndReason::Cancelled, None, Outcome::Cancelled);
        if let (Some(s), Some(rid)) = (self.session_opt(), registry_id) {
            let _ = s.client.hangup(&rid).await;
        }
        Ok(())
    }

    // ----- incoming -------------------------------------------------------

    async fn on_incoming(
        self: &Arc<Self>,
        s: &Session,
        call_id: CallId,
        caller: Username,
        offer: Vec<u8>,
    ) {
        let id = call_id.to_string();
        let reserved = self.reserve(Call {
            snap: Self::snapshot(
                id.clone(),
                caller.as_str(),
                CallDirection::Incoming,
                false,
                CallState::RingingIn,
                Trust::Unverified,
            ),
            registry_id: Some(call_id.clone()),
            started_at_ms: now_ms(),
            phase: Phase::Verifying,
        });
        if reserved.is_err() {
            // One call at a time: answer busy ourselves, and remember it.
            let _ = s.client.reject(&call_id).await;
            record_missed(&self.profile, &id, caller.as_str(), Outcome::Busy);
            return;
        }
        if self.fault_next_incoming.swap(false, Ordering::SeqCst) {
            panic!("test hook: handling an incoming call failed");
        }
        let verified = {
            let mut seen = self.seen.lock().await;
            dial::verify_incoming(&s.client, &self.profile, &caller, &offer, &mut seen).await
        };
        let verified = match verified {
            Ok(v) => Some(Box::new(v)),
            Err(e) if e.is_key_change() => {
                // Ring anyway, flagged: the user may compare and accept.
                // The check above kept the new key as the pending change.
                self.announce_key_change(caller.as_str());
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, %caller, "incoming call refused");
                let _ = s.client.reject(&call_id).await;
                self.finish(&id, EndReason::Failed, None, Outcome::Failed);
                return;
            }
        };
        let trust = if verified.is_some() {
            self.trust_of(caller.as_str())
        } else {
            Trust::KeyChanged
        };
        let updated = self.update(&id, |c| {
            c.snap.peer_trust = trust;
            c.phase = Phase::RingingIn {
                caller: caller.clone(),
                offer,
                verified,
            };
        });
        if updated.is_none() {
            return;
        }
        emit(
            &*self.sink,
            events::INCOMING_CALL,
            &IncomingCall {
                call_id: id,
                peer: caller.to_string(),
                peer_trust: trust,
            },
        );
        if self.settings().notifications {
            self.sink.notify(
                "Incoming pqvoice call",
                &format!("{caller} is calling you."),
            );
        }
        self.sink.raise_window();
    }

    /// Answers the ringing call `id`. Answering may check the caller's
    /// offer again (when a key change was accepted while it rang); a panic
    /// in there ends this call, as one in a call task does.
    pub async fn accept_call(self: &Arc<Self>, id: &str) -> AppResult<CallSnapshot> {
        match AssertUnwindSafe(self.answer(id)).catch_unwind().await {
            Ok(answered) => answered,
            Err(_) => {
                self.fail_after_panic(Some(id)).await;
                Err(AppError::internal("answering a call panicked"))
            }
        }
    }

    async fn answer(self: &Arc<Self>, id: &str) -> AppResult<CallSnapshot> {
        let s = self.session()?;
        let (caller, offer, verified, registry_id) = {
            let mut g = self.lock();
            let c = g
                .call
                .as_mut()
                .filter(|c| c.snap.call_id == id)
                .ok_or_else(no_call)?;
            let Phase::RingingIn {
                caller, verified, ..
            } = &c.phase
            else {
                return Err(AppError::NoCall(
                    "This call is not ringing any more.".into(),
                ));
            };
            if verified.is_none() && self.trust_of(caller.as_str()) == Trust::KeyChanged {
                return Err(AppError::KeyChanged(caller.to_string()));
            }
            match std::mem::replace(&mut c.phase, Phase::Answering) {
                Phase::RingingIn {
                    caller,
                    offer,
                    verified,
                } => (caller, offer, verified, c.registry_id.clone()),
                _ => return Err(no_call()),
            }
        };
        let registry_id = registry_id.ok_or_else(no_call)?;
        if self.fault_next_accept.swap(false, Ordering::SeqCst) {
            panic!("test hook: answering a call failed");
        }
        let fail = |e: AppError| {
            self.finish(id, EndReason::Failed, Some(e.to_string()), Outcome::Failed);
            e
        };
        let verified = match verified {
            Some(v) => *v,
            None => {
                // The key change was accepted since the call began ringing.
                let mut seen = self.seen.lock().await;
                dial::verify_incoming(&s.client, &self.profile, &caller, &offer, &mut seen)
                    .await
                    .map_err(|e| fail(AppError::from_dial(e, &s.info.registry, caller.as_str())))?
            }
        };
        let advertise = self.advertise().map_err(fail)?;
        let (socket, candidates) = bind_media(SocketAddr::from(([0, 0, 0, 0], 0)), advertise)
            .map_err(|e| fail(AppError::internal(e)))?;
        let (answer, est) = verified
            .accept(&s.identity, candidates)
            .map_err(|e| fail(AppError::from_dial(e, &s.info.registry, caller.as_str())))?;
        s.client.accept(&registry_id, answer).await.map_err(|e| {
            fail(AppError::from_registry(
                e,
                &s.info.registry,
                Some(caller.as_str()),
            ))
        })?;
        self.update(id, |c| c.snap.peer_trust = self.trust_of(caller.as_str()));
        self.start_media(id, est, socket, None)
            .ok_or_else(|| AppError::NoCall("The caller hung up.".into()))
    }

    /// Declines the ringing call `id`.
    pub async fn reject_call(&self, id: &str) -> AppResult<()> {
        let registry_id = {
            let g = self.lock();
            match g.call.as_ref() {
                Some(c) if c.snap.call_id == id && matches!(c.phase, Phase::RingingIn { .. }) => {
                    c.registry_id.clone()
                }
                Some(c) if c.snap.call_id == id => {
                    return Err(AppError::NoCall(
                        "This call is not ringing any more.".into(),
                    ));
                }
                _ => return Err(no_call()),
            }
        };
        self.finish(id, EndReason::Rejected, None, Outcome::Rejected);
        if let (Some(s), Some(rid)) = (self.session_opt(), registry_id) {
            let _ = s.client.reject(&rid).await;
        }
        Ok(())
    }

    // ----- in call --------------------------------------------------------

    /// Hangs up call `id` (cancels or declines it while it rings).
    pub async fn hang_up(&self, id: &str) -> AppResult<()> {
        enum Act {
            Media(MediaCtl),
            Cancel,
            Reject,
        }
        let act = {
            let g = self.lock();
            match g.call.as_ref() {
                Some(c) if c.snap.call_id == id => match &c.phase {
                    Phase::Media { ctl, .. } => Act::Media(ctl.clone()),
                    Phase::RingingOut { .. } => Act::Cancel,
                    Phase::RingingIn { .. } => Act::Reject,
                    _ => {
                        return Err(AppError::NoCall(
                            "The call is still being set up; try again in a moment.".into(),
                        ));
                    }
                },
                _ => return Err(no_call()),
            }
        };
        match act {
            // The media task sees the switch, says bye to the peer and
            // finishes the call as `hung-up`.
            Act::Media(ctl) => {
                ctl.call.hang_up();
                Ok(())
            }
            Act::Cancel => self.cancel_call(id).await,
            Act::Reject => self.reject_call(id).await,
        }
    }

    /// Mutes or unmutes the current call.
    pub fn set_mute(&self, muted: bool) -> AppResult<()> {
        let id = {
            let g = self.lock();
            let c = g
                .call
                .as_ref()
                .filter(|c| !matches!(c.phase, Phase::Placing | Phase::Verifying))
                .ok_or_else(|| AppError::NoCall("There is no call to mute.".into()))?;
            if let Phase::Media { ctl, .. } = &c.phase {
                ctl.call.set_muted(muted);
            }
            c.snap.call_id.clone()
        };
        self.update(&id, |c| c.snap.muted = muted);
        Ok(())
    }

    /// Starts the media of call `id` on its own thread; returns the
    /// `connecting` snapshot, or `None` if the call is gone.
    fn start_media(
        self: &Arc<Self>,
        id: &str,
        est: Established,
        socket: UdpSocket,
        bot_hang_up: Option<CallHandle>,
    ) -> Option<CallSnapshot> {
        // The caller knows the SAS now; the callee once the caller's first
        // packets reveal it (then `on_stats` fills it in).
        let sas = est.sas().map(|s| sas_groups(&s.to_display_string()));
        let ctl = MediaCtl {
            bot_hang_up,
            ..MediaCtl::default()
        };
        let mut echo = false;
        let snap = self.update(id, |c| {
            // Mute chosen while it rang carries over.
            ctl.call.set_muted(c.snap.muted);
            echo = c.snap.echo;
            c.snap.state = CallState::Connecting;
            c.snap.sas = sas;
            c.phase = Phase::Media {
                ctl: ctl.clone(),
                connected_at: Instant::now(),
            };
        });
        let Some(snap) = snap else {
            if let Some(bot) = &ctl.bot_hang_up {
                bot.hang_up();
            }
            return None;
        };
        let opts = CallOptions {
            duration: echo.then_some(ECHO_TEST_LIMIT),
            // Silent test audio has no echo or noise to remove; skipping the
            // DSP also keeps unoptimised debug builds in real time.
            dsp: if self.config.null_audio {
                engine::dsp::DspConfig::off()
            } else {
                engine::dsp::DspConfig::default()
            },
            // The least the playback ring keeps queued; the call keeps more
            // when the device takes larger chunks (`PlaybackTarget`).
            playback_low_water: Duration::from_millis(10),
            ..CallOptions::default()
        };
        let me = Arc::clone(self);
        let id = id.to_owned();
        self.spawn_call_task(id.clone(), async move {
            me.run_media(id, est, socket, opts, ctl).await;
        });
        Some(snap)
    }

    async fn run_media(
        self: Arc<Self>,
        id: String,
        est: Established,
        socket: UdpSocket,
        opts: CallOptions,
        ctl: MediaCtl,
    ) {
        let running = Arc::new(AtomicBool::new(true));
        let meters = {
            let (levels, running, sink) = (ctl.call.clone(), running.clone(), self.sink.clone());
            tauri::async_runtime::spawn(async move {
                let mut tick = tokio::time::interval(events::call_levels_interval());
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut filter = events::LevelsFilter::default();
                while running.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let (mic, speaker) = levels.levels().take();
                    let now = AudioLevels::perceptual(mic, speaker);
                    if let Some(l) = filter.changed(now) {
                        emit(&*sink, events::AUDIO_LEVELS, &l);
                    }
                }
            })
        };
        let choice = self.audio_choice();
        let me = Arc::clone(&self);
        let media_id = id.clone();
        let call = ctl.call.clone();
        let result = tauri::async_runtime::spawn_blocking(move || {
            let audio = choice.open()?;
            let mut on_stats = |s: &CallStats| me.on_stats(&media_id, s);
            engine::call::Call::with_handle(est, socket, audio, opts, call)
                .and_then(|c| c.run(&mut on_stats))
                .map_err(AppError::internal)
        })
        .await;
        running.store(false, Ordering::Relaxed);
        meters.abort();
        if let Some(bot) = &ctl.bot_hang_up {
            bot.hang_up();
        }
        let remote = ctl.remote_ended.load(Ordering::SeqCst);
        if let Ok(Ok(report)) = &result {
            // The call's media health, for a user's bug report: nothing
            // here identifies the peer or the keys.
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
        let (reason, message, outcome) = match result {
            Ok(Ok(report)) => match report.end {
                CallEnd::HungUp if remote => (EndReason::RemoteHungUp, None, Outcome::Completed),
                CallEnd::HungUp | CallEnd::Finished => {
                    (EndReason::HungUp, None, Outcome::Completed)
                }
                CallEnd::PeerHungUp => (EndReason::RemoteHungUp, None, Outcome::Completed),
                CallEnd::TimedOut => (
                    EndReason::ConnectionLost,
                    Some("Nothing was received from the other side for 10 seconds.".into()),
                    Outcome::Failed,
                ),
                CallEnd::DeviceLost => (
                    EndReason::Failed,
                    Some("The sound device was lost.".into()),
                    Outcome::Failed,
                ),
                CallEnd::SasMismatch => (
                    EndReason::Failed,
                    Some(
                        "The security check failed: the caller's SAS did not match what its \
                         offer committed to. The call may have been intercepted."
                            .into(),
                    ),
                    Outcome::Failed,
                ),
            },
            Ok(Err(e)) => (EndReason::Failed, Some(e.to_string()), Outcome::Failed),
            Err(e) => (
                EndReason::Failed,
                Some(AppError::internal(e).to_string()),
                Outcome::Failed,
            ),
        };
        let registry_id = {
            let g = self.lock();
            g.call
                .as_ref()
                .filter(|c| c.snap.call_id == id)
                .and_then(|c| c.registry_id.clone())
        };
        self.finish(&id, reason, message, outcome);
        // Tell the registry the call is over, as the CLI does after media.
        if let (Some(s), Some(rid), false) = (self.session_opt(), registry_id, remote) {
            let _ = s.client.hangup(&rid).await;
        }
    }

    fn on_stats(&self, id: &str, s: &CallStats) {
        emit(
            &*self.sink,
            events::CALL_STATS,
            &CallStatsPayload::from_engine(id, s),
        );
        // The callee learns the SAS from the caller's first packets.
        if let Some(sas) = &s.sas {
            let missing = {
                let g = self.lock();
                g.call
                    .as_ref()
                    .is_some_and(|c| c.snap.call_id == id && c.snap.sas.is_none())
            };
            if missing {
                let groups = sas_groups(sas);
                self.update(id, |c| c.snap.sas = Some(groups));
            }
        }
        // The first authenticated packets from the peer make the call active,
        // once the SAS is known: an active call always shows it.
        let connecting = {
            let g = self.lock();
            g.call.as_ref().is_some_and(|c| {
                c.snap.call_id == id
                    && c.snap.state == CallState::Connecting
                    && c.snap.sas.is_some()
            })
        };
        if connecting && s.packets_received > 0 {
            let since = now_ms();
            self.update(id, |c| {
                c.snap.state = CallState::Active;
                c.snap.active_since = Some(since);
            });
        }
    }

    // ----- echo test ------------------------------------------------------

    /// The echo test: the registry-side echo bot if it is online, else a
    /// bot in this process over loopback.
    pub async fn echo_test(self: &Arc<Self>) -> AppResult<CallSnapshot> {
        let s = self.session()?;
        let bot = parse_username(&self.config.echo_bot)?;
        if bot.as_str() != s.info.username {
            let online = match s.client.fetch(&bot).await {
                Ok(info) => info.presence != proto::signaling::Presence::Offline,
                Err(_) => false,
            };
            if online {
                return self.start_call(bot.as_str(), true).await;
            }
        }
        self.local_echo(&s, &bot)
    }

    fn local_echo(self: &Arc<Self>, s: &Session, bot: &Username) -> AppResult<CallSnapshot> {
        let id = format!("echo-{}", random_hex(8)?);
        let snap = Self::snapshot(
            id.clone(),
            bot.as_str(),
            CallDirection::Outgoing,
            true,
            CallState::RingingOut,
            Trust::Verified,
        );
        self.reserve(Call {
            snap: snap.clone(),
            registry_id: None,
            started_at_ms: now_ms(),
            phase: Phase::Answering,
        })?;
        emit(&*self.sink, events::CALL_STATE, &snap);
        let me = Arc::clone(self);
        let (identity, caller) = (s.identity.clone(), s.info.username.clone());
        let bot = bot.clone();
        self.spawn_call_task(id.clone(), async move {
            let made = tauri::async_runtime::spawn_blocking(move || {
                crate::echo::connect(&identity, &caller, &bot)
            })
            .await;
            match made {
                Ok(Ok(pair)) => {
                    if me
                        .start_media(
                            &id,
                            pair.caller,
                            pair.socket,
                            Some(pair.bot_hang_up.clone()),
                        )
                        .is_none()
                    {
                        pair.bot_hang_up.hang_up();
                    }
                }
                Ok(Err(e)) => {
                    me.finish(&id, EndReason::Failed, Some(e.to_string()), Outcome::Failed);
                }
                Err(e) => {
                    me.finish(
                        &id,
                        EndReason::Failed,
                        Some(AppError::internal(e).to_string()),
                        Outcome::Failed,
                    );
                }
            }
        });
        Ok(snap)
    }

    // ----- mic test -------------------------------------------------------

    /// Opens the microphone and reports its level until stopped.
    pub fn start_mic_test(&self) -> AppResult<()> {
        let stop = Arc::new(AtomicBool::new(false));
        {
            let mut g = self.lock();
            if g.call.is_some() {
                return Err(AppError::Busy(
                    "The microphone test is not available during a call.".into(),
                ));
            }
            if g.mic_test.is_some() {
                return Ok(());
            }
            g.mic_test = Some(stop.clone());
        }
        let choice = self.audio_choice();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sink = self.sink.clone();
        let thread_stop = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("pqvoice-mic-test".into())
            .spawn(move || crate::devices::mic_test(choice, thread_stop, ready_tx, sink));
        if let Err(e) = spawned {
            self.lock().mic_test = None;
            return Err(AppError::internal(e));
        }
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.lock().mic_test = None;
                Err(e)
            }
            Err(_) => {
                self.lock().mic_test = None;
                Err(AppError::Device(
                    "The microphone test stopped unexpectedly.".into(),
                ))
            }
        }
    }

    /// Stops the mic test (idempotent).
    pub fn stop_mic_test(&self) {
        if let Some(stop) = self.lock().mic_test.take() {
            stop.store(true, Ordering::SeqCst);
        }
    }

    // ----- lifecycle ------------------------------------------------------

    /// Replaces the session after the account moved to another registry.
    pub(crate) fn close_session(&self) {
        let old = self.lock().session.take();
        drop(old);
    }

    /// Hangs up whatever runs; used when the app exits.
    pub fn shutdown(&self) {
        self.stop_mic_test();
        let call = {
            let g = self.lock();
            g.call.as_ref().map(|c| {
                (
                    c.snap.call_id.clone(),
                    c.registry_id.clone(),
                    matches!(c.phase, Phase::RingingIn { .. }),
                )
            })
        };
        if let Some((id, registry_id, incoming_ringing)) = call {
            let outcome = if incoming_ringing {
                Outcome::Missed
            } else {
                Outcome::Completed
            };
            self.finish(&id, EndReason::HungUp, None, outcome);
            if let (Some(s), Some(rid)) = (self.session_opt(), registry_id) {
                // Bounded: quitting must not hang on an unreachable registry.
                let _ = tauri::async_runtime::block_on(async move {
                    let act = async {
                        if incoming_ringing {
                            s.client.reject(&rid).await
                        } else {
                            s.client.hangup(&rid).await
                        }
                    };
                    tokio::time::timeout(Duration::from_secs(2), act).await
                });
            }
        }
        self.close_session();
    }

    /// The bot name of the echo test (for history entries).
    pub fn echo_bot(&self) -> &str {
        &self.config.echo_bot
    }
}

/// The call a registry push is about, in the form of [`CallSnapshot::call_id`].
fn call_of(ev: &RegistryEvent) -> Option<String> {
    match ev {
        RegistryEvent::Server(
            ServerEvent::IncomingCall { call_id, .. }
            | ServerEvent::Accepted { call_id, .. }
            | ServerEvent::Rejected { call_id }
            | ServerEvent::Ended { call_id, .. }
            | ServerEvent::Missed { call_id, .. }
            | ServerEvent::Busy { call_id, .. }
            | ServerEvent::Cancelled { call_id },
        ) => Some(call_id.to_string()),
        _ => None,
    }
}

fn no_call() -> AppError {
    AppError::NoCall("That call is not in progress any more.".into())
}

fn record_missed(profile: &Profile, id: &str, peer: &str, outcome: Outcome) {
    let entry = HistoryEntry {
        call_id: id.to_owned(),
        peer: peer.to_owned(),
        direction: Direction::Incoming,
        started_at: now_ms() / 1000,
        duration_s: 0,
        outcome,
    };
    if let Err(e) = account::record_call(profile, entry) {
        tracing::warn!(error = %e, "call not added to the history");
    }
}

/// Why placing a call did not ring.
enum PlaceError {
    /// The callee is not connected (trust of their key attached).
    Offline(Trust),
    /// Anything the command reports as an error.
    App(AppError),
}

impl From<AppError> for PlaceError {
    fn from(e: AppError) -> Self {
        PlaceError::App(e)
    }
}
