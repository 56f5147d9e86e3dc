//! The phone's driver: runs [`CallController`] against the registry, the
//! call checks, the gathering of the call's addresses and the media thread.
//!
//! One task owns the controller. It waits on three things: commands from
//! front ends ([`Phone`]'s methods), the registry's push stream, and the
//! results of jobs it started (a registry step, an offer check, the media
//! of a call), and feeds each to the controller, then carries out the
//! actions that come out. It also wakes the controller when its timer
//! ([`CallController::poll_timeout`]) is due. Jobs run as their own tasks, so a slow registry
//! never stalls the others; each is wrapped so that a panic in one (a bug,
//! perhaps reached by a crafted message) comes back as that call's failure
//! and the phone goes on taking calls.
//!
//! Gathering ([`crate::net::gather`]: the call's socket, its host,
//! reflexive and relayed candidates) costs no ring time: the caller gathers
//! before it signs the offer (bounded by [`crate::net::GATHER_TIMEOUT`]),
//! the callee as soon as a verified offer rings, so that answering only
//! waits for whatever of it is still running. The STUN and TURN servers
//! come from the registry, kept between calls ([`ice`](super::ice)).

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::FutureExt;
use proto::handshake::Established;
use proto::identity::IdentityKeyPair;
use proto::signaling::{CallId, ErrorCode, ServerEvent, Username};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};

use super::controller::CallController;
use super::ice::IceCache;
use super::types::{
    Action, CallRef, CallSnapshot, CallState, EndReason, NetSettings, OfferCheck, PhoneError,
    PlaceFailure, StatusReport,
};
use crate::account::{self, HistoryEntry};
use crate::audio::AudioIo;
use crate::call::{Call, CallHandle, CallOptions, CallReport, CallStats};
use crate::contacts::Trust;
use crate::dial::{self, DialError, Ringing, Verified};
use crate::net::{self, GatherOptions, IceServers, MediaTransport};
use crate::profile::Profile;
use crate::recent_offers::RecentOffers;
use crate::registry_client::{RegistryClient, RegistryEvent};

/// Now, in Unix milliseconds: the controller's clock.
pub fn unix_ms() -> u64 {
    crate::clock::unix_now_ms()
}

/// What the phone needs from its front end.
pub trait PhoneHooks: Send + Sync + 'static {
    /// How far the pinned key of `peer` is trusted. The one question the
    /// phone asks the contact book.
    fn trust_of(&self, peer: &Username) -> Trust;
    /// How calls should reach the peer: the socket's address, a forwarded
    /// port, the relay choices. Asked at every call, so a changed setting
    /// applies to the next one.
    fn net_settings(&self) -> NetSettings;
    /// Opens the audio and sets the options of `call`'s media. Runs on the
    /// media thread (a sound server can take a moment); the phone runs the
    /// call with its own [`CallHandle`] for hang-up and mute.
    fn open_media(&self, call: &CallSnapshot) -> Result<(AudioIo, CallOptions), String>;
}

/// What the phone tells a front end.
#[derive(Debug)]
pub enum PhoneEvent {
    /// The call changed (state, SAS, mute, end).
    Call(CallSnapshot),
    /// The media's statistics, once a second.
    Stats(CallRef, Box<CallStats>),
    /// The media's final report, just before the call's `Ended` snapshot.
    Report(CallRef, Box<CallReport>),
    /// The call's media is starting; the handle reads its level meters
    /// (and could mute or hang up, which front ends leave to the phone).
    MediaStarted(CallRef, CallHandle),
    /// An incoming call was refused before it rang.
    Refused {
        /// Who called.
        peer: Username,
        /// Why.
        reason: String,
    },
    /// The push connection changed, or a push that is not about a call
    /// (presence) came in.
    Registry(RegistryEvent),
}

/// Why a call that was placed or answered is not ringing or connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// The command did not fit the call (see [`PhoneError`]).
    Phone(PhoneError),
    /// The call ended instead; its reason and message say why.
    Ended(Box<CallSnapshot>),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Phone(e) => e.fmt(f),
            Self::Ended(s) => match &s.end {
                Some((_, Some(msg))) => f.write_str(msg),
                Some((reason, None)) => write!(f, "the call ended ({reason:?})"),
                None => f.write_str("the call ended"),
            },
        }
    }
}

impl std::error::Error for SetupError {}

type SetupReply = oneshot::Sender<Result<CallSnapshot, SetupError>>;

