//! The call controller: what happens to the one call of a phone, decided
//! without I/O.
//!
//! Inputs are the user's commands (`place`, `accept`, `reject`, `refuse`,
//! `hang_up`, `set_muted`), the registry's pushes and the answers to the
//! steps it was asked to send, the results of the checks the driver ran
//! (offer, answer), and the media's progress and end. Every input takes
//! `now` (Unix milliseconds); the controller never reads a clock.
//! Outputs are [`Action`]s, drained with [`CallController::poll_action`]
//! after every input, in order. The one timer it keeps is read with
//! [`CallController::poll_timeout`]: once that time has come, the driver
//! calls [`CallController::handle_timeout`] (and drains the actions).
//!
//! Only one call exists at a time. A second incoming call is refused as
//! busy and remembered in the history; a second `place` is an error.
//!
//! The crypto objects of a call (the offer waiting for its answer, the
//! verified offer, the established keys, the media socket) stay with the
//! driver: this type decides what should happen to them, the driver holds
//! and runs them.

use std::collections::VecDeque;

use proto::signaling::{CallId, CallState as RegistryState, ServerEvent, Username};

use super::types::{
    Action, CallRef, CallSnapshot, CallState, EndReason, OfferCheck, PhoneError, PlaceFailure,
    StatusReport,
};
use crate::account::{Direction, HistoryEntry, Outcome};
use crate::call::CallEnd;
use crate::contacts::Trust;

/// Where a call stands, with the state-specific data.
#[derive(Debug)]
enum Phase {
    Placing {
        cancel: bool,
    },
    RingingOut,
    Verifying,
    RingingIn {
        key_changed: bool,
    },
    /// Our answer is on its way (incoming) or theirs is being verified
    /// (outgoing). `hang_up`: the user ended it meanwhile.
    Answering {
        hang_up: bool,
    },
    /// Media runs. `stopped_by`: who asked it to stop first (then the
    /// media is stopping, and that first ending names the call's end);
    /// `registry_ended`: the registry said the call is over, so it needs
    /// no hang-up step from us. `heard`: the media reported packets from
    /// the peer (a path works). `peer_end_due`: the registry ended the call
    /// before anything was heard; our media gets until then to find there
    /// was no path, after that the end is the peer's.
    Media {
        connected_ms: u64,
        stopped_by: Option<Stopper>,
        registry_ended: bool,
        heard: bool,
        peer_end_due: Option<u64>,
    },
}

/// Who ended a call whose media is stopping. Whichever came first stays:
/// the registry's notice that the peer hung up, or the peer's bye, can
/// arrive after our own hang-up (the peer hangs up at the registry as
/// soon as our bye reaches it, while our media is still winding down),
/// and must not turn our hang-up into theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopper {
    /// The user hung up.
    Us,
    /// The registry said the peer ended it.
    Peer,
}

#[derive(Debug)]
struct Call {
    snap: CallSnapshot,
    phase: Phase,
    started_ms: u64,
    /// The history's name of a call without a registry id (a local call).
    local_label: Option<String>,
    /// Whether the registry offered a relay for this call, once gathered:
    /// a call that finds no path says so when it had none.
    relay_available: Option<bool>,
}

/// How long the media of a call that never heard the peer keeps running
/// after the registry said the call ended, ms. The two sides' pair checkers
/// give up the same time after their own media started, which differs by
/// the setup's last steps (and a loaded machine's scheduling): the first
/// to give up hangs up at the registry, and its notice can reach the other
/// side shortly before that side's checker ends with no path by itself.
/// Waiting this long lets the user read "no network path" then, while a
/// peer that really hung up before any path was found is still reported
/// as such soon after.
pub const PEER_END_GRACE_MS: u64 = 2_000;

/// The sans-IO call controller. See the module docs for how to drive it.
#[derive(Debug, Default)]
pub struct CallController {
    call: Option<Call>,
    /// Pushes about a call id not known yet, kept while a call is being
    /// placed: the registry can push `Busy` before `initiate` returns.
    early: Vec<ServerEvent>,
    next_ref: u64,
    actions: VecDeque<Action>,
    /// The last call that ended, as it ended (shown or not).
    last_ended: Option<CallSnapshot>,
}

