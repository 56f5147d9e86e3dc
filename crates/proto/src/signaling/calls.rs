//! The call state machine shared by registry and clients, and the bodies of
//! the call endpoints.

use serde::{Deserialize, Serialize};

use super::{CallId, ErrorCode, HandshakeBlob, SignalingError, Username, Validate};

/// Where a call stands (DESIGN §2).
///
/// `Ringing -> Active -> Ended`; `Ringing -> Rejected | Missed | Cancelled`;
/// `Busy` when the callee was already in a call. All but `Ringing` and
/// `Active` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// The callee has been told and has not answered yet.
    Ringing,
    /// The callee accepted; media flows between the peers.
    Active,
    /// A party hung up, or disconnected during the call.
    Ended,
    /// The callee declined.
    Rejected,
    /// Nobody answered before the ring timeout, or the callee went away.
    Missed,
    /// The caller gave up (or disconnected) while it rang.
    Cancelled,
    /// The callee was already in a call.
    Busy,
}

impl CallState {
    /// Whether no further transition is possible.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Ringing | Self::Active)
    }

    /// The wire name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Rejected => "rejected",
            Self::Missed => "missed",
            Self::Cancelled => "cancelled",
            Self::Busy => "busy",
        }
    }

    /// The state for a wire name (used by storage backends).
    pub fn from_wire_name(name: &str) -> Option<Self> {
        [
            Self::Ringing,
            Self::Active,
            Self::Ended,
            Self::Rejected,
            Self::Missed,
            Self::Cancelled,
            Self::Busy,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// What a party asks of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAction {
    /// The callee picks up.
    Accept,
    /// The callee declines.
    Reject,
    /// Either party ends the call (the caller, while ringing: cancels).
    Hangup,
    /// The ring timeout fired.
    Timeout,
    /// The named side lost its connection to the registry.
    Disconnect,
}

/// Which side of a call someone is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The one who rang.
    Caller,
    /// The one being rung.
    Callee,
}

/// The call state machine: the state after `party` does `action` in
/// `state`, or the reason it is not allowed.
///
/// Both the registry and clients use it, so a transition one side accepts
/// the other accepts too. `Timeout` ignores `party`.
pub fn next_call_state(
    state: CallState,
    party: Party,
    action: CallAction,
) -> Result<CallState, SignalingError> {
    use CallAction as A;
    use CallState as S;
    let next = match (state, party, action) {
        (S::Ringing, Party::Callee, A::Accept) => S::Active,
        (S::Ringing, Party::Callee, A::Reject | A::Hangup) => S::Rejected,
        (S::Ringing, Party::Caller, A::Hangup | A::Disconnect) => S::Cancelled,
        (S::Ringing, Party::Callee, A::Disconnect) | (S::Ringing, _, A::Timeout) => S::Missed,
        (S::Active, _, A::Hangup | A::Disconnect) => S::Ended,
        (_, Party::Caller, A::Accept | A::Reject) => {
            return Err(SignalingError::new(
                ErrorCode::NotAParty,
                "only the callee can accept or reject a call",
            ));
        }
        (s, _, a) => {
            return Err(SignalingError::new(
                ErrorCode::InvalidTransition,
                format!("cannot {a:?} a call that is {}", s.as_str()),
            ));
        }
    };
    Ok(next)
}

/// `POST /call/initiate`: ring `callee` with a signed Offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitiateRequest {
    /// Whom to ring.
    pub callee: Username,
    /// The caller's signed handshake Offer, relayed unchanged.
    pub offer: HandshakeBlob,
}

/// `POST /call/accept`: pick up with a signed Answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The ringing call.
    pub call_id: CallId,
    /// The callee's signed handshake Answer, relayed unchanged.
    pub answer: HandshakeBlob,
}

/// `POST /call/reject`: decline a ringing call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// The ringing call.
    pub call_id: CallId,
}

/// `POST /call/hangup`: end a call (or cancel it while it rings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HangupRequest {
    /// The call.
    pub call_id: CallId,
}

impl Validate for InitiateRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for AcceptRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for RejectRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
impl Validate for HangupRequest {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}

/// A call as one of its parties sees it (`GET /call/status/<id>` and the
/// answers of the call endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallStatus {
    /// The call.
    pub call_id: CallId,
    /// Who rang.
    pub caller: Username,
    /// Who was rung.
    pub callee: Username,
    /// Where it stands.
    pub state: CallState,
    /// When it was placed, Unix seconds.
    pub created_at: u64,
    /// When it last changed state, Unix seconds.
    pub updated_at: u64,
    /// The Offer, shown to the callee while it rings (polling fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<HandshakeBlob>,
    /// The Answer, shown to the caller once active (polling fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<HandshakeBlob>,
}

/// `GET /call/incoming`: calls ringing for the signed-in user (polling
/// fallback for clients without a WebSocket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingCalls {
    /// Ringing calls, each with its Offer.
    pub calls: Vec<CallStatus>,
}