/// A command from a front end.
enum Command {
    Place(Username, SetupReply),
    Accept(CallRef, SetupReply),
    Reject(CallRef, oneshot::Sender<Result<(), PhoneError>>),
    Refuse(CallRef, String, oneshot::Sender<Result<(), PhoneError>>),
    HangUp(CallRef, oneshot::Sender<Result<(), PhoneError>>),
    Mute(CallRef, bool, oneshot::Sender<Result<(), PhoneError>>),
    Current(oneshot::Sender<Option<CallSnapshot>>),
    Local(
        Box<LocalCall>,
        oneshot::Sender<Result<CallSnapshot, PhoneError>>,
    ),
    Subscribe(Vec<Username>),
    Shutdown(oneshot::Sender<()>),
}

/// How long [`Phone::shutdown`] gives the call in progress to end and the
/// registry steps that free both sides (hang-up, decline) to arrive.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// A call whose keys were agreed without the registry.
struct LocalCall {
    peer: Username,
    label: String,
    established: Box<Established>,
    transport: MediaTransport,
}

/// A call's gathered transport, and whether the registry offered a relay
/// (which the message of a call that finds no path mentions).
struct Prepared {
    candidates: Vec<proto::handshake::Candidate>,
    transport: MediaTransport,
    relay_available: bool,
}

/// What the callee's gathering hands to the answer.
type Gathering = oneshot::Receiver<Result<Prepared, String>>;

/// A call the registry took.
struct Placed {
    ringing: Box<Ringing>,
    transport: MediaTransport,
    id: CallId,
    trust: Trust,
    relay_available: bool,
}

/// Our answer reached the registry.
struct Answered {
    established: Box<Established>,
    transport: MediaTransport,
    trust: Trust,
    relay_available: bool,
}

/// What a job reports back.
enum Done {
    Placed(CallRef, Result<Box<Placed>, PlaceFailure>),
    OfferChecked(CallRef, Result<Box<Verified>, OfferCheck>),
    AcceptSent(CallRef, Result<Box<Answered>, String>),
    AnswerChecked(CallRef, Result<Box<Established>, ()>),
    Status(CallRef, StatusReport),
    Progress(CallRef, Option<String>, u64),
    MediaEnded(CallRef, Result<Box<CallReport>, String>),
    /// A job of this call panicked.
    Panicked(CallRef),
}

/// What the driver holds for a call besides the controller's record.
#[derive(Default)]
struct Held {
    ringing: Option<Box<Ringing>>,
    offer: Vec<u8>,
    verified: Option<Box<Verified>>,
    /// The callee's gathering, started when the call rang.
    gathering: Option<Gathering>,
    transport: Option<MediaTransport>,
    established: Option<Box<Established>>,
    /// The running media's controls, once it started.
    media: Option<CallHandle>,
}

/// Test hooks: make the next offer check or answer panic.
#[derive(Default)]
struct Faults {
    offer: AtomicBool,
    accept: AtomicBool,
}

/// A waiting command: resolved once its call leaves the states it waits
/// through.
struct Waiter {
    call: CallRef,
    reply: Option<SetupReply>,
}

/// The phone of one signed-in account. Cheap to clone; the driver task
/// stops when the last clone is dropped, or at [`Phone::shutdown`], which
/// a front end that is about to exit awaits (see there).
#[derive(Clone)]
pub struct Phone {
    cmds: mpsc::UnboundedSender<Command>,
    faults: Arc<Faults>,
    ice: Arc<IceCache>,
}

struct Driver {
    client: Arc<RegistryClient>,
    ice: Arc<IceCache>,
    identity: Arc<IdentityKeyPair>,
    profile: Profile,
    hooks: Arc<dyn PhoneHooks>,
    seen: Arc<Mutex<RecentOffers>>,
    faults: Arc<Faults>,
    ctl: CallController,
    held: HashMap<CallRef, Held>,
    waiters: Vec<Waiter>,
    events: mpsc::UnboundedSender<PhoneEvent>,
    done_tx: mpsc::UnboundedSender<Done>,
    /// Registry steps in flight that must not be lost (hang-up, decline):
    /// the registry holds both users in a call until one arrives, or until
    /// its disconnect grace runs out.
    steps: Vec<JoinHandle<()>>,
    /// Set by [`Command::Shutdown`]: whom to tell, and by when to stop.
    closing: Option<(oneshot::Sender<()>, Instant)>,
}

