//! The registry's error codes and the error type every parser here returns.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable machine-readable error codes of the registry API.
///
/// The snake_case names are part of the wire format: clients match on them,
/// so a variant is never renamed, only added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not well-formed JSON, or a value has the wrong type.
    MalformedJson,
    /// The body is not valid UTF-8.
    InvalidUtf8,
    /// The body has a field this message does not define.
    UnknownField,
    /// The body lacks a required field.
    MissingField,
    /// A username breaks the 3–32 characters of `a-z 0-9 _ . -` rule.
    InvalidUsername,
    /// A binary field is not valid standard base64.
    InvalidBase64,
    /// A binary field is larger than its cap.
    BlobTooLarge,
    /// A call id is not 32 lowercase hex digits.
    InvalidCallId,
    /// A field breaks a rule other than the ones above (length, range).
    InvalidField,
    /// The request body is larger than the registry accepts.
    PayloadTooLarge,
    /// The identity key cannot be decoded.
    InvalidIdentityKey,
    /// A signature does not verify under the key it claims.
    InvalidSignature,
    /// A signed timestamp is too far from the server's clock.
    StaleTimestamp,
    /// The username is already bound to another key.
    UsernameTaken,
    /// No user has this name.
    UnknownUser,
    /// The sign-in challenge is unknown, used or expired.
    InvalidChallenge,
    /// A sign-in was signed for another registry's origin than this one.
    WrongOrigin,
    /// The request lacks a valid bearer token.
    Unauthorized,
    /// The old key named in a rotation is not the current key.
    KeyMismatch,
    /// No call has this id.
    CallNotFound,
    /// The caller of this endpoint is not the party allowed to do it.
    NotAParty,
    /// The call is not in a state that allows this step.
    InvalidTransition,
    /// The callee has no live connection to the registry.
    CalleeOffline,
    /// The caller is already ringing or talking.
    AlreadyInCall,
    /// A user tried to call themselves.
    SelfCall,
    /// Too many requests; retry later.
    RateLimited,
    /// The registry has reached its connection cap; retry later.
    TooManyConnections,
    /// No such endpoint.
    NotFound,
    /// The endpoint exists but not with this method.
    MethodNotAllowed,
    /// The request took too long.
    Timeout,
    /// The server is shutting down or its storage is unavailable.
    Unavailable,
    /// A fault inside the server; the detail is in its log, not here.
    Internal,
}

impl ErrorCode {
    /// The wire name of this code, as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::UnknownField => "unknown_field",
            Self::MissingField => "missing_field",
            Self::InvalidUsername => "invalid_username",
            Self::InvalidBase64 => "invalid_base64",
            Self::BlobTooLarge => "blob_too_large",
            Self::InvalidCallId => "invalid_call_id",
            Self::InvalidField => "invalid_field",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidIdentityKey => "invalid_identity_key",
            Self::InvalidSignature => "invalid_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::UsernameTaken => "username_taken",
            Self::UnknownUser => "unknown_user",
            Self::InvalidChallenge => "invalid_challenge",
            Self::WrongOrigin => "wrong_origin",
            Self::Unauthorized => "unauthorized",
            Self::KeyMismatch => "key_mismatch",
            Self::CallNotFound => "call_not_found",
            Self::NotAParty => "not_a_party",
            Self::InvalidTransition => "invalid_transition",
            Self::CalleeOffline => "callee_offline",
            Self::AlreadyInCall => "already_in_call",
            Self::SelfCall => "self_call",
            Self::RateLimited => "rate_limited",
            Self::TooManyConnections => "too_many_connections",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status the registry answers with for this code.
    ///
    /// Client mistakes map to 4xx; only [`ErrorCode::Internal`] and
    /// [`ErrorCode::Unavailable`] are 5xx.
    pub fn http_status(self) -> u16 {
        match self {
            Self::MalformedJson
            | Self::InvalidUtf8
            | Self::UnknownField
            | Self::MissingField
            | Self::InvalidUsername
            | Self::InvalidBase64
            | Self::BlobTooLarge
            | Self::InvalidCallId
            | Self::InvalidField
            | Self::InvalidIdentityKey
            | Self::StaleTimestamp
            | Self::SelfCall => 400,
            Self::InvalidSignature
            | Self::InvalidChallenge
            | Self::WrongOrigin
            | Self::Unauthorized => 401,
            Self::NotAParty => 403,
            Self::UnknownUser | Self::CallNotFound | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Timeout => 408,
            Self::UsernameTaken
            | Self::KeyMismatch
            | Self::InvalidTransition
            | Self::CalleeOffline
            | Self::AlreadyInCall => 409,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::TooManyConnections | Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    pub(super) fn from_wire_name(name: &str) -> Option<Self> {
        ALL_CODES.iter().copied().find(|c| c.as_str() == name)
    }
}

/// Every code, for reverse lookups from a wire name.
const ALL_CODES: &[ErrorCode] = &[
    ErrorCode::MalformedJson,
    ErrorCode::InvalidUtf8,
    ErrorCode::UnknownField,
    ErrorCode::MissingField,
    ErrorCode::InvalidUsername,
    ErrorCode::InvalidBase64,
    ErrorCode::BlobTooLarge,
    ErrorCode::InvalidCallId,
    ErrorCode::InvalidField,
    ErrorCode::PayloadTooLarge,
    ErrorCode::InvalidIdentityKey,
    ErrorCode::InvalidSignature,
    ErrorCode::StaleTimestamp,
    ErrorCode::UsernameTaken,
    ErrorCode::UnknownUser,
    ErrorCode::InvalidChallenge,
    ErrorCode::WrongOrigin,
    ErrorCode::Unauthorized,
    ErrorCode::KeyMismatch,
    ErrorCode::CallNotFound,
    ErrorCode::NotAParty,
    ErrorCode::InvalidTransition,
    ErrorCode::CalleeOffline,
    ErrorCode::AlreadyInCall,
    ErrorCode::SelfCall,
    ErrorCode::RateLimited,
    ErrorCode::TooManyConnections,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::Timeout,
    ErrorCode::Unavailable,
    ErrorCode::Internal,
];

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected message: a stable code plus a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct SignalingError {
    /// What kind of mistake it is.
    pub code: ErrorCode,
    /// What exactly was wrong, for people; never contains secrets.
    pub detail: String,
}

impl SignalingError {
    /// An error with `code` and `detail`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    /// The JSON error body for this error.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.detail.clone(),
        }
    }
}

/// The JSON body of every error answer of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Stable code to match on.
    pub code: ErrorCode,
    /// Explanation for people; do not match on it.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_name() {
        for code in ALL_CODES {
            let json = serde_json::to_string(code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::from_wire_name(code.as_str()), Some(*code));
        }
    }
}
