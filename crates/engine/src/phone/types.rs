//! What the call controller takes and gives: call names, states, end
//! reasons, the actions for the driver and the snapshot for a front end.

use std::net::{Ipv6Addr, SocketAddr};

use proto::signaling::{CallId, CallState as RegistryState, Username};

use crate::account::{Direction, HistoryEntry};
use crate::contacts::Trust;

/// The controller's name for one call, from the moment it is placed or
/// rings (the registry's id of an outgoing call is known only later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

/// Where a call stands. Each state is named for what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Waiting for the registry to take our offer (initiate in flight).
    Placing,
    /// Waiting for the callee to answer.
    RingingOut,
    /// An incoming offer is being checked; nothing shown yet.
    Verifying,
    /// Waiting for the user to answer or decline.
    RingingIn,
    /// Waiting for our answer to reach the registry, or for the callee's
    /// answer to verify.
    Answering,
    /// Media started; waiting for the SAS and the peer's first packets.
    Connecting,
    /// Talking.
    Active,
    /// Over; [`CallSnapshot::end`] says why.
    Ended,
}

/// Why a call ended. The desktop shell sends it to the UI as it is
/// (kebab-case names, the "End reasons" table of `docs/ui-api.md`), so the
/// front ends share one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndReason {
    /// We hung up.
    HungUp,
    /// The peer hung up.
    RemoteHungUp,
    /// We cancelled while it rang.
    Cancelled,
    /// Declined, by the peer or by us.
    Rejected,
    /// Nobody answered in time, or the caller gave up while it rang.
    Missed,
    /// The peer was in another call.
    Busy,
    /// The peer was not connected to the registry.
    Offline,
    /// No authenticated packet from the peer for the idle timeout.
    ConnectionLost,
    /// No candidate pair answered a check: the two sides never reached
    /// each other (both behind NATs that need a relay, and none offered).
    NoPath,
    /// Setup, verification, the device or the security check failed.
    Failed,
}

/// Why a call we placed did not ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceFailure {
    /// The callee is not connected.
    Offline,
    /// The registry serves another key for the callee than the pinned one.
    KeyChanged,
    /// Anything else, in words for the user.
    Failed(String),
}

/// What the driver found when it checked an incoming offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferCheck {
    /// Signed by the pinned key, fresh, not seen before.
    Genuine(Trust),
    /// The caller's key differs from the pin. The call rings flagged; it
    /// can be answered only once the user accepted the new key.
    KeyChanged,
    /// Refused (forged, stale, replayed, unreadable); the words say why.
    Refused(String),
}

/// What the registry said about a call when asked (after a reconnect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The registry's state of the call.
    pub state: RegistryState,
    /// The callee's answer, once the call is active.
    pub answer: Option<Vec<u8>>,
}

/// A registry step or a job for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Check the callee's key, sign an offer and ring them; report with
    /// [`CallController::handle_placed`](super::CallController::handle_placed).
    Place {
        /// The call.
        call: CallRef,
        /// Whom to ring.
        peer: Username,
    },
    /// Check an incoming offer; report with
    /// [`CallController::handle_offer_checked`](super::CallController::handle_offer_checked).
    CheckOffer {
        /// The call.
        call: CallRef,
        /// Who rings.
        peer: Username,
        /// The signed offer as pushed.
        offer: Vec<u8>,
    },
    /// Sign the answer (checking the offer again first when `recheck`) and
    /// send it; report with [`CallController::handle_accept_sent`](super::CallController::handle_accept_sent).
    Accept {
        /// The call.
        call: CallRef,
        /// The registry's id.
        id: CallId,
        /// The offer rang with a changed key: verify it again.
        recheck: bool,
    },
    /// Verify the callee's answer; report with
    /// [`CallController::handle_answer_checked`](super::CallController::handle_answer_checked).
    CheckAnswer {
        /// The call.
        call: CallRef,
        /// The signed answer.
        answer: Vec<u8>,
    },
    /// Tell the registry we decline (no answer expected).
    Reject {
        /// The registry's id.
        id: CallId,
    },
    /// Tell the registry the call is over or cancelled (no answer expected).
    Hangup {
        /// The registry's id.
        id: CallId,
    },
    /// Ask the registry where the call stands; report with
    /// [`CallController::handle_status`](super::CallController::handle_status).
    QueryStatus {
        /// The call.
        call: CallRef,
        /// The registry's id.
        id: CallId,
    },
    /// Start the call's media; report its end with
    /// [`CallController::handle_media_ended`](super::CallController::handle_media_ended).
    StartMedia {
        /// The call.
        call: CallRef,
        /// Start muted (chosen while it rang).
        muted: bool,
    },
    /// Stop the call's media (its end is still reported).
    StopMedia {
        /// The call.
        call: CallRef,
    },
    /// Mute or unmute the running media.
    SetMute {
        /// The call.
        call: CallRef,
        /// The new state.
        muted: bool,
    },
    /// Drop whatever the driver holds for the call (keys, socket).
    Release {
        /// The call.
        call: CallRef,
    },
    /// Add this to the call history.
    Record(HistoryEntry),
    /// The call changed; show it.
    Snapshot(CallSnapshot),
    /// An incoming call was refused before it rang; for the log.
    Refused {
        /// Who called.
        peer: Username,
        /// Why, in words.
        reason: String,
    },
}