impl Phone {
    /// Starts the phone of `client` on the current tokio runtime: opens the
    /// push channel (subscribed to `subscriptions`' presence) and returns
    /// the handle and the stream of events. `seen` is the profile's replay
    /// guard.
    pub fn start(
        client: Arc<RegistryClient>,
        identity: Arc<IdentityKeyPair>,
        profile: Profile,
        seen: RecentOffers,
        hooks: Arc<dyn PhoneHooks>,
        subscriptions: Vec<Username>,
    ) -> (Phone, mpsc::UnboundedReceiver<PhoneEvent>) {
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let faults = Arc::new(Faults::default());
        let ice = Arc::new(IceCache::new(Arc::clone(&client)));
        let stream = client.events(subscriptions);
        let driver = Driver {
            client,
            ice: Arc::clone(&ice),
            identity,
            profile,
            hooks,
            seen: Arc::new(Mutex::new(seen)),
            faults: Arc::clone(&faults),
            ctl: CallController::new(),
            held: HashMap::new(),
            waiters: Vec::new(),
            events,
            done_tx,
            steps: Vec::new(),
            closing: None,
        };
        tokio::spawn(driver.run(cmd_rx, done_rx, stream));
        (Phone { cmds, faults, ice }, events_rx)
    }

    async fn ask<T>(&self, cmd: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(cmd(tx)).ok()?;
        rx.await.ok()
    }

    /// Rings `peer`. Returns the ringing call, or why it never rang (an
    /// offline callee rings, then ends `Offline`: that comes back `Ok`,
    /// and its end follows as an event).
    pub async fn place(&self, peer: Username) -> Result<CallSnapshot, SetupError> {
        self.ask(|tx| Command::Place(peer, tx))
            .await
            .unwrap_or(Err(SetupError::Phone(PhoneError::NoCall)))
    }

    /// Answers the ringing call; returns it connecting, or why not.
    pub async fn accept(&self, call: CallRef) -> Result<CallSnapshot, SetupError> {
        self.ask(|tx| Command::Accept(call, tx))
            .await
            .unwrap_or(Err(SetupError::Phone(PhoneError::NoCall)))
    }

    /// Declines the ringing call.
    pub async fn reject(&self, call: CallRef) -> Result<(), PhoneError> {
        self.ask(|tx| Command::Reject(call, tx))
            .await
            .unwrap_or(Err(PhoneError::NoCall))
    }

    /// Declines the ringing call on the user's behalf, for `reason`.
    pub async fn refuse(&self, call: CallRef, reason: String) -> Result<(), PhoneError> {
        self.ask(|tx| Command::Refuse(call, reason, tx))
            .await
            .unwrap_or(Err(PhoneError::NoCall))
    }

    /// Hangs up, cancels or declines the call.
    pub async fn hang_up(&self, call: CallRef) -> Result<(), PhoneError> {
        self.ask(|tx| Command::HangUp(call, tx))
            .await
            .unwrap_or(Err(PhoneError::NoCall))
    }

    /// Mutes or unmutes the call.
    pub async fn set_muted(&self, call: CallRef, muted: bool) -> Result<(), PhoneError> {
        self.ask(|tx| Command::Mute(call, muted, tx))
            .await
            .unwrap_or(Err(PhoneError::NoCall))
    }

    /// Starts a call whose keys were agreed without the registry (the
    /// app's echo test against a bot in this process): its media starts
    /// at once, and no registry step is sent for it. `label` names it in
    /// the history.
    pub async fn start_local(
        &self,
        peer: Username,
        label: String,
        established: Established,
        transport: MediaTransport,
    ) -> Result<CallSnapshot, PhoneError> {
        let local = LocalCall {
            peer,
            label,
            established: Box::new(established),
            transport,
        };
        self.ask(|tx| Command::Local(Box::new(local), tx))
            .await
            .unwrap_or(Err(PhoneError::NoCall))
    }

    /// The call in progress, if it was shown.
    pub async fn current(&self) -> Option<CallSnapshot> {
        self.ask(Command::Current).await.flatten()
    }

    /// The registry's STUN and TURN servers, as calls get them (asked again
    /// when `refresh`, else while fresh the ones kept); `Err` says why the
    /// registry could not tell. For a settings page.
    pub async fn ice_servers(&self, refresh: bool) -> Result<IceServers, String> {
        self.ice.get(refresh).await
    }

    /// Stops the phone before its front end exits: ends the call in
    /// progress as a hang-up would (cancel, decline, stop the media), waits
    /// for the registry steps that free both users (hang-up, decline) to
    /// be answered, then stops the driver, closing the push connection.
    /// Bounded by [`SHUTDOWN_WAIT`] (a little more if the driver is slow to
    /// notice), so quitting never hangs on an unreachable registry.
    ///
    /// Without it, a process that returns as soon as its call ended can
    /// drop the hang-up in flight; the registry then sees both users in a
    /// call until its disconnect grace runs out, refusing their next call.
    /// Every clone of this phone answers nothing afterwards.
    pub async fn shutdown(&self) {
        let reply = self.ask(Command::Shutdown);
        let _ = tokio::time::timeout(SHUTDOWN_WAIT + Duration::from_millis(500), reply).await;
    }