impl CallController {
    /// A phone with no call.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next output, in order; `None` once drained.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The current call, if any.
    pub fn current(&self) -> Option<&CallSnapshot> {
        self.call.as_ref().map(|c| &c.snap)
    }

    /// When [`CallController::handle_timeout`] should next be called, in
    /// Unix ms; `None` while no timer runs. Ask again after every input.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.call.as_ref()?.phase {
            Phase::Media {
                stopped_by: None,
                peer_end_due,
                ..
            } => peer_end_due,
            _ => None,
        }
    }

    /// The time of [`CallController::poll_timeout`] has come (an earlier
    /// call changes nothing). The registry ended a call whose media never
    /// heard the peer, and the media did not end with no path meanwhile:
    /// the peer hung up before any path was found, and the media stops.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let Some(c) = self.call.as_mut() else {
            return;
        };
        let call = c.snap.call;
        if let Phase::Media {
            stopped_by,
            peer_end_due,
            ..
        } = &mut c.phase
            && stopped_by.is_none()
            && peer_end_due.is_some_and(|due| now_ms >= due)
        {
            *peer_end_due = None;
            *stopped_by = Some(Stopper::Peer);
            self.actions.push_back(Action::StopMedia { call });
        }
    }

    /// The last call that ended, with its reason, even one never shown
    /// (an offer refused, a placing that failed).
    pub fn last_ended(&self) -> Option<&CallSnapshot> {
        self.last_ended.as_ref()
    }

    /// Whether the current call has been shown to the user (false while it
    /// is placed or an incoming offer is checked).
    pub fn announced(&self) -> bool {
        self.call
            .as_ref()
            .is_some_and(|c| !matches!(c.phase, Phase::Placing { .. } | Phase::Verifying))
    }

    fn new_ref(&mut self) -> CallRef {
        self.next_ref += 1;
        CallRef(self.next_ref)
    }

    fn call_mut(&mut self, call: CallRef) -> Option<&mut Call> {
        self.call.as_mut().filter(|c| c.snap.call == call)
    }

    /// `call`, if it goes in `direction` and waits for its answer to be
    /// sent or checked, with whether hang-up was asked meanwhile. A late
    /// result for a call that moved on is dropped by the caller.
    fn answering(&mut self, call: CallRef, direction: Direction) -> Option<(&mut Call, bool)> {
        let c = self.call_mut(call)?;
        if c.snap.direction != direction {
            return None;
        }
        let Phase::Answering { hang_up } = c.phase else {
            return None;
        };
        Some((c, hang_up))
    }

    fn by_id(&self, id: &CallId) -> Option<CallRef> {
        self.call
            .as_ref()
            .filter(|c| c.snap.id.as_ref() == Some(id))
            .map(|c| c.snap.call)
    }

    fn show(&mut self) {
        if let Some(c) = &self.call {
            self.actions.push_back(Action::Snapshot(c.snap.clone()));
        }
    }

    /// Declines the current incoming call at the registry (when it has an
    /// id), tells the front end why the software refused it, and ends it as
    /// failed: the user did not decline it.
    fn decline_refused(&mut self, now_ms: u64, id: Option<CallId>, peer: Username, reason: String) {
        if let Some(id) = id {
            self.actions.push_back(Action::Reject { id });
        }
        self.actions.push_back(Action::Refused {
            peer,
            reason: reason.clone(),
        });
        self.end(now_ms, EndReason::Failed, Some(reason), Outcome::Failed);
    }

    /// Ends the current call once: history entry, release, snapshot (if
    /// it was ever shown).
    fn end(&mut self, now_ms: u64, reason: EndReason, message: Option<String>, outcome: Outcome) {
        let Some(mut c) = self.call.take() else {
            return;
        };
        let talked_ms = match c.phase {
            Phase::Media { connected_ms, .. } => now_ms.saturating_sub(connected_ms),
            _ => 0,
        };
        let shown = !matches!(c.phase, Phase::Placing { .. } | Phase::Verifying);
        c.snap.state = CallState::Ended;
        c.snap.end = Some((reason, message));
        self.actions
            .push_back(Action::Release { call: c.snap.call });
        self.actions.push_back(Action::Record(HistoryEntry {
            call_id: c
                .snap
                .id
                .as_ref()
                .map(ToString::to_string)
                .or(c.local_label)
                .unwrap_or_default(),
            peer: c.snap.peer.to_string(),
            direction: c.snap.direction,
            started_at: c.started_ms / 1000,
            duration_s: talked_ms / 1000,
            outcome,
        }));
        self.last_ended = Some(c.snap.clone());
        // After the history entry: a front end reloads the history on it.
        if shown {
            self.actions.push_back(Action::Snapshot(c.snap));
        }
    }

    // ----- user commands ------------------------------------------------

    /// Rings `peer`. The call is not shown until the registry took it
    /// ([`CallController::handle_placed`]).
    pub fn place(&mut self, now_ms: u64, peer: Username) -> Result<CallRef, PhoneError> {
        if self.call.is_some() {
            return Err(PhoneError::Busy);
        }
        let call = self.new_ref();
        self.early.clear();
        self.call = Some(Call {
            snap: CallSnapshot {
                call,
                id: None,
                peer: peer.clone(),
                direction: Direction::Outgoing,
                state: CallState::Placing,
                trust: Trust::Unverified,
                sas: None,
                active_since_ms: None,
                muted: false,
                end: None,
            },
            phase: Phase::Placing { cancel: false },
            started_ms: now_ms,
            local_label: None,
            relay_available: None,
        });
        self.actions.push_back(Action::Place { call, peer });
        Ok(call)
    }

    /// Answers the ringing call. A call that rang with a changed key is
    /// checked again first (the user may have accepted the new key since);
    /// front ends should refuse to answer while the key is still changed.
    pub fn accept(&mut self, _now_ms: u64, call: CallRef) -> Result<(), PhoneError> {
        let c = self.call_mut(call).ok_or(PhoneError::NoCall)?;
        let Phase::RingingIn { key_changed } = c.phase else {
            return Err(PhoneError::NotRinging);
        };
        let id = c.snap.id.clone().ok_or(PhoneError::NoCall)?;
        c.phase = Phase::Answering { hang_up: false };
        c.snap.state = CallState::Answering;
        self.actions.push_back(Action::Accept {
            call,
            id,
            recheck: key_changed,
        });
        self.show();
        Ok(())
    }

    /// The user declines the ringing call.
    pub fn reject(&mut self, now_ms: u64, call: CallRef) -> Result<(), PhoneError> {
        let c = self.call_mut(call).ok_or(PhoneError::NoCall)?;
        if !matches!(c.phase, Phase::RingingIn { .. }) {
            return Err(PhoneError::NotRinging);
        }
        if let Some(id) = c.snap.id.clone() {
            self.actions.push_back(Action::Reject { id });
        }
        self.end(now_ms, EndReason::Rejected, None, Outcome::Rejected);
        Ok(())
    }

    /// The software declines the ringing call for a reason the user should
    /// read (a front end that cannot ask the user, such as an answering
    /// machine, refusing a caller whose key changed). Recorded as failed:
    /// the user did not decline it.
    pub fn refuse(&mut self, now_ms: u64, call: CallRef, reason: String) -> Result<(), PhoneError> {
        let c = self.call_mut(call).ok_or(PhoneError::NoCall)?;
        if !matches!(c.phase, Phase::RingingIn { .. }) {
            return Err(PhoneError::NotRinging);
        }
        let (id, peer) = (c.snap.id.clone(), c.snap.peer.clone());
        self.decline_refused(now_ms, id, peer, reason);
        Ok(())
    }

    /// Ends the call: cancels it while it rings out, declines it while it
    /// rings in, stops the media while it runs. Hanging up a call that is
    /// already stopping does nothing more.
    pub fn hang_up(&mut self, now_ms: u64, call: CallRef) -> Result<(), PhoneError> {
        let c = self.call_mut(call).ok_or(PhoneError::NoCall)?;
        match &mut c.phase {
            Phase::Placing { cancel } => {
                // Cancelled once the registry names the call.
                *cancel = true;
                Ok(())
            }
            Phase::RingingOut => {
                if let Some(id) = c.snap.id.clone() {
                    self.actions.push_back(Action::Hangup { id });
                }
                self.end(now_ms, EndReason::Cancelled, None, Outcome::Cancelled);
                Ok(())
            }
            Phase::RingingIn { .. } => self.reject(now_ms, call),
            Phase::Verifying => Err(PhoneError::SettingUp),
            Phase::Answering { hang_up } => {
                *hang_up = true;
                Ok(())
            }
            Phase::Media {
                stopped_by,
                peer_end_due,
                ..
            } => {
                if stopped_by.is_none() {
                    // Also while the registry's end waits for our media
                    // (nothing of it was shown): the user ended it first.
                    *peer_end_due = None;
                    *stopped_by = Some(Stopper::Us);
                    self.actions.push_back(Action::StopMedia { call });
                }
                Ok(())
            }
        }
    }

    /// Mutes or unmutes our microphone (kept if chosen before the media).
    pub fn set_muted(
        &mut self,
        _now_ms: u64,
        call: CallRef,
        muted: bool,
    ) -> Result<(), PhoneError> {
        let c = self.call_mut(call).ok_or(PhoneError::NoCall)?;
        if matches!(c.phase, Phase::Placing { .. } | Phase::Verifying) {
            return Err(PhoneError::NoCall);
        }
        c.snap.muted = muted;
        if matches!(c.phase, Phase::Media { .. }) {
            self.actions.push_back(Action::SetMute { call, muted });
        }
        self.show();
        Ok(())
    }

    /// Ends the current call as failed after a bug (a panic while one of
    /// its inputs or jobs ran), telling the registry, so that neither side
    /// waits on a call nobody handles. Other calls are untouched.
    pub fn fail(&mut self, now_ms: u64, call: CallRef, message: String) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        let (id, direction) = (c.snap.id.clone(), c.snap.direction);
        let media = matches!(c.phase, Phase::Media { .. });
        let ringing_in = matches!(c.phase, Phase::Verifying | Phase::RingingIn { .. });
        let answering = matches!(c.phase, Phase::Answering { .. });
        if media {
            self.actions.push_back(Action::StopMedia { call });
        }
        if let Some(id) = id {
            // An incoming call not yet accepted is declined; anything else
            // may be live at the registry, and only a hang-up ends it. One
            // being answered may be either: both are sent, and the
            // registry refuses the one that does not fit.
            let incoming = direction == Direction::Incoming;
            if incoming && (ringing_in || answering) {
                self.actions.push_back(Action::Reject { id: id.clone() });
            }
            if !(incoming && ringing_in) {
                self.actions.push_back(Action::Hangup { id });
            }
        }
        self.end(now_ms, EndReason::Failed, Some(message), Outcome::Failed);
    }

    /// Starts a call that needs no registry because its keys are agreed
    /// already (the app's echo test against a bot in the same process):
    /// it goes straight to its media. `label` names it in the history.
    pub fn start_local(
        &mut self,
        now_ms: u64,
        peer: Username,
        label: String,
        sas: Option<String>,
    ) -> Result<CallRef, PhoneError> {
        if self.call.is_some() {
            return Err(PhoneError::Busy);
        }
        let call = self.new_ref();
        self.call = Some(Call {
            snap: CallSnapshot {
                call,
                id: None,
                peer,
                direction: Direction::Outgoing,
                state: CallState::Answering,
                trust: Trust::Verified,
                sas: None,
                active_since_ms: None,
                muted: false,
                end: None,
            },
            phase: Phase::Answering { hang_up: false },
            started_ms: now_ms,
            local_label: Some(label),
            relay_available: None,
        });
        self.start_media(now_ms, call, sas, false);
        Ok(call)
    }

    // ----- registry -----------------------------------------------------

    /// The registry took the call we place (`Ok` with its id) or refused
    /// it. Pushes about the call that overtook this answer apply now.
    pub fn handle_placed(
        &mut self,
        now_ms: u64,
        call: CallRef,
        placed: Result<(CallId, Trust), PlaceFailure>,
    ) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        let Phase::Placing { cancel } = c.phase else {
            return;
        };
        match placed {
            Ok((id, trust)) => {
                c.snap.id = Some(id.clone());
                c.snap.trust = trust;
                c.snap.state = CallState::RingingOut;
                c.phase = Phase::RingingOut;
                self.show();
                if cancel {
                    let _ = self.hang_up(now_ms, call);
                }
                for ev in std::mem::take(&mut self.early) {
                    self.handle_push(now_ms, ev);
                }
            }
            Err(PlaceFailure::Offline) => {
                // Shown ringing, then ended: the user sees whom they rang.
                c.snap.state = CallState::RingingOut;
                c.phase = Phase::RingingOut;
                self.show();
                self.end(now_ms, EndReason::Offline, None, Outcome::Missed);
            }
            Err(PlaceFailure::KeyChanged) => {
                c.snap.trust = Trust::KeyChanged;
                let msg = format!(
                    "{}'s key changed; compare the safety number before calling",
                    c.snap.peer
                );
                self.end(now_ms, EndReason::Failed, Some(msg), Outcome::Failed);
            }
            Err(PlaceFailure::Failed(msg)) => {
                self.end(now_ms, EndReason::Failed, Some(msg), Outcome::Failed);
            }
        }
    }

    /// The push socket is up again. Pushes sent while it was down are lost,
    /// so a ringing call's status is asked for.
    pub fn handle_connected(&mut self, _now_ms: u64) {
        if let Some(c) = &self.call
            && matches!(c.phase, Phase::RingingOut | Phase::RingingIn { .. })
            && let Some(id) = c.snap.id.clone()
        {
            self.actions.push_back(Action::QueryStatus {
                call: c.snap.call,
                id,
            });
        }
    }

    /// What the registry said when asked about a call.
    pub fn handle_status(&mut self, now_ms: u64, call: CallRef, status: StatusReport) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        let Some(id) = c.snap.id.clone() else {
            return;
        };
        let outgoing = c.snap.direction == Direction::Outgoing;
        let ringing = matches!(c.phase, Phase::RingingOut | Phase::RingingIn { .. });
        if !ringing {
            return;
        }
        // Replay the push that was lost.
        let ev = match (status.state, status.answer) {
            (RegistryState::Ringing, _) => return,
            (RegistryState::Active, Some(answer)) if outgoing => ServerEvent::Accepted {
                call_id: id,
                answer: match proto::signaling::HandshakeBlob::new(answer) {
                    Ok(a) => a,
                    Err(_) => {
                        self.fail(now_ms, call, "the registry sent an unusable answer".into());
                        return;
                    }
                },
            },
            (RegistryState::Rejected, _) => ServerEvent::Rejected { call_id: id },
            (RegistryState::Busy, _) => ServerEvent::Busy {
                call_id: id,
                callee: c.snap.peer.clone(),
            },
            (RegistryState::Missed, _) => ServerEvent::Missed {
                call_id: id,
                caller: c.snap.peer.clone(),
                callee: c.snap.peer.clone(),
            },
            (RegistryState::Cancelled, _) => ServerEvent::Cancelled { call_id: id },
            // Active without an answer for us (incoming: taken elsewhere),
            // or ended.
            _ => ServerEvent::Ended {
                call_id: id,
                by: None,
            },
        };
        self.handle_push(now_ms, ev);
    }

    /// A push from the registry (calls only; presence and the rest are the
    /// front end's).
    pub fn handle_push(&mut self, now_ms: u64, ev: ServerEvent) {
        if let ServerEvent::IncomingCall {
            call_id,
            caller,
            offer,
            ..
        } = ev
        {
            self.incoming(now_ms, call_id, caller, offer.to_bytes());
            return;
        }
        let id = match &ev {
            ServerEvent::Accepted { call_id, .. }
            | ServerEvent::Rejected { call_id }
            | ServerEvent::Ended { call_id, .. }
            | ServerEvent::Missed { call_id, .. }
            | ServerEvent::Busy { call_id, .. }
            | ServerEvent::Cancelled { call_id } => call_id.clone(),
            _ => return,
        };
        let Some(call) = self.by_id(&id) else {
            if self
                .call
                .as_ref()
                .is_some_and(|c| matches!(c.phase, Phase::Placing { .. }))
            {
                self.early.push(ev);
            }
            return;
        };
        let Some(c) = self.call_mut(call) else {
            return;
        };
        let outgoing = c.snap.direction == Direction::Outgoing;
        match (ev, &mut c.phase) {
            // The user hung up while the answer was on its way; the
            // registry ending the call after that does not make the end
            // anyone else's (it is over at the registry: no hang-up step).
            (
                ServerEvent::Rejected { .. }
                | ServerEvent::Ended { .. }
                | ServerEvent::Missed { .. }
                | ServerEvent::Cancelled { .. },
                Phase::Answering { hang_up: true },
            ) => {
                self.end(now_ms, EndReason::HungUp, None, Outcome::Completed);
            }
            (ServerEvent::Accepted { answer, .. }, Phase::RingingOut) => {
                c.phase = Phase::Answering { hang_up: false };
                c.snap.state = CallState::Answering;
                self.actions.push_back(Action::CheckAnswer {
                    call,
                    answer: answer.to_bytes(),
                });
            }
            (ServerEvent::Rejected { .. }, Phase::RingingOut | Phase::Answering { .. }) => {
                self.end(now_ms, EndReason::Rejected, None, Outcome::Rejected);
            }
            (ServerEvent::Busy { .. }, Phase::RingingOut) => {
                self.end(now_ms, EndReason::Busy, None, Outcome::Busy);
            }
            // The caller cancelled while it rang here: missed, for us.
            (ServerEvent::Missed { .. } | ServerEvent::Cancelled { .. }, p)
                if !matches!(p, Phase::Media { .. }) =>
            {
                self.end(now_ms, EndReason::Missed, None, Outcome::Missed);
            }
            (
                ServerEvent::Ended { .. },
                Phase::Media {
                    stopped_by,
                    registry_ended,
                    heard,
                    peer_end_due,
                    ..
                },
            ) => {
                // The peer's bye travels in the media; this is the
                // registry's backup notice. After our own hang-up it is
                // only the registry closing the call: the end stays ours.
                *registry_ended = true;
                if stopped_by.is_none() {
                    if *heard {
                        *stopped_by = Some(Stopper::Peer);
                        self.actions.push_back(Action::StopMedia { call });
                    } else if peer_end_due.is_none() {
                        // Nothing ever came from the peer: its side may
                        // have given up finding a path a little before ours
                        // will. Our media decides within the grace (see
                        // PEER_END_GRACE_MS), else it is the peer's hang-up.
                        *peer_end_due = Some(now_ms.saturating_add(PEER_END_GRACE_MS));
                    }
                }
            }
            (ServerEvent::Ended { .. }, _) if outgoing => self.end(
                now_ms,
                EndReason::Failed,
                Some("the call ended before it was answered".into()),
                Outcome::Failed,
            ),
            (ServerEvent::Ended { .. }, _) => {
                self.end(now_ms, EndReason::Missed, None, Outcome::Missed);
            }
            _ => {}
        }
    }

    fn incoming(&mut self, now_ms: u64, id: CallId, peer: Username, offer: Vec<u8>) {
        if let Some(c) = &self.call {
            if c.snap.id.as_ref() == Some(&id) {
                // The same ring pushed again (after a reconnect).
                return;
            }
            // One call at a time: decline, and remember it was busy here.
            self.actions.push_back(Action::Reject { id: id.clone() });
            self.actions.push_back(Action::Record(HistoryEntry {
                call_id: id.to_string(),
                peer: peer.to_string(),
                direction: Direction::Incoming,
                started_at: now_ms / 1000,
                duration_s: 0,
                outcome: Outcome::Busy,
            }));
            return;
        }
        let call = self.new_ref();
        self.call = Some(Call {
            snap: CallSnapshot {
                call,
                id: Some(id),
                peer: peer.clone(),
                direction: Direction::Incoming,
                state: CallState::Verifying,
                trust: Trust::Unverified,
                sas: None,
                active_since_ms: None,
                muted: false,
                end: None,
            },
            phase: Phase::Verifying,
            started_ms: now_ms,
            local_label: None,
            relay_available: None,
        });
        self.actions
            .push_back(Action::CheckOffer { call, peer, offer });
    }

    // ----- results of the driver's jobs ----------------------------------

    /// The call's addresses were gathered; `relay_available`: the registry
    /// offered a TURN relay. Only remembered, for the message of a call
    /// that finds no path.
    pub fn handle_gathered(&mut self, _now_ms: u64, call: CallRef, relay_available: bool) {
        if let Some(c) = self.call_mut(call) {
            c.relay_available = Some(relay_available);
        }
    }

    /// The incoming offer was checked.
    pub fn handle_offer_checked(&mut self, now_ms: u64, call: CallRef, check: OfferCheck) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        if !matches!(c.phase, Phase::Verifying) {
            return;
        }
        let (trust, key_changed) = match check {
            OfferCheck::Genuine(trust) => (trust, false),
            OfferCheck::KeyChanged => (Trust::KeyChanged, true),
            OfferCheck::Refused(reason) => {
                let (id, peer) = (c.snap.id.clone(), c.snap.peer.clone());
                self.decline_refused(now_ms, id, peer, reason);
                return;
            }
        };
        c.snap.trust = trust;
        c.snap.state = CallState::RingingIn;
        c.phase = Phase::RingingIn { key_changed };
        self.show();
    }

    /// Our answer reached the registry (`Ok`, with the peer's trust now),
    /// or could not be made or sent.
    pub fn handle_accept_sent(&mut self, now_ms: u64, call: CallRef, sent: Result<Trust, String>) {
        let Some((c, hang_up)) = self.answering(call, Direction::Incoming) else {
            return;
        };
        match sent {
            Ok(trust) => {
                c.snap.trust = trust;
                self.start_media(now_ms, call, None, hang_up);
            }
            Err(msg) => {
                // Whatever failed (the recheck, the socket, the registry),
                // the caller should not ring on.
                if let Some(id) = c.snap.id.clone() {
                    self.actions.push_back(Action::Reject { id });
                }
                self.end(now_ms, EndReason::Failed, Some(msg), Outcome::Failed)
            }
        }
    }

    /// The callee's answer was verified (`Ok`, with the SAS) or not.
    pub fn handle_answer_checked(
        &mut self,
        now_ms: u64,
        call: CallRef,
        checked: Result<String, ()>,
    ) {
        let Some((c, hang_up)) = self.answering(call, Direction::Outgoing) else {
            return;
        };
        match checked {
            Ok(sas) => self.start_media(now_ms, call, Some(sas), hang_up),
            Err(()) => {
                let peer = c.snap.peer.clone();
                if let Some(id) = c.snap.id.clone() {
                    self.actions.push_back(Action::Hangup { id });
                }
                self.end(
                    now_ms,
                    EndReason::Failed,
                    Some(format!(
                        "the answer from {peer} did not verify; the call was ended"
                    )),
                    Outcome::Failed,
                );
            }
        }
    }

    fn start_media(&mut self, now_ms: u64, call: CallRef, sas: Option<String>, hang_up: bool) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        c.phase = Phase::Media {
            connected_ms: now_ms,
            stopped_by: hang_up.then_some(Stopper::Us),
            registry_ended: false,
            heard: false,
            peer_end_due: None,
        };
        c.snap.state = CallState::Connecting;
        c.snap.sas = sas;
        let muted = c.snap.muted;
        self.actions.push_back(Action::StartMedia { call, muted });
        if hang_up {
            self.actions.push_back(Action::StopMedia { call });
        }
        self.show();
    }

    // ----- media ----------------------------------------------------------

    /// The media's periodic report: the SAS once known (the callee learns
    /// it from the caller's first packets) and how many authenticated
    /// packets came in. The call goes active once both are there, so an
    /// active call always shows its SAS. The first packets also tell the
    /// registry's end of the call apart from a call without a path (see
    /// [`CallController::poll_timeout`]).
    pub fn handle_media_progress(
        &mut self,
        now_ms: u64,
        call: CallRef,
        sas: Option<&str>,
        packets_received: u64,
    ) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        let Phase::Media {
            stopped_by,
            heard,
            peer_end_due,
            ..
        } = &mut c.phase
        else {
            return;
        };
        let mut stop = false;
        if packets_received > 0 {
            *heard = true;
            // The registry's end waited for a path; one works after all,
            // so the notice was the peer hanging up.
            if stopped_by.is_none() && peer_end_due.take().is_some() {
                *stopped_by = Some(Stopper::Peer);
                stop = true;
            }
        }
        let mut changed = false;
        if c.snap.sas.is_none()
            && let Some(sas) = sas
        {
            c.snap.sas = Some(sas.to_owned());
            changed = true;
        }
        if c.snap.state == CallState::Connecting && c.snap.sas.is_some() && packets_received > 0 {
            c.snap.state = CallState::Active;
            c.snap.active_since_ms = Some(now_ms);
            changed = true;
        }
        if changed {
            self.show();
        }
        if stop {
            self.actions.push_back(Action::StopMedia { call });
        }
    }

    /// The media ended (`Err` when it could not run at all).
    pub fn handle_media_ended(&mut self, now_ms: u64, call: CallRef, end: Result<CallEnd, String>) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        let Phase::Media {
            stopped_by,
            registry_ended,
            ..
        } = c.phase
        else {
            return;
        };
        let no_path = no_path_message(&c.snap.peer, c.relay_available);
        let (reason, message, outcome) = match end {
            // A failed safety check is a finding about the call, not a way
            // of ending it: it is shown even when the user hung up as the
            // media found it.
            Ok(e @ CallEnd::SasMismatch) => (
                EndReason::Failed,
                Some(e.describe().to_owned()),
                Outcome::Failed,
            ),
            // The first ending wins: once the user hung up, whatever the
            // media ended with after (the peer's bye crossing ours, a
            // timeout, a device that failed while it shut down) is our
            // hang-up.
            _ if stopped_by == Some(Stopper::Us) => (EndReason::HungUp, None, Outcome::Completed),
            Ok(CallEnd::HungUp) if stopped_by == Some(Stopper::Peer) => {
                (EndReason::RemoteHungUp, None, Outcome::Completed)
            }
            Ok(CallEnd::HungUp | CallEnd::Finished) => {
                (EndReason::HungUp, None, Outcome::Completed)
            }
            Ok(CallEnd::PeerHungUp) => (EndReason::RemoteHungUp, None, Outcome::Completed),
            Ok(e @ CallEnd::TimedOut) => (
                EndReason::ConnectionLost,
                Some(e.describe().to_owned()),
                Outcome::Failed,
            ),
            Ok(CallEnd::NoPath) => (EndReason::NoPath, Some(no_path), Outcome::Failed),
            Ok(e @ CallEnd::DeviceLost) => (
                EndReason::Failed,
                Some(e.describe().to_owned()),
                Outcome::Failed,
            ),
            Err(msg) => (EndReason::Failed, Some(msg), Outcome::Failed),
        };
        // Tell the registry, unless it told us.
        if !registry_ended && let Some(id) = c.snap.id.clone() {
            self.actions.push_back(Action::Hangup { id });
        }
        self.end(now_ms, reason, message, outcome);
    }
}

/// What the user reads when no candidate pair answered: whom it could not
/// reach and, when the registry offered no relay, that a relay would have
/// been the way (both sides behind NATs that need one).
fn no_path_message(peer: &Username, relay_available: Option<bool>) -> String {
    let mut msg = format!("could not reach {peer}: no network path");
    if relay_available == Some(false) {
        msg.push_str(" (the registry has no relay configured)");
    }
    msg
}