/// The whole description of a call, for a front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSnapshot {
    /// The controller's name of the call.
    pub call: CallRef,
    /// The registry's id, once known.
    pub id: Option<CallId>,
    /// The other party.
    pub peer: Username,
    /// Which way.
    pub direction: Direction,
    /// Where it stands.
    pub state: CallState,
    /// How far the peer's key is trusted.
    pub trust: Trust,
    /// The short authentication string in groups ("042 917"), once known.
    pub sas: Option<String>,
    /// When it went active, Unix milliseconds.
    pub active_since_ms: Option<u64>,
    /// Our microphone is muted.
    pub muted: bool,
    /// Why it ended, and a sentence for the user, once over.
    pub end: Option<(EndReason, Option<String>)>,
}

/// Misuse of the controller by a front end (never the peer's doing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// A call is in progress already.
    #[error("already in a call; hang up first")]
    Busy,
    /// No such call, or it is over.
    #[error("that call is not in progress any more")]
    NoCall,
    /// The call is not ringing here (accept/reject).
    #[error("this call is not ringing any more")]
    NotRinging,
    /// The call is still being set up; a moment later it can be ended.
    #[error("the call is still being set up; try again in a moment")]
    SettingUp,
}

/// How a front end wants its calls to reach the peer: the call's socket
/// and the privacy choices ("always relay", "relay strangers"). The phone
/// asks for it at every call ([`PhoneHooks::net_settings`](super::PhoneHooks::net_settings)),
/// so a change in the settings applies to the next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSettings {
    /// Local address of the call's socket; `[::]:0` is dual-stack (and
    /// falls back to IPv4 alone where IPv6 is off).
    pub listen: SocketAddr,
    /// An address the user forwarded to this host, offered first.
    pub advertise: Option<SocketAddr>,
    /// Offer only `advertise` (no interface or reflexive address).
    pub advertise_only: bool,
    /// Every call goes through the relay: only relayed candidates are
    /// offered, so no peer learns this host's addresses.
    pub always_relay: bool,
    /// Calls with someone who is not a chosen contact go through the relay
    /// when the registry offers one.
    pub relay_strangers: bool,
    /// STUN servers to ask besides the registry's.
    pub extra_stun: Vec<SocketAddr>,
}

impl Default for NetSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            advertise: None,
            advertise_only: false,
            always_relay: false,
            relay_strangers: true,
            extra_stun: Vec::new(),
        }
    }
}

/// "Always relay" is on and the registry offers no relay: the call cannot
/// keep this host's addresses from the peer, so it is not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("always relay is on, but the registry offers no relay")]
pub struct RelayUnavailable;

impl NetSettings {
    /// Whether a call with a peer may offer only relayed candidates.
    /// `chosen`: the peer is a contact the user chose (called or verified);
    /// `relay_available`: the registry handed out at least one TURN server.
    /// A stranger is relayed only when a relay exists (otherwise the call
    /// goes direct rather than not at all); "always relay" without a relay
    /// is refused.
    pub fn relay_only(
        &self,
        chosen: bool,
        relay_available: bool,
    ) -> Result<bool, RelayUnavailable> {
        if self.always_relay {
            return if relay_available {
                Ok(true)
            } else {
                Err(RelayUnavailable)
            };
        }
        Ok(self.relay_strangers && !chosen && relay_available)
    }
}
