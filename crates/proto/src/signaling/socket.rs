//! Frames of the push WebSocket: what a client sends and what the registry
//! pushes.

use serde::{Deserialize, Serialize};

use super::{
    CallId, CallStatus, ErrorBody, ErrorCode, HandshakeBlob, MAX_SUBSCRIPTIONS, PresenceInfo,
    SignalingError, Username, Validate,
};

/// What a client sends on its push WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Replace the set of users whose presence changes are pushed.
    Subscribe {
        /// At most [`MAX_SUBSCRIPTIONS`] names.
        usernames: Vec<Username>,
    },
    /// Application-level liveness check; answered by [`ServerEvent::Pong`].
    Ping {
        /// Echoed back.
        nonce: u64,
    },
    /// `POST /call/initiate` over the socket: ring `callee`. Answered by
    /// [`ServerEvent::CallReply`] or [`ServerEvent::CallRefused`] with the
    /// same `req`.
    Initiate {
        /// The client's number for this request, echoed in the answer.
        req: u64,
        /// Whom to ring.
        callee: Username,
        /// The caller's signed handshake Offer, relayed unchanged.
        offer: HandshakeBlob,
    },
    /// `POST /call/accept` over the socket.
    Accept {
        /// Echoed in the answer.
        req: u64,
        /// The ringing call.
        call_id: CallId,
        /// The callee's signed handshake Answer, relayed unchanged.
        answer: HandshakeBlob,
    },
    /// `POST /call/reject` over the socket.
    Reject {
        /// Echoed in the answer.
        req: u64,
        /// The ringing call.
        call_id: CallId,
    },
    /// `POST /call/hangup` over the socket.
    Hangup {
        /// Echoed in the answer.
        req: u64,
        /// The call.
        call_id: CallId,
    },
}

impl ClientMessage {
    /// The request number of a call step; `None` for subscriptions and pings.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            Self::Initiate { req, .. }
            | Self::Accept { req, .. }
            | Self::Reject { req, .. }
            | Self::Hangup { req, .. } => Some(*req),
            Self::Subscribe { .. } | Self::Ping { .. } => None,
        }
    }
}

impl Validate for ClientMessage {
    fn validate(&self) -> Result<(), SignalingError> {
        match self {
            Self::Subscribe { usernames } if usernames.len() > MAX_SUBSCRIPTIONS => {
                Err(SignalingError::new(
                    ErrorCode::InvalidField,
                    format!("at most {MAX_SUBSCRIPTIONS} subscriptions"),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// What the registry pushes on a client's WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerEvent {
    /// First frame after connecting: the socket is live for `username`.
    Welcome {
        /// Whom this socket belongs to.
        username: Username,
        /// The registry's clock, Unix seconds.
        server_time: u64,
    },
    /// Someone rings: verify the Offer against the pinned key, then accept
    /// or reject.
    IncomingCall {
        /// The call.
        call_id: CallId,
        /// Who rings.
        caller: Username,
        /// The caller's signed Offer.
        offer: HandshakeBlob,
        /// When the call was placed, Unix seconds.
        created_at: u64,
    },
    /// The callee picked up (sent to the caller).
    Accepted {
        /// The call.
        call_id: CallId,
        /// The callee's signed Answer.
        answer: HandshakeBlob,
    },
    /// The callee declined (sent to the caller).
    Rejected {
        /// The call.
        call_id: CallId,
    },
    /// The call is over (sent to the party that did not end it).
    Ended {
        /// The call.
        call_id: CallId,
        /// Who hung up; `None` when a party disconnected.
        by: Option<Username>,
    },
    /// Nobody answered in time, or the callee went away (sent to both).
    Missed {
        /// The call.
        call_id: CallId,
        /// Who rang.
        caller: Username,
        /// Who was rung.
        callee: Username,
    },
    /// The callee was in another call (sent to the caller).
    Busy {
        /// The call.
        call_id: CallId,
        /// Who was busy.
        callee: Username,
    },
    /// The caller gave up while it rang (sent to the callee).
    Cancelled {
        /// The call.
        call_id: CallId,
    },
    /// A subscribed user's presence changed.
    Presence(PresenceInfo),
    /// Answer to [`ClientMessage::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// A call step sent on the socket succeeded; `status` is what the
    /// matching HTTP endpoint would have answered.
    CallReply {
        /// The request's number.
        req: u64,
        /// The call after the step.
        status: CallStatus,
    },
    /// A call step sent on the socket was refused; nothing changed. The
    /// codes are those of the matching HTTP endpoint.
    CallRefused {
        /// The request's number.
        req: u64,
        /// Why.
        error: ErrorBody,
    },
    /// The last client message was refused; the socket stays open.
    Error(ErrorBody),
}

impl Validate for ServerEvent {
    fn validate(&self) -> Result<(), SignalingError> {
        Ok(())
    }
}