    /// Replaces the presence subscriptions.
    pub fn subscribe(&self, usernames: Vec<Username>) {
        let _ = self.cmds.send(Command::Subscribe(usernames));
    }

    /// Test hook: the next incoming offer's check panics.
    #[doc(hidden)]
    pub fn fault_next_offer_check(&self) {
        self.faults.offer.store(true, Ordering::SeqCst);
    }

    /// Test hook: the next answer (accept) panics.
    #[doc(hidden)]
    pub fn fault_next_accept(&self) {
        self.faults.accept.store(true, Ordering::SeqCst);
    }
}

/// What a registry error means for a call we place.
fn place_failure(e: DialError) -> PlaceFailure {
    match &e {
        _ if e.is_key_change() => PlaceFailure::KeyChanged,
        DialError::Registry(r) if r.code() == Some(ErrorCode::CalleeOffline) => {
            PlaceFailure::Offline
        }
        DialError::Registry(r) if r.code() == Some(ErrorCode::AlreadyInCall) => {
            PlaceFailure::Failed(
                "the registry still sees you in a call; try again in a moment".into(),
            )
        }
        _ => PlaceFailure::Failed(e.to_string()),
    }
}

impl Driver {
    async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Command>,
        mut done: mpsc::UnboundedReceiver<Done>,
        mut stream: crate::registry_client::EventStream,
    ) {
        loop {
            // Closing: once no call is left, only the registry steps remain.
            let deadline = match &self.closing {
                Some((_, deadline)) if self.ctl.current().is_some() => Some(*deadline),
                Some(_) => break,
                None => None,
            };
            // The controller's timer, from its Unix-ms clock to ours.
            let timer = self
                .ctl
                .poll_timeout()
                .map(|due| Instant::now() + Duration::from_millis(due.saturating_sub(unix_ms())));
            tokio::select! {
                cmd = cmds.recv(), if deadline.is_none() => match cmd {
                    Some(Command::Subscribe(list)) => stream.subscribe(list),
                    Some(Command::Shutdown(reply)) => {
                        self.closing = Some((reply, Instant::now() + SHUTDOWN_WAIT));
                        self.end_current();
                    }
                    Some(cmd) => self.guarded(|d| d.on_command(cmd)),
                    None => break,
                },
                ev = stream.next() => match ev {
                    Some(ev) => self.guarded(|d| d.on_registry(ev)),
                    None => break,
                },
                Some(job) = done.recv() => self.guarded(|d| d.on_done(job)),
                () = sleep_until_or_never(timer) => {
                    self.guarded(|d| d.ctl.handle_timeout(unix_ms()));
                }
                () = sleep_until_or_never(deadline) => break,
            }
            if self.closing.is_some() {
                // A call that could not be ended at once (still placed,
                // its offer still checked) is ended once it can be.
                self.end_current();
            }
        }
        // The front end is gone (or closing): end a live call as it would,
        // and let the steps that free the users reach the registry while
        // the push connection, which may carry them, is still open.
        self.end_current();
        let deadline = self
            .closing
            .as_ref()
            .map_or_else(|| Instant::now() + SHUTDOWN_WAIT, |(_, d)| *d);
        let steps = std::mem::take(&mut self.steps);
        let settled = async {
            for step in steps {
                let _ = step.await;
            }
        };
        if tokio::time::timeout_at(deadline, settled).await.is_err() {
            tracing::warn!(
                "the registry did not confirm the end of the call before the phone stopped"
            );
        }
        if let Some((reply, _)) = self.closing.take() {
            let _ = reply.send(());
        }
        drop(stream);
    }

    /// Hangs up the current call, if any, and carries out what follows.
    fn end_current(&mut self) {
        if let Some(call) = self.ctl.current().map(|s| s.call) {
            let _ = self.ctl.hang_up(unix_ms(), call);
            self.act();
        }
    }

    /// Sends a registry step that must not be lost, kept until it is
    /// answered so that stopping waits for it.
    fn send_step<F>(&mut self, step: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.steps.retain(|s| !s.is_finished());
        self.steps.push(tokio::spawn(step));
    }

    /// Runs one input; a panic in it (a bug) ends the current call as
    /// failed and leaves the phone running.
    fn guarded(&mut self, input: impl FnOnce(&mut Self)) {
        if std::panic::catch_unwind(AssertUnwindSafe(|| input(self))).is_err() {
            tracing::error!("a call's handling panicked; that call is ended");
            if let Some(call) = self.ctl.current().map(|s| s.call) {
                self.fail(call);
            }
        }
        self.act();
    }

    fn fail(&mut self, call: CallRef) {
        self.ctl.fail(
            unix_ms(),
            call,
            "this call failed inside the app and was ended; details are in the log".into(),
        );
    }

    fn on_command(&mut self, cmd: Command) {
        let now = unix_ms();
        match cmd {
            Command::Place(peer, reply) => match self.ctl.place(now, peer) {
                Ok(call) => self.waiters.push(Waiter {
                    call,
                    reply: Some(reply),
                }),
                Err(e) => {
                    let _ = reply.send(Err(SetupError::Phone(e)));
                }
            },
            Command::Accept(call, reply) => match self.ctl.accept(now, call) {
                Ok(()) => self.waiters.push(Waiter {
                    call,
                    reply: Some(reply),
                }),
                Err(e) => {
                    let _ = reply.send(Err(SetupError::Phone(e)));
                }
            },
            Command::Reject(call, reply) => {
                let _ = reply.send(self.ctl.reject(now, call));
            }
            Command::Refuse(call, reason, reply) => {
                let _ = reply.send(self.ctl.refuse(now, call, reason));
            }
            Command::HangUp(call, reply) => {
                let _ = reply.send(self.ctl.hang_up(now, call));
            }
            Command::Mute(call, muted, reply) => {
                let _ = reply.send(self.ctl.set_muted(now, call, muted));
            }
            Command::Current(reply) => {
                let shown = self.ctl.announced().then(|| self.ctl.current().cloned());
                let _ = reply.send(shown.flatten());
            }
            Command::Local(local, reply) => {
                let local = *local;
                let sas = local.established.sas().map(|s| s.to_display_string());
                // Held before the controller asks for the media (in `act`).
                let call = self
                    .ctl
                    .start_local(now, local.peer, local.label, sas)
                    .inspect(|call| {
                        let held = self.held.entry(*call).or_default();
                        held.established = Some(local.established);
                        held.transport = Some(local.transport);
                    });
                let _ = reply.send(call.map(|call| {
                    let mut s = self.ctl.current().cloned().expect("the call just started");
                    s.call = call;
                    s
                }));
            }
            Command::Subscribe(_) | Command::Shutdown(_) => {}
        }
    }

    fn on_registry(&mut self, ev: RegistryEvent) {
        let now = unix_ms();
        match ev {
            RegistryEvent::Connected => {
                // Fetched now, so that the next call does not wait for it.
                let ice = Arc::clone(&self.ice);
                tokio::spawn(async move {
                    let _ = ice.get(false).await;
                });
                self.ctl.handle_connected(now);
                self.emit(PhoneEvent::Registry(RegistryEvent::Connected));
            }
            RegistryEvent::Server(
                ev @ (ServerEvent::IncomingCall { .. }
                | ServerEvent::Accepted { .. }
                | ServerEvent::Rejected { .. }
                | ServerEvent::Ended { .. }
                | ServerEvent::Missed { .. }
                | ServerEvent::Busy { .. }
                | ServerEvent::Cancelled { .. }),
            ) => self.ctl.handle_push(now, ev),
            other => self.emit(PhoneEvent::Registry(other)),
        }
    }

    fn on_done(&mut self, job: Done) {
        let now = unix_ms();
        match job {
            Done::Placed(call, r) => {
                let r = r.map(|placed| {
                    let placed = *placed;
                    self.ctl.handle_gathered(now, call, placed.relay_available);
                    let held = self.held.entry(call).or_default();
                    held.ringing = Some(placed.ringing);
                    held.transport = Some(placed.transport);
                    (placed.id, placed.trust)
                });
                self.ctl.handle_placed(now, call, r);
            }
            Done::OfferChecked(call, r) => {
                let check = match r {
                    Ok(v) => {
                        self.held.entry(call).or_default().verified = Some(v);
                        OfferCheck::Genuine(Trust::Unverified)
                    }
                    Err(c) => c,
                };
                let check = match (check, self.ctl.current().filter(|s| s.call == call)) {
                    (OfferCheck::Genuine(_), Some(s)) => {
                        OfferCheck::Genuine(self.hooks.trust_of(&s.peer))
                    }
                    (c, _) => c,
                };
                self.ctl.handle_offer_checked(now, call, check);
                // It rings (a changed key rings too, flagged): gather now,
                // while the user decides, so answering waits for nothing.
                let ringing = self
                    .ctl
                    .current()
                    .filter(|s| s.call == call && s.state == CallState::RingingIn)
                    .map(|s| s.peer.clone());
                if let Some(peer) = ringing {
                    self.start_gathering(call, peer);
                }
            }
            Done::AcceptSent(call, r) => {
                let r = r.map(|answered| {
                    let answered = *answered;
                    self.ctl
                        .handle_gathered(now, call, answered.relay_available);
                    let held = self.held.entry(call).or_default();
                    held.established = Some(answered.established);
                    held.transport = Some(answered.transport);
                    answered.trust
                });
                self.ctl.handle_accept_sent(now, call, r);
            }
            Done::AnswerChecked(call, r) => {
                let r = r.map(|est| {
                    let sas = est.sas().map(|s| s.to_display_string()).unwrap_or_default();
                    self.held.entry(call).or_default().established = Some(est);
                    sas
                });
                self.ctl.handle_answer_checked(now, call, r);
            }
            Done::Status(call, status) => self.ctl.handle_status(now, call, status),
            Done::Progress(call, sas, packets) => {
                self.ctl
                    .handle_media_progress(now, call, sas.as_deref(), packets);
            }
            Done::MediaEnded(call, r) => {
                self.held.remove(&call);
                let end = match r {
                    Ok(report) => {
                        let end = report.end;
                        self.emit(PhoneEvent::Report(call, report));
                        Ok(end)
                    }
                    Err(e) => Err(e),
                };
                self.ctl.handle_media_ended(now, call, end);
            }
            Done::Panicked(call) => {
                tracing::error!("a call's job panicked; that call is ended");
                self.fail(call);
            }
        }
    }

    fn emit(&self, ev: PhoneEvent) {
        let _ = self.events.send(ev);
    }

    /// Carries out the controller's actions, then settles waiters.
    fn act(&mut self) {
        while let Some(action) = self.ctl.poll_action() {
            self.perform(action);
        }
        let current = self.ctl.current();
        let announced = self.ctl.announced();
        let ended = self.ctl.last_ended();
        for w in &mut self.waiters {
            let settled = match current {
                Some(s) if s.call == w.call => {
                    (announced && s.state != CallState::Answering).then(|| Ok(s.clone()))
                }
                _ => Some(match ended.filter(|s| s.call == w.call) {
                    // An offline callee rang, then ended: that is a
                    // ringing call for the caller's command, as before.
                    Some(s) if s.end.as_ref().map(|e| e.0) == Some(EndReason::Offline) => {
                        Ok(s.clone())
                    }
                    Some(s) => Err(SetupError::Ended(Box::new(s.clone()))),
                    None => Err(SetupError::Phone(PhoneError::NoCall)),
                }),
            };
            if let Some(r) = settled
                && let Some(reply) = w.reply.take()
            {
                let _ = reply.send(r);
            }
        }
        self.waiters.retain(|w| w.reply.is_some());
    }

    /// Spawns a job of `call`; a panic in it comes back as
    /// [`Done::Panicked`].
    fn job(&self, call: CallRef, job: impl Future<Output = Option<Done>> + Send + 'static) {
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let out = match AssertUnwindSafe(job).catch_unwind().await {
                Ok(Some(d)) => d,
                Ok(None) => return,
                Err(_) => Done::Panicked(call),
            };
            let _ = done.send(out);
        });
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Snapshot(s) => self.emit(PhoneEvent::Call(s)),
            Action::Record(entry) => self.record(entry),
            Action::Refused { peer, reason } => {
                tracing::warn!(%peer, %reason, "incoming call refused");
                self.emit(PhoneEvent::Refused { peer, reason });
            }
            Action::Release { call } => {
                if let Some(h) = self.held.remove(&call)
                    && let Some(media) = h.media
                {
                    // Media still runs: stop it; its end is ignored.
                    media.hang_up();
                }
            }
            Action::Reject { id } => {
                let client = Arc::clone(&self.client);
                self.send_step(async move {
                    let _ = client.reject(&id).await;
                });
            }
            Action::Hangup { id } => {
                let client = Arc::clone(&self.client);
                self.send_step(async move {
                    let _ = client.hangup(&id).await;
                });
            }
            Action::Place { call, peer } => self.place(call, peer),
            Action::CheckOffer { call, peer, offer } => self.check_offer(call, peer, offer),
            Action::Accept { call, id, recheck } => self.accept(call, id, recheck),
            Action::CheckAnswer { call, answer } => {
                let ringing = self.held.get_mut(&call).and_then(|h| h.ringing.take());
                self.job(call, async move {
                    let r = match ringing {
                        Some(r) => r.answered(&answer).map(Box::new).map_err(|e| {
                            tracing::warn!(error = %e, "answer did not verify");
                        }),
                        None => Err(()),
                    };
                    Some(Done::AnswerChecked(call, r))
                });
            }
            Action::QueryStatus { call, id } => {
                let client = Arc::clone(&self.client);
                self.job(call, async move {
                    let s = client.status(&id).await.ok()?;
                    Some(Done::Status(
                        call,
                        StatusReport {
                            state: s.state,
                            answer: s.answer.map(|a| a.to_bytes()),
                        },
                    ))
                });
            }
            Action::StartMedia { call, muted } => self.start_media(call, muted),
            Action::StopMedia { call } => {
                if let Some(media) = self.held.get(&call).and_then(|h| h.media.as_ref()) {
                    media.hang_up();
                }
            }
            Action::SetMute { call, muted } => {
                // Before the media starts, the controller keeps the choice
                // and hands it to StartMedia.
                if let Some(media) = self.held.get(&call).and_then(|h| h.media.as_ref()) {
                    media.set_muted(muted);
                }
            }
        }
    }

    fn record(&self, entry: HistoryEntry) {
        if let Err(e) = account::record_call(&self.profile, entry) {
            tracing::warn!(error = %e, "call not added to the history");
        }
    }

    fn place(&mut self, call: CallRef, peer: Username) {
        let (client, identity, profile, hooks, ice) = (
            Arc::clone(&self.client),
            Arc::clone(&self.identity),
            self.profile.clone(),
            Arc::clone(&self.hooks),
            Arc::clone(&self.ice),
        );
        self.job(call, async move {
            let placed = async {
                // Whom we call we chose: the stranger rule is for those
                // who ring us.
                let prepared = prepare(&ice, hooks.net_settings(), true)
                    .await
                    .map_err(PlaceFailure::Failed)?;
                let ringing =
                    dial::place_call(&client, &profile, &identity, &peer, prepared.candidates)
                        .await
                        .map_err(place_failure)?;
                let id = ringing.call_id.clone();
                Ok(Box::new(Placed {
                    ringing: Box::new(ringing),
                    transport: prepared.transport,
                    id,
                    trust: hooks.trust_of(&peer),
                    relay_available: prepared.relay_available,
                }))
            };
            Some(Done::Placed(call, placed.await))
        });
    }

    /// Starts the callee's gathering for the ringing `call` from `peer`;
    /// the answer awaits it.
    fn start_gathering(&mut self, call: CallRef, peer: Username) {
        let (tx, rx) = oneshot::channel();
        self.held.entry(call).or_default().gathering = Some(rx);
        let (profile, hooks, ice) = (
            self.profile.clone(),
            Arc::clone(&self.hooks),
            Arc::clone(&self.ice),
        );
        // Not a `job`: it reports to the answer, not to the controller. A
        // panic drops `tx`, which the answer reads as a failure.
        tokio::spawn(async move {
            let chosen = dial::chosen_contacts(&profile, [])
                .map(|list| list.contains(&peer))
                // An unreadable contact book makes nobody a chosen contact:
                // the stricter choice.
                .unwrap_or(false);
            let prepared = prepare(&ice, hooks.net_settings(), chosen).await;
            // Fails when the call ended meanwhile; the transport just closes.
            let _ = tx.send(prepared);
        });
    }

    fn check_offer(&mut self, call: CallRef, peer: Username, offer: Vec<u8>) {
        self.held.entry(call).or_default().offer = offer.clone();
        let (client, profile, seen, faults) = (
            Arc::clone(&self.client),
            self.profile.clone(),
            Arc::clone(&self.seen),
            Arc::clone(&self.faults),
        );
        self.job(call, async move {
            if faults.offer.swap(false, Ordering::SeqCst) {
                panic!("test hook: checking an incoming call failed");
            }
            let mut seen = seen.lock().await;
            let r = match dial::verify_incoming(&client, &profile, &peer, &offer, &mut seen).await {
                Ok(v) => Ok(Box::new(v)),
                Err(e) if e.is_key_change() => Err(OfferCheck::KeyChanged),
                Err(e) => Err(OfferCheck::Refused(e.to_string())),
            };
            Some(Done::OfferChecked(call, r))
        });
    }

    fn accept(&mut self, call: CallRef, id: CallId, recheck: bool) {
        let held = self.held.entry(call).or_default();
        let verified = held.verified.take();
        let gathering = held.gathering.take();
        let offer = held.offer.clone();
        let peer = self.ctl.current().map(|s| s.peer.clone());
        let (client, identity, profile, seen, hooks, faults) = (
            Arc::clone(&self.client),
            Arc::clone(&self.identity),
            self.profile.clone(),
            Arc::clone(&self.seen),
            Arc::clone(&self.hooks),
            Arc::clone(&self.faults),
        );
        self.job(call, async move {
            if faults.accept.swap(false, Ordering::SeqCst) {
                panic!("test hook: answering a call failed");
            }
            let peer = peer?;
            let answered = async {
                let verified = match (verified, recheck) {
                    (Some(v), false) => *v,
                    // The key change was accepted since the call began
                    // ringing (or not: then this refuses it).
                    _ => {
                        let mut seen = seen.lock().await;
                        dial::verify_incoming(&client, &profile, &peer, &offer, &mut seen)
                            .await
                            .map_err(|e| e.to_string())?
                    }
                };
                let prepared = match gathering {
                    Some(rx) => rx.await.unwrap_or_else(|_| {
                        Err("gathering the call's addresses failed inside the app".into())
                    })?,
                    // Started when the call rang; this is a bug's path.
                    None => return Err("the call's addresses were not gathered".into()),
                };
                let (answer, est) = verified
                    .accept(&identity, prepared.candidates)
                    .map_err(|e| e.to_string())?;
                client
                    .accept(&id, answer)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Box::new(Answered {
                    established: Box::new(est),
                    transport: prepared.transport,
                    trust: hooks.trust_of(&peer),
                    relay_available: prepared.relay_available,
                }))
            };
            Some(Done::AcceptSent(call, answered.await))
        });
    }

    fn start_media(&mut self, call: CallRef, muted: bool) {
        let Some(snap) = self.ctl.current().filter(|s| s.call == call).cloned() else {
            return;
        };
        let held = self.held.entry(call).or_default();
        let (Some(est), Some(transport)) = (held.established.take(), held.transport.take()) else {
            let done = self.done_tx.clone();
            let _ = done.send(Done::MediaEnded(
                call,
                Err("the call's keys were lost before its media started".into()),
            ));
            return;
        };
        let media = CallHandle::default();
        media.set_muted(muted);
        held.media = Some(media.clone());
        self.emit(PhoneEvent::MediaStarted(call, media.clone()));
        let (hooks, events, done) = (
            Arc::clone(&self.hooks),
            self.events.clone(),
            self.done_tx.clone(),
        );
        tokio::spawn(async move {
            let progress = done.clone();
            let media = tokio::task::spawn_blocking(move || {
                let (audio, opts) = hooks.open_media(&snap)?;
                let mut on_stats = |s: &CallStats| {
                    let _ = progress.send(Done::Progress(call, s.sas.clone(), s.packets_received));
                    let _ = events.send(PhoneEvent::Stats(call, Box::new(s.clone())));
                };
                Call::with_handle(*est, transport, audio, opts, media)
                    .and_then(|c| c.run(&mut on_stats))
                    .map(Box::new)
                    .map_err(|e| e.to_string())
            })
            .await;
            let end = match media {
                Ok(r) => r,
                Err(_) => Err("the call's media stopped on an internal error".into()),
            };
            let _ = done.send(Done::MediaEnded(call, end));
        });
    }
}

/// Sleeps until `deadline`; without one, forever.
async fn sleep_until_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Gathers a call's transport under `settings`: the registry's servers
/// (plus the user's own STUN servers), relayed only when the settings say
/// so for a peer who is `chosen` or not. The socket work runs on a
/// blocking thread, bounded by [`net::GATHER_TIMEOUT`]. `Err` is a sentence
/// for the user.
async fn prepare(ice: &IceCache, settings: NetSettings, chosen: bool) -> Result<Prepared, String> {
    let mut servers = ice.for_call().await;
    let relay_available = !servers.turn.is_empty();
    let relay_only = settings
        .relay_only(chosen, relay_available)
        .map_err(|e| e.to_string())?;
    servers.stun.extend(settings.extra_stun.iter().copied());
    let opts = GatherOptions {
        listen: settings.listen,
        advertise: settings.advertise,
        advertise_only: settings.advertise_only,
        relay_only,
        timeout: net::GATHER_TIMEOUT,
    };
    let gathered = tokio::task::spawn_blocking(move || net::gather(&servers, &opts))
        .await
        .map_err(|_| "gathering the call's addresses failed inside the app".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(Prepared {
        candidates: gathered.candidates,
        transport: gathered.transport,
        relay_available,
    })
}
